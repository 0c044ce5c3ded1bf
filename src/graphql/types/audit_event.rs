use std::collections::HashMap;

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::connection::{AuditEventConnection, Connection, PageArgs, wants_total_count};
use super::{ActorKind, AuditAction, AuditOutcome, Project, Role};
use crate::audit;
use crate::error::Error;
use crate::graphql::context::parts;
use crate::ids::{GlobalId, NodeKind};
use crate::store::{EventFilter, audit_event};

/// An audit event as published ([`crate::audit::Event`], the shape webhooks
/// send too), with its project (GraphQL description on the impl).
#[derive(Clone, Debug)]
pub struct AuditEvent {
    event: audit::Event,
    /// The event's project, when the caller already has it; `Some(None)`
    /// when it is known to be gone.
    project: Option<Option<Project>>,
}

impl From<audit_event::Model> for AuditEvent {
    fn from(row: audit_event::Model) -> Self {
        Self {
            event: row.into(),
            project: None,
        }
    }
}

impl AuditEvent {
    /// An event whose project (or its absence) the caller already looked up.
    pub fn with_project(row: audit_event::Model, project: Option<Project>) -> Self {
        Self {
            event: row.into(),
            project: Some(project),
        }
    }

    pub fn project_row_id(&self) -> Option<i64> {
        self.event.project_id.map(|id| id.id)
    }

    pub fn global_id(&self) -> GlobalId {
        self.event.id
    }
}

/// One entry of the audit trail: a mutation that succeeded or was refused,
/// or a key reaching its expiry. Written in the same transaction as the
/// change it records, so the trail never tells of a change that did not
/// happen, nor misses one that did. Secrets never appear here.
#[Object]
impl AuditEvent {
    /// Opaque global id of the event.
    pub async fn id(&self) -> ID {
        self.global_id().into()
    }

    /// When it happened.
    async fn at(&self) -> DateTime<Utc> {
        self.event.at
    }

    /// What was done, or attempted.
    async fn action(&self) -> AuditAction {
        self.event.action.into()
    }

    /// SUCCEEDED, or the code of the error that refused it.
    async fn outcome(&self) -> AuditOutcome {
        self.event.outcome.into()
    }

    /// Who acted.
    async fn actor_kind(&self) -> ActorKind {
        self.event.actor_kind.into()
    }

    /// Global id of the acting key (API_KEY actors); the key may have been
    /// deleted since.
    async fn actor_key_id(&self) -> Option<ID> {
        self.event.actor_key_id.map(Into::into)
    }

    /// Access key of the acting key (API_KEY actors).
    async fn actor_access_key(&self) -> Option<&str> {
        self.event.actor_access_key.as_deref()
    }

    /// Role the acting key had when it acted (API_KEY actors).
    async fn actor_role(&self) -> Option<Role> {
        self.event.actor_role.map(Into::into)
    }

    /// Global id of the acting person (ADMIN and USER actors); kept after
    /// they are deleted.
    async fn actor_user_id(&self) -> Option<ID> {
        self.event.actor_user_id.map(Into::into)
    }

    /// Username of the acting person when they acted (ADMIN and USER actors).
    async fn actor_username(&self) -> Option<&str> {
        self.event.actor_username.as_deref()
    }

    /// Global id of the person acted on (user and membership actions).
    async fn target_user_id(&self) -> Option<ID> {
        self.event.target_user_id.map(Into::into)
    }

    /// Username of the person acted on, when it happened.
    async fn target_username(&self) -> Option<&str> {
        self.event.target_username.as_deref()
    }

    /// Name of the identity provider acted on (identity provider events,
    /// linked identities, sign-ups through a provider).
    async fn target_provider(&self) -> Option<&str> {
        self.event.target_provider.as_deref()
    }

    /// The group acted on (a project's group members).
    async fn target_group(&self) -> Option<&str> {
        self.event.target_group.as_deref()
    }

    /// Global id of the project concerned; null for server-wide actions.
    /// Kept after the project is deleted.
    async fn project_id(&self) -> Option<ID> {
        self.event.project_id.map(Into::into)
    }

