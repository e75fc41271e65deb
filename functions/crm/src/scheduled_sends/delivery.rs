//! Sending one claimed scenario step: the one path a step takes once `send_decision::decide`
//! said it goes, whether the tick pushes it or the webhook answers a follow with it through the
//! free reply token. Take the friend's daily slot, render the messages (a survey's first question
//! rides along), deliver, then write the delivery with the enrollment's next step in one
//! transaction guarded by the claim — or note why the step waits and until when.
use jiff::Timestamp;
use serde_json::Value;
use tracing::warn;

use super::{backoff, quota};
use crate::{
    deps::Deps,
    domain::{
        Friend, Tenant,
        deferral::DeferReason,
        enrollment::{Delivery, DeliveryStatus, Enrollment, advance},
        message::{RenderContext, mentions_last_purchase, render},
        scenario::StepDefinition,
        send_decision::{DueStep, capped_until},
        survey::OpenQuestion,
    },
    http::CrmError,
    line::client::{LineError, SendOutcome},
    store::Claim,
};

/// How the step's messages reach the friend.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Via<'a> {
    /// `POST /v2/bot/message/push` with the step's retry key: the tick's way. Counts against the
    /// shop's monthly quota.
    Push,
    /// A webhook event's reply token: free and at once, but single-use and without a retry key.
    Reply(&'a str),
}

/// What became of one claimed step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Sent,
    Skipped,
    Deferred,
    Capped,
    Failed,
    Ended,
    /// The reply certainly did not go (expired or used token, rate limit): the claim is given
    /// back unchanged and the tick pushes the step.
    HandedBack,
}

/// What LINE's answer means for the step.
enum Answer {
    /// Delivered; for a push also LINE's 409 (it accepted this retry key before, from a crashed
    /// earlier attempt).
    Sent { request_id: String },
    /// Not sent this time; the same key goes again after a backoff.
    Retry(LineError),
    /// The shop's monthly quota is used up.
    OutOfQuota,
    /// Recorded as failed with LINE's reason, and the scenario goes on. `sent_at` is what the
    /// next step's timing counts from.
    Failed {
        request_id: Option<String>,
        error: String,
        sent_at: Option<Timestamp>,
    },
    /// Certainly not sent by reply: give the step back to the tick.
    HandBack,
}

impl Answer {
    fn of_push(result: Result<SendOutcome, LineError>) -> Answer {
        match result {
            Ok(SendOutcome::Accepted { request_id })
            | Ok(SendOutcome::AlreadyAccepted {
                accepted_request_id: request_id,
            }) => Answer::Sent {
                request_id: request_id.to_string(),
            },
            Err(LineError::MonthlyQuotaExhausted) => Answer::OutOfQuota,
            // LINE refuses this request as it is: record why and go on with the scenario.
            Err(LineError::Rejected {
                status,
                message,
                request_id,
                ..
            }) => Answer::Failed {
                request_id: Some(request_id.to_string()),
                error: format!("{status} {message}"),
                sent_at: None,
            },
            Err(
                err @ (LineError::RateLimited
                | LineError::Server { .. }
                | LineError::Transport(_)
                | LineError::Unauthorized),
            ) => Answer::Retry(err),
        }
    }

    fn of_reply(result: Result<impl ToString, LineError>, now: Timestamp) -> Answer {
        match result {
            Ok(request_id) => Answer::Sent {
                request_id: request_id.to_string(),
            },
            Err(LineError::Rejected { .. } | LineError::RateLimited | LineError::Unauthorized) => {
                Answer::HandBack
            }
            // A reply has no retry key: after a 5xx or a timeout LINE may have sent it. Pushing
            // it again could send it twice, so it is recorded as failed with the reason instead.
            Err(err) => Answer::Failed {
                request_id: None,
                error: format!("reply outcome unknown: {err}"),
                sent_at: Some(now),
            },
        }
    }
}

