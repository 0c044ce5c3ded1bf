//! Single sign-on: the OpenID providers people sign in through, which
//! provider identity is which user, the groups a provider last said a user
//! is in, projects' group members, the access mode, and the sign-ins under
//! way between a redirect to a provider and its return.
//!
//! - `identity_provider.client_secret` is what keyward authenticates to the
//!   provider with at the token endpoint, so it must be kept as given (not
//!   hashed); it is never read back out through the API.
//! - `user_identity` is keyed by (provider, `sub`): the OpenID Connect
//!   identifier of a person, stable where usernames and e-mails are not.
//! - `oidc_sign_in` rows live minutes: one per redirect to a provider,
//!   deleted when its `state` comes back (used once) or when it expires.
//!   They are in the database, not in memory, because the provider may
//!   send the browser back to another replica.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Project {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum AppUser {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Settings {
    Table,
    AccessMode,
}

#[derive(DeriveIden)]
enum IdentityProvider {
    Table,
    Id,
    Name,
    IssuerUrl,
    ClientId,
    ClientSecret,
    Scopes,
    UsernameClaim,
    GroupsClaim,
    Enabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum UserIdentity {
    Table,
    ProviderId,
    Subject,
    UserId,
    LinkedAt,
}

#[derive(DeriveIden)]
enum UserGroup {
    Table,
    UserId,
    GroupName,
}

#[derive(DeriveIden)]
enum ProjectGroupMember {
    Table,
    ProjectId,
    GroupName,
    Role,
    AddedAt,
}

#[derive(DeriveIden)]
enum AccessAllowedUser {
    Table,
    UserId,
}

#[derive(DeriveIden)]
enum AccessAllowedGroup {
    Table,
    GroupName,
}

#[derive(DeriveIden)]
enum OidcSignIn {
    Table,
    StateHash,
    ProviderId,
    Nonce,
    PkceVerifier,
    RedirectUri,
    ReturnTo,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AuditEvent {
    Table,
    TargetProvider,
    TargetGroup,
}

const PROVIDER_NAME_INDEX: &str = "identity_provider_name_key";
const IDENTITY_USER_INDEX: &str = "idx_user_identity_user_id";
const GROUP_MEMBER_GROUP_INDEX: &str = "idx_project_group_member_group_name";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdentityProvider::Table)
                    .col(big_pk_auto(IdentityProvider::Id))
                    .col(text(IdentityProvider::Name))
                    .col(text(IdentityProvider::IssuerUrl))
                    .col(text(IdentityProvider::ClientId))
                    .col(text(IdentityProvider::ClientSecret))
                    .col(text(IdentityProvider::Scopes))
                    .col(text(IdentityProvider::UsernameClaim))
                    .col(text(IdentityProvider::GroupsClaim))
                    .col(boolean(IdentityProvider::Enabled).default(true))
                    .col(timestamp_with_time_zone(IdentityProvider::CreatedAt))
                    .col(timestamp_with_time_zone(IdentityProvider::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(PROVIDER_NAME_INDEX)
                    .table(IdentityProvider::Table)
                    .col(IdentityProvider::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UserIdentity::Table)
                    .col(big_integer(UserIdentity::ProviderId))
                    .col(text(UserIdentity::Subject))
                    .col(big_integer(UserIdentity::UserId))
                    .col(timestamp_with_time_zone(UserIdentity::LinkedAt))
                    .primary_key(
                        Index::create()
                            .col(UserIdentity::ProviderId)
                            .col(UserIdentity::Subject),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(UserIdentity::Table, UserIdentity::ProviderId)
                            .to(IdentityProvider::Table, IdentityProvider::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(UserIdentity::Table, UserIdentity::UserId)
                            .to(AppUser::Table, AppUser::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(IDENTITY_USER_INDEX)
                    .table(UserIdentity::Table)
                    .col(UserIdentity::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UserGroup::Table)
                    .col(big_integer(UserGroup::UserId))
                    .col(text(UserGroup::GroupName))
                    .primary_key(
                        Index::create()
                            .col(UserGroup::UserId)
                            .col(UserGroup::GroupName),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(UserGroup::Table, UserGroup::UserId)
                            .to(AppUser::Table, AppUser::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProjectGroupMember::Table)
                    .col(big_integer(ProjectGroupMember::ProjectId))
                    .col(text(ProjectGroupMember::GroupName))
                    .col(string_len(ProjectGroupMember::Role, 16))
                    .col(timestamp_with_time_zone(ProjectGroupMember::AddedAt))
                    .primary_key(
                        Index::create()
                            .col(ProjectGroupMember::ProjectId)
                            .col(ProjectGroupMember::GroupName),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProjectGroupMember::Table, ProjectGroupMember::ProjectId)
                            .to(Project::Table, Project::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A person's roles through their groups, read at every verification.
        manager
            .create_index(
                Index::create()
                    .name(GROUP_MEMBER_GROUP_INDEX)
                    .table(ProjectGroupMember::Table)
                    .col(ProjectGroupMember::GroupName)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AccessAllowedUser::Table)
                    .col(big_integer(AccessAllowedUser::UserId).primary_key())
                    .foreign_key(
                        ForeignKey::create()
                            .from(AccessAllowedUser::Table, AccessAllowedUser::UserId)
                            .to(AppUser::Table, AppUser::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AccessAllowedGroup::Table)
                    .col(text(AccessAllowedGroup::GroupName).primary_key())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OidcSignIn::Table)
                    .col(text(OidcSignIn::StateHash).primary_key())
                    .col(big_integer(OidcSignIn::ProviderId))
                    .col(text(OidcSignIn::Nonce))
                    .col(text(OidcSignIn::PkceVerifier))
                    .col(text(OidcSignIn::RedirectUri))
                    .col(text(OidcSignIn::ReturnTo))
                    .col(timestamp_with_time_zone(OidcSignIn::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(OidcSignIn::Table, OidcSignIn::ProviderId)
                            .to(IdentityProvider::Table, IdentityProvider::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Settings::Table)
                    .add_column(string_len(Settings::AccessMode, 16).default("UNRESTRICTED"))
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per statement.
        for column in [
            text_null(AuditEvent::TargetProvider),
            text_null(AuditEvent::TargetGroup),
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
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OidcSignIn::Table.into_iden(),
            AccessAllowedGroup::Table.into_iden(),
            AccessAllowedUser::Table.into_iden(),
            ProjectGroupMember::Table.into_iden(),
            UserGroup::Table.into_iden(),
            UserIdentity::Table.into_iden(),
            IdentityProvider::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for (table, column) in [
            (
                Settings::Table.into_iden(),
                Settings::AccessMode.into_iden(),
            ),
            (
                AuditEvent::Table.into_iden(),
                AuditEvent::TargetProvider.into_iden(),
            ),
            (
                AuditEvent::Table.into_iden(),
                AuditEvent::TargetGroup.into_iden(),
            ),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
