//! When a step is due, in the tenant's zone: "day 2 at 10:00" is a wall-clock promise to the
//! marketer, so calendar arithmetic happens on zoned times (DST-correct), never on raw seconds.
use std::fmt;

use jiff::{
    Span, Timestamp, Zoned,
    civil::{Date, Time},
    tz::TimeZone,
};
use serde::{Deserialize, Serialize};

use super::DeliveryWindow;

/// Longest wait a step may declare; anything beyond ten years is a typo, not a plan.
const MAX_DAYS: u32 = 3_650;

/// What a relative timing counts from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Anchor {
    /// The moment the friend entered the scenario (the default: the marketer plans "day 7"
    /// from sign-up, however late earlier steps went out).
    #[default]
    Enrollment,
    /// When the previous step was sent (or, for the first step, the enrollment).
    Previous,
}

/// A wait such as `{ "days": 2 }` or `{ "hours": 1, "minutes": 30 }`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Delay {
    #[serde(skip_serializing_if = "is_zero")]
    pub days: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub hours: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub minutes: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Delay {
    fn total_minutes(&self) -> u64 {
        u64::from(self.days) * 1_440 + u64::from(self.hours) * 60 + u64::from(self.minutes)
    }

    /// Days are calendar days in the zone (10:00 stays 10:00 across a DST change); hours and
    /// minutes are elapsed time.
    fn span(&self) -> Span {
        Span::new()
            .days(i64::from(self.days))
            .hours(i64::from(self.hours))
            .minutes(i64::from(self.minutes))
    }
}

/// When a step goes out.
///
/// The wire shape is one flat object whose keys pick the variant (neither serde-tagged nor
/// untagged, so a wrong key is reported by name instead of "did not match any variant"):
///
/// | written                                          | meaning                                  |
/// |--------------------------------------------------|------------------------------------------|
/// | omitted, `{}` or `{ "immediately": true }`       | as soon as the step is reached           |
/// | `{ "after": { "days": 2 } }`                     | 2 calendar days after enrollment         |
/// | `{ "after": { "minutes": 30 }, "from": "previous" }` | 30 minutes after the previous send   |
/// | `{ "day": 3, "at": "10:00" }`                    | 10:00 on the 3rd day after the enrollment day |
///
/// `from` is `enrollment` (default) or `previous`, for `after` and `day`/`at` alike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawTiming", into = "RawTiming")]
pub enum Timing {
    #[default]
    Immediately,
    After {
        delay: Delay,
        from: Anchor,
    },
    /// Calendar day `day` counted from the anchor's local date (day 0 = that date), at `at`.
    DayAt {
        day: u32,
        at: Time,
        from: Anchor,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawTiming {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    immediately: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<Delay>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    day: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<Clock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<Anchor>,
}

/// Why a timing object makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadTiming(String);

impl TryFrom<RawTiming> for Timing {
    type Error = BadTiming;

    fn try_from(raw: RawTiming) -> Result<Self, BadTiming> {
        let bad = |m: &str| Err(BadTiming(m.to_owned()));
        let from = raw.from.unwrap_or_default();
        match raw {
            RawTiming {
                immediately: Some(false),
                ..
            } => bad("`immediately: false` says nothing; give `after` or `day` with `at` instead"),
            RawTiming {
                immediately: Some(true),
                after: None,
                day: None,
                at: None,
                from: None,
            }
            | RawTiming {
                immediately: None,
                after: None,
                day: None,
                at: None,
                from: None,
            } => Ok(Timing::Immediately),
            RawTiming {
                immediately: None,
                after: Some(delay),
                day: None,
                at: None,
                ..
            } => {
                if delay.total_minutes() > u64::from(MAX_DAYS) * 1_440 {
                    return bad("`after` is limited to 3650 days");
                }
                Ok(Timing::After { delay, from })
            }
            RawTiming {
                immediately: None,
                after: None,
                day: Some(day),
                at: Some(Clock(at)),
                ..
            } => {
                if day > MAX_DAYS {
                    return bad("`day` is limited to 3650");
                }
                Ok(Timing::DayAt { day, at, from })
            }
            RawTiming {
                day: Some(_),
                at: None,
                after: None,
                immediately: None,
                ..
            } => bad("`day` needs `at` (the local time, e.g. \"10:00\")"),
            RawTiming {
                day: None,
                at: Some(_),
                after: None,
                immediately: None,
                ..
            } => bad("`at` needs `day` (0 = the enrollment day)"),
            RawTiming {
                immediately: None,
                after: None,
                day: None,
                at: None,
                from: Some(_),
            } => bad("`from` needs `after` or `day` with `at`"),
            _ => bad("use one of `immediately`, `after` or `day` with `at`"),
        }
    }
}

impl From<Timing> for RawTiming {
    fn from(t: Timing) -> Self {
        let from = |a: Anchor| (a == Anchor::Previous).then_some(a);
        match t {
            Timing::Immediately => RawTiming {
                immediately: Some(true),
                ..RawTiming::default()
            },
            Timing::After { delay, from: a } => RawTiming {
                after: Some(delay),
                from: from(a),
                ..RawTiming::default()
            },
            Timing::DayAt { day, at, from: a } => RawTiming {
                day: Some(day),
                at: Some(Clock(at)),
                from: from(a),
                ..RawTiming::default()
            },
        }
    }
}

/// A local wall-clock time written `HH:MM` (or `HH:MM:SS`), as marketers write send times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock(pub Time);

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        if t.second() == 0 && t.subsec_nanosecond() == 0 {
            write!(f, "{:02}:{:02}", t.hour(), t.minute())
        } else {
            write!(f, "{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
        }
    }
}

impl Serialize for Clock {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Clock {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.trim().parse::<Time>().map(Clock).map_err(|_| {
            serde::de::Error::custom(format!("`{s}` is not a time of day like \"10:00\""))
        })
    }
}

/// Serde for an optional delivery window written `{ "start": "09:00", "end": "21:00" }`,
/// rejecting unknown keys (the shared `DeliveryWindow` type accepts any).
pub mod window_serde {
    use super::*;

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        start: Clock,
        end: Clock,
    }