/// Sends the claimed enrollment's current step, which `decide` cleared (`cap` as it said), and
/// writes the outcome.
pub(crate) async fn deliver(
    deps: &Deps,
    claim: &Claim,
    due: &DueStep<'_>,
    cap: Option<u32>,
    via: Via<'_>,
    now: Timestamp,
) -> Result<Outcome, CrmError> {
    let (e, tenant) = (&claim.enrollment, due.tenant);
    let Some(step) = due.scenario.steps.get(e.step) else {
        // `decide` finishes an enrollment past its last step; leave that to the tick.
        deps.store.complete_claim(claim, e, None).await?;
        return Ok(Outcome::HandedBack);
    };
    if let Via::Push = via
        && let Some(marked) = quota::must_wait(deps, tenant, now).await?
    {
        // LINE would answer 429 again: wait with the others for the quota to come back.
        let until = quota::resumes_at(&marked, now);
        defer(deps, claim, e.clone(), DeferReason::Quota, until, now).await?;
        return Ok(Outcome::Deferred);
    }
    let slot = DailySlot {
        cap,
        day: tenant.local_day(now),
    };
    if !slot.take(deps, e, now).await? {
        // Over today's cap: the step waits for tomorrow's window, it is not dropped.
        let until = capped_until(due, now);
        defer(deps, claim, e.clone(), DeferReason::DailyCap, until, now).await?;
        return Ok(Outcome::Capped);
    }
    let (messages, asked) = compose(deps, tenant, due.friend, step).await?;
    let key = e.retry_key(&step.id);
    let answer = match via {
        Via::Push => Answer::of_push(
            deps.line
                .push(&tenant.access_token, e.friend.as_str(), &messages, key)
                .await,
        ),
        Via::Reply(token) => Answer::of_reply(
            deps.line
                .reply(&tenant.access_token, token, &messages)
                .await,
            now,
        ),
    };
    let delivery = |status, line_request_id, error| Delivery {
        retry_key: key.to_string(),
        scenario: e.scenario.clone(),
        version: e.version,
        step: step.id.to_string(),
        status,
        at: now,
        line_request_id,
        error,
        via: matches!(via, Via::Reply(_)).then(|| "reply".to_owned()),
    };
    let mut next = e.clone();
    match answer {
        Answer::Sent { request_id } => {
            advance(&mut next, due.scenario, e.step + 1, Some(now), now, tenant);
            // An accepted push shows the quota has room again; a reply is free and shows nothing.
            if let Via::Push = via
                && tenant.quota_exhausted_at.is_some()
            {
                deps.store.set_quota_exhausted(&tenant.id, None).await?;
            }
            let d = delivery(DeliveryStatus::Sent, Some(request_id), None);
            deps.store.complete_claim(claim, &next, Some(&d)).await?;
            if let Some(open) = asked {
                crate::surveys::open_question(deps, tenant, &e.friend, open).await?;
            }
            Ok(Outcome::Sent)
        }
        Answer::Failed {
            request_id,
            error,
            sent_at,
        } => {
            if let Via::Reply(_) = via {
                warn!(tenant = %e.tenant, scenario = %e.scenario, error = %error, "welcome reply outcome unknown");
            }
            advance(&mut next, due.scenario, e.step + 1, sent_at, now, tenant);
            let d = delivery(DeliveryStatus::Failed, request_id, Some(error));
            deps.store.complete_claim(claim, &next, Some(&d)).await?;
            Ok(Outcome::Failed)
        }
        Answer::Retry(err) => {
            next.attempts += 1;
            let until = now.saturating_add(backoff(next.attempts)).unwrap_or(now);
            slot.give_back(deps, e).await?;
            warn!(tenant = %e.tenant, scenario = %e.scenario, attempts = next.attempts, error = %err, "send deferred");
            defer(deps, claim, next, DeferReason::Retry, until, now).await?;
            Ok(Outcome::Deferred)
        }
        Answer::OutOfQuota => {
            // Until the month rolls over at the latest; the tick's quota look brings it back
            // sooner if the shop raises its plan.
            let until = quota::resumes_at(tenant, now);
            slot.give_back(deps, e).await?;
            quota::note(
                deps,
                quota::Waiting::Step(e),
                DeferReason::Quota,
                until,
                now,
            )
            .await?;
            if !quota::exhausted(tenant, now) {
                deps.store
                    .set_quota_exhausted(&tenant.id, Some(now))
                    .await?;
            }
            warn!(tenant = %e.tenant, alert = "monthly_quota_exhausted", "LINE monthly quota exhausted; sends deferred");
            next.next_due_at = Some(until);
            deps.store.complete_claim(claim, &next, None).await?;
            Ok(Outcome::Deferred)
        }
        Answer::HandBack => {
            slot.give_back(deps, e).await?;
            deps.store.complete_claim(claim, e, None).await?;
            Ok(Outcome::HandedBack)
        }
    }
}

/// Puts the claimed step back in the due-index at `until`, with a note saying why (written
/// before the claim's outcome, so no step waits for quota without a note the release can find).
pub(super) async fn defer(
    deps: &Deps,
    claim: &Claim,
    mut next: Enrollment,
    reason: DeferReason,
    until: Timestamp,
    now: Timestamp,
) -> Result<(), CrmError> {
    next.next_due_at = Some(until);
    quota::note(deps, quota::Waiting::Step(&next), reason, until, now).await?;
    Ok(deps.store.complete_claim(claim, &next, None).await?)
}

