//! argon2id hashing and verification, off the async runtime.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::TryRngCore;
use rand::rngs::OsRng;
use std::sync::{Mutex, mpsc};

use tokio::sync::oneshot;
use tracing::Span;

use super::Secret;
use crate::config::HashingConfig;
use crate::error::Error;

/// Hashes new secrets with the configured cost and verifies presented ones.
#[derive(Clone)]
pub struct Hasher {
    params: Params,
    /// Each argon2 run holds `m` KiB (19 MiB by default) and a core for tens
    /// of milliseconds. Runs happen only on these few threads, so a flood of
    /// wrong secrets can take no more memory and CPU than they have (the rest
    /// wait in the queue without either); and freed argon2 memory is reused
    /// by the same few threads instead of piling up in the allocator's
    /// per-thread arenas, as it would across tokio's blocking pool.
    workers: Workers,
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
        let workers = Workers::start(config.argon2_max_concurrent)?;
        let unknowable = Secret::new(super::token::random_string(b"abcdefghijklmnop", 32));
        let dummy_params = params.clone();
        let dummy_hash = workers
            .run(move || hash_with(&dummy_params, &unknowable))
            .await??;
        Ok(Self {
            params,
            workers,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The argon2id PHC string of `secret`, with a fresh random salt.
    pub async fn hash(&self, secret: Secret) -> Result<String, Error> {
        let params = self.params.clone();
        self.workers
            .run(move || hash_with(&params, &secret))
            .await?
    }

    /// Whether `secret` matches `stored`. With no stored hash, verifies against
    /// the dummy hash (and answers `false`) so that the caller spends the same
    /// time either way.
    pub async fn verify(&self, stored: Option<String>, secret: Secret) -> Result<bool, Error> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let matched = self
            .workers
            .run(move || {
                let parsed = PasswordHash::new(&hash).map_err(|e| {
                    Error::internal(format!("stored hash is not a PHC string: {e}"))
                })?;
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

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads that run argon2, fed by one queue.
#[derive(Clone)]
struct Workers {
    queue: mpsc::Sender<Job>,
}

impl Workers {
    fn start(threads: u32) -> Result<Self, Error> {
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..threads.max(1) {
            let jobs = Arc::clone(&jobs);
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    loop {
                        // Ends when every `Workers` handle has been dropped.
                        let job = match jobs.lock() {
                            Ok(jobs) => jobs.recv(),
                            Err(poisoned) => poisoned.into_inner().recv(),
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => break,
                        }
                    }
                })
                .map_err(|e| Error::internal(format!("cannot start an argon2 thread: {e}")))?;
        }
        Ok(Self { queue })
    }

    /// Runs `work` on a worker, inside the caller's span so that its log
    /// lines stay attached to the request.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let span = Span::current();
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| span.in_scope(work)));
            // The caller may have gone away (client disconnected); fine.
            let _ = done.send(outcome);
        });
        self.queue
            .send(job)
            .map_err(|_| Error::internal("the argon2 threads are gone"))?;
        match result.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_panic)) => Err(Error::internal("argon2 computation panicked")),
            Err(_) => Err(Error::internal("the argon2 thread dropped the job")),
        }
    }
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
