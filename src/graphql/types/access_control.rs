use async_graphql::SimpleObject;

/// Whether requests must carry credentials.
#[derive(SimpleObject, Clone, Copy, Debug)]
pub struct AccessControl {
    /// True once an administrator has turned access control on. While false,
    /// anyone who can reach the server has full access.
    pub enabled: bool,
}
