//! Enrolling friends into scenarios: by trigger (follow, tag added) or by the marketer.
use jiff::Timestamp;
use tracing::warn;

use crate::{
    deps::Deps,
    domain::{
        Friend, TagName, Tenant,
        enrollment::{Delivery, DeliveryStatus, Enrollment, EnrollmentState, LEASE, advance},
        message::{RenderContext, render},
        scenario::{ScenarioId, StepDecision, Trigger},
        schedule::{local_day, next_opening},
    },
    http::CrmError,
    line::client::LineError,
};

#[derive(Debug, Clone, PartialEq)]
pub enum Enrolled {
    Yes(Box<Enrollment>),
    /// Already in it (or done with it, and the scenario does not allow re-entry).
    AlreadyEnrolled,
    NoSuchScenario,
}

/// Enrolls the friend into the scenario's current version, first step due per its timing.
pub async fn enroll(
    deps: &Deps,
    tenant: &Tenant,
    friend: &Friend,
    scenario: &ScenarioId,
    now: Timestamp,
) -> Result<Enrolled, CrmError> {
    enroll_as(deps, tenant, friend, scenario, now, false).await
}

/// Enrolls for a new occasion (this year's birthday, a new stay in a dormancy tier): a finished
/// earlier pass does not block it, whatever the scenario's `allowReentry` says; an open one does.
pub async fn reenroll(
    deps: &Deps,
    tenant: &Tenant,
    friend: &Friend,
    scenario: &ScenarioId,
    now: Timestamp,
) -> Result<Enrolled, CrmError> {
    enroll_as(deps, tenant, friend, scenario, now, true).await
}

async fn enroll_as(
    deps: &Deps,
    tenant: &Tenant,
    friend: &Friend,
    scenario: &ScenarioId,
    now: Timestamp,
    new_occasion: bool,
) -> Result<Enrolled, CrmError> {
    let Some(stored) = deps.store.scenario(&tenant.id, scenario).await? else {
        return Ok(Enrolled::NoSuchScenario);
    };
    let def = stored.definition()?;
    let mut e = Enrollment {
        tenant: tenant.id.clone(),
        friend: friend.user_id.clone(),
        scenario: scenario.clone(),
        version: stored.version,
        id: uuid::Uuid::new_v4().simple().to_string(),
        step: 0,
        state: EnrollmentState::Active,
        enrolled_at: now,
        next_due_at: None,
        previous_sent_at: None,
        attempts: 0,
        hops: 0,
        ended_reason: None,
    };
    advance(&mut e, &def, 0, None, now, tenant);
    if deps
        .store
        .start_enrollment(&e, def.allow_reentry || new_occasion)
        .await?
    {
        Ok(Enrolled::Yes(Box::new(e)))
    } else {
        Ok(Enrolled::AlreadyEnrolled)
    }
}

/// Enrolls into every scenario whose trigger matches. Returns the scenarios entered.
pub async fn trigger(
    deps: &Deps,
    tenant: &Tenant,
    friend: &Friend,
    matches: impl Fn(&Trigger) -> bool,
    now: Timestamp,
) -> Result<Vec<ScenarioId>, CrmError> {
    let mut entered = Vec::new();
    for stored in deps.store.scenarios(&tenant.id).await? {
        let def = stored.definition()?;
        if !matches(&def.trigger) {
            continue;
        }
        if let Enrolled::Yes(e) = enroll(deps, tenant, friend, &def.id, now).await? {
            entered.push(e.scenario);
        }
    }
    Ok(entered)
}

pub fn on_follow(t: &Trigger) -> bool {
    matches!(t, Trigger::Follow)
}

pub fn on_tag(tag: &TagName) -> impl Fn(&Trigger) -> bool + '_ {
    move |t| matches!(t, Trigger::TagAdded { tag: want } if want == tag)
}

/// A follow-back resumes paused enrollments where they stopped, due now (or at the window's opening).
pub async fn resume(
    deps: &Deps,
    tenant: &Tenant,
    friend: &Friend,
    now: Timestamp,
) -> Result<usize, CrmError> {
    let mut resumed = 0;
    for mut e in deps
        .store
        .friend_enrollments(&tenant.id, &friend.user_id)
        .await?
    {
        if e.state != EnrollmentState::Paused {
            continue;
        }
        let Some(stored) = deps
            .store
            .scenario_version(&tenant.id, &e.scenario, e.version)
            .await?
        else {
            continue;
        };
        let def = stored.definition()?;
        e.state = EnrollmentState::Active;
        let step = e.step;
        advance(&mut e, &def, step, None, now, tenant);
        if deps.store.update_enrollment(&e).await? {
            resumed += 1;
        }
    }
    Ok(resumed)
}

