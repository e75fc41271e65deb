//! API keys: each key is two items written and removed together. The lookup item
//! (`KEY#{sha256}`) turns a bearer value into its tenant with one GetItem; the listing item in the
//! tenant's partition (`APIKEY#{id}`) lets the tenant list and revoke its keys with one Query. A
//! counter item in the same transactions keeps a tenant between one and the cap of active keys.
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, keys, s, to_item, values};
use crate::domain::{ApiKeyId, TenantId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees and changes one tenant's data.
    Tenant,
}

/// What a key's hash opens: the lookup item, read on every admin request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRecord {
    pub tenant: TenantId,
    pub role: Role,
    /// None on a key created before keys were listed, until its first use lists it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ApiKeyId>,
    /// Keys created before keys were listed stored it as `label`.
    #[serde(alias = "label")]
    pub name: String,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Timestamp>,
}

/// An API key as its tenant's list shows it: never the key, never its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub name: String,
    /// The key's first characters, so a shop can tell which key an integration holds.
    pub prefix: String,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<Timestamp>,
}

/// What adding a key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAdded {
    Added,
    /// The tenant already has `cap` active keys.
    Full,
}

/// What a revoke did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRevoked {
    Revoked,
    /// The tenant has no active key with that id.
    Unknown,
    /// It is the tenant's last active key: revoking it would lock the tenant out.
    Last,
}

#[derive(Serialize, Deserialize)]
struct KeyItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    key: ApiKeyRecord,
}

holds!(KeyItem, key: ApiKeyRecord);

/// The listing item, in the tenant's partition.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedKeyItem {
    pk: String,
    sk: String,
    entity: String,
    /// The lookup item's key, so a revoke removes both.
    key_sha256: String,
    #[serde(flatten)]
    key: ApiKey,
}

holds!(ListedKeyItem, key: ApiKey);

impl Store {
    /// The key whose hash is `key_sha256`: one GetItem.
    pub async fn api_key(&self, key_sha256: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.value::<KeyItem>(keys::api_key(key_sha256)).await
    }

    /// The tenant's active keys, oldest first (one Query of its partition).
    pub async fn api_keys(&self, t: &TenantId) -> Result<Vec<ApiKey>, StoreError> {
        let items = self.tenant_items(t, keys::API_KEY_PREFIX).await?;
        let mut listed = values::<ListedKeyItem>(items)?;
        listed.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(listed)
    }

    /// Adds a key to the tenant unless it already has `cap` active ones.
    pub async fn add_api_key(
        &self,
        t: &TenantId,
        key_sha256: &str,
        key: &ApiKey,
        cap: u32,
    ) -> Result<KeyAdded, StoreError> {
        match self
            .transact(self.new_key_writes(t, key_sha256, key, cap)?)
            .await?
        {
            Ok(()) => Ok(KeyAdded::Added),
            Err(0) => Ok(KeyAdded::Full),
            Err(_) => Err(StoreError::AlreadyExists),
        }
    }

    /// A new key's writes: counting it while the tenant has fewer than `cap` (first, so a full
    /// tenant fails there), then its lookup and listing items, neither of which may exist yet.
    /// The tenant's creation runs them in its own transaction.
    pub(super) fn new_key_writes(
        &self,
        t: &TenantId,
        key_sha256: &str,
        key: &ApiKey,
        cap: u32,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let (pk, sk) = keys::api_key(key_sha256);
        let lookup = to_item(&KeyItem {
            pk,
            sk,
            entity: "api_key".into(),
            key: ApiKeyRecord {
                tenant: t.clone(),
                role: Role::Tenant,
                id: Some(key.id.clone()),
                name: key.name.clone(),
                created_at: key.created_at,
                last_used_at: key.last_used_at,
            },
        })?;
        Ok(vec![
            self.key_count_below(t, cap)?,
            self.put(lookup, Some("attribute_not_exists(pk)"))?,
            self.put(
                listed_key_item(t, key_sha256, key)?,
                Some("attribute_not_exists(pk)"),
            )?,
        ])
    }

