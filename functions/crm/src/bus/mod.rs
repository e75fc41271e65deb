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

/// One domain event as it travels on the bus: EventBridge's `detail-type` and `detail`. Only
/// the adapters (outbox, relay, EventBridge, in-process) handle this wire form; producers and
/// consumers use [`Event`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainEvent {
    pub detail_type: String,
    pub detail: Value,
}

impl DomainEvent {
    pub fn tenant(&self) -> Option<&str> {
        self.detail.get("tenant").and_then(Value::as_str)
    }

    pub fn friend(&self) -> Option<&str> {
        self.detail.get("friend").and_then(Value::as_str)
    }
}

/// What every event says about its friend. `eventId` is set by the outbox when the event is
/// written (unique per event, for consumers that deduplicate on it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct About {
    pub tenant: TenantId,
    pub friend: LineUserId,
    pub occurred_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Followed {
    #[serde(flatten)]
    pub about: About,
    pub refollow: bool,
    /// Keys the follow's reaction, so the webhook's and the consumer's run once.
    pub webhook_event_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unfollowed {
    #[serde(flatten)]
    pub about: About,
}

/// Carries the message id and type only: message text stays in the table, off the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageReceived {
    #[serde(flatten)]
    pub about: About,
    pub message_type: String,
    pub webhook_event_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostbackReceived {
    #[serde(flatten)]
    pub about: About,
    pub data: String,
    pub webhook_event_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tagged {
    #[serde(flatten)]
    pub about: About,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Replayed history (a purchase CSV import): recorded, starts nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub imported: bool,
}

/// `answer` is the chosen choice id(s) (comma-separated), `_done`, or for free text and dates
/// only the kind (`freeText` / `date`): the friend's own words stay in the table. `answerId`
/// (webhook event or form submission) is what consumers deduplicate on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answered {
    #[serde(flatten)]
    pub about: About,
    pub survey: String,
    pub question: String,
    pub answer: String,
    pub answered_at: Timestamp,
    pub answer_id: String,
}

/// Products and categories as the shop named them; no amounts per item, no personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Purchased {
    #[serde(flatten)]
    pub about: About,
    pub order_id: String,
    pub amount: i64,
    pub products: Vec<String>,
    pub categories: Vec<String>,
    pub purchased_at: Timestamp,
    #[serde(default)]
    pub imported: bool,
}

/// A domain event, typed: the variant is EventBridge's `detail-type`, its fields the `detail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "detailType", content = "detail")]
pub enum Event {
    FriendFollowed(Followed),
    FriendUnfollowed(Unfollowed),
    MessageReceived(MessageReceived),
    PostbackReceived(PostbackReceived),
    FriendTagged(Tagged),
    SurveyAnswered(Answered),
    PurchaseRecorded(Purchased),
}

#[derive(Debug, thiserror::Error)]
#[error("not a Tsunagu domain event ({detail_type}): {reason}")]
pub struct UnknownEvent {
    pub detail_type: String,
    pub reason: String,
}

fn about(t: &TenantId, u: &LineUserId, at: Timestamp) -> About {
    About {
        tenant: t.clone(),
        friend: u.clone(),
        occurred_at: at,
        event_id: None,
    }
}

impl Event {
    pub fn friend_followed(
        t: &TenantId,
        u: &LineUserId,
        at: Timestamp,
        refollow: bool,
        event_id: &str,
    ) -> Self {
        Self::FriendFollowed(Followed {
            about: about(t, u, at),
            refollow,
            webhook_event_id: event_id.to_owned(),
        })
    }

    pub fn friend_unfollowed(t: &TenantId, u: &LineUserId, at: Timestamp) -> Self {
        Self::FriendUnfollowed(Unfollowed {
            about: about(t, u, at),
        })
    }

    pub fn message_received(
        t: &TenantId,
        u: &LineUserId,
        at: Timestamp,
        message_type: &str,
        event_id: &str,
    ) -> Self {
        Self::MessageReceived(MessageReceived {
            about: about(t, u, at),
            message_type: message_type.to_owned(),
            webhook_event_id: event_id.to_owned(),
        })
    }

    pub fn postback_received(
        t: &TenantId,
        u: &LineUserId,
        at: Timestamp,
        data: &str,
        event_id: &str,
    ) -> Self {
        Self::PostbackReceived(PostbackReceived {
            about: about(t, u, at),
            data: data.to_owned(),
            webhook_event_id: event_id.to_owned(),
        })
    }

