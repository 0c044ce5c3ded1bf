use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use crate::auth::Secret;
use crate::error::Error;
use crate::graphql::context::parts;
use crate::graphql::types::{User, UserState};
use crate::ids::{GlobalId, NodeKind};
use crate::store::{self, AuditAction, NewUser, Target, UserChanges};
use crate::validation;

/// A new user.
#[derive(InputObject)]
pub struct CreateUserInput {
    /// The name they sign in with: 1 to 128 characters, no ':', unique
    /// without regard to case.
    pub username: String,
    /// The name shown for them; the username if left out.
    pub display_name: Option<String>,
    /// Their first password, 12 to 1024 characters (they can change it).
    /// Stored only as an argon2id hash.
    pub password: String,
    /// Whether they manage the whole server (default false).
    #[graphql(default)]
    pub administrator: bool,
}

/// Changes to a user. Fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateUserInput {
    /// The user's global id.
    pub id: ID,
    /// New display name, 1 to 128 characters (the user themself may change it).
    pub display_name: Option<String>,
    /// Whether they are an administrator (administrators only; the last
    /// ACTIVE administrator keeps it).
    pub administrator: Option<bool>,
}

/// A user to enable or disable.
#[derive(InputObject)]
pub struct SetUserStateInput {
    /// The user's global id.
    pub id: ID,
    /// ACTIVE to let them in, DISABLED to refuse them from their next request.
    pub state: UserState,
}

/// A user's new password, set by an administrator.
#[derive(InputObject)]
pub struct ResetUserPasswordInput {
    /// The user's global id.
    pub id: ID,
    /// The new password, 12 to 1024 characters.
    pub password: String,
}

/// The signed-in user's new password.
#[derive(InputObject)]
pub struct ChangePasswordInput {
    /// Their password now.
    pub current_password: String,
    /// The new password, 12 to 1024 characters.
    pub new_password: String,
}

/// The user to delete; they must be DISABLED.
#[derive(InputObject)]
pub struct DeleteUserInput {
    /// The user's global id.
    pub id: ID,
}

/// Whose sessions to end.
#[derive(InputObject)]
pub struct SignOutEverywhereInput {
    /// The user's global id: oneself, or anyone for an administrator.
    pub user_id: ID,
}

/// The user, as they are now.
#[derive(SimpleObject)]
pub struct UserPayload {
    /// The user after the change.
    pub user: User,
}

