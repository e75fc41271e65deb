//! Who is calling, decided from the bearer key alone: an axum extractor, so a handler names the
//! caller it needs in its signature and never sees a request it may not serve.
use std::ops::Deref;

use axum::{extract::FromRequestParts, http::request::Parts};
use jiff::{SignedDuration, Timestamp};
use subtle::ConstantTimeEq;

use crate::{
    deps::Deps,
    domain::{ApiKeyId, Tenant},
    http::CrmError,
    store::{ApiKey, ApiKeyRecord, Role},
};

pub fn hash_key(key: &str) -> String {
    crate::secret::sha256_hex(key)
}

/// A new API key: 32 random bytes, shown once; only its hash is stored.
pub fn new_api_key() -> String {
    format!("tsk_{}", crate::secret::random_token())
}

/// How many characters of a key its listing shows: `tsk_` and four of its 43 random ones (24 of
/// 256 bits). A short key (one set by hand) shows at most a third of itself.
const PREFIX_CHARS: usize = 8;

/// The first characters of `key`, shown in its listing so a shop can tell its keys apart.
pub fn key_prefix(key: &str) -> String {
    let shown = PREFIX_CHARS.min(key.chars().count() / 3);
    key.chars().take(shown).collect()
}

/// The listing of a new key `key` (which is not kept): a fresh id, its prefix, its name.
pub fn key_listing(key: &str, name: impl Into<String>, now: Timestamp) -> ApiKey {
    ApiKey {
        id: ApiKeyId::random(),
        name: name.into(),
        prefix: key_prefix(key),
        created_at: now,
        last_used_at: None,
    }
}

/// How stale a key's recorded last use may get: it is written at most once per this span, so
/// recording it costs one write an hour per key, not one per request.
const LAST_USE_PRECISION: SignedDuration = SignedDuration::from_hours(1);

/// A caller holding a tenant key: the tenant comes from the key, never from the URL. Derefs to
/// the [`Tenant`], so handlers read `caller.id`, `caller.time_zone()`.
#[derive(Debug)]
pub struct Caller {
    pub tenant: Tenant,
    pub role: Role,
    /// The key this request came with (None only while a key from before listing is being listed
    /// by a concurrent request).
    pub key: Option<ApiKeyId>,
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
    let key = note_use(deps, key, &hash, &record).await;
    Ok(Key::Tenant(Box::new(Caller {
        tenant,
        role: record.role,
        key,
    })))
}

/// Records the key's use (at most once per [`LAST_USE_PRECISION`]) and lists a key created before
/// keys were listed on its first use, since only then is the key itself at hand for its prefix.
/// Neither decides the request: a failure is logged (never the key) and the request goes on.
async fn note_use(deps: &Deps, key: &str, hash: &str, record: &ApiKeyRecord) -> Option<ApiKeyId> {
    let now = deps.clock.now();
    let t = &record.tenant;
    let Some(id) = &record.id else {
        let listing = ApiKey {
            last_used_at: Some(now),
            ..key_listing(key, record.name.clone(), record.created_at)
        };
        return match deps.store.list_unlisted_api_key(hash, t, &listing).await {
            Ok(true) => Some(listing.id),
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(tenant = %t, error = %e, "listing an API key failed");
                None
            }
        };
    };
    let stale = record
        .last_used_at
        .is_none_or(|at| now.duration_since(at) >= LAST_USE_PRECISION);
    if stale {
        let noted = deps
            .store
            .note_api_key_use(hash, t, id, record.last_used_at, now)
            .await;
        if let Err(e) = noted {
            tracing::warn!(tenant = %t, key = %id, error = %e, "recording an API key's use failed");
        }
    }
    Some(id.clone())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_shows_only_the_start_of_a_key() {
        let key = new_api_key();
        assert_eq!(key_prefix(&key), key[..8]);
        assert!(key_prefix(&key).starts_with("tsk_"));
        // A short key set by hand shows at most a third of itself.
        assert_eq!(key_prefix("demo-api-key-change-me"), "demo-ap");
        assert_eq!(key_prefix("abc"), "a");
        let listing = key_listing(&key, "pos", Timestamp::UNIX_EPOCH);
        assert_eq!((listing.name.as_str(), listing.last_used_at), ("pos", None));
    }
}
