//! Authentication: from an `Authorization` header to a [`Principal`].

mod cache;
mod credentials;
mod password;
mod principal;
mod revocation;
mod secret;
mod throttle;
mod token;

use axum::http::HeaderValue;

pub use credentials::{Credentials, CredentialsError};
pub use password::Hasher;
pub use principal::{KeyPrincipal, Principal};
pub use revocation::until_revoked;
pub use secret::Secret;
pub use token::NewKeyPair;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache::{Lookup, VerifiedCache};
use throttle::{Throttle, ThrottleConfig, Verdict};

use crate::config::Limits;
use crate::error::Error;
use crate::last_used::LastUsed;
use crate::metrics::{self, AuthEndpoint, AuthOutcome};
use crate::store::{KeyState, Store};

/// Resolves the credentials of a request, once, into the caller.
#[derive(Clone)]
pub struct Authenticator {
    store: Store,
    hasher: Hasher,
    last_used: LastUsed,
    cache: Arc<VerifiedCache>,
    /// One slow-path verification at a time per username: concurrent
    /// requests with the same credentials (a client's first burst, or just
    /// after an epoch change) wait for the first verification and reuse it,
    /// and a flood of wrong secrets for one key runs argon2 one at a time.
    /// Entries live only while a verification is under way.
    in_flight: InFlight,
    throttle: Arc<Throttle>,
    /// Pause before a RATE_LIMITED answer (see `Limits`).
    throttle_delay: Duration,
}

impl Authenticator {
    pub fn new(store: Store, hasher: Hasher, last_used: LastUsed, limits: &Limits) -> Self {
        let throttle = Throttle::new(ThrottleConfig {
            per_username: limits.auth_failures_per_key,
            per_address: limits.auth_failures_per_address,
            window: Duration::from_secs(limits.auth_failure_window_secs),
            max_tracked: throttle::DEFAULT_MAX_TRACKED,
        });
        Self {
            store,
            hasher,
            last_used,
            cache: Arc::new(VerifiedCache::new(cache::DEFAULT_CAPACITY)),
            in_flight: Arc::default(),
            throttle: Arc::new(throttle),
            throttle_delay: Duration::from_millis(limits.auth_throttle_delay_ms),
        }
    }

    /// The caller behind `header`.
    ///
    /// While access control is off everyone is [`Principal::Anonymous`],
    /// whatever they send. Once it is on, anything but the admin's password or
    /// an active key's secret is [`Error::Unauthenticated`]; the reason is
    /// logged at debug level and never told to the client.
    ///
    /// Hot path: the settings row (access control and the auth epoch) from
    /// memory, where the store can prove it current (see the store's
    /// `auth_state`), then a cache hit: no database, no argon2. See [`cache`].
    /// Failures count against the username and the client address; past
    /// their limits requests are refused before argon2. See [`throttle`].
    ///
    /// Every authentication is counted under `endpoint` with its outcome
    /// (see [`metrics::auth_attempt`]).
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(
        &self,
        header: Option<&HeaderValue>,
        client: Option<IpAddr>,
        endpoint: AuthEndpoint,
    ) -> Result<Principal, Error> {
        let resolved = self.resolve(header, client).await;
        let outcome = match &resolved {
            Ok((_, outcome)) => *outcome,
            Err(Error::Unauthenticated) => AuthOutcome::Refused,
            Err(Error::RateLimited { .. }) => AuthOutcome::Throttled,
            Err(_) => AuthOutcome::Error,
        };
        metrics::auth_attempt(endpoint, outcome);
        resolved.map(|(principal, _)| principal)
    }

    /// [`Self::authenticate`], saying how the principal was admitted.
    async fn resolve(
        &self,
        header: Option<&HeaderValue>,
        client: Option<IpAddr>,
    ) -> Result<(Principal, AuthOutcome), Error> {
        // Current as of every revoking change that has returned, on every
        // replica: turning access control on or off, and every revocation,
        // hold from the very next request.
        let settings = self.store.settings().await?;
        if !settings.access_control_enabled {
            return Ok((Principal::Anonymous, AuthOutcome::Open));
        }
        let Some(header) = header else {
            tracing::debug!("refused: no Authorization header");
            return Err(Error::Unauthenticated);
        };
        let credentials = match Credentials::from_header(header) {
            Ok(credentials) => credentials,
            Err(cause) => {
                tracing::debug!(%cause, "refused: malformed Authorization header");
                self.throttle.record_failure(None, client);
                return Err(Error::Unauthenticated);
            }
        };
        let verdict = self.throttle.check(&credentials.username, client);
        if let Verdict::UsernameThrottled { retry_after } = verdict {
            // Before the cache: even the right secret is refused (no oracle).
            return Err(self.throttled(retry_after).await);
        }
        let epoch = settings.auth_epoch;
        let presented = self
            .cache
            .present(&credentials.username, &credentials.password);
        match self.cache.lookup(&presented, epoch) {
            Lookup::Fresh(principal) => return self.admit(principal, AuthOutcome::Cached),
            Lookup::Stale(principal) => match self.recheck(principal).await? {
                Some(principal) => {
                    self.cache.insert(presented, principal.clone(), epoch);
                    return self.admit(principal, AuthOutcome::Rechecked);
                }
                None => self.cache.remove(&presented),
            },
            Lookup::Miss => {}
        }
        let turn = Turn::take(&self.in_flight, &credentials.username);
        let held = turn.lock().await;
        // Whoever held the turn may have just verified these very credentials.
        if let Lookup::Fresh(principal) = self.cache.lookup(&presented, epoch) {
            return self.admit(principal, AuthOutcome::Cached);
        }
        // The allowance is taken before argon2 runs, under both the
        // username's and the address's limits at once, so that however many
        // requests are in flight, no more verifications run than the limits
        // allow (see `throttle`).
        let reservation = match self.throttle.reserve(&credentials.username, client) {
            Ok(reservation) => reservation,
            Err(retry_after) => {
                drop(held);
                return Err(self.throttled(retry_after).await);
            }
        };
        let principal = match self.verify(credentials, &settings).await {
            Ok(principal) => {
                reservation.refund(&self.throttle);
                principal
            }
            // The failure was counted by the reservation.
            Err(Error::Unauthenticated) => return Err(Error::Unauthenticated),
            Err(err) => {
                reservation.refund(&self.throttle);
                return Err(err);
            }
        };
        self.cache.insert(presented, principal.clone(), epoch);
        self.admit(principal, AuthOutcome::Verified)
    }

