//! keyward as the sign-in gate of an internal tool: real nginx and Caddy,
//! each running the gate configuration `docs/single-sign-on.md` shows
//! (`docs/single-sign-on/`, with this test's addresses in place of the
//! guide's), in front of a tool inside the test that shows and records the
//! `X-Keyward-*` headers it gets. A browser without a session is sent to
//! keyward's sign-in page and comes back to the tool signed in; the tool
//! sees who the person is, never what the client claims, never keyward's
//! session; removing the person's group from the project refuses their
//! very next request.
//!
//! Browser, keyward, proxies and tool are all on 127.0.0.1, on different
//! ports. Cookies do not depend on ports (RFC 6265 §8.5): the session
//! cookie keyward sets at 127.0.0.1:<keyward's port> goes with every
//! request to 127.0.0.1:<the proxy's port>, as it goes to the tools' hosts
//! under `--session-cookie-domain` in the guide's setup. The tests rely on
//! that instead of resolving names.
//!
//! A browser here is reqwest with a cookie jar, following no redirect, so
//! that each hop is seen; `a_person_signs_in_in_chromium_and_reaches_the_tool_behind_nginx`
//! is the same journey in Chromium, through the console's sign-in page and
//! a real OpenID provider's login form.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Html;
use reqwest::StatusCode;
use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::header::{COOKIE, LOCATION};
use serde_json::json;
use url::Url;

use crate::backend::on_every_backend;
use crate::helpers::*;
use crate::oidc_fake::FakeProvider;
use crate::proxies::{
    ProxyKind, RunningProxy, TEMPLATE_KEYWARD, TEMPLATE_PROJECT, TEMPLATE_SERVICE, installed,
};

on_every_backend!(
    #[cfg_attr(
        not(keyward_proxies),
        ignore = "needs nginx or Caddy: apt-get install nginx caddy"
    )];
    a_browser_signs_in_at_keyward_and_reaches_the_tool_as_the_person,
);

/// The gate configurations `docs/single-sign-on.md` shows, character for
/// character.
const NGINX_GATE: &str = include_str!("../../docs/single-sign-on/nginx.conf");
const CADDY_GATE: &str = include_str!("../../docs/single-sign-on/Caddyfile");
/// keyward's address for browsers, as the guide's configurations name it.
const TEMPLATE_PUBLIC_KEYWARD: &str = "https://keyward.example.com";

const CLIENT_ID: &str = "keyward-gate-test";
const CLIENT_SECRET: &str = "the gate test's client secret";
const CREATE_PROVIDER: &str = "mutation($i: CreateIdentityProviderInput!) { \
     createIdentityProvider(input: $i) { identityProvider { id name } } }";
// The inputs spelled out, so that these do not depend on the input types'
// names.
const ADD_GROUP: &str = "mutation($p: ID!, $g: String!, $r: Role!) { \
     addProjectGroup(input: {projectId: $p, group: $g, role: $r}) { groupMember { group role } } }";
const REMOVE_GROUP: &str = "mutation($p: ID!, $g: String!) { \
     removeProjectGroup(input: {projectId: $p, group: $g}) { __typename } }";
/// What the tool's page says, whoever asks.
const TOOL_TITLE: &str = "The tool behind the gate";

/// The headers the gate passes from keyward's answer to the tool.
const PERSON_HEADERS: [&str; 5] = [
    "x-keyward-kind",
    "x-keyward-user-id",
    "x-keyward-username",
    "x-keyward-groups",
    "x-keyward-role",
];

