//! Data access: SeaORM entities and the queries keyward runs on them.
//!
//! Nothing here knows about GraphQL or HTTP; callers get entity models and
//! decide what to publish.

mod access;
mod access_mode;
mod audit;
mod auth_state;
mod backup;
mod bounded;
pub mod entity;
mod expiry_warnings;
mod groups;
mod identities;
mod identity_providers;
mod keys;
mod lock;
mod members;
mod migrations;
mod oidc_sign_ins;
mod outbox;
mod project_memory;
mod projects;
mod sessions;
mod settings;
mod statements;
mod usage;
mod users;
mod webhooks;

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, QueryFilter, SqlErr, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};

pub use access::{Account, Grant, KeyManager, ProjectCreator, ProjectOwner, ServerWide};
pub use access_mode::{AccessModeSettings, Applicant, admits};
pub use audit::{
    Actor, ActorKind, AuditAction, AuditContext, AuditOutcome, EventFeed, EventFilter,
    MAX_REQUEST_ID_LEN, Target,
};
pub use auth_state::LEASE;
pub use backup::{Backup, BackupError, backup_sqlite};
pub use entity::api_key::{KeyState, Role};
pub use entity::settings::AccessMode;
pub use entity::user::UserState;
pub use entity::{
    access_allowed_group, access_allowed_user, api_key, audit_event, identity_provider, key_client,
    oidc_sign_in, project, project_group_member, project_member, settings as settings_entity, user,
    user_group, user_identity, user_session, webhook, webhook_delivery,
};
pub use groups::raise as raise_role;
pub use identities::{ProviderIdentity, SsoSignIn, SsoSignInOutcome};
pub use identity_providers::{IdentityProviderChanges, NewIdentityProvider};
pub use keys::{DeleteKeyOutcome, KeyCounts, KeyStatus, NewKey, NewPair};
pub use lock::{DatabaseLock, LockError, missing_sqlite_file, sqlite_file};
pub use migrations::MigrationStatus;
pub use outbox::{Claimed, DISABLE_AFTER, message_id};
pub use project_memory::KnownProject;
pub use statements::{CountingStatements, RequestStatements, counting_statements};
pub use usage::{
    ClientSeen, RECENT_CLIENTS, UsageBucketRow, UsageCounts, UsageDelta, UsageGranularity, UsageOf,
    UsageRetention,
};
pub use users::{NewUser, UserChanges};
pub use webhooks::{NewWebhook, WebhookChanges, parse_actions, stored_actions};

use bounded::{Bounded, Txn, within};

use crate::config::DatabaseOptions;
use crate::error::Error;

/// The database behind keyward. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct Store {
    /// The pool. Each statement on it acquires a connection, so it is bounded
    /// by the acquire timeout plus the statement timeout.
    db: Bounded<DatabaseConnection>,
    /// Bounds each statement of a transaction, which holds its connection.
    statement_timeout: Duration,
    /// Committed audit events, for live subscriptions.
    events: EventFeed,
    /// The settings row in memory (see [`auth_state`]).
    auth: auth_state::AuthState,
    /// Project rows in memory (see [`project_memory`]).
    projects_known: std::sync::Arc<project_memory::ProjectMemory>,
    /// Statements run on behalf of requests (see [`statements`]).
    statements: RequestStatements,
}

/// The connections of the pool (see [`Store::pool_connections`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolConnections {
    /// Checked out by a statement or a transaction.
    pub in_use: u32,
    /// Open and waiting in the pool.
    pub idle: u32,
    /// The most the pool opens (`--db-max-connections`).
    pub max: u32,
}

/// One page of a keyset-paginated list.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
}

impl<T> Page<T> {
    /// Builds a page from a query that fetched one row more than `limit`.
    fn from_overfetch(mut rows: Vec<T>, limit: u64) -> Self {
        let has_next_page = rows.len() as u64 > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Self {
            items: rows,
            has_next_page,
        }
    }
}

/// Name and description of a project or key: `None` leaves a field as it is;
/// `Some(None)` clears the description.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
}

