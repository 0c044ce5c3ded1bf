//! The GraphQL object types: one per file. They are built from store models
//! by copying the published fields, never by exposing the models themselves.

pub mod access_control;
pub mod api_key;
pub mod audit_event;
pub mod connection;
pub mod enums;
pub mod identity_provider;
pub mod key_client;
pub mod node;
pub mod project;
pub mod project_group_member;
pub mod project_member;
pub mod usage_bucket;
pub mod user;
pub mod user_identity;
pub mod viewer;
pub mod webhook;
pub mod webhook_delivery;

pub use access_control::AccessControl;
pub use api_key::ApiKey;
pub use audit_event::AuditEvent;
pub use connection::{Connection, Edge, PageArgs, PageInfo};
pub use enums::{
    AccessMode, ActorKind, AuditAction, AuditOutcome, KeyState, Role, UsageGranularity, ViewerKind,
};
pub use identity_provider::IdentityProvider;
pub use key_client::KeyClient;
pub use node::Node;
pub use project::Project;
pub use project_group_member::ProjectGroupMember;
pub use project_member::ProjectMember;
pub use usage_bucket::UsageBucket;
pub use user::{User, UserState};
pub use user_identity::UserIdentity;
pub use viewer::Viewer;
pub use webhook::Webhook;
pub use webhook_delivery::WebhookDelivery;
