//! `POST /webhook/{tenant}`: LINE's deliveries. Verify the signature over the raw bytes, then
//! record each event exactly once per friend, update the friend, and put its domain events in
//! the outbox, all in one transaction; the outbox relay publishes them from the table's stream.
use axum::{
    Json, Router,
    body::{Body, to_bytes},
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
    routing::post,
};
use jiff::Timestamp;
use serde_json::json;
use tracing::{info, warn};

use crate::{
    bus::Event,
    chat::{Interpreter, Outcome},
    deps::Deps,
    domain::{
        Friend, FriendChange, LineUserId, Tenant, TenantId,
        friend::{Activity, Profile},
    },
    http::CrmError,
    line::{
        signature,
        webhook::{EventBody, Source, WebhookEvent, parse_payload},
    },
    store::{EventRecord, EventSubject, Recorded, StoreError, retry_on_conflict},
};

/// LINE's payloads are small; anything past this is refused before the signature is computed.
pub const MAX_BODY: usize = 1024 * 1024;

pub fn router(deps: Deps) -> Router {
    Router::new()
        .route("/webhook/{tenant}", post(receive))
        .layer(axum::middleware::map_response(crate::http::json_errors))
        .with_state(deps)
}

async fn receive(
    State(deps): State<Deps>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return rejected(&tenant, CrmError::TooLarge { limit: MAX_BODY }),
    };
    // HeaderMap lookups are case-insensitive, as LINE's header name must be treated.
    let sig = headers
        .get("x-line-signature")
        .and_then(|v| v.to_str().ok());
    match handle(&deps, &tenant, sig, &body).await {
        Ok(summary) => Json(json!({ "received": summary.received, "recorded": summary.recorded }))
            .into_response(),
        Err(e) => rejected(&tenant, e),
    }
}

/// A delivery refused with a 4xx is logged (the reason, never the body or the signature):
/// a wrong channel secret or a misconfigured webhook URL shows up in the logs, not only at LINE.
/// Server errors are logged with their error id by `CrmError::into_response`.
fn rejected(tenant: &str, e: CrmError) -> Response {
    if e.status().is_client_error() {
        // The path segment is caller-chosen: logged only when it is a well-formed tenant id.
        let tenant = TenantId::parse(tenant)
            .map(|t| t.to_string())
            .unwrap_or_default();
        warn!(tenant = %tenant, status = e.status().as_u16(), reason = %e, "webhook delivery rejected");
    }
    e.into_response()
}

/// What one delivery did, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub received: usize,
    pub recorded: usize,
    pub duplicates: usize,
    /// Events older than the dedupe window, refused.
    pub stale: usize,
}

/// The webhook without HTTP: tenant id from the path, the signature header, the raw body.
pub async fn handle(
    deps: &Deps,
    tenant: &str,
    signature: Option<&str>,
    body: &[u8],
) -> Result<Summary, CrmError> {
    if body.len() > MAX_BODY {
        return Err(CrmError::TooLarge { limit: MAX_BODY });
    }
    // An unknown tenant answers exactly as a wrong signature does, so nobody can probe the URL
    // space for which shops exist.
    let id = TenantId::parse(tenant).map_err(|_| CrmError::BadSignature)?;
    let tenant = deps
        .store
        .get_tenant(&id)
        .await?
        .ok_or(CrmError::BadSignature)?;
    signature::verify(&tenant.channel_secret, body, signature)
        .map_err(|_| CrmError::BadSignature)?;
    let payload = parse_payload(body).map_err(|e| CrmError::BadRequest(e.to_string()))?;

    let mut events = payload.events;
    // LINE may deliver out of order; applying in event time keeps follow/unfollow right.
    events.sort_by_key(|e| e.common.timestamp);
    let mut summary = Summary {
        received: events.len(),
        ..Summary::default()
    };
    let now = deps.clock.now();
    for event in &events {
        // Older than its dedupe marker lives: a replay could no longer be told from a first
        // delivery, so it is refused rather than applied a second time.
        if event_time(event) < now - crate::store::SEEN_MARKER_TTL {
            warn!(tenant = %id, event = %event.common.webhook_event_id, "webhook event older than the dedupe window refused");
            summary.stale += 1;
            continue;
        }
        if let (EventBody::Unsend { message_id }, Some(u)) = (&event.body, event.friend_id()) {
            // The user took the message back: its text leaves our history (LINE requires it),
            // before the unsend itself is recorded, so a retried delivery forgets it again.
            if let Ok(u) = LineUserId::parse(u) {
                deps.store
                    .forget_message(&tenant.id, &u, message_id, event_time(event))
                    .await?;
            }
        }
        match record(deps, &tenant, event).await? {
            Recorded::New => summary.recorded += 1,
            Recorded::Duplicate => summary.duplicates += 1,
        }
    }
    info!(tenant = %id, received = summary.received, recorded = summary.recorded,
        duplicates = summary.duplicates, stale = summary.stale, "webhook delivery handled");
    Ok(summary)
}

