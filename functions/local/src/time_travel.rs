//! Time travel, for the local stack only: its clock starts at the wall clock and can be moved
//! forward, and moving it runs what EventBridge Scheduler would have run in between — the
//! scheduled-sends tick at every instant something comes due, the dormancy sweep at every 04:00
//! Asia/Tokyo — so "three days later" is one request instead of three days. The Lambda functions
//! never see this: they get `SystemClock`, and the handlers called here are theirs.
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crm::{
    Deps,
    clock::{self, Clock},
    dormancy_sweep::SweepReport,
    http::CrmError,
    scheduled_sends::TickReport,
};
use jiff::{SignedDuration, Timestamp, civil::Time};
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::outbox_stream::EventChain;

/// The Scheduler's cron for the dormancy sweep: `cron(0 4 * * ? *)` in Asia/Tokyo.
const SWEEP_AT: Time = Time::constant(4, 0, 0, 0);
/// The Scheduler's rate: a due entry a tick left in place is tried again a minute later.
const TICK_RATE: SignedDuration = SignedDuration::from_mins(1);
/// Runs one move may make. Only something failing at every try (LINE answering 500 for days)
/// comes near; the move then jumps to its target instead of ticking on for minutes.
const MAX_RUNS: usize = 2_000;

/// The wall clock plus an offset that only grows: `now()` never goes back.
#[derive(Clone)]
pub struct OffsetClock {
    base: Arc<dyn Clock>,
    offset: Arc<Mutex<SignedDuration>>,
}

/// A move to an instant before the clock's now: sends already made cannot be unmade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the clock only moves forward: it is {now}, {to} is in the past")]
pub struct Backwards {
    pub now: Timestamp,
    pub to: Timestamp,
}

impl OffsetClock {
    /// `base` is the wall clock (`SystemClock`); tests pass a `ManualClock` to stay exact.
    pub fn new(base: Arc<dyn Clock>) -> Self {
        Self {
            base,
            offset: Arc::new(Mutex::new(SignedDuration::ZERO)),
        }
    }

    /// How far ahead of the wall clock this clock is.
    pub fn offset(&self) -> SignedDuration {
        *self.offset.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves now to `to`, refusing to go back.
    pub fn move_to(&self, to: Timestamp) -> Result<(), Backwards> {
        let mut offset = self.offset.lock().unwrap_or_else(PoisonError::into_inner);
        let wall = self.base.now();
        let now = wall.saturating_add(*offset).unwrap_or(wall);
        if to < now {
            return Err(Backwards { now, to });
        }
        *offset = to.duration_since(wall);
        Ok(())
    }

    /// Moves now to `to`, or leaves it where it is when that is later already; returns the
    /// instant the schedules run at: exactly `to` (a step due at 10:00 runs at 10:00:00.000,
    /// not a few microseconds of wall clock later), or now.
    fn move_at_least(&self, to: Timestamp) -> Timestamp {
        match self.move_to(to) {
            Ok(()) => to,
            Err(Backwards { now, .. }) => now,
        }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        let wall = self.base.now();
        wall.saturating_add(self.offset()).unwrap_or(wall)
    }
}

/// Parses how far to move: a number and a unit (`s`, `m`, `h`, `d`), repeated, e.g. `3d`,
/// `90m`, `1d12h`. A day is 24 hours, as the Scheduler counts them.
pub fn parse_advance(text: &str) -> Result<SignedDuration, String> {
    let spec = text.trim();
    if spec.is_empty() {
        return Err("empty; write e.g. 3d, 90m or 1d12h".into());
    }
    let mut total = SignedDuration::ZERO;
    let mut digits = String::new();
    for c in spec.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit_secs: i64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            other => {
                return Err(format!(
                    "{other:?} is not a unit in {spec:?}; use s, m, h or d (e.g. 1d12h)"
                ));
            }
        };
        if digits.is_empty() {
            return Err(format!("{c:?} has no number before it in {spec:?}"));
        }
        let amount: i64 = digits
            .parse()
            .map_err(|_| format!("{digits} is too large"))?;
        let part = amount
            .checked_mul(unit_secs)
            .map(SignedDuration::from_secs)
            .ok_or_else(|| format!("{spec:?} is too far"))?;
        total = total
            .checked_add(part)
            .ok_or_else(|| format!("{spec:?} is too far"))?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(format!(
            "{digits} has no unit in {spec:?}; add s, m, h or d"
        ));
    }
    Ok(total)
}

