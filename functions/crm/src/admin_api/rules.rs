//! Tag rules, keyword auto-replies and scoring settings through the admin API.
use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
};
use serde_json::json;

use super::{
    auth::Caller,
    body::{parse_definition, same_id},
};
use crate::{
    deps::Deps,
    domain::{auto_reply::AutoReply, tag_rule::TagRule},
    http::{CrmError, parse_json},
    store::ScoringSettings,
};

/// `PUT /admin/rules/{id}`
pub(super) async fn save_rule(
    t: Caller,
    State(deps): State<Deps>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<TagRule>, CrmError> {
    let rule = parse_definition(&headers, &body, TagRule::parse_json, TagRule::parse_yaml)?;
    same_id(rule.id.as_str(), &id)?;
    deps.store.put_tag_rule(&t.id, &rule).await?;
    Ok(Json(rule))
}

pub(super) async fn list_rules(
    t: Caller,
    State(deps): State<Deps>,
) -> Result<Json<serde_json::Value>, CrmError> {
    Ok(Json(json!({ "rules": deps.store.tag_rules(&t.id).await? })))
}

pub(super) async fn remove_rule(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
) -> Result<StatusCode, CrmError> {
    if deps.store.delete_tag_rule(&t.id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(CrmError::NotFound("rule"))
    }
}

/// `PUT /admin/auto-replies/{id}`
pub(super) async fn save_auto_reply(
    t: Caller,
    State(deps): State<Deps>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<AutoReply>, CrmError> {
    let reply = parse_definition(
        &headers,
        &body,
        AutoReply::parse_json,
        AutoReply::parse_yaml,
    )?;
    same_id(reply.id.as_str(), &id)?;
    deps.store.put_auto_reply(&t.id, &reply).await?;
    Ok(Json(reply))
}

pub(super) async fn list_auto_replies(
    t: Caller,
    State(deps): State<Deps>,
) -> Result<Json<serde_json::Value>, CrmError> {
    Ok(Json(
        json!({ "autoReplies": deps.store.auto_replies(&t.id).await? }),
    ))
}

pub(super) async fn remove_auto_reply(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
) -> Result<StatusCode, CrmError> {
    if deps.store.delete_auto_reply(&t.id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(CrmError::NotFound("auto-reply"))
    }
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
