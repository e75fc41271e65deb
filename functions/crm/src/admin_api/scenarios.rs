//! Step scenarios through the admin API: save (JSON or YAML, each change a new version), list,
//! enroll and unenroll friends, and see a friend's enrollments and deliveries.
use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    auth::Caller,
    body::{FriendInPath, deleted, parse_tag, parse_user, path_id},
};
use crate::{
    deps::Deps,
    domain::enrollment::EnrollmentState,
    enrollments::{Enrolled, enroll},
    http::{CrmError, parse_json},
    journeys::{Traveller, preview_journey},
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EnrollBody {
    user_id: String,
}

/// `POST /admin/scenarios/{id}/enrollments` `{userId}`: manual / API enrollment.
pub(super) async fn enroll_friend(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, CrmError> {
    let scenario = path_id(&id)?;
    let req: EnrollBody = parse_json(&body)?;
    let u = parse_user(&req.user_id)?;
    let friend = deps
        .store
        .get_friend(&t.id, &u)
        .await?
        .ok_or(CrmError::NotFound("friend"))?;
    match enroll(
        &deps,
        &t,
        &friend,
        &scenario,
        crate::enrollments::Entry::Trigger,
        deps.clock.now(),
    )
    .await?
    {
        Enrolled::Yes(e) => Ok((StatusCode::CREATED, Json(json!(e))).into_response()),
        Enrolled::AlreadyEnrolled => Err(CrmError::Conflict(
            "the friend is already enrolled in this scenario".into(),
        )),
        Enrolled::NoSuchScenario => Err(CrmError::NotFound("scenario")),
    }
}

/// `GET /admin/friends/{userId}/enrollments`
pub(super) async fn friend_enrollments(
    t: Caller,
    State(deps): State<Deps>,
    FriendInPath(u): FriendInPath,
) -> Result<Json<Value>, CrmError> {
    let enrollments = deps.store.friend_enrollments(&t.id, &u).await?;
    Ok(Json(json!({ "enrollments": enrollments })))
}

/// `GET /admin/friends/{userId}/deliveries`
pub(super) async fn friend_deliveries(
    t: Caller,
    State(deps): State<Deps>,
    FriendInPath(u): FriendInPath,
) -> Result<Json<Value>, CrmError> {
    let deliveries = deps.store.friend_deliveries(&t.id, &u).await?;
    Ok(Json(json!({ "deliveries": deliveries })))
}

/// `DELETE /admin/friends/{userId}/enrollments/{scenario}`: stop the friend's way through it.
pub(super) async fn unenroll(
    t: Caller,
    State(deps): State<Deps>,
    Path((user_id, id)): Path<(String, String)>,
) -> Result<StatusCode, CrmError> {
    let u = parse_user(&user_id)?;
    let mut e = deps
        .store
        .enrollment(&t.id, &u, &path_id(&id)?)
        .await?
        .ok_or(CrmError::NotFound("enrollment"))?;
    if !e.is_open() {
        return Ok(StatusCode::NO_CONTENT);
    }
    e.end(EnrollmentState::Stopped, "unenrolled by the marketer");
    if deps.store.update_enrollment(&e).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(CrmError::Conflict(
            "a send of this enrollment is in progress; try again in a minute".into(),
        ))
    }
}

/// `GET /admin/scenarios/{id}/versions`: every saved version, oldest first.
pub(super) async fn versions(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
) -> Result<Json<Value>, CrmError> {
    let versions = deps.store.scenario_versions(&t.id, &path_id(&id)?).await?;
    if versions.is_empty() {
        return Err(CrmError::NotFound("scenario"));
    }
    let mut out = Vec::new();
    for s in &versions {
        out.push(
            json!({ "version": s.version, "savedAt": s.created_at, "definition": s.definition()? }),
        );
    }
    Ok(Json(json!({ "id": id, "versions": out })))
}

/// `DELETE /admin/scenarios/{id}`: no new enrollments; enrolled friends finish their version.
pub(super) async fn retire(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
) -> Result<StatusCode, CrmError> {
    let found = deps.store.retire_scenario(&t.id, &path_id(&id)?).await?;
    deleted(found, "scenario")
}

/// `POST /admin/scenarios/{id}/migrate`: move enrolled friends to the current version.
pub(super) async fn migrate(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
) -> Result<Json<crate::enrollments::Migration>, CrmError> {
    let report = crate::enrollments::migrate(&deps, &t, &path_id(&id)?, deps.clock.now())
        .await?
        .ok_or(CrmError::NotFound("scenario"))?;
    Ok(Json(report))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JourneyBody {
    /// A friend of the shop; or, without one, a made-up friend with `tags` and `fields`.
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    fields: std::collections::BTreeMap<String, String>,
    /// When the friend enters (default: now).
    #[serde(default)]
    start_at: Option<jiff::Timestamp>,
}

/// `POST /admin/scenarios/{id}/journey`: what the friend would receive from the current version,
/// and when, decided as the tick decides; nothing is sent.
pub(super) async fn journey(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, CrmError> {
    let scenario = path_id(&id)?;
    let req: JourneyBody = parse_json(&body)?;
    let traveller = match req.user_id {
        Some(u) => Traveller::Friend(parse_user(&u)?),
        None => Traveller::Hypothetical {
            tags: req
                .tags
                .iter()
                .enumerate()
                .map(|(i, tag)| parse_tag(format!("tags[{i}]"), tag))
                .collect::<Result<_, _>>()?,
            fields: req.fields,
        },
    };
    let start = req.start_at.unwrap_or_else(|| deps.clock.now());
    let preview = preview_journey(&deps, &t, &scenario, &traveller, start)
        .await?
        .ok_or(CrmError::NotFound("scenario"))?;
    Ok(Json(json!({
        "scenario": scenario,
        "version": preview.version,
        "startAt": start,
        "journey": preview.journey,
    })))
}
