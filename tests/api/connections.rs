//! What no client can do to the server: make it run more argon2 than its
//! throttle allows by sending requests at once, hold connections that send
//! nothing, fill memory with unfinished heads, or get an answer that hides
//! what a mutation committed.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::backend::on_every_backend;
use crate::helpers::*;
use crate::process::ServerProcess;

on_every_backend!(
    concurrent_wrong_secrets_from_one_address_run_no_more_argon2_than_its_limit,
    a_mutation_outliving_the_request_timeout_reports_everything_it_committed,
);

/// argon2's concurrency in the tests' hashing config: the slack the issue
/// allows on top of the address's limit.
const ARGON2_CONCURRENCY: u64 = 2;

async fn concurrent_wrong_secrets_from_one_address_run_no_more_argon2_than_its_limit() {
    let app = TestApp::spawn_with(|config| {
        config.limits.auth_throttle_delay_ms = 0;
        config.limits.max_connections = 2_048;
        config.limits.max_connections_per_address = Some(2_048);
    })
    .await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let (admin, mut keys) = (Auth::admin(), Vec::new());
    for _ in 0..4 {
        let batch = (0..100).map(|_| app.create_key(&admin, &project, "READ_ONLY"));
        keys.extend(futures::future::join_all(batch).await);
    }

    let before = app.argon2_verifications();
    let guesses = keys.iter().map(|key| {
        let wrong = Auth::basic(&key.access_key, &"x".repeat(40));
        let app = &app;
        async move { app.gql(VIEWER, json!({}), &wrong).await.status }
    });
    let statuses = futures::future::join_all(guesses).await;
    let ran = app.argon2_verifications() - before;
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(refused + throttled, 400, "{statuses:?}");
    assert!(
        ran <= 100 + ARGON2_CONCURRENCY,
        "{ran} verifications for 400 guesses"
    );
    let failures = failed_auth_counts(&app, &project).await;
    assert!(
        failures <= 100 + ARGON2_CONCURRENCY,
        "failedAuthCount adds up to {failures}"
    );
    assert_eq!(
        usize::try_from(failures).unwrap(),
        refused,
        "each verified guess counted on its key"
    );
    // The administrator, verified before the flood, still gets in.
    app.ok(VIEWER, json!({}), &Auth::admin()).await;
}

