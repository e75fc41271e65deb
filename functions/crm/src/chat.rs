//! What a friend's tap or message means, decided inside the webhook's write: a survey answer
//! (recorded, next question replied at once), a tag rule (applied in the same friend write), or
//! a keyword auto-reply. Free text while a question is open is its answer; anything else goes
//! on to the keywords.
use std::collections::HashMap;

use jiff::Timestamp;
use serde_json::Value;

use crate::{
    bus::Event,
    deps::Deps,
    domain::{
        Friend, Tenant,
        auto_reply::{AutoReply, choose},
        message::{RenderContext, render},
        survey::{
            Answer, AnswerRecord, OpenQuestion, QuestionId, QuestionKind, Received,
            SurveyDefinition, SurveyId, parse_postback,
        },
        tag_rule::{Occurrence, TagRule, apply_rules},
    },
    http::CrmError,
    line::webhook::{EventBody, MessageContent, Mode, WebhookEvent},
};

/// What the event did beyond recording it.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub answer: Option<AnswerRecord>,
    pub events: Vec<Event>,
    /// Messages for the reply token (the next question, thanks, an auto-reply).
    pub replies: Vec<Value>,
}

/// Interprets one event's tap or message. Holds the definitions it read, so a retried friend
/// write reads them once.
#[derive(Default)]
pub(crate) struct Interpreter {
    surveys: HashMap<SurveyId, Option<SurveyDefinition>>,
    rules: Option<Vec<TagRule>>,
    auto_replies: Option<Vec<AutoReply>>,
    half_life: Option<Option<u32>>,
}

impl Interpreter {
    /// Applies the event to `friend` (the state about to be written) and says what to reply.
    pub async fn interpret(
        &mut self,
        deps: &Deps,
        tenant: &Tenant,
        event: &WebhookEvent,
        friend: &mut Friend,
        at: Timestamp,
        now: Timestamp,
    ) -> Result<Outcome, CrmError> {
        // In standby another channel owns the chat: record, but neither answer nor act.
        if event.common.mode != Mode::Active {
            return Ok(Outcome::default());
        }
        let event_id = event.common.webhook_event_id.as_str();
        let mut out = Outcome::default();
        match &event.body {
            EventBody::Postback { data, params } => {
                if let Some((survey, question, answer)) = parse_postback(data) {
                    let received = Received::Postback {
                        answer: &answer,
                        date: params.as_ref().and_then(|p| p.date.as_deref()),
                    };
                    let answered = self
                        .answer(
                            deps, tenant, friend, &survey, &question, received, event_id, at, now,
                        )
                        .await?;
                    if let Some(o) = answered {
                        return Ok(o);
                    }
                }
                self.rules(deps, tenant, &Occurrence::Postback(data), friend, now)
                    .await?;
            }
            EventBody::Message(MessageContent::Text { text, .. }) => {
                if let Some(open) = friend.open_question.clone().filter(|o| o.is_fresh(now)) {
                    let answered = self
                        .answer(
                            deps,
                            tenant,
                            friend,
                            &open.survey,
                            &open.question,
                            Received::Text(text),
                            event_id,
                            at,
                            now,
                        )
                        .await?;
                    if let Some(o) = answered {
                        return Ok(o);
                    }
                }
                self.rules(deps, tenant, &Occurrence::Text(text), friend, now)
                    .await?;
                if self.auto_replies.is_none() {
                    self.auto_replies = Some(deps.store.auto_replies(&tenant.id).await?);
                }
                if let Some(reply) = self.auto_replies.as_deref().and_then(|r| choose(r, text)) {
                    out.replies = render(&reply.messages, &RenderContext::for_friend(friend));
                }
            }
            _ => {}
        }
        Ok(out)
    }

    async fn survey(
        &mut self,
        deps: &Deps,
        tenant: &Tenant,
        id: &SurveyId,
    ) -> Result<Option<SurveyDefinition>, CrmError> {
        if !self.surveys.contains_key(id) {
            let def = match deps.store.survey(&tenant.id, id).await? {
                Some(s) => Some(s.definition()?),
                None => None,
            };
            self.surveys.insert(id.clone(), def);
        }
        Ok(self.surveys.get(id).cloned().flatten())
    }

    #[allow(clippy::too_many_arguments)]
    async fn answer(
        &mut self,
        deps: &Deps,
        tenant: &Tenant,
        friend: &mut Friend,
        survey: &SurveyId,
        question: &QuestionId,
        received: Received<'_>,
        event_id: &str,
        at: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Outcome>, CrmError> {
        let Some(def) = self.survey(deps, tenant, survey).await? else {
            return Ok(None);
        };
        let Some(q) = def.question(question) else {
            return Ok(None);
        };
        // An answer the question cannot take (a choice removed by an edit, a non-date) is an
        // ordinary tap or message.
        let Ok(answer) = q.interpret(received) else {
            return Ok(None);
        };
        // A multiple-choice question collects taps; each tap adds to what was chosen.
        let prior = if q.kind == QuestionKind::MultipleChoice {
            deps.store
                .answer(&tenant.id, &friend.user_id, survey, question)
                .await?
                .map(|a| a.choices)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let (choices, text) = match &answer {
            Answer::Chose(ids) if q.kind == QuestionKind::MultipleChoice => {
                let mut all = prior;
                all.extend(
                    ids.iter()
                        .filter(|id| !all.contains(id))
                        .cloned()
                        .collect::<Vec<_>>(),
                );
                (all, None)
            }
            Answer::Chose(ids) => (ids.clone(), None),
            Answer::Done => (prior, None),
            Answer::Text(t) => (Vec::new(), Some(t.clone())),
            Answer::Date(d) => (Vec::new(), Some(d.to_string())),
        };
        let next = def.next_after(q, &answer);
        friend.open_question = next.map(|n| OpenQuestion {
            survey: survey.clone(),
            question: n.id.clone(),
            asked_at: now,
        });
        let replies = match next {
            Some(n) if n.id == q.id => def.ask(n, &choices, None),
            Some(n) => def.ask(n, &[], None),
            None => render(&def.thanks, &RenderContext::for_friend(friend)),
        };
        let record = AnswerRecord {
            survey: survey.clone(),
            question: question.clone(),
            answer_id: event_id.to_owned(),
            choices,
            text,
            answered_at: at,
        };
        let event = Event::survey_answered(
            &tenant.id,
            &friend.user_id,
            at,
            survey.as_str(),
            question.as_str(),
            &answer.bus_value(),
            event_id,
        );
        Ok(Some(Outcome {
            answer: Some(record),
            events: vec![event],
            replies,
        }))
    }

    async fn rules(
        &mut self,
        deps: &Deps,
        tenant: &Tenant,
        occ: &Occurrence<'_>,
        friend: &mut Friend,
        now: Timestamp,
    ) -> Result<(), CrmError> {
        if self.rules.is_none() {
            self.rules = Some(deps.store.tag_rules(&tenant.id).await?);
        }
        let rules = self.rules.as_deref().unwrap_or_default();
        if !rules.iter().any(|r| r.listens_to(occ)) {
            return Ok(());
        }
        if self.half_life.is_none() {
            self.half_life = Some(deps.store.scoring(&tenant.id).await?.half_life_days);
        }
        // The tags the rules change leave as `FriendTagged` with the friend's write.
        apply_rules(rules, occ, friend, now, self.half_life.flatten());
        Ok(())
    }
}
