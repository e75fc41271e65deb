//! Enrolling friends into scenarios: by trigger (follow, tag added) or by the marketer.
use jiff::Timestamp;

use crate::{
    deps::Deps,
    domain::{
        Friend, TagName, Tenant,
        enrollment::{Enrollment, EnrollmentState},
        scenario::{ScenarioId, Trigger},
    },
    http::CrmError,
    scheduled_sends::advance,
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
    if deps.store.start_enrollment(&e, def.allow_reentry).await? {
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
