//! Dormancy through the admin API: the tiers, occasions and staff alerts (`/admin/dormancy`)
//! and the reactivation report (`/admin/reports/reactivation`).
use std::collections::BTreeMap;

use axum::{Json, body::Bytes, extract::State};
use serde::Serialize;
use serde_json::{Value, json};

use super::auth::Caller;
use crate::{
    deps::Deps,
    domain::dormancy::{DormancyClock, DormancySettings},
    http::{CrmError, parse_json},
    store::ReactivationCounter,
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

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Counts {
    entered: u64,
    messaged: u64,
    returned: u64,
    /// Returned ÷ messaged (再来店率); null before anyone was messaged.
    rate: Option<f64>,
}

impl Counts {
    fn add(&mut self, c: &ReactivationCounter) {
        self.entered += c.entered;
        self.messaged += c.messaged;
        self.returned += c.returned;
        self.rate = (self.messaged > 0).then(|| self.returned as f64 / self.messaged as f64);
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TierRow {
    clock: DormancyClock,
    days: u32,
    tag: String,
    scenario: Option<String>,
    #[serde(flatten)]
    counts: Counts,
    by_route: Vec<Value>,
}

/// One report row: a tier (clock, days) with the scenario its friends entered.
type RowKey = (DormancyClock, u32, Option<String>);

/// `GET /admin/reports/reactivation`: per tier and scenario, how many entered, were messaged
/// and came back within the return window, in total and by inflow route.
pub(super) async fn reactivation(
    t: Caller,
    State(deps): State<Deps>,
) -> Result<Json<Value>, CrmError> {
    let settings = deps
        .store
        .dormancy_settings(&t.id)
        .await?
        .unwrap_or_default();
    let mut rows: BTreeMap<RowKey, (TierRow, BTreeMap<String, Counts>)> = BTreeMap::new();
    for c in deps.store.reactivation_counters(&t.id).await? {
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
    let tiers: Vec<TierRow> = rows
        .into_values()
        .map(|(mut row, routes)| {
            row.by_route = routes
                .into_iter()
                .map(|(route, counts)| {
                    let mut v = json!(counts);
                    v["route"] = json!(route);
                    v
                })
                .collect();
            row
        })
        .collect();
    Ok(Json(json!({
        "returnWindowDays": settings.return_window_days,
        "tiers": tiers,
    })))
}
