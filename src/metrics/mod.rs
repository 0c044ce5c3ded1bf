//! Prometheus metrics: what keyward counts, under which names and labels.
//!
//! Everything is recorded through the `metrics` facade with functions of
//! this module, so that each metric's name and label values are written in
//! one place. Label values come from closed sets (route templates, methods,
//! outcomes): never an access key, a key id, a project id or a raw path,
//! whose number is unbounded. Without `--metrics-listen` no recorder is
//! installed and every call here is a no-op (see [`exporter`]).

pub mod exporter;

use std::time::Duration;

use axum::http::{Method, StatusCode};

pub use exporter::MetricsServer;

/// Requests answered, by route template, method and status.
pub const HTTP_REQUESTS: &str = "keyward_http_requests_total";
/// How long requests took to answer (until the response head), by route
/// template and method.
pub const HTTP_REQUEST_DURATION: &str = "keyward_http_request_duration_seconds";
/// Authentications of requests, by endpoint and outcome.
pub const AUTH_ATTEMPTS: &str = "keyward_auth_attempts_total";
/// argon2 computations running or waiting for an argon2 thread.
pub const ARGON2_IN_FLIGHT: &str = "keyward_argon2_in_flight";
/// How long one argon2 computation took on its thread.
pub const ARGON2_DURATION: &str = "keyward_argon2_duration_seconds";
/// Database connections of this replica's pool, by state.
pub const DB_CONNECTIONS: &str = "keyward_db_connections";
/// Open WebSocket (`/graphql/ws`) connections.
pub const WEBSOCKET_CONNECTIONS: &str = "keyward_websocket_connections";
/// Webhook delivery attempts, by outcome.
pub const WEBHOOK_DELIVERIES: &str = "keyward_webhook_deliveries_total";
/// Always 1, labelled with the running version.
pub const BUILD_INFO: &str = "keyward_build_info";

/// Registers each metric's help text with the installed recorder.
pub(crate) fn describe() {
    metrics::describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status code."
    );
    metrics::describe_histogram!(
        HTTP_REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time from receiving an HTTP request to sending its response head, by route template and method."
    );
    metrics::describe_counter!(
        AUTH_ATTEMPTS,
        "Authentications of requests, by endpoint and outcome: open (access control off), \
         cached (verified before, from memory), rechecked (verified before, confirmed against \
         the database), verified (argon2 ran and matched), refused, throttled, error."
    );
    metrics::describe_gauge!(
        ARGON2_IN_FLIGHT,
        "argon2 computations running or queued for one of the argon2 threads."
    );
    metrics::describe_histogram!(
        ARGON2_DURATION,
        metrics::Unit::Seconds,
        "Time one argon2 computation (a hash or a verification) took on its thread."
    );
    metrics::describe_gauge!(
        DB_CONNECTIONS,
        "Database connections of this replica's pool: in_use, idle, and max (the pool's limit)."
    );
    metrics::describe_gauge!(
        WEBSOCKET_CONNECTIONS,
        "Open WebSocket connections (GraphQL subscriptions at /graphql/ws)."
    );
    metrics::describe_counter!(
        WEBHOOK_DELIVERIES,
        "Webhook delivery attempts, by outcome: delivered (2xx), retrying (failed, tried again \
         later), failed (failed and given up)."
    );
    metrics::describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label is the running keyward's."
    );
}

/// A request answered over HTTP. `route` is the matched route template (or
/// `unmatched`), never the path as sent.
pub fn http_request(route: &str, method: &Method, status: StatusCode, elapsed: Duration) {
    // Its labels are built per request: not at all without a recorder.
    if !exporter::is_installed() {
        return;
    }
    let method = method_label(method);
    let route = route.to_owned();
    metrics::counter!(HTTP_REQUESTS,
        "route" => route.clone(), "method" => method, "status" => status.as_str().to_owned())
    .increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION, "route" => route, "method" => method)
        .record(elapsed.as_secs_f64());
}

