//! A friend is one LINE user following a tenant's account: profile, follow state, tags, fields, score.
use std::collections::BTreeMap;
use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::{
    LineUserId, TagName, TenantId,
    dormancy::{DormancyClock, DormantTier},
    field_error::FieldError,
    ids::{QuestionId, SurveyId},
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Friend {
    pub tenant: TenantId,
    pub user_id: LineUserId,
    /// As LINE gave it at the last follow; empty when the profile call failed.
    #[serde(flatten)]
    pub profile: Profile,
    /// First follow (or first sighting, for friends who followed before the tenant connected).
    pub followed_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_followed_at: Option<Timestamp>,
    #[serde(default)]
    pub blocked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_at: Option<Timestamp>,
    /// LINE time of the follow/unfollow that decided `blocked`; an older one arriving late changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_state_at: Option<Timestamp>,
    /// Inflow route (QR code, ad, URL) that brought the friend, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Tag → when it was added.
    #[serde(default)]
    pub tags: BTreeMap<TagName, Timestamp>,
    #[serde(default)]
    pub score: i64,
    /// Last activity the friend started (message, tap, follow…), for dormancy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<Timestamp>,
    #[serde(default)]
    pub follow_count: u32,
    /// When `score` was last changed: decay (if the tenant sets a half-life) runs from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_updated_at: Option<Timestamp>,
    /// The survey question last asked in the chat, so a typed message can answer it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_question: Option<OpenQuestion>,
    #[serde(default)]
    pub purchase_count: u32,
    /// Sum of order amounts in yen.
    #[serde(default)]
    pub purchase_total: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_purchase_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_purchase_at: Option<Timestamp>,
    /// The dormancy tiers the friend is in (at most one per clock); see `domain::dormancy`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dormancy: Vec<DormantTier>,
    /// Optimistic-concurrency counter: every write expects the version it read.
    #[serde(default)]
    pub version: u64,
}

/// What LINE tells about a user (`GET /v2/bot/profile/{userId}`). `Debug` hides the name and
/// status message: they are personal.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// BCP 47; absent until the user has agreed to LINE's privacy policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

/// A free-text or date question left unanswered this long stops catching the friend's
/// messages: a week later "クーポンありますか" is a question for the shop, not an answer.
pub const OPEN_QUESTION_TTL: SignedDuration = SignedDuration::from_hours(24);

/// The question a friend was last asked in the chat, so a typed message can be its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenQuestion {
    pub survey: SurveyId,
    pub question: QuestionId,
    pub asked_at: Timestamp,
}

impl OpenQuestion {
    pub fn is_fresh(&self, now: Timestamp) -> bool {
        self.asked_at
            .saturating_add(OPEN_QUESTION_TTL)
            .unwrap_or(self.asked_at)
            > now
    }
}

/// What a LINE event means for the friend, stripped of LINE's wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Follow,
    Unfollow,
    /// Something the friend did: a message, a tap, a beacon, a finished video.
    Interaction,
    /// Recorded in the history but not the friend's doing (e.g. an unknown future event type).
    Passive,
}

/// The outcome of applying an activity, from which domain events are published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FriendChange {
    /// A new follow; `refollow` is true when the friend had blocked us and came back.
    Followed {
        refollow: bool,
    },
    Unfollowed,
    Seen,
    /// A follow/unfollow older than the state already recorded (LINE may deliver out of order).
    Stale,
    Nothing,
}

impl Friend {
    /// A friend seen for the first time at LINE time `at`.
    pub fn new(tenant: TenantId, user_id: LineUserId, at: Timestamp) -> Self {
        Self {
            tenant,
            user_id,
            profile: Profile::default(),
            followed_at: at,
            last_followed_at: None,
            blocked: false,
            blocked_at: None,
            follow_state_at: None,
            route: None,
            fields: BTreeMap::new(),
            tags: BTreeMap::new(),
            score: 0,
            last_seen_at: None,
            follow_count: 0,
            score_updated_at: None,
            open_question: None,
            purchase_count: 0,
            purchase_total: 0,
            first_purchase_at: None,
            last_purchase_at: None,
            dormancy: Vec::new(),
            version: 0,
        }
    }

