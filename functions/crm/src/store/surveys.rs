//! Survey definitions, friends' answers, and survey-tagging's apply-once markers.
use aws_sdk_dynamodb::types::TransactWriteItem;
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde::{Deserialize, Serialize};

use super::{
    Expiry, SendUpdate, Store, StoreError, from_item,
    keys::{self, AppliedEvent},
    s, to_item,
};
use crate::bus::Event;
use crate::domain::{
    Friend, LineUserId, TenantId,
    survey::{AnswerRecord, QuestionId, SurveyDefinition, SurveyId},
};

/// EventBridge retries for at most a day (the rule allows an hour); a week of markers is ample.
const APPLIED_TTL: SignedDuration = SignedDuration::from_hours(7 * 24);

/// How long the marker of `event` must stop it applying again: a bus event, as long as the bus
/// retries; a link click, as long as any link that existed at the click can be opened.
fn kept_for(event: AppliedEvent<'_>) -> SignedDuration {
    match event {
        AppliedEvent::LinkClick(_) => crate::domain::link::CLICK_MARK_KEPT,
        AppliedEvent::Answer(_)
        | AppliedEvent::Order(_)
        | AppliedEvent::Follow(_)
        | AppliedEvent::Tagged(_) => APPLIED_TTL,
    }
}

/// A saved survey: the definition as JSON text, with a version counting changes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredSurvey {
    pub survey: SurveyId,
    pub version: u32,
    pub saved_at: Timestamp,
    pub definition: String,
}

impl StoredSurvey {
    pub fn definition(&self) -> Result<SurveyDefinition, StoreError> {
        serde_json::from_str(&self.definition).map_err(|e| StoreError::Malformed(e.to_string()))
    }
}

#[derive(Serialize, Deserialize)]
struct SurveyItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    stored: StoredSurvey,
}

#[derive(Serialize, Deserialize)]
struct AnswerItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    answer: AnswerRecord,
}

/// The outcome of an apply-once write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    New,
    /// Applied before; `pending` is the follow-up plan if it never completed.
    Duplicate {
        pending: Option<String>,
    },
}

#[derive(Serialize, Deserialize)]
struct AppliedItem {
    pk: String,
    sk: String,
    entity: String,
    at: Timestamp,
    #[serde(flatten)]
    expiry: Expiry,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending: Option<String>,
}

impl Store {
    /// Saves the definition: unchanged content writes nothing and keeps the version, changed
    /// content is the next version (only the current one is kept). A concurrent save of the
    /// same survey gets `Conflict`.
    pub async fn save_survey(
        &self,
        t: &TenantId,
        def: &SurveyDefinition,
        now: Timestamp,
    ) -> Result<StoredSurvey, StoreError> {
        let current = self.survey(t, &def.id).await?;
        let definition =
            serde_json::to_string(def).map_err(|e| StoreError::Malformed(e.to_string()))?;
        if let Some(c) = current.as_ref().filter(|c| c.definition == definition) {
            return Ok(c.clone());
        }
        let stored = StoredSurvey {
            survey: def.id.clone(),
            version: current.as_ref().map_or(1, |c| c.version + 1),
            saved_at: now,
            definition,
        };
        let (pk, sk) = keys::survey(t, &def.id);
        let item = to_item(&SurveyItem {
            pk,
            sk,
            entity: "survey".into(),
            stored: stored.clone(),
        })?;
        self.put_over(item, current.map(|c| c.version)).await?;
        Ok(stored)
    }

    pub async fn survey(
        &self,
        t: &TenantId,
        id: &SurveyId,
    ) -> Result<Option<StoredSurvey>, StoreError> {
        match self.get(keys::survey(t, id)).await? {
            Some(item) => Ok(Some(from_item::<SurveyItem>(item)?.stored)),
            None => Ok(None),
        }
    }

    pub async fn surveys(&self, t: &TenantId) -> Result<Vec<StoredSurvey>, StoreError> {
        self.tenant_items(t, keys::SURVEY_PREFIX)
            .await?
            .into_iter()
            .map(|i| from_item::<SurveyItem>(i).map(|s| s.stored))
            .collect()
    }

