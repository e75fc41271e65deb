//! The one module that spells key formats. Every key starts with the tenant, so no query can
//! cross tenants; timestamps in keys are fixed-width UTC so text order is time order.
use jiff::Timestamp;

use crate::domain::{
    ApiKeyId, LineUserId, StaffId, TagName, TenantId,
    purchase::OrderId,
    scenario::ScenarioId,
    survey::{QuestionId, SurveyId},
};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1PK: &str = "gsi1pk";
pub const GSI1SK: &str = "gsi1sk";
pub const GSI2: &str = "gsi2";
pub const GSI2PK: &str = "gsi2pk";
pub const GSI2SK: &str = "gsi2sk";
pub const GSI3: &str = "gsi3";
pub const GSI3PK: &str = "gsi3pk";
pub const GSI3SK: &str = "gsi3sk";
/// The table's TTL attribute (template.yaml `TimeToLiveSpecification`); see `store::Expiry`.
pub const TTL: &str = "expires_at";

/// `2026-04-01T09:30:00.000Z`: fixed width, so DynamoDB's text order is time order.
pub fn sortable(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

pub type Key = (String, String);

/// How many shards the due-index (gsi2 `DUE#{shard}`) spreads steps and broadcasts over, so
/// one partition's write rate does not cap how many sends come due at once.
pub const DUE_SHARDS: u8 = 4;

pub const TENANT_SK: &str = "TENANT";

pub fn tenant(t: &TenantId) -> Key {
    (format!("T#{t}"), TENANT_SK.into())
}

/// A tenant's channel secret and access token, sealed (`crate::vault`), in an item of their own
/// that no index holds.
pub fn tenant_credentials(t: &TenantId) -> Key {
    (format!("T#{t}"), format!("{TENANT_SK}#CREDENTIALS"))
}

/// gsi1: every tenant, so the daily sweep can visit them (tenants number in thousands, not millions).
pub const TENANTS_INDEX_PK: &str = "TENANTS";

pub fn tenants_index(t: &TenantId) -> Key {
    (TENANTS_INDEX_PK.into(), t.to_string())
}

/// API keys are looked up by the hash of the bearer value; the key itself is never stored.
pub fn api_key(sha256_hex: &str) -> Key {
    (format!("KEY#{sha256_hex}"), "KEY".into())
}

pub const API_KEY_PREFIX: &str = "APIKEY#";

/// A tenant's API key as its list shows it (one query lists them all); it holds the key's hash so
/// a revoke can remove the lookup item [`api_key`] with it.
pub fn tenant_api_key(t: &TenantId, id: &ApiKeyId) -> Key {
    (format!("T#{t}"), format!("{API_KEY_PREFIX}{id}"))
}

/// How many API keys the tenant has active: the condition that refuses revoking the last one and
/// creating one past the cap, inside the same transaction as the change.
pub fn api_key_count(t: &TenantId) -> Key {
    (format!("T#{t}"), "APIKEYS".into())
}

/// A staff member of the tenant (one query lists them all).
pub fn staff(t: &TenantId, id: &StaffId) -> Key {
    (format!("T#{t}"), format!("{STAFF_PREFIX}{id}"))
}

pub const STAFF_PREFIX: &str = "STAFF#";

/// Sign-in finds the member by email alone, so an email belongs to one member of one tenant:
/// this item, written in the member's transaction, claims it and names the member.
pub fn staff_email(email: &str) -> Key {
    (format!("STAFFEMAIL#{email}"), "STAFFEMAIL".into())
}

/// A console session, by the hash of its cookie's token (the token itself is never stored).
pub fn staff_session(token_sha256: &str) -> Key {
    (format!("SESSION#{token_sha256}"), "SESSION".into())
}

/// An invitation to set a password, by the hash of its link's token.
pub fn staff_invitation(token_sha256: &str) -> Key {
    (format!("INVITE#{token_sha256}"), "INVITE".into())
}

/// Sign-in attempts for one email (by its hash: keys are not logged, but neither should they
/// spell addresses) in the fixed window starting at `window_start` (unix seconds).
pub fn login_attempts(email_sha256: &str, window_start: i64) -> Key {
    (
        format!("LOGINS#{email_sha256}"),
        format!("W#{window_start}"),
    )
}

pub fn friend_pk(t: &TenantId, u: &LineUserId) -> String {
    format!("T#{t}#F#{u}")
}

/// A domain event waiting for the relay, in the partition of the friend it is about: the stream
/// keeps one partition's records in order, so a friend's events reach the bus in the order they
/// happened.
pub const OUTBOX_PREFIX: &str = "OUT#";

pub fn outbox(pk: String, at: Timestamp, id: &str) -> Key {
    (pk, format!("{OUTBOX_PREFIX}{}#{id}", sortable(at)))
}

pub fn friend(t: &TenantId, u: &LineUserId) -> Key {
    (friend_pk(t, u), "PROFILE".into())
}

/// gsi1: every friend of a tenant, ordered by first follow (then id, to keep equal times apart).
pub fn friends_by_follow(t: &TenantId, u: &LineUserId, followed_at: Timestamp) -> Key {
    (
        friends_index_pk(t),
        format!("{}#{u}", sortable(followed_at)),
    )
}

pub fn friends_index_pk(t: &TenantId) -> String {
    format!("T#{t}#FRIENDS")
}

/// gsi3: the day (tenant zone) the friend was last seen, so a dormancy sweep reads only the
/// buckets that cross a threshold today.
pub fn seen_bucket(t: &TenantId, u: &LineUserId, local_day: &str) -> Key {
    (format!("T#{t}#SEEN#{local_day}"), u.to_string())
}

pub fn seen_bucket_pk(t: &TenantId, local_day: &str) -> String {
    format!("T#{t}#SEEN#{local_day}")
}

/// gsi3 buckets a friend can be in besides last-seen: one small marker item per bucket kind
/// (a friend item has one gsi3 pair), written with the profile in the same transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FriendBucket {
    /// `T#{t}#BOUGHT#{day}`: day (tenant zone) of the last purchase.
    Bought,
    /// `T#{t}#BDAY#{MM-DD}`: birthday from the `birthday` field.
    Birthday,
    /// `T#{t}#FOLLOWED#{MM-DD}`: day of the first follow, for anniversaries.
    Followed,
}

