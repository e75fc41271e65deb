//! The survey-tagging function, target of the bus rule for the events in
//! [`crate::bus::SURVEY_TAGGING_EVENTS`]: applies an answer's tags, fields and score (and the
//! tenant's answer tag rules) to the friend, moves the friend between scenarios, starts or stops
//! scenarios on a purchase, starts the scenarios a new tag triggers (whatever added the tag: a
//! rule, an answer, a purchase, a click, the admin API, the dormancy sweep), and enters a new
//! friend into the follow-triggered scenarios.
//!
//! EventBridge delivers at least once. The friend's change commits in one transaction with a
//! marker keyed by the answer, order, follow or event id, so a second delivery changes nothing;
//! the scenario moves that follow ride on that marker until done, so a crash between the two is
//! finished by the retry (enrolling is itself conditional, so finishing twice enrolls once).
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::info;

use crate::{
    bus::{Answered, DomainEvent, Event, Purchased, Tagged},
    deps::Deps,
    domain::{
        LineUserId, TagName, Tenant,
        enrollment::EnrollmentState,
        scenario::{ScenarioId, Trigger},
        survey::{Answer, ChoiceId, QuestionId, QuestionKind, SurveyId},
        tag_rule::{Occurrence, apply_rules},
    },
    enrollments::{Enrolled, Entry, enroll, on_follow, on_tag, resume, trigger, welcome_by_reply},
    http::CrmError,
    store::{Applied, StoreError, keys::AppliedEvent, retry_on_conflict},
};

/// The scenario moves an event causes, done after the friend's change committed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FollowUps {
    #[serde(default)]
    stop: Vec<ScenarioId>,
    #[serde(default)]
    enroll: Vec<ScenarioId>,
    #[serde(default)]
    tags_added: Vec<TagName>,
    /// Scenarios triggered by this answer: (survey, question, chosen choice ids).
    #[serde(default)]
    answered: Option<(String, String, Vec<String>)>,
    /// A purchase: stop `stopRules: purchase` enrollments begun before it, start purchase triggers.
    #[serde(default)]
    purchase: Option<PurchaseFollowUp>,
    /// A follow: `Some(false)` enters the follow-triggered scenarios, `Some(true)` (a friend
    /// who unblocked us) resumes the enrollments blocking paused.
    #[serde(default)]
    followed: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PurchaseFollowUp {
    purchased_at: Timestamp,
    products: Vec<String>,
}

fn ignored(reason: &str) -> Value {
    info!(reason, "bus event ignored");
    json!({ "status": "ignored", "reason": reason })
}

/// The Lambda entry: one EventBridge event (`detail-type`, `detail`), typed once here.
pub async fn handle(deps: &Deps, envelope: Value) -> Result<Value, CrmError> {
    let wire = DomainEvent {
        detail_type: envelope
            .get("detail-type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        detail: envelope.get("detail").cloned().unwrap_or(Value::Null),
    };
    let event = match Event::from_wire(&wire) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(detail_type = %e.detail_type, reason = %e.reason, "bus event not understood");
            return Ok(ignored("not an event this function understands"));
        }
    };
    let Some(tenant) = deps.store.get_tenant(&event.about().tenant).await? else {
        return Ok(ignored("unknown tenant"));
    };
    match event {
        Event::SurveyAnswered(e) => on_answer(deps, &tenant, &e).await,
        Event::PurchaseRecorded(e) => on_purchase(deps, &tenant, &e).await,
        Event::FriendTagged(e) => on_tagged(deps, &tenant, &e).await,
        Event::FriendFollowed(e) => {
            followed(
                deps,
                &tenant,
                &e.about.friend,
                e.refollow,
                &e.webhook_event_id,
                None,
            )
            .await
        }
        Event::FriendUnfollowed(_) | Event::MessageReceived(_) | Event::PostbackReceived(_) => {
            Ok(ignored("not an event this function handles"))
        }
    }
}

