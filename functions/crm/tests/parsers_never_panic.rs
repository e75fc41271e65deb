//! Property tests of everything that parses what others send us: LINE's webhook bodies and the
//! marketers' definitions (scenario, survey, rule, auto-reply) in JSON and YAML. On any input,
//! random or almost right, each parser returns a `Result`: it never panics, never hangs.
//!
//! Random bytes rarely get past the first brace, so most cases are JSON trees built from the
//! keys and type names the parsers know, and small mutations of the shipped example files.
use crm::domain::{
    auto_reply::AutoReply, scenario::ScenarioDefinition, survey::SurveyDefinition,
    tag_rule::TagRule,
};
use crm::line::parse_payload;
use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// Keys the webhook and definition formats use, so random trees reach deep into the parsers.
const KEYS: &[&str] = &[
    "destination",
    "events",
    "type",
    "mode",
    "timestamp",
    "source",
    "userId",
    "groupId",
    "roomId",
    "webhookEventId",
    "deliveryContext",
    "isRedelivery",
    "replyToken",
    "message",
    "id",
    "text",
    "postback",
    "data",
    "params",
    "date",
    "follow",
    "isUnblocked",
    "unsend",
    "messageId",
    "link",
    "result",
    "nonce",
    "beacon",
    "hwid",
    "name",
    "trigger",
    "steps",
    "timing",
    "day",
    "at",
    "after",
    "messages",
    "conditions",
    "onUnmet",
    "step",
    "scenario",
    "stopRules",
    "tag",
    "op",
    "value",
    "survey",
    "transactional",
    "deliveryWindow",
    "start",
    "end",
    "questions",
    "choices",
    "label",
    "field",
    "next",
    "addTags",
    "removeTags",
    "setFields",
    "score",
    "enroll",
    "stop",
    "delivery",
    "when",
    "match",
    "product",
    "category",
    "question",
    "answer",
    "quickReply",
    "items",
    "action",
    "altText",
    "template",
    "contents",
    "originalContentUrl",
    "previewImageUrl",
];

/// Values of `type`, `op` and the like, for the same reason.
const WORDS: &[&str] = &[
    "message",
    "follow",
    "unfollow",
    "postback",
    "join",
    "leave",
    "memberJoined",
    "unsend",
    "videoPlayComplete",
    "beacon",
    "accountLink",
    "things",
    "active",
    "standby",
    "user",
    "group",
    "room",
    "text",
    "sticker",
    "image",
    "location",
    "flex",
    "template",
    "buttons",
    "hasTag",
    "lacksTag",
    "field",
    "purchaseCount",
    "purchaseTotal",
    "score",
    "eq",
    "gte",
    "exists",
    "skip",
    "goto",
    "switch",
    "tagAdded",
    "purchased",
    "answered",
    "route",
    "tag",
    "purchase",
    "keyword",
    "linkClick",
    "answer",
    "singleChoice",
    "multipleChoice",
    "scale",
    "freeText",
    "date",
    "form",
    "buttons",
    "quickReply",
    "exact",
    "contains",
    "prefix",
    "end",
    "10:00",
    "25:99",
    "2026-02-30",
    "U4af4980629c1e2c3f2a41b8e4d0a3b0c",
    "{product}",
    "{field.x}",
    "{",
    "",
    " ",
    "美容",
    "\u{0}",
    "a\nb",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()].prop_map(Value::from),
        (-1e12f64..1e12).prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(WORDS).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => "[a-zA-Z]{0,8}",
    ]
}

/// A JSON tree up to a few levels deep, its objects keyed mostly by known keys.
fn tree() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A webhook body: `{destination, events: [...]}` with events shaped like LINE's, or not.
fn webhook_body() -> impl Strategy<Value = Value> {
    prop::collection::vec(tree(), 0..5)
        .prop_map(|events| serde_json::json!({ "destination": "Uxxxxxxxx", "events": events }))
}

const EXAMPLES: &[&str] = &[
    include_str!("../../../docs/examples/welcome.yaml"),
    include_str!("../../../docs/examples/hearing.yaml"),
    include_str!("../../../docs/examples/satisfaction.yaml"),
    include_str!("../../../docs/examples/purchase-rules.yaml"),
    include_str!("../../../docs/examples/auto-replies.yaml"),
    include_str!("../../../docs/examples/birthday.yaml"),
    include_str!("../../../docs/examples/comeback.yaml"),
];

