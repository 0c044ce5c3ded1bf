//! What every request leaves behind, whatever answered it (a handler, a
//! refusal, a 404, a timeout): one log line and the request metrics.
//!
//! The request's envelope (`envelope`) hands it an [`Observation`] and
//! calls [`record`] with the answer; the router notes the matched route in
//! it ([`note_route`]) and the one place credentials are resolved
//! (`caller`) notes who called. Nothing else has to remember to log or
//! count a request.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode};

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

/// Logs and counts an answered request (the envelope calls it once per
/// request, whatever answered it).
pub(super) fn record(
    observation: &Observation,
    method: &Method,
    request_id: Option<&HeaderValue>,
    elapsed: Duration,
    status: StatusCode,
) {
    let (route, caller) = {
        let observed = observation.0.lock().unwrap_or_else(|e| e.into_inner());
        (observed.route.clone(), observed.caller)
    };
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    metrics::http_request(route, method, status, elapsed);
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
        request_id = request_id.and_then(|id| id.to_str().ok()),
        principal = caller.map_or("NONE", Seen::kind),
        key_id = caller.and_then(Seen::key_id).map(tracing::field::display),
        user_id = caller.and_then(Seen::user_id).map(tracing::field::display),
        "request"
    );
}

/// A route layer (`map_request`, which boxes nothing): notes the route
/// template the request matched.
pub(super) fn note_route(request: Request) -> Request {
    if let (Some(observation), Some(route)) = (
        request.extensions().get::<Observation>(),
        request.extensions().get::<MatchedPath>(),
    ) {
        observation.with(|observed| observed.route = Some(route.clone()));
    }
    request
}
