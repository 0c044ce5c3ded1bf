use async_graphql::{ID, Interface};

use super::{ApiKey, AuditEvent, IdentityProvider, Project, User, Webhook};

/// An object with a global id, fetchable with `node(id:)` ("View in API").
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Opaque global id of the object."))]
pub enum Node {
    Project(Project),
    ApiKey(ApiKey),
    AuditEvent(AuditEvent),
    Webhook(Webhook),
    User(User),
    IdentityProvider(IdentityProvider),
}