    /// Re-checks a verification from an earlier epoch against the database:
    /// the key must still exist, be active, and keep its project. The secret
    /// cannot have changed (a key pair never does), so no argon2 is needed.
    /// The admin is simply verified again.
    async fn recheck(&self, principal: Principal) -> Result<Option<Principal>, Error> {
        let Principal::ApiKey(key) = principal else {
            return Ok(None);
        };
        Ok(self
            .store
            .key(key.key_id)
            .await?
            .filter(|row| row.state == KeyState::Active)
            .map(|row| Principal::ApiKey(KeyPrincipal::from(row))))
    }

    /// The RATE_LIMITED error, after a pause: a flood of throttled requests
    /// then ties up connections (capped) rather than CPU.
    async fn throttled(&self, retry_after: Duration) -> Error {
        tracing::debug!(?retry_after, "refused: throttled");
        tokio::time::sleep(self.throttle_delay.min(retry_after)).await;
        Error::RateLimited { retry_after }
    }

    /// Lets `principal` in, noting a key's use, unless it is a key past its
    /// expiry: that is checked here, on every request, because the clock
    /// moves while cache entries and epochs do not.
    fn admit(
        &self,
        principal: Principal,
        how: AuthOutcome,
    ) -> Result<(Principal, AuthOutcome), Error> {
        if let Principal::ApiKey(key) = &principal {
            if key.expires_at.is_some_and(|at| at <= crate::store::now()) {
                tracing::debug!(key_id = key.key_id, "refused: key has expired");
                return Err(Error::Unauthenticated);
            }
            self.last_used.record(key.key_id);
        }
        Ok((principal, how))
    }

    /// The slow path: argon2 against the stored hash.
    async fn verify(
        &self,
        credentials: Credentials,
        settings: &crate::store::settings_entity::Model,
    ) -> Result<Principal, Error> {
        if settings.admin_username.as_deref() == Some(credentials.username.as_str()) {
            let stored = settings.admin_password_hash.clone();
            return if self.hasher.verify(stored, credentials.password).await? {
                Ok(Principal::Admin)
            } else {
                tracing::debug!("refused: wrong administrator password");
                Err(Error::Unauthenticated)
            };
        }

        let key = if token::looks_like_access_key(&credentials.username) {
            self.store.key_by_access_key(&credentials.username).await?
        } else {
            None
        };
        // Always verify, against a dummy hash if need be: see `Hasher`.
        let stored = key.as_ref().map(|key| key.secret_hash.clone());
        let secret_matches = self.hasher.verify(stored, credentials.password).await?;
        match key {
            Some(key) if secret_matches && key.state == KeyState::Active => {
                Ok(Principal::ApiKey(KeyPrincipal::from(key)))
            }
            Some(key) if secret_matches => {
                tracing::debug!(access_key = %key.access_key, "refused: key is inactive");
                Err(Error::Unauthenticated)
            }
            Some(key) => {
                tracing::debug!(access_key = %key.access_key, "refused: wrong secret key");
                self.store.record_failed_auth(key.id).await?;
                Err(Error::Unauthenticated)
            }
            None => {
                tracing::debug!("refused: unknown access key or username");
                Err(Error::Unauthenticated)
            }
        }
    }
}

type InFlight = Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>;

/// A request's place in line for a username's slow path. Dropping it (done,
/// failed, or the client went away) forgets the username once nobody else
/// waits, so the map only ever holds usernames being verified right now.
struct Turn {
    in_flight: InFlight,
    username: String,
    lock: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl Turn {
    fn take(in_flight: &InFlight, username: &str) -> Self {
        let mut map = in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let lock = Arc::clone(map.entry(username.to_owned()).or_default());
        Self {
            in_flight: Arc::clone(in_flight),
            username: username.to_owned(),
            lock: Some(lock),
        }
    }

    async fn lock(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        // Let go of our reference under the map's lock, where every other
        // reference is taken, so the count below cannot race.
        drop(self.lock.take());
        if map
            .get(&self.username)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            map.remove(&self.username);
        }
    }
}