/// A follow (or a refollow): the webhook calls this at once, so the first welcome step can go
/// by the free `reply_token`; the `FriendFollowed` event calls it again from the outbox, which
/// is a no-op after the webhook's call, or finishes what a crash left undone. Keyed by the
/// follow's webhook event id.
pub async fn followed(
    deps: &Deps,
    tenant: &Tenant,
    u: &LineUserId,
    refollow: bool,
    follow_id: &str,
    reply_token: Option<&str>,
) -> Result<Value, CrmError> {
    let follow = FollowUps {
        followed: Some(refollow),
        ..FollowUps::default()
    };
    once(
        deps,
        tenant,
        u,
        AppliedEvent::Follow(follow_id),
        &follow,
        reply_token,
    )
    .await
}

/// Starts the scenarios the tags of a `FriendTagged` event trigger, once per event.
async fn on_tagged(deps: &Deps, tenant: &Tenant, e: &Tagged) -> Result<Value, CrmError> {
    let tags_added: Vec<TagName> = e
        .added
        .iter()
        .filter_map(|t| TagName::parse(t).ok())
        .collect();
    if tags_added.is_empty() {
        return Ok(ignored("no tag added"));
    }
    // Tags from imported history are the past: recorded, but nobody is greeted for them now.
    if e.imported {
        return Ok(ignored("imported tags start no scenario"));
    }
    let Some(event_id) = &e.about.event_id else {
        return Ok(ignored("no event id"));
    };
    let follow = FollowUps {
        tags_added,
        ..FollowUps::default()
    };
    let event = AppliedEvent::Tagged(event_id);
    once(deps, tenant, &e.about.friend, event, &follow, None).await
}

/// Runs `follow`'s scenario moves once for `event`, with no change to the friend.
async fn once(
    deps: &Deps,
    tenant: &Tenant,
    u: &LineUserId,
    event: AppliedEvent<'_>,
    follow: &FollowUps,
    reply_token: Option<&str>,
) -> Result<Value, CrmError> {
    let now = deps.clock.now();
    let key = &event.key();
    let pending =
        serde_json::to_string(follow).map_err(|e| StoreError::Malformed(e.to_string()))?;
    match deps
        .store
        .apply_once(
            &tenant.id,
            u,
            event,
            None,
            &tenant.time_zone(),
            Some(pending),
            now,
        )
        .await?
    {
        Applied::New => {
            let report = follow_up(deps, tenant, u, follow, reply_token, now).await?;
            deps.store.finish_applied(&tenant.id, u, key).await?;
            Ok(json!({ "status": "applied", "scenarios": report }))
        }
        Applied::Duplicate { pending } => {
            finish_duplicate(deps, tenant, u, key, pending, now).await
        }
    }
}

