//! `lastUsedAt`, written off the request path.
//!
//! Authentication calls [`LastUsed::record`], which never waits: it notes the
//! use in memory and hands it to a background task that writes batches. A
//! key's first use reaches the database within [`FLUSH_INTERVAL`]; later uses
//! are written at most once per [`REFRESH_INTERVAL`] per key, so a busy key
//! costs one UPDATE a minute, not one per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::store::{Store, now};

const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
const REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// Uses waiting to be written; past this, uses are dropped (and retried on the
/// key's next use) rather than letting memory grow.
const QUEUE_CAPACITY: usize = 4096;
/// Above this many remembered keys, entries older than the refresh interval
/// are forgotten.
const MAX_REMEMBERED: usize = 100_000;

/// Handle for recording key uses. Cheap to clone.
#[derive(Clone)]
pub struct LastUsed {
    sender: mpsc::Sender<(i64, DateTime<Utc>)>,
    /// When each key's use was last queued.
    queued: Arc<Mutex<HashMap<i64, Instant>>>,
}

impl LastUsed {
    /// Starts the writer task. It ends, after writing what is queued, once
    /// every handle has been dropped.
    pub fn start(store: Store) -> (Self, JoinHandle<()>) {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let task = tokio::spawn(write_batches(store, receiver));
        let handle = Self {
            sender,
            queued: Arc::default(),
        };
        (handle, task)
    }

    /// Notes that key `id` authenticated just now.
    pub fn record(&self, id: i64) {
        let now_instant = Instant::now();
        // A poisoned lock only means another thread panicked mid-insert; the
        // map is still a valid cache of hints.
        let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = queued.get(&id)
            && now_instant.duration_since(*at) < REFRESH_INTERVAL
        {
            return;
        }
        if queued.len() >= MAX_REMEMBERED {
            queued.retain(|_, at| now_instant.duration_since(*at) < REFRESH_INTERVAL);
        }
        if self.sender.try_send((id, now())).is_ok() {
            queued.insert(id, now_instant);
        }
    }
}

async fn write_batches(store: Store, mut receiver: mpsc::Receiver<(i64, DateTime<Utc>)>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = HashMap::from([first]);
        let deadline = tokio::time::sleep(FLUSH_INTERVAL);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => break,
                next = receiver.recv() => match next {
                    Some((id, at)) => { batch.insert(id, at); }
                    None => break,
                },
            }
        }
        let uses: Vec<_> = batch.into_iter().collect();
        if let Err(err) = store.touch_keys(&uses).await {
            tracing::warn!(error = %err, keys = uses.len(), "could not record key use");
        }
    }
}
