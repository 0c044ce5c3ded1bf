//! Browser sessions, as a person with a browser meets them: signing in
//! (JSON or an HTML form) sets the `keyward_session` cookie, which then
//! signs every request in until sign-out, idleness or the session's
//! lifetime ends it; other sites cannot use it; its value is nowhere but in
//! the browser; and sign-in is throttled and timed like Basic credentials.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use keyward::HashingConfig;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

use crate::backend::on_every_backend;
use crate::helpers::*;
use crate::process::ServerProcess;
use crate::subscriptions::Socket;

on_every_backend!(
    signing_in_sets_a_new_cookie_that_signs_in_until_sign_out,
    wrong_credentials_are_refused_without_a_password_prompt,
    the_cookie_is_secure_exactly_when_the_request_came_over_https,
    cookie_requests_from_another_site_are_refused_and_basic_ones_are_not,
    a_websocket_opens_with_the_cookie_only_from_keywards_own_pages,
    a_session_ends_when_idle_and_at_its_lifetime_however_active,
    sign_in_is_throttled_together_with_basic_credentials,
    signing_in_while_access_control_is_off_is_a_conflict,
    only_navigations_and_non_browsers_without_credentials_are_challenged,
);

const COOKIE: &str = "keyward_session";

/// A server these tests speak to: in this process, or a `keyward serve`
/// whose log a test reads.
trait Server {
    fn url_of(&self, path: &str) -> String;

    fn addr(&self) -> std::net::SocketAddr;
}

impl Server for TestApp {
    fn url_of(&self, path: &str) -> String {
        self.url(path)
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }
}

