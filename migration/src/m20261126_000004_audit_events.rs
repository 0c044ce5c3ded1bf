//! The audit trail: one row per mutation, succeeded or refused, written in
//! the mutation's own transaction; and a flag on each key telling whether its
//! expiry has been recorded in the trail yet.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvent {
    Table,
    Id,
    At,
    Action,
    Outcome,
    ActorKind,
    ActorKeyId,
    ActorAccessKey,
    ActorRole,
    ProjectId,
    TargetKeyId,
    TargetAccessKey,
    ClientAddress,
    RequestId,
    Reason,
}

#[derive(DeriveIden)]
enum ApiKey {
    Table,
    ExpiresAt,
    ExpiryRecorded,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // No foreign keys: the trail outlives the projects and keys it names
        // (a PROJECT_DELETED event must survive its project).
        manager
            .create_table(
                Table::create()
                    .table(AuditEvent::Table)
                    .col(big_pk_auto(AuditEvent::Id))
                    .col(timestamp_with_time_zone(AuditEvent::At))
                    .col(string_len(AuditEvent::Action, 32))
                    .col(string_len(AuditEvent::Outcome, 16))
                    .col(string_len(AuditEvent::ActorKind, 16))
                    .col(big_integer_null(AuditEvent::ActorKeyId))
                    .col(string_len_null(AuditEvent::ActorAccessKey, 64))
                    .col(string_len_null(AuditEvent::ActorRole, 16))
                    .col(big_integer_null(AuditEvent::ProjectId))
                    .col(big_integer_null(AuditEvent::TargetKeyId))
                    .col(string_len_null(AuditEvent::TargetAccessKey, 64))
                    .col(string_len_null(AuditEvent::ClientAddress, 64))
                    .col(string_len_null(AuditEvent::RequestId, 128))
                    .col(text_null(AuditEvent::Reason))
                    .to_owned(),
            )
            .await?;
        // A project's events, newest first (keyset on id).
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_event_project_id")
                    .table(AuditEvent::Table)
                    .col(AuditEvent::ProjectId)
                    .col(AuditEvent::Id)
                    .to_owned(),
            )
            .await?;
        // Retention deletes by age.
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_event_at")
                    .table(AuditEvent::Table)
                    .col(AuditEvent::At)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKey::Table)
                    .add_column(boolean(ApiKey::ExpiryRecorded).default(false).to_owned())
                    .to_owned(),
            )
            .await?;
        // The expiry sweep looks for expired keys not yet recorded.
        manager
            .create_index(
                Index::create()
                    .name("idx_api_key_expiry_recorded")
                    .table(ApiKey::Table)
                    .col(ApiKey::ExpiryRecorded)
                    .col(ApiKey::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_api_key_expiry_recorded")
                    .table(ApiKey::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKey::Table)
                    .drop_column(ApiKey::ExpiryRecorded)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(AuditEvent::Table).to_owned())
            .await
    }
}
