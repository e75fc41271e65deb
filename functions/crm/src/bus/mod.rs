//! Domain events and the bus port. Handlers never publish: they write events into the outbox
//! with the change that caused them (`store::outbox`), and the relay (`crate::outbox`) puts them
//! on the bus. In AWS the bus is EventBridge (a custom bus whose rule routes
//! [`SURVEY_TAGGING_EVENTS`] to survey-tagging); the local stack and the tests route in-process.
mod eventbridge;
mod in_process;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use eventbridge::EventBridgeBus;
pub use in_process::InProcessBus;

use crate::domain::{LineUserId, TenantId};

/// The `source` of every event Tsunagu puts on its bus (template.yaml's rules match on it).
pub const SOURCE: &str = "tsunagu.crm";

/// The bus routing, in one place: the detail types survey-tagging consumes. template.yaml's
/// rule lists the same (a test compares them); the local stack and the tests route by it.
pub const SURVEY_TAGGING_EVENTS: &[&str] = &[
    "SurveyAnswered",
    "PurchaseRecorded",
    "FriendTagged",
    "FriendFollowed",
];

/// Whether survey-tagging consumes events of this detail type.
pub fn routes_to_survey_tagging(detail_type: &str) -> bool {
    SURVEY_TAGGING_EVENTS.contains(&detail_type)
}

/// One domain event as it travels on the bus: EventBridge's `detail-type` and `detail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainEvent {
    pub detail_type: String,
    pub detail: Value,
}

impl DomainEvent {
    fn about_friend(kind: &str, t: &TenantId, u: &LineUserId, at: Timestamp, extra: Value) -> Self {
        let mut detail = json!({ "tenant": t, "friend": u, "occurredAt": at });
        if let (Some(d), Value::Object(extra)) = (detail.as_object_mut(), extra) {
            d.extend(extra);
        }
        Self {
            detail_type: kind.to_owned(),
            detail,
        }
    }

    /// `webhookEventId` keys the follow's reaction, so the webhook's and the consumer's run once.
    pub fn friend_followed(
        t: &TenantId,
        u: &LineUserId,
        at: Timestamp,
        refollow: bool,
        event_id: &str,
    ) -> Self {
        Self::about_friend(
            "FriendFollowed",
            t,
            u,
            at,
            json!({ "refollow": refollow, "webhookEventId": event_id }),
        )
    }

    pub fn friend_unfollowed(t: &TenantId, u: &LineUserId, at: Timestamp) -> Self {
        Self::about_friend("FriendUnfollowed", t, u, at, json!({}))
    }

    /// Carries the message id and type only: message text stays in the table, off the bus.
    pub fn message_received(
        t: &TenantId,
        u: &LineUserId,
        at: Timestamp,
        message_type: &str,
        event_id: &str,
    ) -> Self {
        Self::about_friend(
            "MessageReceived",
            t,
            u,
            at,
            json!({ "messageType": message_type, "webhookEventId": event_id }),
        )
    }

    pub fn postback_received(
        t: &TenantId,
        u: &LineUserId,
        at: Timestamp,
        data: &str,
        event_id: &str,
    ) -> Self {
        Self::about_friend(
            "PostbackReceived",
            t,
            u,
            at,
            json!({ "data": data, "webhookEventId": event_id }),
        )
    }

    pub fn tagged(
        t: &TenantId,
        u: &LineUserId,
        at: Timestamp,
        added: &[String],
        removed: &[String],
    ) -> Self {
        Self::about_friend(
            "FriendTagged",
            t,
            u,
            at,
            json!({ "added": added, "removed": removed }),
        )
    }

    /// `answer` is the chosen choice id(s) (comma-separated), `_done`, or for free text and
    /// dates only the kind (`freeText` / `date`): the friend's own words stay in the table.
    /// `answerId` (webhook event or form submission) is what consumers deduplicate on.
    #[allow(clippy::too_many_arguments)]
    pub fn survey_answered(
        t: &TenantId,
        u: &LineUserId,
        at: Timestamp,
        survey: &str,
        question: &str,
        answer: &str,
        answer_id: &str,
    ) -> Self {
        Self::about_friend(
            "SurveyAnswered",
            t,
            u,
            at,
            json!({ "survey": survey, "question": question, "answer": answer,
                    "answeredAt": at, "answerId": answer_id }),
        )
    }

    /// Products and categories as the shop named them; no amounts per item, no personal data.
    pub fn purchase_recorded(t: &TenantId, p: &crate::domain::purchase::Purchase) -> Self {
        Self::about_friend(
            "PurchaseRecorded",
            t,
            &p.friend,
            p.purchased_at,
            json!({ "orderId": p.order_id, "amount": p.amount, "products": p.products(),
                    "categories": p.categories(), "purchasedAt": p.purchased_at,
                    "imported": p.imported }),
        )
    }

    pub fn tenant(&self) -> Option<&str> {
        self.detail.get("tenant").and_then(Value::as_str)
    }

    pub fn friend(&self) -> Option<&str> {
        self.detail.get("friend").and_then(Value::as_str)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("EventBridge PutEvents failed: {0}")]
    PutEvents(String),
    #[error("{failed} of {total} events were not accepted by EventBridge")]
    Rejected { failed: i32, total: usize },
}

#[async_trait::async_trait]
pub trait EventBus: Send + Sync + 'static {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), BusError>;
}
