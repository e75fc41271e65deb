//! Custom field definitions (友だち情報欄): one item each in the tenant's partition.
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, keys, to_item, values};
use crate::domain::{TenantId, field_definition::FieldDefinition};

#[derive(Serialize, Deserialize)]
struct FieldDefItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    def: FieldDefinition,
}

holds!(FieldDefItem, def: FieldDefinition);

impl Store {
    /// Creates or replaces a definition.
    pub async fn put_field_definition(
        &self,
        t: &TenantId,
        def: &FieldDefinition,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::field_definition(t, &def.name);
        self.put_item(to_item(&FieldDefItem {
            pk,
            sk,
            entity: "field_definition".into(),
            def: def.clone(),
        })?)
        .await
    }

    /// The tenant's definitions, by name.
    pub async fn field_definitions(
        &self,
        t: &TenantId,
    ) -> Result<Vec<FieldDefinition>, StoreError> {
        self.tenant_items(t, keys::FIELD_DEF_PREFIX)
            .await
            .and_then(values::<FieldDefItem>)
    }

    /// Removes a definition (the values friends have stay, as free text).
    pub async fn delete_field_definition(
        &self,
        t: &TenantId,
        name: &str,
    ) -> Result<bool, StoreError> {
        self.delete_item(keys::field_definition(t, name)).await
    }
}
