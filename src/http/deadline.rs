//! The request timeout, which never hides a committed change.
//!
//! A request that runs past `--request-timeout-ms` is answered with 408 and
//! a GraphQL-shaped body (`TIMEOUT`), and its handler is dropped — unless it
//! has passed its point of no return: once a mutation starts executing, it
//! runs to completion and its result is the answer, however long that takes
//! (each of its few fields is bounded by the database's timeouts and one
//! argon2 run). Cancelling it instead could leave changes committed that no
//! answer reports: keys created whose secrets nobody received.

//!
//! The deadline itself is kept by the request's envelope (`envelope`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by a handler when its request may no longer be cancelled.
#[derive(Clone, Default)]
pub struct PointOfNoReturn(Arc<AtomicBool>);

impl PointOfNoReturn {
    /// From now on the request finishes, whatever the deadline.
    pub fn pass(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub(super) fn passed(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}
