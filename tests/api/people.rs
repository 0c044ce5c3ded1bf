//! People (issue 26): users act in the projects they are members of, with
//! their membership's role exactly as a key of that role; administrators
//! act everywhere; changes to a person hold from their next request, on
//! every replica.

use serde_json::{Value, json};

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(
    members_act_with_their_role_in_their_projects_and_see_no_other,
    removing_lowering_disabling_and_resetting_hold_from_the_next_request_on_every_replica,
    the_last_active_administrator_stays_and_only_disabled_users_are_deleted,
    keys_and_the_trail_name_the_person_who_acted,
);

const PASSWORD: &str = "a password of a person";
const CREATE_USER: &str = "mutation($i: CreateUserInput!) { createUser(input: $i) {
    user { id username displayName administrator state } } }";
const ADD_MEMBER: &str = "mutation($i: ProjectMemberInput!) { addProjectMember(input: $i) {
    member { role user { username } project { id } } } }";
const SET_ROLE: &str = "mutation($i: ProjectMemberInput!) { setProjectMemberRole(input: $i) {
    member { role } } }";
const REMOVE_MEMBER: &str = "mutation($i: RemoveProjectMemberInput!) {
    removeProjectMember(input: $i) { removedUserId } }";
const SET_USER_STATE: &str =
    "mutation($i: SetUserStateInput!) { setUserState(input: $i) { user { state } } }";
const UPDATE_USER: &str = "mutation($i: UpdateUserInput!) { updateUser(input: $i) { user { administrator displayName } } }";
const RESET_PASSWORD: &str =
    "mutation($i: ResetUserPasswordInput!) { resetUserPassword(input: $i) { user { id } } }";
const DELETE_USER: &str =
    "mutation($i: DeleteUserInput!) { deleteUser(input: $i) { deletedUserId } }";
const PROJECTS: &str = "{ projects { totalCount edges { node { id } } } }";
const NODE: &str = "query($id: ID!) { node(id: $id) { id } }";
const USERS: &str = "{ users { totalCount edges { node { username } } } }";

/// Creates user `username` (not an administrator) and returns their id.
async fn user(app: &TestApp, username: &str) -> String {
    let data = app
        .ok(
            CREATE_USER,
            json!({ "i": { "username": username, "password": PASSWORD } }),
            &Auth::admin(),
        )
        .await;
    id_of(&data["createUser"]["user"])
}

async fn add(app: &TestApp, project: &str, user: &str, role: &str) {
    app.ok(
        ADD_MEMBER,
        json!({ "i": { "projectId": project, "userId": user, "role": role } }),
        &Auth::admin(),
    )
    .await;
}

fn person(username: &str) -> Auth {
    Auth::basic(username, PASSWORD)
}

/// The error code of a reply, or "OK".
fn outcome(reply: &Reply) -> String {
    reply
        .codes()
        .first()
        .cloned()
        .unwrap_or_else(|| "OK".to_owned())
}

fn project_ids(data: &Value) -> Vec<String> {
    data["projects"]["edges"]
        .as_array()
        .map(|edges| edges.iter().map(|e| id_of(&e["node"])).collect())
        .unwrap_or_default()
}

