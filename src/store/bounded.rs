//! Client-side bounds on every statement keyward sends.
//!
//! PostgreSQL's `statement_timeout` and SQLite's busy timeout only help while
//! the database answers. A database that keeps the TCP connection open but
//! says nothing (a black-holed network, a frozen host) would leave a statement
//! waiting until the request timeout, or forever in a background task. Every
//! statement therefore goes through [`Bounded`], which gives up on the client
//! side once the configured time has passed and reports an ordinary database
//! error, so callers see `Error::Internal` like any other database failure —
//! except for a commit: given up on, its outcome is unknown, and callers see
//! `Error::OutcomeUnknown` (see [`CommitError`]).

use std::future::Future;
use std::time::Duration;

use super::entity::settings;
use crate::error::Error;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
};

/// A connection (the pool, or a transaction) whose every statement is bounded
/// by `limit`.
#[derive(Clone, Debug)]
pub(crate) struct Bounded<C> {
    inner: C,
    limit: Duration,
}

/// A writing transaction, as [`super::Store::begin_write`] opens it.
///
/// It remembers whether it revoked credentials (bumped the auth epoch, see
/// [`super::bump_auth_epoch`]), and its commit hands that on: the one commit
/// of the store then brings every replica's memory of the auth state up to
/// date before the mutation returns. Nobody has to remember to.
#[derive(Debug)]
pub(crate) struct Txn {
    conn: Bounded<DatabaseTransaction>,
    /// The settings row as this transaction left it, once it bumped the
    /// auth epoch.
    revoked: std::sync::Mutex<Option<settings::Model>>,
}

impl<C> Bounded<C> {
    pub(crate) fn new(inner: C, limit: Duration) -> Self {
        Self { inner, limit }
    }

    /// The unbounded connection, for what cannot go through the wrapper
    /// (migrations, the LISTEN connection); callers bound it themselves.
    pub(crate) fn inner(&self) -> &C {
        &self.inner
    }

    pub(crate) fn limit(&self) -> Duration {
        self.limit
    }
}

impl Txn {
    pub(crate) fn new(conn: Bounded<DatabaseTransaction>) -> Self {
        Self {
            conn,
            revoked: std::sync::Mutex::default(),
        }
    }

    /// Notes that this transaction bumped the auth epoch, leaving `settings`.
    pub(crate) fn revokes(&self, settings: settings::Model) {
        *self.revoked.lock().unwrap_or_else(|e| e.into_inner()) = Some(settings);
    }

    /// The settings row this transaction left, if it revoked credentials.
    pub(crate) fn revoked(&self) -> Option<settings::Model> {
        self.revoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Commits, telling a refused commit (nothing changed) from one whose
    /// answer never came (given up on past the limit, or the connection
    /// lost): that one may have been applied or not.
    pub(crate) async fn commit(self) -> Result<(), CommitError> {
        within(self.conn.limit, self.conn.inner.commit())
            .await
            .map_err(CommitError::of)
    }
}

/// Why a commit did not succeed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommitError {
    /// The database answered with an error: the transaction is rolled back.
    #[error(transparent)]
    Failed(DbErr),
    /// No answer: the database may have applied the transaction or not. A
    /// client told so checks before it retries.
    #[error("the database did not confirm the commit: {0}")]
    Unknown(DbErr),
}

impl CommitError {
    fn of(err: DbErr) -> Self {
        let answered = match &err {
            DbErr::Query(RuntimeErr::SqlxError(cause))
            | DbErr::Exec(RuntimeErr::SqlxError(cause)) => {
                matches!(**cause, sea_orm::sqlx::Error::Database(_))
            }
            _ => false,
        };
        if answered {
            Self::Failed(err)
        } else {
            Self::Unknown(err)
        }
    }
}

/// What a client is told: a refused commit is an internal error; one
/// whose answer never came, that the outcome is unknown.
impl From<CommitError> for Error {
    fn from(err: CommitError) -> Self {
        match err {
            CommitError::Failed(err) => Self::internal(err),
            unknown @ CommitError::Unknown(_) => Self::OutcomeUnknown(unknown.into()),
        }
    }
}

/// A statement of the transaction failed before its commit: nothing of it
/// is applied.
impl From<DbErr> for CommitError {
    fn from(err: DbErr) -> Self {
        Self::Failed(err)
    }
}

/// For what does not tell its callers the difference (background work,
/// which reads the state again on its next round).
impl From<CommitError> for DbErr {
    fn from(err: CommitError) -> Self {
        match err {
            CommitError::Failed(err) | CommitError::Unknown(err) => err,
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Txn {
    fn get_database_backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.conn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.conn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.conn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.conn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.conn.support_returning()
    }

    fn is_mock_connection(&self) -> bool {
        self.conn.is_mock_connection()
    }
}

/// Runs `work`, failing with a connection error if it takes longer than
/// `limit`. Dropping the future is what sqlx expects of a cancelled statement:
/// the connection is checked (and if need be discarded) before it is reused,
/// and an unfinished transaction is rolled back.
pub(crate) async fn within<T>(
    limit: Duration,
    work: impl Future<Output = Result<T, DbErr>>,
) -> Result<T, DbErr> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => Err(timed_out(limit)),
    }
}

/// The error of a statement given up on after `limit`.
pub(crate) fn timed_out(limit: Duration) -> DbErr {
    DbErr::Conn(RuntimeErr::Internal(format!(
        "the database did not answer within {} ms",
        limit.as_millis()
    )))
}

#[async_trait::async_trait]
impl<C: ConnectionTrait + Send + Sync> ConnectionTrait for Bounded<C> {
    fn get_database_backend(&self) -> DbBackend {
        self.inner.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        within(self.limit, self.inner.execute_raw(stmt)).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        within(self.limit, self.inner.execute_unprepared(sql)).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        within(self.limit, self.inner.query_one_raw(stmt)).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        within(self.limit, self.inner.query_all_raw(stmt)).await
    }

    fn support_returning(&self) -> bool {
        self.inner.support_returning()
    }

    fn is_mock_connection(&self) -> bool {
        self.inner.is_mock_connection()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_past_the_limit_fails_with_a_database_error() {
        let limit = Duration::from_millis(20);
        let started = std::time::Instant::now();
        let err = within(limit, std::future::pending::<Result<(), DbErr>>())
            .await
            .expect_err("given up on");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(
            err.to_string().contains("did not answer within 20 ms"),
            "{err}"
        );
        assert_eq!(within(limit, async { Ok(7) }).await, Ok(7));
    }
}
