//! The survey-tagging function (consumes SurveyAnswered and PurchaseRecorded from the bus).
use serde_json::Value;

pub async fn handle(event: Value) -> Value {
    crate::not_configured::respond("survey-tagging", &event)
}
