//! A string that must never reach a log line: channel secrets, channel access tokens, API keys.
//!
//! `Debug` and `Display` print `***`, so a stray `{:?}` on a struct holding one (a tenant, a
//! config) leaks nothing. Serde is transparent on purpose: the value is stored as a plain string
//! in the table and read back from it; only printing is masked.
use std::fmt;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that needs it (an HMAC key, a bearer header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// HMAC-SHA256 of `message` keyed with this secret: LINE's webhook signature, and the tags
    /// of our own signed form and tracked links (each with its own domain prefix).
    pub fn hmac(&self, message: &[u8]) -> Vec<u8> {
        let mut mac = self.keyed();
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    /// Whether `tag` is this secret's HMAC of `message`, compared in constant time.
    pub fn verify_hmac(&self, message: &[u8], tag: &[u8]) -> bool {
        let mut mac = self.keyed();
        mac.update(message);
        mac.verify_slice(tag).is_ok()
    }

    fn keyed(&self) -> Hmac<Sha256> {
        match Hmac::<Sha256>::new_from_slice(self.0.as_bytes()) {
            Ok(mac) => mac,
            // HMAC (RFC 2104) takes a key of any length: hmac's HmacCore hashes long keys and
            // pads short ones, and its `new_from_slice` has no failing path.
            Err(_) => unreachable!("HMAC-SHA256 accepts keys of any length"),
        }
    }
}

/// Constant time over equal lengths, so comparing a presented API key with a stored one does not
/// tell an attacker how many leading bytes were right.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The hex SHA-256 of a bearer secret (an API key, a session or invitation token): what the
/// store keys it by, so the secret itself is never stored.
pub fn sha256_hex(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// 32 random bytes, URL-safe base64: a bearer token nobody can guess.
pub fn random_token() -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printing_never_shows_the_value() {
        let s = Secret::new("channel-secret-123");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Tenant {
            secret: Secret,
        }
        let t = Tenant { secret: s };
        assert!(!format!("{t:?}").contains("channel-secret-123"));
        assert!(!format!("{t:#?}").contains("channel-secret-123"));
    }

    #[test]
    fn expose_gives_the_value_back() {
        assert_eq!(Secret::new(String::from("tok")).expose(), "tok");
    }

    #[test]
    fn serde_is_a_plain_string_both_ways() -> Result<(), serde_json::Error> {
        let s = Secret::new("abc");
        assert_eq!(serde_json::to_string(&s)?, "\"abc\"");
        let back: Secret = serde_json::from_str("\"abc\"")?;
        assert_eq!(back, s);
        Ok(())
    }

    #[test]
    fn equality_compares_the_values() {
        assert_eq!(Secret::new("a"), Secret::new("a"));
        assert_ne!(Secret::new("a"), Secret::new("b"));
        assert_ne!(Secret::new("a"), Secret::new("ab"));
        assert_eq!(Secret::new("x").clone(), Secret::new("x"));
    }
}