impl FriendBucket {
    pub const ALL: [FriendBucket; 3] = [Self::Bought, Self::Birthday, Self::Followed];

    fn name(self) -> &'static str {
        match self {
            Self::Bought => "BOUGHT",
            Self::Birthday => "BDAY",
            Self::Followed => "FOLLOWED",
        }
    }
}

/// The marker item that puts a friend into a `kind` bucket.
pub fn bucket_marker(t: &TenantId, u: &LineUserId, kind: FriendBucket) -> Key {
    (friend_pk(t, u), format!("BUCKET#{}", kind.name()))
}

/// gsi3 keys of a bucket marker: `T#{t}#{KIND}#{value}` / uid.
pub fn bucket(t: &TenantId, u: &LineUserId, kind: FriendBucket, value: &str) -> Key {
    (bucket_pk(t, kind, value), u.to_string())
}

pub fn bucket_pk(t: &TenantId, kind: FriendBucket, value: &str) -> String {
    format!("T#{t}#{}#{value}", kind.name())
}

/// The tenant's dormancy tiers, occasions and alert settings.
pub fn dormancy_settings(t: &TenantId) -> Key {
    (format!("T#{t}"), "DORMANCY".into())
}

/// The last day (tenant zone) the sweep finished for the tenant.
pub fn sweep_state(t: &TenantId) -> Key {
    (format!("T#{t}"), "DORMANCY#SWEPT".into())
}

/// One stay of a friend in one tier: written once (the conditional put is the exactly-once of
/// the transition) and later marked when the friend returns or the return window closes.
pub fn tier_entry(t: &TenantId, u: &LineUserId, clock: &str, days: u32, since_day: &str) -> Key {
    (
        friend_pk(t, u),
        format!("DORM#{clock}#{days:04}#{since_day}"),
    )
}

/// gsi3 on an open tier entry: the day its return window closes, so the sweep that day measures
/// exactly the entries closing; a measured entry drops out of the index.
pub fn return_window_close(t: &TenantId, u: &LineUserId, close_day: &str, entry_sk: &str) -> Key {
    (
        return_window_close_pk(t, close_day),
        format!("{u}#{entry_sk}"),
    )
}

pub fn return_window_close_pk(t: &TenantId, close_day: &str) -> String {
    format!("T#{t}#REACT#{close_day}")
}

/// A yearly occasion handled for a friend (`BDAY`, `ANNIV`), so a re-run sends it once.
/// The occasions celebrated once a year (the `kind` of [`occasion`]).
pub const BIRTHDAY_OCCASION: &str = "BDAY";
pub const ANNIVERSARY_OCCASION: &str = "ANNIV";

