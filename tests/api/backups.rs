//! Backups taken while the server writes, restored as `docs/operations.md` says: every
//! key whose creation had returned before the backup began authenticates on
//! the restored server, and the trail holds its creation.
//!
//! SQLite: `keyward backup`, the file copied into place, a server started
//! on it. PostgreSQL: `pg_dump -Fc`, `pg_restore` into a new database, a
//! server started on it.

use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::backend::{Backend, POSTGRES_URL_VAR, TestDatabase, run_on};
use crate::helpers::*;
use crate::process::{ServerProcess, run_keyward};

/// Keys created before the backup starts, at least.
const KEYS_BEFORE: usize = 20;

#[tokio::test]
async fn a_sqlite_backup_taken_under_write_load_restores_every_key_created_before_it_with_its_trail()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    let backup = dir.path().join("keyward-backup.db");
    let restored = dir.path().join("restored").join("keyward.db");

    let app = TestApp::spawn().await;
    let url = app.database_url().to_owned();
    let (before, project) = under_write_load(&app, async {
        let output = backup.to_str().expect("a UTF-8 path");
        run_keyward(
            &["backup", "--database-url", &url, "--output", output],
            None,
        )
        .await
        .assert_success();
    })
    .await;

    // The restore of `docs/operations.md`: the backup copied into place (nothing of an
    // older database's -wal or -shm beside it), then a server started.
    std::fs::create_dir_all(restored.parent().expect("a directory")).expect("mkdir");
    std::fs::copy(&backup, &restored).expect("copy the backup into place");
    let server = ServerProcess::start(&format!("sqlite://{}?mode=rwc", restored.display()));
    assert_restored(&server, &before, &project).await;
}

#[tokio::test]
#[cfg_attr(
    not(keyward_postgres),
    ignore = "needs PostgreSQL: set KEYWARD_TEST_POSTGRES_URL"
)]
async fn a_postgres_backup_with_pg_dump_under_write_load_restores_into_a_new_database_with_every_key_and_its_trail()
 {
    assert!(
        has_program("pg_dump") && has_program("pg_restore"),
        "pg_dump and pg_restore are needed with {POSTGRES_URL_VAR} set \
         (Debian: apt-get install postgresql-client)"
    );
    run_on(Backend::Postgres, async {
        let dir = tempfile::tempdir().expect("temp dir");
        let dump = dir.path().join("keyward.dump");
        let dump_path = dump.to_str().expect("a UTF-8 path").to_owned();

        let app = TestApp::spawn().await;
        let replica = app.replica().await;
        let url = app.database_url().to_owned();
        let (before, project) = under_write_load(&app, async {
            let (url, dump_path) = (url.clone(), dump_path.clone());
            // As `docs/operations.md` says: the replicas' leases are not data.
            run_tool(
                "pg_dump",
                &[
                    "--format=custom",
                    "--exclude-table-data=replica_lease",
                    "--file",
                    &dump_path,
                    "--dbname",
                    &url,
                ],
            )
            .await;
        })
        .await;
        drop(replica);

        let target = TestDatabase::fresh(Backend::Postgres).await;
        run_tool(
            "pg_restore",
            &["--no-owner", "--dbname", &target.url, &dump_path],
        )
        .await;
        let server = ServerProcess::start(&target.url);
        assert_restored(&server, &before, &project).await;
    })
    .await;
}

/// Runs `backup` while keys are created one after another in a new
/// project, with access control on. Returns the keys whose creation had
/// returned before `backup` began, and the project.
async fn under_write_load(
    app: &TestApp,
    backup: impl Future<Output = ()>,
) -> (Vec<TestKey>, String) {
    app.enable_access_control().await;
    let project = app.create_project(&Auth::admin(), "backed up").await;
    let created = Mutex::new(Vec::<TestKey>::new());
    let stop = AtomicBool::new(false);
    let writer = async {
        let mut n = 0;
        while !stop.load(Ordering::Acquire) {
            n += 1;
            let reply = app
                .gql(
                    CREATE_KEY,
                    json!({ "i": { "projectId": project, "name": format!("key {n}"), "role": "MEMBER" } }),
                    &Auth::admin(),
                )
                .await;
            let key = key_from(reply.data());
            created.lock().expect("keys").push(key);
        }
    };
    let operator = async {
        let count = || created.lock().expect("keys").len();
        while count() < KEYS_BEFORE {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let before = created.lock().expect("keys").clone();
        backup.await;
        // Writes went on through the backup, and after it.
        let after_backup = count();
        while count() < after_backup + 5 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.store(true, Ordering::Release);
        before
    };
    let ((), before) = tokio::join!(writer, operator);
    (before, project)
}

/// Every key of `before` authenticates on `server` and has its KEY_CREATED
/// event; the keys and the KEY_CREATED events restored are the same number
/// (a key and its event commit together, and the backup holds whole
/// transactions).
async fn assert_restored(server: &ServerProcess, before: &[TestKey], project: &str) {
    let admin = Auth::admin();
    for key in before {
        let data = server.ok(VIEWER, json!({}), &key.auth()).await;
        assert_eq!(
            data["viewer"]["apiKey"]["accessKey"], key.access_key,
            "{data:#}"
        );
    }

    let mut recorded = Vec::new();
    let mut after = Value::Null;
    let total = loop {
        let data = server
            .ok(
                "query($after: String) { auditEvents(first: 100, after: $after, action: KEY_CREATED) {
                    totalCount edges { node { targetAccessKey outcome } }
                    pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after }),
                &admin,
            )
            .await;
        let page = &data["auditEvents"];
        for edge in page["edges"].as_array().expect("edges") {
            assert_eq!(edge["node"]["outcome"], "SUCCEEDED");
            recorded.push(edge["node"]["targetAccessKey"].as_str().map(str::to_owned));
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break page["totalCount"].as_u64().expect("totalCount");
        }
        after = page["pageInfo"]["endCursor"].clone();
    };
    for key in before {
        assert!(
            recorded.contains(&Some(key.access_key.clone())),
            "no KEY_CREATED event for {}",
            key.access_key
        );
    }

    let data = server
        .ok(
            "query($p: ID!) { project(id: $p) { apiKeys { totalCount } } }",
            json!({ "p": project }),
            &admin,
        )
        .await;
    let keys = data["project"]["apiKeys"]["totalCount"]
        .as_u64()
        .expect("totalCount");
    assert!(keys >= before.len() as u64, "{keys} keys restored");
    assert_eq!(keys, total, "as many keys as KEY_CREATED events");
}

fn has_program(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Runs a PostgreSQL client tool to its end, off the runtime's thread.
async fn run_tool(program: &str, args: &[&str]) {
    let (program, args): (String, Vec<String>) = (
        program.to_owned(),
        args.iter().map(|arg| (*arg).to_owned()).collect(),
    );
    let output = tokio::task::spawn_blocking(move || {
        let output = Command::new(&program)
            .args(&args)
            .output()
            .unwrap_or_else(|err| panic!("{program} runs: {err}"));
        (program, output)
    })
    .await
    .expect("the tool's thread");
    let (program, output) = output;
    assert!(
        output.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
