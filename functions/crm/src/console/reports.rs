//! レポート: the reports the API offers, as tables with bar charts drawn server-side (inline
//! SVG, no script) and as CSV files Excel opens in Japan (UTF-8 with a BOM). Per broadcast:
//! sent, failed, over the cap (`GET /admin/broadcasts`); reactivation per tier and route
//! (`GET /admin/reports/reactivation`, through the same `crate::reactivation::report`).
use askama::Template;
use axum::{extract::State, http::StatusCode, response::Response};
use jiff::tz::TimeZone;

use super::{
    Chrome, ConsoleError, Labels, Staff,
    broadcasts::{planned_start, state_name},
    download::csv_download,
    friends::local,
    html,
};
use crate::{
    broadcasts::reached,
    deps::Deps,
    domain::{broadcast::Broadcast, dormancy::DormancyClock},
    reactivation::{Counts, ReactivationReport, TierRow},
};

/// A bar's length as a share of the chart's longest, in the SVG's 0–100 units.
fn share(value: u64, max: u64) -> String {
    let w = if max == 0 {
        0.0
    } else {
        value as f64 * 100.0 / max as f64
    };
    format!("{w:.1}")
}

fn percent(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_default()
}

/// One broadcast of the report, with its bar (sent, then failed, on one scale for all).
struct BroadcastRow {
    id: String,
    name: String,
    state: &'static str,
    starts: String,
    sent: u64,
    failed: u64,
    capped: u64,
    total: u64,
    sent_w: String,
    failed_x: String,
    failed_w: String,
}

fn broadcast_rows(l: &Labels, all: &[Broadcast], zone: &TimeZone) -> Vec<BroadcastRow> {
    let max = all
        .iter()
        .map(|b| b.progress.sent + b.progress.failed)
        .max()
        .unwrap_or(0);
    all.iter()
        .map(|b| {
            let p = &b.progress;
            BroadcastRow {
                id: b.id.clone(),
                name: b.request.name.clone(),
                state: state_name(l, b.state),
                starts: local(planned_start(b), zone),
                sent: p.sent,
                failed: p.failed,
                capped: p.capped,
                total: reached(b),
                sent_w: share(p.sent, max),
                failed_x: share(p.sent, max),
                failed_w: share(p.failed, max),
            }
        })
        .collect()
}

/// A tier's line of the reactivation report (the tier in total, or one of its routes), for
/// this page and 休眠設定.
pub(super) struct TierLine {
    pub(super) tier: String,
    pub(super) tag: String,
    pub(super) scenario: String,
    /// Empty for the tier's total.
    pub(super) route: String,
    pub(super) entered: u64,
    pub(super) messaged: u64,
    pub(super) returned: u64,
    pub(super) rate: String,
    pub(super) entered_w: String,
    pub(super) messaged_w: String,
    pub(super) returned_w: String,
}

fn tier_name(l: &Labels, t: &TierRow) -> String {
    let clock = match t.clock {
        DormancyClock::Activity => l.clock_activity,
        DormancyClock::Purchase => l.clock_purchase,
    };
    // 「最終アクションから30日」, "30 days since last activity".
    if l.lang == "ja" {
        format!("{clock}{}{}", t.days, l.days_suffix)
    } else {
        format!("{}{} {clock}", t.days, l.days_suffix)
    }
}

/// Each tier in total, then by route; bars on one scale (the most entered).
pub(super) fn tier_lines(l: &Labels, report: &ReactivationReport) -> Vec<TierLine> {
    let max = report
        .tiers
        .iter()
        .map(|t| t.counts.entered)
        .max()
        .unwrap_or(0);
    let line = |t: &TierRow, route: String, c: &Counts| TierLine {
        tier: tier_name(l, t),
        tag: t.tag.clone(),
        scenario: t.scenario.clone().unwrap_or_default(),
        route,
        entered: c.entered,
        messaged: c.messaged,
        returned: c.returned,
        rate: percent(c.rate),
        entered_w: share(c.entered, max),
        messaged_w: share(c.messaged, max),
        returned_w: share(c.returned, max),
    };
    report
        .tiers
        .iter()
        .flat_map(|t| {
            std::iter::once(line(t, String::new(), &t.counts)).chain(t.by_route.iter().map(|r| {
                // The counters name a friend who came without a route `unknown`.
                let route = if r.route.is_empty() || r.route == "unknown" {
                    l.no_route.to_owned()
                } else {
                    r.route.clone()
                };
                line(t, route, &r.counts)
            }))
        })
        .collect()
}

#[derive(Template)]
#[template(path = "console/reports.html")]
struct ReportsPage {
    l: &'static Labels,
    me: Option<Chrome>,
    broadcasts: Vec<BroadcastRow>,
    return_window_days: u32,
    tiers: Vec<TierLine>,
}

/// `GET /console/reports`
pub(super) async fn page(staff: Staff, State(deps): State<Deps>) -> Result<Response, ConsoleError> {
    let l = staff.lang.labels();
    let t = &staff.tenant;
    let (all, reactivation) = tokio::try_join!(
        deps.store.broadcasts(&t.id),
        crate::reactivation::report(&deps, &t.id),
    )?;
    let page = ReportsPage {
        l,
        me: Some(Chrome::of(&staff)),
        broadcasts: broadcast_rows(l, &all, &t.time_zone()),
        return_window_days: reactivation.return_window_days,
        tiers: tier_lines(l, &reactivation),
    };
    Ok(html(StatusCode::OK, &page))
}

/// `GET /console/reports/broadcasts.csv`
pub(super) async fn broadcasts_csv(
    staff: Staff,
    State(deps): State<Deps>,
) -> Result<Response, ConsoleError> {
    let l = staff.lang.labels();
    let all = deps.store.broadcasts(&staff.tenant.id).await?;
    let rows = broadcast_rows(l, &all, &staff.tenant.time_zone());
    let header = [
        "id",
        l.broadcast_name,
        l.status,
        l.send_at,
        l.total,
        l.sent,
        l.failed,
        l.capped,
    ];
    let lines = rows.iter().map(|r| {
        vec![
            r.id.clone(),
            r.name.clone(),
            r.state.to_owned(),
            r.starts.clone(),
            r.total.to_string(),
            r.sent.to_string(),
            r.failed.to_string(),
            r.capped.to_string(),
        ]
    });
    csv_download("broadcasts.csv", &header, lines)
}

/// `GET /console/reports/reactivation.csv`: a line per tier (route empty) and per tier and route.
pub(super) async fn reactivation_csv(
    staff: Staff,
    State(deps): State<Deps>,
) -> Result<Response, ConsoleError> {
    let l = staff.lang.labels();
    let report = crate::reactivation::report(&deps, &staff.tenant.id).await?;
    let header = [
        l.tier,
        l.tags,
        l.scenarios,
        l.route,
        l.entered,
        l.messaged,
        l.returned,
        l.rate,
    ];
    let lines = tier_lines(l, &report).into_iter().map(|t| {
        vec![
            t.tier,
            t.tag,
            t.scenario,
            t.route,
            t.entered.to_string(),
            t.messaged.to_string(),
            t.returned.to_string(),
            t.rate,
        ]
    });
    csv_download("reactivation.csv", &header, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_share_one_scale() {
        assert_eq!(share(50, 200), "25.0");
        assert_eq!(share(0, 0), "0.0");
    }
}
