//! Usage over time: how often each key authenticated, by outcome, in
//! minute, hour and day buckets, and the last client addresses that used it.
//!
//! `key_usage` keeps no foreign key to `api_key`: a project's usage is
//! summed over its keys, deleted ones included, so rows outlive their key
//! (they go with their project, and with retention). `bucket_start` is the
//! bucket's first second (Unix time); `granularity` is `minute`, `hour` or
//! `day`. Replicas add their counts to a row with an upsert, never a read.
//!
//! `key_client` holds, per key, the client addresses it was used from, with
//! the last user agent and when it was last seen; it goes with its key.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Project {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ApiKey {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum KeyUsage {
    Table,
    KeyId,
    Granularity,
    BucketStart,
    ProjectId,
    Accepted,
    Refused,
    Forbidden,
    Throttled,
}

#[derive(DeriveIden)]
enum KeyClient {
    Table,
    KeyId,
    Address,
    UserAgent,
    LastSeenAt,
}

const PROJECT_INDEX: &str = "idx_key_usage_project";
const PRUNE_INDEX: &str = "idx_key_usage_granularity_bucket_start";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KeyUsage::Table)
                    .col(big_integer(KeyUsage::KeyId))
                    .col(string_len(KeyUsage::Granularity, 8))
                    .col(big_integer(KeyUsage::BucketStart))
                    .col(big_integer(KeyUsage::ProjectId))
                    .col(big_integer(KeyUsage::Accepted).default(0))
                    .col(big_integer(KeyUsage::Refused).default(0))
                    .col(big_integer(KeyUsage::Forbidden).default(0))
                    .col(big_integer(KeyUsage::Throttled).default(0))
                    .primary_key(
                        Index::create()
                            .col(KeyUsage::KeyId)
                            .col(KeyUsage::Granularity)
                            .col(KeyUsage::BucketStart),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(KeyUsage::Table, KeyUsage::ProjectId)
                            .to(Project::Table, Project::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A project's usage, summed over its keys.
        manager
            .create_index(
                Index::create()
                    .name(PROJECT_INDEX)
                    .table(KeyUsage::Table)
                    .col(KeyUsage::ProjectId)
                    .col(KeyUsage::Granularity)
                    .col(KeyUsage::BucketStart)
                    .to_owned(),
            )
            .await?;
        // Retention deletes a granularity's oldest buckets.
        manager
            .create_index(
                Index::create()
                    .name(PRUNE_INDEX)
                    .table(KeyUsage::Table)
                    .col(KeyUsage::Granularity)
                    .col(KeyUsage::BucketStart)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(KeyClient::Table)
                    .col(big_integer(KeyClient::KeyId))
                    .col(string_len(KeyClient::Address, 64))
                    .col(text(KeyClient::UserAgent))
                    .col(timestamp_with_time_zone(KeyClient::LastSeenAt))
                    .primary_key(
                        Index::create()
                            .col(KeyClient::KeyId)
                            .col(KeyClient::Address),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(KeyClient::Table, KeyClient::KeyId)
                            .to(ApiKey::Table, ApiKey::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(KeyClient::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(KeyUsage::Table).to_owned())
            .await
    }
}
