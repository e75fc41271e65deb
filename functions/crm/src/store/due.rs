//! The due-index (gsi2, sparse, sharded `DUE#{shard}`): every scenario step and broadcast
//! waiting for a time, sorted by that time. The tick reads what is due and claims it.
//!
//! Claiming is one conditional update: it succeeds only if the index entry still reads as the
//! tick saw it, and it moves that entry to the lease's end. Two overlapping ticks therefore never
//! both claim, and a tick that dies after claiming leaves an entry that comes due again when the
//! lease runs out; the retry reuses the step's retry key, so LINE sends at most once.
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Item, Store, StoreError, from_item, keys, keys::DUE_SHARDS, s};
// The due entries' values are read straight from the items (their wrappers only add keys).
use crate::domain::{broadcast::Broadcast, enrollment::Enrollment};

/// The due-index attributes of an item that waits for a time: absent when it waits for nothing,
/// and the claim token of the tick working on it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct DueEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2sk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claim: Option<String>,
}

impl DueEntry {
    pub(super) fn new(key: Option<keys::Key>, claim: Option<String>) -> Self {
        let (gsi2pk, gsi2sk) = key.unzip();
        Self {
            gsi2pk,
            gsi2sk,
            claim,
        }
    }
}

/// One entry of the due-index: a scenario step or a broadcast, with the sort key as read.
#[derive(Debug, Clone)]
pub enum Due {
    Enrollment {
        observed: String,
        enrollment: Enrollment,
    },
    Broadcast {
        observed: String,
        broadcast: Box<Broadcast>,
    },
}

impl Store {
    /// Index entries of one shard due at or before `now`, oldest first, each with the sort key
    /// observed (a claim succeeds only if the entry still reads so).
    pub async fn due_items(
        &self,
        shard: u8,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Due>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::GSI2)
            .key_condition_expression("gsi2pk = :shard AND gsi2sk <= :now")
            .expression_attribute_values(":shard", s(keys::due_shard(shard)))
            // '~' sorts after every character of the rest of the key: everything due by `now`.
            .expression_attribute_values(":now", s(format!("{}~", keys::sortable(now))))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        let mut due = Vec::new();
        for item in out.items.unwrap_or_default() {
            let observed = item
                .get(keys::GSI2SK)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            match item
                .get("entity")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
            {
                Some("broadcast") => due.push(Due::Broadcast {
                    observed,
                    broadcast: Box::new(from_item::<Broadcast>(item)?),
                }),
                _ => due.push(Due::Enrollment {
                    observed,
                    enrollment: from_item::<Enrollment>(item)?,
                }),
            }
        }
        Ok(due)
    }

    /// When the next entry of the due-index comes due (a step, a broadcast or a claim's lease),
    /// over every shard; None when nothing waits. Read-only: the local stack moves its clock
    /// from one of these instants to the next and ticks there, as the Scheduler's minutes would.
    pub async fn earliest_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let mut earliest: Option<Timestamp> = None;
        for shard in 0..DUE_SHARDS {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(keys::GSI2)
                .key_condition_expression("gsi2pk = :shard")
                .expression_attribute_values(":shard", s(keys::due_shard(shard)))
                .projection_expression(keys::GSI2SK)
                .limit(1)
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", e))?;
            let first = out
                .items
                .unwrap_or_default()
                .into_iter()
                .next()
                .and_then(|item| item.get(keys::GSI2SK)?.as_s().ok().cloned())
                .and_then(|sk| keys::due_at(&sk));
            earliest = match (earliest, first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(earliest)
    }

    /// The claim itself: move the due-index entry to the lease's end and stamp the token, only if
    /// the entry still reads as observed.
    pub(super) async fn claim_item(
        &self,
        pk: String,
        sk: String,
        observed_sk: &str,
        leased_sk: String,
        token: &str,
    ) -> Result<Option<Item>, StoreError> {
        let res = self
            .update(pk, sk)
            .update_expression("SET gsi2sk = :leased, claim = :token")
            .condition_expression("gsi2sk = :observed")
            .expression_attribute_values(":leased", s(leased_sk))
            .expression_attribute_values(":token", s(token))
            .expression_attribute_values(":observed", s(observed_sk))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match res {
            Ok(out) => Ok(Some(out.attributes.unwrap_or_default())),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(StoreError::dynamo("UpdateItem", err)),
        }
    }

    /// A transaction write of `item` that holds only while the tick's claim `token` does.
    pub(super) fn put_held(
        &self,
        item: Item,
        token: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("claim = :token")
            .expression_attribute_values(":token", AttributeValue::S(token.to_owned()))
            .build()
            .map_err(|e| StoreError::Malformed(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}
