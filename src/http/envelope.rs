//! What every request goes through on its way to a route, as one layer: its
//! span, the request timeout, statement counting, the Basic challenge kept
//! from scripts and sessions, and, once answered, its log line and metrics
//! (`observe`).
//!
//! These were six `from_fn` middlewares, each boxing the rest of the stack
//! and its future per request; together they cost more than a `/verify`
//! itself. Here they are one service with one future, which boxes nothing:
//! what each does is unchanged, and each still lives in its own module
//! (`observe`, `deadline`, `session`, `store::statements`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::extract::Request;
use axum::http::Method;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::instrument::Instrumented;

use super::REQUEST_ID;
use super::deadline::PointOfNoReturn;
use super::observe::{self, Observation};
use crate::error::Error;
use crate::store::{CountingStatements, counting_statements};

/// The envelope around every route (see the module's documentation).
#[derive(Clone, Copy, Debug)]
pub struct EnvelopeLayer {
    /// `--request-timeout-ms`.
    pub request_timeout: Duration,
}

impl<S> Layer<S> for EnvelopeLayer {
    type Service = Envelope<S>;

    fn layer(&self, inner: S) -> Envelope<S> {
        Envelope {
            inner,
            request_timeout: self.request_timeout,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Envelope<S> {
    inner: S,
    request_timeout: Duration,
}

impl<S> Service<Request> for Envelope<S>
where
    S: Service<Request, Response = Response, Error = std::convert::Infallible>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = Enveloped<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let observation = Observation::default();
        let point = PointOfNoReturn::default();
        request.extensions_mut().insert(observation.clone());
        request.extensions_mut().insert(point.clone());
        // Each request's span records its method, path and request id: never
        // headers or the query string, so credentials cannot reach the log
        // through it. Its fields are read only when the span is enabled (the
        // macro evaluates them behind its level check).
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            path = %request.uri().path(),
            request_id = request
                .headers()
                .get(REQUEST_ID)
                .and_then(|id| id.to_str().ok()),
        );
        let facts = Facts {
            started,
            method: request.method().clone(),
            // Kept as the header (a reference count), read only if the line
            // is logged.
            request_id: request.headers().get(REQUEST_ID).cloned(),
            quiet: super::session::no_basic_challenge(request.headers()),
            observation,
        };
        let inner = counting_statements(self.inner.call(request)).instrument(span);
        Enveloped {
            inner,
            deadline: tokio::time::sleep_until(started + self.request_timeout),
            limit: self.request_timeout,
            point,
            overtime: false,
            facts: Some(facts),
        }
    }
}

/// What the log line and the answer's headers need, taken from the request.
struct Facts {
    started: Instant,
    method: Method,
    request_id: Option<HeaderValue>,
    /// The answer must not carry a Basic challenge (see `session`).
    quiet: bool,
    observation: Observation,
}

impl Facts {
    fn finish(self, mut response: Response) -> Response {
        if self.quiet {
            response.headers_mut().remove(header::WWW_AUTHENTICATE);
        }
        observe::record(
            &self.observation,
            &self.method,
            self.request_id.as_ref(),
            self.started.elapsed(),
            response.status(),
        );
        response
    }
}

pin_project_lite::pin_project! {
    /// A request's future inside the envelope.
    pub struct Enveloped<F> {
        #[pin]
        inner: Instrumented<CountingStatements<F>>,
        #[pin]
        deadline: Sleep,
        limit: Duration,
        point: PointOfNoReturn,
        // The deadline passed after the point of no return (logged once).
        overtime: bool,
        facts: Option<Facts>,
    }
}

impl<F> Future for Enveloped<F>
where
    F: Future<Output = Result<Response, std::convert::Infallible>>,
{
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let response = match this.inner.as_mut().poll(cx) {
            Poll::Ready(Ok(response)) => response,
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => {
                if *this.overtime {
                    return Poll::Pending;
                }
                ready!(this.deadline.as_mut().poll(cx));
                // Once a mutation runs, it runs to completion and its result
                // is the answer (see `deadline`).
                if this.point.passed() {
                    *this.overtime = true;
                    tracing::warn!(
                        limit = ?this.limit,
                        "a mutation outlived the request timeout; answering when it is done"
                    );
                    return Poll::Pending;
                }
                Error::Timeout { limit: *this.limit }.into_response()
            }
        };
        match this.facts.take() {
            Some(facts) => Poll::Ready(Ok(facts.finish(response))),
            // Polled after it answered: a caller's mistake, answered as one.
            None => Poll::Ready(Ok(
                Error::internal("a request polled after its answer").into_response()
            )),
        }
    }
}
