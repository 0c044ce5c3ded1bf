use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::AuditEvent;
use crate::graphql::context::parts;
use crate::ids::GlobalId;
use crate::store::webhook_delivery;

/// The published fields of a delivery row (GraphQL description on the impl).
#[derive(Clone, Debug)]
pub struct WebhookDelivery {
    row: webhook_delivery::Model,
}

impl From<webhook_delivery::Model> for WebhookDelivery {
    fn from(row: webhook_delivery::Model) -> Self {
        Self { row }
    }
}

impl WebhookDelivery {
    pub fn global_id(&self) -> GlobalId {
        GlobalId::webhook_delivery(self.row.id)
    }
}

/// One audit event queued for one webhook: its attempts so far and how the
/// last one went. Every attempt sends the same body under the same
/// `webhook-id` (`msg_<event>_<webhook>`), so receivers can drop duplicates.
#[Object]
impl WebhookDelivery {
    /// Opaque global id of the delivery.
    async fn id(&self) -> ID {
        self.global_id().into()
    }

    /// Global id of the audit event delivered.
    async fn event_id(&self) -> ID {
        GlobalId::audit_event(self.row.event_id).into()
    }

    /// The audit event delivered; null once pruned from the trail.
    async fn event(&self, ctx: &Context<'_>) -> Result<Option<AuditEvent>> {
        let (services, _) = parts(ctx)?;
        Ok(services
            .store
            .audit_event(self.row.event_id)
            .await?
            .map(AuditEvent::from))
    }

    /// The `webhook-id` header sent with every attempt.
    async fn message_id(&self) -> &str {
        &self.row.message_id
    }

    /// Attempts made so far.
    async fn attempts(&self) -> i32 {
        self.row.attempts
    }

    /// HTTP status the receiver answered the last attempt with; null when
    /// it did not answer (or no attempt was made yet).
    async fn last_status(&self) -> Option<i32> {
        self.row.last_status
    }

    /// Why the last attempt failed, in a line; null when it succeeded.
    async fn last_error(&self) -> Option<&str> {
        self.row.last_error.as_deref()
    }

    /// When the next attempt is due; null once delivered or failed.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.row.next_attempt_at
    }

    /// When the receiver accepted it (a 2xx answer).
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.row.delivered_at
    }

    /// When keyward gave up on it, the retry window having passed.
    async fn failed_at(&self) -> Option<DateTime<Utc>> {
        self.row.failed_at
    }

    /// When it was queued: with its event, or by `redeliverWebhookEvent`
    /// (the retry window runs from then).
    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }
}
