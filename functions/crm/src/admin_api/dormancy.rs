//! Dormancy through the admin API: the tiers, occasions and staff alerts (`/admin/dormancy`)
//! and the reactivation report (`/admin/reports/reactivation`), from `crate::dormancy_settings`
//! and `crate::reactivation`, as the console's pages.
use axum::{Json, body::Bytes, extract::State};

use super::auth::Caller;
use crate::{
    deps::Deps,
    domain::dormancy::DormancySettings,
    dormancy_settings::save_settings,
    http::{CrmError, parse_json},
    reactivation::ReactivationReport,
};

/// `GET /admin/dormancy`: the tenant's settings (the defaults until it saves its own).
pub(super) async fn settings(
    t: Caller,
    State(deps): State<Deps>,
) -> Result<Json<DormancySettings>, CrmError> {
    Ok(Json(
        crate::dormancy_settings::settings(&deps, &t.id).await?,
    ))
}

/// `PUT /admin/dormancy`: replaces the settings; every scenario named must exist.
pub(super) async fn save(
    t: Caller,
    State(deps): State<Deps>,
    body: Bytes,
) -> Result<Json<DormancySettings>, CrmError> {
    let req: DormancySettings = parse_json(&body)?;
    Ok(Json(save_settings(&deps, &t.id, req).await?))
}

/// `GET /admin/reports/reactivation`: per tier and scenario, how many entered, were messaged
/// and came back within the return window, in total and by inflow route.
pub(super) async fn reactivation(
    t: Caller,
    State(deps): State<Deps>,
) -> Result<Json<ReactivationReport>, CrmError> {
    Ok(Json(crate::reactivation::report(&deps, &t.id).await?))
}
