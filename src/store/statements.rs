//! Counting the statements requests send to the database: the cost the
//! in-memory auth state takes off the hot path, asserted by the tests.
//!
//! The HTTP layer runs each request inside [`counting_statements`]; SeaORM's
//! metric callback, which runs in the task that sent the statement, counts
//! it only there, so background work (lease renewals, `lastUsedAt` writes,
//! sweeps) is not counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

tokio::task_local! {
    static IN_REQUEST: ();
}

/// Statements run on behalf of requests, since the store was connected.
#[derive(Clone, Debug, Default)]
pub struct RequestStatements(Arc<AtomicU64>);

impl RequestStatements {
    pub(super) fn callback(&self) -> impl Fn(&sea_orm::metric::Info<'_>) + Send + Sync + 'static {
        let total = Arc::clone(&self.0);
        move |_| {
            if IN_REQUEST.try_with(|()| ()).is_ok() {
                total.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn total(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// `work` (a request), run so that its statements are counted.
pub type CountingStatements<F> = tokio::task::futures::TaskLocalFuture<(), F>;

/// Runs `work` (a request) so that its statements are counted.
pub fn counting_statements<F: Future>(work: F) -> CountingStatements<F> {
    IN_REQUEST.scope((), work)
}
