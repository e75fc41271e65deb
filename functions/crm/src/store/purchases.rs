//! Purchases: the order-id marker, the friend's purchase history entry and the friend's new
//! counters and tags are one transaction, so an order posted twice is counted once.
use jiff::{Timestamp, tz::TimeZone};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, from_item, keys, s, to_item};
use crate::domain::{
    Friend, LineUserId, TenantId,
    purchase::{OrderId, Purchase},
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRecorded {
    New,
    /// This order id was recorded before; `pending_events` are its domain events if they
    /// never reached the bus.
    Duplicate {
        pending_events: Option<String>,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderItem {
    pk: String,
    sk: String,
    entity: String,
    friend: LineUserId,
    recorded_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_events: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct PurchaseItemRow {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    purchase: Purchase,
}

impl Store {
    /// Records the order unless its id was seen; `before`/`after` are the friend as read and
    /// with the purchase counted (and its tags derived).
    #[allow(clippy::too_many_arguments)]
    pub async fn record_purchase(
        &self,
        t: &TenantId,
        p: &Purchase,
        before: &Friend,
        after: &Friend,
        zone: &TimeZone,
        pending_events: Option<String>,
        now: Timestamp,
    ) -> Result<OrderRecorded, StoreError> {
        let (pk, sk) = keys::order(t, &p.order_id);
        let marker = OrderItem {
            pk,
            sk,
            entity: "order".into(),
            friend: p.friend.clone(),
            recorded_at: now,
            pending_events,
        };
        let (pk, sk) = keys::friend_purchase(t, &p.friend, p.purchased_at, &p.order_id);
        let row = PurchaseItemRow {
            pk,
            sk,
            entity: "purchase".into(),
            purchase: p.clone(),
        };
        // The marker first: its condition failing (index 0) is what "duplicate" means.
        let mut writes = vec![
            self.put(to_item(&marker)?, Some("attribute_not_exists(pk)"))?,
            self.put(to_item(&row)?, None)?,
        ];
        writes.extend(self.friend_writes(Some(before), after, zone)?);
        match self.transact(writes).await? {
            Ok(()) => Ok(OrderRecorded::New),
            Err(0) => {
                let pending_events = match self.get(keys::order(t, &p.order_id)).await? {
                    Some(item) => from_item::<OrderItem>(item)?.pending_events,
                    None => None,
                };
                Ok(OrderRecorded::Duplicate { pending_events })
            }
            Err(_) => Err(StoreError::Conflict),
        }
    }

    /// The order's domain events reached the bus.
    pub async fn mark_order_published(
        &self,
        t: &TenantId,
        order: &OrderId,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::order(t, order);
        self.client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(pk))
            .key(keys::SK, s(sk))
            .update_expression("REMOVE pendingEvents")
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    pub async fn friend_purchases(
        &self,
        t: &TenantId,
        u: &LineUserId,
    ) -> Result<Vec<Purchase>, StoreError> {
        self.friend_items(t, u, keys::PURCHASE_PREFIX)
            .await?
            .into_iter()
            .map(|i| from_item::<PurchaseItemRow>(i).map(|r| r.purchase))
            .collect()
    }
}
