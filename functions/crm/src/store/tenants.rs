//! Tenants: settings in one item, LINE credentials sealed in another.
use serde::{Deserialize, Serialize};

use super::{ApiKey, Gsi3, SendUpdate, Store, StoreError, from_item, keys, s, to_item};
use crate::domain::{Tenant, TenantId};

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
    /// gsi3 `QUOTA#EXHAUSTED` / id, only while `quotaExhaustedAt` is set: the tick's list of
    /// tenants to ask LINE about.
    #[serde(flatten)]
    gsi3: Gsi3,
    #[serde(flatten)]
    tenant: Tenant,
}

/// The credentials' own item: sealed, and in no index.
#[derive(Serialize, Deserialize)]
struct CredentialsItem {
    pk: String,
    sk: String,
    entity: String,
    /// `{"channelSecret":…,"accessToken":…}` sealed by the vault.
    sealed: String,
}

/// What the credentials item seals.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Credentials {
    channel_secret: crate::secret::Secret,
    access_token: crate::secret::Secret,
}

/// The tenant attributes that live only sealed, never on the tenant item.
const SEALED_ATTRIBUTES: [&str; 2] = ["channelSecret", "accessToken"];

impl TenantItem {
    fn new(tenant: &Tenant) -> Self {
        let (pk, sk) = keys::tenant(&tenant.id);
        let (gsi1pk, gsi1sk) = keys::tenants_index(&tenant.id);
        let gsi3 = Gsi3::new(
            tenant
                .quota_exhausted_at
                .map(|_| keys::quota_exhausted_index(&tenant.id)),
        );
        Self {
            pk,
            sk,
            entity: "tenant".into(),
            gsi1pk: Some(gsi1pk),
            gsi1sk: Some(gsi1sk),
            gsi3,
            tenant: tenant.clone(),
        }
    }
}