async fn on_answer(deps: &Deps, tenant: &Tenant, e: &Answered) -> Result<Value, CrmError> {
    let u = e.about.friend.clone();
    let (Ok(survey), Ok(question)) = (SurveyId::parse(&e.survey), QuestionId::parse(&e.question))
    else {
        return Ok(ignored("malformed survey or question"));
    };
    let raw = e.answer.as_str();
    let answer_id = e.answer_id.clone();
    let Some(stored) = deps.store.survey(&tenant.id, &survey).await? else {
        return Ok(ignored("unknown survey"));
    };
    let def = stored.definition()?;
    let Some(q) = def.question(&question) else {
        return Ok(ignored("unknown question"));
    };
    // Free text and dates are not on the bus: read them (and a multiple choice's full set)
    // from the answer item, unless a newer answer replaced it (its own event applies that one).
    let record = deps
        .store
        .answer(&tenant.id, &u, &survey, &question)
        .await?
        .filter(|a| a.answer_id == answer_id);
    let answer = match (q.kind, raw) {
        (QuestionKind::FreeText | QuestionKind::Date, _) => {
            let Some(text) = record.as_ref().and_then(|r| r.text.clone()) else {
                return Ok(ignored("answer superseded or missing"));
            };
            match q.kind {
                QuestionKind::Date => match text.parse() {
                    Ok(d) => Answer::Date(d),
                    Err(_) => return Ok(ignored("stored date is malformed")),
                },
                _ => Answer::Text(text),
            }
        }
        (_, crate::domain::survey::DONE) => Answer::Done,
        (_, ids) => {
            let ids: Result<Vec<ChoiceId>, _> = ids.split(',').map(ChoiceId::parse).collect();
            match ids {
                Ok(ids)
                    if ids
                        .iter()
                        .all(|id| q.all_choices().iter().any(|c| c.id == *id)) =>
                {
                    Answer::Chose(ids)
                }
                _ => return Ok(ignored("unknown choice")),
            }
        }
    };
    let mut fx = q.effects(&answer);
    // A multiple-choice field is written once, from the whole set, when the friend is done.
    if let (Answer::Done, Some(field), Some(r)) = (&answer, &q.field, &record) {
        let labels: Vec<String> = r
            .choices
            .iter()
            .filter_map(|id| {
                q.all_choices()
                    .iter()
                    .find(|c| c.id == *id)
                    .map(|c| c.label().to_owned())
            })
            .collect();
        fx.effect.set_fields.insert(field.clone(), labels.join(","));
    }
    let choices: Vec<String> = match &answer {
        Answer::Chose(ids) => ids.iter().map(|c| c.to_string()).collect(),
        _ => Vec::new(),
    };
    let half_life = deps.store.scoring(&tenant.id).await?.half_life_days;
    let rules = deps.store.tag_rules(&tenant.id).await?;
    let now = deps.clock.now();
    let occ = Occurrence::Answer {
        survey: survey.as_str(),
        question: question.as_str(),
        choices: &choices,
    };
    let follow = FollowUps {
        stop: fx.stop.clone(),
        enroll: fx.enroll.clone(),
        answered: Some((survey.to_string(), question.to_string(), choices.clone())),
        ..FollowUps::default()
    };
    let event = AppliedEvent::Answer(&answer_id);
    let key = event.key();
    let zone = tenant.time_zone();
    let pending =
        serde_json::to_string(&follow).map_err(|e| StoreError::Malformed(e.to_string()))?;
    let (u, key, zone, fx, occ, rules, pending) = (&u, &key, &zone, &fx, &occ, &rules, &pending);
    let written = retry_on_conflict(|| async move {
        let Some(before) = deps.store.get_friend(&tenant.id, u).await? else {
            return Ok(None);
        };
        let mut after = before.clone();
        after.apply_effect(&fx.effect, now, half_life);
        apply_rules(rules, occ, &mut after, now, half_life);
        // The new tags' scenarios start from the FriendTagged event this write puts in the outbox.
        let tags_added: Vec<TagName> = after
            .tags
            .keys()
            .filter(|t| !before.has_tag(t))
            .cloned()
            .collect();
        let applied = deps
            .store
            .apply_once(
                &tenant.id,
                u,
                event,
                Some((&before, &after)),
                zone,
                Some(pending.clone()),
                now,
            )
            .await?;
        Ok::<_, StoreError>(Some((applied, tags_added)))
    })
    .await?;
    match written.ok_or(StoreError::Conflict)? {
        None => Ok(ignored("unknown friend")),
        Some((Applied::New, tags_added)) => {
            let report = follow_up(deps, tenant, u, &follow, None, now).await?;
            deps.store.finish_applied(&tenant.id, u, key).await?;
            info!(tenant = %tenant.id, friend = %u.hashed(), survey = %survey, question = %question,
                "survey answer applied");
            Ok(json!({ "status": "applied", "tagsAdded": tags_added, "scenarios": report }))
        }
        Some((Applied::Duplicate { pending }, _)) => {
            finish_duplicate(deps, tenant, u, key, pending, now).await
        }
    }
}

async fn on_purchase(deps: &Deps, tenant: &Tenant, e: &Purchased) -> Result<Value, CrmError> {
    let u = e.about.friend.clone();
    // Imported history was counted and tagged; it must not thank anyone for a year-old order.
    if e.imported {
        return Ok(ignored("imported purchase starts no scenario"));
    }
    let follow = FollowUps {
        purchase: Some(PurchaseFollowUp {
            purchased_at: e.purchased_at,
            products: e.products.clone(),
        }),
        ..FollowUps::default()
    };
    once(
        deps,
        tenant,
        &u,
        AppliedEvent::Order(&e.order_id),
        &follow,
        None,
    )
    .await
}