/// Sends the enrollment's first step through the follow event's reply token — free, and at
/// once — when it is due now, its conditions hold, the window is open and the daily cap allows.
/// The enrollment is claimed first, exactly as a tick would, so the tick cannot send it too.
/// Returns whether the reply went out; otherwise the tick pushes the step as usual.
pub async fn welcome_by_reply(
    deps: &Deps,
    tenant: &Tenant,
    friend: &Friend,
    scenario: &ScenarioId,
    reply_token: &str,
    now: Timestamp,
) -> Result<bool, CrmError> {
    let Some(e) = deps
        .store
        .enrollment(&tenant.id, &friend.user_id, scenario)
        .await?
    else {
        return Ok(false);
    };
    let Some(stored) = deps
        .store
        .scenario_version(&tenant.id, scenario, e.version)
        .await?
    else {
        return Ok(false);
    };
    let def = stored.definition()?;
    let zone = tenant.time_zone();
    let window = def.window.unwrap_or(tenant.delivery_window);
    let due_now = e.due().is_some_and(|d| d <= now) && next_opening(&window, now, &zone) == now;
    let Some(step) = def.steps.get(e.step) else {
        return Ok(false);
    };
    if !due_now || def.decide(e.step, friend) != StepDecision::Send {
        return Ok(false);
    }
    let lease_until = now.saturating_add(LEASE).unwrap_or(now);
    let token = uuid::Uuid::new_v4().to_string();
    let Some(claim) = deps.store.claim_due(&e, lease_until, &token).await? else {
        return Ok(false);
    };
    let day = local_day(now, &zone).to_string();
    let cap = tenant.daily_cap.filter(|_| !step.transactional);
    let capped = cap.is_some();
    let expires = now.as_second() + 3 * 86_400;
    let over_cap = match cap {
        Some(cap) => {
            !deps
                .store
                .take_daily_slot(&tenant.id, &friend.user_id, &day, cap, expires)
                .await?
        }
        None => false,
    };
    if over_cap {
        deps.store.complete_claim(&claim, &e, None).await?;
        return Ok(false);
    }
    let mut messages = render(&step.messages, &RenderContext::for_friend(friend));
    // The registration hearing's first question rides on the welcome reply.
    let asked = match &step.survey {
        Some(id) => crate::surveys::first_question(deps, tenant, friend, id).await?,
        None => None,
    };
    if let Some((_, question)) = &asked {
        messages.extend(question.iter().cloned());
    }
    let mut next = e.clone();
    let mut delivery = Delivery {
        retry_key: e.retry_key(&step.id).to_string(),
        scenario: e.scenario.clone(),
        version: e.version,
        step: step.id.to_string(),
        status: DeliveryStatus::Sent,
        at: now,
        line_request_id: None,
        error: None,
        via: Some("reply".into()),
    };
    match deps
        .line
        .reply(&tenant.access_token, reply_token, &messages)
        .await
    {
        Ok(request_id) => delivery.line_request_id = Some(request_id.to_string()),
        // Certainly not sent (expired or used token, rate limit): give it back to the tick.
        Err(LineError::Rejected { .. } | LineError::RateLimited | LineError::Unauthorized) => {
            if capped {
                deps.store
                    .release_daily_slot(&tenant.id, &friend.user_id, &day)
                    .await?;
            }
            deps.store.complete_claim(&claim, &e, None).await?;
            return Ok(false);
        }
        // A reply has no retry key: after a 5xx or a timeout LINE may have sent it. Pushing it
        // again could send it twice, so it is recorded as failed with the reason instead.
        Err(err) => {
            warn!(tenant = %tenant.id, scenario = %e.scenario, error = %err, "welcome reply outcome unknown");
            delivery.status = DeliveryStatus::Failed;
            delivery.error = Some(format!("reply outcome unknown: {err}"));
        }
    }
    advance(&mut next, &def, e.step + 1, Some(now), now, tenant);
    deps.store
        .complete_claim(&claim, &next, Some(&delivery))
        .await?;
    if let (Some((open, _)), DeliveryStatus::Sent) = (asked, delivery.status) {
        crate::surveys::open_question(deps, tenant, &friend.user_id, open).await?;
    }
    Ok(delivery.status == DeliveryStatus::Sent)
}

/// What a migration to the current version did.
#[derive(Debug, Default, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Migration {
    pub version: u32,
    pub migrated: usize,
    /// Being sent right now: left on their version (run the migration again in a minute).
    pub busy: usize,
}

/// Moves every open enrollment of the scenario to its current version, at the step with the
/// same id (or the same position when the step is gone), rescheduled by the new timing.
pub async fn migrate(
    deps: &Deps,
    tenant: &Tenant,
    scenario: &ScenarioId,
    now: Timestamp,
) -> Result<Option<Migration>, CrmError> {
    let Some(current) = deps.store.scenario(&tenant.id, scenario).await? else {
        return Ok(None);
    };
    let def = current.definition()?;
    let mut report = Migration {
        version: current.version,
        ..Migration::default()
    };
    let mut old_defs = std::collections::HashMap::new();
    for mut e in deps
        .store
        .scenario_enrollments(&tenant.id, scenario)
        .await?
    {
        if !e.is_open() || e.version == current.version {
            continue;
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = old_defs.entry(e.version) {
            let old = deps
                .store
                .scenario_version(&tenant.id, scenario, e.version)
                .await?;
            slot.insert(old.map(|o| o.definition()).transpose()?);
        }
        let old_step = old_defs
            .get(&e.version)
            .cloned()
            .flatten()
            .and_then(|d| d.steps.get(e.step).map(|s| s.id.clone()));
        let index = old_step
            .and_then(|id| def.step_index(&id))
            .unwrap_or(e.step);
        e.version = current.version;
        if e.state == EnrollmentState::Active {
            advance(&mut e, &def, index, None, now, tenant);
        } else {
            e.step = index;
        }
        if deps.store.update_enrollment(&e).await? {
            report.migrated += 1;
        } else {
            report.busy += 1;
        }
    }
    Ok(Some(report))
}
