use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};

use crate::error::Error;
use crate::graphql::context::{Mutating, RequestContext, Services, parts};
use crate::graphql::types::{AuditAction, Webhook, WebhookDelivery};
use crate::ids::{GlobalId, NodeKind};
use crate::store::{self, NewWebhook, ProjectOwner, Target, WebhookChanges, webhook};
use crate::validation;
use crate::webhooks::{SigningSecret, validate_url};

/// Longest webhook URL accepted.
const MAX_URL_LEN: usize = 2048;

/// A new webhook.
#[derive(InputObject)]
pub struct CreateWebhookInput {
    /// The project whose audit events it receives.
    pub project_id: ID,
    /// Where events are POSTed: an http or https URL, at most 2048
    /// characters, without a user name or password. Unless the server
    /// allows private networks, it must not name this machine or a
    /// loopback, private or link-local address, nor resolve to one.
    pub url: String,
    /// The actions whose events it receives, succeeded or refused; left out
    /// or empty, every action.
    pub actions: Option<Vec<AuditAction>>,
    /// Description, at most 1024 characters.
    pub description: Option<String>,
}

/// The webhook created, with its signing secret: the only time the secret
/// is shown.
#[derive(SimpleObject)]
pub struct CreateWebhookPayload {
    /// The new webhook, enabled.
    pub webhook: Webhook,
    /// The signing secret (`whsec_…`, Standard Webhooks), to verify the
    /// `webhook-signature` of each delivery. Store it now: it is never
    /// shown again.
    pub signing_secret: String,
}

/// Changes to a webhook. Fields left out stay as they are; the signing
/// secret never changes (delete the webhook and create another for a new
/// one).
#[derive(InputObject)]
pub struct UpdateWebhookInput {
    /// The webhook's global id.
    pub id: ID,
    /// New URL, checked as in `createWebhook`.
    pub url: Option<String>,
    /// New list of actions; null or empty for every action.
    pub actions: MaybeUndefined<Vec<AuditAction>>,
    /// New description; null clears it.
    pub description: MaybeUndefined<String>,
    /// false stops deliveries; true resumes them (and turns a webhook
    /// disabled by keyward back on).
    pub enabled: Option<bool>,
}

/// The webhook after the update.
#[derive(SimpleObject)]
pub struct UpdateWebhookPayload {
    /// The webhook as it is now.
    pub webhook: Webhook,
}

/// The webhook to delete.
#[derive(InputObject)]
pub struct DeleteWebhookInput {
    /// The webhook's global id.
    pub id: ID,
}

/// The webhook deleted.
#[derive(SimpleObject)]
pub struct DeleteWebhookPayload {
    /// Global id of the webhook that was deleted, with its deliveries.
    pub deleted_webhook_id: ID,
}

/// An event to send to a webhook again.
#[derive(InputObject)]
pub struct RedeliverWebhookEventInput {
    /// The webhook's global id.
    pub webhook_id: ID,
    /// The global id of an audit event of the webhook's project.
    pub event_id: ID,
}

