//! HTTP: routes, request handling around the GraphQL schema, tower layers,
//! and the accept loop.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use async_graphql::http::GraphiQLSource;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::uri::Authority;
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{Authenticator, Principal};
use crate::error::{Error, ErrorCode, error_body};
use crate::graphql::{KeywardSchema, RequestContext};
use crate::ids::{GlobalId, NodeKind};
use crate::store::{Store, project};

/// Largest request body accepted (a GraphQL document plus variables).
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Largest request head hyper buffers. Generous, so that an absurdly long
/// Authorization header still reaches the authenticator and gets the same 401
/// as any other malformed one rather than a bare connection error.
const MAX_HEAD_BYTES: usize = 8 * 1024 * 1024;
/// How long in-flight requests get to finish on shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Everything a handler needs.
#[derive(Clone)]
pub struct AppState {
    pub schema: KeywardSchema,
    pub auth: Authenticator,
    pub store: Store,
    pub public_url: Option<String>,
    pub listen: SocketAddr,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", post(graphql_root).get(graphiql_root))
        .route(
            "/projects/{project_id}/graphql",
            post(graphql_project).get(graphiql_project),
        )
        .route("/healthz", get(healthz))
        .fallback(not_found)
        // The default span records method and path only: never headers, so
        // credentials cannot reach the log through it.
        .layer(TraceLayer::new_for_http())
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .with_state(state)
}

async fn graphql_root(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    execute(&app, &headers, &body, None).await.into_response()
}

async fn graphql_project(
    State(app): State<AppState>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    execute(&app, &headers, &body, Some(&project_id))
        .await
        .into_response()
}

async fn graphiql_root(State(app): State<AppState>, headers: HeaderMap) -> Response {
    graphiql(&app, &headers, None).await.into_response()
}

async fn graphiql_project(
    State(app): State<AppState>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    graphiql(&app, &headers, Some(&project_id))
        .await
        .into_response()
}

/// Authenticates, scopes, then runs one GraphQL request. Authentication comes
/// first so that nothing, not even whether a project exists, is told to a
/// caller without valid credentials.
async fn execute(
    app: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    project: Option<&str>,
) -> Result<Response, Error> {
    let principal = app
        .auth
        .authenticate(headers.get(header::AUTHORIZATION))
        .await?;
    let scope = match project {
        Some(raw) => Some(app.project_scope(&principal, raw).await?),
        None => None,
    };
    let request = match parse_request(headers, body) {
        Ok(request) => request,
        Err((status, message)) => return Ok(rejection(status, &message)),
    };
    let context = RequestContext {
        principal,
        scope,
        base_url: app.base_url(headers),
    };
    let mut response = app.schema.execute(request.data(context)).await;
    response.errors.iter_mut().for_each(crate::error::annotate);
    let mut response = Json(response).into_response();
    // Responses may carry a one-time secret key; no cache may keep them.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
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
    serde_json::from_slice(body).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("the body is not a GraphQL request: {e}"),
        )
    })
}

fn rejection(status: StatusCode, message: &str) -> Response {
    (status, Json(error_body(message, ErrorCode::BadUserInput))).into_response()
}

/// GraphiQL, for browsers. With access control on, an unauthenticated browser
/// gets the 401 and `WWW-Authenticate` that make it prompt for a key.
async fn graphiql(
    app: &AppState,
    headers: &HeaderMap,
    project: Option<&str>,
) -> Result<Response, Error> {
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
    let principal = app
        .auth
        .authenticate(headers.get(header::AUTHORIZATION))
        .await?;
    let endpoint = match project {
        Some(raw) => {
            let project = app.project_scope(&principal, raw).await?;
            format!("/projects/{}/graphql", GlobalId::project(project.id))
        }
        None => "/graphql".to_owned(),
    };
    let page = GraphiQLSource::build()
        .endpoint(&endpoint)
        .title("keyward")
        .finish();
    Ok(Html(page).into_response())
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

impl AppState {
    /// The project of a `/projects/{id}/graphql` request: 404 if there is no
    /// such project, 403 if the caller is a key of another project.
    async fn project_scope(
        &self,
        principal: &Principal,
        raw_id: &str,
    ) -> Result<project::Model, Error> {
        let id = GlobalId::parse(raw_id)
            .filter(|gid| gid.kind == NodeKind::Project)
            .ok_or(Error::NotFound("project"))?;
        let project = self
            .store
            .project(id.id)
            .await?
            .ok_or(Error::NotFound("project"))?;
        if !principal.can_see(project.id) {
            return Err(Error::Forbidden(
                "these credentials belong to another project",
            ));
        }
        Ok(project)
    }

    /// Base URL of project endpoints: the configured public URL, else
    /// `http://` and the request's Host, else the listening address.
    fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        let host = headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<Authority>().ok())
            // An authority with userinfo ("user@host") is not a Host header.
            .filter(|authority| !authority.as_str().contains('@'));
        match host {
            Some(host) => format!("http://{host}"),
            None => format!("http://{}", self.listen),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish (up to a grace period).
///
/// A hand-written accept loop rather than `axum::serve`, because the latter
/// does not expose hyper's buffer limits (see [`MAX_HEAD_BYTES`]).
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().max_buf_size(MAX_HEAD_BYTES);
    builder
        .http2()
        .max_header_list_size(u32::try_from(MAX_HEAD_BYTES).unwrap_or(u32::MAX));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Typically out of file descriptors: back off, don't spin.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after the shutdown grace period were cut off");
    }
}
