//! argon2id hashing and verification, off the async runtime.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::TryRngCore;
use rand::rngs::OsRng;
use tokio::sync::Semaphore;
use tracing::Span;

use super::Secret;
use crate::config::HashingConfig;
use crate::error::Error;

/// Hashes new secrets with the configured cost and verifies presented ones.
#[derive(Clone)]
pub struct Hasher {
    params: Params,
    /// Each argon2 run holds `m` KiB (19 MiB by default) and a core for tens
    /// of milliseconds. Bounding how many run at once bounds the memory and
    /// CPU a flood of wrong secrets can take; the rest wait without either.
    running: Arc<Semaphore>,
    /// Hash of a random secret that nobody knows, verified against when the
    /// username matches no one: an unknown access key then costs the same as
    /// a wrong secret, so response times do not reveal which keys exist.
    dummy_hash: Arc<str>,
}

impl Hasher {
    pub async fn new(config: HashingConfig) -> Result<Self, Error> {
        let params = Params::new(
            config.argon2_memory_kib,
            config.argon2_iterations,
            config.argon2_parallelism,
            None,
        )
        .map_err(|e| Error::internal(format!("invalid argon2 parameters: {e}")))?;
        let unknowable = Secret::new(super::token::random_string(b"abcdefghijklmnop", 32));
        let dummy_params = params.clone();
        let dummy_hash = blocking(move || hash_with(&dummy_params, &unknowable)).await??;
        Ok(Self {
            params,
            running: Arc::new(Semaphore::new(
                usize::try_from(config.argon2_max_concurrent)
                    .unwrap_or(1)
                    .max(1),
            )),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The argon2id PHC string of `secret`, with a fresh random salt.
    pub async fn hash(&self, secret: Secret) -> Result<String, Error> {
        let _turn = self.turn().await?;
        let params = self.params.clone();
        blocking(move || hash_with(&params, &secret)).await?
    }

    async fn turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, Error> {
        self.running
            .acquire()
            .await
            .map_err(|e| Error::internal(format!("argon2 limiter closed: {e}")))
    }

    /// Whether `secret` matches `stored`. With no stored hash, verifies against
    /// the dummy hash (and answers `false`) so that the caller spends the same
    /// time either way.
    pub async fn verify(&self, stored: Option<String>, secret: Secret) -> Result<bool, Error> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let _turn = self.turn().await?;
        let matched = blocking(move || {
            let parsed = PasswordHash::new(&hash)
                .map_err(|e| Error::internal(format!("stored hash is not a PHC string: {e}")))?;
            // Verification takes the algorithm and cost from the stored hash
            // and compares the outputs in constant time.
            Ok::<_, Error>(
                Argon2::default()
                    .verify_password(secret.expose().as_bytes(), &parsed)
                    .is_ok(),
            )
        })
        .await??;
        Ok(known && matched)
    }
}

fn hash_with(params: &Params, secret: &Secret) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|e| Error::internal(format!("no randomness for a salt: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::internal(e.to_string()))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(secret.expose().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::internal(format!("argon2 hashing failed: {e}")))
}

/// Runs CPU-heavy work on the blocking pool, inside the caller's span so its
/// log lines stay attached to the request.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    let span = Span::current();
    Ok(tokio::task::spawn_blocking(move || span.in_scope(work)).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn verifies_its_own_hashes_only_with_the_right_secret() {
        let hasher = Hasher::new(HashingConfig::INSECURE_FOR_TESTS)
            .await
            .expect("hasher");
        let hash = hasher.hash(Secret::new("right")).await.expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{hash}");
        assert!(!hash.contains("right"));
        let ok = hasher
            .verify(Some(hash.clone()), Secret::new("right"))
            .await;
        assert!(ok.expect("verify"));
        let wrong = hasher.verify(Some(hash), Secret::new("wrong")).await;
        assert!(!wrong.expect("verify"));
    }

    #[tokio::test]
    async fn unknown_users_never_verify() {
        let hasher = Hasher::new(HashingConfig::INSECURE_FOR_TESTS)
            .await
            .expect("hasher");
        assert!(!hasher.verify(None, Secret::new("x")).await.expect("verify"));
    }

    #[tokio::test]
    async fn default_cost_is_the_owasp_minimum() {
        let hasher = Hasher::new(HashingConfig::OWASP_MINIMUM)
            .await
            .expect("hasher");
        let hash = hasher.hash(Secret::new("s")).await.expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
    }
}