/// The delivery queued again.
#[derive(SimpleObject)]
pub struct RedeliverWebhookEventPayload {
    /// The delivery, due now, its attempts starting over.
    pub delivery: WebhookDelivery,
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Creates an enabled webhook that receives the project's audit events.
    /// The administrator's, and OWNER keys' in their project.
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook to create.")] input: CreateWebhookInput,
    ) -> Result<CreateWebhookPayload> {
        let (services, request) = parts(ctx)?;
        let project_id =
            GlobalId::parse_as(NodeKind::Project, "input.projectId", &input.project_id)?;
        let (action, target) = (
            store::AuditAction::WebhookCreated,
            Target::project(project_id),
        );
        let (model, secret) = request
            .mutation(services, action, target, async |m| {
                let owner = request.principal.require_webhook_manager(project_id)?;
                let url = checked_url(services, "input.url", &input.url).await?;
                let description =
                    validation::description("input.description", input.description.as_deref())?;
                services
                    .store
                    .project(project_id)
                    .await?
                    .ok_or(Error::NotFound("project"))?;
                let secret = SigningSecret::generate().map_err(Error::internal)?;
                let model = services
                    .store
                    .insert_webhook(
                        &m.grant(owner),
                        NewWebhook {
                            url,
                            description,
                            actions: actions(input.actions.unwrap_or_default()),
                            signing_secret: secret.expose().to_owned(),
                        },
                    )
                    .await?;
                Ok((model, secret))
            })
            .await?;
        tracing::info!(webhook_id = model.id, project_id, "webhook created");
        Ok(CreateWebhookPayload {
            webhook: model.into(),
            signing_secret: secret.expose().to_owned(),
        })
    }

    /// Changes a webhook's URL, actions, description or enabled flag.
    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook and its changes.")] input: UpdateWebhookInput,
    ) -> Result<UpdateWebhookPayload> {
        let (services, request) = parts(ctx)?;
        let action = store::AuditAction::WebhookUpdated;
        let model = request
            .mutation(services, action, Target::default(), async |m| {
                let (hook, owner) =
                    manageable_webhook(services, request, m, "input.id", &input.id).await?;
                let url = match &input.url {
                    Some(url) => Some(checked_url(services, "input.url", url).await?),
                    None => None,
                };
                let description = match &input.description {
                    MaybeUndefined::Undefined => None,
                    MaybeUndefined::Null => Some(None),
                    MaybeUndefined::Value(d) => {
                        Some(validation::description("input.description", Some(d))?)
                    }
                };
                let actions = match &input.actions {
                    MaybeUndefined::Undefined => None,
                    MaybeUndefined::Null => Some(Vec::new()),
                    MaybeUndefined::Value(list) => Some(actions(list.clone())),
                };
                let changes = WebhookChanges {
                    url,
                    description,
                    actions,
                    enabled: input.enabled,
                };
                services
                    .store
                    .update_webhook(&m.grant(owner), hook.id, changes)
                    .await?
                    .ok_or(Error::NotFound("webhook"))
            })
            .await?;
        tracing::info!(
            webhook_id = model.id,
            enabled = model.enabled,
            "webhook updated"
        );
        Ok(UpdateWebhookPayload {
            webhook: model.into(),
        })
    }

    /// Deletes a webhook and its deliveries; queued events are not sent.
    async fn delete_webhook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook to delete.")] input: DeleteWebhookInput,
    ) -> Result<DeleteWebhookPayload> {
        let (services, request) = parts(ctx)?;
        let action = store::AuditAction::WebhookDeleted;
        let hook = request
            .mutation(services, action, Target::default(), async |m| {
                let (hook, owner) =
                    manageable_webhook(services, request, m, "input.id", &input.id).await?;
                if services
                    .store
                    .delete_webhook(&m.grant(owner), hook.id)
                    .await?
                {
                    Ok(hook)
                } else {
                    Err(Error::NotFound("webhook"))
                }
            })
            .await?;
        tracing::info!(webhook_id = hook.id, "webhook deleted");
        Ok(DeleteWebhookPayload {
            deleted_webhook_id: GlobalId::webhook(hook.id).into(),
        })
    }

    /// Queues an audit event of the webhook's project to be sent to it
    /// again, now, whether its earlier delivery succeeded, failed or never
    /// existed (an event older than the webhook, or of an action it does
    /// not receive). Same `webhook-id` as before: a receiver that dropped
    /// duplicates must forget it first.
    async fn redeliver_webhook_event(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The webhook and the event.")] input: RedeliverWebhookEventInput,
    ) -> Result<RedeliverWebhookEventPayload> {
        let (services, request) = parts(ctx)?;
        let event_id = GlobalId::parse_as(NodeKind::AuditEvent, "input.eventId", &input.event_id)?;
        let action = store::AuditAction::WebhookRedelivered;
        let delivery = request
            .mutation(services, action, Target::default(), async |m| {
                let (hook, owner) =
                    manageable_webhook(services, request, m, "input.webhookId", &input.webhook_id)
                        .await?;
                services
                    .store
                    .redeliver(&m.grant(owner), hook.id, event_id)
                    .await
            })
            .await?;
        tracing::info!(
            webhook_id = delivery.webhook_id,
            event_id = delivery.event_id,
            "webhook event queued again"
        );
        Ok(RedeliverWebhookEventPayload {
            delivery: delivery.into(),
        })
    }
}

/// The store's actions of a list of the schema's.
fn actions(list: Vec<AuditAction>) -> Vec<store::AuditAction> {
    list.into_iter().map(Into::into).collect()
}

/// `raw`, if webhooks may be sent there under the server's policy.
async fn checked_url(services: &Services, field: &'static str, raw: &str) -> Result<String, Error> {
    let raw = raw.trim();
    if raw.len() > MAX_URL_LEN {
        return Err(Error::bad_input(
            field,
            format!("must be at most {MAX_URL_LEN} characters"),
        ));
    }
    let url = validate_url(raw, services.webhook_destinations)
        .await
        .map_err(|refused| Error::bad_input(field, refused.to_string()))?;
    Ok(url.to_string())
}

/// The webhook behind `id`, if the caller may manage it: NOT_FOUND when it
/// does not exist or lies in another project, FORBIDDEN for keys other than
/// the project's OWNER keys. The mutation `m` is about the webhook's project
/// once the caller is known to see it.
async fn manageable_webhook(
    services: &Services,
    request: &RequestContext,
    m: &Mutating<'_>,
    field: &'static str,
    id: &ID,
) -> Result<(webhook::Model, ProjectOwner), Error> {
    let id = GlobalId::parse_as(NodeKind::Webhook, field, id)?;
    let hook = services
        .store
        .webhook(id)
        .await?
        .filter(|hook| request.principal.can_see(hook.project_id))
        .ok_or(Error::NotFound("webhook"))?;
    m.about(Target::project(hook.project_id));
    let owner = request.principal.require_webhook_manager(hook.project_id)?;
    Ok((hook, owner))
}