async fn a_browser_signs_in_at_keyward_and_reaches_the_tool_as_the_person() {
    let fake = FakeProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let app = app_behind_the_gate().await;
    create_provider(&app, &fake.issuer(), &[]).await;
    let project = app.create_project(&Auth::admin(), "Grafana").await;
    let gate = Gate::start(app, &project, &installed()).await;
    let app = &gate.app;
    for proxy in &gate.proxies {
        set_group(app, &project, "engineering", Some("MEMBER")).await;
        let (browser, jar) = browser();
        let tool_url = format!("http://{}/dashboards/7?from=now-1h&to=now", proxy.addr);

        // Without a session: to keyward's door for proxies, with the tool's
        // URL; the door sends the browser on to the sign-in page.
        let answer = browser.get(&tool_url).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::FOUND, "{proxy}: {answer:?}");
        let door = location(&answer);
        assert_eq!(
            door,
            format!("{}?return_to={tool_url}", app.url("/auth/sign-in")),
            "{proxy}"
        );
        gate.tool.assert_untouched(&format!("{proxy}: no session"));
        let answer = browser.get(&door).send().await.unwrap();
        assert_eq!(
            location(&answer),
            format!("/?returnTo={}", encoded(&tool_url)),
            "{proxy}: the sign-in page, which goes back to the tool"
        );

        // Signed in through the provider, the browser is sent back to the
        // tool, and the gate lets it through as the person.
        assert_eq!(sign_in(&browser, app, &tool_url).await, tool_url, "{proxy}");
        let tool = Url::parse(&tool_url).unwrap();
        jar.add_cookie_str("tool_session=the-tools-own", &tool);
        let forged = [
            ("X-Keyward-Kind", "ADMIN"),
            ("X-Keyward-User-Id", "VXNlcjo5OTk"),
            ("X-Keyward-Username", "root"),
            ("X-Keyward-Groups", "keyward-admins"),
            ("X-Keyward-Role", "OWNER"),
        ];
        let request = forged
            .iter()
            .fold(browser.get(&tool_url), |request, (name, value)| {
                request.header(*name, *value)
            });
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{proxy}: {answer:?}");
        assert!(answer.text().await.unwrap().contains(TOOL_TITLE), "{proxy}");
        let seen = gate.tool.the_one_request(proxy);
        let header = |name: &str| {
            let values: Vec<&str> = seen
                .get_all(name)
                .iter()
                .map(|value| value.to_str().unwrap())
                .collect();
            assert!(values.len() <= 1, "{proxy}: {name} {values:?}");
            values.first().copied().unwrap_or("<missing>").to_owned()
        };
        assert_eq!(header("x-keyward-kind"), "USER", "{proxy}");
        assert_eq!(header("x-keyward-username"), "ada", "{proxy}");
        assert_eq!(header("x-keyward-groups"), "engineering", "{proxy}");
        assert_eq!(header("x-keyward-role"), "MEMBER", "{proxy}");
        assert!(
            header("x-keyward-user-id").starts_with("VXNlcj"),
            "{proxy}: a User id, not the client's: {seen:?}"
        );
        assert_ne!(header("x-keyward-user-id"), "VXNlcjo5OTk", "{proxy}");

        // The tool keeps its own cookies, and never gets keyward's session.
        let session = jar
            .cookies(&Url::parse(&app.url("/")).unwrap())
            .and_then(|cookies| {
                cookies
                    .to_str()
                    .unwrap()
                    .split("; ")
                    .find_map(|cookie| cookie.strip_prefix("keyward_session="))
                    .map(str::to_owned)
            })
            .expect("keyward's session cookie in the jar");
        let cookies = header(COOKIE.as_str());
        assert!(
            cookies.contains("tool_session=the-tools-own"),
            "{proxy}: {cookies}"
        );
        assert!(
            !cookies.contains(&session),
            "{proxy}: the session reached the tool"
        );

        // A browser with a session that comes to the door is sent straight
        // back to the tool.
        let answer = browser.get(&door).send().await.unwrap();
        assert_eq!(location(&answer), tool_url, "{proxy}");

        // The group leaves the project: the very next request is refused.
        set_group(app, &project, "engineering", None).await;
        let answer = browser.get(&tool_url).send().await.unwrap();
        assert_eq!(
            answer.status(),
            StatusCode::FORBIDDEN,
            "{proxy}: {answer:?}"
        );
        gate.tool
            .assert_untouched(&format!("{proxy}: after the group's removal"));
    }
}

