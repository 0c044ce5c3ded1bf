use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use crate::graphql::context::parts;
use crate::graphql::types::{Project, ProjectMember, Role, User};
use crate::ids::{GlobalId, NodeKind};
use crate::store::{AuditAction, Target};

/// A user to add to a project, or whose role there changes.
#[derive(InputObject)]
pub struct ProjectMemberInput {
    /// The project's global id.
    pub project_id: ID,
    /// The user's global id.
    pub user_id: ID,
    /// What they may do in the project.
    pub role: Role,
}

/// A member to remove from a project.
#[derive(InputObject)]
pub struct RemoveProjectMemberInput {
    /// The project's global id.
    pub project_id: ID,
    /// The member's user global id.
    pub user_id: ID,
}

/// The membership, as it is now.
#[derive(SimpleObject)]
pub struct ProjectMemberPayload {
    /// The membership after the change.
    pub member: ProjectMember,
}

/// The membership removed.
#[derive(SimpleObject)]
pub struct RemoveProjectMemberPayload {
    /// The project the user left.
    pub project: Project,
    /// Global id of the user who is no longer a member.
    pub removed_user_id: ID,
}

#[derive(Default)]
pub struct MemberMutation;

/// The ids of a membership input.
fn ids(project_id: &ID, user_id: &ID) -> Result<(i64, i64), crate::error::Error> {
    Ok((
        GlobalId::parse_as(NodeKind::Project, "input.projectId", project_id)?,
        GlobalId::parse_as(NodeKind::User, "input.userId", user_id)?,
    ))
}

#[Object]
impl MemberMutation {
    /// Adds an ACTIVE user to a project with a role (administrators and the
    /// project's OWNER members). CONFLICT if they are a member already.
    async fn add_project_member(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project, the user and their role.")] input: ProjectMemberInput,
    ) -> Result<ProjectMemberPayload> {
        let (services, request) = parts(ctx)?;
        let (project_id, user_id) = ids(&input.project_id, &input.user_id)?;
        let target = Target {
            user_id: Some(user_id),
            ..Target::project(project_id)
        };
        let (member, user) = request
            .mutation(services, AuditAction::MemberAdded, target, async |m| {
                let owner = request.principal.require_member_manager(project_id)?;
                services
                    .store
                    .add_member(&m.grant(owner), user_id, input.role.into())
                    .await
            })
            .await?;
        Ok(ProjectMemberPayload {
            member: ProjectMember::new(member, User::from(user)),
        })
    }

    /// Changes a member's role (administrators and the project's OWNER
    /// members). Lowering a role holds from the member's next request.
    async fn set_project_member_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project, the member and their new role.")] input: ProjectMemberInput,
    ) -> Result<ProjectMemberPayload> {
        let (services, request) = parts(ctx)?;
        let (project_id, user_id) = ids(&input.project_id, &input.user_id)?;
        let target = Target {
            user_id: Some(user_id),
            ..Target::project(project_id)
        };
        let (member, user) = request
            .mutation(
                services,
                AuditAction::MemberRoleChanged,
                target,
                async |m| {
                    let owner = request.principal.require_member_manager(project_id)?;
                    services
                        .store
                        .set_member_role(&m.grant(owner), user_id, input.role.into())
                        .await
                },
            )
            .await?;
        Ok(ProjectMemberPayload {
            member: ProjectMember::new(member, User::from(user)),
        })
    }

    /// Removes a member from a project (administrators and the project's
    /// OWNER members), from their next request on every replica. The keys
    /// they created stay the project's.
    async fn remove_project_member(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project and the member.")] input: RemoveProjectMemberInput,
    ) -> Result<RemoveProjectMemberPayload> {
        let (services, request) = parts(ctx)?;
        let (project_id, user_id) = ids(&input.project_id, &input.user_id)?;
        let target = Target {
            user_id: Some(user_id),
            ..Target::project(project_id)
        };
        request
            .mutation(services, AuditAction::MemberRemoved, target, async |m| {
                let owner = request.principal.require_member_manager(project_id)?;
                services.store.remove_member(&m.grant(owner), user_id).await
            })
            .await?;
        let project = services
            .store
            .project(project_id)
            .await?
            .map(Project::from)
            .ok_or(crate::error::Error::NotFound("project"))?;
        Ok(RemoveProjectMemberPayload {
            project,
            removed_user_id: GlobalId::user(user_id).into(),
        })
    }
}
