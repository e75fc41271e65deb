//! The scheduled-sends function, ticked every minute by EventBridge Scheduler. It claims what is
//! due in the sharded due-index — scenario steps and broadcasts — and sends it through LINE.
//!
//! A claim is one conditional update that moves the index entry to the end of a lease: two
//! overlapping ticks never both hold an item, and a tick that dies leaves its items to come due
//! again when the lease ends. Retries reuse the same `X-Line-Retry-Key`, and LINE's 409 for a key
//! it already accepted counts as delivered, so nothing is sent twice or silently dropped.
mod broadcasts;
pub(crate) mod delivery;
mod quota;
mod steps;

use std::{collections::HashMap, time::Instant};

use futures::{
    StreamExt,
    stream::{FuturesOrdered, FuturesUnordered},
};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

use delivery::Outcome;
pub use quota::{QuotaCheck, check_and_release};

use crate::{
    deps::Deps,
    domain::{Tenant, TenantId, enrollment::Enrollment, scenario::ScenarioDefinition},
    http::CrmError,
    store::{BroadcastClaim, Claim, DUE_SHARDS, Due, StoreError},
};

pub use crate::domain::enrollment::LEASE;
/// At most this many due items per shard per tick; the rest wait for the next minute.
const BATCH_PER_SHARD: usize = 1000;
/// Steps in flight at once. LINE allows 2,000 pushes/s per channel; the client's limiter keeps
/// each channel under that, this keeps DynamoDB and the Lambda's sockets busy but bounded.
const CONCURRENCY: usize = 64;
/// No new round of step sends starts after this, so the broadcasts' own budget (40 s) still
/// ends inside the function's 60 s timeout.
const STEP_BUDGET: std::time::Duration = std::time::Duration::from_secs(15);

/// LINE sends no Retry-After: back off a minute per attempt, up to an hour.
fn backoff(attempts: u32) -> SignedDuration {
    SignedDuration::from_mins(i64::from(attempts.clamp(1, 60)))
}

/// What one tick did, returned to the caller (Lambda's result, the local stack, tests).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TickReport {
    pub claimed: usize,
    pub sent: usize,
    pub skipped: usize,
    pub deferred: usize,
    /// Held back by the per-friend daily cap until tomorrow's window.
    pub capped: usize,
    pub failed: usize,
    pub ended: usize,
    /// Claims taken over by another tick meanwhile (their outcome was not written).
    pub lost: usize,
    /// Broadcast chunks LINE accepted in this tick.
    pub broadcast_chunks: usize,
    /// Tenants out of monthly quota whose quota was looked at, and the sends that this made
    /// due again (LINE had room: a new month, or a bigger plan).
    pub quota_checks: usize,
    pub quota_released: usize,
    /// Staff digest deliveries made (per recipient) now that the window is open.
    pub digests_sent: usize,
}

impl TickReport {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Sent => self.sent += 1,
            Outcome::Skipped => self.skipped += 1,
            // Only the welcome reply hands a step back; for the tick it is one more wait.
            Outcome::Deferred | Outcome::HandedBack => self.deferred += 1,
            Outcome::Capped => self.capped += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Ended => self.ended += 1,
        }
    }
}

/// The Lambda entry: the Scheduler's event carries nothing we need but its arrival.
pub async fn handle(deps: &Deps, _event: Value) -> Result<TickReport, CrmError> {
    tick(deps, deps.clock.now()).await
}

pub async fn tick(deps: &Deps, now: Timestamp) -> Result<TickReport, CrmError> {
    let started = Instant::now();
    let mut report = TickReport::default();
    let lease_until = now.saturating_add(LEASE).unwrap_or(now);
    // Before reading the due-index: sends released here go in this very tick.
    // Boxed, like the digests below: inlined, the tick's future type grew too deep for the
    // compiler's layout query in the Lambda binary ("queries overflow the depth limit").
    Box::pin(quota::recover(deps, now, &mut report)).await?;
    let mut broadcasts = Vec::new();
    // A due queue longer than one batch per shard is worked off in rounds within this tick rather
    // than a batch a minute: 10,000 steps due at 10:00 otherwise went out until 10:02 (issue 4).
    while step_round(deps, now, lease_until, &mut report, &mut broadcasts).await?
        && started.elapsed() < STEP_BUDGET
    {}
    // Staff digests composed at the 04:00 sweep wait for the window; this is when they go.
    match Box::pin(crate::dormancy_sweep::send_due_digests(deps, now)).await {
        Ok((sent, _)) => report.digests_sent += sent,
        Err(e) => warn!(error = %e, "staff digests not sent; retried next tick"),
    }
    for claim in broadcasts {
        match broadcasts::run(deps, claim, now).await {
            Ok(chunks) => report.broadcast_chunks += chunks,
            Err(CrmError::Store(StoreError::Conflict)) => report.lost += 1,
            Err(e) => {
                warn!(error = %e, "broadcast step failed; continued after the lease");
                report.failed += 1;
            }
        }
    }
    if report.claimed > 0 {
        let TickReport {
            claimed,
            sent,
            skipped,
            deferred,
            capped,
            failed,
            ended,
            lost,
            broadcast_chunks: chunks,
            ..
        } = report;
        info!(
            claimed,
            sent, skipped, deferred, capped, failed, ended, lost, chunks, "scheduled sends tick"
        );
    }
    Ok(report)
}

