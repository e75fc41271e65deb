//! Everything a handler needs, built once per cold start and lent to every invocation.
use std::{sync::Arc, time::Duration};

use crate::{
    clock::Clock,
    config::{Config, VaultKey},
    line::client::LineClient,
    store::Store,
    vault::{Keeper, Vault},
};

/// No bus here: handlers write their domain events to the outbox, and only the relay publishes.
#[derive(Clone)]
pub struct Deps {
    pub store: Store,
    pub line: LineClient,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
}

impl Deps {
    /// Wires the AWS clients named by `config`.
    pub fn new(
        config: Config,
        aws: &aws_config::SdkConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, DepsError> {
        let vault = match &config.vault_key {
            VaultKey::Kms(key_id) => Vault::new(Keeper::Kms {
                client: aws_sdk_kms::Client::new(aws),
                key_id: key_id.clone(),
            }),
            VaultKey::Local(passphrase) => Vault::local(passphrase),
        };
        Ok(Self {
            store: Store::new(
                aws_sdk_dynamodb::Client::new(aws),
                config.table_name.clone(),
                vault,
            ),
            line: LineClient::new(line_http_client()?, config.line_api_base.clone()),
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
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}
