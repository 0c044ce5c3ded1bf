//! Real reverse proxies asking keyward before every request to a service
//! behind them: Debian's nginx (`auth_request`) and Caddy (`forward_auth`),
//! each running the configuration `docs/proxies.md` shows (`docs/proxies/`, with
//! this test's addresses in place of the guide's), on ephemeral loopback
//! ports, in front of a service inside the test that records every request
//! reaching it. Each test states one behaviour and checks it through every
//! proxy.
//!
//! Without `/usr/sbin/nginx` and `/usr/bin/caddy` these tests are built as
//! ignored (build.rs), unless `KEYWARD_PROXY_TESTS=require` (set by
//! `.ci/run`), which makes a missing proxy a failure. With one of the two,
//! they run through it and name the other on stderr.

use std::fmt;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyward::Config;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use serde_json::json;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(
    #[cfg_attr(
        not(keyward_proxies),
        ignore = "needs nginx or Caddy: apt-get install nginx caddy"
    )];
    without_credentials_the_client_gets_401_with_keywards_challenge,
    a_key_reaches_the_service_with_its_project_key_role_and_scopes,
    a_read_only_keys_writes_are_refused_with_403_and_never_reach_the_service,
    another_projects_key_is_refused_with_403_where_the_location_names_a_project,
    a_location_requiring_a_scope_admits_only_keys_holding_it,
    a_key_deactivated_through_the_api_is_refused_on_the_very_next_request,
    a_client_cannot_send_x_keyward_headers_to_the_service,
    a_throttled_key_gets_429_with_retry_after,
);

/// The configurations `docs/proxies.md` shows, character for character.
const NGINX_TEMPLATE: &str = include_str!("../../docs/proxies/nginx.conf");
const CADDY_TEMPLATE: &str = include_str!("../../docs/proxies/Caddyfile");

/// What the templates name, and each test replaces with its own.
pub(crate) const TEMPLATE_KEYWARD: &str = "127.0.0.1:8080";
pub(crate) const TEMPLATE_SERVICE: &str = "127.0.0.1:9000";
pub(crate) const TEMPLATE_PROJECT: &str = "PROJECT_ID";
const TEMPLATE_NGINX_LISTEN: &str = "listen 8000;";
const TEMPLATE_CADDY_SITE: &str = "http://:8000 {";

const REQUIRE_VAR: &str = "KEYWARD_PROXY_TESTS";
/// What the service answers to every request that reaches it.
const SERVICE_ANSWER: &str = "from the service";
/// How long a proxy may take to start listening.
const STARTUP: Duration = Duration::from_secs(15);

/// The six headers a proxy passes from keyward's answer to the service.
const KEYWARD_HEADERS: [&str; 6] = [
    "x-keyward-kind",
    "x-keyward-project-id",
    "x-keyward-key-id",
    "x-keyward-access-key",
    "x-keyward-role",
    "x-keyward-scopes",
];

// ---------------------------------------------------------------------------
// The behaviours, each through every proxy.

async fn without_credentials_the_client_gets_401_with_keywards_challenge() {
    let stage = Stage::start().await;
    let unknown = Auth::basic("AAAAAAAAAAAAAAAAAAAA", "not a secret of any key");
    for proxy in &stage.proxies {
        for path in ["/", "/deploy/app", "/project/report"] {
            for auth in [Auth::None, unknown.clone()] {
                let reply = proxy.get(path, &auth).await;
                assert_eq!(
                    reply.status,
                    StatusCode::UNAUTHORIZED,
                    "{proxy} {path} {auth:?}: {reply:?}"
                );
                assert_eq!(
                    reply.headers.get(WWW_AUTHENTICATE).map(|v| v.as_bytes()),
                    Some(&b"Basic realm=\"keyward\", charset=\"UTF-8\""[..]),
                    "{proxy} passes keyward's challenge on: {reply:?}"
                );
            }
        }
    }
    stage
        .service
        .assert_untouched("no request without valid credentials");
}

