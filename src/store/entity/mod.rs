//! SeaORM entities: the rows as the database holds them.
//!
//! These types never leave the `store` module's callers unfiltered: the GraphQL
//! layer copies the fields it publishes, so `secret_hash` cannot be exposed.

pub mod api_key;
pub mod audit_event;
pub mod key_expiry_warning;
pub mod project;
pub mod project_member;
pub mod settings;
pub mod user;
pub mod user_session;
pub mod webhook;
pub mod webhook_delivery;
