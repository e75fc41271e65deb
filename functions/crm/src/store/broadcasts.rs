//! Broadcasts and their chunk records. A running broadcast is held by one tick's claim; every
//! save during the run keeps the claim and the lease entry in the due-index, so a tick that dies
//! mid-broadcast leaves it to come due again and continue from its saved cursor and planned chunk.
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::due::DueEntry;
use super::{
    Store, StoreError, condition_held, from_item, keys, keys::DUE_SHARDS, s, to_item, values,
};
use crate::domain::{
    TenantId,
    broadcast::{Broadcast, BroadcastState},
};

#[derive(Debug, Serialize, Deserialize)]
struct BroadcastItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    due: DueEntry,
    #[serde(flatten)]
    broadcast: Broadcast,
}

impl BroadcastItem {
    /// `held`: (claim token, lease end) while a tick works on it.
    fn new(b: &Broadcast, held: Option<(&str, Timestamp)>) -> Self {
        let (pk, sk) = keys::broadcast(&b.tenant, &b.id);
        let due = match held {
            Some((_, lease_until)) => Some(lease_until),
            None => b.due(),
        };
        let due = due.map(|at| keys::broadcast_due(b.shard(DUE_SHARDS), at, &b.tenant, &b.id));
        Self {
            pk,
            sk,
            entity: "broadcast".into(),
            due: DueEntry::new(due, held.map(|(token, _)| token.to_owned())),
            broadcast: b.clone(),
        }
    }
}

/// What LINE did with one multicast chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkRecord {
    pub index: u32,
    pub recipients: u32,
    pub retry_key: String,
    pub status: String,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct ChunkItem {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    chunk: ChunkRecord,
}

/// A broadcast taken by one tick.
#[derive(Debug, Clone)]
pub struct BroadcastClaim {
    pub broadcast: Broadcast,
    pub token: String,
    pub lease_until: Timestamp,
}

holds!(BroadcastItem, broadcast: Broadcast);
holds!(ChunkItem, chunk: ChunkRecord);

impl Store {
    pub async fn create_broadcast(&self, b: &Broadcast) -> Result<(), StoreError> {
        let item = to_item(&BroadcastItem::new(b, None))?;
        self.put_one(item)
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem", e))?;
        Ok(())
    }

    pub async fn broadcast(&self, t: &TenantId, id: &str) -> Result<Option<Broadcast>, StoreError> {
        self.value::<BroadcastItem>(keys::broadcast(t, id)).await
    }

    /// The tenant's broadcasts, newest first.
    pub async fn broadcasts(&self, t: &TenantId) -> Result<Vec<Broadcast>, StoreError> {
        let (pk, _) = keys::tenant(t);
        self.latest_with_prefix(pk, keys::BROADCAST_PREFIX, None)
            .await
            .and_then(values::<BroadcastItem>)
    }

    pub async fn broadcast_chunks(
        &self,
        t: &TenantId,
        id: &str,
    ) -> Result<Vec<ChunkRecord>, StoreError> {
        let (pk, _) = keys::broadcast_chunk(t, id, 0);
        self.partition(None, pk).await.and_then(values::<ChunkItem>)
    }

    /// Cancels a broadcast that has not started. False if it started (or ended) meanwhile.
    pub async fn cancel_broadcast(
        &self,
        b: &Broadcast,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut next = b.clone();
        next.state = BroadcastState::Cancelled;
        next.next_due_at = None;
        next.finished_at = Some(now);
        let item = to_item(&BroadcastItem::new(&next, None))?;
        let res = self
            .put_one(item)
            .condition_expression("#state = :scheduled AND attribute_not_exists(claim)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":scheduled", s("scheduled"))
            .send()
            .await;
        condition_held("PutItem", res)
    }

    /// Takes a due broadcast for `lease_until`. None when another tick was faster.
    pub async fn claim_broadcast(
        &self,
        b: &Broadcast,
        observed_sk: &str,
        lease_until: Timestamp,
        token: &str,
    ) -> Result<Option<BroadcastClaim>, StoreError> {
        let (pk, sk) = keys::broadcast(&b.tenant, &b.id);
        let (_, leased_sk) = keys::broadcast_due(0, lease_until, &b.tenant, &b.id);
        match self
            .claim_item(pk, sk, observed_sk, leased_sk, token)
            .await?
        {
            Some(item) => Ok(Some(BroadcastClaim {
                broadcast: from_item::<BroadcastItem>(item)?.broadcast,
                token: token.to_owned(),
                lease_until,
            })),
            None => Ok(None),
        }
    }

    /// Saves progress while still holding the claim (`keep`), or releases it with the broadcast's
    /// own next due time; a chunk record, when given, is written in the same transaction.
    pub async fn save_broadcast(
        &self,
        claim: &BroadcastClaim,
        next: &Broadcast,
        keep: bool,
        chunk: Option<&ChunkRecord>,
    ) -> Result<(), StoreError> {
        let held = keep.then_some((claim.token.as_str(), claim.lease_until));
        let item = to_item(&BroadcastItem::new(next, held))?;
        let mut writes = vec![self.put_held(item, &claim.token)?];
        if let Some(c) = chunk {
            let (pk, sk) = keys::broadcast_chunk(&next.tenant, &next.id, c.index);
            writes.push(self.put(
                to_item(&ChunkItem {
                    pk,
                    sk,
                    entity: "broadcast_chunk".into(),
                    chunk: c.clone(),
                })?,
                None,
            )?);
        }
        match self.transact(writes).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::Conflict),
        }
    }
}
