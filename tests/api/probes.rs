//! The probes an orchestrator asks: `/livez` (the process answers) and
//! `/readyz` (this replica should be sent traffic: the database answers, its
//! migrations are this binary's, and on PostgreSQL the replica holds its
//! lease).

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;

use crate::backend::{
    Backend, TestDatabase, on_every_backend, postgres_host, run_on, through_proxy,
};
use crate::helpers::*;
use crate::process::ServerProcess;
use crate::proxy::Proxy;

on_every_backend!(
    a_ready_server_answers_both_probes,
    readyz_refuses_traffic_while_the_database_has_migrations_this_binary_does_not_know,
);

/// Polls `path` until it answers `status`, for at most `patience`.
async fn until_status(app: &TestApp, path: &str, status: u16, patience: Duration) -> Reply {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let reply = send(app.client.get(app.url(path))).await;
        if reply.status == status {
            return reply;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never answered {status}; last: {reply:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_ready_server_answers_both_probes() {
    let app = TestApp::spawn().await;
    // On PostgreSQL the first lease is taken within a second of starting.
    let ready = until_status(&app, "/readyz", 200, Duration::from_secs(10)).await;
    assert_eq!(ready.body, serde_json::json!({ "status": "ready" }));
    let live = send(app.client.get(app.url("/livez"))).await;
    assert_eq!(live.status, 200);
    assert_eq!(live.body, serde_json::json!({ "status": "ok" }));
    for probe in ["/livez", "/readyz"] {
        let head = app
            .client
            .head(app.url(probe))
            .send()
            .await
            .expect("an answer");
        assert!(
            head.status().is_success(),
            "HEAD {probe}: {}",
            head.status()
        );
    }
}

/// `/readyz` answers anyone: it says that the migrations differ, and the
/// log says which, once per change however often the probe asks.
#[tokio::test]
async fn readyz_names_no_migration_to_callers_and_logs_the_names_once_per_change() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
    let server = ServerProcess::start(&url);
    let db = Database::connect(&url).await.expect("connect");
    let future = "m20991231_000001_from_a_newer_keyward";
    db.execute_unprepared(&format!(
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('{future}', 0)"
    ))
    .await
    .expect("insert");
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let reply = send(client.get(format!("{}/readyz", server.base_url))).await;
        assert_eq!(reply.status, 503, "{reply:?}");
        let body = reply.body.to_string();
        assert!(body.contains("does not know"), "{body}");
        assert!(!body.contains(future), "no name for callers: {body}");
    }
    let _ = db.close().await;

    let log = server.stop();
    let naming: Vec<_> = log.iter().filter(|line| line.contains(future)).collect();
    assert_eq!(naming.len(), 1, "logged once: {naming:#?}");
    assert!(naming[0].contains("WARN"), "{}", naming[0]);
}

async fn readyz_refuses_traffic_while_the_database_has_migrations_this_binary_does_not_know() {
    let app = TestApp::spawn().await;
    until_status(&app, "/readyz", 200, Duration::from_secs(10)).await;
    // As if a newer keyward had migrated the database under this one.
    let db = Database::connect(app.database_url())
        .await
        .expect("connect");
    let future = "m20991231_000001_from_a_newer_keyward";
    db.execute_unprepared(&format!(
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('{future}', 0)"
    ))
    .await
    .expect("insert");

    let not_ready = send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(not_ready.status, 503, "{not_ready:?}");
    assert_eq!(not_ready.body["status"], "not ready");
    let reasons = not_ready.body["reasons"].to_string();
    assert!(
        reasons.contains("migrations this keyward does not know"),
        "{reasons}"
    );
    assert!(
        !reasons.contains(future),
        "names only in the log: {reasons}"
    );
    // Alive all the same: restarting would not help.
    assert_eq!(send(app.client.get(app.url("/livez"))).await.status, 200);

    db.execute_unprepared(&format!(
        "DELETE FROM seaql_migrations WHERE version = '{future}'"
    ))
    .await
    .expect("delete");
    until_status(&app, "/readyz", 200, Duration::from_secs(5)).await;
    let _ = db.close().await;
}

#[tokio::test]
#[cfg_attr(
    not(keyward_postgres),
    ignore = "needs PostgreSQL: set KEYWARD_TEST_POSTGRES_URL"
)]
async fn readyz_turns_503_during_a_database_outage_and_back_while_livez_keeps_answering() {
    run_on(Backend::Postgres, async {
        // The server reaches PostgreSQL only through a proxy the test controls.
        let database = TestDatabase::fresh(Backend::Postgres).await;
        let proxy = Proxy::start(postgres_host(&database.url).1).await;
        let proxied = through_proxy(&database.url, proxy.addr);
        let app = TestApp::spawn_with(|config| {
            config.database_url = proxied;
            config.database.db_connect_timeout_ms = 1_000;
        })
        .await;
        until_status(&app, "/readyz", 200, Duration::from_secs(10)).await;

        proxy.cut();
        let down = until_status(&app, "/readyz", 503, Duration::from_secs(15)).await;
        assert_eq!(down.body["status"], "not ready");
        let reasons: Vec<Value> = down.body["reasons"].as_array().cloned().unwrap_or_default();
        assert!(
            reasons
                .iter()
                .any(|reason| reason.as_str().is_some_and(|r| r.contains("database"))),
            "{reasons:?}"
        );
        assert!(
            !down.body.to_string().contains("127.0.0.1"),
            "no internals in the answer: {down:?}"
        );
        let live = send(app.client.get(app.url("/livez"))).await;
        assert_eq!(live.status, 200, "the process itself is fine");

        proxy.restore();
        // The pool reconnects and the lease is taken again by themselves.
        until_status(&app, "/readyz", 200, Duration::from_secs(15)).await;
    })
    .await;
}
