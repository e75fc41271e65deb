//! The survey-tagging Lambda: wiring only; the handler lives in `crm::survey_tagging`.
use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = crm::Config::from_env()?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let deps = crm::Deps::new(config, &aws, Arc::new(crm::clock::SystemClock))?;
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        // An error makes Lambda retry the event; applying it again changes nothing.
        crm::survey_tagging::handle(deps, event.payload)
            .await
            .map_err(crm::job::diagnostic)
    }))
    .await
}
