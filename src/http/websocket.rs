//! GraphQL subscriptions over WebSocket at `/graphql/ws` (the
//! graphql-transport-ws protocol, and the older graphql-ws one).
//!
//! The caller is authenticated once per connection, with the same Basic
//! credentials as any request: in the `Authorization` header of the upgrade
//! request, or, for browsers (which cannot set headers on a WebSocket), as
//! `{"authorization": "Basic …"}` in the `connection_init` payload. While the
//! connection is open, [`until_revoked`] watches for its credentials being
//! revoked; the server then closes it with code 4403.

use std::net::{IpAddr, SocketAddr};

use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderValue;
use axum::http::header::{self, HeaderMap};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio_util::sync::CancellationToken;

use super::{AppState, request_id};
use crate::auth::{Principal, until_revoked};
use crate::error::Error;
use crate::graphql::RequestContext;

/// Close code telling a client its credentials no longer hold (the
/// graphql-transport-ws protocol's "Forbidden").
const CLOSE_REVOKED: u16 = 4403;
/// Messages queued towards a slow client before the connection waits for it.
const OUTGOING_QUEUE: usize = 64;

pub(super) async fn graphql_ws(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    protocol: GraphQLProtocol,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !app.origin_allowed(&headers) {
        return Error::Forbidden("WebSocket connections from this origin are not allowed")
            .into_response();
    }
    let client = app.client_address(peer, &headers);
    // Credentials in the upgrade request are checked before upgrading, so a
    // wrong secret gets a plain 401 with its WWW-Authenticate challenge.
    let principal = match headers.get(header::AUTHORIZATION) {
        Some(authorization) => match app
            .auth
            .authenticate(Some(authorization), Some(client))
            .await
        {
            Ok(principal) => Some(principal),
            Err(err) => return err.into_response(),
        },
        None => None,
    };
    let connection = Connection {
        base_url: app.base_url(&headers),
        request_id: request_id(&headers),
        client,
        app,
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| connection.serve(socket, protocol, principal))
}

/// What a connection needs once upgraded.
struct Connection {
    app: AppState,
    client: IpAddr,
    base_url: String,
    request_id: Option<String>,
}

impl Connection {
    async fn serve(
        self,
        socket: WebSocket,
        protocol: GraphQLProtocol,
        principal: Option<Principal>,
    ) {
        let revoked = CancellationToken::new();
        let closed = CancellationToken::new();
        let (mut sink, incoming) = socket.split();
        // The GraphQL side writes to a queue rather than to the socket, so
        // that once it has stopped, the close frame can still be sent.
        let (outgoing, mut queue) = futures::channel::mpsc::channel::<Message>(OUTGOING_QUEUE);
        let schema = self.app.schemas.authenticated.clone();
        let init = {
            let revoked = revoked.clone();
            let closed = closed.clone();
            move |payload: serde_json::Value| self.init(payload, principal, revoked, closed)
        };
        // Revocation ends the input, which ends the GraphQL side.
        let incoming = incoming.take_until(revoked.clone().cancelled_owned());
        let graphql = GraphQLWebSocket::new_with_pair(outgoing, incoming, schema, protocol)
            .on_connection_init(init)
            .serve();
        let forward = async {
            while let Some(message) = queue.next().await {
                if sink.send(message).await.is_err() {
                    break;
                }
            }
        };
        tokio::join!(graphql, forward);
        closed.cancel();
        if revoked.is_cancelled() {
            let frame = CloseFrame {
                code: CLOSE_REVOKED,
                reason: "credentials revoked".into(),
            };
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
    }

    /// Authenticates the connection (unless the upgrade request already
    /// did) and starts watching for its credentials being revoked.
    async fn init(
        self,
        payload: serde_json::Value,
        principal: Option<Principal>,
        revoked: CancellationToken,
        closed: CancellationToken,
    ) -> async_graphql::Result<Data> {
        let principal = match principal {
            Some(principal) => principal,
            None => {
                let authorization = match payload.get("authorization") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(value) => Some(
                        value
                            .as_str()
                            .and_then(|value| HeaderValue::from_str(value).ok())
                            .ok_or(Error::Unauthenticated)?,
                    ),
                };
                self.app
                    .auth
                    .authenticate(authorization.as_ref(), Some(self.client))
                    .await?
            }
        };
        let store = self.app.store.clone();
        let watched = principal.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = until_revoked(&store, &watched) => revoked.cancel(),
                () = closed.cancelled() => {}
            }
        });
        let mut data = Data::default();
        data.insert(RequestContext {
            principal,
            scope: None,
            base_url: self.base_url,
            client_address: Some(self.client),
            request_id: self.request_id,
        });
        Ok(data)
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
        let host = headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok());
        let same_origin = host.is_some_and(|host| {
            origin
                .split_once("://")
                .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
        });
        same_origin
            || self
                .public_url
                .iter()
                .chain(self.allowed_origins.iter())
                .any(|allowed| allowed.trim_end_matches('/') == origin)
    }
}
