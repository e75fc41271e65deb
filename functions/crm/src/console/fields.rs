//! 友だち情報欄: the shop's custom field definitions (label, kind, choices). Editors define and
//! remove them; a friend's page then offers each defined field with the input its kind needs.
use askama::Template;
use axum::{
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use super::{Chrome, ConsoleError, Editor, Labels, Posted, Staff, html};
use crate::{
    deps::Deps,
    domain::field_definition::{FieldDefinition, FieldKind},
};

#[derive(Template)]
#[template(path = "console/fields.html")]
struct FieldsPage {
    l: &'static Labels,
    me: Option<Chrome>,
    csrf: String,
    can_edit: bool,
    defs: Vec<FieldDefinition>,
    /// What was wrong with the form just sent, and the form as sent.
    error: Option<String>,
    form: DefineForm,
}

/// `GET /console/fields`
pub(super) async fn list(staff: Staff, State(deps): State<Deps>) -> Result<Response, ConsoleError> {
    page(&deps, &staff, None, DefineForm::default(), StatusCode::OK).await
}

async fn page(
    deps: &Deps,
    staff: &Staff,
    error: Option<String>,
    form: DefineForm,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let page = FieldsPage {
        l: staff.lang.labels(),
        me: Some(Chrome::of(staff)),
        csrf: staff.csrf.clone(),
        can_edit: staff.role.can_edit(),
        defs: deps.store.field_definitions(&staff.tenant.id).await?,
        error,
        form,
    };
    Ok(html(status, &page))
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DefineForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    label: String,
    /// `text`, `number`, `date` or `choice`.
    #[serde(default)]
    kind: String,
    /// One choice per line.
    #[serde(default)]
    choices: String,
    #[serde(default)]
    description: String,
}

/// `POST /console/fields`: defines a field (or changes it). A definition that does not hold is
/// shown again with what is wrong, the form kept.
pub(super) async fn define(
    State(deps): State<Deps>,
    Posted { who, form }: Posted<DefineForm, Editor>,
) -> Result<Response, ConsoleError> {
    let kind = match form.kind.as_str() {
        "number" => FieldKind::Number,
        "date" => FieldKind::Date,
        "choice" => FieldKind::Choice,
        _ => FieldKind::Text,
    };
    let def = FieldDefinition {
        name: form.name.trim().to_owned(),
        label: form.label.trim().to_owned(),
        kind,
        choices: form
            .choices
            .lines()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect(),
        description: Some(form.description.trim().to_owned()).filter(|d| !d.is_empty()),
    };
    if let Err(e) = def.validate() {
        let error = format!("{}: {}", e.field, e.message);
        return page(&deps, &who, Some(error), form, StatusCode::BAD_REQUEST).await;
    }
    deps.store
        .put_field_definition(&who.tenant.id, &def)
        .await?;
    Ok(Redirect::to("/console/fields").into_response())
}

#[derive(Debug, Deserialize)]
pub(super) struct NameForm {
    name: String,
}

/// `POST /console/fields/remove`: the definition goes; friends keep their values.
pub(super) async fn remove(
    State(deps): State<Deps>,
    Posted { who, form }: Posted<NameForm, Editor>,
) -> Result<Response, ConsoleError> {
    deps.store
        .delete_field_definition(&who.tenant.id, form.name.trim())
        .await?;
    Ok(Redirect::to("/console/fields").into_response())
}
