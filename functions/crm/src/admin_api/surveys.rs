//! Surveys through the admin API: save (JSON or YAML), list, read, delete; a friend's answers;
//! a friend's signed form link.
use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    auth::Caller,
    body::{FriendInPath, deleted, parse_user, path_id},
};
use crate::{deps::Deps, http::CrmError};

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
