//! Who may sign in through an identity provider: the access mode and its
//! allowed users and groups, set together by an administrator, audited.

use std::collections::BTreeSet;

use async_graphql::{Context, ID, InputObject, Object, Result};

use crate::error::Error;
use crate::graphql::context::parts;
use crate::graphql::types::{AccessControl, AccessMode};
use crate::ids::{GlobalId, NodeKind};
use crate::store::{AuditAction, Target};
use crate::validation;

/// Most users, and most groups, the lists may hold.
const MAX_ALLOWED: usize = 1000;

/// The access mode and its lists, replacing the ones set before.
#[derive(InputObject)]
pub struct SetAccessModeInput {
    /// Who may sign in through an identity provider.
    pub mode: AccessMode,
    /// Global ids of users RESTRICTED and REQUIRED always let in (at most
    /// 1000). Left out or null: none.
    pub allowed_users: Option<Vec<ID>>,
    /// Groups whose people RESTRICTED and REQUIRED always let in, exactly as
    /// the providers' groups claims write them (at most 1000). Left out or
    /// null: none.
    pub allowed_groups: Option<Vec<String>>,
}

#[derive(Default)]
pub struct AccessModeMutation;

#[Object]
impl AccessModeMutation {
    /// Sets who may sign in through an identity provider (administrators
    /// only), from the next sign-in on: sessions already started are not
    /// ended (disable a user, or remove their memberships, for that). A
    /// person the mode refuses is told so, and gets no user. An id in
    /// `allowedUsers` that is not a User id is BAD_USER_INPUT; one naming
    /// no user is NOT_FOUND, and nothing changes.
    async fn set_access_mode(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mode and its allowed users and groups.")] input: SetAccessModeInput,
    ) -> Result<AccessControl> {
        let (services, request) = parts(ctx)?;
        let users = input.allowed_users.unwrap_or_default();
        let groups = input.allowed_groups.unwrap_or_default();
        if users.len() > MAX_ALLOWED {
            return Err(Error::bad_input(
                "input.allowedUsers",
                format!("at most {MAX_ALLOWED} users"),
            )
            .into());
        }
        if groups.len() > MAX_ALLOWED {
            return Err(Error::bad_input(
                "input.allowedGroups",
                format!("at most {MAX_ALLOWED} groups"),
            )
            .into());
        }
        let users = users
            .iter()
            .map(|id| GlobalId::parse_as(NodeKind::User, "input.allowedUsers", id))
            .collect::<Result<BTreeSet<i64>, Error>>()?;
        let groups = groups
            .iter()
            .map(|group| validation::group("input.allowedGroups", group))
            .collect::<Result<BTreeSet<String>, Error>>()?;
        let mode = input.mode.into();
        request
            .mutation(
                services,
                AuditAction::AccessModeChanged,
                Target::default(),
                async |m| {
                    let admin = request.principal.require_admin()?;
                    services
                        .store
                        .set_access_mode(&m.grant(admin), mode, &users, &groups)
                        .await
                },
            )
            .await?;
        tracing::info!(?mode, "access mode set");
        let settings = services.store.settings().await?;
        Ok(AccessControl {
            enabled: settings.access_control_enabled,
        })
    }
}