impl Server for ServerProcess {
    fn url_of(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    fn addr(&self) -> std::net::SocketAddr {
        ServerProcess::addr(self)
    }
}
const SIGNED_IN_KIND: &str = "{ viewer { kind } }";

/// A client that shows redirects instead of following them: a form
/// sign-in's answer is the redirect.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// `POST /auth/sign-in` with a JSON body, plus `headers`.
async fn sign_in_with(
    app: &impl Server,
    username: &str,
    password: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = client()
        .post(app.url_of("/auth/sign-in"))
        .json(&json!({ "username": username, "password": password }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request).await
}

async fn sign_in(app: &impl Server, username: &str, password: &str) -> Reply {
    sign_in_with(app, username, password, &[]).await
}

/// `POST /auth/sign-in` as an HTML form posts it.
async fn sign_in_by_form(app: &impl Server, username: &str, password: &str) -> Reply {
    let body = format!(
        "username={}&password={}",
        form_encode(username),
        form_encode(password)
    );
    send(
        client()
            .post(app.url_of("/auth/sign-in"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body),
    )
    .await
}

fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => char::from(byte).to_string(),
            b' ' => "+".to_owned(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The administrator's cookie value, signed in by JSON.
async fn signed_in(app: &impl Server) -> String {
    let reply = sign_in(app, ADMIN.0, ADMIN.1).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    set_cookie(&reply).expect("a session cookie").value
}

/// A `Set-Cookie: keyward_session=…` of an answer.
#[derive(Debug)]
struct SetCookie {
    value: String,
    /// The attributes after the value, as sent (`HttpOnly`, `Path=/`, …).
    attributes: Vec<String>,
}

impl SetCookie {
    fn has(&self, attribute: &str) -> bool {
        self.attributes
            .iter()
            .any(|sent| sent.eq_ignore_ascii_case(attribute))
    }
}

fn set_cookie(reply: &Reply) -> Option<SetCookie> {
    reply
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|cookie| {
            let mut parts = cookie.split(';').map(str::trim);
            let value = parts.next()?.strip_prefix(COOKIE)?.strip_prefix('=')?;
            Some(SetCookie {
                value: value.to_owned(),
                attributes: parts.map(str::to_owned).collect(),
            })
        })
}

/// `request` carrying the cookie `value` and `headers`.
fn with_cookie(
    mut request: reqwest::RequestBuilder,
    value: &str,
    headers: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    request = request.header(header::COOKIE, format!("{COOKIE}={value}"));
    for (name, header_value) in headers {
        request = request.header(*name, *header_value);
    }
    request
}

/// A GraphQL request to `/graphql` signed in by the cookie `value` alone,
/// from a page as `headers` describe it.
async fn gql_by_cookie(
    app: &impl Server,
    value: &str,
    headers: &[(&str, &str)],
    query: &str,
) -> Reply {
    let request = client()
        .post(app.url_of("/graphql"))
        .json(&json!({ "query": query }));
    send(with_cookie(request, value, headers)).await
}

/// `{ viewer { kind } }` by the cookie, from keyward's own pages.
async fn kind_by_cookie(app: &impl Server, value: &str) -> Reply {
    gql_by_cookie(app, value, SAME_ORIGIN, SIGNED_IN_KIND).await
}

async fn session_of(app: &impl Server, value: &str) -> Reply {
    send(with_cookie(
        client().get(app.url_of("/auth/session")),
        value,
        &[],
    ))
    .await
}

async fn sign_out(app: &impl Server, value: &str, headers: &[(&str, &str)]) -> Reply {
    send(with_cookie(
        client().post(app.url_of("/auth/sign-out")),
        value,
        headers,
    ))
    .await
}

/// Request headers, as (name, value).
type Headers<'a> = &'a [(&'a str, &'a str)];

const SAME_ORIGIN: Headers = &[("sec-fetch-site", "same-origin")];

/// A refusal that a browser shows as such, without a password dialog.
#[track_caller]
fn assert_refused_without_prompt(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:?}");
    assert!(
        !reply.headers.contains_key(header::WWW_AUTHENTICATE),
        "a challenge would pop up a password dialog: {reply:?}"
    );
    reply.assert_code("UNAUTHENTICATED");
}

#[track_caller]
fn assert_signed_in_as_administrator(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let user = &reply.body["user"];
    assert_eq!(user["username"], ADMIN.0, "{reply:?}");
    assert_eq!(user["administrator"], true, "{reply:?}");
    assert!(user["id"].is_string(), "{reply:?}");
    assert!(user["displayName"].is_string(), "{reply:?}");
    assert!(reply.body["expiresAt"].is_string(), "{reply:?}");
}

async fn signing_in_sets_a_new_cookie_that_signs_in_until_sign_out() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;

    let reply = sign_in(&app, ADMIN.0, ADMIN.1).await;
    assert_signed_in_as_administrator(&reply);
    let cookie = set_cookie(&reply).expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.has(attribute), "no {attribute}: {cookie:?}");
    }
    assert!(!cookie.has("Secure"), "Secure over plain HTTP: {cookie:?}");
    // At least 128 bits: 22 base62 characters carry 130.
    assert!(
        cookie.value.len() >= 22 && cookie.value.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{cookie:?}"
    );
    let values: Vec<String> = [
        cookie.value.clone(),
        signed_in(&app).await,
        signed_in(&app).await,
    ]
    .into_iter()
    .collect();
    let distinct: std::collections::HashSet<&String> = values.iter().collect();
    assert_eq!(distinct.len(), 3, "a value came back: {values:?}");
    let (value, other) = (&values[0], &values[1]);

    // The cookie alone signs requests in: from keyward's own pages, and from
    // what is no browser at all (no forgery without a browser).
    let addr_origin = app.url_of("");
    let pages: [(&str, &[(&str, &str)]); 4] = [
        ("Sec-Fetch-Site: same-origin", SAME_ORIGIN),
        (
            "Sec-Fetch-Site: none (typed in)",
            &[("sec-fetch-site", "none")],
        ),
        ("its own Origin", &[("origin", &addr_origin)]),
        ("neither header (no browser)", &[]),
    ];
    for (from, headers) in pages {
        let reply = gql_by_cookie(&app, value, headers, SIGNED_IN_KIND).await;
        assert_eq!(reply.data()["viewer"]["kind"], "ADMIN", "from {from}");
    }
    assert_signed_in_as_administrator(&session_of(&app, value).await);
    assert_refused_without_prompt(&session_of(&app, "not-a-session-value-at-all-0").await);
    assert_refused_without_prompt(&send(client().get(app.url_of("/auth/session"))).await);

    let out = sign_out(&app, value, SAME_ORIGIN).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{out:?}");
    let cleared = set_cookie(&out).expect("the cookie cleared");
    assert!(
        cleared.value.is_empty() && cleared.has("Max-Age=0"),
        "{cleared:?}"
    );
    assert_refused_without_prompt(&kind_by_cookie(&app, value).await);
    assert_refused_without_prompt(&session_of(&app, value).await);
    // Signing out ends that session only.
    assert_eq!(
        kind_by_cookie(&app, other).await.data()["viewer"]["kind"],
        "ADMIN"
    );
}

