//! Background work every replica does while it serves: forwarding the audit
//! events other replicas commit, holding this replica's lease and listening
//! for revocations (PostgreSQL), recording keys that reach their
//! expiry, and pruning audit events past their retention.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::expiry_warnings::ExpiryWarnings;
use crate::store::Store;

/// How often expired keys are looked for: KEY_EXPIRED events lag the expiry
/// itself (which is enforced at the exact second) by at most this much.
const EXPIRY_SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// How often old audit events are pruned.
const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// The running tasks; dropping this does not stop them, [`Tasks::stop`] does.
pub struct Tasks {
    store: Store,
    handles: Vec<JoinHandle<()>>,
}

impl Tasks {
    pub fn start(
        store: &Store,
        audit_retention: chrono::Duration,
        expiry_warnings: ExpiryWarnings,
    ) -> Self {
        let forwarder = {
            let store = store.clone();
            tokio::spawn(async move { store.forward_notifications().await })
        };
        let lease = {
            let store = store.clone();
            tokio::spawn(async move { store.hold_lease().await })
        };
        let revocations = {
            let store = store.clone();
            tokio::spawn(async move { store.listen_for_revocations().await })
        };
        let expiry = {
            let store = store.clone();
            every(EXPIRY_SWEEP_INTERVAL, move || {
                let store = store.clone();
                let expiry_warnings = expiry_warnings.clone();
                async move {
                    match store.record_expiries().await {
                        Ok(0) => {}
                        Ok(recorded) => tracing::info!(recorded, "expired keys recorded"),
                        Err(err) => tracing::warn!(error = ?err, "expiry sweep failed"),
                    }
                    match store
                        .record_expiry_warnings(expiry_warnings.thresholds())
                        .await
                    {
                        Ok(0) => {}
                        Ok(recorded) => tracing::info!(recorded, "expiry warnings recorded"),
                        Err(err) => tracing::warn!(error = ?err, "expiry warning sweep failed"),
                    }
                }
            })
        };
        let retention = {
            let store = store.clone();
            every(RETENTION_INTERVAL, move || {
                let store = store.clone();
                async move {
                    match store.prune_audit_events(audit_retention).await {
                        Ok(0) => {}
                        Ok(pruned) => tracing::info!(pruned, "old audit events pruned"),
                        Err(err) => tracing::warn!(error = ?err, "audit retention failed"),
                    }
                    // Sessions past their lifetime are refused anyway; their
                    // rows go with the same sweep.
                    match store.prune_sessions().await {
                        Ok(0) => {}
                        Ok(pruned) => tracing::debug!(pruned, "ended sessions pruned"),
                        Err(err) => tracing::warn!(error = ?err, "session pruning failed"),
                    }
                    // Sign-ins that never came back from their provider.
                    match store.prune_oidc_sign_ins(crate::store::now()).await {
                        Ok(0) => {}
                        Ok(pruned) => tracing::debug!(pruned, "abandoned sign-ins pruned"),
                        Err(err) => tracing::warn!(error = ?err, "sign-in pruning failed"),
                    }
                }
            })
        };
        Self {
            store: store.clone(),
            handles: vec![forwarder, lease, revocations, expiry, retention],
        }
    }

    /// Stops the tasks, then gives up this replica's lease.
    pub async fn stop(self) {
        for task in self.handles {
            task.abort();
            let _ = task.await;
        }
        self.store.release_lease().await;
    }
}

/// Runs `work` now and then every `period`, one run at a time.
fn every<F, Fut>(period: Duration, work: F) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            work().await;
        }
    })
}