/// The methods HTTP defines; anything else (a client may send any token,
/// and `/verify` answers every method) is counted as `OTHER`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// Where a request's credentials were presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthEndpoint {
    /// `/graphql` (GraphiQL and POST).
    Graphql,
    /// `/projects/{projectId}/graphql`.
    ProjectGraphql,
    /// `/graphql/ws`, on the upgrade or in `connection_init`.
    Websocket,
    /// `/verify`.
    Verify,
    /// `/projects/{projectId}/verify`.
    ProjectVerify,
    /// Any other route.
    Other,
}

impl AuthEndpoint {
    /// The endpoint of a route template.
    pub fn of_route(route: &str) -> Self {
        match route {
            "/graphql" => Self::Graphql,
            "/graphql/ws" => Self::Websocket,
            "/verify" | "/verify/{*rest}" => Self::Verify,
            _ if route.starts_with("/projects/") && route.contains("/verify") => {
                Self::ProjectVerify
            }
            _ if route.starts_with("/projects/") && route.ends_with("/graphql") => {
                Self::ProjectGraphql
            }
            _ => Self::Other,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Graphql => "graphql",
            Self::ProjectGraphql => "project_graphql",
            Self::Websocket => "websocket",
            Self::Verify => "verify",
            Self::ProjectVerify => "project_verify",
            Self::Other => "other",
        }
    }
}

/// How an authentication ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Access control is off: everyone is let in.
    Open,
    /// Credentials verified before, admitted from memory.
    Cached,
    /// Credentials verified before an auth epoch change, confirmed against
    /// the database without argon2.
    Rechecked,
    /// argon2 ran and the secret matched.
    Verified,
    /// No, malformed, wrong, unknown, inactive or expired credentials.
    Refused,
    /// Too many failures: refused before any check.
    Throttled,
    /// The check could not be made (the database is unavailable).
    Error,
}

impl AuthOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Cached => "cached",
            Self::Rechecked => "rechecked",
            Self::Verified => "verified",
            Self::Refused => "refused",
            Self::Throttled => "throttled",
            Self::Error => "error",
        }
    }
}

/// One authentication of a request.
pub fn auth_attempt(endpoint: AuthEndpoint, outcome: AuthOutcome) {
    metrics::counter!(AUTH_ATTEMPTS, "endpoint" => endpoint.label(), "outcome" => outcome.label())
        .increment(1);
}

/// Counts an argon2 computation as in flight until the guard is dropped
/// (done, or its caller gone).
pub fn argon2_in_flight() -> InFlight {
    metrics::gauge!(ARGON2_IN_FLIGHT).increment(1.0);
    InFlight(())
}

/// See [`argon2_in_flight`].
#[must_use]
pub struct InFlight(());

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(ARGON2_IN_FLIGHT).decrement(1.0);
    }
}

/// One argon2 computation, timed on its thread.
pub fn argon2_duration(elapsed: Duration) {
    metrics::histogram!(ARGON2_DURATION).record(elapsed.as_secs_f64());
}

/// How a webhook delivery attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    Retrying,
    Failed,
}

/// One webhook delivery attempt.
pub fn webhook_delivery(outcome: DeliveryOutcome) {
    let outcome = match outcome {
        DeliveryOutcome::Delivered => "delivered",
        DeliveryOutcome::Retrying => "retrying",
        DeliveryOutcome::Failed => "failed",
    };
    metrics::counter!(WEBHOOK_DELIVERIES, "outcome" => outcome).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_maps_to_its_endpoint() {
        for (route, endpoint) in [
            ("/graphql", AuthEndpoint::Graphql),
            ("/graphql/ws", AuthEndpoint::Websocket),
            ("/verify", AuthEndpoint::Verify),
            ("/verify/{*rest}", AuthEndpoint::Verify),
            (
                "/projects/{project_id}/graphql",
                AuthEndpoint::ProjectGraphql,
            ),
            ("/projects/{project_id}/verify", AuthEndpoint::ProjectVerify),
            (
                "/projects/{project_id}/verify/{*rest}",
                AuthEndpoint::ProjectVerify,
            ),
            ("/", AuthEndpoint::Other),
        ] {
            assert_eq!(AuthEndpoint::of_route(route), endpoint, "{route}");
        }
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let custom = Method::from_bytes(b"PURGE").expect("a method token");
        assert_eq!(method_label(&custom), "OTHER");
        assert_eq!(method_label(&Method::POST), "POST");
    }
}
