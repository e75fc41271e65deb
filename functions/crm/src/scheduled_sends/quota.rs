//! LINE's monthly message quota, without a blind wait.
//!
//! When LINE answers 429 "You have reached your monthly limit." the tenant is marked
//! (`quotaExhaustedAt`, which also puts it in a sparse index) and every send of that tenant waits
//! in the due-index until the month rolls over in the shop's zone, with a note saying so. Sends
//! of a marked tenant do not even try LINE (each try would be another 429). Two things end the
//! wait early: the month's rollover, and the shop raising its plan — so at the start of every
//! tick each marked tenant gets one look at LINE's quota endpoints (two GETs; none at the
//! rollover, when the calendar already says the quota is whole). When there is room, the waiting
//! items are made due now, the mark is cleared, and they go in that same tick.
use jiff::Timestamp;
use serde::Serialize;
use tracing::{info, warn};

use super::TickReport;
use crate::{
    deps::Deps,
    domain::{
        Tenant,
        broadcast::Broadcast,
        deferral::{
            DeferReason, Deferred, quota_has_room, quota_resumes_at, quota_still_exhausted,
        },
        enrollment::Enrollment,
    },
    http::CrmError,
    line::client::Quota,
    store::{DUE_SHARDS, DeferredNote},
};

/// What one quota look found (`POST /admin/tenant/quota/retry` returns it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaCheck {
    /// LINE accepts messages again: the mark is cleared and the waiting items are due now.
    pub room: bool,
    /// The month rolled over since the mark (LINE was not asked).
    pub rolled_over: bool,
    /// LINE's target limit (`null`: none) and this month's consumption, when LINE was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used: Option<u64>,
    /// Steps and broadcasts made due now.
    pub released: usize,
}

/// True while the tenant's mark holds (the month it was set in has not ended).
pub(super) fn exhausted(tenant: &Tenant, now: Timestamp) -> bool {
    tenant
        .quota_exhausted_at
        .is_some_and(|at| quota_still_exhausted(at, now, &tenant.time_zone()))
}

/// Whether a send of this tenant must wait for quota now. The tick's copy of the tenant may be
/// older than a release that ran meanwhile (an overlapping tick, `POST …/quota/retry`): a send
/// deferred on that stale mark would wait for the rollover with nobody left to release it, so a
/// marked copy is checked against the table first (one read, only while marked).
pub(super) async fn must_wait(
    deps: &Deps,
    tenant: &Tenant,
    now: Timestamp,
) -> Result<Option<Tenant>, CrmError> {
    if !exhausted(tenant, now) {
        return Ok(None);
    }
    Ok(deps
        .store
        .get_tenant(&tenant.id)
        .await?
        .filter(|fresh| exhausted(fresh, now)))
}

/// When a send deferred for quota goes at the latest: the rollover of the month the mark was set
/// in (of this month, for the send that is setting it now).
pub(super) fn resumes_at(tenant: &Tenant, now: Timestamp) -> Timestamp {
    // A mark left from an earlier month is stale: this 429 starts a new wait.
    let since = tenant
        .quota_exhausted_at
        .filter(|_| exhausted(tenant, now))
        .unwrap_or(now);
    quota_resumes_at(since, &tenant.time_zone())
}

/// The start of a tick: one look per marked tenant. A tenant whose look fails (LINE down) keeps
/// waiting; it does not stop the tick.
pub(super) async fn recover(
    deps: &Deps,
    now: Timestamp,
    report: &mut TickReport,
) -> Result<(), CrmError> {
    // A failed look-up must not stop the tick: the other tenants' sends do not wait for it.
    let marked = match deps.store.quota_exhausted_tenants().await {
        Ok(ids) => ids,
        Err(e) => {
            warn!(error = %e, "tenants out of quota not listed; looked at next tick");
            return Ok(());
        }
    };
    for id in marked {
        let Some(tenant) = deps.store.get_tenant(&id).await? else {
            continue;
        };
        match check_and_release(deps, &tenant, now, false).await {
            Ok(check) => {
                report.quota_checks += 1;
                report.quota_released += check.released;
            }
            Err(e) => {
                warn!(tenant = %tenant.id, error = %e, "quota check failed; sends keep waiting");
            }
        }
    }
    Ok(())
}

