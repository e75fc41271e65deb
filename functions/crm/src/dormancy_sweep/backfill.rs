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
use jiff::{Timestamp, ToSpan, civil::Date};

use super::{Found, WRITE_ATTEMPTS, follow_up};
use crate::{
    deps::Deps,
    domain::{
        LineUserId, Tenant,
        dormancy::{DormancyClock, DormancySettings, Tier, backfill_tier},
    },
    http::CrmError,
    store::{FriendFilter, Once, StoreError, SweepState, TierEntry},
};

/// Friends read per page of the friend list (gsi1, items projected in full).
const PAGE: usize = 200;

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

/// What every placement of one run shares.
struct Run<'a> {
    deps: &'a Deps,
    tenant: &'a Tenant,
    settings: &'a DormancySettings,
    today: Date,
    now: Timestamp,
}

/// Walks every friend who has not blocked us and places them on `clocks`.
pub(super) async fn run(
    deps: &Deps,
    tenant: &Tenant,
    settings: &DormancySettings,
    clocks: &[DormancyClock],
    today: Date,
    now: Timestamp,
    found: &mut Found,
) -> Result<(), CrmError> {
    if !clocks
        .iter()
        .any(|c| settings.tiers_of(*c).next().is_some())
    {
        return Ok(());
    }
    let run = Run {
        deps,
        tenant,
        settings,
        today,
        now,
    };
    let zone = tenant.time_zone();
    let filter = FriendFilter {
        blocked: Some(false),
        ..FriendFilter::default()
    };
    let mut cursor = None;
    loop {
        let page = deps
            .store
            .list_friends(&tenant.id, &filter, PAGE, cursor.as_deref())
            .await?;
        found.report.backfill_friends_read += page.friends.len();
        for friend in &page.friends {
            for clock in clocks {
                if let Some((tier, since)) = backfill_tier(settings, *clock, friend, today, &zone) {
                    place(&run, tier, since, &friend.user_id, found).await?;
                }
            }
        }
        cursor = page.cursor;
        if cursor.is_none() {
            return Ok(());
        }
    }
}

/// Puts one friend into `tier` for the silence counted from `since`, once.
async fn place(
    run: &Run<'_>,
    tier: &Tier,
    since: Date,
    u: &LineUserId,
    found: &mut Found,
) -> Result<(), CrmError> {
    let Run {
        deps,
        tenant,
        settings,
        today,
        now,
    } = *run;
    let zone = tenant.time_zone();
    for _ in 0..WRITE_ATTEMPTS {
        // The page may be stale by now (the index is eventually consistent, the friend may have
        // written since): decide again on the profile itself.
        let Some(before) = deps.store.get_friend(&tenant.id, u).await? else {
            return Ok(());
        };
        let Some((tier, since)) = backfill_tier(settings, tier.clock, &before, today, &zone)
            .filter(|(t, s)| t.days == tier.days && *s == since)
        else {
            return Ok(());
        };
        let mut after = before.clone();
        after.enter_tier(tier, since, today, now);
        let entry = TierEntry {
            tenant: tenant.id.clone(),
            friend: u.clone(),
            clock: tier.clock,
            days: tier.days,
            tag: tier.tag.clone(),
            since_day: since,
            scenario: tier.scenario.clone(),
            route: before.route.clone().unwrap_or_else(|| "unknown".into()),
            entered_at: now,
            close_day: today
                .checked_add(i64::from(settings.return_window_days + 1).days())
                .unwrap_or(today),
            pending: true,
            measured_at: None,
            messaged: None,
            returned: None,
        };
        match deps.store.enter_tier(&before, &after, &zone, &entry).await {
            Ok(Once::New) => {
                found.report.backfilled += 1;
                let removed: Vec<String> = before
                    .tags
                    .keys()
                    .filter(|t| !after.has_tag(t))
                    .map(|t| t.to_string())
                    .collect();
                return follow_up(deps, tenant, &after, &entry, &removed, now, found).await;
            }
            Ok(Once::Done { pending }) => {
                found.report.already_done += 1;
                if pending {
                    follow_up(deps, tenant, &after, &entry, &[], now, found).await?;
                }
                return Ok(());
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict.into())
}
