//! GraphQL over HTTP as its specification says: the response type chosen by
//! `Accept`, the status codes and the `data` key of each type, malformed
//! bodies, and the headers around them (`Allow`, CORS). The graphql-http
//! audit suite checks the same from outside (`tests/conformance/`).

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

const NEW: &str = "application/graphql-response+json";
const LEGACY: &str = "application/json";

async fn post_with(app: &TestApp, accept: &str, body: &Value) -> Reply {
    send(
        app.client
            .post(app.url("/graphql"))
            .header(header::ACCEPT, accept)
            .json(body),
    )
    .await
}

fn content_type(reply: &Reply) -> &str {
    reply
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_response_type_is_the_one_accept_prefers() {
    let app = TestApp::spawn().await;
    let body = json!({ "query": "{ __typename }" });
    for (accept, expected) in [
        (NEW, NEW),
        (LEGACY, LEGACY),
        ("application/json, application/graphql-response+json", NEW),
        (
            "application/graphql-response+json;q=0.5, application/json",
            LEGACY,
        ),
        (
            "application/json;q=0.5, application/graphql-response+json;q=0.9",
            NEW,
        ),
        ("*/*", LEGACY),
        ("application/*", LEGACY),
        ("application/graphql-response+json; charset=utf-8", NEW),
    ] {
        let reply = post_with(&app, accept, &body).await;
        assert_eq!(reply.status, StatusCode::OK, "{accept}: {reply:?}");
        assert!(
            content_type(&reply).starts_with(expected),
            "{accept}: {reply:?}"
        );
        assert_eq!(reply.data()["__typename"], "Query");
    }

    for accept in ["text/html", "application/xml", "application/json;q=0"] {
        let reply = post_with(&app, accept, &body).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_ACCEPTABLE,
            "{accept}: {reply:?}"
        );
        let message = reply.assert_code("BAD_USER_INPUT");
        assert!(
            message.contains(NEW) && message.contains(LEGACY),
            "{message}"
        );
    }
}

