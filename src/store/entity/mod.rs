//! SeaORM entities: the rows as the database holds them.
//!
//! These types never leave the `store` module's callers unfiltered: the GraphQL
//! layer copies the fields it publishes, so `secret_hash` cannot be exposed.

pub mod access_allowed_group;
pub mod access_allowed_user;
pub mod api_key;
pub mod audit_event;
pub mod identity_provider;
pub mod key_client;
pub mod key_expiry_warning;
pub mod key_usage;
pub mod oidc_sign_in;
pub mod project;
pub mod project_group_member;
pub mod project_member;
pub mod settings;
pub mod user;
pub mod user_group;
pub mod user_identity;
pub mod user_session;
pub mod webhook;
pub mod webhook_delivery;
