//! The subscription root: live audit events over WebSocket (`/graphql/ws`).

use async_graphql::{Context, ID, Result, Subscription as SubscriptionObject};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::context::parts;
use super::types::AuditEvent;
use crate::error::Error;
use crate::ids::{GlobalId, NodeKind};

/// The subscription root (GraphQL description on the impl).
#[derive(Default)]
pub struct Subscription;

/// Live events.
#[SubscriptionObject]
impl Subscription {
    /// The audit events of a project as they are committed, on whichever
    /// replica: keys created, activated, deactivated, renamed, deleted or
    /// expiring, project changes, and refused attempts. Without
    /// `projectId`: the calling key's project, a user's projects, or for an
    /// administrator every event, server-wide ones included. A key may only follow its own
    /// project (NOT_FOUND otherwise). The server closes the connection (code
    /// 4403) once the subscriber's credentials are revoked.
    async fn key_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project to follow.")] project_id: Option<ID>,
    ) -> Result<impl Stream<Item = AuditEvent> + use<>> {
        let (services, request) = parts(ctx)?;
        let project_id = match &project_id {
            Some(id) => Some(GlobalId::parse_as(NodeKind::Project, "projectId", id)?),
            None => request.implied_project(),
        };
        if let Some(id) = project_id {
            request.principal.require_visible(id, "project")?;
            services
                .store
                .project(id)
                .await?
                .ok_or(Error::NotFound("project"))?;
        }
        // Without a project named, a user follows the projects they are a
        // member of (a change of memberships closes the socket); only
        // administrators see every project's events and the server-wide ones.
        let visible = request.principal.visible_projects();
        let follows =
            std::sync::Arc::new(
                move |event: &crate::store::audit_event::Model| match project_id {
                    Some(id) => event.project_id == Some(id),
                    None => visible
                        .as_ref()
                        .is_none_or(|ids| event.project_id.is_some_and(|id| ids.contains(&id))),
                },
            );
        let receiver = services.store.subscribe_events();
        Ok(futures::stream::unfold(receiver, move |mut receiver| {
            let follows = std::sync::Arc::clone(&follows);
            async move {
                loop {
                    match receiver.recv().await {
                        Ok(event) if follows(&event) => {
                            return Some((AuditEvent::from(event), receiver));
                        }
                        Ok(_) => {}
                        Err(RecvError::Lagged(missed)) => {
                            tracing::warn!(
                                missed,
                                "a keyEvents subscriber fell behind and missed events"
                            );
                        }
                        Err(RecvError::Closed) => return None,
                    }
                }
            }
        }))
    }
}
