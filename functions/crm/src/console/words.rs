//! A definition in the marketer's words, for the console's pages: triggers, timings
//! (「登録日から3日後の10:00」), conditions, stop rules, and messages as LINE-like chat bubbles.
//! Every phrase comes from `Labels`, with `{name}` placeholders filled in.
use serde_json::Value;

use super::Labels;
use crate::domain::{
    condition::{Condition, FieldOp},
    scenario::{StopRule, Trigger},
    schedule::{Anchor, Delay, Timing},
};

/// `{name}` placeholders in a label, filled in.
pub(super) fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(template.to_owned(), |text, (k, v)| {
        text.replace(&format!("{{{k}}}"), v)
    })
}

/// What enrolls a friend, in words.
pub(super) fn trigger_words(t: &Trigger, l: &Labels) -> String {
    match t {
        Trigger::Follow => l.trigger_follow.to_owned(),
        Trigger::TagAdded { tag } => fill(l.trigger_tag, &[("tag", tag.as_str())]),
        Trigger::Route { route } => fill(l.trigger_route, &[("route", route)]),
        Trigger::Purchase { product: None } => l.trigger_purchase.to_owned(),
        Trigger::Purchase {
            product: Some(product),
        } => fill(l.trigger_purchase_of, &[("product", product)]),
        Trigger::SurveyAnswer { survey, .. } => fill(l.trigger_survey, &[("survey", survey)]),
        Trigger::Manual => l.trigger_manual.to_owned(),
    }
}

/// When a step goes, in words: 「登録日から2日後の10:00」.
pub(super) fn timing_words(t: &Timing, l: &Labels) -> String {
    let from = |a: &Anchor| match a {
        Anchor::Enrollment => l.from_enrollment,
        Anchor::Previous => l.from_previous,
    };
    match t {
        Timing::Immediately => l.timing_now.to_owned(),
        Timing::After { delay, from: a } => fill(
            l.timing_after,
            &[("from", from(a)), ("delay", &delay_words(delay, l))],
        ),
        Timing::DayAt { day, at, from: a } => fill(
            l.timing_day,
            &[
                ("from", from(a)),
                ("day", &day.to_string()),
                ("at", &at.strftime("%H:%M").to_string()),
            ],
        ),
    }
}

fn delay_words(d: &Delay, l: &Labels) -> String {
    [
        (d.days, l.days_unit),
        (d.hours, l.hours_unit),
        (d.minutes, l.minutes_unit),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, unit)| format!("{n}{unit}"))
    .collect::<Vec<_>>()
    .join(" ")
}

/// A step's condition in words: 「タグ「VIP」あり」, 「購入回数 ≥ 2」.
pub(super) fn condition_words(c: &Condition, l: &Labels) -> String {
    let op = |op: &FieldOp| match op {
        FieldOp::Eq => "=",
        FieldOp::Ne => "≠",
        FieldOp::Gt => ">",
        FieldOp::Gte => "≥",
        FieldOp::Lt => "<",
        FieldOp::Lte => "≤",
        FieldOp::Contains => l.op_contains,
        FieldOp::Exists => l.op_exists,
        FieldOp::Missing => l.op_missing,
    };
    match c {
        Condition::HasTag { tag } => fill(l.has_tag_named, &[("tag", tag.as_str())]),
        Condition::LacksTag { tag } => fill(l.lacks_tag_named, &[("tag", tag.as_str())]),
        Condition::Field { name, op: o, value } => {
            format!("{name} {} {}", op(o), value.as_deref().unwrap_or_default())
        }
        Condition::PurchaseCount { op: o, value } => {
            format!("{} {} {value}", l.purchase_count, op(o))
        }
        Condition::PurchaseTotal { op: o, value } => {
            format!("{} {} ¥{value}", l.purchase_total, op(o))
        }
        Condition::Score { op: o, value } => format!("{} {} {value}", l.score, op(o)),
    }
}

pub(super) fn stop_rule_words(r: &StopRule, l: &Labels) -> String {
    match r {
        StopRule::TagAdded { tag } => fill(l.stop_on_tag, &[("tag", tag.as_str())]),
        StopRule::Purchase => l.stop_on_purchase.to_owned(),
        StopRule::Unfollow => l.stop_on_unfollow.to_owned(),
    }
}

/// One message as a chat bubble: its text, and the labels of its buttons and quick replies.
pub(super) struct Bubble {
    /// `text`, `media` (image, video, sticker… shown as a placeholder) or `card` (a template).
    pub class: &'static str,
    pub text: String,
    pub actions: Vec<String>,
    pub quick_replies: Vec<String>,
}

/// LINE message objects as bubbles (unrendered: `{{name}}` shows as written).
pub(super) fn bubbles(messages: &[Value], l: &Labels) -> Vec<Bubble> {
    let str_at = |v: &Value, pointer: &str| {
        v.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let labels = |v: Option<&Value>, pointer: &str| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|items| items.iter().map(|i| str_at(i, pointer)).collect())
            .unwrap_or_default()
    };
    messages
        .iter()
        .map(|m| {
            let kind = m.get("type").and_then(Value::as_str).unwrap_or_default();
            let (class, text, actions) = match kind {
                "text" => ("text", str_at(m, "/text"), Vec::new()),
                "image" => ("media", l.image.to_owned(), Vec::new()),
                "sticker" => ("media", l.sticker.to_owned(), Vec::new()),
                "template" => {
                    let text = match str_at(m, "/template/text") {
                        t if t.is_empty() => str_at(m, "/altText"),
                        t => t,
                    };
                    let actions = labels(m.pointer("/template/actions"), "/label");
                    ("card", text, actions)
                }
                other => {
                    let text = match str_at(m, "/altText") {
                        t if t.is_empty() => fill(l.other_message, &[("type", other)]),
                        t => t,
                    };
                    ("media", text, Vec::new())
                }
            };
            Bubble {
                class,
                text,
                actions,
                quick_replies: labels(m.pointer("/quickReply/items"), "/action/label"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::Lang;

    #[test]
    fn messages_become_bubbles_with_their_buttons_and_quick_replies() {
        let messages: Vec<Value> = serde_json::from_str(
            r#"[{"type": "text", "text": "どれ?", "quickReply": {"items": [
                  {"type": "action", "action": {"type": "message", "label": "A", "text": "a"}}]}},
                {"type": "image", "originalContentUrl": "https://x/a.jpg", "previewImageUrl": "https://x/b.jpg"},
                {"type": "template", "altText": "選択", "template": {"type": "buttons", "text": "選んでください",
                  "actions": [{"type": "postback", "label": "予約", "data": "d"}]}},
                {"type": "flex", "altText": "クーポン", "contents": {}}]"#,
        )
        .unwrap();
        let b = bubbles(&messages, Lang::Ja.labels());
        assert_eq!((b[0].class, b[0].text.as_str()), ("text", "どれ?"));
        assert_eq!(b[0].quick_replies, ["A"]);
        assert_eq!((b[1].class, b[1].text.as_str()), ("media", "画像"));
        assert_eq!(b[2].actions, ["予約"]);
        assert_eq!(b[2].text, "選んでください");
        assert_eq!(b[3].text, "クーポン");
    }
}
