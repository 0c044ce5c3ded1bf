//! The roles table of issue 2, row by row, allowed and refused:
//!
//! | action | ANONYMOUS / ADMIN | OWNER key | MEMBER key | READ_ONLY key |
//! |---|---|---|---|---|
//! | read its project, its keys, viewer | all projects | own project | own project | own project |
//! | createProject, deleteProject, enable/disableAccessControl | yes | no | no | no |
//! | updateProject | yes | own project | no | no |
//! | createApiKey / setKeyState / renameKey / deleteKey | any project, any role | own project, any role | own project, MEMBER or READ_ONLY keys | no |
//!
//! Every refusal is FORBIDDEN and changes nothing, which is checked by
//! comparing what the administrator sees before and after.

use serde_json::{Value, json};

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(
    the_administrator_and_anonymous_callers_read_every_project_and_its_keys,
    every_key_role_reads_its_own_project_its_keys_and_itself_only,
    only_the_administrator_creates_and_deletes_projects,
    only_the_administrator_switches_access_control,
    the_administrator_and_owner_keys_update_a_project_but_member_and_read_only_keys_cannot,
    the_administrator_manages_keys_of_every_role_in_every_project,
    anonymous_callers_manage_keys_of_every_role_while_access_control_is_off,
    owner_keys_manage_keys_of_every_role_in_their_project,
    member_keys_manage_member_and_read_only_keys_but_not_owner_keys,
    read_only_keys_change_no_key_not_even_themselves,
);

const ROLES: [&str; 3] = ["OWNER", "MEMBER", "READ_ONLY"];

const ACCESS_CONTROL: &str = "{ accessControl { enabled } }";
const ENABLE: &str =
    "mutation($i: EnableAccessControlInput!) { enableAccessControl(input: $i) { enabled } }";
const DISABLE: &str = "mutation { disableAccessControl { enabled } }";
const NODE: &str = "query($id: ID!) { node(id: $id) { id } }";
const NODES: &str = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }";
const PROJECT: &str = "query($id: ID) { project(id: $id) { id name apiKeys(first: 100) {
    totalCount edges { node { id role project { id } } } } } }";
const PROJECTS: &str = "{ projects(first: 100) { totalCount edges { node { id } } } }";
/// Everything about a project and its keys that a mutation could change
/// (`lastUsedAt` left out: it moves whenever a key authenticates).
const SNAPSHOT: &str = "query($id: ID!) { project(id: $id) { id name description updatedAt
    apiKeys(first: 100) { totalCount edges { node {
        id accessKey name description state role updatedAt } } } } }";

/// A project with one key of each role, in [`ROLES`] order.
struct ProjectWithKeys {
    id: String,
    keys: Vec<TestKey>,
}

impl ProjectWithKeys {
    async fn create(app: &TestApp, admin: &Auth, name: &str) -> Self {
        let id = app.create_project(admin, name).await;
        let mut keys = Vec::new();
        for role in ROLES {
            keys.push(app.create_key(admin, &id, role).await);
        }
        Self { id, keys }
    }

    fn key(&self, role: &str) -> &TestKey {
        let index = ROLES
            .iter()
            .position(|r| *r == role)
            .unwrap_or_else(|| panic!("no role {role}"));
        &self.keys[index]
    }

    fn key_ids(&self) -> Vec<String> {
        self.keys.iter().map(|key| key.id.clone()).collect()
    }
}

/// What the administrator (or, while access control is off, anyone) sees of
/// `project`.
async fn snapshot(app: &TestApp, admin: &Auth, project: &str) -> Value {
    let data = app.ok(SNAPSHOT, json!({ "id": project }), admin).await;
    assert!(data["project"].is_object(), "project {project} is gone");
    data["project"].clone()
}

/// What the administrator sees of one key; null once it is deleted.
async fn key_as_admin(app: &TestApp, admin: &Auth, key: &str) -> Value {
    let data = app
        .ok(
            "query($id: ID!) { node(id: $id) { ... on ApiKey { id name description state role } } }",
            json!({ "id": key }),
            admin,
        )
        .await;
    data["node"].clone()
}