async fn a_key_reaches_the_service_with_its_project_key_role_and_scopes() {
    let stage = Stage::start().await;
    let scoped = stage
        .key(&stage.project, "MEMBER", &["metrics:read", "deploy"])
        .await;
    let plain = stage.key(&stage.project, "READ_ONLY", &[]).await;
    for proxy in &stage.proxies {
        let reply = proxy.get("/reports/daily?format=csv", &scoped.auth()).await;
        assert_eq!(reply.status, StatusCode::OK, "{proxy}: {reply:?}");
        assert_eq!(reply.body["_raw"], SERVICE_ANSWER, "{proxy}: {reply:?}");
        let seen = stage.service.the_one_request(proxy);
        assert_eq!(seen.method, Method::GET, "{proxy}");
        assert_eq!(seen.uri, "/reports/daily?format=csv", "{proxy}");
        assert_eq!(seen.keyward("x-keyward-kind"), Some("API_KEY"), "{proxy}");
        assert_eq!(
            seen.keyward("x-keyward-project-id"),
            Some(scoped.project_id.as_str()),
            "{proxy}"
        );
        assert_eq!(
            seen.keyward("x-keyward-key-id"),
            Some(scoped.id.as_str()),
            "{proxy}"
        );
        assert_eq!(
            seen.keyward("x-keyward-access-key"),
            Some(scoped.access_key.as_str()),
            "{proxy}"
        );
        assert_eq!(seen.keyward("x-keyward-role"), Some("MEMBER"), "{proxy}");
        assert_eq!(
            seen.keyward("x-keyward-scopes"),
            Some("deploy metrics:read"),
            "{proxy}: space-separated, sorted"
        );
        assert!(
            seen.headers.get(AUTHORIZATION).is_none(),
            "{proxy}: the service never sees the secret key: {seen:?}"
        );

        // A key without scopes: no scopes reach the service (nginx leaves
        // the empty header out, Caddy sends it empty).
        let reply = proxy.get("/", &plain.auth()).await;
        assert_eq!(reply.status, StatusCode::OK, "{proxy}: {reply:?}");
        let seen = stage.service.the_one_request(proxy);
        assert_eq!(seen.keyward("x-keyward-role"), Some("READ_ONLY"), "{proxy}");
        assert_eq!(seen.keyward("x-keyward-scopes"), None, "{proxy}");
    }
}

async fn a_read_only_keys_writes_are_refused_with_403_and_never_reach_the_service() {
    let stage = Stage::start().await;
    let reader = stage.key(&stage.project, "READ_ONLY", &[]).await;
    let member = stage.key(&stage.project, "MEMBER", &[]).await;
    for proxy in &stage.proxies {
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            let reply = proxy
                .send(method.clone(), "/items", &reader.auth(), &[])
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{proxy} {method}: {reply:?}");
            assert_eq!(stage.service.the_one_request(proxy).method, method);
        }
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let reply = proxy
                .send(method.clone(), "/items", &reader.auth(), &[])
                .await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{proxy} {method}: {reply:?}"
            );
        }
        // The client cannot name the method keyward judges.
        let claims = [("X-Forwarded-Method", "GET"), ("X-Original-Method", "GET")];
        let reply = proxy
            .send(Method::POST, "/items", &reader.auth(), &claims)
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{proxy}: {reply:?}");
        stage
            .service
            .assert_untouched(&format!("{proxy}: no write of a READ_ONLY key"));

        // A MEMBER key writes, and its body reaches the service whole.
        let request = proxy.request(Method::POST, "/items", &member.auth(), &[]);
        let reply = send(request.body("the new item")).await;
        assert_eq!(reply.status, StatusCode::OK, "{proxy}: {reply:?}");
        let seen = stage.service.the_one_request(proxy);
        assert_eq!(seen.method, Method::POST, "{proxy}");
        assert_eq!(seen.body, "the new item", "{proxy}");
        assert_eq!(seen.keyward("x-keyward-role"), Some("MEMBER"), "{proxy}");
    }
}

async fn another_projects_key_is_refused_with_403_where_the_location_names_a_project() {
    let stage = Stage::start().await;
    let elsewhere = stage.app.create_project(&Auth::admin(), "elsewhere").await;
    let ours = stage.key(&stage.project, "READ_ONLY", &[]).await;
    let theirs = stage.key(&elsewhere, "OWNER", &[]).await;
    for proxy in &stage.proxies {
        let reply = proxy.get("/project/report", &theirs.auth()).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{proxy}: {reply:?}");
        stage
            .service
            .assert_untouched(&format!("{proxy}: another project's key"));

        let reply = proxy.get("/project/report", &ours.auth()).await;
        assert_eq!(reply.status, StatusCode::OK, "{proxy}: {reply:?}");
        let seen = stage.service.the_one_request(proxy);
        assert_eq!(
            seen.keyward("x-keyward-project-id"),
            Some(stage.project.as_str())
        );

        // Where no project is named, any project's key passes, with its
        // own project.
        let reply = proxy.get("/report", &theirs.auth()).await;
        assert_eq!(reply.status, StatusCode::OK, "{proxy}: {reply:?}");
        let seen = stage.service.the_one_request(proxy);
        assert_eq!(
            seen.keyward("x-keyward-project-id"),
            Some(elsewhere.as_str())
        );
    }
}

