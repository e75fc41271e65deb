//! The dormancy-sweep function (daily: moves friends into dormancy tiers).
use serde_json::Value;

pub async fn handle(event: Value) -> Value {
    crate::not_configured::respond("dormancy-sweep", &event)
}
