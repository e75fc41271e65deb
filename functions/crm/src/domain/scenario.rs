//! Step scenarios (ステップ配信): what a friend receives, in which order and when, from the moment
//! a trigger enrolls them until the last step or a stop rule ends it.
//!
//! Marketers write definitions as JSON or YAML (same shape, camelCase). Unknown keys are errors
//! naming the key, because a misspelt `conditons:` silently ignored would send a coupon to
//! everyone. An example, also in `docs/examples/welcome.yaml`:
//!
//! ```yaml
//! id: welcome
//! name: 友だち追加ウェルカム
//! trigger: { type: follow }
//! stopRules:
//!   - { type: tagAdded, tag: 購入済み }
//! steps:
//!   - id: greeting                      # no timing: sent right away
//!     messages:
//!       - type: text
//!         text: "{{name|お客様}}さん、友だち追加ありがとうございます!"
//!   - id: tips
//!     timing: { day: 2, at: "10:00" }   # 10:00 on the 2nd day after the enrollment day
//!     messages:
//!       - { type: text, text: "使い方のコツをお届けします。" }
//!   - id: coupon
//!     timing: { day: 7, at: "10:00" }
//!     conditions:
//!       - { type: lacksTag, tag: 購入済み }
//!     onUnmet: stop
//!     messages:
//!       - { type: text, text: "初回限定クーポン: {{coupon}}" }
//! ```
use std::fmt;

use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{self, MapAccess, Visitor},
};
use serde_json::Value;

use super::condition::{Condition, Scope, conditions_hold, validate_conditions};
use super::definition;
use super::field_error::check_name;
use super::message::{FieldError, validate_messages};
use super::schedule::{Timing, window_serde};
use super::{DeliveryWindow, Friend, LineUserId, TagName, TenantId};

/// Marketers build long nurture sequences, but past 100 steps a definition is unreviewable.
pub const MAX_STEPS: usize = 100;

pub(crate) use super::ids::slug_newtype;
pub use super::ids::{BadSlug, ScenarioId};

slug_newtype!(
    /// A step's id within its scenario: stable across edits, so a running enrollment keeps its place.
    StepId
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScenarioDefinition {
    pub id: ScenarioId,
    pub name: String,
    pub trigger: Trigger,
    /// Whether a friend who finished (or was stopped) may enter again on the next trigger;
    /// off by default so a re-follow does not replay the welcome series.
    #[serde(default)]
    pub allow_reentry: bool,
    /// Overrides the tenant's delivery window for this scenario, e.g. `{ start: "10:00", end: "20:00" }`.
    #[serde(
        default,
        with = "window_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub window: Option<DeliveryWindow>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_rules: Vec<StopRule>,
    pub steps: Vec<StepDefinition>,
}

/// What enrolls a friend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum Trigger {
    Follow,
    TagAdded {
        tag: TagName,
    },
    /// Arrived through an inflow route (QR code, ad, URL).
    Route {
        route: String,
    },
    /// Any purchase, or only of `product`.
    Purchase {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        product: Option<String>,
    },
    /// Answered a survey; narrowed to one question, or one answer to it, when given.
    SurveyAnswer {
        survey: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        question: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<String>,
    },
    /// Enrolled by an operator or the admin API.
    Manual,
}

/// An event that ends an enrollment wherever it is (a buyer must not get the "buy now" coupon).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum StopRule {
    TagAdded {
        tag: TagName,
    },
    Purchase,
    /// Blocking makes every push fail (and cost nothing but noise); stop instead of retrying.
    Unfollow,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepDefinition {
    pub id: StepId,
    #[serde(default)]
    pub timing: Timing,
    /// LINE message objects, 1–5 (one push); may be empty when the step asks a survey.
    #[serde(default)]
    pub messages: Vec<Value>,
    /// A survey whose first question goes out after `messages`, in the same push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub survey: Option<super::survey::SurveyId>,
    /// All must hold at send time (not at enrollment: tags change while the friend waits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub on_unmet: OnUnmet,
    /// An order or reservation notice the friend is waiting for: exempt from the per-friend
    /// daily cap, which exists to keep promotions from driving blocks.
    #[serde(default)]
    pub transactional: bool,
}

