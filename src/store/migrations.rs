//! The database's migrations against this binary's: applying the pending
//! ones, and telling whether the database is behind or ahead.
//!
//! sea-orm-migration records each applied migration by name in the
//! `seaql_migrations` table. A database is **current** when that table names
//! exactly [`Migrator::migrations`]; **behind** when some of them are
//! missing (a database never migrated has no table, and every migration is
//! pending); **ahead** when it names a migration this binary does not know,
//! as after a newer keyward migrated it.

use std::fmt;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, TransactionTrait};

use super::Store;
use crate::error::Error;

/// Key of the PostgreSQL advisory lock held while migrating ("keyward" in
/// ASCII, as a number).
const MIGRATION_LOCK_KEY: i64 = 0x006B_6579_7761_7264;

/// Where the database's migrations stand against this binary's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MigrationStatus {
    /// Exactly this binary's migrations are applied.
    Current,
    /// These migrations of this binary are not applied yet, in the order
    /// they apply.
    Behind { pending: Vec<String> },
    /// The database has these migrations, which this binary does not know
    /// (whether or not some of its own are missing too).
    Ahead { unknown: Vec<String> },
}

impl fmt::Display for MigrationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Current => f.write_str("at this keyward's migrations"),
            Self::Behind { pending } => write!(
                f,
                "behind this keyward: {} pending ({})",
                count(pending.len()),
                pending.join(", ")
            ),
            Self::Ahead { unknown } => write!(
                f,
                "ahead of this keyward: it has {} this keyward does not know ({}), \
                 applied by a newer keyward",
                count(unknown.len()),
                unknown.join(", ")
            ),
        }
    }
}

impl MigrationStatus {
    /// What anyone may be told: that the migrations differ, and which way,
    /// but not their names (they say which version runs, and `/readyz`
    /// answers without credentials). The names go to the log.
    pub fn without_names(&self) -> &'static str {
        match self {
            Self::Current => "the database is at this keyward's migrations",
            Self::Behind { .. } => "the database is behind this keyward's migrations",
            Self::Ahead { .. } => "the database has migrations this keyward does not know",
        }
    }

    /// What an operator does about it.
    pub fn remedy(&self) -> &'static str {
        match self {
            Self::Current => "nothing to do",
            Self::Behind { .. } => {
                "run `keyward migrate` first (or start the server without --no-migrate)"
            }
            Self::Ahead { .. } => {
                "run a keyward at least as new as the one that migrated it \
                 (keyward never undoes migrations)"
            }
        }
    }
}

fn count(n: usize) -> String {
    match n {
        1 => "1 migration".to_owned(),
        n => format!("{n} migrations"),
    }
}

impl Store {
    /// Where the database's migrations stand against this binary's. Reads
    /// only; an empty database (no migration table) is behind by every
    /// migration.
    pub async fn migration_status(&self) -> Result<MigrationStatus, Error> {
        Ok(status_on(self.db()).await?)
    }

    /// Applies every pending migration, in one transaction, and returns the
    /// names of those it applied (none when the database was current).
    /// Refuses a database that is ahead of this binary.
    ///
    /// On PostgreSQL the transaction first takes an advisory lock, so that
    /// replicas starting together against an empty database take turns: the
    /// first one migrates, the others wait and then find nothing to do.
    pub async fn migrate(&self) -> Result<Vec<String>, DbErr> {
        // Unbounded on purpose: a migration may legitimately outlast the
        // statement timeout, and it runs before the server serves anything.
        let txn = self.db().inner().begin().await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_unprepared(&format!(
                "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
            ))
            .await?;
        }
        // Under the lock: what another process applied meanwhile is seen.
        let pending = match status_on(&txn).await? {
            MigrationStatus::Current => Vec::new(),
            MigrationStatus::Behind { pending } => pending,
            ahead @ MigrationStatus::Ahead { .. } => {
                return Err(DbErr::Migration(format!(
                    "the database is {ahead}; this keyward cannot migrate it"
                )));
            }
        };
        if !pending.is_empty() {
            Migrator::up(&txn, None).await?;
        }
        txn.commit().await?;
        Ok(pending)
    }
}

