//! A shop's staff: the people who sign in to the web console with email and password. Their
//! role decides what they may change; the JSON API keeps its bearer keys.
use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{StaffId, TenantId};

/// What a staff member may do in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    /// Everything, including staff and credentials.
    Owner,
    /// Changes the shop's CRM data, but not its staff or credentials.
    Editor,
    /// Looks only: changes nothing.
    Viewer,
}

impl Role {
    pub fn can_edit(self) -> bool {
        matches!(self, Role::Owner | Role::Editor)
    }

    pub fn can_manage_staff(self) -> bool {
        matches!(self, Role::Owner)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(Role::Owner),
            "editor" => Some(Role::Editor),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// An email address as sign-in compares it: trimmed and lowercased (a shop types addresses in
/// any case; two accounts differing only in case would be a trap).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// RFC 5321's limit on a whole address.
const MAX_EMAIL_CHARS: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StaffError {
    #[error("not an email address")]
    BadEmail,
    #[error("a password has at least {MIN_PASSWORD_CHARS} characters")]
    ShortPassword,
    #[error("a password has at most {MAX_PASSWORD_CHARS} characters")]
    LongPassword,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

impl Email {
    /// One `@`, something before it, a dotted domain after it, no spaces or control characters:
    /// enough to catch typos; whether the address works is the invitee's business.
    pub fn parse(s: &str) -> Result<Self, StaffError> {
        let e = s.trim().to_lowercase();
        let ok = e.chars().count() <= MAX_EMAIL_CHARS
            && !e.chars().any(|c| c.is_whitespace() || c.is_control())
            && match e.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if ok {
            Ok(Self(e))
        } else {
            Err(StaffError::BadEmail)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = StaffError;
    fn try_from(s: String) -> Result<Self, StaffError> {
        Self::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

/// The shortest password accepted: long passphrases beat complexity rules.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest: hashing time grows with it, so an unbounded one is a denial of service.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// A password's argon2id hash as a PHC string (`$argon2id$v=19$m=…$salt$hash`): algorithm,
/// parameters and random salt travel with it, so parameters can be raised later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasswordDigest(String);

impl PasswordDigest {
    /// Hashes `password` with a fresh random salt, after checking its length. CPU-bound for tens
    /// of milliseconds: call it off the async executor ([`tokio::task::spawn_blocking`]).
    pub fn new(password: &str) -> Result<Self, StaffError> {
        let chars = password.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(StaffError::ShortPassword);
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(StaffError::LongPassword);
        }
        let hash = Argon2::default()
            .hash_password(password.as_bytes())
            .map_err(|e| StaffError::Hashing(e.to_string()))?;
        Ok(Self(hash.to_string()))
    }

    /// Whether `password` is the one hashed here (the comparison is constant-time). Without a
    /// digest (an unknown email, an invitation not yet accepted) it verifies against a dummy
    /// hash, spending the same time, so timing does not tell which emails exist.
    pub fn verify(digest: Option<&Self>, password: &str) -> bool {
        let matched = verify_phc(digest.map_or(DUMMY_DIGEST, |d| d.0.as_str()), password);
        digest.is_some() && matched
    }
}

/// The hash of a random password nobody knows, with [`Argon2::default`]'s parameters (what every
/// stored digest uses), so verifying against it takes as long as against a real one.
const DUMMY_DIGEST: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$Zi9/ZkqJvG4u4Uj3R/6cNFNvr0WbQ8oXRO3ZLpyPmyA";

fn verify_phc(phc: &str, password: &str) -> bool {
    if password.chars().count() > MAX_PASSWORD_CHARS {
        return false;
    }
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Whether the member has set a password yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StaffStatus {
    /// Invited: the invitation link sets the password.
    Invited,
    Active,
}

/// A staff member of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StaffMember {
    pub tenant: TenantId,
    pub id: StaffId,
    pub email: Email,
    pub role: Role,
    pub status: StaffStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<PasswordDigest>,
    pub created_at: Timestamp,
}

impl StaffMember {
    /// A new member: active with `password`, or invited without one.
    pub fn new(
        tenant: TenantId,
        email: Email,
        role: Role,
        password: Option<PasswordDigest>,
        now: Timestamp,
    ) -> Self {
        Self {
            tenant,
            id: StaffId::random(),
            email,
            role,
            status: if password.is_some() {
                StaffStatus::Active
            } else {
                StaffStatus::Invited
            },
            password,
            created_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_they_say() {
        assert!(Role::Owner.can_edit() && Role::Owner.can_manage_staff());
        assert!(Role::Editor.can_edit() && !Role::Editor.can_manage_staff());
        assert!(!Role::Viewer.can_edit() && !Role::Viewer.can_manage_staff());
        for r in [Role::Owner, Role::Editor, Role::Viewer] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("admin"), None);
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Owner@Demo.Example ").unwrap().as_str(),
            "owner@demo.example"
        );
        for bad in [
            "",
            "owner",
            "@demo.example",
            "a@b",
            "a@@b.jp",
            "a b@c.jp",
            "a@.jp",
            "a@b.",
        ] {
            assert_eq!(Email::parse(bad), Err(StaffError::BadEmail), "{bad}");
        }
        assert!(Email::parse(&format!("{}@x.jp", "a".repeat(260))).is_err());
    }

    #[test]
    fn passwords_hash_to_salted_argon2id_and_verify() {
        assert_eq!(PasswordDigest::new("short"), Err(StaffError::ShortPassword));
        assert_eq!(
            PasswordDigest::new(&"x".repeat(257)),
            Err(StaffError::LongPassword)
        );
        let a = PasswordDigest::new("correct horse battery").unwrap();
        let b = PasswordDigest::new("correct horse battery").unwrap();
        assert!(a.0.starts_with("$argon2id$v=19$"), "{}", a.0);
        assert_ne!(a, b, "each hash has its own salt");
        assert!(PasswordDigest::verify(Some(&a), "correct horse battery"));
        assert!(!PasswordDigest::verify(Some(&a), "correct horse battery!"));
        assert!(!PasswordDigest::verify(None, "correct horse battery"));
    }

    #[test]
    fn the_dummy_digest_is_a_real_argon2id_hash() {
        // Were it unparsable, an unknown email would answer faster than a wrong password.
        let h = PasswordHash::new(DUMMY_DIGEST).unwrap();
        assert_eq!(h.algorithm.as_str(), "argon2id");
        assert!(!verify_phc(DUMMY_DIGEST, "anything at all"));
    }
}
