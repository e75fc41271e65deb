//! Broadcasts (一斉配信): one message set to a segment of friends, now or at a set time, sent
//! as LINE multicasts of at most 500 recipients, each chunk with its own retry key.
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    Friend, LineUserId, TagName, TenantId,
    condition::{Condition, Scope, conditions_hold, validate_conditions},
    field_error::check_name,
    message::{FieldError, validate_messages},
};

/// LINE's multicast takes at most 500 user ids per request.
pub const MAX_MULTICAST: usize = 500;

/// Which friends a broadcast reaches: tags with AND / OR / NOT, custom fields, follow date and
/// inflow route. Friends who blocked the account are never in a segment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Segment {
    /// The friend has every one of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub all_tags: Vec<TagName>,
    /// The friend has at least one of these tags (ignored when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any_tags: Vec<TagName>,
    /// The friend has none of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub none_tags: Vec<TagName>,
    /// Conditions as in scenario steps: custom fields, purchases (all must hold).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub followed_from: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub followed_to: Option<Timestamp>,
    /// Inflow routes; the friend came through one of them (ignored when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<String>,
}

impl Segment {
    /// The first part that cannot be evaluated as written (a score, a field without a value).
    pub fn validate(&self, path: &str) -> Result<(), FieldError> {
        validate_conditions(&self.fields, &format!("{path}.fields"), Scope::Friend)
    }

    pub fn matches(&self, f: &Friend) -> bool {
        !f.blocked
            && self.all_tags.iter().all(|t| f.has_tag(t))
            && (self.any_tags.is_empty() || self.any_tags.iter().any(|t| f.has_tag(t)))
            && !self.none_tags.iter().any(|t| f.has_tag(t))
            && conditions_hold(&self.fields, f, None)
            && self.followed_from.is_none_or(|from| f.followed_at >= from)
            && self.followed_to.is_none_or(|to| f.followed_at <= to)
            && (self.routes.is_empty() || f.route.as_ref().is_some_and(|r| self.routes.contains(r)))
    }
}

/// What the marketer asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BroadcastRequest {
    pub name: String,
    #[serde(default)]
    pub segment: Segment,
    pub messages: Vec<Value>,
    /// When to start; now when absent. Inside the delivery window either way.
    #[serde(default)]
    pub send_at: Option<Timestamp>,
    /// Exempt from the per-friend daily cap (e.g. an order notice). Default false.
    #[serde(default)]
    pub transactional: bool,
}

impl BroadcastRequest {
    pub fn validate(&self) -> Result<(), FieldError> {
        check_name("name", &self.name)?;
        self.segment.validate("segment")?;
        validate_messages(&self.messages, "messages")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BroadcastState {
    Scheduled,
    Running,
    Done,
    Cancelled,
}

/// The next chunk, fixed before it is sent, so a retry after a crash sends exactly the same
/// recipients under the same retry key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedChunk {
    pub index: u32,
    pub to: Vec<LineUserId>,
    #[serde(default)]
    pub attempts: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Friends read from the friend list so far.
    pub scanned: u64,
    /// Recipients in chunks LINE accepted.
    pub sent: u64,
    pub chunks_planned: u32,
    pub chunks_sent: u32,
    /// In the segment but over the daily cap.
    pub capped: u64,
    /// In chunks LINE refused (4xx), with the reason in the chunk record.
    pub failed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Broadcast {
    pub tenant: TenantId,
    pub id: String,
    #[serde(flatten)]
    pub request: BroadcastRequest,
    pub state: BroadcastState,
    pub created_at: Timestamp,
    /// When the next piece of work is due (the start, or a retry after a rate limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_due_at: Option<Timestamp>,
    #[serde(default)]
    pub progress: Progress,
    /// Where the friend list continues (opaque store cursor); absent before start and at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Set once the friend list is exhausted.
    #[serde(default)]
    pub listed_all: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PlannedChunk>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
}

impl Broadcast {
    pub fn due(&self) -> Option<Timestamp> {
        matches!(
            self.state,
            BroadcastState::Scheduled | BroadcastState::Running
        )
        .then_some(self.next_due_at)
        .flatten()
    }

    pub fn shard(&self, shards: u8) -> u8 {
        use sha2::{Digest, Sha256};
        Sha256::digest(format!("{}#BC#{}", self.tenant, self.id).as_bytes())[0] % shards.max(1)
    }

    /// The chunk's `X-Line-Retry-Key`: the same chunk of the same broadcast always has the same key.
    pub fn chunk_retry_key(&self, index: u32) -> uuid::Uuid {
        // A fixed namespace for broadcast chunk keys (distinct from scenario step keys).
        const NAMESPACE: uuid::Uuid =
            uuid::Uuid::from_u128(0x6b1f_2a4e_9c3d_4e5f_8a7b_1c2d_3e4f_5a6b);
        uuid::Uuid::new_v5(
            &NAMESPACE,
            format!("{}\u{1f}{}\u{1f}{index}", self.tenant, self.id).as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn friend(tags: &[&str]) -> Friend {
        let mut f = Friend::new(
            TenantId::parse("demo").unwrap(),
            LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap(),
            "2026-04-01T00:00:00Z".parse().unwrap(),
        );
        for t in tags {
            f.add_tag(
                TagName::parse(t).unwrap(),
                "2026-04-01T00:00:00Z".parse().unwrap(),
            );
        }
        f
    }

    fn tags(names: &[&str]) -> Vec<TagName> {
        names.iter().map(|n| TagName::parse(n).unwrap()).collect()
    }

    #[test]
    fn segments_combine_and_or_not() {
        let seg = Segment {
            all_tags: tags(&["女性"]),
            any_tags: tags(&["美容", "健康"]),
            none_tags: tags(&["購入済み"]),
            ..Segment::default()
        };
        assert!(seg.matches(&friend(&["女性", "美容"])));
        assert!(!seg.matches(&friend(&["女性"])), "needs one of 美容/健康");
        assert!(!seg.matches(&friend(&["美容"])), "needs 女性");
        assert!(
            !seg.matches(&friend(&["女性", "健康", "購入済み"])),
            "excluded by 購入済み"
        );
    }

    #[test]
    fn blocked_friends_are_never_in_a_segment() {
        let mut f = friend(&[]);
        f.blocked = true;
        assert!(!Segment::default().matches(&f));
    }

    #[test]
    fn routes_narrow_the_segment() {
        let seg = Segment {
            routes: vec!["instagram".into()],
            ..Segment::default()
        };
        let mut f = friend(&[]);
        assert!(!seg.matches(&f));
        f.route = Some("instagram".into());
        assert!(seg.matches(&f));
    }
}
