//! The local stack's own control endpoints, under `/__local/` on the webhook and admin API port
//! (no API key: they exist only on a developer's machine):
//!
//! - `GET /__local/clock` → `{"now"}`;
//! - `POST /__local/clock` with `{"advance": "3d"}` or `{"to": "2026-12-04T10:00:00+09:00"}`
//!   moves the clock forward and answers what ran on the way ([`Travel`]);
//! - `POST /__local/tick` runs one scheduled-sends tick at now and answers its report;
//! - `POST /__local/sweep` runs the dormancy sweep at now and answers its report.
//!
//! Errors have the admin API's shape, `{"error": {"code", "message", "field"?}}`.
use std::sync::Arc;

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    routing::{get, post},
};
use crm::{dormancy_sweep::SweepReport, http::CrmError, scheduled_sends::TickReport};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::time_travel::{TimeMachine, Travel, parse_advance};

pub fn router(machine: Arc<TimeMachine>) -> Router {
    Router::new()
        .route("/__local/clock", get(clock).post(move_clock))
        .route("/__local/tick", post(tick))
        .route("/__local/sweep", post(sweep))
        .with_state(machine)
}

async fn clock(State(machine): State<Arc<TimeMachine>>) -> Json<Value> {
    Json(json!({ "now": machine.now() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveClock {
    advance: Option<String>,
    to: Option<String>,
}

async fn move_clock(
    State(machine): State<Arc<TimeMachine>>,
    body: Bytes,
) -> Result<Json<Travel>, CrmError> {
    let req: MoveClock = serde_json::from_slice(&body).map_err(|e| {
        CrmError::BadRequest(format!(
            "expected {{\"advance\": \"3d\"}} or {{\"to\": \"<RFC 3339>\"}}: {e}"
        ))
    })?;
    let travel = match (req.advance, req.to) {
        (Some(advance), None) => {
            let by = parse_advance(&advance).map_err(|m| CrmError::invalid("advance", m))?;
            machine.advance(by).await?
        }
        (None, Some(to)) => {
            let to: Timestamp = to.parse().map_err(|e| {
                CrmError::invalid(
                    "to",
                    format!(
                        "not an RFC 3339 time with an offset ({e}); e.g. 2026-12-04T10:00:00+09:00"
                    ),
                )
            })?;
            machine.move_to(to).await?
        }
        _ => {
            return Err(CrmError::BadRequest(
                "give exactly one of \"advance\" and \"to\"".into(),
            ));
        }
    };
    Ok(Json(travel))
}

async fn tick(State(machine): State<Arc<TimeMachine>>) -> Result<Json<TickReport>, CrmError> {
    Ok(Json(machine.tick().await?))
}

async fn sweep(State(machine): State<Arc<TimeMachine>>) -> Result<Json<SweepReport>, CrmError> {
    Ok(Json(machine.sweep().await?))
}
