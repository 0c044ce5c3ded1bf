//! The hot path: what an authenticated request costs the database, and the
//! one process a SQLite file allows.
//!
//! Statements are counted by the server itself (`request_statements`: every
//! statement sent on behalf of a request, none of the background work), so
//! a count here is exactly what a request cost.

use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend::{Backend, on_every_backend, run_on};
use crate::helpers::*;

on_every_backend!(
    authenticated_requests_cost_the_database_at_most_what_their_data_needs,
    a_revocation_still_holds_for_the_next_request_after_the_hot_path_served_from_memory,
    a_remembered_project_shows_every_change_from_the_next_request_on_every_replica,
);

/// What a request may cost once its key has been verified.
struct Case {
    what: &'static str,
    method: Method,
    /// On the project's routes when it starts with `/projects/{id}`.
    path: &'static str,
    query: Option<&'static str>,
    at_most: u64,
}

const CASES: &[Case] = &[
    Case {
        what: "a verified /verify",
        method: Method::GET,
        path: "/verify",
        query: None,
        at_most: 0,
    },
    Case {
        what: "a verified /verify of the key's own project",
        method: Method::GET,
        path: "/projects/{id}/verify",
        query: None,
        at_most: 0,
    },
    Case {
        what: "{ __typename } on /graphql",
        method: Method::POST,
        path: "/graphql",
        query: Some("{ __typename }"),
        at_most: 0,
    },
    Case {
        what: "{ project { id name } } on the project's endpoint",
        method: Method::POST,
        path: "/projects/{id}/graphql",
        query: Some("{ project { id name } }"),
        at_most: 1,
    },
    Case {
        what: "a page of 50 keys with totalCount on the project's endpoint",
        method: Method::POST,
        path: "/projects/{id}/graphql",
        query: Some(
            "{ project { apiKeys(first: 50) { totalCount edges { node { id name state } } } } }",
        ),
        at_most: 2,
    },
];

/// Waits until the server answers authentication from memory (on
/// PostgreSQL, once it holds its first lease).
async fn until_trusted(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !app.auth_state_trusted() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server never trusted its memory of the auth state"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn send_case(app: &TestApp, case: &Case, project: &str, auth: &Auth) -> Reply {
    let path = case.path.replace("{id}", project);
    let mut request = app.client.request(case.method.clone(), app.url(&path));
    if let Some(query) = case.query {
        request = request.json(&json!({ "query": query }));
    }
    send(with_auth(request, auth)).await
}

async fn authenticated_requests_cost_the_database_at_most_what_their_data_needs() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let key = app.create_key(&Auth::admin(), &project, "OWNER").await;
    for _ in 0..60 {
        app.create_key(&Auth::admin(), &project, "READ_ONLY").await;
    }
    until_trusted(&app).await;
    for case in CASES {
        // The first use verifies the secret (argon2 and a key lookup).
        let warm = send_case(&app, case, &project, &key.auth()).await;
        assert_eq!(warm.status, 200, "{}: {warm:?}", case.what);
        let before = app.request_statements();
        let reply = send_case(&app, case, &project, &key.auth()).await;
        let spent = app.request_statements() - before;
        assert_eq!(reply.status, 200, "{}: {reply:?}", case.what);
        if case.query.is_some() {
            assert!(reply.codes().is_empty(), "{}: {reply:?}", case.what);
        }
        assert!(
            spent <= case.at_most,
            "{} ran {spent} statements, at most {} expected",
            case.what,
            case.at_most
        );
    }
    // The count is real: a request that reads keys is seen reading them.
    let before = app.request_statements();
    app.ok(
        "{ project { apiKeys(first: 5) { edges { node { id } } } } }",
        json!({}),
        &key.auth(),
    )
    .await;
    assert!(app.request_statements() > before);
}

