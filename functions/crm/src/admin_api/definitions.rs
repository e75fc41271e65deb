//! Definitions through the admin API (`domain::definition::Definition`): one way to read a
//! `PUT` of any of them, and the handlers scenarios and surveys share — save, list, read —
//! which differ only in how each is stored (`crate::definitions::Kept`).
use axum::{
    Json,
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Path, Request, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{auth::Caller, body::slug_in_path};
use crate::{
    definitions::{self, Format, Kept, Saved},
    deps::Deps,
    domain::definition::Definition,
    http::CrmError,
};

/// A tenant's `PUT …/{id}` of a definition: the caller, and the body parsed as YAML when the
/// content type says so, JSON otherwise. Refused naming the field; a body naming another id
/// than the path's is refused rather than guessed at.
pub(super) struct Put<D>(pub Caller, pub D);

impl<D: Definition + Send> FromRequest<Deps> for Put<D> {
    type Rejection = Response;

    async fn from_request(req: Request, deps: &Deps) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let caller = Caller::from_request_parts(&mut parts, deps)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(id) = Path::<String>::from_request_parts(&mut parts, deps)
            .await
            .map_err(IntoResponse::into_response)?;
        let is_yaml = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.contains("yaml"));
        let body = Bytes::from_request(Request::from_parts(parts, body), deps)
            .await
            .map_err(IntoResponse::into_response)?;
        let def = parse(is_yaml, &body, &id).map_err(IntoResponse::into_response)?;
        Ok(Put(caller, def))
    }
}

fn parse<D: Definition>(is_yaml: bool, body: &[u8], path_id: &str) -> Result<D, CrmError> {
    let format = if is_yaml { Format::Yaml } else { Format::Json };
    Ok(definitions::read(format, body, Some(path_id))?)
}

/// What a save answers: the definition with the version now stored.
pub(super) fn saved<D: Definition>(def: &D, version: u32) -> Value {
    json!({ "id": def.id(), "version": version, "definition": def })
}

/// Scenarios and surveys: saved with a version and its time, shown as
/// `{id, version, savedAt, definition}`.
pub(super) trait Versioned: Kept {}

impl Versioned for crate::domain::scenario::ScenarioDefinition {}
impl Versioned for crate::domain::survey::SurveyDefinition {}

/// A stored definition as the admin API shows it.
fn shown<D: Definition>(s: &Saved<D>) -> Value {
    json!({
        "id": s.definition.id(),
        "version": s.version,
        "savedAt": s.saved_at,
        "definition": s.definition,
    })
}

/// `PUT /admin/{scenarios,surveys}/{id}`: 201 for the first version, 200 for a later one (or
/// an unchanged re-apply).
pub(super) async fn save<D: Versioned>(
    State(deps): State<Deps>,
    Put(t, def): Put<D>,
) -> Result<Response, CrmError> {
    let version = D::save(&deps, &t.id, &def).await?;
    let status = if version == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(saved(&def, version))).into_response())
}

/// `GET /admin/{scenarios,surveys}`
pub(super) async fn list<D: Versioned>(
    t: Caller,
    State(deps): State<Deps>,
) -> Result<Json<Value>, CrmError> {
    let all: Vec<Value> = D::all(&deps, &t.id).await?.iter().map(shown).collect();
    Ok(Json(json!({ D::PLURAL: all })))
}

/// `GET /admin/{scenarios,surveys}/{id}`
pub(super) async fn one<D: Versioned>(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
) -> Result<Json<Value>, CrmError> {
    let found = D::one(&deps, &t.id, slug_in_path(&id)?).await?;
    Ok(Json(shown(&found.ok_or(CrmError::NotFound(D::NOUN))?)))
}