/// Asserts the request succeeded and returns `data`, naming `what` on failure.
#[track_caller]
fn allowed<'a>(reply: &'a Reply, what: &str) -> &'a Value {
    assert!(
        reply.status == 200 && reply.body.get("errors").is_none(),
        "{what}: should be allowed, got {reply:?}"
    );
    &reply.body["data"]
}

/// Asserts the request failed with exactly one error of `code`, naming `what`
/// on failure.
#[track_caller]
fn refused(reply: &Reply, code: &str, what: &str) {
    assert_eq!(
        reply.codes(),
        vec![code.to_owned()],
        "{what}: should be refused with {code}, got {reply:?}"
    );
    reply.assert_code(code);
}

fn ids_of(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no edges in {connection}"))
        .iter()
        .map(|edge| id_of(&edge["node"]))
        .collect()
}

// --- Reading -----------------------------------------------------------------

async fn the_administrator_and_anonymous_callers_read_every_project_and_its_keys() {
    let app = TestApp::spawn().await;
    let default = app.default_project(&Auth::None).await;
    let alpha = ProjectWithKeys::create(&app, &Auth::None, "alpha").await;
    let beta = ProjectWithKeys::create(&app, &Auth::None, "beta").await;
    let projects = [
        (default, Vec::new()),
        (alpha.id.clone(), alpha.key_ids()),
        (beta.id.clone(), beta.key_ids()),
    ];

    // While access control is off every caller is ANONYMOUS, even one that
    // sends a READ_ONLY key's credentials.
    let read_only = alpha.key("READ_ONLY").auth();
    let callers = [
        ("ANONYMOUS without credentials", Auth::None, "ANONYMOUS"),
        (
            "ANONYMOUS with a READ_ONLY key's credentials",
            read_only,
            "ANONYMOUS",
        ),
    ];
    for (who, auth, kind) in &callers {
        reads_everything(&app, auth, who, kind, &projects).await;
    }

    app.enable_access_control().await;
    reads_everything(&app, &Auth::admin(), "ADMIN", "ADMIN", &projects).await;
}

/// `auth` sees every project of `projects` (id, key ids), and every key.
async fn reads_everything(
    app: &TestApp,
    auth: &Auth,
    who: &str,
    kind: &str,
    projects: &[(String, Vec<String>)],
) {
    let reply = app.gql(VIEWER, json!({}), auth).await;
    let viewer = &allowed(&reply, &format!("{who}: viewer"))["viewer"];
    assert_eq!(viewer["kind"], kind, "{who}: viewer.kind");
    assert_eq!(viewer["role"], json!(null), "{who}: viewer.role");
    assert_eq!(viewer["apiKey"], json!(null), "{who}: viewer.apiKey");

    let reply = app.gql(PROJECTS, json!({}), auth).await;
    let listed = &allowed(&reply, &format!("{who}: projects"))["projects"];
    let expected: Vec<String> = projects.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(
        ids_of(listed),
        expected,
        "{who}: projects lists all of them"
    );
    assert_eq!(
        listed["totalCount"],
        projects.len(),
        "{who}: projects.totalCount"
    );

    let mut every_id = Vec::new();
    for (project, keys) in projects {
        let reply = app.gql(PROJECT, json!({ "id": project }), auth).await;
        let data = allowed(&reply, &format!("{who}: project(id: {project})"));
        assert_eq!(
            data["project"]["id"],
            json!(project),
            "{who}: project(id: {project})"
        );
        assert_eq!(
            &ids_of(&data["project"]["apiKeys"]),
            keys,
            "{who}: the keys of project {project}"
        );
        every_id.push(project.clone());
        every_id.extend(keys.iter().cloned());
    }
    for id in &every_id {
        let reply = app.gql(NODE, json!({ "id": id }), auth).await;
        let data = allowed(&reply, &format!("{who}: node({id})"));
        assert_eq!(data["node"]["id"], json!(id), "{who}: node({id})");
    }
    let reply = app.gql(NODES, json!({ "ids": every_id }), auth).await;
    let data = allowed(&reply, &format!("{who}: nodes"));
    let seen: Vec<Value> = every_id.iter().map(|id| json!({ "id": id })).collect();
    assert_eq!(data["nodes"], json!(seen), "{who}: nodes sees every object");
}