/// Claims one batch per shard and sends its steps; the broadcasts claimed are kept for later.
/// True when a shard had a full batch due, so more may be waiting.
async fn step_round(
    deps: &Deps,
    now: Timestamp,
    lease_until: Timestamp,
    report: &mut TickReport,
    broadcasts: &mut Vec<BroadcastClaim>,
) -> Result<bool, CrmError> {
    let mut due = Vec::new();
    let mut more = false;
    for shard in 0..DUE_SHARDS {
        let batch = deps.store.due_items(shard, now, BATCH_PER_SHARD).await?;
        more |= batch.len() == BATCH_PER_SHARD;
        due.extend(batch);
    }
    // Claims are independent conditional updates: taken one by one they were most of a tick's
    // time (issue 4's benchmark), so they go CONCURRENCY at a time, still in due order.
    let mut claims = Vec::new();
    let mut claiming = FuturesOrdered::new();
    let mut waiting = due.into_iter();
    loop {
        while claiming.len() < CONCURRENCY {
            match waiting.next() {
                Some(due) => claiming.push_back(claim_one(deps, due, lease_until)),
                None => break,
            }
        }
        match claiming.next().await {
            Some(Ok(Some(Claimed::Step(c)))) => claims.push(*c),
            Some(Ok(Some(Claimed::Broadcast(c)))) => {
                report.claimed += 1;
                broadcasts.push(*c);
            }
            // Another tick was faster.
            Some(Ok(None)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => break,
        }
    }
    report.claimed += claims.len();

    let cache = Cache::load(deps, claims.iter().map(|c| &c.enrollment)).await?;
    // A bounded number of sends in flight; an explicit loop keeps the future `Send` for Lambda.
    let mut in_flight = FuturesUnordered::new();
    let mut waiting = claims.iter();
    loop {
        while in_flight.len() < CONCURRENCY {
            match waiting.next() {
                Some(claim) => in_flight.push(process_one(deps, &cache, claim, now)),
                None => break,
            }
        }
        match in_flight.next().await {
            Some((claim, outcome)) => settle(report, claim, outcome),
            None => break,
        }
    }
    Ok(more)
}

enum Claimed {
    Step(Box<Claim>),
    Broadcast(Box<BroadcastClaim>),
}

impl Claimed {
    fn step(c: Claim) -> Self {
        Claimed::Step(Box::new(c))
    }

    fn broadcast(c: BroadcastClaim) -> Self {
        Claimed::Broadcast(Box::new(c))
    }
}

async fn claim_one(
    deps: &Deps,
    due: Due,
    lease_until: Timestamp,
) -> Result<Option<Claimed>, StoreError> {
    let token = uuid::Uuid::new_v4().to_string();
    let store = &deps.store;
    Ok(match due {
        Due::Enrollment {
            observed,
            enrollment: e,
        } => {
            let claim = store.claim(&e, &observed, lease_until, &token).await?;
            claim.map(Claimed::step)
        }
        Due::Broadcast {
            observed,
            broadcast: b,
        } => {
            let claim = store
                .claim_broadcast(&b, &observed, lease_until, &token)
                .await?;
            claim.map(Claimed::broadcast)
        }
    })
}

async fn process_one<'a>(
    deps: &Deps,
    cache: &Cache,
    claim: &'a Claim,
    now: Timestamp,
) -> (&'a Claim, Result<Outcome, CrmError>) {
    (claim, steps::process(deps, cache, claim, now).await)
}

fn settle(report: &mut TickReport, claim: &Claim, outcome: Result<Outcome, CrmError>) {
    match outcome {
        Ok(o) => report.count(o),
        // The lease ran out and another tick owns it now; its outcome wins.
        Err(CrmError::Store(StoreError::Conflict)) => report.lost += 1,
        Err(e) => {
            // Left claimed: it comes due again when the lease ends, with the same retry key.
            warn!(tenant = %claim.enrollment.tenant, scenario = %claim.enrollment.scenario, error = %e,
                "step failed; retried after the lease");
            report.failed += 1;
        }
    }
}

/// Tenants and scenario versions of one tick, read once before the sends fan out.
#[derive(Default)]
pub(crate) struct Cache {
    tenants: HashMap<TenantId, Option<Tenant>>,
    scenarios: HashMap<(TenantId, String, u32), Option<ScenarioDefinition>>,
}

impl Cache {
    async fn load<'a>(
        deps: &Deps,
        enrollments: impl Iterator<Item = &'a Enrollment>,
    ) -> Result<Self, CrmError> {
        let mut cache = Cache::default();
        for e in enrollments {
            if !cache.tenants.contains_key(&e.tenant) {
                cache
                    .tenants
                    .insert(e.tenant.clone(), deps.store.get_tenant(&e.tenant).await?);
            }
            let key = (e.tenant.clone(), e.scenario.to_string(), e.version);
            if let std::collections::hash_map::Entry::Vacant(slot) = cache.scenarios.entry(key) {
                slot.insert(crate::enrollments::followed_version(deps, e).await?);
            }
        }
        Ok(cache)
    }

    fn tenant(&self, e: &Enrollment) -> Option<Tenant> {
        self.tenants.get(&e.tenant).cloned().flatten()
    }

    fn scenario(&self, e: &Enrollment) -> Option<ScenarioDefinition> {
        self.scenarios
            .get(&(e.tenant.clone(), e.scenario.to_string(), e.version))
            .cloned()
            .flatten()
    }
}
