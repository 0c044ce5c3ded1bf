//! What every request leaves behind, whatever answered it (a handler, a
//! refusal, a 404, a timeout): one log line and the request metrics.
//!
//! The outermost layer ([`observe`]) hands the request an [`Observation`];
//! the router notes the matched route in it ([`note_route`]) and the one
//! place credentials are resolved (`caller`) notes who called. Nothing else
//! has to remember to log or count a request.

use std::sync::{Arc, Mutex};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tokio::time::Instant;

use crate::auth::Principal;
use crate::error::Error;
use crate::ids::{GlobalId, NodeKind};
use crate::metrics;

/// What is learnt about a request while it is handled.
#[derive(Clone, Debug, Default)]
pub struct Observation(Arc<Mutex<Observed>>);

#[derive(Debug, Default)]
struct Observed {
    /// The route template the request matched; `None` for a 404.
    route: Option<MatchedPath>,
    /// Who called, once credentials were resolved.
    caller: Option<Seen>,
}

/// Who a request turned out to be from.
#[derive(Clone, Copy, Debug)]
enum Seen {
    Refused,
    Anonymous,
    Person { id: i64, administrator: bool },
    Key(i64),
}

impl Seen {
    /// The key's GraphQL id, for a key.
    fn key_id(self) -> Option<GlobalId> {
        match self {
            Self::Key(id) => Some(GlobalId {
                kind: NodeKind::ApiKey,
                id,
            }),
            _ => None,
        }
    }

    /// The person's GraphQL id, for a person.
    fn user_id(self) -> Option<GlobalId> {
        match self {
            Self::Person { id, .. } => Some(GlobalId {
                kind: NodeKind::User,
                id,
            }),
            _ => None,
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Self::Refused => "REFUSED",
            Self::Anonymous => "ANONYMOUS",
            Self::Person {
                administrator: true,
                ..
            } => "ADMIN",
            Self::Person { .. } => "USER",
            Self::Key(_) => "API_KEY",
        }
    }
}

impl Observation {
    fn with(&self, note: impl FnOnce(&mut Observed)) {
        note(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Notes who called, or that the credentials were refused. A check that
    /// could not be made (the database unavailable) notes nothing: the
    /// line's status tells that story.
    pub(super) fn caller(&self, authenticated: Result<&Principal, &Error>) {
        let seen = match authenticated {
            Ok(Principal::Anonymous) => Seen::Anonymous,
            Ok(Principal::Person(person)) => Seen::Person {
                id: person.user_id,
                administrator: person.administrator,
            },
            Ok(Principal::ApiKey(key)) => Seen::Key(key.key_id),
            Err(Error::Unauthenticated | Error::RateLimited { .. }) => Seen::Refused,
            Err(_) => return,
        };
        self.with(|observed| observed.caller = Some(seen));
    }
}

/// The outermost layer: times the request, then logs and counts it.
pub(super) async fn observe(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // Kept as the header (a reference count), read only if the line is logged.
    let request_id = request.headers().get(super::REQUEST_ID).cloned();
    let observation = Observation::default();
    request.extensions_mut().insert(observation.clone());

    let response = next.run(request).await;

    let elapsed = started.elapsed();
    let status = response.status();
    let (route, caller) = {
        let observed = observation.0.lock().unwrap_or_else(|e| e.into_inner());
        (observed.route.clone(), observed.caller)
    };
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    metrics::http_request(route, &method, status, elapsed);
    // Never headers, the query string or a body: credentials cannot reach
    // the log through this line. The fields are only computed when the line
    // is logged (the macro evaluates them behind its level check).
    tracing::info!(
        target: "keyward::request",
        method = %method,
        route,
        status = status.as_u16(),
        // Microseconds, in milliseconds: 1.234, not 1.2339870000000001.
        latency_ms = elapsed.as_micros() as f64 / 1000.0,
        request_id = request_id.as_ref().and_then(|id| id.to_str().ok()),
        principal = caller.map_or("NONE", Seen::kind),
        key_id = caller.and_then(Seen::key_id).map(tracing::field::display),
        user_id = caller.and_then(Seen::user_id).map(tracing::field::display),
        "request"
    );
    response
}

/// A route layer: notes the route template the request matched.
pub(super) async fn note_route(request: Request, next: Next) -> Response {
    if let (Some(observation), Some(route)) = (
        request.extensions().get::<Observation>(),
        request.extensions().get::<MatchedPath>(),
    ) {
        observation.with(|observed| observed.route = Some(route.clone()));
    }
    next.run(request).await
}
