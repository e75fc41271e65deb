//! Recording webhook events exactly once: the dedupe marker, the history entry and the friend's
//! new state are one transaction, so a redelivery or a crash can neither double nor half-apply.
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde::Serialize;

use super::{Expiry, Store, StoreError, keys, s, to_item};
use crate::{
    bus::Event,
    domain::{Friend, LineUserId, TenantId, survey::AnswerRecord},
};

/// LINE redelivers for a limited time; a week of markers covers every redelivery with margin.
pub const SEEN_MARKER_TTL: SignedDuration = SignedDuration::from_hours(7 * 24);
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MarkerItem<'a> {
    pk: String,
    sk: String,
    entity: &'static str,
    kind: &'a str,
    received_at: Timestamp,
    #[serde(flatten)]
    expiry: Expiry,
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
    #[serde(flatten)]
    expiry: Expiry,
}

impl Store {
    /// Removes the content of message `message_id` from the friend's history: the user unsent it
    /// at `unsent_at`, and LINE allows that for 24 hours after sending. What stays is that a
    /// message was sent (its id and type), marked `unsent`. True when a message was found.
    pub async fn forget_message(
        &self,
        t: &TenantId,
        u: &LineUserId,
        message_id: &str,
        unsent_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let from = unsent_at - SignedDuration::from_hours(25);
        let (pk, low) = keys::friend_event(t, u, from, "");
        let (_, high) = keys::friend_event(t, u, unsent_at, "~");
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :low AND :high")
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":low", s(low))
            .expression_attribute_values(":high", s(high))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        for item in out.items.unwrap_or_default() {
            let raw = item.get("raw").and_then(|v| v.as_s().ok());
            let Some(mut raw) = raw.and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok())
            else {
                continue;
            };
            if raw["type"] != "message" || raw["message"]["id"] != message_id {
                continue;
            }
            raw["message"] = serde_json::json!({
                "id": message_id,
                "type": raw["message"]["type"].clone(),
                "unsent": true,
            });
            let Some(sk) = item.get(keys::SK).and_then(|v| v.as_s().ok()) else {
                continue;
            };
            self.update(pk.clone(), sk.clone())
                // RAW is one of DynamoDB's reserved words.
                .update_expression("SET #raw = :raw")
                .expression_attribute_names("#raw", "raw")
                .expression_attribute_values(":raw", s(raw.to_string()))
                .send()
                .await
                .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
            return Ok(true);
        }
        Ok(false)
    }

    /// When the event was first recorded, if it was (LINE redelivers; tests look).
    pub async fn webhook_seen(
        &self,
        t: &TenantId,
        event_id: &str,
    ) -> Result<Option<Timestamp>, StoreError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Seen {
            received_at: Timestamp,
        }
        match self.get(keys::webhook_seen(t, event_id)).await? {
            Some(item) => Ok(Some(super::from_item::<Seen>(item)?.received_at)),
            None => Ok(None),
        }
    }

    /// Records one event. `friend` is (state read, new state) when the event concerns a friend;
    /// `answer` is the survey answer the event gave and `events` the domain events it caused
    /// (outbox items), all written in the same transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_webhook_event(
        &self,
        t: &TenantId,
        ev: &EventRecord,
        friend: Option<(Option<&Friend>, &Friend)>,
        zone: &TimeZone,
        events: &[Event],
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
            expiry: Expiry::after(now, SEEN_MARKER_TTL),
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
            expiry: Expiry::after(ev.at, HISTORY_TTL),
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
            writes.extend(self.friend_writes(before, after, zone, now)?);
        }
        writes.extend(self.outbox_writes(t, events, now)?);
        match self.transact(writes).await? {
            Ok(()) => Ok(Recorded::New),
            Err(0) => Ok(Recorded::Duplicate),
            Err(_) => Err(StoreError::Conflict),
        }
    }
}