pub fn occasion(t: &TenantId, u: &LineUserId, kind: &str, year: i16) -> Key {
    (friend_pk(t, u), format!("OCC#{kind}#{year}"))
}

pub const REACTIVATION_PREFIX: &str = "REACT#";

/// Reactivation counters of one tier × scenario × inflow route (ADDed to, never rewritten).
pub fn reactivation_counter(
    t: &TenantId,
    clock: &str,
    days: u32,
    scenario: Option<&str>,
    route: &str,
) -> Key {
    let route: String = route.chars().take(200).collect();
    (
        format!("T#{t}"),
        format!(
            "{REACTIVATION_PREFIX}{clock}#{days:04}#{}#{route}",
            scenario.unwrap_or("-")
        ),
    )
}

/// How many items each count is split over (by friend), so a burst of follows or a sweep
/// tagging thousands of friends does not queue on one item.
pub const COUNT_SHARDS: u8 = 8;

/// The partition of a tenant's counts: one query reads them all.
pub fn counts_pk(t: &TenantId) -> String {
    format!("T#{t}#COUNTS")
}

pub const TOTAL_COUNT_PREFIX: &str = "TOTAL#";
pub const DAY_COUNT_PREFIX: &str = "DAY#";
pub const TAG_COUNT_PREFIX: &str = "TAG#";

/// One shard of the tenant's friends and blocked friends.
pub fn total_count(t: &TenantId, shard: u8) -> Key {
    (counts_pk(t), format!("{TOTAL_COUNT_PREFIX}{shard:02}"))
}

/// One shard of one day's follows and blocks (`day`: the tenant zone's `2026-04-01`).
pub fn day_count(t: &TenantId, day: &str, shard: u8) -> Key {
    (counts_pk(t), format!("{DAY_COUNT_PREFIX}{day}#{shard:02}"))
}

/// One shard of a tag's member count.
pub fn tag_count(t: &TenantId, tag: &TagName, shard: u8) -> Key {
    (counts_pk(t), format!("{TAG_COUNT_PREFIX}{tag}#{shard:02}"))
}

/// The last look at LINE's monthly quota and consumption (refreshed at most hourly).
pub fn line_quota(t: &TenantId) -> Key {
    (counts_pk(t), "LINEQUOTA".into())
}

pub fn friend_tag(t: &TenantId, u: &LineUserId, tag: &TagName) -> Key {
    (friend_pk(t, u), format!("TAG#{tag}"))
}

/// gsi1: members of one tag ("who has 初回購入" is one query).
pub fn tag_members(t: &TenantId, u: &LineUserId, tag: &TagName) -> Key {
    (tag_members_pk(t, tag), u.to_string())
}

pub fn tag_members_pk(t: &TenantId, tag: &TagName) -> String {
    format!("T#{t}#TAG#{tag}")
}

pub const EVENT_PREFIX: &str = "EV#";

/// A friend's action history, newest last by LINE time.
pub fn friend_event(t: &TenantId, u: &LineUserId, at: Timestamp, event_id: &str) -> Key {
    (
        friend_pk(t, u),
        format!("{EVENT_PREFIX}{}#{event_id}", sortable(at)),
    )
}

/// What the message of the history entry `(pk, event_sk)` (a [`friend_event`] or
/// [`chat_event`]) said: beside it in its partition, `MSG#` in place of `EV#`, so the contents of
/// a span of entries are one range query.
pub fn message_content(pk: &str, event_sk: &str) -> Key {
    let rest = event_sk.strip_prefix(EVENT_PREFIX).unwrap_or(event_sk);
    (pk.to_owned(), format!("MSG#{rest}"))
}

/// Group and room events are recorded per chat; a group id never becomes a friend.
pub fn chat_event(t: &TenantId, chat_id: &str, at: Timestamp, event_id: &str) -> Key {
    (
        format!("T#{t}#CHAT#{chat_id}"),
        format!("{EVENT_PREFIX}{}#{event_id}", sortable(at)),
    )
}

/// Marker of a processed `webhookEventId`; its conditional put is the deduplication.
pub fn webhook_seen(t: &TenantId, webhook_event_id: &str) -> Key {
    (format!("T#{t}#WH#{webhook_event_id}"), "WH".into())
}