async fn every_key_role_reads_its_own_project_its_keys_and_itself_only() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let default = app.default_project(&admin).await;
    let alpha = ProjectWithKeys::create(&app, &admin, "alpha").await;
    let beta = ProjectWithKeys::create(&app, &admin, "beta").await;

    for (own, other) in [(&alpha, &beta), (&beta, &alpha)] {
        for role in ROLES {
            let caller = own.key(role);
            let auth = caller.auth();
            let who = format!("{role} key of project {}", own.id);

            let reply = app.gql(VIEWER, json!({}), &auth).await;
            let viewer = &allowed(&reply, &format!("{who}: viewer"))["viewer"];
            assert_eq!(viewer["kind"], "API_KEY", "{who}: viewer.kind");
            assert_eq!(viewer["role"], role, "{who}: viewer.role");
            assert_eq!(
                viewer["apiKey"]["id"],
                json!(caller.id),
                "{who}: viewer.apiKey"
            );
            assert_eq!(
                viewer["apiKey"]["accessKey"],
                json!(caller.access_key),
                "{who}: viewer.apiKey"
            );
            assert_eq!(
                viewer["project"]["id"],
                json!(own.id),
                "{who}: viewer.project"
            );

            let reply = app.gql(PROJECTS, json!({}), &auth).await;
            let listed = &allowed(&reply, &format!("{who}: projects"))["projects"];
            assert_eq!(
                ids_of(listed),
                vec![own.id.clone()],
                "{who}: projects lists only its own"
            );
            assert_eq!(listed["totalCount"], 1, "{who}: projects.totalCount");

            // Its project, by id and implied, with every key of every role.
            for (variables, how) in [
                (json!({ "id": own.id }), "project(id: own)"),
                (json!({}), "project()"),
            ] {
                let reply = app.gql(PROJECT, variables, &auth).await;
                let project = &allowed(&reply, &format!("{who}: {how}"))["project"];
                assert_eq!(project["id"], json!(own.id), "{who}: {how}");
                assert_eq!(
                    ids_of(&project["apiKeys"]),
                    own.key_ids(),
                    "{who}: {how} lists its keys"
                );
                assert_eq!(
                    project["apiKeys"]["totalCount"],
                    ROLES.len(),
                    "{who}: {how} key count"
                );
            }

            // Other projects read as missing.
            for hidden in [&other.id, &default] {
                let reply = app.gql(PROJECT, json!({ "id": hidden }), &auth).await;
                let data = allowed(&reply, &format!("{who}: project(id: {hidden})"));
                assert_eq!(
                    data["project"],
                    json!(null),
                    "{who}: project(id: {hidden}) of another project"
                );
            }

            // node/nodes: its project and its keys, nothing else.
            let mut visible = vec![own.id.clone()];
            visible.extend(own.key_ids());
            let mut hidden = vec![other.id.clone(), default.clone()];
            hidden.extend(other.key_ids());
            for id in &visible {
                let reply = app.gql(NODE, json!({ "id": id }), &auth).await;
                let data = allowed(&reply, &format!("{who}: node({id})"));
                assert_eq!(
                    data["node"]["id"],
                    json!(id),
                    "{who}: node({id}) of its own project"
                );
            }
            for id in &hidden {
                let reply = app.gql(NODE, json!({ "id": id }), &auth).await;
                let data = allowed(&reply, &format!("{who}: node({id})"));
                assert_eq!(
                    data["node"],
                    json!(null),
                    "{who}: node({id}) of another project"
                );
            }
            let all: Vec<&String> = visible.iter().chain(&hidden).collect();
            let expected: Vec<Value> = visible
                .iter()
                .map(|id| json!({ "id": id }))
                .chain(hidden.iter().map(|_| json!(null)))
                .collect();
            let reply = app.gql(NODES, json!({ "ids": all }), &auth).await;
            let data = allowed(&reply, &format!("{who}: nodes"));
            assert_eq!(data["nodes"], json!(expected), "{who}: nodes");
        }
    }
}

// --- Server-wide actions -------------------------------------------------------

