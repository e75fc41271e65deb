//! Tracked links: LINE gives no per-user click data, so a link in a message points at
//! `GET /l/{tenant}/{link}?f=<friend>&to=<url>&sig=<hmac>`. Opening it applies the tenant's
//! `linkClick` tag rules to that friend (tags, fields, score; tag-triggered scenarios start) and
//! redirects to `to`.
//!
//! The link is signed per friend and destination with the tenant's channel secret, so it cannot
//! be forged, moved to another friend, or turned into an open redirect to another URL.
use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::json;

use super::{auth::Caller, body::parse_user};
use crate::{
    deps::Deps,
    domain::{
        LineUserId, Tenant, TenantId,
        tag_rule::{Occurrence, apply_rules},
    },
    friends::update_friend,
    http::CrmError,
};

/// What a tracked link's HMAC signs. The domain prefix keeps these tags apart from webhook
/// signatures and form links.
fn signed(t: &TenantId, link: &str, u: &LineUserId, to: &str) -> Vec<u8> {
    format!("tsunagu-link/v1\n{t}\n{link}\n{u}\n{to}").into_bytes()
}

/// A link id: what rules name in `when: { type: linkClick, link: … }`.
fn valid_link_id(link: &str) -> bool {
    (1..=64).contains(&link.len())
        && link
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_destination(to: &str) -> bool {
    url::Url::parse(to).is_ok_and(|u| matches!(u.scheme(), "https" | "http"))
}

/// The friend's tracked link to `to`, when the stack knows its public URL.
pub fn tracked_url(
    deps: &Deps,
    tenant: &Tenant,
    link: &str,
    u: &LineUserId,
    to: &str,
) -> Option<String> {
    let base = deps.config.public_base_url.as_ref()?;
    let sig = URL_SAFE_NO_PAD.encode(tenant.channel_secret.hmac(&signed(&tenant.id, link, u, to)));
    let mut url = url::Url::parse(&format!(
        "{}/l/{}/{link}",
        base.as_str().trim_end_matches('/'),
        tenant.id
    ))
    .ok()?;
    url.query_pairs_mut()
        .append_pair("f", u.as_str())
        .append_pair("to", to)
        .append_pair("sig", &sig);
    Some(url.to_string())
}

#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    f: String,
    to: String,
    sig: String,
}

/// `GET /l/{tenant}/{link}`: count the click on the friend, then send them on.
pub async fn open(
    State(deps): State<Deps>,
    Path((tenant, link)): Path<(String, String)>,
    query: Result<Query<LinkQuery>, QueryRejection>,
) -> Result<Response, CrmError> {
    // Anything wrong with a link answers the same 404, and never redirects.
    let gone = || CrmError::NotFound("link");
    let Query(q) = query.map_err(|_| gone())?;
    let id = TenantId::parse(&tenant).map_err(|_| gone())?;
    let u = LineUserId::parse(&q.f).map_err(|_| gone())?;
    if !valid_link_id(&link) || !valid_destination(&q.to) {
        return Err(gone());
    }
    let tenant = deps.store.get_tenant(&id).await?.ok_or_else(gone)?;
    let sig = URL_SAFE_NO_PAD.decode(&q.sig).map_err(|_| gone())?;
    if !tenant
        .channel_secret
        .verify_hmac(&signed(&id, &link, &u, &q.to), &sig)
    {
        return Err(gone());
    }

    let rules = deps.store.tag_rules(&id).await?;
    let half_life = deps.store.scoring(&id).await?.half_life_days;
    let now = deps.clock.now();
    let occurrence = Occurrence::LinkClick(&link);
    // Tags the rules add start their scenarios through the FriendTagged event of this write.
    update_friend(&deps, &tenant, &u, |f| {
        apply_rules(&rules, &occurrence, f, now, half_life);
        Ok(())
    })
    .await?;
    tracing::info!(tenant = %id, link = %link, friend = %u.hashed(), "tracked link opened");
    Ok((StatusCode::FOUND, [(header::LOCATION, q.to)]).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkRequest {
    user_id: String,
    to: String,
}

/// `GET /admin/links/{link}?userId=&to=`: the friend's tracked link, for a message or a test.
pub async fn make(
    t: Caller,
    State(deps): State<Deps>,
    Path(link): Path<String>,
    query: Result<Query<LinkRequest>, QueryRejection>,
) -> Result<Json<serde_json::Value>, CrmError> {
    let Query(q) = query.map_err(|e| CrmError::BadRequest(e.body_text()))?;
    if !valid_link_id(&link) {
        return Err(CrmError::invalid(
            "link",
            "1–64 letters, digits, '-' or '_'",
        ));
    }
    if !valid_destination(&q.to) {
        return Err(CrmError::invalid("to", "an http(s) URL"));
    }
    let u = parse_user(&q.user_id)?;
    let url = tracked_url(&deps, &t, &link, &u, &q.to)
        .ok_or_else(|| CrmError::Conflict("PUBLIC_BASE_URL is not configured".into()))?;
    Ok(Json(json!({ "url": url })))
}
