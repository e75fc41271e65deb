//! Tag rules, keyword auto-replies and scoring settings through the admin API. Rules and
//! auto-replies are handled alike (`domain::definition::CurrentOnly`): the router names the type.
use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
};
use serde_json::{Value, json};

use super::{
    auth::Caller,
    body::{deleted, slug_in_path},
    definitions::{Put, saved},
};
use crate::{
    definitions::Kept,
    deps::Deps,
    domain::definition::CurrentOnly,
    http::{CrmError, parse_json},
    store::ScoringSettings,
};

/// `PUT /admin/rules/{id}`, `PUT /admin/auto-replies/{id}`: `{id, version, definition}`, 200
/// for every version.
pub(super) async fn save<D: CurrentOnly + Kept>(
    State(deps): State<Deps>,
    Put(t, def): Put<D>,
) -> Result<Json<Value>, CrmError> {
    let version = D::save(&deps, &t.id, &def).await?;
    Ok(Json(saved(&def, version)))
}

/// `GET /admin/rules` (`{rules: […]}`), `GET /admin/auto-replies` (`{autoReplies: […]}`).
pub(super) async fn list<D: CurrentOnly>(
    t: Caller,
    State(deps): State<Deps>,
) -> Result<Json<Value>, CrmError> {
    let all: Vec<D> = deps.store.all_current(&t.id).await?;
    Ok(Json(json!({ D::PLURAL: all })))
}

pub(super) async fn remove<D: CurrentOnly>(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
) -> Result<StatusCode, CrmError> {
    let id = slug_in_path(&id)?;
    deleted(deps.store.delete_current::<D>(&t.id, id).await?, D::NOUN)
}

pub(super) async fn scoring(
    t: Caller,
    State(deps): State<Deps>,
) -> Result<Json<ScoringSettings>, CrmError> {
    Ok(Json(deps.store.scoring(&t.id).await?))
}

/// `PUT /admin/settings/scoring` `{halfLifeDays?}`: scores fade by half every N days (none: never).
pub(super) async fn set_scoring(
    t: Caller,
    State(deps): State<Deps>,
    body: Bytes,
) -> Result<Json<ScoringSettings>, CrmError> {
    let settings: ScoringSettings = parse_json(&body)?;
    if settings.half_life_days == Some(0) {
        return Err(CrmError::invalid(
            "halfLifeDays",
            "must be at least 1 (or absent: no decay)",
        ));
    }
    let now = deps.clock.now();
    deps.store.put_scoring(&t.id, &settings, now).await?;
    Ok(Json(settings))
}
