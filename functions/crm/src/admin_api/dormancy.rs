//! Dormancy through the admin API: the tiers, occasions and staff alerts (`/admin/dormancy`)
//! and the reactivation report (`/admin/reports/reactivation`).
use axum::{Json, body::Bytes, extract::State};

use super::auth::Caller;
use crate::{
    deps::Deps,
    domain::dormancy::DormancySettings,
    http::{CrmError, parse_json},
    reactivation::ReactivationReport,
};

/// `GET /admin/dormancy`: the tenant's settings (the defaults until it saves its own).
pub(super) async fn settings(
    t: Caller,
    State(deps): State<Deps>,
) -> Result<Json<DormancySettings>, CrmError> {
    let s = deps.store.dormancy_settings(&t.id).await?;
    Ok(Json(s.unwrap_or_default()))
}

/// `PUT /admin/dormancy`: replaces the settings; every scenario named must exist.
pub(super) async fn save(
    t: Caller,
    State(deps): State<Deps>,
    body: Bytes,
) -> Result<Json<DormancySettings>, CrmError> {
    let req: DormancySettings = parse_json(&body)?;
    let settings = req.validate()?;
    // Loopback receivers only where this deployment says so (the local stack, the tests).
    if let Some(url) = &settings.alerts.webhook_url {
        crate::domain::public_url::check_url(url, deps.config.allow_loopback_webhooks)
            .map_err(|e| CrmError::invalid("alerts.webhookUrl", e.to_string()))?;
    }
    for (field, scenario) in settings.scenarios() {
        if deps.store.scenario(&t.id, scenario).await?.is_none() {
            return Err(CrmError::invalid(
                field,
                format!("no scenario {scenario:?}; save it first"),
            ));
        }
    }
    deps.store
        .put_dormancy_settings(&t.id, &settings, deps.clock.now())
        .await?;
    tracing::info!(tenant = %t.id, tiers = settings.tiers.len(), "dormancy settings saved");
    Ok(Json(settings))
}

/// `GET /admin/reports/reactivation`: per tier and scenario, how many entered, were messaged
/// and came back within the return window, in total and by inflow route.
pub(super) async fn reactivation(
    t: Caller,
    State(deps): State<Deps>,
) -> Result<Json<ReactivationReport>, CrmError> {
    Ok(Json(crate::reactivation::report(&deps, &t.id).await?))
}
