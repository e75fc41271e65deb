//! Tenants through the admin API: the operator creates one (and gets its first API key); a
//! tenant reads and changes its own settings.
use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{Caller, Operator, hash_key, key_listing, new_api_key};
use crate::{
    deps::Deps,
    domain::{DeliveryWindow, Tenant, TenantId, field_error::check_name, tenant},
    http::{CrmError, parse_json},
    secret::Secret,
    store::{HISTORY_DAYS, StoreError},
};

/// A tenant as the admin API shows it: secrets are never returned.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    id: TenantId,
    name: String,
    channel_id: Option<String>,
    zone: String,
    /// `null`: always open.
    delivery_window: Option<DeliveryWindow>,
    daily_cap: Option<u32>,
    quota_exhausted_at: Option<Timestamp>,
    /// `null`: message contents are kept as long as the history.
    message_text_retention_days: Option<u32>,
    created_at: Timestamp,
    webhook_url: String,
}

fn tenant_view(deps: &Deps, t: &Tenant) -> TenantView {
    TenantView {
        id: t.id.clone(),
        name: t.name.clone(),
        channel_id: t.channel_id.clone(),
        zone: t.zone.clone(),
        delivery_window: t.delivery_window.as_option(),
        daily_cap: t.daily_cap,
        quota_exhausted_at: t.quota_exhausted_at,
        message_text_retention_days: t.message_text_retention_days,
        created_at: t.created_at,
        webhook_url: webhook_url(deps, &t.id),
    }
}

