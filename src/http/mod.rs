//! HTTP: routes, request handling around the GraphQL schema, and tower
//! layers. The accept loop is `listener`'s.

mod assets;
mod caller;
mod cors;
mod deadline;
mod envelope;
mod graphql;
mod negotiation;
mod observe;
mod oidc;
mod request_id;
mod return_to;
mod session;
mod verify;
mod websocket;

pub use caller::{Caller, Presented, ProjectScope, RequestOrigin};
pub use verify::KeyAnswers;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post};
use axum::{Json, Router};
use tower::ServiceBuilder;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};

use crate::auth::Authenticator;
use crate::config::Limits;
use crate::error::{ErrorCode, error_body};
use crate::graphql::Schemas;
use crate::listener::Slots;
use crate::store::{MigrationStatus, Store};

/// Largest request body accepted (a GraphQL document plus variables).
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Header carrying each request's id, in requests and responses.
const REQUEST_ID: &str = "x-request-id";
/// Everything a handler needs. axum clones the state for every extractor
/// and middleware of every request: one reference count, not one per field
/// (cloning field by field was about 8 % of a verified request's CPU).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl From<Shared> for AppState {
    fn from(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
    pub schemas: Schemas,
    pub auth: Authenticator,
    /// The OpenID Connect client of the configured identity providers,
    /// shared with GraphQL (which checks a provider's discovery document
    /// when it is configured, and forgets what was fetched when it changes).
    pub oidc: Arc<crate::auth::oidc::Oidc>,
    /// `--sign-in-return-hosts` and `--session-cookie-domain`.
    pub sign_in: crate::config::SignInOptions,
    pub store: Store,
    pub public_url: Option<String>,
    pub listen: SocketAddr,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<[IpAddr]>,
    /// Origins besides the server's own whose pages may use the API
    /// (`--cors-origin`), WebSocket subscriptions included.
    pub allowed_origins: Arc<[String]>,
    /// Open WebSocket connections, capped like connections are: in all,
    /// and per client address.
    pub websocket_slots: Slots,
    /// Cancelled when the server stops: open WebSockets are then closed.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The migration status `/readyz` last logged: the names are logged
    /// once per change, not once per probe.
    pub migrations_logged: std::sync::Mutex<Option<MigrationStatus>>,
    /// `/verify`'s answers to keys, rendered once per key.
    pub key_answers: KeyAnswers,
}

pub fn router(state: AppState, limits: &Limits) -> Router {
    // CORS is for the routes scripts on other origins call, and only there:
    // never `/verify`, whose answer a proxy acts on, whatever the method.
    let cors = cors::api_cors(&limits.cors_origins, REQUEST_ID);
    let api = |route: MethodRouter<AppState>| match &cors {
        Some(cors) => route.layer(cors.clone()),
        None => route,
    };
    let router = Router::new()
        .route("/", methods(get(console), PAGE))
        .route(
            "/assets/{version}/{*path}",
            methods(get(assets::asset), PAGE),
        )
        .route(
            "/graphql",
            api(methods(
                post(graphql::graphql_root).get(graphql::graphiql),
                GRAPHQL,
            )),
        )
        .route(
            "/graphql/ws",
            methods(get(websocket::graphql_ws).head(head_not_allowed), WEBSOCKET),
        )
        .route(
            "/projects/{project_id}/graphql",
            api(methods(
                post(graphql::graphql_project).get(graphql::graphiql),
                GRAPHQL,
            )),
        )
        .route("/verify", any(verify::verify))
        .route("/verify/{*rest}", any(verify::verify))
        .route("/projects/{project_id}/verify", any(verify::verify_project))
        .route(
            "/projects/{project_id}/verify/{*rest}",
            any(verify::verify_project),
        )
        .route("/auth/sign-out", methods(post(session::sign_out), POST))
        .route("/auth/session", methods(get(session::session), PAGE))
        .route(
            "/auth/sign-in",
            methods(get(oidc::sign_in_page).post(session::sign_in), SIGN_IN),
        )
        .route("/auth/providers", methods(get(oidc::providers), PAGE))
        .route("/auth/oidc/{name}/start", methods(get(oidc::start), PAGE))
        .route(
            "/auth/oidc/{name}/callback",
            methods(get(oidc::callback), PAGE),
        )
        .route("/healthz", methods(get(healthz), PAGE))
        .route("/livez", methods(get(livez), PAGE))
        .route("/readyz", methods(get(readyz), PAGE))
        .route_layer(tower::util::MapRequestLayer::new(observe::note_route))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    let trusted_proxies = Arc::clone(&state.trusted_proxies);
    router
        .layer(
            // Outermost first. Every layer here boxes nothing: the request
            // ids are tower-http's, the rest is one envelope (see
            // `envelope`: the span, the timeout, statement counting, the
            // Basic challenge, the log line and the metrics).
            ServiceBuilder::new()
                // An id a client chose is dropped before one is made.
                .map_request(move |request| request_id::admit(&trusted_proxies, request))
                .layer(SetRequestIdLayer::x_request_id(
                    request_id::RequestIds::new(),
                ))
                // Every response, errors included, carries the id its log
                // lines have. An id set by a proxy in front is kept.
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(envelope::EnvelopeLayer {
                    request_timeout: Duration::from_millis(limits.request_timeout_ms),
                }),
        )
        .with_state(state)
}

