//! Scopes on keys: a key's scopes, fixed at its creation like its key pair,
//! and the scopes of the key an audit event is about.
//!
//! Stored as one text column of space-separated names (a scope never holds a
//! space), sorted and distinct, so the set is read with its key in one row.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKey {
    Table,
    Scopes,
}

#[derive(DeriveIden)]
enum AuditEvent {
    Table,
    TargetScopes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKey::Table)
                    .add_column(text(ApiKey::Scopes).default(""))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvent::Table)
                    .add_column(text_null(AuditEvent::TargetScopes))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvent::Table)
                    .drop_column(AuditEvent::TargetScopes)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKey::Table)
                    .drop_column(ApiKey::Scopes)
                    .to_owned(),
            )
            .await
    }
}
