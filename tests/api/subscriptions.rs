//! `keyEvents` over WebSocket (graphql-transport-ws), with a real client.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::backend::{self, Backend, on_every_backend};
use crate::helpers::*;

on_every_backend!(
    subscribers_receive_their_own_projects_events_and_none_of_another,
    deactivating_the_subscribers_key_closes_its_connection,
    wrong_credentials_cannot_subscribe,
    a_key_cannot_follow_another_project,
);

const KEY_EVENTS: &str = "subscription($p: ID) { keyEvents(projectId: $p) {
    action outcome actorKind projectId targetKeyId targetAccessKey } }";
/// How long a test waits for a message that should come.
const PATIENCE: Duration = Duration::from_secs(10);

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where the client puts its credentials.
pub(crate) enum Via {
    Header,
    InitPayload,
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

/// Opens `/graphql/ws` speaking graphql-transport-ws; the handshake's answer
/// on failure.
pub(crate) async fn open(app: &TestApp, auth: &Auth, via: &Via) -> Result<Socket, u16> {
    open_at(app.addr, [127, 0, 0, 1], auth, via).await
}

/// Like [`open`], to the server at `server`, from the local address `source`.
pub(crate) async fn open_at(
    server: SocketAddr,
    source: [u8; 4],
    auth: &Auth,
    via: &Via,
) -> Result<Socket, u16> {
    let mut request = format!("ws://{server}/graphql/ws")
        .into_client_request()
        .expect("a request");
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    if let (Via::Header, Some(value)) = (via, basic(auth)) {
        headers.insert(
            "authorization",
            HeaderValue::from_str(&value).expect("header"),
        );
    }
    let stream = connect_from(source, server).await.expect("connects");
    match tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream)).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(err) => panic!("handshake failed: {err}"),
    }
}

/// `connection_init`, then the server's first answer.
/// `connection_init`, answered with `connection_ack`.
pub(crate) async fn acknowledged(socket: &mut Socket, auth: &Auth, via: &Via) {
    let ack = json_of(&init(socket, auth, via).await);
    assert_eq!(ack["type"], "connection_ack", "{ack}");
}

/// A connection opened and acknowledged, with credentials in the upgrade.
pub(crate) async fn connected(app: &TestApp, auth: &Auth) -> Socket {
    let mut socket = open(app, auth, &Via::Header).await.expect("upgrade");
    acknowledged(&mut socket, auth, &Via::Header).await;
    socket
}

async fn init(socket: &mut Socket, auth: &Auth, via: &Via) -> Message {
    let payload = match (via, basic(auth)) {
        (Via::InitPayload, Some(value)) => json!({ "authorization": value }),
        _ => json!({}),
    };
    send(
        socket,
        json!({ "type": "connection_init", "payload": payload }),
    )
    .await;
    next_message(socket)
        .await
        .expect("an answer to connection_init")
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .expect("send");
}

