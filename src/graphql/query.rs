//! The query root.

use async_graphql::{Context, ID, Object, Result};

use super::context::{RequestContext, Services, parts};
use super::guard::AdminGuard;
use super::types::connection::{
    AuditEventConnection, Connection, PageArgs, ProjectConnection, UserConnection,
    connection_complexity, wants_total_count,
};
use super::types::{
    AccessControl, AuditAction, AuditEvent, IdentityProvider, Node, Project, User, Viewer,
    audit_event,
};
use crate::error::Error;
use crate::ids::{GlobalId, NodeKind};

/// Most ids `nodes` accepts in one call.
const MAX_NODES: usize = 100;

/// The query root (GraphQL description on the impl).
#[derive(Default)]
pub struct Query;

/// Read access to projects, keys and the caller.
#[Object]
impl Query {
    /// Any object by its global id; null when it does not exist or lies in a
    /// project the caller cannot see.
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A global id.")] id: ID,
    ) -> Result<Option<Node>> {
        let (services, request) = parts(ctx)?;
        let id = parse_node_id("id", &id)?;
        Ok(load_node(services, request, id).await?)
    }

    /// Several objects by their global ids, in the order given; null for each
    /// one that does not exist or cannot be seen.
    #[graphql(complexity = "ids.len().saturating_mul(child_complexity).saturating_add(1)")]
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global ids (at most 100).")] ids: Vec<ID>,
    ) -> Result<Vec<Option<Node>>> {
        let (services, request) = parts(ctx)?;
        if ids.len() > MAX_NODES {
            return Err(Error::bad_input("ids", format!("at most {MAX_NODES} ids")).into());
        }
        let ids = ids
            .iter()
            .map(|id| parse_node_id("ids", id))
            .collect::<Result<Vec<_>, _>>()?;
        let mut nodes = Vec::with_capacity(ids.len());
        for id in ids {
            nodes.push(load_node(services, request, id).await?);
        }
        Ok(nodes)
    }

    /// Who the caller is.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Viewer> {
        let (_, request) = parts(ctx)?;
        Ok(Viewer::new(
            request.principal.clone(),
            request.implied_project(),
        ))
    }

    /// Whether requests must carry credentials.
    async fn access_control(&self, ctx: &Context<'_>) -> Result<AccessControl> {
        let (services, _) = parts(ctx)?;
        let settings = services.store.settings().await?;
        Ok(AccessControl {
            enabled: settings.access_control_enabled,
        })
    }

    /// The projects the caller can see, oldest first: all of them for the
    /// administrator, its own for an API key.
    #[graphql(complexity = "connection_complexity(first, child_complexity)")]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many projects to return (0 to 100, default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which to start (`endCursor` of the previous page).")]
        after: Option<String>,
    ) -> Result<ProjectConnection> {
        let (services, request) = parts(ctx)?;
        let args = PageArgs::parse(first, after.as_deref(), NodeKind::Project)?;
        let only = request.principal.visible_projects();
        let page = services
            .store
            .projects(only.as_deref(), args.after, args.limit)
            .await?;
        let total = if wants_total_count(ctx) {
            services.store.count_projects(only.as_deref()).await?
        } else {
            0
        };
        let items = page
            .items
            .into_iter()
            .map(|model| {
                let project = Project::from(model);
                (project.global_id(), project)
            })
            .collect();
        Ok(Connection::new(items, args, page.has_next_page, total))
    }

    /// Every user, by the order they were created in (administrators only).
    #[graphql(
        guard = "AdminGuard",
        complexity = "connection_complexity(first, child_complexity)"
    )]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many users to return (0 to 100, default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor after which to start (`endCursor` of the previous page).")]
        after: Option<String>,
    ) -> Result<UserConnection> {
        let (services, _) = parts(ctx)?;
        let args = PageArgs::parse(first, after.as_deref(), NodeKind::User)?;
        let page = services.store.users(args.after, args.limit).await?;
        let total = if wants_total_count(ctx) {
            services.store.count_users().await?
        } else {
            0
        };
        let items = page
            .items
            .into_iter()
            .map(|model| {
                let user = User::from(model);
                (user.global_id(), user)
            })
            .collect();
        Ok(Connection::new(items, args, page.has_next_page, total))
    }

    /// The OpenID Connect providers people sign in through, by name
    /// (administrators only). The sign-in page learns the enabled ones'
    /// names from `GET /auth/providers`.
    #[graphql(guard = "AdminGuard")]
    async fn identity_providers(&self, ctx: &Context<'_>) -> Result<Vec<IdentityProvider>> {
        let (services, _) = parts(ctx)?;
        Ok(services
            .store
            .identity_providers()
            .await?
            .into_iter()
            .map(IdentityProvider::from)
            .collect())
    }

    /// The whole audit trail, newest first: every project's events and the
    /// server-wide ones (access control). Administrator only; keys read
    /// their project's trail with `Project.auditEvents`.
    #[graphql(
        guard = "AdminGuard",
        complexity = "connection_complexity(first, child_complexity)"
    )]
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
        #[graphql(desc = "Only events at or after this instant.")] since: Option<
            chrono::DateTime<chrono::Utc>,
        >,
        #[graphql(desc = "Only events before this instant; later than `since`.")] until: Option<
            chrono::DateTime<chrono::Utc>,
        >,
    ) -> Result<AuditEventConnection> {
        let filter = audit_event::filter(None, action, key_id.as_ref(), since, until)?;
        audit_event::page(ctx, filter, first, after.as_deref(), None).await
    }

    /// A project by id. Without an id: the project of the endpoint called,
    /// else the calling key's project, else null.
    async fn project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project's global id.")] id: Option<ID>,
    ) -> Result<Option<Project>> {
        let (services, request) = parts(ctx)?;
        let id = match id {
            Some(id) => GlobalId::parse_as(NodeKind::Project, "id", &id)?,
            None => match request.implied_project() {
                Some(id) => id,
                None => return Ok(None),
            },
        };
        if !request.principal.can_see(id) {
            return Ok(None);
        }
        Ok(request.project(services, id).await?.map(Project::from))
    }
}

