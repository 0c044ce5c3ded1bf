//! Linking a user to an identity at a provider, so that switching
//! providers (or a user who had a password first) orphans nobody:
//! administrators only, audited.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use crate::graphql::context::parts;
use crate::graphql::types::{User, UserIdentity};
use crate::ids::{GlobalId, NodeKind};
use crate::store::{AuditAction, Target};
use crate::validation;

/// A user and the identity at a provider that is to be theirs.
#[derive(InputObject)]
pub struct LinkUserIdentityInput {
    /// The user's global id.
    pub user_id: ID,
    /// The identity provider's name.
    pub provider: String,
    /// The person's subject (`sub`) at that provider, exactly as its ID
    /// tokens carry it: 1 to 255 characters.
    pub subject: String,
}

/// The identity linked.
#[derive(SimpleObject)]
pub struct LinkUserIdentityPayload {
    /// The user, who now signs in through the provider as `identity`.
    pub user: User,
    /// The new identity.
    pub identity: UserIdentity,
}

#[derive(Default)]
pub struct UserIdentityMutation;

#[Object]
impl UserIdentityMutation {
    /// Makes an identity at a provider a user's (administrators only): from
    /// then on, whoever signs in through `provider` as `subject` is that
    /// user. NOT_FOUND for an unknown user or provider; CONFLICT if the
    /// identity is linked (to anyone) already.
    async fn link_user_identity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user, the provider and the subject.")] input: LinkUserIdentityInput,
    ) -> Result<LinkUserIdentityPayload> {
        let (services, request) = parts(ctx)?;
        let user_id = GlobalId::parse_as(NodeKind::User, "input.userId", &input.user_id)?;
        let provider = validation::slug("input.provider", &input.provider)?;
        let subject = validation::subject("input.subject", &input.subject)?;
        let target = Target {
            provider: Some(provider.clone()),
            ..Target::user_id(user_id)
        };
        let (user, identity) = request
            .mutation(
                services,
                AuditAction::UserIdentityLinked,
                target,
                async |m| {
                    let admin = request.principal.require_admin()?;
                    services
                        .store
                        .link_identity(&m.grant(admin), user_id, &provider, &subject)
                        .await
                },
            )
            .await?;
        tracing::info!(user_id, %provider, "user identity linked");
        Ok(LinkUserIdentityPayload {
            user: user.into(),
            identity: UserIdentity::new(identity, provider),
        })
    }
}
