use aws_sdk_eventbridge::{error::DisplayErrorContext, types::PutEventsRequestEntry};

use super::{BusError, DomainEvent, EventBus, SOURCE};

/// PutEvents takes at most 10 entries per call.
const MAX_ENTRIES: usize = 10;

#[derive(Debug, Clone)]
pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
}

impl EventBridgeBus {
    pub fn new(client: aws_sdk_eventbridge::Client, bus_name: impl Into<String>) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
        }
    }
}

#[async_trait::async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), BusError> {
        for chunk in events.chunks(MAX_ENTRIES) {
            let entries = chunk
                .iter()
                .map(|e| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus_name)
                        .source(SOURCE)
                        .detail_type(&e.detail_type)
                        .detail(e.detail.to_string())
                        .build()
                })
                .collect();
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| BusError::PutEvents(DisplayErrorContext(&e).to_string()))?;
            // PutEvents answers 200 even when some entries failed; the count says so.
            let failed = out.failed_entry_count();
            if failed > 0 {
                return Err(BusError::Rejected {
                    failed,
                    total: chunk.len(),
                });
            }
        }
        Ok(())
    }
}
