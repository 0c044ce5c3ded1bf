//! One table: every root field of the schema, as every kind of caller, with
//! the outcome the roles table (`docs/graphql.md`) says. The fields are enumerated from
//! the schema itself, so a new query or mutation without an entry here fails.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(every_root_field_allows_and_refuses_each_caller_as_the_roles_table_says);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Anonymous,
    WrongSecret,
    HomeOwner,
    HomeMember,
    HomeReadOnly,
    OtherOwner,
    OtherMember,
    OtherReadOnly,
    Admin,
}

use Caller::*;

/// The admin goes last: one of its cases turns access control off and on.
const CALLERS: [Caller; 9] = [
    Anonymous,
    WrongSecret,
    HomeOwner,
    HomeMember,
    HomeReadOnly,
    OtherOwner,
    OtherMember,
    OtherReadOnly,
    Admin,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Succeeds, and the home project's object is in the answer.
    Allowed,
    /// Succeeds, but the home project's object is absent (null / not listed).
    Hidden,
    /// HTTP 401.
    Unauthenticated,
    /// A GraphQL error with this code.
    Code(&'static str),
}

use Outcome::*;

struct World {
    home: String,
    keys: Vec<(Caller, TestKey)>,
}

impl World {
    fn auth(&self, caller: Caller) -> Auth {
        match caller {
            Anonymous => Auth::None,
            Admin => Auth::admin(),
            WrongSecret => Auth::basic(&self.key(HomeOwner).access_key, &"0".repeat(40)),
            key => self.key(key).auth(),
        }
    }

    fn key(&self, caller: Caller) -> &TestKey {
        &self
            .keys
            .iter()
            .find(|(c, _)| *c == caller)
            .expect("a key")
            .1
    }
}

/// The roles table for actions on the home project's keys of `target_role`.
fn manage_key(caller: Caller, target_role: &str) -> Outcome {
    match caller {
        Anonymous | WrongSecret => Unauthenticated,
        Admin | HomeOwner => Allowed,
        HomeMember if target_role != "OWNER" => Allowed,
        HomeMember | HomeReadOnly => Code("FORBIDDEN"),
        OtherOwner | OtherMember | OtherReadOnly => Code("NOT_FOUND"),
    }
}

/// Reading the home project.
fn read(caller: Caller) -> Outcome {
    match caller {
        Anonymous | WrongSecret => Unauthenticated,
        OtherOwner | OtherMember | OtherReadOnly => Hidden,
        _ => Allowed,
    }
}

/// Server-wide actions.
fn admin_only(caller: Caller, admin: Outcome) -> Outcome {
    match caller {
        Anonymous | WrongSecret => Unauthenticated,
        Admin => admin,
        _ => Code("FORBIDDEN"),
    }
}

/// `updateProject`, and reading or managing the home project's webhooks.
fn update_project(caller: Caller) -> Outcome {
    match caller {
        Anonymous | WrongSecret => Unauthenticated,
        Admin | HomeOwner => Allowed,
        HomeMember | HomeReadOnly => Code("FORBIDDEN"),
        OtherOwner | OtherMember | OtherReadOnly => Code("NOT_FOUND"),
    }
}

const ROOT_FIELDS: &str =
    "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }";

async fn every_root_field_allows_and_refuses_each_caller_as_the_roles_table_says() {
    // Throttling has its own tests; here the wrong-secret caller must keep
    // getting 401s and not lock out the key it names.
    let app = TestApp::spawn_with(|config| {
        config.limits.auth_failures_per_key = 10_000;
        config.limits.auth_failures_per_address = 10_000;
        config.webhooks.allow_private_networks = true;
    })
    .await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let home = app.default_project(&admin).await;
    let other = app.create_project(&admin, "other").await;
    let mut keys = Vec::new();
    for (caller, project, role) in [
        (HomeOwner, &home, "OWNER"),
        (HomeMember, &home, "MEMBER"),
        (HomeReadOnly, &home, "READ_ONLY"),
        (OtherOwner, &other, "OWNER"),
        (OtherMember, &other, "MEMBER"),
        (OtherReadOnly, &other, "READ_ONLY"),
    ] {
        keys.push((caller, app.create_key(&admin, project, role).await));
    }
    let world = World { home, keys };

    let data = app.ok(ROOT_FIELDS, json!({}), &admin).await;
    let in_schema: BTreeSet<String> = ["queryType", "mutationType"]
        .iter()
        .flat_map(|root| {
            data["__schema"][root]["fields"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|field| field["name"].as_str().map(str::to_owned))
        .collect();
    let in_table: BTreeSet<String> = [
        "node",
        "nodes",
        "viewer",
        "accessControl",
        "projects",
        "project",
        "auditEvents",
        "enableAccessControl",
        "disableAccessControl",
        "createProject",
        "updateProject",
        "deleteProject",
        "createApiKey",
        "setKeyState",
        "renameKey",
        "rotateKey",
        "deleteKey",
        "createWebhook",
        "updateWebhook",
        "deleteWebhook",
        "redeliverWebhookEvent",
    ]
    .iter()
    .map(|name| (*name).to_owned())
    .collect();
    assert_eq!(
        in_schema, in_table,
        "every root field needs an entry in this table"
    );

    let mut mismatches = Vec::new();
    for caller in CALLERS {
        for (case, outcome) in run_cases(&app, &world, caller).await {
            let (expected, actual) = outcome;
            if expected != actual {
                mismatches.push(format!(
                    "{case} as {caller:?}: expected {expected:?}, got {actual:?}"
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// Every case for one caller: (name, (expected, actual)).
async fn run_cases(
    app: &TestApp,
    world: &World,
    caller: Caller,
) -> Vec<(String, (Outcome, Outcome))> {
    let auth = world.auth(caller);
    let home = &world.home;
    let mut results = Vec::new();
    let mut record =
        |name: &str, expected: Outcome, reply: Reply, found: fn(&Value, &str) -> bool| {
            results.push((name.to_owned(), (expected, outcome_of(&reply, home, found))));
        };

    let found_node = |data: &Value, home: &str| data["node"]["id"] == json!(home);
    let reply = app
        .gql(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": home }),
            &auth,
        )
        .await;
    record("node", read(caller), reply, found_node);
    let reply = app
        .gql(
            "query($id: ID!) { nodes(ids: [$id]) { id } }",
            json!({ "id": home }),
            &auth,
        )
        .await;
    record("nodes", read(caller), reply, |data, home| {
        data["nodes"][0]["id"] == json!(home)
    });
    let reply = app
        .gql(
            "query($id: ID!) { project(id: $id) { id } }",
            json!({ "id": home }),
            &auth,
        )
        .await;
    record("project", read(caller), reply, |data, home| {
        data["project"]["id"] == json!(home)
    });
    let reply = app
        .gql("{ projects { edges { node { id } } } }", json!({}), &auth)
        .await;
    record("projects", read(caller), reply, |data, home| {
        data["projects"]["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["node"]["id"] == json!(home))
    });
    let reply = app
        .gql(
            "{ auditEvents(first: 100, action: PROJECT_CREATED) { edges { node { project { id } } } } }",
            json!({}),
            &auth,
        )
        .await;
    record(
        "auditEvents",
        admin_only(caller, Allowed),
        reply,
        |data, home| {
            data["auditEvents"]["edges"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["node"]["project"]["id"] == json!(home))
        },
    );
    let everyone = if matches!(caller, Anonymous | WrongSecret) {
        Unauthenticated
    } else {
        Allowed
    };
    let reply = app.gql("{ viewer { kind } }", json!({}), &auth).await;
    record("viewer", everyone, reply, |_, _| true);
    let reply = app
        .gql("{ accessControl { enabled } }", json!({}), &auth)
        .await;
    record("accessControl", everyone, reply, |_, _| true);

    let reply = app
        .gql(
            CREATE_PROJECT,
            json!({ "i": { "name": format!("new by {caller:?}") } }),
            &auth,
        )
        .await;
    record(
        "createProject",
        admin_only(caller, Allowed),
        reply,
        |_, _| true,
    );
    let doomed = app
        .create_project(&Auth::admin(), &format!("doomed for {caller:?}"))
        .await;
    let reply = app
        .gql(DELETE_PROJECT, json!({ "i": { "id": doomed } }), &auth)
        .await;
    record(
        "deleteProject",
        admin_only(caller, Allowed),
        reply,
        |_, _| true,
    );
    let reply = app
        .gql(
            UPDATE_PROJECT,
            json!({ "i": { "id": home, "description": format!("by {caller:?}") } }),
            &auth,
        )
        .await;
    record("updateProject", update_project(caller), reply, |_, _| true);

    for role in ["MEMBER", "OWNER"] {
        let reply = app
            .gql(
                CREATE_KEY,
                json!({ "i": { "projectId": home, "name": "new", "role": role } }),
                &auth,
            )
            .await;
        record(
            &format!("createApiKey({role})"),
            manage_key(caller, role),
            reply,
            |_, _| true,
        );
        let target = app.create_key(&Auth::admin(), home, role).await;
        let reply = app
            .gql(
                SET_STATE,
                json!({ "i": { "id": target.id, "state": "INACTIVE" } }),
                &auth,
            )
            .await;
        record(
            &format!("setKeyState({role})"),
            manage_key(caller, role),
            reply,
            |_, _| true,
        );
        let reply = app
            .gql(
                RENAME,
                json!({ "i": { "id": target.id, "name": "renamed" } }),
                &auth,
            )
            .await;
        record(
            &format!("renameKey({role})"),
            manage_key(caller, role),
            reply,
            |_, _| true,
        );
        let target = app.create_key(&Auth::admin(), home, role).await;
        let reply = app
            .gql(
                "mutation($i: RotateKeyInput!) { rotateKey(input: $i) { apiKey { id } } }",
                json!({ "i": { "id": target.id } }),
                &auth,
            )
            .await;
        record(
            &format!("rotateKey({role})"),
            manage_key(caller, role),
            reply,
            |_, _| true,
        );
        let target = app.create_key(&Auth::admin(), home, role).await;
        app.ok(
            SET_STATE,
            json!({ "i": { "id": target.id, "state": "INACTIVE" } }),
            &Auth::admin(),
        )
        .await;
        let reply = app
            .gql(DELETE_KEY, json!({ "i": { "id": target.id } }), &auth)
            .await;
        record(
            &format!("deleteKey({role})"),
            manage_key(caller, role),
            reply,
            |_, _| true,
        );
    }

    let create_webhook = "mutation($i: CreateWebhookInput!) { createWebhook(input: $i) {
        webhook { id } } }";
    let hook_input = json!({ "i": { "projectId": home, "url": "http://127.0.0.1:9/hook" } });
    let reply = app.gql(create_webhook, hook_input.clone(), &auth).await;
    record("createWebhook", update_project(caller), reply, |_, _| true);
    let hook = app.ok(create_webhook, hook_input, &Auth::admin()).await["createWebhook"]["webhook"]
        ["id"]
        .clone();
    let reply = app
        .gql(
            "mutation($i: UpdateWebhookInput!) { updateWebhook(input: $i) { webhook { id } } }",
            json!({ "i": { "id": hook, "description": "changed" } }),
            &auth,
        )
        .await;
    record("updateWebhook", update_project(caller), reply, |_, _| true);
    let event = app
        .ok(
            "query($id: ID!) { project(id: $id) { auditEvents(first: 1) { edges { node { id } } } } }",
            json!({ "id": home }),
            &Auth::admin(),
        )
        .await["project"]["auditEvents"]["edges"][0]["node"]["id"]
        .clone();
    let reply = app
        .gql(
            "mutation($i: RedeliverWebhookEventInput!) { redeliverWebhookEvent(input: $i) {
                delivery { id } } }",
            json!({ "i": { "webhookId": hook, "eventId": event } }),
            &auth,
        )
        .await;
    record(
        "redeliverWebhookEvent",
        update_project(caller),
        reply,
        |_, _| true,
    );
    let reply = app
        .gql(
            "mutation($i: DeleteWebhookInput!) { deleteWebhook(input: $i) { deletedWebhookId } }",
            json!({ "i": { "id": hook } }),
            &auth,
        )
        .await;
    record("deleteWebhook", update_project(caller), reply, |_, _| true);

    let enable =
        "mutation($i: EnableAccessControlInput!) { enableAccessControl(input: $i) { enabled } }";
    let again = json!({ "i": { "username": ADMIN.0, "password": ADMIN.1 } });
    let reply = app.gql(enable, again.clone(), &auth).await;
    record(
        "enableAccessControl",
        admin_only(caller, Code("CONFLICT")),
        reply,
        |_, _| true,
    );
    let reply = app
        .gql(
            "mutation { disableAccessControl { enabled } }",
            json!({}),
            &auth,
        )
        .await;
    let disabled = outcome_of(&reply, home, |_, _| true) == Allowed;
    record(
        "disableAccessControl",
        admin_only(caller, Allowed),
        reply,
        |_, _| true,
    );
    if disabled {
        // Put access control back for the callers after this one.
        app.ok(enable, again, &Auth::None).await;
    }
    results
}

/// What a reply amounts to; `found` says whether the home project's object
/// is in a successful answer.
fn outcome_of(reply: &Reply, home: &str, found: fn(&Value, &str) -> bool) -> Outcome {
    if reply.status == 401 {
        return Unauthenticated;
    }
    match reply.codes().first() {
        Some(code) => Code(match code.as_str() {
            "FORBIDDEN" => "FORBIDDEN",
            "NOT_FOUND" => "NOT_FOUND",
            "CONFLICT" => "CONFLICT",
            "BAD_USER_INPUT" => "BAD_USER_INPUT",
            "RATE_LIMITED" => "RATE_LIMITED",
            "UNAUTHENTICATED" => "UNAUTHENTICATED",
            _ => "INTERNAL",
        }),
        None if found(&reply.body["data"], home) => Allowed,
        None => Hidden,
    }
}
