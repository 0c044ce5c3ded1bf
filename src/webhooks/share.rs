//! Each project's share of the delivery worker's attempt slots.
//!
//! An attempt may hold a slot for the client's whole timeout (10 s by
//! default), and a project owner chooses the receivers: without a share, one
//! project's receivers that never answer could hold every slot, and every
//! other project's deliveries would wait behind them. So the worker counts
//! the attempts in flight per project and claims none for a project at its
//! share ([`crate::store::Store::claim_deliveries`] skips it); a stalled
//! project slows only itself.
//!
//! The count is the replica's own: each replica's worker has its own slots,
//! so a project holds at most its share of each replica's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The attempts in flight, per project, on this replica.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    counts: Arc<Mutex<HashMap<i64, usize>>>,
}

impl InFlight {
    /// How many attempts each project has in flight now (projects with none
    /// left out).
    pub fn snapshot(&self) -> HashMap<i64, usize> {
        self.lock().clone()
    }

    /// Counts an attempt of `project_id` until the returned guard is
    /// dropped: when the attempt ends, whether it finishes, panics or is
    /// aborted with the worker.
    pub fn start(&self, project_id: i64) -> Attempting {
        *self.lock().entry(project_id).or_default() += 1;
        Attempting {
            in_flight: self.clone(),
            project_id,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, usize>> {
        // The map is only ever changed by whole increments and decrements:
        // a panic elsewhere cannot leave it half-written.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One attempt counted in its project's share; see [`InFlight::start`].
#[derive(Debug)]
pub struct Attempting {
    in_flight: InFlight,
    project_id: i64,
}

impl Drop for Attempting {
    fn drop(&mut self) {
        let mut counts = self.in_flight.lock();
        if let Some(count) = counts.get_mut(&self.project_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.project_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_counts_until_it_ends_however_it_ends() {
        let in_flight = InFlight::default();
        let first = in_flight.start(1);
        let second = in_flight.start(1);
        let other = in_flight.start(2);
        assert_eq!(in_flight.snapshot(), HashMap::from([(1, 2), (2, 1)]));
        drop(first);
        assert_eq!(in_flight.snapshot(), HashMap::from([(1, 1), (2, 1)]));
        // A panicking attempt still gives its slot back.
        let panicked = std::panic::catch_unwind(move || {
            let _held = second;
            panic!("the attempt failed");
        });
        assert!(panicked.is_err());
        drop(other);
        assert!(in_flight.snapshot().is_empty());
    }
}
