//! A tenant's API keys. Several may be active at once, so a shop rotates a key without downtime:
//! create the new one, move its integrations to it, revoke the old one. The operator may do the
//! same for any tenant (a shop that lost its keys, or one whose key leaked).
use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

use super::auth::{Caller, Operator, hash_key, key_listing, new_api_key};
use crate::{
    deps::Deps,
    domain::{ApiKeyId, TenantId},
    http::{CrmError, parse_json},
    store::{ApiKey, KeyAdded, KeyRevoked},
};

/// Active keys per tenant: enough for one per integration and a rotation in progress, few
/// enough that a forgotten key is noticed in the list.
pub const MAX_ACTIVE_KEYS: u32 = 10;

const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewKey {
    #[serde(default)]
    name: Option<String>,
}

/// A new key with its listing: the only time the key itself is shown.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreatedKey {
    api_key: String,
    #[serde(flatten)]
    listing: ApiKey,
}

/// A listed key; `current` marks the key the request came with.
#[derive(Serialize)]
struct KeyView {
    #[serde(flatten)]
    listing: ApiKey,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    current: bool,
}

/// `POST /admin/api-keys` `{name?}` → 201 with the key, shown once.
pub(super) async fn create(
    caller: Caller,
    State(deps): State<Deps>,
    body: Bytes,
) -> Result<Response, CrmError> {
    create_for(&deps, &caller.id, &body).await
}

/// `GET /admin/api-keys`
pub(super) async fn list(
    caller: Caller,
    State(deps): State<Deps>,
) -> Result<Json<serde_json::Value>, CrmError> {
    list_for(&deps, &caller.id, caller.key.as_ref()).await
}

/// `DELETE /admin/api-keys/{id}` → 204; the key is refused from then on.
pub(super) async fn revoke(
    caller: Caller,
    State(deps): State<Deps>,
    Path(id): Path<String>,
) -> Result<StatusCode, CrmError> {
    revoke_for(&deps, &caller.id, &id).await
}

/// `POST /admin/tenants/{id}/api-keys` (operator)
pub(super) async fn create_for_tenant(
    _: Operator,
    State(deps): State<Deps>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, CrmError> {
    let t = existing_tenant(&deps, &tenant).await?;
    create_for(&deps, &t, &body).await
}

/// `GET /admin/tenants/{id}/api-keys` (operator)
pub(super) async fn list_for_tenant(
    _: Operator,
    State(deps): State<Deps>,
    Path(tenant): Path<String>,
) -> Result<Json<serde_json::Value>, CrmError> {
    let t = existing_tenant(&deps, &tenant).await?;
    list_for(&deps, &t, None).await
}

/// `DELETE /admin/tenants/{id}/api-keys/{key}` (operator)
pub(super) async fn revoke_for_tenant(
    _: Operator,
    State(deps): State<Deps>,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<StatusCode, CrmError> {
    let t = existing_tenant(&deps, &tenant).await?;
    revoke_for(&deps, &t, &id).await
}

pub(super) async fn existing_tenant(deps: &Deps, id: &str) -> Result<TenantId, CrmError> {
    let id = TenantId::parse(id).map_err(|_| CrmError::NotFound("tenant"))?;
    match deps.store.get_tenant(&id).await? {
        Some(_) => Ok(id),
        None => Err(CrmError::NotFound("tenant")),
    }
}

async fn create_for(deps: &Deps, t: &TenantId, body: &[u8]) -> Result<Response, CrmError> {
    let req: NewKey = if body.is_empty() {
        NewKey::default()
    } else {
        parse_json(body)?
    };
    let name = req.name.unwrap_or_default().trim().to_owned();
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(CrmError::invalid(
            "name",
            format!("at most {MAX_NAME_CHARS} characters"),
        ));
    }
    let key = new_api_key();
    let listing = key_listing(&key, name, deps.clock.now());
    match deps
        .store
        .add_api_key(t, &hash_key(&key), &listing, MAX_ACTIVE_KEYS)
        .await?
    {
        KeyAdded::Added => {}
        KeyAdded::Full => {
            return Err(CrmError::Conflict(format!(
                "a tenant has at most {MAX_ACTIVE_KEYS} active API keys: revoke one first"
            )));
        }
    }
    tracing::info!(tenant = %t, key = %listing.id, "API key created");
    let created = CreatedKey {
        api_key: key,
        listing,
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn list_for(
    deps: &Deps,
    t: &TenantId,
    current: Option<&ApiKeyId>,
) -> Result<Json<serde_json::Value>, CrmError> {
    let keys: Vec<KeyView> = deps
        .store
        .api_keys(t)
        .await?
        .into_iter()
        .map(|listing| KeyView {
            current: current == Some(&listing.id),
            listing,
        })
        .collect();
    Ok(Json(serde_json::json!({ "apiKeys": keys })))
}

async fn revoke_for(deps: &Deps, t: &TenantId, id: &str) -> Result<StatusCode, CrmError> {
    // A malformed id names no key: answered as an unknown one.
    let id = ApiKeyId::parse(id).map_err(|_| CrmError::NotFound("API key"))?;
    match deps.store.revoke_api_key(t, &id).await? {
        KeyRevoked::Revoked => {
            tracing::info!(tenant = %t, key = %id, "API key revoked");
            Ok(StatusCode::NO_CONTENT)
        }
        KeyRevoked::Unknown => Err(CrmError::NotFound("API key")),
        KeyRevoked::Last => Err(CrmError::Conflict(
            "this is the tenant's last active API key: create another one before revoking it"
                .into(),
        )),
    }
}
