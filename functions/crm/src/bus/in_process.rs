use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::UnboundedSender;

use super::{BusError, DomainEvent, EventBus};

/// The bus of the local stack and the tests. Unrouted (the tests) it keeps every event in order
/// for assertions; routed (the local stack) it hands each to a receiver that calls the
/// subscribed handler as EventBridge's rule would, and keeps nothing, so a long-running stack
/// does not grow with every event it ever carried.
#[derive(Debug, Clone, Default)]
pub struct InProcessBus {
    published: Arc<Mutex<Vec<DomainEvent>>>,
    route: Option<UnboundedSender<DomainEvent>>,
}

impl InProcessBus {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn routed_to(route: UnboundedSender<DomainEvent>) -> Self {
        Self {
            published: Arc::default(),
            route: Some(route),
        }
    }

    pub fn published(&self) -> Vec<DomainEvent> {
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[async_trait::async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), BusError> {
        match &self.route {
            Some(route) => {
                for e in events {
                    // A closed receiver means the local stack is shutting down; nothing to route to.
                    let _ = route.send(e.clone());
                }
            }
            None => self
                .published
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(events.iter().cloned()),
        }
        Ok(())
    }
}
