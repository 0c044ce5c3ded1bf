//! GraphQL subscriptions over WebSocket at `/graphql/ws` (the
//! graphql-transport-ws protocol, and the older graphql-ws one).
//!
//! The caller is authenticated once per connection, with the same Basic
//! credentials as any request: in the `Authorization` header of the upgrade
//! request, or, for browsers (which cannot set headers on a WebSocket), as
//! `{"authorization": "Basic …"}` in the `connection_init` payload. While the
//! connection is open, [`until_revoked`] watches for its credentials being
//! revoked; the server then closes it with code 4403.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::header::{self, HeaderMap};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio_util::sync::CancellationToken;

use super::{AppState, Caller, Presented, RequestOrigin};
use crate::auth::{Credential, until_revoked};
use crate::error::Error;
use crate::graphql::SessionExecutor;
use crate::listener::Slot;

/// Close code telling a client its credentials are refused or no longer
/// hold (the graphql-transport-ws protocol's "Forbidden").
const CLOSE_REVOKED: u16 = 4403;
/// Close code for a client that never sent `connection_init` (the
/// protocol's "Connection initialisation timeout").
const CLOSE_INIT_TIMEOUT: u16 = 4408;
/// Close code when the server shuts down ("Going Away").
const CLOSE_GOING_AWAY: u16 = 1001;
/// How long a client has to send `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest message accepted: a GraphQL document and its variables.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Messages queued towards a slow client before the connection waits for it.
const OUTGOING_QUEUE: usize = 64;

pub(super) async fn graphql_ws(
    State(app): State<AppState>,
    origin: RequestOrigin,
    protocol: GraphQLProtocol,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !app.origin_allowed(&headers) {
        return Error::Forbidden("WebSocket connections from this origin are not allowed")
            .into_response();
    }
    // Upgraded connections leave hyper's accept loop, and with it the
    // connection caps: they count against caps of their own, in all and
    // per client address (behind a trusted proxy, the address it reports),
    // held for the socket's whole life. The upgrade needs no credentials,
    // so without the address's share one address could take every slot.
    let Some(reserved) = app.websocket_slots.try_reserve() else {
        return refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many WebSocket connections; retry later",
        );
    };
    let Some(slot) = reserved.assign(origin.client) else {
        return refused(
            StatusCode::TOO_MANY_REQUESTS,
            "too many WebSocket connections from this address; retry later",
        );
    };
    // Credentials in the upgrade request are checked before upgrading, so a
    // wrong secret gets a plain 401 with its WWW-Authenticate challenge. The
    // session cookie is taken only from keyward's own pages: a page of
    // another site must not open a socket as the signed-in person.
    let presented = match Presented::of(&app, &headers, true) {
        Ok(presented) => presented,
        Err(err) => return err.into_response(),
    };
    let caller = match presented {
        Presented::Nothing => None,
        presented => {
            match Caller::authenticate(&app, origin.clone(), presented.credential()).await {
                Ok(caller) => Some(caller),
                Err(err) => return err.into_response(),
            }
        }
    };
    let connection = Connection {
        origin,
        closer: Closer::new(app.shutdown.child_token()),
        initialised: Arc::default(),
        _slot: Arc::new(slot),
        app,
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| connection.serve(socket, protocol, caller))
}

/// An upgrade refused for want of a slot.
fn refused(status: StatusCode, message: &str) -> Response {
    let body = crate::error::error_body(message, crate::error::ErrorCode::RateLimited);
    (status, axum::Json(body)).into_response()
}

/// Ends a connection, with the reason its close frame gives.
#[derive(Clone)]
struct Closer {
    token: CancellationToken,
    reason: Arc<Mutex<Option<CloseFrame>>>,
}

impl Closer {
    fn new(token: CancellationToken) -> Self {
        Self {
            token,
            reason: Arc::default(),
        }
    }

    /// Closes the connection. The first reason given wins.
    fn close(&self, code: u16, reason: &'static str) {
        self.record(CloseFrame {
            code,
            reason: reason.into(),
        });
        self.token.cancel();
    }

    /// `connection_init` was refused with `err`: async-graphql closes the
    /// connection itself (graphql-transport-ws: with 1002, "protocol
    /// error"; graphql-ws: after a `connection_error` message), and its
    /// close frame is then swapped for this one, so that the code says why
    /// from the error itself: 4403 for refused credentials (final), 4429
    /// with the delay for a throttled client (retry later).
    fn refuse(&self, err: Error) -> async_graphql::Error {
        let (code, reason) = err.close_frame();
        self.record(CloseFrame {
            code,
            reason: reason.as_str().into(),
        });
        async_graphql::Error::new(reason)
    }

    fn record(&self, frame: CloseFrame) {
        let mut current = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        current.get_or_insert(frame);
    }

    /// The close frame of the reason given, if any.
    fn recorded(&self) -> Option<CloseFrame> {
        let reason = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        reason.clone()
    }