pub fn webhook_url(deps: &Deps, t: &TenantId) -> String {
    let path = format!("webhook/{t}");
    match &deps.config.public_base_url {
        Some(base) => format!("{}/{path}", base.as_str().trim_end_matches('/')),
        None => format!("/{path}"),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateTenant {
    id: String,
    name: String,
    channel_secret: String,
    access_token: String,
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    zone: Option<String>,
    /// Absent: 09:00–21:00; `null`: always open.
    #[serde(default, with = "serde_with_null")]
    delivery_window: Option<Option<DeliveryWindow>>,
    #[serde(default)]
    daily_cap: Option<u32>,
    /// Absent: the default; `null`: as long as the history.
    #[serde(default, with = "serde_with_null")]
    message_text_retention_days: Option<Option<u32>>,
}

/// `POST /admin/tenants` (operator only): the tenant, its webhook URL and its first API key.
pub(super) async fn create(
    _: Operator,
    State(deps): State<Deps>,
    body: Bytes,
) -> Result<Response, CrmError> {
    let req: CreateTenant = parse_json(&body)?;
    let id = TenantId::parse(&req.id).map_err(|e| CrmError::invalid("id", e.to_string()))?;
    let zone = req.zone.unwrap_or_else(|| tenant::DEFAULT_ZONE.to_owned());
    checked_zone(&zone)?;
    check_name("name", &req.name)?;
    for (field, value) in [
        ("channelSecret", &req.channel_secret),
        ("accessToken", &req.access_token),
    ] {
        if value.trim().is_empty() {
            return Err(CrmError::invalid(field, "must not be empty"));
        }
    }
    let window = match req.delivery_window {
        None => DeliveryWindow::default(),
        Some(w) => checked_window(w)?,
    };
    let retention = match req.message_text_retention_days {
        None => Some(tenant::DEFAULT_TEXT_RETENTION_DAYS),
        Some(days) => checked_retention(days)?,
    };
    let now = deps.clock.now();
    let tenant = Tenant {
        id: id.clone(),
        name: req.name,
        channel_id: req.channel_id,
        channel_secret: Secret::new(req.channel_secret),
        access_token: Secret::new(req.access_token),
        zone,
        delivery_window: window,
        daily_cap: req.daily_cap,
        quota_exhausted_at: None,
        message_text_retention_days: retention,
        created_at: now,
    };
    let key = new_api_key();
    let listing = key_listing(&key, "initial", now);
    match deps
        .store
        .create_tenant(&tenant, &hash_key(&key), &listing)
        .await
    {
        Err(StoreError::AlreadyExists) => {
            return Err(CrmError::Conflict(format!("tenant {id} already exists")));
        }
        other => other?,
    }
    tracing::info!(tenant = %id, "tenant created");
    let body = json!({
        "tenant": tenant_view(&deps, &tenant),
        "webhookUrl": webhook_url(&deps, &id),
        "apiKey": key,
        "apiKeyId": listing.id,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /admin/tenant`
pub(super) async fn own(t: Caller, State(deps): State<Deps>) -> Json<TenantView> {
    Json(tenant_view(&deps, &t))
}

/// `GET /admin/dashboard`: the figures the console's dashboard shows.
pub(super) async fn dashboard(
    t: Caller,
    State(deps): State<Deps>,
) -> Result<Json<crate::dashboard::Dashboard>, CrmError> {
    let now = deps.clock.now();
    Ok(Json(crate::dashboard::load(&deps, &t.tenant, now).await?))
}

/// Settings a marketer changes: name, zone, delivery window, daily cap (`null` removes the cap),
/// how long message texts are kept (`null`: as long as the history).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TenantSettings {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    zone: Option<String>,
    /// `null`: always open.
    #[serde(default, with = "serde_with_null")]
    delivery_window: Option<Option<DeliveryWindow>>,
    #[serde(default, with = "serde_with_null")]
    daily_cap: Option<Option<u32>>,
    #[serde(default, with = "serde_with_null")]
    message_text_retention_days: Option<Option<u32>>,
}

/// Tells "absent" (keep) from `null` (clear) for an optional setting.
mod serde_with_null {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Ok(Some(Option::<T>::deserialize(d)?))
    }
}

fn checked_zone(zone: &str) -> Result<(), CrmError> {
    if tenant::is_known_zone(zone) {
        Ok(())
    } else {
        Err(CrmError::invalid(
            "zone",
            format!("unknown time zone {zone:?}"),
        ))
    }
}

/// A window given as `{start, end}` must open before it closes; `null` is always open.
fn checked_window(w: Option<DeliveryWindow>) -> Result<DeliveryWindow, CrmError> {
    match w {
        None => Ok(DeliveryWindow::ALWAYS_OPEN),
        Some(w) if w.start >= w.end => Err(CrmError::invalid(
            "deliveryWindow",
            "start must be before end (or null for always open)",
        )),
        Some(w) => Ok(w),
    }
}

/// Days of message text to keep: at least one, and no more than the history itself is kept
/// (its entries would be gone first); `null` keeps texts as long as their entries.
fn checked_retention(days: Option<u32>) -> Result<Option<u32>, CrmError> {
    match days {
        Some(d) if !(1..=HISTORY_DAYS).contains(&d) => Err(CrmError::invalid(
            "messageTextRetentionDays",
            format!("1–{HISTORY_DAYS} days (or null: as long as the history, {HISTORY_DAYS} days)"),
        )),
        days => Ok(days),
    }
}

/// `PATCH /admin/tenant`
pub(super) async fn update(
    caller: Caller,
    State(deps): State<Deps>,
    body: Bytes,
) -> Result<Json<TenantView>, CrmError> {
    let mut t = caller.tenant;
    let req: TenantSettings = parse_json(&body)?;
    if let Some(name) = req.name {
        check_name("name", &name)?;
        t.name = name;
    }
    if let Some(zone) = req.zone {
        checked_zone(&zone)?;
        t.zone = zone;
    }
    if let Some(window) = req.delivery_window {
        t.delivery_window = checked_window(window)?;
    }
    if let Some(cap) = req.daily_cap {
        if cap == Some(0) {
            return Err(CrmError::invalid(
                "dailyCap",
                "must be at least 1 (or null for no cap)",
            ));
        }
        t.daily_cap = cap;
    }
    if let Some(days) = req.message_text_retention_days {
        // Applies to messages received from now on; stored ones keep the expiry they got.
        t.message_text_retention_days = checked_retention(days)?;
    }
    // Only these settings: a quota mark the tick sets meanwhile stays.
    deps.store.update_tenant_settings(&t).await?;
    Ok(Json(tenant_view(&deps, &t)))
}

/// New LINE credentials for a tenant; either or both.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewCredentials {
    #[serde(default)]
    channel_secret: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// `PUT /admin/tenants/{id}/credentials` (operator): rotates a tenant's channel secret and/or
/// access token. Sealed like every credential; the webhook and sends use the new ones at once.
pub(super) async fn rotate_credentials(
    _: Operator,
    State(deps): State<Deps>,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: Bytes,
) -> Result<StatusCode, CrmError> {
    let id = TenantId::parse(&id).map_err(|_| CrmError::NotFound("tenant"))?;
    let req: NewCredentials = parse_json(&body)?;
    let mut t = deps
        .store
        .get_tenant(&id)
        .await?
        .ok_or(CrmError::NotFound("tenant"))?;
    let given = |field: &str, v: Option<String>| match v {
        Some(v) if v.trim().is_empty() => Err(CrmError::invalid(field, "must not be empty")),
        other => Ok(other.map(Secret::new)),
    };
    let secret = given("channelSecret", req.channel_secret)?;
    let token = given("accessToken", req.access_token)?;
    if secret.is_none() && token.is_none() {
        return Err(CrmError::invalid(
            "channelSecret",
            "give channelSecret, accessToken or both",
        ));
    }
    if let Some(s) = secret {
        t.channel_secret = s;
    }
    if let Some(a) = token {
        t.access_token = a;
    }
    deps.store.put_credentials(&t).await?;
    tracing::info!(tenant = %t.id, "tenant credentials rotated");
    Ok(StatusCode::NO_CONTENT)
}