async fn members_act_with_their_role_in_their_projects_and_see_no_other() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let a = app.create_project(&Auth::admin(), "a").await;
    let b = app.create_project(&Auth::admin(), "b").await;
    for (name, role) in [
        ("owner", "OWNER"),
        ("member", "MEMBER"),
        ("reader", "READ_ONLY"),
    ] {
        let id = user(&app, name).await;
        add(&app, &a, &id, role).await;
    }
    let outsider = user(&app, "outsider").await;

    // Each sees exactly the projects they are a member of, by list and by id.
    for (name, sees) in [
        ("owner", vec![a.clone()]),
        ("reader", vec![a.clone()]),
        ("outsider", vec![]),
    ] {
        let data = app.ok(PROJECTS, json!({}), &person(name)).await;
        assert_eq!(project_ids(&data), sees, "{name}'s projects");
        let data = app.ok(NODE, json!({ "id": b }), &person(name)).await;
        assert_eq!(data["node"], Value::Null, "{name} must not see b by id");
    }

    // At b's own endpoint too, b looks missing to a member of a only.
    let at_b = app
        .post(
            &format!("/projects/{b}/graphql"),
            VIEWER,
            json!({}),
            &person("owner"),
        )
        .await;
    assert_eq!(outcome(&at_b), "NOT_FOUND", "{at_b:?}");

    let create_key = |project: &str, role: &str| json!({ "i": { "projectId": project, "name": "k", "role": role } });
    let member_of = |project: &str, user: &str| json!({ "i": { "projectId": project, "userId": user, "role": "READ_ONLY" } });
    // (who, query, variables, expected): the roles table of keys, for people.
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        ("owner", CREATE_KEY, create_key(&a, "OWNER"), "OK"),
        ("member", CREATE_KEY, create_key(&a, "OWNER"), "FORBIDDEN"),
        ("member", CREATE_KEY, create_key(&a, "READ_ONLY"), "OK"),
        (
            "reader",
            CREATE_KEY,
            create_key(&a, "READ_ONLY"),
            "FORBIDDEN",
        ),
        (
            "outsider",
            CREATE_KEY,
            create_key(&a, "READ_ONLY"),
            "NOT_FOUND",
        ),
        (
            "owner",
            CREATE_KEY,
            create_key(&b, "READ_ONLY"),
            "NOT_FOUND",
        ),
        ("member", ADD_MEMBER, member_of(&a, &outsider), "FORBIDDEN"),
        ("owner", ADD_MEMBER, member_of(&b, &outsider), "NOT_FOUND"),
        ("owner", ADD_MEMBER, member_of(&a, &outsider), "OK"),
        ("owner", USERS, json!({}), "FORBIDDEN"),
        (
            "member",
            UPDATE_PROJECT,
            json!({ "i": { "id": a, "name": "a2" } }),
            "FORBIDDEN",
        ),
        (
            "owner",
            UPDATE_PROJECT,
            json!({ "i": { "id": a, "name": "a2" } }),
            "OK",
        ),
        (
            "owner",
            DELETE_PROJECT,
            json!({ "i": { "id": a } }),
            "FORBIDDEN",
        ),
        (
            "outsider",
            CREATE_PROJECT,
            json!({ "i": { "name": "theirs" } }),
            "OK",
        ),
    ];
    for (who, query, variables, expected) in cases {
        let reply = app.gql(query, variables.clone(), &person(who)).await;
        assert_eq!(outcome(&reply), expected, "{who}: {query} {variables}");
    }

    // The outsider created a project and is its OWNER; the owner added them
    // to a as READ_ONLY: they see both now.
    let data = app.ok(PROJECTS, json!({}), &person("outsider")).await;
    assert_eq!(project_ids(&data).len(), 2);
    let data = app.ok(USERS, json!({}), &Auth::admin()).await;
    assert_eq!(data["users"]["totalCount"], 5, "admin and four people");
}

async fn removing_lowering_disabling_and_resetting_hold_from_the_next_request_on_every_replica() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let replica = app.replica().await;
    let can_manage_keys = async |server: &TestApp, who: &str| {
        let reply = server
            .gql(
                CREATE_KEY,
                json!({ "i": { "projectId": project, "name": "k", "role": "READ_ONLY" } }),
                &person(who),
            )
            .await;
        outcome(&reply)
    };
    let id = user(&app, "ada").await;
    add(&app, &project, &id, "MEMBER").await;
    // Verified and remembered on both replicas first.
    for server in [&app, &replica] {
        assert_eq!(can_manage_keys(server, "ada").await, "OK");
    }

    // Lowered to READ_ONLY: refused at once, everywhere.
    let lower = json!({ "i": { "projectId": project, "userId": id, "role": "READ_ONLY" } });
    app.ok(SET_ROLE, lower, &Auth::admin()).await;
    for server in [&app, &replica] {
        assert_eq!(can_manage_keys(server, "ada").await, "FORBIDDEN");
    }
    // Removed: the project is gone for them.
    let remove = json!({ "i": { "projectId": project, "userId": id } });
    app.ok(REMOVE_MEMBER, remove, &Auth::admin()).await;
    for server in [&app, &replica] {
        assert_eq!(can_manage_keys(server, "ada").await, "NOT_FOUND");
    }
    // Disabled: not let in at all, with the answer a wrong password gets.
    let disable = json!({ "i": { "id": id, "state": "DISABLED" } });
    app.ok(SET_USER_STATE, disable, &Auth::admin()).await;
    for server in [&app, &replica] {
        server
            .gql(VIEWER, json!({}), &person("ada"))
            .await
            .assert_unauthenticated();
    }
    let enable = json!({ "i": { "id": id, "state": "ACTIVE" } });
    app.ok(SET_USER_STATE, enable, &Auth::admin()).await;
    for server in [&app, &replica] {
        let data = server.ok(VIEWER, json!({}), &person("ada")).await;
        assert_eq!(data["viewer"]["kind"], "USER");
    }
    // A new password: the old one is refused everywhere.
    let reset = json!({ "i": { "id": id, "password": "another password of ada" } });
    app.ok(RESET_PASSWORD, reset, &Auth::admin()).await;
    for server in [&app, &replica] {
        server
            .gql(VIEWER, json!({}), &person("ada"))
            .await
            .assert_unauthenticated();
        let data = server
            .ok(
                VIEWER,
                json!({}),
                &Auth::basic("ada", "another password of ada"),
            )
            .await;
        assert_eq!(data["viewer"]["kind"], "USER");
    }
}

