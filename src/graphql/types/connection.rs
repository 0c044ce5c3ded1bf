//! Relay connections: keyset-paginated lists.

use async_graphql::{Context, OutputType, SimpleObject};

use super::{ApiKey, AuditEvent, Project, ProjectMember, User, WebhookDelivery};
use crate::error::Error;
use crate::ids::{GlobalId, NodeKind};

/// Page size when `first` is not given.
pub const DEFAULT_PAGE_SIZE: i32 = 20;
/// Largest `first` accepted; larger is refused, not silently clamped.
pub const MAX_PAGE_SIZE: i32 = 100;

/// A page of a list: keys and projects oldest first, audit events newest
/// first.
#[derive(SimpleObject)]
#[graphql(
    concrete(name = "ApiKeyConnection", params(ApiKeyEdge)),
    concrete(name = "ProjectConnection", params(ProjectEdge)),
    concrete(name = "AuditEventConnection", params(AuditEventEdge)),
    concrete(name = "WebhookDeliveryConnection", params(WebhookDeliveryEdge)),
    concrete(name = "UserConnection", params(UserEdge)),
    concrete(name = "ProjectMemberConnection", params(ProjectMemberEdge))
)]
pub struct Connection<E: OutputType> {
    /// The objects of this page, each with its cursor.
    pub edges: Vec<E>,
    /// Where this page sits in the whole list.
    pub page_info: PageInfo,
    /// How many objects the whole list holds (all pages, same filters).
    pub total_count: u64,
}

/// One object of a page, with the cursor to continue after it.
#[derive(SimpleObject)]
#[graphql(
    concrete(name = "ApiKeyEdge", params(ApiKey)),
    concrete(name = "ProjectEdge", params(Project)),
    concrete(name = "AuditEventEdge", params(AuditEvent)),
    concrete(name = "WebhookDeliveryEdge", params(WebhookDelivery)),
    concrete(name = "UserEdge", params(User)),
    concrete(name = "ProjectMemberEdge", params(ProjectMember))
)]
pub struct Edge<T: OutputType> {
    /// Pass as `after` to get the objects following this one.
    pub cursor: String,
    /// The object.
    pub node: T,
}

/// Pagination state of a connection.
#[derive(SimpleObject, Debug)]
pub struct PageInfo {
    /// Whether objects follow this page.
    pub has_next_page: bool,
    /// Whether objects precede this page (true when `after` was given).
    pub has_previous_page: bool,
    /// Cursor of the first edge of this page.
    pub start_cursor: Option<String>,
    /// Cursor of the last edge of this page: pass it as `after` for the next page.
    pub end_cursor: Option<String>,
}

/// Validated `first`/`after` arguments.
#[derive(Debug, Clone, Copy)]
pub struct PageArgs {
    /// Row id to continue after.
    pub after: Option<i64>,
    pub limit: u64,
}

impl PageArgs {
    /// Checks `first` (0..=100, default 20) and decodes `after`, a cursor of
    /// objects of `kind`.
    pub fn parse(first: Option<i32>, after: Option<&str>, kind: NodeKind) -> Result<Self, Error> {
        let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
        let limit = u64::try_from(first)
            .ok()
            .filter(|_| first <= MAX_PAGE_SIZE)
            .ok_or_else(|| {
                Error::bad_input("first", format!("must be between 0 and {MAX_PAGE_SIZE}"))
            })?;
        let after = after
            .map(|cursor| GlobalId::parse_as(kind, "after", cursor))
            .transpose()?;
        Ok(Self { after, limit })
    }
}

impl<T: OutputType> Connection<Edge<T>>
where
    Edge<T>: OutputType,
{
    /// A connection of `items` (with their ids, which become cursors).
    pub fn new(
        items: Vec<(GlobalId, T)>,
        args: PageArgs,
        has_next_page: bool,
        total_count: u64,
    ) -> Self {
        let edges: Vec<Edge<T>> = items
            .into_iter()
            .map(|(id, node)| Edge {
                cursor: id.to_string(),
                node,
            })
            .collect();
        let page_info = PageInfo {
            has_next_page,
            has_previous_page: args.after.is_some(),
            start_cursor: edges.first().map(|edge| edge.cursor.clone()),
            end_cursor: edges.last().map(|edge| edge.cursor.clone()),
        };
        Self {
            edges,
            page_info,
            total_count,
        }
    }
}

/// Complexity of a connection field: each requested object costs what its
/// selection costs, so `first` multiplies (aliases add up on their own).
pub fn connection_complexity(first: Option<i32>, child_complexity: usize) -> usize {
    let page = first.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE);
    usize::try_from(page)
        .unwrap_or(1)
        .saturating_mul(child_complexity)
        .saturating_add(1)
}

/// Whether the query asks for `totalCount`, so that a page only pays for a
/// COUNT when someone wants it.
pub fn wants_total_count(ctx: &Context<'_>) -> bool {
    ctx.look_ahead().field("totalCount").exists()
}

/// One key of a page.
pub type ApiKeyEdge = Edge<ApiKey>;
/// One project of a page.
pub type ProjectEdge = Edge<Project>;
/// A page of a project's keys.
pub type ApiKeyConnection = Connection<Edge<ApiKey>>;
/// A page of projects.
pub type ProjectConnection = Connection<Edge<Project>>;
/// One audit event of a page.
pub type AuditEventEdge = Edge<AuditEvent>;
/// A page of audit events.
pub type AuditEventConnection = Connection<Edge<AuditEvent>>;
/// One delivery of a webhook's page.
pub type WebhookDeliveryEdge = Edge<WebhookDelivery>;
/// A page of a webhook's deliveries.
pub type WebhookDeliveryConnection = Connection<Edge<WebhookDelivery>>;
/// One user of a page.
pub type UserEdge = Edge<User>;
/// A page of users.
pub type UserConnection = Connection<Edge<User>>;
/// One member of a project's page.
pub type ProjectMemberEdge = Edge<ProjectMember>;
/// A page of a project's members.
pub type ProjectMemberConnection = Connection<Edge<ProjectMember>>;
