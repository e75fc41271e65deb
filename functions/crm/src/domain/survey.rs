//! Surveys (アンケート): questions a friend answers in the LINE chat (quick replies or buttons
//! whose postback data names survey, question and choice) or on a signed web form, each answer
//! mapped to tags, custom fields, score points, scenario moves and the next question.
//!
//! Written as JSON or YAML like scenarios (camelCase, unknown keys refused with their path).
//! An example, also in `docs/examples/hearing.yaml`:
//!
//! ```yaml
//! id: hearing
//! name: 登録時ヒアリング
//! questions:
//!   - id: genre
//!     type: singleChoice
//!     text: 興味のあるジャンルを教えてください
//!     field: genre                       # the chosen label is kept in this custom field
//!     choices:
//!       - { id: beauty, label: 美容, addTags: [美容], enroll: beauty-welcome, stop: [welcome] }
//!       - { id: health, label: 健康, addTags: [健康] }
//!   - id: birthday
//!     type: date
//!     text: お誕生日を教えてください
//!     field: birthday
//! thanks:
//!   - { type: text, text: ご回答ありがとうございました! }
//! ```
use std::borrow::Cow;
use std::fmt;

use jiff::{Timestamp, civil::Date};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};

use super::TagName;
use super::definition;
use super::effect::{self, Effect};
use super::field_error::check_name;
use super::friend::check_field_name;
pub use super::friend::{OPEN_QUESTION_TTL, OpenQuestion};
pub use super::ids::{QuestionId, SurveyId};
use super::ids::{ScenarioId, slug_newtype};
use super::message::{FieldError, MAX_MESSAGES, validate_messages};

slug_newtype!(
    /// A choice's id within its question (a scale's choices are `1`…`5`).
    ChoiceId
);

pub const MAX_QUESTIONS: usize = 50;
/// LINE cuts action labels at 20 characters (quick reply items and template buttons).
pub const MAX_LABEL_CHARS: usize = 20;
/// LINE's text limit for a buttons template without image or title.
const MAX_BUTTONS_TEXT_CHARS: usize = 160;
/// The postback answer that closes a multiple-choice question in the chat.
pub const DONE: &str = "_done";
/// The postback answer of a date picker; the date itself is in `postback.params.date`.
pub const PICKED_DATE: &str = "_date";
const FORM_URL_PLACEHOLDER: &str = "https://forms.example/validation";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SurveyDefinition {
    pub id: SurveyId,
    pub name: String,
    #[serde(default)]
    pub delivery: Delivery,
    pub questions: Vec<Question>,
    /// Replied after the last answer (through the same free reply token as a next question).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thanks: Vec<Value>,
}

/// How questions reach the friend in LINE.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Delivery {
    /// Up to 13 quick-reply buttons under the question text.
    #[default]
    QuickReply,
    /// A buttons template (up to 4 choices) that stays in the chat history.
    Buttons,
    /// One button linking to the signed web form with every question (long surveys).
    Form,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum QuestionKind {
    SingleChoice,
    MultipleChoice,
    /// 1–5 (e.g. 満足度); choices are `1`…`5`, written out only to label them or attach effects.
    Scale,
    FreeText,
    /// A calendar date such as a birthday (LINE's date picker, or typed as YYYY-MM-DD).
    Date,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Question {
    pub id: QuestionId,
    #[serde(rename = "type")]
    pub kind: QuestionKind,
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
    /// Custom field that keeps the answer: the choice label(s), the scale value, the text, the date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Where to go after this question unless the choice says otherwise (default: the next one written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Next>,
    /// Tags for anyone who answers, whatever the answer (free text, date).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_tags: Vec<TagName>,
    #[serde(default, skip_serializing_if = "effect::is_zero")]
    pub score: i64,
}

effect::with_effect! {
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    /// One answer a question offers; the effect keys follow its own.
    pub struct Choice {
        pub id: ChoiceId,
        /// Button label (≤ 20 characters); a scale's default is its number.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub label: Option<String>,
        /// Scenario the friend enters on this answer (e.g. genre 美容 → beauty-welcome).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub enroll: Option<ScenarioId>,
        /// Scenarios whose open enrollment ends on this answer: with `enroll`, a move between scenarios.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub stop: Vec<ScenarioId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub next: Option<Next>,
    }
    add_tags: TagName
}

/// A branch target: another question, or `end`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Question(QuestionId),
    End,
}

