//! The tick's side of one claimed step: load what the verdict reads, ask
//! `send_decision::decide`, and write what it says — skip, branch, switch, stop, pause, wait for
//! the window — or hand a step that goes to `delivery`, the path the welcome reply shares.
use jiff::Timestamp;

use super::{
    Cache,
    delivery::{Outcome, Via, defer, deliver},
};
use crate::{
    deps::Deps,
    domain::{
        deferral::DeferReason,
        enrollment::{EnrollmentState, advance},
        send_decision::{DueStep, StopReason, Verdict, decide},
    },
    http::CrmError,
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
    let (Some(tenant), Some(def)) = (cache.tenant(e), cache.scenario(e)) else {
        return stop(deps, claim, StopReason::TenantOrScenarioGone).await;
    };
    let Some(friend) = deps.store.get_friend(&e.tenant, &e.friend).await? else {
        return stop(deps, claim, StopReason::FriendGone).await;
    };
    let due = DueStep {
        enrollment: e,
        friend: &friend,
        scenario: &def,
        tenant: &tenant,
        day_full: false,
    };
    let mut next = e.clone();
    let outcome = match decide(&due, now) {
        Verdict::Send { cap } => {
            return Box::pin(deliver(deps, claim, &due, cap, Via::Push, now)).await;
        }
        Verdict::OutsideWindow { until } => {
            defer(deps, claim, next, DeferReason::Window, until, now).await?;
            return Ok(Outcome::Deferred);
        }
        Verdict::Capped { until } => {
            defer(deps, claim, next, DeferReason::DailyCap, until, now).await?;
            return Ok(Outcome::Capped);
        }
        Verdict::Skip { next: to } | Verdict::Branch { to } => {
            advance(&mut next, &def, to, None, now, &tenant);
            Outcome::Skipped
        }
        Verdict::Stop(reason) => {
            next.end(EnrollmentState::Stopped, reason.to_string());
            Outcome::Ended
        }
        Verdict::Finish => {
            next.end(EnrollmentState::Finished, "all steps done");
            Outcome::Ended
        }
        // Nothing goes to a friend who blocked us; the enrollment waits for a follow-back.
        Verdict::Pause => {
            next.state = EnrollmentState::Paused;
            Outcome::Ended
        }
        Verdict::Switch { scenario } => {
            next.end(
                EnrollmentState::Stopped,
                format!("switched to scenario {scenario}"),
            );
            deps.store.complete_claim(claim, &next, None).await?;
            crate::enrollments::enroll(
                deps,
                &tenant,
                &friend,
                &scenario,
                crate::enrollments::Entry::Trigger,
                now,
            )
            .await?;
            return Ok(Outcome::Ended);
        }
    };
    deps.store.complete_claim(claim, &next, None).await?;
    Ok(outcome)
}

/// Ends an enrollment whose tenant, scenario version or friend is gone.
async fn stop(deps: &Deps, claim: &Claim, reason: StopReason) -> Result<Outcome, CrmError> {
    let mut next = claim.enrollment.clone();
    next.end(EnrollmentState::Stopped, reason.to_string());
    deps.store.complete_claim(claim, &next, None).await?;
    Ok(Outcome::Ended)
}
