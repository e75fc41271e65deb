//! The dormancy-sweep function, run daily (EventBridge Scheduler, 04:00 Asia/Tokyo): for every
//! tenant and every day not yet swept, moves the friends whose last activity (or purchase)
//! crosses a tier threshold into that tier, enrolls birthdays and follow anniversaries, measures
//! reactivation windows that close, and sends the staff digest.
//!
//! Reads follow change, not size: each day reads only the gsi3 day buckets that cross a
//! threshold that day (`T#{t}#SEEN#{today − days}` per tier, `BDAY#{MM-DD}`, `FOLLOWED#{MM-DD}`,
//! `REACT#{today}`), then the friends found there. Each transition is written once (a tier
//! entry created with `attribute_not_exists` in the friend's own transaction), so a run that
//! crashed or ran twice changes nothing twice, and days the schedule missed are caught up.
mod backfill;
mod digest;
mod returns;

use std::{collections::BTreeMap, time::Instant};

use jiff::{Timestamp, ToSpan, civil::Date};
use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

pub use digest::send_due as send_due_digests;
pub use returns::friend_returned;

use crate::{
    deps::Deps,
    domain::{
        Friend, LineUserId, Tenant,
        dormancy::{
            self, DormancyClock, DormancySettings, LapsedFriend, Occasion, Tier, local_day,
        },
    },
    enrollments::{Enrolled, Entry, enroll},
    http::CrmError,
    store::{Once, StoreError, TierEntry, keys, retry_on_conflict},
};

/// A schedule off for longer than this restarts from today instead of replaying a year.
pub const MAX_CATCH_UP_DAYS: i64 = 400;
/// Backfills stop starting new pages after this much of an invocation (the function's timeout
/// is 15 minutes): every tenant's day still gets swept, and a paused backfill resumes next run.
const BACKFILL_BUDGET: std::time::Duration = std::time::Duration::from_secs(8 * 60);
/// Sending the day's staff digests, after the sweep: well inside the rest of the timeout.
const DIGEST_BUDGET: std::time::Duration = std::time::Duration::from_secs(2 * 60);

/// What one run did, summed over tenants: returned to Lambda, the local stack and the tests.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    pub tenants: usize,
    /// Tenant-days swept (a caught-up tenant counts each missed day).
    pub days: usize,
    /// gsi3 bucket queries and the index entries they returned.
    pub buckets_queried: usize,
    pub index_items_read: usize,
    /// Friend profiles read (one per index entry that still needed a look).
    pub friends_read: usize,
    /// Friends moved into a tier now.
    pub entered: usize,
    /// Transitions found already written (a re-run).
    pub already_done: usize,
    pub birthdays: usize,
    pub anniversaries: usize,
    /// Return windows closed and measured.
    pub windows_closed: usize,
    pub enrolled: usize,
    pub digests_sent: usize,
    pub digest_failures: usize,
    pub failed_tenants: usize,
    /// The one-time backfill: friends read from the friend list, and friends put into the
    /// tier they were already in.
    pub backfill_friends_read: usize,
    pub backfilled: usize,
}

impl SweepReport {
    fn add(&mut self, o: &SweepReport) {
        self.tenants += o.tenants;
        self.days += o.days;
        self.buckets_queried += o.buckets_queried;
        self.index_items_read += o.index_items_read;
        self.friends_read += o.friends_read;
        self.entered += o.entered;
        self.already_done += o.already_done;
        self.birthdays += o.birthdays;
        self.anniversaries += o.anniversaries;
        self.windows_closed += o.windows_closed;
        self.enrolled += o.enrolled;
        self.digests_sent += o.digests_sent;
        self.digest_failures += o.digest_failures;
        self.failed_tenants += o.failed_tenants;
        self.backfill_friends_read += o.backfill_friends_read;
        self.backfilled += o.backfilled;
    }
}

/// What one tenant's sweep found, for the digest.
#[derive(Debug, Default)]
struct Found {
    report: SweepReport,
    new_by_tier: BTreeMap<(DormancyClock, u32), u64>,
    vips: Vec<LapsedFriend>,
}

/// The Lambda entry: the Scheduler's event carries nothing we need but its arrival.
pub async fn handle(deps: &Deps, _event: Value) -> Result<SweepReport, CrmError> {
    sweep(deps, deps.clock.now()).await
}

