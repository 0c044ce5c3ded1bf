//! The audit event as keyward publishes it: one shape, built once from the
//! stored row, which the GraphQL `AuditEvent` type wraps and the webhook
//! payload serializes. A field added here reaches both; a field left out of
//! here reaches neither.
//!
//! Ids are global (as GraphQL names them) and the names of actions, outcomes,
//! actor kinds and roles are the GraphQL enum values. Nothing secret is in an
//! event to begin with: the store never writes one.

use std::fmt::Display;

use chrono::{DateTime, Utc};
use sea_orm::ActiveEnum;
use serde::{Serialize, Serializer};

use crate::ids::GlobalId;
use crate::scopes::Scopes;
use crate::store::{ActorKind, AuditAction, AuditOutcome, Role, audit_event};

/// The published fields of an audit event, in the webhook payload under
/// their GraphQL names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(serialize_with = "display")]
    pub id: GlobalId,
    #[serde(serialize_with = "enum_name")]
    pub action: AuditAction,
    #[serde(serialize_with = "enum_name")]
    pub outcome: AuditOutcome,
    /// RFC 3339, UTC, to the microsecond (what the store keeps).
    #[serde(serialize_with = "micros")]
    pub at: DateTime<Utc>,
    #[serde(serialize_with = "enum_name")]
    pub actor_kind: ActorKind,
    #[serde(serialize_with = "display_opt")]
    pub actor_key_id: Option<GlobalId>,
    pub actor_access_key: Option<String>,
    #[serde(serialize_with = "role_name")]
    pub actor_role: Option<Role>,
    /// The acting person (ADMIN and USER actors).
    #[serde(serialize_with = "display_opt")]
    pub actor_user_id: Option<GlobalId>,
    pub actor_username: Option<String>,
    /// Null for server-wide events; it decides who may read the event.
    #[serde(serialize_with = "display_opt")]
    pub project_id: Option<GlobalId>,
    #[serde(serialize_with = "display_opt")]
    pub target_key_id: Option<GlobalId>,
    pub target_access_key: Option<String>,
    /// Sorted, as the key holds them.
    pub target_scopes: Option<Vec<String>>,
    pub client_address: Option<String>,
    #[serde(serialize_with = "display_opt")]
    pub new_key_id: Option<GlobalId>,
    /// The person acted on (user and membership actions).
    #[serde(serialize_with = "display_opt")]
    pub target_user_id: Option<GlobalId>,
    pub target_username: Option<String>,
    pub target_provider: Option<String>,
    pub target_group: Option<String>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
}

impl From<audit_event::Model> for Event {
    fn from(row: audit_event::Model) -> Self {
        let key = |id: Option<i64>| id.map(GlobalId::api_key);
        Self {
            id: GlobalId::audit_event(row.id),
            action: row.action,
            outcome: row.outcome,
            at: row.at,
            actor_kind: row.actor_kind,
            actor_key_id: key(row.actor_key_id),
            actor_access_key: row.actor_access_key,
            actor_role: row.actor_role,
            actor_user_id: row.actor_user_id.map(GlobalId::user),
            actor_username: row.actor_username,
            project_id: row.project_id.map(GlobalId::project),
            target_key_id: key(row.target_key_id),
            target_access_key: row.target_access_key,
            target_scopes: row
                .target_scopes
                .as_deref()
                .map(|stored| Scopes::from_stored(stored).as_slice().to_vec()),
            client_address: row.client_address,
            new_key_id: key(row.new_key_id),
            target_user_id: row.target_user_id.map(GlobalId::user),
            target_username: row.target_username,
            target_provider: row.target_provider,
            target_group: row.target_group,
            reason: row.reason,
            request_id: row.request_id,
        }
    }
}

fn display<S: Serializer>(value: &impl Display, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

fn display_opt<S: Serializer>(
    value: &Option<impl Display>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.collect_str(value),
        None => serializer.serialize_none(),
    }
}

fn enum_name<S: Serializer>(
    value: &impl ActiveEnum<Value = String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&value.to_value())
}

fn micros<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

fn role_name<S: Serializer>(role: &Option<Role>, serializer: S) -> Result<S::Ok, S::Error> {
    match role {
        Some(role) => serializer.serialize_str(role.as_str()),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    /// The webhook payload's `data`: every field under its GraphQL name,
    /// ids global, names as the GraphQL enums spell them, `at` to the
    /// microsecond. Receivers parse these names: they must not drift.
    #[test]
    fn an_event_is_published_under_its_graphql_names() {
        let at = Utc
            .with_ymd_and_hms(2024, 5, 6, 7, 8, 9)
            .single()
            .expect("a valid instant")
            + chrono::TimeDelta::microseconds(123_456);
        let row = audit_event::Model {
            id: 7,
            at,
            action: AuditAction::KeyRotated,
            outcome: AuditOutcome::Succeeded,
            actor_kind: ActorKind::ApiKey,
            actor_key_id: Some(3),
            actor_access_key: Some("AKIDACTOR".into()),
            actor_role: Some(Role::ReadOnly),
            project_id: Some(2),
            target_key_id: Some(4),
            target_access_key: Some("AKIDTARGET".into()),
            target_scopes: Some("deploy read:logs".into()),
            client_address: Some("192.0.2.1".into()),
            request_id: Some("req-1".into()),
            reason: Some("why".into()),
            new_key_id: Some(5),
            actor_user_id: None,
            actor_username: None,
            target_user_id: Some(8),
            target_username: Some("ada".into()),
            target_provider: Some("corp".into()),
            target_group: Some("platform".into()),
        };
        let key = |id| GlobalId::api_key(id).to_string();
        assert_eq!(
            serde_json::to_value(Event::from(row)).expect("serializable"),
            json!({
                "id": GlobalId::audit_event(7).to_string(),
                "action": "KEY_ROTATED",
                "outcome": "SUCCEEDED",
                "at": "2024-05-06T07:08:09.123456Z",
                "actorKind": "API_KEY",
                "actorKeyId": key(3),
                "actorAccessKey": "AKIDACTOR",
                "actorRole": "READ_ONLY",
                "projectId": GlobalId::project(2).to_string(),
                "targetKeyId": key(4),
                "targetAccessKey": "AKIDTARGET",
                "targetScopes": ["deploy", "read:logs"],
                "clientAddress": "192.0.2.1",
                "newKeyId": key(5),
                "actorUserId": null,
                "actorUsername": null,
                "targetUserId": GlobalId::user(8).to_string(),
                "targetUsername": "ada",
                "targetProvider": "corp",
                "targetGroup": "platform",
                "reason": "why",
                "requestId": "req-1",
            })
        );
    }
}
