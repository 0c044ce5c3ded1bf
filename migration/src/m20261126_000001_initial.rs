//! Projects, API keys and the single row of server settings.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Project {
    Table,
    Id,
    Name,
    Description,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ApiKey {
    Table,
    Id,
    ProjectId,
    AccessKey,
    SecretHash,
    Name,
    Description,
    State,
    Role,
    CreatedAt,
    UpdatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum Settings {
    Table,
    Id,
    AccessControlEnabled,
    AdminUsername,
    AdminPasswordHash,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Project::Table)
                    .col(big_pk_auto(Project::Id))
                    // Names are validated (1..=128 characters) by the server; `text`
                    // keeps the column free of per-backend byte/character limits.
                    .col(text_uniq(Project::Name))
                    .col(text_null(Project::Description))
                    .col(timestamp_with_time_zone(Project::CreatedAt))
                    .col(timestamp_with_time_zone(Project::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKey::Table)
                    .col(big_pk_auto(ApiKey::Id))
                    .col(big_integer(ApiKey::ProjectId))
                    // Uniqueness is enforced here, not by a check-then-insert.
                    .col(string_len_uniq(ApiKey::AccessKey, 20))
                    .col(text(ApiKey::SecretHash))
                    .col(text(ApiKey::Name))
                    .col(text_null(ApiKey::Description))
                    .col(string_len(ApiKey::State, 16))
                    .col(string_len(ApiKey::Role, 16))
                    .col(timestamp_with_time_zone(ApiKey::CreatedAt))
                    .col(timestamp_with_time_zone(ApiKey::UpdatedAt))
                    .col(timestamp_with_time_zone_null(ApiKey::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_key_project")
                            .from(ApiKey::Table, ApiKey::ProjectId)
                            .to(Project::Table, Project::Id)
                            // Deleting a project deletes its keys in the same statement,
                            // so no key can outlive its project.
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // Keyset pagination of a project's keys walks this index.
        manager
            .create_index(
                Index::create()
                    .name("idx_api_key_project_id")
                    .table(ApiKey::Table)
                    .col(ApiKey::ProjectId)
                    .col(ApiKey::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Settings::Table)
                    // Exactly one row, id 1: the server-wide settings.
                    .col(integer(Settings::Id).primary_key())
                    .col(boolean(Settings::AccessControlEnabled))
                    .col(text_null(Settings::AdminUsername))
                    .col(text_null(Settings::AdminPasswordHash))
                    .col(timestamp_with_time_zone(Settings::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        let now = chrono::Utc::now();
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(Settings::Table)
                    .columns([
                        Settings::Id,
                        Settings::AccessControlEnabled,
                        Settings::UpdatedAt,
                    ])
                    .values_panic([1.into(), false.into(), now.into()])
                    .to_owned(),
            )
            .await?;
        // A fresh installation starts with one project, as the product promises.
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(Project::Table)
                    .columns([Project::Name, Project::CreatedAt, Project::UpdatedAt])
                    .values_panic(["Default".into(), now.into(), now.into()])
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Settings::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ApiKey::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Project::Table).to_owned())
            .await
    }
}
