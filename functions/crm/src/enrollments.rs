//! Enrolling friends into scenarios: by trigger (follow, tag added) or by the marketer.
use jiff::Timestamp;

use crate::{
    deps::Deps,
    domain::{
        Friend, TagName, Tenant,
        enrollment::{Enrollment, EnrollmentState, LEASE, advance},
        scenario::{ScenarioDefinition, ScenarioId, Trigger},
        send_decision::{DueStep, Verdict, decide},
    },
    http::CrmError,
    scheduled_sends::delivery::{Outcome, Via, deliver},
};

#[derive(Debug, Clone, PartialEq)]
pub enum Enrolled {
    Yes(Box<Enrollment>),
    /// Already in it (or done with it, and the scenario does not allow re-entry).
    AlreadyEnrolled,
    NoSuchScenario,
}

/// Why a friend enters a scenario, which decides whether an earlier pass blocks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A trigger, a branch or the marketer: the scenario's `allowReentry` decides.
    Trigger,
    /// A new occasion (this year's birthday, a new stay in a dormancy tier): a finished earlier
    /// pass does not block it, whatever `allowReentry` says; an open one does.
    NewOccasion,
}

/// Enrolls the friend into the scenario's current version, first step due per its timing.
pub async fn enroll(
    deps: &Deps,
    tenant: &Tenant,
    friend: &Friend,
    scenario: &ScenarioId,
    entry: Entry,
    now: Timestamp,
) -> Result<Enrolled, CrmError> {
    let Some(stored) = deps.store.scenario(&tenant.id, scenario).await? else {
        return Ok(Enrolled::NoSuchScenario);
    };
    let def = stored.definition()?;
    let mut e = Enrollment::new(
        tenant.id.clone(),
        friend.user_id.clone(),
        scenario.clone(),
        stored.version,
        uuid::Uuid::new_v4().simple().to_string(),
        now,
    );
    advance(&mut e, &def, 0, None, now, tenant);
    if deps
        .store
        .start_enrollment(&e, def.allow_reentry || entry == Entry::NewOccasion)
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
        if let Enrolled::Yes(e) = enroll(deps, tenant, friend, &def.id, Entry::Trigger, now).await?
        {
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

/// The scenario version the enrollment follows (None when that version is gone).
pub(crate) async fn followed_version(
    deps: &Deps,
    e: &Enrollment,
) -> Result<Option<ScenarioDefinition>, CrmError> {
    let stored = deps
        .store
        .scenario_version(&e.tenant, &e.scenario, e.version)
        .await?;
    Ok(stored.map(|s| s.definition()).transpose()?)
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
        let Some(def) = followed_version(deps, &e).await? else {
            continue;
        };
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
/// once — when it is due now and `decide` says it goes (its conditions hold, no stop rule, the
/// window is open). The enrollment is claimed first, exactly as a tick would, so the tick cannot
/// send it too, and then goes the tick's own way (`delivery::deliver`) with the reply in place of
/// the push. Returns whether the reply went out; otherwise the tick pushes the step as usual.
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
        .filter(|e| e.due().is_some_and(|d| d <= now))
    else {
        return Ok(false);
    };
    let Some(def) = followed_version(deps, &e).await? else {
        return Ok(false);
    };
    let due = DueStep {
        enrollment: &e,
        friend,
        scenario: &def,
        tenant,
        day_full: false,
    };
    // Anything but a send (a skip, a stop rule, a closed window) is the tick's to write.
    let Verdict::Send { cap } = decide(&due, now) else {
        return Ok(false);
    };
    let lease_until = now.saturating_add(LEASE).unwrap_or(now);
    let token = uuid::Uuid::new_v4().to_string();
    let Some(claim) = deps.store.claim_due(&e, lease_until, &token).await? else {
        return Ok(false);
    };
    let due = DueStep {
        enrollment: &claim.enrollment,
        ..due
    };
    // Boxed: the send path's future is large, and this runs deep inside the webhook's.
    let outcome = Box::pin(deliver(
        deps,
        &claim,
        &due,
        cap,
        Via::Reply(reply_token),
        now,
    ))
    .await?;
    Ok(outcome == Outcome::Sent)
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
            slot.insert(followed_version(deps, &e).await?);
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
