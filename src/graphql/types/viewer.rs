use async_graphql::SimpleObject;

use super::{ApiKey, Project, Role, ViewerKind};

/// The caller of the current request.
#[derive(SimpleObject, Clone, Debug)]
pub struct Viewer {
    /// How the caller authenticated.
    pub kind: ViewerKind,
    /// The calling key's role; null unless `kind` is API_KEY.
    pub role: Option<Role>,
    /// The calling key; null unless `kind` is API_KEY.
    pub api_key: Option<ApiKey>,
    /// The calling key's project, or the project of the endpoint called.
    pub project: Option<Project>,
}
