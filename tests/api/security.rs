//! The closures of the security issue, each proven over HTTP: throttling,
//! timing, GraphQL and HTTP limits.

use std::time::{Duration, Instant};

use keyward::HashingConfig;
use reqwest::StatusCode;
use serde_json::json;

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(
    a_brute_force_is_throttled_without_running_argon2,
    a_burst_of_concurrent_guesses_gets_no_more_tries_than_the_limit,
    a_throttled_key_is_refused_even_its_right_secret_until_the_window_ends,
    a_throttled_address_keeps_verified_keys_but_cannot_guess_more,
    abusive_documents_get_clean_errors_while_normal_requests_go_on,
);

/// Process CPU time (user + system) so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which is in parentheses).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 =
        fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    // Linux reports in clock ticks of 1/100 s.
    Duration::from_millis(ticks * 10)
}

async fn a_brute_force_is_throttled_without_running_argon2() {
    let app = TestApp::spawn_with(|config| {
        // The real cost, so that "no argon2" is visible in CPU time.
        config.hashing = HashingConfig::OWASP_MINIMUM;
        config.limits.auth_failures_per_key = 20;
        config.limits.auth_failures_per_address = 10_000;
        config.limits.auth_failure_window_secs = 600;
        config.limits.auth_throttle_delay_ms = 0;
    })
    .await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let key = app.create_key(&Auth::admin(), &project, "OWNER").await;
    let wrong = |n: usize| Auth::basic(&key.access_key, &format!("{n:0>40}"));

    let started = cpu_time();
    for n in 0..20 {
        app.gql(VIEWER, json!({}), &wrong(n))
            .await
            .assert_unauthenticated();
    }
    let per_verification = (cpu_time() - started) / 20;

    let started = cpu_time();
    for n in 20..1_000 {
        let reply = app.gql(VIEWER, json!({}), &wrong(n)).await;
        assert_eq!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "attempt {n}: {reply:?}"
        );
        reply.assert_code("RATE_LIMITED");
        let retry_after = retry_after(&reply);
        assert!(
            (1..=600).contains(&retry_after),
            "Retry-After {retry_after}"
        );
    }
    let throttled = cpu_time() - started;
    // 980 argon2 runs would have cost 980 × per_verification; the throttled
    // requests (server and this test's own client together) cost a small
    // fraction of that.
    assert!(
        throttled < per_verification * 980 / 10,
        "980 throttled requests took {throttled:?} of CPU; one verification takes {per_verification:?}"
    );

    // Other keys are unaffected.
    app.ok(VIEWER, json!({}), &Auth::admin()).await;
}

async fn a_burst_of_concurrent_guesses_gets_no_more_tries_than_the_limit() {
    let app = TestApp::spawn_with(|config| {
        config.limits.auth_failures_per_key = 5;
        config.limits.auth_failures_per_address = 10_000;
        config.limits.auth_throttle_delay_ms = 0;
    })
    .await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let key = app.create_key(&Auth::admin(), &project, "OWNER").await;
    let app = &app;
    let guesses = (0..40).map(|n| {
        let guess = Auth::basic(&key.access_key, &format!("{n:0>40}"));
        async move { app.gql(VIEWER, json!({}), &guess).await.status }
    });
    let statuses = futures::future::join_all(guesses).await;
    let tried = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(tried, 5, "{statuses:?}");
    assert_eq!(throttled, 35, "{statuses:?}");
}

fn retry_after(reply: &Reply) -> u64 {
    reply.headers["retry-after"]
        .to_str()
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("a Retry-After in seconds")
}

async fn a_throttled_key_is_refused_even_its_right_secret_until_the_window_ends() {
    let app = TestApp::spawn_with(|config| {
        config.limits.auth_failures_per_key = 3;
        config.limits.auth_failure_window_secs = 2;
        config.limits.auth_throttle_delay_ms = 0;
    })
    .await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let key = app.create_key(&Auth::admin(), &project, "OWNER").await;
    app.fail_to_authenticate(&key, 3).await;
    // No oracle: the right secret is refused alike while throttled.
    let reply = app.gql(VIEWER, json!({}), &key.auth()).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{reply:?}");
    reply.assert_code("RATE_LIMITED");

    tokio::time::sleep(Duration::from_secs(retry_after(&reply)) + Duration::from_millis(100)).await;
    let data = app.ok(VIEWER, json!({}), &key.auth()).await;
    assert_eq!(data["viewer"]["apiKey"]["id"], json!(key.id));
}

