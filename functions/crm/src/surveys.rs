//! Asking survey questions in the chat: the first question a step carries, and the friend's open
//! question that makes a typed message its answer. (Answers arrive through the webhook's intake;
//! their effects are survey-tagging's.)
use serde_json::Value;

use crate::{
    deps::Deps,
    domain::{
        Friend, LineUserId, Tenant,
        survey::{OpenQuestion, SurveyId},
    },
    http::CrmError,
    store::retry_on_conflict,
};

/// The first question of `survey` as LINE messages, with what to record as the friend's open
/// question once it is sent. None when the survey does not exist (the step's messages still go).
pub(crate) async fn first_question(
    deps: &Deps,
    tenant: &Tenant,
    friend: &Friend,
    survey: &SurveyId,
) -> Result<Option<(OpenQuestion, Vec<Value>)>, CrmError> {
    let Some(stored) = deps.store.survey(&tenant.id, survey).await? else {
        tracing::warn!(tenant = %tenant.id, survey = %survey, "a step names a survey that does not exist");
        return Ok(None);
    };
    let def = stored.definition()?;
    let Some(q) = def.first() else {
        return Ok(None);
    };
    let link = crate::forms::link(deps, tenant, survey, &friend.user_id);
    let open = OpenQuestion {
        survey: survey.clone(),
        question: q.id.clone(),
        asked_at: deps.clock.now(),
    };
    Ok(Some((open, def.ask(q, &[], link.as_deref()))))
}

/// Remembers the question just asked, so a typed reply is taken as its answer.
pub(crate) async fn open_question(
    deps: &Deps,
    tenant: &Tenant,
    u: &LineUserId,
    open: OpenQuestion,
) -> Result<(), CrmError> {
    let zone = tenant.time_zone();
    let (zone, open) = (&zone, &open);
    let recorded = retry_on_conflict(|| async move {
        let Some(before) = deps.store.get_friend(&tenant.id, u).await? else {
            return Ok(());
        };
        let mut after = before.clone();
        after.open_question = Some(open.clone());
        deps.store
            .save_friend(Some(&before), &after, zone, deps.clock.now())
            .await?;
        Ok::<_, CrmError>(())
    })
    .await?;
    if recorded.is_some() {
        return Ok(());
    }
    // Taps still answer (their data names the question); only typed answers are missed.
    tracing::warn!(tenant = %tenant.id, friend = %u.hashed(), "open question not recorded: friend busy");
    Ok(())
}
