//! Tags: the marketer's labels on friends, organised in folders.
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::field_error::{FieldError, check_name, check_note};

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

impl TagDefinition {
    /// A definition as staff write it: the folder a name, the description a note; empty ones
    /// are none.
    pub fn checked(
        name: TagName,
        folder: Option<String>,
        description: Option<String>,
        now: Timestamp,
    ) -> Result<Self, FieldError> {
        let folder = folder.filter(|f| !f.trim().is_empty());
        let description = description.filter(|d| !d.trim().is_empty());
        if let Some(folder) = &folder {
            check_name("folder", folder)?;
        }
        if let Some(description) = &description {
            check_note("description", description)?;
        }
        Ok(Self {
            name,
            folder,
            description,
            created_at: now,
        })
    }
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