async fn only_the_administrator_creates_and_deletes_projects() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let alpha = ProjectWithKeys::create(&app, &admin, "alpha").await;
    let beta = app.create_project(&admin, "beta").await;
    let projects_before = app.ok(PROJECTS, json!({}), &admin).await;

    for role in ROLES {
        let auth = alpha.key(role).auth();
        let who = format!("{role} key");

        let reply = app
            .gql(
                CREATE_PROJECT,
                json!({ "i": { "name": format!("made by {role}") } }),
                &auth,
            )
            .await;
        refused(&reply, "FORBIDDEN", &format!("{who}: createProject"));

        for (target, which) in [(&alpha.id, "its own project"), (&beta, "another project")] {
            let reply = app
                .gql(DELETE_PROJECT, json!({ "i": { "id": target } }), &auth)
                .await;
            refused(
                &reply,
                "FORBIDDEN",
                &format!("{who}: deleteProject of {which}"),
            );
        }

        assert_eq!(
            app.ok(PROJECTS, json!({}), &admin).await,
            projects_before,
            "{who}: refused project mutations changed the projects"
        );
        // Its project, and so the key itself, still work.
        allowed(
            &app.gql(VIEWER, json!({}), &auth).await,
            &format!("{who}: still works"),
        );
    }

    // The administrator may do both, on any project.
    let reply = app
        .gql(CREATE_PROJECT, json!({ "i": { "name": "gamma" } }), &admin)
        .await;
    let gamma = id_of(&allowed(&reply, "ADMIN: createProject")["createProject"]["project"]);
    for target in [&gamma, &alpha.id] {
        let reply = app
            .gql(DELETE_PROJECT, json!({ "i": { "id": target } }), &admin)
            .await;
        let data = allowed(&reply, &format!("ADMIN: deleteProject({target})"));
        assert_eq!(data["deleteProject"]["deletedProjectId"], json!(target));
        let data = app.ok(NODE, json!({ "id": target }), &admin).await;
        assert_eq!(
            data["node"],
            json!(null),
            "ADMIN: project {target} is deleted"
        );
    }
    let data = app.ok(PROJECTS, json!({}), &admin).await;
    assert_eq!(data["projects"]["totalCount"], 2, "Default and beta remain");
}

async fn only_the_administrator_switches_access_control() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let project = ProjectWithKeys::create(&app, &admin, "alpha").await;
    let usurper = ("usurper", "a long enough password");

    for role in ROLES {
        let auth = project.key(role).auth();
        let who = format!("{role} key");

        let reply = app.gql(DISABLE, json!({}), &auth).await;
        refused(&reply, "FORBIDDEN", &format!("{who}: disableAccessControl"));

        let reply = app
            .gql(
                ENABLE,
                json!({ "i": { "username": usurper.0, "password": usurper.1 } }),
                &auth,
            )
            .await;
        refused(&reply, "FORBIDDEN", &format!("{who}: enableAccessControl"));

        // Still on, with the same administrator.
        let data = app.ok(ACCESS_CONTROL, json!({}), &admin).await;
        assert_eq!(
            data["accessControl"]["enabled"], true,
            "{who}: access control is still on"
        );
        app.gql(VIEWER, json!({}), &Auth::None)
            .await
            .assert_unauthenticated();
        app.gql(VIEWER, json!({}), &Auth::basic(usurper.0, usurper.1))
            .await
            .assert_unauthenticated();
    }

    // The administrator passes the role check: enabling again is refused only
    // because access control is already on.
    let reply = app
        .gql(
            ENABLE,
            json!({ "i": { "username": usurper.0, "password": usurper.1 } }),
            &admin,
        )
        .await;
    refused(&reply, "CONFLICT", "ADMIN: enableAccessControl while on");
    app.ok(VIEWER, json!({}), &admin).await;

    let reply = app.gql(DISABLE, json!({}), &admin).await;
    let data = allowed(&reply, "ADMIN: disableAccessControl");
    assert_eq!(data["disableAccessControl"]["enabled"], false);

    // Off: the anonymous caller may switch it both ways.
    let reply = app.gql(DISABLE, json!({}), &Auth::None).await;
    let data = allowed(&reply, "ANONYMOUS: disableAccessControl");
    assert_eq!(data["disableAccessControl"]["enabled"], false);
    app.enable_access_control().await;
    let data = app.ok(ACCESS_CONTROL, json!({}), &admin).await;
    assert_eq!(
        data["accessControl"]["enabled"], true,
        "ANONYMOUS: enableAccessControl"
    );
}

// --- updateProject -------------------------------------------------------------