    /// Applies one event that happened at LINE time `at`.
    pub fn apply(&mut self, activity: Activity, at: Timestamp) -> FriendChange {
        match activity {
            Activity::Follow | Activity::Unfollow
                if self.follow_state_at.is_some_and(|prev| prev > at) =>
            {
                FriendChange::Stale
            }
            Activity::Follow => {
                let refollow = self.blocked;
                self.blocked = false;
                self.blocked_at = None;
                self.follow_state_at = Some(at);
                self.last_followed_at = Some(at);
                self.follow_count += 1;
                self.seen(at);
                FriendChange::Followed { refollow }
            }
            Activity::Unfollow => {
                self.blocked = true;
                self.blocked_at = Some(at);
                self.follow_state_at = Some(at);
                FriendChange::Unfollowed
            }
            Activity::Interaction => {
                self.seen(at);
                FriendChange::Seen
            }
            Activity::Passive => FriendChange::Nothing,
        }
    }

    fn seen(&mut self, at: Timestamp) {
        // Out-of-order delivery must not move last-seen backwards.
        if self.last_seen_at.is_none_or(|prev| prev < at) {
            self.last_seen_at = Some(at);
            // Acting again ends dormancy at once, in this same write (not at the next sweep).
            self.leave_tiers(DormancyClock::Activity);
        }
    }

    pub fn has_tag(&self, tag: &TagName) -> bool {
        self.tags.contains_key(tag)
    }

    /// Adds the tag; returns false when the friend already had it.
    pub fn add_tag(&mut self, tag: TagName, now: Timestamp) -> bool {
        if self.tags.contains_key(&tag) {
            return false;
        }
        self.tags.insert(tag, now);
        true
    }

    pub fn remove_tag(&mut self, tag: &TagName) -> bool {
        self.tags.remove(tag).is_some()
    }

    /// The score as of `now`: with a half-life, points fade (halved every `half_life_days`)
    /// from `score_updated_at`. Decay is applied lazily, when the score is read or written.
    pub fn score_at(&self, now: Timestamp, half_life_days: Option<u32>) -> i64 {
        let (Some(days), Some(since)) = (half_life_days.filter(|d| *d > 0), self.score_updated_at)
        else {
            return self.score;
        };
        let elapsed = now.duration_since(since).as_secs_f64().max(0.0) / 86_400.0;
        let factor = 0.5_f64.powf(elapsed / f64::from(days));
        // Toward zero, so a faded score reaches 0 instead of hovering at ±1.
        (self.score as f64 * factor).trunc() as i64
    }

    /// Adds points to the decayed score and restarts decay from `now`.
    pub fn add_score(&mut self, points: i64, now: Timestamp, half_life_days: Option<u32>) {
        self.score = self.score_at(now, half_life_days).saturating_add(points);
        self.score_updated_at = Some(now);
    }

    /// Counts one order: the counters the purchase tags (初回購入, リピート, VIP) derive from.
    /// Orders may arrive out of order (a CSV of past orders), so first/last are min/max.
    pub fn record_purchase(&mut self, amount: i64, at: Timestamp) {
        self.purchase_count = self.purchase_count.saturating_add(1);
        self.purchase_total = self.purchase_total.saturating_add(amount);
        if self.first_purchase_at.is_none_or(|f| at < f) {
            self.first_purchase_at = Some(at);
        }
        if self.last_purchase_at.is_none_or(|l| at > l) {
            self.last_purchase_at = Some(at);
            // Buying again ends purchase dormancy at once, in the write that records the order.
            self.leave_tiers(DormancyClock::Purchase);
        }
    }

    /// Sets (Some) or clears (None) custom fields such as `age_band` or `birthday`.
    pub fn set_fields(&mut self, changes: impl IntoIterator<Item = (String, Option<String>)>) {
        for (name, value) in changes {
            match value {
                Some(v) => self.fields.insert(name, v),
                None => self.fields.remove(&name),
            };
        }
    }
}