impl Store {
    /// Connects to `url`; the backend (SQLite or PostgreSQL) follows from it.
    pub async fn connect(url: &str, pool: &DatabaseOptions) -> Result<Self, DbErr> {
        let connect_timeout = Duration::from_millis(pool.db_connect_timeout_ms);
        let statement_timeout = Duration::from_millis(pool.db_statement_timeout_ms);
        let mut options = ConnectOptions::new(url);
        options
            .max_connections(pool.db_max_connections)
            .min_connections(0)
            .connect_timeout(connect_timeout)
            .acquire_timeout(connect_timeout)
            // A pooled connection may have died with the database; checking
            // it on the way out lets the pool replace it instead of failing
            // the request, which is how the server recovers by itself. Only
            // connections idle for a while are checked: a ping on every
            // acquire doubled the cost of each statement, and a connection
            // in use a moment ago has just proven itself.
            .test_before_acquire_if_idle_for(Duration::from_secs(1))
            // Statement logging would print bound values; keep it off.
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(move |opts| {
                // WAL lets readers proceed while a write commits.
                opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(statement_timeout)
            })
            .map_sqlx_postgres_opts(move |opts| {
                opts.options([(
                    "statement_timeout",
                    statement_timeout.as_millis().to_string(),
                )])
            });
        let mut db = Database::connect(options).await?;
        let statements = RequestStatements::default();
        db.set_metric_callback(statements.callback());
        let auth = auth_state::AuthState::new(db.get_database_backend());
        Ok(Self {
            db: Bounded::new(db, connect_timeout + statement_timeout),
            statement_timeout,
            events: EventFeed::default(),
            auth,
            projects_known: std::sync::Arc::default(),
            statements,
        })
    }

    /// Answers once the database does.
    pub async fn ping(&self) -> Result<(), DbErr> {
        within(self.db.limit(), self.db.inner().ping()).await
    }

    /// Closes the pool's connections. On SQLite the last one to close
    /// checkpoints the write-ahead log into the database file, so that a
    /// command that exits leaves the file complete on its own (a copy of it
    /// alone is then the whole database).
    pub async fn close(&self) {
        if let Err(err) = self.db.inner().close_by_ref().await {
            tracing::warn!(error = %err, "closing the database connections failed");
        }
    }

    /// The connections of the pool right now (for metrics).
    pub fn pool_connections(&self) -> PoolConnections {
        let db = self.db.inner();
        let (size, idle, max) = match db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = db.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            DbBackend::Sqlite => {
                let pool = db.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            _ => (0, 0, 0),
        };
        let idle = Ord::min(u32::try_from(idle).unwrap_or(u32::MAX), size);
        PoolConnections {
            in_use: size - idle,
            idle,
            max,
        }
    }

    /// How many statements requests have run on this store so far.
    pub fn request_statements(&self) -> u64 {
        self.statements.total()
    }

    pub(crate) fn db(&self) -> &Bounded<DatabaseConnection> {
        &self.db
    }

    /// Opens a transaction that writes: the one way every write transaction
    /// of the store begins.
    ///
    /// On SQLite it is `BEGIN IMMEDIATE`, which takes the write lock at once,
    /// waiting for it up to the busy timeout. A deferred transaction that
    /// reads first and writes later cannot wait: SQLite fails its first write
    /// with `SQLITE_BUSY` (or `SQLITE_BUSY_SNAPSHOT` in WAL mode) as soon as
    /// another writer got in between, whatever the busy timeout. On
    /// PostgreSQL the option does nothing; row locks there wait (up to the
    /// statement timeout) by themselves.
    pub(crate) async fn begin_write(&self) -> Result<Txn, DbErr> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        // Acquiring the connection and waiting for the lock, bounded as one
        // statement on the pool is.
        let txn = within(self.db.limit(), self.db.inner().begin_with_options(options)).await?;
        Ok(Txn::new(Bounded::new(txn, self.statement_timeout)))
    }
}

