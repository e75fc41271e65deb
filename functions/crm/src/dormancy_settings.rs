//! A shop's dormancy settings and its reactivation report (再来店率), for the admin API and the
//! console alike: one save with every check, one way to sum the counters.
use std::collections::BTreeMap;

use serde::Serialize;

use crate::{
    deps::Deps,
    domain::{
        TenantId,
        dormancy::{DormancyClock, DormancySettings},
    },
    http::CrmError,
    store::ReactivationCounter,
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

/// How many entered a tier, were messaged, and came back within the return window.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub entered: u64,
    pub messaged: u64,
    pub returned: u64,
    /// Returned ÷ messaged (再来店率); null before anyone was messaged.
    pub rate: Option<f64>,
}

impl Counts {
    fn add(&mut self, c: &ReactivationCounter) {
        self.entered += c.entered;
        self.messaged += c.messaged;
        self.returned += c.returned;
        self.rate = (self.messaged > 0).then(|| self.returned as f64 / self.messaged as f64);
    }
}

/// One report row: a tier (clock, days) with the scenario its friends entered.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TierRow {
    pub clock: DormancyClock,
    pub days: u32,
    pub tag: String,
    pub scenario: Option<String>,
    #[serde(flatten)]
    pub counts: Counts,
    pub by_route: Vec<RouteRow>,
}

/// A tier row's counts for the friends of one inflow route.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteRow {
    pub route: String,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReactivationReport {
    pub return_window_days: u32,
    pub tiers: Vec<TierRow>,
}

type RowKey = (DormancyClock, u32, Option<String>);

/// Per tier and scenario, in total and by inflow route.
pub async fn reactivation_report(
    deps: &Deps,
    t: &TenantId,
) -> Result<ReactivationReport, CrmError> {
    let settings = settings(deps, t).await?;
    let mut rows: BTreeMap<RowKey, (TierRow, BTreeMap<String, Counts>)> = BTreeMap::new();
    for c in deps.store.reactivation_counters(t).await? {
        let scenario = c.scenario.as_ref().map(|s| s.to_string());
        let (row, routes) = rows
            .entry((c.clock, c.days, scenario.clone()))
            .or_insert_with(|| {
                (
                    TierRow {
                        clock: c.clock,
                        days: c.days,
                        tag: c.tag.to_string(),
                        scenario,
                        counts: Counts::default(),
                        by_route: Vec::new(),
                    },
                    BTreeMap::new(),
                )
            });
        row.counts.add(&c);
        routes.entry(c.route.clone()).or_default().add(&c);
    }
    let tiers = rows
        .into_values()
        .map(|(mut row, routes)| {
            row.by_route = routes
                .into_iter()
                .map(|(route, counts)| RouteRow { route, counts })
                .collect();
            row
        })
        .collect();
    Ok(ReactivationReport {
        return_window_days: settings.return_window_days,
        tiers,
    })
}