async fn a_location_requiring_a_scope_admits_only_keys_holding_it() {
    let stage = Stage::start().await;
    let without = stage.key(&stage.project, "OWNER", &[]).await;
    let similar = stage
        .key(&stage.project, "OWNER", &["deploy:staging", "deployer"])
        .await;
    let holder = stage
        .key(&stage.project, "READ_ONLY", &["deploy", "logs"])
        .await;
    for proxy in &stage.proxies {
        for key in [&without, &similar] {
            let reply = proxy.get("/deploy/app", &key.auth()).await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{proxy} {}: {reply:?}",
                key.access_key
            );
        }
        stage
            .service
            .assert_untouched(&format!("{proxy}: keys without the scope"));

        let reply = proxy.get("/deploy/app", &holder.auth()).await;
        assert_eq!(reply.status, StatusCode::OK, "{proxy}: {reply:?}");
        let seen = stage.service.the_one_request(proxy);
        assert_eq!(seen.keyward("x-keyward-scopes"), Some("deploy logs"));

        // The scope adds to the method rule; it does not replace it.
        let reply = proxy
            .send(Method::POST, "/deploy/app", &holder.auth(), &[])
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{proxy}: {reply:?}");
        stage
            .service
            .assert_untouched(&format!("{proxy}: a READ_ONLY key's POST"));
    }
}

async fn a_key_deactivated_through_the_api_is_refused_on_the_very_next_request() {
    let stage = Stage::start().await;
    for proxy in &stage.proxies {
        let key = stage.key(&stage.project, "MEMBER", &[]).await;
        // Verified once, so keyward has it in its cache.
        let reply = proxy.get("/", &key.auth()).await;
        assert_eq!(reply.status, StatusCode::OK, "{proxy}: {reply:?}");
        stage.service.the_one_request(proxy);

        set_state(&stage.app, &key, "INACTIVE").await;
        for path in ["/", "/project/report"] {
            let reply = proxy.get(path, &key.auth()).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{proxy} {path}: {reply:?}"
            );
        }
        stage
            .service
            .assert_untouched(&format!("{proxy}: an inactive key"));

        set_state(&stage.app, &key, "ACTIVE").await;
        let reply = proxy.get("/", &key.auth()).await;
        assert_eq!(reply.status, StatusCode::OK, "{proxy}: {reply:?}");
        stage.service.the_one_request(proxy);
    }
}

/// The administrator sets `key`'s state through the GraphQL API.
async fn set_state(app: &TestApp, key: &TestKey, state: &str) {
    let variables = json!({ "i": { "id": key.id, "state": state } });
    let data = app.ok(SET_STATE, variables, &Auth::admin()).await;
    assert_eq!(data["setKeyState"]["apiKey"]["state"], state);
}

async fn a_client_cannot_send_x_keyward_headers_to_the_service() {
    let stage = Stage::start().await;
    let forged = [
        ("X-Keyward-Kind", "ADMIN"),
        ("X-Keyward-Project-Id", "UHJvamVjdDo5OTk"),
        ("X-Keyward-Key-Id", "QXBpS2V5Ojk5OQ"),
        ("X-Keyward-Access-Key", "FORGEDFORGEDFORGED00"),
        ("X-Keyward-Role", "OWNER"),
        ("X-Keyward-Scopes", "deploy everything"),
    ];
    let key = stage.key(&stage.project, "READ_ONLY", &[]).await;
    for proxy in &stage.proxies {
        // A key's request: the service sees the key's facts only.
        let reply = proxy.send(Method::GET, "/", &key.auth(), &forged).await;
        assert_eq!(reply.status, StatusCode::OK, "{proxy}: {reply:?}");
        let seen = stage.service.the_one_request(proxy);
        let expected = [
            Some("API_KEY"),
            Some(key.project_id.as_str()),
            Some(key.id.as_str()),
            Some(key.access_key.as_str()),
            Some("READ_ONLY"),
            None,
        ];
        for (name, expected) in KEYWARD_HEADERS.into_iter().zip(expected) {
            assert_eq!(seen.keyward(name), expected, "{proxy}: {name} in {seen:?}");
        }
        for name in KEYWARD_HEADERS {
            let copies = seen.headers.get_all(name).iter().count();
            assert!(copies <= 1, "{proxy}: {name} {copies} times: {seen:?}");
        }

        // The administrator has no key: the service sees the kind, and the
        // key headers empty (Caddy) or absent (nginx), never the client's.
        let reply = proxy.send(Method::GET, "/", &Auth::admin(), &forged).await;
        assert_eq!(reply.status, StatusCode::OK, "{proxy}: {reply:?}");
        let seen = stage.service.the_one_request(proxy);
        assert_eq!(seen.keyward("x-keyward-kind"), Some("ADMIN"), "{proxy}");
        for name in &KEYWARD_HEADERS[1..] {
            assert!(
                seen.headers.get(*name).is_none_or(|value| value.is_empty()),
                "{proxy}: {name} reached the service: {seen:?}"
            );
        }

        // Without credentials, forged headers get nobody anywhere.
        let reply = proxy.send(Method::GET, "/", &Auth::None, &forged).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{proxy}: {reply:?}");
        stage
            .service
            .assert_untouched(&format!("{proxy}: forged headers alone"));
    }
}

