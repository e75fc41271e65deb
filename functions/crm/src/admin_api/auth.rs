//! Who is calling, decided from the bearer key alone: an axum extractor, so a handler names the
//! caller it needs in its signature and never sees a request it may not serve.
use std::ops::Deref;

use axum::{extract::FromRequestParts, http::request::Parts};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{deps::Deps, domain::Tenant, http::CrmError, store::Role};

pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new API key: 32 random bytes, shown once; only its hash is stored.
pub fn new_api_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("tsk_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A caller holding a tenant key: the tenant comes from the key, never from the URL. Derefs to
/// the [`Tenant`], so handlers read `caller.id`, `caller.time_zone()`.
#[derive(Debug)]
pub struct Caller {
    pub tenant: Tenant,
    pub role: Role,
}

impl Deref for Caller {
    type Target = Tenant;
    fn deref(&self) -> &Tenant {
        &self.tenant
    }
}

/// The operator (the key whose hash is `OPERATOR_KEY_SHA256`): creates tenants, sees no tenant's data.
#[derive(Debug)]
pub struct Operator;

enum Key {
    Operator,
    Tenant(Box<Caller>),
}

async fn authenticate(deps: &Deps, parts: &Parts) -> Result<Key, CrmError> {
    let key = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or(CrmError::Unauthorized)?;
    let hash = hash_key(key);
    // Constant-time, so response timing does not reveal how much of the hash matched.
    let is_operator = deps
        .config
        .operator_key_sha256
        .as_ref()
        .is_some_and(|op| bool::from(op.as_bytes().ct_eq(hash.as_bytes())));
    if is_operator {
        return Ok(Key::Operator);
    }
    let record = deps
        .store
        .api_key(&hash)
        .await?
        .ok_or(CrmError::Unauthorized)?;
    let tenant = deps
        .store
        .get_tenant(&record.tenant)
        .await?
        .ok_or(CrmError::Unauthorized)?;
    Ok(Key::Tenant(Box::new(Caller {
        tenant,
        role: record.role,
    })))
}

impl FromRequestParts<Deps> for Caller {
    type Rejection = CrmError;

    async fn from_request_parts(parts: &mut Parts, deps: &Deps) -> Result<Self, CrmError> {
        match authenticate(deps, parts).await? {
            Key::Tenant(caller) => match caller.role {
                Role::Tenant => Ok(*caller),
            },
            Key::Operator => Err(CrmError::Forbidden),
        }
    }
}

impl FromRequestParts<Deps> for Operator {
    type Rejection = CrmError;

    async fn from_request_parts(parts: &mut Parts, deps: &Deps) -> Result<Self, CrmError> {
        match authenticate(deps, parts).await? {
            Key::Operator => Ok(Operator),
            Key::Tenant(_) => Err(CrmError::Forbidden),
        }
    }
}
