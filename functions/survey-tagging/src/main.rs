//! The survey-tagging Lambda: wiring only; the handler lives in `crm::survey_tagging`.
use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    crm::Config::from_env()?;
    run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(crm::survey_tagging::handle(event.payload).await)
    }))
    .await
}