    /// Revokes the tenant's key `id` (both its items at once) unless it is the last one; the key
    /// opens nothing from the moment this returns.
    pub async fn revoke_api_key(
        &self,
        t: &TenantId,
        id: &ApiKeyId,
    ) -> Result<KeyRevoked, StoreError> {
        let listing = keys::tenant_api_key(t, id);
        let Some(item) = self.get_as::<ListedKeyItem>(listing.clone()).await? else {
            return Ok(KeyRevoked::Unknown);
        };
        // The listing first: a key another request revoked meanwhile is unknown, not the last.
        let writes = vec![
            self.delete_existing(listing)?,
            self.count_update(
                t,
                -1,
                Some("#active > :one"),
                vec![(":one", AttributeValue::N("1".into()))],
            )?,
            self.delete(keys::api_key(&item.key_sha256))?,
        ];
        match self.transact(writes).await? {
            Ok(()) => Ok(KeyRevoked::Revoked),
            Err(0) => Ok(KeyRevoked::Unknown),
            Err(_) => Ok(KeyRevoked::Last),
        }
    }

    /// Lists a key created before keys were listed (it has only its lookup item), giving it `key`'s
    /// id and prefix and counting it. False when another request listed it first or it is gone.
    pub async fn list_unlisted_api_key(
        &self,
        key_sha256: &str,
        tenant: &TenantId,
        key: &ApiKey,
    ) -> Result<bool, StoreError> {
        let (pk, sk) = keys::api_key(key_sha256);
        let mut values = vec![(":id", s(key.id.as_str()))];
        let mut set = "SET #id = :id";
        if let Some(at) = key.last_used_at {
            values.push((":at", s(at.to_string())));
            set = "SET #id = :id, #lastUsedAt = :at";
        }
        let lookup = self.update_in_transaction(
            (pk, sk),
            set,
            Some("attribute_exists(pk) AND attribute_not_exists(#id)"),
            values,
        )?;
        let writes = vec![
            lookup,
            self.put(
                listed_key_item(tenant, key_sha256, key)?,
                Some("attribute_not_exists(pk)"),
            )?,
            self.count_update(tenant, 1, None, Vec::new())?,
        ];
        Ok(self.transact(writes).await?.is_ok())
    }

    /// Records that the key was used at `at` (on both its items), if its last recorded use is
    /// still `seen`: of concurrent requests only one writes. False when another request did.
    pub async fn note_api_key_use(
        &self,
        key_sha256: &str,
        tenant: &TenantId,
        id: &ApiKeyId,
        seen: Option<Timestamp>,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut values = vec![(":at", s(at.to_string()))];
        let unchanged = match seen {
            Some(seen) => {
                values.push((":seen", s(seen.to_string())));
                "attribute_exists(pk) AND #lastUsedAt = :seen"
            }
            None => "attribute_exists(pk) AND attribute_not_exists(#lastUsedAt)",
        };
        let set = "SET #lastUsedAt = :at";
        let writes = vec![
            self.update_in_transaction(keys::api_key(key_sha256), set, Some(unchanged), values)?,
            self.update_in_transaction(
                keys::tenant_api_key(tenant, id),
                set,
                Some("attribute_exists(pk)"),
                vec![(":at", s(at.to_string()))],
            )?,
        ];
        match self.transact(writes).await {
            Ok(done) => Ok(done.is_ok()),
            // Another request's transaction on the same items: it records the use.
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Adds one key to the tenant's count, refused once it has `cap`.
    fn key_count_below(&self, t: &TenantId, cap: u32) -> Result<TransactWriteItem, StoreError> {
        self.count_update(
            t,
            1,
            Some("attribute_not_exists(#active) OR #active < :cap"),
            vec![(":cap", AttributeValue::N(cap.to_string()))],
        )
    }

    /// Changes the tenant's active-key count by `delta` (from 0 when it has none yet) if
    /// `condition` holds.
    fn count_update(
        &self,
        t: &TenantId,
        delta: i64,
        condition: Option<&str>,
        mut values: Vec<(&str, AttributeValue)>,
    ) -> Result<TransactWriteItem, StoreError> {
        values.push((":entity", s("api_key_count")));
        values.push((":delta", AttributeValue::N(delta.to_string())));
        self.update_in_transaction(
            keys::api_key_count(t),
            "SET #entity = :entity ADD #active :delta",
            condition,
            values,
        )
    }
}

fn listed_key_item(
    t: &TenantId,
    key_sha256: &str,
    key: &ApiKey,
) -> Result<super::Item, StoreError> {
    let (pk, sk) = keys::tenant_api_key(t, &key.id);
    to_item(&ListedKeyItem {
        pk,
        sk,
        entity: "api_key_listing".into(),
        key_sha256: key_sha256.to_owned(),
        key: key.clone(),
    })
}
