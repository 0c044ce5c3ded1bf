//! The data layer under concurrent writers and a database that stops
//! answering: counts stay exact, no write fails because another one is in
//! progress, and a silent database costs a request its configured timeouts,
//! not the request timeout.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::backend::{self, Backend, TestDatabase, on_every_backend, run_on};
use crate::helpers::*;
use crate::proxy::Proxy;

on_every_backend!(
    key_counts_equal_a_walk_of_the_keys_after_racing_deletes_and_state_changes_on_two_replicas,
    deleting_a_project_while_its_keys_change_fails_no_write,
);

/// Requests in flight at once in the concurrency tests: enough for writers to
/// overlap on every backend, few enough for the pool (10 connections).
const IN_FLIGHT: usize = 8;

const WALK: &str = "query($p: ID!, $s: KeyState, $a: String) { project(id: $p) {
    apiKeys(first: 100, state: $s, after: $a) {
        totalCount edges { node { id state } } pageInfo { hasNextPage endCursor } } } }";

/// `totalCount` of the project's keys (in `state`), and the keys a full walk
/// of the edges finds.
async fn count_and_walk(app: &TestApp, project: &str, state: Option<&str>) -> (u64, Vec<String>) {
    let mut after: Option<String> = None;
    let mut total = None;
    let mut ids = Vec::new();
    loop {
        let data = app
            .ok(
                WALK,
                json!({ "p": project, "s": state, "a": after }),
                &Auth::None,
            )
            .await;
        let keys = &data["project"]["apiKeys"];
        // Every page reports the same total while nothing writes.
        let page_total = keys["totalCount"].as_u64().expect("totalCount");
        assert_eq!(*total.get_or_insert(page_total), page_total);
        for edge in keys["edges"].as_array().expect("edges") {
            if let Some(state) = state {
                assert_eq!(edge["node"]["state"], state);
            }
            ids.push(id_of(&edge["node"]));
        }
        if keys["pageInfo"]["hasNextPage"] != true {
            return (total.unwrap_or(0), ids);
        }
        after = keys["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
}

/// The error codes of a reply (empty when it succeeded), with the whole reply
/// when it was not a GraphQL answer at all.
fn outcome(reply: &Reply) -> Result<Vec<String>, String> {
    if reply.body.get("data").is_none() && reply.body.get("errors").is_none() {
        return Err(format!("{reply:?}"));
    }
    Ok(reply.codes())
}

async fn set(app: &TestApp, id: &str, state: &str) -> Reply {
    app.gql(
        SET_STATE,
        json!({ "i": { "id": id, "state": state } }),
        &Auth::None,
    )
    .await
}

async fn delete(app: &TestApp, id: &str) -> Reply {
    app.gql(DELETE_KEY, json!({ "i": { "id": id } }), &Auth::None)
        .await
}

async fn create_keys(app: &TestApp, project: &str, count: usize) -> Vec<String> {
    futures::stream::iter(0..count)
        .map(|i| async move {
            let data = app
                .ok(
                    CREATE_KEY,
                    json!({ "i": { "projectId": project, "name": format!("k{i}") } }),
                    &Auth::None,
                )
                .await;
            id_of(&data["createApiKey"]["apiKey"])
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await
}

async fn key_counts_equal_a_walk_of_the_keys_after_racing_deletes_and_state_changes_on_two_replicas()
 {
    let a = TestApp::spawn().await;
    let b = a.replica().await;
    let project = a.create_project(&Auth::None, "racing").await;

    // Pairs: A deletes a key while B deactivates it. Depending on who wins,
    // the delete is refused (still ACTIVE) or the deactivation finds nothing.
    let pairs = create_keys(&a, &project, 300).await;
    // Mixes: each key is deactivated, activated, deleted and deactivated at
    // once, through both replicas.
    let mixes = create_keys(&a, &project, 100).await;

    let mut unexpected = Vec::new();
    let results: Vec<Vec<Reply>> = futures::stream::iter(pairs.iter())
        .map(|id| async {
            let (deleted, deactivated) = tokio::join!(delete(&a, id), set(&b, id, "INACTIVE"));
            vec![deleted, deactivated]
        })
        .buffer_unordered(IN_FLIGHT)
        .chain(
            futures::stream::iter(mixes.iter())
                .map(|id| async {
                    let (one, two, three, four) = tokio::join!(
                        set(&a, id, "INACTIVE"),
                        set(&b, id, "ACTIVE"),
                        delete(&a, id),
                        set(&b, id, "INACTIVE"),
                    );
                    vec![one, two, three, four]
                })
                .buffer_unordered(IN_FLIGHT / 2),
        )
        .collect()
        .await;
    for reply in results.iter().flatten() {
        match outcome(reply) {
            // Losing a race is a refusal the caller can act on; nothing else
            // is acceptable.
            Ok(codes) if codes.iter().all(|c| c == "CONFLICT" || c == "NOT_FOUND") => {}
            other => unexpected.push(format!("{other:?}")),
        }
    }
    assert!(
        unexpected.is_empty(),
        "{} unexpected replies, e.g. {:?}",
        unexpected.len(),
        unexpected.first()
    );

    for app in [&a, &b] {
        let (total, all) = count_and_walk(app, &project, None).await;
        let (active, active_ids) = count_and_walk(app, &project, Some("ACTIVE")).await;
        let (inactive, inactive_ids) = count_and_walk(app, &project, Some("INACTIVE")).await;
        assert_eq!(total, all.len() as u64, "unfiltered totalCount");
        assert_eq!(active, active_ids.len() as u64, "ACTIVE totalCount");
        assert_eq!(inactive, inactive_ids.len() as u64, "INACTIVE totalCount");
        assert_eq!(active + inactive, total, "the states add up");
    }
}

async fn deleting_a_project_while_its_keys_change_fails_no_write() {
    let a = TestApp::spawn().await;
    let b = a.replica().await;
    for round in 0..3 {
        let project = a
            .create_project(&Auth::None, &format!("doomed {round}"))
            .await;
        let keys = create_keys(&a, &project, 40).await;
        // Key writes lock the key, then its project; deleting the project
        // locks it, then its keys. Whatever the order, no write may fail for
        // it (a deadlock would be INTERNAL).
        let key_writes = futures::stream::iter(keys.iter())
            .map(|id| async {
                let (deactivated, deleted) = tokio::join!(set(&b, id, "INACTIVE"), delete(&a, id));
                [deactivated, deleted]
            })
            .buffer_unordered(IN_FLIGHT);
        let project_deleted = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            a.gql(
                DELETE_PROJECT,
                json!({ "i": { "id": project } }),
                &Auth::None,
            )
            .await
        };
        let (replies, deleted): (Vec<_>, _) = tokio::join!(key_writes.collect(), project_deleted);
        deleted.data();
        for reply in replies.iter().flatten() {
            match outcome(reply) {
                Ok(codes) if codes.iter().all(|c| c == "CONFLICT" || c == "NOT_FOUND") => {}
                other => panic!("round {round}: {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn on_sqlite_deletes_never_fail_while_other_clients_create_and_rename_keys() {
    run_on(Backend::Sqlite, async {
        let app = TestApp::spawn().await;
        let project = app.create_project(&Auth::None, "busy").await;
        let doomed = create_keys(&app, &project, 300).await;
        for chunk in doomed.chunks(IN_FLIGHT) {
            futures::future::join_all(chunk.iter().map(|id| {
                app.ok(
                    SET_STATE,
                    json!({ "i": { "id": id, "state": "INACTIVE" } }),
                    &Auth::None,
                )
            }))
            .await;
        }
        let renamed = create_keys(&app, &project, 4).await;

        let done = AtomicBool::new(false);
        let failures = std::sync::Mutex::new(Vec::new());
        let fail = |what: &str, reply: &Reply| {
            if outcome(reply).map_or(true, |codes| !codes.is_empty()) {
                failures
                    .lock()
                    .expect("failures")
                    .push(format!("{what}: {reply:?}"));
            }
        };
        // Other clients write all along: each creates a key and renames one.
        let others = futures::future::join_all(renamed.iter().enumerate().map(|(n, id)| {
            let (app, project, done, fail) = (&app, &project, &done, &fail);
            async move {
                let mut round = 0;
                while !done.load(Ordering::Relaxed) {
                    round += 1;
                    let created = app
                        .gql(
                            CREATE_KEY,
                            json!({ "i": { "projectId": project, "name": format!("c{n}-{round}") } }),
                            &Auth::None,
                        )
                        .await;
                    fail("createApiKey", &created);
                    let renamed = app
                        .gql(
                            RENAME,
                            json!({ "i": { "id": id, "name": format!("r{n}-{round}") } }),
                            &Auth::None,
                        )
                        .await;
                    fail("renameKey", &renamed);
                }
                round
            }
        }));
        let deletes = async {
            let (app, fail) = (&app, &fail);
            let deleted = futures::stream::iter(doomed.iter())
                .map(|id| async move { fail("deleteKey", &delete(app, id).await) })
                .buffer_unordered(IN_FLIGHT)
                .count()
                .await;
            done.store(true, Ordering::Relaxed);
            deleted
        };
        let (rounds, deleted) = tokio::join!(others, deletes);
        let failures = failures.into_inner().expect("failures");
        assert!(
            failures.is_empty(),
            "{} of {} deletes and {} other writes failed, e.g. {:?}",
            failures.len(),
            deleted,
            rounds.iter().sum::<usize>() * 2,
            failures.first()
        );
        assert!(rounds.iter().all(|r| *r > 0), "the other clients wrote");
    })
    .await;
}

/// A TCP proxy to PostgreSQL that can go silent: connections stay open, but
/// nothing gets through in either direction until it speaks again.
struct BlackHole {
    addr: SocketAddr,
    silent: watch::Sender<bool>,
}

impl BlackHole {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (silent, watcher) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(pump(client_read, server_write, watcher.clone()));
                tokio::spawn(pump(server_read, client_write, watcher.clone()));
            }
        });
        Self { addr, silent }
    }

    fn go_silent(&self) {
        self.silent.send_replace(true);
    }

    fn speak(&self) {
        self.silent.send_replace(false);
    }
}

/// Copies `from` to `to`, holding what it has while the proxy is silent.
async fn pump(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    mut silent: watch::Receiver<bool>,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        if silent.wait_for(|silent| !*silent).await.is_err() {
            return;
        }
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if silent.wait_for(|silent| !*silent).await.is_err()
            || to.write_all(&buffer[..read]).await.is_err()
        {
            return;
        }
    }
}

#[tokio::test]
#[cfg_attr(
    not(keyward_postgres),
    ignore = "needs PostgreSQL: set KEYWARD_TEST_POSTGRES_URL"
)]
async fn a_silent_database_fails_requests_with_internal_within_the_database_timeouts() {
    run_on(Backend::Postgres, async {
        const CONNECT_MS: u64 = 500;
        const STATEMENT_MS: u64 = 1_000;
        // What one statement may take on the client side (a connection, then
        // the statement), tripled for a busy test machine: still far below
        // the 30 s request timeout that used to end such requests.
        let bound = Duration::from_millis(3 * (CONNECT_MS + STATEMENT_MS));

        let database = TestDatabase::fresh(Backend::Postgres).await;
        let proxy = BlackHole::start(backend::postgres_host(&database.url).1).await;
        let proxied = backend::through_proxy(&database.url, proxy.addr);
        let app = TestApp::spawn_with(|config| {
            config.database_url = proxied;
            config.database.db_connect_timeout_ms = CONNECT_MS;
            config.database.db_statement_timeout_ms = STATEMENT_MS;
        })
        .await;
        let project = app.create_project(&Auth::None, "silent").await;
        let keys = create_keys(&app, &project, 4).await;

        // Clients keep writing, so that some hold a connection, mid-statement,
        // when the database goes silent.
        let stop = AtomicBool::new(false);
        let request = |query: &str, variables: Value| {
            let request = app
                .client
                .post(app.url("/graphql"))
                // Past this the server is hanging: recorded, not awaited.
                .timeout(Duration::from_secs(10))
                .json(&json!({ "query": query, "variables": variables }));
            async move {
                let started = Instant::now();
                let reply = request.send().await;
                let text = match reply {
                    Ok(reply) => reply.text().await.unwrap_or_default(),
                    Err(err) => format!("no answer: {err}"),
                };
                (started.elapsed(), text)
            }
        };
        let writers = futures::future::join_all(keys.iter().enumerate().map(|(n, id)| {
            let (stop, request) = (&stop, &request);
            async move {
                let mut replies = Vec::new();
                let mut round = 0;
                while !stop.load(Ordering::Relaxed) {
                    round += 1;
                    let name = format!("w{n}-{round}");
                    replies.push(request(RENAME, json!({ "i": { "id": id, "name": name } })).await);
                }
                replies
            }
        }));
        let silence = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            proxy.go_silent();

            // A new request fails cleanly, and soon.
            let (took, text) = request("{ projects { totalCount } }", json!({})).await;
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "INTERNAL",
                "{text}"
            );
            assert!(took < bound, "answered after {took:?}");
            let started = Instant::now();
            let health = app
                .client
                .get(app.url("/healthz"))
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .expect("/healthz answers");
            assert_eq!(health.status(), 503);
            assert!(
                started.elapsed() < bound,
                "/healthz after {:?}",
                started.elapsed()
            );
            stop.store(true, Ordering::Relaxed);
        };
        let (replies, ()) = tokio::join!(writers, silence);

        // Every write answered within the bound, with data or INTERNAL: those
        // caught mid-statement included (OUTCOME_UNKNOWN for one caught in
        // its commit).
        for (took, text) in replies.iter().flatten() {
            assert!(*took < bound, "answered after {took:?}: {text}");
            let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            let code = &body["errors"][0]["extensions"]["code"];
            assert!(
                body["data"]["renameKey"].is_object()
                    || code == "INTERNAL"
                    || code == "OUTCOME_UNKNOWN",
                "{text}"
            );
            assert!(!text.contains("127.0.0.1"), "no internals: {text}");
        }
        let failed = replies
            .iter()
            .flatten()
            .filter(|(_, text)| text.contains("INTERNAL"))
            .count();
        assert!(failed > 0, "the writers ran into the silence");

        // Once the database answers again, so does the server.
        proxy.speak();
        let deadline = Instant::now() + Duration::from_secs(15);
        while send(app.client.get(app.url("/healthz"))).await.status != 200 {
            assert!(Instant::now() < deadline, "/healthz never recovered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        app.ok(
            RENAME,
            json!({ "i": { "id": keys[0], "name": "after" } }),
            &Auth::None,
        )
        .await;
        let (total, _) = count_and_walk(&app, &project, None).await;
        assert_eq!(total, 4);
    })
    .await;
}

