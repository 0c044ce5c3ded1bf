//! Every entry point turns credentials into a caller the same way: `POST
//! /graphql`, a project endpoint, GraphiQL, the WebSocket (credentials in
//! the upgrade request or in `connection_init`) and `/verify` agree on who
//! is calling, on the project scope, on the client's address and on the
//! request id.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(
    every_entry_point_admits_and_refuses_the_same_callers,
    every_entry_point_records_the_same_caller_address_and_request_id,
    an_administrator_gets_the_same_schema_through_every_entry_point,
);

#[derive(Clone, Copy, Debug)]
enum Entry {
    Graphql,
    ProjectEndpoint,
    GraphiQL,
    WebSocketHeader,
    WebSocketInit,
    Verify,
}

const ENTRIES: [Entry; 6] = [
    Entry::Graphql,
    Entry::ProjectEndpoint,
    Entry::GraphiQL,
    Entry::WebSocketHeader,
    Entry::WebSocketInit,
    Entry::Verify,
];

/// What an entry point made of a caller.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Let in, as this key (None: not a key).
    Admitted(Option<String>),
    Unauthenticated,
    Forbidden,
}

fn basic(auth: &Auth) -> Option<String> {
    match auth {
        Auth::Basic(user, password) => Some(format!(
            "Basic {}",
            STANDARD.encode(format!("{user}:{password}"))
        )),
        _ => None,
    }
}

const WHO: &str = "{ viewer { kind apiKey { id } } }";

fn admitted(data: &Value) -> Outcome {
    Outcome::Admitted(data["viewer"]["apiKey"]["id"].as_str().map(str::to_owned))
}

fn outcome_of(reply: &Reply) -> Outcome {
    match reply.status.as_u16() {
        401 => Outcome::Unauthenticated,
        403 => Outcome::Forbidden,
        200 => admitted(reply.data()),
        other => panic!("unexpected {other}: {reply:?}"),
    }
}

/// One operation over `/graphql/ws` (graphql-transport-ws), credentials in
/// the upgrade request or in `connection_init`, `extra` headers on the
/// upgrade request. The operation's `payload`, or what refused it.
async fn over_websocket(
    app: &TestApp,
    auth: &Auth,
    in_init: bool,
    extra: &[(&str, &str)],
    query: &str,
    variables: Value,
) -> Result<Value, Outcome> {
    let mut request = format!("ws://{}/graphql/ws", app.addr)
        .into_client_request()
        .expect("a request");
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    for (name, value) in extra {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("a header name");
        headers.insert(name, HeaderValue::from_str(value).expect("a header"));
    }
    let credentials = basic(auth);
    if let (false, Some(value)) = (in_init, &credentials) {
        headers.insert(
            "authorization",
            HeaderValue::from_str(value).expect("a header"),
        );
    }
    let mut socket = match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => socket,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            return Err(match response.status().as_u16() {
                401 => Outcome::Unauthenticated,
                403 => Outcome::Forbidden,
                other => panic!("upgrade refused with {other}"),
            });
        }
        Err(err) => panic!("handshake failed: {err}"),
    };
    let payload = match (in_init, credentials) {
        (true, Some(value)) => json!({ "authorization": value }),
        _ => json!({}),
    };
    let messages = [
        json!({ "type": "connection_init", "payload": payload }),
        json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } }),
    ];
    for message in messages {
        if socket
            .send(Message::text(message.to_string()))
            .await
            .is_err()
        {
            break;
        }
    }
    let patience = std::time::Duration::from_secs(10);
    while let Ok(Some(message)) = tokio::time::timeout(patience, socket.next()).await {
        match message {
            Ok(Message::Text(text)) => {
                let message: Value = serde_json::from_str(&text).expect("JSON");
                match message["type"].as_str() {
                    Some("next") => return Ok(message["payload"].clone()),
                    // A request error (validation, say): its errors alone.
                    Some("error") => return Ok(json!({ "errors": message["payload"] })),
                    _ => {}
                }
            }
            Ok(Message::Close(frame)) => {
                let code = frame.map(|frame| u16::from(frame.code));
                assert_eq!(code, Some(4403), "refused credentials close with 4403");
                return Err(Outcome::Unauthenticated);
            }
            Ok(_) => {}
            Err(_) => return Err(Outcome::Unauthenticated),
        }
    }
    panic!("no answer over the WebSocket");
}

async fn through(app: &TestApp, entry: Entry, project: &str, auth: &Auth) -> Outcome {
    let endpoint = format!("/projects/{project}/graphql");
    match entry {
        Entry::Graphql => outcome_of(&app.gql(WHO, json!({}), auth).await),
        Entry::ProjectEndpoint => outcome_of(&app.post(&endpoint, WHO, json!({}), auth).await),
        Entry::GraphiQL => {
            let request = app
                .client
                .get(app.url(&endpoint))
                .header("accept", "text/html");
            let reply = send(with_auth(request, auth)).await;
            match reply.status.as_u16() {
                // The page holds no data: who was let in is not in it.
                200 => Outcome::Admitted(None),
                _ => outcome_of(&reply),
            }
        }
        Entry::WebSocketHeader | Entry::WebSocketInit => {
            let in_init = matches!(entry, Entry::WebSocketInit);
            match over_websocket(app, auth, in_init, &[], WHO, json!({})).await {
                Ok(payload) if payload.get("errors").is_none() => admitted(&payload["data"]),
                Ok(payload) => panic!("{entry:?}: {payload}"),
                Err(outcome) => outcome,
            }
        }
        Entry::Verify => {
            let path = format!("/projects/{project}/verify");
            let reply = send(with_auth(app.client.get(app.url(&path)), auth)).await;
            match reply.status.as_u16() {
                200 => Outcome::Admitted(reply.body["keyId"].as_str().map(str::to_owned)),
                _ => outcome_of(&reply),
            }
        }
    }
}

