//! The request timeout, which never hides a committed change.
//!
//! A request that runs past `--request-timeout-ms` is answered with 408 and
//! a GraphQL-shaped body (`TIMEOUT`), and its handler is dropped — unless it
//! has passed its point of no return: once a mutation starts executing, it
//! runs to completion and its result is the answer, however long that takes
//! (each of its few fields is bounded by the database's timeouts and one
//! argon2 run). Cancelling it instead could leave changes committed that no
//! answer reports: keys created whose secrets nobody received.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::Error;

/// Set by a handler when its request may no longer be cancelled.
#[derive(Clone, Default)]
pub struct PointOfNoReturn(Arc<AtomicBool>);

impl PointOfNoReturn {
    /// From now on the request finishes, whatever the deadline.
    pub fn pass(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn passed(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Middleware: answers `TIMEOUT` once `limit` has passed, unless the
/// handler has passed its point of no return.
pub async fn deadline(State(limit): State<Duration>, mut request: Request, next: Next) -> Response {
    let point = PointOfNoReturn::default();
    request.extensions_mut().insert(point.clone());
    let response = next.run(request);
    tokio::pin!(response);
    match tokio::time::timeout(limit, &mut response).await {
        Ok(response) => response,
        Err(_) if point.passed() => {
            tracing::warn!(
                ?limit,
                "a mutation outlived the request timeout; answering when it is done"
            );
            response.await
        }
        Err(_) => Error::Timeout { limit }.into_response(),
    }
}