/// The user deleted.
#[derive(SimpleObject)]
pub struct DeleteUserPayload {
    /// Global id of the user that was deleted.
    pub deleted_user_id: ID,
}

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Creates an ACTIVE user (administrators only).
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user to create.")] input: CreateUserInput,
    ) -> Result<UserPayload> {
        let (services, request) = parts(ctx)?;
        let user = request
            .mutation(
                services,
                AuditAction::UserCreated,
                Target::default(),
                async |m| {
                    let admin = request.principal.require_admin()?;
                    let username = validation::admin_username("input.username", &input.username)?;
                    let display_name = match &input.display_name {
                        Some(name) => validation::name("input.displayName", name)?,
                        None => username.clone(),
                    };
                    validation::admin_password("input.password", &input.password)?;
                    let password_hash = services.hasher.hash(Secret::new(input.password)).await?;
                    let new = NewUser {
                        username,
                        display_name,
                        password_hash,
                        administrator: input.administrator,
                    };
                    services.store.create_user(&m.grant(admin), new).await
                },
            )
            .await?;
        tracing::info!(user_id = user.id, "user created");
        Ok(UserPayload { user: user.into() })
    }

    /// Changes a user's display name (the user themself, or an
    /// administrator) or administrator flag (administrators only).
    async fn update_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user and their changes.")] input: UpdateUserInput,
    ) -> Result<UserPayload> {
        let (services, request) = parts(ctx)?;
        let id = GlobalId::parse_as(NodeKind::User, "input.id", &input.id)?;
        let user = request
            .mutation(
                services,
                AuditAction::UserUpdated,
                Target::user_id(id),
                async |m| {
                    let account = request.principal.require_account(id)?;
                    let administrator = match input.administrator {
                        Some(value) => Some((value, request.principal.require_admin()?)),
                        None => None,
                    };
                    let display_name = input
                        .display_name
                        .as_deref()
                        .map(|name| validation::name("input.displayName", name))
                        .transpose()?;
                    let changes = UserChanges {
                        display_name,
                        administrator,
                    };
                    services.store.update_user(&m.grant(account), changes).await
                },
            )
            .await?;
        Ok(UserPayload { user: user.into() })
    }

    /// Enables or disables a user (administrators only). Disabling holds
    /// from their next request on every replica and ends their sessions;
    /// the last ACTIVE administrator cannot be disabled (CONFLICT).
    async fn set_user_state(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user and their new state.")] input: SetUserStateInput,
    ) -> Result<UserPayload> {
        let (services, request) = parts(ctx)?;
        let id = GlobalId::parse_as(NodeKind::User, "input.id", &input.id)?;
        let (state, action) = match input.state {
            UserState::Active => (store::UserState::Active, AuditAction::UserEnabled),
            UserState::Disabled => (store::UserState::Disabled, AuditAction::UserDisabled),
        };
        let user = request
            .mutation(services, action, Target::user_id(id), async |m| {
                let admin = request.principal.require_admin()?;
                services
                    .store
                    .set_user_state(&m.grant(admin), id, state)
                    .await
            })
            .await?;
        tracing::info!(user_id = user.id, state = ?user.state, "user state set");
        Ok(UserPayload { user: user.into() })
    }

    /// Sets a user's password (administrators only; the password policy of
    /// `createUser`). Their sessions end, and the old password stops working
    /// from the next request on every replica.
    async fn reset_user_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user and their new password.")] input: ResetUserPasswordInput,
    ) -> Result<UserPayload> {
        let (services, request) = parts(ctx)?;
        let id = GlobalId::parse_as(NodeKind::User, "input.id", &input.id)?;
        let user = request
            .mutation(
                services,
                AuditAction::UserPasswordReset,
                Target::user_id(id),
                async |m| {
                    let admin = request.principal.require_admin()?;
                    validation::admin_password("input.password", &input.password)?;
                    let hash = services.hasher.hash(Secret::new(input.password)).await?;
                    services
                        .store
                        .reset_user_password(&m.grant(admin), id, hash)
                        .await
                },
            )
            .await?;
        Ok(UserPayload { user: user.into() })
    }

    /// Changes the signed-in user's own password, given the current one.
    /// Their other sessions end; this one goes on.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The current password and the new one.")] input: ChangePasswordInput,
    ) -> Result<UserPayload> {
        let (services, request) = parts(ctx)?;
        let user = request
            .mutation(
                services,
                AuditAction::PasswordChanged,
                Target::default(),
                async |m| {
                    let (account, person) = request.principal.require_self()?;
                    m.about(Target::user_id(person.user_id));
                    let stored = services
                        .store
                        .user(person.user_id)
                        .await?
                        .and_then(|user| user.password_hash);
                    let current = Secret::new(input.current_password);
                    if !services.hasher.verify(stored, current).await? {
                        return Err(Error::bad_input(
                            "input.currentPassword",
                            "is not the current password",
                        ));
                    }
                    validation::admin_password("input.newPassword", &input.new_password)?;
                    let hash = services
                        .hasher
                        .hash(Secret::new(input.new_password))
                        .await?;
                    services
                        .store
                        .change_password(&m.grant(account), hash, person.session_id())
                        .await
                },
            )
            .await?;
        Ok(UserPayload { user: user.into() })
    }

    /// Deletes a DISABLED user for good (administrators only); an ACTIVE one
    /// fails with CONFLICT. The keys they created stay their projects'.
    async fn delete_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The DISABLED user to delete.")] input: DeleteUserInput,
    ) -> Result<DeleteUserPayload> {
        let (services, request) = parts(ctx)?;
        let id = GlobalId::parse_as(NodeKind::User, "input.id", &input.id)?;
        request
            .mutation(
                services,
                AuditAction::UserDeleted,
                Target::user_id(id),
                async |m| {
                    let admin = request.principal.require_admin()?;
                    services.store.delete_user(&m.grant(admin), id).await
                },
            )
            .await?;
        tracing::info!(user_id = id, "user deleted");
        Ok(DeleteUserPayload {
            deleted_user_id: GlobalId::user(id).into(),
        })
    }

    /// Ends every session of a user (the user themself, or an administrator
    /// for anyone), from the next request on every replica.
    async fn sign_out_everywhere(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Whose sessions to end.")] input: SignOutEverywhereInput,
    ) -> Result<UserPayload> {
        let (services, request) = parts(ctx)?;
        let id = GlobalId::parse_as(NodeKind::User, "input.userId", &input.user_id)?;
        let user = request
            .mutation(
                services,
                AuditAction::UserSignedOutEverywhere,
                Target::user_id(id),
                async |m| {
                    let account = request.principal.require_account(id)?;
                    services.store.sign_out_everywhere(&m.grant(account)).await
                },
            )
            .await?;
        Ok(UserPayload { user: user.into() })
    }
}
