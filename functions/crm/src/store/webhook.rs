//! Recording webhook events exactly once: the dedupe marker, the history entry and the friend's
//! new state are one transaction, so a redelivery or a crash can neither double nor half-apply.
use aws_sdk_dynamodb::types::AttributeValue;
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, keys, s, to_item};
use crate::domain::{Friend, LineUserId, TenantId, survey::AnswerRecord};

/// LINE redelivers for a limited time; a week of markers covers every redelivery with margin.
const SEEN_MARKER_TTL: SignedDuration = SignedDuration::from_hours(7 * 24);
/// How long a friend's action history is kept.
pub const HISTORY_TTL: SignedDuration = SignedDuration::from_hours(400 * 24);

/// Whose history an event belongs to.
#[derive(Debug, Clone)]
pub enum EventSubject {
    Friend(LineUserId),
    /// A group or room: recorded, but a group id never becomes a friend.
    Chat(String),
}

#[derive(Debug, Clone)]
pub struct EventRecord {
    pub event_id: String,
    pub kind: String,
    pub mode: String,
    pub at: Timestamp,
    pub raw: serde_json::Value,
    pub subject: EventSubject,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    New,
    /// The same `webhookEventId` was recorded before (a redelivery or LINE's retry).
    Duplicate,
}

/// The dedupe marker as read back: domain events not yet confirmed published ride on it, so a
/// redelivery after a failed publish publishes them instead of losing them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeenMarker {
    #[serde(default)]
    pub pending_events: Option<String>,
}

#[derive(Serialize)]
struct MarkerItem<'a> {
    pk: String,
    sk: String,
    entity: &'static str,
    kind: &'a str,
    received_at: Timestamp,
    expires_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pending_events: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HistoryItem<'a> {
    pk: String,
    sk: String,
    entity: &'static str,
    kind: &'a str,
    at: Timestamp,
    event_id: &'a str,
    mode: &'a str,
    raw: String,
    expires_at: i64,
}

impl Store {
    pub async fn webhook_seen(
        &self,
        t: &TenantId,
        event_id: &str,
    ) -> Result<Option<SeenMarker>, StoreError> {
        match self.get(keys::webhook_seen(t, event_id)).await? {
            Some(item) => Ok(Some(super::from_item(item)?)),
            None => Ok(None),
        }
    }

    /// Records one event. `friend` is (state read, new state) when the event concerns a friend;
    /// `answer` is the survey answer the event gave, written in the same transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_webhook_event(
        &self,
        t: &TenantId,
        ev: &EventRecord,
        friend: Option<(Option<&Friend>, &Friend)>,
        zone: &TimeZone,
        pending_events: Option<String>,
        answer: Option<&AnswerRecord>,
        now: Timestamp,
    ) -> Result<Recorded, StoreError> {
        let (pk, sk) = keys::webhook_seen(t, &ev.event_id);
        let marker = MarkerItem {
            pk,
            sk,
            entity: "webhook_event",
            kind: &ev.kind,
            received_at: now,
            expires_at: epoch_seconds(now.saturating_add(SEEN_MARKER_TTL).unwrap_or(now)),
            pending_events,
        };
        let (pk, sk) = match &ev.subject {
            EventSubject::Friend(u) => keys::friend_event(t, u, ev.at, &ev.event_id),
            EventSubject::Chat(chat) => keys::chat_event(t, chat, ev.at, &ev.event_id),
        };
        let history = HistoryItem {
            pk,
            sk,
            entity: "event",
            kind: &ev.kind,
            at: ev.at,
            event_id: &ev.event_id,
            mode: &ev.mode,
            raw: ev.raw.to_string(),
            expires_at: epoch_seconds(ev.at.saturating_add(HISTORY_TTL).unwrap_or(ev.at)),
        };
        // The marker goes first: its condition failing (index 0) is what "duplicate" means.
        let mut writes = vec![
            self.put(to_item(&marker)?, Some("attribute_not_exists(pk)"))?,
            self.put(to_item(&history)?, None)?,
        ];
        if let Some((before, after)) = friend {
            if let Some(a) = answer {
                writes.push(self.answer_write(t, &after.user_id, a)?);
            }
            writes.extend(self.friend_writes(before, after, zone)?);
        }
        match self.transact(writes).await? {
            Ok(()) => Ok(Recorded::New),
            Err(0) => Ok(Recorded::Duplicate),
            Err(_) => Err(StoreError::Conflict),
        }
    }

    /// The event's domain events reached the bus; the marker stops carrying them.
    pub async fn mark_published(&self, t: &TenantId, event_id: &str) -> Result<(), StoreError> {
        let (pk, sk) = keys::webhook_seen(t, event_id);
        self.client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, AttributeValue::S(pk))
            .key(keys::SK, s(sk))
            .update_expression("REMOVE pending_events")
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }
}

pub(crate) fn epoch_seconds(at: Timestamp) -> i64 {
    at.as_second()
}
