//! Functions whose behaviour is not built yet still start, log and answer plainly, so an operator
//! who deploys the stack sees "not configured yet" rather than a silent success.
use serde_json::{Value, json};

pub fn respond(function: &str, event: &Value) -> Value {
    let source = event
        .get("source")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let detail_type = event
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    tracing::warn!(
        function,
        source,
        detail_type,
        "invoked, but this function is not configured yet"
    );
    json!({
        "function": function,
        "status": "not_configured",
        "message": format!("{function} is not configured yet; the event was received and nothing was done"),
    })
}
