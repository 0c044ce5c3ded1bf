//! The time usage counting reads: the system's, or one a test sets.
//!
//! Only usage buckets and their pruning read it (see `usage`), so that a
//! test can cross minute, hour and day boundaries, and outlive retention,
//! without waiting; everything else reads the system clock.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

/// A clock. Cheap to clone; clones of a manual clock share its time.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system's clock.
    #[default]
    System,
    /// A time that moves only when set: for tests.
    Manual(Arc<Mutex<DateTime<Utc>>>),
}

impl Clock {
    /// A clock standing at `at` until set or advanced.
    pub fn manual(at: DateTime<Utc>) -> Self {
        Self::Manual(Arc::new(Mutex::new(at)))
    }

    /// The time now.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Self::System => Utc::now(),
            // A poisoned lock still holds a valid time.
            Self::Manual(at) => *at.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Sets a manual clock to `to` (a system clock is left alone).
    pub fn set(&self, to: DateTime<Utc>) {
        if let Self::Manual(at) = self {
            *at.lock().unwrap_or_else(|e| e.into_inner()) = to;
        }
    }

    /// Moves a manual clock on by `by` (a system clock is left alone).
    pub fn advance(&self, by: chrono::Duration) {
        if let Self::Manual(at) = self {
            let mut at = at.lock().unwrap_or_else(|e| e.into_inner());
            *at += by;
        }
    }
}