fn parse_node_id(field: &'static str, id: &ID) -> Result<GlobalId, Error> {
    GlobalId::parse(id).ok_or_else(|| Error::bad_input(field, "not a valid global id"))
}

/// The object behind `id`, if it exists and the caller can see it.
async fn load_node(
    services: &Services,
    request: &RequestContext,
    id: GlobalId,
) -> Result<Option<Node>, Error> {
    let visible = |project_id| request.principal.can_see(project_id);
    Ok(match id.kind {
        NodeKind::Project => services
            .store
            .project(id.id)
            .await?
            .filter(|project| visible(project.id))
            .map(|project| Node::Project(project.into())),
        NodeKind::ApiKey => services
            .store
            .key(id.id)
            .await?
            .filter(|key| visible(key.project_id))
            .map(|key| Node::ApiKey(key.into())),
        NodeKind::AuditEvent => services
            .store
            .audit_event(id.id)
            .await?
            .map(AuditEvent::from)
            // Server-wide events belong to no project: the admin's alone.
            .filter(|event| match event.project_row_id() {
                Some(project_id) => visible(project_id),
                None => request.principal.is_admin(),
            })
            .map(Node::AuditEvent),
        NodeKind::Webhook => services
            .store
            .webhook(id.id)
            .await?
            .filter(|hook| {
                request
                    .principal
                    .require_webhook_manager(hook.project_id)
                    .is_ok()
            })
            .map(|hook| Node::Webhook(hook.into())),
        // Reached through their webhook.
        NodeKind::WebhookDelivery => None,
        // Server-wide configuration: the administrators'.
        NodeKind::IdentityProvider if request.principal.is_admin() => services
            .store
            .identity_provider(id.id)
            .await?
            .map(|provider| Node::IdentityProvider(provider.into())),
        NodeKind::IdentityProvider => None,
        // Administrators see everyone; others see themselves and the
        // members of the projects they see (as `Project.members` shows
        // them), nobody else.
        NodeKind::User => {
            let seen = request.principal.is_admin()
                || request
                    .principal
                    .person()
                    .is_some_and(|person| person.user_id == id.id)
                || services
                    .store
                    .memberships_of(id.id)
                    .await?
                    .iter()
                    .any(|member| visible(member.project_id));
            if seen {
                services
                    .store
                    .user(id.id)
                    .await?
                    .map(|user| Node::User(user.into()))
            } else {
                None
            }
        }
    })
}
