//! Rotation: the key a key was rotated from, and, on a KEY_ROTATED event,
//! the new key.
//!
//! `rotated_from_id` is unique: a key has at most one successor, which the
//! database enforces even when two rotations of one key race. No foreign
//! key (SQLite cannot add one to an existing table): once the old key is
//! deleted, the new key's `rotatedFrom` is simply null.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKey {
    Table,
    RotatedFromId,
    RotatedAt,
}

#[derive(DeriveIden)]
enum AuditEvent {
    Table,
    NewKeyId,
}

const ROTATED_FROM_INDEX: &str = "api_key_rotated_from_id_key";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKey::Table)
                    .add_column(big_integer_null(ApiKey::RotatedFromId))
                    .to_owned(),
            )
            .await?;
        // On the old key: rotated once, for good, even after its successor
        // is deleted.
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKey::Table)
                    .add_column(timestamp_with_time_zone_null(ApiKey::RotatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(ROTATED_FROM_INDEX)
                    .table(ApiKey::Table)
                    .col(ApiKey::RotatedFromId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvent::Table)
                    .add_column(big_integer_null(AuditEvent::NewKeyId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvent::Table)
                    .drop_column(AuditEvent::NewKeyId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(ROTATED_FROM_INDEX)
                    .table(ApiKey::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKey::Table)
                    .drop_column(ApiKey::RotatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKey::Table)
                    .drop_column(ApiKey::RotatedFromId)
                    .to_owned(),
            )
            .await
    }
}
