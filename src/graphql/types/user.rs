use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::{ProjectMember, UserIdentity};
use crate::graphql::context::parts;
use crate::ids::GlobalId;
use crate::store::{self, user};

/// Whether a user may sign in.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "store::UserState")]
pub enum UserState {
    /// The user signs in and acts in their projects.
    Active,
    /// The user is refused from their next request on, on every replica;
    /// their sessions have ended. They can be enabled again, or deleted.
    Disabled,
}

/// The published fields of a user row: never the password hash.
#[derive(Clone, Debug)]
pub struct User {
    id: i64,
    username: String,
    display_name: String,
    administrator: bool,
    state: store::UserState,
    created_at: DateTime<Utc>,
    last_sign_in_at: Option<DateTime<Utc>>,
}

impl From<user::Model> for User {
    // Field by field: the password hash is deliberately not carried over.
    fn from(model: user::Model) -> Self {
        Self {
            id: model.id,
            username: model.username,
            display_name: model.display_name,
            administrator: model.administrator,
            state: model.state,
            created_at: model.created_at,
            last_sign_in_at: model.last_sign_in_at,
        }
    }
}

impl User {
    pub fn row_id(&self) -> i64 {
        self.id
    }

    pub fn global_id(&self) -> GlobalId {
        GlobalId::user(self.id)
    }
}

/// A person who signs in to keyward (the console, or Basic `username:password`
/// on the API) and acts in the projects they are a member of, with their
/// role there; an administrator acts everywhere.
#[Object]
impl User {
    /// Opaque global id of the user.
    pub async fn id(&self) -> ID {
        self.global_id().into()
    }

    /// The name they sign in with: 1 to 128 characters, no ':', unique
    /// without regard to case.
    async fn username(&self) -> &str {
        &self.username
    }

    /// The name shown for them in the console and the trail.
    async fn display_name(&self) -> &str {
        &self.display_name
    }

    /// Whether they manage the whole server: people, every project, access
    /// control.
    async fn administrator(&self) -> bool {
        self.administrator
    }

    /// Whether they may sign in.
    async fn state(&self) -> UserState {
        self.state.into()
    }

    /// When the user was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// When they last signed in through `/auth/sign-in` (Basic requests do
    /// not count); null if never.
    async fn last_sign_in_at(&self) -> Option<DateTime<Utc>> {
        self.last_sign_in_at
    }

    /// The projects they are a member of, with their role in each, as far
    /// as the caller can see those projects.
    async fn memberships(&self, ctx: &Context<'_>) -> Result<Vec<ProjectMember>> {
        let (services, request) = parts(ctx)?;
        let memberships = services.store.memberships_of(self.id).await?;
        Ok(memberships
            .into_iter()
            .filter(|member| request.principal.can_see(member.project_id))
            .map(|member| ProjectMember::new(member, self.clone()))
            .collect())
    }

    /// Who they are at identity providers: signing in through one of these
    /// is signing in as this user. Empty for people who sign in with a
    /// password only.
    async fn identities(&self, ctx: &Context<'_>) -> Result<Vec<UserIdentity>> {
        let (services, _) = parts(ctx)?;
        Ok(services
            .store
            .identities_of(self.id)
            .await?
            .into_iter()
            .map(|(identity, provider)| UserIdentity::new(identity, provider))
            .collect())
    }

    /// The groups their identity provider said they are in at their last
    /// sign-in through it, sorted; they change only when they sign in
    /// again. Empty for people who sign in with a password only.
    async fn groups(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let (services, _) = parts(ctx)?;
        Ok(services.store.groups_of(self.id).await?)
    }
}