/// What happens when a step's conditions do not hold at send time.
///
/// Written as a word for the simple cases and as a tagged object for the ones with a target:
/// `skip` (default), `stop`, `{ type: goto, step: <step id> }`,
/// `{ type: switch, scenario: <scenario id> }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum OnUnmet {
    /// Go on to the next step, as if this one had been sent.
    #[default]
    Skip,
    /// End the enrollment.
    Stop,
    /// Jump to another step of this scenario.
    Goto { step: StepId },
    /// End this enrollment and enroll the friend into another scenario.
    Switch { scenario: ScenarioId },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
enum TaggedOnUnmet {
    Skip,
    Stop,
    Goto { step: StepId },
    Switch { scenario: ScenarioId },
}

impl Serialize for OnUnmet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OnUnmet::Skip => s.serialize_str("skip"),
            OnUnmet::Stop => s.serialize_str("stop"),
            OnUnmet::Goto { step } => TaggedOnUnmet::Goto { step: step.clone() }.serialize(s),
            OnUnmet::Switch { scenario } => TaggedOnUnmet::Switch {
                scenario: scenario.clone(),
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for OnUnmet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OnUnmet;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "`skip`, `stop`, `{ type: goto, step }` or `{ type: switch, scenario }`",
                )
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<OnUnmet, E> {
                match s {
                    "skip" => Ok(OnUnmet::Skip),
                    "stop" => Ok(OnUnmet::Stop),
                    other => Err(E::unknown_variant(other, &["skip", "stop"])),
                }
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OnUnmet, A::Error> {
                let tagged =
                    TaggedOnUnmet::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(match tagged {
                    TaggedOnUnmet::Skip => OnUnmet::Skip,
                    TaggedOnUnmet::Stop => OnUnmet::Stop,
                    TaggedOnUnmet::Goto { step } => OnUnmet::Goto { step },
                    TaggedOnUnmet::Switch { scenario } => OnUnmet::Switch { scenario },
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// What the send loop does with the step it reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepDecision {
    Send,
    /// Do not send; continue with `next_step_after`.
    Skip,
    /// End the enrollment.
    Stop,
    /// Continue at this step index.
    Goto(usize),
    /// End the enrollment and enroll into this scenario.
    Switch(ScenarioId),
}

/// Fixed namespace for retry keys; changing it would re-send every in-flight step.
const RETRY_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6f1d_5a0e_8c2b_4e57_9a43_2b7c_1d0e_f3a9);

/// The `X-Line-Retry-Key` for one step sent to one friend in one enrollment.
///
/// Deterministic, so a send retried after a timeout or crash reuses the key and LINE answers 409
/// instead of delivering twice. Every part before `enrollment` is a slug or id that cannot
/// contain `/`, so the joined name is unambiguous. A step revisited through `goto` within 24 h
/// (LINE's memory of a key) needs a distinct `enrollment` (e.g. with a visit count), or LINE
/// treats the revisit as a repeat.
pub fn retry_key(
    tenant: &TenantId,
    friend: &LineUserId,
    scenario: &ScenarioId,
    version: u32,
    step: &StepId,
    enrollment: &str,
) -> uuid::Uuid {
    let name = format!("{tenant}/{friend}/{scenario}/{version}/{step}/{enrollment}");
    uuid::Uuid::new_v5(&RETRY_NAMESPACE, name.as_bytes())
}

impl ScenarioDefinition {
    fn validate_trigger(&self) -> Result<(), FieldError> {
        let blank = |field: &str| Err(FieldError::new(field, "must not be blank"));
        match &self.trigger {
            Trigger::Route { route } if route.trim().is_empty() => blank("trigger.route"),
            Trigger::SurveyAnswer { survey, .. } if survey.trim().is_empty() => {
                blank("trigger.survey")
            }
            _ => Ok(()),
        }
    }

    fn validate_step(&self, i: usize, step: &StepDefinition) -> Result<(), FieldError> {
        let path = format!("steps[{i}].messages");
        match &step.survey {
            None => validate_messages(&step.messages, &path)?,
            // The question is one more message object in the same push.
            Some(_) if step.messages.len() >= super::message::MAX_MESSAGES => {
                return Err(FieldError::new(
                    path,
                    "a step that asks a survey leaves room for the question: at most 4 messages",
                ));
            }
            Some(_) if !step.messages.is_empty() => validate_messages(&step.messages, &path)?,
            Some(_) => {}
        }
        validate_conditions(
            &step.conditions,
            &format!("steps[{i}].conditions"),
            Scope::Friend,
        )?;
        match &step.on_unmet {
            OnUnmet::Goto { step: target } if *target == step.id => Err(FieldError::new(
                format!("steps[{i}].onUnmet"),
                "goto cannot point at its own step (it would wait on itself forever)",
            )),
            OnUnmet::Goto { step: target } if self.step_index(target).is_none() => {
                Err(FieldError::new(
                    format!("steps[{i}].onUnmet"),
                    format!("goto names step `{target}`, which this scenario does not have"),
                ))
            }
            OnUnmet::Switch { scenario } if *scenario == self.id => Err(FieldError::new(
                format!("steps[{i}].onUnmet"),
                "switch to this same scenario; use goto to move within it",
            )),
            _ => Ok(()),
        }
    }

    pub fn step_index(&self, id: &StepId) -> Option<usize> {
        self.steps.iter().position(|s| s.id == *id)
    }

    /// The step after `index` in written order, or None when the scenario is finished.
    pub fn next_step_after(&self, index: usize) -> Option<usize> {
        let next = index.checked_add(1)?;
        (next < self.steps.len()).then_some(next)
    }

    /// What to do with step `step_index` for this friend now. An index past the end (a step
    /// removed by an edit) stops the enrollment rather than guessing where to resume.
    pub fn decide(&self, step_index: usize, friend: &Friend) -> StepDecision {
        let Some(step) = self.steps.get(step_index) else {
            return StepDecision::Stop;
        };
        if conditions_hold(&step.conditions, friend, None) {
            return StepDecision::Send;
        }
        match &step.on_unmet {
            OnUnmet::Skip => StepDecision::Skip,
            OnUnmet::Stop => StepDecision::Stop,
            OnUnmet::Goto { step } => self
                .step_index(step)
                .map_or(StepDecision::Stop, StepDecision::Goto),
            OnUnmet::Switch { scenario } => StepDecision::Switch(scenario.clone()),
        }
    }

    pub fn stops_on_tag(&self, tag: &TagName) -> bool {
        self.stop_rules
            .iter()
            .any(|r| matches!(r, StopRule::TagAdded { tag: t } if t == tag))
    }

    pub fn stops_on_purchase(&self) -> bool {
        self.stop_rules.contains(&StopRule::Purchase)
    }

    pub fn stops_on_unfollow(&self) -> bool {
        self.stop_rules.contains(&StopRule::Unfollow)
    }
}

definition::definition!(ScenarioDefinition, noun: "scenario", plural: "scenarios");

impl ScenarioDefinition {
    /// The first rule broken, with its path (`steps[2].onUnmet`).
    pub fn validate(&self) -> Result<(), FieldError> {
        check_name("name", &self.name)?;
        self.validate_trigger()?;
        if let Some(w) = &self.window
            && w.start >= w.end
        {
            return Err(FieldError::new(
                "window",
                "start must be before end (e.g. 09:00–21:00)",
            ));
        }
        if self.steps.is_empty() {
            return Err(FieldError::new("steps", "at least one step is needed"));
        }
        if self.steps.len() > MAX_STEPS {
            return Err(FieldError::new(
                "steps",
                format!("at most {MAX_STEPS} steps, got {}", self.steps.len()),
            ));
        }
        for (i, step) in self.steps.iter().enumerate() {
            if let Some(j) = self.steps[..i].iter().position(|s| s.id == step.id) {
                return Err(FieldError::new(
                    format!("steps[{i}].id"),
                    format!("duplicate step id `{}` (also steps[{j}])", step.id),
                ));
            }
        }
        for (i, step) in self.steps.iter().enumerate() {
            self.validate_step(i, step)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;
    use serde_json::json;

    const WELCOME: &str = include_str!("../../../../docs/examples/welcome.yaml");

    fn friend() -> Friend {
        Friend::new(
            TenantId::parse("demo").unwrap(),
            LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap(),
            "2026-04-01T00:00:00Z".parse().unwrap(),
        )
    }

    fn tag(s: &str) -> TagName {
        TagName::parse(s).unwrap()
    }

    fn now() -> Timestamp {
        "2026-04-02T00:00:00Z".parse().unwrap()
    }

    /// A valid one-step scenario as JSON, to break in one place per test.
    fn base() -> Value {
        json!({
            "id": "welcome",
            "name": "ようこそ",
            "trigger": {"type": "follow"},
            "steps": [
                {"id": "greeting", "messages": [{"type": "text", "text": "こんにちは"}]}
            ]
        })
    }

    fn parse(v: &Value) -> Result<ScenarioDefinition, FieldError> {
        ScenarioDefinition::parse_json(&serde_json::to_vec(v).unwrap())
    }

    fn text(s: &str) -> Value {
        json!({"type": "text", "text": s})
    }

    fn with_steps(steps: Value) -> Value {
        let mut v = base();
        v["steps"] = steps;
        v
    }

    #[test]
    fn the_welcome_example_parses_and_validates() {
        let def = ScenarioDefinition::parse_yaml(WELCOME).unwrap();
        assert_eq!(def.id.as_str(), "welcome");
        assert_eq!(def.trigger, Trigger::Follow);
        assert_eq!(def.steps.len(), 3);
        assert_eq!(def.steps[0].timing, Timing::Immediately);
        assert!(def.stops_on_tag(&tag("購入済み")));
        assert!(!def.stops_on_purchase());
        assert_eq!(
            def.steps[2].conditions,
            vec![Condition::LacksTag {
                tag: tag("購入済み")
            }]
        );
    }

    #[test]
    fn json_and_yaml_are_the_same_shape() {
        let def = ScenarioDefinition::parse_yaml(WELCOME).unwrap();
        let json = serde_json::to_vec(&def).unwrap();
        assert_eq!(ScenarioDefinition::parse_json(&json).unwrap(), def);
        let yaml = serde_yaml_ng::to_string(&def).unwrap();
        assert_eq!(ScenarioDefinition::parse_yaml(&yaml).unwrap(), def);
    }

    #[test]
    fn six_messages_in_a_step_name_the_step_messages() {
        let v = with_steps(json!([{"id": "a", "messages": vec![text("x"); 6]}]));
        assert_eq!(parse(&v).unwrap_err().field, "steps[0].messages");
    }

    #[test]
    fn a_5001_character_text_names_the_text() {
        let v = with_steps(json!([{"id": "a", "messages": [text(&"あ".repeat(5001))]}]));
        assert_eq!(parse(&v).unwrap_err().field, "steps[0].messages[0].text");
    }

    #[test]
    fn fourteen_quick_replies_name_the_items() {
        let mut m = text("どれ?");
        m["quickReply"] = json!({"items": vec![
            json!({"type": "action", "action": {"type": "message", "label": "a", "text": "a"}}); 14]});
        let v =
            with_steps(json!([{"id": "a", "messages": [text("x")]}, {"id": "b", "messages": [m]}]));
        assert_eq!(
            parse(&v).unwrap_err().field,
            "steps[1].messages[0].quickReply.items"
        );
    }

    #[test]
    fn postback_data_of_301_characters_names_the_data() {
        let m = json!({"type": "template", "altText": "選択", "template": {"type": "buttons",
            "text": "選んでください", "actions": [{"type": "postback", "label": "A", "data": "d".repeat(301)}]}});
        let v = with_steps(json!([{"id": "a", "messages": [m]}]));
        assert_eq!(
            parse(&v).unwrap_err().field,
            "steps[0].messages[0].template.actions[0].data"
        );
    }

    #[test]
    fn a_misspelt_key_in_json_is_an_error_naming_it_and_its_step() {
        let v = with_steps(json!([
            {"id": "a", "messages": [text("x")]},
            {"id": "b", "messages": [text("x")], "conditons": []}
        ]));
        let e = parse(&v).unwrap_err();
        assert_eq!(e.field, "steps[1]");
        assert!(e.message.contains("conditons"), "{e}");
        assert!(e.message.contains("line 1"), "{e}");
    }

    #[test]
    fn a_misspelt_key_in_yaml_is_an_error_naming_it_and_its_line() {
        let yaml = WELCOME.replace("onUnmet:", "onUnmett:");
        let e = ScenarioDefinition::parse_yaml(&yaml).unwrap_err();
        assert_eq!(e.field, "steps[2]");
        assert!(e.message.contains("onUnmett"), "{e}");
        assert!(e.message.contains("line"), "{e}");
    }

    #[test]
    fn a_misspelt_top_level_key_is_named() {
        let mut v = base();
        v["allowReEntry"] = json!(true);
        let e = parse(&v).unwrap_err();
        assert!(e.message.contains("allowReEntry"), "{e}");
    }

    #[test]
    fn a_bad_condition_type_names_the_condition() {
        let v = with_steps(json!([{"id": "a", "messages": [text("x")],
            "conditions": [{"type": "hasTag", "tag": "VIP"}, {"type": "hasTags", "tag": "VIP"}]}]));
        let e = parse(&v).unwrap_err();
        assert_eq!(e.field, "steps[0].conditions[1]");
        assert!(e.message.contains("hasTags"), "{e}");
    }

    #[test]
    fn a_duplicate_step_id_names_the_second_one() {
        let v = with_steps(json!([
            {"id": "a", "messages": [text("x")]},
            {"id": "a", "messages": [text("y")]}
        ]));
        let e = parse(&v).unwrap_err();
        assert_eq!(e.field, "steps[1].id");
        assert!(e.message.contains("steps[0]"), "{e}");
    }

    #[test]
    fn goto_to_a_missing_step_is_refused() {
        let v = with_steps(json!([{"id": "a", "messages": [text("x")],
            "conditions": [{"type": "hasTag", "tag": "VIP"}],
            "onUnmet": {"type": "goto", "step": "nowhere"}}]));
        let e = parse(&v).unwrap_err();
        assert_eq!(e.field, "steps[0].onUnmet");
        assert!(e.message.contains("nowhere"), "{e}");
    }

    #[test]
    fn goto_to_its_own_step_is_refused() {
        let v = with_steps(json!([{"id": "a", "messages": [text("x")],
            "onUnmet": {"type": "goto", "step": "a"}}]));
        assert_eq!(parse(&v).unwrap_err().field, "steps[0].onUnmet");
    }

    #[test]
    fn a_scenario_without_steps_is_refused() {
        assert_eq!(parse(&with_steps(json!([]))).unwrap_err().field, "steps");
    }

    #[test]
    fn a_window_must_open_before_it_closes() {
        let mut v = base();
        v["window"] = json!({"start": "21:00", "end": "09:00"});
        assert_eq!(parse(&v).unwrap_err().field, "window");
        v["window"] = json!({"start": "10:00", "end": "20:00", "tz": "UTC"});
        assert_eq!(parse(&v).unwrap_err().field, "window");
        v["window"] = json!({"start": "10:00", "end": "20:00"});
        let w = parse(&v).unwrap().window.unwrap();
        assert_eq!(w.start.to_string(), "10:00:00");
    }

    #[test]
    fn an_invalid_tag_or_slug_names_its_place() {
        let mut v = base();
        v["stopRules"] = json!([{"type": "purchase"}, {"type": "tagAdded", "tag": ""}]);
        assert_eq!(parse(&v).unwrap_err().field, "stopRules[1]");
        let v = with_steps(json!([{"id": "Step One", "messages": [text("x")]}]));
        assert_eq!(parse(&v).unwrap_err().field, "steps[0].id");
        let mut v = base();
        v["id"] = json!("ようこそ");
        assert_eq!(parse(&v).unwrap_err().field, "id");
    }

    #[test]
    fn a_comparison_without_value_names_the_value() {
        let v = with_steps(json!([{"id": "a", "messages": [text("x")],
            "conditions": [{"type": "field", "name": "age", "op": "gte"}]}]));
        assert_eq!(parse(&v).unwrap_err().field, "steps[0].conditions[0].value");
    }

    #[test]
    fn on_unmet_accepts_words_and_tagged_objects() {
        for (json, expected) in [
            (json!("skip"), OnUnmet::Skip),
            (json!("stop"), OnUnmet::Stop),
            (json!({"type": "stop"}), OnUnmet::Stop),
            (
                json!({"type": "switch", "scenario": "follow-up"}),
                OnUnmet::Switch {
                    scenario: ScenarioId::parse("follow-up").unwrap(),
                },
            ),
        ] {
            assert_eq!(serde_json::from_value::<OnUnmet>(json).unwrap(), expected);
        }
        assert!(serde_json::from_value::<OnUnmet>(json!("jump")).is_err());
        assert!(serde_json::from_value::<OnUnmet>(json!({"type": "goto", "stp": "a"})).is_err());
    }

    #[test]
    fn the_coupon_goes_only_to_friends_who_have_not_bought() {
        let def = ScenarioDefinition::parse_yaml(WELCOME).unwrap();
        let mut f = friend();
        assert_eq!(def.decide(2, &f), StepDecision::Send);
        f.add_tag(tag("購入済み"), now());
        assert_eq!(def.decide(2, &f), StepDecision::Stop);
        assert_eq!(def.decide(0, &f), StepDecision::Send);
    }

    #[test]
    fn unmet_steps_skip_goto_or_switch_as_written() {
        let v = with_steps(json!([
            {"id": "a", "messages": [text("x")], "conditions": [{"type": "hasTag", "tag": "VIP"}]},
            {"id": "b", "messages": [text("x")], "conditions": [{"type": "hasTag", "tag": "VIP"}],
             "onUnmet": {"type": "goto", "step": "d"}},
            {"id": "c", "messages": [text("x")], "conditions": [{"type": "hasTag", "tag": "VIP"}],
             "onUnmet": {"type": "switch", "scenario": "general"}},
            {"id": "d", "messages": [text("x")]}
        ]));
        let def = parse(&v).unwrap();
        let f = friend();
        assert_eq!(def.decide(0, &f), StepDecision::Skip);
        assert_eq!(def.decide(1, &f), StepDecision::Goto(3));
        assert_eq!(
            def.decide(2, &f),
            StepDecision::Switch(ScenarioId::parse("general").unwrap())
        );
        assert_eq!(def.decide(3, &f), StepDecision::Send);
        assert_eq!(def.decide(9, &f), StepDecision::Stop);
        assert_eq!(def.next_step_after(2), Some(3));
        assert_eq!(def.next_step_after(3), None);
    }

    #[test]
    fn stop_rules_answer_the_events_they_name() {
        let mut v = base();
        v["stopRules"] = json!([{"type": "purchase"}, {"type": "unfollow"}]);
        let def = parse(&v).unwrap();
        assert!(def.stops_on_purchase());
        assert!(def.stops_on_unfollow());
        assert!(!def.stops_on_tag(&tag("購入済み")));
    }

    #[test]
    fn every_trigger_parses() {
        for t in [
            json!({"type": "follow"}),
            json!({"type": "tagAdded", "tag": "資料請求"}),
            json!({"type": "route", "route": "instagram-ad"}),
            json!({"type": "purchase"}),
            json!({"type": "purchase", "product": "sku-1"}),
            json!({"type": "surveyAnswer", "survey": "s1", "question": "q1", "answer": "20代"}),
            json!({"type": "manual"}),
        ] {
            let mut v = base();
            v["trigger"] = t.clone();
            assert!(parse(&v).is_ok(), "{t}");
        }
    }

    #[test]
    fn retry_key_is_stable_and_distinct_per_step() {
        let tenant = TenantId::parse("demo").unwrap();
        let user = LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").unwrap();
        let scenario = ScenarioId::parse("welcome").unwrap();
        let a = StepId::parse("greeting").unwrap();
        let b = StepId::parse("tips").unwrap();
        let key = |step: &StepId, version: u32, enr: &str| {
            retry_key(&tenant, &user, &scenario, version, step, enr)
        };
        assert_eq!(key(&a, 1, "e1"), key(&a, 1, "e1"));
        assert_ne!(key(&a, 1, "e1"), key(&b, 1, "e1"));
        assert_ne!(key(&a, 1, "e1"), key(&a, 2, "e1"));
        assert_ne!(key(&a, 1, "e1"), key(&a, 1, "e2"));
        assert_eq!(key(&a, 1, "e1").get_version_num(), 5);
    }

    #[test]
    fn slugs_are_key_safe() {
        assert!(ScenarioId::parse("welcome_2026-04").is_ok());
        for bad in [
            "",
            "Welcome",
            "a b",
            "a/b",
            "a#b",
            "ようこそ",
            &"a".repeat(65),
        ] {
            assert_eq!(StepId::parse(bad), Err(BadSlug), "{bad}");
        }
    }
}
