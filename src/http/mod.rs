//! HTTP: routes, request handling around the GraphQL schema, tower layers,
//! and the accept loop.

mod assets;
mod caller;
mod deadline;
mod server;
mod verify;
mod websocket;

pub use caller::{Caller, ProjectScope, RequestOrigin};
pub use server::{ConnectionLimits, serve};

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use tokio::sync::Semaphore;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::Authenticator;
use crate::config::Limits;
use crate::error::{Error, ErrorCode, error_body};
use crate::graphql::Schemas;
use crate::store::Store;
use deadline::PointOfNoReturn;

/// Largest request body accepted (a GraphQL document plus variables).
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Header carrying each request's id, in requests and responses.
const REQUEST_ID: &str = "x-request-id";
/// Longest GraphQL document accepted, in bytes.
const MAX_QUERY_BYTES: usize = 32 * 1024;
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
    pub store: Store,
    pub public_url: Option<String>,
    pub listen: SocketAddr,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<[IpAddr]>,
    /// Origins besides the server's own whose pages may use the API
    /// (`--cors-origin`), WebSocket subscriptions included.
    pub allowed_origins: Arc<[String]>,
    /// Open WebSocket connections, capped like connections are.
    pub websocket_slots: Arc<Semaphore>,
    /// Cancelled when the server stops: open WebSockets are then closed.
    pub shutdown: tokio_util::sync::CancellationToken,
}

pub fn router(state: AppState, limits: &Limits) -> Router {
    let router = Router::new()
        .route("/", get(console))
        .route("/assets/{version}/{*path}", get(assets::asset))
        .route("/graphql", post(graphql_root).get(graphiql))
        .route("/graphql/ws", get(websocket::graphql_ws))
        .route(
            "/projects/{project_id}/graphql",
            post(graphql_project).get(graphiql),
        )
        .route("/verify", any(verify::verify))
        .route("/verify/{*rest}", any(verify::verify))
        .route("/projects/{project_id}/verify", any(verify::verify_project))
        .route(
            "/projects/{project_id}/verify/{*rest}",
            any(verify::verify_project),
        )
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(count_statements))
        .layer(axum::middleware::from_fn_with_state(
            Duration::from_millis(limits.request_timeout_ms),
            deadline::deadline,
        ))
        // Each request's span records its method, path and request id: never
        // headers or the query string, so credentials cannot reach the log
        // through it.
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        // Outermost: every response, errors included, carries the id its log
        // lines have. An id set by a proxy in front is kept.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            untrusted_request_ids,
        ))
        .with_state(state);
    match cors(&limits.cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// Counts the statements each request runs (see `store::counting_statements`).
async fn count_statements(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    crate::store::counting_statements(next.run(request)).await
}

/// Longest request id kept from a proxy.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Drops an incoming `x-request-id` unless a trusted proxy sent it and it is
/// short printable ASCII, so that the id in the audit trail and the logs is
/// either ours or the proxy's, never one a client chose (to forge or reuse
/// another request's).
async fn untrusted_request_ids(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let keep = app.trusted_proxies.contains(&peer.ip())
        && request.headers().get(REQUEST_ID).is_some_and(|id| {
            id.len() <= MAX_REQUEST_ID_LEN && id.as_bytes().iter().all(u8::is_ascii_graphic)
        });
    if !keep {
        request.headers_mut().remove(REQUEST_ID);
    }
    next.run(request).await
}

fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let request_id = caller::request_id(request.headers()).unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id,
    )
}

/// CORS for the allowed origins; none by default, so browsers on other
/// origins cannot call the API. Origins that are not valid header values
/// are skipped with a warning.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(
            |origin| match HeaderValue::from_str(origin.trim_end_matches('/')) {
                Ok(value) => Some(value),
                Err(_) => {
                    tracing::warn!(%origin, "ignoring invalid --cors-origin");
                    None
                }
            },
        )
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .max_age(Duration::from_secs(600)),
    )
}

async fn graphql_root(
    State(app): State<AppState>,
    caller: Caller,
    point: Option<Extension<PointOfNoReturn>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    execute(&app, caller, None, point, &headers, body).await
}