    /// The close frame to send once the GraphQL side has stopped: the
    /// reason given, else 1001 if cancelled without one (the server shutting
    /// down, the token's parent), else none (the client left).
    fn frame(&self) -> Option<CloseFrame> {
        self.recorded().or_else(|| {
            self.token.is_cancelled().then(|| CloseFrame {
                code: CLOSE_GOING_AWAY,
                reason: "server shutting down".into(),
            })
        })
    }
}

/// What a connection needs once upgraded.
#[derive(Clone)]
struct Connection {
    app: AppState,
    origin: RequestOrigin,
    closer: Closer,
    initialised: Arc<AtomicBool>,
    /// Held while the connection lives.
    _slot: Arc<Slot>,
}

impl Connection {
    async fn serve(self, socket: WebSocket, protocol: GraphQLProtocol, caller: Option<Caller>) {
        let (mut sink, incoming) = socket.split();
        // The GraphQL side writes to a queue rather than to the socket, so
        // that once it has stopped, the close frame can still be sent.
        let (outgoing, mut queue) = futures::channel::mpsc::channel::<Message>(OUTGOING_QUEUE);
        // The schema follows the caller, who may only be known once
        // `connection_init` has been authenticated.
        let executor = SessionExecutor::new(self.app.schemas.clone());
        tokio::spawn({
            let closer = self.closer.clone();
            let initialised = Arc::clone(&self.initialised);
            async move {
                tokio::select! {
                    () = tokio::time::sleep(INIT_TIMEOUT) => {
                        if !initialised.load(Ordering::Acquire) {
                            closer.close(CLOSE_INIT_TIMEOUT, "connection initialisation timeout");
                        }
                    }
                    () = closer.token.cancelled() => {}
                }
            }
        });
        // Closing ends the input, which ends the GraphQL side.
        let incoming = incoming.take_until(self.closer.token.clone().cancelled_owned());
        let closer = self.closer.clone();
        let init = {
            let connection = self.clone();
            let executor = executor.clone();
            move |payload: serde_json::Value| connection.init(payload, caller, executor)
        };
        let graphql = GraphQLWebSocket::new_with_pair(outgoing, incoming, executor, protocol)
            .on_connection_init(init)
            .serve();
        let forward = async {
            while let Some(message) = queue.next().await {
                // The server's own reason, if it gave one (a refused
                // `connection_init`), rather than async-graphql's.
                let message = match message {
                    Message::Close(theirs) => Message::Close(closer.recorded().or(theirs)),
                    other => other,
                };
                if sink.send(message).await.is_err() {
                    break;
                }
            }
        };
        tokio::join!(graphql, forward);
        if let Some(frame) = closer.frame() {
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
        // Stops the watcher and the timer, whatever ended the connection.
        closer.token.cancel();
    }

    /// Authenticates the connection (unless the upgrade request already
    /// did) and starts watching for its credentials being revoked.
    async fn init(
        self,
        payload: serde_json::Value,
        caller: Option<Caller>,
        executor: SessionExecutor,
    ) -> async_graphql::Result<Data> {
        self.initialised.store(true, Ordering::Release);
        let caller = match caller {
            Some(caller) => caller,
            None => match self.authenticate(&payload).await {
                Ok(caller) => caller,
                Err(err) => return Err(self.closer.refuse(err)),
            },
        };
        executor.authenticated(&caller.principal);
        let store = self.app.store.clone();
        let watched = caller.principal.clone();
        let closer = self.closer.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = until_revoked(&store, &watched) => {
                    closer.close(CLOSE_REVOKED, "credentials revoked");
                }
                () = closer.token.cancelled() => {}
            }
        });
        let mut data = Data::default();
        data.insert(caller.context(None));
        Ok(data)
    }

    /// The caller of `connection_init`'s `{"authorization": "Basic …"}`.
    async fn authenticate(&self, payload: &serde_json::Value) -> Result<Caller, Error> {
        let authorization = match payload.get("authorization") {
            None | Some(serde_json::Value::Null) => None,
            Some(value) => Some(
                value
                    .as_str()
                    .and_then(|value| HeaderValue::from_str(value).ok())
                    .ok_or(Error::Unauthenticated)?,
            ),
        };
        let credential = authorization
            .as_ref()
            .map_or(Credential::None, Credential::Header);
        Caller::authenticate(&self.app, self.origin.clone(), credential).await
    }
}

impl AppState {
    /// Browsers send `Origin` with every WebSocket handshake and, unlike
    /// `fetch`, enforce no CORS on it: without this check any page a user
    /// visits could open a subscription with the user's saved Basic
    /// credentials. Clients that are not browsers send no `Origin`.
    fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        super::session::is_own_origin(self, headers, origin)
            || self
                .allowed_origins
                .iter()
                .any(|allowed| allowed.trim_end_matches('/') == origin)
    }
}