async fn wrong_credentials_are_refused_without_a_password_prompt() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;

    let refused = [
        (
            "wrong password",
            ADMIN.0,
            "not the administrator's password",
        ),
        ("unknown username", "nobody", ADMIN.1),
        ("empty password", ADMIN.0, ""),
    ];
    for (case, username, password) in refused {
        let reply = sign_in(&app, username, password).await;
        assert_refused_without_prompt(&reply);
        assert!(set_cookie(&reply).is_none(), "{case}: {reply:?}");

        let reply = sign_in_by_form(&app, username, password).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{case}: {reply:?}");
        assert_eq!(
            reply.headers[header::LOCATION],
            "/?signInFailed=1",
            "{case}"
        );
        assert!(set_cookie(&reply).is_none(), "{case}: {reply:?}");
    }

    let reply = sign_in_by_form(&app, ADMIN.0, ADMIN.1).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{reply:?}");
    assert_eq!(reply.headers[header::LOCATION], "/");
    let cookie = set_cookie(&reply).expect("a session cookie");
    assert!(cookie.has("HttpOnly") && cookie.has("SameSite=Lax") && cookie.has("Path=/"));
    assert_eq!(
        kind_by_cookie(&app, &cookie.value).await.data()["viewer"]["kind"],
        "ADMIN"
    );
}

async fn the_cookie_is_secure_exactly_when_the_request_came_over_https() {
    type Configure = fn(&mut keyward::Config);
    let cases: [(&str, Configure, Headers, bool); 5] = [
        ("plain HTTP", |_| {}, &[], false),
        (
            "an https public URL",
            |config| config.public_url = Some("https://keys.example.com".into()),
            &[],
            true,
        ),
        (
            "a trusted proxy that says https",
            |config| config.limits.trusted_proxies = vec![[127, 0, 0, 1].into()],
            &[("x-forwarded-proto", "https")],
            true,
        ),
        (
            "a trusted proxy that says http",
            |config| config.limits.trusted_proxies = vec![[127, 0, 0, 1].into()],
            &[("x-forwarded-proto", "http")],
            false,
        ),
        (
            "a client (no trusted proxy) that says https",
            |_| {},
            &[("x-forwarded-proto", "https")],
            false,
        ),
    ];
    for (case, configure, headers, secure) in cases {
        let app = TestApp::spawn_with(configure).await;
        app.enable_access_control().await;
        let reply = sign_in_with(&app, ADMIN.0, ADMIN.1, headers).await;
        assert_eq!(reply.status, StatusCode::OK, "{case}: {reply:?}");
        let cookie = set_cookie(&reply).expect("a session cookie");
        assert_eq!(cookie.has("Secure"), secure, "{case}: {cookie:?}");
        let out = sign_out(
            &app,
            &cookie.value,
            &[&[("sec-fetch-site", "same-origin")], headers].concat(),
        )
        .await;
        assert_eq!(out.status, StatusCode::NO_CONTENT, "{case}: {out:?}");
        let cleared = set_cookie(&out).expect("the cookie cleared");
        assert_eq!(
            cleared.has("Secure"),
            secure,
            "{case}: clearing {cleared:?}"
        );
    }
}

