//! Tags: the marketer's labels on friends, organised in folders.
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tag name must be 1–64 characters without control characters")]
pub struct BadTagName;

/// A tag's name as the marketer wrote it (e.g. `初回購入`, `20代`), trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TagName(String);

impl TagName {
    pub fn parse(s: &str) -> Result<Self, BadTagName> {
        let s = s.trim();
        let ok = (1..=64).contains(&s.chars().count()) && !s.chars().any(char::is_control);
        ok.then(|| Self(s.to_owned())).ok_or(BadTagName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TagName {
    type Error = BadTagName;
    fn try_from(s: String) -> Result<Self, BadTagName> {
        Self::parse(&s)
    }
}

impl From<TagName> for String {
    fn from(t: TagName) -> String {
        t.0
    }
}

impl std::fmt::Display for TagName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagDefinition {
    pub name: TagName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japanese_tag_names_are_fine_and_trimmed() {
        assert_eq!(TagName::parse(" 初回購入 ").unwrap().as_str(), "初回購入");
        assert!(TagName::parse("").is_err());
        assert!(TagName::parse("a\nb").is_err());
        assert!(TagName::parse(&"あ".repeat(65)).is_err());
    }
}
