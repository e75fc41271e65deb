//! Dormancy: friends who went quiet (〇日来店なし) sorted into tiers, each with its tag and
//! optionally a reactivation scenario; birthdays and follow anniversaries; the staff digest.
//!
//! A friend carries the tiers it is in (`Friend::dormancy`), so leaving them when the friend
//! acts again needs nothing but the friend itself: the webhook stays one read and one write.
use jiff::{Timestamp, ToSpan, civil::Date, tz::TimeZone};
use serde::{Deserialize, Serialize};
use url::Url;

use super::{Friend, LineUserId, TagName, field_error::FieldError, ids::ScenarioId};

/// Which silence a tier measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DormancyClock {
    /// Days since the friend last did something on LINE (message, tap, follow).
    Activity,
    /// Days since the friend last bought (`Friend::last_purchase_at`).
    Purchase,
}

impl DormancyClock {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Activity => "activity",
            Self::Purchase => "purchase",
        }
    }

    /// The instant this clock counts from, for one friend.
    pub fn last(self, f: &Friend) -> Option<Timestamp> {
        match self {
            Self::Activity => f.last_seen_at,
            Self::Purchase => f.last_purchase_at,
        }
    }
}

/// A deal handed out on entry: written into the friend's fields `coupon` and `coupon_deadline`
/// (a date in the tenant's zone), so messages say `{{field.coupon}}`, `{{field.coupon_deadline}}まで`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Coupon {
    pub code: String,
    pub valid_days: u32,
}

pub const COUPON_FIELD: &str = "coupon";
pub const COUPON_DEADLINE_FIELD: &str = "coupon_deadline";

impl Coupon {
    /// The fields to set for a coupon given on `day` (tenant zone).
    pub fn fields(&self, day: Date) -> [(String, Option<String>); 2] {
        let deadline = day
            .checked_add(i64::from(self.valid_days).days())
            .unwrap_or(day);
        [
            (COUPON_FIELD.to_owned(), Some(self.code.clone())),
            (COUPON_DEADLINE_FIELD.to_owned(), Some(deadline.to_string())),
        ]
    }
}

/// One threshold: a friend silent for `days` (on `clock`) gets `tag` and enters `scenario`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tier {
    pub days: u32,
    pub tag: TagName,
    #[serde(default = "activity")]
    pub clock: DormancyClock,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<ScenarioId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon: Option<Coupon>,
}

fn activity() -> DormancyClock {
    DormancyClock::Activity
}

/// A yearly occasion (birthday, follow anniversary): the scenario entered on the day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Occasion {
    pub scenario: ScenarioId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon: Option<Coupon>,
}

/// Who hears about the day's dormancy, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StaffAlerts {
    /// Staff LINE accounts that get the digest as a push from the shop's account.
    #[serde(default)]
    pub staff_user_ids: Vec<LineUserId>,
    /// An HTTPS endpoint that gets the digest as JSON (Slack workflow, the shop's own system).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<Url>,
    /// Friends with this tag who lapse are named in the digest (default `VIP`; null for none).
    #[serde(default = "vip_tag")]
    pub vip_tag: Option<TagName>,
}

fn vip_tag() -> Option<TagName> {
    TagName::parse("VIP").ok()
}

impl Default for StaffAlerts {
    fn default() -> Self {
        Self {
            staff_user_ids: Vec::new(),
            webhook_url: None,
            vip_tag: vip_tag(),
        }
    }
}

impl StaffAlerts {
    pub fn is_configured(&self) -> bool {
        !self.staff_user_ids.is_empty() || self.webhook_url.is_some()
    }
}

pub const DEFAULT_RETURN_WINDOW_DAYS: u32 = 30;
const MAX_TIERS: usize = 12;
const MAX_TIER_DAYS: u32 = 3_650;
const MAX_STAFF: usize = 20;

/// A tenant's dormancy settings (`GET/PUT /admin/dormancy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DormancySettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    pub tiers: Vec<Tier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<Occasion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anniversary: Option<Occasion>,
    /// A return counts when the friend acts or buys within this many days of entering the tier,
    /// after the reactivation message went out.
    #[serde(default = "return_window")]
    pub return_window_days: u32,
    #[serde(default)]
    pub alerts: StaffAlerts,
}

fn yes() -> bool {
    true
}