impl Serialize for Next {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Next::Question(q) => s.serialize_str(q.as_str()),
            Next::End => s.serialize_str("end"),
        }
    }
}

impl<'de> Deserialize<'de> for Next {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s == "end" {
            return Ok(Next::End);
        }
        QuestionId::parse(&s)
            .map(Next::Question)
            .map_err(|e| serde::de::Error::custom(format!("`{s}`: {e} (or `end`)")))
    }
}

/// What answering does: to the friend, and to her scenarios. Applied once per answer by
/// survey-tagging.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    pub effect: Effect,
    pub enroll: Vec<ScenarioId>,
    pub stop: Vec<ScenarioId>,
}

/// An answer as understood against its question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Single choice, scale, or one tap of a multiple-choice question.
    Chose(Vec<ChoiceId>),
    /// The friend closed a multiple-choice question.
    Done,
    Text(String),
    Date(Date),
}

impl Answer {
    /// The answer as it travels on the bus: choice ids only. Free text and dates are the
    /// friend's words and stay in the table (`kind` says survey-tagging must read them there).
    pub fn bus_value(&self) -> String {
        match self {
            Answer::Chose(ids) => ids
                .iter()
                .map(ChoiceId::as_str)
                .collect::<Vec<_>>()
                .join(","),
            Answer::Done => DONE.into(),
            Answer::Text(_) => "freeText".into(),
            Answer::Date(_) => "date".into(),
        }
    }
}

/// The latest answer of a friend to one question (the event history keeps earlier ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnswerRecord {
    pub survey: SurveyId,
    pub question: QuestionId,
    /// The webhook event or form submission that gave this answer: survey-tagging's idempotency key.
    pub answer_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<ChoiceId>,
    /// Free text or `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub answered_at: Timestamp,
}

/// Why an answer was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAnAnswer {
    #[error("the survey has no such question")]
    UnknownQuestion,
    #[error("the question has no such choice")]
    UnknownChoice,
    #[error("not a date (YYYY-MM-DD)")]
    NotADate,
    #[error("this question is answered by choosing")]
    NeedsChoice,
    #[error("an answer is at most {MAX_ANSWER_CHARS} characters")]
    TooLong,
}

/// A free-text answer longer than this is not taken: an answer is kept in a field and in the
/// answer record, and a pasted page must not fill the friend's item (DynamoDB's 400 KB).
pub const MAX_ANSWER_CHARS: usize = 2_000;

/// What the webhook received for a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received<'a> {
    /// Postback `a=` value, with the date picker's `params.date` if any.
    Postback {
        answer: &'a str,
        date: Option<&'a str>,
    },
    Text(&'a str),
}

/// Postback data of an answer: `svy=<survey>&q=<question>&a=<choice>` (≤ 300 characters by
/// construction: three slugs of ≤ 64 plus the keys; checked again at definition time).
pub fn postback_data(survey: &SurveyId, question: &QuestionId, answer: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("svy", survey.as_str())
        .append_pair("q", question.as_str())
        .append_pair("a", answer)
        .finish()
}

/// Reads postback data written by [`postback_data`]; None for any other postback.
pub fn parse_postback(data: &str) -> Option<(SurveyId, QuestionId, String)> {
    let (mut s, mut q, mut a) = (None, None, None);
    for (k, v) in url::form_urlencoded::parse(data.as_bytes()) {
        match k.as_ref() {
            "svy" => s = SurveyId::parse(&v).ok(),
            "q" => q = QuestionId::parse(&v).ok(),
            "a" => a = Some(v.into_owned()),
            _ => return None,
        }
    }
    Some((s?, q?, a?))
}

fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim().replace('/', "-");
    s.parse::<Date>().ok()
}

fn scale_choices() -> Vec<Choice> {
    (1..=5)
        .map(|n| Choice {
            id: ChoiceId(n.to_string()),
            label: None,
            add_tags: Vec::new(),
            remove_tags: Vec::new(),
            set_fields: std::collections::BTreeMap::new(),
            score: 0,
            enroll: None,
            stop: Vec::new(),
            next: None,
        })
        .collect()
}