async fn the_administrator_and_owner_keys_update_a_project_but_member_and_read_only_keys_cannot() {
    let app = TestApp::spawn().await;
    let alpha = ProjectWithKeys::create(&app, &Auth::None, "alpha").await;
    let beta = app.create_project(&Auth::None, "beta").await;

    let update = |id: &str, name: &str| json!({ "i": { "id": id, "name": name, "description": format!("by {name}") } });

    // ANONYMOUS, while access control is off: any project.
    for (target, name) in [(&alpha.id, "alpha-anonymous"), (&beta, "beta-anonymous")] {
        let reply = app
            .gql(UPDATE_PROJECT, update(target, name), &Auth::None)
            .await;
        let data = allowed(&reply, &format!("ANONYMOUS: updateProject({target})"));
        assert_eq!(data["updateProject"]["project"]["name"], name);
    }

    app.enable_access_control().await;
    let admin = Auth::admin();

    // ADMIN: any project.
    for (target, name) in [(&alpha.id, "alpha-admin"), (&beta, "beta-admin")] {
        let reply = app.gql(UPDATE_PROJECT, update(target, name), &admin).await;
        let data = allowed(&reply, &format!("ADMIN: updateProject({target})"));
        assert_eq!(data["updateProject"]["project"]["name"], name);
        assert_eq!(
            data["updateProject"]["project"]["description"],
            format!("by {name}")
        );
    }

    // MEMBER and READ_ONLY keys: not even their own project.
    for role in ["MEMBER", "READ_ONLY"] {
        let before = snapshot(&app, &admin, &alpha.id).await;
        let name = format!("alpha-{role}");
        let reply = app
            .gql(
                UPDATE_PROJECT,
                update(&alpha.id, &name),
                &alpha.key(role).auth(),
            )
            .await;
        refused(
            &reply,
            "FORBIDDEN",
            &format!("{role} key: updateProject of its own project"),
        );
        let after = snapshot(&app, &admin, &alpha.id).await;
        assert_eq!(
            after, before,
            "{role} key: a refused updateProject changed the project"
        );
        assert_eq!(
            after["name"], "alpha-admin",
            "{role} key: the name is unchanged"
        );
    }

    // OWNER key: its own project.
    let reply = app
        .gql(
            UPDATE_PROJECT,
            update(&alpha.id, "alpha-owner"),
            &alpha.key("OWNER").auth(),
        )
        .await;
    let data = allowed(&reply, "OWNER key: updateProject of its own project");
    assert_eq!(data["updateProject"]["project"]["name"], "alpha-owner");
    let after = snapshot(&app, &admin, &alpha.id).await;
    assert_eq!(
        after["name"], "alpha-owner",
        "OWNER key: the update is stored"
    );
    assert_eq!(
        after["description"], "by alpha-owner",
        "OWNER key: the update is stored"
    );
}

// --- Key management --------------------------------------------------------------

/// One change to an existing key.
#[derive(Clone, Copy, Debug)]
enum Change {
    Rename,
    Deactivate,
    Activate,
    Delete,
}

impl Change {
    fn name(self) -> &'static str {
        match self {
            Self::Rename => "renameKey",
            Self::Deactivate => "setKeyState(INACTIVE)",
            Self::Activate => "setKeyState(ACTIVE)",
            Self::Delete => "deleteKey",
        }
    }

    async fn send(self, app: &TestApp, auth: &Auth, key: &str) -> Reply {
        let (query, input) = match self {
            Self::Rename => (
                RENAME,
                json!({ "id": key, "name": "renamed", "description": "changed" }),
            ),
            Self::Deactivate => (SET_STATE, json!({ "id": key, "state": "INACTIVE" })),
            Self::Activate => (SET_STATE, json!({ "id": key, "state": "ACTIVE" })),
            Self::Delete => (DELETE_KEY, json!({ "id": key })),
        };
        app.gql(query, json!({ "i": input }), auth).await
    }
}

/// Checks createApiKey, setKeyState, renameKey and deleteKey by `caller` on
/// keys of each role in `project`, against `may_manage(target role)`.
/// `admin` sets up the targets and inspects the outcome.
async fn manages_keys(
    app: &TestApp,
    admin: &Auth,
    caller: &Auth,
    who: &str,
    project: &str,
    may_manage: impl Fn(&str) -> bool,
) {
    for role in ROLES {
        if may_manage(role) {
            manages_keys_of_role(app, admin, caller, who, project, role).await;
        } else {
            cannot_manage_keys_of_role(app, admin, caller, who, project, role).await;
        }
    }
}

