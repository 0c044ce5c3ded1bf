//! Data access: SeaORM entities and the queries keyward runs on them.
//!
//! Nothing here knows about GraphQL or HTTP; callers get entity models and
//! decide what to publish.

pub mod entity;
mod keys;
mod projects;
mod settings;

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, SqlErr};

pub use entity::api_key::{KeyState, Role};
pub use entity::{api_key, project, settings as settings_entity};
pub use keys::{DeleteKeyOutcome, NewKey};

use crate::error::Error;

/// The database behind keyward. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
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
    pub async fn connect(url: &str) -> Result<Self, DbErr> {
        let mut options = ConnectOptions::new(url);
        options
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(5))
            // Statement logging would print bound values; keep it off.
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|opts| {
                // WAL lets readers proceed while a write commits.
                opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            });
        Ok(Self {
            db: Database::connect(options).await?,
        })
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(&self.db, None).await
    }

    /// Answers once the database does.
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.db.ping().await
    }

    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
    }
}

/// The current time at the precision every backend stores (microseconds), so
/// that what a mutation returns equals what a later read returns.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
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
