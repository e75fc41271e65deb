//! Tag definitions: the tenant's catalogue of tags, with folders and descriptions.
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, condition_held, keys, to_item, values};
use crate::domain::{TagDefinition, TagName, TenantId};

#[derive(Serialize, Deserialize)]
struct TagDefItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    def: TagDefinition,
}

holds!(TagDefItem, def: TagDefinition);

impl TagDefItem {
    fn item(t: &TenantId, def: &TagDefinition) -> Result<super::Item, StoreError> {
        let (pk, sk) = keys::tag_definition(t, &def.name);
        to_item(&TagDefItem {
            pk,
            sk,
            entity: "tag_definition".into(),
            def: def.clone(),
        })
    }
}

impl Store {
    /// Creates or updates a definition.
    pub async fn put_tag_definition(
        &self,
        t: &TenantId,
        def: &TagDefinition,
    ) -> Result<(), StoreError> {
        self.put_item(TagDefItem::item(t, def)?).await
    }

    /// Defines the tag unless it already is; tags added ad hoc still appear in the catalogue.
    pub async fn ensure_tag_definition(
        &self,
        t: &TenantId,
        def: &TagDefinition,
    ) -> Result<(), StoreError> {
        let res = self
            .put_one(TagDefItem::item(t, def)?)
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        condition_held("PutItem", res).map(|_| ())
    }

    pub async fn tag_definitions(&self, t: &TenantId) -> Result<Vec<TagDefinition>, StoreError> {
        self.tenant_items(t, keys::TAG_DEF_PREFIX)
            .await
            .and_then(values::<TagDefItem>)
    }

    pub async fn delete_tag_definition(
        &self,
        t: &TenantId,
        tag: &TagName,
    ) -> Result<bool, StoreError> {
        self.delete_item(keys::tag_definition(t, tag)).await
    }
}