/// In Chromium, through the console's sign-in page and a real provider's
/// login form: the tool behind nginx, then refused once the person's group
/// leaves the project.
#[tokio::test]
#[cfg_attr(
    not(all(keyward_browser, keyward_proxies, keyward_oidc)),
    ignore = "needs Chromium, nginx, Node.js and tests/oidc's packages \
              (apt-get install chromium chromium-driver nginx nodejs; npm ci --prefix tests/oidc)"
)]
async fn a_person_signs_in_in_chromium_and_reaches_the_tool_behind_nginx() {
    use crate::oidc_provider::{OidcClient, RealProvider, User};
    let app = app_behind_the_gate().await;
    let provider = RealProvider::start(
        vec![OidcClient {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            redirect_uris: vec![app.url("/auth/oidc/corp/callback")],
        }],
        vec![User {
            sub: "grace-sub".into(),
            username: "grace".into(),
            password: "hopper-1906".into(),
            name: "Grace Hopper".into(),
            email: "grace@example.com".into(),
            groups: vec!["navy".into()],
        }],
    )
    .await;
    create_provider(
        &app,
        &provider.issuer(),
        &["openid", "profile", "email", "groups"],
    )
    .await;
    let project = app.create_project(&Auth::admin(), "Grafana").await;
    set_group(&app, &project, "navy", Some("READ_ONLY")).await;
    let gate = Gate::start(app, &project, &[ProxyKind::Nginx]).await;
    let tool_url = format!("http://{}/dashboards/7?from=now-1h", gate.proxies[0].addr);

    let driver = crate::browser::Driver::start().await;
    let browser = driver.browser().await;
    browser.goto(&tool_url).await;
    // keyward's sign-in page, with a button for the provider.
    browser
        .css("[data-testid='signin-provider'][data-provider='corp']")
        .await
        .click()
        .await
        .expect("click Sign in with corp");
    // The provider's login form.
    browser
        .css("input[name='username']")
        .await
        .send_keys("grace")
        .await
        .expect("type the username");
    browser
        .css("input[name='password']")
        .await
        .send_keys("hopper-1906")
        .await
        .expect("type the password");
    browser
        .css("#sign-in")
        .await
        .click()
        .await
        .expect("submit the login form");
    // Back at the tool, through the gate, as grace.
    browser.text_contains(TOOL_TITLE).await;
    browser.text_contains("x-keyward-username: grace").await;
    browser.text_contains("x-keyward-groups: navy").await;
    browser.text_contains("x-keyward-role: READ_ONLY").await;
    let url = browser.client.current_url().await.expect("the page's URL");
    assert_eq!(url.as_str(), tool_url);
    gate.tool.take();

    set_group(&gate.app, &project, "navy", None).await;
    // What the page loaded before the removal (Chromium fetches the
    // favicon after the page, at a time of its own) is not the question.
    gate.tool.take();
    browser.goto(&tool_url).await;
    browser.text_contains("403 Forbidden").await;
    gate.tool
        .assert_untouched("Chromium, after the group's removal");
    browser.close().await;
}

#[test]
fn the_single_sign_on_guide_shows_the_gate_configurations_these_tests_run() {
    let guide = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/single-sign-on.md"),
    )
    .expect("docs/single-sign-on.md is readable");
    for (file, template) in [
        ("docs/single-sign-on/nginx.conf", NGINX_GATE),
        ("docs/single-sign-on/Caddyfile", CADDY_GATE),
    ] {
        assert!(
            guide.contains(template),
            "docs/single-sign-on.md must show {file} exactly as the tests run it"
        );
    }
}

// ---------------------------------------------------------------------------
// The stage.

/// keyward with access control on, letting sign-ins return to the tools on
/// 127.0.0.1 (any port: the proxies').
async fn app_behind_the_gate() -> TestApp {
    let app = TestApp::spawn_with(|config| {
        config.sign_in.return_hosts = vec![Ipv4Addr::LOCALHOST.to_string()];
        // The proxies run on this machine, as the guide's `--trusted-proxy`
        // says.
        config.limits.trusted_proxies = vec![Ipv4Addr::LOCALHOST.into()];
    })
    .await;
    app.enable_access_control().await;
    app
}

/// The provider `corp`, at `issuer`, with `scopes` (keyward's default when
/// empty).
async fn create_provider(app: &TestApp, issuer: &str, scopes: &[&str]) {
    let mut input = json!({
        "name": "corp",
        "issuerUrl": issuer,
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
    });
    if !scopes.is_empty() {
        input["scopes"] = json!(scopes);
    }
    let data = app
        .ok(CREATE_PROVIDER, json!({ "i": input }), &Auth::admin())
        .await;
    assert_eq!(
        data["createIdentityProvider"]["identityProvider"]["name"],
        "corp"
    );
}

/// Makes `group` a member of `project` with `role`, or removes it (`None`),
/// as an administrator does through the API.
async fn set_group(app: &TestApp, project: &str, group: &str, role: Option<&str>) {
    match role {
        Some(role) => {
            let variables = json!({ "p": project, "g": group, "r": role });
            let data = app.ok(ADD_GROUP, variables, &Auth::admin()).await;
            assert_eq!(
                data["addProjectGroup"]["groupMember"],
                json!({ "group": group, "role": role })
            );
        }
        None => {
            let variables = json!({ "p": project, "g": group });
            app.ok(REMOVE_GROUP, variables, &Auth::admin()).await;
        }
    }
}