async fn a_throttled_key_gets_429_with_retry_after() {
    let stage = Stage::start_with(|config| {
        config.limits.auth_failures_per_key = 2;
        config.limits.auth_throttle_delay_ms = 0;
    })
    .await;
    for proxy in &stage.proxies {
        let key = stage.key(&stage.project, "MEMBER", &[]).await;
        let guess = Auth::basic(&key.access_key, "a wrong secret, guessed");
        for _ in 0..2 {
            let reply = proxy.get("/", &guess).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{proxy}: {reply:?}");
        }
        // Past the limit even the right secret waits, and the client is
        // told for how long.
        let reply = proxy.get("/", &key.auth()).await;
        assert_eq!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{proxy}: {reply:?}"
        );
        let retry_after: u64 = reply
            .headers
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("{proxy}: a Retry-After in seconds: {reply:?}"));
        assert!(retry_after >= 1, "{proxy}: Retry-After {retry_after}");
        stage
            .service
            .assert_untouched(&format!("{proxy}: a throttled key"));
    }
}

/// A service may route `/DEPLOY/x`, `//deploy/x` or `/%64eploy/x` as
/// `/deploy/x` (Express, ASP.NET Core and IIS ignore case; most decode and
/// merge): each proxy judges every such spelling as the protected path.
/// A path a service could read otherwise than the proxy does (dot
/// segments, encoded slashes, backslashes, `;`) is refused whoever asks.
#[tokio::test]
#[cfg_attr(
    not(keyward_proxies),
    ignore = "needs nginx or Caddy: apt-get install nginx caddy"
)]
async fn every_spelling_of_a_protected_path_is_protected_or_refused() {
    let stage = Stage::start().await;
    let elsewhere = stage.app.create_project(&Auth::admin(), "elsewhere").await;
    let without = stage.key(&stage.project, "OWNER", &[]).await;
    let holder = stage.key(&stage.project, "READ_ONLY", &["deploy"]).await;
    let theirs = stage.key(&elsewhere, "OWNER", &["deploy"]).await;
    // (path, a key the location refuses, a key it admits)
    let mut protected = Vec::new();
    for path in [
        "/deploy",
        "/deploy/app",
        "/DEPLOY/app",
        "/Deploy/app",
        "/DEPLOY",
        "//deploy/app",
        "///Deploy",
        "/%64eploy/app",
        "/%44EPLOY/app",
    ] {
        protected.push((path, &without, &holder));
    }
    for path in [
        "/project",
        "/PROJECT/report",
        "/Project",
        "//project/report",
        "/%70roject/report",
    ] {
        protected.push((path, &theirs, &holder));
    }
    let unclear = [
        "/deploy%2Fapp",
        "/deploy%2fapp",
        "/%2Fdeploy/app",
        "/x/../deploy/app",
        "/./deploy/app",
        "/deploy/../x",
        "/deploy/./app",
        "/deploy/%2e%2e/x",
        "/x/%2E%2E/deploy/app",
        "/deploy%2F..%2Fx",
        "/deploy\\app",
        "/deploy%5capp",
        "/deploy;v=1/app",
        "/deploy./app",
        "/x/../project/report",
        "/PROJECT%2Freport",
    ];
    // Paths that only look alike, and query strings, stay open.
    let open = [
        "/deployments",
        "/x/deploy/app",
        "/.well-known/app",
        "/report/v1.2/x",
        "/x?to=../deploy;a%2Fb",
    ];
    for proxy in &stage.proxies {
        for (path, refused, admitted) in &protected {
            let status = proxy.raw_get(path, refused).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{proxy} {path}");
            stage
                .service
                .assert_untouched(&format!("{proxy} {path}: a key the location refuses"));
            let status = proxy.raw_get(path, admitted).await;
            assert_eq!(status, StatusCode::OK, "{proxy} {path}");
            stage.service.the_one_request(proxy);
        }
        for path in unclear {
            for key in [&without, &holder, &theirs] {
                let status = proxy.raw_get(path, key).await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{proxy} {path}");
            }
            stage
                .service
                .assert_untouched(&format!("{proxy} {path}: an unclear path"));
        }
        for path in open {
            let status = proxy.raw_get(path, &without).await;
            assert_eq!(status, StatusCode::OK, "{proxy} {path}");
            let seen = stage.service.the_one_request(proxy);
            assert_eq!(seen.uri, *path, "{proxy}: the path as the client sent it");
        }
    }
}

