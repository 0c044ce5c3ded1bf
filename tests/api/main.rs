//! Integration tests: each starts a real server on an ephemeral port with a
//! fresh database and speaks HTTP to it. Tests declared with
//! `on_every_backend!` run on SQLite, and on PostgreSQL when
//! `KEYWARD_TEST_POSTGRES_URL` is set. One binary, many modules, so the suite
//! links once.
//!
//! A test may unwrap: its panic is a failed test, with the message saying
//! where. And it prints a notice when a component it needs is absent here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr,
    reason = "tests: a panic is a failure with its message; notices go to stderr"
)]

mod access_control;
mod audit;
mod auth_cache;
mod authorization_matrix;
mod backend;
mod backups;
mod break_glass;
mod browser;
mod browser_activity;
mod cli;
mod client;
mod connections;
mod console;
mod cross_project;
mod deploy;
mod docs;
mod document_limits;
mod entry_points;
mod execution_errors;
mod expiry;
mod expiry_warnings;
mod graphql_over_http;
mod helpers;
mod hot_path;
mod input;
mod key_lifecycle;
mod logs;
mod malformed_auth;
mod metrics;
mod migrations;
mod oidc_fake;
mod oidc_provider;
mod people;
mod persistence;
mod probes;
mod process;
mod project_endpoint;
mod projects;
mod proxies;
mod proxy;
mod replicas;
mod revocation_races;
mod roles;
mod rotation;
mod schema;
mod scopes;
mod security;
mod sessions;
mod sign_in_gate;
mod single_sign_on;
mod single_sign_on_admin;
mod store_robustness;
mod subscriptions;
mod upgrade;
mod usage;
mod verify;
mod webhooks;
