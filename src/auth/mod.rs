//! Authentication: from an `Authorization` header to a [`Principal`].

mod cache;
mod credentials;
pub mod oidc;
mod password;
mod principal;
mod revocation;
mod secret;
mod session;
mod throttle;
mod token;

use axum::http::HeaderValue;

pub use credentials::{Credentials, CredentialsError};
pub use password::Hasher;
pub use principal::{KeyPrincipal, PersonCredential, PersonPrincipal, Principal};
pub use revocation::until_revoked;
pub use secret::Secret;
pub use session::{COOKIE as SESSION_COOKIE, SessionPolicy, token_hash as secret_digest};
pub use token::{NewKeyPair, looks_like_access_key};

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
use crate::store::{KeyState, Store, UserState, user, user_session};
use crate::usage::{Client, Counted, Outcome, Usage};

/// The credentials a request presents, as its entry point found them.
#[derive(Clone, Copy, Debug)]
pub enum Credential<'a> {
    None,
    /// An `Authorization` header (Basic), wherever it travelled.
    Header(&'a HeaderValue),
    /// The value of the `keyward_session` cookie.
    Session(&'a Secret),
}

/// Where an authentication comes from, as its entry point found it.
#[derive(Clone, Copy, Debug)]
pub struct Attempt<'a> {
    /// The client's address (see `http::caller`).
    pub client: Option<IpAddr>,
    /// The request's `User-Agent`, as sent.
    pub user_agent: Option<&'a str>,
    /// The endpoint, for the authentication metrics.
    pub endpoint: AuthEndpoint,
}

/// An authenticated caller, and how a key's authentication was counted in
/// its usage (for [`Usage::forbid`], should the endpoint refuse it).
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub principal: Principal,
    pub counted: Option<Counted>,
}

/// A new browser session: the cookie's value (shown to the browser only)
/// and whose it is.
#[derive(Debug)]
pub struct SignedIn {
    pub token: Secret,
    pub user: user::Model,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Resolves the credentials of a request, once, into the caller.
#[derive(Clone)]
pub struct Authenticator {
    store: Store,
    hasher: Hasher,
    last_used: LastUsed,
    /// Every authentication of a key, counted by outcome (see `usage`).
    usage: Usage,
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
    sessions: SessionPolicy,
}

impl Authenticator {
    pub fn new(
        store: Store,
        hasher: Hasher,
        last_used: LastUsed,
        usage: Usage,
        limits: &Limits,
        sessions: SessionPolicy,
    ) -> Self {
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
            usage,
            cache: Arc::new(VerifiedCache::new(cache::DEFAULT_CAPACITY)),
            in_flight: Arc::default(),
            throttle: Arc::new(throttle),
            throttle_delay: Duration::from_millis(limits.auth_throttle_delay_ms),
            sessions,
        }
    }

    /// The caller behind `credential`.
    ///
    /// While access control is off everyone is [`Principal::Anonymous`],
    /// whatever they send. Once it is on, anything but an ACTIVE person's
    /// password or live session, or an active key's secret, is
    /// [`Error::Unauthenticated`]; the reason is logged at debug level and
    /// never told to the client.
    ///
    /// Hot path: the settings row (access control and the auth epoch) from
    /// memory, where the store can prove it current (see the store's
    /// `auth_state`), then a cache hit: no database, no argon2. See [`cache`].
    /// Failures count against the username and the client address; past
    /// their limits requests are refused before argon2. See [`throttle`].
    ///
    /// Every authentication is counted under `endpoint` with its outcome
    /// (see [`metrics::auth_attempt`]).
    pub async fn authenticate(
        &self,
        credential: Credential<'_>,
        client: Option<IpAddr>,
        endpoint: AuthEndpoint,
    ) -> Result<Principal, Error> {
        let attempt = Attempt {
            client,
            user_agent: None,
            endpoint,
        };
        self.authenticate_attempt(credential, attempt)
            .await
            .map(|authenticated| authenticated.principal)
    }

