//! Secrets never reach the log, at any level.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::helpers::*;
use crate::process::ServerProcess;

#[tokio::test]
async fn a_full_lifecycle_logged_at_trace_level_shows_no_secret() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("logs.db").display());
    let server = ServerProcess::start_logging(&url, "trace");
    let admin_password = ADMIN.1;

    server
        .ok(
            "mutation($i: EnableAccessControlInput!) { enableAccessControl(input: $i) { enabled } }",
            json!({ "i": { "username": ADMIN.0, "password": admin_password } }),
            &Auth::None,
        )
        .await;
    let project = server
        .ok(
            "{ projects { edges { node { id } } } }",
            json!({}),
            &Auth::admin(),
        )
        .await;
    let project = id_of(&project["projects"]["edges"][0]["node"]);
    let created = server
        .ok(
            CREATE_KEY,
            json!({ "i": { "projectId": project, "name": "logged" } }),
            &Auth::admin(),
        )
        .await;
    let key = key_from(&created);
    server.ok(VIEWER, json!({}), &key.auth()).await;
    server
        .gql(
            VIEWER,
            json!({}),
            &Auth::basic(&key.access_key, "not-the-secret-but-long-enough"),
        )
        .await
        .assert_unauthenticated();
    server
        .ok(
            SET_STATE,
            json!({ "i": { "id": key.id, "state": "INACTIVE" } }),
            &key.auth(),
        )
        .await;
    server
        .ok(
            RENAME,
            json!({ "i": { "id": key.id, "name": "renamed" } }),
            &Auth::admin(),
        )
        .await;
    server
        .ok(DELETE_KEY, json!({ "i": { "id": key.id } }), &Auth::admin())
        .await;
    server
        .ok(
            "mutation { disableAccessControl { enabled } }",
            json!({}),
            &Auth::admin(),
        )
        .await;

    let log = server.stop().join("\n");
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "the log is at trace level"
    );
    assert!(
        log.contains(&key.access_key),
        "access keys may be logged, for audit"
    );
    let forbidden = [
        ("secret key", key.secret.clone()),
        ("admin password", admin_password.to_owned()),
        (
            "key Authorization header",
            STANDARD.encode(format!("{}:{}", key.access_key, key.secret)),
        ),
        (
            "admin Authorization header",
            STANDARD.encode(format!("{}:{}", ADMIN.0, admin_password)),
        ),
    ];
    for (what, needle) in forbidden {
        assert!(!log.contains(&needle), "the {what} is in the log");
    }
}
