//! The operator's commands besides `serve` and `schema`: `migrate`, `admin`
//! (break-glass) and `backup`; and `client`, which speaks to a running
//! server over its API (see [`client`]) rather than to the database.
//!
//! Each prints what it did on standard output and exits 0, or prints why it
//! did nothing on standard error and exits 1. They work on the database
//! directly, with the same `--database-url` (and default) as the server.
//! On SQLite, the commands that write take the database's
//! [`crate::store::DatabaseLock`] first, so they refuse to run beside a
//! server that holds it: the server's auth state in memory would not see
//! their change. `backup` only reads, and runs beside the server.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command's output is what it prints"
)]

pub mod admin;
pub mod backup;
pub mod client;
pub mod migrate;

use std::path::PathBuf;
use std::process::ExitCode;

use sea_orm::DbErr;

use crate::config::{DEFAULT_DATABASE_URL, DatabaseOptions};
use crate::error::Error;
use crate::store::{BackupError, LockError, MigrationStatus, Store};

/// The database a command works on.
#[derive(Clone, Debug, clap::Args)]
pub struct DatabaseUrl {
    /// Database URL: `sqlite://…` or `postgres://…`, the server's.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true
    )]
    pub database_url: String,
}

/// Why a command did nothing (or, for a failed write, nothing that stays).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    DatabaseInUse(#[from] LockError),
    #[error("there is no SQLite database at {0}")]
    NoDatabase(PathBuf),
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] DbErr),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] DbErr),
    #[error("the database is {0}; {remedy}", remedy = .0.remedy())]
    NotMigrated(MigrationStatus),
    #[error("cannot read the new password from standard input: {0}")]
    ReadPassword(#[source] std::io::Error),
    #[error("no password on standard input: write it there, on one line")]
    NoPassword,
    /// Ctrl-C at the password prompt.
    #[error("cancelled at the password prompt; nothing was changed")]
    Cancelled,
    /// Input that the policy refuses (the field and why, never the value).
    #[error("{0}")]
    Input(#[source] Error),
    #[error(
        "access control is off, so there is no administrator whose password could be reset; \
         turn access control on with the enableAccessControl mutation (or in the web console), \
         which creates the administrator"
    )]
    AccessControlOff,
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error("{0}")]
    Store(#[from] Error),
}

/// Runs the command `name` (for messages), printing its report or its
/// error.
pub(crate) async fn run(
    name: &str,
    command: impl Future<Output = Result<String, CommandError>>,
) -> ExitCode {
    match command.await {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(CommandError::Cancelled) => {
            eprintln!("keyward {name}: {}", CommandError::Cancelled);
            // As a shell reports a command ended by Ctrl-C (128 + SIGINT).
            ExitCode::from(130)
        }
        Err(err) => {
            eprintln!("keyward {name}: {}", chain(&err));
            ExitCode::FAILURE
        }
    }
}

/// `err` and its causes, each said once.
fn chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            message = format!("{message}: {cause_text}");
        }
        source = cause.source();
    }
    message
}

/// Connects to `url` as the server would (creating a SQLite file that does
/// not exist yet, as `mode=rwc` asks).
async fn connect(url: &str, pool: &DatabaseOptions) -> Result<Store, CommandError> {
    Store::connect(url, pool)
        .await
        .map_err(CommandError::Connect)
}

/// Refuses a SQLite database file that does not exist: a command that
/// changes data must not create an empty database (nor its lock file).
fn require_existing(url: &str) -> Result<(), CommandError> {
    match crate::store::missing_sqlite_file(url) {
        Some(file) => Err(CommandError::NoDatabase(file)),
        None => Ok(()),
    }
}

/// Connects to a database at this binary's migrations, for a command that
/// changes its data.
async fn connect_current(url: &str, pool: &DatabaseOptions) -> Result<Store, CommandError> {
    let store = connect(url, pool).await?;
    match store.migration_status().await? {
        MigrationStatus::Current => Ok(store),
        status => Err(CommandError::NotMigrated(status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_says_each_cause_once() {
        let err = CommandError::Input(Error::bad_input("password", "must be longer"));
        assert_eq!(chain(&err), "password: must be longer");
        let err = CommandError::Store(Error::internal("disk full"));
        assert_eq!(chain(&err), "internal error: disk full");
    }
}
