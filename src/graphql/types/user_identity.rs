//! One identity of a user at an identity provider.

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};

use crate::store::user_identity;

/// Who a user is at an identity provider: signing in through `provider` as
/// `subject` is signing in as this user.
#[derive(SimpleObject, Clone, Debug)]
pub struct UserIdentity {
    /// The identity provider's name.
    pub provider: String,
    /// The person's subject (`sub`) at the provider: its stable id for them.
    pub subject: String,
    /// When the identity became this user's: their first sign-in through the
    /// provider, or an administrator's `linkUserIdentity`.
    pub linked_at: DateTime<Utc>,
}

impl UserIdentity {
    pub fn new(identity: user_identity::Model, provider: String) -> Self {
        Self {
            provider,
            subject: identity.subject,
            linked_at: identity.linked_at,
        }
    }
}
