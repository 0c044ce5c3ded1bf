//! What the fast authentication path and constant-time `totalCount` need:
//! an epoch bumped by every change that can revoke credentials, and each
//! project's key counts, maintained in the transactions that change them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Settings {
    Table,
    AuthEpoch,
}

#[derive(DeriveIden)]
enum Project {
    Table,
    Id,
    ActiveKeyCount,
    InactiveKeyCount,
}

#[derive(DeriveIden)]
enum ApiKey {
    Table,
    ProjectId,
    State,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Settings::Table)
                    .add_column(big_integer(Settings::AuthEpoch).default(0))
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per ALTER TABLE.
        for column in [Project::ActiveKeyCount, Project::InactiveKeyCount] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Project::Table)
                        .add_column(big_integer(column).default(0))
                        .to_owned(),
                )
                .await?;
        }
        for (column, state) in [
            (Project::ActiveKeyCount, "ACTIVE"),
            (Project::InactiveKeyCount, "INACTIVE"),
        ] {
            let count = Query::select()
                .expr(Expr::col(ApiKey::Id).count())
                .from(ApiKey::Table)
                .and_where(
                    Expr::col((ApiKey::Table, ApiKey::ProjectId))
                        .equals((Project::Table, Project::Id)),
                )
                .and_where(Expr::col(ApiKey::State).eq(state))
                .to_owned();
            manager
                .exec_stmt(
                    Query::update()
                        .table(Project::Table)
                        .value(
                            column,
                            SimpleExpr::SubQuery(None, Box::new(count.into_sub_query_statement())),
                        )
                        .to_owned(),
                )
                .await?;
        }
        // Listing a project's keys filtered by state walks this index.
        manager
            .create_index(
                Index::create()
                    .name("idx_api_key_project_state_id")
                    .table(ApiKey::Table)
                    .col(ApiKey::ProjectId)
                    .col(ApiKey::State)
                    .col(ApiKey::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_api_key_project_state_id")
                    .table(ApiKey::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Project::ActiveKeyCount, Project::InactiveKeyCount] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Project::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Settings::Table)
                    .drop_column(Settings::AuthEpoch)
                    .to_owned(),
            )
            .await
    }
}
