//! Custom field definitions (友だち情報欄) through the admin API: a label, a kind (text, number,
//! date, choice) and the choices. Setting a friend's defined field is checked against it.
use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
};
use serde::Deserialize;
use serde_json::json;

use super::{auth::Caller, body::deleted};
use crate::{
    deps::Deps,
    domain::{
        field_definition::{FieldDefinition, FieldKind},
        friend::check_field_name,
    },
    http::{CrmError, parse_json},
};

/// `GET /admin/fields`
pub(super) async fn list(
    t: Caller,
    State(deps): State<Deps>,
) -> Result<Json<serde_json::Value>, CrmError> {
    let defs = deps.store.field_definitions(&t.id).await?;
    Ok(Json(json!({ "fields": defs })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FieldDefBody {
    label: String,
    kind: FieldKind,
    #[serde(default)]
    choices: Vec<String>,
    #[serde(default)]
    description: Option<String>,
}

/// `PUT /admin/fields/{name}` `{label, kind, choices?, description?}`
pub(super) async fn define(
    t: Caller,
    State(deps): State<Deps>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<FieldDefinition>, CrmError> {
    check_field_name(&name, "name")?;
    let req: FieldDefBody = parse_json(&body)?;
    let def = FieldDefinition {
        name,
        label: req.label,
        kind: req.kind,
        choices: req.choices,
        description: req.description.filter(|d| !d.trim().is_empty()),
    };
    def.validate()?;
    deps.store.put_field_definition(&t.id, &def).await?;
    Ok(Json(def))
}

/// `DELETE /admin/fields/{name}`: the values friends have stay, as free text.
pub(super) async fn undefine(
    t: Caller,
    State(deps): State<Deps>,
    Path(name): Path<String>,
) -> Result<StatusCode, CrmError> {
    check_field_name(&name, "name")?;
    deleted(
        deps.store.delete_field_definition(&t.id, &name).await?,
        "field",
    )
}
