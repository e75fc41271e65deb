//! The dormancy-sweep Lambda: wiring only; the sweep lives in `crm::dormancy_sweep`.
// The sweep's future (days, the backfill's concurrent placements, the digest) is deep enough
// that laying out this handler's future exceeds rustc's default query depth of 128.
#![recursion_limit = "256"]
use std::sync::Arc;

use lambda_runtime::{Diagnostic, Error, LambdaEvent, run, service_fn, tracing};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = crm::Config::from_env()?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let deps = crm::Deps::new(config, &aws, Arc::new(crm::clock::SystemClock))?;
    let deps = &deps;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let report = crm::dormancy_sweep::handle(deps, event.payload)
            .await
            .map_err(crm::job::diagnostic)?;
        serde_json::to_value(report).map_err(|e| Diagnostic {
            error_type: "Permanent".into(),
            error_message: e.to_string(),
        })
    }))
    .await
}
