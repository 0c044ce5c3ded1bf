//! `keyward-bench seed`: fills a database with many keys, fast, for
//! `bench/run.sh`; `keyward-bench reference`: the bare HTTP stack keyward's
//! own routes are measured against.
//!
//! Seeded keys all share one argon2id hash (of a secret nobody knows): only
//! the keys the benchmark authenticates with need real secrets, and those are
//! created through the API. The database is migrated by keyward's own
//! migrations, and the per-project key counts are set to match.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command line: what it did is what it prints"
)]

mod reference;

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use keyward::auth::{Hasher, Secret};
use keyward::ids::GlobalId;
use keyward::store::{KeyState, Role, Store, api_key, now, project};
use keyward::{DatabaseOptions, HashingConfig};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Database, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};

#[derive(Parser)]
#[command(about = "Seed a keyward database for the benchmark")]
enum Cli {
    /// Create the projects `bench-small` and `bench-large` and fill them.
    Seed {
        #[arg(long)]
        database_url: String,
        /// Keys in `bench-small`.
        #[arg(long, default_value_t = 1_000)]
        small: u32,
        /// Keys in `bench-large`.
        #[arg(long, default_value_t = 1_000_000)]
        large: u32,
    },
    /// Serve one file from memory at every path with bare axum on hyper,
    /// with the listener settings keyward's own listener uses (HTTP/1 and 2,
    /// the same head size limit and head timeout), and nothing else: the
    /// fastest this stack answers on this machine.
    Reference {
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// The file to serve (the benchmark serves the asset it also asks
        /// keyward for).
        #[arg(long)]
        file: std::path::PathBuf,
        /// Its `Content-Type`.
        #[arg(long, default_value = "image/svg+xml")]
        content_type: String,
    },
}

/// Rows per INSERT: under SQLite's limit of bound variables.
const BATCH: u32 = 2_000;
/// Rows per transaction.
const ROWS_PER_TRANSACTION: u32 = 100_000;

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = match Cli::parse() {
        Cli::Seed {
            database_url,
            small,
            large,
        } => seed(&database_url, small, large)
            .await
            .map_err(|err| format!("seeding failed: {err}")),
        Cli::Reference {
            listen,
            file,
            content_type,
        } => reference::serve(listen, &file, &content_type)
            .await
            .map_err(|err| format!("reference server: {err}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    }
}

async fn seed(url: &str, small: u32, large: u32) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let store = Store::connect(url, &DatabaseOptions::default()).await?;
    store.migrate().await?;
    let hasher = Hasher::new(HashingConfig::OWASP_MINIMUM).await?;
    let shared_hash = hasher
        .hash(Secret::new("seeded keys have no usable secret"))
        .await?;
    let db = Database::connect(url).await?;

    let mut output = serde_json::Map::new();
    for (name, count, prefix) in [("bench-small", small, 'S'), ("bench-large", large, 'L')] {
        // Straight into the table, like its keys: seeding is not an action
        // anyone takes through the API, and the trail is not what is timed.
        let project = project::ActiveModel {
            name: Set(name.to_owned()),
            description: Set(None),
            created_at: Set(now()),
            updated_at: Set(now()),
            active_key_count: Set(0),
            inactive_key_count: Set(0),
            ..Default::default()
        }
        .insert(&db)
        .await?;
        insert_keys(&db, project.id, count, prefix, &shared_hash).await?;
        // The cursor of the key in the middle: pages after it are the ones
        // the benchmark times.
        let middle = api_key::Entity::find()
            .filter(api_key::Column::ProjectId.eq(project.id))
            .order_by_asc(api_key::Column::Id)
            .offset(u64::from(count / 2))
            .one(&db)
            .await?
            .ok_or("no key to start pages after")?;
        let middle = GlobalId::api_key(middle.id);
        let label = name.trim_start_matches("bench-");
        output.insert(
            label.into(),
            GlobalId::project(project.id).to_string().into(),
        );
        output.insert(format!("{label}_cursor"), middle.to_string().into());
    }
    eprintln!(
        "seeded {} keys in {:.1} s",
        u64::from(small) + u64::from(large),
        started.elapsed().as_secs_f64()
    );
    println!("{}", serde_json::Value::Object(output));
    Ok(())
}

/// Inserts `count` active keys into `project_id`.
async fn insert_keys(
    db: &DatabaseConnection,
    project_id: i64,
    count: u32,
    prefix: char,
    hash: &str,
) -> Result<(), DbErr> {
    let now = now();
    let mut done = 0;
    while done < count {
        let txn = db.begin().await?;
        let end = count.min(done + ROWS_PER_TRANSACTION);
        while done < end {
            let batch_end = end.min(done + BATCH);
            let rows = (done..batch_end).map(|n| api_key::ActiveModel {
                project_id: Set(project_id),
                access_key: Set(format!("{prefix}{n:019}")),
                secret_hash: Set(hash.to_owned()),
                name: Set(format!("seeded key {n}")),
                description: Set(None),
                state: Set(KeyState::Active),
                role: Set(Role::ReadOnly),
                created_at: Set(now),
                updated_at: Set(now),
                last_used_at: Set(None),
                ..Default::default()
            });
            api_key::Entity::insert_many(rows).exec(&txn).await?;
            done = batch_end;
        }
        txn.commit().await?;
    }
    project::Entity::update_many()
        .col_expr(
            project::Column::ActiveKeyCount,
            Expr::value(i64::from(count)),
        )
        .filter(project::Column::Id.eq(project_id))
        .exec(db)
        .await?;
    Ok(())
}
