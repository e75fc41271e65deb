//! Surveys through the admin API: save (JSON or YAML), list, read, delete; a friend's answers;
//! a friend's signed form link.
use axum::{
    Json,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    auth::Caller,
    body::{FriendInPath, definition, deleted, parse_user, path_id, saved_version, shown},
};
use crate::{deps::Deps, domain::survey::SurveyDefinition, http::CrmError, store::StoredSurvey};

fn view(s: &StoredSurvey) -> Result<Value, CrmError> {
    Ok(shown(&s.survey, s.version, s.saved_at, &s.definition()?))
}

/// `PUT /admin/surveys/{id}`
pub(super) async fn save(
    t: Caller,
    State(deps): State<Deps>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, CrmError> {
    let def: SurveyDefinition = definition(&headers, &body, &id)?;
    let stored = deps
        .store
        .save_survey(&t.id, &def, deps.clock.now())
        .await?;
    Ok(saved_version(&def, stored.version))
}

pub(super) async fn list(t: Caller, State(deps): State<Deps>) -> Result<Json<Value>, CrmError> {
    let surveys = deps.store.surveys(&t.id).await?;
    let out = surveys.iter().map(view).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "surveys": out })))
}

pub(super) async fn one(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
) -> Result<Json<Value>, CrmError> {
    let s = deps
        .store
        .survey(&t.id, &path_id(&id)?)
        .await?
        .ok_or(CrmError::NotFound("survey"))?;
    Ok(Json(view(&s)?))
}

pub(super) async fn remove(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
) -> Result<StatusCode, CrmError> {
    let found = deps.store.delete_survey(&t.id, &path_id(&id)?).await?;
    deleted(found, "survey")
}

/// `GET /admin/friends/{userId}/answers`
pub(super) async fn friend_answers(
    t: Caller,
    State(deps): State<Deps>,
    FriendInPath(u): FriendInPath,
) -> Result<Json<Value>, CrmError> {
    let answers = deps.store.friend_answers(&t.id, &u).await?;
    Ok(Json(json!({ "answers": answers })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct LinkQuery {
    user_id: String,
}

/// `GET /admin/surveys/{id}/link?userId=…`: the friend's signed form link (to paste into a
/// message by hand; a step asking a form survey sends it by itself).
pub(super) async fn form_link(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
    Query(q): Query<LinkQuery>,
) -> Result<Json<Value>, CrmError> {
    let survey = path_id(&id)?;
    let u = parse_user(&q.user_id)?;
    let url = crate::forms::link(&deps, &t, &survey, &u)
        .ok_or_else(|| CrmError::Conflict("PUBLIC_BASE_URL is not configured".into()))?;
    Ok(Json(json!({ "url": url })))
}