    pub fn serialize<S: serde::Serializer>(
        w: &Option<DeliveryWindow>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        w.map(|w| Raw {
            start: Clock(w.start),
            end: Clock(w.end),
        })
        .serialize(s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DeliveryWindow>, D::Error> {
        Ok(Option::<Raw>::deserialize(d)?.map(|r| DeliveryWindow {
            start: r.start.0,
            end: r.end.0,
        }))
    }
}

/// When a step with this timing becomes due.
///
/// `Immediately` means "as soon as the step is reached": the previous send, or the enrollment
/// for a first step. A `day`/`at` time that has already passed (day 0 at 10:00 for a friend who
/// joined at 15:00) is still returned as that instant: it lies in the past, so the step is due
/// at once instead of silently slipping a day, which would shift every later step's promise.
/// A wall-clock time skipped by a DST change resolves to the later side of the gap.
pub fn due_at(
    timing: &Timing,
    enrolled_at: Timestamp,
    previous_sent_at: Option<Timestamp>,
    zone: &TimeZone,
) -> Timestamp {
    let anchor = |from: Anchor| match from {
        Anchor::Enrollment => enrolled_at,
        Anchor::Previous => previous_sent_at.unwrap_or(enrolled_at),
    };
    match *timing {
        Timing::Immediately => previous_sent_at.unwrap_or(enrolled_at),
        Timing::After { delay, from } => {
            let start = anchor(from);
            // Only overflow near year 9999 fails; the anchor is then the least wrong answer.
            start
                .to_zoned(zone.clone())
                .checked_add(delay.span())
                .map(|z| z.timestamp())
                .unwrap_or(start)
        }
        Timing::DayAt { day, at, from } => {
            let start = anchor(from);
            local_day(start, zone)
                .checked_add(Span::new().days(i64::from(day)))
                .and_then(|d| d.to_datetime(at).to_zoned(zone.clone()))
                .map(|z| z.timestamp())
                .unwrap_or(start)
        }
    }
}

/// The calendar date of `at` in `zone` (what "day 0" and "today" mean to the shop).
pub fn local_day(at: Timestamp, zone: &TimeZone) -> Date {
    at.to_zoned(zone.clone()).date()
}

/// The first moment at or after `at` inside the delivery window.
///
/// `at` itself when inside `[start, end)`, else the next `start`: today's when `at` is before it,
/// tomorrow's when after `end`. A window whose end is before its start (`21:00`–`02:00`) wraps
/// midnight; a window with `start == end` is read as "always open", since a window that never
/// opens would silently stop every scenario.
pub fn next_opening(window: &DeliveryWindow, at: Timestamp, zone: &TimeZone) -> Timestamp {
    let local = at.to_zoned(zone.clone());
    let t = local.time();
    let (start, end) = (window.start, window.end);
    let open = if start < end {
        start <= t && t < end
    } else {
        start == end || t >= start || t < end
    };
    if open {
        return at;
    }
    // Closed: before today's start, or (normal window) after today's end.
    let day = if t < start {
        Some(local.date())
    } else {
        local.date().tomorrow().ok()
    };
    day.and_then(|d| start_on(d, start, zone)).unwrap_or(at)
}

fn start_on(day: Date, start: Time, zone: &TimeZone) -> Option<Timestamp> {
    day.to_datetime(start)
        .to_zoned(zone.clone())
        .ok()
        .map(|z: Zoned| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokyo() -> TimeZone {
        TimeZone::get("Asia/Tokyo").unwrap()
    }

    /// A local time in Tokyo, e.g. `jst("2026-04-01T23:30")`.
    fn jst(s: &str) -> Timestamp {
        in_zone(s, &tokyo())
    }

    fn in_zone(s: &str, zone: &TimeZone) -> Timestamp {
        s.parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned(zone.clone())
            .unwrap()
            .timestamp()
    }

    fn timing(json: &str) -> Timing {
        serde_json::from_str(json).unwrap()
    }

    fn window() -> DeliveryWindow {
        DeliveryWindow {
            start: Time::constant(9, 0, 0, 0),
            end: Time::constant(21, 0, 0, 0),
        }
    }

    #[test]
    fn every_written_form_parses() {
        assert_eq!(timing("{}"), Timing::Immediately);
        assert_eq!(timing(r#"{"immediately": true}"#), Timing::Immediately);
        assert_eq!(
            timing(r#"{"after": {"days": 2}}"#),
            Timing::After {
                delay: Delay {
                    days: 2,
                    ..Delay::default()
                },
                from: Anchor::Enrollment
            }
        );
        assert_eq!(
            timing(r#"{"after": {"minutes": 30}, "from": "previous"}"#),
            Timing::After {
                delay: Delay {
                    minutes: 30,
                    ..Delay::default()
                },
                from: Anchor::Previous
            }
        );
        assert_eq!(
            timing(r#"{"day": 3, "at": "10:00"}"#),
            Timing::DayAt {
                day: 3,
                at: Time::constant(10, 0, 0, 0),
                from: Anchor::Enrollment
            }
        );
    }

    #[test]
    fn timings_write_back_the_way_marketers_write_them() {
        for json in [
            r#"{"immediately":true}"#,
            r#"{"after":{"days":2}}"#,
            r#"{"after":{"minutes":30},"from":"previous"}"#,
            r#"{"day":3,"at":"10:00"}"#,
        ] {
            assert_eq!(serde_json::to_string(&timing(json)).unwrap(), json);
        }
    }

    #[test]
    fn contradictory_or_misspelt_timings_are_refused_by_name() {
        let err = |json: &str| {
            serde_json::from_str::<Timing>(json)
                .unwrap_err()
                .to_string()
        };
        assert!(err(r#"{"day": 2}"#).contains("`day` needs `at`"));
        assert!(err(r#"{"after": {"days": 1}, "day": 2, "at": "10:00"}"#).contains("one of"));
        assert!(err(r#"{"after": {"dayz": 1}}"#).contains("dayz"));
        assert!(err(r#"{"afer": {"days": 1}}"#).contains("afer"));
        assert!(err(r#"{"day": 1, "at": "25:00"}"#).contains("25:00"));
        assert!(err(r#"{"immediately": false}"#).contains("immediately"));
    }

    #[test]
    fn day_2_at_ten_counts_calendar_days_from_a_late_evening_enrollment() {
        let t = timing(r#"{"day": 2, "at": "10:00"}"#);
        let due = due_at(&t, jst("2026-04-01T23:30"), None, &tokyo());
        assert_eq!(due, jst("2026-04-03T10:00"));
        assert_eq!(due.to_string(), "2026-04-03T01:00:00Z");
    }

    #[test]
    fn day_0_at_a_time_already_past_is_due_at_once() {
        let t = timing(r#"{"day": 0, "at": "10:00"}"#);
        let enrolled = jst("2026-04-01T15:00");
        let due = due_at(&t, enrolled, None, &tokyo());
        assert_eq!(due, jst("2026-04-01T10:00"));
        assert!(due < enrolled);
    }

    #[test]
    fn after_counts_from_enrollment_unless_told_previous() {
        let enrolled = jst("2026-04-01T12:00");
        let previous = Some(jst("2026-04-03T18:00"));
        let days = timing(r#"{"after": {"days": 2}}"#);
        assert_eq!(
            due_at(&days, enrolled, previous, &tokyo()),
            jst("2026-04-03T12:00")
        );
        let mins = timing(r#"{"after": {"minutes": 30}, "from": "previous"}"#);
        assert_eq!(
            due_at(&mins, enrolled, previous, &tokyo()),
            jst("2026-04-03T18:30")
        );
        assert_eq!(
            due_at(&mins, enrolled, None, &tokyo()),
            jst("2026-04-01T12:30")
        );
    }

    #[test]
    fn immediately_means_right_after_the_previous_send() {
        let enrolled = jst("2026-04-01T12:00");
        assert_eq!(
            due_at(&Timing::Immediately, enrolled, None, &tokyo()),
            enrolled
        );
        let sent = jst("2026-04-02T10:00");
        assert_eq!(
            due_at(&Timing::Immediately, enrolled, Some(sent), &tokyo()),
            sent
        );
    }

    #[test]
    fn days_keep_the_wall_clock_across_a_dst_change() {
        let ny = TimeZone::get("America/New_York").unwrap();
        // 2026-03-08 is the spring-forward day in New York: 2 days is 47 hours here.
        let enrolled = in_zone("2026-03-07T10:00", &ny);
        let due = due_at(&timing(r#"{"after": {"days": 2}}"#), enrolled, None, &ny);
        assert_eq!(due, in_zone("2026-03-09T10:00", &ny));
        let at = due_at(&timing(r#"{"day": 1, "at": "02:30"}"#), enrolled, None, &ny);
        // 02:30 does not exist that night; the later side of the gap is 03:30.
        assert_eq!(at, in_zone("2026-03-08T03:30", &ny));
    }

    #[test]
    fn quiet_hours_move_a_late_step_to_nine_the_next_morning() {
        let at = next_opening(&window(), jst("2026-04-01T23:00"), &tokyo());
        assert_eq!(at, jst("2026-04-02T09:00"));
    }

    #[test]
    fn an_early_step_waits_for_nine_the_same_day() {
        let at = next_opening(&window(), jst("2026-04-01T08:00"), &tokyo());
        assert_eq!(at, jst("2026-04-01T09:00"));
    }

    #[test]
    fn a_step_inside_the_window_stays_put() {
        let noon = jst("2026-04-01T12:00");
        assert_eq!(next_opening(&window(), noon, &tokyo()), noon);
        let nine = jst("2026-04-01T09:00");
        assert_eq!(next_opening(&window(), nine, &tokyo()), nine);
        // The end is exclusive: 21:00 sharp is already quiet.
        assert_eq!(
            next_opening(&window(), jst("2026-04-01T21:00"), &tokyo()),
            jst("2026-04-02T09:00")
        );
    }

    #[test]
    fn a_window_across_midnight_wraps() {
        let w = DeliveryWindow {
            start: Time::constant(21, 0, 0, 0),
            end: Time::constant(2, 0, 0, 0),
        };
        let late = jst("2026-04-01T23:00");
        assert_eq!(next_opening(&w, late, &tokyo()), late);
        assert_eq!(
            next_opening(&w, jst("2026-04-01T12:00"), &tokyo()),
            jst("2026-04-01T21:00")
        );
    }

    #[test]
    fn the_local_day_is_the_tenants_date_not_utc() {
        assert_eq!(
            local_day(jst("2026-04-01T08:00"), &tokyo()).to_string(),
            "2026-04-01"
        );
        assert_eq!(
            local_day(jst("2026-04-01T08:00"), &TimeZone::UTC).to_string(),
            "2026-03-31"
        );
    }
}
