//! Tag rules, keyword auto-replies and scoring settings: small per-tenant definitions kept as
//! JSON under the tenant's partition, read whole (tenants have tens of them, not thousands).
//! Rules and auto-replies keep only their current version (`domain::definition::Definition`).
use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::{Item, Store, StoreError, from_item, keys, to_item};
use crate::domain::{
    TenantId,
    auto_reply::AutoReply,
    definition::{CurrentKind, CurrentOnly},
    tag_rule::TagRule,
};

/// Where a tag rule or an auto-reply is kept: its key, its `entity`, and the prefix they share.
fn current_key(kind: CurrentKind, t: &TenantId, id: &str) -> keys::Key {
    match kind {
        CurrentKind::TagRule => keys::tag_rule(t, id),
        CurrentKind::AutoReply => keys::auto_reply(t, id),
    }
}

fn current_entity(kind: CurrentKind) -> &'static str {
    match kind {
        CurrentKind::TagRule => "tag_rule",
        CurrentKind::AutoReply => "auto_reply",
    }
}

fn current_prefix(kind: CurrentKind) -> &'static str {
    match kind {
        CurrentKind::TagRule => keys::RULE_PREFIX,
        CurrentKind::AutoReply => keys::AUTO_REPLY_PREFIX,
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DefinitionItem {
    pk: String,
    sk: String,
    entity: String,
    definition: String,
    /// Items saved before definitions carried versions read as version 1.
    #[serde(default = "first_version")]
    version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    saved_at: Option<Timestamp>,
}

fn first_version() -> u32 {
    1
}

/// How scores fade. Without a half-life they never do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScoringSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_life_days: Option<u32>,
}

impl Store {
    /// Saves a definition that keeps only its current version: unchanged content writes
    /// nothing and keeps the version; changed content is the next version. A concurrent save
    /// of the same definition gets `Conflict`. Returns the version now stored.
    async fn save_definition<T: Serialize>(
        &self,
        key: keys::Key,
        entity: &str,
        def: &T,
        now: Timestamp,
    ) -> Result<u32, StoreError> {
        let definition =
            serde_json::to_string(def).map_err(|e| StoreError::Malformed(e.to_string()))?;
        let current: Option<DefinitionItem> = self.get_as(key.clone()).await?;
        if let Some(c) = current.as_ref().filter(|c| c.definition == definition) {
            return Ok(c.version);
        }
        let version = current.as_ref().map_or(1, |c| c.version + 1);
        let (pk, sk) = key;
        let item = to_item(&DefinitionItem {
            pk,
            sk,
            entity: entity.into(),
            definition,
            version,
            saved_at: Some(now),
        })?;
        self.put_over(item, current.map(|c| c.version)).await?;
        Ok(version)
    }

    /// Puts a definition's item only if it is still as read: absent (`None`) or at `version`.
    pub(super) async fn put_over(&self, item: Item, read: Option<u32>) -> Result<(), StoreError> {
        let put = self.put_one(item);
        let put = match read {
            None => put.condition_expression("attribute_not_exists(pk)"),
            // Version 1 may be an item written before definitions carried a version.
            Some(1) => put
                .condition_expression("attribute_not_exists(version) OR version = :v")
                .expression_attribute_values(":v", AttributeValue::N("1".into())),
            Some(v) => put
                .condition_expression("version = :v")
                .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
        };
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::Conflict)
            }
            Err(e) => Err(StoreError::dynamo("PutItem", e)),
        }
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

    /// Saves a tag rule or an auto-reply; returns its version (see [`Store::save_definition`]).
    pub async fn save_current<D: CurrentOnly>(
        &self,
        t: &TenantId,
        def: &D,
        now: Timestamp,
    ) -> Result<u32, StoreError> {
        let key = current_key(D::KIND, t, def.id());
        self.save_definition(key, current_entity(D::KIND), def, now)
            .await
    }

    /// Every tag rule or every auto-reply of the tenant.
    pub async fn all_current<D: CurrentOnly>(&self, t: &TenantId) -> Result<Vec<D>, StoreError> {
        self.definitions(t, current_prefix(D::KIND)).await
    }

    pub async fn delete_current<D: CurrentOnly>(
        &self,
        t: &TenantId,
        id: &str,
    ) -> Result<bool, StoreError> {
        self.delete_item(current_key(D::KIND, t, id)).await
    }

    pub async fn tag_rules(&self, t: &TenantId) -> Result<Vec<TagRule>, StoreError> {
        self.all_current(t).await
    }

    pub async fn auto_replies(&self, t: &TenantId) -> Result<Vec<AutoReply>, StoreError> {
        self.all_current(t).await
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

    /// Scoring settings follow the definitions' rule: a version that moves only on a change.
    pub async fn put_scoring(
        &self,
        t: &TenantId,
        settings: &ScoringSettings,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.save_definition(keys::scoring(t), "scoring", settings, now)
            .await?;
        Ok(())
    }
}
