//! The exclusive hold of a SQLite database by one keyward process.
//!
//! On SQLite the auth state lives in memory and changes only at the commits
//! of this process (see [`super::auth_state`]). A second process writing the
//! same file would change it behind this one's back, so a server refuses to
//! start on a file that another keyward process holds.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::str::FromStr;

use sea_orm::sqlx::sqlite::SqliteConnectOptions;

/// Held while the server runs; released when dropped (or the process ends).
#[derive(Debug)]
pub struct DatabaseLock {
    _file: Option<File>,
}

/// Why the database cannot be held.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the SQLite database {database} is in use by another keyward process (it holds {lock}); \
         stop that process first. Several replicas need PostgreSQL"
    )]
    InUse { database: String, lock: String },
    #[error("cannot lock the SQLite database with {lock}: {source}")]
    Io {
        lock: String,
        #[source]
        source: std::io::Error,
    },
}

impl DatabaseLock {
    /// Takes the lock of the SQLite file `database_url` names: a file beside
    /// it, `<file>-keyward.lock` (a lock on the database file itself would
    /// be dropped with SQLite's own POSIX locks the moment any descriptor of
    /// it closes). Nothing to hold for PostgreSQL or an in-memory database.
    pub fn acquire(database_url: &str) -> Result<Self, LockError> {
        let Some(path) = sqlite_file(database_url) else {
            return Ok(Self { _file: None });
        };
        // One lock per file, however it is named (a relative path, a
        // symbolic link): the lock sits beside the file's real path.
        let path = real_path(&path);
        let mut lock_path = path.clone().into_os_string();
        lock_path.push("-keyward.lock");
        let lock_path = PathBuf::from(lock_path);
        let shown = lock_path.display().to_string();
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| LockError::Io {
                lock: shown.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: Some(file) }),
            Err(TryLockError::WouldBlock) => Err(LockError::InUse {
                database: path.display().to_string(),
                lock: shown,
            }),
            Err(TryLockError::Error(source)) => Err(LockError::Io {
                lock: shown,
                source,
            }),
        }
    }
}

/// `path` with its links and relative parts resolved; a file that does not
/// exist yet (SQLite creates it) is named through its directory's real path.
fn real_path(path: &std::path::Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    match (std::fs::canonicalize(directory), path.file_name()) {
        (Ok(directory), Some(name)) => directory.join(name),
        _ => path.to_path_buf(),
    }
}

/// The file of a SQLite URL; `None` for another backend or a database in
/// memory.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    Some(options.get_filename().to_path_buf())
}

/// The file of a SQLite URL when it does not exist: what a command that
/// must not create a database (its connection would, as `mode=rwc` asks,
/// and the lock beside it) refuses before touching anything.
pub fn missing_sqlite_file(url: &str) -> Option<PathBuf> {
    sqlite_file(url).filter(|file| !file.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sqlite_files_are_locked() {
        assert_eq!(
            sqlite_file("sqlite:///tmp/k.db?mode=rwc"),
            Some(PathBuf::from("/tmp/k.db"))
        );
        assert_eq!(
            sqlite_file("sqlite://keyward.db?mode=rwc"),
            Some(PathBuf::from("keyward.db"))
        );
        for url in [
            "sqlite::memory:",
            "sqlite://?mode=memory",
            "postgres://postgres@127.0.0.1:5432/test",
        ] {
            assert_eq!(sqlite_file(url), None, "{url}");
        }
    }

    #[test]
    fn a_second_hold_of_the_same_file_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
        let first = DatabaseLock::acquire(&url).expect("first hold");
        let refused = DatabaseLock::acquire(&url).expect_err("second hold refused");
        assert!(
            refused
                .to_string()
                .contains("in use by another keyward process"),
            "{refused}"
        );
        drop(first);
        DatabaseLock::acquire(&url).expect("held again once released");
    }
}