pub const TAG_DEF_PREFIX: &str = "TAGDEF#";

pub fn tag_definition(t: &TenantId, tag: &TagName) -> Key {
    (format!("T#{t}"), format!("{TAG_DEF_PREFIX}{tag}"))
}

/// The scenario's head: current version and definition, one query lists them all.
pub fn scenario_head(t: &TenantId, scenario: &ScenarioId) -> Key {
    (format!("T#{t}"), format!("{SCENARIO_PREFIX}{scenario}"))
}

pub const SCENARIO_PREFIX: &str = "SCENARIO#";

/// Versions are immutable; enrolled friends keep reading the one they started on.
pub fn scenario_version(t: &TenantId, scenario: &ScenarioId, version: u32) -> Key {
    (format!("T#{t}"), format!("SCNV#{scenario}#{version:05}"))
}

pub const ENROLLMENT_PREFIX: &str = "ENR#";

pub fn enrollment(t: &TenantId, u: &LineUserId, scenario: &ScenarioId) -> Key {
    (friend_pk(t, u), format!("{ENROLLMENT_PREFIX}{scenario}"))
}

/// gsi2, the sparse due-index: present only while an enrollment waits for a step. A claim moves
/// the sort key to the lease's end, so a crashed claim comes due again by itself.
pub fn due_index(
    shard: u8,
    due: Timestamp,
    t: &TenantId,
    u: &LineUserId,
    scenario: &ScenarioId,
) -> Key {
    (
        due_shard(shard),
        format!("{}#{t}#{u}#{scenario}", sortable(due)),
    )
}

/// gsi2 entry of a broadcast waiting to start or to continue.
pub fn broadcast_due(shard: u8, due: Timestamp, t: &TenantId, id: &str) -> Key {
    (due_shard(shard), format!("{}#{t}#BC#{id}", sortable(due)))
}

pub const BROADCAST_PREFIX: &str = "BC#";

pub fn broadcast(t: &TenantId, id: &str) -> Key {
    (format!("T#{t}"), format!("{BROADCAST_PREFIX}{id}"))
}

/// One multicast chunk of a broadcast: its recipients count, LINE request id and outcome.
pub fn broadcast_chunk(t: &TenantId, id: &str, index: u32) -> Key {
    (format!("T#{t}#BC#{id}"), format!("CHUNK#{index:06}"))
}

/// A friend's send count for one day (tenant zone), for the per-friend daily cap.
pub fn daily_sends(t: &TenantId, u: &LineUserId, day: &str) -> Key {
    (friend_pk(t, u), format!("CAP#{day}"))
}

pub fn due_shard(shard: u8) -> String {
    format!("DUE#{shard:02}")
}

/// The instant a gsi2 sort key ([`due_index`], [`broadcast_due`]) comes due: its
/// [`sortable`] prefix. None for a key of another shape.
pub fn due_at(gsi2sk: &str) -> Option<Timestamp> {
    gsi2sk.split('#').next()?.parse().ok()
}

/// gsi3 (keys only): the friends enrolled in a scenario (for migrating them to a new version, and reports).
pub fn scenario_members(t: &TenantId, scenario: &ScenarioId, u: &LineUserId) -> Key {
    (scenario_members_pk(t, scenario), u.to_string())
}

pub fn scenario_members_pk(t: &TenantId, scenario: &ScenarioId) -> String {
    format!("T#{t}#ENR#{scenario}")
}

pub fn scenario_versions_prefix(scenario: &ScenarioId) -> String {
    format!("SCNV#{scenario}#")
}

pub const DELIVERY_PREFIX: &str = "DLV#";

pub fn delivery(t: &TenantId, u: &LineUserId, retry_key: &str) -> Key {
    (friend_pk(t, u), format!("{DELIVERY_PREFIX}{retry_key}"))
}

pub const SURVEY_PREFIX: &str = "SVY#";

/// A survey definition (its current version; answers keep the choice ids they were given).
pub fn survey(t: &TenantId, survey: &SurveyId) -> Key {
    (format!("T#{t}"), format!("{SURVEY_PREFIX}{survey}"))
}

pub const ANSWER_PREFIX: &str = "ANS#";

/// A friend's latest answer to one question; earlier answers stay in the event history.
pub fn answer(t: &TenantId, u: &LineUserId, survey: &SurveyId, question: &QuestionId) -> Key {
    (
        friend_pk(t, u),
        format!("{ANSWER_PREFIX}{survey}#{question}"),
    )
}

