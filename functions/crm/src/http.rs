//! The one place where an error becomes an HTTP status and a JSON body. Details of internal
//! failures go to the log under an error id; the body only says that something failed.
use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    bus::BusError, domain::field_error::FieldError, line::client::LineError, store::StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    #[error("X-Line-Signature is missing or does not match")]
    BadSignature,
    #[error("missing or unknown API key")]
    Unauthorized,
    #[error("this API key may not do that")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Line(#[from] LineError),
}

impl crate::store::Conflicting for CrmError {
    fn is_conflict(&self) -> bool {
        matches!(self, CrmError::Store(e) if e.is_conflict())
    }
}

/// A refused definition or body keeps its path, so the admin UI can point at the field.
impl From<FieldError> for CrmError {
    fn from(e: FieldError) -> Self {
        Self::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

impl CrmError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadSignature | Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) | Self::Invalid { .. } => StatusCode::BAD_REQUEST,
            Self::Store(StoreError::BadCursor) => StatusCode::BAD_REQUEST,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Conflict(_) | Self::Store(StoreError::AlreadyExists) => StatusCode::CONFLICT,
            Self::Store(StoreError::Conflict) => StatusCode::CONFLICT,
            Self::Store(_) | Self::Bus(_) | Self::Line(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadSignature => "bad_signature",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::BadRequest(_) | Self::Store(StoreError::BadCursor) => "bad_request",
            Self::Invalid { .. } => "invalid",
            Self::TooLarge { .. } => "too_large",
            Self::Conflict(_) | Self::Store(StoreError::AlreadyExists | StoreError::Conflict) => {
                "conflict"
            }
            Self::Store(_) | Self::Bus(_) | Self::Line(_) => "internal",
        }
    }
}

impl IntoResponse for CrmError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut error = json!({ "code": self.code() });
        if status.is_server_error() {
            let error_id = uuid::Uuid::new_v4();
            tracing::error!(%error_id, error = %self, "request failed");
            error["message"] = json!("internal error; the operator can find it by this id");
            error["errorId"] = json!(error_id.to_string());
        } else {
            error["message"] = json!(self.to_string());
            if let Self::Invalid { field, .. } = &self {
                error["field"] = json!(field);
            }
        }
        (status, Json(json!({ "error": error }))).into_response()
    }
}

/// Parses a JSON body into `T`, answering 400 with serde's reason (line, column, field).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, CrmError> {
    serde_json::from_slice(body).map_err(|e| CrmError::BadRequest(format!("malformed JSON: {e}")))
}
