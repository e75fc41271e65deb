//! The single-table store: the only code that speaks DynamoDB. Takes and returns domain types.
//!
//! Stored names follow one rule: the table's own attributes keep the names template.yaml gives
//! them (`pk`, `sk`, `gsi1pk`…, the TTL `expires_at` through [`Expiry`]); every other attribute
//! is camelCase (`rename_all = "camelCase"` on every item struct). A test reads raw items of
//! every entity and holds them to it.
/// Declares that an item struct stores one domain value in `$field`, so the store's typed
/// reads ([`Store::value`], [`values`]) hand out the value.
macro_rules! holds {
    ($item:ty, $field:ident: $value:ty) => {
        impl crate::store::Holds for $item {
            type Value = $value;
            fn value(self) -> $value {
                self.$field
            }
        }
    };
}

mod api_keys;
mod broadcasts;
mod counts;
mod deferred;
mod dormancy;
mod due;
mod enrollments;
mod friends;
pub mod keys;
pub mod outbox;
mod purchases;
mod retry;
mod rules;
mod scenarios;
pub mod schema;
mod staff;
mod surveys;
mod tags;
mod tenants;
mod webhook;

use std::collections::HashMap;

use aws_sdk_dynamodb::{
    error::{DisplayErrorContext, ProvideErrorMetadata},
    types::{AttributeValue, Put, TransactWriteItem, Update},
};
use serde::{Serialize, de::DeserializeOwned};

pub use api_keys::{ApiKey, ApiKeyRecord, KeyAdded, KeyRevoked, Role};
pub use broadcasts::{BroadcastClaim, ChunkRecord};
pub use counts::{DayCounts, FriendCounts, LineQuota};
pub use deferred::DeferredNote;
pub use dormancy::{BucketEntry, DigestClaim, Once, ReactivationCounter, SweepState, TierEntry};
pub use due::Due;
pub use enrollments::Claim;
pub use friends::{FriendFilter, FriendPage, HistoryEntry, new_friend_item};
pub use keys::DUE_SHARDS;
pub use purchases::OrderRecorded;
pub use retry::{Conflicting, WRITE_ATTEMPTS, retry_on_conflict};
pub use rules::ScoringSettings;
pub use scenarios::StoredScenario;
pub use staff::{Invitation, Session, StaffAdded, StaffRemoved};
pub use surveys::{Applied, StoredSurvey};
pub use webhook::{EventRecord, EventSubject, HISTORY_DAYS, Recorded, SEEN_MARKER_TTL};

pub type Item = HashMap<String, AttributeValue>;

/// When an item expires, under the table's TTL attribute. Items are flattened from camelCase
/// structs; this field keeps the name template.yaml gives (`expires_at`) whatever the parent's
/// naming, so no item can store its expiry where DynamoDB does not look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Expiry {
    #[serde(rename = "expires_at")]
    pub epoch_seconds: i64,
}

impl Expiry {
    pub fn at(at: jiff::Timestamp) -> Self {
        Self {
            epoch_seconds: at.as_second(),
        }
    }