/// Uniqueness of an order id within a tenant: its own partition, so the conditional put of a
/// new order never contends with anything else.
pub fn order(t: &TenantId, order: &OrderId) -> Key {
    (format!("T#{t}#ORDER#{order}"), "ORDER".into())
}

pub const PURCHASE_PREFIX: &str = "PUR#";

/// A friend's purchase history, oldest first by purchase time.
pub fn friend_purchase(t: &TenantId, u: &LineUserId, at: Timestamp, order: &OrderId) -> Key {
    (
        friend_pk(t, u),
        format!("{PURCHASE_PREFIX}{}#{order}", sortable(at)),
    )
}

pub const RULE_PREFIX: &str = "RULE#";

pub fn tag_rule(t: &TenantId, id: &str) -> Key {
    (format!("T#{t}"), format!("{RULE_PREFIX}{id}"))
}

pub const AUTO_REPLY_PREFIX: &str = "AUTOREPLY#";

pub fn auto_reply(t: &TenantId, id: &str) -> Key {
    (format!("T#{t}"), format!("{AUTO_REPLY_PREFIX}{id}"))
}

/// The tenant's scoring settings (score half-life).
pub fn scoring(t: &TenantId) -> Key {
    (format!("T#{t}"), "SETTINGS#SCORING".into())
}

/// Survey-tagging's idempotency marker: one per bus event and friend (`event_key` from
/// [`AppliedEvent::key`]).
pub fn applied(t: &TenantId, u: &LineUserId, event_key: &str) -> Key {
    (friend_pk(t, u), format!("APPLIED#{event_key}"))
}

