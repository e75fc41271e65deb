//! Purchases from the shop's system (`POST /admin/purchases`, idempotent by order id) and a CSV
//! of past orders (`POST /admin/purchases/import`). Each order counts on the friend and runs the
//! tenant's purchase tag rules in the same transaction as its order-id marker.
use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;

use super::{
    auth::Caller,
    body::{FriendInPath, parse_user},
};
use crate::{
    bus::Event,
    deps::Deps,
    domain::{
        Tenant,
        purchase::{OrderId, Purchase, PurchaseItem, RowError, parse_csv},
        tag_rule::{Occurrence, TagRule, apply_rules},
    },
    friends::busy_friend,
    http::{CrmError, parse_json},
    store::{OrderRecorded, retry_on_conflict},
};

/// An import is one request within the function's timeout; bigger files go in parts.
const MAX_IMPORT_ORDERS: usize = 2_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PurchaseBody {
    order_id: String,
    user_id: String,
    amount: i64,
    items: Vec<PurchaseItem>,
    #[serde(default)]
    purchased_at: Option<Timestamp>,
}

/// How recording one order ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Recorded,
    Duplicate,
}

/// Counts the order on its friend and derives tags, exactly once per order id.
pub(crate) async fn record(
    deps: &Deps,
    tenant: &Tenant,
    p: &Purchase,
    rules: &[TagRule],
    half_life: Option<u32>,
) -> Result<Outcome, CrmError> {
    let zone = tenant.time_zone();
    let now = deps.clock.now();
    let zone = &zone;
    let recorded = retry_on_conflict(|| async move {
        let before = deps
            .store
            .get_friend(&tenant.id, &p.friend)
            .await?
            .ok_or(CrmError::NotFound("friend"))?;
        let mut after = before.clone();
        after.record_purchase(p.amount, p.purchased_at);
        // The tags the rules derive leave as `FriendTagged` with the friend's write.
        apply_rules(rules, &Occurrence::Purchase(p), &mut after, now, half_life);
        let events = [Event::purchase_recorded(&tenant.id, p)];
        let recorded = deps
            .store
            .record_purchase(&tenant.id, p, &before, &after, zone, &events, now)
            .await?;
        Ok::<_, CrmError>((recorded, before, after))
    })
    .await?;
    match recorded.ok_or_else(busy_friend)? {
        (OrderRecorded::New, before, after) => {
            // A purchase tier the order ended (left in the write above): measure the return.
            crate::dormancy_sweep::friend_returned(
                deps,
                tenant,
                Some(&before),
                &after,
                p.purchased_at,
            )
            .await;
            Ok(Outcome::Recorded)
        }
        // Posted again (a retry of the shop's system): counted once.
        (OrderRecorded::Duplicate, ..) => Ok(Outcome::Duplicate),
    }
}

async fn rules_of(deps: &Deps, tenant: &Tenant) -> Result<(Vec<TagRule>, Option<u32>), CrmError> {
    Ok((
        deps.store.tag_rules(&tenant.id).await?,
        deps.store.scoring(&tenant.id).await?.half_life_days,
    ))
}

/// `POST /admin/purchases` `{orderId, userId, amount, items: [{product, category?, quantity?}], purchasedAt?}`
pub(super) async fn create(
    t: Caller,
    State(deps): State<Deps>,
    body: Bytes,
) -> Result<Response, CrmError> {
    let req: PurchaseBody = parse_json(&body)?;
    let p = Purchase {
        order_id: OrderId::parse(&req.order_id)
            .map_err(|e| CrmError::invalid("orderId", e.to_string()))?,
        friend: parse_user(&req.user_id)?,
        amount: req.amount,
        items: req.items,
        purchased_at: req.purchased_at.unwrap_or_else(|| deps.clock.now()),
        imported: false,
    };
    p.validate()?;
    let (rules, half_life) = rules_of(&deps, &t).await?;
    let outcome = record(&deps, &t, &p, &rules, half_life).await?;
    let friend = deps.store.get_friend(&t.id, &p.friend).await?;
    let (status, duplicate) = match outcome {
        Outcome::Recorded => (StatusCode::CREATED, false),
        Outcome::Duplicate => (StatusCode::OK, true),
    };
    Ok((
        status,
        Json(json!({ "orderId": p.order_id, "duplicate": duplicate, "friend": friend })),
    )
        .into_response())
}

/// `POST /admin/purchases/import` (text/csv): good orders are recorded, bad lines reported.
pub(super) async fn import(
    t: Caller,
    State(deps): State<Deps>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, CrmError> {
    let (orders, mut errors) = parse_csv(&body, &t.time_zone())?;
    if orders.len() > MAX_IMPORT_ORDERS {
        return Err(CrmError::invalid(
            "body",
            format!("at most {MAX_IMPORT_ORDERS} orders per import; split the file"),
        ));
    }
    let (rules, half_life) = rules_of(&deps, &t).await?;
    let (mut imported, mut duplicates) = (0, 0);
    for (line, p) in &orders {
        match record(&deps, &t, p, &rules, half_life).await {
            Ok(Outcome::Recorded) => imported += 1,
            Ok(Outcome::Duplicate) => duplicates += 1,
            Err(CrmError::NotFound(_)) => errors.push(RowError {
                line: *line,
                order_id: Some(p.order_id.to_string()),
                reason: "userId: no friend with this LINE user id".into(),
            }),
            Err(e) => return Err(e),
        }
    }
    if imported > 0 {
        deps.store
            .request_dormancy_backfill(&t.id, deps.clock.now())
            .await?;
    }
    errors.sort_by_key(|e| e.line);
    tracing::info!(tenant = %t.id, imported, duplicates, failed = errors.len(), "purchases imported");
    Ok(Json(
        json!({ "imported": imported, "duplicates": duplicates, "errors": errors }),
    ))
}

pub(super) async fn friend_purchases(
    t: Caller,
    State(deps): State<Deps>,
    FriendInPath(u): FriendInPath,
) -> Result<Json<serde_json::Value>, CrmError> {
    Ok(Json(
        json!({ "purchases": deps.store.friend_purchases(&t.id, &u).await? }),
    ))
}
