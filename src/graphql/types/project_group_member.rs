//! A group's membership of a project, as GraphQL shows it.

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};

use super::Role;
use crate::store::project_group_member;

/// A group of an identity provider that is a member of a project: everyone
/// in the group (as the provider said at their last sign-in) acts in the
/// project with at least `role`. A person's role is the highest of their
/// own membership and those of their groups.
#[derive(SimpleObject, Clone, Debug)]
pub struct ProjectGroupMember {
    /// The group's name, exactly as the providers' groups claim writes it.
    pub group: String,
    /// What the group's people may do in the project.
    pub role: Role,
    /// When the group was added.
    pub added_at: DateTime<Utc>,
}

impl From<project_group_member::Model> for ProjectGroupMember {
    fn from(member: project_group_member::Model) -> Self {
        Self {
            group: member.group_name,
            role: member.role.into(),
            added_at: member.added_at,
        }
    }
}
