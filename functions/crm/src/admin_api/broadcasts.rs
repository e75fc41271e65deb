//! Broadcasts through the admin API: create (now or at a time), list, report, cancel, and the
//! audience a segment would reach. The rules live in `crate::broadcasts`, shared with the console.
use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use crate::{
    broadcasts,
    deps::Deps,
    domain::broadcast::{Broadcast, BroadcastRequest, Segment},
    http::{CrmError, parse_json},
};

/// `POST /admin/broadcasts`: to everyone or a segment, now or at `sendAt`.
pub(super) async fn create(
    t: Caller,
    State(deps): State<Deps>,
    body: Bytes,
) -> Result<Response, CrmError> {
    let request: BroadcastRequest = parse_json(&body)?;
    let b = broadcasts::schedule(&deps, &t, request).await?;
    Ok((StatusCode::CREATED, Json(b)).into_response())
}

pub(super) async fn list(
    t: Caller,
    State(deps): State<Deps>,
) -> Result<Json<serde_json::Value>, CrmError> {
    Ok(Json(
        json!({ "broadcasts": deps.store.broadcasts(&t.id).await? }),
    ))
}

/// The broadcast with its delivery report: progress counters and one record per chunk.
pub(super) async fn report(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, CrmError> {
    let (b, chunks) = broadcasts::report(&deps, &t, &id).await?;
    Ok(Json(json!({ "broadcast": b, "chunks": chunks })))
}

pub(super) async fn cancel(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
) -> Result<Json<Broadcast>, CrmError> {
    Ok(Json(broadcasts::cancel(&deps, &t, &id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AudienceRequest {
    #[serde(default)]
    segment: Segment,
}

/// `POST /admin/broadcasts/audience` with `{segment}`: `{count}`, the friends a broadcast to
/// that segment would reach if sent now (the daily cap aside).
pub(super) async fn audience(
    t: Caller,
    State(deps): State<Deps>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, CrmError> {
    let AudienceRequest { segment } = parse_json(&body)?;
    let count = broadcasts::audience(&deps, &t, &segment).await?;
    Ok(Json(json!({ "count": count })))
}