/// The tool, keyward and the proxies in front of the tool.
struct Gate {
    // Declared first: dropped (killed) before the servers they talk to.
    proxies: Vec<RunningProxy>,
    tool: Tool,
    app: TestApp,
}

impl Gate {
    /// Each of `kinds` running the guide's gate configuration, pointed at
    /// `app` (as keyward for the proxy and for browsers) and a new tool,
    /// with `project` as `PROJECT_ID`.
    async fn start(app: TestApp, project: &str, kinds: &[ProxyKind]) -> Self {
        let (tool, tool_addr) = Tool::start().await;
        let substitutions = [
            (TEMPLATE_KEYWARD, app.addr.to_string()),
            (TEMPLATE_SERVICE, tool_addr.to_string()),
            (TEMPLATE_PROJECT, project.to_owned()),
            (TEMPLATE_PUBLIC_KEYWARD, format!("http://{}", app.addr)),
        ];
        let mut proxies = Vec::new();
        for kind in kinds {
            let template = match kind {
                ProxyKind::Nginx => NGINX_GATE,
                ProxyKind::Caddy => CADDY_GATE,
            };
            proxies.push(RunningProxy::run(*kind, template, &substitutions).await);
        }
        Self { proxies, tool, app }
    }
}

/// A browser: a cookie jar the test can read, and no redirect followed.
fn browser() -> (reqwest::Client, Arc<Jar>) {
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("a client");
    (client, jar)
}

/// Signs in through `corp` as the console's button for it does: keyward's
/// start URL with `return_to`, the provider (the fake one answers at
/// once), keyward's callback. Returns where keyward sent the browser last.
async fn sign_in(browser: &reqwest::Client, app: &TestApp, return_to: &str) -> String {
    let mut next = Url::parse(&app.url("/auth/oidc/corp/start")).unwrap();
    next.query_pairs_mut().append_pair("return_to", return_to);
    for hop in ["keyward's start", "the provider", "keyward's callback"] {
        let answer = browser.get(next.clone()).send().await.unwrap();
        assert!(answer.status().is_redirection(), "{hop}: {answer:?}");
        let target = location(&answer);
        if hop == "keyward's callback" {
            return target;
        }
        next = next.join(&target).unwrap();
    }
    unreachable!("the last hop returns")
}

fn location(answer: &reqwest::Response) -> String {
    answer
        .headers()
        .get(LOCATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

// ---------------------------------------------------------------------------
// The tool.

/// A tool behind the gate (a Grafana, say): answers every request with a
/// page showing the `X-Keyward-*` headers it got, and records each
/// request's headers.
#[derive(Clone, Default)]
struct Tool {
    seen: Arc<Mutex<Vec<HeaderMap>>>,
}

impl Tool {
    async fn start() -> (Self, SocketAddr) {
        let tool = Self::default();
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind the tool");
        let addr = listener.local_addr().expect("the tool's address");
        let router = axum::Router::new().fallback(page).with_state(tool.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (tool, addr)
    }

    fn take(&self) -> Vec<HeaderMap> {
        std::mem::take(&mut *self.seen.lock().expect("the tool's record"))
    }

    /// The headers of the one request that reached the tool since the
    /// last look.
    #[track_caller]
    fn the_one_request(&self, proxy: &RunningProxy) -> HeaderMap {
        let mut seen = self.take();
        assert_eq!(
            seen.len(),
            1,
            "{proxy}: one request reaches the tool: {seen:?}"
        );
        seen.remove(0)
    }

    #[track_caller]
    fn assert_untouched(&self, what: &str) {
        let seen = self.take();
        assert!(seen.is_empty(), "{what}: reached the tool: {seen:?}");
    }
}

async fn page(State(tool): State<Tool>, headers: HeaderMap) -> Html<String> {
    let shown: Vec<String> = PERSON_HEADERS
        .iter()
        .map(|name| {
            let value = headers
                .get(*name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            format!("{name}: {}", html_escaped(value))
        })
        .collect();
    tool.seen.lock().expect("the tool's record").push(headers);
    Html(format!(
        "<!doctype html><title>{TOOL_TITLE}</title><h1>{TOOL_TITLE}</h1><pre>{}</pre>",
        shown.join("\n")
    ))
}

fn html_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