/// The next text or close message; `None` when the connection ends
/// without one.
async fn next_message(socket: &mut Socket) -> Option<Message> {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a message in time")?;
        match message {
            Ok(message @ (Message::Text(_) | Message::Close(_))) => return Some(message),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

fn json_of(message: &Message) -> Value {
    match message {
        Message::Text(text) => serde_json::from_str(text).expect("JSON"),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// A subscription of `auth` to `project`'s events (its own when `None`),
/// acknowledged and live (see `probe`).
async fn subscribe(
    app: &TestApp,
    auth: &Auth,
    via: Via,
    project: Option<&str>,
    probed: &str,
) -> Socket {
    let mut socket = open(app, auth, &via).await.expect("the upgrade succeeds");
    start(&mut socket, auth, &via, project).await;
    probe(&mut socket, app, probed).await;
    socket
}

/// `connection_init`, acknowledged, then `subscribe` to `keyEvents`.
pub(crate) async fn start(socket: &mut Socket, auth: &Auth, via: &Via, project: Option<&str>) {
    acknowledged(socket, auth, via).await;
    send(
        socket,
        json!({ "id": "1", "type": "subscribe",
                "payload": { "query": KEY_EVENTS, "variables": { "p": project } } }),
    )
    .await;
}

/// Makes probe changes to `probed` (the project the socket follows) through
/// `through` until one arrives, so that a test never races the
/// subscription's start (nor, on PostgreSQL, a replica's LISTEN).
async fn probe(socket: &mut Socket, through: &TestApp, probed: &str) {
    for attempt in 0..50 {
        through
            .ok(
                UPDATE_PROJECT,
                json!({ "i": { "id": probed, "description": format!("probe {attempt}") } }),
                &Auth::admin(),
            )
            .await;
        // Events committed before the subscription started may still be on
        // their way (on PostgreSQL they travel through a replica's LISTEN
        // connection): skip them until a probe arrives. The feed keeps the
        // commit order, so nothing older than the probe comes after it.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
        while let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout_at(deadline, socket.next()).await
        {
            let message: Value = serde_json::from_str(&text).expect("JSON");
            assert_eq!(message["type"], "next", "{message}");
            if message["payload"]["data"]["keyEvents"]["action"] == PROBE {
                // Later probes may still be on their way: next_event skips them.
                return;
            }
        }
    }
    panic!("the subscription never delivered a probe");
}

/// The action of probe events, which `next_event` skips.
const PROBE: &str = "PROJECT_UPDATED";

/// The next event delivered on `socket`, probes aside.
async fn next_event(socket: &mut Socket) -> Value {
    loop {
        let message = json_of(&next_message(socket).await.expect("an event"));
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(message["id"], "1");
        assert!(message["payload"]["errors"].is_null(), "{message}");
        let event = message["payload"]["data"]["keyEvents"].clone();
        if event["action"] != PROBE {
            return event;
        }
    }
}

async fn subscribers_receive_their_own_projects_events_and_none_of_another() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let p = app.create_project(&admin, "p").await;
    let q = app.create_project(&admin, "q").await;
    let in_p = app.create_key(&admin, &p, "READ_ONLY").await;
    let in_q = app.create_key(&admin, &q, "READ_ONLY").await;
    // One authenticates on the upgrade request, the other (as a browser
    // must) in the connection_init payload.
    let mut watching_p = subscribe(&app, &in_p.auth(), Via::Header, None, &p).await;
    let mut watching_q = subscribe(&app, &in_q.auth(), Via::InitPayload, Some(&q), &q).await;

    let made_in_q = app.create_key(&admin, &q, "MEMBER").await;
    let made_in_p = app.create_key(&admin, &p, "MEMBER").await;
    // A refusal in q naming p's key: recorded in q, never told to p.
    app.gql(
        RENAME,
        json!({ "i": { "id": made_in_p.id, "name": "taken over" } }),
        &made_in_q.auth(),
    )
    .await
    .assert_code("NOT_FOUND");
    let made_again_in_q = app.create_key(&admin, &q, "MEMBER").await;
    let made_again_in_p = app.create_key(&admin, &p, "MEMBER").await;

    // Each sees exactly its own project's events, in order: the other
    // project's, sent in between, never reached it.
    let seen_by_p = [
        next_event(&mut watching_p).await,
        next_event(&mut watching_p).await,
    ];
    for (seen, made) in seen_by_p.iter().zip([&made_in_p, &made_again_in_p]) {
        assert_eq!(seen["action"], "KEY_CREATED", "{seen}");
        assert_eq!(seen["projectId"], json!(p));
        assert_eq!(seen["targetAccessKey"], json!(made.access_key));
    }
    let seen_by_q = [
        next_event(&mut watching_q).await,
        next_event(&mut watching_q).await,
        next_event(&mut watching_q).await,
    ];
    assert_eq!(seen_by_q[0]["targetAccessKey"], json!(made_in_q.access_key));
    assert_eq!(seen_by_q[1]["action"], "KEY_RENAMED");
    assert_eq!(seen_by_q[1]["outcome"], "NOT_FOUND");
    assert_eq!(seen_by_q[1]["targetAccessKey"], Value::Null);
    assert_eq!(
        seen_by_q[2]["targetAccessKey"],
        json!(made_again_in_q.access_key)
    );
    assert!(seen_by_q.iter().all(|seen| seen["projectId"] == json!(q)));

    // Refused attempts are events too.
    app.gql(DELETE_KEY, json!({ "i": { "id": made_in_p.id } }), &admin)
        .await
        .assert_code("CONFLICT");
    let refused = next_event(&mut watching_p).await;
    assert_eq!(refused["action"], "KEY_DELETED");
    assert_eq!(refused["outcome"], "CONFLICT");
}

async fn deactivating_the_subscribers_key_closes_its_connection() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let project = app.default_project(&admin).await;
    let subscriber = app.create_key(&admin, &project, "READ_ONLY").await;
    let bystander = app.create_key(&admin, &project, "READ_ONLY").await;
    // One authenticated on the upgrade request, one in connection_init.
    let mut revoked = subscribe(&app, &subscriber.auth(), Via::InitPayload, None, &project).await;
    let mut still_valid = subscribe(&app, &bystander.auth(), Via::Header, None, &project).await;

    app.ok(
        SET_STATE,
        json!({ "i": { "id": subscriber.id, "state": "INACTIVE" } }),
        &admin,
    )
    .await;

    // The bystander sees the deactivation and stays connected.
    let event = next_event(&mut still_valid).await;
    assert_eq!(event["action"], "KEY_DEACTIVATED");
    assert_eq!(event["targetKeyId"], json!(subscriber.id));
    // The subscriber's connection is closed with 4403, whatever it was
    // told before.
    assert_eq!(close_code(&mut revoked).await, Some(4403));
    app.create_key(&admin, &project, "MEMBER").await;
    assert_eq!(next_event(&mut still_valid).await["action"], "KEY_CREATED");

    // Deleting a key's project closes its subscribers too.
    let doomed = app.create_project(&admin, "doomed").await;
    let inside = app.create_key(&admin, &doomed, "OWNER").await;
    let mut watching = subscribe(&app, &inside.auth(), Via::Header, None, &doomed).await;
    app.ok(DELETE_PROJECT, json!({ "i": { "id": doomed } }), &admin)
        .await;
    assert_eq!(close_code(&mut watching).await, Some(4403));
}

/// Reads until the server closes the connection; its close code.
pub(crate) async fn close_code(socket: &mut Socket) -> Option<u16> {
    while let Some(message) = next_message(socket).await {
        if let Message::Close(frame) = message {
            return frame.map(|frame| u16::from(frame.code));
        }
    }
    None
}

async fn wrong_credentials_cannot_subscribe() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let key = app.create_key(&Auth::admin(), &project, "OWNER").await;
    let wrong = Auth::basic(&key.access_key, &"0".repeat(40));

    // On the upgrade request: a plain 401, before any WebSocket.
    assert_eq!(open(&app, &wrong, &Via::Header).await.err(), Some(401));

    // In connection_init (or missing): no acknowledgement, the connection
    // is closed.
    for auth in [&wrong, &Auth::None] {
        let mut socket = open(&app, auth, &Via::InitPayload)
            .await
            .expect("the upgrade itself needs no credentials");
        let answer = init(&mut socket, auth, &Via::InitPayload).await;
        let code = match answer {
            Message::Close(Some(frame)) => u16::from(frame.code),
            other => panic!("expected the connection closed, got {other:?}"),
        };
        assert_eq!(code, 4403);
    }

    // A page on another site cannot open one with the user's credentials.
    let mut request = format!("ws://{}/graphql/ws", app.addr)
        .into_client_request()
        .expect("a request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_static("https://evil.example"));
    let refused = tokio_tungstenite::connect_async(request).await;
    assert!(
        matches!(
            refused,
            Err(tokio_tungstenite::tungstenite::Error::Http(ref response))
                if response.status() == 403
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_throttled_connection_init_is_closed_with_4429_and_the_retry_delay() {
    let app = TestApp::spawn_with(|config| {
        config.limits.auth_failures_per_key = 3;
        config.limits.auth_throttle_delay_ms = 0;
    })
    .await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let key = app.create_key(&Auth::admin(), &project, "OWNER").await;
    app.fail_to_authenticate(&key, 3).await;
    // Throttled, the right secret is refused too: not as wrong credentials
    // (4403, final) but as "retry later", with the delay.
    let mut socket = open(&app, &key.auth(), &Via::InitPayload)
        .await
        .expect("the upgrade itself needs no credentials");
    let frame = match init(&mut socket, &key.auth(), &Via::InitPayload).await {
        Message::Close(Some(frame)) => frame,
        other => panic!("expected the connection closed, got {other:?}"),
    };
    assert_eq!(u16::from(frame.code), 4429, "{frame:?}");
    let delay = frame
        .reason
        .as_str()
        .strip_prefix("too many failed authentications; retry in ")
        .and_then(|rest| rest.strip_suffix(" s"))
        .and_then(|secs| secs.parse::<u64>().ok());
    assert!(delay.is_some_and(|secs| secs >= 1), "{frame:?}");
}

#[tokio::test]
async fn one_address_cannot_take_every_websocket() {
    // 20 WebSockets in all, at most a quarter (5) per address.
    let app = TestApp::spawn_with(|config| config.limits.max_connections = 20).await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let key = app.create_key(&Auth::admin(), &project, "READ_ONLY").await;

    // Upgrades without credentials (connection_init may come 10 s later),
    // all from one address, until one is refused.
    let mut flood = Vec::new();
    let refused = loop {
        match open_at(app.addr, [127, 0, 0, 1], &Auth::None, &Via::InitPayload).await {
            Ok(socket) => flood.push(socket),
            Err(status) => break status,
        }
    };
    assert_eq!(refused, 429, "after {} WebSockets", flood.len());
    assert_eq!(flood.len(), 5, "the address's share");

    // Meanwhile a client on another address gets its WebSocket.
    let mut socket = open_at(app.addr, [127, 0, 0, 2], &key.auth(), &Via::Header)
        .await
        .expect("another address is not refused");
    acknowledged(&mut socket, &key.auth(), &Via::Header).await;
    drop(flood);
}

async fn a_key_cannot_follow_another_project() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let mine = app.default_project(&admin).await;
    let theirs = app.create_project(&admin, "theirs").await;
    let key = app.create_key(&admin, &mine, "OWNER").await;
    let mut socket = open(&app, &key.auth(), &Via::Header)
        .await
        .expect("the upgrade succeeds");
    start(&mut socket, &key.auth(), &Via::Header, Some(&theirs)).await;
    let answer = json_of(&next_message(&mut socket).await.expect("an answer"));
    assert_eq!(answer["type"], "next", "{answer}");
    assert_eq!(
        answer["payload"]["errors"][0]["extensions"]["code"],
        "NOT_FOUND"
    );
    let done = json_of(&next_message(&mut socket).await.expect("completion"));
    assert_eq!(done["type"], "complete", "{done}");
}

/// On PostgreSQL, an event committed through one replica reaches the
/// subscribers of every other (LISTEN/NOTIFY).
#[tokio::test]
#[cfg_attr(
    not(keyward_postgres),
    ignore = "needs PostgreSQL: set KEYWARD_TEST_POSTGRES_URL"
)]
async fn events_from_one_replica_reach_subscribers_on_another() {
    backend::run_on(Backend::Postgres, async {
        let a = TestApp::spawn().await;
        let b = a.replica().await;
        a.enable_access_control().await;
        let admin = Auth::admin();
        let project = a.default_project(&admin).await;
        // The probes, made through a, already cross over; then a real event.
        let mut on_b = open(&b, &admin, &Via::Header).await.expect("the upgrade");
        start(&mut on_b, &admin, &Via::Header, Some(&project)).await;
        probe(&mut on_b, &a, &project).await;
        let key = a.create_key(&admin, &project, "MEMBER").await;
        let event = next_event(&mut on_b).await;
        assert_eq!(event["action"], "KEY_CREATED");
        assert_eq!(event["targetAccessKey"], json!(key.access_key));
    })
    .await;
}

/// On PostgreSQL, break-glass works while replicas run: resetting the
/// administrator's password closes the administrator's open subscriptions
/// (authenticated with the old one) on every replica, and leaves keys' open.
#[tokio::test]
#[cfg_attr(
    not(keyward_postgres),
    ignore = "needs PostgreSQL: set KEYWARD_TEST_POSTGRES_URL"
)]
async fn resetting_the_administrators_password_closes_the_administrators_subscriptions() {
    backend::run_on(Backend::Postgres, async {
        let a = TestApp::spawn().await;
        let b = a.replica().await;
        a.enable_access_control().await;
        let admin = Auth::admin();
        let project = a.default_project(&admin).await;
        let key = a.create_key(&admin, &project, "READ_ONLY").await;
        let mut admin_on_a = subscribe(&a, &admin, Via::Header, Some(&project), &project).await;
        let mut admin_on_b =
            subscribe(&b, &admin, Via::InitPayload, Some(&project), &project).await;
        let mut key_on_b = subscribe(&b, &key.auth(), Via::Header, None, &project).await;

        crate::process::run_keyward(
            &[
                "admin",
                "reset-password",
                "--username",
                ADMIN.0,
                "--database-url",
                a.database_url(),
            ],
            Some("a brand new password, long enough\n"),
        )
        .await
        .assert_success();

        assert_eq!(close_code(&mut admin_on_a).await, Some(4403));
        assert_eq!(close_code(&mut admin_on_b).await, Some(4403));
        // The key's subscription is untouched: it sees what the
        // administrator, signed in with the new password, does next.
        let new_admin = Auth::basic(ADMIN.0, "a brand new password, long enough");
        let made = a.create_key(&new_admin, &project, "MEMBER").await;
        let event = next_event(&mut key_on_b).await;
        assert_eq!(event["action"], "KEY_CREATED");
        assert_eq!(event["targetAccessKey"], json!(made.access_key));
    })
    .await;
}

