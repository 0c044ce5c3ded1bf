//! Groups as project members: whoever manages a project's members makes
//! an identity provider's group a member, changes its role or removes it.
//! A person's role is the highest of their own membership and their
//! groups', so every change holds from the next request of everyone in
//! the group (the store bumps the auth epoch).

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use crate::error::Error;
use crate::graphql::context::parts;
use crate::graphql::types::{Project, ProjectGroupMember, Role};
use crate::ids::{GlobalId, NodeKind};
use crate::store::{AuditAction, Target};
use crate::validation;

/// A group to add to a project, or whose role there changes.
#[derive(InputObject)]
pub struct ProjectGroupInput {
    /// The project's global id.
    pub project_id: ID,
    /// The group's name, exactly as the identity providers' groups claim
    /// writes it: 1 to 256 characters, no control characters.
    pub group: String,
    /// What everyone in the group may do in the project (at least).
    pub role: Role,
}

/// A group to remove from a project.
#[derive(InputObject)]
pub struct RemoveProjectGroupInput {
    /// The project's global id.
    pub project_id: ID,
    /// The group's name.
    pub group: String,
}

/// The group's membership, as it is now.
#[derive(SimpleObject)]
pub struct ProjectGroupPayload {
    /// The project.
    pub project: Project,
    /// The group's membership after the change.
    pub group_member: ProjectGroupMember,
}

/// The group membership removed.
#[derive(SimpleObject)]
pub struct RemoveProjectGroupPayload {
    /// The project the group left.
    pub project: Project,
    /// The name of the group that is no longer a member.
    pub removed_group: String,
}

#[derive(Default)]
pub struct GroupMemberMutation;

/// The project id and group of an input, checked; and the audit target.
fn parse(project_id: &ID, group: &str) -> Result<(i64, String, Target), Error> {
    let project_id = GlobalId::parse_as(NodeKind::Project, "input.projectId", project_id)?;
    let group = validation::group("input.group", group)?;
    let target = Target::group_member(project_id, &group);
    Ok((project_id, group, target))
}

async fn project(services: &crate::graphql::Services, id: i64) -> Result<Project, Error> {
    services
        .store
        .project(id)
        .await?
        .map(Project::from)
        .ok_or(Error::NotFound("project"))
}

#[Object]
impl GroupMemberMutation {
    /// Makes a group a member of a project with a role (administrators and
    /// the project's OWNER members): everyone the identity provider says is
    /// in it acts there with at least that role, from their next request.
    /// CONFLICT if the group is a member already.
    async fn add_project_group(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project, the group and its role.")] input: ProjectGroupInput,
    ) -> Result<ProjectGroupPayload> {
        let (services, request) = parts(ctx)?;
        let (project_id, group, target) = parse(&input.project_id, &input.group)?;
        let member = request
            .mutation(
                services,
                AuditAction::ProjectGroupAdded,
                target,
                async |m| {
                    let owner = request.principal.require_member_manager(project_id)?;
                    services
                        .store
                        .add_group_member(&m.grant(owner), &group, input.role.into())
                        .await
                },
            )
            .await?;
        Ok(ProjectGroupPayload {
            project: project(services, project_id).await?,
            group_member: member.into(),
        })
    }

    /// Changes a group's role in a project (administrators and the
    /// project's OWNER members), from the next request of everyone in it.
    /// NOT_FOUND if the group is not a member.
    async fn set_project_group_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project, the group and its new role.")] input: ProjectGroupInput,
    ) -> Result<ProjectGroupPayload> {
        let (services, request) = parts(ctx)?;
        let (project_id, group, target) = parse(&input.project_id, &input.group)?;
        let member = request
            .mutation(
                services,
                AuditAction::ProjectGroupRoleChanged,
                target,
                async |m| {
                    let owner = request.principal.require_member_manager(project_id)?;
                    services
                        .store
                        .set_group_member_role(&m.grant(owner), &group, input.role.into())
                        .await
                },
            )
            .await?;
        Ok(ProjectGroupPayload {
            project: project(services, project_id).await?,
            group_member: member.into(),
        })
    }

    /// Removes a group from a project (administrators and the project's
    /// OWNER members): everyone who had the project only through it loses
    /// it from their next request, on every replica. NOT_FOUND if the group
    /// is not a member.
    async fn remove_project_group(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The project and the group.")] input: RemoveProjectGroupInput,
    ) -> Result<RemoveProjectGroupPayload> {
        let (services, request) = parts(ctx)?;
        let (project_id, group, target) = parse(&input.project_id, &input.group)?;
        request
            .mutation(
                services,
                AuditAction::ProjectGroupRemoved,
                target,
                async |m| {
                    let owner = request.principal.require_member_manager(project_id)?;
                    services
                        .store
                        .remove_group_member(&m.grant(owner), &group)
                        .await
                },
            )
            .await?;
        Ok(RemoveProjectGroupPayload {
            project: project(services, project_id).await?,
            removed_group: group,
        })
    }
}
