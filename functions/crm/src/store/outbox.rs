//! The transactional outbox: a state change and the domain events it causes are one
//! transaction. Each event is an `outbox` item; the table's stream carries new outbox items to
//! the relay (`crm::outbox`), which puts them on the bus. Nothing on a request path publishes,
//! and an event can be lost only with the change that caused it.
use aws_sdk_dynamodb::types::TransactWriteItem;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::{Expiry, Store, StoreError, keys, to_item};
use crate::{
    bus::{DomainEvent, Event},
    domain::TenantId,
};

/// The `entity` of outbox items: what the stream filter (template.yaml) matches on.
pub const OUTBOX_ENTITY: &str = "outbox";

/// A stream keeps records for 24 hours; the item itself is only needed until its INSERT record
/// was read, so two days is ample and the table does not grow with events.
const OUTBOX_TTL: SignedDuration = SignedDuration::from_hours(48);

/// One outbox item as written, and as the relay reads it back from the stream's new image: the
/// events of one state change (a transaction writes at most two: its own and the friend's
/// `FriendTagged`), so a change costs one more item however many events it causes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxItem {
    pub pk: String,
    pub sk: String,
    pub entity: String,
    pub outbox_id: String,
    /// The events as a JSON array of `{detailType, detail}` (mixed types stay one attribute).
    pub events: String,
    pub written_at: Timestamp,
    #[serde(flatten)]
    pub expiry: Expiry,
}

impl OutboxItem {
    /// None when there is nothing to send. Every event's detail gets a unique `eventId`
    /// (`{outbox id}.{n}`), which consumers may deduplicate on.
    pub fn new(t: &TenantId, events: &[Event], now: Timestamp) -> Result<Option<Self>, StoreError> {
        let Some(first) = events.first() else {
            return Ok(None);
        };
        let outbox_id = uuid::Uuid::new_v4().simple().to_string();
        let events: Vec<Event> = events
            .iter()
            .enumerate()
            .map(|(n, e)| e.clone().with_event_id(format!("{outbox_id}.{n}")))
            .collect();
        // The friend's partition: the stream keeps one friend's events in order.
        let pk = keys::friend_pk(t, &first.about().friend);
        let (pk, sk) = keys::outbox(pk, now, &outbox_id);
        Ok(Some(Self {
            pk,
            sk,
            entity: OUTBOX_ENTITY.into(),
            outbox_id,
            events: serde_json::to_string(&events)
                .map_err(|e| StoreError::Malformed(e.to_string()))?,
            written_at: now,
            expiry: Expiry::after(now, OUTBOX_TTL),
        }))
    }

    /// The events as they go on the bus (the wire form: the relay passes on what it cannot
    /// type, too), in the order they were written.
    pub fn events(&self) -> Result<Vec<DomainEvent>, StoreError> {
        serde_json::from_str(&self.events).map_err(|e| StoreError::Malformed(e.to_string()))
    }
}

impl Store {
    /// The outbox item of `events` (none for no events), for the transaction of the change
    /// that caused them.
    pub(crate) fn outbox_writes(
        &self,
        t: &TenantId,
        events: &[Event],
        now: Timestamp,
    ) -> Result<Option<TransactWriteItem>, StoreError> {
        OutboxItem::new(t, events, now)?
            .map(|item| self.put(to_item(&item)?, None))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::LineUserId;

    #[test]
    fn an_outbox_item_lives_in_its_friends_partition_and_expires() {
        let t = TenantId::parse("cafe").unwrap();
        let u = LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap();
        let now: Timestamp = "2026-04-01T00:00:00Z".parse().unwrap();
        let e = Event::friend_unfollowed(&t, &u, now);
        assert!(OutboxItem::new(&t, &[], now).unwrap().is_none());
        let item = OutboxItem::new(&t, &[e.clone(), e], now).unwrap().unwrap();
        let item = to_item(&item).unwrap();
        assert_eq!(
            item["pk"].as_s().unwrap(),
            "T#cafe#F#U4af4980629c1e2c3f2a41b8e4d0a3b0c"
        );
        assert!(
            item["sk"]
                .as_s()
                .unwrap()
                .starts_with("OUT#2026-04-01T00:00:00.000Z#")
        );
        assert_eq!(item["entity"].as_s().unwrap(), "outbox");
        assert_eq!(
            item["expires_at"].as_n().unwrap(),
            &(now.as_second() + 48 * 3600).to_string()
        );
        let back: OutboxItem = serde_dynamo::from_item(item).unwrap();
        let events = back.events().unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].detail_type, "FriendUnfollowed");
        assert_eq!(
            events[0].detail["friend"],
            "U4af4980629c1e2c3f2a41b8e4d0a3b0c"
        );
        assert_eq!(
            events[1].detail["eventId"],
            format!("{}.1", back.outbox_id).as_str()
        );
    }
}
