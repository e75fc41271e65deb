//! Settings read once, in `main`, from the function's environment. Nothing reads env vars later.
use url::Url;

use crate::secret::Secret;

/// Who keeps the master key that wraps tenant credentials (see `crate::vault`).
#[derive(Debug, Clone)]
pub enum VaultKey {
    /// `KMS_KEY_ID`: the deployed stack's KMS key.
    Kms(String),
    /// `LOCAL_VAULT_KEY`: a passphrase the local stack and the tests derive a key from.
    Local(Secret),
}

impl VaultKey {
    /// The local stack's and the tests' key when `LOCAL_VAULT_KEY` is not set.
    pub fn local_default() -> Self {
        Self::Local(Secret::new("tsunagu-local-development-only"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is malformed: {reason}")]
    Malformed { name: &'static str, reason: String },
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The single DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// The custom EventBridge bus (`BUS_NAME`); absent where events stay in-process.
    pub bus_name: Option<String>,
    /// LINE Messaging API base (`LINE_API_BASE`, default https://api.line.me).
    pub line_api_base: Url,
    /// Public base URL of the HTTP API (`PUBLIC_BASE_URL`), used to tell a new tenant its webhook URL.
    pub public_base_url: Option<Url>,
    /// Hex SHA-256 of the operator's admin key (`OPERATOR_KEY_SHA256`); without it no one can create tenants.
    pub operator_key_sha256: Option<String>,
    /// Tenant-given URLs (staff webhooks) may point at loopback (`ALLOW_LOOPBACK_WEBHOOKS=true`):
    /// only the local stack and the tests set it, where the receivers listen on 127.0.0.1.
    pub allow_loopback_webhooks: bool,
    /// Where tenant credentials' master key is kept: KMS in AWS, a local key elsewhere.
    pub vault_key: VaultKey,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// The same parsing over any source of variables, so it is testable without touching the process env.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let url = |name: &'static str, value: String| {
            Url::parse(&value).map_err(|e| ConfigError::Malformed {
                name,
                reason: e.to_string(),
            })
        };
        let table_name = get("TABLE_NAME").ok_or(ConfigError::Missing("TABLE_NAME"))?;
        let line_api_base = url(
            "LINE_API_BASE",
            get("LINE_API_BASE").unwrap_or_else(|| "https://api.line.me".into()),
        )?;
        let public_base_url = get("PUBLIC_BASE_URL")
            .map(|v| url("PUBLIC_BASE_URL", v))
            .transpose()?;
        let operator_key_sha256 = match get("OPERATOR_KEY_SHA256") {
            Some(h) if h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()) => {
                Some(h.to_ascii_lowercase())
            }
            Some(_) => {
                return Err(ConfigError::Malformed {
                    name: "OPERATOR_KEY_SHA256",
                    reason: "expected 64 hex characters (sha256 of the operator key)".into(),
                });
            }
            None => None,
        };
        let vault_key = match (get("KMS_KEY_ID"), get("LOCAL_VAULT_KEY")) {
            (Some(id), _) => VaultKey::Kms(id),
            (None, Some(passphrase)) => VaultKey::Local(Secret::new(passphrase)),
            // Credentials are never stored in the clear: no key, no start.
            (None, None) => return Err(ConfigError::Missing("KMS_KEY_ID")),
        };
        Ok(Self {
            table_name,
            bus_name: get("BUS_NAME"),
            line_api_base,
            public_base_url,
            operator_key_sha256,
            allow_loopback_webhooks: get("ALLOW_LOOPBACK_WEBHOOKS").as_deref() == Some("true"),
            vault_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_table_name_is_named() {
        let err = Config::from_lookup(|_| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable TABLE_NAME is not set"
        );
    }

    #[test]
    fn a_bad_operator_hash_is_named() {
        let err = Config::from_lookup(|n| match n {
            "TABLE_NAME" => Some("crm".into()),
            "LOCAL_VAULT_KEY" => Some("dev".into()),
            "OPERATOR_KEY_SHA256" => Some("nope".into()),
            _ => None,
        })
        .unwrap_err();
        assert!(err.to_string().contains("OPERATOR_KEY_SHA256"));
    }

    #[test]
    fn defaults_point_at_line() {
        let c = Config::from_lookup(|n| match n {
            "TABLE_NAME" => Some("crm".into()),
            "KMS_KEY_ID" => Some("alias/tsunagu".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.line_api_base.as_str(), "https://api.line.me/");
        assert!(c.bus_name.is_none());
        assert!(matches!(c.vault_key, VaultKey::Kms(id) if id == "alias/tsunagu"));
    }

    #[test]
    fn without_a_key_for_credentials_nothing_starts() {
        let err = Config::from_lookup(|n| (n == "TABLE_NAME").then(|| "crm".into())).unwrap_err();
        assert!(err.to_string().contains("KMS_KEY_ID"));
    }
}