/// Sends every `(id, query)` as a `subscribe` message, one after the other
/// without waiting for answers.
async fn pipeline(socket: &mut Socket, operations: &[(String, String)]) {
    for (id, query) in operations {
        send(
            socket,
            json!({ "id": id, "type": "subscribe", "payload": { "query": query } }),
        )
        .await;
    }
}

/// Reads the answers to `count` refused operations: each id's error (a
/// `next` without data) and its `complete`. The errors' messages, by id.
async fn refusals(socket: &mut Socket, count: usize) -> Vec<(String, String)> {
    let mut refused: Vec<(String, String)> = Vec::new();
    let mut completed = std::collections::BTreeSet::new();
    while completed.len() < count {
        let message = json_of(&next_message(socket).await.expect("an answer"));
        let id = message["id"].as_str().expect("an id").to_owned();
        match message["type"].as_str() {
            Some("next") => {
                let error = &message["payload"]["errors"][0];
                assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{message}");
                assert!(message["payload"]["data"].is_null(), "{message}");
                let text = error["message"].as_str().expect("a message").to_owned();
                refused.push((id, text));
            }
            Some("complete") => assert!(completed.insert(id), "{message}"),
            _ => panic!("unexpected {message}"),
        }
    }
    refused.sort();
    refused
}

