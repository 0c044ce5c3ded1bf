//! Backups of a SQLite database, consistent while a server uses it.
//!
//! `VACUUM INTO` writes a snapshot of the database, as of the start of its
//! read transaction, into a new file: in WAL mode the server's writes go on
//! meanwhile, and the copy holds each transaction entirely or not at all. It
//! runs on a connection of its own that opens the source read-only and never
//! creates it, so a backup can neither change a database nor make an empty
//! one out of a mistyped path. It takes no [`super::DatabaseLock`]: reading
//! is safe beside the server that holds the file.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::sqlx::{ConnectOptions, Connection};

use super::lock::sqlite_file;

/// How long the backup waits for SQLite's locks (a checkpoint, say).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a backup was not made. Nothing is left at the output path then.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "keyward backup copies SQLite databases only; back a PostgreSQL database up with \
         pg_dump -Fc and restore it with pg_restore (see \"Backups and restore\" in docs/operations.md)"
    )]
    NotSqlite,
    #[error("there is no SQLite database at {0}")]
    NoDatabase(PathBuf),
    #[error("{0} already exists; a backup is written to a new file only")]
    OutputExists(PathBuf),
    #[error("the output path {0} is not valid UTF-8")]
    OutputName(PathBuf),
    #[error("cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the SQLite database {path} read-only: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: sea_orm::sqlx::Error,
    },
    #[error("cannot copy the database into {path}: {source}")]
    Copy {
        path: PathBuf,
        #[source]
        source: sea_orm::sqlx::Error,
    },
    #[error("cannot flush {path} to disk: {source}")]
    Flush {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a backup wrote.
#[derive(Debug)]
pub struct Backup {
    /// The database file copied.
    pub database: PathBuf,
    /// Size of the copy, in bytes.
    pub bytes: u64,
}

/// Copies the SQLite database `database_url` names into `output`, a file
/// that must not exist yet (it is created readable by its owner only: it
/// holds the password and secret hashes). Consistent while a server writes
/// to the database.
pub async fn backup_sqlite(database_url: &str, output: &Path) -> Result<Backup, BackupError> {
    let Some(database) = sqlite_file(database_url) else {
        return Err(BackupError::NotSqlite);
    };
    if !database.is_file() {
        return Err(BackupError::NoDatabase(database));
    }
    let Some(output_name) = output.to_str() else {
        return Err(BackupError::OutputName(output.to_path_buf()));
    };
    // Created here, atomically refusing an existing file (SQLite would
    // write into an empty one), with the permissions a backup deserves.
    let mut create = OpenOptions::new();
    create.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut create, 0o600);
    match create.open(output) {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(BackupError::OutputExists(output.to_path_buf()));
        }
        Err(source) => {
            return Err(BackupError::Create {
                path: output.to_path_buf(),
                source,
            });
        }
    }
    let copied = copy(database_url, &database, output, output_name).await;
    if copied.is_err() {
        // Not a backup: do not leave it where one is expected.
        let _ = std::fs::remove_file(output);
    }
    copied?;
    let bytes = std::fs::metadata(output).map_or(0, |meta| meta.len());
    Ok(Backup { database, bytes })
}

async fn copy(
    database_url: &str,
    database: &Path,
    output: &Path,
    output_name: &str,
) -> Result<(), BackupError> {
    let open_error = |source| BackupError::Open {
        path: database.to_path_buf(),
        source,
    };
    let options = SqliteConnectOptions::from_str(database_url)
        .map_err(open_error)?
        .read_only(true)
        .create_if_missing(false)
        .busy_timeout(BUSY_TIMEOUT);
    let mut connection = options.connect().await.map_err(open_error)?;
    let vacuumed = sea_orm::sqlx::query("VACUUM INTO ?")
        .bind(output_name)
        .execute(&mut connection)
        .await;
    let _ = connection.close().await;
    vacuumed.map_err(|source| BackupError::Copy {
        path: output.to_path_buf(),
        source,
    })?;
    // SQLite does not sync what VACUUM INTO wrote.
    let flush = |source| BackupError::Flush {
        path: output.to_path_buf(),
        source,
    };
    std::fs::File::open(output)
        .and_then(|file| file.sync_all())
        .map_err(flush)?;
    #[cfg(unix)]
    if let Some(directory) = output.parent() {
        let directory = if directory.as_os_str().is_empty() {
            Path::new(".")
        } else {
            directory
        };
        std::fs::File::open(directory)
            .and_then(|dir| dir.sync_all())
            .map_err(flush)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_backup_is_a_new_file_of_an_existing_sqlite_database() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let missing = dir.path().join("missing.db");
        let url = |path: &Path| format!("sqlite://{}?mode=rwc", path.display());
        let output = dir.path().join("backup.db");

        let refused = backup_sqlite(&url(&missing), &output)
            .await
            .expect_err("no database, no backup");
        assert!(matches!(refused, BackupError::NoDatabase(_)), "{refused}");
        assert!(!missing.exists(), "the missing database was not created");
        assert!(!output.exists(), "nothing left at the output path");

        assert!(matches!(
            backup_sqlite("postgres://postgres@127.0.0.1/keyward", &output).await,
            Err(BackupError::NotSqlite)
        ));

        let database = dir.path().join("k.db");
        let store = super::super::Store::connect(
            &url(&database),
            &crate::config::DatabaseOptions::default(),
        )
        .await
        .expect("connect");
        store.migrate().await.expect("migrate");
        let backup = backup_sqlite(&url(&database), &output)
            .await
            .expect("a backup");
        assert!(backup.bytes > 0);
        let copy =
            super::super::Store::connect(&url(&output), &crate::config::DatabaseOptions::default())
                .await
                .expect("the copy opens");
        assert_eq!(
            copy.migration_status().await.expect("status"),
            super::super::MigrationStatus::Current
        );

        let again = backup_sqlite(&url(&database), &output)
            .await
            .expect_err("an existing file is never overwritten");
        assert!(matches!(again, BackupError::OutputExists(_)), "{again}");
    }
}
