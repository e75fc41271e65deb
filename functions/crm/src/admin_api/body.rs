//! Reading what a request names (friends, tags and ids in the path) and answering a delete.
use std::str::FromStr;

use axum::{
    extract::{FromRequestParts, Path},
    http::{StatusCode, request::Parts},
};

use crate::{
    domain::{
        LineUserId, TagName,
        ids::{BadSlug, is_slug},
    },
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

/// An id in the path of a route generic over its kind of definition: checked as a slug before
/// it goes into a key.
pub(super) fn slug_in_path(id: &str) -> Result<&str, CrmError> {
    if is_slug(id) {
        Ok(id)
    } else {
        Err(CrmError::invalid("id", BadSlug.to_string()))
    }
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
