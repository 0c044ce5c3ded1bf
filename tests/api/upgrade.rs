//! Upgrading from the last release before people (issue 26): a database that
//! release made (tests/fixtures, with the script that made it) is migrated at
//! start-up, and its administrator, keys and trail keep working unchanged.
//! The administrator becomes the first user, with the same password.

use std::path::Path;

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::backend::{self, Backend, TestDatabase, on_every_backend};
use crate::helpers::{Auth, TestApp, send};

on_every_backend!(the_release_before_people_is_migrated_keeping_its_administrator_keys_and_trail,);

/// A database as the release before people left it, and what it holds
/// (`tests/fixtures/README.md`).
struct Fixture {
    /// The database file (SQLite) or `pg_dump --inserts` script (PostgreSQL).
    database: &'static str,
    /// What the script recorded while making it: the administrator, every
    /// key with its secret and its state, the trail.
    manifest: &'static str,
}

impl Fixture {
    fn of(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self {
                database: "pre-people.sqlite3",
                manifest: "pre-people.json",
            },
            Backend::Postgres => Self {
                database: "pre-people.postgres.sql",
                manifest: "pre-people.postgres.json",
            },
        }
    }

    fn path(file: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(file)
    }

    fn manifest(&self) -> Value {
        let text = std::fs::read_to_string(Self::path(self.manifest)).expect("the manifest");
        serde_json::from_str(&text).expect("the manifest is JSON")
    }

    /// A fresh test database holding a copy of the fixture (the fixture
    /// itself is never migrated).
    async fn database(&self, backend: Backend) -> TestDatabase {
        let database = TestDatabase::fresh(backend).await;
        match backend {
            Backend::Sqlite => {
                let file = keyward::store::sqlite_file(&database.url).expect("a SQLite file");
                std::fs::copy(Self::path(self.database), file).expect("copy the fixture");
            }
            Backend::Postgres => {
                use sea_orm::ConnectionTrait as _;
                let dump = std::fs::read_to_string(Self::path(self.database)).expect("the dump");
                // A connection of its own: the dump sets its session's search_path.
                let db = sea_orm::Database::connect(&database.url)
                    .await
                    .expect("connect");
                db.execute_unprepared(&dump).await.expect("load the dump");
                let _ = db.close().await;
            }
        }
        database
    }
}

fn string(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a string, got {value}"))
}

async fn the_release_before_people_is_migrated_keeping_its_administrator_keys_and_trail() {
    let backend = backend::current();
    let fixture = Fixture::of(backend);
    let before = fixture.manifest();
    let app = TestApp::spawn_on(fixture.database(backend).await, |config| {
        // The fixture's events are as old as the fixture: none is pruned.
        config.audit_retention_days = 36_500;
    })
    .await;
    let username = string(&before["administrator"]["username"]);
    let password = string(&before["administrator"]["password"]);
    let admin = Auth::basic(username, password);

    // The trail, read before anything else could add to it: every event the
    // old release recorded, unchanged, and no other.
    let trail = app
        .ok(
            "{ auditEvents(first: 100) { totalCount
                edges { node { id action actorKind actorKeyId outcome projectId targetKeyId } } } }",
            json!({}),
            &admin,
        )
        .await;
    assert_eq!(
        trail["auditEvents"]["totalCount"], before["auditEventCount"],
        "{trail}"
    );
    let events: Vec<&Value> = trail["auditEvents"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| &edge["node"])
        .collect();
    let recorded: Vec<&Value> = before["auditEvents"]
        .as_array()
        .expect("events")
        .iter()
        .collect();
    assert_eq!(events, recorded);

    // The administrator is the first user, with the same password, and the
    // only one.
    let viewer = app
        .ok(
            "{ viewer { kind user { username administrator state } } }",
            json!({}),
            &admin,
        )
        .await;
    assert_eq!(
        viewer["viewer"],
        json!({ "kind": "ADMIN", "user": { "username": username, "administrator": true, "state": "ACTIVE" } })
    );
    let users = app
        .ok(
            "{ users { totalCount edges { node { username administrator } } } }",
            json!({}),
            &admin,
        )
        .await;
    assert_eq!(
        users["users"],
        json!({ "totalCount": 1, "edges": [{ "node": { "username": username, "administrator": true } }] })
    );

    // Its projects are all there.
    let projects = app
        .ok(
            "{ projects(first: 10) { edges { node { id name } } } }",
            json!({}),
            &admin,
        )
        .await;
    let projects: Vec<&Value> = projects["projects"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| &edge["node"])
        .collect();
    let recorded: Vec<Value> = before["projects"]
        .as_array()
        .expect("projects")
        .iter()
        .map(|project| json!({ "id": project["id"], "name": project["name"] }))
        .collect();
    assert_eq!(projects, recorded.iter().collect::<Vec<_>>());

    // Every key authenticates as before, with its role and scopes; the
    // INACTIVE and EXPIRED ones still do not. None says who created it:
    // keys made before people have no creator.
    let keys = before["keys"].as_array().expect("keys");
    assert!(
        ["ACTIVE", "INACTIVE", "EXPIRED"]
            .iter()
            .all(|state| keys.iter().any(|key| key["state"] == *state)),
        "the fixture holds keys of every state: {keys:?}"
    );
    for key in keys {
        let auth = Auth::basic(string(&key["accessKey"]), string(&key["secretKey"]));
        let reply = app
            .gql(
                "{ viewer { kind apiKey { id role scopes } } }",
                json!({}),
                &auth,
            )
            .await;
        if key["state"] == "ACTIVE" {
            assert_eq!(
                reply.data()["viewer"],
                json!({ "kind": "API_KEY", "apiKey": { "id": key["id"], "role": key["role"], "scopes": key["scopes"] } }),
                "{}",
                key["name"]
            );
        } else {
            reply.assert_unauthenticated();
        }
        let node = app
            .ok(
                "query($id: ID!) { node(id: $id) { ... on ApiKey { state createdBy { id } } } }",
                json!({ "id": key["id"] }),
                &admin,
            )
            .await;
        assert_eq!(
            node["node"],
            json!({ "state": key["state"], "createdBy": null }),
            "{}",
            key["name"]
        );
    }

    // The administrator signs in with the same password, and the session
    // cookie stands for them.
    let signed_in = send(
        app.client
            .post(app.url("/auth/sign-in"))
            .json(&json!({ "username": username, "password": password })),
    )
    .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{signed_in:?}");
    assert_eq!(
        signed_in.body["user"]["username"], username,
        "{signed_in:?}"
    );
    assert_eq!(
        signed_in.body["user"]["administrator"], true,
        "{signed_in:?}"
    );
    let cookie = signed_in
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.starts_with("keyward_session="))
        .unwrap_or_else(|| panic!("a keyward_session cookie: {signed_in:?}"))
        .to_owned();
    let viewer = send(
        app.client
            .post(app.url("/graphql"))
            .header(header::COOKIE, cookie)
            .json(&json!({ "query": "{ viewer { kind } }" })),
    )
    .await;
    assert_eq!(viewer.data()["viewer"]["kind"], "ADMIN");
}