/// Every limit a document sent to `POST /graphql` is held to holds for a
/// `subscribe` message too (the same function admits both): each refused
/// operation gets its error and `complete`, and the connection goes on.
#[tokio::test]
async fn subscribe_messages_are_held_to_every_limit_of_post() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let mut socket = connected(&app, &admin).await;

    let long = format!("{KEY_EVENTS} #{}", "x".repeat(40_000));
    let deep = format!("subscription {}b{}", "{ a ".repeat(40), " }".repeat(40));
    let spread = {
        let fragments: String = (0..24)
            .map(|k| {
                format!(
                    "fragment f{k} on Subscription {{ ...f{m} ...f{m} }}\n",
                    m = k + 1
                )
            })
            .collect();
        format!(
            "subscription {{ ...f0 }}\n{fragments}fragment f24 on Subscription {{ __typename }}"
        )
    };
    let operations: String = (0..65)
        .map(|k| format!("subscription s{k} {{ keyEvents {{ action }} }}\n"))
        .collect();
    let summed = {
        let fragments: String = (0..11)
            .map(|k| {
                format!(
                    "fragment f{k} on Subscription {{ ...f{m} ...f{m} }}\n",
                    m = k + 1
                )
            })
            .collect();
        format!(
            "subscription a {{ ...f0 }} subscription b {{ ...f0 }}\n{fragments}fragment f11 on Subscription {{ __typename }}"
        )
    };
    let complex = format!(
        "subscription {{ keyEvents {{ {} }} }}",
        "action ".repeat(3_000)
    );
    let cases = [
        (
            "complex",
            complex,
            "its complexity is 3001, the limit is 2500",
        ),
        (
            "deep",
            deep,
            "40 levels deep once its fragments are inlined; the limit is 32",
        ),
        (
            "long",
            long.clone(),
            &*format!(
                "the query is {} bytes, longer than the limit of 32768 bytes",
                long.len()
            ),
        ),
        (
            "operations",
            operations,
            "the document has 65 operations; the limit is 64",
        ),
        (
            "spread",
            spread,
            "selections once its fragments are inlined; the limit is 10000",
        ),
        ("summed", summed, "the document has 24547 selections"),
    ];
    let sent: Vec<(String, String)> = cases
        .iter()
        .map(|(id, query, _)| ((*id).to_owned(), query.clone()))
        .collect();
    pipeline(&mut socket, &sent).await;
    let refused = refusals(&mut socket, sent.len()).await;
    assert_eq!(refused.len(), cases.len(), "{refused:?}");
    for ((id, message), (expected_id, _, expected)) in refused.iter().zip(&cases) {
        assert_eq!(id, expected_id);
        assert!(
            message.contains(expected),
            "{id}: {message:?} lacks {expected:?}"
        );
    }
}

