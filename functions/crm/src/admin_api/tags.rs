//! Tag definitions through the admin API: a folder and a description per tag. A friend's tags
//! need no definition first (adding one defines it).
use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
};
use serde::Deserialize;
use serde_json::json;

use super::{
    auth::Caller,
    body::{deleted, parse_tag},
};
use crate::{
    deps::Deps,
    domain::TagDefinition,
    http::{CrmError, parse_json},
};

/// `GET /admin/tags`
pub(super) async fn list(
    t: Caller,
    State(deps): State<Deps>,
) -> Result<Json<serde_json::Value>, CrmError> {
    let defs = deps.store.tag_definitions(&t.id).await?;
    Ok(Json(json!({ "tags": defs })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TagDefBody {
    #[serde(default)]
    folder: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// `PUT /admin/tags/{tag}` `{folder?, description?}` (an empty body is allowed).
pub(super) async fn define(
    t: Caller,
    State(deps): State<Deps>,
    Path(tag): Path<String>,
    body: Bytes,
) -> Result<Json<TagDefinition>, CrmError> {
    let name = parse_tag("tag", &tag)?;
    let req: TagDefBody = if body.is_empty() {
        TagDefBody::default()
    } else {
        parse_json(&body)?
    };
    let def = TagDefinition::checked(name, req.folder, req.description, deps.clock.now())?;
    deps.store.put_tag_definition(&t.id, &def).await?;
    Ok(Json(def))
}

/// `DELETE /admin/tags/{tag}`
pub(super) async fn undefine(
    t: Caller,
    State(deps): State<Deps>,
    Path(tag): Path<String>,
) -> Result<StatusCode, CrmError> {
    let name = parse_tag("tag", &tag)?;
    deleted(deps.store.delete_tag_definition(&t.id, &name).await?, "tag")
}