async fn finish_duplicate(
    deps: &Deps,
    tenant: &Tenant,
    u: &LineUserId,
    key: &str,
    pending: Option<String>,
    now: Timestamp,
) -> Result<Value, CrmError> {
    // Applied before; only follow-ups a crash left undone are finished.
    if let Some(p) = pending {
        let follow: FollowUps =
            serde_json::from_str(&p).map_err(|e| StoreError::Malformed(e.to_string()))?;
        // Too late for a reply token by now: welcome steps go out by push.
        follow_up(deps, tenant, u, &follow, None, now).await?;
        deps.store.finish_applied(&tenant.id, u, key).await?;
    }
    Ok(json!({ "status": "duplicate" }))
}

/// What the scenario moves did, for the function's result.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct MoveReport {
    stopped: Vec<ScenarioId>,
    enrolled: Vec<ScenarioId>,
}

async fn follow_up(
    deps: &Deps,
    tenant: &Tenant,
    u: &LineUserId,
    follow: &FollowUps,
    reply_token: Option<&str>,
    now: Timestamp,
) -> Result<MoveReport, CrmError> {
    let mut report = MoveReport::default();
    let Some(friend) = deps.store.get_friend(&tenant.id, u).await? else {
        return Ok(report);
    };
    match follow.followed {
        Some(true) => {
            resume(deps, tenant, &friend, now).await?;
        }
        Some(false) => {
            let entered = trigger(deps, tenant, &friend, on_follow, now).await?;
            // The free reply token carries the first welcome step due now; the rest go by push.
            if let Some(token) = reply_token {
                for scenario in &entered {
                    if welcome_by_reply(deps, tenant, &friend, scenario, token, now).await? {
                        break;
                    }
                }
            }
            report.enrolled.extend(entered);
        }
        None => {}
    }
    for scenario in &follow.stop {
        if let Some(mut e) = deps.store.enrollment(&tenant.id, u, scenario).await?
            && e.is_open()
        {
            e.end(EnrollmentState::Stopped, "moved by a survey answer");
            // A tick holding the enrollment right now sends at most its current step.
            if deps.store.update_enrollment(&e).await? {
                report.stopped.push(scenario.clone());
            }
        }
    }
    if let Some(p) = &follow.purchase {
        for mut e in deps.store.friend_enrollments(&tenant.id, u).await? {
            if !e.is_open() || e.enrolled_at > p.purchased_at {
                continue;
            }
            let Some(def) = crate::enrollments::followed_version(deps, &e).await? else {
                continue;
            };
            if def.stops_on_purchase() {
                e.end(EnrollmentState::Stopped, "stop rule: purchase");
                if deps.store.update_enrollment(&e).await? {
                    report.stopped.push(e.scenario.clone());
                }
            }
        }
        let entered = trigger(deps, tenant, &friend, |t| {
            matches!(t, Trigger::Purchase { product } if product.as_ref().is_none_or(|want| p.products.contains(want)))
        }, now)
        .await?;
        report.enrolled.extend(entered);
    }
    for scenario in &follow.enroll {
        if let Enrolled::Yes(_) =
            enroll(deps, tenant, &friend, scenario, Entry::Trigger, now).await?
        {
            report.enrolled.push(scenario.clone());
        }
    }
    if let Some((survey, question, choices)) = &follow.answered {
        let entered = trigger(
            deps,
            tenant,
            &friend,
            |t| match t {
                Trigger::SurveyAnswer {
                    survey: s,
                    question: q,
                    answer: a,
                } => {
                    s == survey
                        && q.as_ref().is_none_or(|q| q == question)
                        && a.as_ref().is_none_or(|a| choices.contains(a))
                }
                _ => false,
            },
            now,
        )
        .await?;
        report.enrolled.extend(entered);
    }
    for tag in &follow.tags_added {
        report
            .enrolled
            .extend(trigger(deps, tenant, &friend, on_tag(tag), now).await?);
    }
    Ok(report)
}