/// `caller` creates, renames, deactivates, activates and deletes a key of
/// `role` in `project`, and changes a key the administrator made.
async fn manages_keys_of_role(
    app: &TestApp,
    admin: &Auth,
    caller: &Auth,
    who: &str,
    project: &str,
    role: &str,
) {
    let what = |action: &str| format!("{who}: {action}, target a {role} key of project {project}");

    let reply = app
        .gql(
            CREATE_KEY,
            json!({ "i": { "projectId": project, "name": format!("made by {who}"), "role": role } }),
            caller,
        )
        .await;
    let data = allowed(&reply, &what("createApiKey"));
    let created = &data["createApiKey"]["apiKey"];
    assert_eq!(created["role"], role, "{}", what("createApiKey: role"));
    assert_eq!(
        created["state"],
        "ACTIVE",
        "{}",
        what("createApiKey: state")
    );
    assert_eq!(
        created["project"]["id"],
        json!(project),
        "{}",
        what("createApiKey: project")
    );
    let made = key_from(data);
    // The new credentials work.
    allowed(
        &app.gql(VIEWER, json!({}), &made.auth()).await,
        &what("using the created key"),
    );

    // A key it made, and one the administrator made.
    let by_admin = app.create_key(admin, project, role).await;
    for target in [&made.id, &by_admin.id] {
        let reply = Change::Rename.send(app, caller, target).await;
        let data = allowed(&reply, &what("renameKey"));
        assert_eq!(
            data["renameKey"]["apiKey"]["name"],
            "renamed",
            "{}",
            what("renameKey")
        );
        assert_eq!(
            data["renameKey"]["apiKey"]["description"],
            "changed",
            "{}",
            what("renameKey")
        );

        for (change, state) in [
            (Change::Deactivate, "INACTIVE"),
            (Change::Activate, "ACTIVE"),
            (Change::Deactivate, "INACTIVE"),
        ] {
            let reply = change.send(app, caller, target).await;
            let data = allowed(&reply, &what(change.name()));
            assert_eq!(
                data["setKeyState"]["apiKey"]["state"],
                state,
                "{}",
                what(change.name())
            );
        }

        let reply = Change::Delete.send(app, caller, target).await;
        let data = allowed(&reply, &what("deleteKey"));
        assert_eq!(
            data["deleteKey"]["deletedKeyId"],
            json!(target),
            "{}",
            what("deleteKey")
        );
        assert_eq!(
            key_as_admin(app, admin, target).await,
            json!(null),
            "{}",
            what("deleteKey: the key is gone")
        );
    }
}

