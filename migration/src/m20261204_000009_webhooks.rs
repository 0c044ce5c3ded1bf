//! Webhooks: a project's HTTP receivers of its audit events, and the outbox
//! of deliveries, one row per (webhook, event), written in the transaction
//! of the event itself.
//!
//! `webhook.actions` holds space-separated audit action names (empty: every
//! action). `webhook.signing_secret` is the `whsec_…` shared secret: needed
//! to sign each attempt, so it is stored as is, and never published after
//! the mutation that created it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Project {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Webhook {
    Table,
    Id,
    ProjectId,
    Url,
    Description,
    Actions,
    Enabled,
    SigningSecret,
    CreatedAt,
    UpdatedAt,
    FailingSince,
    DisabledAt,
}

#[derive(DeriveIden)]
enum WebhookDelivery {
    Table,
    Id,
    WebhookId,
    EventId,
    MessageId,
    Attempts,
    LastStatus,
    LastError,
    NextAttemptAt,
    DeliveredAt,
    FailedAt,
    CreatedAt,
}

const PROJECT_INDEX: &str = "idx_webhook_project_id";
const DUE_INDEX: &str = "idx_webhook_delivery_next_attempt_at";
const UNIQUE_INDEX: &str = "webhook_delivery_webhook_id_event_id_key";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Webhook::Table)
                    .col(big_pk_auto(Webhook::Id))
                    .col(big_integer(Webhook::ProjectId))
                    .col(text(Webhook::Url))
                    .col(text_null(Webhook::Description))
                    .col(text(Webhook::Actions).default(""))
                    .col(boolean(Webhook::Enabled).default(true))
                    .col(text(Webhook::SigningSecret))
                    .col(timestamp_with_time_zone(Webhook::CreatedAt))
                    .col(timestamp_with_time_zone(Webhook::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Webhook::FailingSince))
                    .col(timestamp_with_time_zone_null(Webhook::DisabledAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Webhook::Table, Webhook::ProjectId)
                            .to(Project::Table, Project::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(PROJECT_INDEX)
                    .table(Webhook::Table)
                    .col(Webhook::ProjectId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDelivery::Table)
                    .col(big_pk_auto(WebhookDelivery::Id))
                    .col(big_integer(WebhookDelivery::WebhookId))
                    .col(big_integer(WebhookDelivery::EventId))
                    .col(text(WebhookDelivery::MessageId))
                    .col(integer(WebhookDelivery::Attempts).default(0))
                    .col(integer_null(WebhookDelivery::LastStatus))
                    .col(text_null(WebhookDelivery::LastError))
                    .col(timestamp_with_time_zone_null(
                        WebhookDelivery::NextAttemptAt,
                    ))
                    .col(timestamp_with_time_zone_null(WebhookDelivery::DeliveredAt))
                    .col(timestamp_with_time_zone_null(WebhookDelivery::FailedAt))
                    .col(timestamp_with_time_zone(WebhookDelivery::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookDelivery::Table, WebhookDelivery::WebhookId)
                            .to(Webhook::Table, Webhook::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The worker looks for due deliveries.
        manager
            .create_index(
                Index::create()
                    .name(DUE_INDEX)
                    .table(WebhookDelivery::Table)
                    .col(WebhookDelivery::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        // One delivery per webhook and event; also a webhook's deliveries,
        // newest first.
        manager
            .create_index(
                Index::create()
                    .name(UNIQUE_INDEX)
                    .table(WebhookDelivery::Table)
                    .col(WebhookDelivery::WebhookId)
                    .col(WebhookDelivery::EventId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookDelivery::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Webhook::Table).to_owned())
            .await
    }
}
