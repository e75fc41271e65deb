//! The one place where an error becomes an HTTP status and a JSON body. Details of internal
//! failures go to the log under an error id; the body only says that something failed.
use axum::{
    Json,
    http::{StatusCode, header},
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
    /// A failure of our own (a password hash that could not be computed): logged, answered 500.
    #[error("{0}")]
    Internal(String),
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
            Self::Store(StoreError::BadCursor | StoreError::Refused(_)) => StatusCode::BAD_REQUEST,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Conflict(_) | Self::Store(StoreError::AlreadyExists) => StatusCode::CONFLICT,
            Self::Store(StoreError::Conflict) => StatusCode::CONFLICT,
            Self::Store(_) | Self::Bus(_) | Self::Line(_) | Self::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadSignature => "bad_signature",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::BadRequest(_) | Self::Store(StoreError::BadCursor | StoreError::Refused(_)) => {
                "bad_request"
            }
            Self::Invalid { .. } => "invalid",
            Self::TooLarge { .. } => "too_large",
            Self::Conflict(_) | Self::Store(StoreError::AlreadyExists | StoreError::Conflict) => {
                "conflict"
            }
            Self::Store(_) | Self::Bus(_) | Self::Line(_) | Self::Internal(_) => "internal",
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
        } else if let Self::Store(StoreError::Refused(detail)) = &self {
            // Validation is meant to catch these first; one that slipped through is worth a look.
            tracing::warn!(%detail, "DynamoDB refused a request the API let through");
            error["message"] = json!(
                "the request would make an item DynamoDB refuses (too large, or a key too long)"
            );
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

/// Axum's own rejections (an unreadable path, a missing query field, a body over the limit, a
/// method the route does not take) come as plain text or an empty body. This layer rewrites
/// them into the API's JSON error shape, so a client reads every error the same way. HTML
/// (the survey form) and JSON pass untouched.
pub async fn json_errors(res: Response) -> Response {
    let status = res.status();
    let typed = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("text/html"));
    if typed || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let (parts, body) = res.into_parts();
    // Rejection texts are one line; more than this is not a rejection worth echoing.
    let text = axum::body::to_bytes(body, 2048)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not take this method".to_owned(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("too_large", "request body is too large".to_owned()),
        StatusCode::NOT_FOUND => ("not_found", "not found".to_owned()),
        s if s.is_server_error() => ("internal", "internal error".to_owned()),
        s => (
            "bad_request",
            if text.is_empty() {
                s.canonical_reason().unwrap_or("bad request").to_owned()
            } else {
                text
            },
        ),
    };
    let mut out = (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response();
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        out.headers_mut().insert(header::ALLOW, allow.clone());
    }
    out
}
