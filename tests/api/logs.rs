//! Secrets never reach the log, at any level.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::helpers::*;
use crate::process::ServerProcess;
use crate::subscriptions::{Via, close_code, open_at, start};

/// At `trace`, every library included: a key's lifecycle over HTTP, a
/// subscription authenticated in `connection_init` (whose credentials
/// travel in a WebSocket frame) and an identity provider's client secret
/// set and changed leave no secret in any encoding.
#[tokio::test]
async fn a_full_lifecycle_logged_at_trace_level_shows_no_secret() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("logs.db").display());
    let server = ServerProcess::start_logging(&url, "trace");
    let admin_password = ADMIN.1;

    let (_, key) = server.with_admin_and_key("logged").await;
    server.ok(VIEWER, json!({}), &key.auth()).await;
    // A subscription authenticated in `connection_init` (browsers cannot
    // set headers on a WebSocket): the credentials travel in a frame.
    let mut socket = open_at(
        server.addr(),
        [127, 0, 0, 1],
        &key.auth(),
        &Via::InitPayload,
    )
    .await
    .expect("the upgrade succeeds");
    start(&mut socket, &key.auth(), &Via::InitPayload, None).await;
    server
        .gql(
            VIEWER,
            json!({}),
            &Auth::basic(&key.access_key, "not-the-secret-but-long-enough"),
        )
        .await
        .assert_unauthenticated();
    server
        .ok(
            SET_STATE,
            json!({ "i": { "id": key.id, "state": "INACTIVE" } }),
            &key.auth(),
        )
        .await;
    // The deactivated key's subscription is closed: it was live.
    assert_eq!(close_code(&mut socket).await, Some(4403));
    server
        .ok(
            RENAME,
            json!({ "i": { "id": key.id, "name": "renamed" } }),
            &Auth::admin(),
        )
        .await;
    server
        .ok(DELETE_KEY, json!({ "i": { "id": key.id } }), &Auth::admin())
        .await;
    // An identity provider's client secret, given and then changed.
    let discovery = crate::single_sign_on_admin::Discovery::start().await;
    let client_secret = "the client secret of a logged provider";
    let rotated_client_secret = "the rotated client secret of a logged provider";
    let data = server
        .ok(
            "mutation($i: CreateIdentityProviderInput!) {
                createIdentityProvider(input: $i) { identityProvider { id } } }",
            json!({ "i": { "name": "logged", "issuerUrl": discovery.issuer("logged"),
                "clientId": "keyward", "clientSecret": client_secret } }),
            &Auth::admin(),
        )
        .await;
    let provider = data["createIdentityProvider"]["identityProvider"]["id"].clone();
    server
        .ok(
            "mutation($i: UpdateIdentityProviderInput!) {
                updateIdentityProvider(input: $i) { identityProvider { id } } }",
            json!({ "i": { "id": provider, "clientSecret": rotated_client_secret } }),
            &Auth::admin(),
        )
        .await;
    server
        .ok(
            "mutation { disableAccessControl { enabled } }",
            json!({}),
            &Auth::admin(),
        )
        .await;

    let log = server.stop().join("\n");
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log is at trace level"
    );
    assert!(
        log.contains(&key.access_key),
        "access keys may be logged, for audit"
    );
    let key_basic = STANDARD.encode(format!("{}:{}", key.access_key, key.secret));
    let forbidden = [
        ("secret key", key.secret.clone()),
        ("admin password", admin_password.to_owned()),
        ("client secret", client_secret.to_owned()),
        ("rotated client secret", rotated_client_secret.to_owned()),
        ("key's Basic credentials", key_basic.clone()),
        ("key Authorization header", format!("Basic {key_basic}")),
        (
            "admin Authorization header",
            STANDARD.encode(format!("{}:{}", ADMIN.0, admin_password)),
        ),
    ];
    for (what, needle) in forbidden {
        assert!(!log.contains(&needle), "the {what} is in the log");
    }
}