/// Asks LINE (unless the month already rolled over and `ask_line` is false) whether the tenant
/// may send again; if so makes every quota wait due now and clears the mark — in that order,
/// so a crash in between leaves the mark, and the next look finishes the release.
pub async fn check_and_release(
    deps: &Deps,
    tenant: &Tenant,
    now: Timestamp,
    ask_line: bool,
) -> Result<QuotaCheck, CrmError> {
    let rolled_over = tenant.quota_exhausted_at.is_some() && !exhausted(tenant, now);
    let mut check = QuotaCheck {
        room: rolled_over,
        rolled_over,
        limit: None,
        used: None,
        released: 0,
    };
    if ask_line || !rolled_over {
        let limit = match deps.line.quota(&tenant.access_token).await? {
            Quota::Unlimited => None,
            Quota::Limited(n) => Some(n),
        };
        let used = deps.line.quota_consumption(&tenant.access_token).await?;
        check.room = quota_has_room(limit, used);
        check.limit = Some(limit);
        check.used = Some(used);
    }
    if !check.room {
        return Ok(check);
    }
    check.released = release(deps, tenant, now).await?;
    if tenant.quota_exhausted_at.is_some() {
        deps.store.set_quota_exhausted(&tenant.id, None).await?;
    }
    info!(tenant = %tenant.id, released = check.released, rolled_over, "LINE quota has room again; deferred sends resume");
    Ok(check)
}

/// Makes every item waiting for quota due now. One that a tick holds or that moved on is left
/// to its own course; its note goes either way.
async fn release(deps: &Deps, tenant: &Tenant, now: Timestamp) -> Result<usize, CrmError> {
    let mut released = 0;
    for note in deps.store.deferred_notes(&tenant.id).await? {
        if note.reason != DeferReason::Quota {
            continue;
        }
        let moved = match &note.item {
            Deferred::Step { user_id, scenario } => {
                deps.store
                    .make_step_due_now(&tenant.id, user_id, scenario, note.shard, note.due_at, now)
                    .await?
            }
            Deferred::Broadcast { broadcast } => {
                deps.store
                    .make_broadcast_due_now(&tenant.id, broadcast, note.shard, note.due_at, now)
                    .await?
            }
        };
        released += usize::from(moved);
        deps.store.forget_deferred(&tenant.id, &note.item).await?;
    }
    Ok(released)
}

/// What waits in the due-index: a scenario step or a broadcast.
pub(super) enum Waiting<'a> {
    Step(&'a Enrollment),
    Broadcast(&'a Broadcast),
}

/// Notes why an item waits and until when (before the claim's outcome is written, so no item
/// waits for quota without a note the release can find).
pub(super) async fn note(
    deps: &Deps,
    waiting: Waiting<'_>,
    reason: DeferReason,
    due_at: Timestamp,
    now: Timestamp,
) -> Result<(), CrmError> {
    let (tenant, item, shard) = match waiting {
        Waiting::Step(e) => {
            let item = Deferred::Step {
                user_id: e.friend.clone(),
                scenario: e.scenario.clone(),
            };
            (&e.tenant, item, e.shard(DUE_SHARDS))
        }
        Waiting::Broadcast(b) => {
            let item = Deferred::Broadcast {
                broadcast: b.id.clone(),
            };
            (&b.tenant, item, b.shard(DUE_SHARDS))
        }
    };
    let note = DeferredNote {
        item,
        reason,
        due_at,
        shard,
        noted_at: now,
    };
    Ok(deps.store.note_deferred(tenant, &note).await?)
}
