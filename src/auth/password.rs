//! argon2id hashing and verification, off the async runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::cell::RefCell;

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};
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
    /// Verifications run so far, dummy ones included: what the throttle
    /// bounds, and what its tests count.
    verifications: Arc<AtomicU64>,
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
            verifications: Arc::default(),
        })
    }

    /// The argon2id PHC string of `secret`, with a fresh random salt.
    pub async fn hash(&self, secret: Secret) -> Result<String, Error> {
        let params = self.params.clone();
        self.workers
            .run(move || hash_with(&params, &secret))
            .await?
    }

    /// How many verifications this hasher has run.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Whether `secret` matches `stored`. With no stored hash, verifies against
    /// the dummy hash (and answers `false`) so that the caller spends the same
    /// time either way.
    pub async fn verify(&self, stored: Option<String>, secret: Secret) -> Result<bool, Error> {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let matched = self
            .workers
            .run(move || verify_with(&hash, &secret))
            .await??;
        Ok(known && matched)
    }
}

/// Length of the argon2 output we store.
const OUTPUT_LEN: usize = 32;

thread_local! {
    /// This worker thread's argon2 memory: allocated once, at the largest cost
    /// seen, and reused by every computation on the thread. Allocating and
    /// freeing 19 MiB per verification instead leaves the freed memory in the
    /// allocator's arenas, and resident memory climbs with every run.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// argon2id of `password` and `salt` into `out`, in this thread's memory.
fn argon2_into(params: &Params, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<(), Error> {
    let blocks = params.block_count();
    MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
            .map_err(|e| Error::internal(format!("argon2 failed: {e}")))
    })
}

/// A PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) for `secret`, with a
/// fresh random salt.
fn hash_with(params: &Params, secret: &Secret) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|e| Error::internal(format!("no randomness for a salt: {e}")))?;
    let mut out = [0u8; OUTPUT_LEN];
    argon2_into(params, secret.expose().as_bytes(), &salt, &mut out)?;
    let salt = SaltString::encode_b64(&salt).map_err(phc_error)?;
    let out = Output::new(&out).map_err(phc_error)?;
    Ok(format!(
        "${}$v={}$m={},t={},p={}${}${}",
        ARGON2ID_IDENT.as_str(),
        u32::from(Version::V0x13),
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        salt.as_str(),
        out
    ))
}

/// Whether `secret` matches the PHC string `stored`. The cost comes from the
/// stored hash; the outputs are compared in constant time.
fn verify_with(stored: &str, secret: &Secret) -> Result<bool, Error> {
    let parsed = PasswordHash::new(stored).map_err(phc_error)?;
    if parsed.algorithm != ARGON2ID_IDENT || parsed.version != Some(u32::from(Version::V0x13)) {
        return Err(Error::internal("stored hash is not argon2id v19"));
    }
    let params = Params::try_from(&parsed).map_err(phc_error)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(Error::internal("stored hash lacks a salt or an output"));
    };
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(phc_error)?;
    let mut out = vec![0u8; expected.len()];
    argon2_into(&params, secret.expose().as_bytes(), salt, &mut out)?;
    // `Output`'s equality is constant-time.
    Ok(Output::new(&out).map_err(phc_error)? == expected)
}

fn phc_error(err: argon2::password_hash::Error) -> Error {
    Error::internal(format!("PHC string: {err}"))
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
        // Queued or running until this returns (or its caller goes away).
        let _in_flight = crate::metrics::argon2_in_flight();
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let started = std::time::Instant::now();
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| span.in_scope(work)));
            crate::metrics::argon2_duration(started.elapsed());
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
