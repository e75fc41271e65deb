//! Everything a handler needs, built once per cold start and lent to every invocation.
use std::{sync::Arc, time::Duration};

use crate::{
    bus::{EventBridgeBus, EventBus},
    clock::Clock,
    config::Config,
    line::client::LineClient,
    store::Store,
};

#[derive(Clone)]
pub struct Deps {
    pub store: Store,
    pub line: LineClient,
    pub bus: Arc<dyn EventBus>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
}

impl Deps {
    /// Wires the AWS clients named by `config`; the bus is EventBridge when `BUS_NAME` is set,
    /// otherwise `fallback_bus` (the local stack's in-process router).
    pub fn new(
        config: Config,
        aws: &aws_config::SdkConfig,
        clock: Arc<dyn Clock>,
        fallback_bus: Option<Arc<dyn EventBus>>,
    ) -> Result<Self, DepsError> {
        let bus: Arc<dyn EventBus> = match (&config.bus_name, fallback_bus) {
            (Some(name), _) => Arc::new(EventBridgeBus::new(
                aws_sdk_eventbridge::Client::new(aws),
                name,
            )),
            (None, Some(bus)) => bus,
            (None, None) => return Err(DepsError::NoBus),
        };
        Ok(Self {
            store: Store::new(
                aws_sdk_dynamodb::Client::new(aws),
                config.table_name.clone(),
            ),
            line: LineClient::new(line_http_client()?, config.line_api_base.clone()),
            bus,
            clock,
            config: Arc::new(config),
        })
    }
}

/// One HTTP client per process: TLS setup and connection pooling are paid once, not per call.
pub fn line_http_client() -> Result<reqwest::Client, DepsError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("tsunagu/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| DepsError::Http(e.to_string()))
}

#[derive(Debug, thiserror::Error)]
pub enum DepsError {
    #[error("BUS_NAME is not set and no in-process bus was given")]
    NoBus,
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}
