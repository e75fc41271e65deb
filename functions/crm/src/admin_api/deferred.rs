//! What waits and why (`GET /admin/deferred`), and "try the quota now"
//! (`POST /admin/tenant/quota/retry`) for a shop that has just raised its LINE plan.
use axum::{Json, extract::State, http::HeaderMap};
use jiff::Timestamp;
use serde::Serialize;

use super::tenant_caller;
use crate::{
    deps::Deps,
    domain::deferral::{DeferReason, Deferred},
    http::CrmError,
    scheduled_sends::{QuotaCheck, check_and_release},
};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeferredView {
    /// Set while LINE's monthly quota is used up; `quotaResumesAt` is the month's rollover.
    quota_exhausted_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quota_resumes_at: Option<Timestamp>,
    items: Vec<DeferredItem>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeferredItem {
    #[serde(flatten)]
    item: Deferred,
    reason: DeferReason,
    due_at: Timestamp,
}

/// `GET /admin/deferred`: steps and broadcasts that wait, soonest first. A note whose due time
/// has passed is left out (the item went, or is going now); a quota wait is shown until the
/// quota is back.
pub(super) async fn list(
    State(deps): State<Deps>,
    headers: HeaderMap,
) -> Result<Json<DeferredView>, CrmError> {
    let t = tenant_caller(&deps, &headers).await?;
    let now = deps.clock.now();
    let mut items: Vec<DeferredItem> = deps
        .store
        .deferred_notes(&t.id)
        .await?
        .into_iter()
        .filter(|n| n.reason == DeferReason::Quota || n.due_at > now)
        .map(|n| DeferredItem {
            item: n.item,
            reason: n.reason,
            due_at: n.due_at,
        })
        .collect();
    items.sort_by_key(|i| i.due_at);
    let quota_resumes_at = t
        .quota_exhausted_at
        .map(|at| crate::domain::deferral::quota_resumes_at(at, &t.time_zone()));
    Ok(Json(DeferredView {
        quota_exhausted_at: t.quota_exhausted_at,
        quota_resumes_at,
        items,
    }))
}

/// `POST /admin/tenant/quota/retry`: asks LINE now; with room, clears the mark and makes every
/// quota wait due at once (the next tick sends them). Without room, changes nothing and says
/// what LINE reported.
pub(super) async fn retry_quota(
    State(deps): State<Deps>,
    headers: HeaderMap,
) -> Result<Json<QuotaCheck>, CrmError> {
    let t = tenant_caller(&deps, &headers).await?;
    let check = check_and_release(&deps, &t, deps.clock.now(), true).await?;
    Ok(Json(check))
}
