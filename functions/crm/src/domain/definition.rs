//! What scenarios, surveys, tag rules and auto-replies have in common: a marketer writes them as
//! JSON or YAML (same shape, camelCase), a broken one is refused naming the field
//! (`steps[1].timing`), and a saved one carries a version.
use serde::{Serialize, de::DeserializeOwned};
use serde_path_to_error::Segment;

use super::field_error::FieldError;

/// A definition a marketer writes: parsed from JSON or YAML into `Self`, then validated, every
/// error with the path of the field it concerns. The four kinds implement it with
/// [`definition!`] (`definition!(TagRule, noun: "rule", plural: "rules")`).
///
/// **One versioning rule.** Every saved definition carries a `version`: 1 when first saved, one
/// more each time a save changes its content. Saving the same content again writes nothing and
/// keeps the version, so applying the same file twice (from version control, a retried request)
/// is a no-op. Scenarios also keep every past version, immutable, because an enrollment in
/// flight runs the version it started on; surveys, tag rules and auto-replies keep only the
/// current one, since nothing in flight pins them.
pub trait Definition: Serialize + DeserializeOwned {
    /// What a marketer calls one (`scenario`, `auto-reply`), e.g. in "… not found".
    const NOUN: &'static str;
    /// Many of them, as the key of a list in JSON (`scenarios`, `autoReplies`).
    const PLURAL: &'static str;

    /// The definition's id, which the admin API's path must repeat.
    fn id(&self) -> &str;

    /// The first rule broken, with its path (`steps[2].onUnmet`).
    fn validate(&self) -> Result<(), FieldError>;

    fn parse_json(bytes: &[u8]) -> Result<Self, FieldError> {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        let def: Self = serde_path_to_error::deserialize(de).map_err(located)?;
        def.validate()?;
        Ok(def)
    }

    fn parse_yaml(text: &str) -> Result<Self, FieldError> {
        refuse_aliases(text)?;
        let de = serde_yaml_ng::Deserializer::from_str(text);
        let def: Self = serde_path_to_error::deserialize(de).map_err(located)?;
        def.validate()?;
        Ok(def)
    }
}

/// YAML anchors (`&a`) and aliases (`*a`) are refused before parsing: nested aliases expand a
/// 20 KB body into millions of values, and a definition never needs them. A syntax error is
/// left to serde_yaml_ng, which names it with its line.
fn refuse_aliases(text: &str) -> Result<(), FieldError> {
    use yaml_rust2::parser::{Event, Parser};
    let mut parser = Parser::new_from_str(text);
    loop {
        let (event, mark) = match parser.next_token() {
            Ok(next) => next,
            Err(_) => return Ok(()),
        };
        let reused = match event {
            Event::StreamEnd => return Ok(()),
            Event::Alias(_) => true,
            Event::Scalar(_, _, anchor, _)
            | Event::SequenceStart(anchor, _)
            | Event::MappingStart(anchor, _) => anchor > 0,
            _ => false,
        };
        if reused {
            return Err(FieldError::new(
                "",
                format!(
                    "line {}: YAML anchors and aliases (&name, *name) are not accepted; write the values out",
                    mark.line()
                ),
            ));
        }
    }
}

/// Tag rules and auto-replies: definitions the store keeps as one item each, in their current
/// version only, and the admin API saves, lists and deletes alike. (Surveys keep only their
/// current version too, in an item of their own shape.)
pub trait CurrentOnly: Definition {
    const KIND: CurrentKind;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurrentKind {
    TagRule,
    AutoReply,
}

/// The failing field's path, with the parser's own words (and line) as the message. A key the
/// definition does not know, or a `type` naming no known kind, is not a field of it: the object
/// holding it is named, and the message says which key or type.
fn located<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> FieldError {
    let message = without_path_prefix(e.inner().to_string());
    let mut segments: Vec<&Segment> = e.path().iter().collect();
    if let Some(Segment::Map { key }) = segments.last() {
        let unknown_key = message.starts_with(&format!("unknown field `{key}`"));
        let unknown_type = key == "type" && message.starts_with("unknown variant");
        if unknown_key || unknown_type {
            segments.pop();
        }
    }
    let mut field = String::new();
    for s in segments {
        match s {
            Segment::Seq { index } => field.push_str(&format!("[{index}]")),
            Segment::Map { key } if field.is_empty() => field.push_str(key),
            Segment::Map { key } => field.push_str(&format!(".{key}")),
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    FieldError::new(field, message)
}

/// serde_yaml_ng starts its messages with the path it knows (`steps[1]: unknown field …`); the
/// field carries the path, so the message need not.
fn without_path_prefix(message: String) -> String {
    match message.split_once(": ") {
        Some((path, rest))
            if !path.is_empty()
                && path.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '[' | ']' | '_' | '-')
                }) =>
        {
            rest.to_owned()
        }
        _ => message,
    }
}

