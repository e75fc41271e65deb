//! Purchases: the order-id marker, the friend's purchase history entry and the friend's new
//! counters and tags are one transaction, so an order posted twice is counted once.
use jiff::{Timestamp, tz::TimeZone};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, keys, to_item, values};
use crate::{
    bus::Event,
    domain::{Friend, LineUserId, TenantId, purchase::Purchase},
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRecorded {
    New,
    /// This order id was recorded before (its events went with it).
    Duplicate,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderItem {
    pk: String,
    sk: String,
    entity: String,
    friend: LineUserId,
    recorded_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct PurchaseItemRow {
    pk: String,
    sk: String,
    entity: String,
    #[serde(flatten)]
    purchase: Purchase,
}

holds!(PurchaseItemRow, purchase: Purchase);

impl Store {
    /// Records the order unless its id was seen; `before`/`after` are the friend as read and
    /// with the purchase counted (and its tags derived); `events` go to the outbox with it.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_purchase(
        &self,
        t: &TenantId,
        p: &Purchase,
        before: &Friend,
        after: &Friend,
        zone: &TimeZone,
        events: &[Event],
        now: Timestamp,
    ) -> Result<OrderRecorded, StoreError> {
        let (pk, sk) = keys::order(t, &p.order_id);
        let marker = OrderItem {
            pk,
            sk,
            entity: "order".into(),
            friend: p.friend.clone(),
            recorded_at: now,
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
        writes.extend(self.friend_writes_from(Some(before), after, zone, now, p.imported)?);
        writes.extend(self.outbox_writes(t, events, now)?);
        match self.transact(writes).await? {
            Ok(()) => Ok(OrderRecorded::New),
            Err(0) => Ok(OrderRecorded::Duplicate),
            Err(_) => Err(StoreError::Conflict),
        }
    }

    pub async fn friend_purchases(
        &self,
        t: &TenantId,
        u: &LineUserId,
    ) -> Result<Vec<Purchase>, StoreError> {
        self.friend_items(t, u, keys::PURCHASE_PREFIX)
            .await
            .and_then(values::<PurchaseItemRow>)
    }
}