async fn the_last_active_administrator_stays_and_only_disabled_users_are_deleted() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let data = app
        .ok(
            "{ viewer { kind user { id username administrator state } } }",
            json!({}),
            &Auth::admin(),
        )
        .await;
    assert_eq!(data["viewer"]["kind"], "ADMIN");
    assert_eq!(data["viewer"]["user"]["administrator"], true);
    let admin = id_of(&data["viewer"]["user"]);

    for (query, variables) in [
        (
            SET_USER_STATE,
            json!({ "i": { "id": admin, "state": "DISABLED" } }),
        ),
        (
            UPDATE_USER,
            json!({ "i": { "id": admin, "administrator": false } }),
        ),
    ] {
        app.gql(query, variables, &Auth::admin())
            .await
            .assert_code("CONFLICT");
    }
    let ada = user(&app, "ada").await;
    app.gql(DELETE_USER, json!({ "i": { "id": ada } }), &Auth::admin())
        .await
        .assert_code("CONFLICT");
    // A second administrator: now the first may step down.
    app.ok(
        UPDATE_USER,
        json!({ "i": { "id": ada, "administrator": true } }),
        &Auth::admin(),
    )
    .await;
    let data = app
        .ok(
            UPDATE_USER,
            json!({ "i": { "id": admin, "administrator": false } }),
            &person("ada"),
        )
        .await;
    assert_eq!(data["updateUser"]["user"]["administrator"], false);
    // Usernames are unique without regard to case.
    app.gql(
        CREATE_USER,
        json!({ "i": { "username": "ADA", "password": PASSWORD } }),
        &person("ada"),
    )
    .await
    .assert_code("CONFLICT");
    // Disabled, then deleted: gone, and their credentials with them.
    app.ok(
        SET_USER_STATE,
        json!({ "i": { "id": admin, "state": "DISABLED" } }),
        &person("ada"),
    )
    .await;
    let data = app
        .ok(DELETE_USER, json!({ "i": { "id": admin } }), &person("ada"))
        .await;
    assert_eq!(data["deleteUser"]["deletedUserId"], json!(admin));
    app.gql(VIEWER, json!({}), &Auth::admin())
        .await
        .assert_unauthenticated();
}

async fn keys_and_the_trail_name_the_person_who_acted() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let ada = user(&app, "ada").await;
    add(&app, &project, &ada, "OWNER").await;
    let key = app.create_key(&person("ada"), &project, "OWNER").await;
    let by_key = app.create_key(&key.auth(), &project, "READ_ONLY").await;
    for (id, creator) in [(&key.id, json!("ada")), (&by_key.id, Value::Null)] {
        let data = app
            .ok(
                "query($id: ID!) { node(id: $id) { ... on ApiKey { createdBy { username } } } }",
                json!({ "id": id }),
                &Auth::admin(),
            )
            .await;
        assert_eq!(
            data["node"]["createdBy"]["username"].clone(),
            creator,
            "{id}"
        );
    }
    let data = app
        .ok(
            "{ auditEvents(first: 5) { edges { node { action actorKind actorUserId actorUsername } } } }",
            json!({}),
            &Auth::admin(),
        )
        .await;
    let created = data["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| &edge["node"])
        .find(|event| event["action"] == "KEY_CREATED" && event["actorKind"] == "USER")
        .cloned()
        .expect("ada's KEY_CREATED event");
    assert_eq!(created["actorUsername"], "ada");
    assert_eq!(created["actorUserId"], json!(ada));
}
