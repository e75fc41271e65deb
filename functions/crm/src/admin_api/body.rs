//! Reading what a request names: ids in the path, tags, and definition bodies in JSON or YAML.
use std::str::FromStr;

use axum::{
    Json,
    extract::{FromRequestParts, Path},
    http::{HeaderMap, StatusCode, request::Parts},
    response::{IntoResponse, Response},
};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    domain::{LineUserId, TagName, definition::Definition, ids::BadSlug},
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

/// An id in the path (`/admin/scenarios/{id}`); a malformed one is refused naming `id`.
pub(super) fn path_id<T: FromStr<Err = BadSlug>>(id: &str) -> Result<T, CrmError> {
    id.parse()
        .map_err(|e: BadSlug| CrmError::invalid("id", e.to_string()))
}

/// The body of `PUT …/{id}`: YAML when the content type says so, JSON otherwise, refused
/// naming the field; a body naming another id than the path's is refused rather than guessed at.
pub(super) fn definition<D: Definition>(
    headers: &HeaderMap,
    body: &[u8],
    path_id: &str,
) -> Result<D, CrmError> {
    let is_yaml = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("yaml"));
    let def = if is_yaml {
        let text = std::str::from_utf8(body)
            .map_err(|_| CrmError::BadRequest("YAML must be UTF-8".into()))?;
        D::parse_yaml(text)?
    } else {
        D::parse_json(body)?
    };
    if def.id() != path_id {
        return Err(CrmError::invalid(
            "id",
            format!(
                "the body's id {:?} differs from the path's {path_id:?}",
                def.id()
            ),
        ));
    }
    Ok(def)
}

/// What a save answers: the definition with the version now stored.
pub(super) fn saved<D: Definition>(def: &D, version: u32) -> Value {
    json!({ "id": def.id(), "version": version, "definition": def })
}

/// 201 for a definition's first version, 200 for a later one (or an unchanged re-apply).
pub(super) fn saved_version<D: Definition>(def: &D, version: u32) -> Response {
    let status = if version == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(saved(def, version))).into_response()
}

/// A stored definition as the admin API lists it.
pub(super) fn shown(
    id: &impl Serialize,
    version: u32,
    saved_at: Timestamp,
    definition: &impl Serialize,
) -> Value {
    json!({ "id": id, "version": version, "savedAt": saved_at, "definition": definition })
}

/// A `DELETE`: 204 when there was something to delete, else 404 naming what.
pub(super) fn deleted(found: bool, what: &'static str) -> Result<StatusCode, CrmError> {
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(CrmError::NotFound(what))
    }
}

/// The friend a route's one path parameter names (`/admin/friends/{user_id}/…`).
pub(super) struct FriendInPath(pub LineUserId);

impl<S: Send + Sync> FromRequestParts<S> for FriendInPath {
    type Rejection = CrmError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, CrmError> {
        let Path(user_id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| CrmError::NotFound("friend"))?;
        parse_user(&user_id).map(Self)
    }
}