fn return_window() -> u32 {
    DEFAULT_RETURN_WINDOW_DAYS
}

impl Default for DormancySettings {
    /// 30 / 90 / 180 / 365 days without activity, tagged 休眠30日 …; no scenarios until the
    /// marketer names them.
    fn default() -> Self {
        let tiers = [30, 90, 180, 365]
            .into_iter()
            .filter_map(|days| {
                Some(Tier {
                    days,
                    tag: TagName::parse(&format!("休眠{days}日")).ok()?,
                    clock: DormancyClock::Activity,
                    scenario: None,
                    coupon: None,
                })
            })
            .collect();
        Self {
            enabled: true,
            tiers,
            birthday: None,
            anniversary: None,
            return_window_days: DEFAULT_RETURN_WINDOW_DAYS,
            alerts: StaffAlerts::default(),
        }
    }
}

impl DormancySettings {
    /// Checks what serde cannot; tiers come back sorted by clock, then days.
    pub fn validate(mut self) -> Result<Self, FieldError> {
        if self.tiers.len() > MAX_TIERS {
            return Err(FieldError::new(
                "tiers",
                format!("at most {MAX_TIERS} tiers"),
            ));
        }
        self.tiers.sort_by_key(|t| (t.clock, t.days));
        for (i, t) in self.tiers.iter().enumerate() {
            let field = format!("tiers[{i}]");
            if !(1..=MAX_TIER_DAYS).contains(&t.days) {
                return Err(FieldError::new(
                    format!("{field}.days"),
                    format!("must be 1..={MAX_TIER_DAYS}"),
                ));
            }
            if i > 0 && self.tiers[i - 1].clock == t.clock && self.tiers[i - 1].days == t.days {
                return Err(FieldError::new(
                    format!("{field}.days"),
                    "two tiers of one clock share this threshold",
                ));
            }
            if self.tiers[..i].iter().any(|o| o.tag == t.tag) {
                return Err(FieldError::new(
                    format!("{field}.tag"),
                    "each tier needs its own tag (leaving a tier removes it)",
                ));
            }
            if let Some(c) = &t.coupon {
                check_coupon(c, &format!("{field}.coupon"))?;
            }
        }
        for (name, o) in [
            ("birthday", &self.birthday),
            ("anniversary", &self.anniversary),
        ] {
            if let Some(c) = o.as_ref().and_then(|o| o.coupon.as_ref()) {
                check_coupon(c, &format!("{name}.coupon"))?;
            }
        }
        if !(1..=365).contains(&self.return_window_days) {
            return Err(FieldError::new("returnWindowDays", "must be 1..=365"));
        }
        if self.alerts.staff_user_ids.len() > MAX_STAFF {
            return Err(FieldError::new(
                "alerts.staffUserIds",
                format!("at most {MAX_STAFF} staff accounts"),
            ));
        }
        if let Some(url) = &self.alerts.webhook_url {
            // Digests name customers: only TLS leaves the machine, and never for an internal
            // address. Loopback (a developer's receiver) passes here; whether this deployment
            // allows it is the admin API's and the sender's check.
            super::public_url::check_url(url, true)
                .map_err(|e| FieldError::new("alerts.webhookUrl", e.to_string()))?;
        }
        Ok(self)
    }

    /// Tiers of one clock, shallowest first.
    pub fn tiers_of(&self, clock: DormancyClock) -> impl Iterator<Item = &Tier> {
        self.tiers.iter().filter(move |t| t.clock == clock)
    }

    /// Every scenario the settings name (checked to exist when saved).
    pub fn scenarios(&self) -> impl Iterator<Item = (String, &ScenarioId)> {
        let tiers = self
            .tiers
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((format!("tiers[{i}].scenario"), t.scenario.as_ref()?)));
        let occasions = [
            ("birthday", &self.birthday),
            ("anniversary", &self.anniversary),
        ]
        .into_iter()
        .filter_map(|(n, o)| Some((format!("{n}.scenario"), &o.as_ref()?.scenario)));
        tiers.chain(occasions)
    }
}

fn check_coupon(c: &Coupon, field: &str) -> Result<(), FieldError> {
    if c.code.trim().is_empty() || c.code.chars().count() > 100 {
        return Err(FieldError::new(format!("{field}.code"), "1–100 characters"));
    }
    if !(1..=365).contains(&c.valid_days) {
        return Err(FieldError::new(
            format!("{field}.validDays"),
            "must be 1..=365",
        ));
    }
    Ok(())
}

