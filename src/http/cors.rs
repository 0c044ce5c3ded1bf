//! CORS for the API (`--cors-origin`): what scripts on other origins may
//! call, and the preflights that ask.
//!
//! tower-http's [`CorsLayer`] answers every `OPTIONS` itself, with 200 and
//! no `Allow`, whether or not it is a preflight. Wrapped around the whole
//! router, that gave a plain `OPTIONS` (no `Origin`, no
//! `Access-Control-Request-Method`) another answer than without the flag,
//! and answered `OPTIONS /verify` with 200 without looking at credentials:
//! a proxy sending the original method to `/verify` (Envoy's `ext_authz`)
//! let every unauthenticated `OPTIONS` through. So the layer here wraps only
//! the API routes (the GraphQL endpoints), and there answers only real
//! preflights; every other `OPTIONS` reaches the route, which answers it as
//! it does without the flag.

use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Method, Request, Response};
use futures::future::Either;
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};

/// CORS for the allowed origins; `None` without any, so browsers on other
/// origins cannot call the API. Origins that are not valid header values
/// are skipped with a warning.
pub(super) fn api_cors(origins: &[String], request_id: &'static str) -> Option<ApiCors> {
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
    Some(ApiCors(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
            // Scripts on allowed origins may read how long to wait after a
            // 429 and the id to quote when reporting a request.
            .expose_headers([header::RETRY_AFTER, HeaderName::from_static(request_id)])
            .max_age(Duration::from_secs(600)),
    ))
}

/// A preflight, as browsers send it: `OPTIONS` with both `Origin` and
/// `Access-Control-Request-Method`. Anything else is an ordinary request.
fn is_preflight<B>(request: &Request<B>) -> bool {
    request.method() == Method::OPTIONS
        && request.headers().contains_key(header::ORIGIN)
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// [`CorsLayer`] for the routes scripts call: preflights are answered by
/// CORS, other requests get CORS headers on the route's own answer, and an
/// `OPTIONS` that is not a preflight goes to the route untouched.
#[derive(Clone)]
pub(super) struct ApiCors(CorsLayer);

impl<S: Clone> Layer<S> for ApiCors {
    type Service = ApiCorsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApiCorsService {
            cors: self.0.layer(inner.clone()),
            plain: inner,
        }
    }
}

#[derive(Clone)]
pub(super) struct ApiCorsService<S> {
    cors: Cors<S>,
    plain: S,
}

impl<S, B, R> Service<Request<B>> for ApiCorsService<S>
where
    S: Service<Request<B>, Response = Response<R>> + Clone,
    R: Default,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Either<<Cors<S> as Service<Request<B>>>::Future, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Either may take the request: both must be ready.
        match self.cors.poll_ready(cx)? {
            Poll::Ready(()) => self.plain.poll_ready(cx),
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if request.method() == Method::OPTIONS && !is_preflight(&request) {
            Either::Right(self.plain.call(request))
        } else {
            Either::Left(self.cors.call(request))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, headers: &[(HeaderName, &str)]) -> Request<()> {
        let mut request = Request::builder().method(method);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        request.body(()).expect("a request")
    }

    #[test]
    fn only_options_with_origin_and_a_requested_method_is_a_preflight() {
        let origin = (header::ORIGIN, "https://a.example");
        let asked = (header::ACCESS_CONTROL_REQUEST_METHOD, "POST");
        assert!(is_preflight(&request(
            Method::OPTIONS,
            &[origin.clone(), asked.clone()]
        )));
        assert!(!is_preflight(&request(Method::OPTIONS, &[])));
        assert!(!is_preflight(&request(
            Method::OPTIONS,
            std::slice::from_ref(&origin)
        )));
        assert!(!is_preflight(&request(
            Method::OPTIONS,
            std::slice::from_ref(&asked)
        )));
        assert!(!is_preflight(&request(Method::POST, &[origin, asked])));
    }
}
