//! The reactivation report (再来店率): per dormancy tier and scenario, how many friends entered,
//! were messaged and came back within the return window, in total and by inflow route — the
//! sweep's counters summed. `GET /admin/reports/reactivation` and the console's reports page
//! both read it here.
use std::collections::BTreeMap;

use serde::Serialize;

use crate::{
    deps::Deps,
    domain::{TenantId, dormancy::DormancyClock},
    store::{ReactivationCounter, StoreError},
};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteRow {
    pub route: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// One tier (clock, days) with the scenario its friends entered.
#[derive(Debug, Clone, PartialEq, Serialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReactivationReport {
    pub return_window_days: u32,
    pub tiers: Vec<TierRow>,
}

type RowKey = (DormancyClock, u32, Option<String>);

/// The tenant's report, tiers in (clock, days, scenario) order, routes by name.
pub async fn report(deps: &Deps, t: &TenantId) -> Result<ReactivationReport, StoreError> {
    let settings = deps.store.dormancy_settings(t).await?.unwrap_or_default();
    let counters = deps.store.reactivation_counters(t).await?;
    Ok(ReactivationReport {
        return_window_days: settings.return_window_days,
        tiers: tiers(&counters),
    })
}

fn tiers(counters: &[ReactivationCounter]) -> Vec<TierRow> {
    let mut rows: BTreeMap<RowKey, (TierRow, BTreeMap<String, Counts>)> = BTreeMap::new();
    for c in counters {
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
        row.counts.add(c);
        routes.entry(c.route.clone()).or_default().add(c);
    }
    rows.into_values()
        .map(|(mut row, routes)| {
            row.by_route = routes
                .into_iter()
                .map(|(route, counts)| RouteRow { route, counts })
                .collect();
            row
        })
        .collect()
}