/// Requirements are the configuration's: a client's own `role=` or
/// `scope=` in its query string does not reach keyward's verify URL.
#[tokio::test]
#[cfg_attr(
    not(keyward_proxies),
    ignore = "needs nginx or Caddy: apt-get install nginx caddy"
)]
async fn a_clients_query_string_adds_no_requirement() {
    let stage = Stage::start().await;
    let reader = stage.key(&stage.project, "READ_ONLY", &[]).await;
    for proxy in &stage.proxies {
        for path in [
            "/report?role=OWNER",
            "/report?role=not-a-role",
            "/report?scope=deploy",
            "/deploy?scope=",
        ] {
            let reply = proxy.get(path, &reader.auth()).await;
            let expected = if path.starts_with("/deploy") {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::OK
            };
            assert_eq!(reply.status, expected, "{proxy} {path}: {reply:?}");
            stage.service.take();
        }
    }
}

/// A mistake in the verify URL a configuration names (a malformed `role=`,
/// a project keyward does not have) is the proxy's, never the client's:
/// nginx answers 500; Caddy passes keyward's answer on (400, 404), as the
/// guide says. Nothing reaches the service either way.
#[tokio::test]
#[cfg_attr(
    not(keyward_proxies),
    ignore = "needs nginx or Caddy: apt-get install nginx caddy"
)]
async fn a_mistake_in_the_verify_url_never_lets_a_request_through() {
    let kinds = installed();
    let app = TestApp::spawn_with(|config| {
        config.limits.trusted_proxies = vec![Ipv4Addr::LOCALHOST.into()];
    })
    .await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let (service, service_addr) = Service::start().await;
    let unknown_project = "UHJvamVjdDo5OTk5";
    for kind in kinds {
        let bad_role = [("/verify?scope=deploy", "/verify?role=owner".to_owned())];
        let proxy =
            RunningProxy::start_with(kind, app.addr, service_addr, &project, &bad_role).await;
        let reply = proxy.get("/deploy/app", &Auth::admin()).await;
        let expected = match kind {
            ProxyKind::Nginx => StatusCode::INTERNAL_SERVER_ERROR,
            ProxyKind::Caddy => StatusCode::BAD_REQUEST,
        };
        assert_eq!(reply.status, expected, "{proxy} role=owner: {reply:?}");
        drop(proxy);

        let proxy = RunningProxy::start(kind, app.addr, service_addr, unknown_project).await;
        let reply = proxy.get("/project/report", &Auth::admin()).await;
        let expected = match kind {
            ProxyKind::Nginx => StatusCode::INTERNAL_SERVER_ERROR,
            ProxyKind::Caddy => StatusCode::NOT_FOUND,
        };
        assert_eq!(reply.status, expected, "{proxy} unknown project: {reply:?}");
    }
    service.assert_untouched("nothing through a mistaken configuration");
}

/// With keyward down, no request gets through: nginx answers 503 (the
/// guide's configuration maps the failed subrequest to it), Caddy 502.
#[tokio::test]
#[cfg_attr(
    not(keyward_proxies),
    ignore = "needs nginx or Caddy: apt-get install nginx caddy"
)]
async fn when_keyward_cannot_be_reached_the_proxies_let_nothing_through() {
    let kinds = installed();
    let nobody_listens = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    let (service, service_addr) = Service::start().await;
    for kind in kinds {
        let proxy = RunningProxy::start(kind, nobody_listens, service_addr, "UHJvamVjdDox").await;
        let credentials = Auth::basic("AAAAAAAAAAAAAAAAAAAA", "any secret at all");
        let reply = proxy.get("/", &credentials).await;
        assert_eq!(
            reply.status,
            kind.status_without_keyward(),
            "{proxy}: {reply:?}"
        );
    }
    service.assert_untouched("nothing while keyward is down");
}

#[test]
fn the_proxy_guide_shows_the_configurations_these_tests_run() {
    let guide =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/proxies.md"))
            .expect("docs/proxies.md is readable");
    for (file, template) in [
        ("docs/proxies/nginx.conf", NGINX_TEMPLATE),
        ("docs/proxies/Caddyfile", CADDY_TEMPLATE),
    ] {
        assert!(
            guide.contains(template),
            "docs/proxies.md must show {file} exactly as the tests run it"
        );
    }
}

