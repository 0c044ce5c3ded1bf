//! A key of project `alpha` against the objects of project `beta`, through
//! every query and mutation. Issue 2: "An object of another project is
//! indistinguishable from one that does not exist: `node`/`project` return
//! null, and mutations on it fail with NOT_FOUND" (never FORBIDDEN, which
//! would tell the caller the object exists). Checked for keys of every role,
//! OWNER (the most powerful) first.

use serde_json::{Value, json};

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(
    a_key_sees_nothing_of_another_project_through_any_query,
    a_key_changes_nothing_of_another_project_and_is_told_not_found,
    another_projects_objects_read_exactly_like_objects_that_do_not_exist,
    deleting_a_project_is_refused_to_a_key_alike_whichever_project_it_names,
);

const ROLES: [&str; 3] = ["OWNER", "MEMBER", "READ_ONLY"];

const NODE: &str = "query($id: ID!) { node(id: $id) { id } }";
const NODES: &str = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }";
const PROJECT: &str = "query($id: ID) { project(id: $id) { id name } }";
/// Everything about a project and its keys that a mutation could change
/// (`lastUsedAt` left out: it moves whenever a key authenticates).
const SNAPSHOT: &str = "query($id: ID!) { project(id: $id) { id name description updatedAt
    apiKeys(first: 100) { totalCount edges { node {
        id accessKey name description state role updatedAt } } } } }";

/// Two projects with keys, and the ids of a project and a key that are gone.
struct World {
    app: TestApp,
    admin: Auth,
    alpha: String,
    /// Keys of `alpha`, one per role, in [`ROLES`] order: the callers.
    callers: Vec<(&'static str, TestKey)>,
    beta: String,
    /// An ACTIVE OWNER key of `beta`.
    beta_active: TestKey,
    /// An INACTIVE MEMBER key of `beta`: deleting it would succeed if allowed.
    beta_inactive: TestKey,
    /// A project that was deleted.
    gone_project: String,
    /// A key that was deleted.
    gone_key: String,
}

impl World {
    async fn build() -> Self {
        let app = TestApp::spawn().await;
        app.enable_access_control().await;
        let admin = Auth::admin();
        let alpha = app.create_project(&admin, "alpha").await;
        let mut callers = Vec::new();
        for role in ROLES {
            callers.push((role, app.create_key(&admin, &alpha, role).await));
        }

        let beta = app
            .ok(
                CREATE_PROJECT,
                json!({ "i": { "name": "beta", "description": "beta's own" } }),
                &admin,
            )
            .await;
        let beta = id_of(&beta["createProject"]["project"]);
        let beta_active = app.create_key(&admin, &beta, "OWNER").await;
        let beta_inactive = app.create_key(&admin, &beta, "MEMBER").await;
        app.ok(
            SET_STATE,
            json!({ "i": { "id": beta_inactive.id, "state": "INACTIVE" } }),
            &admin,
        )
        .await;
        app.create_key(&admin, &beta, "READ_ONLY").await;

        let gone_project = app.create_project(&admin, "gone").await;
        app.ok(
            DELETE_PROJECT,
            json!({ "i": { "id": gone_project } }),
            &admin,
        )
        .await;
        let gone_key = app.create_key(&admin, &beta, "MEMBER").await.id;
        app.ok(
            SET_STATE,
            json!({ "i": { "id": gone_key, "state": "INACTIVE" } }),
            &admin,
        )
        .await;
        app.ok(DELETE_KEY, json!({ "i": { "id": gone_key } }), &admin)
            .await;

        Self {
            app,
            admin,
            alpha,
            callers,
            beta,
            beta_active,
            beta_inactive,
            gone_project,
            gone_key,
        }
    }

    /// What the administrator sees of `project`.
    async fn snapshot(&self, project: &str) -> Value {
        let data = self
            .app
            .ok(SNAPSHOT, json!({ "id": project }), &self.admin)
            .await;
        assert!(data["project"].is_object(), "project {project} is gone");
        data["project"].clone()
    }

    /// What the administrator sees of every project.
    async fn everything(&self) -> Value {
        let mut all = Vec::new();
        for project in [&self.alpha, &self.beta] {
            all.push(self.snapshot(project).await);
        }
        let projects = self
            .app
            .ok(
                "{ projects(first: 100) { totalCount edges { node { id } } } }",
                json!({}),
                &self.admin,
            )
            .await;
        json!({ "projects": projects, "snapshots": all })
    }
}

/// Asserts the request succeeded and returns `data`, naming `what` on failure.
#[track_caller]
fn allowed<'a>(reply: &'a Reply, what: &str) -> &'a Value {
    assert!(
        reply.status == 200 && reply.body.get("errors").is_none(),
        "{what}: should succeed, got {reply:?}"
    );
    &reply.body["data"]
}

/// Asserts exactly one error, of `code`, naming `what` on failure.
#[track_caller]
fn refused(reply: &Reply, code: &str, what: &str) {
    assert_eq!(
        reply.codes(),
        vec![code.to_owned()],
        "{what}: should fail with {code}, got {reply:?}"
    );
    reply.assert_code(code);
}

