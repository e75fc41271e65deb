//! What waits and why (`GET /admin/deferred`), and "try the quota now"
//! (`POST /admin/tenant/quota/retry`) for a shop that has just raised its LINE plan.
use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use crate::{
    deps::Deps,
    domain::deferral::{DeferReason, Deferred},
    http::CrmError,
    scheduled_sends::{QuotaCheck, check_and_release},
};

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct Page {
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeferredView {
    /// Set while LINE's monthly quota is used up; `quotaResumesAt` is the month's rollover.
    quota_exhausted_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quota_resumes_at: Option<Timestamp>,
    items: Vec<DeferredItem>,
    /// More may follow: pass it back as `cursor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DeferredItem {
    #[serde(flatten)]
    item: Deferred,
    reason: DeferReason,
    due_at: Timestamp,
}

/// `GET /admin/deferred?limit=&cursor=`: steps and broadcasts that wait, a page at a time (in
/// item order; each page soonest first). A note whose due time has passed is left out (the item
/// went, or is going now), so a page may hold fewer than `limit`; a quota wait is shown until
/// the quota is back.
pub(super) async fn list(
    t: Caller,
    State(deps): State<Deps>,
    query: Result<Query<Page>, QueryRejection>,
) -> Result<Json<DeferredView>, CrmError> {
    let Query(page) = query.map_err(|e| CrmError::BadRequest(e.body_text()))?;
    let limit = page.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(CrmError::invalid(
            "limit",
            format!("must be 1..={MAX_PAGE}"),
        ));
    }
    let after = page
        .cursor
        .map(|c| {
            // A sort key is at most 1 KB, so a longer cursor is none of ours.
            (c.len() <= 1400)
                .then(|| URL_SAFE_NO_PAD.decode(c).ok())
                .flatten()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| CrmError::invalid("cursor", "not a cursor of this list"))
        })
        .transpose()?;
    let now = deps.clock.now();
    let (notes, next) = deps
        .store
        .deferred_notes_page(&t.id, limit, after.as_deref())
        .await?;
    let mut items: Vec<DeferredItem> = notes
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
        cursor: next.map(|sk| URL_SAFE_NO_PAD.encode(sk)),
    }))
}

/// `POST /admin/tenant/quota/retry`: asks LINE now; with room, clears the mark and makes every
/// quota wait due at once (the next tick sends them). Without room, changes nothing and says
/// what LINE reported.
pub(super) async fn retry_quota(
    t: Caller,
    State(deps): State<Deps>,
) -> Result<Json<QuotaCheck>, CrmError> {
    let check = check_and_release(&deps, &t, deps.clock.now(), true).await?;
    Ok(Json(check))
}
