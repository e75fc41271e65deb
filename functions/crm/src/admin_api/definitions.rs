//! Definitions through the admin API (`domain::definition::Definition`): one way to read a
//! `PUT` of any of them, and the handlers scenarios and surveys share — save, list, read —
//! which differ only in how each is stored ([`Versioned`]).
use std::future::Future;

use axum::{
    Json,
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Path, Request, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};

use super::{auth::Caller, body::slug_in_path};
use crate::{
    deps::Deps,
    domain::{TenantId, definition::Definition},
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
    // Stored as JSON in one item, beside its keys and metadata: keep it under DynamoDB's 400 KB.
    let stored = serde_json::to_vec(&def).map_or(usize::MAX, |v| v.len());
    if stored > MAX_DEFINITION_BYTES {
        return Err(CrmError::invalid(
            "",
            format!(
                "the definition is {} KB as stored; at most {} KB (split it, or move long texts out)",
                stored / 1024,
                MAX_DEFINITION_BYTES / 1024
            ),
        ));
    }
    Ok(def)
}

/// The largest definition stored, as JSON.
const MAX_DEFINITION_BYTES: usize = 350 * 1024;

/// What a save answers: the definition with the version now stored.
pub(super) fn saved<D: Definition>(def: &D, version: u32) -> Value {
    json!({ "id": def.id(), "version": version, "definition": def })
}

/// Scenarios and surveys: saved with a version, shown as `{id, version, savedAt, definition}`.
pub(super) trait Versioned: Definition + Send + Sync + 'static {
    /// Saves `def`; the version now current.
    fn save(
        deps: &Deps,
        t: &TenantId,
        def: &Self,
    ) -> impl Future<Output = Result<u32, CrmError>> + Send;

    /// Every current one, as shown.
    fn all(deps: &Deps, t: &TenantId) -> impl Future<Output = Result<Vec<Value>, CrmError>> + Send;

    /// The current one with the path's `id`, as shown.
    fn one(
        deps: &Deps,
        t: &TenantId,
        id: &str,
    ) -> impl Future<Output = Result<Option<Value>, CrmError>> + Send;
}

/// A stored definition as the admin API shows it.
pub(super) fn shown(
    id: &impl Serialize,
    version: u32,
    saved_at: Timestamp,
    definition: &impl Serialize,
) -> Value {
    json!({ "id": id, "version": version, "savedAt": saved_at, "definition": definition })
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
    Ok(Json(json!({ D::PLURAL: D::all(&deps, &t.id).await? })))
}

/// `GET /admin/{scenarios,surveys}/{id}`
pub(super) async fn one<D: Versioned>(
    t: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
) -> Result<Json<Value>, CrmError> {
    let found = D::one(&deps, &t.id, slug_in_path(&id)?).await?;
    Ok(Json(found.ok_or(CrmError::NotFound(D::NOUN))?))
}