    /// `ttl` after `from` (or `from` itself at the end of time).
    pub fn after(from: jiff::Timestamp, ttl: jiff::SignedDuration) -> Self {
        Self::at(from.saturating_add(ttl).unwrap_or(from))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Someone else changed the item between our read and write; read again and retry.
    #[error("the item was changed concurrently")]
    Conflict,
    #[error("the item already exists")]
    AlreadyExists,
    #[error("DynamoDB {op} failed: {message}")]
    Dynamo { op: &'static str, message: String },
    #[error("stored item is malformed: {0}")]
    Malformed(String),
    #[error("the pagination cursor is not valid")]
    BadCursor,
    /// DynamoDB's `ValidationException`: the request itself is unacceptable (an item over 400 KB,
    /// a key over its size limit). Retrying cannot help; the caller sent too much.
    #[error("DynamoDB refused the request: {0}")]
    Refused(String),
    #[error("tenant credentials: {0}")]
    Credentials(#[from] crate::vault::VaultError),
}

impl StoreError {
    pub(crate) fn dynamo<E>(op: &'static str, err: aws_sdk_dynamodb::error::SdkError<E>) -> Self
    where
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    {
        let message = DisplayErrorContext(&err).to_string();
        if err.code() == Some("ValidationException") {
            return StoreError::Refused(format!("{op}: {message}"));
        }
        StoreError::Dynamo { op, message }
    }
}

/// The CRM table on DynamoDB (DynamoDB Local in tests and the local stack).
#[derive(Clone, Debug)]
pub struct Store {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// Seals tenant credentials before they are written, opens them when read.
    vault: std::sync::Arc<crate::vault::Vault>,
}

impl Store {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        vault: std::sync::Arc<crate::vault::Vault>,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            vault,
        }
    }

    pub fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, (pk, sk): keys::Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(keys::PK, AttributeValue::S(pk))
            .key(keys::SK, AttributeValue::S(sk))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        Ok(out.item)
    }

    /// The item under `key`, read into its stored shape.
    async fn get_as<T: DeserializeOwned>(&self, key: keys::Key) -> Result<Option<T>, StoreError> {
        self.get(key).await?.map(from_item).transpose()
    }

    /// The domain value stored under `key`.
    async fn value<H: Holds>(&self, key: keys::Key) -> Result<Option<H::Value>, StoreError> {
        Ok(self.get_as::<H>(key).await?.map(H::value))
    }

    /// Writes `item` whole, replacing whatever was under its key.
    async fn put_item(&self, item: Item) -> Result<(), StoreError> {
        self.put_one(item)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem", e))?;
        Ok(())
    }

    /// A PutItem of `item`; the caller adds its condition and sends it.
    fn put_one(
        &self,
        item: Item,
    ) -> aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
    }

    /// An UpdateItem on one item; the caller gives the expression and sends it.
    fn update(
        &self,
        pk: impl Into<String>,
        sk: impl Into<String>,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
    }

    /// Runs `query` over all its pages.
    async fn all_pages(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = query
                .clone()
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", e))?;
            out.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    /// Every item of one partition: of the table (`index` None, key `pk`) or of an index
    /// (`gsi1`, `gsi3`: key `gsi1pk`, `gsi3pk`).
    pub(crate) async fn partition(
        &self,
        index: Option<&str>,
        pk: String,
    ) -> Result<Vec<Item>, StoreError> {
        let key = index.map_or_else(|| keys::PK.to_owned(), |i| format!("{i}pk"));
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_owned))
            .key_condition_expression("#k = :pk")
            .expression_attribute_names("#k", key)
            .expression_attribute_values(":pk", s(pk));
        self.all_pages(query).await
    }

    /// Every item of partition `pk` whose sort key starts with `prefix`, across all pages.
    pub(crate) async fn items_with_prefix(
        &self,
        pk: String,
        prefix: &str,
    ) -> Result<Vec<Item>, StoreError> {
        self.all_pages(self.prefix_query(pk, prefix)).await
    }

    /// Items of partition `pk` under `prefix`, newest (highest sort key) first: at most `limit`,
    /// or all of them.
    pub(crate) async fn latest_with_prefix(
        &self,
        pk: String,
        prefix: &str,
        limit: Option<usize>,
    ) -> Result<Vec<Item>, StoreError> {
        let query = self.prefix_query(pk, prefix).scan_index_forward(false);
        let Some(limit) = limit else {
            return self.all_pages(query).await;
        };
        let out = query
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        Ok(out.items.unwrap_or_default())
    }

    fn prefix_query(
        &self,
        pk: String,
        prefix: &str,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":p", s(prefix))
    }

    /// Every item of the tenant's own partition (`T#{t}`) under `prefix`: definitions, settings.
    pub(crate) async fn tenant_items(
        &self,
        t: &crate::domain::TenantId,
        prefix: &str,
    ) -> Result<Vec<Item>, StoreError> {
        self.items_with_prefix(keys::tenant(t).0, prefix).await
    }

    /// Every item of one friend's partition under `prefix`: enrollments, deliveries, answers…
    pub(crate) async fn friend_items(
        &self,
        t: &crate::domain::TenantId,
        u: &crate::domain::LineUserId,
        prefix: &str,
    ) -> Result<Vec<Item>, StoreError> {
        self.items_with_prefix(keys::friend_pk(t, u), prefix).await
    }

    fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// An UpdateItem inside a transaction. Every `#name` in the expression or condition names
    /// the attribute `name` (so reserved words such as `count` need no list of their own).
    fn update_in_transaction(
        &self,
        (pk, sk): keys::Key,
        expression: &str,
        condition: Option<&str>,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_owned));
        let text = format!("{expression} {}", condition.unwrap_or_default());
        let mut named = std::collections::BTreeSet::new();
        for word in text.split('#').skip(1) {
            let name: String = word
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && named.insert(name.clone()) {
                update = update.expression_attribute_names(format!("#{name}"), name);
            }
        }
        for (name, value) in values {
            update = update.expression_attribute_values(name, value);
        }
        let update = update
            .build()
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn delete(&self, key: keys::Key) -> Result<TransactWriteItem, StoreError> {
        self.delete_where(key, None)
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

    /// A delete of an item that must still be there: the transaction fails on it otherwise.
    fn delete_existing(&self, key: keys::Key) -> Result<TransactWriteItem, StoreError> {
        self.delete_where(key, Some("attribute_exists(pk)"))
    }

    fn delete_where(
        &self,
        (pk, sk): keys::Key,
        condition: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let del = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .key(keys::PK, AttributeValue::S(pk))
            .key(keys::SK, AttributeValue::S(sk))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        Ok(TransactWriteItem::builder().delete(del).build())
    }

    /// Runs one transaction. A failed condition is returned as the index of the first failing
    /// write, so callers can tell "already done" (a marker) from "changed meanwhile" (a version).
    async fn transact(
        &self,
        writes: Vec<TransactWriteItem>,
    ) -> Result<Result<(), usize>, StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(Ok(())),
            Err(err) => match err.as_service_error() {
                Some(E::TransactionCanceledException(c)) => {
                    let failed = c
                        .cancellation_reasons()
                        .iter()
                        .position(|r| r.code() == Some("ConditionalCheckFailed"));
                    match failed {
                        Some(i) => Ok(Err(i)),
                        // A conflict with another transaction in flight: retryable like a version clash.
                        None => Err(StoreError::Conflict),
                    }
                }
                _ => Err(StoreError::dynamo("TransactWriteItems", err)),
            },
        }
    }
}