/// Expensive `subscribe` messages pipelined on one socket are prepared in
/// turn, one at a time: each gets its answer, and meanwhile another client
/// is served, over HTTP and over a WebSocket of its own.
#[tokio::test]
async fn pipelined_expensive_subscribe_messages_are_each_answered_while_others_are_served() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let mut flooding = connected(&app, &admin).await;

    // Half as the reproduction sent them (56 KB), half just within every
    // limit but the complexity checked in validation.
    let long = format!("{KEY_EVENTS} #{}", "x".repeat(56_000));
    let complex = format!(
        "subscription {{ keyEvents {{ {} }} }}",
        "action ".repeat(4_000)
    );
    let pipelined: Vec<(String, String)> = (0..5)
        .flat_map(|n| {
            [
                (format!("long{n}"), long.clone()),
                (format!("complex{n}"), complex.clone()),
            ]
        })
        .collect();
    pipeline(&mut flooding, &pipelined).await;

    app.ok("{ __typename }", json!({}), &admin).await;
    let _other = connected(&app, &admin).await;

    let refused = refusals(&mut flooding, pipelined.len()).await;
    assert_eq!(refused.len(), pipelined.len(), "{refused:?}");
    for (id, message) in refused {
        let expected = if id.starts_with("long") {
            "longer than the limit of 32768 bytes"
        } else {
            "its complexity is 4001, the limit is 2500"
        };
        assert!(message.contains(expected), "{id}: {message}");
    }
}