async fn a_throttled_address_keeps_verified_keys_but_cannot_guess_more() {
    let app = TestApp::spawn_with(|config| {
        config.limits.auth_failures_per_key = 1_000;
        config.limits.auth_failures_per_address = 5;
        config.limits.auth_throttle_delay_ms = 0;
    })
    .await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let known = app.create_key(&Auth::admin(), &project, "OWNER").await;
    let fresh = app.create_key(&Auth::admin(), &project, "OWNER").await;
    app.ok(VIEWER, json!({}), &known.auth()).await;

    // Five bad guesses, each at a different key: no key is throttled, the
    // address is.
    for n in 0..5 {
        let guess = Auth::basic(
            &format!("{n:A>20}"),
            "guessguessguessguessguessguessguessguess",
        );
        app.gql(VIEWER, json!({}), &guess)
            .await
            .assert_unauthenticated();
    }
    let reply = app.gql(VIEWER, json!({}), &fresh.auth()).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{reply:?}");
    reply.assert_code("RATE_LIMITED");
    // Credentials this server already verified still work from there.
    app.ok(VIEWER, json!({}), &known.auth()).await;
}

async fn abusive_documents_get_clean_errors_while_normal_requests_go_on() {
    let app = TestApp::spawn().await;
    let project = app.default_project(&Auth::None).await;
    let aliases: String = (0..1_000)
        .map(|n| format!("a{n}: viewer {{ kind role }} "))
        .collect();
    let duplicates = "viewer { kind } ".repeat(10_000);
    let deep = format!(
        "{{ {}id{} }}",
        "project { apiKeys { edges { node { project { ".repeat(6),
        " } } } } }".repeat(6)
    );
    let wide_pages = "{ projects(first: 100) { edges { node { apiKeys(first: 100) { edges { node { id name accessKey } } } } } } }";
    let cases: Vec<(&str, String, StatusCode)> = vec![
        ("alias overload", format!("{{ {aliases} }}"), StatusCode::OK),
        (
            "field duplication",
            format!("{{ {duplicates} }}"),
            StatusCode::BAD_REQUEST,
        ),
        ("deep nesting", deep, StatusCode::OK),
        ("pages of pages", wide_pages.to_owned(), StatusCode::OK),
        (
            "huge first",
            format!(
                "{{ project(id: \"{project}\") {{ apiKeys(first: 1000000) {{ totalCount }} }} }}"
            ),
            StatusCode::OK,
        ),
    ];
    for (what, query, status) in cases {
        let normal = app.gql(VIEWER, json!({}), &Auth::None);
        let abuse = app.gql(&query, json!({}), &Auth::None);
        let (normal, abuse) = tokio::join!(normal, abuse);
        normal.data();
        assert_eq!(abuse.status, status, "{what}: {abuse:?}");
        assert!(
            !abuse.codes().is_empty() && abuse.codes().iter().all(|c| c == "BAD_USER_INPUT"),
            "{what}: {abuse:?}"
        );
    }

    let oversized = json!({ "query": format!("{{ viewer {{ kind }} }} #{}", "x".repeat(2 << 20)) });
    let reply = send(app.client.post(app.url("/graphql")).json(&oversized)).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{reply:?}");
    reply.assert_code("BAD_USER_INPUT");

    let batch: Vec<_> = (0..1_000)
        .map(|_| json!({ "query": "{ viewer { kind } }" }))
        .collect();
    let reply = send(app.client.post(app.url("/graphql")).json(&batch)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
    reply.assert_code("BAD_USER_INPUT");

    app.ok(VIEWER, json!({}), &Auth::None).await;
}

/// An unknown access key costs what a wrong secret for a known key costs, so
/// response times do not tell which keys exist.
#[tokio::test]
async fn unknown_access_keys_take_as_long_as_wrong_secrets() {
    let app = TestApp::spawn_with(|config| {
        config.hashing = HashingConfig::OWASP_MINIMUM;
        config.limits.auth_failures_per_key = 10_000;
        config.limits.auth_failures_per_address = 10_000;
    })
    .await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let key = app.create_key(&Auth::admin(), &project, "OWNER").await;
    let wrong_secret = Auth::basic(&key.access_key, &"w".repeat(40));
    let unknown_key = Auth::basic("ZZZZZZZZZZZZZZZZZZZZ", &"w".repeat(40));

    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..30 {
        for (auth, samples) in [(&wrong_secret, &mut known), (&unknown_key, &mut unknown)] {
            let started = Instant::now();
            app.gql(VIEWER, json!({}), auth)
                .await
                .assert_unauthenticated();
            samples.push(started.elapsed());
        }
    }
    let median = |samples: &mut Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let (known, unknown) = (median(&mut known), median(&mut unknown));
    let ratio = known.as_secs_f64() / unknown.as_secs_f64();
    assert!(
        (0.75..=1.25).contains(&ratio),
        "median wrong secret {known:?}, median unknown key {unknown:?}"
    );
}

/// `--cors-origin` lets exactly the listed origins call the API from a
/// browser; without it, no cross-origin call is allowed.
#[tokio::test]
async fn only_allowed_origins_get_cors_headers() {
    let allowed = "https://console.example.com";
    let app = TestApp::spawn_with(|config| {
        config.limits.cors_origins = vec![allowed.to_owned()];
    })
    .await;
    let preflight = |origin: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization,content-type",
            )
    };
    let ok = preflight(allowed).send().await.expect("preflight");
    assert_eq!(ok.headers()["access-control-allow-origin"], allowed);
    let other = preflight("https://evil.example")
        .send()
        .await
        .expect("preflight");
    assert!(other.headers().get("access-control-allow-origin").is_none());

    let closed = TestApp::spawn().await;
    let reply = closed
        .client
        .request(reqwest::Method::OPTIONS, closed.url("/graphql"))
        .header("Origin", allowed)
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .expect("preflight");
    assert!(reply.headers().get("access-control-allow-origin").is_none());
}

