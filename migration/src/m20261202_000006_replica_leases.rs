//! Replica leases (PostgreSQL): each serving replica holds a row it renews
//! every second. A change that revokes credentials returns only once every
//! replica with a live lease has acknowledged the new auth epoch (or its
//! lease has run out), so replicas can answer from memory without reading
//! the settings row per request. SQLite has one process and does not use it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReplicaLease {
    Table,
    ReplicaId,
    ExpiresAt,
    AckedEpoch,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReplicaLease::Table)
                    .col(text(ReplicaLease::ReplicaId).primary_key())
                    .col(timestamp_with_time_zone(ReplicaLease::ExpiresAt))
                    .col(big_integer(ReplicaLease::AckedEpoch))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ReplicaLease::Table).to_owned())
            .await
    }
}
