//! Broadcasts through the admin API: create (now or at a time), list, report, cancel.
use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::auth::Caller;
use crate::{
    deps::Deps,
    domain::{
        Tenant,
        broadcast::{Broadcast, BroadcastRequest, BroadcastState, Progress},
    },
    http::{CrmError, parse_json},
};

async fn broadcast(deps: &Deps, t: &Tenant, id: &str) -> Result<Broadcast, CrmError> {
    // Broadcast ids are UUIDs: anything else names none.
    if uuid::Uuid::try_parse(id).is_err() {
        return Err(CrmError::NotFound("broadcast"));
    }
    deps.store
        .broadcast(&t.id, id)
        .await?
        .ok_or(CrmError::NotFound("broadcast"))
}

/// `POST /admin/broadcasts`: to everyone or a segment, now or at `sendAt`.
pub(super) async fn create(
    t: Caller,
    State(deps): State<Deps>,
    body: Bytes,
) -> Result<Response, CrmError> {
    let request: BroadcastRequest = parse_json(&body)?;
    request.validate()?;
    let now = deps.clock.now();
    let b = Broadcast {
        tenant: t.id.clone(),
        id: uuid::Uuid::new_v4().simple().to_string(),
        next_due_at: Some(request.send_at.unwrap_or(now).max(now)),
        request,
        state: BroadcastState::Scheduled,
        created_at: now,
        progress: Progress::default(),
        cursor: None,
        listed_all: false,
        pending: None,
        finished_at: None,
    };
    deps.store.create_broadcast(&b).await?;
    tracing::info!(tenant = %t.id, broadcast = %b.id, "broadcast scheduled");
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
    let b = broadcast(&deps, &t, &id).await?;
    let chunks = deps.store.broadcast_chunks(&t.id, &id).await?;
    Ok(Json(json!({ "broadcast": b, "chunks": chunks })))
}

pub(super) async fn cancel(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
) -> Result<Json<Broadcast>, CrmError> {
    let b = broadcast(&deps, &t, &id).await?;
    if b.state == BroadcastState::Cancelled {
        return Ok(Json(b));
    }
    if !deps.store.cancel_broadcast(&b, deps.clock.now()).await? {
        return Err(CrmError::Conflict(
            "the broadcast has already started; it can no longer be cancelled".into(),
        ));
    }
    let b = broadcast(&deps, &t, &id).await?;
    Ok(Json(b))
}
