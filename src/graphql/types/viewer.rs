use async_graphql::{Context, Object, Result};

use super::{ApiKey, Project, Role, User, ViewerKind};
use crate::auth::Principal;
use crate::graphql::context::parts;

/// The caller of a request. Fields load only what is asked for.
#[derive(Clone, Debug)]
pub struct Viewer {
    principal: Principal,
    /// The calling key's project, or the endpoint's.
    project_id: Option<i64>,
}

impl Viewer {
    pub fn new(principal: Principal, project_id: Option<i64>) -> Self {
        Self {
            principal,
            project_id,
        }
    }
}

/// The caller of the current request.
#[Object]
impl Viewer {
    /// How the caller authenticated.
    async fn kind(&self) -> ViewerKind {
        match &self.principal {
            Principal::Anonymous => ViewerKind::Anonymous,
            Principal::Person(person) if person.administrator => ViewerKind::Admin,
            Principal::Person(_) => ViewerKind::User,
            Principal::ApiKey(_) => ViewerKind::ApiKey,
        }
    }

    /// The calling key's role; null unless `kind` is API_KEY.
    async fn role(&self) -> Option<Role> {
        self.principal.key().map(|key| key.role.into())
    }

    /// The calling key; null unless `kind` is API_KEY.
    async fn api_key(&self, ctx: &Context<'_>) -> Result<Option<ApiKey>> {
        let Some(key) = self.principal.key() else {
            return Ok(None);
        };
        let (services, _) = parts(ctx)?;
        Ok(services.store.key(key.key_id).await?.map(ApiKey::from))
    }

    /// The signed-in person (also for an administrator); null for keys and
    /// while access control is off.
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(person) = self.principal.person() else {
            return Ok(None);
        };
        let (services, _) = parts(ctx)?;
        Ok(services.store.user(person.user_id).await?.map(User::from))
    }

    /// The calling key's project, or the project of the endpoint called.
    async fn project(&self, ctx: &Context<'_>) -> Result<Option<Project>> {
        let Some(id) = self.project_id else {
            return Ok(None);
        };
        let (services, request) = parts(ctx)?;
        Ok(request.project(services, id).await?.map(Project::from))
    }
}
