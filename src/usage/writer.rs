//! The background task that writes what [`Usage`] counted: every
//! [`FLUSH_INTERVAL`] (the cadence of the `lastUsedAt` writes), and once
//! more when the server stops. A process killed outright loses at most the
//! counts of the interval under way.
//!
//! It also prunes buckets past their retention: at start-up and whenever
//! the usage clock has moved on by [`PRUNE_EVERY`] since.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Batch, Usage};
use crate::store::{Store, UsageCounts, UsageDelta, UsageRetention};

/// How often counts are written: the most a kill -9 loses.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// How often, by the usage clock, expired buckets are pruned.
const PRUNE_EVERY: chrono::Duration = chrono::Duration::hours(1);

/// What the writer needs besides the store.
#[derive(Clone, Copy, Debug)]
pub struct WriterOptions {
    pub retention: UsageRetention,
}

/// The running writer; [`UsageWriter::stop`] writes what is left.
#[derive(Debug)]
pub struct UsageWriter {
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl UsageWriter {
    /// Starts writing `usage`'s counts (nothing to do if it counts nothing).
    pub fn start(store: Store, usage: Usage, options: WriterOptions) -> Self {
        let stop = CancellationToken::new();
        let task = usage
            .is_counting()
            .then(|| tokio::spawn(run(store, usage, options, stop.clone())));
        Self { stop, task }
    }

    /// Writes what was counted since the last write, then ends. Called once
    /// no request runs any more, so nothing counted is left behind.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Some(task) = self.task
            && let Err(err) = task.await
        {
            tracing::error!(error = %err, "the usage writer failed");
        }
    }
}

async fn run(store: Store, usage: Usage, options: WriterOptions, stop: CancellationToken) {
    let mut last_pruned: Option<DateTime<Utc>> = None;
    let mut ticks = tokio::time::interval(FLUSH_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            _ = ticks.tick() => false,
            () = stop.cancelled() => true,
        };
        flush(&store, &usage).await;
        if stopping {
            return;
        }
        let now = usage
            .clock()
            .map_or_else(Utc::now, crate::clock::Clock::now);
        if last_pruned.is_none_or(|at| now - at >= PRUNE_EVERY) {
            match store.prune_usage(now, options.retention).await {
                Ok(pruned) if pruned > 0 => tracing::debug!(pruned, "usage buckets pruned"),
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "could not prune usage buckets"),
            }
            last_pruned = Some(now);
        }
    }
}

/// Writes one batch; a batch that fails is put back for the next try.
async fn flush(store: &Store, usage: &Usage) {
    let mut batch = usage.take();
    if batch.is_empty() {
        return;
    }
    if let Err(err) = resolve_throttled(store, &mut batch).await {
        tracing::warn!(error = %err, "could not look up throttled keys; retrying");
        usage.restore(batch);
        return;
    }
    if let Err(err) = store.add_usage(&batch.deltas, &batch.clients).await {
        tracing::warn!(error = %err, keys = batch.deltas.len(), "could not record usage; retrying");
        usage.restore(batch);
    }
}

/// Turns throttled requests counted by access key into their keys' deltas
/// (names that are no key are dropped).
async fn resolve_throttled(store: &Store, batch: &mut Batch) -> Result<(), crate::error::Error> {
    if batch.throttled.is_empty() {
        return Ok(());
    }
    let mut names: Vec<String> = batch
        .throttled
        .keys()
        .map(|(name, _)| name.clone())
        .collect();
    names.sort_unstable();
    names.dedup();
    let keys: HashMap<String, (i64, i64)> = store
        .keys_by_access_keys(&names)
        .await?
        .into_iter()
        .map(|(name, id, project)| (name, (id, project)))
        .collect();
    for ((name, minute), count) in std::mem::take(&mut batch.throttled) {
        if let Some((key_id, project_id)) = keys.get(&name) {
            batch.deltas.push(UsageDelta {
                key_id: *key_id,
                project_id: *project_id,
                minute,
                counts: UsageCounts {
                    throttled: count,
                    ..UsageCounts::default()
                },
            });
        }
    }
    Ok(())
}
