//! The Clock port: production reads the system time, tests and the local stack move time by hand.
use std::sync::{Arc, Mutex};

use jiff::{
    SignedDuration, Timestamp,
    civil::Time,
    tz::{self, TimeZone},
};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to, so a test can jump two days instead of sleeping.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<Timestamp>>);

impl ManualClock {
    pub fn at(start: Timestamp) -> Self {
        Self(Arc::new(Mutex::new(start)))
    }

    pub fn set(&self, to: Timestamp) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }

    pub fn advance(&self, by: SignedDuration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now = now.saturating_add(by).unwrap_or(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Asia/Tokyo: the zone of the Scheduler's daily cron and of LINE's monthly quota. Japan keeps
/// no daylight saving time, so a system without tzdata still gets it right as +09:00.
pub fn tokyo() -> TimeZone {
    TimeZone::get("Asia/Tokyo").unwrap_or_else(|_| TimeZone::fixed(tz::offset(9)))
}

/// The first instant strictly after `after` at which the wall clock in `zone` reads `at`: when
/// a daily cron such as `cron(0 4 * * ? *)` fires next.
pub fn next_daily(after: Timestamp, at: Time, zone: &TimeZone) -> Timestamp {
    let local = after.to_zoned(zone.clone());
    let mut day = local.date();
    // Two tries cover every case: today's run is still ahead, or it is tomorrow's. A day on
    // which `at` does not exist (a DST gap) resolves to the instant after the gap.
    for _ in 0..3 {
        if let Ok(run) = day.to_datetime(at).to_zoned(zone.clone())
            && run.timestamp() > after
        {
            return run.timestamp();
        }
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    after
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start: Timestamp = "2026-04-01T00:00:00Z".parse().unwrap();
        let clock = ManualClock::at(start);
        assert_eq!(clock.now(), start);
        clock.advance(SignedDuration::from_hours(48));
        assert_eq!(clock.now().to_string(), "2026-04-03T00:00:00Z");
    }

    #[test]
    fn the_daily_run_is_the_next_four_oclock_in_tokyo() {
        let four = Time::constant(4, 0, 0, 0);
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        // 03:59 JST: today's run is a minute away.
        assert_eq!(
            next_daily(at("2026-04-01T18:59:00Z"), four, &tokyo()),
            at("2026-04-01T19:00:00Z")
        );
        // Exactly 04:00 JST has run: the next one is tomorrow.
        assert_eq!(
            next_daily(at("2026-04-01T19:00:00Z"), four, &tokyo()),
            at("2026-04-02T19:00:00Z")
        );
    }
}