/// Makes `$t` a [`Definition`] from its `id` (a slug) and its own `validate`, and gives it
/// `parse_json` / `parse_yaml` as inherent functions, so code outside the crate (the local
/// stack's tools, tests reading example files) need not import the trait.
macro_rules! definition {
    ($t:ty, noun: $noun:literal, plural: $plural:literal) => {
        impl $crate::domain::definition::Definition for $t {
            const NOUN: &'static str = $noun;
            const PLURAL: &'static str = $plural;

            fn id(&self) -> &str {
                self.id.as_str()
            }

            fn validate(&self) -> Result<(), $crate::domain::field_error::FieldError> {
                <$t>::validate(self)
            }
        }

        impl $t {
            pub fn parse_json(
                bytes: &[u8],
            ) -> Result<Self, $crate::domain::field_error::FieldError> {
                <Self as $crate::domain::definition::Definition>::parse_json(bytes)
            }

            pub fn parse_yaml(text: &str) -> Result<Self, $crate::domain::field_error::FieldError> {
                <Self as $crate::domain::definition::Definition>::parse_yaml(text)
            }
        }
    };
}
pub(crate) use definition;

#[cfg(test)]
mod tests {
    use crate::domain::{auto_reply::AutoReply, tag_rule::TagRule};

    #[test]
    fn a_bad_value_inside_a_rule_names_its_path_in_json_and_yaml() {
        let json = br#"{"id": "x", "when": {"type": "purchase"}, "addTags": ["VIP"],
            "conditions": [{"type": "score", "op": "gte", "value": "many"}]}"#;
        let e = TagRule::parse_json(json).unwrap_err();
        assert_eq!(e.field, "conditions[0]", "{e}");
        assert!(e.message.contains("line 2"), "{e}");
        let yaml = "id: x\nwhen: { type: purchase }\naddTags: [VIP]\nscore: lots\n";
        let e = TagRule::parse_yaml(yaml).unwrap_err();
        assert_eq!(e.field, "score", "{e}");
        assert!(
            !e.message.starts_with("score:"),
            "the path is not repeated: {e}"
        );
    }

    #[test]
    fn an_alias_bomb_is_refused_before_it_expands() {
        // Each level repeats the one above nine times: 9^9 values if expanded.
        let mut yaml = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..=9 {
            let prev = format!("*a{}", i - 1);
            yaml.push_str(&format!(
                "a{i}: &a{i} [{}]\n",
                [prev.as_str(); 9].join(", ")
            ));
        }
        yaml.push_str("id: x\nwhen: { type: purchase }\naddTags: [VIP]\n");
        let e = TagRule::parse_yaml(&yaml).unwrap_err();
        assert!(e.message.contains("aliases"), "{e}");
        assert!(e.message.starts_with("line 1"), "{e}");
        // The characters themselves are fine inside values.
        let fine = "id: x\nname: \"A&B *new*\"\nwhen: { type: keyword, text: \"&割引\" }\naddTags: [VIP]\n";
        assert!(TagRule::parse_yaml(fine).is_ok());
    }

    #[test]
    fn a_misspelt_key_or_type_names_the_object_holding_it() {
        let yaml = "id: x\nmatch: { type: contains, txt: 予約 }\nmessages: []\n";
        let e = AutoReply::parse_yaml(yaml).unwrap_err();
        assert_eq!(e.field, "match", "{e}");
        assert!(e.message.contains("txt"), "{e}");
        let json = br#"{"id": "x", "match": {"type": "startsWith", "text": "a"}, "messages": []}"#;
        let e = AutoReply::parse_json(json).unwrap_err();
        assert_eq!(e.field, "match", "{e}");
        assert!(e.message.contains("startsWith"), "{e}");
    }

    #[test]
    fn an_error_at_the_top_has_no_path() {
        let e = TagRule::parse_json(br#""a rule""#).unwrap_err();
        assert_eq!(e.field, "", "{e}");
        let e = TagRule::parse_json(br#"{"when": {"type": "purchase"}, "score": 1}"#).unwrap_err();
        assert_eq!(e.field, "", "{e}");
        assert!(e.message.contains("missing field `id`"), "{e}");
    }
}