/// The event an apply-once marker stands for.
#[derive(Debug, Clone, Copy)]
pub enum AppliedEvent<'a> {
    /// A survey answer, by answer id (webhook event or form submission).
    Answer(&'a str),
    /// A purchase, by order id.
    Order(&'a str),
    /// A follow's reaction, by the follow's webhook event id.
    Follow(&'a str),
    /// A `FriendTagged` event, by its outbox event id.
    Tagged(&'a str),
    /// A friend's clicks of one tracked link, by the link's id: counted once.
    LinkClick(&'a str),
}

impl AppliedEvent<'_> {
    pub fn key(self) -> String {
        match self {
            Self::Answer(id) => format!("ans#{id}"),
            Self::Order(id) => format!("ord#{id}"),
            Self::Follow(id) => format!("fol#{id}"),
            Self::Tagged(id) => format!("tag#{id}"),
            Self::LinkClick(link) => format!("clk#{link}"),
        }
    }
}

/// gsi3 (keys only), sparse: the tenants whose monthly LINE quota is used up. Only the tenant
/// item of such a tenant carries it, so the tick's look for "who waits for quota" is one query
/// that is empty on almost every tick.
pub const QUOTA_EXHAUSTED_INDEX_PK: &str = "QUOTA#EXHAUSTED";

pub fn quota_exhausted_index(t: &TenantId) -> Key {
    (QUOTA_EXHAUSTED_INDEX_PK.into(), t.to_string())
}

/// What waits and why (`GET /admin/deferred`): a note per waiting step or broadcast in the
/// tenant's own partition, keyed by the item so a new deferral replaces the old note.
pub fn deferred_pk(t: &TenantId) -> String {
    format!("T#{t}#DEFERRED")
}

pub fn deferred_step(t: &TenantId, u: &LineUserId, scenario: &ScenarioId) -> Key {
    (deferred_pk(t), format!("ENR#{u}#{scenario}"))
}

pub fn deferred_broadcast(t: &TenantId, id: &str) -> Key {
    (deferred_pk(t), format!("{BROADCAST_PREFIX}{id}"))
}

/// A staff digest composed by the sweep: `T#{t}` / `DIGEST#{day}`.
pub fn digest(t: &TenantId, day: &str) -> Key {
    (format!("T#{t}"), format!("DIGEST#{day}"))
}

/// gsi3 (keys only), sparse: digests waiting for their delivery window, in due order, so the
/// tick reads only those due (`gsi3sk <= now`).
pub const DIGESTS_DUE_INDEX_PK: &str = "DIGEST#DUE";

pub fn digest_due(due: Timestamp, t: &TenantId, day: &str) -> Key {
    (
        DIGESTS_DUE_INDEX_PK.into(),
        format!("{}#{t}#{day}", sortable(due)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> TenantId {
        TenantId::parse("demo").unwrap()
    }
    fn u() -> LineUserId {
        LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap()
    }
    fn at() -> Timestamp {
        "2026-04-01T09:30:00Z".parse().unwrap()
    }

    #[test]
    fn every_key_is_spelled_as_designed() {
        let uid = "U4af4980629c1e2c3f2a41b8e4d0a3b0c";
        assert_eq!(tenant(&t()), ("T#demo".into(), "TENANT".into()));
        assert_eq!(api_key("ab"), ("KEY#ab".into(), "KEY".into()));
        let key = ApiKeyId::parse("0f1e").unwrap();
        assert_eq!(
            tenant_api_key(&t(), &key),
            ("T#demo".into(), "APIKEY#0f1e".into())
        );
        assert_eq!(api_key_count(&t()), ("T#demo".into(), "APIKEYS".into()));
        assert_eq!(
            friend(&t(), &u()),
            (format!("T#demo#F#{uid}"), "PROFILE".into())
        );
        assert_eq!(
            friends_by_follow(&t(), &u(), at()),
            (
                "T#demo#FRIENDS".into(),
                format!("2026-04-01T09:30:00.000Z#{uid}")
            )
        );
        assert_eq!(
            seen_bucket(&t(), &u(), "2026-04-01"),
            ("T#demo#SEEN#2026-04-01".into(), uid.into())
        );
        let vip = TagName::parse("VIP").unwrap();
        assert_eq!(
            friend_tag(&t(), &u(), &vip),
            (format!("T#demo#F#{uid}"), "TAG#VIP".into())
        );
        assert_eq!(
            tag_members(&t(), &u(), &vip),
            ("T#demo#TAG#VIP".into(), uid.into())
        );
        assert_eq!(
            friend_event(&t(), &u(), at(), "01H"),
            (
                format!("T#demo#F#{uid}"),
                "EV#2026-04-01T09:30:00.000Z#01H".into()
            )
        );
        let (pk, sk) = friend_event(&t(), &u(), at(), "01H");
        assert_eq!(
            message_content(&pk, &sk),
            (
                format!("T#demo#F#{uid}"),
                "MSG#2026-04-01T09:30:00.000Z#01H".into()
            )
        );
        assert_eq!(
            chat_event(&t(), "Cabc", at(), "01H"),
            (
                "T#demo#CHAT#Cabc".into(),
                "EV#2026-04-01T09:30:00.000Z#01H".into()
            )
        );
        assert_eq!(
            webhook_seen(&t(), "01H"),
            ("T#demo#WH#01H".into(), "WH".into())
        );
        assert_eq!(
            tag_definition(&t(), &vip),
            ("T#demo".into(), "TAGDEF#VIP".into())
        );
    }

    #[test]
    fn survey_purchase_and_rule_keys_are_spelled_as_designed() {
        let uid = "U4af4980629c1e2c3f2a41b8e4d0a3b0c";
        let svy = SurveyId::parse("hearing").unwrap();
        let q = QuestionId::parse("genre").unwrap();
        let order = OrderId::parse("EC-1001").unwrap();
        assert_eq!(survey(&t(), &svy), ("T#demo".into(), "SVY#hearing".into()));
        assert_eq!(
            answer(&t(), &u(), &svy, &q),
            (format!("T#demo#F#{uid}"), "ANS#hearing#genre".into())
        );
        assert_eq!(
            super::order(&t(), &order),
            ("T#demo#ORDER#EC-1001".into(), "ORDER".into())
        );
        assert_eq!(
            friend_purchase(&t(), &u(), at(), &order),
            (
                format!("T#demo#F#{uid}"),
                "PUR#2026-04-01T09:30:00.000Z#EC-1001".into()
            )
        );
        assert_eq!(tag_rule(&t(), "vip"), ("T#demo".into(), "RULE#vip".into()));
        assert_eq!(
            auto_reply(&t(), "hours"),
            ("T#demo".into(), "AUTOREPLY#hours".into())
        );
        assert_eq!(scoring(&t()), ("T#demo".into(), "SETTINGS#SCORING".into()));
        assert_eq!(
            applied(&t(), &u(), "01H"),
            (format!("T#demo#F#{uid}"), "APPLIED#01H".into())
        );
        assert_eq!(
            applied(&t(), &u(), &AppliedEvent::LinkClick("spring-sale").key()),
            (format!("T#demo#F#{uid}"), "APPLIED#clk#spring-sale".into())
        );
    }

    #[test]
    fn quota_deferral_and_digest_keys_are_spelled_as_designed() {
        let uid = "U4af4980629c1e2c3f2a41b8e4d0a3b0c";
        let at: Timestamp = "2026-04-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            quota_exhausted_index(&t()),
            ("QUOTA#EXHAUSTED".into(), "demo".into())
        );
        let scenario = ScenarioId::parse("welcome").unwrap();
        assert_eq!(
            deferred_step(&t(), &u(), &scenario),
            ("T#demo#DEFERRED".into(), format!("ENR#{uid}#welcome"))
        );
        assert_eq!(
            deferred_broadcast(&t(), "b1"),
            ("T#demo#DEFERRED".into(), "BC#b1".into())
        );
        assert_eq!(
            digest(&t(), "2026-04-01"),
            ("T#demo".into(), "DIGEST#2026-04-01".into())
        );
        assert_eq!(
            digest_due(at, &t(), "2026-04-01"),
            (
                "DIGEST#DUE".into(),
                "2026-04-01T00:00:00.000Z#demo#2026-04-01".into()
            )
        );
    }

    #[test]
    fn dormancy_keys_are_spelled_as_designed() {
        let uid = "U4af4980629c1e2c3f2a41b8e4d0a3b0c";
        let fpk = format!("T#demo#F#{uid}");
        assert_eq!(tenants_index(&t()), ("TENANTS".into(), "demo".into()));
        assert_eq!(seen_bucket_pk(&t(), "2026-04-01"), "T#demo#SEEN#2026-04-01");
        assert_eq!(
            bucket_marker(&t(), &u(), FriendBucket::Birthday),
            (fpk.clone(), "BUCKET#BDAY".into())
        );
        assert_eq!(
            bucket(&t(), &u(), FriendBucket::Birthday, "04-01"),
            ("T#demo#BDAY#04-01".into(), uid.into())
        );
        assert_eq!(
            bucket(&t(), &u(), FriendBucket::Bought, "2026-04-01"),
            ("T#demo#BOUGHT#2026-04-01".into(), uid.into())
        );
        assert_eq!(
            bucket(&t(), &u(), FriendBucket::Followed, "04-01"),
            ("T#demo#FOLLOWED#04-01".into(), uid.into())
        );
        assert_eq!(
            dormancy_settings(&t()),
            ("T#demo".into(), "DORMANCY".into())
        );
        assert_eq!(
            sweep_state(&t()),
            ("T#demo".into(), "DORMANCY#SWEPT".into())
        );
        assert_eq!(
            tier_entry(&t(), &u(), "activity", 30, "2026-03-01"),
            (fpk.clone(), "DORM#activity#0030#2026-03-01".into())
        );
        assert_eq!(
            return_window_close(&t(), &u(), "2026-05-01", "DORM#activity#0030#2026-03-01"),
            (
                "T#demo#REACT#2026-05-01".into(),
                format!("{uid}#DORM#activity#0030#2026-03-01")
            )
        );
        assert_eq!(
            occasion(&t(), &u(), "BDAY", 2026),
            (fpk, "OCC#BDAY#2026".into())
        );
        assert_eq!(
            reactivation_counter(&t(), "activity", 30, Some("comeback"), "qr-store"),
            (
                "T#demo".into(),
                "REACT#activity#0030#comeback#qr-store".into()
            )
        );
        assert_eq!(
            reactivation_counter(&t(), "activity", 90, None, "unknown").1,
            "REACT#activity#0090#-#unknown"
        );
    }

    #[test]
    fn a_due_key_reads_back_its_time() {
        let at: Timestamp = "2026-04-03T01:00:00Z".parse().unwrap();
        let (_, sk) = due_index(1, at, &t(), &u(), &ScenarioId::parse("welcome").unwrap());
        assert_eq!(due_at(&sk), Some(at));
        assert_eq!(due_at(&broadcast_due(0, at, &t(), "b1").1), Some(at));
        assert_eq!(due_at("not-a-time#demo"), None);
    }

    #[test]
    fn sortable_times_order_as_text() {
        let a = sortable("2026-04-01T09:30:00.5Z".parse().unwrap());
        let b = sortable("2026-04-01T10:00:00Z".parse().unwrap());
        assert_eq!(a, "2026-04-01T09:30:00.500Z");
        assert!(a < b);
    }
}
