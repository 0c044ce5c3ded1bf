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
/// administrator flag or memberships, their own or their groups' (the
/// socket closes, and the client
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
        // A group's membership is part of the rights of everyone in the
        // group: a role lowered or a group removed may take a project away,
        // a group added changes what they see.
        AuditAction::ProjectGroupAdded
        | AuditAction::ProjectGroupRoleChanged
        | AuditAction::ProjectGroupRemoved => principal.person().is_some_and(|person| {
            event
                .target_group
                .as_ref()
                .is_some_and(|group| person.groups.contains(group))
        }),
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
            Ok(current) => current.is_some_and(|current| current.same_rights(person)),
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::auth::{PersonCredential, PersonPrincipal};
    use crate::store::ActorKind;

    fn person(groups: &[&str]) -> Principal {
        Principal::Person(PersonPrincipal {
            user_id: 7,
            username: "ada".into(),
            administrator: false,
            memberships: Arc::new(BTreeMap::new()),
            groups: Arc::new(groups.iter().map(|group| (*group).to_owned()).collect()),
            via: PersonCredential::Password {
                hash: "unused".into(),
            },
        })
    }

    fn event(
        action: AuditAction,
        outcome: AuditOutcome,
        group: Option<&str>,
    ) -> audit_event::Model {
        audit_event::Model {
            id: 1,
            at: now(),
            action,
            outcome,
            actor_kind: ActorKind::System,
            actor_key_id: None,
            actor_access_key: None,
            actor_role: None,
            actor_user_id: None,
            actor_username: None,
            project_id: Some(1),
            target_key_id: None,
            target_access_key: None,
            target_scopes: None,
            client_address: None,
            request_id: None,
            reason: None,
            new_key_id: None,
            target_user_id: None,
            target_username: None,
            target_provider: None,
            target_group: group.map(str::to_owned),
        }
    }

    /// A group's membership changing concerns exactly the people in that
    /// group (as of their last sign-in); a refused change concerns nobody.
    #[test]
    fn group_membership_changes_recheck_the_people_in_the_group() {
        use AuditAction::*;
        use AuditOutcome::*;
        let cases = [
            // (their groups, action, outcome, event's group, rechecked)
            (
                &["ops"][..],
                ProjectGroupAdded,
                Succeeded,
                Some("ops"),
                true,
            ),
            (
                &["dev", "ops"],
                ProjectGroupRoleChanged,
                Succeeded,
                Some("ops"),
                true,
            ),
            (&["ops"], ProjectGroupRemoved, Succeeded, Some("ops"), true),
            (&["ops"], ProjectGroupRemoved, Succeeded, Some("dev"), false),
            (&["ops"], ProjectGroupRemoved, Succeeded, Some("Ops"), false),
            (&[], ProjectGroupRemoved, Succeeded, Some("ops"), false),
            (&["ops"], ProjectGroupRemoved, Succeeded, None, false),
            (&["ops"], ProjectGroupRemoved, Forbidden, Some("ops"), false),
        ];
        for (groups, action, outcome, group, expected) in cases {
            assert_eq!(
                may_revoke(&person(groups), &event(action, outcome, group)),
                expected,
                "{groups:?} {action:?} {outcome:?} {group:?}"
            );
        }
        let key = Principal::ApiKey(crate::auth::KeyPrincipal {
            key_id: 1,
            access_key: "AK".into(),
            project_id: 1,
            role: crate::store::Role::Owner,
            expires_at: None,
            scopes: crate::scopes::Scopes::default(),
        });
        assert!(!may_revoke(
            &key,
            &event(ProjectGroupRemoved, Succeeded, Some("ops"))
        ));
    }
}