/// Custom field names as the admin API accepts them.
pub fn check_field_name(name: &str, path: &str) -> Result<(), FieldError> {
    let ok = (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            path,
            "field names are 1–64 letters, digits, '_' or '-'",
        ))
    }
}

/// The friend fixtures other domain tests share.
#[cfg(test)]
pub(crate) use tests::{friend_followed, ts};

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// A friend of the demo tenant who followed at `at`.
    pub(crate) fn friend_followed(at: &str) -> Friend {
        Friend::new(
            TenantId::parse("demo").unwrap(),
            LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap(),
            ts(at),
        )
    }

    fn friend() -> Friend {
        friend_followed("2026-04-01T00:00:00Z")
    }

    #[test]
    fn follow_unfollow_follow_again_is_a_refollow() {
        let mut f = friend();
        assert_eq!(
            f.apply(Activity::Follow, ts("2026-04-01T00:00:00Z")),
            FriendChange::Followed { refollow: false }
        );
        assert_eq!(
            f.apply(Activity::Unfollow, ts("2026-04-02T00:00:00Z")),
            FriendChange::Unfollowed
        );
        assert!(f.blocked);
        assert_eq!(
            f.apply(Activity::Follow, ts("2026-04-03T00:00:00Z")),
            FriendChange::Followed { refollow: true }
        );
        assert!(!f.blocked);
        assert_eq!(f.follow_count, 2);
        assert_eq!(f.followed_at, ts("2026-04-01T00:00:00Z"));
    }

    #[test]
    fn a_late_unfollow_does_not_block_a_newer_follow() {
        let mut f = friend();
        f.apply(Activity::Follow, ts("2026-04-03T00:00:00Z"));
        assert_eq!(
            f.apply(Activity::Unfollow, ts("2026-04-02T00:00:00Z")),
            FriendChange::Stale
        );
        assert!(!f.blocked);
    }

    #[test]
    fn last_seen_never_moves_backwards() {
        let mut f = friend();
        f.apply(Activity::Interaction, ts("2026-04-05T00:00:00Z"));
        f.apply(Activity::Interaction, ts("2026-04-04T00:00:00Z"));
        assert_eq!(f.last_seen_at, Some(ts("2026-04-05T00:00:00Z")));
        f.apply(Activity::Passive, ts("2026-04-06T00:00:00Z"));
        assert_eq!(f.last_seen_at, Some(ts("2026-04-05T00:00:00Z")));
    }

    #[test]
    fn a_score_with_a_half_life_fades_lazily() {
        let mut f = friend();
        f.add_score(100, ts("2026-04-01T00:00:00Z"), Some(30));
        assert_eq!(f.score_at(ts("2026-05-01T00:00:00Z"), Some(30)), 50);
        assert_eq!(f.score_at(ts("2026-05-01T00:00:00Z"), None), 100);
        f.add_score(10, ts("2026-05-01T00:00:00Z"), Some(30));
        assert_eq!(f.score, 60);
    }

    #[test]
    fn purchases_count_in_any_order() {
        let mut f = friend();
        f.record_purchase(3000, ts("2026-04-05T00:00:00Z"));
        f.record_purchase(2000, ts("2026-04-01T00:00:00Z"));
        assert_eq!((f.purchase_count, f.purchase_total), (2, 5000));
        assert_eq!(f.first_purchase_at, Some(ts("2026-04-01T00:00:00Z")));
        assert_eq!(f.last_purchase_at, Some(ts("2026-04-05T00:00:00Z")));
    }

    #[test]
    fn tags_are_added_once() {
        let mut f = friend();
        let vip = TagName::parse("VIP").unwrap();
        assert!(f.add_tag(vip.clone(), ts("2026-04-01T00:00:00Z")));
        assert!(!f.add_tag(vip.clone(), ts("2026-04-02T00:00:00Z")));
        assert_eq!(f.tags[&vip], ts("2026-04-01T00:00:00Z"));
        assert!(f.remove_tag(&vip));
        assert!(!f.has_tag(&vip));
    }
}
