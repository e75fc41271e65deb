//! The one-time backfill: every friend into the tier they are already in.
//!
//! The daily sweep reads only the day buckets that cross a threshold, so it sees a friend on
//! the day their silence reaches 30, 90… days — never one who was already 45 days silent when
//! the tenant's sweep first ran, nor one whose `lastPurchaseAt` a CSV import set months back.
//! Once per tenant (its first sweep; tenants swept before this existed get it on their next run)
//! and once per purchase import (purchase-clock tiers only), the sweep walks the friend list and
//! puts each friend into the deepest tier they have passed (`dormancy::backfill_tier`): its tag,
//! its coupon, and its scenario entered once. Written exactly as a crossing is (the same tier
//! entry, the same follow-up), so a later crossing or a re-run finds it done. Afterwards the
//! sweep's cost follows change again.
use std::time::Instant;

use futures::{StreamExt, stream::FuturesUnordered};
use jiff::civil::Date;

use super::{Found, Run};
use crate::{
    domain::{
        Friend, LineUserId,
        dormancy::{DormancyClock, Tier, backfill_tier},
    },
    http::CrmError,
    store::{FriendFilter, SweepState},
};

/// Friends read per page of the friend list (gsi1, items projected in full).
const PAGE: usize = 200;
/// Friends placed at once: each placement is a read and a transaction, so a page's latency is
/// what bounds a large tenant's backfill, not DynamoDB's capacity.
const IN_FLIGHT: usize = 16;

/// Which clocks the backfill covers now, if one is due.
pub(super) fn due(state: &SweepState) -> Option<&'static [DormancyClock]> {
    const ALL: &[DormancyClock] = &[DormancyClock::Activity, DormancyClock::Purchase];
    const PURCHASE: &[DormancyClock] = &[DormancyClock::Purchase];
    match (state.backfilled_at, state.backfill_requested_at) {
        (None, _) => Some(ALL),
        (Some(_), Some(_)) => Some(PURCHASE),
        (Some(_), None) => None,
    }
}

/// How far a run got.
pub(super) enum Progress {
    /// Every friend was looked at: record the backfill.
    Done,
    /// The invocation's time ran out: continue from this friend-list cursor next run.
    Paused(String),
}

/// Walks the friend list (from `cursor`, where an earlier run paused) and places every friend
/// who has not blocked us on `clocks`, until `deadline`: a tenant of a million friends takes
/// longer than one Lambda invocation, so it pauses between pages and the next run resumes.
pub(super) async fn run(
    run: &Run<'_>,
    clocks: &[DormancyClock],
    mut cursor: Option<String>,
    deadline: Instant,
    found: &mut Found,
) -> Result<Progress, CrmError> {
    let Run {
        deps,
        tenant,
        settings,
        today,
        ..
    } = *run;
    if !clocks
        .iter()
        .any(|c| settings.tiers_of(*c).next().is_some())
    {
        return Ok(Progress::Done);
    }
    let zone = tenant.time_zone();
    // No filter: `backfill_tier` leaves blocked friends out, and a filter expression would not
    // save reads (DynamoDB bills what the query reads, before filtering).
    let filter = FriendFilter::default();
    loop {
        let page = deps
            .store
            .list_friends(&tenant.id, &filter, PAGE, cursor.as_deref())
            .await?;
        found.report.backfill_friends_read += page.friends.len();
        let mut work = page.friends.iter().filter_map(|f| {
            let tiers: Vec<(&Tier, Date)> = clocks
                .iter()
                .filter_map(|c| backfill_tier(settings, *c, f, today, &zone))
                .collect();
            (!tiers.is_empty()).then_some((&f.user_id, tiers))
        });
        // Each friend's placements in order (two clocks write the same profile), friends at once.
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < IN_FLIGHT {
                match work.next() {
                    Some((u, tiers)) => in_flight.push(place_friend(run, u, tiers)),
                    None => break,
                }
            }
            match in_flight.next().await {
                Some(done) => found.report.add(&done?.report),
                None => break,
            }
        }
        cursor = page.cursor;
        match &cursor {
            None => return Ok(Progress::Done),
            Some(c) if Instant::now() >= deadline => return Ok(Progress::Paused(c.clone())),
            Some(_) => {}
        }
    }
}

/// One friend's placements, with its own tally (merged by the caller).
async fn place_friend(
    run: &Run<'_>,
    u: &LineUserId,
    tiers: Vec<(&Tier, Date)>,
) -> Result<Found, CrmError> {
    let mut found = Found::default();
    for (tier, since) in tiers {
        place(run, tier, since, u, &mut found).await?;
    }
    Ok(found)
}

/// Puts one friend into `tier` for the silence counted from `since`, once.
async fn place(
    run: &Run<'_>,
    tier: &Tier,
    since: Date,
    u: &LineUserId,
    found: &mut Found,
) -> Result<(), CrmError> {
    let zone = run.tenant.time_zone();
    // The page may be stale by now (the index is eventually consistent, the friend may have
    // written since): decide again on the profile itself.
    let decide = |before: &Friend| {
        backfill_tier(run.settings, tier.clock, before, run.today, &zone)
            .filter(|(t, s)| t.days == tier.days && *s == since)
    };
    run.enter_once(u, found, decide, |_, found| found.report.backfilled += 1)
        .await
}
