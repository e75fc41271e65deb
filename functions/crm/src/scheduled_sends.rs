//! The scheduled-sends function, ticked every minute by EventBridge Scheduler: claims due
//! enrollment steps from the sharded due-index, decides at send time (blocked? stop rule?
//! conditions? inside the delivery window?), pushes through LINE with the step's deterministic
//! retry key and records the delivery with the enrollment's next step in one transaction.
use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

use crate::{
    deps::Deps,
    domain::{
        Friend, Tenant,
        enrollment::{Delivery, DeliveryStatus, Enrollment, EnrollmentState},
        message::{RenderContext, render},
        scenario::{ScenarioDefinition, StepDecision, retry_key},
        schedule::{due_at, next_opening},
    },
    http::CrmError,
    line::client::{LineError, SendOutcome},
    store::{Claim, DUE_SHARDS, StoreError},
};

/// Longer than any one send; a claim still held after this is taken to be from a dead tick.
pub const LEASE: SignedDuration = SignedDuration::from_mins(5);
/// At most this many enrollments per shard per tick; the rest wait for the next minute.
const BATCH_PER_SHARD: usize = 500;
/// LINE sends no Retry-After: back off a minute per attempt, up to an hour.
fn backoff(attempts: u32) -> SignedDuration {
    SignedDuration::from_mins(i64::from(attempts.clamp(1, 60)))
}
/// The monthly quota is gone: try again in a few hours (the operator is alerted by the log).
const QUOTA_RETRY: SignedDuration = SignedDuration::from_hours(6);

/// What one tick did, returned to the caller (Lambda's result, the local stack, tests).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TickReport {
    pub claimed: usize,
    pub sent: usize,
    pub skipped: usize,
    pub deferred: usize,
    pub failed: usize,
    pub ended: usize,
    /// Claims that were taken over by another tick meanwhile (their outcome was not written).
    pub lost: usize,
}

/// The Lambda entry: the Scheduler's event carries nothing we need but its arrival.
pub async fn handle(deps: &Deps, _event: Value) -> Result<TickReport, CrmError> {
    tick(deps, deps.clock.now()).await
}

