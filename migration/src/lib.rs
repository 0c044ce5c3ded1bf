//! Database migrations for keyward.
//!
//! The server runs these at start-up; they are the only place tables are
//! created, so tests and production always share one schema.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_initial;
mod m20261126_000002_auth_epoch_and_key_counts;
mod m20261126_000003_key_expiry_and_failures;
mod m20261126_000004_audit_events;
mod m20261202_000005_key_scopes;
mod m20261202_000006_replica_leases;
mod m20261204_000007_key_rotation;
mod m20261204_000008_key_expiry_warnings;
mod m20261204_000009_webhooks;
mod m20261207_000010_people;
mod m20261208_000011_single_sign_on;
mod m20261208_000012_usage;

/// Every migration of keyward, in the order it must be applied.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_initial::Migration),
            Box::new(m20261126_000002_auth_epoch_and_key_counts::Migration),
            Box::new(m20261126_000003_key_expiry_and_failures::Migration),
            Box::new(m20261126_000004_audit_events::Migration),
            Box::new(m20261202_000005_key_scopes::Migration),
            Box::new(m20261202_000006_replica_leases::Migration),
            Box::new(m20261204_000007_key_rotation::Migration),
            Box::new(m20261204_000008_key_expiry_warnings::Migration),
            Box::new(m20261204_000009_webhooks::Migration),
            Box::new(m20261207_000010_people::Migration),
            Box::new(m20261208_000011_single_sign_on::Migration),
            Box::new(m20261208_000012_usage::Migration),
        ]
    }
}
