//! Tenant credentials (channel secrets, access tokens) are stored encrypted, by envelope
//! encryption: each value is sealed with AES-256-GCM under a data key, and the data key is kept
//! beside it wrapped by a master key that never leaves its keeper. In AWS the keeper is KMS
//! (`GenerateDataKey` once per warm function, `Decrypt` once per data key seen); in the local
//! stack and the tests it is a local AES key, so they run the same sealing, not a no-op.
//!
//! Sealed form: `v1.{wrapped data key}.{nonce}.{ciphertext}`, base64url. A table dump, a backup
//! or an index copy shows none of the values.
use std::{collections::HashMap, sync::Arc};

use aes_gcm::{
    Aes256Gcm, Key, Nonce,
    aead::{Aead, KeyInit},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use tokio::sync::{Mutex, OnceCell};

use crate::secret::Secret;

const VERSION: &str = "v1";
/// Binds KMS data keys to their use: a data key made for something else does not open these.
const CONTEXT: (&str, &str) = ("purpose", "tsunagu-tenant-credentials");

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("the key service failed: {0}")]
    KeyService(String),
    #[error("a sealed value is malformed or was altered")]
    Malformed,
}

/// Who keeps the master key.
pub enum Keeper {
    Kms {
        client: aws_sdk_kms::Client,
        key_id: String,
    },
    /// A 32-byte key held by the process (local stack, tests).
    Local(Box<Key<Aes256Gcm>>),
}

/// Seals and opens tenant credentials. Built once per process; data keys are cached.
pub struct Vault {
    keeper: Keeper,
    /// The data key new values are sealed under: (wrapped, plain).
    current: OnceCell<(Vec<u8>, Key<Aes256Gcm>)>,
    /// Data keys already unwrapped, by their wrapped bytes.
    opened: Mutex<HashMap<Vec<u8>, Key<Aes256Gcm>>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keeper = match self.keeper {
            Keeper::Kms { .. } => "kms",
            Keeper::Local(_) => "local",
        };
        f.debug_struct("Vault").field("keeper", &keeper).finish()
    }
}

impl Vault {
    pub fn new(keeper: Keeper) -> Arc<Self> {
        Arc::new(Self {
            keeper,
            current: OnceCell::new(),
            opened: Mutex::new(HashMap::new()),
        })
    }

    /// A local keeper whose master key is derived from `passphrase` (SHA-256).
    pub fn local(passphrase: &Secret) -> Arc<Self> {
        use sha2::{Digest, Sha256};
        let key: [u8; 32] = Sha256::digest(passphrase.expose().as_bytes()).into();
        Self::new(Keeper::Local(Box::new(key.into())))
    }

    pub async fn seal(&self, value: &str) -> Result<String, VaultError> {
        let (wrapped, key) = self.current.get_or_try_init(|| self.new_data_key()).await?;
        let (nonce, sealed) = encrypt(key, value.as_bytes())?;
        Ok(format!(
            "{VERSION}.{}.{}.{}",
            URL_SAFE_NO_PAD.encode(wrapped),
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(sealed)
        ))
    }

    pub async fn open(&self, sealed: &str) -> Result<Secret, VaultError> {
        let mut parts = sealed.split('.');
        let (Some(VERSION), Some(wrapped), Some(nonce), Some(data), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(VaultError::Malformed);
        };
        let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|_| VaultError::Malformed);
        let (wrapped, nonce, data) = (decode(wrapped)?, decode(nonce)?, decode(data)?);
        let key = self.data_key(&wrapped).await?;
        let plain = decrypt(&key, &nonce, &data)?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| VaultError::Malformed)
    }

    async fn new_data_key(&self) -> Result<(Vec<u8>, Key<Aes256Gcm>), VaultError> {
        match &self.keeper {
            Keeper::Kms { client, key_id } => {
                // SDK futures are large; boxed, they stay off the callers' stacks.
                let out = Box::pin(
                    client
                        .generate_data_key()
                        .key_id(key_id)
                        .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
                        .encryption_context(CONTEXT.0, CONTEXT.1)
                        .send(),
                )
                .await
                .map_err(|e| VaultError::KeyService(e.to_string()))?;
                let (Some(plain), Some(wrapped)) = (out.plaintext, out.ciphertext_blob) else {
                    return Err(VaultError::KeyService("no data key returned".into()));
                };
                Ok((wrapped.into_inner(), key_from(plain.as_ref())?))
            }
            Keeper::Local(master) => {
                let mut plain = [0u8; 32];
                rand::rng().fill_bytes(&mut plain);
                let (nonce, wrapped) = encrypt(master, &plain)?;
                Ok(([nonce.to_vec(), wrapped].concat(), plain.into()))
            }
        }
    }

    async fn data_key(&self, wrapped: &[u8]) -> Result<Key<Aes256Gcm>, VaultError> {
        if let Some(key) = self.opened.lock().await.get(wrapped) {
            return Ok(*key);
        }
        let key = match &self.keeper {
            Keeper::Kms { client, key_id } => {
                let out = Box::pin(
                    client
                        .decrypt()
                        .key_id(key_id)
                        .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(wrapped))
                        .encryption_context(CONTEXT.0, CONTEXT.1)
                        .send(),
                )
                .await
                .map_err(|e| VaultError::KeyService(e.to_string()))?;
                let plain = out
                    .plaintext
                    .ok_or_else(|| VaultError::KeyService("no plaintext returned".into()))?;
                key_from(plain.as_ref())?
            }
            Keeper::Local(master) => {
                if wrapped.len() < NONCE_LEN {
                    return Err(VaultError::Malformed);
                }
                let (nonce, sealed) = wrapped.split_at(NONCE_LEN);
                key_from(&decrypt(master, nonce, sealed)?)?
            }
        };
        self.opened.lock().await.insert(wrapped.to_vec(), key);
        Ok(key)
    }
}

const NONCE_LEN: usize = 12;

fn key_from(bytes: &[u8]) -> Result<Key<Aes256Gcm>, VaultError> {
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| VaultError::Malformed)?;
    Ok(bytes.into())
}

fn encrypt(key: &Key<Aes256Gcm>, plain: &[u8]) -> Result<([u8; NONCE_LEN], Vec<u8>), VaultError> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = Aes256Gcm::new(key)
        .encrypt(Nonce::from_slice(&nonce), plain)
        .map_err(|_| VaultError::Malformed)?;
    Ok((nonce, sealed))
}

fn decrypt(key: &Key<Aes256Gcm>, nonce: &[u8], sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
    if nonce.len() != NONCE_LEN {
        return Err(VaultError::Malformed);
    }
    Aes256Gcm::new(key)
        .decrypt(Nonce::from_slice(nonce), sealed)
        .map_err(|_| VaultError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sealed_value_opens_only_unaltered_and_only_with_its_master_key() {
        let vault = Vault::local(&Secret::new("dev-master"));
        let sealed = vault.seal("channel-secret-123").await.unwrap();
        assert!(sealed.starts_with("v1.") && !sealed.contains("channel-secret-123"));
        assert_eq!(
            vault.open(&sealed).await.unwrap().expose(),
            "channel-secret-123"
        );
        // Two values under the same data key still differ (fresh nonces).
        assert_ne!(
            vault.seal("x").await.unwrap(),
            vault.seal("x").await.unwrap()
        );

        let other = Vault::local(&Secret::new("another-master"));
        assert!(matches!(
            other.open(&sealed).await,
            Err(VaultError::Malformed)
        ));
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(vault.open(&altered).await.is_err());
        assert!(
            vault.open("channel-secret-123").await.is_err(),
            "plain text is not sealed"
        );
    }
}
