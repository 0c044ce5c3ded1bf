//! Which expiry warnings each key has had: one row per key and threshold,
//! whose primary key makes "once per key per threshold" hold with any
//! number of replicas sweeping (the first insert claims the warning).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KeyExpiryWarning {
    Table,
    KeyId,
    ThresholdSeconds,
    At,
}

#[derive(DeriveIden)]
enum ApiKey {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KeyExpiryWarning::Table)
                    .col(big_integer(KeyExpiryWarning::KeyId))
                    .col(big_integer(KeyExpiryWarning::ThresholdSeconds))
                    .col(timestamp_with_time_zone(KeyExpiryWarning::At))
                    .primary_key(
                        Index::create()
                            .col(KeyExpiryWarning::KeyId)
                            .col(KeyExpiryWarning::ThresholdSeconds),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(KeyExpiryWarning::Table, KeyExpiryWarning::KeyId)
                            .to(ApiKey::Table, ApiKey::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(KeyExpiryWarning::Table).to_owned())
            .await
    }
}
