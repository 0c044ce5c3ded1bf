//! GraphQL over HTTP: the POST endpoints (`/graphql` and each project's
//! `/projects/{id}/graphql`) and GraphiQL on GET, as the GraphQL-over-HTTP
//! specification says. In order: the response type is negotiated from
//! `Accept` (406 if neither type is acceptable), the body must be JSON with a
//! string `query` (415 / 400 otherwise), then the request runs.
//!
//! With `application/graphql-response+json`, a request error (syntax,
//! validation, unknown operation, bad variables: nothing was executed) is a
//! 400 and has no `data`; a response whose execution started is a 200, with
//! `data` (null when a non-null root field failed, or the execution as a
//! whole, as a panicked mutation does). The executor says which of the two a
//! response is ([`Executed::started`]). With `application/json` every
//! well-formed request is a 200, and a request error has no `data` either.

use std::collections::HashMap;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Response as HttpResponse, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::deadline::PointOfNoReturn;
use super::negotiation::{self, ResponseType};
use super::{AppState, Caller, MAX_BODY_BYTES, ProjectScope, assets};
use crate::error::{Error, ErrorCode, error_body};
use crate::graphql::Executed;

pub async fn graphql_root(
    State(app): State<AppState>,
    caller: Caller,
    point: Option<Extension<PointOfNoReturn>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    execute(&app, caller, None, point, &headers, body).await
}

pub async fn graphql_project(
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
    let Some(media) = negotiation::negotiate(headers) else {
        return rejection(
            StatusCode::NOT_ACCEPTABLE,
            "GraphQL responses are sent as application/graphql-response+json or \
             application/json: accept one of them",
            ResponseType::Json,
        );
    };
    let point = point.map(|Extension(point)| point).unwrap_or_default();
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let message = too_large(headers);
            return self::rejection(StatusCode::PAYLOAD_TOO_LARGE, &message, media);
        }
        Err(rejection) => {
            let message = format!("cannot read the body: {}", rejection.body_text());
            return self::rejection(rejection.status(), &message, media);
        }
    };
    let request = match parse_request(headers, &body) {
        Ok(request) => request,
        Err((status, message)) => return rejection(status, &message, media),
    };
    let schema = app.schemas.for_caller(&caller.principal);
    let context = caller.context(scope);
    // Past the start of a mutation, neither the request timeout (see
    // `deadline`) nor the client going away stops it.
    let executed = crate::graphql::execute(schema, request.data(context), || point.pass()).await;
    graphql_response(&executed, media)
}

/// The HTTP response for a GraphQL response, as `media`: a request error
/// (execution did not start) has no `data`, an execution that started
/// always has it (`null` at worst).
fn graphql_response(executed: &Executed, media: ResponseType) -> Response {
    let response = &executed.response;
    let request_error = !executed.started;
    let body = if request_error {
        let mut body = serde_json::json!({ "errors": response.errors });
        if !response.extensions.is_empty() {
            body["extensions"] = serde_json::json!(response.extensions);
        }
        serde_json::to_vec(&body)
    } else {
        serde_json::to_vec(response)
    };
    let status = match media {
        // A failure of keyward's own before execution (a panic in
        // validation) is no fault of the request's.
        ResponseType::GraphqlResponseJson if request_error && has_code(response, "INTERNAL") => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        ResponseType::GraphqlResponseJson if request_error => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    match body {
        Ok(body) => json_response(status, body, media),
        Err(err) => Error::internal(err).into_response(),
    }
}

fn has_code(response: &async_graphql::Response, code: &str) -> bool {
    response.errors.iter().any(|error| {
        error
            .extensions
            .as_ref()
            .and_then(|extensions| extensions.get("code"))
            .is_some_and(|value| *value == async_graphql::Value::from(code))
    })
}

fn json_response(status: StatusCode, body: Vec<u8>, media: ResponseType) -> Response {
    let mut response = HttpResponse::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.content_type()),
    );
    // Responses may carry a one-time secret key; no cache may keep them.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Why a body over [`MAX_BODY_BYTES`] is refused: the limit, and the body's
/// size when `Content-Length` says it (a chunked body is not read to its
/// end to measure it).
fn too_large(headers: &HeaderMap) -> String {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    match length {
        Some(length) => {
            format!("the body is {length} bytes, longer than the limit of {MAX_BODY_BYTES} bytes")
        }
        None => format!("the body is longer than the limit of {MAX_BODY_BYTES} bytes"),
    }
}