    /// The project concerned, if it still exists.
    async fn project(&self, ctx: &Context<'_>) -> Result<Option<Project>> {
        if let Some(project) = &self.project {
            return Ok(project.clone());
        }
        let Some(project_id) = self.project_row_id() else {
            return Ok(None);
        };
        let (services, _) = parts(ctx)?;
        Ok(services.store.project(project_id).await?.map(Into::into))
    }

    /// Global id of the key acted on, as named by the caller; the key may
    /// not exist (any more).
    async fn target_key_id(&self) -> Option<ID> {
        self.event.target_key_id.map(Into::into)
    }

    /// On KEY_ROTATED: global id of the key created to replace the target
    /// key (which stays ACTIVE for the grace period, then expires).
    async fn new_key_id(&self) -> Option<ID> {
        self.event.new_key_id.map(Into::into)
    }

    /// Access key of the key acted on; null when the caller could not see it.
    async fn target_access_key(&self) -> Option<&str> {
        self.event.target_access_key.as_deref()
    }

    /// Scopes of the key acted on, sorted (on KEY_CREATED: the scopes it was
    /// created with, which never change); null when the event is not about
    /// a key the caller could see.
    async fn target_scopes(&self) -> Option<&[String]> {
        self.event.target_scopes.as_deref()
    }

    /// The client's IP address (behind a trusted proxy: the address the
    /// proxy reported); null for SYSTEM events.
    async fn client_address(&self) -> Option<&str> {
        self.event.client_address.as_deref()
    }

    /// The id of the HTTP request (its `x-request-id` header), to find the
    /// request's log lines; null for SYSTEM events.
    async fn request_id(&self) -> Option<&str> {
        self.event.request_id.as_deref()
    }

    /// Why a refused action was refused (the error message returned); on
    /// KEY_EXPIRING, the threshold reached; on a change made with `keyward
    /// admin` on the command line (break-glass), a note saying so.
    async fn reason(&self) -> Option<&str> {
        self.event.reason.as_deref()
    }
}

/// The filters of an `auditEvents` list, from its arguments: `key_id`
/// must be a key's global id, and a period's `until` must come after its
/// `since`.
pub fn filter(
    project_id: Option<i64>,
    action: Option<AuditAction>,
    key_id: Option<&ID>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<EventFilter, Error> {
    let key_id = key_id
        .map(|id| GlobalId::parse_as(NodeKind::ApiKey, "keyId", id))
        .transpose()?;
    if let (Some(since), Some(until)) = (since, until)
        && until <= since
    {
        return Err(Error::bad_input("until", "must be later than since"));
    }
    Ok(EventFilter {
        project_id,
        action: action.map(Into::into),
        key_id,
        since,
        until,
    })
}

/// A page of the events `filter` selects, newest first. `project` is the
/// project every event of the page belongs to, when the caller has it (a
/// project's own list); otherwise the page's projects are read in one query.
pub async fn page(
    ctx: &Context<'_>,
    filter: EventFilter,
    first: Option<i32>,
    after: Option<&str>,
    project: Option<&Project>,
) -> Result<AuditEventConnection> {
    let (services, _) = parts(ctx)?;
    let args = PageArgs::parse(first, after, NodeKind::AuditEvent)?;
    let page = services
        .store
        .audit_events(filter, args.after, args.limit)
        .await?;
    let total = if wants_total_count(ctx) {
        services.store.count_audit_events(filter).await?
    } else {
        0
    };
    let projects: HashMap<i64, Project> = match project {
        Some(project) => HashMap::from([(project.row_id(), project.clone())]),
        None => {
            let mut ids: Vec<i64> = page.items.iter().filter_map(|e| e.project_id).collect();
            ids.sort_unstable();
            ids.dedup();
            services
                .store
                .projects_by_ids(&ids)
                .await?
                .into_iter()
                .map(|model| (model.id, Project::from(model)))
                .collect()
        }
    };
    let items = page
        .items
        .into_iter()
        .map(|row| {
            let project = row.project_id.and_then(|id| projects.get(&id).cloned());
            let event = AuditEvent::with_project(row, project);
            (event.global_id(), event)
        })
        .collect();
    Ok(Connection::new(items, args, page.has_next_page, total))
}
