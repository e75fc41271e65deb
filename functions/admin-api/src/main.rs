//! The admin-api Lambda: wiring only. The same axum Router runs in the local stack.
use std::sync::Arc;

use lambda_http::{Error, run, tracing};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    // A bad deploy fails here, once, naming the variable.
    let config = crm::Config::from_env()?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let deps = crm::Deps::new(config, &aws, Arc::new(crm::clock::SystemClock))?;
    // The web console shares the function: same deps, its own routes under /console.
    run(crm::admin_api::router(deps.clone()).merge(crm::console::router(deps))).await
}