async fn a_key_sees_nothing_of_another_project_through_any_query() {
    let world = World::build().await;
    let app = &world.app;
    let beta_objects = [&world.beta, &world.beta_active.id, &world.beta_inactive.id];

    for (role, caller) in &world.callers {
        let auth = caller.auth();
        let who = format!("{role} key of alpha");

        for id in beta_objects {
            let reply = app.gql(NODE, json!({ "id": id }), &auth).await;
            let data = allowed(&reply, &format!("{who}: node({id}) of beta"));
            assert_eq!(data["node"], json!(null), "{who}: node({id}) of beta");
        }

        let ids = json!([
            world.beta,
            world.beta_active.id,
            world.alpha,
            caller.id,
            world.beta_inactive.id
        ]);
        let reply = app.gql(NODES, json!({ "ids": ids }), &auth).await;
        let data = allowed(&reply, &format!("{who}: nodes"));
        assert_eq!(
            data["nodes"],
            json!([null, null, { "id": world.alpha }, { "id": caller.id }, null]),
            "{who}: nodes shows alpha's objects and nulls for beta's"
        );

        let reply = app.gql(PROJECT, json!({ "id": world.beta }), &auth).await;
        let data = allowed(&reply, &format!("{who}: project(id: beta)"));
        assert_eq!(data["project"], json!(null), "{who}: project(id: beta)");

        let reply = app
            .gql(
                "{ projects { totalCount edges { node { id } } } }",
                json!({}),
                &auth,
            )
            .await;
        let data = allowed(&reply, &format!("{who}: projects"));
        assert_eq!(
            data["projects"],
            json!({ "totalCount": 1, "edges": [{ "node": { "id": world.alpha } }] }),
            "{who}: projects lists only alpha"
        );

        // Nothing reachable from anything the key can see names beta or its keys.
        let reply = app
            .gql(
                "{ viewer { project { id name } apiKey { id project { id } } }
                   project { id name apiKeys(first: 100) { totalCount edges { node { id accessKey project { id } } } } }
                   projects(first: 10) { edges { node { id name description
                       apiKeys(first: 20) { edges { node { id accessKey } } } } } } }",
                json!({}),
                &auth,
            )
            .await;
        let data = allowed(&reply, &format!("{who}: everything it can reach"));
        assert_eq!(
            data["viewer"]["project"]["id"],
            json!(world.alpha),
            "{who}: viewer.project"
        );
        assert_eq!(
            data["project"]["id"],
            json!(world.alpha),
            "{who}: project()"
        );
        assert_eq!(
            data["project"]["apiKeys"]["totalCount"],
            ROLES.len(),
            "{who}: only alpha's keys"
        );
        let text = data.to_string();
        for secret in [
            format!("\"{}\"", world.beta),
            "beta".to_owned(),
            format!("\"{}\"", world.beta_active.id),
            world.beta_active.access_key.clone(),
            format!("\"{}\"", world.beta_inactive.id),
            world.beta_inactive.access_key.clone(),
        ] {
            assert!(
                !text.contains(&secret),
                "{who}: {secret} of beta leaks into {text}"
            );
        }
    }
}

async fn a_key_changes_nothing_of_another_project_and_is_told_not_found() {
    let world = World::build().await;
    let app = &world.app;
    let active = &world.beta_active.id;
    let inactive = &world.beta_inactive.id;

    let mut attempts: Vec<(String, &str, Value)> = vec![
        (
            "updateProject(beta)".into(),
            UPDATE_PROJECT,
            json!({ "id": world.beta, "name": "taken over", "description": "mine" }),
        ),
        (
            "setKeyState(INACTIVE) of beta's ACTIVE key".into(),
            SET_STATE,
            json!({ "id": active, "state": "INACTIVE" }),
        ),
        (
            "setKeyState(ACTIVE) of beta's INACTIVE key".into(),
            SET_STATE,
            json!({ "id": inactive, "state": "ACTIVE" }),
        ),
        (
            "setKeyState(ACTIVE) of beta's ACTIVE key (a no-op if allowed)".into(),
            SET_STATE,
            json!({ "id": active, "state": "ACTIVE" }),
        ),
        (
            "renameKey of beta's ACTIVE key".into(),
            RENAME,
            json!({ "id": active, "name": "taken over", "description": "mine" }),
        ),
        (
            "renameKey of beta's INACTIVE key".into(),
            RENAME,
            json!({ "id": inactive, "name": "taken over", "description": null }),
        ),
        (
            "deleteKey of beta's INACTIVE key".into(),
            DELETE_KEY,
            json!({ "id": inactive }),
        ),
        (
            "deleteKey of beta's ACTIVE key (CONFLICT would reveal it)".into(),
            DELETE_KEY,
            json!({ "id": active }),
        ),
    ];
    for role in ROLES {
        attempts.push((
            format!("createApiKey(projectId: beta, role: {role})"),
            CREATE_KEY,
            json!({ "projectId": world.beta, "name": "intruder", "role": role }),
        ));
    }

    for (role, caller) in &world.callers {
        let auth = caller.auth();
        for (action, query, input) in &attempts {
            let what = format!("{role} key of alpha: {action}");
            let before = world.everything().await;
            let reply = app.gql(query, json!({ "i": input }), &auth).await;
            refused(&reply, "NOT_FOUND", &what);
            assert_eq!(
                world.everything().await,
                before,
                "{what}: refused, yet something changed"
            );
        }
    }

    // beta's keys are as they were: the active one still authenticates.
    let data = app.ok(VIEWER, json!({}), &world.beta_active.auth()).await;
    assert_eq!(data["viewer"]["apiKey"]["id"], json!(world.beta_active.id));
    app.gql(VIEWER, json!({}), &world.beta_inactive.auth())
        .await
        .assert_unauthenticated();
    let beta = world.snapshot(&world.beta).await;
    assert_eq!(beta["name"], "beta");
    assert_eq!(beta["description"], "beta's own");
    assert_eq!(
        beta["apiKeys"]["totalCount"], 3,
        "no key was created or deleted in beta"
    );
}