/// A commit the database never confirms may have been applied or not: the
/// client is told exactly that (`OUTCOME_UNKNOWN`), not `INTERNAL`, which
/// reads as a failure and invites a retry that could apply it twice.
#[tokio::test]
#[cfg_attr(
    not(keyward_postgres),
    ignore = "needs PostgreSQL: set KEYWARD_TEST_POSTGRES_URL"
)]
async fn a_commit_given_up_on_is_answered_outcome_unknown_not_internal() {
    run_on(Backend::Postgres, async {
        let database = TestDatabase::fresh(Backend::Postgres).await;
        let proxy = Proxy::start(backend::postgres_host(&database.url).1).await;
        let proxied = backend::through_proxy(&database.url, proxy.addr);
        // In clear, for the proxy to see the statements.
        let separator = if proxied.contains('?') { '&' } else { '?' };
        let app = TestApp::spawn_with(|config| {
            config.database_url = format!("{proxied}{separator}sslmode=disable");
            config.database.db_statement_timeout_ms = 1_000;
        })
        .await;
        let project = app.create_project(&Auth::None, "commits").await;

        let name = "held at its commit";
        proxy.stall_commit_after(name);
        let started = Instant::now();
        let reply = app
            .gql(
                CREATE_KEY,
                json!({ "i": { "projectId": project, "name": name } }),
                &Auth::None,
            )
            .await;
        assert_eq!(reply.codes(), vec!["OUTCOME_UNKNOWN"], "{reply:?}");
        let message = reply.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains("check before retrying"), "{message}");
        assert!(!message.contains("127.0.0.1"), "no internals: {message}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    })
    .await;
}
