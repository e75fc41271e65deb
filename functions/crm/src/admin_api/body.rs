//! Reading what a request names: ids in the path, tags, and definition bodies in JSON or YAML.
use axum::{
    Json,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use crate::{
    domain::{LineUserId, TagName, field_error::FieldError},
    http::CrmError,
};

pub(super) fn parse_user(user_id: &str) -> Result<LineUserId, CrmError> {
    // A malformed id cannot name any friend: answer as for an unknown one.
    LineUserId::parse(user_id).map_err(|_| CrmError::NotFound("friend"))
}

/// A tag named at `field` (a path segment, a query parameter, a list item).
pub(super) fn parse_tag(field: impl Into<String>, tag: &str) -> Result<TagName, CrmError> {
    TagName::parse(tag).map_err(|e| CrmError::invalid(field, e.to_string()))
}

/// A definition body: YAML when the content type says so, JSON otherwise.
pub(super) fn parse_definition<T>(
    headers: &HeaderMap,
    body: &[u8],
    json: impl Fn(&[u8]) -> Result<T, FieldError>,
    yaml: impl Fn(&str) -> Result<T, FieldError>,
) -> Result<T, CrmError> {
    let is_yaml = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("yaml"));
    if is_yaml {
        let text = std::str::from_utf8(body)
            .map_err(|_| CrmError::BadRequest("YAML must be UTF-8".into()))?;
        Ok(yaml(text)?)
    } else {
        Ok(json(body)?)
    }
}

/// The path names the definition; a body naming another is refused rather than guessed at.
pub(super) fn same_id(body_id: &str, path_id: &str) -> Result<(), CrmError> {
    if body_id == path_id {
        Ok(())
    } else {
        Err(CrmError::invalid(
            "id",
            format!("the body's id {body_id:?} differs from the path's {path_id:?}"),
        ))
    }
}

/// 201 for a definition's first version, 200 for a later one (or an unchanged re-apply).
pub(super) fn saved(version: u32, body: serde_json::Value) -> Response {
    let status = if version == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(body)).into_response()
}