async fn another_projects_objects_read_exactly_like_objects_that_do_not_exist() {
    let world = World::build().await;
    let app = &world.app;
    let (beta, gone_project) = (&world.beta, &world.gone_project);
    let (beta_key, gone_key) = (&world.beta_inactive.id, &world.gone_key);

    // (what, query, variables for beta's object, variables for a missing one)
    let pairs: Vec<(&str, &str, Value, Value)> = vec![
        (
            "node(project)",
            NODE,
            json!({ "id": beta }),
            json!({ "id": gone_project }),
        ),
        (
            "node(key)",
            NODE,
            json!({ "id": beta_key }),
            json!({ "id": gone_key }),
        ),
        (
            "nodes",
            NODES,
            json!({ "ids": [beta, beta_key] }),
            json!({ "ids": [gone_project, gone_key] }),
        ),
        (
            "project(id:)",
            PROJECT,
            json!({ "id": beta }),
            json!({ "id": gone_project }),
        ),
        (
            "updateProject",
            UPDATE_PROJECT,
            json!({ "i": { "id": beta, "name": "x" } }),
            json!({ "i": { "id": gone_project, "name": "x" } }),
        ),
        (
            "createApiKey",
            CREATE_KEY,
            json!({ "i": { "projectId": beta, "name": "x", "role": "READ_ONLY" } }),
            json!({ "i": { "projectId": gone_project, "name": "x", "role": "READ_ONLY" } }),
        ),
        (
            "setKeyState",
            SET_STATE,
            json!({ "i": { "id": beta_key, "state": "ACTIVE" } }),
            json!({ "i": { "id": gone_key, "state": "ACTIVE" } }),
        ),
        (
            "renameKey",
            RENAME,
            json!({ "i": { "id": beta_key, "name": "x" } }),
            json!({ "i": { "id": gone_key, "name": "x" } }),
        ),
        (
            "deleteKey",
            DELETE_KEY,
            json!({ "i": { "id": beta_key } }),
            json!({ "i": { "id": gone_key } }),
        ),
    ];

    for (role, caller) in &world.callers {
        let auth = caller.auth();
        for (action, query, of_beta, of_nothing) in &pairs {
            let what = format!("{role} key of alpha: {action}");
            let beta_reply = app.gql(query, of_beta.clone(), &auth).await;
            let missing_reply = app.gql(query, of_nothing.clone(), &auth).await;
            assert_eq!(
                (beta_reply.status, &beta_reply.body),
                (missing_reply.status, &missing_reply.body),
                "{what}: beta's object and a missing one must read the same"
            );
            if query.starts_with("mutation") {
                refused(&beta_reply, "NOT_FOUND", &what);
            } else {
                let data = allowed(&beta_reply, &what);
                let nulls = data
                    .as_object()
                    .expect("data is an object")
                    .values()
                    .all(|value| {
                        value.is_null()
                            || value
                                .as_array()
                                .is_some_and(|a| a.iter().all(Value::is_null))
                    });
                assert!(nulls, "{what}: should be null, got {data}");
            }
        }
    }
}

async fn deleting_a_project_is_refused_to_a_key_alike_whichever_project_it_names() {
    let world = World::build().await;
    let app = &world.app;
    for (role, caller) in &world.callers {
        let auth = caller.auth();
        let mut bodies = Vec::new();
        for (which, project) in [
            ("its own project", &world.alpha),
            ("beta", &world.beta),
            ("a deleted project", &world.gone_project),
        ] {
            let what = format!("{role} key of alpha: deleteProject of {which}");
            let before = world.everything().await;
            let reply = app
                .gql(DELETE_PROJECT, json!({ "i": { "id": project } }), &auth)
                .await;
            // Server-wide: refused to every key, so FORBIDDEN reveals nothing.
            refused(&reply, "FORBIDDEN", &what);
            assert_eq!(
                world.everything().await,
                before,
                "{what}: something changed"
            );
            bodies.push((reply.status, reply.body));
        }
        assert!(
            bodies.windows(2).all(|pair| pair[0] == pair[1]),
            "{role} key of alpha: deleteProject answers differ by project: {bodies:?}"
        );
    }
}
