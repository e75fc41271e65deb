//! Keyword auto-replies (キーワード応答): a text message matching exactly, containing, or matching
//! a regular expression gets messages back through the free reply token. The highest priority
//! match wins; a `fallback` answers messages nothing else matched (optional, per tenant).
//!
//! ```yaml
//! id: hours
//! priority: 10
//! match: { type: contains, text: 営業時間 }
//! messages:
//!   - { type: text, text: "営業時間は10:00〜20:00です。" }
//! ```
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::definition;
use super::ids::slug_newtype;
use super::message::{FieldError, validate_messages};

slug_newtype!(
    /// An auto-reply's id.
    AutoReplyId
);

/// Regexes are compiled per message; this bound keeps a marketer's pattern from costing much.
const REGEX_SIZE_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoReply {
    pub id: AutoReplyId,
    /// Higher first; equal priorities in id order.
    #[serde(default)]
    pub priority: i32,
    #[serde(rename = "match")]
    pub matching: Match,
    pub messages: Vec<Value>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum Match {
    Exact {
        text: String,
    },
    Contains {
        text: String,
    },
    Regex {
        pattern: String,
    },
    /// Any text message no other auto-reply (and no open survey question) took.
    Fallback,
}

fn compile(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

impl AutoReply {
    fn matches(&self, text: &str) -> bool {
        let text = text.trim();
        match &self.matching {
            Match::Exact { text: t } => text == t.trim(),
            Match::Contains { text: t } => text.contains(t.trim()),
            // Validated when saved; a pattern that no longer compiles (a crate upgrade) never matches.
            Match::Regex { pattern } => compile(pattern).is_ok_and(|r| r.is_match(text)),
            Match::Fallback => false,
        }
    }
}

/// The auto-reply for this text: the best keyword match, else the best fallback.
pub fn choose<'a>(replies: &'a [AutoReply], text: &str) -> Option<&'a AutoReply> {
    let mut enabled: Vec<&AutoReply> = replies.iter().filter(|r| r.enabled).collect();
    enabled.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.id.cmp(&b.id)));
    enabled
        .iter()
        .find(|r| r.matches(text))
        .or_else(|| enabled.iter().find(|r| r.matching == Match::Fallback))
        .copied()
}

definition::definition!(AutoReply, noun: "auto-reply", plural: "autoReplies");

impl definition::CurrentOnly for AutoReply {
    const KIND: definition::CurrentKind = definition::CurrentKind::AutoReply;
}

impl AutoReply {
    /// The first rule broken, with its path.
    pub fn validate(&self) -> Result<(), FieldError> {
        match &self.matching {
            Match::Exact { text } | Match::Contains { text } if text.trim().is_empty() => {
                return Err(FieldError::new("match.text", "must not be blank"));
            }
            Match::Regex { pattern } => {
                compile(pattern).map_err(|e| FieldError::new("match.pattern", e.to_string()))?;
            }
            _ => {}
        }
        validate_messages(&self.messages, "messages")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(id: &str, priority: i32, matching: Match) -> AutoReply {
        AutoReply {
            id: AutoReplyId::parse(id).unwrap(),
            priority,
            matching,
            messages: vec![json!({"type": "text", "text": id})],
            enabled: true,
        }
    }

    #[test]
    fn the_highest_priority_match_wins_and_fallback_takes_the_rest() {
        let replies = [
            reply(
                "hours",
                0,
                Match::Contains {
                    text: "営業時間".into(),
                },
            ),
            reply(
                "hours-exact",
                10,
                Match::Exact {
                    text: "営業時間".into(),
                },
            ),
            reply(
                "coupon",
                0,
                Match::Regex {
                    pattern: "^クーポン(ください)?$".into(),
                },
            ),
            reply("default", -1, Match::Fallback),
        ];
        assert_eq!(
            choose(&replies, "営業時間").unwrap().id.as_str(),
            "hours-exact"
        );
        assert_eq!(
            choose(&replies, "営業時間は?").unwrap().id.as_str(),
            "hours"
        );
        assert_eq!(
            choose(&replies, "クーポンください").unwrap().id.as_str(),
            "coupon"
        );
        assert_eq!(
            choose(&replies, "こんにちは").unwrap().id.as_str(),
            "default"
        );
        assert!(choose(&replies[..3], "こんにちは").is_none());
    }

    #[test]
    fn a_bad_regex_is_refused_when_saved() {
        let e = AutoReply::parse_yaml(
            "id: x\nmatch: { type: regex, pattern: \"(\" }\nmessages: [ { type: text, text: x } ]",
        )
        .unwrap_err();
        assert_eq!(e.field, "match.pattern");
    }
}