async fn every_entry_point_admits_and_refuses_the_same_callers() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let project = app.default_project(&admin).await;
    let other = app.create_project(&admin, "other").await;
    let own = app.create_key(&admin, &project, "READ_ONLY").await;
    let outsider = app.create_key(&admin, &other, "OWNER").await;

    let scoped = |entry: Entry| {
        matches!(
            entry,
            Entry::ProjectEndpoint | Entry::GraphiQL | Entry::Verify
        )
    };
    let key = |entry: Entry, key: &TestKey| match entry {
        Entry::GraphiQL => Outcome::Admitted(None),
        _ => Outcome::Admitted(Some(key.id.clone())),
    };
    for entry in ENTRIES {
        let cases = [
            ("no credentials", Auth::None, Outcome::Unauthenticated),
            (
                "a wrong secret",
                Auth::basic(&own.access_key, "wrong"),
                Outcome::Unauthenticated,
            ),
            ("the administrator", admin.clone(), Outcome::Admitted(None)),
            ("a key of the project", own.auth(), key(entry, &own)),
            (
                "a key of another project",
                outsider.auth(),
                if scoped(entry) {
                    Outcome::Forbidden
                } else {
                    key(entry, &outsider)
                },
            ),
        ];
        for (who, auth, expected) in cases {
            let got = through(&app, entry, &project, &auth).await;
            assert_eq!(got, expected, "{who} through {entry:?}");
        }
    }
}

async fn every_entry_point_records_the_same_caller_address_and_request_id() {
    let app = TestApp::spawn_with(|config| {
        config.limits.trusted_proxies = vec!["127.0.0.1".parse().expect("an address")];
    })
    .await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let project = app.default_project(&admin).await;
    let key = app.create_key(&admin, &project, "OWNER").await;
    let endpoint = format!("/projects/{project}/graphql");

    let entries = ["graphql", "project-endpoint", "ws-header", "ws-init"];
    for (n, entry) in entries.iter().enumerate() {
        let address = format!("198.51.100.{}", n + 1);
        let request_id = format!("entry-{entry}");
        let headers = [
            ("x-forwarded-for", address.as_str()),
            ("x-request-id", request_id.as_str()),
        ];
        let variables = json!({ "i": { "id": key.id, "name": format!("renamed via {entry}") } });
        match *entry {
            "graphql" | "project-endpoint" => {
                let path = if *entry == "graphql" {
                    "/graphql"
                } else {
                    &endpoint
                };
                let mut request = app
                    .client
                    .post(app.url(path))
                    .json(&json!({ "query": RENAME, "variables": variables }));
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                send(with_auth(request, &key.auth())).await.data();
            }
            _ => {
                let in_init = *entry == "ws-init";
                let payload =
                    over_websocket(&app, &key.auth(), in_init, &headers, RENAME, variables)
                        .await
                        .expect("admitted");
                assert!(payload.get("errors").is_none(), "{entry}: {payload}");
            }
        }
    }
    let data = app
        .ok(
            "{ auditEvents(first: 20) { edges { node { action actorKind actorKeyId clientAddress requestId targetScopes } } } }",
            json!({}),
            &admin,
        )
        .await;
    let renamed: Vec<&Value> = data["auditEvents"]["edges"]
        .as_array()
        .expect("events")
        .iter()
        .map(|edge| &edge["node"])
        .filter(|event| event["action"] == "KEY_RENAMED")
        .collect();
    for (n, entry) in entries.iter().enumerate() {
        let request_id = format!("entry-{entry}");
        let event = renamed
            .iter()
            .find(|event| event["requestId"] == json!(request_id))
            .unwrap_or_else(|| panic!("{entry}: an event with its request id in {renamed:?}"));
        assert_eq!(event["actorKind"], "API_KEY", "{entry}");
        assert_eq!(event["actorKeyId"], json!(key.id), "{entry}");
        assert_eq!(
            event["clientAddress"],
            json!(format!("198.51.100.{}", n + 1)),
            "{entry}: the address the trusted proxy reported"
        );
    }
}

async fn an_administrator_gets_the_same_schema_through_every_entry_point() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let misspelt = "{ viewr { kind } }";
    let over_http = app.gql(misspelt, json!({}), &admin).await;
    let message = over_http.body["errors"][0]["message"]
        .as_str()
        .expect("an error")
        .to_owned();
    assert!(message.contains("Did you mean"), "suggestions: {message}");
    for in_init in [false, true] {
        let payload = over_websocket(&app, &admin, in_init, &[], misspelt, json!({}))
            .await
            .expect("admitted");
        assert_eq!(
            payload["errors"][0]["message"],
            json!(message),
            "credentials in the {}",
            if in_init {
                "connection_init"
            } else {
                "upgrade request"
            }
        );
    }
}
