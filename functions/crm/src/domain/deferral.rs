//! Why a send waits, and when LINE's monthly quota comes back.
//!
//! A step or broadcast chunk that cannot go now is never dropped: it is moved in the due-index
//! to the moment it may go (the window's opening, tomorrow under the daily cap, a backoff, or —
//! for the monthly quota — the month's rollover), and a note says why so the marketer can see
//! what waits (`GET /admin/deferred`). Quota waits are the only ones that can end early: when the
//! shop raises its plan, the tick's quota check makes them due at once.
use jiff::{Timestamp, ToSpan, tz::TimeZone};
use serde::{Deserialize, Serialize};

use super::{LineUserId, scenario::ScenarioId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeferReason {
    /// LINE's monthly message quota is used up: until the month rolls over or the plan grows.
    Quota,
    /// Outside the delivery window: until it opens.
    Window,
    /// The friend's daily cap is reached: until tomorrow's window.
    DailyCap,
    /// LINE was busy or failed (429 rate limit, 5xx, timeout): a backoff, same retry key.
    Retry,
}

/// What waits: one enrollment's current step, or one broadcast's next chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "kind"
)]
pub enum Deferred {
    Step {
        user_id: LineUserId,
        scenario: ScenarioId,
    },
    Broadcast {
        broadcast: String,
    },
}

/// The first instant of the month after the one `exhausted_at` falls in, in the shop's zone:
/// LINE counts the quota per calendar month, so that is when it is whole again.
pub fn quota_resumes_at(exhausted_at: Timestamp, zone: &TimeZone) -> Timestamp {
    let local = exhausted_at.to_zoned(zone.clone());
    local
        .date()
        .first_of_month()
        .checked_add(1.month())
        .ok()
        .and_then(|d| d.to_zoned(zone.clone()).ok())
        .map(|z| z.timestamp())
        // Only year 9999 overflows; waiting a month of seconds is then the least wrong answer.
        .unwrap_or_else(|| {
            exhausted_at
                .checked_add(jiff::SignedDuration::from_hours(24 * 31))
                .unwrap_or(exhausted_at)
        })
}

/// Whether the quota marked used up at `exhausted_at` still holds at `now` (same month).
pub fn quota_still_exhausted(exhausted_at: Timestamp, now: Timestamp, zone: &TimeZone) -> bool {
    now < quota_resumes_at(exhausted_at, zone)
}

/// What LINE's quota endpoints say: `limit` None is `type: none` (no target limit).
pub fn quota_has_room(limit: Option<u64>, used: u64) -> bool {
    limit.is_none_or(|l| used < l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokyo() -> TimeZone {
        TimeZone::get("Asia/Tokyo").unwrap()
    }

    #[test]
    fn the_quota_comes_back_at_midnight_on_the_first_in_the_shops_zone() {
        // 2026-11-30 23:30 JST.
        let at: Timestamp = "2026-11-30T14:30:00Z".parse().unwrap();
        let back = quota_resumes_at(at, &tokyo());
        assert_eq!(back, "2026-11-30T15:00:00Z".parse::<Timestamp>().unwrap());
        assert!(quota_still_exhausted(
            at,
            "2026-11-30T14:59:59Z".parse().unwrap(),
            &tokyo()
        ));
        assert!(!quota_still_exhausted(at, back, &tokyo()));
        // In UTC the same instant is still November 30th for another 9 hours.
        let utc = quota_resumes_at(at, &TimeZone::UTC);
        assert_eq!(utc, "2026-12-01T00:00:00Z".parse::<Timestamp>().unwrap());
        // December rolls into the next year.
        let dec: Timestamp = "2026-12-15T00:00:00Z".parse().unwrap();
        assert_eq!(
            quota_resumes_at(dec, &tokyo()),
            "2026-12-31T15:00:00Z".parse::<Timestamp>().unwrap()
        );
    }

    #[test]
    fn room_means_under_the_limit_or_no_limit() {
        assert!(quota_has_room(None, 1_000_000));
        assert!(quota_has_room(Some(1000), 999));
        assert!(!quota_has_room(Some(1000), 1000));
        assert!(!quota_has_room(Some(1000), 1200));
    }
}