/// An example file with a few characters replaced, deleted or inserted.
fn mutated_example() -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        0u8..3,
        prop::sample::select(
            &[
                ":", "-", " ", "\n", "  ", "[", "]", "{", "}", "\"", "'", "#", "|", "&a", "*a",
                "!!", "0", "x", "ー",
            ][..],
        ),
    );
    (
        prop::sample::select(EXAMPLES),
        prop::collection::vec(edit, 1..4),
    )
        .prop_map(|(text, edits)| {
            let mut chars: Vec<char> = text.chars().collect();
            for (at, how, piece) in edits {
                let i = at.index(chars.len().max(1)).min(chars.len());
                match how {
                    0 if i < chars.len() => {
                        chars.remove(i);
                    }
                    1 if i < chars.len() => {
                        chars.splice(i..=i, piece.chars());
                    }
                    _ => {
                        chars.splice(i..i, piece.chars());
                    }
                }
            }
            chars.into_iter().collect()
        })
}

/// Replaces the `n`-th node (pre-order, wrapping) of `v` with `new`.
fn graft(v: &mut Value, n: &mut usize, new: &Value) -> bool {
    if *n == 0 {
        *v = new.clone();
        return true;
    }
    *n -= 1;
    match v {
        Value::Array(items) => items.iter_mut().any(|i| graft(i, n, new)),
        Value::Object(map) => map.values_mut().any(|i| graft(i, n, new)),
        _ => false,
    }
}

/// A shipped example as JSON with one value anywhere in it replaced by a random tree: right
/// everywhere but one place, so the validators (not just the first key) see the damage.
fn grafted_example() -> impl Strategy<Value = Value> {
    (prop::sample::select(EXAMPLES), any::<usize>(), tree()).prop_map(|(text, at, new)| {
        let first = text.split("\n---").next().unwrap_or(text);
        let mut v: Value = serde_yaml_ng::from_str(first).unwrap_or(Value::Null);
        let mut n = at % 64;
        while !graft(&mut v, &mut n, &new) {}
        v
    })
}

/// Every definition parser on one input; each returns, whatever it returns.
fn parse_all_json(bytes: &[u8]) {
    let _ = ScenarioDefinition::parse_json(bytes);
    let _ = SurveyDefinition::parse_json(bytes);
    let _ = TagRule::parse_json(bytes);
    let _ = AutoReply::parse_json(bytes);
}

fn parse_all_yaml(text: &str) {
    let _ = ScenarioDefinition::parse_yaml(text);
    let _ = SurveyDefinition::parse_yaml(text);
    let _ = TagRule::parse_yaml(text);
    let _ = AutoReply::parse_yaml(text);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn the_webhook_parser_survives_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_payload(&bytes);
    }

    #[test]
    fn the_webhook_parser_survives_any_events(body in webhook_body()) {
        let bytes = serde_json::to_vec(&body).unwrap();
        // Whatever it makes of them, the events it keeps and those it refuses add up.
        if let Ok(payload) = parse_payload(&bytes) {
            prop_assert_eq!(
                payload.events.len() + payload.rejected.len(),
                body["events"].as_array().map_or(0, Vec::len)
            );
        }
    }

    #[test]
    fn definition_parsers_survive_any_json_tree(tree in tree()) {
        parse_all_json(&serde_json::to_vec(&tree).unwrap());
        parse_all_yaml(&serde_yaml_ng::to_string(&tree).unwrap());
    }

    #[test]
    fn definition_parsers_survive_one_wrong_value_in_an_example(v in grafted_example()) {
        parse_all_json(&serde_json::to_vec(&v).unwrap());
        parse_all_yaml(&serde_yaml_ng::to_string(&v).unwrap());
    }

    #[test]
    fn definition_parsers_survive_any_text(text in "\\PC{0,300}") {
        parse_all_json(text.as_bytes());
        parse_all_yaml(&text);
    }

    #[test]
    fn definition_parsers_survive_almost_right_examples(text in mutated_example()) {
        parse_all_yaml(&text);
        if let Ok(v) = serde_yaml_ng::from_str::<Value>(&text) {
            parse_all_json(&serde_json::to_vec(&v).unwrap());
        }
    }
}

#[test]
fn every_example_parses_as_shipped() {
    // The mutations start from valid files: if these did not parse, the test above would only
    // ever see broken input.
    for (i, text) in EXAMPLES.iter().enumerate() {
        let docs: Vec<&str> = text.split("\n---").collect();
        let ok = docs.iter().all(|d| {
            ScenarioDefinition::parse_yaml(d).is_ok()
                || SurveyDefinition::parse_yaml(d).is_ok()
                || TagRule::parse_yaml(d).is_ok()
                || AutoReply::parse_yaml(d).is_ok()
        });
        assert!(ok, "example {i} does not parse");
    }
}