/// One socket runs at most 100 operations at a time: the 101st
/// `subscribe` is refused on its own, the other hundred stay live, and once
/// the client completes one, its slot serves a new subscription.
#[tokio::test]
async fn one_socket_runs_at_most_a_hundred_subscriptions_and_completing_one_frees_its_slot() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let project = app.default_project(&admin).await;
    let mut socket = connected(&app, &admin).await;

    let every_event = "subscription { keyEvents { action } }".to_owned();
    let hundred_and_one: Vec<(String, String)> = (0..=100)
        .map(|n| (format!("s{n}"), every_event.clone()))
        .collect();
    pipeline(&mut socket, &hundred_and_one).await;
    let refused = refusals(&mut socket, 1).await;
    assert_eq!(
        refused,
        [(
            "s100".to_owned(),
            "this connection already runs 100 operations, the limit; complete one to start \
             another"
                .to_owned()
        )]
    );

    send(&mut socket, json!({ "id": "s0", "type": "complete" })).await;
    let done = json_of(&next_message(&mut socket).await.expect("completion"));
    assert_eq!(done, json!({ "id": "s0", "type": "complete" }));
    pipeline(&mut socket, &[("again".to_owned(), every_event)]).await;

    // Changes until one reaches the new subscription (which starts in its
    // turn); every live one gets each, none is refused.
    for attempt in 0..50 {
        app.ok(
            UPDATE_PROJECT,
            json!({ "i": { "id": project, "description": format!("probe {attempt}") } }),
            &admin,
        )
        .await;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
        while let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout_at(deadline, socket.next()).await
        {
            let message: Value = serde_json::from_str(&text).expect("JSON");
            assert_eq!(message["type"], "next", "{message}");
            assert_ne!(message["id"], "s0", "{message}");
            assert_eq!(
                message["payload"]["data"]["keyEvents"]["action"], PROBE,
                "{message}"
            );
            if message["id"] == "again" {
                return;
            }
        }
    }
    panic!("the subscription started in the freed slot never delivered an event");
}