pub async fn tick(deps: &Deps, now: Timestamp) -> Result<TickReport, CrmError> {
    let mut report = TickReport::default();
    let mut cache = Cache::default();
    for shard in 0..DUE_SHARDS {
        for (observed, due) in deps
            .store
            .due_enrollments(shard, now, BATCH_PER_SHARD)
            .await?
        {
            let token = uuid::Uuid::new_v4().to_string();
            let lease_until = now.saturating_add(LEASE).unwrap_or(now);
            let Some(claim) = deps
                .store
                .claim(&due, &observed, lease_until, &token)
                .await?
            else {
                continue; // another tick took it
            };
            report.claimed += 1;
            match process(deps, &mut cache, &claim, now).await {
                Ok(outcome) => outcome.count(&mut report),
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
    }
    if report.claimed > 0 {
        info!(
            claimed = report.claimed,
            sent = report.sent,
            deferred = report.deferred,
            ended = report.ended,
            failed = report.failed,
            "scheduled sends tick"
        );
    }
    Ok(report)
}

#[derive(Default)]
struct Cache {
    tenants: HashMap<String, Option<Tenant>>,
    scenarios: HashMap<(String, String, u32), Option<ScenarioDefinition>>,
}

impl Cache {
    async fn tenant(&mut self, deps: &Deps, e: &Enrollment) -> Result<Option<Tenant>, CrmError> {
        let key = e.tenant.to_string();
        if !self.tenants.contains_key(&key) {
            let t = deps.store.get_tenant(&e.tenant).await?;
            self.tenants.insert(key.clone(), t);
        }
        Ok(self.tenants.get(&key).cloned().flatten())
    }

    async fn scenario(
        &mut self,
        deps: &Deps,
        e: &Enrollment,
    ) -> Result<Option<ScenarioDefinition>, CrmError> {
        let key = (e.tenant.to_string(), e.scenario.to_string(), e.version);
        if !self.scenarios.contains_key(&key) {
            let stored = deps
                .store
                .scenario_version(&e.tenant, &e.scenario, e.version)
                .await?;
            let def = stored.map(|s| s.definition()).transpose()?;
            self.scenarios.insert(key.clone(), def);
        }
        Ok(self.scenarios.get(&key).cloned().flatten())
    }
}

enum Outcome {
    Sent,
    Skipped,
    Deferred,
    Failed,
    Ended,
}

impl Outcome {
    fn count(self, r: &mut TickReport) {
        match self {
            Outcome::Sent => r.sent += 1,
            Outcome::Skipped => r.skipped += 1,
            Outcome::Deferred => r.deferred += 1,
            Outcome::Failed => r.failed += 1,
            Outcome::Ended => r.ended += 1,
        }
    }
}

async fn process(
    deps: &Deps,
    cache: &mut Cache,
    claim: &Claim,
    now: Timestamp,
) -> Result<Outcome, CrmError> {
    let e = &claim.enrollment;
    let mut next = e.clone();
    let end = |next: &mut Enrollment, state, reason: &str| {
        next.end(state, reason);
    };
    let (Some(tenant), Some(def)) = (cache.tenant(deps, e).await?, cache.scenario(deps, e).await?)
    else {
        end(
            &mut next,
            EnrollmentState::Stopped,
            "tenant or scenario version no longer exists",
        );
        deps.store.complete_claim(claim, &next, None).await?;
        return Ok(Outcome::Ended);
    };
    let Some(friend) = deps.store.get_friend(&e.tenant, &e.friend).await? else {
        end(&mut next, EnrollmentState::Stopped, "friend not found");
        deps.store.complete_claim(claim, &next, None).await?;
        return Ok(Outcome::Ended);
    };
    if friend.blocked {
        // Nothing goes to a friend who blocked us; the enrollment waits for a follow-back.
        if def.stops_on_unfollow() {
            end(
                &mut next,
                EnrollmentState::Stopped,
                "friend blocked the account",
            );
        } else {
            next.state = EnrollmentState::Paused;
        }
        deps.store.complete_claim(claim, &next, None).await?;
        return Ok(Outcome::Ended);
    }
    if let Some(tag) = friend.tags.keys().find(|t| def.stops_on_tag(t)) {
        end(
            &mut next,
            EnrollmentState::Stopped,
            &format!("stop rule: tag {tag}"),
        );
        deps.store.complete_claim(claim, &next, None).await?;
        return Ok(Outcome::Ended);
    }
    if e.step >= def.steps.len() {
        end(&mut next, EnrollmentState::Finished, "all steps done");
        deps.store.complete_claim(claim, &next, None).await?;
        return Ok(Outcome::Ended);
    }
    let zone = tenant.time_zone();
    let window = def.window.unwrap_or(tenant.delivery_window);
    match def.decide(e.step, &friend) {
        StepDecision::Send => {}
        StepDecision::Skip => {
            advance(&mut next, &def, e.step + 1, None, now, &tenant);
            deps.store.complete_claim(claim, &next, None).await?;
            return Ok(Outcome::Skipped);
        }
        StepDecision::Goto(i) => {
            advance(&mut next, &def, i, None, now, &tenant);
            deps.store.complete_claim(claim, &next, None).await?;
            return Ok(Outcome::Skipped);
        }
        StepDecision::Stop => {
            end(
                &mut next,
                EnrollmentState::Stopped,
                "step conditions not met",
            );
            deps.store.complete_claim(claim, &next, None).await?;
            return Ok(Outcome::Ended);
        }
        StepDecision::Switch(other) => {
            end(
                &mut next,
                EnrollmentState::Stopped,
                &format!("switched to scenario {other}"),
            );
            deps.store.complete_claim(claim, &next, None).await?;
            crate::enrollments::enroll(deps, &tenant, &friend, &other, now).await?;
            return Ok(Outcome::Ended);
        }
    }
    // Sends that fall outside the window move to its next opening; they are never dropped.
    let opening = next_opening(&window, now, &zone);
    if opening > now {
        next.next_due_at = Some(opening);
        deps.store.complete_claim(claim, &next, None).await?;
        return Ok(Outcome::Deferred);
    }
    send_step(deps, claim, &tenant, &def, &friend, now).await
}

async fn send_step(
    deps: &Deps,
    claim: &Claim,
    tenant: &Tenant,
    def: &ScenarioDefinition,
    friend: &Friend,
    now: Timestamp,
) -> Result<Outcome, CrmError> {
    let e = &claim.enrollment;
    let step = &def.steps[e.step];
    let key = retry_key(
        &e.tenant,
        &e.friend,
        &e.scenario,
        e.version,
        &step.id,
        &e.id,
    );
    let messages = render(&step.messages, &RenderContext::for_friend(friend));
    let mut next = e.clone();
    let delivery = |status, request_id: Option<String>, error: Option<String>| Delivery {
        retry_key: key.to_string(),
        scenario: e.scenario.clone(),
        version: e.version,
        step: step.id.to_string(),
        status,
        at: now,
        line_request_id: request_id,
        error,
    };
    let result = deps
        .line
        .push(&tenant.access_token, e.friend.as_str(), &messages, key)
        .await;
    match result {
        // 409 means LINE accepted this retry key before (a crashed earlier attempt): delivered.
        Ok(SendOutcome::Accepted { request_id })
        | Ok(SendOutcome::AlreadyAccepted {
            accepted_request_id: request_id,
        }) => {
            advance(&mut next, def, e.step + 1, Some(now), now, tenant);
            let d = delivery(DeliveryStatus::Sent, Some(request_id.to_string()), None);
            deps.store.complete_claim(claim, &next, Some(&d)).await?;
            Ok(Outcome::Sent)
        }
        Err(
            err @ (LineError::RateLimited
            | LineError::Server { .. }
            | LineError::Transport(_)
            | LineError::Unauthorized),
        ) => {
            next.attempts += 1;
            next.next_due_at = Some(now.saturating_add(backoff(next.attempts)).unwrap_or(now));
            warn!(tenant = %e.tenant, scenario = %e.scenario, attempts = next.attempts, error = %err, "send deferred");
            deps.store.complete_claim(claim, &next, None).await?;
            Ok(Outcome::Deferred)
        }
        Err(LineError::MonthlyQuotaExhausted) => {
            next.next_due_at = Some(now.saturating_add(QUOTA_RETRY).unwrap_or(now));
            warn!(tenant = %e.tenant, alert = "monthly_quota_exhausted", "LINE monthly quota exhausted; sends deferred");
            deps.store.complete_claim(claim, &next, None).await?;
            Ok(Outcome::Deferred)
        }
        Err(LineError::Rejected {
            status,
            message,
            request_id,
            ..
        }) => {
            // LINE refuses this request as it is: record why and go on with the scenario.
            advance(&mut next, def, e.step + 1, None, now, tenant);
            let d = delivery(
                DeliveryStatus::Failed,
                Some(request_id.to_string()),
                Some(format!("{status} {message}")),
            );
            deps.store.complete_claim(claim, &next, Some(&d)).await?;
            Ok(Outcome::Failed)
        }
    }
}

/// Moves the enrollment to step `index` (or finishes it), due per that step's timing and the window.
pub(crate) fn advance(
    next: &mut Enrollment,
    def: &ScenarioDefinition,
    index: usize,
    sent_at: Option<Timestamp>,
    now: Timestamp,
    tenant: &Tenant,
) {
    next.attempts = 0;
    if sent_at.is_some() {
        next.previous_sent_at = sent_at;
    }
    let Some(step) = def.steps.get(index) else {
        next.step = index;
        next.end(EnrollmentState::Finished, "all steps done");
        return;
    };
    next.step = index;
    let zone = tenant.time_zone();
    let due = due_at(&step.timing, next.enrolled_at, next.previous_sent_at, &zone).max(now);
    let window = def.window.unwrap_or(tenant.delivery_window);
    next.next_due_at = Some(next_opening(&window, due, &zone));
}
