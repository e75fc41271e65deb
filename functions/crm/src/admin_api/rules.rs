//! Tag rules, keyword auto-replies and scoring settings through the admin API.
use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
};
use serde_json::{Value, json};

use super::{
    auth::Caller,
    body::{definition, deleted, saved},
};
use crate::{
    deps::Deps,
    domain::{auto_reply::AutoReply, tag_rule::TagRule},
    http::{CrmError, parse_json},
    store::ScoringSettings,
};

/// `PUT /admin/rules/{id}`: `{id, version, definition}`, 200 for every version.
pub(super) async fn save_rule(
    t: Caller,
    State(deps): State<Deps>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, CrmError> {
    let rule: TagRule = definition(&headers, &body, &id)?;
    let now = deps.clock.now();
    let version = deps.store.save_tag_rule(&t.id, &rule, now).await?;
    Ok(Json(saved(&rule, version)))
}

pub(super) async fn list_rules(
    t: Caller,
    State(deps): State<Deps>,
) -> Result<Json<Value>, CrmError> {
    Ok(Json(json!({ "rules": deps.store.tag_rules(&t.id).await? })))
}

pub(super) async fn remove_rule(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
) -> Result<StatusCode, CrmError> {
    deleted(deps.store.delete_tag_rule(&t.id, &id).await?, "rule")
}

/// `PUT /admin/auto-replies/{id}`: `{id, version, definition}`, 200 for every version.
pub(super) async fn save_auto_reply(
    t: Caller,
    State(deps): State<Deps>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, CrmError> {
    let reply: AutoReply = definition(&headers, &body, &id)?;
    let now = deps.clock.now();
    let version = deps.store.save_auto_reply(&t.id, &reply, now).await?;
    Ok(Json(saved(&reply, version)))
}

pub(super) async fn list_auto_replies(
    t: Caller,
    State(deps): State<Deps>,
) -> Result<Json<Value>, CrmError> {
    let replies = deps.store.auto_replies(&t.id).await?;
    Ok(Json(json!({ "autoReplies": replies })))
}

pub(super) async fn remove_auto_reply(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
) -> Result<StatusCode, CrmError> {
    deleted(
        deps.store.delete_auto_reply(&t.id, &id).await?,
        "auto-reply",
    )
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
    deps.store.put_scoring(&t.id, &settings).await?;
    Ok(Json(settings))
}
