use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};

use crate::error::Error;
use crate::graphql::context::parts;
use crate::graphql::types::Project;
use crate::ids::{GlobalId, NodeKind};
use crate::store::{AuditAction, Target};
use crate::validation;

/// A new project.
#[derive(InputObject)]
pub struct CreateProjectInput {
    /// Name, 1 to 128 characters, unique on this server.
    pub name: String,
    /// Description, at most 1024 characters.
    pub description: Option<String>,
}

/// The project created.
#[derive(SimpleObject)]
pub struct CreateProjectPayload {
    /// The new project.
    pub project: Project,
}

/// Changes to a project. Fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateProjectInput {
    /// The project's global id.
    pub id: ID,
    /// New name, 1 to 128 characters, unique on this server.
    pub name: MaybeUndefined<String>,
    /// New description; null clears it.
    pub description: MaybeUndefined<String>,
}

/// The project updated.
#[derive(SimpleObject)]
pub struct UpdateProjectPayload {
    /// The project as it is now.
    pub project: Project,
}

/// The project to delete.
#[derive(InputObject)]
pub struct DeleteProjectInput {
    /// The project's global id.
    pub id: ID,
}

/// The project deleted.
#[derive(SimpleObject)]
pub struct DeleteProjectPayload {
    /// Global id of the project that was deleted.
    pub deleted_project_id: ID,
}

#[derive(Default)]
pub struct ProjectMutation;

#[Object]
impl ProjectMutation {
    /// Creates a project: an administrator, or any signed-in user, who
    /// becomes its first OWNER member (never a key).
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project to create.")] input: CreateProjectInput,
    ) -> Result<CreateProjectPayload> {
        let (services, request) = parts(ctx)?;
        let action = AuditAction::ProjectCreated;
        let project = request
            .mutation(services, action, Target::default(), async |m| {
                let creator = request.principal.require_project_creator()?;
                let name = validation::name("input.name", &input.name)?;
                let description =
                    validation::description("input.description", input.description.as_deref())?;
                services
                    .store
                    .create_project(&m.grant(creator), name, description)
                    .await
            })
            .await?;
        tracing::info!(project_id = project.id, "project created");
        Ok(CreateProjectPayload {
            project: project.into(),
        })
    }

    /// Renames a project or changes its description (an administrator, or
    /// an OWNER key or member of the project).
    async fn update_project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project and its changes.")] input: UpdateProjectInput,
    ) -> Result<UpdateProjectPayload> {
        let (services, request) = parts(ctx)?;
        let id = GlobalId::parse_as(NodeKind::Project, "input.id", &input.id)?;
        let action = AuditAction::ProjectUpdated;
        let project = request
            .mutation(services, action, Target::project(id), async |m| {
                let owner = request.principal.require_project_owner(id)?;
                let changes = super::changes(input.name, input.description)?;
                services
                    .store
                    .update_project(&m.grant(owner), changes)
                    .await?
                    .ok_or(Error::NotFound("project"))
            })
            .await?;
        Ok(UpdateProjectPayload {
            project: project.into(),
        })
    }

    /// Deletes a project and all its keys, which stop working at once
    /// (administrator only).
    async fn delete_project(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project to delete.")] input: DeleteProjectInput,
    ) -> Result<DeleteProjectPayload> {
        let (services, request) = parts(ctx)?;
        let id = GlobalId::parse_as(NodeKind::Project, "input.id", &input.id)?;
        let action = AuditAction::ProjectDeleted;
        request
            .mutation(services, action, Target::project(id), async |m| {
                let admin = request.principal.require_admin()?;
                match services.store.delete_project(&m.grant(admin), id).await? {
                    true => Ok(()),
                    false => Err(Error::NotFound("project")),
                }
            })
            .await?;
        tracing::info!(project_id = id, "project deleted");
        Ok(DeleteProjectPayload {
            deleted_project_id: GlobalId::project(id).into(),
        })
    }
}
