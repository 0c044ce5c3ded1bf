use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::connection::{
    ApiKeyConnection, AuditEventConnection, Connection, PageArgs, ProjectMemberConnection,
    connection_complexity, wants_total_count,
};
use super::{
    ApiKey, AuditAction, KeyState, ProjectGroupMember, ProjectMember, UsageBucket,
    UsageGranularity, User, Webhook, audit_event, usage_bucket,
};
use crate::graphql::context::parts;
use crate::ids::{GlobalId, NodeKind};
use crate::store::{KeyCounts, KnownProject, UsageOf, project};

/// The published fields of a project row (GraphQL description on the impl).
#[derive(Clone, Debug)]
pub struct Project {
    id: i64,
    name: String,
    description: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// Read with the row, so `totalCount` needs no second read of it;
    /// `None` when the row came from memory, which does not keep them.
    key_counts: Option<KeyCounts>,
}

impl From<project::Model> for Project {
    fn from(model: project::Model) -> Self {
        Self::from(KnownProject::read(model))
    }
}

impl From<KnownProject> for Project {
    fn from(known: KnownProject) -> Self {
        let row = known.row();
        Self {
            key_counts: known.counts(),
            id: row.id,
            name: row.name.clone(),
            description: row.description.clone(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

impl Project {
    pub fn row_id(&self) -> i64 {
        self.id
    }

    pub fn global_id(&self) -> GlobalId {
        GlobalId::project(self.id)
    }
}

/// A project: the unit of work API keys belong to. A key only ever reaches
/// its own project.
#[Object]
impl Project {
    /// Opaque global id of the project.
    pub async fn id(&self) -> ID {
        self.global_id().into()
    }

    /// Human-readable name, unique on this server.
    async fn name(&self) -> &str {
        &self.name
    }

    /// Free-text description.
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// When the project was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// When the project's name or description last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    /// Absolute URL of this project's own GraphQL endpoint: requests sent
    /// there are scoped to this project.
    async fn endpoint(&self, ctx: &Context<'_>) -> Result<String> {
        let (_, request) = parts(ctx)?;
        Ok(format!(
            "{}/projects/{}/graphql",
            request.base_url,
            self.global_id()
        ))
    }

    /// Absolute URL of this project's forward-auth endpoint, for a proxy
    /// (nginx `auth_request`, Caddy `forward_auth`, Traefik `forwardAuth`,
    /// Envoy `ext_authz`) in front of another service: it answers 200 for
    /// this project's keys, with `?role=` and `?scope=` as requirements.
    async fn verify_url(&self, ctx: &Context<'_>) -> Result<String> {
        let (_, request) = parts(ctx)?;
        Ok(format!(
            "{}/projects/{}/verify",
            request.base_url,
            self.global_id()
        ))
    }

    /// The project's API keys, oldest first.
    #[graphql(complexity = "connection_complexity(first, child_complexity)")]
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many keys to return (0 to 100, default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which to start (`endCursor` of the previous page).")]
        after: Option<String>,
        #[graphql(desc = "Only keys in this state.")] state: Option<KeyState>,
    ) -> Result<ApiKeyConnection> {
        let (services, _) = parts(ctx)?;
        let args = PageArgs::parse(first, after.as_deref(), NodeKind::ApiKey)?;
        let state = state.map(Into::into);
        let page = services
            .store
            .keys(self.id, state, args.after, args.limit)
            .await?;
        let total = if wants_total_count(ctx) {
            services
                .store
                .count_keys(self.id, self.key_counts, state)
                .await?
        } else {
            0
        };
        let items = page
            .items
            .into_iter()
            .map(|model| {
                let key = ApiKey::with_project(model, self.clone());
                (key.global_id(), key)
            })
            .collect();
        Ok(Connection::new(items, args, page.has_next_page, total))
    }

    /// The project's members: the people who act in it, with their roles,
    /// by the order they were created in. Readable by whoever sees the
    /// project.
    #[graphql(complexity = "connection_complexity(first, child_complexity)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many members to return (0 to 100, default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which to start (`endCursor` of the previous page).")]
        after: Option<String>,
    ) -> Result<ProjectMemberConnection> {
        let (services, _) = parts(ctx)?;
        let args = PageArgs::parse(first, after.as_deref(), NodeKind::User)?;
        let page = services
            .store
            .members(self.id, args.after, args.limit)
            .await?;
        let total = if wants_total_count(ctx) {
            services.store.count_members(self.id).await?
        } else {
            0
        };
        let ids: Vec<i64> = page.items.iter().map(|member| member.user_id).collect();
        let users: std::collections::HashMap<i64, User> = services
            .store
            .users_by_ids(&ids)
            .await?
            .into_iter()
            .map(|user| (user.id, User::from(user)))
            .collect();
        let items = page
            .items
            .into_iter()
            .filter_map(|member| {
                let user = users.get(&member.user_id)?.clone();
                Some((
                    GlobalId::user(member.user_id),
                    ProjectMember::new(member, user),
                ))
            })
            .collect();
        Ok(Connection::new(items, args, page.has_next_page, total))
    }

    /// The groups that are members of the project, by name: everyone in one
    /// of them acts here with at least its role. Readable by whoever sees
    /// the project, like `members`.
    async fn group_members(&self, ctx: &Context<'_>) -> Result<Vec<ProjectGroupMember>> {
        let (services, _) = parts(ctx)?;
        Ok(services
            .store
            .group_members(self.id)
            .await?
            .into_iter()
            .map(ProjectGroupMember::from)
            .collect())
    }

    /// The project's audit trail, newest first: every mutation on the
    /// project and its keys, succeeded or refused, and keys expiring.
    /// Readable by every key of the project, READ_ONLY included.
    #[graphql(complexity = "connection_complexity(first, child_complexity)")]
    #[allow(
        clippy::too_many_arguments,
        reason = "each argument of the GraphQL field is a parameter of its resolver"
    )]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many events to return (0 to 100, default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which to continue (`endCursor` of the previous page).")]
        after: Option<String>,
        #[graphql(desc = "Only events of this action.")] action: Option<AuditAction>,
        #[graphql(
            desc = "Only events by or about this key (its global id): it acted, was acted on, or replaced the key acted on (`newKeyId`)."
        )]
        key_id: Option<ID>,
        #[graphql(desc = "Only events at or after this instant.")] since: Option<DateTime<Utc>>,
        #[graphql(desc = "Only events before this instant; later than `since`.")] until: Option<
            DateTime<Utc>,
        >,
    ) -> Result<AuditEventConnection> {
        let filter = audit_event::filter(Some(self.id), action, key_id.as_ref(), since, until)?;
        audit_event::page(ctx, filter, first, after.as_deref(), Some(self)).await
    }

    /// How often the project's keys authenticated, by outcome, summed over
    /// its keys (deleted ones included), from `since` to `until` in buckets
    /// of `granularity`, oldest first; buckets without traffic are left
    /// out. Readable by whoever may read the project.
    async fn usage(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Start of the period: its bucket is the first one.")] since: DateTime<Utc>,
        #[graphql(desc = "End of the period (excluded); now if omitted.")] until: Option<
            DateTime<Utc>,
        >,
        #[graphql(desc = "The buckets' width; it bounds the period's length.")]
        granularity: UsageGranularity,
    ) -> Result<Vec<UsageBucket>> {
        let (_, request) = parts(ctx)?;
        request.principal.require_visible(self.id, "project")?;
        usage_bucket::read(ctx, UsageOf::Project(self.id), since, until, granularity).await
    }

    /// The project's webhooks, oldest first. The administrator's and the
    /// project's OWNER keys' only: FORBIDDEN for other keys.
    async fn webhooks(&self, ctx: &Context<'_>) -> Result<Vec<Webhook>> {
        let (services, request) = parts(ctx)?;
        request.principal.require_webhook_manager(self.id)?;
        Ok(services
            .store
            .webhooks(self.id)
            .await?
            .into_iter()
            .map(Webhook::from)
            .collect())
    }
}
