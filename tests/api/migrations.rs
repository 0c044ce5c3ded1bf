//! `keyward migrate` applies the migrations and exits; `serve --no-migrate`
//! starts only on a database at exactly this binary's migrations.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::json;

use crate::backend::{self, TestDatabase, on_every_backend};
use crate::helpers::{Auth, VIEWER};
use crate::process::{ServerProcess, run_keyward};

on_every_backend!(
    migrate_brings_a_fresh_database_to_this_keyward_and_serve_no_migrate_then_starts,
    serve_no_migrate_refuses_a_database_behind_this_keyward_naming_the_pending_migrations,
    a_database_ahead_of_this_keyward_is_refused_by_serve_no_migrate_and_by_migrate,
);

/// Every migration of this binary, by name.
fn every_migration() -> Vec<String> {
    Migrator::migrations()
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect()
}

/// `keyward serve --no-migrate` on `url`, run until it exits: it must refuse.
async fn serve_no_migrate(url: &str) -> String {
    run_keyward(
        &[
            "serve",
            "--no-migrate",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            url,
        ],
        None,
    )
    .await
    .assert_failure()
}

async fn migrate_brings_a_fresh_database_to_this_keyward_and_serve_no_migrate_then_starts() {
    let database = TestDatabase::fresh(backend::current()).await;

    let first = run_keyward(&["migrate", "--database-url", &database.url], None).await;
    let report = first.assert_success();
    let every = every_migration();
    assert!(
        report.contains(&format!("applied {} migrations", every.len())),
        "{report}"
    );
    for name in &every {
        assert!(
            report.contains(name.as_str()),
            "{name} missing from {report}"
        );
    }

    let again = run_keyward(&["migrate", "--database-url", &database.url], None).await;
    assert!(
        again.assert_success().contains("the database is current"),
        "{again:?}"
    );

    let server = ServerProcess::start_with(&database.url, "info", &["--no-migrate"]);
    let data = server.ok(VIEWER, json!({}), &Auth::None).await;
    assert_eq!(data["viewer"]["kind"], "ANONYMOUS");
}

async fn serve_no_migrate_refuses_a_database_behind_this_keyward_naming_the_pending_migrations() {
    let database = TestDatabase::fresh(backend::current()).await;
    if let Some(file) = keyward::store::sqlite_file(&database.url) {
        // An empty SQLite database: --no-migrate refuses a file that does
        // not exist for that reason alone.
        std::fs::File::create(file).expect("an empty database file");
    }

    let refusal = serve_no_migrate(&database.url).await;
    assert!(
        refusal.contains("--no-migrate") && refusal.contains("keyward migrate"),
        "{refusal}"
    );
    assert!(refusal.contains("behind this keyward"), "{refusal}");
    for name in every_migration() {
        assert!(refusal.contains(&name), "{name} missing from {refusal}");
    }

    // Nothing was migrated: the same command still refuses, and migrate
    // then applies every migration.
    serve_no_migrate(&database.url).await;
    let migrated = run_keyward(&["migrate", "--database-url", &database.url], None).await;
    assert!(
        migrated
            .assert_success()
            .contains(&format!("applied {} migrations", every_migration().len())),
        "{migrated:?}"
    );
}

async fn a_database_ahead_of_this_keyward_is_refused_by_serve_no_migrate_and_by_migrate() {
    const FROM_THE_FUTURE: &str = "m20991231_000001_from_a_newer_keyward";
    let database = TestDatabase::fresh(backend::current()).await;
    run_keyward(&["migrate", "--database-url", &database.url], None)
        .await
        .assert_success();
    // What a newer keyward's migrate would have left.
    let db = Database::connect(&database.url).await.expect("connect");
    let backend = db.get_database_backend();
    let placeholder = match backend {
        sea_orm::DbBackend::Postgres => "$1",
        _ => "?",
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        format!("INSERT INTO seaql_migrations (version, applied_at) VALUES ({placeholder}, 0)"),
        [FROM_THE_FUTURE.into()],
    ))
    .await
    .expect("insert");
    let _ = db.close().await;

    let refusal = serve_no_migrate(&database.url).await;
    assert!(refusal.contains("ahead of this keyward"), "{refusal}");
    assert!(refusal.contains(FROM_THE_FUTURE), "{refusal}");
    assert!(
        !every_migration().iter().any(|name| refusal.contains(name)),
        "only the unknown migration is named: {refusal}"
    );

    let refusal = run_keyward(&["migrate", "--database-url", &database.url], None)
        .await
        .assert_failure();
    assert!(
        refusal.contains("ahead of this keyward") && refusal.contains(FROM_THE_FUTURE),
        "{refusal}"
    );
}

#[tokio::test]
async fn serve_no_migrate_on_a_sqlite_file_that_does_not_exist_refuses_without_creating_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("absent.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());

    let refusal = serve_no_migrate(&url).await;
    assert!(
        refusal.contains("does not exist") && refusal.contains(&file.display().to_string()),
        "{refusal}"
    );
    assert!(refusal.contains("keyward migrate"), "{refusal}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("the directory")
        .map(|entry| entry.map(|entry| entry.file_name()))
        .collect::<Result<_, _>>()
        .expect("its entries");
    assert!(left.is_empty(), "nothing created: {left:?}");
}

/// `migrate` exits leaving a SQLite file that is the whole database on its
/// own (its write-ahead log checkpointed): a copy of the file alone, as an
/// operator might take right after, is current.
#[tokio::test]
async fn on_sqlite_migrate_leaves_a_database_file_complete_on_its_own() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url_of = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
    run_keyward(&["migrate", "--database-url", &url_of("k.db")], None)
        .await
        .assert_success();
    std::fs::copy(dir.path().join("k.db"), dir.path().join("copy.db")).expect("copy");
    let copy = run_keyward(&["migrate", "--database-url", &url_of("copy.db")], None).await;
    let report = copy.assert_success();
    assert!(
        report.contains("no migration to apply") && !report.contains("applied"),
        "{report}"
    );
}
