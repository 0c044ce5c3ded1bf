//! Prometheus metrics: on their own listener only, scraped by a real
//! Prometheus, counting what was done to the server, with bounded labels.
//!
//! The Prometheus test needs Debian's `prometheus` binary (or one named by
//! `KEYWARD_PROMETHEUS`); without it the test is built as ignored
//! (build.rs), unless `KEYWARD_PROMETHEUS_TESTS=require` (set by `.ci/run`)
//! makes a missing binary a failure.

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::process::ServerProcess;

const REQUIRE_VAR: &str = "KEYWARD_PROMETHEUS_TESTS";

#[tokio::test]
async fn metrics_are_served_on_their_own_listener_and_never_on_the_api_port() {
    let app = TestApp::spawn_with(|config| {
        config.metrics_listen = Some((Ipv4Addr::LOCALHOST, 0).into());
    })
    .await;
    let metrics = app.metrics_addr().expect("a metrics listener");
    assert_ne!(metrics, app.addr);
    app.ok(VIEWER, json!({}), &Auth::None).await;

    let on_the_api = send(app.client.get(app.url("/metrics"))).await;
    assert_eq!(on_the_api.status, 404, "{on_the_api:?}");

    let scraped = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .expect("the metrics listener answers");
    assert_eq!(scraped.status(), 200);
    let content_type = scraped
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = scraped.text().await.expect("a body");
    for expected in [
        "# TYPE keyward_http_requests_total counter",
        "# TYPE keyward_http_request_duration_seconds histogram",
        "# TYPE keyward_db_connections gauge",
        "keyward_build_info{version=\"",
        "keyward_websocket_connections ",
        "keyward_db_connections{state=\"max\"} 10",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
}

/// Connections to the metrics listener that send nothing are capped per
/// address and closed after the head timeout, as on the API's port: they
/// cannot pile up until the process runs out of descriptors.
#[tokio::test]
async fn silent_connections_to_the_metrics_listener_are_capped_and_closed() {
    use tokio::io::AsyncReadExt;

    let app = TestApp::spawn_with(|config| {
        config.metrics_listen = Some((Ipv4Addr::LOCALHOST, 0).into());
    })
    .await;
    let metrics = app.metrics_addr().expect("a metrics listener");
    let mut silent = Vec::new();
    for _ in 0..40 {
        silent.push(
            tokio::net::TcpStream::connect(metrics)
                .await
                .expect("connect"),
        );
    }
    // Closed by the server: the read ends (EOF or reset) before `within`.
    async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(within, stream.read(&mut byte)).await,
            Ok(Ok(0) | Err(_))
        )
    }
    let mut held = Vec::new();
    for mut stream in silent {
        if !closed_within(&mut stream, Duration::from_millis(300)).await {
            held.push(stream);
        }
    }
    assert!(held.len() <= 8, "{} silent connections held", held.len());
    for stream in &mut held {
        assert!(
            closed_within(stream, Duration::from_secs(15)).await,
            "a silent connection outlived the head timeout"
        );
    }
    let scraped = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .expect("the metrics listener answers");
    assert_eq!(scraped.status(), 200);
}

#[tokio::test]
async fn without_metrics_listen_there_is_no_metrics_listener() {
    let app = TestApp::spawn().await;
    assert_eq!(app.metrics_addr(), None);
    let on_the_api = send(app.client.get(app.url("/metrics"))).await;
    assert_eq!(on_the_api.status, 404);
}