/// `--log-format json`: every line is one JSON object; each request leaves
/// exactly one line with its method, route (the template, not the path),
/// status, latency, request id and caller; and no secret of the test is in
/// any line, at debug level.
#[tokio::test]
async fn json_log_lines_parse_and_each_request_leaves_one_line_with_its_facts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("json.db").display());
    let server = ServerProcess::start_with(
        &url,
        "debug",
        &[
            "--log-format",
            "json",
            "--cors-origin",
            "https://console.example",
        ],
    );

    let (project, key) = server.with_admin_and_key("logged").await;
    let by_key = server.gql(VIEWER, json!({}), &key.auth()).await;
    let wrong_secret = "a wrong secret that is long enough";
    let refused = server
        .gql(
            VIEWER,
            json!({}),
            &Auth::basic(&key.access_key, wrong_secret),
        )
        .await;
    refused.assert_unauthenticated();
    let verified = reqwest::Client::new()
        .get(format!("{}/projects/{project}/verify", server.base_url))
        .basic_auth(&key.access_key, Some(&key.secret))
        .send()
        .await
        .expect("verify answers");
    assert_eq!(verified.status(), 200);

    // A subscription authenticated on its upgrade request.
    let upgraded = reqwest::Client::new()
        .get(format!("{}/graphql/ws", server.base_url))
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-protocol", "graphql-transport-ws")
        .basic_auth(&key.access_key, Some(&key.secret))
        .send()
        .await
        .expect("the upgrade answers");
    assert_eq!(upgraded.status(), 101);
    // A CORS preflight, answered by CORS on the route it asks about.
    let preflight = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/graphql", server.base_url),
        )
        .header("origin", "https://console.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("the preflight answers");
    assert!(preflight.status().is_success(), "{preflight:?}");

    let lines = server.stop();
    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    for event in &events {
        for field in ["timestamp", "level", "target"] {
            assert!(event.get(field).is_some(), "no {field} in {event}");
        }
    }
    let requests: Vec<&serde_json::Value> = events
        .iter()
        .filter(|event| event["message"] == "request")
        .collect();
    let line_of = |request_id: &str| {
        let matching: Vec<_> = requests
            .iter()
            .filter(|line| line["request_id"] == request_id)
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "one line for {request_id}: {requests:#?}"
        );
        (*matching[0]).clone()
    };

    let key_line = line_of(&by_key.request_id());
    assert_eq!(key_line["method"], "POST");
    assert_eq!(key_line["route"], "/graphql");
    assert_eq!(key_line["status"], 200);
    assert_eq!(key_line["principal"], "API_KEY");
    assert_eq!(key_line["key_id"], json!(key.id));
    assert!(key_line["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0));

    // Lines logged while handling a request carry its span, request id
    // included: the debug line saying why the secret was refused.
    let why = events
        .iter()
        .find(|event| event["message"] == "refused: wrong secret key")
        .expect("the refusal's reason at debug level");
    assert_eq!(
        why["spans"][0]["request_id"],
        json!(refused.request_id()),
        "{why}"
    );
    // A mutation's lines too, though it runs in a task of its own.
    let created = events
        .iter()
        .find(|event| event["message"] == "API key created")
        .expect("the creation's line");
    assert!(created["spans"][0]["request_id"].is_string(), "{created}");
    let refused_line = line_of(&refused.request_id());
    assert_eq!(refused_line["status"], 401);
    assert_eq!(refused_line["principal"], "REFUSED");
    assert!(refused_line.get("key_id").is_none(), "{refused_line}");

    let verify_line = line_of(&request_id_of(&verified));
    assert_eq!(verify_line["route"], "/projects/{project_id}/verify");
    assert_eq!(verify_line["method"], "GET");
    assert_eq!(verify_line["key_id"], json!(key.id));

    let upgrade_line = line_of(&request_id_of(&upgraded));
    assert_eq!(upgrade_line["route"], "/graphql/ws");
    assert_eq!(upgrade_line["status"], 101);
    assert_eq!(upgrade_line["principal"], "API_KEY");
    assert_eq!(upgrade_line["key_id"], json!(key.id));

    let preflight_line = line_of(&request_id_of(&preflight));
    assert_eq!(preflight_line["method"], "OPTIONS");
    assert_eq!(preflight_line["route"], "/graphql");
    assert_eq!(preflight_line["principal"], "NONE");

    let log = lines.join("\n");
    for (what, needle) in [
        ("secret key", key.secret.clone()),
        ("wrong secret", wrong_secret.to_owned()),
        (
            "wrong secret's Authorization header",
            STANDARD.encode(format!("{}:{}", key.access_key, wrong_secret)),
        ),
        ("admin password", ADMIN.1.to_owned()),
        (
            "key Authorization header",
            STANDARD.encode(format!("{}:{}", key.access_key, key.secret)),
        ),
        (
            "admin Authorization header",
            STANDARD.encode(format!("{}:{}", ADMIN.0, ADMIN.1)),
        ),
    ] {
        assert!(!log.contains(&needle), "the {what} is in the log");
    }
}

fn request_id_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .and_then(|id| id.to_str().ok())
        .expect("a request id")
        .to_owned()
}
