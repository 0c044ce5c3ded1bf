//! Counts not yet written: one entry per key and minute used since the
//! last write, sharded by key so that requests for different keys rarely
//! wait for each other's lock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::{Client, Counted, Outcome, truncated_user_agent};
use crate::store::{ClientSeen, RECENT_CLIENTS, UsageCounts, UsageDelta};

const SHARDS: usize = 16;
/// [`SHARDS`], to take a key id's remainder by.
const SHARDS_I64: i64 = 16;
/// Distinct access keys whose throttled requests wait for their key to be
/// looked up; past it, further ones in the interval are not counted (they
/// are only names sent by clients, which may be made up).
const MAX_THROTTLED_NAMES: usize = 10_000;
/// Entries a batch that could not be written may put back; past it, the
/// counts of a database away for long are dropped rather than growing
/// memory without end.
const MAX_RESTORED: usize = 1_000_000;

#[derive(Debug)]
pub(super) struct Pending {
    shards: [Mutex<Shard>; SHARDS],
    throttled: Mutex<HashMap<(String, i64), i64>>,
}

impl Default for Pending {
    fn default() -> Self {
        Self {
            shards: std::array::from_fn(|_| Mutex::default()),
            throttled: Mutex::default(),
        }
    }
}

#[derive(Debug, Default)]
struct Shard {
    /// (key, minute) → (project, counts).
    counts: HashMap<(i64, i64), (i64, UsageCounts)>,
    /// key → its most recent client addresses in the interval.
    clients: HashMap<i64, Vec<Seen>>,
}

#[derive(Debug)]
struct Seen {
    address: IpAddr,
    user_agent: String,
    at: DateTime<Utc>,
}

/// What was counted in an interval, ready to be written.
#[derive(Debug, Default)]
pub struct Batch {
    pub deltas: Vec<UsageDelta>,
    pub clients: Vec<ClientSeen>,
    /// (access key, minute) → throttled authentications naming it.
    pub throttled: HashMap<(String, i64), i64>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.deltas.is_empty() && self.clients.is_empty() && self.throttled.is_empty()
    }
}

impl Pending {
    fn shard(&self, key_id: i64) -> std::sync::MutexGuard<'_, Shard> {
        let index = usize::try_from(key_id.rem_euclid(SHARDS_I64)).unwrap_or_default();
        // A poisoned lock only means a panic mid-update: counts stay usable.
        self.shards[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn add(
        &self,
        key_id: i64,
        project_id: i64,
        minute: i64,
        outcome: Outcome,
        client: Option<Client<'_>>,
        now: DateTime<Utc>,
    ) {
        let mut shard = self.shard(key_id);
        let counts = &mut shard
            .counts
            .entry((key_id, minute))
            .or_insert((project_id, UsageCounts::default()))
            .1;
        match outcome {
            Outcome::Accepted => counts.accepted += 1,
            Outcome::Refused => counts.refused += 1,
            Outcome::Forbidden => counts.forbidden += 1,
            Outcome::Throttled => counts.throttled += 1,
        }
        if let Some(client) = client {
            note_client(shard.clients.entry(key_id).or_default(), client, now);
        }
    }

    pub(super) fn forbid(&self, counted: Counted) {
        let mut shard = self.shard(counted.key_id);
        let counts = &mut shard
            .counts
            .entry((counted.key_id, counted.minute))
            .or_insert((counted.project_id, UsageCounts::default()))
            .1;
        // Written already, the accepted count is taken back from its row.
        counts.accepted -= 1;
        counts.forbidden += 1;
    }

    pub(super) fn throttled(&self, access_key: &str, minute: i64) {
        let mut throttled = self.throttled.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = throttled.get_mut(&(access_key.to_owned(), minute)) {
            *count += 1;
        } else if throttled.len() < MAX_THROTTLED_NAMES {
            throttled.insert((access_key.to_owned(), minute), 1);
        }
    }

    pub(super) fn take(&self) -> Batch {
        let mut batch = Batch::default();
        for shard in &self.shards {
            let taken = std::mem::take(&mut *shard.lock().unwrap_or_else(|e| e.into_inner()));
            batch.deltas.extend(taken.counts.into_iter().map(
                |((key_id, minute), (project_id, counts))| UsageDelta {
                    key_id,
                    project_id,
                    minute,
                    counts,
                },
            ));
            batch
                .clients
                .extend(taken.clients.into_iter().flat_map(|(key_id, seen)| {
                    seen.into_iter().map(move |seen| ClientSeen {
                        key_id,
                        address: seen.address.to_string(),
                        user_agent: seen.user_agent,
                        last_seen_at: seen.at,
                    })
                }));
        }
        batch.throttled =
            std::mem::take(&mut *self.throttled.lock().unwrap_or_else(|e| e.into_inner()));
        batch
    }

    pub(super) fn restore(&self, batch: Batch) {
        for delta in batch.deltas {
            let mut shard = self.shard(delta.key_id);
            if shard.counts.len() * SHARDS >= MAX_RESTORED {
                tracing::warn!("usage counts dropped: the database has been unavailable for long");
                return;
            }
            shard
                .counts
                .entry((delta.key_id, delta.minute))
                .or_insert((delta.project_id, UsageCounts::default()))
                .1
                .add(delta.counts);
        }
        let mut throttled = self.throttled.lock().unwrap_or_else(|e| e.into_inner());
        for (name, count) in batch.throttled {
            if throttled.len() < MAX_THROTTLED_NAMES || throttled.contains_key(&name) {
                *throttled.entry(name).or_default() += count;
            }
        }
        // Clients are a hint: the next use of the key notes them again.
    }
}

/// Notes `client` among a key's recent clients: its address moves to now
/// (with the user agent it sent this time); a new address takes the place
/// of the oldest once there are enough.
fn note_client(seen: &mut Vec<Seen>, client: Client<'_>, now: DateTime<Utc>) {
    let user_agent = truncated_user_agent(client.user_agent.unwrap_or_default());
    if let Some(known) = seen.iter_mut().find(|seen| seen.address == client.address) {
        known.at = now;
        if known.user_agent != user_agent {
            user_agent.clone_into(&mut known.user_agent);
        }
        return;
    }
    let entry = Seen {
        address: client.address,
        user_agent: user_agent.to_owned(),
        at: now,
    };
    if seen.len() < usize::try_from(RECENT_CLIENTS).unwrap_or(usize::MAX) {
        seen.push(entry);
    } else if let Some(oldest) = seen.iter_mut().min_by_key(|seen| seen.at) {
        *oldest = entry;
    }
}
