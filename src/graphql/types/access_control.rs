//! Whether requests must carry credentials, and who may sign in through an
//! identity provider: `enabled` is anyone's to read (the console asks it
//! before anyone signs in); the access mode and its lists are the
//! administrators'.

use async_graphql::{ComplexObject, Context, ID, Result, SimpleObject};

use super::AccessMode;
use crate::graphql::context::parts;
use crate::ids::GlobalId;
use crate::store::AccessModeSettings;

/// Whether requests must carry credentials, and who may sign in through an
/// identity provider.
#[derive(SimpleObject, Clone, Copy, Debug)]
#[graphql(complex)]
pub struct AccessControl {
    /// True once an administrator has turned access control on. While false,
    /// anyone who can reach the server has full access.
    pub enabled: bool,
}

/// The access mode, for administrators only: FORBIDDEN (and null) for
/// everyone else.
async fn access_mode(ctx: &Context<'_>) -> Result<AccessModeSettings> {
    let (services, request) = parts(ctx)?;
    request.principal.require_admin()?;
    Ok(services.store.access_mode().await?)
}

#[ComplexObject]
impl AccessControl {
    /// Who may sign in through an identity provider (administrators only:
    /// FORBIDDEN for everyone else). Password sign-ins are not affected.
    async fn mode(&self, ctx: &Context<'_>) -> Result<Option<AccessMode>> {
        Ok(Some(access_mode(ctx).await?.mode.into()))
    }

    /// Global ids of the users RESTRICTED and REQUIRED always let in
    /// (administrators only: FORBIDDEN for everyone else).
    async fn allowed_users(&self, ctx: &Context<'_>) -> Result<Option<Vec<ID>>> {
        let settings = access_mode(ctx).await?;
        Ok(Some(
            settings
                .allowed_users
                .into_iter()
                .map(|id| GlobalId::user(id).into())
                .collect(),
        ))
    }

    /// The groups whose people RESTRICTED and REQUIRED always let in, as the
    /// providers' groups claims write them (administrators only: FORBIDDEN
    /// for everyone else).
    async fn allowed_groups(&self, ctx: &Context<'_>) -> Result<Option<Vec<String>>> {
        Ok(Some(access_mode(ctx).await?.allowed_groups))
    }
}
