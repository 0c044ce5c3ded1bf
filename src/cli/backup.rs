//! `keyward backup --output FILE`: a consistent copy of a SQLite database,
//! taken while the server runs (see [`crate::store::backup_sqlite`]).
//! PostgreSQL is backed up with its own tools; the command says so.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CommandError, DatabaseUrl};
use crate::store::backup_sqlite;

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The file to write the backup to; it must not exist.
    #[arg(long, short)]
    pub output: PathBuf,

    #[command(flatten)]
    pub url: DatabaseUrl,
}

pub async fn run(args: BackupArgs) -> ExitCode {
    super::run("backup", backup(args)).await
}

async fn backup(args: BackupArgs) -> Result<String, CommandError> {
    // No DatabaseLock: a backup only reads, and is safe beside the server.
    let backup = backup_sqlite(&args.url.database_url, &args.output).await?;
    Ok(format!(
        "backed up {} to {} ({} bytes)",
        backup.database.display(),
        args.output.display(),
        backup.bytes
    ))
}