    /// [`Self::authenticate`], with the client's user agent, saying how a
    /// key's authentication was counted in its usage. Every authentication
    /// of a key is counted here or below (`admit`, `verify`, throttling):
    /// refused and throttled ones where they are refused, accepted ones
    /// here, once the key is known to be let in.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate_attempt(
        &self,
        credential: Credential<'_>,
        attempt: Attempt<'_>,
    ) -> Result<Authenticated, Error> {
        let resolved = self.resolve(credential, attempt.client).await;
        let outcome = match &resolved {
            Ok((_, outcome)) => *outcome,
            Err(Error::Unauthenticated) => AuthOutcome::Refused,
            Err(Error::RateLimited { .. }) => AuthOutcome::Throttled,
            Err(_) => AuthOutcome::Error,
        };
        metrics::auth_attempt(attempt.endpoint, outcome);
        let (principal, _) = resolved?;
        let counted = principal.key().and_then(|key| {
            let client = attempt.client.map(|address| Client {
                address,
                user_agent: attempt.user_agent,
            });
            self.usage
                .record(key.key_id, key.project_id, Outcome::Accepted, client)
        });
        Ok(Authenticated { principal, counted })
    }

    /// Usage counting, for the endpoints that refuse an authenticated key
    /// ([`Usage::forbid`]).
    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// [`Self::authenticate`], saying how the principal was admitted.
    async fn resolve(
        &self,
        credential: Credential<'_>,
        client: Option<IpAddr>,
    ) -> Result<(Principal, AuthOutcome), Error> {
        // Current as of every revoking change that has returned, on every
        // replica: turning access control on or off, and every revocation,
        // hold from the very next request.
        let settings = self.store.settings().await?;
        if !settings.access_control_enabled {
            return Ok((Principal::Anonymous, AuthOutcome::Open));
        }
        let header = match credential {
            Credential::Header(header) => header,
            Credential::Session(token) => {
                return self
                    .resolve_session(token, client, settings.auth_epoch)
                    .await;
            }
            Credential::None => {
                tracing::debug!("refused: no credentials");
                return Err(Error::Unauthenticated);
            }
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
            self.count_throttled(&credentials.username);
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
                self.count_throttled(&credentials.username);
                return Err(self.throttled(retry_after).await);
            }
        };
        let principal = match self.verify(credentials).await {
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

    /// Re-checks a verification from an earlier epoch against the database,
    /// without argon2: a key must still exist, be active, and keep its
    /// project (a key pair never changes); a person must still be ACTIVE,
    /// with the password hash they were verified against or the session
    /// they came in, and their memberships are read again.
    async fn recheck(&self, principal: Principal) -> Result<Option<Principal>, Error> {
        match principal {
            Principal::ApiKey(key) => Ok(self
                .store
                .key(key.key_id)
                .await?
                .filter(|row| row.state == KeyState::Active)
                .map(|row| Principal::ApiKey(KeyPrincipal::from(row)))),
            Principal::Person(person) => Ok(reload_person(&self.store, &person)
                .await?
                .map(Principal::Person)),
            Principal::Anonymous => Ok(None),
        }
    }

    async fn person(&self, user: user::Model, via: PersonCredential) -> Result<Principal, Error> {
        Ok(Principal::Person(person(&self.store, user, via).await?))
    }

    /// The caller behind a session cookie: from memory while the epoch
    /// holds, else the session's row. A session past its idle time or
    /// lifetime is ended (and refused); an active one's `last_seen_at`
    /// moves on at most about once a minute.
    async fn resolve_session(
        &self,
        token: &Secret,
        client: Option<IpAddr>,
        epoch: i64,
    ) -> Result<(Principal, AuthOutcome), Error> {
        let hash = session::token_hash(token);
        let presented = self.cache.present(&format!("\u{0}session {hash}"), token);
        let (principal, how) = match self.cache.lookup(&presented, epoch) {
            Lookup::Fresh(principal) => (principal, AuthOutcome::Cached),
            Lookup::Stale(principal) => match self.recheck(principal).await? {
                Some(principal) => (principal, AuthOutcome::Rechecked),
                None => {
                    self.cache.remove(&presented);
                    tracing::debug!("refused: the session has ended");
                    return Err(Error::Unauthenticated);
                }
            },
            Lookup::Miss => match self.store.session(&hash).await? {
                Some((session, user)) => (
                    self.person(user, session_credential(session)).await?,
                    AuthOutcome::Verified,
                ),
                None => {
                    tracing::debug!("refused: unknown session");
                    self.throttle.record_failure(None, client);
                    return Err(Error::Unauthenticated);
                }
            },
        };
        let now = crate::store::now();
        let Principal::Person(mut person) = principal else {
            return Err(Error::Unauthenticated);
        };
        let PersonCredential::Session {
            id,
            expires_at,
            last_seen_at,
            ..
        } = &mut person.via
        else {
            return Err(Error::Unauthenticated);
        };
        match self.sessions.liveness(*last_seen_at, *expires_at, now) {
            session::Liveness::Alive => {}
            session::Liveness::AliveTouch => {
                *last_seen_at = now;
                let (store, id) = (self.store.clone(), *id);
                // Off the request's path; a failed touch only shortens the
                // session by one interval at most.
                tokio::spawn(async move {
                    if let Err(err) = store.touch_session(id, now).await {
                        tracing::warn!(error = %err, "a session's last use was not recorded");
                    }
                });
            }
            session::Liveness::Over => {
                // Another replica may have seen it since: only the row says.
                let alive = self.store.session(&hash).await?.is_some_and(|(row, _)| {
                    self.sessions
                        .liveness(row.last_seen_at, row.expires_at, now)
                        != session::Liveness::Over
                });
                if !alive {
                    self.cache.remove(&presented);
                    self.store.end_session(&hash).await?;
                    tracing::debug!("refused: the session has expired");
                    return Err(Error::Unauthenticated);
                }
                *last_seen_at = now;
                self.store.touch_session(*id, now).await?;
            }
        }
        let principal = Principal::Person(person);
        self.cache.insert(presented, principal.clone(), epoch);
        Ok((principal, how))
    }

    /// Signs `username` in with `password`: a new session, whose cookie value
    /// is returned once. Refused exactly as a Basic failure is (the same
    /// throttles, the same time for an unknown username, the same answer
    /// for a DISABLED user).
    pub async fn sign_in(
        &self,
        username: &str,
        password: Secret,
        client: Option<IpAddr>,
    ) -> Result<SignedIn, Error> {
        let settings = self.store.settings().await?;
        if !settings.access_control_enabled {
            return Err(Error::Conflict(
                "access control is off: nobody needs to sign in".into(),
            ));
        }
        if let Verdict::UsernameThrottled { retry_after } = self.throttle.check(username, client) {
            return Err(self.throttled(retry_after).await);
        }
        let reservation = match self.throttle.reserve(username, client) {
            Ok(reservation) => reservation,
            Err(retry_after) => return Err(self.throttled(retry_after).await),
        };
        // A failure was counted by the reservation.
        let user = self.check_password(username, password).await?;
        reservation.refund(&self.throttle);
        let token = token::session_token();
        let expires_at = self.sessions.expires_at(crate::store::now());
        self.store
            .create_session(user.id, session::token_hash(&token), expires_at)
            .await?;
        Ok(SignedIn {
            token,
            user,
            expires_at,
        })
    }

    /// Signs in the person `identity` says, checked by `provider`'s ID
    /// token: their user (created at their first sign-in, if the access
    /// mode lets them in), their groups as the provider says now, and a new
    /// session, whose cookie value is returned once.
    pub async fn sign_in_through(
        &self,
        provider: &crate::store::identity_provider::Model,
        identity: crate::store::ProviderIdentity,
        client: Option<IpAddr>,
    ) -> Result<SignedIn, oidc::Failure> {
        use crate::store::SsoSignInOutcome;
        let token = token::session_token();
        let expires_at = self.sessions.expires_at(crate::store::now());
        let outcome = self
            .store
            .sign_in_identity(crate::store::SsoSignIn {
                provider,
                identity,
                token_hash: session::token_hash(&token),
                expires_at,
                client_address: client.map(|address| address.to_string()),
            })
            .await
            .map_err(|err| {
                tracing::warn!(error = %err, "a sign-in through an identity provider failed");
                oidc::Failure::Internal
            })?;
        match outcome {
            SsoSignInOutcome::SignedIn(user) => Ok(SignedIn {
                token,
                user,
                expires_at,
            }),
            SsoSignInOutcome::AccessControlOff => Err(oidc::Failure::AccessControlOff),
            SsoSignInOutcome::NotAllowed => Err(oidc::Failure::NotAllowed),
            SsoSignInOutcome::Disabled => Err(oidc::Failure::UserDisabled),
        }
    }

    /// Counts a sign-in through a provider started from `client`; refused
    /// past the address's allowance (see `throttle`).
    pub fn start_sign_in(&self, client: IpAddr) -> Result<(), oidc::Failure> {
        self.throttle.start_sign_in(client).map_err(|retry_after| {
            tracing::debug!(?retry_after, "refused: too many sign-ins started");
            oidc::Failure::TooManySignIns
        })
    }

    /// Ends the session of `token`, from the next request on every replica.
    pub async fn sign_out(&self, token: &Secret) -> Result<bool, Error> {
        self.store.end_session(&session::token_hash(token)).await
    }

    /// Counts a throttled authentication in the usage of the key
    /// `username` names, if it names one.
    fn count_throttled(&self, username: &str) {
        if token::looks_like_access_key(username) {
            self.usage.throttled(username);
        }
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
                self.usage
                    .record(key.key_id, key.project_id, Outcome::Refused, None);
                return Err(Error::Unauthenticated);
            }
            self.last_used.record(key.key_id);
        }
        Ok((principal, how))
    }

    /// The slow path: argon2 against the stored hash of the key or person
    /// the username names (a dummy hash if none: see `Hasher`).
    async fn verify(&self, credentials: Credentials) -> Result<Principal, Error> {
        // A username shaped like an access key names a key or nobody:
        // people cannot have such usernames (`createUser` refuses them), so
        // a flood of made-up access keys costs one indexed read each, not two.
        if !token::looks_like_access_key(&credentials.username) {
            return self.verify_person(credentials).await;
        }
        let key = self.store.key_by_access_key(&credentials.username).await?;
        // Always verify, against a dummy hash if need be: see `Hasher`.
        let stored = key.as_ref().map(|key| key.secret_hash.clone());
        let secret_matches = self.hasher.verify(stored, credentials.password).await?;
        match key {
            Some(key) if secret_matches && key.state == KeyState::Active => {
                Ok(Principal::ApiKey(KeyPrincipal::from(key)))
            }
            Some(key) if secret_matches => {
                tracing::debug!(access_key = %key.access_key, "refused: key is inactive");
                self.usage
                    .record(key.id, key.project_id, Outcome::Refused, None);
                Err(Error::Unauthenticated)
            }
            Some(key) => {
                tracing::debug!(access_key = %key.access_key, "refused: wrong secret key");
                self.usage
                    .record(key.id, key.project_id, Outcome::Refused, None);
                self.store.record_failed_auth(key.id).await?;
                Err(Error::Unauthenticated)
            }
            None => {
                tracing::debug!("refused: unknown access key or username");
                Err(Error::Unauthenticated)
            }
        }
    }

    /// A person's Basic credentials: their username and password.
    async fn verify_person(&self, credentials: Credentials) -> Result<Principal, Error> {
        let user = self
            .check_password(&credentials.username, credentials.password)
            .await?;
        let hash = user.password_hash.clone().unwrap_or_default();
        self.person(user, PersonCredential::Password { hash }).await
    }

    /// The ACTIVE user `username` names, if `password` is theirs; argon2
    /// runs whatever the username (against a dummy hash if need be: see
    /// `Hasher`), and a DISABLED user is refused as a wrong password is.
    /// Shared by Basic credentials and sign-in, which must answer alike.
    async fn check_password(&self, username: &str, password: Secret) -> Result<user::Model, Error> {
        let user = self.store.user_by_username(username).await?;
        let stored = user.as_ref().and_then(|user| user.password_hash.clone());
        let matches = self.hasher.verify(stored, password).await?;
        match user {
            Some(user) if matches && user.state == UserState::Active => Ok(user),
            Some(_) if matches => {
                tracing::debug!("refused: the user is disabled");
                Err(Error::Unauthenticated)
            }
            Some(_) => {
                tracing::debug!("refused: wrong password");
                Err(Error::Unauthenticated)
            }
            None => {
                tracing::debug!("refused: unknown access key or username");
                Err(Error::Unauthenticated)
            }
        }
    }
}

