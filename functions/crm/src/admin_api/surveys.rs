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
use serde_json::json;

use super::{
    auth::Caller,
    body::{parse_definition, parse_user, same_id, saved},
};
use crate::{
    deps::Deps,
    domain::survey::{SurveyDefinition, SurveyId},
    http::CrmError,
};

fn survey_id(id: &str) -> Result<SurveyId, CrmError> {
    SurveyId::parse(id).map_err(|e| CrmError::invalid("id", e.to_string()))
}

/// `PUT /admin/surveys/{id}`
pub(super) async fn save(
    t: Caller,
    State(deps): State<Deps>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, CrmError> {
    let def = parse_definition(
        &headers,
        &body,
        SurveyDefinition::parse_json,
        SurveyDefinition::parse_yaml,
    )?;
    same_id(def.id.as_str(), &id)?;
    let stored = deps
        .store
        .save_survey(&t.id, &def, deps.clock.now())
        .await?;
    Ok(saved(
        stored.version,
        json!({ "id": def.id, "version": stored.version, "definition": def }),
    ))
}

pub(super) async fn list(
    t: Caller,
    State(deps): State<Deps>,
) -> Result<Json<serde_json::Value>, CrmError> {
    let mut out = Vec::new();
    for s in deps.store.surveys(&t.id).await? {
        out.push(json!({ "id": s.survey, "version": s.version, "savedAt": s.saved_at, "definition": s.definition()? }));
    }
    Ok(Json(json!({ "surveys": out })))
}

pub(super) async fn one(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, CrmError> {
    let s = deps
        .store
        .survey(&t.id, &survey_id(&id)?)
        .await?
        .ok_or(CrmError::NotFound("survey"))?;
    Ok(Json(
        json!({ "id": s.survey, "version": s.version, "savedAt": s.saved_at, "definition": s.definition()? }),
    ))
}

pub(super) async fn remove(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
) -> Result<StatusCode, CrmError> {
    if deps.store.delete_survey(&t.id, &survey_id(&id)?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(CrmError::NotFound("survey"))
    }
}

pub(super) async fn friend_answers(
    t: Caller,
    State(deps): State<Deps>,
    Path(user_id): Path<String>,
) -> Result<Json<serde_json::Value>, CrmError> {
    let u = parse_user(&user_id)?;
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
) -> Result<Json<serde_json::Value>, CrmError> {
    let survey = survey_id(&id)?;
    let u = parse_user(&q.user_id)?;
    let url = crate::forms::link(&deps, &t, &survey, &u)
        .ok_or_else(|| CrmError::Conflict("PUBLIC_BASE_URL is not configured".into()))?;
    Ok(Json(json!({ "url": url })))
}
