//! Usage over time: every authentication of a key counted under one
//! outcome, in minute, hour and day buckets, kept through restarts and
//! (within the stated bound) a kill -9; the recent clients of a key; and
//! who may read them.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use keyward::clock::Clock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend::{Backend, TestDatabase, on_every_backend, run_on};
use crate::helpers::*;
use crate::process::{ServerProcess, signal};
use crate::subscriptions::{Via, acknowledged, connected, open};

on_every_backend!(
    counts_equal_the_traffic_sent_outcome_by_outcome,
    replicas_add_their_counts_without_losing_any,
    buckets_roll_up_across_minute_hour_and_day_boundaries,
    retention_prunes_each_granularity_after_its_time,
    a_graceful_restart_loses_no_count,
    counts_of_a_project_deleted_before_they_are_written_go_with_it,
    recent_clients_are_the_last_five_addresses_as_trusted_proxies_report_them,
    usage_is_read_by_whoever_may_read_the_key_and_no_one_else,
    usage_periods_are_checked,
);

const KEY_USAGE: &str =
    "query($id: ID!, $since: DateTime!, $until: DateTime, $g: UsageGranularity!) {
    node(id: $id) { ... on ApiKey { usage(since: $since, until: $until, granularity: $g) {
        start accepted refused forbidden throttled } } } }";
const PROJECT_USAGE: &str =
    "query($id: ID!, $since: DateTime!, $until: DateTime, $g: UsageGranularity!) {
    node(id: $id) { ... on Project { usage(since: $since, until: $until, granularity: $g) {
        start accepted refused forbidden throttled } } } }";
const RECENT_CLIENTS: &str = "query($id: ID!) { node(id: $id) { ... on ApiKey { recentClients { address userAgent lastSeenAt } } } }";

/// Accepted, refused, forbidden, throttled.
type Counts = [i64; 4];
/// A bucket's start (to the minute) and its accepted count.
type Expected = (&'static str, i64);

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("an instant")
        .with_timezone(&Utc)
}

fn counts_of(bucket: &Value) -> Counts {
    ["accepted", "refused", "forbidden", "throttled"].map(|name| bucket[name].as_i64().expect(name))
}

/// The buckets of `id` (a key or a project) as `auth` reads them.
async fn buckets(
    app: &TestApp,
    id: &str,
    granularity: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<(String, Counts)> {
    let query = if id_kind(id) == "Project" {
        PROJECT_USAGE
    } else {
        KEY_USAGE
    };
    let data = app
        .ok(
            query,
            json!({ "id": id, "since": since, "until": until, "g": granularity }),
            &Auth::admin(),
        )
        .await;
    data["node"]["usage"]
        .as_array()
        .expect("usage")
        .iter()
        .map(|bucket| {
            let start = at(bucket["start"].as_str().expect("start"));
            (
                start.format("%Y-%m-%dT%H:%M").to_string(),
                counts_of(bucket),
            )
        })
        .collect()
}

fn id_kind(id: &str) -> String {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id)
        .expect("a global id");
    String::from_utf8(raw)
        .expect("text")
        .split(':')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The total of `id`'s hourly buckets around now.
async fn total(app: &TestApp, id: &str) -> Counts {
    let now = Utc::now();
    buckets(
        app,
        id,
        "HOUR",
        now - chrono::Duration::hours(2),
        now + chrono::Duration::hours(2),
    )
    .await
    .iter()
    .fold([0; 4], |sum, (_, counts)| {
        [0, 1, 2, 3].map(|i| sum[i] + counts[i])
    })
}

/// Waits (at most 10 s) for `id`'s total to be `expected`: counts are
/// written about once a second.
async fn expect_total(app: &TestApp, id: &str, expected: Counts) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = total(app, id).await;
        if seen == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "usage of {id}: {seen:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get(app: &TestApp, path: &str, auth: &Auth) -> StatusCode {
    with_auth(app.client.get(app.url(path)), auth)
        .send()
        .await
        .expect("an answer")
        .status()
}