    pub async fn delete_survey(&self, t: &TenantId, id: &SurveyId) -> Result<bool, StoreError> {
        self.delete_item(keys::survey(t, id)).await
    }

    /// The write of one answer, for a caller's transaction.
    pub(super) fn answer_write(
        &self,
        t: &TenantId,
        u: &LineUserId,
        a: &AnswerRecord,
    ) -> Result<TransactWriteItem, StoreError> {
        let (pk, sk) = keys::answer(t, u, &a.survey, &a.question);
        self.put(
            to_item(&AnswerItem {
                pk,
                sk,
                entity: "answer".into(),
                answer: a.clone(),
            })?,
            None,
        )
    }

    /// Saves answers given outside the chat (the web form), each replacing the latest.
    /// Saves a form's answers with their `SurveyAnswered` events (one outbox item).
    pub async fn save_answers(
        &self,
        t: &TenantId,
        u: &LineUserId,
        answers: &[AnswerRecord],
        events: &[Event],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        // A transaction holds at most 100 writes; surveys have at most 50 questions.
        let mut writes = answers
            .iter()
            .map(|a| self.answer_write(t, u, a))
            .collect::<Result<Vec<_>, _>>()?;
        if writes.is_empty() {
            return Ok(());
        }
        writes.extend(self.outbox_writes(t, events, now)?);
        match self.transact(writes).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::Conflict),
        }
    }

    pub async fn answer(
        &self,
        t: &TenantId,
        u: &LineUserId,
        survey: &SurveyId,
        question: &QuestionId,
    ) -> Result<Option<AnswerRecord>, StoreError> {
        match self.get(keys::answer(t, u, survey, question)).await? {
            Some(item) => Ok(Some(from_item::<AnswerItem>(item)?.answer)),
            None => Ok(None),
        }
    }

    pub async fn friend_answers(
        &self,
        t: &TenantId,
        u: &LineUserId,
    ) -> Result<Vec<AnswerRecord>, StoreError> {
        self.friend_items(t, u, keys::ANSWER_PREFIX)
            .await?
            .into_iter()
            .map(|i| from_item::<AnswerItem>(i).map(|a| a.answer))
            .collect()
    }

    /// Applies an event's friend change exactly once: the marker keyed by the event and the
    /// friend's new state commit together. `pending` (the follow-ups: enrollments) rides on the
    /// marker until [`Store::finish_applied`], so a crash in between is finished by the retry.
    #[allow(clippy::too_many_arguments)]
    pub async fn apply_once(
        &self,
        t: &TenantId,
        u: &LineUserId,
        event: AppliedEvent<'_>,
        friend: Option<(&Friend, &Friend)>,
        zone: &TimeZone,
        pending: Option<String>,
        now: Timestamp,
    ) -> Result<Applied, StoreError> {
        let event_key = event.key();
        let (pk, sk) = keys::applied(t, u, &event_key);
        let marker = AppliedItem {
            pk,
            sk,
            entity: "applied".into(),
            at: now,
            expiry: Expiry::after(now, kept_for(event)),
            pending,
        };
        let mut writes = vec![self.put(to_item(&marker)?, Some("attribute_not_exists(pk)"))?];
        if let Some((before, after)) = friend {
            writes.extend(self.friend_writes(Some(before), after, zone, now)?);
        }
        match self.transact(writes).await? {
            Ok(()) => Ok(Applied::New),
            Err(0) => {
                let pending = match self.get(keys::applied(t, u, &event_key)).await? {
                    Some(item) => from_item::<AppliedItem>(item)?.pending,
                    None => None,
                };
                Ok(Applied::Duplicate { pending })
            }
            Err(_) => Err(StoreError::Conflict),
        }
    }

    /// The follow-ups of an applied event are done.
    pub async fn finish_applied(
        &self,
        t: &TenantId,
        u: &LineUserId,
        event_key: &str,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::applied(t, u, event_key);
        self.client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .update_expression("REMOVE pending")
            .condition_expression("attribute_exists(pk)")
            .sent()
            .await
    }
}