// ---------------------------------------------------------------------------
// The stage: keyward, the service, and the proxies between them.

/// keyward with access control on, the service, and every installed proxy
/// in front of the service, configured with keyward's address and the
/// `Default` project as `PROJECT_ID`.
struct Stage {
    // Declared first: dropped (killed) before the servers they talk to.
    proxies: Vec<RunningProxy>,
    service: Service,
    app: TestApp,
    /// The project the configurations' `PROJECT_ID` names.
    project: String,
}

impl Stage {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        let kinds = installed();
        let app = TestApp::spawn_with(|config| {
            // The proxies run on this machine, as the guide's
            // `--trusted-proxy` says: their X-Forwarded-For is believed.
            config.limits.trusted_proxies = vec![Ipv4Addr::LOCALHOST.into()];
            configure(config);
        })
        .await;
        app.enable_access_control().await;
        let project = app.default_project(&Auth::admin()).await;
        let (service, service_addr) = Service::start().await;
        let mut proxies = Vec::new();
        for kind in kinds {
            proxies.push(RunningProxy::start(kind, app.addr, service_addr, &project).await);
        }
        Self {
            proxies,
            service,
            app,
            project,
        }
    }

    /// A new key of `project`, created by the administrator.
    async fn key(&self, project: &str, role: &str, scopes: &[&str]) -> TestKey {
        static KEYS: AtomicUsize = AtomicUsize::new(0);
        let name = format!("{role} key {}", KEYS.fetch_add(1, Ordering::Relaxed));
        let data = self
            .app
            .ok(
                "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) {
                    secretKey apiKey { id accessKey scopes project { id } } } }",
                json!({ "i": { "projectId": project, "name": name, "role": role, "scopes": scopes } }),
                &Auth::admin(),
            )
            .await;
        let mut sorted = scopes.to_vec();
        sorted.sort_unstable();
        assert_eq!(data["createApiKey"]["apiKey"]["scopes"], json!(sorted));
        key_from(&data)
    }
}

/// The proxies installed here. A test needing them is built as ignored
/// where none is (`keyward_proxies`, see build.rs); one that runs without
/// any was required to, and fails. A missing one of the two is named once
/// on stderr, or fails where `KEYWARD_PROXY_TESTS=require`.
pub(crate) fn installed() -> Vec<ProxyKind> {
    let (present, missing): (Vec<ProxyKind>, Vec<ProxyKind>) = ProxyKind::ALL
        .into_iter()
        .partition(|kind| Path::new(kind.binary()).exists());
    if missing.is_empty() {
        return present;
    }
    let missing_binaries: Vec<&str> = missing.iter().map(|kind| kind.binary()).collect();
    let packages: Vec<&str> = missing.iter().map(|kind| kind.package()).collect();
    let required = std::env::var(REQUIRE_VAR).is_ok_and(|value| value == "require");
    assert!(
        !required && !present.is_empty(),
        "{missing_binaries:?} are missing, and the proxy tests are required here: apt-get install {}",
        packages.join(" ")
    );
    static NOTICE: std::sync::Once = std::sync::Once::new();
    NOTICE.call_once(|| {
        // Straight to stderr: the test harness would swallow `eprintln!`.
        let notice = format!(
            "NOTICE: proxy tests skip {missing_binaries:?}, not found (apt-get install {})\n",
            packages.join(" ")
        );
        let _ = std::io::Write::write_all(&mut std::io::stderr(), notice.as_bytes());
    });
    present
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProxyKind {
    Nginx,
    Caddy,
}

impl ProxyKind {
    const ALL: [Self; 2] = [Self::Nginx, Self::Caddy];

    fn binary(self) -> &'static str {
        match self {
            Self::Nginx => "/usr/sbin/nginx",
            Self::Caddy => "/usr/bin/caddy",
        }
    }

    fn package(self) -> &'static str {
        match self {
            Self::Nginx => "nginx",
            Self::Caddy => "caddy",
        }
    }

    /// What the client gets when the proxy cannot reach keyward.
    fn status_without_keyward(self) -> StatusCode {
        match self {
            Self::Nginx => StatusCode::SERVICE_UNAVAILABLE,
            Self::Caddy => StatusCode::BAD_GATEWAY,
        }
    }
}

impl fmt::Display for ProxyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Nginx => "nginx",
            Self::Caddy => "Caddy",
        })
    }
}

/// A proxy process with its configuration in a temp dir of its own; killed
/// when dropped.
pub(crate) struct RunningProxy {
    pub(crate) kind: ProxyKind,
    pub(crate) addr: SocketAddr,
    process: Child,
    client: reqwest::Client,
    // Declared last: removed after the process is gone.
    dir: TempDir,
}