/// One run of a schedule during a move, kept in the report when it did something.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "run", rename_all = "camelCase")]
pub enum Run {
    Tick {
        at: Timestamp,
        #[serde(flatten)]
        report: TickReport,
    },
    Sweep {
        at: Timestamp,
        #[serde(flatten)]
        report: SweepReport,
    },
}

/// What a move of the clock ran on the way.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Travel {
    pub from: Timestamp,
    pub now: Timestamp,
    /// Scheduled-sends ticks run, the last one at `now`.
    pub ticks: usize,
    /// Dormancy sweeps run (one per 04:00 Asia/Tokyo passed).
    pub sweeps: usize,
    /// Steps sent by those ticks.
    pub sent: usize,
    /// Broadcast chunks LINE accepted in those ticks.
    pub broadcast_chunks: usize,
    /// The ticks that claimed something and the sweeps that changed something, in order.
    pub ran: Vec<Run>,
    /// True when the move stopped ticking after [`MAX_RUNS`] and jumped to its target.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
}

impl Travel {
    fn record_tick(&mut self, at: Timestamp, report: TickReport) {
        self.ticks += 1;
        self.sent += report.sent;
        self.broadcast_chunks += report.broadcast_chunks;
        if report.claimed > 0 || report.broadcast_chunks > 0 {
            self.ran.push(Run::Tick { at, report });
        }
    }

    fn record_sweep(&mut self, at: Timestamp, report: SweepReport) {
        self.sweeps += 1;
        let changed = report.entered
            + report.birthdays
            + report.anniversaries
            + report.windows_closed
            + report.enrolled
            + report.digests_sent
            + report.digest_failures
            + report.failed_tenants;
        if changed > 0 {
            self.ran.push(Run::Sweep { at, report });
        }
    }
}

enum Next {
    Tick(Timestamp),
    Sweep(Timestamp),
}

/// The local stack's schedules on its movable clock. One lock orders the moves and the
/// periodic runs, so a tick never runs at an instant a concurrent move has already passed.
pub struct TimeMachine {
    deps: Deps,
    clock: OffsetClock,
    /// Settled after every run, so what a tick or sweep set off (a tag's scenario, an answer's
    /// move) is in the due-index before the clock moves past it.
    events: Option<EventChain>,
    schedules: tokio::sync::Mutex<()>,
}

impl TimeMachine {
    /// `deps.clock` must be `clock`, so handlers and schedules share one now.
    pub fn new(deps: Deps, clock: OffsetClock, events: Option<EventChain>) -> Arc<Self> {
        Arc::new(Self {
            deps,
            clock,
            events,
            schedules: tokio::sync::Mutex::new(()),
        })
    }

