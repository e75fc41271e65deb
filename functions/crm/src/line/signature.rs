//! `X-Line-Signature`: base64( HMAC-SHA256( key = channel secret, message = raw request body ) ).
//!
//! LINE signs the bytes it sent, so verification runs over the exact body bytes, before any JSON
//! parsing (re-serialising would change whitespace, key order and escapes, and the signature).
use base64::{Engine as _, engine::general_purpose::STANDARD};

use crate::secret::Secret;

/// Length of an HMAC-SHA256 tag in bytes.
const TAG_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("X-Line-Signature header is missing")]
    Missing,
    #[error("X-Line-Signature is not a base64 HMAC-SHA256")]
    Malformed,
    #[error("X-Line-Signature does not match the body")]
    Mismatch,
}

/// The `X-Line-Signature` value LINE would send for `body`. Used by tests, the local stack and
/// `infra/events` fixtures to sign payloads the way LINE does.
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    STANDARD.encode(secret.hmac(body))
}

/// Checks `header` (the `X-Line-Signature` value, if any) against `body` in constant time.
pub fn verify(secret: &Secret, body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let tag = STANDARD
        .decode(header.as_bytes())
        .map_err(|_| SignatureError::Malformed)?;
    // The tag length is public (SHA-256 is 32 bytes), so rejecting other lengths early leaks nothing.
    if tag.len() != TAG_LEN {
        return Err(SignatureError::Malformed);
    }
    // Compared in constant time (hmac's `verify_slice`, with `subtle`).
    if secret.verify_hmac(body, &tag) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed outside Rust, with Python's standard library:
    //   python3 -c 'import hmac,hashlib,base64;print(base64.b64encode(hmac.new(K,M,hashlib.sha256).digest()).decode())'
    // The first is the well-known vector (hex f7bc83f4…2d1a3cd8).
    const FOX: &[u8] = b"The quick brown fox jumps over the lazy dog";
    const FOX_SIG: &str = "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg=";
    const VERIFY_BODY: &[u8] =
        br#"{"destination":"U0123456789abcdef0123456789abcdef","events":[]}"#;
    const VERIFY_SIG: &str = "V9oJhZ1HWBkTwInhxF7D0yJDfHUUDsEFkpXNctH9Z8k=";

    #[test]
    fn sign_matches_independently_computed_vectors() {
        assert_eq!(sign(&Secret::new("key"), FOX), FOX_SIG);
        assert_eq!(
            sign(&Secret::new("demo-channel-secret-change-me"), VERIFY_BODY),
            VERIFY_SIG
        );
    }

    #[test]
    fn verify_accepts_the_right_signature() {
        let s = Secret::new("demo-channel-secret-change-me");
        assert_eq!(verify(&s, VERIFY_BODY, Some(VERIFY_SIG)), Ok(()));
        assert_eq!(verify(&Secret::new("key"), FOX, Some(FOX_SIG)), Ok(()));
    }

    #[test]
    fn verify_refuses_a_missing_header() {
        assert_eq!(
            verify(&Secret::new("key"), FOX, None),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn verify_refuses_garbage_and_wrong_lengths_as_malformed() {
        let s = Secret::new("key");
        for bad in [
            "",
            "not base64!",
            "AAAA",
            "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg",
        ] {
            assert_eq!(
                verify(&s, FOX, Some(bad)),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn verify_refuses_another_secret_or_a_changed_body() {
        let s = Secret::new("key");
        assert_eq!(
            verify(&Secret::new("other"), FOX, Some(FOX_SIG)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                &s,
                b"The quick brown fox jumps over the lazy dog.",
                Some(FOX_SIG)
            ),
            Err(SignatureError::Mismatch)
        );
        // Same JSON, different bytes: the signature covers bytes, not meaning.
        assert_eq!(
            verify(
                &Secret::new("demo-channel-secret-change-me"),
                br#"{"destination": "U0123456789abcdef0123456789abcdef", "events": []}"#,
                Some(VERIFY_SIG)
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn sign_and_verify_round_trip_over_binary_bodies() {
        let s = Secret::new("s3cr3t");
        let body = [0u8, 255, 10, 13, 0x80];
        assert_eq!(verify(&s, &body, Some(&sign(&s, &body))), Ok(()));
    }
}
