//! Scenario definitions: immutable versions plus a head naming the current one.
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, from_item, keys, s, to_item};
use crate::domain::{
    TenantId,
    scenario::{ScenarioDefinition, ScenarioId},
};

/// A stored scenario: the definition kept as JSON text so DynamoDB never has to mirror its shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredScenario {
    pub scenario: ScenarioId,
    pub version: u32,
    pub created_at: Timestamp,
    pub definition: String,
}

impl StoredScenario {
    pub fn definition(&self) -> Result<ScenarioDefinition, StoreError> {
        serde_json::from_str(&self.definition).map_err(|e| StoreError::Malformed(e.to_string()))
    }
}

#[derive(Serialize, Deserialize)]
struct ScenarioItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    stored: StoredScenario,
}

impl Store {
    /// Saves `def` as the next version and points the head at it. Two editors saving at once:
    /// the second finds its version taken and gets `Conflict`.
    pub async fn save_scenario(
        &self,
        t: &TenantId,
        def: &ScenarioDefinition,
        now: Timestamp,
    ) -> Result<StoredScenario, StoreError> {
        let current = self.scenario(t, &def.id).await?;
        let definition =
            serde_json::to_string(def).map_err(|e| StoreError::Malformed(e.to_string()))?;
        // Applying the same file again is a no-op, not a new version.
        if let Some(c) = current.as_ref().filter(|c| c.definition == definition) {
            return Ok(c.clone());
        }
        let version = match &current {
            Some(c) => c.version + 1,
            // No head: new, or retired. A retired scenario's versions stay (enrolled friends
            // finish them), so saving its id again revives it as the version after the last one
            // rather than colliding with version 1.
            None => self.latest_version(t, &def.id).await? + 1,
        };
        let stored = StoredScenario {
            scenario: def.id.clone(),
            version,
            created_at: now,
            definition,
        };
        let (pk, sk) = keys::scenario_version(t, &def.id, version);
        let version_item = ScenarioItem {
            pk,
            sk,
            entity: "scenario_version".into(),
            stored: stored.clone(),
        };
        let (pk, sk) = keys::scenario_head(t, &def.id);
        let head_item = ScenarioItem {
            pk,
            sk,
            entity: "scenario".into(),
            stored: stored.clone(),
        };
        let writes = vec![
            self.put(to_item(&version_item)?, Some("attribute_not_exists(pk)"))?,
            self.put(to_item(&head_item)?, None)?,
        ];
        match self.transact(writes).await? {
            Ok(()) => Ok(stored),
            Err(_) => Err(StoreError::Conflict),
        }
    }

    /// The current version.
    pub async fn scenario(
        &self,
        t: &TenantId,
        id: &ScenarioId,
    ) -> Result<Option<StoredScenario>, StoreError> {
        match self.get(keys::scenario_head(t, id)).await? {
            Some(item) => Ok(Some(from_item::<ScenarioItem>(item)?.stored)),
            None => Ok(None),
        }
    }

    pub async fn scenario_version(
        &self,
        t: &TenantId,
        id: &ScenarioId,
        version: u32,
    ) -> Result<Option<StoredScenario>, StoreError> {
        match self.get(keys::scenario_version(t, id, version)).await? {
            Some(item) => Ok(Some(from_item::<ScenarioItem>(item)?.stored)),
            None => Ok(None),
        }
    }

    /// The highest version ever saved under `id` (0 for none); one query reading keys only.
    async fn latest_version(&self, t: &TenantId, id: &ScenarioId) -> Result<u32, StoreError> {
        let (pk, _) = keys::scenario_head(t, id);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(keys::scenario_versions_prefix(id)))
            .scan_index_forward(false)
            .limit(1)
            .projection_expression("version")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        Ok(out
            .items
            .unwrap_or_default()
            .first()
            .and_then(|i| i.get("version"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }

    /// All saved versions of one scenario, oldest first.
    pub async fn scenario_versions(
        &self,
        t: &TenantId,
        id: &ScenarioId,
    ) -> Result<Vec<StoredScenario>, StoreError> {
        self.tenant_items(t, &keys::scenario_versions_prefix(id))
            .await?
            .into_iter()
            .map(|i| from_item::<ScenarioItem>(i).map(|x| x.stored))
            .collect()
    }

    /// Removes the scenario's head: no trigger enrolls into it any more. Its versions stay, so
    /// friends already enrolled finish the version they are on.
    pub async fn retire_scenario(&self, t: &TenantId, id: &ScenarioId) -> Result<bool, StoreError> {
        self.delete_item(keys::scenario_head(t, id)).await
    }

    /// Every scenario's current version (tenants have tens of scenarios, not thousands).
    pub async fn scenarios(&self, t: &TenantId) -> Result<Vec<StoredScenario>, StoreError> {
        self.tenant_items(t, keys::SCENARIO_PREFIX)
            .await?
            .into_iter()
            .map(|i| from_item::<ScenarioItem>(i).map(|x| x.stored))
            .collect()
    }
}