async fn cookie_requests_from_another_site_are_refused_and_basic_ones_are_not() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let value = signed_in(&app).await;
    let own = app.url_of("");

    let cases: [(&str, Headers, bool); 6] = [
        (
            "Sec-Fetch-Site: cross-site",
            &[("sec-fetch-site", "cross-site")],
            false,
        ),
        (
            "Sec-Fetch-Site: same-site (a sibling subdomain)",
            &[("sec-fetch-site", "same-site")],
            false,
        ),
        (
            "Origin: another site",
            &[("origin", "http://evil.example")],
            false,
        ),
        (
            "Sec-Fetch-Site: cross-site, whatever Origin says",
            &[("sec-fetch-site", "cross-site"), ("origin", &own)],
            false,
        ),
        ("Sec-Fetch-Site: same-origin", SAME_ORIGIN, true),
        ("its own Origin", &[("origin", &own)], true),
    ];
    let mut created = 0;
    for (n, (from, headers, allowed)) in cases.iter().enumerate() {
        let mutation = format!(
            "mutation {{ createProject(input: {{name: \"by cookie {n}\"}}) {{ project {{ id }} }} }}"
        );
        let reply = gql_by_cookie(&app, &value, headers, &mutation).await;
        if *allowed {
            assert!(
                reply.data()["createProject"]["project"]["id"].is_string(),
                "{from}"
            );
            created += 1;
        } else {
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{from}: {reply:?}");
            reply.assert_code("FORBIDDEN");
        }
        // Basic credentials are never a browser's own doing: any page may
        // send them, since it must know them.
        let by_basic = with_auth(
            client()
                .post(app.url_of("/graphql"))
                .json(&json!({ "query": mutation.replace("by cookie", "by basic") })),
            &Auth::admin(),
        );
        let mut by_basic = by_basic;
        for (name, value) in *headers {
            by_basic = by_basic.header(*name, *value);
        }
        let reply = send(by_basic).await;
        assert!(
            reply.data()["createProject"]["project"]["id"].is_string(),
            "{from}, Basic"
        );
        created += 1;
    }
    let count = app
        .ok("{ projects { totalCount } }", json!({}), &Auth::admin())
        .await;
    // The default project and the ones that were let through: a refusal
    // changed nothing.
    assert_eq!(count["projects"]["totalCount"], 1 + created);

    // Reading is no forgery; signing someone out is.
    let read = gql_by_cookie(
        &app,
        &value,
        &[("sec-fetch-site", "cross-site")],
        SIGNED_IN_KIND,
    )
    .await;
    assert_eq!(
        read.status,
        StatusCode::FORBIDDEN,
        "a POST from another site: {read:?}"
    );
    let out = sign_out(&app, &value, &[("sec-fetch-site", "cross-site")]).await;
    assert_eq!(out.status, StatusCode::FORBIDDEN, "{out:?}");
    let out = sign_out(&app, &value, &[("origin", "http://evil.example")]).await;
    assert_eq!(out.status, StatusCode::FORBIDDEN, "{out:?}");
    assert_eq!(
        kind_by_cookie(&app, &value).await.data()["viewer"]["kind"],
        "ADMIN",
        "still signed in"
    );
}

/// Opens `/graphql/ws` with the cookie `value` and `headers`; the
/// handshake's status on refusal.
async fn open_by_cookie(
    app: &impl Server,
    value: &str,
    headers: &[(&str, &str)],
) -> Result<Socket, u16> {
    let mut request = format!("ws://{}/graphql/ws", app.addr())
        .into_client_request()
        .expect("a request");
    let sent = request.headers_mut();
    sent.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    sent.insert(
        "cookie",
        HeaderValue::from_str(&format!("{COOKIE}={value}")).expect("a header"),
    );
    for (name, header_value) in headers {
        sent.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            HeaderValue::from_str(header_value).expect("a header"),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(err) => panic!("handshake failed: {err}"),
    }
}

/// The JSON of the next text message.
async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message in time")
            .expect("the connection is open")
            .expect("a message");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

async fn a_websocket_opens_with_the_cookie_only_from_keywards_own_pages() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let value = signed_in(&app).await;
    let own = app.url_of("");

    let refused: [(&str, &[(&str, &str)]); 3] = [
        ("Origin: another site", &[("origin", "http://evil.example")]),
        (
            "Sec-Fetch-Site: cross-site",
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "http://evil.example"),
            ],
        ),
        (
            "Sec-Fetch-Site: same-site (a sibling subdomain)",
            &[
                ("sec-fetch-site", "same-site"),
                ("origin", "http://sub.evil.example"),
            ],
        ),
    ];
    for (from, headers) in refused {
        let refusal = open_by_cookie(&app, &value, headers).await.err();
        assert_eq!(refusal, Some(403), "from {from}");
    }

    let accepted: [(&str, &[(&str, &str)]); 2] = [
        ("its own Origin", &[("origin", &own)]),
        (
            "Sec-Fetch-Site: same-origin",
            &[("sec-fetch-site", "same-origin"), ("origin", &own)],
        ),
    ];
    for (from, headers) in accepted {
        let mut socket = open_by_cookie(&app, &value, headers)
            .await
            .unwrap_or_else(|status| panic!("from {from}: refused with {status}"));
        // The cookie signed the connection in: no credentials in the init.
        socket
            .send(Message::text(
                json!({ "type": "connection_init" }).to_string(),
            ))
            .await
            .expect("send");
        let ack = next_json(&mut socket).await;
        assert_eq!(ack["type"], "connection_ack", "from {from}: {ack}");
    }
}