impl RunningProxy {
    /// Starts `kind` with the guide's configuration, pointed at `keyward`
    /// and `service`, with `project` as `PROJECT_ID`; returns once it
    /// listens.
    async fn start(
        kind: ProxyKind,
        keyward: SocketAddr,
        service: SocketAddr,
        project: &str,
    ) -> Self {
        Self::start_with(kind, keyward, service, project, &[]).await
    }

    /// [`Self::start`] with each of `edits`' texts of the configuration
    /// replaced, to run a configuration with a mistake in it.
    async fn start_with(
        kind: ProxyKind,
        keyward: SocketAddr,
        service: SocketAddr,
        project: &str,
        edits: &[(&str, String)],
    ) -> Self {
        let shared: Vec<(&str, String)> = [
            (TEMPLATE_KEYWARD, keyward.to_string()),
            (TEMPLATE_SERVICE, service.to_string()),
            (TEMPLATE_PROJECT, project.to_owned()),
        ]
        .into_iter()
        .chain(edits.iter().cloned())
        .collect();
        let template = match kind {
            ProxyKind::Nginx => NGINX_TEMPLATE,
            ProxyKind::Caddy => CADDY_TEMPLATE,
        };
        Self::run(kind, template, &shared).await
    }

    /// Starts `kind` with `template` (an nginx `server` block for the
    /// `http` block, or a Caddyfile site, listening as the guide's do on
    /// port 8000) with each of `substitutions` made and an ephemeral
    /// loopback port to listen on; returns once it listens.
    pub(crate) async fn run(
        kind: ProxyKind,
        template: &str,
        substitutions: &[(&str, String)],
    ) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir for the proxy");
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let shared = substitutions;
        let path = |name: &str| dir.path().join(name).display().to_string();
        let mut command = match kind {
            ProxyKind::Nginx => {
                let listen = (TEMPLATE_NGINX_LISTEN, format!("listen 127.0.0.1:{port};"));
                let site = render(template, shared.iter().chain([&listen]));
                write(dir.path(), "keyward.conf", &site);
                // Everything nginx writes stays in the temp dir; one process
                // (no workers left behind when it is killed).
                let main = format!(
                    "master_process off;\n\
                     pid {pid};\n\
                     error_log {log} info;\n\
                     events {{ worker_connections 256; }}\n\
                     http {{\n\
                         access_log off;\n\
                         client_body_temp_path {dir}/client_body;\n\
                         proxy_temp_path {dir}/proxy;\n\
                         fastcgi_temp_path {dir}/fastcgi;\n\
                         uwsgi_temp_path {dir}/uwsgi;\n\
                         scgi_temp_path {dir}/scgi;\n\
                         include {site};\n\
                     }}\n",
                    pid = path("nginx.pid"),
                    log = path("proxy.log"),
                    dir = dir.path().display(),
                    site = path("keyward.conf"),
                );
                write(dir.path(), "nginx.conf", &main);
                let mut command = Command::new(kind.binary());
                command
                    .arg("-p")
                    .arg(dir.path())
                    .arg("-c")
                    .arg(path("nginx.conf"))
                    .arg("-e")
                    .arg(path("proxy.log"))
                    .arg("-g")
                    .arg("daemon off;");
                command
            }
            ProxyKind::Caddy => {
                let site = (
                    TEMPLATE_CADDY_SITE,
                    format!("http://:{port} {{\n\tbind 127.0.0.1"),
                );
                let config = format!(
                    "{{\n\tadmin off\n\tauto_https off\n}}\n\n{}",
                    render(template, shared.iter().chain([&site]))
                );
                write(dir.path(), "Caddyfile", &config);
                let mut command = Command::new(kind.binary());
                command
                    .args(["run", "--adapter", "caddyfile", "--config"])
                    .arg(path("Caddyfile"))
                    // Caddy's own files (autosave, storage) in the temp dir.
                    .env("HOME", dir.path())
                    .env("XDG_CONFIG_HOME", dir.path())
                    .env("XDG_DATA_HOME", dir.path());
                command
            }
        };
        let log = File::create(dir.path().join("output.log")).expect("the proxy's log file");
        let process = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file, twice"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{kind} ({}) starts: {e}", kind.binary()));
        let mut proxy = Self {
            kind,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            process,
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
            dir,
        };
        proxy.wait_until_listening().await;
        proxy
    }

    async fn wait_until_listening(&mut self) {
        let deadline = tokio::time::Instant::now() + STARTUP;
        while tokio::time::Instant::now() < deadline {
            if let Some(status) = self.process.try_wait().expect("the proxy's status") {
                panic!(
                    "{} exited ({status}) before listening:\n{}",
                    self.kind,
                    self.logs()
                );
            }
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{} did not listen on {} within {STARTUP:?}:\n{}",
            self.kind,
            self.addr,
            self.logs()
        );
    }

    /// Everything the proxy wrote, for failure messages.
    fn logs(&self) -> String {
        ["output.log", "proxy.log"]
            .iter()
            .filter_map(|name| std::fs::read_to_string(self.dir.path().join(name)).ok())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A request to `path` through the proxy, with `auth` and `headers`.
    fn request(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        headers: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let url = format!("http://{}{path}", self.addr);
        let request = headers.iter().fold(
            self.client.request(method, url),
            |request, (name, value)| request.header(*name, *value),
        );
        with_auth(request, auth)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        headers: &[(&str, &str)],
    ) -> Reply {
        send(self.request(method, path, auth, headers)).await
    }

    async fn get(&self, path: &str, auth: &Auth) -> Reply {
        self.send(Method::GET, path, auth, &[]).await
    }

    /// The status of a GET of `target` sent byte for byte as written, as no
    /// client library sends it (they resolve dot segments and turn `\`
    /// into `/`), with `key`'s credentials.
    async fn raw_get(&self, target: &str, key: &TestKey) -> StatusCode {
        let credentials = STANDARD.encode(format!("{}:{}", key.access_key, key.secret));
        let request = format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {credentials}\r\n\
             Connection: close\r\n\r\n",
            self.addr
        );
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(self.addr).await?;
            stream.write_all(request.as_bytes()).await?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await?;
            Ok::<_, std::io::Error>(answer)
        };
        let answer = tokio::time::timeout(Duration::from_secs(30), exchange)
            .await
            .unwrap_or_else(|_| panic!("{self} answers {target} in time"))
            .unwrap_or_else(|e| panic!("{self} answers {target}: {e}"));
        // "HTTP/1.1 403 Forbidden": the second word.
        String::from_utf8_lossy(&answer)
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .and_then(|code| StatusCode::from_u16(code).ok())
            .unwrap_or_else(|| panic!("{self} {target}: no status line in {answer:?}"))
    }
}