    pub fn tagged(
        t: &TenantId,
        u: &LineUserId,
        at: Timestamp,
        added: Vec<String>,
        removed: Vec<String>,
        imported: bool,
    ) -> Self {
        Self::FriendTagged(Tagged {
            about: about(t, u, at),
            added,
            removed,
            imported,
        })
    }

    pub fn survey_answered(
        t: &TenantId,
        u: &LineUserId,
        at: Timestamp,
        survey: &str,
        question: &str,
        answer: &str,
        answer_id: &str,
    ) -> Self {
        Self::SurveyAnswered(Answered {
            about: about(t, u, at),
            survey: survey.to_owned(),
            question: question.to_owned(),
            answer: answer.to_owned(),
            answered_at: at,
            answer_id: answer_id.to_owned(),
        })
    }

    pub fn purchase_recorded(t: &TenantId, p: &crate::domain::purchase::Purchase) -> Self {
        let own = |v: Vec<&str>| v.into_iter().map(str::to_owned).collect();
        Self::PurchaseRecorded(Purchased {
            about: about(t, &p.friend, p.purchased_at),
            order_id: p.order_id.to_string(),
            amount: p.amount,
            products: own(p.products()),
            categories: own(p.categories()),
            purchased_at: p.purchased_at,
            imported: p.imported,
        })
    }

    pub fn about(&self) -> &About {
        match self {
            Self::FriendFollowed(e) => &e.about,
            Self::FriendUnfollowed(e) => &e.about,
            Self::MessageReceived(e) => &e.about,
            Self::PostbackReceived(e) => &e.about,
            Self::FriendTagged(e) => &e.about,
            Self::SurveyAnswered(e) => &e.about,
            Self::PurchaseRecorded(e) => &e.about,
        }
    }

    fn about_mut(&mut self) -> &mut About {
        match self {
            Self::FriendFollowed(e) => &mut e.about,
            Self::FriendUnfollowed(e) => &mut e.about,
            Self::MessageReceived(e) => &mut e.about,
            Self::PostbackReceived(e) => &mut e.about,
            Self::FriendTagged(e) => &mut e.about,
            Self::SurveyAnswered(e) => &mut e.about,
            Self::PurchaseRecorded(e) => &mut e.about,
        }
    }

    /// The outbox names each event once it is written.
    pub fn with_event_id(mut self, id: String) -> Self {
        self.about_mut().event_id = Some(id);
        self
    }

    /// The wire form: the one place an event becomes `detail-type` + `detail`.
    pub fn to_wire(&self) -> DomainEvent {
        let (detail_type, detail) = match serde_json::to_value(self) {
            Ok(Value::Object(mut m)) => (
                m.remove("detailType")
                    .and_then(|t| t.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                m.remove("detail").unwrap_or(Value::Null),
            ),
            _ => (String::new(), Value::Null),
        };
        DomainEvent {
            detail_type,
            detail,
        }
    }

    /// And back, for consumers: an event of another kind or shape is an error they can ignore.
    pub fn from_wire(wire: &DomainEvent) -> Result<Self, UnknownEvent> {
        serde_json::from_value(json!({ "detailType": wire.detail_type, "detail": wire.detail }))
            .map_err(|e| UnknownEvent {
                detail_type: wire.detail_type.clone(),
                reason: e.to_string(),
            })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_goes_to_the_wire_and_back_unchanged() {
        let t = TenantId::parse("cafe").unwrap();
        let u = LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap();
        let at: Timestamp = "2026-04-01T00:00:00Z".parse().unwrap();
        let e = Event::tagged(&t, &u, at, vec!["VIP".into()], vec![], false)
            .with_event_id("abc.0".into());
        let wire = e.to_wire();
        assert_eq!(wire.detail_type, "FriendTagged");
        assert_eq!(
            wire.detail,
            json!({ "tenant": "cafe", "friend": "U4af4980629c1e2c3f2a41b8e4d0a3b0c",
                    "occurredAt": "2026-04-01T00:00:00Z", "eventId": "abc.0",
                    "added": ["VIP"], "removed": [] })
        );
        assert_eq!(Event::from_wire(&wire).unwrap(), e);
    }

    #[test]
    fn every_routed_detail_type_is_an_event_variant() {
        for kind in SURVEY_TAGGING_EVENTS {
            let wire = DomainEvent {
                detail_type: (*kind).into(),
                detail: json!({}),
            };
            let err = Event::from_wire(&wire).unwrap_err();
            // Known kinds fail on the missing fields, not on the variant name.
            assert!(!err.reason.contains("unknown variant"), "{kind}: {err}");
        }
    }
}