/// The sum of `failedAuthCount` over every key of `project`.
async fn failed_auth_counts(app: &TestApp, project: &str) -> u64 {
    let query = "query($after: String) { project { apiKeys(first: 100, after: $after) {
        edges { node { failedAuthCount } } pageInfo { hasNextPage endCursor } } } }";
    let (mut sum, mut after) = (0, Value::Null);
    loop {
        let reply = app
            .post(
                &format!("/projects/{project}/graphql"),
                query,
                json!({ "after": after }),
                &Auth::admin(),
            )
            .await;
        let page = &reply.data()["project"]["apiKeys"];
        sum += page["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|edge| edge["node"]["failedAuthCount"].as_u64().unwrap_or(0))
            .sum::<u64>();
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            return sum;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

/// Sends 1,000 requests at once through `client`, each with another unknown
/// access key, and asserts that they ran no more argon2 than the address's
/// limit allows.
async fn flood_of_unknown_keys_is_bounded(app: &TestApp, client: &reqwest::Client) {
    let before = app.argon2_verifications();
    let guesses = (0..1_000).map(|n| {
        let request = client
            .post(app.url("/graphql"))
            .json(&json!({ "query": VIEWER }));
        let unknown = Auth::basic(&format!("{n:A>20}"), &"x".repeat(40));
        async move { send(with_auth(request, &unknown)).await.status }
    });
    let statuses = futures::future::join_all(guesses).await;
    let ran = app.argon2_verifications() - before;
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert!(
        ran <= 100 + ARGON2_CONCURRENCY,
        "{ran} verifications for 1,000 unknown keys"
    );
}

#[tokio::test]
async fn concurrent_unknown_access_keys_run_no_more_argon2_than_the_limit() {
    let app = TestApp::spawn_with(|config| {
        config.limits.auth_throttle_delay_ms = 0;
        config.limits.max_connections = 2_048;
        config.limits.max_connections_per_address = Some(2_048);
    })
    .await;
    app.enable_access_control().await;
    flood_of_unknown_keys_is_bounded(&app, &app.client).await;
}

#[tokio::test]
async fn the_streams_of_one_http2_connection_run_no_more_argon2_than_the_limit() {
    let app = TestApp::spawn_with(|config| config.limits.auth_throttle_delay_ms = 0).await;
    app.enable_access_control().await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("an HTTP/2 client");
    flood_of_unknown_keys_is_bounded(&app, &client).await;
}

/// Waits for the server to close `stream`; how long that took.
async fn closed_after(mut stream: TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = vec![0; 64 * 1024];
    let outcome = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    outcome.ok().map(|()| started.elapsed())
}

#[tokio::test]
async fn connections_without_a_complete_head_are_closed_after_the_head_timeout() {
    let app = TestApp::spawn().await;
    let cases: [(&str, &[u8]); 5] = [
        ("nothing at all", b""),
        ("one byte of HTTP/1", b"G"),
        ("part of a head", b"POST /graphql HTTP/1.1\r\nHost: x\r\n"),
        ("part of HTTP/2's preface", b"PRI * HTTP/2.0\r\n"),
        (
            "HTTP/2's preface and no stream",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
        ),
    ];
    let waits = cases.iter().map(|(case, sent)| {
        let addr = app.addr;
        async move {
            let mut stream = TcpStream::connect(addr).await.expect("connects");
            stream.write_all(sent).await.expect("sends");
            (*case, closed_after(stream, Duration::from_secs(20)).await)
        }
    });
    for (case, closed) in futures::future::join_all(waits).await {
        let closed = closed.unwrap_or_else(|| panic!("{case}: still open after 20 s"));
        assert!(
            closed >= Duration::from_secs(9),
            "{case}: closed after {closed:?}, before the head timeout"
        );
    }
    // A connection that keeps sending requests is not idle.
    let mut stream = TcpStream::connect(app.addr).await.expect("connects");
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(4)).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("the connection is still open");
        let mut buffer = [0; 1024];
        let read = stream.read(&mut buffer).await.expect("an answer");
        assert!(buffer[..read].starts_with(b"HTTP/1.1 200"));
    }
}

#[tokio::test]
async fn silent_connections_from_one_address_cannot_keep_other_clients_out() {
    let app = TestApp::spawn_with(|config| config.limits.max_connections = 100).await;
    let mut silent = Vec::new();
    for _ in 0..200 {
        // Some are closed by the server as soon as accepted; that is the point.
        if let Ok(stream) = connect_from([127, 0, 0, 2], app.addr).await {
            silent.push(stream);
        }
    }
    let started = Instant::now();
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        app.gql("{ __typename }", json!({}), &Auth::None),
    )
    .await
    .expect("another client is served while the silent connections are open");
    assert_eq!(reply.data()["__typename"], "Query");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(silent);
}

#[tokio::test]
async fn heads_past_64_kib_are_refused_with_431_and_shorter_ones_are_read() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let cases = [
        (
            "a 60 KiB Authorization header",
            60 * 1024,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "a 70 KiB Authorization header",
            70 * 1024,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        ),
        (
            "a 4 MiB Authorization header",
            4 * 1024 * 1024,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        ),
    ];
    for (case, len, status) in cases {
        let header = format!("Basic {}", "Q".repeat(len)).into_bytes();
        let request = app
            .client
            .post(app.url("/graphql"))
            .json(&json!({ "query": VIEWER }));
        let answered = with_auth(request, &Auth::Raw(header)).send().await;
        match answered {
            Ok(response) => assert_eq!(response.status(), status, "{case}"),
            // The server may close before the client has sent everything.
            Err(err) => assert_eq!(
                status,
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "{case}: {err}"
            ),
        }
    }
    app.ok(VIEWER, json!({}), &Auth::admin()).await;
}