/// The status of the database `conn` reaches.
async fn status_on(conn: &impl ConnectionTrait) -> Result<MigrationStatus, DbErr> {
    let known: Vec<String> = Migrator::migrations()
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect();
    Ok(compare(&known, &applied(conn).await?))
}

/// The names the migration table records; none when there is no table.
async fn applied(conn: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    let backend = conn.get_database_backend();
    let table = Migrator::migration_table_name().to_string();
    let exists = match backend {
        DbBackend::Postgres => Statement::from_sql_and_values(
            backend,
            "SELECT COUNT(*) AS n FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = $1",
            [table.clone().into()],
        ),
        _ => Statement::from_sql_and_values(
            backend,
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?",
            [table.clone().into()],
        ),
    };
    let present = match conn.query_one_raw(exists).await? {
        Some(row) => row.try_get::<i64>("", "n")? > 0,
        None => false,
    };
    if !present {
        return Ok(Vec::new());
    }
    let rows = conn
        .query_all_raw(Statement::from_string(
            backend,
            format!("SELECT version FROM {table}"),
        ))
        .await?;
    rows.iter()
        .map(|row| row.try_get::<String>("", "version"))
        .collect()
}

/// `applied` against `known` (this binary's migrations, in order).
fn compare(known: &[String], applied: &[String]) -> MigrationStatus {
    let mut unknown: Vec<String> = applied
        .iter()
        .filter(|name| !known.contains(name))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        // Names start with their date: sorted is chronological.
        unknown.sort();
        return MigrationStatus::Ahead { unknown };
    }
    let pending: Vec<String> = known
        .iter()
        .filter(|name| !applied.contains(name))
        .cloned()
        .collect();
    if pending.is_empty() {
        MigrationStatus::Current
    } else {
        MigrationStatus::Behind { pending }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn the_database_is_compared_name_by_name() {
        let known = names(&["m1", "m2", "m3"]);
        assert_eq!(
            compare(&known, &names(&["m3", "m1", "m2"])),
            MigrationStatus::Current
        );
        assert_eq!(
            compare(&known, &[]),
            MigrationStatus::Behind {
                pending: names(&["m1", "m2", "m3"])
            }
        );
        assert_eq!(
            compare(&known, &names(&["m1"])),
            MigrationStatus::Behind {
                pending: names(&["m2", "m3"])
            }
        );
        assert_eq!(
            compare(&known, &names(&["m1", "m2", "m3", "m5", "m4"])),
            MigrationStatus::Ahead {
                unknown: names(&["m4", "m5"])
            }
        );
        // Unknown migrations decide, even with some of ours missing.
        assert_eq!(
            compare(&known, &names(&["m1", "x9"])),
            MigrationStatus::Ahead {
                unknown: names(&["x9"])
            }
        );
    }

    #[test]
    fn the_status_names_the_migrations_concerned() {
        let behind = MigrationStatus::Behind {
            pending: names(&["m2", "m3"]),
        };
        assert_eq!(
            behind.to_string(),
            "behind this keyward: 2 migrations pending (m2, m3)"
        );
        let ahead = MigrationStatus::Ahead {
            unknown: names(&["m9"]),
        };
        assert!(
            ahead
                .to_string()
                .contains("1 migration this keyward does not know (m9)")
        );
    }

    #[tokio::test]
    async fn an_empty_database_is_behind_by_every_migration_until_migrated() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
        let store = Store::connect(&url, &crate::DatabaseOptions::default())
            .await
            .expect("connect");
        let every: Vec<String> = Migrator::migrations()
            .iter()
            .map(|migration| migration.name().to_owned())
            .collect();
        assert_eq!(
            store.migration_status().await.expect("status"),
            MigrationStatus::Behind {
                pending: every.clone()
            }
        );
        assert_eq!(store.migrate().await.expect("migrate"), every);
        assert_eq!(
            store.migration_status().await.expect("status"),
            MigrationStatus::Current
        );
        assert!(store.migrate().await.expect("migrate again").is_empty());
    }
}