/// The tier a friend is in, as the friend remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DormantTier {
    pub clock: DormancyClock,
    pub days: u32,
    pub tag: TagName,
    /// The local day of the last activity (or purchase) the silence is counted from; with
    /// clock and days it names this stay in the tier, so the sweep writes each transition once.
    pub since_day: Date,
    pub entered_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<ScenarioId>,
}

/// The calendar day `at` falls on in `zone`.
pub fn local_day(at: Timestamp, zone: &TimeZone) -> Date {
    at.to_zoned(zone.clone()).date()
}

/// The day whose friends cross a `days` threshold on `today`.
pub fn crossing_day(today: Date, days: u32) -> Option<Date> {
    today.checked_sub(i64::from(days).days()).ok()
}

/// Where a one-time backfill puts a friend on `clock`: the deepest tier whose threshold their
/// silence has passed by `today`, with the day the silence counts from. None when the friend is
/// not silent long enough, never did anything on that clock (never bought: no purchase tier),
/// blocked us, or already sits in that tier (or deeper) for this same silence.
///
/// Only the tier they are in now, not every tier passed on the way: a friend quiet for 200
/// days gets 休眠180日 and that tier's scenario once, not three reactivation messages at once.
pub fn backfill_tier<'a>(
    settings: &'a DormancySettings,
    clock: DormancyClock,
    friend: &Friend,
    today: Date,
    zone: &TimeZone,
) -> Option<(&'a Tier, Date)> {
    if friend.blocked {
        return None;
    }
    let since = local_day(clock.last(friend)?, zone);
    let silent = days_between(since, today);
    let tier = settings
        .tiers_of(clock)
        .filter(|t| i64::from(t.days) <= silent)
        .max_by_key(|t| t.days)?;
    match friend.dormant_in(clock) {
        Some(d) if d.since_day == since && d.days >= tier.days => None,
        _ => Some((tier, since)),
    }
}

impl Friend {
    /// The tier of `clock` the friend is in, if any.
    pub fn dormant_in(&self, clock: DormancyClock) -> Option<&DormantTier> {
        self.dormancy.iter().find(|d| d.clock == clock)
    }

    /// Moves the friend into `tier`: the tag of any shallower tier of the same clock goes, this
    /// tier's tag comes, and its coupon (if any) lands in the friend's fields.
    pub fn enter_tier(&mut self, tier: &Tier, since_day: Date, today: Date, now: Timestamp) {
        self.leave_tiers(tier.clock);
        self.add_tag(tier.tag.clone(), now);
        if let Some(c) = &tier.coupon {
            self.set_fields(c.fields(today));
        }
        self.dormancy.push(DormantTier {
            clock: tier.clock,
            days: tier.days,
            tag: tier.tag.clone(),
            since_day,
            entered_at: now,
            scenario: tier.scenario.clone(),
        });
    }

    /// Ends the friend's stay in `clock`'s tier (and removes its tag); returns what was left.
    pub fn leave_tiers(&mut self, clock: DormancyClock) -> Vec<DormantTier> {
        let (left, kept) = std::mem::take(&mut self.dormancy)
            .into_iter()
            .partition(|d| d.clock == clock);
        self.dormancy = kept;
        for d in &left {
            self.remove_tag(&d.tag);
        }
        left
    }
}

/// The custom field holding a friend's birthday.
pub const BIRTHDAY_FIELD: &str = "birthday";

/// A birthday custom field as `(month, day)`: "1995-04-01", "1995/04/01" or "04-01".
pub fn birthday(value: &str) -> Option<(i8, i8)> {
    let v = value.trim().replace('/', "-");
    let parts: Vec<&str> = v.split('-').collect();
    let (m, d) = match parts.as_slice() {
        [y, m, d] if y.len() == 4 => (m, d),
        [m, d] => (m, d),
        _ => return None,
    };
    let (m, d) = (m.parse::<i8>().ok()?, d.parse::<i8>().ok()?);
    // 2000 is a leap year, so 02-29 is a valid birthday.
    Date::new(2000, m, d).ok().map(|_| (m, d))
}

/// `MM-DD`, as day buckets are keyed.
pub fn month_day((m, d): (i8, i8)) -> String {
    format!("{m:02}-{d:02}")
}

