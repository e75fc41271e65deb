//! One scenario step of one enrollment: decide at send time (blocked? stop rule? conditions?
//! inside the delivery window? under the daily cap?), push with the step's retry key, and write
//! the delivery with the enrollment's next step in one transaction guarded by the claim.
use jiff::Timestamp;
use tracing::warn;

use super::{Cache, Outcome, backoff, daily_cap_day, next_day_opening, quota};
use crate::{
    deps::Deps,
    domain::{
        Friend, Tenant,
        deferral::DeferReason,
        enrollment::{Delivery, DeliveryStatus, Enrollment, EnrollmentState, advance},
        message::{RenderContext, mentions_last_purchase, render},
        scenario::{ScenarioDefinition, StepDecision},
        schedule::next_opening,
    },
    http::CrmError,
    line::client::{LineError, SendOutcome},
    store::Claim,
};

/// Decides and, when due, sends the claimed enrollment's current step.
pub(super) async fn process(
    deps: &Deps,
    cache: &Cache,
    claim: &Claim,
    now: Timestamp,
) -> Result<Outcome, CrmError> {
    let e = &claim.enrollment;
    let mut next = e.clone();
    let end = |next: &mut Enrollment, state, reason: &str| {
        next.end(state, reason);
    };
    let (Some(tenant), Some(def)) = (cache.tenant(e), cache.scenario(e)) else {
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
    // A purchase after the friend entered ends a `stopRules: purchase` scenario even when the
    // purchase-time stop found this enrollment claimed by a tick.
    if def.stops_on_purchase() && friend.last_purchase_at.is_some_and(|p| p >= e.enrolled_at) {
        end(&mut next, EnrollmentState::Stopped, "stop rule: purchase");
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
        quota::note_step(deps, e, DeferReason::Window, opening, now).await?;
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
    if let Some(marked) = quota::must_wait(deps, tenant, now).await? {
        // LINE would answer 429 again: wait with the others for the quota to come back.
        let mut next = e.clone();
        let due = quota::resumes_at(&marked, now);
        next.next_due_at = Some(due);
        quota::note_step(deps, e, DeferReason::Quota, due, now).await?;
        deps.store.complete_claim(claim, &next, None).await?;
        return Ok(Outcome::Deferred);
    }
    let step = &def.steps[e.step];
    let key = e.retry_key(&step.id);
    let cap_day = daily_cap_day(tenant, now);
    if let (Some(cap), false) = (tenant.daily_cap, step.transactional) {
        let expires = now.as_second() + 3 * 86_400;
        if !deps
            .store
            .take_daily_slot(&e.tenant, &e.friend, &cap_day, cap, expires)
            .await?
        {
            // Over today's cap: the step waits for tomorrow's window, it is not dropped.
            let mut next = e.clone();
            let due = next_day_opening(tenant, def, now);
            next.next_due_at = Some(due);
            quota::note_step(deps, e, DeferReason::DailyCap, due, now).await?;
            deps.store.complete_claim(claim, &next, None).await?;
            return Ok(Outcome::Capped);
        }
    }
    let mut ctx = RenderContext::for_friend(friend);
    if mentions_last_purchase(&step.messages) {
        let purchases = deps.store.friend_purchases(&e.tenant, &e.friend).await?;
        ctx = ctx.with_last_purchase(&purchases, &tenant.time_zone());
    }
    let mut messages = render(&step.messages, &ctx);
    // A step that asks a survey sends its first question in the same push.
    let asked = match &step.survey {
        Some(id) => crate::surveys::first_question(deps, tenant, friend, id).await?,
        None => None,
    };
    if let Some((_, question)) = &asked {
        messages.extend(question.iter().cloned());
    }
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
        via: None,
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
            if tenant.quota_exhausted_at.is_some() {
                deps.store.set_quota_exhausted(&tenant.id, None).await?;
            }
            deps.store.complete_claim(claim, &next, Some(&d)).await?;
            if let Some((open, _)) = asked {
                crate::surveys::open_question(deps, tenant, &e.friend, open).await?;
            }
            Ok(Outcome::Sent)
        }
        Err(
            err @ (LineError::RateLimited
            | LineError::Server { .. }
            | LineError::Transport(_)
            | LineError::Unauthorized),
        ) => {
            next.attempts += 1;
            let due = now.saturating_add(backoff(next.attempts)).unwrap_or(now);
            next.next_due_at = Some(due);
            release_slot(deps, tenant, step.transactional, e, &cap_day).await?;
            quota::note_step(deps, e, DeferReason::Retry, due, now).await?;
            warn!(tenant = %e.tenant, scenario = %e.scenario, attempts = next.attempts, error = %err, "send deferred");
            deps.store.complete_claim(claim, &next, None).await?;
            Ok(Outcome::Deferred)
        }
        Err(LineError::MonthlyQuotaExhausted) => {
            // Until the month rolls over at the latest; the tick's quota look brings it back
            // sooner if the shop raises its plan.
            let due = quota::resumes_at(tenant, now);
            next.next_due_at = Some(due);
            release_slot(deps, tenant, step.transactional, e, &cap_day).await?;
            quota::note_step(deps, e, DeferReason::Quota, due, now).await?;
            if !quota::exhausted(tenant, now) {
                deps.store
                    .set_quota_exhausted(&tenant.id, Some(now))
                    .await?;
            }
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

async fn release_slot(
    deps: &Deps,
    tenant: &Tenant,
    transactional: bool,
    e: &Enrollment,
    day: &str,
) -> Result<(), CrmError> {
    if tenant.daily_cap.is_some() && !transactional {
        deps.store
            .release_daily_slot(&e.tenant, &e.friend, day)
            .await?;
    }
    Ok(())
}
