//! Tracked links: LINE gives no per-user click data, so a link in a message points at
//! `GET /l/{tenant}/{link}?f=<friend>&e=<expires>&to=<url>&sig=<hmac>`. Opening it applies the
//! tenant's `linkClick` tag rules to that friend (tags, fields, score; tag-triggered scenarios
//! start) and redirects to `to`.
//!
//! The link is signed per friend, expiry and destination with the tenant's channel secret, so it
//! cannot be forged, moved to another friend, kept counting past its expiry, or turned into an
//! open redirect to another URL. The rules run once per friend and link id (an apply-once
//! marker), so reloads, forwards and preview fetchers neither re-tag nor re-score; a fetch that
//! is no person (a preview) and an expired link still redirect, but count nothing.
use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::json;

use super::{auth::Caller, body::parse_user};
use crate::{
    deps::Deps,
    domain::{
        LineUserId, Tenant, TenantId,
        link::{self, DEFAULT_LIFETIME_DAYS, MAX_LIFETIME_DAYS},
        tag_rule::{Occurrence, apply_rules},
    },
    friends::update_friend_once,
    http::CrmError,
    store::keys::AppliedEvent,
};

/// What a tracked link's HMAC signs; the destination last, so no value of it can pose as
/// another field. The domain prefix keeps these tags apart from webhook signatures and forms.
fn signed(t: &TenantId, link: &str, u: &LineUserId, expires: i64, to: &str) -> Vec<u8> {
    format!("tsunagu-link/v2\n{t}\n{link}\n{u}\n{expires}\n{to}").into_bytes()
}

/// What a link issued before links expired signed (no `e`): such a link still takes the
/// customer to the shop, but counts nothing.
fn signed_v1(t: &TenantId, link: &str, u: &LineUserId, to: &str) -> Vec<u8> {
    format!("tsunagu-link/v1\n{t}\n{link}\n{u}\n{to}").into_bytes()
}

/// The friend's tracked link to `to` (a destination as [`link::destination`] returns it),
/// counting clicks until `expires`, when the stack knows its public URL.
pub fn tracked_url(
    deps: &Deps,
    tenant: &Tenant,
    link: &str,
    u: &LineUserId,
    to: &str,
    expires: Timestamp,
) -> Option<String> {
    let base = deps.config.public_base_url.as_ref()?;
    let expires = expires.as_second();
    let sig = URL_SAFE_NO_PAD.encode(
        tenant
            .channel_secret
            .hmac(&signed(&tenant.id, link, u, expires, to)),
    );
    let mut url = url::Url::parse(&format!(
        "{}/l/{}/{link}",
        base.as_str().trim_end_matches('/'),
        tenant.id
    ))
    .ok()?;
    url.query_pairs_mut()
        .append_pair("f", u.as_str())
        .append_pair("e", &expires.to_string())
        .append_pair("to", to)
        .append_pair("sig", &sig);
    Some(url.to_string())
}

#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    f: String,
    /// Until when (unix seconds) the link counts clicks, under the signature; absent from
    /// links issued before links expired.
    e: Option<i64>,
    to: String,
    sig: String,
}