/// The principal of `user`, ACTIVE, with their memberships as stored now:
/// their own, raised by those of the groups they were in at their last
/// sign-in.
async fn person(
    store: &Store,
    user: user::Model,
    via: PersonCredential,
) -> Result<PersonPrincipal, Error> {
    let groups = store.groups_of(user.id).await?;
    let mut memberships = store.roles_through_groups(&groups).await?;
    for member in store.memberships_of(user.id).await? {
        crate::store::raise_role(&mut memberships, member.project_id, member.role);
    }
    Ok(PersonPrincipal {
        user_id: user.id,
        username: user.username,
        administrator: user.administrator,
        memberships: Arc::new(memberships),
        groups: Arc::new(groups),
        via,
    })
}

/// `person` as the database has them now, if they would still be let in:
/// ACTIVE, with the password hash they were verified against (a new
/// password invalidates a Basic verification) or the session they came in
/// (still there), and with their memberships read again.
pub(crate) async fn reload_person(
    store: &Store,
    person: &PersonPrincipal,
) -> Result<Option<PersonPrincipal>, Error> {
    match &person.via {
        PersonCredential::Password { hash } => {
            let user = store.user(person.user_id).await?.filter(|user| {
                user.state == UserState::Active
                    && user.password_hash.as_deref() == Some(hash.as_str())
            });
            match user {
                Some(user) => {
                    let via = PersonCredential::Password { hash: hash.clone() };
                    Ok(Some(self::person(store, user, via).await?))
                }
                None => Ok(None),
            }
        }
        PersonCredential::Session { token_hash, .. } => match store.session(token_hash).await? {
            Some((session, user)) => Ok(Some(
                self::person(store, user, session_credential(session)).await?,
            )),
            None => Ok(None),
        },
    }
}

/// A session's row as a person's credential.
fn session_credential(session: user_session::Model) -> PersonCredential {
    PersonCredential::Session {
        id: session.id,
        token_hash: session.token_hash,
        expires_at: session.expires_at,
        last_seen_at: session.last_seen_at,
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
