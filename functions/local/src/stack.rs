//! Building blocks of the local stack: DynamoDB Local, the table from template.yaml, the demo
//! tenant and its keys.
use crm::{
    domain::{
        DeliveryWindow, Tenant, TenantId,
        staff::{Email, Role, StaffMember},
    },
    secret::Secret,
    store::{Store, StoreError, schema::TableSpec},
};

/// The SAM template; its `Table` resource is the one schema definition.
pub const TEMPLATE: &str = include_str!("../../../template.yaml");

pub const DEFAULT_TABLE: &str = "tsunagu-local";

/// AWS config for DynamoDB Local: the endpoint comes from `AWS_ENDPOINT_URL_DYNAMODB` (set by
/// infra/env.sh); region and dummy credentials are filled in when absent.
/// The key the local stack seals tenant credentials with: `LOCAL_VAULT_KEY`, or the fixed
/// development passphrase (the seed and the server must agree, so both read it here).
pub fn vault_key() -> crm::config::VaultKey {
    match std::env::var("LOCAL_VAULT_KEY") {
        Ok(passphrase) if !passphrase.trim().is_empty() => {
            crm::config::VaultKey::Local(crm::secret::Secret::new(passphrase))
        }
        _ => crm::config::VaultKey::local_default(),
    }
}

pub async fn aws_config() -> aws_config::SdkConfig {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .unwrap_or_else(|_| "http://127.0.0.1:8000".to_owned());
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(
            std::env::var("AWS_REGION").unwrap_or_else(|_| "ap-northeast-1".to_owned()),
        ));
    if std::env::var("AWS_ACCESS_KEY_ID").is_err() {
        // DynamoDB Local accepts any credentials, but the SDK insists on having some.
        let local = aws_sdk_dynamodb::config::Credentials::new(
            "local",
            "local",
            None,
            None,
            "tsunagu-local",
        );
        loader = loader.credentials_provider(local);
    }
    loader.load().await
}

/// Creates the table from template.yaml unless it exists. A clear message if DynamoDB Local is down.
pub async fn ensure_table(client: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<()> {
    let spec = TableSpec::from_template(TEMPLATE)?;
    crm::store::schema::ensure_table(client, table, &spec).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot reach DynamoDB Local to create table {table} ({e}); start it with `bash infra/dynamodb-local.sh start`"
        )
    })?;
    Ok(())
}

/// The demo tenant's settings: id `demo`, secrets from the environment with printed defaults.
#[derive(Debug, Clone)]
pub struct Demo {
    pub tenant: TenantId,
    pub channel_secret: String,
    pub access_token: String,
    pub api_key: String,
    pub operator_key: String,
    /// The demo shop's console owner.
    pub owner_email: String,
    pub owner_password: String,
}

impl Demo {
    pub fn from_env() -> anyhow::Result<Self> {
        let var =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        Ok(Self {
            tenant: TenantId::parse("demo")?,
            channel_secret: var("DEMO_CHANNEL_SECRET", "demo-channel-secret-change-me"),
            access_token: var("DEMO_ACCESS_TOKEN", "demo-access-token-change-me"),
            api_key: var("DEMO_API_KEY", "demo-api-key-change-me"),
            operator_key: var("OPERATOR_KEY", "operator-key-change-me"),
            owner_email: var("DEMO_OWNER_EMAIL", "owner@demo.example"),
            owner_password: var("DEMO_OWNER_PASSWORD", "tsunagu-demo-2026"),
        })
    }

    /// Writes the demo tenant, its API key and console owner (idempotent: a restart rewrites the same items).
    pub async fn seed(&self, store: &Store, now: jiff::Timestamp) -> anyhow::Result<()> {
        let tenant = Tenant {
            id: self.tenant.clone(),
            name: "Demo shop".into(),
            channel_id: None,
            channel_secret: Secret::new(self.channel_secret.clone()),
            access_token: Secret::new(self.access_token.clone()),
            zone: crm::domain::tenant::DEFAULT_ZONE.into(),
            delivery_window: DeliveryWindow::default(),
            daily_cap: None,
            quota_exhausted_at: None,
            message_text_retention_days: Some(crm::domain::tenant::DEFAULT_TEXT_RETENTION_DAYS),
            created_at: now,
        };
        store.put_tenant(&tenant).await?;
        let key = crm::admin_api::key_listing(&self.api_key, "demo", now);
        let hash = crm::admin_api::hash_key(&self.api_key);
        // The demo key is the shop's own (no cap); after a restart it is there already.
        match store.add_api_key(&self.tenant, &hash, &key, u32::MAX).await {
            Ok(_) | Err(StoreError::AlreadyExists) => {}
            Err(e) => return Err(e.into()),
        }
        self.seed_owner(store, now).await
    }

    /// The demo shop's console owner; after a restart the owner is there already (and keeps the
    /// password it was created with).
    async fn seed_owner(&self, store: &Store, now: jiff::Timestamp) -> anyhow::Result<()> {
        let email = Email::parse(&self.owner_email)
            .map_err(|e| anyhow::anyhow!("DEMO_OWNER_EMAIL: {e}"))?;
        if store.staff_by_email(&email).await?.is_some() {
            return Ok(());
        }
        let digest = crm::console::password_digest(self.owner_password.clone())
            .await
            .map_err(|e| anyhow::anyhow!("DEMO_OWNER_PASSWORD: {e}"))?;
        let owner = StaffMember::new(self.tenant.clone(), email, Role::Owner, Some(digest), now);
        store.add_staff(&owner, None).await?;
        Ok(())
    }
}
