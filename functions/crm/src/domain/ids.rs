//! Parsed identifiers: once a value is one of these, it is safe to put into a key.
use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("tenant id must be 2–40 characters of a-z, 0-9 and '-', starting with a letter")]
    Tenant,
    #[error("LINE user id must be 'U' followed by 32 hex characters")]
    LineUser,
}

/// A shop's id: it appears in webhook URLs and leads every key, so it is kept URL- and key-safe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = (2..=40).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        ok.then(|| Self(s.to_owned())).ok_or(IdError::Tenant)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A friend's LINE user id as the Messaging API spells it: `U` + 32 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LineUserId(String);

impl LineUserId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok =
            s.len() == 33 && s.starts_with('U') && s[1..].chars().all(|c| c.is_ascii_hexdigit());
        ok.then(|| Self(s.to_owned())).ok_or(IdError::LineUser)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Which of `shards` this friend of tenant `t` falls in: stable, so the friend's items
    /// always land on the same one (the due-index, the counts).
    pub fn shard(&self, t: &TenantId, shards: u8) -> u8 {
        use sha2::{Digest, Sha256};
        let h = Sha256::digest(format!("{t}#{}", self.0).as_bytes());
        h[0] % shards.max(1)
    }

    /// What logs may show instead of the id itself (ids are personal data).
    pub fn hashed(&self) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(&Sha256::digest(self.0.as_bytes())[..6])
    }
}

macro_rules! string_newtype {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
        impl std::str::FromStr for $t {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
string_newtype!(TenantId);
string_newtype!(LineUserId);

/// Slugs (`a-z`, `0-9`, `-`, `_`; 1–64) name what marketers define: scenarios, steps, surveys,
/// questions, choices, rules, auto-replies. They go into keys and URLs as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1–64 characters of a-z, 0-9, '-' and '_'")]
pub struct BadSlug;

pub(crate) fn is_slug(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

macro_rules! slug_newtype {
    ($(#[$doc:meta])* $t:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $t(String);

        impl $t {
            pub fn parse(s: &str) -> Result<Self, $crate::domain::ids::BadSlug> {
                $crate::domain::ids::is_slug(s).then(|| Self(s.to_owned())).ok_or($crate::domain::ids::BadSlug)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $t {
            type Error = $crate::domain::ids::BadSlug;
            fn try_from(s: String) -> Result<Self, $crate::domain::ids::BadSlug> {
                Self::parse(&s)
            }
        }

        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }

        impl std::str::FromStr for $t {
            type Err = $crate::domain::ids::BadSlug;
            fn from_str(s: &str) -> Result<Self, $crate::domain::ids::BadSlug> {
                Self::parse(s)
            }
        }

        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

pub(crate) use slug_newtype;

slug_newtype!(
    /// A scenario's id: it goes into enrollment keys and admin URLs, so it stays a slug.
    ScenarioId
);
slug_newtype!(
    /// A survey's id: it goes into postback data, answer keys and form URLs.
    SurveyId
);
slug_newtype!(
    /// A question's id within its survey.
    QuestionId
);
slug_newtype!(
    /// An API key's public id (never the key itself): what the key list shows and a revoke names.
    ApiKeyId
);

impl ApiKeyId {
    /// A fresh id for a new key (random, so ids say nothing about a tenant's keys).
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }
}

slug_newtype!(
    /// A staff member's id within their tenant: what the staff list names in a removal.
    StaffId
);

impl StaffId {
    /// A fresh id (random, so ids say nothing about a tenant's staff).
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_key_safe() {
        assert!(TenantId::parse("demo").is_ok());
        assert!(TenantId::parse("cafe-shibuya-2").is_ok());
        for bad in ["", "d", "Demo", "a#b", "2shop", "a/b", &"a".repeat(41)] {
            assert_eq!(TenantId::parse(bad), Err(IdError::Tenant), "{bad}");
        }
    }

    #[test]
    fn line_user_ids_have_the_platform_shape() {
        assert!(LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3b0c").is_ok());
        assert!(LineUserId::parse("C4af4980629c1e2c3f2a41b8e4d0a3b0c").is_err());
        assert!(LineUserId::parse("U4af49806").is_err());
        assert!(LineUserId::parse("U4af4980629c1e2c3f2a41b8e4d0a3bzz").is_err());
    }
}
