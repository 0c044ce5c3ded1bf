use async_graphql::{Context, Object, Result};
use chrono::{DateTime, Utc};

use super::{Project, Role, User};
use crate::error::Error;
use crate::graphql::context::parts;
use crate::store::{self, project_member};

/// One user's membership of one project.
#[derive(Clone, Debug)]
pub struct ProjectMember {
    project_id: i64,
    role: store::Role,
    added_at: DateTime<Utc>,
    user: User,
}

impl ProjectMember {
    pub fn new(member: project_member::Model, user: User) -> Self {
        Self {
            project_id: member.project_id,
            role: member.role,
            added_at: member.added_at,
            user,
        }
    }
}

/// A user's membership of a project: they act there with `role`, exactly
/// as an API key of that role does (and with every scope: scopes restrict
/// keys, not people).
#[Object]
impl ProjectMember {
    /// The member.
    async fn user(&self) -> &User {
        &self.user
    }

    /// The project.
    async fn project(&self, ctx: &Context<'_>) -> Result<Project> {
        let (services, request) = parts(ctx)?;
        Ok(request
            .project(services, self.project_id)
            .await?
            .map(Project::from)
            .ok_or(Error::NotFound("project"))?)
    }

    /// What they may do in the project.
    async fn role(&self) -> Role {
        self.role.into()
    }

    /// When they were added (or created the project).
    async fn added_at(&self) -> DateTime<Utc> {
        self.added_at
    }
}
