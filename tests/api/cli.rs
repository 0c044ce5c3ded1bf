//! The binary as users and outside tests run it.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{Auth, CREATE_KEY};
use crate::process::{ServerProcess, run_keyward};

#[tokio::test]
async fn keyward_serve_listens_where_told_and_warns_while_access_control_is_off() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("cli.db");
    let server = ServerProcess::start(&format!("sqlite://{}?mode=rwc", database.display()));

    // The warning comes right after the line with the URL.
    let warning = server
        .log
        .recv_timeout(Duration::from_secs(5))
        .expect("a warning line");
    assert!(
        warning.contains("WARN") && warning.contains("ACCESS CONTROL IS OFF"),
        "{warning}"
    );

    let health = reqwest::get(format!("{}/healthz", server.base_url))
        .await
        .expect("healthz answers");
    assert_eq!(health.status(), 200);
    let data = server
        .ok("{ viewer { kind } }", json!({}), &Auth::None)
        .await;
    assert_eq!(data["viewer"]["kind"], "ANONYMOUS");
    assert!(database.exists(), "the database file was created");
}

/// The start-up line names where a person starts: the console at `/` in a
/// browser, and the GraphQL API.
#[tokio::test]
async fn the_startup_line_names_the_console_and_the_graphql_api() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("cli.db");
    let server = ServerProcess::start(&format!("sqlite://{}?mode=rwc", database.display()));
    let announced = server.startup_log.last().expect("the announcing line");
    let base = &server.base_url;
    assert!(
        announced.contains(&format!("console={base}/ "))
            && announced.contains(&format!("graphql={base}/graphql")),
        "{announced}"
    );
}

/// Text log lines sent to a pipe or a file (here a pipe, without
/// `NO_COLOR`) carry no terminal colour codes.
#[tokio::test]
async fn text_log_lines_written_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("cli.db");
    let url = format!("sqlite://{}?mode=rwc", database.display());
    let mut command = ServerProcess::command(&url, "info", &["--log-format", "text"]);
    command.env_remove("NO_COLOR");
    let server = ServerProcess::start_command(command);
    let warning = server
        .log
        .recv_timeout(Duration::from_secs(5))
        .expect("the warning that access control is off");
    for line in server.startup_log.iter().chain([&warning]) {
        assert!(!line.contains("\x1b["), "{line:?}");
    }
    assert!(warning.contains("WARN"), "{warning}");
}

#[test]
fn keyward_without_a_subcommand_accepts_the_serve_options() {
    let help = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("--help")
        .output()
        .expect("keyward runs");
    let help = String::from_utf8_lossy(&help.stdout);
    for option in [
        "serve",
        "schema",
        "--listen",
        "--database-url",
        "--public-url",
    ] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
}

#[tokio::test]
async fn expiry_warning_and_webhook_retry_options_are_taken_and_bad_values_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("cli.db").display());
    let server = ServerProcess::start_with(
        &url,
        "info",
        &[
            "--key-expiry-warnings",
            "12h,30m",
            "--webhook-retry-hours",
            "48",
        ],
    );
    // The first threshold, 12 hours, is what `expiresSoon` goes by.
    let project = server
        .ok(
            "{ projects(first: 1) { edges { node { id } } } }",
            json!({}),
            &Auth::None,
        )
        .await["projects"]["edges"][0]["node"]["id"]
        .clone();
    for (hours, soon) in [(11, true), (13, false)] {
        let expires_at = (chrono::Utc::now() + chrono::Duration::hours(hours)).to_rfc3339();
        let data = server
            .ok(
                CREATE_KEY,
                json!({ "i": { "projectId": project, "name": "k", "expiresAt": expires_at } }),
                &Auth::None,
            )
            .await;
        let id = data["createApiKey"]["apiKey"]["id"].clone();
        let data = server
            .ok(
                "query($id: ID!) { node(id: $id) { ... on ApiKey { expiresSoon } } }",
                json!({ "id": id }),
                &Auth::None,
            )
            .await;
        assert_eq!(data["node"]["expiresSoon"], json!(soon), "{hours} hours");
    }
    drop(server);

    for (option, value, says) in [
        (
            "--key-expiry-warnings",
            "7x",
            "`7x`: a duration is a number and a unit, d, h, m or s (such as 7d or 12h)",
        ),
        ("--key-expiry-warnings", "0h", "must be from 1s to 366d"),
        ("--webhook-retry-hours", "0", "0 is not in 1..=720"),
    ] {
        let refused = run_keyward(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                &url,
                option,
                value,
            ],
            None,
        )
        .await;
        let output = refused.assert_failure();
        assert!(
            output.contains(&format!("invalid value '{value}' for '{option}"))
                && output.contains(says),
            "{option} {value}: {output}"
        );
    }
}