/// A client that sends no `Accept` at all (reqwest always sends one, so
/// this speaks HTTP/1.1 by hand) gets `application/json`.
#[tokio::test]
async fn a_request_without_accept_gets_application_json() {
    let app = TestApp::spawn().await;
    let body = r#"{"query":"{ __typename }"}"#;
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        app.addr,
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("a response");
    let head = response.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{response}");
    assert!(
        head.contains("\r\ncontent-type: application/json\r\n"),
        "{response}"
    );
    assert!(
        response.ends_with(r#"{"data":{"__typename":"Query"}}"#),
        "{response}"
    );
}

/// Errors before execution (nothing ran): 400 and no `data` with the
/// specification's type, 200 and no `data` with the legacy type. Errors
/// during execution: 200 and `data` with both.
#[tokio::test]
async fn request_errors_have_no_data_and_are_400_with_the_graphql_response_type() {
    let app = TestApp::spawn().await;
    let request_errors = [
        ("syntax error", json!({ "query": "{ viewer { kind }" })),
        ("unknown field", json!({ "query": "{ nope }" })),
        (
            "unknown operation",
            json!({ "query": "query A { __typename }", "operationName": "B" }),
        ),
        (
            "two operations, none named",
            json!({ "query": "query A { __typename } query B { __typename }" }),
        ),
        (
            "a required variable missing",
            json!({ "query": "query($id: ID!) { node(id: $id) { id } }" }),
        ),
        (
            "a required variable null",
            json!({ "query": "query($id: ID!) { node(id: $id) { id } }", "variables": { "id": null } }),
        ),
        (
            "a variable of the wrong type",
            json!({ "query": "query($n: Int) { projects(first: $n) { totalCount } }", "variables": { "n": "ten" } }),
        ),
        (
            "a required variable with a default, sent as null",
            json!({ "query": "query($n: Int! = 3) { projects(first: $n) { totalCount } }", "variables": { "n": null } }),
        ),
        (
            "a DateTime variable that is no date",
            json!({ "query": "query($s: DateTime) { auditEvents(since: $s) { totalCount } }", "variables": { "s": "yesterday" } }),
        ),
        (
            "a DateTime literal that is no date",
            json!({ "query": r#"{ auditEvents(since: "yesterday") { totalCount } }"# }),
        ),
        (
            "a DateTime that is no date in an input object",
            json!({ "query": r#"mutation { createApiKey(input: { name: "k", expiresAt: "tomorrow" }) { secretKey } }"# }),
        ),
        (
            "a DateTime variable that is no date in an input object",
            json!({ "query": r#"mutation($e: DateTime) { createApiKey(input: { name: "k", expiresAt: $e }) { secretKey } }"#, "variables": { "e": "2026-13-01T00:00:00Z" } }),
        ),
        (
            "an Int past 32 bits in an input object",
            json!({ "query": r#"mutation { rotateKey(input: { keyId: "k", gracePeriodSeconds: 3000000000 }) { secretKey } }"# }),
        ),
        (
            "an Int variable past 32 bits",
            json!({ "query": "query($n: Int) { projects(first: $n) { totalCount } }", "variables": { "n": 3_000_000_000_i64 } }),
        ),
        (
            "over the complexity limit",
            json!({ "query": "{ projects(first: 100) { edges { node {
                apiKeys(first: 100) { edges { node { id name accessKey } } } } } } }" }),
        ),
        (
            "a subscription over HTTP",
            json!({ "query": "subscription { keyEvents { action } }" }),
        ),
    ];
    for (what, body) in &request_errors {
        let reply = post_with(&app, NEW, body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{what}: {reply:?}");
        assert!(content_type(&reply).starts_with(NEW), "{what}: {reply:?}");
        assert!(reply.body.get("data").is_none(), "{what}: {reply:?}");
        assert!(!reply.codes().is_empty(), "{what}: {reply:?}");

        let reply = post_with(&app, LEGACY, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{what}: {reply:?}");
        assert!(
            content_type(&reply).starts_with(LEGACY),
            "{what}: {reply:?}"
        );
        assert!(reply.body.get("data").is_none(), "{what}: {reply:?}");
        assert!(!reply.codes().is_empty(), "{what}: {reply:?}");
    }

    let field_errors = [
        (
            "a nullable field fails",
            json!({ "query": r#"{ node(id: "garbage") { id } }"# }),
            json!({ "node": null }),
        ),
        (
            "a non-null root field fails",
            json!({ "query": "{ projects(first: 101) { totalCount } }" }),
            Value::Null,
        ),
    ];
    for (what, body, data) in &field_errors {
        for accept in [NEW, LEGACY] {
            let reply = post_with(&app, accept, body).await;
            assert_eq!(reply.status, StatusCode::OK, "{what}: {reply:?}");
            assert_eq!(reply.body.get("data"), Some(data), "{what}: {reply:?}");
            reply.assert_code("BAD_USER_INPUT");
        }
    }
}

#[tokio::test]
async fn malformed_bodies_are_400_with_a_message_that_says_what_is_wrong() {
    let app = TestApp::spawn().await;
    let cases = [
        ("no query", json!({ "variables": {} }), r#"no "query""#),
        ("an empty object", json!({}), r#"no "query""#),
        (
            "a query that is not a string",
            json!({ "query": 1 }),
            "invalid type",
        ),
        (
            "variables that are not an object",
            json!({ "query": "{ __typename }", "variables": "x" }),
            "invalid type",
        ),
        (
            "an operation name that is not a string",
            json!({ "query": "{ __typename }", "operationName": 1 }),
            "invalid type",
        ),
        ("not an object", json!("{ __typename }"), "invalid type"),
    ];
    for accept in [NEW, LEGACY] {
        for (what, body, message) in &cases {
            let reply = post_with(&app, accept, body).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{what}: {reply:?}");
            assert!(reply.body.get("data").is_none(), "{what}: {reply:?}");
            let said = reply.assert_code("BAD_USER_INPUT");
            assert!(said.contains(message), "{what}: {said}");
        }
        let reply = send(
            app.client
                .post(app.url("/graphql"))
                .header(header::ACCEPT, accept)
                .header(header::CONTENT_TYPE, "application/json")
                .body("{ not json"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
        let reply = send(
            app.client
                .post(app.url("/graphql"))
                .header(header::ACCEPT, accept)
                .header(header::CONTENT_TYPE, "text/plain")
                .body(r#"{"query":"{ __typename }"}"#),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{reply:?}"
        );
    }
}

/// A query over 32 KiB and a body over 1 MiB are refused with messages that
/// name the limit and the size sent, in keyward's error body.
#[tokio::test]
async fn size_refusals_name_the_limit_and_the_size() {
    let app = TestApp::spawn().await;
    let query = format!("{{ __typename }} #{}", "x".repeat(40_000));
    let length = query.len();
    for accept in [NEW, LEGACY] {
        let reply = post_with(&app, accept, &json!({ "query": query })).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
        assert!(reply.body.get("data").is_none(), "{reply:?}");
        let message = reply.assert_code("BAD_USER_INPUT");
        assert_eq!(
            message,
            format!("the query is {length} bytes, longer than the limit of 32768 bytes")
        );
    }

    let body = serde_json::to_vec(
        &json!({ "query": format!("{{ __typename }} #{}", "x".repeat(2 << 20)) }),
    )
    .expect("JSON");
    let length = body.len();
    for accept in [NEW, LEGACY] {
        let reply = send(
            app.client
                .post(app.url("/graphql"))
                .header(header::ACCEPT, accept)
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.clone()),
        )
        .await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{reply:?}");
        assert!(content_type(&reply).starts_with(accept), "{reply:?}");
        assert!(reply.body.get("data").is_none(), "{reply:?}");
        let message = reply.assert_code("BAD_USER_INPUT");
        assert_eq!(
            message,
            format!("the body is {length} bytes, longer than the limit of 1048576 bytes")
        );
    }
}

fn allow(headers: &HeaderMap) -> &str {
    headers
        .get(header::ALLOW)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("<none>")
}

/// `OPTIONS` and every 405 of one route name the same methods, and those
/// are the methods the route serves.
#[tokio::test]
async fn every_route_has_one_truthful_allow() {
    let app = TestApp::spawn().await;
    let project = app.default_project(&Auth::None).await;
    let graphql_project = format!("/projects/{project}/graphql");
    let routes: [(&str, &str, &[&str]); 7] = [
        (
            "/graphql",
            "GET, HEAD, OPTIONS, POST",
            &["PUT", "DELETE", "PATCH"],
        ),
        (
            &graphql_project,
            "GET, HEAD, OPTIONS, POST",
            &["PUT", "DELETE"],
        ),
        ("/graphql/ws", "GET, OPTIONS", &["POST", "PUT", "HEAD"]),
        ("/", "GET, HEAD, OPTIONS", &["POST", "DELETE"]),
        ("/healthz", "GET, HEAD, OPTIONS", &["POST", "PUT"]),
        ("/livez", "GET, HEAD, OPTIONS", &["POST", "DELETE"]),
        ("/readyz", "GET, HEAD, OPTIONS", &["POST", "PATCH"]),
    ];
    for (path, methods, refused) in routes {
        let options = app
            .client
            .request(reqwest::Method::OPTIONS, app.url(path))
            .send()
            .await
            .expect("OPTIONS");
        assert_eq!(options.status(), StatusCode::NO_CONTENT, "OPTIONS {path}");
        assert_eq!(allow(options.headers()), methods, "OPTIONS {path}");
        for method in refused {
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
            let reply = send(app.client.request(method.clone(), app.url(path))).await;
            assert_eq!(
                reply.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            assert_eq!(allow(&reply.headers), methods, "{method} {path}");
        }
    }
    // GET on a GraphQL endpoint serves GraphiQL to browsers only; a GraphQL
    // request over GET is refused with the same Allow.
    let reply = send(
        app.client
            .get(app.url("/graphql?query=%7B__typename%7D"))
            .header(header::ACCEPT, NEW),
    )
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{reply:?}");
    assert_eq!(allow(&reply.headers), "GET, HEAD, OPTIONS, POST");
    reply.assert_code("BAD_USER_INPUT");

    // `text/html;q=0` says HTML is not acceptable: no GraphiQL either.
    let reply = send(
        app.client
            .get(app.url("/graphql"))
            .header(header::ACCEPT, "text/html;q=0, application/json"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{reply:?}");
    reply.assert_code("BAD_USER_INPUT");

    // A path no route has is 404 whatever the method.
    for method in [
        reqwest::Method::GET,
        reqwest::Method::DELETE,
        reqwest::Method::PUT,
    ] {
        let reply = send(app.client.request(method.clone(), app.url("/nope"))).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method}");
        reply.assert_code("NOT_FOUND");
    }
}

/// With `--cors-origin`, CORS answers only what it is for: a preflight
/// (`Origin` and `Access-Control-Request-Method`) to a GraphQL endpoint.
/// Every other `OPTIONS` gets what it gets without the flag (the route's
/// `Allow`, 404 where there is no route), and `/verify` verifies whatever
/// the method and headers: a proxy sending the original method there lets
/// an `OPTIONS` through only with credentials.
#[tokio::test]
async fn only_real_preflights_to_the_api_are_answered_by_cors() {
    const ORIGIN: &str = "https://console.example";
    const PREFLIGHT: &[(&str, &str)] = &[
        ("origin", ORIGIN),
        ("access-control-request-method", "POST"),
    ];
    const ORIGIN_ONLY: &[(&str, &str)] = &[("origin", ORIGIN)];
    const PLAIN: &[(&str, &str)] = &[];
    const GRAPHQL: Option<&str> = Some("GET, HEAD, OPTIONS, POST");
    const PAGE: Option<&str> = Some("GET, HEAD, OPTIONS");
    /// One OPTIONS request and what it must get.
    struct Case {
        what: &'static str,
        path: String,
        headers: &'static [(&'static str, &'static str)],
        status: StatusCode,
        allow: Option<&'static str>,
        by_cors: bool,
    }
    let case = |what, path: &str, headers, status, allow, by_cors| Case {
        what,
        path: path.to_owned(),
        headers,
        status,
        allow,
        by_cors,
    };
    for cors in [false, true] {
        let app = TestApp::spawn_with(|config| {
            if cors {
                config.limits.cors_origins = vec![ORIGIN.to_owned()];
            }
        })
        .await;
        app.enable_access_control().await;
        let project = app.default_project(&Auth::admin()).await;
        let project_graphql = format!("/projects/{project}/graphql");
        let project_verify = format!("/projects/{project}/verify");
        // A preflight to the API is CORS's with the flag, the route's without.
        let (preflight_status, preflight_allow) = if cors {
            (StatusCode::OK, None)
        } else {
            (StatusCode::NO_CONTENT, GRAPHQL)
        };
        #[rustfmt::skip]
        let cases = [
            case("preflight to /graphql", "/graphql", PREFLIGHT, preflight_status, preflight_allow, cors),
            case("preflight to a project's /graphql", &project_graphql, PREFLIGHT, preflight_status, preflight_allow, cors),
            case("OPTIONS /graphql without Origin", "/graphql", PLAIN, StatusCode::NO_CONTENT, GRAPHQL, false),
            case("OPTIONS /graphql with Origin only", "/graphql", ORIGIN_ONLY, StatusCode::NO_CONTENT, GRAPHQL, false),
            case("OPTIONS a project's /graphql with Origin only", &project_graphql, ORIGIN_ONLY, StatusCode::NO_CONTENT, GRAPHQL, false),
            case("OPTIONS /verify without credentials", "/verify", PLAIN, StatusCode::UNAUTHORIZED, None, false),
            case("preflight to /verify without credentials", "/verify", PREFLIGHT, StatusCode::UNAUTHORIZED, None, false),
            case("preflight to a project's /verify", &project_verify, PREFLIGHT, StatusCode::UNAUTHORIZED, None, false),
            case("OPTIONS to an unknown path", "/nope", PLAIN, StatusCode::NOT_FOUND, None, false),
            case("preflight to an unknown path", "/nope", PREFLIGHT, StatusCode::NOT_FOUND, None, false),
            case("preflight to a page", "/healthz", PREFLIGHT, StatusCode::NO_CONTENT, PAGE, false),
        ];
        for case in cases {
            let request = case.headers.iter().fold(
                app.client
                    .request(reqwest::Method::OPTIONS, app.url(&case.path)),
                |request, (name, value)| request.header(*name, *value),
            );
            let reply = send(request).await;
            let what = format!("--cors-origin {cors}, {}: {reply:?}", case.what);
            assert_eq!(reply.status, case.status, "{what}");
            let allow = reply
                .headers
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok());
            assert_eq!(allow, case.allow, "{what}");
            let by_cors = reply
                .headers
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN);
            assert_eq!(by_cors, case.by_cors, "{what}");
        }
    }
}

/// Scripts on an allowed origin can read `Retry-After` (after a 429) and
/// `x-request-id` (to report a request): CORS exposes both.
#[tokio::test]
async fn cors_exposes_retry_after_and_the_request_id() {
    let origin = "https://console.example";
    let app =
        TestApp::spawn_with(|config| config.limits.cors_origins = vec![origin.to_owned()]).await;
    let reply = send(
        app.client
            .post(app.url("/graphql"))
            .header(header::ORIGIN, origin)
            .json(&json!({ "query": "{ __typename }" })),
    )
    .await;
    reply.data();
    let exposed = reply
        .headers
        .get(header::ACCESS_CONTROL_EXPOSE_HEADERS)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let exposed: Vec<&str> = exposed.split(',').map(str::trim).collect();
    assert!(exposed.contains(&"retry-after"), "{exposed:?}");
    assert!(exposed.contains(&"x-request-id"), "{exposed:?}");

    // The preflight of a request that sends Accept is allowed too.
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization, content-type, accept",
        )
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success(), "{preflight:?}");
    let allowed = preflight
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_HEADERS)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("accept") && allowed.contains("authorization"),
        "{allowed}"
    );
}
