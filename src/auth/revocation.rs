//! Noticing, while a WebSocket connection stays open, that its credentials
//! stopped being valid.
//!
//! HTTP requests are authenticated one by one, so revocation holds from the
//! next request. A WebSocket is authenticated once, when it opens; these
//! functions watch the audit feed for changes that may revoke its caller
//! (and the clock, for a key's expiry) and re-check the caller against the
//! database when one happens.

use chrono::Utc;
use tokio::sync::broadcast::error::RecvError;

use super::Principal;
use crate::store::{AuditAction, AuditOutcome, KeyState, Store, audit_event, now};

/// Resolves once `principal` is no longer valid: its key deactivated,
/// deleted, expired or moved out with its project, or access control turned
/// on (anonymous callers) or off (the admin).
pub async fn until_revoked(store: &Store, principal: &Principal) {
    let mut events = store.subscribe_events();
    let expiry = principal.key().and_then(|key| key.expires_at);
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            () = sleep_until(expiry) => return,
        };
        let recheck = match &event {
            Ok(event) => may_revoke(principal, event),
            // Missed events may have revoked it: look.
            Err(RecvError::Lagged(_)) => true,
            Err(RecvError::Closed) => return,
        };
        if recheck && !still_valid(store, principal).await {
            return;
        }
    }
}

async fn sleep_until(at: Option<chrono::DateTime<Utc>>) {
    match at {
        Some(at) => {
            let left = (at - now()).to_std().unwrap_or_default();
            tokio::time::sleep(left).await;
        }
        None => std::future::pending().await,
    }
}

/// Whether `event` may have revoked `principal`.
fn may_revoke(principal: &Principal, event: &audit_event::Model) -> bool {
    if event.outcome != AuditOutcome::Succeeded {
        return false;
    }
    let key = principal.key();
    match event.action {
        AuditAction::AccessControlEnabled | AuditAction::AccessControlDisabled => true,
        AuditAction::KeyDeactivated | AuditAction::KeyDeleted | AuditAction::KeyExpired => {
            key.is_some_and(|key| event.target_key_id == Some(key.key_id))
        }
        AuditAction::ProjectDeleted => {
            key.is_some_and(|key| event.project_id == Some(key.project_id))
        }
        _ => false,
    }
}

/// Whether `principal` would still be let in. A database error counts as
/// valid: an outage must not drop every subscriber (the next change that
/// may revoke is checked again).
async fn still_valid(store: &Store, principal: &Principal) -> bool {
    let settings = match store.settings().await {
        Ok(settings) => settings,
        Err(err) => {
            tracing::warn!(error = ?err, "cannot re-check a subscriber's credentials");
            return true;
        }
    };
    match principal {
        Principal::Anonymous => !settings.access_control_enabled,
        Principal::Admin => settings.access_control_enabled,
        Principal::ApiKey(key) => {
            if !settings.access_control_enabled {
                // Everyone is anonymous now; the key's view would be too narrow.
                return false;
            }
            match store.key(key.key_id).await {
                Ok(row) => row.is_some_and(|row| {
                    row.state == KeyState::Active
                        && row.project_id == key.project_id
                        && !row.expired_at(now())
                }),
                Err(err) => {
                    tracing::warn!(error = ?err, "cannot re-check a subscriber's key");
                    true
                }
            }
        }
    }
}