/// A project endpoint answers from a remembered project row; a rename, a
/// new description and new keys (whose counts are not remembered) show on
/// the very next request, on the other replica too.
async fn a_remembered_project_shows_every_change_from_the_next_request_on_every_replica() {
    const PROJECT: &str = "{ project { name description apiKeys { totalCount } } }";
    let a = TestApp::spawn().await;
    a.enable_access_control().await;
    let b = a.replica().await;
    let project = a.create_project(&Auth::admin(), "before").await;
    let key = a.create_key(&Auth::admin(), &project, "OWNER").await;
    let endpoint = format!("/projects/{project}/graphql");
    let seen = |reply: Reply| reply.data()["project"].clone();

    // B remembers the project: the next request reads nothing of it. (On
    // SQLite B is A's server, whose counters A's handle holds.)
    let b_server = if crate::backend::current() == Backend::Sqlite {
        &a
    } else {
        &b
    };
    until_trusted(b_server).await;
    b.post(&endpoint, "{ project { name } }", json!({}), &key.auth())
        .await;
    let before = b_server.request_statements();
    let reply = b
        .post(&endpoint, "{ project { id name } }", json!({}), &key.auth())
        .await;
    assert_eq!(reply.data()["project"]["name"], "before");
    assert_eq!(
        b_server.request_statements() - before,
        0,
        "the project came from memory"
    );

    let cases: &[(&str, &str, Value)] = &[
        (
            "renamed",
            UPDATE_PROJECT,
            json!({ "i": { "id": project, "name": "after" } }),
        ),
        (
            "described",
            UPDATE_PROJECT,
            json!({ "i": { "id": project, "description": "now described" } }),
        ),
        (
            "a key added",
            CREATE_KEY,
            json!({ "i": { "projectId": project, "name": "second" } }),
        ),
    ];
    let mut expected =
        json!({ "name": "before", "description": null, "apiKeys": { "totalCount": 1 } });
    for (what, mutation, variables) in cases {
        b.post(&endpoint, PROJECT, json!({}), &key.auth()).await;
        a.ok(mutation, variables.clone(), &Auth::admin()).await;
        match *what {
            "renamed" => expected["name"] = json!("after"),
            "described" => expected["description"] = json!("now described"),
            _ => expected["apiKeys"]["totalCount"] = json!(2),
        }
        let now = seen(b.post(&endpoint, PROJECT, json!({}), &key.auth()).await);
        assert_eq!(now, expected, "{what}: B's next request");
    }
}

/// The memory the hot path answers from changes with every revoking change,
/// and the next request is judged by it.
async fn a_revocation_still_holds_for_the_next_request_after_the_hot_path_served_from_memory() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let key = app.create_key(&Auth::admin(), &project, "OWNER").await;
    until_trusted(&app).await;
    for _ in 0..3 {
        app.ok("{ __typename }", json!({}), &key.auth()).await;
    }
    app.ok(
        SET_STATE,
        json!({ "i": { "id": key.id, "state": "INACTIVE" } }),
        &Auth::admin(),
    )
    .await;
    app.gql("{ __typename }", json!({}), &key.auth())
        .await
        .assert_unauthenticated();
    app.ok(
        "mutation { disableAccessControl { enabled } }",
        json!({}),
        &Auth::admin(),
    )
    .await;
    // Open to everyone from the next request on, and the administrator is
    // forgotten as at once.
    app.ok("{ __typename }", json!({}), &Auth::None).await;
    app.enable_access_control().await;
    app.gql("{ __typename }", json!({}), &Auth::None)
        .await
        .assert_unauthenticated();
}

#[tokio::test]
async fn a_second_server_on_the_same_sqlite_file_is_refused_at_start() {
    run_on(Backend::Sqlite, async {
        let app = TestApp::spawn().await;
        // The same file by its own name, and through a symbolic link.
        let file = app
            .database_url()
            .trim_start_matches("sqlite://")
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned();
        let link = format!("{file}-link.db");
        std::os::unix::fs::symlink(&file, &link).expect("a symbolic link");
        for url in [app.database_url().to_owned(), format!("sqlite://{link}")] {
            second_server_is_refused(&url);
        }
        // The first one serves on, untouched.
        app.ok("{ __typename }", json!({}), &Auth::None).await;
    })
    .await;
}

fn second_server_is_refused(database_url: &str) {
    {
        let mut child = Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("keyward runs");
        // Refused at once; one still running after 20 s was let in.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while child.try_wait().expect("wait").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("a second server started on {database_url}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let second = child.wait_with_output().expect("its output");
        assert!(
            !second.status.success(),
            "the second server must not start on {database_url}"
        );
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&second.stdout),
            String::from_utf8_lossy(&second.stderr)
        );
        assert!(
            said.contains("in use by another keyward process"),
            "a clear error: {said}"
        );
    }
}

#[tokio::test]
async fn a_sqlite_file_is_free_again_once_its_server_stopped() {
    run_on(Backend::Sqlite, async {
        let mut app = TestApp::spawn().await;
        let project = app.create_project(&Auth::None, "kept").await;
        app.restart().await;
        let again = app
            .ok(
                "query($id: ID!) { node(id: $id) { id } }",
                json!({ "id": project }),
                &Auth::None,
            )
            .await;
        assert_eq!(again["node"]["id"], json!(project));
    })
    .await;
}