    /// Lets the event chain deliver what the last run wrote to the outbox.
    async fn settle(&self) -> Result<(), CrmError> {
        if let Some(events) = &self.events
            && let Err(e) = events.flush().await
        {
            tracing::error!(error = %e, "outbox relay failed during time travel");
        }
        Ok(())
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// One scheduled-sends tick at now, as the Scheduler's every-minute event runs it.
    pub async fn tick(&self) -> Result<TickReport, CrmError> {
        let _turn = self.schedules.lock().await;
        let report = crm::scheduled_sends::tick(&self.deps, self.clock.now()).await?;
        self.settle().await?;
        Ok(report)
    }

    /// The dormancy sweep at now (it sweeps today and any day not swept yet).
    pub async fn sweep(&self) -> Result<SweepReport, CrmError> {
        let _turn = self.schedules.lock().await;
        let report = crm::dormancy_sweep::sweep(&self.deps, self.clock.now()).await?;
        self.settle().await?;
        Ok(report)
    }

    /// Moves the clock `by` forward, running the schedules on the way.
    pub async fn advance(&self, by: SignedDuration) -> Result<Travel, CrmError> {
        if by.is_negative() {
            return Err(CrmError::invalid("advance", "the clock only moves forward"));
        }
        let turn = self.schedules.lock().await;
        let from = self.clock.now();
        let to = from
            .checked_add(by)
            .map_err(|e| CrmError::invalid("advance", e.to_string()))?;
        self.travel(from, to, turn).await
    }

    /// Moves the clock to `to`, running the schedules on the way; refuses the past.
    pub async fn move_to(&self, to: Timestamp) -> Result<Travel, CrmError> {
        let turn = self.schedules.lock().await;
        let from = self.clock.now();
        if to < from {
            let refused = Backwards { now: from, to };
            return Err(CrmError::invalid("to", refused.to_string()));
        }
        self.travel(from, to, turn).await
    }

    /// Visits every instant a schedule would have acted at between `from` and `to`, in order:
    /// the earliest entry of the due-index (a step, a broadcast, a lease running out) gets a
    /// tick at that instant, each 04:00 Tokyo a sweep; whatever those runs enroll or defer
    /// shows up in the index for the next turn. Then a last tick at `to`.
    async fn travel(
        &self,
        from: Timestamp,
        to: Timestamp,
        _turn: tokio::sync::MutexGuard<'_, ()>,
    ) -> Result<Travel, CrmError> {
        let mut travel = Travel {
            from,
            now: from,
            ticks: 0,
            sweeps: 0,
            sent: 0,
            broadcast_chunks: 0,
            ran: Vec::new(),
            incomplete: false,
        };
        let tokyo = clock::tokyo();
        let mut next_sweep = clock::next_daily(from, SWEEP_AT, &tokyo);
        let mut last_tick: Option<Timestamp> = None;
        loop {
            if travel.ticks + travel.sweeps >= MAX_RUNS {
                travel.incomplete = true;
                tracing::warn!(runs = MAX_RUNS, %to, "time travel stopped ticking early; jumping to the target");
                break;
            }
            let now = self.clock.now();
            let due = self
                .deps
                .store
                .earliest_due()
                .await?
                .map(|due| match last_tick {
                    // The last tick left this entry where it was (claimed elsewhere, failed
                    // between leases): the Scheduler's next minute tries again.
                    Some(t) if due <= t => t.saturating_add(TICK_RATE).unwrap_or(t).max(now),
                    _ => due.max(now),
                })
                .filter(|due| *due <= to);
            let sweep = Some(next_sweep).filter(|s| *s <= to);
            // What comes first runs first; at the same instant the 04:00 sweep goes before
            // the tick, so the tick sends what the sweep enrolled.
            let next = match (due, sweep) {
                (Some(due), Some(sweep)) if due < sweep => Next::Tick(due),
                (_, Some(sweep)) => Next::Sweep(sweep),
                (Some(due), None) => Next::Tick(due),
                (None, None) => break,
            };
            match next {
                Next::Tick(due) => {
                    let at = self.clock.move_at_least(due);
                    let report = crm::scheduled_sends::tick(&self.deps, at).await?;
                    self.settle().await?;
                    travel.record_tick(at, report);
                    last_tick = Some(at);
                }
                Next::Sweep(sweep) => {
                    let at = self.clock.move_at_least(sweep);
                    let report = crm::dormancy_sweep::sweep(&self.deps, at).await?;
                    self.settle().await?;
                    travel.record_sweep(at, report);
                    next_sweep = clock::next_daily(at, SWEEP_AT, &tokyo);
                }
            }
        }
        let at = self.clock.move_at_least(to);
        if travel.incomplete && next_sweep <= at {
            // The sweep catches up every day it has not swept, so one run covers the jump.
            let report = crm::dormancy_sweep::sweep(&self.deps, at).await?;
            self.settle().await?;
            travel.record_sweep(at, report);
        }
        let report = crm::scheduled_sends::tick(&self.deps, at).await?;
        self.settle().await?;
        travel.record_tick(at, report);
        travel.now = at;
        Ok(travel)
    }

    /// The Scheduler's two schedules on this clock: a tick every `tick_every` and a sweep every
    /// `sweep_every` of wall time, each at the clock's now.
    pub fn spawn_schedules(
        self: &Arc<Self>,
        tick_every: Duration,
        sweep_every: Duration,
    ) -> (JoinHandle<()>, JoinHandle<()>) {
        let ticks = Arc::clone(self);
        let tick_task = tokio::spawn(async move {
            let mut every = tokio::time::interval(tick_every.max(Duration::from_secs(1)));
            every.tick().await;
            loop {
                every.tick().await;
                if let Err(e) = ticks.tick().await {
                    tracing::error!(error = %e, "scheduled-sends tick failed");
                }
            }
        });
        let sweeps = Arc::clone(self);
        let sweep_task = tokio::spawn(async move {
            let mut every = tokio::time::interval(sweep_every.max(Duration::from_secs(1)));
            every.tick().await;
            loop {
                every.tick().await;
                if let Err(e) = sweeps.sweep().await {
                    tracing::error!(error = %e, "dormancy sweep failed");
                }
            }
        });
        (tick_task, sweep_task)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm::clock::ManualClock;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn advances_combine_units() {
        assert_eq!(parse_advance("1d12h"), Ok(SignedDuration::from_hours(36)));
        assert_eq!(parse_advance("3d"), Ok(SignedDuration::from_hours(72)));
        assert_eq!(parse_advance("90m"), Ok(SignedDuration::from_mins(90)));
        assert_eq!(
            parse_advance("1h30m15s"),
            Ok(SignedDuration::from_secs(5_415))
        );
        assert!(parse_advance("").is_err());
        assert!(parse_advance("3").is_err());
        assert!(parse_advance("d").is_err());
        assert!(parse_advance("2w").is_err());
        assert!(parse_advance("-1d").is_err());
        assert!(parse_advance("99999999999999999999d").is_err());
    }

    #[test]
    fn the_clock_follows_the_wall_clock_plus_what_it_was_moved() {
        let wall = ManualClock::at(at("2026-04-01T00:00:00Z"));
        let clock = OffsetClock::new(Arc::new(wall.clone()));
        assert_eq!(clock.now(), at("2026-04-01T00:00:00Z"));
        clock.move_to(at("2026-04-04T00:00:00Z")).unwrap();
        assert_eq!(clock.offset(), SignedDuration::from_hours(72));
        wall.advance(SignedDuration::from_secs(30));
        assert_eq!(clock.now(), at("2026-04-04T00:00:30Z"));
    }

    #[test]
    fn the_clock_refuses_to_go_back() {
        let wall = ManualClock::at(at("2026-04-01T00:00:00Z"));
        let clock = OffsetClock::new(Arc::new(wall));
        clock.move_to(at("2026-04-02T00:00:00Z")).unwrap();
        let refused = clock.move_to(at("2026-04-01T12:00:00Z")).unwrap_err();
        assert_eq!(refused.now, at("2026-04-02T00:00:00Z"));
        assert_eq!(clock.now(), at("2026-04-02T00:00:00Z"));
        // Moving by nothing is not going back.
        clock.move_to(at("2026-04-02T00:00:00Z")).unwrap();
    }
}
