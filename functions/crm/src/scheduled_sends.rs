//! The scheduled-sends function (every minute: claims due steps and broadcasts and sends them).
use serde_json::Value;

pub async fn handle(event: Value) -> Value {
    crate::not_configured::respond("scheduled-sends", &event)
}