async fn a_session_ends_when_idle_and_at_its_lifetime_however_active() {
    let app = TestApp::spawn_with(|config| {
        config.sessions.idle_timeout = Duration::from_secs(2);
        config.sessions.lifetime = Duration::from_secs(4);
    })
    .await;
    app.enable_access_control().await;
    let idle = signed_in(&app).await;
    let busy = signed_in(&app).await;
    let start = Instant::now();
    let at = |seconds: f64| tokio::time::sleep_until(start + Duration::from_secs_f64(seconds));

    // (when, which session, still signed in): `busy` is used every second,
    // `idle` not until it has been idle longer than the idle timeout.
    let timeline = [
        (1.0, &busy, true),
        (2.0, &busy, true),
        (2.5, &idle, false),
        (3.0, &busy, true),
        // Last used 1.5 s ago, well within the idle timeout, but 4.5 s
        // after sign-in: past its lifetime.
        (4.5, &busy, false),
    ];
    for (when, value, alive) in timeline {
        at(when).await;
        let reply = kind_by_cookie(&app, value).await;
        if alive {
            assert_eq!(reply.data()["viewer"]["kind"], "ADMIN", "at {when} s");
        } else {
            assert_refused_without_prompt(&reply);
        }
    }
    assert_refused_without_prompt(&session_of(&app, &idle).await);
    assert_refused_without_prompt(&session_of(&app, &busy).await);
}

async fn sign_in_is_throttled_together_with_basic_credentials() {
    const LIMIT: u32 = 3;
    type Fail = fn(&TestApp, u32) -> futures::future::BoxFuture<'_, ()>;
    let failures: [(&str, Fail); 3] = [
        ("wrong passwords at sign-in", |app, n| {
            Box::pin(async move {
                assert_refused_without_prompt(&sign_in(app, ADMIN.0, &format!("wrong {n}")).await);
            })
        }),
        ("wrong passwords by form", |app, n| {
            Box::pin(async move {
                let reply = sign_in_by_form(app, ADMIN.0, &format!("wrong {n}")).await;
                assert_eq!(reply.headers[header::LOCATION], "/?signInFailed=1");
            })
        }),
        ("wrong passwords in Basic credentials", |app, n| {
            Box::pin(async move {
                app.gql(
                    SIGNED_IN_KIND,
                    json!({}),
                    &Auth::basic(ADMIN.0, &format!("wrong {n}")),
                )
                .await
                .assert_unauthenticated();
            })
        }),
    ];
    for (case, fail) in failures {
        let app = TestApp::spawn_with(|config| {
            config.limits.auth_failures_per_key = LIMIT;
            config.limits.auth_failures_per_address = 10_000;
            config.limits.auth_failure_window_secs = 600;
            config.limits.auth_throttle_delay_ms = 0;
        })
        .await;
        app.enable_access_control().await;
        for n in 0..LIMIT {
            fail(&app, n).await;
        }
        // Even the right password is refused now, and says for how long.
        let reply = sign_in(&app, ADMIN.0, ADMIN.1).await;
        assert_eq!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{case}: {reply:?}"
        );
        reply.assert_code("RATE_LIMITED");
        let retry_after: u64 = reply.headers[header::RETRY_AFTER]
            .to_str()
            .ok()
            .and_then(|s| s.parse().ok())
            .expect("a Retry-After in seconds");
        assert!(
            (1..=600).contains(&retry_after),
            "{case}: Retry-After {retry_after}"
        );
        assert!(set_cookie(&reply).is_none(), "{case}");
        let form = sign_in_by_form(&app, ADMIN.0, ADMIN.1).await;
        assert_eq!(form.headers[header::LOCATION], "/?signInFailed=1", "{case}");
        assert!(set_cookie(&form).is_none(), "{case}");
        let basic = app.gql(SIGNED_IN_KIND, json!({}), &Auth::admin()).await;
        assert_eq!(
            basic.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{case}: Basic {basic:?}"
        );
    }
}

async fn signing_in_while_access_control_is_off_is_a_conflict() {
    let app = TestApp::spawn().await;
    let reply = sign_in(&app, ADMIN.0, ADMIN.1).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{reply:?}");
    reply.assert_code("CONFLICT");
    assert!(set_cookie(&reply).is_none());
}