/// Known traffic, then PromQL through a real Prometheus's HTTP API: the
/// request and authentication counters moved by exactly that traffic, and
/// no series carries a key, a key id or a raw path.
#[tokio::test]
#[cfg_attr(
    not(keyward_prometheus),
    ignore = "needs Prometheus: apt-get install prometheus, or set KEYWARD_PROMETHEUS"
)]
async fn a_real_prometheus_sees_requests_and_authentications_counted() {
    let prometheus_binary = prometheus_binary();
    let dir = tempfile::tempdir().expect("temp dir");
    let metrics_port = free_port();
    let server = ServerProcess::start_with(
        &format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display()),
        "info",
        &["--metrics-listen", &format!("127.0.0.1:{metrics_port}")],
    );
    let prometheus = Prometheus::start(&prometheus_binary, dir.path(), metrics_port);

    let (project, key) = server.with_admin_and_key("scraped").await;
    // Wait for a scrape that has seen all of the above, so that what
    // follows is measured from a known point.
    let before = prometheus
        .value_once_stable("sum(keyward_http_requests_total{route=\"/graphql\"})")
        .await;
    assert_eq!(before, 3.0, "enable, list, create");

    const GOOD: u32 = 7;
    const WRONG: u32 = 3;
    for _ in 0..GOOD {
        server.ok(VIEWER, json!({}), &key.auth()).await;
    }
    for _ in 0..WRONG {
        server
            .gql(
                VIEWER,
                json!({}),
                &Auth::basic(&key.access_key, "a wrong secret, long enough"),
            )
            .await
            .assert_unauthenticated();
    }
    let unmatched = reqwest::get(format!("{}/no/such/route/{}", server.base_url, key.id))
        .await
        .expect("an answer");
    assert_eq!(unmatched.status(), 404);

    for (query, expected) in [
        (
            "sum(keyward_http_requests_total{route=\"/graphql\",method=\"POST\"})",
            before + f64::from(GOOD + WRONG),
        ),
        (
            "sum(keyward_http_requests_total{route=\"/graphql\",status=\"401\"})",
            f64::from(WRONG),
        ),
        (
            "sum(keyward_auth_attempts_total{endpoint=\"graphql\",outcome=\"refused\"})",
            f64::from(WRONG),
        ),
        (
            // The administrator's two requests and the key's: the first of
            // each verified with argon2, the rest admitted from memory.
            "sum(keyward_auth_attempts_total{endpoint=\"graphql\",outcome=~\"verified|cached\"})",
            f64::from(GOOD) + 2.0,
        ),
        (
            "sum(keyward_auth_attempts_total{outcome=\"verified\"})",
            2.0,
        ),
        ("sum(keyward_auth_attempts_total{outcome=\"open\"})", 1.0),
        (
            "sum(keyward_http_requests_total{route=\"unmatched\",status=\"404\"})",
            1.0,
        ),
        (
            "sum(keyward_http_request_duration_seconds_count{route=\"/graphql\"})",
            before + f64::from(GOOD + WRONG),
        ),
    ] {
        let seen = prometheus.value_once_stable(query).await;
        assert_eq!(seen, expected, "{query}");
    }

    // Bounded labels: no series names a key, a key id or a path as sent.
    let series = prometheus.series("{__name__=~\"keyward_.+\"}").await;
    assert!(!series.is_empty());
    let text = Value::Array(series).to_string();
    for unbounded in [
        key.access_key.as_str(),
        key.id.as_str(),
        project.as_str(),
        "/no/such/route",
    ] {
        assert!(!text.contains(unbounded), "{unbounded} in {text}");
    }
    server.stop();
}

/// A free TCP port on loopback (bound, then released for the server).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The `prometheus` binary. The test needing it is built as ignored where
/// it is missing (`keyward_prometheus`, see build.rs); run without it, it
/// was required to, and fails.
fn prometheus_binary() -> PathBuf {
    let named = std::env::var_os("KEYWARD_PROMETHEUS").map(PathBuf::from);
    let found = named.or_else(|| {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("prometheus"))
                .find(|candidate| candidate.is_file())
        })
    });
    found.unwrap_or_else(|| {
        panic!(
            "the Prometheus test is required here ({REQUIRE_VAR}) but no prometheus binary \
             was found: apt-get install prometheus"
        )
    })
}

/// A Prometheus scraping one target every 200 ms, killed when dropped.
struct Prometheus {
    child: Child,
    api: String,
    client: reqwest::Client,
}

impl Prometheus {
    fn start(binary: &PathBuf, dir: &std::path::Path, target_port: u16) -> Self {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\n\
                 scrape_configs:\n  - job_name: keyward\n    static_configs:\n      \
                 - targets: ['127.0.0.1:{target_port}']\n"
            ),
        )
        .expect("write the scrape config");
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts");
        Self {
            child,
            api: format!("http://127.0.0.1:{port}/api/v1"),
            client: reqwest::Client::new(),
        }
    }

    /// The result of an instant query, when it has one sample.
    async fn query(&self, promql: &str) -> Option<f64> {
        let answer: Value = self
            .client
            .get(format!("{}/query", self.api))
            .query(&[("query", promql)])
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        assert_ne!(answer["status"], "error", "{promql}: {answer}");
        answer["data"]["result"][0]["value"][1]
            .as_str()?
            .parse()
            .ok()
    }

    /// The value of `promql` once three queries in a row agree, a scrape
    /// apart: Prometheus has then seen every request sent before the call.
    async fn value_once_stable(&self, promql: &str) -> f64 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut last = None;
        let mut agreeing = 0;
        loop {
            let value = self.query(promql).await;
            if value.is_some() && value == last {
                agreeing += 1;
                if agreeing == 2 {
                    return value.unwrap_or_default();
                }
            } else {
                agreeing = 0;
            }
            last = value;
            assert!(
                tokio::time::Instant::now() < deadline,
                "{promql} never settled (last: {last:?})"
            );
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    }

    /// Every series matching `selector`, with its labels.
    async fn series(&self, selector: &str) -> Vec<Value> {
        let answer: Value = self
            .client
            .get(format!("{}/series", self.api))
            .query(&[("match[]", selector)])
            .send()
            .await
            .expect("prometheus answers")
            .json()
            .await
            .expect("JSON");
        answer["data"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