/// `GET /l/{tenant}/{link}`: count the click on the friend, then send them on.
pub async fn open(
    State(deps): State<Deps>,
    Path((tenant, link)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    query: Result<Query<LinkQuery>, QueryRejection>,
) -> Result<Response, CrmError> {
    // Anything wrong with a link answers the same 404, and never redirects.
    let gone = || CrmError::NotFound("link");
    let Query(q) = query.map_err(|_| gone())?;
    let id = TenantId::parse(&tenant).map_err(|_| gone())?;
    let u = LineUserId::parse(&q.f).map_err(|_| gone())?;
    // Checked again before anything runs: only a destination we would issue is followed.
    let to = link::destination(&q.to).map_err(|_| gone())?;
    if !link::valid_link_id(&link) {
        return Err(gone());
    }
    let tenant = deps.store.get_tenant(&id).await?.ok_or_else(gone)?;
    let sig = URL_SAFE_NO_PAD.decode(&q.sig).map_err(|_| gone())?;
    let secret = &tenant.channel_secret;
    let counts_until = match q.e {
        Some(e) if to == q.to && secret.verify_hmac(&signed(&id, &link, &u, e, &to), &sig) => {
            Some(e)
        }
        None if secret.verify_hmac(&signed_v1(&id, &link, &u, &q.to), &sig) => None,
        _ => return Err(gone()),
    };

    // A signed link always takes the customer to the shop; only a person's opening of a link
    // still counting runs the rules.
    let now = deps.clock.now().as_second();
    let expired = counts_until.is_none_or(|e| now > e);
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let preview = method == Method::HEAD || link::is_preview_fetch(agent);
    let counted = !expired && !preview && count(&deps, &tenant, &link, &u).await;
    tracing::info!(tenant = %id, link = %link, friend = %u.hashed(), counted, expired, preview,
        "tracked link opened");
    Ok((StatusCode::FOUND, [(header::LOCATION, to)]).into_response())
}

/// Applies the link's rules to the friend, once per friend and link; true when this click did.
/// A failure is logged, not shown: the customer is redirected all the same.
async fn count(deps: &Deps, tenant: &Tenant, link: &str, u: &LineUserId) -> bool {
    let applied = async {
        let rules = deps.store.tag_rules(&tenant.id).await?;
        let half_life = deps.store.scoring(&tenant.id).await?.half_life_days;
        let now = deps.clock.now();
        let occurrence = Occurrence::LinkClick(link);
        // Tags the rules add start their scenarios through the FriendTagged event of this write.
        let once = AppliedEvent::LinkClick(link);
        update_friend_once(deps, tenant, u, once, |f| {
            apply_rules(&rules, &occurrence, f, now, half_life);
            Ok(())
        })
        .await
    };
    match applied.await {
        Ok(written) => written.is_some(),
        Err(CrmError::NotFound(_)) => false,
        Err(e) => {
            tracing::error!(tenant = %tenant.id, link = %link, friend = %u.hashed(), error = %e,
                "a tracked link's click was not counted");
            false
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkRequest {
    user_id: String,
    to: String,
    /// How many days the link counts clicks (default [`DEFAULT_LIFETIME_DAYS`]).
    expires_in_days: Option<u32>,
}

/// `GET /admin/links/{link}?userId=&to=&expiresInDays=`: the friend's tracked link, for a
/// message or a test.
pub async fn make(
    t: Caller,
    State(deps): State<Deps>,
    Path(link): Path<String>,
    query: Result<Query<LinkRequest>, QueryRejection>,
) -> Result<Json<serde_json::Value>, CrmError> {
    let Query(q) = query.map_err(|e| CrmError::BadRequest(e.body_text()))?;
    if !link::valid_link_id(&link) {
        return Err(CrmError::invalid(
            "link",
            "1–64 letters, digits, '-' or '_'",
        ));
    }
    let to = link::destination(&q.to).map_err(|e| CrmError::invalid("to", e.to_string()))?;
    let days = q.expires_in_days.unwrap_or(DEFAULT_LIFETIME_DAYS);
    if !(1..=MAX_LIFETIME_DAYS).contains(&days) {
        return Err(CrmError::invalid(
            "expiresInDays",
            format!("1–{MAX_LIFETIME_DAYS} days"),
        ));
    }
    let u = parse_user(&q.user_id)?;
    let now = deps.clock.now();
    let expires = now
        .saturating_add(SignedDuration::from_hours(i64::from(days) * 24))
        .unwrap_or(now);
    let url = tracked_url(&deps, &t, &link, &u, &to, expires)
        .ok_or_else(|| CrmError::Conflict("PUBLIC_BASE_URL is not configured".into()))?;
    Ok(Json(json!({ "url": url, "expiresAt": expires })))
}
