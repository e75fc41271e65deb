//! Recording webhook events exactly once: the dedupe marker, the history entry and the friend's
//! new state are one transaction, so a redelivery or a crash can neither double nor half-apply.
//!
//! What a user's message said (its text, a location's address…) is stored beside its history
//! entry in an item of its own, which expires after the tenant's text retention: the entry (a
//! message of this type was sent, its id) stays as long as the history, the text does not.
use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde::{Deserialize, Serialize};

use super::{Expiry, Store, StoreError, from_item, keys, s, to_item};
use crate::{
    bus::Event,
    domain::{Friend, LineUserId, TenantId, survey::AnswerRecord},
};

/// LINE redelivers for a limited time; a week of markers covers every redelivery with margin.
pub const SEEN_MARKER_TTL: SignedDuration = SignedDuration::from_hours(7 * 24);
/// How many days a friend's action history is kept.
pub const HISTORY_DAYS: u32 = 400;
pub const HISTORY_TTL: SignedDuration = SignedDuration::from_hours(HISTORY_DAYS as i64 * 24);

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
    /// How long a message's content is kept (the tenant's retention); None: as the history.
    pub text_kept_for: Option<SignedDuration>,
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

/// A message's content, beside its history entry until the tenant's text retention ends.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageContentItem {
    pk: String,
    sk: String,
    entity: String,
    at: Timestamp,
    /// The `message` object as LINE sent it, as JSON text.
    message: String,
    #[serde(flatten)]
    expiry: Expiry,
}

/// A message event's raw JSON without its content, and the content (the `message` object). The
/// entry keeps the message's id and type: what an unsend looks for, and what stays once the
/// content has expired. Other events are kept whole.
fn split_content(raw: &serde_json::Value) -> (serde_json::Value, Option<serde_json::Value>) {
    let mut entry = raw.clone();
    if raw["type"] != "message" {
        return (entry, None);
    }
    let content = entry.as_object_mut().and_then(|event| {
        let message = event.get_mut("message")?;
        let kept = serde_json::json!({ "id": message["id"], "type": message["type"] });
        Some(std::mem::replace(message, kept))
    });
    (entry, content)
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
            self.delete_item(keys::message_content(&pk, sk)).await?;
            // Entries recorded with their content inline lose it here.
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

    /// The contents of the messages whose history entries lie between `oldest_sk` and
    /// `newest_sk` of partition `pk`, by their own sort key ([`keys::message_content`]): one
    /// range query. Contents past their
    /// retention are left out (DynamoDB deletes expired items only within days).
    pub(super) async fn message_contents(
        &self,
        pk: &str,
        oldest_sk: &str,
        newest_sk: &str,
        now: Timestamp,
    ) -> Result<HashMap<String, serde_json::Value>, StoreError> {
        let (_, low) = keys::message_content(pk, oldest_sk);
        let (_, high) = keys::message_content(pk, newest_sk);
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :low AND :high")
            .filter_expression("#ttl > :now")
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":low", s(low))
            .expression_attribute_values(":high", s(high))
            .expression_attribute_values(
                ":now",
                aws_sdk_dynamodb::types::AttributeValue::N(now.as_second().to_string()),
            );
        let mut contents = HashMap::new();
        for item in self.all_pages(query).await? {
            let content: MessageContentItem = from_item(item)?;
            let message = serde_json::from_str(&content.message)
                .map_err(|e| StoreError::Malformed(e.to_string()))?;
            contents.insert(content.sk, message);
        }
        Ok(contents)
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
        let (raw, content) = split_content(&ev.raw);
        let content = content
            .map(|message| {
                let (pk, sk) = keys::message_content(&pk, &sk);
                let kept = ev.text_kept_for.map_or(HISTORY_TTL, |k| k.min(HISTORY_TTL));
                to_item(&MessageContentItem {
                    pk,
                    sk,
                    entity: "message_content".into(),
                    at: ev.at,
                    message: message.to_string(),
                    expiry: Expiry::after(ev.at, kept),
                })
            })
            .transpose()?;
        let history = HistoryItem {
            pk,
            sk,
            entity: "event",
            kind: &ev.kind,
            at: ev.at,
            event_id: &ev.event_id,
            mode: &ev.mode,
            raw: raw.to_string(),
            expiry: Expiry::after(ev.at, HISTORY_TTL),
        };
        // The marker goes first: its condition failing (index 0) is what "duplicate" means.
        let mut writes = vec![
            self.put(to_item(&marker)?, Some("attribute_not_exists(pk)"))?,
            self.put(to_item(&history)?, None)?,
        ];
        if let Some(content) = content {
            writes.push(self.put(content, None)?);
        }
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::split_content;

    #[test]
    fn a_message_leaves_its_content_beside_the_entry_and_other_events_stay_whole() {
        let said = json!({ "type": "message", "webhookEventId": "01H",
            "message": { "id": "468789577898262530", "type": "text", "text": "090-1234-5678" } });
        let (entry, content) = split_content(&said);
        assert_eq!(
            entry["message"],
            json!({ "id": "468789577898262530", "type": "text" })
        );
        assert_eq!(entry["webhookEventId"], "01H");
        assert_eq!(content, Some(said["message"].clone()));

        let tap = json!({ "type": "postback", "postback": { "data": "menu=coupon" } });
        assert_eq!(split_content(&tap), (tap.clone(), None));
    }
}