/// The web console. A static page: everything it shows comes from API
/// requests made with the credentials signed in to it.
async fn console(headers: HeaderMap) -> Response {
    assets::page(assets::Page::Console, &headers)
}

async fn healthz(State(app): State<AppState>) -> Response {
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "health check: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "database unavailable" })),
            )
                .into_response()
        }
    }
}

/// Liveness: the process answers. Nothing else is checked, so that an
/// orchestrator restarts keyward only when keyward itself is stuck, never
/// for a database outage (which a restart would not cure).
async fn livez() -> Response {
    (StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))).into_response()
}

/// Readiness: whether this replica should be sent traffic. The database
/// answers, its migrations are exactly this binary's, and on PostgreSQL the
/// replica holds its lease (it answers authentication from memory; without
/// the lease it is correct but reads the database on every request).
/// 503 with the reasons otherwise; they name no migration (the log does).
async fn readyz(State(app): State<AppState>) -> Response {
    let mut reasons = Vec::new();
    match app.store.ping().await {
        Err(err) => {
            tracing::warn!(error = %err, "readiness: database unavailable");
            reasons.push("the database does not answer".to_owned());
        }
        Ok(()) => match app.store.migration_status().await {
            Ok(status) => {
                log_migration_change(&app, &status);
                if status != MigrationStatus::Current {
                    reasons.push(status.without_names().to_owned());
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "readiness: cannot read the migrations");
                reasons.push("the database's migrations cannot be read".to_owned());
            }
        },
    }
    if app.store.is_leased() && !app.store.auth_state_trusted() {
        reasons.push("this replica does not hold its lease".to_owned());
    }
    if reasons.is_empty() {
        (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ready" })),
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "not ready", "reasons": reasons })),
        )
            .into_response()
    }
}

/// Logs the migrations' names when their status differs from the one last
/// logged: an orchestrator probing every second adds one line per change.
fn log_migration_change(app: &Shared, status: &MigrationStatus) {
    let mut logged = app
        .migrations_logged
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let before = logged.as_ref().unwrap_or(&MigrationStatus::Current);
    if before == status {
        return;
    }
    if *status == MigrationStatus::Current {
        tracing::info!("readiness: the database is at this keyward's migrations again");
    } else {
        tracing::warn!(
            "readiness: the database is {status}; {remedy}",
            remedy = status.remedy()
        );
    }
    *logged = Some(status.clone());
}

/// Any path no route has: 404 whatever the method (a 405 would claim the
/// resource exists).
async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(error_body("no such route", ErrorCode::NotFound)),
    )
        .into_response()
}

/// The methods of pages and probes (`/`, assets, `/healthz`, `/livez`,
/// `/readyz`).
const PAGE: &str = "GET, HEAD, OPTIONS";
/// The methods of the GraphQL endpoints: POST runs requests, GET (and HEAD)
/// serve GraphiQL.
const GRAPHQL: &str = "GET, HEAD, OPTIONS, POST";
/// The methods of the sign-out endpoint.
const POST: &str = "OPTIONS, POST";
/// The methods of `/auth/sign-in`: POST signs in, GET is where proxies
/// send browsers without a session.
const SIGN_IN: &str = "GET, HEAD, OPTIONS, POST";
/// The methods of the WebSocket endpoint: a HEAD cannot upgrade.
const WEBSOCKET: &str = "GET, OPTIONS";

/// `route` answering `OPTIONS` with 204 and `allow`, and every method it
/// does not serve with 405 and the same `allow`: one truthful `Allow` per
/// route, whichever way a client asks. (With `--cors-origin`, preflights to
/// the API routes never get here: [`cors::ApiCors`] answers them first.)
fn methods(route: MethodRouter<AppState>, allow: &'static str) -> MethodRouter<AppState> {
    let allowed = move || {
        let mut headers = HeaderMap::new();
        headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        headers
    };
    route
        .options(move || async move { (StatusCode::NO_CONTENT, allowed()) })
        .fallback(move |method: Method| async move {
            let message = format!("{method} is not allowed here; allowed: {allow}");
            (
                StatusCode::METHOD_NOT_ALLOWED,
                allowed(),
                Json(error_body(&message, ErrorCode::BadUserInput)),
            )
        })
}

/// Answers HEAD with 405 where GET cannot mean anything without a body to
/// drop (a WebSocket upgrade).
async fn head_not_allowed() -> Response {
    let mut response = (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(error_body(
            &format!("HEAD is not allowed here; allowed: {WEBSOCKET}"),
            ErrorCode::BadUserInput,
        )),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(WEBSOCKET));
    response
}
