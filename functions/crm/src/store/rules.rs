//! Tag rules, keyword auto-replies and scoring settings: small per-tenant definitions kept as
//! JSON under the tenant's partition, read whole (tenants have tens of them, not thousands).
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::{Store, StoreError, from_item, keys, s, to_item};
use crate::domain::{TenantId, auto_reply::AutoReply, tag_rule::TagRule};

#[derive(Serialize, Deserialize)]
struct DefinitionItem {
    pk: String,
    sk: String,
    entity: String,
    definition: String,
}

/// How scores fade. Without a half-life they never do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScoringSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_life_days: Option<u32>,
}

impl Store {
    async fn put_definition<T: Serialize>(
        &self,
        (pk, sk): keys::Key,
        entity: &str,
        def: &T,
    ) -> Result<(), StoreError> {
        let definition =
            serde_json::to_string(def).map_err(|e| StoreError::Malformed(e.to_string()))?;
        let item = to_item(&DefinitionItem {
            pk,
            sk,
            entity: entity.into(),
            definition,
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

    async fn definitions<T: DeserializeOwned>(
        &self,
        t: &TenantId,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        self.tenant_items(t, prefix)
            .await?
            .into_iter()
            .map(|i| {
                let item: DefinitionItem = from_item(i)?;
                serde_json::from_str(&item.definition)
                    .map_err(|e| StoreError::Malformed(e.to_string()))
            })
            .collect()
    }

    /// Deletes one item; false when there was none.
    pub(super) async fn delete_item(&self, (pk, sk): keys::Key) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("DeleteItem", e))?;
        Ok(out.attributes.is_some())
    }

    pub async fn put_tag_rule(&self, t: &TenantId, rule: &TagRule) -> Result<(), StoreError> {
        self.put_definition(keys::tag_rule(t, rule.id.as_str()), "tag_rule", rule)
            .await
    }

    pub async fn tag_rules(&self, t: &TenantId) -> Result<Vec<TagRule>, StoreError> {
        self.definitions(t, keys::RULE_PREFIX).await
    }

    pub async fn delete_tag_rule(&self, t: &TenantId, id: &str) -> Result<bool, StoreError> {
        self.delete_item(keys::tag_rule(t, id)).await
    }

    pub async fn put_auto_reply(&self, t: &TenantId, reply: &AutoReply) -> Result<(), StoreError> {
        self.put_definition(keys::auto_reply(t, reply.id.as_str()), "auto_reply", reply)
            .await
    }

    pub async fn auto_replies(&self, t: &TenantId) -> Result<Vec<AutoReply>, StoreError> {
        self.definitions(t, keys::AUTO_REPLY_PREFIX).await
    }

    pub async fn delete_auto_reply(&self, t: &TenantId, id: &str) -> Result<bool, StoreError> {
        self.delete_item(keys::auto_reply(t, id)).await
    }

    pub async fn scoring(&self, t: &TenantId) -> Result<ScoringSettings, StoreError> {
        match self.get(keys::scoring(t)).await? {
            Some(item) => {
                let item: DefinitionItem = from_item(item)?;
                serde_json::from_str(&item.definition)
                    .map_err(|e| StoreError::Malformed(e.to_string()))
            }
            None => Ok(ScoringSettings::default()),
        }
    }

    pub async fn put_scoring(
        &self,
        t: &TenantId,
        settings: &ScoringSettings,
    ) -> Result<(), StoreError> {
        self.put_definition(keys::scoring(t), "scoring", settings)
            .await
    }
}
