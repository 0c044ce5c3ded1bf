use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::connection::{Connection, PageArgs, WebhookDeliveryConnection, connection_complexity};
use super::{AuditAction, Project, WebhookDelivery};
use crate::graphql::context::parts;
use crate::ids::{GlobalId, NodeKind};
use crate::store::{self, webhook};

/// The published fields of a webhook row: everything but the signing
/// secret (GraphQL description on the impl).
#[derive(Clone, Debug)]
pub struct Webhook {
    id: i64,
    project_id: i64,
    url: String,
    description: Option<String>,
    actions: Vec<AuditAction>,
    enabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    failing_since: Option<DateTime<Utc>>,
    disabled_at: Option<DateTime<Utc>>,
}

impl From<webhook::Model> for Webhook {
    // Field by field: the signing secret is deliberately not carried over.
    fn from(model: webhook::Model) -> Self {
        Self {
            id: model.id,
            project_id: model.project_id,
            actions: store::parse_actions(&model.actions)
                .into_iter()
                .map(Into::into)
                .collect(),
            url: model.url,
            description: model.description,
            enabled: model.enabled,
            created_at: model.created_at,
            updated_at: model.updated_at,
            failing_since: model.failing_since,
            disabled_at: model.disabled_at,
        }
    }
}

impl Webhook {
    pub fn global_id(&self) -> GlobalId {
        GlobalId::webhook(self.id)
    }

    pub fn project_row_id(&self) -> i64 {
        self.project_id
    }
}

/// An HTTP endpoint that receives its project's audit events as they are
/// recorded, signed after the Standard Webhooks specification
/// (`webhook-id`, `webhook-timestamp` and `webhook-signature` headers, with
/// the secret shown once by `createWebhook`). Failed deliveries are retried
/// with exponential backoff; a webhook whose deliveries all fail for five
/// days is disabled. Visible to the administrator and to the project's
/// OWNER keys.
#[Object]
impl Webhook {
    /// Opaque global id of the webhook.
    pub async fn id(&self) -> ID {
        self.global_id().into()
    }

    /// The project whose events it receives.
    async fn project(&self, ctx: &Context<'_>) -> Result<Option<Project>> {
        let (services, request) = parts(ctx)?;
        Ok(request
            .project(services, self.project_id)
            .await?
            .map(Project::from))
    }

    /// The URL events are POSTed to (http or https).
    async fn url(&self) -> &str {
        &self.url
    }

    /// Free-text description.
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The actions whose events it receives, succeeded or refused; empty
    /// for every action.
    async fn actions(&self) -> &[AuditAction] {
        &self.actions
    }

    /// Whether events are delivered to it. Off, new events are not queued
    /// for it and queued ones wait.
    async fn enabled(&self) -> bool {
        self.enabled
    }

    /// When the webhook was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// When the webhook was last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    /// Since when every delivery attempt has failed; null while deliveries
    /// succeed.
    async fn failing_since(&self) -> Option<DateTime<Utc>> {
        self.failing_since
    }

    /// When keyward disabled it because its deliveries had failed for five
    /// days (a WEBHOOK_DISABLED event); null otherwise.
    async fn disabled_at(&self) -> Option<DateTime<Utc>> {
        self.disabled_at
    }

    /// The events queued for it and how their delivery went, newest first.
    #[graphql(complexity = "connection_complexity(first, child_complexity)")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "How many deliveries to return (0 to 100, default 20).")] first: Option<
            i32,
        >,
        #[graphql(desc = "Cursor after which to continue (`endCursor` of the previous page).")]
        after: Option<String>,
    ) -> Result<WebhookDeliveryConnection> {
        let (services, _) = parts(ctx)?;
        let args = PageArgs::parse(first, after.as_deref(), NodeKind::WebhookDelivery)?;
        let page = services
            .store
            .webhook_deliveries(self.id, args.after, args.limit)
            .await?;
        let total = if super::connection::wants_total_count(ctx) {
            services.store.count_webhook_deliveries(self.id).await?
        } else {
            0
        };
        let items = page
            .items
            .into_iter()
            .map(|model| {
                let delivery = WebhookDelivery::from(model);
                (delivery.global_id(), delivery)
            })
            .collect();
        Ok(Connection::new(items, args, page.has_next_page, total))
    }
}
