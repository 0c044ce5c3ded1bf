//! keyward: a GraphQL server for project-scoped API keys.
//!
//! [`Application::build`] wires the pieces together: the [`store`] (SeaORM,
//! migrated at start-up), [`auth`] (Basic credentials to a principal), the
//! [`graphql`] schema, and the [`http`] routes.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod expiry_warnings;
pub mod graphql;
pub mod http;
pub mod ids;
mod last_used;
pub mod listener;
pub mod logging;
pub mod metrics;
pub mod scopes;
pub mod store;
mod tasks;
mod usage;
pub mod validation;
pub mod webhooks;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{Config, DatabaseOptions, HashingConfig};
pub use error::Error;
pub use graphql::sdl;

use auth::{Authenticator, Hasher};
use graphql::Services;
use last_used::LastUsed;
use store::Store;

/// Why the server could not start.
///
/// Beside [`Application::build`], which alone returns it, rather than in
/// [`error`]: it names the store's migration status and lock, and `error`
/// is below `store`.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sea_orm::DbErr),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] sea_orm::DbErr),
    /// `--no-migrate`, on a database whose migrations are not this binary's.
    #[error(
        "the database is not at this keyward's migrations, and --no-migrate is set: it is {0}; {remedy}",
        remedy = .0.remedy()
    )]
    NotMigrated(store::MigrationStatus),
    /// `--no-migrate`, on a SQLite file that does not exist.
    #[error(
        "the SQLite database {} does not exist, and --no-migrate is set: create it with \
         `keyward migrate` first (or start the server without --no-migrate)",
        .0.display()
    )]
    NoDatabase(std::path::PathBuf),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    DatabaseInUse(#[from] store::LockError),
    #[error(transparent)]
    Other(#[from] Error),
}

/// A running server.
pub struct Application {
    local_addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<()>,
    last_used_writer: JoinHandle<()>,
    /// Writes usage counts in batches, and the last of them at a stop.
    usage_writer: usage::UsageWriter,
    tasks: tasks::Tasks,
    /// Delivers the webhook outbox.
    webhook_worker: JoinHandle<()>,
    /// For [`Application::argon2_verifications`].
    hasher: Hasher,
    /// Closes open WebSockets on stop.
    websockets: tokio_util::sync::CancellationToken,
    /// Serves `/metrics`, with `--metrics-listen`.
    metrics: Option<metrics::MetricsServer>,
    /// Summaries of refused mutations, written at a stop.
    refusals: graphql::RefusalBudget,
    /// For [`Application::request_statements`].
    store: Store,
    /// Released last, when everything that used the database has stopped.
    database_lock: store::DatabaseLock,
}

impl Application {
    /// Connects to and migrates the database, then starts serving.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        if config.no_migrate {
            // Before the lock and the connection, which would create the
            // file (and one beside it): --no-migrate changes no database,
            // an empty one included.
            if let Some(file) = store::missing_sqlite_file(&config.database_url) {
                return Err(StartupError::NoDatabase(file));
            }
        }
        // Before anything touches a SQLite file: its auth state is then this
        // process's alone (see `store::DatabaseLock`).
        let database_lock = store::DatabaseLock::acquire(&config.database_url)?;
        let store = Store::connect(&config.database_url, &config.database)
            .await
            .map_err(StartupError::Connect)?;
        if config.no_migrate {
            // Migrated by `keyward migrate`, as a step of its own: only checked.
            let status = store.migration_status().await?;
            if status != store::MigrationStatus::Current {
                return Err(StartupError::NotMigrated(status));
            }
        } else {
            store.migrate().await.map_err(StartupError::Migrate)?;
        }
        store.load_auth_state().await?;

        if config.hashing.is_below_owasp_minimum() {
            tracing::warn!(
                ?config.hashing,
                "argon2 cost is below the OWASP minimum (m=19456 KiB, t=2): new secrets are weakly hashed"
            );
        }
        let hasher = Hasher::new(config.hashing).await?;
        let (last_used, last_used_writer) = LastUsed::start(store.clone());
        let usage = match config.usage.counting {
            config::UsageCounting::On => usage::Usage::counting(config.usage.clock.clone()),
            config::UsageCounting::Off => usage::Usage::off(),
        };
        let usage_writer = usage::UsageWriter::start(
            store.clone(),
            usage.clone(),
            usage::WriterOptions {
                retention: store::UsageRetention {
                    minute: chrono::Duration::hours(i64::from(config.usage.minute_retention_hours)),
                    hour: chrono::Duration::days(i64::from(config.usage.hour_retention_days)),
                    day: chrono::Duration::days(i64::from(config.usage.day_retention_days)),
                },
            },
        );
        let refusals = graphql::RefusalBudget::default();
        let auth = Authenticator::new(
            store.clone(),
            hasher.clone(),
            last_used,
            usage,
            &config.limits,
            auth::SessionPolicy::new(&config.sessions),
        );
        let oidc = std::sync::Arc::new(auth::oidc::Oidc::new().map_err(|err| {
            StartupError::Other(Error::internal(format!(
                "cannot start the OpenID Connect client: {err}"
            )))
        })?);
        let schemas = graphql::Schemas::new(Services {
            oidc: oidc.clone(),
            store: store.clone(),
            hasher: hasher.clone(),
            keys: graphql::KeyPolicy {
                max_lifetime: config
                    .max_key_lifetime_days
                    .map(|days| chrono::Duration::days(i64::from(days))),
                warn_within: config.key_expiry_warnings.first(),
            },
            refusals: refusals.clone(),
            webhook_destinations: webhooks::DestinationPolicy {
                allow_private_networks: config.webhooks.allow_private_networks,
            },
            usage_clock: config.usage.clock.clone(),
        });

        let (listener, local_addr) = bind(config.listen).await?;

        let tasks = tasks::Tasks::start(
            &store,
            chrono::Duration::days(i64::from(config.audit_retention_days)),
            config.key_expiry_warnings.clone(),
        );

        let webhook_worker = webhooks::worker::start(
            store.clone(),
            webhooks::worker::WorkerOptions {
                policy: webhooks::DestinationPolicy {
                    allow_private_networks: config.webhooks.allow_private_networks,
                },
                max_age: chrono::Duration::hours(i64::from(config.webhooks.retry_hours)),
                retry_delay: config
                    .webhooks
                    .retry_delay_ms
                    .map(std::time::Duration::from_millis),
                timeout: config
                    .webhooks
                    .timeout_ms
                    .map(std::time::Duration::from_millis),
            },
        )
        .map_err(|err| StartupError::Other(Error::internal(err)))?;

        let access_control = store.settings().await?.access_control_enabled;
        let handle = store.clone();
        // Both entry points a person starts from: the console in a
        // browser, the API for a client.
        tracing::info!(
            console = %format!("http://{local_addr}/"),
            graphql = %format!("http://{local_addr}/graphql"),
            "keyward is serving"
        );
        if !access_control {
            tracing::warn!(
                "ACCESS CONTROL IS OFF: anyone who can reach {local_addr} has full access, \
                 and /verify lets every request through to the services behind it. \
                 Turn it on with the enableAccessControl mutation."
            );
        }

        let websockets = tokio_util::sync::CancellationToken::new();
        // The same caps as connections, in all and per address (see
        // `listener::serve` for why WebSockets get caps of their own).
        let websocket_slots = listener::Slots::new(
            config.limits.max_connections,
            config.limits.connections_per_address(),
            config.limits.trusted_proxies.clone().into(),
        );
        let metrics = match config.metrics_listen {
            Some(addr) => {
                let (listener, local_addr) = bind(addr).await?;
                Some(metrics::MetricsServer::start(
                    listener,
                    local_addr,
                    metrics::exporter::Sampled {
                        store: store.clone(),
                        websocket_slots: websocket_slots.clone(),
                    },
                )?)
            }
            None => None,
        };
        let router = http::router(
            http::Shared {
                schemas,
                auth,
                oidc,
                sign_in: config.sign_in.clone(),
                store,
                public_url: config.public_url.clone(),
                listen: local_addr,
                trusted_proxies: config.limits.trusted_proxies.clone().into(),
                allowed_origins: config.limits.cors_origins.clone().into(),
                websocket_slots,
                shutdown: websockets.clone(),
                migrations_logged: std::sync::Mutex::default(),
                key_answers: http::KeyAnswers::default(),
            }
            .into(),
            &config.limits,
        );
        let (shutdown, stop) = oneshot::channel();
        let connection_limits = listener::ConnectionLimits {
            max_connections: config.limits.max_connections,
            per_address: config.limits.connections_per_address(),
            trusted_proxies: config.limits.trusted_proxies.clone().into(),
        };
        let server = tokio::spawn(listener::serve(
            listener,
            router,
            connection_limits,
            async {
                // Either an explicit stop or the handle being dropped.
                let _ = stop.await;
            },
        ));
        Ok(Self {
            local_addr,
            shutdown,
            server,
            last_used_writer,
            usage_writer,
            tasks,
            webhook_worker,
            hasher,
            websockets,
            metrics,
            refusals,
            store: handle,
            database_lock,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where `/metrics` is served, with `--metrics-listen`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
            .as_ref()
            .map(metrics::MetricsServer::local_addr)
    }

    /// How many argon2 verifications of presented secrets this server has
    /// run: the cost that throttling bounds.
    pub fn argon2_verifications(&self) -> u64 {
        self.hasher.verifications()
    }

    /// How many database statements requests have run on this server: what
    /// the in-memory auth state keeps off the hot path.
    pub fn request_statements(&self) -> u64 {
        self.store.request_statements()
    }

    /// Whether this server answers authentication from memory right now
    /// (on PostgreSQL: it holds a live lease and listens for revocations).
    pub fn auth_state_trusted(&self) -> bool {
        self.store.auth_state_trusted()
    }

    /// Serves until `signal` resolves, then shuts down gracefully.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        self.stop().await;
    }

    /// Stops accepting, lets in-flight requests finish, and writes pending
    /// `lastUsedAt` updates and summaries of refused mutations.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        self.websockets.cancel();
        if let Err(err) = self.server.await {
            tracing::error!(error = %err, "server task failed");
        }
        if let Some(metrics) = self.metrics {
            metrics.stop().await;
        }
        // No request runs any more: the refusals they counted are final.
        self.refusals.drain().await;
        self.webhook_worker.abort();
        let _ = self.webhook_worker.await;
        self.tasks.stop().await;
        // No request runs any more: what they counted is final.
        self.usage_writer.stop().await;
        // The router (and with it the last handle of the writer's channel) is
        // gone now, so the writer drains its queue and ends.
        if let Err(err) = self.last_used_writer.await {
            tracing::error!(error = %err, "lastUsedAt writer failed");
        }
        // Everything that used the database has stopped: on SQLite this
        // checkpoints the write-ahead log, so the file alone is the database.
        self.store.close().await;
        drop(self.database_lock);
    }
}

/// Binds `addr`, with the address actually bound (port 0 picks one).
async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartupError> {
    let cannot = |source| StartupError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(cannot)?;
    let local_addr = listener.local_addr().map_err(cannot)?;
    Ok((listener, local_addr))
}
