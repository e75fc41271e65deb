//! The outbox relay: the table's stream carries each new outbox item (`store::outbox`) here, and
//! its events go on the bus in the order they were written. In AWS this is the outbox-relay
//! function on the DynamoDB stream (template.yaml filters the stream to outbox inserts); the local
//! stack and the tests read DynamoDB Local's stream and call the same [`relay`].
//!
//! A bus failure reports the record that failed and every record after it, as Lambda's
//! `ReportBatchItemFailures` expects: the stream is retried from there, in order, and nothing
//! is lost. Only events of a record that failed half-way can reach the bus twice; consumers are
//! idempotent.
use aws_lambda_events::event::{
    dynamodb::Event,
    streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse},
};
use tracing::{info, warn};

use crate::{
    bus::{DomainEvent, EventBus},
    store::outbox::{OUTBOX_ENTITY, OutboxItem},
};

/// PutEvents takes at most 10 entries per call.
const PUT_EVENTS_MAX: usize = 10;

/// One stream record as the relay needs it: where it is in the stream, and the new image.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    /// The stream's sequence number: Lambda's `itemIdentifier` for a batch item failure.
    pub sequence_number: String,
    pub new_image: serde_dynamo::Item,
}

/// What one batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RelayReport {
    pub published: usize,
    /// Sequence numbers to deliver again, in stream order (empty when all went).
    pub failed: Vec<String>,
}

/// The Lambda entry: a batch of the stream's records (only outbox inserts pass the filter).
pub async fn handle(bus: &dyn EventBus, event: Event) -> DynamoDbEventResponse {
    let records = event
        .records
        .into_iter()
        .map(|r| StreamRecord {
            sequence_number: r.change.sequence_number.unwrap_or_default(),
            new_image: r.change.new_image,
        })
        .collect::<Vec<_>>();
    let report = relay(bus, &records).await;
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = report
        .failed
        .into_iter()
        .map(|id| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(id);
            failure
        })
        .collect();
    response
}

/// Publishes the events of `records` in order; stops at the first failure.
pub async fn relay(bus: &dyn EventBus, records: &[StreamRecord]) -> RelayReport {
    // (index of the record, event), in stream order.
    let mut events: Vec<(usize, DomainEvent)> = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let is_outbox = record
            .new_image
            .get("entity")
            .is_some_and(|e| *e == serde_dynamo::AttributeValue::S(OUTBOX_ENTITY.into()));
        if !is_outbox {
            continue;
        }
        // A malformed item would block the stream forever if retried: it is logged and skipped.
        match serde_dynamo::from_item::<_, OutboxItem>(record.new_image.clone())
            .map_err(|e| e.to_string())
            .and_then(|item| item.events().map_err(|e| e.to_string()))
        {
            Ok(list) => events.extend(list.into_iter().map(|e| (i, e))),
            Err(error) => {
                warn!(sequence = %record.sequence_number, error = %error, "malformed outbox item skipped")
            }
        }
    }
    let mut report = RelayReport::default();
    for chunk in events.chunks(PUT_EVENTS_MAX) {
        let batch: Vec<DomainEvent> = chunk.iter().map(|(_, e)| e.clone()).collect();
        if let Err(error) = bus.publish(&batch).await {
            let from = chunk.first().map_or(records.len(), |(i, _)| *i);
            report.failed = records[from..]
                .iter()
                .map(|r| r.sequence_number.clone())
                .collect();
            warn!(error = %error, published = report.published, retried = report.failed.len(),
                "bus refused outbox events; the stream delivers them again");
            return report;
        }
        report.published += batch.len();
    }
    if report.published > 0 {
        info!(
            published = report.published,
            records = records.len(),
            "outbox events relayed"
        );
    }
    report
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::{
        bus::BusError,
        domain::{LineUserId, TenantId},
    };

    /// Accepts `ok` publishes, then refuses every one.
    struct Bus {
        ok: Mutex<usize>,
        got: Mutex<Vec<DomainEvent>>,
    }

    #[async_trait::async_trait]
    impl EventBus for Bus {
        async fn publish(&self, events: &[DomainEvent]) -> Result<(), BusError> {
            let mut ok = self.ok.lock().unwrap();
            if *ok == 0 {
                return Err(BusError::PutEvents("down".into()));
            }
            *ok -= 1;
            self.got.lock().unwrap().extend(events.iter().cloned());
            Ok(())
        }
    }

    fn record(seq: &str, n: usize) -> StreamRecord {
        let t = TenantId::parse("cafe").unwrap();
        let u = LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap();
        let now = "2026-04-01T00:00:00Z".parse().unwrap();
        let events = vec![crate::bus::Event::friend_unfollowed(&t, &u, now); n];
        let item = OutboxItem::new(&t, &events, now).unwrap().unwrap();
        StreamRecord {
            sequence_number: seq.into(),
            new_image: serde_dynamo::to_item(&item).unwrap(),
        }
    }

    #[tokio::test]
    async fn every_event_of_every_record_goes_in_order() {
        let bus = Bus {
            ok: Mutex::new(10),
            got: Mutex::default(),
        };
        let report = relay(&bus, &[record("1", 2), record("2", 9), record("3", 1)]).await;
        assert_eq!(report.published, 12);
        assert!(report.failed.is_empty());
        assert_eq!(bus.got.lock().unwrap().len(), 12);
    }

    #[tokio::test]
    async fn a_failed_publish_hands_back_its_record_and_all_after_it() {
        // The first PutEvents (10 events: record 1 and 8 of record 2) goes, the second fails.
        let bus = Bus {
            ok: Mutex::new(1),
            got: Mutex::default(),
        };
        let report = relay(&bus, &[record("1", 2), record("2", 9), record("3", 1)]).await;
        assert_eq!(report.published, 10);
        assert_eq!(report.failed, ["2", "3"]);
    }

    #[tokio::test]
    async fn records_that_are_not_outbox_items_are_passed_over() {
        let bus = Bus {
            ok: Mutex::new(10),
            got: Mutex::default(),
        };
        let other = StreamRecord {
            sequence_number: "9".into(),
            new_image: serde_dynamo::to_item(serde_json::json!({"pk": "x", "entity": "friend"}))
                .unwrap(),
        };
        let report = relay(&bus, &[other, record("1", 1)]).await;
        assert_eq!(report.published, 1);
    }
}