impl Choice {
    pub fn label(&self) -> &str {
        self.label.as_deref().unwrap_or(self.id.as_str())
    }
}

impl Question {
    /// The choices as the friend sees them (a scale without written choices gets 1–5).
    pub fn all_choices(&self) -> Cow<'_, [Choice]> {
        if self.kind == QuestionKind::Scale && self.choices.is_empty() {
            Cow::Owned(scale_choices())
        } else {
            Cow::Borrowed(&self.choices)
        }
    }

    fn choice(&self, id: &str) -> Option<Choice> {
        self.all_choices()
            .iter()
            .find(|c| c.id.as_str() == id)
            .cloned()
    }

    /// Understands what the friend sent as an answer to this question.
    pub fn interpret(&self, received: Received<'_>) -> Result<Answer, NotAnAnswer> {
        match (self.kind, received) {
            (QuestionKind::MultipleChoice, Received::Postback { answer: DONE, .. }) => {
                Ok(Answer::Done)
            }
            (QuestionKind::Date, Received::Postback { date, .. }) => date
                .and_then(parse_date)
                .map(Answer::Date)
                .ok_or(NotAnAnswer::NotADate),
            (QuestionKind::Date, Received::Text(t)) => {
                parse_date(t).map(Answer::Date).ok_or(NotAnAnswer::NotADate)
            }
            (QuestionKind::FreeText, Received::Text(t))
                if t.trim().chars().count() > MAX_ANSWER_CHARS =>
            {
                Err(NotAnAnswer::TooLong)
            }
            (QuestionKind::FreeText, Received::Text(t)) => Ok(Answer::Text(t.trim().to_owned())),
            (QuestionKind::FreeText, Received::Postback { .. }) => Err(NotAnAnswer::UnknownChoice),
            (_, Received::Postback { answer, .. }) => {
                let ids = answer
                    .split(',')
                    .map(|a| {
                        self.choice(a)
                            .map(|c| c.id)
                            .ok_or(NotAnAnswer::UnknownChoice)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if ids.is_empty() || (self.kind != QuestionKind::MultipleChoice && ids.len() > 1) {
                    return Err(NotAnAnswer::UnknownChoice);
                }
                Ok(Answer::Chose(ids))
            }
            // Typing a button's label exactly counts as tapping it.
            (_, Received::Text(t)) => self
                .all_choices()
                .iter()
                .find(|c| c.label() == t.trim())
                .map(|c| Answer::Chose(vec![c.id.clone()]))
                .ok_or(NotAnAnswer::NeedsChoice),
        }
    }

    /// The effects of one answer: each chosen choice's, plus the question's own.
    pub fn effects(&self, answer: &Answer) -> Effects {
        // A multiple-choice question earns its own tags and points once, when the friend is done.
        let whole = self.kind != QuestionKind::MultipleChoice || *answer == Answer::Done;
        let mut fx = Effects::default();
        if whole {
            fx.effect.add_tags = self.add_tags.clone();
            fx.effect.score = self.score;
        }
        let value = match answer {
            Answer::Chose(ids) => {
                let chosen: Vec<Choice> = ids
                    .iter()
                    .filter_map(|id| self.choice(id.as_str()))
                    .collect();
                for c in &chosen {
                    fx.effect.extend(&c.effect());
                    fx.enroll.extend(c.enroll.iter().cloned());
                    fx.stop.extend(c.stop.iter().cloned());
                }
                let labels: Vec<&str> = chosen.iter().map(Choice::label).collect();
                (!labels.is_empty()).then(|| labels.join(","))
            }
            Answer::Done => None,
            Answer::Text(t) => Some(t.clone()),
            Answer::Date(d) => Some(d.to_string()),
        };
        // A multiple-choice answer arrives tap by tap; its field is written from the whole
        // set by the caller, so a single tap does not overwrite the earlier ones.
        if let (Some(field), Some(value)) = (&self.field, value)
            && self.kind != QuestionKind::MultipleChoice
        {
            // A choice's own `setFields` of the same field wins, as if written after.
            fx.effect.set_fields.entry(field.clone()).or_insert(value);
        }
        fx
    }
}

impl SurveyDefinition {
    pub fn question(&self, id: &QuestionId) -> Option<&Question> {
        self.questions.iter().find(|q| q.id == *id)
    }

    pub fn first(&self) -> Option<&Question> {
        self.questions.first()
    }

    /// The question after `q` given this answer: the choice's branch, else the question's, else
    /// the next one written. A multiple-choice question stays open until the friend is done.
    pub fn next_after<'a>(&'a self, q: &'a Question, answer: &Answer) -> Option<&'a Question> {
        if q.kind == QuestionKind::MultipleChoice && *answer != Answer::Done {
            return Some(q);
        }
        let branch = match answer {
            Answer::Chose(ids) if ids.len() == 1 => {
                q.choice(ids[0].as_str()).and_then(|c| c.next.clone())
            }
            _ => None,
        };
        match branch.or_else(|| q.next.clone()) {
            Some(Next::End) => None,
            Some(Next::Question(id)) => self.question(&id),
            None => {
                let i = self.questions.iter().position(|x| x.id == q.id)?;
                self.questions.get(i + 1)
            }
        }
    }

    /// The LINE messages that ask `q` in the chat. `chosen` are the choices a multiple-choice
    /// question already has (they are not offered again); `form_url` is the friend's signed
    /// form link, used when the survey is delivered as a form.
    pub fn ask(&self, q: &Question, chosen: &[ChoiceId], form_url: Option<&str>) -> Vec<Value> {
        if self.delivery == Delivery::Form {
            let url = form_url.unwrap_or(FORM_URL_PLACEHOLDER);
            return vec![json!({
                "type": "template",
                "altText": truncate(&self.name, 400),
                "template": {
                    "type": "buttons",
                    "text": truncate(&q.text, MAX_BUTTONS_TEXT_CHARS),
                    "actions": [{ "type": "uri", "label": "回答する", "uri": url }],
                },
            })];
        }
        let data = |a: &str| postback_data(&self.id, &q.id, a);
        let postback = |label: &str, a: &str| json!({ "type": "postback", "label": label, "data": data(a), "displayText": label });
        match q.kind {
            QuestionKind::FreeText => vec![json!({ "type": "text", "text": q.text })],
            QuestionKind::Date => vec![json!({
                "type": "text",
                "text": q.text,
                "quickReply": { "items": [{ "type": "action", "action": {
                    "type": "datetimepicker", "label": "日付を選ぶ", "data": data(PICKED_DATE), "mode": "date",
                    "initial": "2000-01-01", "max": "2100-12-31", "min": "1900-01-01",
                }}]},
            })],
            _ => {
                let mut actions: Vec<Value> = q
                    .all_choices()
                    .iter()
                    .filter(|c| !chosen.contains(&c.id))
                    .map(|c| postback(c.label(), c.id.as_str()))
                    .collect();
                if q.kind == QuestionKind::MultipleChoice {
                    actions.push(postback("回答終了", DONE));
                }
                match self.delivery {
                    Delivery::Buttons => vec![json!({
                        "type": "template",
                        "altText": truncate(&q.text, 400),
                        "template": {
                            "type": "buttons",
                            "text": truncate(&q.text, MAX_BUTTONS_TEXT_CHARS),
                            "actions": actions,
                        },
                    })],
                    _ => {
                        let items: Vec<Value> = actions
                            .into_iter()
                            .map(|a| json!({ "type": "action", "action": a }))
                            .collect();
                        vec![
                            json!({ "type": "text", "text": q.text, "quickReply": { "items": items } }),
                        ]
                    }
                }
            }
        }
    }

    fn validate_question(&self, q: &Question, path: &str) -> Result<(), FieldError> {
        if q.text.trim().is_empty() {
            return Err(FieldError::new(
                format!("{path}.text"),
                "the question text is required",
            ));
        }
        if let Some(f) = &q.field {
            check_field_name(f, &format!("{path}.field"))?;
        }
        match q.kind {
            QuestionKind::SingleChoice | QuestionKind::MultipleChoice if q.choices.is_empty() => {
                return Err(FieldError::new(
                    format!("{path}.choices"),
                    "at least one choice is needed",
                ));
            }
            QuestionKind::Scale if !q.choices.is_empty() => {
                let ids: Vec<&str> = q.choices.iter().map(|c| c.id.as_str()).collect();
                if ids != ["1", "2", "3", "4", "5"] {
                    return Err(FieldError::new(
                        format!("{path}.choices"),
                        "a scale's choices are exactly 1, 2, 3, 4, 5 in this order",
                    ));
                }
            }
            QuestionKind::FreeText | QuestionKind::Date if !q.choices.is_empty() => {
                return Err(FieldError::new(
                    format!("{path}.choices"),
                    "only choice questions have choices",
                ));
            }
            _ => {}
        }
        for (j, c) in q.choices.iter().enumerate() {
            let cpath = format!("{path}.choices[{j}]");
            if let Some(k) = q.choices[..j].iter().position(|d| d.id == c.id) {
                return Err(FieldError::new(
                    format!("{cpath}.id"),
                    format!("duplicate choice id `{}` (also choices[{k}])", c.id),
                ));
            }
            if c.id.as_str().starts_with('_') {
                return Err(FieldError::new(
                    format!("{cpath}.id"),
                    "ids starting with `_` are reserved",
                ));
            }
            match &c.label {
                None if q.kind != QuestionKind::Scale => {
                    return Err(FieldError::new(
                        format!("{cpath}.label"),
                        "a label is required",
                    ));
                }
                Some(l) if l.trim().is_empty() || l.chars().count() > MAX_LABEL_CHARS => {
                    return Err(FieldError::new(
                        format!("{cpath}.label"),
                        format!("1 to {MAX_LABEL_CHARS} characters (LINE cuts longer labels)"),
                    ));
                }
                _ => {}
            }
            c.effect().check_fields(&cpath)?;
            self.check_next(q, c.next.as_ref(), &format!("{cpath}.next"))?;
        }
        self.check_next(q, q.next.as_ref(), &format!("{path}.next"))?;
        if self.delivery != Delivery::Form {
            // Built exactly as it will be sent: LINE's limits (13 quick replies, 4 buttons,
            // 300-character postback data) are checked on the real thing.
            let messages = self.ask(q, &[], None);
            validate_messages(&messages, path).map_err(|e| {
                let what = match self.delivery {
                    Delivery::Buttons => "buttons allow at most 4 choices",
                    _ => "quick replies allow at most 13 choices (12 for multiple choice)",
                };
                FieldError::new(format!("{path}.choices"), format!("{what}: {e}"))
            })?;
            if messages.len() > MAX_MESSAGES {
                return Err(FieldError::new(path, "too many messages"));
            }
        }
        Ok(())
    }

    fn check_next(&self, q: &Question, next: Option<&Next>, path: &str) -> Result<(), FieldError> {
        match next {
            Some(Next::Question(id)) if *id == q.id => Err(FieldError::new(
                path,
                "a question cannot lead to itself (the friend would be asked forever)",
            )),
            Some(Next::Question(id)) if self.question(id).is_none() => Err(FieldError::new(
                path,
                format!("next names question `{id}`, which this survey does not have"),
            )),
            _ => Ok(()),
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

impl fmt::Display for Next {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Next::Question(q) => f.write_str(q.as_str()),
            Next::End => f.write_str("end"),
        }
    }
}

definition::definition!(SurveyDefinition, noun: "survey", plural: "surveys");

impl SurveyDefinition {
    /// The first rule broken, with its path (`questions[1].choices[0].label`).
    pub fn validate(&self) -> Result<(), FieldError> {
        check_name("name", &self.name)?;
        if self.questions.is_empty() || self.questions.len() > MAX_QUESTIONS {
            return Err(FieldError::new(
                "questions",
                format!(
                    "1 to {MAX_QUESTIONS} questions, got {}",
                    self.questions.len()
                ),
            ));
        }
        for (i, q) in self.questions.iter().enumerate() {
            let path = format!("questions[{i}]");
            if let Some(j) = self.questions[..i].iter().position(|p| p.id == q.id) {
                return Err(FieldError::new(
                    format!("{path}.id"),
                    format!("duplicate question id `{}` (also questions[{j}])", q.id),
                ));
            }
            if q.id.as_str() == "end" {
                return Err(FieldError::new(
                    format!("{path}.id"),
                    "`end` is reserved for `next: end`",
                ));
            }
            self.validate_question(q, &path)?;
        }
        if !self.thanks.is_empty() {
            validate_messages(&self.thanks, "thanks")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    const HEARING: &str = include_str!("../../../../docs/examples/hearing.yaml");
    const SATISFACTION: &str = include_str!("../../../../docs/examples/satisfaction.yaml");

    fn q(s: &str) -> QuestionId {
        QuestionId::parse(s).unwrap()
    }

    #[test]
    fn the_examples_parse_and_round_trip() {
        for text in [HEARING, SATISFACTION] {
            let def = SurveyDefinition::parse_yaml(text).unwrap();
            let json = serde_json::to_vec(&def).unwrap();
            assert_eq!(SurveyDefinition::parse_json(&json).unwrap(), def);
        }
    }

    #[test]
    fn a_choice_branches_and_its_effects_name_tags_fields_and_scenarios() {
        let def = SurveyDefinition::parse_yaml(HEARING).unwrap();
        let genre = def.question(&q("genre")).unwrap();
        let answer = genre
            .interpret(Received::Postback {
                answer: "beauty",
                date: None,
            })
            .unwrap();
        let fx = genre.effects(&answer);
        assert_eq!(fx.effect.add_tags, vec![TagName::parse("美容").unwrap()]);
        assert_eq!(
            fx.effect.set_fields.get("genre").map(String::as_str),
            Some("美容")
        );
        assert_eq!(
            fx.enroll,
            vec![ScenarioId::parse("beauty-welcome").unwrap()]
        );
        assert_eq!(def.next_after(genre, &answer).unwrap().id, q("purpose"));
        assert_eq!(
            genre.interpret(Received::Postback {
                answer: "cars",
                date: None
            }),
            Err(NotAnAnswer::UnknownChoice)
        );
        assert_eq!(genre.interpret(Received::Text("美容")), Ok(answer));
    }

    #[test]
    fn a_scale_without_written_choices_offers_one_to_five() {
        let def = SurveyDefinition::parse_yaml(SATISFACTION).unwrap();
        let msgs = def.ask(&def.questions[0], &[], None);
        let items = msgs[0]["quickReply"]["items"].as_array().unwrap();
        assert_eq!(items.len(), 5);
        assert_eq!(
            parse_postback(items[4]["action"]["data"].as_str().unwrap()),
            Some((def.id.clone(), def.questions[0].id.clone(), "5".to_owned()))
        );
    }

    #[test]
    fn fourteen_quick_reply_choices_are_refused_at_definition_time() {
        let choices: Vec<Value> = (0..14)
            .map(|i| json!({"id": format!("c{i}"), "label": format!("選択{i}")}))
            .collect();
        let v = json!({"id": "s", "name": "s", "questions": [
            {"id": "a", "type": "singleChoice", "text": "?", "choices": choices}]});
        let e = SurveyDefinition::parse_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(e.field, "questions[0].choices");
    }

    #[test]
    fn five_buttons_are_refused_and_long_labels_named() {
        let choices: Vec<Value> = (0..5)
            .map(|i| json!({"id": format!("c{i}"), "label": "x"}))
            .collect();
        let v = json!({"id": "s", "name": "s", "delivery": "buttons", "questions": [
            {"id": "a", "type": "singleChoice", "text": "?", "choices": choices}]});
        let e = SurveyDefinition::parse_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(e.field, "questions[0].choices");
        let v = json!({"id": "s", "name": "s", "questions": [
            {"id": "a", "type": "singleChoice", "text": "?", "choices": [{"id": "x", "label": "あ".repeat(21)}]}]});
        let e = SurveyDefinition::parse_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(e.field, "questions[0].choices[0].label");
    }

    #[test]
    fn a_misspelt_key_and_a_dangling_branch_are_named() {
        let v = json!({"id": "s", "name": "s", "questions": [
            {"id": "a", "type": "singleChoice", "text": "?", "choices": [{"id": "x", "label": "x", "addTag": ["a"]}]}]});
        let e = SurveyDefinition::parse_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(e.field, "questions[0].choices[0]");
        assert!(e.message.contains("addTag"), "{e}");
        let v = json!({"id": "s", "name": "s", "questions": [
            {"id": "a", "type": "freeText", "text": "?", "next": "nowhere"}]});
        let e = SurveyDefinition::parse_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(e.field, "questions[0].next");
    }

    #[test]
    fn a_pasted_page_is_not_a_free_text_answer() {
        let question = Question {
            id: q("voice"),
            kind: QuestionKind::FreeText,
            text: "ご意見をどうぞ".into(),
            choices: vec![],
            field: Some("voice".into()),
            next: None,
            add_tags: vec![],
            score: 0,
        };
        let longest = "あ".repeat(MAX_ANSWER_CHARS);
        assert_eq!(
            question.interpret(Received::Text(&longest)),
            Ok(Answer::Text(longest.clone()))
        );
        let pasted = format!("{longest}い");
        assert_eq!(
            question.interpret(Received::Text(&pasted)),
            Err(NotAnAnswer::TooLong)
        );
    }

    #[test]
    fn dates_come_from_the_picker_or_typed_text() {
        let question = Question {
            id: q("birthday"),
            kind: QuestionKind::Date,
            text: "?".into(),
            choices: vec![],
            field: Some("birthday".into()),
            next: None,
            add_tags: vec![],
            score: 0,
        };
        let d: Date = "1995-04-01".parse().unwrap();
        assert_eq!(
            question.interpret(Received::Postback {
                answer: PICKED_DATE,
                date: Some("1995-04-01")
            }),
            Ok(Answer::Date(d))
        );
        assert_eq!(
            question.interpret(Received::Text("1995/04/01")),
            Ok(Answer::Date(d))
        );
        assert_eq!(
            question.interpret(Received::Text("そのうち")),
            Err(NotAnAnswer::NotADate)
        );
        let fx = question.effects(&Answer::Date(d));
        assert_eq!(
            fx.effect.set_fields,
            std::collections::BTreeMap::from([("birthday".to_owned(), "1995-04-01".to_owned())])
        );
    }

    #[test]
    fn multiple_choice_stays_open_until_done() {
        let v = json!({"id": "s", "name": "s", "questions": [
            {"id": "a", "type": "multipleChoice", "text": "?", "choices": [
                {"id": "x", "label": "X"}, {"id": "y", "label": "Y"}]},
            {"id": "b", "type": "freeText", "text": "?"}]});
        let def = SurveyDefinition::parse_json(&serde_json::to_vec(&v).unwrap()).unwrap();
        let a = &def.questions[0];
        let tap = a
            .interpret(Received::Postback {
                answer: "x",
                date: None,
            })
            .unwrap();
        assert_eq!(def.next_after(a, &tap).unwrap().id, q("a"));
        let msgs = def.ask(a, &[ChoiceId::parse("x").unwrap()], None);
        let labels: Vec<&str> = msgs[0]["quickReply"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["action"]["label"].as_str().unwrap())
            .collect();
        assert_eq!(labels, ["Y", "回答終了"]);
        let done = a
            .interpret(Received::Postback {
                answer: DONE,
                date: None,
            })
            .unwrap();
        assert_eq!(def.next_after(a, &done).unwrap().id, q("b"));
    }

    #[test]
    fn postback_data_round_trips_and_ignores_other_postbacks() {
        let data = postback_data(&SurveyId::parse("s").unwrap(), &q("a"), "x");
        assert_eq!(data, "svy=s&q=a&a=x");
        assert!(parse_postback("menu=coupon").is_none());
        assert!(parse_postback("svy=s&q=a").is_none());
    }

    #[test]
    fn an_open_question_goes_stale_after_a_day() {
        let at: Timestamp = "2026-04-01T00:00:00Z".parse().unwrap();
        let open = OpenQuestion {
            survey: SurveyId::parse("s").unwrap(),
            question: q("a"),
            asked_at: at,
        };
        assert!(open.is_fresh(at.saturating_add(SignedDuration::from_hours(23)).unwrap()));
        assert!(!open.is_fresh(at.saturating_add(SignedDuration::from_hours(25)).unwrap()));
    }
}
