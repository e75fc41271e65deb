//! Reactivation measurement (再来店率): a stay in a tier with a reactivation scenario counts as
//! `messaged` when the scenario sent something before the friend came back (or before the
//! window closed), and as `returned` when the friend then acted or bought within the return
//! window. Each stay is measured once — when the friend comes back, or by the sweep on the
//! day its window closes — through a condition on the stay's tier entry.
use jiff::{Timestamp, civil::Date};
use tracing::warn;

use super::SweepReport;
use crate::{
    deps::Deps,
    domain::{
        Friend, Tenant,
        dormancy::{DormantTier, local_day},
        enrollment::{Enrollment, EnrollmentState},
    },
    http::CrmError,
    store::{TierEntry, keys},
};

/// Called after a friend's activity (webhook) or purchase was written: measures every tier
/// the friend just left by coming back. Never fails the caller: the activity is recorded
/// already, and a measurement that failed is made by the sweep when the window closes.
pub async fn friend_returned(
    deps: &Deps,
    tenant: &Tenant,
    before: Option<&Friend>,
    after: &Friend,
    at: Timestamp,
) {
    let Some(before) = before else { return };
    let left = before
        .dormancy
        .iter()
        .filter(|d| !after.dormancy.contains(d));
    for stay in left {
        if stay.scenario.is_none() {
            continue;
        }
        if let Err(e) = measure_return(deps, tenant, after, stay, at).await {
            warn!(tenant = %tenant.id, friend = %after.user_id.hashed(), error = %e,
                "reactivation return not measured; the window's close will measure it");
        }
    }
}

async fn measure_return(
    deps: &Deps,
    tenant: &Tenant,
    friend: &Friend,
    stay: &DormantTier,
    at: Timestamp,
) -> Result<(), CrmError> {
    let Some(entry) = deps
        .store
        .tier_entry_of(
            &tenant.id,
            &friend.user_id,
            stay.clock,
            stay.days,
            stay.since_day,
        )
        .await?
    else {
        return Ok(());
    };
    if entry.measured_at.is_some() {
        return Ok(());
    }
    let enrollment = stay_enrollment(deps, &entry).await?;
    let sent = enrollment.as_ref().and_then(|e| e.previous_sent_at);
    if let Some(mut e) = enrollment.filter(|e| e.is_open() && sent.is_none()) {
        // Back before the reactivation message went out: "お久しぶりです" would now be odd.
        e.end(EnrollmentState::Stopped, "the friend came back");
        deps.store.update_enrollment(&e).await?;
    }
    let messaged = sent.is_some_and(|s| s <= at);
    let in_time = local_day(at, &tenant.time_zone()) < entry.close_day;
    deps.store
        .measure_tier_entry(&entry, messaged, messaged && in_time, deps.clock.now())
        .await?;
    Ok(())
}

/// The enrollment this stay started (not an older pass through the same scenario).
async fn stay_enrollment(deps: &Deps, entry: &TierEntry) -> Result<Option<Enrollment>, CrmError> {
    let Some(scenario) = &entry.scenario else {
        return Ok(None);
    };
    let e = deps
        .store
        .enrollment(&entry.tenant, &entry.friend, scenario)
        .await?;
    Ok(e.filter(|e| e.enrolled_at >= entry.entered_at))
}

/// Measures the stays whose return window closes on `day` and that nobody measured yet: the
/// friend did not come back in time; whether the message went out is still worth knowing.
pub(super) async fn close_windows(
    deps: &Deps,
    tenant: &Tenant,
    day: Date,
    now: Timestamp,
    report: &mut SweepReport,
) -> Result<(), CrmError> {
    let pk = keys::return_window_close_pk(&tenant.id, &day.to_string());
    let entries = deps.store.bucket_entries(&pk).await?;
    report.buckets_queried += 1;
    report.index_items_read += entries.len();
    for key in entries {
        let Some(entry) = deps.store.tier_entry_at(&key.pk, &key.sk).await? else {
            continue;
        };
        if entry.measured_at.is_some() {
            continue;
        }
        let messaged = stay_enrollment(deps, &entry)
            .await?
            .is_some_and(|e| e.previous_sent_at.is_some());
        if deps
            .store
            .measure_tier_entry(&entry, messaged, false, now)
            .await?
        {
            report.windows_closed += 1;
        }
    }
    Ok(())
}