async fn counts_equal_the_traffic_sent_outcome_by_outcome() {
    let app = TestApp::spawn_with(|config| {
        config.limits.auth_failures_per_key = 2;
        config.limits.auth_throttle_delay_ms = 0;
    })
    .await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let project = app.default_project(&admin).await;
    let other = app.create_project(&admin, "other").await;
    let key = app.create_key(&admin, &project, "MEMBER").await;
    let guessed = app.create_key(&admin, &project, "MEMBER").await;
    let inactive = app.create_key(&admin, &project, "MEMBER").await;
    let bystander = app.create_key(&admin, &other, "OWNER").await;
    let expires_at = Utc::now() + chrono::Duration::seconds(2);
    let expiring = key_from(
        &app.ok(
            CREATE_KEY,
            json!({ "i": { "projectId": project, "name": "expiring", "expiresAt": expires_at } }),
            &admin,
        )
        .await,
    );

    // Accepted: /graphql, the project's endpoint, /verify, a request
    // refused by a field's own authorization, and the WebSocket.
    for _ in 0..3 {
        app.ok(VIEWER, json!({}), &key.auth()).await;
    }
    app.post(
        &format!("/projects/{project}/graphql"),
        VIEWER,
        json!({}),
        &key.auth(),
    )
    .await
    .data();
    assert_eq!(get(&app, "/verify", &key.auth()).await, StatusCode::OK);
    app.gql(
        DELETE_PROJECT,
        json!({ "i": { "id": project } }),
        &key.auth(),
    )
    .await
    .assert_code("FORBIDDEN");
    // The WebSocket, with credentials in the upgrade or in connection_init.
    drop(connected(&app, &key.auth()).await);
    let mut socket = open(&app, &key.auth(), &Via::InitPayload)
        .await
        .expect("an upgrade");
    acknowledged(&mut socket, &key.auth(), &Via::InitPayload).await;
    drop(socket);
    app.ok(VIEWER, json!({}), &expiring.auth()).await;
    // Forbidden: another project's endpoints, and /verify's requirements.
    let reply = app
        .post(
            &format!("/projects/{other}/graphql"),
            VIEWER,
            json!({}),
            &key.auth(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
    for path in [
        format!("/projects/{other}/verify"),
        "/verify?role=OWNER".to_owned(),
        "/verify?scope=deploy".to_owned(),
    ] {
        assert_eq!(
            get(&app, &path, &key.auth()).await,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    // Refused: wrong secrets (up to the throttle), an inactive key.
    app.fail_to_authenticate(&guessed, 2).await;
    app.ok(
        SET_STATE,
        json!({ "i": { "id": inactive.id, "state": "INACTIVE" } }),
        &admin,
    )
    .await;
    app.gql(VIEWER, json!({}), &inactive.auth())
        .await
        .assert_unauthenticated();
    // An expired key.
    tokio::time::sleep((expires_at - Utc::now()).to_std().unwrap_or_default()).await;
    app.gql(VIEWER, json!({}), &expiring.auth())
        .await
        .assert_unauthenticated();
    // Throttled: past the limit, even the right secret.
    for auth in [guessed.auth(), Auth::basic(&guessed.access_key, "wrong")] {
        assert_eq!(
            app.gql(VIEWER, json!({}), &auth).await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
    }

    expect_total(&app, &key.id, [8, 0, 4, 0]).await;
    expect_total(&app, &expiring.id, [1, 1, 0, 0]).await;
    expect_total(&app, &guessed.id, [0, 2, 0, 2]).await;
    expect_total(&app, &inactive.id, [0, 1, 0, 0]).await;
    expect_total(&app, &bystander.id, [0, 0, 0, 0]).await;
    expect_total(&app, &project, [9, 4, 4, 2]).await;
    expect_total(&app, &other, [0, 0, 0, 0]).await;

    // A deleted key's usage stays in its project's.
    app.ok(DELETE_KEY, json!({ "i": { "id": inactive.id } }), &admin)
        .await;
    expect_total(&app, &project, [9, 4, 4, 2]).await;
}

async fn replicas_add_their_counts_without_losing_any() {
    let a = TestApp::spawn().await;
    let b = a.replica().await;
    a.enable_access_control().await;
    let project = a.default_project(&Auth::admin()).await;
    let key = a.create_key(&Auth::admin(), &project, "READ_ONLY").await;
    // Both replicas count the same key in the same buckets at once.
    let send = |app: &TestApp, times: usize| {
        let auth = key.auth();
        let (client, url) = (app.client.clone(), app.url("/verify"));
        async move {
            for _ in 0..times {
                let status = with_auth(client.get(&url), &auth)
                    .send()
                    .await
                    .expect("an answer")
                    .status();
                assert_eq!(status, StatusCode::OK);
            }
        }
    };
    tokio::join!(send(&a, 60), send(&b, 40), send(&a, 30), send(&b, 20));
    expect_total(&a, &key.id, [150, 0, 0, 0]).await;
    expect_total(&b, &key.id, [150, 0, 0, 0]).await;
}

async fn buckets_roll_up_across_minute_hour_and_day_boundaries() {
    let clock = Clock::manual(at("2026-12-31T23:59:30Z"));
    let app = TestApp::spawn_with(|config| config.usage.clock = clock.clone()).await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let key = app.create_key(&Auth::admin(), &project, "READ_ONLY").await;
    // (when, how many requests)
    let traffic = [
        ("2026-12-31T23:59:30Z", 1),
        ("2026-12-31T23:59:59Z", 2),
        ("2027-01-01T00:00:00Z", 3),
        ("2027-01-01T00:01:10Z", 4),
        ("2027-01-01T01:00:00Z", 5),
    ];
    for (when, times) in traffic {
        clock.set(at(when));
        for _ in 0..times {
            app.ok(VIEWER, json!({}), &key.auth()).await;
        }
    }
    // (granularity, since, until, the buckets' starts and accepted counts)
    let cases: [(&str, &str, &str, Vec<Expected>); 3] = [
        (
            "MINUTE",
            "2026-12-31T23:59:45Z",
            "2027-01-01T01:00:01Z",
            vec![
                ("2026-12-31T23:59", 3),
                ("2027-01-01T00:00", 3),
                ("2027-01-01T00:01", 4),
                ("2027-01-01T01:00", 5),
            ],
        ),
        (
            "HOUR",
            "2026-12-31T23:30:00Z",
            "2027-01-01T02:00:00Z",
            vec![
                ("2026-12-31T23:00", 3),
                ("2027-01-01T00:00", 7),
                ("2027-01-01T01:00", 5),
            ],
        ),
        (
            "DAY",
            "2026-12-30T00:00:00Z",
            "2027-01-03T00:00:00Z",
            vec![("2026-12-31T00:00", 3), ("2027-01-01T00:00", 12)],
        ),
    ];
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (granularity, since, until, expected) in cases {
        let expected: Vec<(String, Counts)> = expected
            .into_iter()
            .map(|(start, accepted)| (start.to_owned(), [accepted, 0, 0, 0]))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = buckets(&app, &key.id, granularity, at(since), at(until)).await;
            if seen == expected {
                break;
            }
            assert!(Instant::now() < deadline, "{granularity}: {seen:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Without `until`: up to the usage clock's now (01:00:00 is excluded).
    let data = app
        .ok(
            KEY_USAGE,
            json!({ "id": key.id, "since": "2027-01-01T00:00:00Z", "g": "HOUR" }),
            &Auth::admin(),
        )
        .await;
    assert_eq!(data["node"]["usage"].as_array().map(Vec::len), Some(1));
}

async fn retention_prunes_each_granularity_after_its_time() {
    let start = at("2026-06-01T12:00:00Z");
    let clock = Clock::manual(start);
    let app = TestApp::spawn_with(|config| config.usage.clock = clock.clone()).await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let key = app.create_key(&Auth::admin(), &project, "READ_ONLY").await;
    app.ok(VIEWER, json!({}), &key.auth()).await;
    kept_as(&app, &key.id, start, [true, true, true]).await;
    // (clock moved to, minute, hour and day buckets still kept)
    let cases = [
        (chrono::Duration::hours(47), [true, true, true]),
        (chrono::Duration::hours(49), [false, true, true]),
        (chrono::Duration::days(89), [false, true, true]),
        (chrono::Duration::days(91), [false, false, true]),
        (chrono::Duration::days(729), [false, false, true]),
        (chrono::Duration::days(731), [false, false, false]),
    ];
    for (after, expected) in cases {
        clock.set(start + after);
        // Pruning runs about once a second, when the clock moved an hour.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        kept_as(&app, &key.id, start, expected).await;
    }
}

/// Waits (at most 10 s) for the minute, hour and day buckets around
/// `start` to be kept (or not) as `expected` says.
async fn kept_as(app: &TestApp, id: &str, start: DateTime<Utc>, expected: [bool; 3]) {
    let spans = [
        ("MINUTE", chrono::Duration::minutes(10)),
        ("HOUR", chrono::Duration::hours(10)),
        ("DAY", chrono::Duration::days(10)),
    ];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut seen = [false; 3];
        for (kept, (granularity, span)) in seen.iter_mut().zip(spans) {
            *kept = !buckets(app, id, granularity, start - span, start + span)
                .await
                .is_empty();
        }
        if seen == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "kept {seen:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_graceful_restart_loses_no_count() {
    let mut app = TestApp::spawn().await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let key = app.create_key(&Auth::admin(), &project, "READ_ONLY").await;
    for round in 1..=3 {
        for _ in 0..25 {
            app.ok(VIEWER, json!({}), &key.auth()).await;
        }
        // At once: a stop writes what was counted since the last write.
        app.restart().await;
        assert_eq!(total(&app, &key.id).await, [25 * round, 0, 0, 0]);
    }
}

async fn counts_of_a_project_deleted_before_they_are_written_go_with_it() {
    let mut app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let project = app.default_project(&admin).await;
    let doomed = app.create_project(&admin, "doomed").await;
    let key = app.create_key(&admin, &project, "READ_ONLY").await;
    let doomed_key = app.create_key(&admin, &doomed, "READ_ONLY").await;
    app.ok(VIEWER, json!({}), &doomed_key.auth()).await;
    app.ok(VIEWER, json!({}), &key.auth()).await;
    app.ok(DELETE_PROJECT, json!({ "i": { "id": doomed } }), &admin)
        .await;
    // The batch holding both is written, without the deleted project's.
    expect_total(&app, &key.id, [1, 0, 0, 0]).await;
    app.ok(VIEWER, json!({}), &key.auth()).await;
    app.restart().await;
    assert_eq!(total(&app, &key.id).await, [2, 0, 0, 0]);
    // A project whose usage is written goes, usage and all.
    let used = app.create_project(&admin, "used").await;
    let used_key = app.create_key(&admin, &used, "READ_ONLY").await;
    app.ok(VIEWER, json!({}), &used_key.auth()).await;
    expect_total(&app, &used, [1, 0, 0, 0]).await;
    app.ok(DELETE_PROJECT, json!({ "i": { "id": used } }), &admin)
        .await;
}

async fn recent_clients_are_the_last_five_addresses_as_trusted_proxies_report_them() {
    let app = TestApp::spawn_with(|config| {
        config.limits.trusted_proxies = vec!["127.0.0.1".parse().expect("an address")];
    })
    .await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let key = app.create_key(&Auth::admin(), &project, "READ_ONLY").await;
    let long_agent = format!("<script>alert(1)</script>{}", "x".repeat(400));
    // (the connection's source, X-Forwarded-For, User-Agent)
    let requests = [
        ("127.0.0.1", Some("203.0.113.1"), "first"),
        ("127.0.0.1", Some("203.0.113.2"), "second"),
        ("127.0.0.1", Some("198.51.100.9, 203.0.113.3"), "third"),
        ("127.0.0.1", Some("203.0.113.4"), "fourth"),
        ("127.0.0.1", Some("203.0.113.2"), "second again"),
        // Not a trusted proxy: its X-Forwarded-For is ignored.
        ("127.0.0.2", Some("192.0.2.66"), long_agent.as_str()),
        ("127.0.0.1", None, "the proxy itself"),
    ];
    for (source, forwarded, agent) in requests {
        let client = reqwest::Client::builder()
            .local_address(source.parse::<IpAddr>().expect("an address"))
            .build()
            .expect("a client");
        let mut request = client
            .post(app.url("/graphql"))
            .header("user-agent", agent)
            .json(&json!({ "query": VIEWER }));
        if let Some(forwarded) = forwarded {
            request = request.header("x-forwarded-for", forwarded);
        }
        send(with_auth(request, &key.auth())).await.data();
        // Distinct times to order by, whatever the clock's resolution.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let expected: Vec<(String, String)> = [
        ("127.0.0.1", "the proxy itself"),
        (
            "127.0.0.2",
            &long_agent.chars().take(256).collect::<String>(),
        ),
        ("203.0.113.2", "second again"),
        ("203.0.113.4", "fourth"),
        ("203.0.113.3", "third"),
    ]
    .iter()
    .map(|(address, agent)| ((*address).to_owned(), (*agent).to_owned()))
    .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let data = app
            .ok(RECENT_CLIENTS, json!({ "id": key.id }), &Auth::admin())
            .await;
        let seen: Vec<(String, String)> = data["node"]["recentClients"]
            .as_array()
            .expect("recentClients")
            .iter()
            .map(|client| {
                (
                    client["address"].as_str().unwrap_or_default().to_owned(),
                    client["userAgent"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        if seen == expected {
            break;
        }
        assert!(Instant::now() < deadline, "recentClients: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn usage_is_read_by_whoever_may_read_the_key_and_no_one_else() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let project = app.default_project(&admin).await;
    let other = app.create_project(&admin, "other").await;
    let key = app.create_key(&admin, &project, "READ_ONLY").await;
    let colleague = app.create_key(&admin, &project, "READ_ONLY").await;
    let stranger = app.create_key(&admin, &other, "OWNER").await;
    app.ok(VIEWER, json!({}), &key.auth()).await;
    expect_total(&app, &key.id, [1, 0, 0, 0]).await;
    let now = Utc::now();
    let period = |id: &str| {
        json!({ "id": id, "since": now - chrono::Duration::hours(1),
                "until": now + chrono::Duration::hours(1), "g": "HOUR" })
    };
    // Who reads what: (reader, whether it sees the key's and project's usage)
    let readers = [
        ("the key itself", key.auth(), true),
        ("a key of the same project", colleague.auth(), true),
        ("a key of another project", stranger.auth(), false),
    ];
    for (who, auth, sees) in readers {
        for (query, id) in [(KEY_USAGE, &key.id), (PROJECT_USAGE, &project)] {
            let reply = app.gql(query, period(id), &auth).await;
            if sees {
                let usage = &reply.data()["node"]["usage"];
                assert_eq!(usage[0]["accepted"], 1, "{who}: {reply:?}");
            } else {
                assert!(reply.body["data"]["node"].is_null(), "{who}: {reply:?}");
                assert!(!reply.body.to_string().contains("accepted\":"), "{who}");
            }
        }
        let reply = app
            .gql(RECENT_CLIENTS, json!({ "id": key.id }), &auth)
            .await;
        assert_eq!(
            reply.body["data"]["node"]["recentClients"].is_array(),
            sees,
            "{who}: {reply:?}"
        );
    }
    // Through the other project's endpoint, the project itself.
    let reply = app
        .post(
            &format!("/projects/{other}/graphql"),
            "query($id: ID!) { project(id: $id) { usage(since: \"2026-01-01T00:00:00Z\", until: \"2026-01-02T00:00:00Z\", granularity: DAY) { accepted } } }",
            json!({ "id": project }),
            &stranger.auth(),
        )
        .await;
    assert!(reply.body["data"]["project"].is_null(), "{reply:?}");
}

async fn usage_periods_are_checked() {
    let app = TestApp::spawn().await;
    let project = app.default_project(&Auth::None).await;
    // (since, until, granularity, accepted)
    let cases = [
        (
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
            "MINUTE",
            false,
        ),
        ("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z", "DAY", false),
        (
            "2026-01-01T00:00:00Z",
            "2026-01-03T00:00:00Z",
            "MINUTE",
            true,
        ),
        (
            "2026-01-01T00:00:00Z",
            "2026-01-03T00:00:01Z",
            "MINUTE",
            false,
        ),
        ("2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z", "HOUR", true),
        (
            "2026-01-01T00:00:00Z",
            "2026-04-02T00:00:00Z",
            "HOUR",
            false,
        ),
        ("2024-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "DAY", true),
        ("2023-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "DAY", false),
    ];
    for (since, until, granularity, accepted) in cases {
        let reply = app
            .gql(
                PROJECT_USAGE,
                json!({ "id": project, "since": since, "until": until, "g": granularity }),
                &Auth::None,
            )
            .await;
        if accepted {
            assert_eq!(reply.data()["node"]["usage"], json!([]), "{since} {until}");
        } else {
            reply.assert_code("BAD_USER_INPUT");
        }
    }
}

/// A server killed outright loses at most the counts of its last flush
/// interval (1 s, plus the time a write takes): every request answered
/// more than 1.5 s before the kill is counted after a restart.
#[tokio::test]
async fn a_kill_9_loses_at_most_the_last_second_of_counts() {
    run_on(Backend::Sqlite, async {
        let database = TestDatabase::fresh(Backend::Sqlite).await;
        let server = ServerProcess::start(&database.url);
        let (_, key) = server.with_admin_and_key("counted").await;
        let started = Instant::now();
        let mut answered = Vec::new();
        while started.elapsed() < Duration::from_millis(3_000) {
            server.ok(VIEWER, json!({}), &key.auth()).await;
            answered.push(Instant::now());
        }
        signal(server.pid(), "-KILL");
        let killed = Instant::now();
        drop(server.stop());
        let bound = Duration::from_millis(1_500);
        let must_be_counted = answered
            .iter()
            .filter(|at| killed.duration_since(**at) > bound)
            .count();
        let server = ServerProcess::start(&database.url);
        let now = Utc::now();
        let data = server
            .ok(
                KEY_USAGE,
                json!({ "id": key.id, "since": now - chrono::Duration::hours(2),
                        "until": now + chrono::Duration::hours(1), "g": "HOUR" }),
                &Auth::admin(),
            )
            .await;
        let counted: i64 = data["node"]["usage"]
            .as_array()
            .expect("usage")
            .iter()
            .map(|bucket| bucket["accepted"].as_i64().unwrap_or_default())
            .sum();
        let counted = usize::try_from(counted).expect("a count");
        assert!(
            counted >= must_be_counted && counted <= answered.len(),
            "{counted} counted of {} answered, {must_be_counted} of them more than {bound:?} before the kill",
            answered.len()
        );
        drop(server.stop());
    })
    .await;
}

/// `--usage-counting off` counts nothing.
#[tokio::test]
async fn usage_counting_off_counts_nothing() {
    run_on(Backend::Sqlite, async {
        let app = TestApp::spawn_with(|config| {
            config.usage.counting = keyward::config::UsageCounting::Off;
        })
        .await;
        app.enable_access_control().await;
        let project = app.default_project(&Auth::admin()).await;
        let key = app.create_key(&Auth::admin(), &project, "READ_ONLY").await;
        app.ok(VIEWER, json!({}), &key.auth()).await;
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(total(&app, &key.id).await, [0; 4]);
        let data = app
            .ok(RECENT_CLIENTS, json!({ "id": key.id }), &Auth::admin())
            .await;
        assert_eq!(data["node"]["recentClients"], json!([]));
    })
    .await;
}