/// Sweeps every tenant. One tenant failing does not stop the others; the run then fails so the
/// Lambda retry (idempotent) finishes what is left.
pub async fn sweep(deps: &Deps, now: Timestamp) -> Result<SweepReport, CrmError> {
    sweep_within(deps, now, BACKFILL_BUDGET).await
}

/// [`sweep`] with another time budget for backfills (the tests make one pause).
pub async fn sweep_within(
    deps: &Deps,
    now: Timestamp,
    backfill_budget: std::time::Duration,
) -> Result<SweepReport, CrmError> {
    let mut report = SweepReport::default();
    let mut first_error = None;
    let deadline = Instant::now() + backfill_budget;
    for tenant in deps.store.tenants().await? {
        match sweep_tenant_until(deps, &tenant, now, deadline).await {
            Ok(r) => report.add(&r),
            Err(e) => {
                warn!(tenant = %tenant.id, error = %e, "dormancy sweep failed for tenant");
                report.failed_tenants += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    // Today's digests go after every tenant is swept, bounded: slow staff webhooks cannot push
    // the sweep past its timeout (what is left, the tick sends).
    match digest::send_due_within(deps, now, DIGEST_BUDGET).await {
        Ok((sent, failed)) => {
            report.digests_sent += sent;
            report.digest_failures += failed;
        }
        Err(e) => warn!(error = %e, "staff digests not sent; the tick sends them"),
    }
    info!(
        tenants = report.tenants,
        days = report.days,
        index_items_read = report.index_items_read,
        friends_read = report.friends_read,
        entered = report.entered,
        birthdays = report.birthdays,
        windows_closed = report.windows_closed,
        "dormancy sweep"
    );
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// Sweeps one tenant: every day after the last one swept, up to today in the tenant's zone.
pub async fn sweep_tenant(
    deps: &Deps,
    tenant: &Tenant,
    now: Timestamp,
) -> Result<SweepReport, CrmError> {
    sweep_tenant_until(deps, tenant, now, Instant::now() + BACKFILL_BUDGET).await
}

/// One tenant's run begins: its dormancy settings (the defaults until the shop saves its own)
/// and a report that counts the tenant.
async fn start_tenant(deps: &Deps, tenant: &Tenant) -> Result<(DormancySettings, Found), CrmError> {
    let settings = deps
        .store
        .dormancy_settings(&tenant.id)
        .await?
        .unwrap_or_default();
    let mut found = Found::default();
    found.report.tenants = 1;
    Ok((settings, found))
}

async fn sweep_tenant_until(
    deps: &Deps,
    tenant: &Tenant,
    now: Timestamp,
    deadline: Instant,
) -> Result<SweepReport, CrmError> {
    let (settings, mut found) = start_tenant(deps, tenant).await?;
    let zone = tenant.time_zone();
    let today = local_day(now, &zone);
    if !settings.enabled {
        // Switched off, days pass as swept: switching on again starts from that day, not with
        // a flood of old crossings.
        deps.store
            .set_last_swept_day(&tenant.id, today, now)
            .await?;
        return Ok(found.report);
    }
    let earliest = today.checked_sub(MAX_CATCH_UP_DAYS.days()).unwrap_or(today);
    let state = deps.store.sweep_state(&tenant.id).await?;
    let backfill = backfill::due(&state);
    let first = match state.last_swept_day {
        // Swept today already; only a backfill an import asked for since is left.
        Some(last) if last >= today && backfill.is_some() => today.tomorrow().unwrap_or(today),
        Some(last) if last >= today => return Ok(found.report),
        Some(last) => last.tomorrow().unwrap_or(today).max(earliest),
        // A tenant's first sweep starts today: earlier crossings are history, not news.
        None => today,
    };
    let mut day = first;
    while day <= today {
        sweep_day(deps, tenant, &settings, day, now, &mut found).await?;
        found.report.days += 1;
        // Today is recorded only after the digest, so a crash before it re-sends (deduplicated).
        if day < today {
            deps.store.set_last_swept_day(&tenant.id, day, now).await?;
        }
        day = match day.tomorrow() {
            Ok(d) => d,
            Err(_) => break,
        };
    }
    // After the days, so today's crossings count as news and the backfill skips them.
    if let Some(clocks) = backfill {
        let run = Run {
            deps,
            tenant,
            settings: &settings,
            today,
            now,
        };
        let cursor = state.backfill_cursor.clone();
        let started = match cursor {
            Some(_) => state.backfill_started_at.unwrap_or(now),
            None => now,
        };
        match backfill::run(&run, clocks, cursor, deadline, &mut found).await? {
            backfill::Progress::Done => {
                // A walk that resumed may have passed friends before an import asked: only a
                // request made before the walk started is answered (a later one gets its own).
                let answered = state.backfill_requested_at.filter(|r| *r <= started);
                deps.store
                    .record_backfill(&tenant.id, now, answered)
                    .await?
            }
            backfill::Progress::Paused(c) => {
                info!(tenant = %tenant.id, "dormancy backfill paused; resumes next run");
                deps.store
                    .save_backfill_cursor(&tenant.id, &c, started)
                    .await?
            }
        }
    }
    // A run that swept no day (only an import's backfill) leaves today's digest as it was.
    if settings.alerts.is_configured() && found.report.days > 0 {
        digest::keep(deps, tenant, &settings, today, now, &mut found).await?;
    }
    deps.store
        .set_last_swept_day(&tenant.id, today, now)
        .await?;
    Ok(found.report)
}

/// Runs the one-time backfill of every clock for one tenant now and records it, without
/// sweeping a day: what a tenant's first sweep does after its day, alone (the benchmark
/// measures it apart from the daily sweep).
pub async fn backfill_tenant(
    deps: &Deps,
    tenant: &Tenant,
    now: Timestamp,
) -> Result<SweepReport, CrmError> {
    let (settings, mut found) = start_tenant(deps, tenant).await?;
    let run = Run {
        deps,
        tenant,
        settings: &settings,
        today: local_day(now, &tenant.time_zone()),
        now,
    };
    let clocks = [DormancyClock::Activity, DormancyClock::Purchase];
    let mut cursor = None;
    // No budget: the caller (the benchmark) wants it whole, in as many pages as it takes.
    while let backfill::Progress::Paused(c) = backfill::run(
        &run,
        &clocks,
        cursor.take(),
        Instant::now() + BACKFILL_BUDGET,
        &mut found,
    )
    .await?
    {
        cursor = Some(c);
    }
    deps.store.record_backfill(&tenant.id, now, None).await?;
    Ok(found.report)
}

async fn sweep_day(
    deps: &Deps,
    tenant: &Tenant,
    settings: &DormancySettings,
    day: Date,
    now: Timestamp,
    found: &mut Found,
) -> Result<(), CrmError> {
    let run = Run {
        deps,
        tenant,
        settings,
        today: day,
        now,
    };
    for tier in &settings.tiers {
        let Some(crossing) = dormancy::crossing_day(day, tier.days) else {
            continue;
        };
        let kind = match tier.clock {
            DormancyClock::Activity => None,
            DormancyClock::Purchase => Some(keys::FriendBucket::Bought),
        };
        let pk = match kind {
            None => keys::seen_bucket_pk(&tenant.id, &crossing.to_string()),
            Some(k) => keys::bucket_pk(&tenant.id, k, &crossing.to_string()),
        };
        for u in bucket_friends(deps, &pk, found).await? {
            enter(&run, tier, crossing, &u, found).await?;
        }
    }
    // Birthdays come from the birthday field's bucket, anniversaries from the follow day's.
    let occasions = [
        (
            &settings.birthday,
            Celebration::Birthday,
            keys::FriendBucket::Birthday,
        ),
        (
            &settings.anniversary,
            Celebration::Anniversary,
            keys::FriendBucket::Followed,
        ),
    ];
    for (occasion, kind, bucket) in occasions {
        let Some(occasion) = occasion else { continue };
        for md in dormancy::month_days_celebrated(day) {
            let pk = keys::bucket_pk(&tenant.id, bucket, &md);
            for u in bucket_friends(deps, &pk, found).await? {
                celebrate(&run, occasion, kind, &u, found).await?;
            }
        }
    }
    returns::close_windows(deps, tenant, day, now, &mut found.report).await
}

/// The friends in one gsi3 bucket (their ids are the index sort keys).
async fn bucket_friends(
    deps: &Deps,
    pk: &str,
    found: &mut Found,
) -> Result<Vec<LineUserId>, CrmError> {
    let entries = deps.store.bucket_entries(pk).await?;
    found.report.buckets_queried += 1;
    found.report.index_items_read += entries.len();
    Ok(entries
        .into_iter()
        .filter_map(|e| LineUserId::parse(&e.gsi3sk).ok())
        .collect())
}

/// One tenant's run: who, with which settings, for which day (in the tenant's zone), at what
/// instant. The daily sweep and the backfill both pass it down.
#[derive(Clone, Copy)]
pub(super) struct Run<'a> {
    pub deps: &'a Deps,
    pub tenant: &'a Tenant,
    pub settings: &'a DormancySettings,
    pub today: Date,
    pub now: Timestamp,
}

/// Moves one friend found in a crossing bucket into `tier`, once.
async fn enter(
    run: &Run<'_>,
    tier: &Tier,
    crossing: Date,
    u: &LineUserId,
    found: &mut Found,
) -> Result<(), CrmError> {
    let zone = run.tenant.time_zone();
    found.report.friends_read += 1;
    // The index is eventually consistent: trust the profile. A friend who acted since (or
    // blocked us) does not enter; one already deeper in this clock's tiers stays there.
    let decide = |before: &Friend| {
        let still_silent = tier
            .clock
            .last(before)
            .is_some_and(|at| local_day(at, &zone) == crossing);
        let deeper = before
            .dormant_in(tier.clock)
            .is_some_and(|d| d.since_day == crossing && d.days > tier.days);
        (!before.blocked && still_silent && !deeper).then_some((tier, crossing))
    };
    let vip = run.settings.alerts.vip_tag.as_ref();
    run.enter_once(u, found, decide, |entered, found| {
        found.report.entered += 1;
        *found
            .new_by_tier
            .entry((tier.clock, tier.days))
            .or_default() += 1;
        if vip.is_some_and(|vip| entered.before.has_tag(vip)) {
            found.vips.push(LapsedFriend {
                user_id: u.clone(),
                display_name: entered.before.profile.display_name.clone(),
                tag: tier.tag.clone(),
            });
        }
    })
    .await
}

/// A friend's move into a tier as written: her profile before and after, and the entry.
struct Entered {
    before: Friend,
    after: Friend,
    entry: TierEntry,
    once: Once,
}

impl Run<'_> {
    /// Moves friend `u` into the tier `decide` picks on her current profile (None: she stays
    /// out), once, then enrolls her in the tier's scenario. `counted` tallies a move written
    /// now; one written before is counted as already done (its follow-up finished if a crash
    /// cut it short). A concurrent write to her (an event, an admin edit) re-reads her and
    /// decides again.
    async fn enter_once<'s>(
        &self,
        u: &LineUserId,
        found: &mut Found,
        decide: impl Fn(&Friend) -> Option<(&'s Tier, Date)> + Sync,
        counted: impl FnOnce(&Entered, &mut Found),
    ) -> Result<(), CrmError> {
        let Run {
            deps,
            tenant,
            settings,
            today,
            now,
        } = *self;
        let zone = tenant.time_zone();
        let (zone, decide) = (&zone, &decide);
        let written = retry_on_conflict(|| async move {
            let Some(before) = deps.store.get_friend(&tenant.id, u).await? else {
                return Ok(None);
            };
            let Some((tier, since)) = decide(&before) else {
                return Ok(None);
            };
            let mut after = before.clone();
            after.enter_tier(tier, since, today, now);
            let entry = tier_entry(tenant, &before, tier, since, today, settings, now);
            let once = deps.store.enter_tier(&before, &after, zone, &entry).await?;
            Ok::<_, StoreError>(Some(Entered {
                before,
                after,
                entry,
                once,
            }))
        })
        .await?;
        let Some(entered) = written.ok_or(StoreError::Conflict)? else {
            return Ok(());
        };
        match entered.once {
            Once::New => counted(&entered, found),
            Once::Done { pending } => {
                found.report.already_done += 1;
                if !pending {
                    return Ok(());
                }
            }
        }
        self.follow_up(&entered.after, &entered.entry, found).await
    }

    /// What follows a transition once it is written: the reactivation scenario. (The tier's
    /// tag left through the outbox with the write, as `FriendTagged`.)
    async fn follow_up(
        &self,
        friend: &Friend,
        entry: &TierEntry,
        found: &mut Found,
    ) -> Result<(), CrmError> {
        let Run {
            deps, tenant, now, ..
        } = *self;
        if let Some(scenario) = &entry.scenario {
            match enroll(deps, tenant, friend, scenario, Entry::NewOccasion, now).await? {
                Enrolled::Yes(_) => found.report.enrolled += 1,
                Enrolled::AlreadyEnrolled => {}
                Enrolled::NoSuchScenario => {
                    warn!(tenant = %tenant.id, scenario = %scenario, "dormancy tier names a scenario that no longer exists");
                }
            }
        }
        deps.store.tier_entry_done(entry).await?;
        Ok(())
    }
}

/// The record of `friend` entering `tier` on `day`, silent since `since`: its return window
/// closes `returnWindowDays` after the day (measured the day after), its follow-up pending.
fn tier_entry(
    tenant: &Tenant,
    friend: &Friend,
    tier: &Tier,
    since: Date,
    day: Date,
    settings: &DormancySettings,
    now: Timestamp,
) -> TierEntry {
    TierEntry {
        tenant: tenant.id.clone(),
        friend: friend.user_id.clone(),
        clock: tier.clock,
        days: tier.days,
        tag: tier.tag.clone(),
        since_day: since,
        scenario: tier.scenario.clone(),
        route: friend.route.clone().unwrap_or_else(|| "unknown".into()),
        entered_at: now,
        close_day: day
            .checked_add(i64::from(settings.return_window_days + 1).days())
            .unwrap_or(day),
        pending: true,
        measured_at: None,
        messaged: None,
        returned: None,
    }
}

#[derive(Debug, Clone, Copy)]
enum Celebration {
    Birthday,
    Anniversary,
}

impl Celebration {
    fn marker(self) -> &'static str {
        match self {
            Self::Birthday => keys::BIRTHDAY_OCCASION,
            Self::Anniversary => keys::ANNIVERSARY_OCCASION,
        }
    }
}

/// Enrolls one friend into the birthday or anniversary scenario, once per year.
async fn celebrate(
    run: &Run<'_>,
    occasion: &Occasion,
    kind: Celebration,
    u: &LineUserId,
    found: &mut Found,
) -> Result<(), CrmError> {
    let Run {
        deps,
        tenant,
        today: day,
        now,
        ..
    } = *run;
    let zone = tenant.time_zone();
    let celebrated = dormancy::month_days_celebrated(day);
    found.report.friends_read += 1;
    let (zone, celebrated) = (&zone, &celebrated);
    let marker = kind.marker();
    let marked = retry_on_conflict(|| async move {
        let Some(before) = deps.store.get_friend(&tenant.id, u).await? else {
            return Ok(None);
        };
        let today = match kind {
            Celebration::Birthday => before
                .fields
                .get(dormancy::BIRTHDAY_FIELD)
                .and_then(|b| dormancy::birthday(b))
                .is_some_and(|md| celebrated.contains(&dormancy::month_day(md))),
            Celebration::Anniversary => {
                let (md, year) = dormancy::anniversary(before.followed_at, zone);
                celebrated.contains(&md) && year < day.year()
            }
        };
        if before.blocked || !today {
            return Ok(None);
        }
        let mut after = before.clone();
        if let Some(c) = &occasion.coupon {
            after.set_fields(c.fields(day));
        }
        let change = occasion.coupon.is_some().then_some((&before, &after, zone));
        let once = deps
            .store
            .mark_occasion(&tenant.id, u, marker, day.year(), change, now)
            .await?;
        Ok::<_, StoreError>(Some((after, once)))
    })
    .await?;
    let Some((after, once)) = marked.ok_or(StoreError::Conflict)? else {
        return Ok(());
    };
    match once {
        Once::New | Once::Done { pending: true } => {
            if once == Once::New {
                match kind {
                    Celebration::Birthday => found.report.birthdays += 1,
                    Celebration::Anniversary => found.report.anniversaries += 1,
                }
            } else {
                found.report.already_done += 1;
            }
            if let Enrolled::Yes(_) = enroll(
                deps,
                tenant,
                &after,
                &occasion.scenario,
                Entry::NewOccasion,
                now,
            )
            .await?
            {
                found.report.enrolled += 1;
            }
            deps.store
                .occasion_done(&tenant.id, u, marker, day.year())
                .await?;
        }
        Once::Done { pending: false } => found.report.already_done += 1,
    }
    Ok(())
}