async fn graphql_project(
    State(app): State<AppState>,
    caller: Caller,
    scope: ProjectScope,
    point: Option<Extension<PointOfNoReturn>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    execute(&app, caller, Some(scope), point, &headers, body).await
}

/// Runs one GraphQL request of an authenticated, scoped caller (the
/// extractors did both, authentication first).
async fn execute(
    app: &AppState,
    caller: Caller,
    scope: Option<ProjectScope>,
    point: Option<Extension<PointOfNoReturn>>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let point = point.map(|Extension(point)| point).unwrap_or_default();
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let message = format!("cannot read the body: {}", rejection.body_text());
            return self::rejection(rejection.status(), &message);
        }
    };
    let request = match parse_request(headers, &body) {
        Ok(request) => request,
        Err((status, message)) => return rejection(status, &message),
    };
    let schema = app.schemas.for_caller(&caller.principal);
    let context = caller.context(scope);
    // Past the start of a mutation, neither the request timeout (see
    // `deadline`) nor the client going away stops it.
    let response = crate::graphql::execute(schema, request.data(context), || point.pass()).await;
    let mut response = Json(response).into_response();
    // Responses may carry a one-time secret key; no cache may keep them.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Reads a GraphQL-over-HTTP JSON body. Requiring `application/json` also
/// keeps other sites from posting to the API from a browser without a CORS
/// preflight (a form can only send text/plain or form encodings).
fn parse_request(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<async_graphql::Request, (StatusCode, String)> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the GraphQL request as JSON with Content-Type: application/json".into(),
        ));
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err((
            StatusCode::BAD_REQUEST,
            "batched requests are not supported: send one operation per request".into(),
        ));
    }
    let request: async_graphql::Request = serde_json::from_slice(body).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("the body is not a GraphQL request: {e}"),
        )
    })?;
    if request.query.len() > MAX_QUERY_BYTES {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("the query is longer than {MAX_QUERY_BYTES} bytes"),
        ));
    }
    Ok(request)
}

fn rejection(status: StatusCode, message: &str) -> Response {
    (status, Json(error_body(message, ErrorCode::BadUserInput))).into_response()
}

/// The web console. A static page: everything it shows comes from API
/// requests made with the credentials signed in to it.
async fn console(headers: HeaderMap) -> Response {
    assets::page(assets::Page::Console, &headers)
}

/// GraphiQL, for browsers. With access control on, a browser arriving
/// without credentials gets the 401 and `WWW-Authenticate` that make it
/// prompt for a key; the page it then gets sends the credentials the
/// browser keeps for this site.
///
/// One exception: a navigation from one of this site's own pages (the
/// console's "View in API", `Sec-Fetch-Site: same-origin`) gets the page
/// without a prompt, because the page sends the credentials signed in to
/// the console itself. The page holds no data, so serving it reveals
/// nothing; every query it runs is authenticated like any other.
async fn graphiql(State(app): State<AppState>, mut parts: Parts) -> Result<Response, Error> {
    let headers = &parts.headers;
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if !wants_html {
        let mut response = rejection(
            StatusCode::METHOD_NOT_ALLOWED,
            "send GraphQL requests with POST; GET serves GraphiQL to browsers",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Ok(response);
    }
    let from_own_page = headers
        .get("sec-fetch-site")
        .is_some_and(|site| site == "same-origin");
    // Credentials that are sent are checked all the same.
    if !from_own_page || headers.contains_key(header::AUTHORIZATION) {
        Caller::from_request_parts(&mut parts, &app).await?;
        if parts.uri.path().starts_with("/projects/") {
            ProjectScope::from_request_parts(&mut parts, &app).await?;
        }
    }
    Ok(assets::page(assets::Page::GraphiQL, &parts.headers))
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

async fn not_found(method: Method) -> Response {
    let status = if method == Method::GET || method == Method::POST {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::METHOD_NOT_ALLOWED
    };
    (
        status,
        Json(error_body("no such route", ErrorCode::NotFound)),
    )
        .into_response()
}
