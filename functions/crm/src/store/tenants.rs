//! Tenants and the API keys that open the admin API for exactly one of them.
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, from_item, keys, to_item};
use crate::domain::{Tenant, TenantId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Sees and changes one tenant's data.
    Tenant,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRecord {
    pub tenant: TenantId,
    pub role: Role,
    pub label: String,
    pub created_at: jiff::Timestamp,
}

#[derive(Serialize, Deserialize)]
struct TenantItem {
    pk: String,
    sk: String,
    entity: String,
    /// gsi1 `TENANTS` / id: the list the daily sweep walks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    #[serde(flatten)]
    tenant: Tenant,
}

impl TenantItem {
    fn new(tenant: &Tenant) -> Self {
        let (pk, sk) = keys::tenant(&tenant.id);
        let (gsi1pk, gsi1sk) = keys::tenants_index(&tenant.id);
        Self {
            pk,
            sk,
            entity: "tenant".into(),
            gsi1pk: Some(gsi1pk),
            gsi1sk: Some(gsi1sk),
            tenant: tenant.clone(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct KeyItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    key: ApiKeyRecord,
}

impl Store {
    pub async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        match self.get(keys::tenant(id)).await? {
            Some(item) => Ok(Some(from_item::<TenantItem>(item)?.tenant)),
            None => Ok(None),
        }
    }

    /// Creates the tenant and its first API key together; an existing tenant id is refused.
    pub async fn create_tenant(
        &self,
        tenant: &Tenant,
        key_sha256: &str,
        key: &ApiKeyRecord,
    ) -> Result<(), StoreError> {
        let tenant_item = to_item(&TenantItem::new(tenant))?;
        let (pk, sk) = keys::api_key(key_sha256);
        let key_item = to_item(&KeyItem {
            pk,
            sk,
            entity: "api_key".into(),
            key: key.clone(),
        })?;
        let writes = vec![
            self.put(tenant_item, Some("attribute_not_exists(pk)"))?,
            self.put(key_item, Some("attribute_not_exists(pk)"))?,
        ];
        match self.transact(writes).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::AlreadyExists),
        }
    }

    /// Writes (or replaces) a tenant's settings; used by seeding and settings updates.
    pub async fn put_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let item = to_item(&TenantItem::new(tenant))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem", e))?;
        Ok(())
    }

    /// Every tenant, in id order (one index partition; read once a day by the sweep).
    pub async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.partition(Some(keys::GSI1), keys::TENANTS_INDEX_PK.to_owned())
            .await?
            .into_iter()
            .map(|i| from_item::<TenantItem>(i).map(|x| x.tenant))
            .collect()
    }

    pub async fn put_api_key(
        &self,
        key_sha256: &str,
        key: &ApiKeyRecord,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::api_key(key_sha256);
        let item = to_item(&KeyItem {
            pk,
            sk,
            entity: "api_key".into(),
            key: key.clone(),
        })?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem", e))?;
        Ok(())
    }

    /// Marks (Some) or clears (None) the tenant's monthly-quota exhaustion.
    pub async fn set_quota_exhausted(
        &self,
        t: &TenantId,
        at: Option<jiff::Timestamp>,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::tenant(t);
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, super::s(pk))
            .key(keys::SK, super::s(sk))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#q", "quotaExhaustedAt");
        let update = match at {
            Some(at) => update
                .update_expression("SET #q = :at")
                .expression_attribute_values(":at", super::s(at.to_string())),
            None => update.update_expression("REMOVE #q"),
        };
        update
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    pub async fn api_key(&self, key_sha256: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        match self.get(keys::api_key(key_sha256)).await? {
            Some(item) => Ok(Some(from_item::<KeyItem>(item)?.key)),
            None => Ok(None),
        }
    }
}