/// The JSON body of a GraphQL-over-HTTP POST. `query` is optional here only
/// so that its absence gets a message of its own.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestBody {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<async_graphql::Variables>,
    extensions: Option<HashMap<String, async_graphql::Value>>,
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
    let body: RequestBody = serde_json::from_slice(body).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("the body is not a GraphQL request: {e}"),
        )
    })?;
    let Some(query) = body.query else {
        return Err((
            StatusCode::BAD_REQUEST,
            r#"the body has no "query": send {"query": "…", "variables": {…}}"#.into(),
        ));
    };
    // The executor's limits hold it too (they are all that hold a
    // WebSocket's); here it gets a 400 whatever the response type.
    crate::graphql::limits::check_size(&query)
        .map_err(|refused| (StatusCode::BAD_REQUEST, refused.message))?;
    let mut request = async_graphql::Request::new(query);
    if let Some(name) = body.operation_name {
        request = request.operation_name(name);
    }
    if let Some(variables) = body.variables {
        request = request.variables(variables);
    }
    request.extensions = async_graphql::Extensions(body.extensions.unwrap_or_default());
    Ok(request)
}

/// An error answered before GraphQL runs, as `media`.
fn rejection(status: StatusCode, message: &str, media: ResponseType) -> Response {
    let body = error_body(message, ErrorCode::BadUserInput);
    match serde_json::to_vec(&body) {
        Ok(body) => json_response(status, body, media),
        Err(err) => Error::internal(err).into_response(),
    }
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
///
/// A GET that does not ask for HTML is a GraphQL request over GET, which
/// keyward does not run (the specification allows that): 405.
pub async fn graphiql(State(app): State<AppState>, mut parts: Parts) -> Result<Response, Error> {
    let headers = &parts.headers;
    if !negotiation::names_html(headers) {
        let media = negotiation::negotiate(headers).unwrap_or(ResponseType::Json);
        let mut response = rejection(
            StatusCode::METHOD_NOT_ALLOWED,
            "send GraphQL requests with POST; GET serves GraphiQL to browsers",
            media,
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(super::GRAPHQL));
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

#[cfg(test)]
mod tests {
    use async_graphql::{Pos, Response, ServerError};
    use axum::http::StatusCode;

    use super::{ResponseType, graphql_response};
    use crate::graphql::Executed;

    /// One error without a path, as a panicked execution or a request error
    /// has.
    fn failed(code: &str, started: bool) -> Executed {
        let mut error = ServerError::new("it failed", Some(Pos::default()));
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
        Executed {
            response: Response::from_errors(vec![error]),
            started,
        }
    }

    async fn answer(executed: &Executed, media: ResponseType) -> (StatusCode, serde_json::Value) {
        let response = graphql_response(executed, media);
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        (status, serde_json::from_slice(&body).expect("JSON"))
    }

    /// Whether execution started decides, not whether errors have paths: an
    /// execution that failed as a whole (a panicked mutation) has `data:
    /// null` and a 200; a request error has no `data`, and a 4xx (5xx for a
    /// failure of keyward's own) with the specification's type.
    #[tokio::test]
    async fn data_and_status_follow_whether_execution_started() {
        use ResponseType::{GraphqlResponseJson as New, Json as Legacy};
        let cases = [
            (failed("INTERNAL", true), New, StatusCode::OK, true),
            (failed("INTERNAL", true), Legacy, StatusCode::OK, true),
            (
                failed("BAD_USER_INPUT", false),
                New,
                StatusCode::BAD_REQUEST,
                false,
            ),
            (
                failed("BAD_USER_INPUT", false),
                Legacy,
                StatusCode::OK,
                false,
            ),
            (
                failed("INTERNAL", false),
                New,
                StatusCode::INTERNAL_SERVER_ERROR,
                false,
            ),
            (failed("INTERNAL", false), Legacy, StatusCode::OK, false),
        ];
        for (executed, media, status, has_data) in cases {
            let (got, body) = answer(&executed, media).await;
            let what = format!("started: {}, {media:?}", executed.started);
            assert_eq!(got, status, "{what}: {body}");
            assert_eq!(body.get("data").is_some(), has_data, "{what}: {body}");
            if has_data {
                assert_eq!(body["data"], serde_json::Value::Null, "{what}: {body}");
            }
            assert_eq!(body["errors"][0]["message"], "it failed", "{what}: {body}");
        }
    }
}
