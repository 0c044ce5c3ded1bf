//! The mutation root, merged from one part per subject.

mod access_control;
mod access_mode;
mod api_key;
mod group_member;
mod identity_provider;
mod member;
mod project;
mod user;
mod user_identity;
mod webhook;

use async_graphql::{MaybeUndefined, MergedObject};

use crate::error::Error;
use crate::store::Changes;
use crate::validation;

/// Changes to access control, identity providers, people, projects and
/// their members (people and groups), keys and webhooks.
#[derive(MergedObject, Default)]
pub struct Mutation(
    access_control::AccessControlMutation,
    access_mode::AccessModeMutation,
    identity_provider::IdentityProviderMutation,
    user::UserMutation,
    user_identity::UserIdentityMutation,
    project::ProjectMutation,
    member::MemberMutation,
    group_member::GroupMemberMutation,
    api_key::ApiKeyMutation,
    webhook::WebhookMutation,
);

/// Validates the optional name and description of an update: a field left
/// out stays as it is, `description: null` clears it, `name: null` is refused.
fn changes(
    name: MaybeUndefined<String>,
    description: MaybeUndefined<String>,
) -> Result<Changes, Error> {
    let name = match name {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => return Err(Error::bad_input("input.name", "must not be null")),
        MaybeUndefined::Value(name) => Some(validation::name("input.name", &name)?),
    };
    let description = match description {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(d) => Some(validation::description("input.description", Some(&d))?),
    };
    Ok(Changes { name, description })
}
