//! Creates the table from template.yaml's own `Table` resource, so the schema is written once.
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use serde::Deserialize;

use super::StoreError;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableSpec {
    pub key_schema: Vec<KeySpec>,
    pub attribute_definitions: Vec<AttributeSpec>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<IndexSpec>,
    #[serde(default)]
    pub time_to_live_specification: Option<TtlSpec>,
    /// The stream the outbox relay reads (`NEW_IMAGE`).
    #[serde(default)]
    pub stream_specification: Option<StreamSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSpec {
    pub stream_view_type: String,
}

impl StreamSpec {
    fn sdk(&self) -> Result<StreamSpecification, StoreError> {
        StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::from(self.stream_view_type.as_str()))
            .build()
            .map_err(|e| StoreError::Malformed(e.to_string()))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySpec {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeSpec {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexSpec {
    pub index_name: String,
    pub key_schema: Vec<KeySpec>,
    pub projection: ProjectionSpec,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionSpec {
    pub projection_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlSpec {
    pub attribute_name: String,
    pub enabled: bool,
}

impl TableSpec {
    /// Reads `Resources.Table.Properties` from a SAM template (CloudFormation tags such as
    /// `!Ref` elsewhere in the file are tolerated; the table's key schema must be literal).
    pub fn from_template(template_yaml: &str) -> Result<Self, StoreError> {
        let bad = |why: String| StoreError::Malformed(format!("template.yaml: {why}"));
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(template_yaml).map_err(|e| bad(e.to_string()))?;
        let props = doc
            .get("Resources")
            .and_then(|r| r.get("Table"))
            .and_then(|t| t.get("Properties"))
            .ok_or_else(|| bad("no Resources.Table.Properties".into()))?;
        serde_yaml_ng::from_value(props.clone()).map_err(|e| bad(e.to_string()))
    }
}

fn key_schema(keys: &[KeySpec]) -> Result<Vec<KeySchemaElement>, StoreError> {
    keys.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| StoreError::Malformed(e.to_string()))
        })
        .collect()
}

/// Creates `table_name` on the endpoint `client` points at (DynamoDB Local), unless it exists.
pub async fn ensure_table(
    client: &aws_sdk_dynamodb::Client,
    table_name: &str,
    spec: &TableSpec,
) -> Result<bool, StoreError> {
    if let Ok(existing) = client.describe_table().table_name(table_name).send().await {
        // A table made before the outbox existed (same DynamoDB Local run) gets its stream now.
        let has_stream = existing
            .table()
            .and_then(|t| t.stream_specification())
            .is_some_and(|s| s.stream_enabled());
        if let (false, Some(stream)) = (has_stream, &spec.stream_specification) {
            client
                .update_table()
                .table_name(table_name)
                .stream_specification(stream.sdk()?)
                .send()
                .await
                .map_err(|e| StoreError::dynamo("UpdateTable", e))?;
        }
        return Ok(false);
    }
    let mut create = client
        .create_table()
        .table_name(table_name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_stream_specification(
            spec.stream_specification
                .as_ref()
                .map(StreamSpec::sdk)
                .transpose()?,
        )
        .set_key_schema(Some(key_schema(&spec.key_schema)?));
    for a in &spec.attribute_definitions {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .map_err(|e| StoreError::Malformed(e.to_string()))?,
        );
    }
    for g in &spec.global_secondary_indexes {
        create = create.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&g.index_name)
                .set_key_schema(Some(key_schema(&g.key_schema)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            g.projection.projection_type.as_str(),
                        ))
                        .build(),
                )
                .build()
                .map_err(|e| StoreError::Malformed(e.to_string()))?,
        );
    }
    match create.send().await {
        Ok(_) => {}
        // Two test binaries racing to create the same table: the loser's table exists too.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            return Ok(false);
        }
        Err(e) => return Err(StoreError::dynamo("CreateTable", e)),
    }
    if let Some(ttl) = &spec.time_to_live_specification {
        client
            .update_time_to_live()
            .table_name(table_name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(&ttl.attribute_name)
                    .enabled(ttl.enabled)
                    .build()
                    .map_err(|e| StoreError::Malformed(e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateTimeToLive", e))?;
    }
    Ok(true)
}