fn activity(body: &EventBody) -> Activity {
    match body {
        EventBody::Follow { .. } => Activity::Follow,
        EventBody::Unfollow => Activity::Unfollow,
        EventBody::Message(_)
        | EventBody::Postback { .. }
        | EventBody::Beacon { .. }
        | EventBody::VideoPlayComplete { .. }
        | EventBody::AccountLink { .. }
        | EventBody::Unsend { .. }
        | EventBody::Membership { .. } => Activity::Interaction,
        _ => Activity::Passive,
    }
}

fn event_time(e: &WebhookEvent) -> Timestamp {
    Timestamp::from_millisecond(e.common.timestamp).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Records one event exactly once. Returns `Duplicate` for an event already recorded.
async fn record(deps: &Deps, tenant: &Tenant, event: &WebhookEvent) -> Result<Recorded, CrmError> {
    let event_id = event.common.webhook_event_id.as_str();
    // No read of the dedupe marker first: the transaction's condition on it decides.
    let at = event_time(event);
    let friend_id = event.friend_id().and_then(|u| LineUserId::parse(u).ok());
    let subject = match (&friend_id, &event.common.source) {
        (Some(u), _) => EventSubject::Friend(u.clone()),
        (None, Some(Source::Group { group_id, .. })) => EventSubject::Chat(group_id.clone()),
        (None, Some(Source::Room { room_id, .. })) => EventSubject::Chat(room_id.clone()),
        // Channel-level events (activated, botSuspended…) have no user: kept under the channel.
        (None, _) => EventSubject::Chat("CHANNEL".into()),
    };
    let record = EventRecord {
        event_id: event_id.to_owned(),
        kind: event.kind().to_owned(),
        mode: mode_name(event),
        at,
        raw: event.raw.clone(),
        subject,
        text_kept_for: tenant.message_text_kept_for(),
    };
    let zone = tenant.time_zone();
    let now = deps.clock.now();
    // Kept across retries of the write: the profile is fetched (and definitions read) once.
    let profile = tokio::sync::OnceCell::new();
    let interpreter = tokio::sync::Mutex::new(Interpreter::default());
    let (zone, record, friend_id) = (&zone, &record, &friend_id);
    let (profile, interpreter) = (&profile, &interpreter);
    let written = retry_on_conflict(|| async move {
        let (before, mut after, change) = match friend_id {
            Some(u) => {
                let before = deps.store.get_friend(&tenant.id, u).await?;
                let mut after = before
                    .clone()
                    .unwrap_or_else(|| Friend::new(tenant.id.clone(), u.clone(), at));
                let change = after.apply(activity(&event.body), at);
                (before, Some(after), change)
            }
            None => (None, None, FriendChange::Nothing),
        };
        if let (Some(f), FriendChange::Followed { .. }) = (after.as_mut(), change) {
            let fetched = profile
                .get_or_init(|| fetch_profile(deps, tenant, &f.user_id))
                .await;
            if let Some(p) = fetched {
                f.profile = p.clone();
            }
        }
        // A tap or message may answer a survey, fire tag rules or get an auto-reply: all
        // decided on the state about to be written, so it commits (once) with the event.
        let taken = match after.as_mut() {
            Some(f) => {
                let mut interpreter = interpreter.lock().await;
                interpreter
                    .interpret(deps, tenant, event, f, at, now)
                    .await?
            }
            None => Outcome::default(),
        };
        let mut domain_events = domain_events(&tenant.id, friend_id.as_ref(), event, change, at);
        domain_events.extend(taken.events);
        let friend = after.as_ref().map(|a| (before.as_ref(), a));
        let recorded = deps
            .store
            .record_webhook_event(
                &tenant.id,
                record,
                friend,
                zone,
                &domain_events,
                taken.answer.as_ref(),
                now,
            )
            .await?;
        Ok::<_, CrmError>((recorded, before, after, change, taken.replies))
    })
    .await?;
    // Every attempt met a concurrent write to the friend (other events, an admin edit).
    let (recorded, before, after, change, replies) = written.ok_or(StoreError::Conflict)?;
    if recorded == Recorded::Duplicate {
        return Ok(Recorded::Duplicate);
    }
    reply(deps, tenant, event, &replies).await;
    // The friend left any dormancy tier in the write above; measure the return.
    if let Some(a) = &after {
        crate::dormancy_sweep::friend_returned(deps, tenant, before.as_ref(), a, at).await;
    }
    if let (Some(u), FriendChange::Followed { refollow }) = (friend_id, change) {
        // Boxed: the welcome (a whole send) would otherwise sit inside every event's future.
        Box::pin(welcome(
            deps,
            tenant,
            u,
            refollow,
            event_id,
            reply_token(event),
        ))
        .await;
    }
    Ok(Recorded::New)
}

/// Answers through the event's reply token: free, and only possible once, within about a
/// minute. A failed reply is logged, not retried: a redelivered event's token is spent.
async fn reply(deps: &Deps, tenant: &Tenant, event: &WebhookEvent, messages: &[serde_json::Value]) {
    let Some(token) = reply_token(event) else {
        return;
    };
    if messages.is_empty() {
        return;
    }
    // LINE takes at most 5 messages per reply.
    let messages = &messages[..messages.len().min(crate::domain::message::MAX_MESSAGES)];
    if let Err(e) = deps.line.reply(&tenant.access_token, token, messages).await {
        warn!(tenant = %tenant.id, event = %event.common.webhook_event_id, error = %e, "reply failed");
    }
}

fn mode_name(event: &WebhookEvent) -> String {
    use crate::line::webhook::Mode;
    match &event.common.mode {
        Mode::Active => "active".into(),
        Mode::Standby => "standby".into(),
        Mode::Other(m) => m.clone(),
    }
}

async fn fetch_profile(deps: &Deps, tenant: &Tenant, u: &LineUserId) -> Option<Profile> {
    // A failing profile call must not lose the follow: the friend is recorded without a name.
    match deps.line.profile(&tenant.access_token, u.as_str()).await {
        Ok(p) => p,
        Err(e) => {
            warn!(tenant = %tenant.id, friend = %u.hashed(), error = %e, "profile fetch failed; follow recorded without profile");
            None
        }
    }
}

fn domain_events(
    t: &TenantId,
    friend: Option<&LineUserId>,
    event: &WebhookEvent,
    change: FriendChange,
    at: Timestamp,
) -> Vec<Event> {
    let Some(u) = friend else { return Vec::new() };
    let id = event.common.webhook_event_id.as_str();
    let mut out = Vec::new();
    match change {
        FriendChange::Followed { refollow } => {
            out.push(Event::friend_followed(t, u, at, refollow, id))
        }
        FriendChange::Unfollowed => out.push(Event::friend_unfollowed(t, u, at)),
        _ => {}
    }
    match &event.body {
        EventBody::Message(m) => out.push(Event::message_received(t, u, at, m.kind(), id)),
        EventBody::Postback { data, .. } => out.push(Event::postback_received(t, u, at, data, id)),
        _ => {}
    }
    out
}

/// A follow enters the follow-triggered scenarios at once, so the first welcome step can use the
/// free reply token. Failing here loses nothing: the `FriendFollowed` event in the outbox does
/// the same (once) through survey-tagging.
async fn welcome(
    deps: &Deps,
    tenant: &Tenant,
    u: &LineUserId,
    refollow: bool,
    event_id: &str,
    reply_token: Option<&str>,
) {
    if let Err(e) =
        crate::survey_tagging::followed(deps, tenant, u, refollow, event_id, reply_token).await
    {
        warn!(tenant = %tenant.id, friend = %u.hashed(), error = %e, "follow reaction deferred to the outbox event");
    }
}

/// The event's reply token, when we may answer at all: never in standby mode, where another
/// channel owns the chat.
fn reply_token(event: &WebhookEvent) -> Option<&str> {
    use crate::line::webhook::Mode;
    match event.common.mode {
        Mode::Active => event.common.reply_token.as_deref(),
        _ => None,
    }
}
