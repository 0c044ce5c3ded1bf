//! GraphQL guards: checks of a field that need nothing but the caller
//! (whom `auth` resolved; the check is GraphQL's).

use async_graphql::{Context, Guard, Result};

use super::context::parts;

/// Lets through the administrator, and everyone while access control is off.
pub struct AdminGuard;

impl Guard for AdminGuard {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        let (_, request) = parts(ctx)?;
        request.principal.require_admin()?;
        Ok(())
    }
}
