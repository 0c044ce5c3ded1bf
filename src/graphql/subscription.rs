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
    /// `projectId`: the calling key's project, or for the administrator
    /// every event, server-wide ones included. A key may only follow its own
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
        let receiver = services.store.subscribe_events();
        Ok(futures::stream::unfold(
            receiver,
            move |mut receiver| async move {
                loop {
                    match receiver.recv().await {
                        Ok(event) if project_id.is_none_or(|id| event.project_id == Some(id)) => {
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
            },
        ))
    }
}