impl Store {
    /// The tenant with its credentials opened (both items read at once).
    pub async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        // Boxed: read on nearly every path, its future would otherwise sit inside every
        // caller's, and the deepest (a webhook reply that welcomes) ran out of stack.
        Box::pin(self.read_tenant(id)).await
    }

    async fn read_tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        let (tenant, sealed) = futures::try_join!(
            Box::pin(self.get(keys::tenant(id))),
            Box::pin(self.get(keys::tenant_credentials(id)))
        )?;
        let (Some(tenant), Some(sealed)) = (tenant, sealed) else {
            return Ok(None);
        };
        self.opened_tenant(tenant, sealed).await.map(Some)
    }

    /// The tenant from its item (or the index's copy of it) and its credentials item, opened.
    async fn opened_tenant(
        &self,
        mut tenant: super::Item,
        sealed: super::Item,
    ) -> Result<Tenant, StoreError> {
        let sealed: CredentialsItem = from_item(sealed)?;
        let opened = self.vault.open(&sealed.sealed).await?;
        let creds: Credentials = serde_json::from_str(opened.expose())
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        let [secret, token] = SEALED_ATTRIBUTES;
        tenant.insert(secret.into(), s(creds.channel_secret.expose()));
        tenant.insert(token.into(), s(creds.access_token.expose()));
        Ok(from_item::<TenantItem>(tenant)?.tenant)
    }

    /// The tenant item (credentials left out) and its sealed credentials item.
    async fn sealed_tenant_items(&self, tenant: &Tenant) -> Result<[super::Item; 2], StoreError> {
        let mut item = to_item(&TenantItem::new(tenant))?;
        for name in SEALED_ATTRIBUTES {
            item.remove(name);
        }
        let creds = serde_json::to_string(&Credentials {
            channel_secret: tenant.channel_secret.clone(),
            access_token: tenant.access_token.clone(),
        })
        .map_err(|e| StoreError::Malformed(e.to_string()))?;
        let (pk, sk) = keys::tenant_credentials(&tenant.id);
        let sealed = to_item(&CredentialsItem {
            pk,
            sk,
            entity: "tenant_credentials".into(),
            sealed: self.vault.seal(&creds).await?,
        })?;
        Ok([item, sealed])
    }

    /// Creates the tenant and its first API key together; an existing tenant id is refused.
    pub async fn create_tenant(
        &self,
        tenant: &Tenant,
        key_sha256: &str,
        key: &ApiKey,
    ) -> Result<(), StoreError> {
        let [tenant_item, credentials] = self.sealed_tenant_items(tenant).await?;
        let mut writes = vec![
            self.put(tenant_item, Some("attribute_not_exists(pk)"))?,
            self.put(credentials, None)?,
        ];
        // A new tenant's first key (its count starts below 1).
        writes.extend(self.new_key_writes(&tenant.id, key_sha256, key, 1)?);
        match self.transact(writes).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::AlreadyExists),
        }
    }

    /// Writes (or replaces) a tenant's settings and credentials; used by seeding and updates.
    pub async fn put_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let writes = self
            .sealed_tenant_items(tenant)
            .await?
            .into_iter()
            .map(|item| self.put(item, None))
            .collect::<Result<Vec<_>, _>>()?;
        match self.transact(writes).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::Conflict),
        }
    }

    /// Writes the settings a marketer changes (name, zone, delivery window, daily cap, message
    /// text retention) and nothing else, so a concurrent write of another attribute (the tick
    /// marking the monthly quota exhausted) is not undone. Values come from the tenant item's
    /// own serialization.
    pub async fn update_tenant_settings(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let item = to_item(&TenantItem::new(tenant))?;
        let (pk, sk) = keys::tenant(&tenant.id);
        let mut set = Vec::new();
        let mut remove = Vec::new();
        let mut update = self
            .update(pk, sk)
            .condition_expression("attribute_exists(pk)");
        let settings = [
            "name",
            "zone",
            "deliveryWindow",
            "dailyCap",
            "messageTextRetentionDays",
        ];
        for (i, name) in settings.iter().enumerate() {
            update = update.expression_attribute_names(format!("#s{i}"), *name);
            match item.get(*name) {
                Some(value) => {
                    set.push(format!("#s{i} = :s{i}"));
                    update = update.expression_attribute_values(format!(":s{i}"), value.clone());
                }
                None => remove.push(format!("#s{i}")),
            }
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let res = update.update_expression(expression).send().await;
        match super::condition_held("UpdateItem", res)? {
            true => Ok(()),
            false => Err(StoreError::Conflict),
        }
    }

    /// Replaces the tenant's channel secret and access token only (the operator's rotation):
    /// settings written meanwhile are untouched.
    pub async fn put_credentials(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let [_, sealed] = self.sealed_tenant_items(tenant).await?;
        let res = self
            .put_one(sealed)
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        match super::condition_held("PutItem", res)? {
            true => Ok(()),
            false => Err(StoreError::Conflict),
        }
    }

    /// Every tenant, in id order (one index partition, which holds no credentials; read once a
    /// day by the sweep, so each tenant's credentials are then read).
    pub async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let listed = self
            .partition(Some(keys::GSI1), keys::TENANTS_INDEX_PK.to_owned())
            .await?;
        let mut tenants = Vec::with_capacity(listed.len());
        for item in listed {
            let id = item
                .get("id")
                .and_then(|v| v.as_s().ok())
                .and_then(|id| TenantId::parse(id).ok());
            // The index copy is the whole tenant item; only the credentials need a read.
            let sealed = match id {
                Some(id) => self.get(keys::tenant_credentials(&id)).await?,
                None => None,
            };
            if let Some(sealed) = sealed {
                tenants.push(self.opened_tenant(item, sealed).await?);
            }
        }
        Ok(tenants)
    }

    /// Marks (Some) or clears (None) the tenant's monthly-quota exhaustion.
    pub async fn set_quota_exhausted(
        &self,
        t: &TenantId,
        at: Option<jiff::Timestamp>,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::tenant(t);
        let update = self
            .update(pk, sk)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#q", "quotaExhaustedAt")
            .expression_attribute_names("#ip", keys::GSI3PK)
            .expression_attribute_names("#is", keys::GSI3SK);
        // The sparse index entry comes and goes with the mark.
        let update = match at {
            Some(at) => {
                let (ipk, isk) = keys::quota_exhausted_index(t);
                update
                    .update_expression("SET #q = :at, #ip = :ipk, #is = :isk")
                    .expression_attribute_values(":at", super::s(at.to_string()))
                    .expression_attribute_values(":ipk", super::s(ipk))
                    .expression_attribute_values(":isk", super::s(isk))
            }
            None => update.update_expression("REMOVE #q, #ip, #is"),
        };
        update.sent().await
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::types::AttributeValue;

    use super::*;
    use crate::{
        domain::DeliveryWindow,
        store::{s, to_item},
    };

    fn tenant() -> Tenant {
        Tenant {
            id: TenantId::parse("demo").unwrap(),
            name: "デモ".into(),
            channel_id: None,
            channel_secret: crate::secret::Secret::new("s".to_owned()),
            access_token: crate::secret::Secret::new("a".to_owned()),
            zone: "Asia/Tokyo".into(),
            delivery_window: DeliveryWindow::ALWAYS_OPEN,
            daily_cap: None,
            quota_exhausted_at: None,
            message_text_retention_days: Some(crate::domain::tenant::DEFAULT_TEXT_RETENTION_DAYS),
            created_at: "2026-04-01T00:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn only_a_tenant_out_of_quota_sits_in_the_quota_index_and_null_window_is_stored() {
        let mut t = tenant();
        let item = to_item(&TenantItem::new(&t)).unwrap();
        assert_eq!(item["pk"], s("T#demo"));
        assert_eq!(item["sk"], s("TENANT"));
        assert_eq!(item["gsi1pk"], s("TENANTS"));
        assert!(!item.contains_key("gsi3pk") && !item.contains_key("gsi3sk"));
        assert_eq!(item["deliveryWindow"], AttributeValue::Null(true));
        let back: TenantItem = crate::store::from_item(item).unwrap();
        assert!(back.tenant.delivery_window.is_always_open());

        t.quota_exhausted_at = Some("2026-11-20T01:00:00Z".parse().unwrap());
        let item = to_item(&TenantItem::new(&t)).unwrap();
        assert_eq!(item["gsi3pk"], s("QUOTA#EXHAUSTED"));
        assert_eq!(item["gsi3sk"], s("demo"));
        assert_eq!(item["quotaExhaustedAt"], s("2026-11-20T01:00:00Z"));
    }
}