/// A page's script whose session just ended gets a 401 the console handles;
/// a navigation, or a client that is no browser, gets the Basic challenge.
async fn only_navigations_and_non_browsers_without_credentials_are_challenged() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let cases: [(&[(&str, &str)], bool); 4] = [
        (&[], true),
        (&[("sec-fetch-mode", "navigate")], true),
        (&[("sec-fetch-mode", "cors")], false),
        (&[("sec-fetch-mode", "same-origin")], false),
    ];
    for (headers, challenged) in cases {
        let mut request = reqwest::Client::new()
            .post(app.url("/graphql"))
            .json(&json!({ "query": "{ viewer { kind } }" }));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let reply = send(request).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{headers:?}");
        assert_eq!(
            reply.headers.contains_key(header::WWW_AUTHENTICATE),
            challenged,
            "{headers:?}"
        );
    }
}

/// An unknown username costs what a wrong password for a known one costs,
/// so sign-in's response times do not tell which usernames exist.
#[tokio::test]
async fn an_unknown_username_takes_as_long_as_a_wrong_password() {
    let app = TestApp::spawn_with(|config| {
        // The real cost: argon2 is what an unknown username could skip.
        config.hashing = HashingConfig::OWASP_MINIMUM;
        config.limits.auth_failures_per_key = 10_000;
        config.limits.auth_failures_per_address = 10_000;
    })
    .await;
    app.enable_access_control().await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for n in 0..9 {
        for (username, samples) in [(ADMIN.0, &mut known), ("nobody-by-this-name", &mut unknown)] {
            let started = std::time::Instant::now();
            let reply = sign_in(&app, username, &format!("wrong password {n}")).await;
            samples.push(started.elapsed());
            assert_refused_without_prompt(&reply);
        }
    }
    let median = |samples: &mut Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let (known, unknown) = (median(&mut known), median(&mut unknown));
    let ratio = known.as_secs_f64() / unknown.as_secs_f64();
    assert!(
        (1.0 / 3.0..=3.0).contains(&ratio),
        "median wrong password {known:?}, median unknown username {unknown:?}"
    );
}

/// The cookie's value lives in the browser only: not in the log at trace
/// level (every library included) through sign-in, use over HTTP and
/// WebSocket, refusals and sign-out; not in any answer but sign-in's; and
/// not in the database's files, which store only its digest.
#[tokio::test]
async fn the_cookie_value_is_in_neither_the_log_nor_the_answers_nor_the_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("sessions.db").display()
    );
    let server = ServerProcess::start_logging(&url, "trace");
    server.with_admin_and_key("logged").await;

    let by_json = signed_in(&server).await;
    let by_form = set_cookie(&sign_in_by_form(&server, ADMIN.0, ADMIN.1).await)
        .expect("a session cookie")
        .value;
    let mut answers = Vec::new();
    for value in [&by_json, &by_form] {
        answers.push(kind_by_cookie(&server, value).await);
        answers.push(session_of(&server, value).await);
        let forged = "mutation { createProject(input: {name: \"forged\"}) { project { id } } }";
        answers
            .push(gql_by_cookie(&server, value, &[("sec-fetch-site", "cross-site")], forged).await);
        let mut socket = open_by_cookie(&server, value, &[("origin", &server.url_of(""))])
            .await
            .expect("the upgrade succeeds");
        socket
            .send(Message::text(
                json!({ "type": "connection_init" }).to_string(),
            ))
            .await
            .expect("send");
        assert_eq!(next_json(&mut socket).await["type"], "connection_ack");
    }
    answers.push(sign_out(&server, &by_json, SAME_ORIGIN).await);
    // A signed-out value, refused.
    answers.push(kind_by_cookie(&server, &by_json).await);
    assert_refused_without_prompt(answers.last().expect("an answer"));

    let log = server.stop().join("\n");
    assert!(log.contains("TRACE"), "the log is at trace level");
    for value in [&by_json, &by_form] {
        assert!(
            !log.contains(value.as_str()),
            "a cookie value is in the log"
        );
        for answer in &answers {
            let shown = format!("{:?} {}", answer.headers, answer.body);
            assert!(
                !shown.contains(value.as_str()),
                "a cookie value in {answer:?}"
            );
        }
    }

    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.path()).expect("the database's folder") {
        stored.extend(std::fs::read(entry.expect("an entry").path()).expect("a file"));
    }
    let holds = |needle: &[u8]| stored.windows(needle.len()).any(|window| window == needle);
    assert!(
        holds(ADMIN.0.as_bytes()),
        "these are not the database's files"
    );
    for value in [&by_json, &by_form] {
        assert!(
            !holds(value.as_bytes()),
            "a cookie value is in the database"
        );
    }
}