/// The step's messages for this friend; a step that asks a survey sends its first question in
/// the same push or reply (the registration hearing rides on the welcome). Also what the
/// console's test send pushes, so a test shows what the friend would get.
pub(crate) async fn compose(
    deps: &Deps,
    tenant: &Tenant,
    friend: &Friend,
    step: &StepDefinition,
) -> Result<(Vec<Value>, Option<OpenQuestion>), CrmError> {
    let mut ctx = RenderContext::for_friend(friend);
    if mentions_last_purchase(&step.messages) {
        let purchases = deps
            .store
            .friend_purchases(&tenant.id, &friend.user_id)
            .await?;
        ctx = ctx.with_last_purchase(&purchases, &tenant.time_zone());
    }
    let mut messages = render(&step.messages, &ctx);
    let Some(survey) = &step.survey else {
        return Ok((messages, None));
    };
    match crate::surveys::first_question(deps, tenant, friend, survey).await? {
        Some((open, question)) => {
            messages.extend(question);
            Ok((messages, Some(open)))
        }
        None => Ok((messages, None)),
    }
}

/// One message of the friend's daily cap (tenant zone), when the send counts against one.
struct DailySlot {
    cap: Option<u32>,
    day: String,
}

impl DailySlot {
    /// False when the friend already had `cap` messages today.
    async fn take(&self, deps: &Deps, e: &Enrollment, now: Timestamp) -> Result<bool, CrmError> {
        let Some(cap) = self.cap else {
            return Ok(true);
        };
        // The counter outlives the day by a margin for late retries, then expires.
        let expires = now.as_second() + 3 * 86_400;
        Ok(deps
            .store
            .take_daily_slot(&e.tenant, &e.friend, &self.day, cap, expires)
            .await?)
    }

    /// For a send that did not go out after all.
    async fn give_back(&self, deps: &Deps, e: &Enrollment) -> Result<(), CrmError> {
        if self.cap.is_some() {
            deps.store
                .release_daily_slot(&e.tenant, &e.friend, &self.day)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::client::RequestId;

    fn now() -> Timestamp {
        "2026-04-01T01:00:00Z".parse().unwrap()
    }

    fn rejected(message: &str) -> LineError {
        LineError::Rejected {
            status: 400,
            message: message.into(),
            details: Vec::new(),
            request_id: RequestId::new("r-400"),
        }
    }

    #[test]
    fn a_push_line_accepted_before_counts_as_delivered() {
        // 409: a crashed earlier attempt got through with this retry key.
        let answer = Answer::of_push(Ok(SendOutcome::AlreadyAccepted {
            accepted_request_id: RequestId::new("r-1"),
        }));
        assert!(matches!(answer, Answer::Sent { request_id } if request_id == "r-1"));
    }

    #[test]
    fn a_rate_limited_or_failed_push_goes_again_later_with_its_key() {
        for err in [
            LineError::RateLimited,
            LineError::Transport("timeout".into()),
        ] {
            assert!(matches!(Answer::of_push(Err(err)), Answer::Retry(_)));
        }
        assert!(matches!(
            Answer::of_push(Err(LineError::MonthlyQuotaExhausted)),
            Answer::OutOfQuota
        ));
    }

    #[test]
    fn a_push_line_refuses_is_recorded_failed_and_the_scenario_goes_on() {
        let answer = Answer::of_push(Err(rejected("The request body has 1 error(s)")));
        assert!(matches!(
            answer,
            Answer::Failed { request_id: Some(_), ref error, sent_at: None }
                if error == "400 The request body has 1 error(s)"
        ));
    }

    #[test]
    fn an_expired_reply_token_hands_the_step_back_to_the_tick() {
        let answer = Answer::of_reply(Err::<RequestId, _>(rejected("Invalid reply token")), now());
        assert!(matches!(answer, Answer::HandBack));
    }

    #[test]
    fn a_reply_that_timed_out_is_recorded_failed_rather_than_pushed_again() {
        let answer = Answer::of_reply(
            Err::<RequestId, _>(LineError::Transport("timeout".into())),
            now(),
        );
        assert!(matches!(
            answer,
            Answer::Failed { request_id: None, ref error, sent_at: Some(at) }
                if error.starts_with("reply outcome unknown") && at == now()
        ));
    }
}
