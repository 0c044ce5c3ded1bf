//! `keyward migrate`: applies the pending migrations and exits, for
//! deployments that migrate as a step of their own and start the servers
//! with `--no-migrate`.

use std::process::ExitCode;

use super::{CommandError, DatabaseUrl, connect};
use crate::config::DatabaseOptions;
use crate::store::{DatabaseLock, MigrationStatus};

#[derive(Clone, Debug, clap::Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub url: DatabaseUrl,

    #[command(flatten)]
    pub pool: DatabaseOptions,
}

pub async fn run(args: MigrateArgs) -> ExitCode {
    super::run("migrate", migrate(args)).await
}

async fn migrate(args: MigrateArgs) -> Result<String, CommandError> {
    let url = &args.url.database_url;
    // On SQLite, not beside a running server (its state would be another
    // schema's); on PostgreSQL, replicas starting meanwhile wait for the
    // migration's advisory lock.
    let _lock = DatabaseLock::acquire(url)?;
    let store = connect(url, &args.pool).await?;
    // Said before anything is tried: a newer keyward's database is left as
    // it is.
    if let status @ MigrationStatus::Ahead { .. } = store.migration_status().await? {
        return Err(CommandError::NotMigrated(status));
    }
    let applied = store.migrate().await;
    store.close().await;
    let applied = applied.map_err(CommandError::Migrate)?;
    Ok(match applied.as_slice() {
        [] => "the database is current: no migration to apply".to_owned(),
        applied => format!(
            "applied {} migration{}:\n{}",
            applied.len(),
            if applied.len() == 1 { "" } else { "s" },
            applied
                .iter()
                .map(|name| format!("  {name}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
    })
}