/// A write whose condition failed is an outcome, not an error: "already done" or "another tick
/// was faster". `Ok(true)` when the write happened, `Ok(false)` when its condition did not hold.
pub(crate) fn condition_held<T, E>(
    op: &'static str,
    result: Result<T, aws_sdk_dynamodb::error::SdkError<E>>,
) -> Result<bool, StoreError>
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error().and_then(|s| s.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(e) => Err(StoreError::dynamo(op, e)),
    }
}

/// An item's place in gsi3, a sparse index: present only while the item belongs in it.
#[derive(Debug, Default, Serialize, serde::Deserialize)]
pub(crate) struct Gsi3 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi3pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi3sk: Option<String>,
}

impl Gsi3 {
    pub(crate) fn new(key: Option<keys::Key>) -> Self {
        let (gsi3pk, gsi3sk) = key.unzip();
        Self { gsi3pk, gsi3sk }
    }
}

/// Sends an UpdateItem that has no outcome to report but success.
pub(crate) trait SendUpdate {
    async fn sent(self) -> Result<(), StoreError>;
}

impl SendUpdate for aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
    async fn sent(self) -> Result<(), StoreError> {
        self.send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }
}

/// An item struct that stores one domain value beside its keys (declared with `holds!`).
pub(crate) trait Holds: DeserializeOwned {
    type Value;
    fn value(self) -> Self::Value;
}

/// The domain values stored in `items`.
pub(crate) fn values<H: Holds>(items: Vec<Item>) -> Result<Vec<H::Value>, StoreError> {
    items
        .into_iter()
        .map(|i| from_item::<H>(i).map(H::value))
        .collect()
}

pub(crate) fn to_item<T: Serialize>(v: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(v).map_err(|e| StoreError::Malformed(e.to_string()))
}

pub(crate) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Malformed(e.to_string()))
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