impl fmt::Display for RunningProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        if std::thread::panicking() {
            eprintln!("--- {} logs ---\n{}", self.kind, self.logs());
        }
    }
}

/// `template` with each placeholder replaced; a placeholder the template no
/// longer has is a failure, not a silent no-op.
fn render<'a>(
    template: &str,
    substitutions: impl Iterator<Item = &'a (&'a str, String)>,
) -> String {
    substitutions.fold(template.to_owned(), |text, (placeholder, value)| {
        assert!(
            text.contains(placeholder),
            "the configuration no longer contains {placeholder:?}"
        );
        text.replace(placeholder, value)
    })
}

fn write(dir: &Path, name: &str, contents: &str) {
    std::fs::write(dir.join(name), contents)
        .unwrap_or_else(|e| panic!("cannot write {name} for the proxy: {e}"));
}

// ---------------------------------------------------------------------------
// The protected service.

/// A service behind the proxies: answers every request with 200 and
/// records what reached it.
#[derive(Clone, Default)]
struct Service {
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// One request as the service received it.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Seen {
    /// A keyward header's value; absent and empty alike are `None` (nginx
    /// sends no empty header, Caddy sends it empty).
    fn keyward(&self, name: &str) -> Option<&str> {
        let value = self.headers.get(name)?;
        let value = value.to_str().expect("an ASCII header value");
        (!value.is_empty()).then_some(value)
    }
}

impl Service {
    async fn start() -> (Self, SocketAddr) {
        let service = Self::default();
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the service");
        let addr = listener.local_addr().expect("the service's address");
        let router = axum::Router::new()
            .fallback(record)
            .with_state(service.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (service, addr)
    }

    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().expect("the service's record"))
    }

    /// The one request that reached the service since the last look.
    #[track_caller]
    fn the_one_request(&self, proxy: &RunningProxy) -> Seen {
        let mut seen = self.take();
        assert_eq!(
            seen.len(),
            1,
            "{proxy}: one request reaches the service: {seen:?}"
        );
        seen.remove(0)
    }

    /// Nothing reached the service since the last look.
    #[track_caller]
    fn assert_untouched(&self, what: &str) {
        let seen = self.take();
        assert!(seen.is_empty(), "{what}: reached the service: {seen:?}");
    }
}

async fn record(
    State(service): State<Service>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    service
        .seen
        .lock()
        .expect("the service's record")
        .push(Seen {
            method,
            uri,
            headers,
            body,
        });
    SERVICE_ANSWER
}