/// Responses that carry a secret must not be kept by any cache.
#[tokio::test]
async fn responses_carrying_a_secret_are_not_cacheable() {
    let app = TestApp::spawn().await;
    let project = app.default_project(&Auth::None).await;
    let reply = app
        .gql(
            CREATE_KEY,
            json!({ "i": { "projectId": project, "name": "k" } }),
            &Auth::None,
        )
        .await;
    reply.data();
    assert_eq!(reply.headers["cache-control"], "no-store");
}

/// Whatever bytes arrive as the Authorization header, the answer is a 401
/// (or success, for real credentials), never a 500 or a dead server.
#[test]
fn every_authorization_header_yields_401_or_success() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (app, key) = runtime.block_on(async {
        let app = TestApp::spawn_with(|config| {
            config.limits.auth_failures_per_key = u32::MAX;
            config.limits.auth_failures_per_address = u32::MAX;
        })
        .await;
        app.enable_access_control().await;
        let project = app.default_project(&Auth::admin()).await;
        let key = app.create_key(&Auth::admin(), &project, "OWNER").await;
        (app, key)
    });
    let real = format!(
        "Basic {}",
        base64_encode(&format!("{}:{}", key.access_key, key.secret))
    );
    let headers = prop_oneof![
        // Arbitrary bytes (those HTTP can carry in a header value).
        proptest::collection::vec(any::<u8>(), 0..300),
        // "Basic " and arbitrary base64 of arbitrary bytes.
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(|raw| format!(
            "Basic {}",
            base64_encode_bytes(&raw)
        )
        .into_bytes()),
        // Mutations of the real header.
        (0..real.len(), any::<u8>()).prop_map(move |(at, byte)| {
            let mut bytes = real.clone().into_bytes();
            bytes[at] = byte;
            bytes
        }),
    ];
    let mut runner = TestRunner::new(Config {
        cases: 512,
        ..Config::default()
    });
    runner
        .run(&headers, |raw| {
            if reqwest::header::HeaderValue::from_bytes(&raw).is_err() {
                return Ok(()); // Not sendable as a header at all.
            }
            let reply = runtime.block_on(app.gql(VIEWER, json!({}), &Auth::Raw(raw.clone())));
            prop_assert!(
                reply.status == StatusCode::UNAUTHORIZED
                    || (reply.status == StatusCode::OK && reply.codes().is_empty()),
                "{:?} -> {:?}",
                String::from_utf8_lossy(&raw),
                reply
            );
            Ok(())
        })
        .expect("every header gets 401 or success");
    // And the server is alive and well.
    runtime.block_on(async { app.ok(VIEWER, json!({}), &key.auth()).await });
}

fn base64_encode(text: &str) -> String {
    base64_encode_bytes(text.as_bytes())
}

fn base64_encode_bytes(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
