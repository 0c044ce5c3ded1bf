use async_graphql::{Context, InputObject, Object, Result};

use crate::auth::Secret;
use crate::error::Error;
use crate::graphql::context::parts;
use crate::graphql::types::AccessControl;
use crate::store::{AuditAction, NewUser, Target};
use crate::validation;

/// The administrator who will manage the server once access control is on.
#[derive(InputObject)]
pub struct EnableAccessControlInput {
    /// The administrator's username (Basic username), 1 to 128 characters, no ':'.
    pub username: String,
    /// The administrator's password (Basic password), 12 to 1024 characters.
    /// Stored only as an argon2id hash.
    pub password: String,
}

#[derive(Default)]
pub struct AccessControlMutation;

#[Object]
impl AccessControlMutation {
    /// Turns access control on: from now on every request needs a signed-in
    /// person's or an active API key's credentials. Creates the first
    /// administrator (or, if a user of that name exists from an earlier time
    /// access control was on, makes them an ACTIVE administrator with this
    /// password). Fails with CONFLICT if it is already on.
    async fn enable_access_control(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The administrator to create.")] input: EnableAccessControlInput,
    ) -> Result<AccessControl> {
        let (services, request) = parts(ctx)?;
        let action = AuditAction::AccessControlEnabled;
        let username = request
            .mutation(services, action, Target::default(), async |m| {
                let admin = request.principal.require_admin()?;
                let username = validation::admin_username("input.username", &input.username)?;
                validation::admin_password("input.password", &input.password)?;
                let password_hash = services.hasher.hash(Secret::new(input.password)).await?;
                let administrator = NewUser {
                    display_name: username.clone(),
                    username: username.clone(),
                    password_hash,
                    administrator: true,
                };
                match services
                    .store
                    .enable_access_control(&m.grant(admin), administrator)
                    .await?
                {
                    true => Ok(username),
                    false => Err(Error::Conflict("access control is already enabled".into())),
                }
            })
            .await?;
        tracing::info!(%username, "access control enabled");
        Ok(AccessControl { enabled: true })
    }

    /// Turns access control off: anyone who can reach the server then has
    /// full access, and `/verify` lets every request through. Users and
    /// their memberships are kept for when it is on again; every session
    /// ends. Succeeds if it is already off.
    async fn disable_access_control(&self, ctx: &Context<'_>) -> Result<AccessControl> {
        let (services, request) = parts(ctx)?;
        let action = AuditAction::AccessControlDisabled;
        request
            .mutation(services, action, Target::default(), async |m| {
                let admin = request.principal.require_admin()?;
                services.store.disable_access_control(&m.grant(admin)).await
            })
            .await?;
        tracing::warn!(
            "access control disabled: anyone who can reach this server has full access, \
             and /verify lets every request through"
        );
        Ok(AccessControl { enabled: false })
    }
}
