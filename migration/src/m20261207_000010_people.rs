//! People: user accounts, their membership of projects, and their browser
//! sessions; who created each key; which person each audit event names.
//!
//! The administrator of `settings` (`admin_username`, `admin_password_hash`)
//! becomes the first user, an administrator with the same password hash, and
//! those two columns go: from here on a person is a row of `app_user`
//! (`user` is reserved in PostgreSQL).
//!
//! `app_user.username_key` is the username folded to lower case, unique, so
//! that usernames are unique without regard to case while the username
//! keeps the case it was given. `user_session.token_hash` is the BLAKE2s-256 digest of
//! the session cookie's value: the value itself is never stored.

use sea_orm_migration::sea_orm::ConnectionTrait;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Project {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Settings {
    Table,
    AdminUsername,
    AdminPasswordHash,
}

#[derive(DeriveIden)]
enum AppUser {
    Table,
    Id,
    Username,
    UsernameKey,
    DisplayName,
    Administrator,
    State,
    PasswordHash,
    CreatedAt,
    UpdatedAt,
    LastSignInAt,
}

#[derive(DeriveIden)]
enum ProjectMember {
    Table,
    ProjectId,
    UserId,
    Role,
    AddedAt,
}

#[derive(DeriveIden)]
enum UserSession {
    Table,
    Id,
    UserId,
    TokenHash,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum ApiKey {
    Table,
    CreatedByUserId,
}

#[derive(DeriveIden)]
enum AuditEvent {
    Table,
    ActorUserId,
    ActorUsername,
    TargetUserId,
    TargetUsername,
}

const USERNAME_INDEX: &str = "app_user_username_key_key";
const MEMBER_USER_INDEX: &str = "idx_project_member_user_id";
const SESSION_TOKEN_INDEX: &str = "user_session_token_hash_key";
const SESSION_USER_INDEX: &str = "idx_user_session_user_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AppUser::Table)
                    .col(big_pk_auto(AppUser::Id))
                    .col(text(AppUser::Username))
                    .col(text(AppUser::UsernameKey))
                    .col(text(AppUser::DisplayName))
                    .col(boolean(AppUser::Administrator).default(false))
                    .col(string_len(AppUser::State, 16))
                    .col(text_null(AppUser::PasswordHash))
                    .col(timestamp_with_time_zone(AppUser::CreatedAt))
                    .col(timestamp_with_time_zone(AppUser::UpdatedAt))
                    .col(timestamp_with_time_zone_null(AppUser::LastSignInAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(USERNAME_INDEX)
                    .table(AppUser::Table)
                    .col(AppUser::UsernameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProjectMember::Table)
                    .col(big_integer(ProjectMember::ProjectId))
                    .col(big_integer(ProjectMember::UserId))
                    .col(string_len(ProjectMember::Role, 16))
                    .col(timestamp_with_time_zone(ProjectMember::AddedAt))
                    .primary_key(
                        Index::create()
                            .col(ProjectMember::ProjectId)
                            .col(ProjectMember::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProjectMember::Table, ProjectMember::ProjectId)
                            .to(Project::Table, Project::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProjectMember::Table, ProjectMember::UserId)
                            .to(AppUser::Table, AppUser::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A user's memberships, read at every verification of the user.
        manager
            .create_index(
                Index::create()
                    .name(MEMBER_USER_INDEX)
                    .table(ProjectMember::Table)
                    .col(ProjectMember::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UserSession::Table)
                    .col(big_pk_auto(UserSession::Id))
                    .col(big_integer(UserSession::UserId))
                    .col(text(UserSession::TokenHash))
                    .col(timestamp_with_time_zone(UserSession::CreatedAt))
                    .col(timestamp_with_time_zone(UserSession::LastSeenAt))
                    .col(timestamp_with_time_zone(UserSession::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(UserSession::Table, UserSession::UserId)
                            .to(AppUser::Table, AppUser::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(SESSION_TOKEN_INDEX)
                    .table(UserSession::Table)
                    .col(UserSession::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(SESSION_USER_INDEX)
                    .table(UserSession::Table)
                    .col(UserSession::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKey::Table)
                    .add_column(big_integer_null(ApiKey::CreatedByUserId))
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per statement.
        for column in [
            big_integer_null(AuditEvent::ActorUserId),
            text_null(AuditEvent::ActorUsername),
            big_integer_null(AuditEvent::TargetUserId),
            text_null(AuditEvent::TargetUsername),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditEvent::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        carry_over_administrator(manager).await?;
        for column in [Settings::AdminUsername, Settings::AdminPasswordHash] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Settings::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Going back would have to choose one of many users as the only
        // administrator; restore a backup instead.
        Err(DbErr::Migration(
            "people cannot be migrated down; restore a backup made before the upgrade".into(),
        ))
    }
}

/// The administrator of `settings`, if access control was on, as the first
/// user: an ACTIVE administrator with the same username and password hash.
async fn carry_over_administrator(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let select = Query::select()
        .columns([
            Alias::new("admin_username"),
            Alias::new("admin_password_hash"),
            Alias::new("updated_at"),
        ])
        .from(Settings::Table)
        .and_where(Expr::col(Alias::new("admin_username")).is_not_null())
        .and_where(Expr::col(Alias::new("admin_password_hash")).is_not_null())
        .to_owned();
    let Some(row) = db.query_one(&select).await? else {
        return Ok(());
    };
    let username: String = row.try_get("", "admin_username")?;
    let hash: String = row.try_get("", "admin_password_hash")?;
    let since: chrono::DateTime<chrono::Utc> = row.try_get("", "updated_at")?;
    let mut insert = Query::insert();
    insert
        .into_table(AppUser::Table)
        .columns([
            AppUser::Username,
            AppUser::UsernameKey,
            AppUser::DisplayName,
            AppUser::Administrator,
            AppUser::State,
            AppUser::PasswordHash,
            AppUser::CreatedAt,
            AppUser::UpdatedAt,
        ])
        .values([
            username.clone().into(),
            username.to_lowercase().into(),
            username.into(),
            true.into(),
            "ACTIVE".into(),
            hash.into(),
            since.into(),
            since.into(),
        ])
        .map_err(|err| DbErr::Migration(err.to_string()))?;
    db.execute(&insert).await?;
    Ok(())
}