/// Resident memory of process `pid`, in bytes.
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

#[tokio::test]
async fn unfinished_heads_cannot_fill_memory() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("NOTICE: no /proc: the memory of unfinished heads is not measured");
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
    let server = ServerProcess::start(&url);
    let addr = server.addr();
    let chunk = format!("X-Filler: {}\r\n", "a".repeat(64 * 1024 - 16));
    let heads = (0..200u8).map(|n| {
        let chunk = chunk.clone();
        async move {
            let Ok(mut stream) = connect_from([127, 0, 1, n], addr).await else {
                return;
            };
            let _ = stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .await;
            // About 3.9 MiB of head, never finished.
            for _ in 0..62 {
                if stream.write_all(chunk.as_bytes()).await.is_err() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    });
    futures::future::join_all(heads).await;
    let resident = resident_bytes(server.pid());
    assert!(
        resident < 150 * 1024 * 1024,
        "resident memory {} MiB",
        resident / 1024 / 1024
    );
    let health = reqwest::get(format!("{}/healthz", server.base_url))
        .await
        .expect("the server answers");
    assert_eq!(health.status(), StatusCode::OK);
}

async fn a_mutation_outliving_the_request_timeout_reports_everything_it_committed() {
    let app = TestApp::spawn_with(|config| {
        // Ten hashes of 8 MiB take about 2 s unoptimised, eight times this
        // timeout: the mutation is sure to outlive it (asserted below).
        config.limits.request_timeout_ms = 250;
        config.hashing = keyward::HashingConfig {
            argon2_memory_kib: 8 * 1024,
            ..keyward::HashingConfig::OWASP_MINIMUM
        };
    })
    .await;
    let project = app.default_project(&Auth::None).await;
    let aliases: String = (0..10)
        .map(|n| {
            format!(
                "k{n}: createApiKey(input: {{projectId: \"{project}\", name: \"k{n}\"}}) {{ secretKey apiKey {{ id }} }} "
            )
        })
        .collect();
    let started = Instant::now();
    let reply = app
        .gql(&format!("mutation {{ {aliases} }}"), json!({}), &Auth::None)
        .await;
    let took = started.elapsed();
    let data = reply.data();
    for n in 0..10 {
        assert_eq!(
            data[format!("k{n}")]["secretKey"].as_str().map(str::len),
            Some(40),
            "{data}"
        );
    }
    let count = app
        .post(
            &format!("/projects/{project}/graphql"),
            "{ project { apiKeys { totalCount } } }",
            json!({}),
            &Auth::None,
        )
        .await;
    assert_eq!(count.data()["project"]["apiKeys"]["totalCount"], 10);
    assert!(
        took > Duration::from_millis(250),
        "ten argon2 hashes took {took:?}: the timeout was not reached, so nothing was tested"
    );
}

#[tokio::test]
async fn a_request_past_the_timeout_gets_a_graphql_timeout_error() {
    let app = TestApp::spawn_with(|config| config.limits.request_timeout_ms = 300).await;
    let mut stream = TcpStream::connect(app.addr).await.expect("connects");
    // A body that never arrives in full.
    stream
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\":",
        )
        .await
        .expect("sends");
    let mut answer = Vec::new();
    let mut buffer = [0; 4096];
    let body = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let read = stream.read(&mut buffer).await.unwrap_or(0);
            answer.extend_from_slice(&buffer[..read]);
            let text = String::from_utf8_lossy(&answer).into_owned();
            assert!(read > 0 || !text.is_empty(), "closed without an answer");
            if let Some(body) = text.split("\r\n\r\n").nth(1)
                && let Ok(body) = serde_json::from_str::<Value>(body)
            {
                assert!(text.starts_with("HTTP/1.1 408"), "{text}");
                return body;
            }
            assert!(read > 0, "incomplete answer: {text}");
        }
    })
    .await
    .expect("answered soon after the timeout");
    assert_eq!(body["errors"][0]["extensions"]["code"], "TIMEOUT", "{body}");
    assert!(body.get("data").is_none(), "{body}");
}