/// The month-days celebrated on `day`: its own, and 02-29 on the 28th of a common year.
pub fn month_days_celebrated(day: Date) -> Vec<String> {
    let mut out = vec![month_day((day.month(), day.day()))];
    if day.month() == 2 && day.day() == 28 && !day.in_leap_year() {
        out.push(month_day((2, 29)));
    }
    out
}

/// The follow anniversary of `followed_at` (`MM-DD` in the zone) and its year.
pub fn anniversary(followed_at: Timestamp, zone: &TimeZone) -> (String, i16) {
    let d = local_day(followed_at, zone);
    (month_day((d.month(), d.day())), d.year())
}

/// Days between two local days (b − a), for messages and reports.
pub fn days_between(a: Date, b: Date) -> i64 {
    a.until(b).map(|s| i64::from(s.get_days())).unwrap_or(0)
}

/// A friend named in the digest (staff need to recognise them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LapsedFriend {
    pub user_id: LineUserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub tag: TagName,
}

/// One tier's line in the digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TierCount {
    pub clock: DormancyClock,
    pub days: u32,
    pub tag: TagName,
    /// Friends carrying the tier's tag now.
    pub friends: u64,
    /// Friends who entered it in this sweep.
    pub new: u64,
}

/// The staff digest of one tenant's sweep. Composed at the sweep (04:00), kept in the table and
/// sent when the delivery window opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    pub tenant: super::TenantId,
    pub day: Date,
    pub tiers: Vec<TierCount>,
    pub newly_dormant: u64,
    pub vips_lapsing: Vec<LapsedFriend>,
    pub birthdays: u64,
    /// Friends put into the tier they were already in by a one-time backfill (a tenant's first
    /// sweep, or after a purchase import): not news of today, so counted apart.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub backfilled: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Names shown in a LINE digest; the JSON digest carries them all.
const VIPS_IN_TEXT: usize = 10;

impl Digest {
    /// The digest as one LINE text message for staff.
    pub fn text(&self) -> String {
        let mut out = format!("【休眠レポート】{}\n", self.day);
        for t in &self.tiers {
            out.push_str(&format!("{}: {}人（新規 {}）\n", t.tag, t.friends, t.new));
        }
        out.push_str(&format!("本日休眠入り: {}人\n", self.newly_dormant));
        if self.backfilled > 0 {
            out.push_str(&format!("初回判定で休眠に分類: {}人\n", self.backfilled));
        }
        if self.birthdays > 0 {
            out.push_str(&format!("本日の誕生日: {}人\n", self.birthdays));
        }
        if !self.vips_lapsing.is_empty() {
            out.push_str(&format!("VIPの休眠: {}人\n", self.vips_lapsing.len()));
            for v in self.vips_lapsing.iter().take(VIPS_IN_TEXT) {
                let name = v.display_name.as_deref().unwrap_or("（名前未取得）");
                out.push_str(&format!("・{name}（{}）\n", v.tag));
            }
            if self.vips_lapsing.len() > VIPS_IN_TEXT {
                out.push_str(&format!(
                    "ほか{}人\n",
                    self.vips_lapsing.len() - VIPS_IN_TEXT
                ));
            }
        }
        out.trim_end().to_owned()
    }
}

