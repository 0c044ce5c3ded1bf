//! The binary as users and outside tests run it.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::helpers::Auth;
use crate::process::ServerProcess;

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