/// The current time at the precision every backend stores (microseconds), so
/// that what a mutation returns equals what a later read returns.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Bumps the auth epoch. Part of the transaction of every change that can
/// revoke credentials, so that no replica trusts a cached verification made
/// before the change once the change has committed.
///
/// The transaction remembers the row it left, and its commit (in
/// [`Store::commit_with_events`]) brings every replica's memory of the auth
/// state up to date before returning (see [`auth_state`]). On PostgreSQL it
/// also notifies the replicas, which PostgreSQL delivers at the commit.
async fn bump_auth_epoch(txn: &Txn) -> Result<(), DbErr> {
    use entity::settings::{Column, Entity, SETTINGS_ID};
    let settings = Entity::update_many()
        .col_expr(Column::AuthEpoch, Expr::col(Column::AuthEpoch).add(1))
        .filter(Column::Id.eq(SETTINGS_ID))
        .exec_with_returning(txn)
        .await?
        .pop()
        .ok_or_else(|| DbErr::RecordNotFound("the settings row".into()))?;
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [
                auth_state::CHANNEL.into(),
                settings.auth_epoch.to_string().into(),
            ],
        ))
        .await?;
    }
    txn.revokes(settings);
    Ok(())
}

/// Locks the row of the project key `key_id` belongs to (PostgreSQL; on
/// SQLite the transaction already holds the database's write lock).
///
/// Every transaction that changes a key and its project's counts takes this
/// lock before touching the key, so they all lock in the same order as
/// `delete_project` does (project, then its keys through the cascade).
/// Locking the key first and the project second would deadlock against a
/// concurrent project deletion, and PostgreSQL would abort one of the two.
async fn lock_project_of_key(txn: &Txn, key_id: i64) -> Result<(), DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    txn.query_one_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT 1 FROM project WHERE id = (SELECT project_id FROM api_key WHERE id = $1) \
         FOR NO KEY UPDATE",
        [key_id.into()],
    ))
    .await?;
    Ok(())
}

/// Adds `delta` to the count of `project_id`'s keys in `state`.
async fn adjust_key_count(
    conn: &impl ConnectionTrait,
    project_id: i64,
    state: KeyState,
    delta: i64,
) -> Result<(), DbErr> {
    use entity::project::{Column, Entity};
    let column = match state {
        KeyState::Active => Column::ActiveKeyCount,
        KeyState::Inactive => Column::InactiveKeyCount,
    };
    Entity::update_many()
        .col_expr(column, Expr::col(column).add(delta))
        .filter(Column::Id.eq(project_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Turns a unique-constraint violation into the user-facing `conflict`; any
/// other database error stays internal. The one place such violations are
/// recognised, whatever the backend.
pub(crate) fn conflict_on_unique(err: DbErr, conflict: impl FnOnce() -> Error) -> Error {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => conflict(),
        _ => Error::from(err),
    }
}

/// A migrated SQLite store in a temporary directory (kept while the
/// returned guard lives), for the store's unit tests.
#[cfg(test)]
pub(crate) async fn migrated_for_tests() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let options = DatabaseOptions {
        // A test machine busy with other builds must not turn into a pool
        // or statement timeout.
        db_connect_timeout_ms: 30_000,
        db_statement_timeout_ms: 30_000,
        ..DatabaseOptions::default()
    };
    let store = Store::connect(&url, &options).await.expect("connect");
    store.migrate().await.expect("migrate");
    (dir, store)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--db-statement-timeout-ms` reaches PostgreSQL. Needs
    /// `KEYWARD_TEST_POSTGRES_URL`; ignored without it (see build.rs).
    #[tokio::test]
    #[cfg_attr(
        not(keyward_postgres),
        ignore = "needs PostgreSQL: set KEYWARD_TEST_POSTGRES_URL"
    )]
    async fn statements_past_the_timeout_are_cancelled_on_postgres() {
        let url = std::env::var("KEYWARD_TEST_POSTGRES_URL")
            .expect("PostgreSQL is required here: set KEYWARD_TEST_POSTGRES_URL");
        let options = DatabaseOptions {
            db_statement_timeout_ms: 200,
            // A busy test machine must not turn this into a pool timeout.
            db_connect_timeout_ms: 30_000,
            ..DatabaseOptions::default()
        };
        let store = Store::connect(&url, &options).await.expect("connect");
        let slow = store
            .db()
            .execute_unprepared("SELECT pg_sleep(2)")
            .await
            .expect_err("cancelled by statement_timeout");
        assert!(slow.to_string().contains("statement timeout"), "{slow}");
        store
            .db()
            .execute_unprepared("SELECT pg_sleep(0.01)")
            .await
            .expect("short statements run");
    }
}
