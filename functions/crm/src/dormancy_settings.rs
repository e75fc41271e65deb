//! A shop's dormancy settings, for the admin API and the console alike: one save with every
//! check. Its reactivation report (再来店率) is `crate::reactivation`.
use crate::{
    deps::Deps,
    domain::{TenantId, dormancy::DormancySettings},
    http::CrmError,
};

/// The tenant's settings (the defaults until it saves its own).
pub async fn settings(deps: &Deps, t: &TenantId) -> Result<DormancySettings, CrmError> {
    Ok(deps.store.dormancy_settings(t).await?.unwrap_or_default())
}

/// Replaces the settings once they pass every rule: the settings' own, a staff webhook at a
/// public https address, and every scenario named already saved.
pub async fn save_settings(
    deps: &Deps,
    t: &TenantId,
    settings: DormancySettings,
) -> Result<DormancySettings, CrmError> {
    let settings = settings.validate()?;
    // Loopback receivers only where this deployment says so (the local stack, the tests).
    if let Some(url) = &settings.alerts.webhook_url {
        crate::domain::public_url::check_url(url, deps.config.allow_loopback_webhooks)
            .map_err(|e| CrmError::invalid("alerts.webhookUrl", e.to_string()))?;
    }
    for (field, scenario) in settings.scenarios() {
        if deps.store.scenario(t, scenario).await?.is_none() {
            return Err(CrmError::invalid(
                field,
                format!("no scenario {scenario:?}; save it first"),
            ));
        }
    }
    deps.store
        .put_dormancy_settings(t, &settings, deps.clock.now())
        .await?;
    tracing::info!(tenant = %t, tiers = settings.tiers.len(), "dormancy settings saved");
    Ok(settings)
}
