//! Key expiry, and failed authentications counted per key (one counter per
//! key, not one row per failure: a flood must not fill the disk).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKey {
    Table,
    ProjectId,
    ExpiresAt,
    FailedAuthCount,
    LastFailedAuthAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            timestamp_with_time_zone_null(ApiKey::ExpiresAt),
            big_integer(ApiKey::FailedAuthCount).default(0).to_owned(),
            timestamp_with_time_zone_null(ApiKey::LastFailedAuthAt),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiKey::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        // Counting a project's expired keys walks this index.
        manager
            .create_index(
                Index::create()
                    .name("idx_api_key_project_expires_at")
                    .table(ApiKey::Table)
                    .col(ApiKey::ProjectId)
                    .col(ApiKey::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_api_key_project_expires_at")
                    .table(ApiKey::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            ApiKey::ExpiresAt,
            ApiKey::FailedAuthCount,
            ApiKey::LastFailedAuthAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiKey::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
