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

/// How often an open connection's credentials are re-checked even without
/// an event: notifications can be lost (a PostgreSQL listener reconnecting,
/// a subscriber lagging) and a re-check can fail on a database error. One
/// primary-key read per connection per period; a full re-check only when the
/// auth epoch moved.
const RECHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15);

/// Resolves once `principal` is no longer valid: its key deactivated,
/// deleted, expired or moved out with its project; access control turned on
/// (anonymous callers) or off (people and keys); a person disabled,
/// deleted, given a new password, signed out, or changed in their
/// administrator flag or memberships (the socket closes, and the client
/// reconnects with what it may now do).
///
/// It subscribes to the feed before its first check, so nothing committed
/// after that check can be missed; the check itself covers everything
/// committed before (for instance between the upgrade request and
/// `connection_init`).
pub async fn until_revoked(store: &Store, principal: &Principal) {
    let mut events = store.subscribe_events();
    let mut expiry = principal.key().and_then(|key| key.expires_at);
    let mut checked_epoch = match check(store, principal).await {
        Check::Revoked => return,
        Check::Valid { epoch, expires_at } => {
            expiry = expires_at;
            Some(epoch)
        }
        Check::Unknown => None,
    };
    let mut ticks = tokio::time::interval(RECHECK_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        let recheck = tokio::select! {
            event = events.recv() => match &event {
                Ok(event) => may_revoke(principal, event),
                // Missed events may have revoked it: look.
                Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => return,
            },
            () = sleep_until(expiry) => return,
            _ = ticks.tick() => match (checked_epoch, store.settings().await) {
                (Some(checked), Ok(settings)) => settings.auth_epoch != checked,
                _ => true,
            },
        };
        if recheck {
            checked_epoch = match check(store, principal).await {
                Check::Revoked => return,
                // A rotation may have brought the key's expiry forward.
                Check::Valid { epoch, expires_at } => {
                    expiry = expires_at;
                    Some(epoch)
                }
                // Try again at the next tick.
                Check::Unknown => None,
            };
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
        AuditAction::AdminPasswordReset
        | AuditAction::UserUpdated
        | AuditAction::UserDisabled
        | AuditAction::UserDeleted
        | AuditAction::UserPasswordReset
        | AuditAction::PasswordChanged
        | AuditAction::UserSignedOutEverywhere
        | AuditAction::MemberAdded
        | AuditAction::MemberRoleChanged
        | AuditAction::MemberRemoved => principal
            .person()
            .is_some_and(|person| event.target_user_id == Some(person.user_id)),
        AuditAction::KeyDeactivated
        | AuditAction::KeyDeleted
        | AuditAction::KeyExpired
        | AuditAction::KeyRotated => key.is_some_and(|key| event.target_key_id == Some(key.key_id)),
        AuditAction::ProjectDeleted => {
            key.is_some_and(|key| event.project_id == Some(key.project_id))
        }
        _ => false,
    }
}

/// What a re-check found.
enum Check {
    Revoked,
    /// Still valid as of this auth epoch, until `expires_at` at the latest.
    Valid {
        epoch: i64,
        expires_at: Option<chrono::DateTime<Utc>>,
    },
    /// The database could not be asked. An outage must not drop every
    /// subscriber, so the connection stays, and is checked again soon.
    Unknown,
}

/// Whether `principal` would still be let in, exactly as it was: a person
/// read again must come out the same (state, credential, administrator
/// flag, memberships).
async fn check(store: &Store, principal: &Principal) -> Check {
    // From the database, not the replica's memory of it: the event that
    // prompted this check travels on another channel than the auth state's
    // update, and may arrive first.
    let settings = match store.read_settings().await {
        Ok(settings) => settings,
        Err(err) => {
            tracing::warn!(error = ?err, "cannot re-check a subscriber's credentials");
            return Check::Unknown;
        }
    };
    let mut expires_at = None;
    let valid = match principal {
        Principal::Anonymous => !settings.access_control_enabled,
        Principal::Person(_) if !settings.access_control_enabled => false,
        Principal::Person(person) => match super::reload_person(store, person).await {
            Ok(current) => current.as_ref() == Some(person),
            Err(err) => {
                tracing::warn!(error = ?err, "cannot re-check a subscriber's account");
                return Check::Unknown;
            }
        },
        // With access control off everyone is anonymous; the key's view
        // would be too narrow.
        Principal::ApiKey(_) if !settings.access_control_enabled => false,
        Principal::ApiKey(key) => match store.key(key.key_id).await {
            Ok(row) => row.is_some_and(|row| {
                expires_at = row.expires_at;
                row.state == KeyState::Active
                    && row.project_id == key.project_id
                    && !row.expired_at(now())
            }),
            Err(err) => {
                tracing::warn!(error = ?err, "cannot re-check a subscriber's key");
                return Check::Unknown;
            }
        },
    };
    if valid {
        Check::Valid {
            epoch: settings.auth_epoch,
            expires_at,
        }
    } else {
        Check::Revoked
    }
}