/// The retry key of one digest delivery: one per tenant, day and recipient (a staff user id,
/// or `webhook`), so a sweep re-run the same day cannot notify twice.
pub fn digest_retry_key(tenant: &super::TenantId, day: Date, recipient: &str) -> uuid::Uuid {
    const NS: uuid::Uuid = uuid::Uuid::from_u128(0x3b8e_41c2_9d07_4f6a_b1e5_7c20_5a9d_e8f4);
    uuid::Uuid::new_v5(&NS, format!("digest/{tenant}/{day}/{recipient}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TenantId;
    use jiff::civil::date;

    use crate::domain::friend::{friend_followed, ts};

    fn friend() -> Friend {
        friend_followed("2026-01-01T00:00:00Z")
    }

    fn tier(days: u32) -> Tier {
        DormancySettings::default()
            .tiers
            .into_iter()
            .find(|t| t.days == days)
            .unwrap()
    }

    #[test]
    fn defaults_are_the_four_activity_tiers() {
        let s = DormancySettings::default().validate().unwrap();
        let tags: Vec<_> = s.tiers.iter().map(|t| t.tag.as_str()).collect();
        assert_eq!(tags, ["休眠30日", "休眠90日", "休眠180日", "休眠365日"]);
        assert_eq!(s.return_window_days, 30);
        assert_eq!(s.alerts.vip_tag.unwrap().as_str(), "VIP");
    }

    #[test]
    fn settings_refuse_shared_tags_and_plain_http() {
        let mut s = DormancySettings::default();
        s.tiers[1].tag = s.tiers[0].tag.clone();
        assert_eq!(s.validate().unwrap_err().field, "tiers[1].tag");
        let mut s = DormancySettings::default();
        s.alerts.webhook_url = Some("http://example.com/hook".parse().unwrap());
        assert_eq!(s.validate().unwrap_err().field, "alerts.webhookUrl");
        let mut s = DormancySettings::default();
        s.alerts.webhook_url = Some("http://127.0.0.1:9/hook".parse().unwrap());
        assert!(s.validate().is_ok());
        let mut s = DormancySettings::default();
        s.alerts.webhook_url = Some("https://169.254.169.254/latest".parse().unwrap());
        assert_eq!(s.validate().unwrap_err().field, "alerts.webhookUrl");
    }

    #[test]
    fn a_deeper_tier_replaces_the_shallower_tag_and_activity_leaves_both() {
        let mut f = friend();
        let now = ts("2026-03-01T19:00:00Z");
        let day = date(2026, 3, 2);
        f.enter_tier(&tier(30), date(2026, 1, 31), day, now);
        f.enter_tier(&tier(90), date(2026, 1, 31), day, now);
        assert!(!f.has_tag(&tier(30).tag));
        assert!(f.has_tag(&tier(90).tag));
        assert_eq!(f.dormancy.len(), 1);

        f.apply(
            super::super::friend::Activity::Interaction,
            ts("2026-03-02T01:00:00Z"),
        );
        assert!(f.dormancy.is_empty());
        assert!(!f.has_tag(&tier(90).tag));
    }

    #[test]
    fn a_purchase_leaves_only_purchase_tiers() {
        let mut f = friend();
        let now = ts("2026-03-01T19:00:00Z");
        let bought = Tier {
            days: 60,
            tag: TagName::parse("未購入60日").unwrap(),
            clock: DormancyClock::Purchase,
            scenario: None,
            coupon: None,
        };
        f.enter_tier(&tier(30), date(2026, 1, 31), date(2026, 3, 2), now);
        f.enter_tier(&bought, date(2026, 1, 1), date(2026, 3, 2), now);
        f.record_purchase(3_000, ts("2026-03-03T00:00:00Z"));
        assert!(f.dormant_in(DormancyClock::Purchase).is_none());
        assert!(f.dormant_in(DormancyClock::Activity).is_some());
        assert_eq!(f.last_purchase_at, Some(ts("2026-03-03T00:00:00Z")));
    }

    #[test]
    fn a_coupon_carries_its_deadline_in_the_fields() {
        let mut f = friend();
        let mut t = tier(30);
        t.coupon = Some(Coupon {
            code: "COMEBACK".into(),
            valid_days: 14,
        });
        f.enter_tier(
            &t,
            date(2026, 1, 31),
            date(2026, 3, 2),
            ts("2026-03-01T19:00:00Z"),
        );
        assert_eq!(f.fields["coupon"], "COMEBACK");
        assert_eq!(f.fields["coupon_deadline"], "2026-03-16");
    }

    #[test]
    fn birthdays_parse_in_the_usual_shapes() {
        assert_eq!(birthday("1995-04-01"), Some((4, 1)));
        assert_eq!(birthday("1995/4/1"), Some((4, 1)));
        assert_eq!(birthday("12-24"), Some((12, 24)));
        assert_eq!(birthday("02-29"), Some((2, 29)));
        assert_eq!(birthday("1995-02-30"), None);
        assert_eq!(birthday("April 1"), None);
    }

    #[test]
    fn leap_day_birthdays_are_celebrated_on_the_28th_of_common_years() {
        assert_eq!(month_days_celebrated(date(2027, 2, 28)), ["02-28", "02-29"]);
        assert_eq!(month_days_celebrated(date(2028, 2, 28)), ["02-28"]);
        assert_eq!(month_days_celebrated(date(2028, 2, 29)), ["02-29"]);
    }

    #[test]
    fn anniversaries_follow_the_tenant_calendar() {
        let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
        // 15:30 UTC on 31 March is already 1 April in Tokyo.
        assert_eq!(
            anniversary(ts("2025-03-31T15:30:00Z"), &tokyo),
            ("04-01".into(), 2025)
        );
    }

    #[test]
    fn crossing_days_count_back_in_calendar_days() {
        assert_eq!(crossing_day(date(2026, 3, 31), 30), Some(date(2026, 3, 1)));
        assert_eq!(days_between(date(2026, 3, 1), date(2026, 3, 31)), 30);
    }

    #[test]
    fn a_backfill_puts_a_friend_into_the_deepest_tier_passed_only() {
        let zone = TimeZone::get("Asia/Tokyo").unwrap();
        let settings = DormancySettings::default();
        let today = date(2026, 6, 1);
        let mut f = Friend::new(
            TenantId::parse("demo").unwrap(),
            LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap(),
            "2026-01-01T03:00:00Z".parse().unwrap(),
        );
        // Last seen 2026-04-17 (Tokyo): 45 days before today, so 休眠30日 — not the 90-day tier.
        f.last_seen_at = Some("2026-04-17T03:00:00Z".parse().unwrap());
        let (tier, since) =
            backfill_tier(&settings, DormancyClock::Activity, &f, today, &zone).unwrap();
        assert_eq!((tier.days, since), (30, date(2026, 4, 17)));
        // 29 days: no tier yet.
        f.last_seen_at = Some("2026-05-03T03:00:00Z".parse().unwrap());
        assert!(backfill_tier(&settings, DormancyClock::Activity, &f, today, &zone).is_none());
        // 200 days: 180, once.
        f.last_seen_at = Some("2025-11-13T03:00:00Z".parse().unwrap());
        let (tier, since) =
            backfill_tier(&settings, DormancyClock::Activity, &f, today, &zone).unwrap();
        assert_eq!(tier.days, 180);
        // Already there for this silence: nothing to do; in a shallower tier: moved deeper.
        f.enter_tier(tier, since, today, "2026-06-01T00:00:00Z".parse().unwrap());
        assert!(backfill_tier(&settings, DormancyClock::Activity, &f, today, &zone).is_none());
        let mut shallow = f.clone();
        shallow.dormancy[0].days = 90;
        assert_eq!(
            backfill_tier(&settings, DormancyClock::Activity, &shallow, today, &zone)
                .map(|(t, _)| t.days),
            Some(180)
        );
        // Never bought: no purchase tier, whatever the settings.
        let purchase = DormancySettings {
            tiers: vec![Tier {
                days: 60,
                tag: TagName::parse("購入休眠60日").unwrap(),
                clock: DormancyClock::Purchase,
                scenario: None,
                coupon: None,
            }],
            ..DormancySettings::default()
        };
        assert!(backfill_tier(&purchase, DormancyClock::Purchase, &f, today, &zone).is_none());
        f.last_purchase_at = Some("2026-03-01T03:00:00Z".parse().unwrap());
        assert_eq!(
            backfill_tier(&purchase, DormancyClock::Purchase, &f, today, &zone)
                .map(|(t, d)| (t.days, d)),
            Some((60, date(2026, 3, 1)))
        );
        f.blocked = true;
        assert!(backfill_tier(&purchase, DormancyClock::Purchase, &f, today, &zone).is_none());
    }

    #[test]
    fn the_digest_reads_as_a_staff_message() {
        let d = Digest {
            tenant: TenantId::parse("demo").unwrap(),
            day: date(2026, 5, 1),
            tiers: vec![TierCount {
                clock: DormancyClock::Activity,
                days: 30,
                tag: tier(30).tag,
                friends: 12,
                new: 3,
            }],
            newly_dormant: 3,
            vips_lapsing: vec![LapsedFriend {
                user_id: LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap(),
                display_name: Some("花子".into()),
                tag: tier(30).tag,
            }],
            birthdays: 0,
            backfilled: 0,
        };
        assert_eq!(
            d.text(),
            "【休眠レポート】2026-05-01\n休眠30日: 12人（新規 3）\n本日休眠入り: 3人\nVIPの休眠: 1人\n・花子（休眠30日）"
        );
    }
}
