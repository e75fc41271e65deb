//! Errors of the functions no HTTP client waits for (survey-tagging, scheduled-sends,
//! dormancy-sweep): what Lambda records as `errorType` is a chosen word that says whether a
//! retry can help, not a Rust type path (as aws-lambda-rust-runtime's basic-error-thiserror
//! example does).
use lambda_runtime::Diagnostic;

use crate::{http::CrmError, store::StoreError};

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// DynamoDB, LINE or the bus failed, throttled or raced: the same event may succeed later,
    /// and every handler is idempotent, so Lambda's retry is safe.
    #[error("{0}")]
    Retryable(String),
    /// The event itself cannot be applied: retrying it changes nothing.
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    /// Lambda's `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Retryable(_) => "Retryable",
            Self::Permanent(_) => "Permanent",
        }
    }
}

impl From<CrmError> for JobError {
    fn from(e: CrmError) -> Self {
        match &e {
            CrmError::Store(StoreError::Malformed(_) | StoreError::BadCursor)
            | CrmError::BadRequest(_)
            | CrmError::Invalid { .. }
            | CrmError::NotFound(_)
            | CrmError::TooLarge { .. }
            | CrmError::BadSignature
            | CrmError::Unauthorized
            | CrmError::Forbidden
            | CrmError::Internal(_) => Self::Permanent(e.to_string()),
            CrmError::Store(_) | CrmError::Bus(_) | CrmError::Line(_) | CrmError::Conflict(_) => {
                Self::Retryable(e.to_string())
            }
        }
    }
}

/// The handler's error as Lambda records it: `errorType` `Retryable` or `Permanent`.
pub fn diagnostic(e: CrmError) -> Diagnostic {
    let e = JobError::from(e);
    Diagnostic {
        error_type: e.error_type().into(),
        error_message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttled_store_is_worth_a_retry_and_a_malformed_item_is_not() {
        let retry = JobError::from(CrmError::Store(StoreError::Conflict));
        assert_eq!(retry.error_type(), "Retryable");
        let give_up = JobError::from(CrmError::Store(StoreError::Malformed("x".into())));
        assert_eq!(give_up.error_type(), "Permanent");
    }
}