/// Every key change by `caller` on keys of `role` in `project` is FORBIDDEN
/// and changes nothing, whether the target is ACTIVE or INACTIVE.
async fn cannot_manage_keys_of_role(
    app: &TestApp,
    admin: &Auth,
    caller: &Auth,
    who: &str,
    project: &str,
    role: &str,
) {
    let what = |action: &str| format!("{who}: {action}, target a {role} key of project {project}");

    let before = snapshot(app, admin, project).await;
    let reply = app
        .gql(
            CREATE_KEY,
            json!({ "i": { "projectId": project, "name": format!("made by {who}"), "role": role } }),
            caller,
        )
        .await;
    refused(&reply, "FORBIDDEN", &what("createApiKey"));
    assert_eq!(
        snapshot(app, admin, project).await,
        before,
        "{}",
        what("a refused createApiKey changed the project")
    );

    let target = app.create_key(admin, project, role).await;
    let original = key_as_admin(app, admin, &target.id).await;
    assert_eq!(original["state"], "ACTIVE");

    for change in [Change::Rename, Change::Deactivate, Change::Delete] {
        let before = snapshot(app, admin, project).await;
        let reply = change.send(app, caller, &target.id).await;
        refused(
            &reply,
            "FORBIDDEN",
            &what(&format!("{} (target ACTIVE)", change.name())),
        );
        assert_eq!(
            key_as_admin(app, admin, &target.id).await,
            original,
            "{}",
            what(&format!(
                "a refused {} changed the key: still ACTIVE, same name",
                change.name()
            ))
        );
        assert_eq!(
            snapshot(app, admin, project).await,
            before,
            "{}",
            what(&format!("a refused {} changed the project", change.name()))
        );
    }
    // Still ACTIVE means its credentials still work.
    allowed(
        &app.gql(VIEWER, json!({}), &target.auth()).await,
        &what("the target key still authenticates"),
    );

    // INACTIVE, so that only the role can stand in the way of deleting it.
    app.ok(
        SET_STATE,
        json!({ "i": { "id": target.id, "state": "INACTIVE" } }),
        admin,
    )
    .await;
    let inactive = key_as_admin(app, admin, &target.id).await;
    assert_eq!(inactive["state"], "INACTIVE");
    for change in [Change::Activate, Change::Rename, Change::Delete] {
        let before = snapshot(app, admin, project).await;
        let reply = change.send(app, caller, &target.id).await;
        refused(
            &reply,
            "FORBIDDEN",
            &what(&format!("{} (target INACTIVE)", change.name())),
        );
        assert_eq!(
            key_as_admin(app, admin, &target.id).await,
            inactive,
            "{}",
            what(&format!(
                "a refused {} changed the key: still INACTIVE and there",
                change.name()
            ))
        );
        assert_eq!(
            snapshot(app, admin, project).await,
            before,
            "{}",
            what(&format!("a refused {} changed the project", change.name()))
        );
    }
}

async fn the_administrator_manages_keys_of_every_role_in_every_project() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let default = app.default_project(&admin).await;
    let alpha = app.create_project(&admin, "alpha").await;
    for project in [&default, &alpha] {
        manages_keys(&app, &admin, &admin, "ADMIN", project, |_| true).await;
    }
}

async fn anonymous_callers_manage_keys_of_every_role_while_access_control_is_off() {
    let app = TestApp::spawn().await;
    let default = app.default_project(&Auth::None).await;
    let alpha = app.create_project(&Auth::None, "alpha").await;
    for project in [&default, &alpha] {
        manages_keys(&app, &Auth::None, &Auth::None, "ANONYMOUS", project, |_| {
            true
        })
        .await;
    }
}

async fn owner_keys_manage_keys_of_every_role_in_their_project() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let project = app.create_project(&admin, "alpha").await;
    let owner = app.create_key(&admin, &project, "OWNER").await;
    manages_keys(&app, &admin, &owner.auth(), "OWNER key", &project, |_| true).await;

    // Its own key is an OWNER key too.
    let reply = Change::Rename.send(&app, &owner.auth(), &owner.id).await;
    allowed(&reply, "OWNER key: renameKey on itself");
}

async fn member_keys_manage_member_and_read_only_keys_but_not_owner_keys() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let project = app.create_project(&admin, "alpha").await;
    let member = app.create_key(&admin, &project, "MEMBER").await;
    manages_keys(
        &app,
        &admin,
        &member.auth(),
        "MEMBER key",
        &project,
        |role| role != "OWNER",
    )
    .await;

    // Its own key is a MEMBER key, so it may rename it.
    let reply = Change::Rename.send(&app, &member.auth(), &member.id).await;
    allowed(&reply, "MEMBER key: renameKey on itself");
}

async fn read_only_keys_change_no_key_not_even_themselves() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let project = app.create_project(&admin, "alpha").await;
    let read_only = app.create_key(&admin, &project, "READ_ONLY").await;
    manages_keys(
        &app,
        &admin,
        &read_only.auth(),
        "READ_ONLY key",
        &project,
        |_| false,
    )
    .await;

    for change in [Change::Rename, Change::Deactivate] {
        let before = snapshot(&app, &admin, &project).await;
        let reply = change.send(&app, &read_only.auth(), &read_only.id).await;
        refused(
            &reply,
            "FORBIDDEN",
            &format!("READ_ONLY key: {} on itself", change.name()),
        );
        assert_eq!(
            snapshot(&app, &admin, &project).await,
            before,
            "READ_ONLY key: a refused {} on itself changed the project",
            change.name()
        );
    }
    allowed(
        &app.gql(VIEWER, json!({}), &read_only.auth()).await,
        "READ_ONLY key: still works",
    );
}
