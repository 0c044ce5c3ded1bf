//! Project rows in memory, as exact as the auth state they hang off.
//!
//! A project endpoint (and `viewer { project }`) needs its project's row on
//! every request; reading it was most of such a request's cost once the auth
//! state moved into memory. A remembered row is used only while the auth
//! state is trusted (see [`super::auth_state`]) *and* still at the auth epoch
//! in which the row was read. Every change to a project's row bumps the auth
//! epoch in its own transaction (renaming and describing it too, not only
//! deleting it), so a request that starts after such a change returned sees
//! a later epoch on every replica, and reads the row again.
//!
//! What is not remembered: a project's key counts, which change with every
//! key created, deactivated or deleted without bumping the epoch. A row from
//! memory comes without them ([`KnownProject::counts`] is `None`), and
//! `totalCount` reads them when asked for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::Store;
use super::entity::project;
use super::keys::KeyCounts;
use crate::error::Error;

/// Projects remembered at most; past it, rows of other epochs go first, then
/// all of them (they are one read each to get back).
const CAPACITY: usize = 10_000;

/// A project's row as a request sees it.
#[derive(Clone, Debug)]
pub struct KnownProject {
    row: Arc<project::Model>,
    /// Read with the row just now; `None` when the row came from memory.
    counts: Option<KeyCounts>,
}

impl KnownProject {
    /// A row just read: its key counts are current.
    pub fn read(row: project::Model) -> Self {
        Self {
            counts: Some(KeyCounts::from(&row)),
            row: Arc::new(row),
        }
    }

    pub fn row(&self) -> &project::Model {
        &self.row
    }

    /// The key counts, when read with the row.
    pub fn counts(&self) -> Option<KeyCounts> {
        self.counts
    }
}

#[derive(Debug, Default)]
pub(crate) struct ProjectMemory {
    /// Project id → (the auth epoch it was read in, its row).
    rows: Mutex<HashMap<i64, (i64, Arc<project::Model>)>>,
}

impl ProjectMemory {
    fn get(&self, id: i64, epoch: i64) -> Option<Arc<project::Model>> {
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        rows.get(&id)
            .filter(|(read_in, _)| *read_in == epoch)
            .map(|(_, row)| Arc::clone(row))
    }

    fn put(&self, epoch: i64, row: Arc<project::Model>) {
        let mut rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        if rows.len() >= CAPACITY && !rows.contains_key(&row.id) {
            rows.retain(|_, (read_in, _)| *read_in == epoch);
            if rows.len() >= CAPACITY {
                rows.clear();
            }
        }
        rows.insert(row.id, (epoch, row));
    }
}

impl Store {
    /// Project `id` for a request: from memory where that is exact (see the
    /// module's documentation), else read (and remembered).
    pub async fn known_project(&self, id: i64) -> Result<Option<KnownProject>, Error> {
        // The epoch is taken before the row is read: a row remembered under
        // an epoch was read no earlier than that epoch was current.
        let Some(epoch) = self.trusted_auth_epoch() else {
            return Ok(self.project(id).await?.map(KnownProject::read));
        };
        if let Some(row) = self.projects_known.get(id, epoch) {
            return Ok(Some(KnownProject { row, counts: None }));
        }
        let Some(read) = self.project(id).await?.map(KnownProject::read) else {
            return Ok(None);
        };
        self.projects_known.put(epoch, Arc::clone(&read.row));
        Ok(Some(read))
    }
}
