//! The audit trail: one event per mutation, succeeded or refused, written in
//! the mutation's transaction; who may read it; retention; expiries.

use std::collections::BTreeSet;
use std::time::Duration;

use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

use crate::backend::{self, Backend, on_every_backend};
use crate::helpers::*;

on_every_backend!(
    every_mutation_leaves_exactly_its_audit_event_refused_ones_included,
    project_trails_are_readable_by_every_key_of_the_project_and_only_its_own,
    trails_are_filtered_by_key_and_by_period,
    a_mutation_whose_event_cannot_be_written_changes_nothing,
    events_older_than_the_retention_period_are_pruned,
    a_key_reaching_its_expiry_is_recorded_once_whatever_the_replicas,
    refusals_of_every_kind_are_recorded,
    behind_a_trusted_proxy_the_client_and_request_id_are_the_proxys,
);

const EVENT_FIELDS: &str = "id at action outcome actorKind actorKeyId actorAccessKey actorRole
    actorUserId actorUsername projectId project { id } targetKeyId targetAccessKey targetUserId
    targetUsername targetProvider targetGroup newKeyId clientAddress requestId reason";

fn trail_query(root: &str) -> String {
    let page = "(first: $first, after: $after, action: $action, since: $since)";
    let body = format!(
        "{{ edges {{ cursor node {{ {EVENT_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} totalCount }}"
    );
    match root {
        "root" => format!(
            "query($first: Int, $after: String, $action: AuditAction, $since: DateTime) {{ auditEvents{page} {body} }}"
        ),
        _ => format!(
            "query($p: ID!, $first: Int, $after: String, $action: AuditAction, $since: DateTime) {{ project(id: $p) {{ auditEvents{page} {body} }} }}"
        ),
    }
}

/// Every event of the whole trail, newest first.
async fn whole_trail(app: &TestApp) -> Vec<Value> {
    let mut events = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = app
            .ok(
                &trail_query("root"),
                json!({ "first": 50, "after": after }),
                &Auth::admin(),
            )
            .await;
        let page = &data["auditEvents"];
        events.extend(nodes(page));
        if page["pageInfo"]["hasNextPage"] != true {
            return events;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

fn nodes(connection: &Value) -> Vec<Value> {
    connection["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| edge["node"].clone())
        .collect()
}

/// What one event should say. `None` fields must be null.
struct Expected<'a> {
    action: &'a str,
    outcome: &'a str,
    actor: Actor<'a>,
    project: Option<&'a str>,
    target: Option<&'a TestKey>,
    /// Only the key's id, as the caller named it (nothing else may be told).
    target_id_only: Option<&'a str>,
    /// On KEY_ROTATED, the new key's id.
    new_key_id: Option<&'a Value>,
    /// The person acted on: their id, and their username when the event
    /// may name it.
    target_user: Option<(&'a str, Option<&'a str>)>,
    /// The identity provider acted on, by name.
    target_provider: Option<&'a str>,
    /// The group acted on.
    target_group: Option<&'a str>,
    request_id: String,
}

enum Actor<'a> {
    Anonymous,
    /// An administrator: (user id, username).
    Admin(&'a str, &'a str),
    /// A user who is not an administrator: (user id, username).
    User(&'a str, &'a str),
    Key(&'a TestKey, &'a str),
}

fn check(event: &Value, expected: &Expected<'_>) {
    let context = format!("{} {}: {event:#}", expected.action, expected.outcome);
    assert_eq!(event["action"], expected.action, "{context}");
    assert_eq!(event["outcome"], expected.outcome, "{context}");
    let (kind, key_id, access_key, role) = match &expected.actor {
        Actor::Anonymous => ("ANONYMOUS", Value::Null, Value::Null, Value::Null),
        Actor::Admin(..) => ("ADMIN", Value::Null, Value::Null, Value::Null),
        Actor::User(..) => ("USER", Value::Null, Value::Null, Value::Null),
        Actor::Key(key, role) => ("API_KEY", json!(key.id), json!(key.access_key), json!(role)),
    };
    let (user_id, username) = match &expected.actor {
        Actor::Admin(id, name) | Actor::User(id, name) => (json!(id), json!(name)),
        Actor::Anonymous | Actor::Key(..) => (Value::Null, Value::Null),
    };
    assert_eq!(event["actorKind"], kind, "{context}");
    assert_eq!(event["actorUserId"], user_id, "{context}");
    assert_eq!(event["actorUsername"], username, "{context}");
    assert_eq!(event["actorKeyId"], key_id, "{context}");
    assert_eq!(event["actorAccessKey"], access_key, "{context}");
    assert_eq!(event["actorRole"], role, "{context}");
    assert_eq!(event["projectId"], json!(expected.project), "{context}");
    let (target_id, target_access_key) = match (expected.target, expected.target_id_only) {
        (Some(key), _) => (json!(key.id), json!(key.access_key)),
        (None, Some(id)) => (json!(id), Value::Null),
        (None, None) => (Value::Null, Value::Null),
    };
    assert_eq!(event["targetKeyId"], target_id, "{context}");
    assert_eq!(event["targetAccessKey"], target_access_key, "{context}");
    let (target_user_id, target_username) = match expected.target_user {
        Some((id, name)) => (json!(id), json!(name)),
        None => (Value::Null, Value::Null),
    };
    assert_eq!(event["targetUserId"], target_user_id, "{context}");
    assert_eq!(event["targetUsername"], target_username, "{context}");
    assert_eq!(
        event["targetProvider"],
        json!(expected.target_provider),
        "{context}"
    );
    assert_eq!(
        event["targetGroup"],
        json!(expected.target_group),
        "{context}"
    );
    let new_key_id = expected.new_key_id.cloned().unwrap_or(Value::Null);
    assert_eq!(event["newKeyId"], new_key_id, "{context}");
    assert_eq!(event["clientAddress"], "127.0.0.1", "{context}");
    assert_eq!(event["requestId"], json!(expected.request_id), "{context}");
    let refused = expected.outcome != "SUCCEEDED";
    assert_eq!(event["reason"].is_string(), refused, "{context}");
}

/// Who sends a case's request: the setup's keys, the admin, or no one.
#[derive(Clone, Copy, Debug)]
enum Caller {
    Anonymous,
    Admin,
    /// OWNER key of project p.
    Owner,
    /// MEMBER key of project p.
    Member,
    /// OWNER key of project q.
    Outsider,
    /// Ada, a user who is an OWNER member of project p.
    Ada,
    /// Bob, a user who is a READ_ONLY member of project p.
    Bob,
    /// Erin, a user who is a member of nothing.
    Erin,
}

/// Where a case's event is recorded.
enum In<'a> {
    /// No project: a server-wide action.
    Server,
    Project(&'a str),
    /// The project the reply created (`createProject.project.id`).
    CreatedProject,
}

/// The key a case's event names.
enum Aim<'a> {
    Nothing,
    Key(&'a TestKey),
    /// Only the id the caller gave, of a key it cannot see.
    IdOnly(&'a str),
    /// The key the reply created (`createApiKey.apiKey`).
    CreatedKey,
    /// The key, rotated to the one the reply returns (`rotateKey.apiKey`).
    Rotated(&'a TestKey),
    /// A person: their id and username.
    User(&'a str, &'a str),
    /// Only the id the caller gave of a person (the event names no more).
    UserIdOnly(&'a str),
    /// The user the reply created (`createUser.user`).
    CreatedUser,
    /// An identity provider, by name.
    Provider(&'a str),
    /// A person (id and username) and a provider (an identity linked).
    UserAtProvider(&'a str, &'a str, &'a str),
    /// Only the id the caller gave of a person, and the provider it named.
    UserIdAtProvider(&'a str, &'a str),
    /// A group's membership of the case's project.
    Group(&'a str),
}

/// One mutation and the one event it must leave: SUCCEEDED, or the code it
/// is refused with (FORBIDDEN, NOT_FOUND and CONFLICT are recorded; other
/// errors, such as bad input, leave no event).
struct Case<'a> {
    caller: Caller,
    query: &'static str,
    variables: Value,
    outcome: &'static str,
    action: &'static str,
    project: In<'a>,
    target: Aim<'a>,
}

impl Case<'_> {
    /// The Mutation field the case exercises: the first field of `query`.
    fn field(&self) -> &str {
        let (_, selection) = self.query.split_once('{').expect("a selection");
        let selection = selection.trim_start();
        let end = selection
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(selection.len());
        &selection[..end]
    }

    fn records_an_event(&self) -> bool {
        ["SUCCEEDED", "FORBIDDEN", "NOT_FOUND", "CONFLICT"].contains(&self.outcome)
    }
}

const ENABLE: &str =
    "mutation($i: EnableAccessControlInput!) { enableAccessControl(input: $i) { enabled } }";
const DISABLE: &str = "mutation { disableAccessControl { enabled } }";
const ROTATE: &str = "mutation($i: RotateKeyInput!) { rotateKey(input: $i) {
    apiKey { id } previousKey { id } } }";
const CREATE_WEBHOOK: &str =
    "mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } } }";
const UPDATE_WEBHOOK: &str =
    "mutation($i: UpdateWebhookInput!) { updateWebhook(input: $i) { webhook { id } } }";
const DELETE_WEBHOOK: &str =
    "mutation($i: DeleteWebhookInput!) { deleteWebhook(input: $i) { deletedWebhookId } }";
const REDELIVER: &str = "mutation($i: RedeliverWebhookEventInput!) {
    redeliverWebhookEvent(input: $i) { delivery { id } } }";
const MUTATION_FIELDS: &str = "{ __schema { mutationType { fields { name } } } }";
const AUDIT_ACTIONS: &str = r#"{ __type(name: "AuditAction") { enumValues { name } } }"#;
/// The actions no mutation causes: the command line's, expiry's, the
/// webhook worker's and a first sign-in's.
const NOT_BY_MUTATIONS: [&str; 5] = [
    "ADMIN_PASSWORD_RESET",
    "KEY_EXPIRED",
    "KEY_EXPIRING",
    "USER_SIGNED_UP",
    "WEBHOOK_DISABLED",
];
const CREATE_PROVIDER: &str = "mutation($i: CreateIdentityProviderInput!) {
    createIdentityProvider(input: $i) { identityProvider { id } } }";
const UPDATE_PROVIDER: &str = "mutation($i: UpdateIdentityProviderInput!) {
    updateIdentityProvider(input: $i) { identityProvider { id } } }";
const DELETE_PROVIDER: &str = "mutation($i: DeleteIdentityProviderInput!) {
    deleteIdentityProvider(input: $i) { deletedIdentityProviderId } }";
const LINK_IDENTITY: &str = "mutation($i: LinkUserIdentityInput!) {
    linkUserIdentity(input: $i) { user { id } } }";
const SET_ACCESS_MODE: &str =
    "mutation($i: SetAccessModeInput!) { setAccessMode(input: $i) { enabled } }";
const ADD_GROUP: &str =
    "mutation($i: ProjectGroupInput!) { addProjectGroup(input: $i) { groupMember { role } } }";
const SET_GROUP_ROLE: &str =
    "mutation($i: ProjectGroupInput!) { setProjectGroupRole(input: $i) { groupMember { role } } }";
const REMOVE_GROUP: &str =
    "mutation($i: RemoveProjectGroupInput!) { removeProjectGroup(input: $i) { removedGroup } }";
const PASSWORD: &str = "a password of a person";
const CREATE_USER: &str =
    "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } } }";
const UPDATE_USER: &str =
    "mutation($i: UpdateUserInput!) { updateUser(input: $i) { user { id } } }";
const SET_USER_STATE: &str =
    "mutation($i: SetUserStateInput!) { setUserState(input: $i) { user { id } } }";
const RESET_PASSWORD: &str =
    "mutation($i: ResetUserPasswordInput!) { resetUserPassword(input: $i) { user { id } } }";
const CHANGE_PASSWORD: &str =
    "mutation($i: ChangePasswordInput!) { changePassword(input: $i) { user { id } } }";
const DELETE_USER: &str =
    "mutation($i: DeleteUserInput!) { deleteUser(input: $i) { deletedUserId } }";
const SIGN_OUT_EVERYWHERE: &str =
    "mutation($i: SignOutEverywhereInput!) { signOutEverywhere(input: $i) { user { id } } }";
const ADD_MEMBER: &str =
    "mutation($i: ProjectMemberInput!) { addProjectMember(input: $i) { member { role } } }";
const SET_ROLE: &str =
    "mutation($i: ProjectMemberInput!) { setProjectMemberRole(input: $i) { member { role } } }";
const REMOVE_MEMBER: &str = "mutation($i: RemoveProjectMemberInput!) {
    removeProjectMember(input: $i) { removedUserId } }";

async fn every_mutation_leaves_exactly_its_audit_event_refused_ones_included() {
    use Caller::*;
    let app = TestApp::spawn_with(|config| config.webhooks.allow_private_networks = true).await;
    app.enable_access_control().await;
    let admin = Auth::admin();

    // The world the cases act on, made by the admin before them.
    let p = app.create_project(&admin, "audited").await;
    let q = app.create_project(&admin, "elsewhere").await;
    let r = app.create_project(&admin, "doomed").await;
    let owner = app.create_key(&admin, &p, "OWNER").await;
    let member = app.create_key(&admin, &p, "MEMBER").await;
    let doomed = app.create_key(&admin, &p, "MEMBER").await;
    let rotating = app.create_key(&admin, &p, "MEMBER").await;
    let outsider = app.create_key(&admin, &q, "OWNER").await;
    let data = app
        .ok("{ viewer { user { id } } }", json!({}), &admin)
        .await;
    let admin_id = id_of(&data["viewer"]["user"]);
    let mut people = Vec::new();
    for name in ["ada", "bob", "dave", "erin"] {
        let data = app
            .ok(
                CREATE_USER,
                json!({ "i": { "username": name, "password": PASSWORD } }),
                &admin,
            )
            .await;
        people.push(id_of(&data["createUser"]["user"]));
    }
    let [ada, bob, dave, erin] = <[String; 4]>::try_from(people).expect("four people");
    for (user, role) in [(&ada, "OWNER"), (&bob, "READ_ONLY")] {
        app.ok(
            ADD_MEMBER,
            json!({ "i": { "projectId": p, "userId": user, "role": role } }),
            &admin,
        )
        .await;
    }
    let hook = app
        .ok(
            CREATE_WEBHOOK,
            json!({ "i": { "projectId": p, "url": "http://127.0.0.1:9/hook" } }),
            &admin,
        )
        .await["createWebhook"]["webhook"]["id"]
        .clone();
    let event = app
        .ok(
            "query($p: ID!) { project(id: $p) { auditEvents(first: 1) { edges { node { id } } } } }",
            json!({ "p": p }),
            &admin,
        )
        .await["project"]["auditEvents"]["edges"][0]["node"]["id"]
        .clone();
    let discovery = crate::single_sign_on_admin::Discovery::start().await;
    let provider = |name: &str| {
        json!({ "i": { "name": name, "issuerUrl": discovery.issuer("audited"),
            "clientId": "keyward", "clientSecret": "a client secret" } })
    };
    let mut providers = Vec::new();
    for name in ["corp", "doomed-sso"] {
        let data = app.ok(CREATE_PROVIDER, provider(name), &admin).await;
        providers.push(id_of(&data["createIdentityProvider"]["identityProvider"]));
    }
    let [corp, doomed_sso] = <[String; 2]>::try_from(providers).expect("two providers");
    let setup_events = whole_trail(&app).await.len();
    let hook_url = "http://127.0.0.1:9/other";

    let cases = [
        // Keys.
        Case {
            caller: Owner,
            query: CREATE_KEY,
            variables: json!({ "i": { "name": "new", "role": "MEMBER" } }),
            outcome: "SUCCEEDED",
            action: "KEY_CREATED",
            project: In::Project(&p),
            target: Aim::CreatedKey,
        },
        Case {
            caller: Member,
            query: CREATE_KEY,
            variables: json!({ "i": { "name": "mine", "role": "OWNER" } }),
            outcome: "FORBIDDEN",
            action: "KEY_CREATED",
            project: In::Project(&p),
            target: Aim::Nothing,
        },
        // A MEMBER key may not touch an OWNER key (it can see it).
        Case {
            caller: Member,
            query: RENAME,
            variables: json!({ "i": { "id": owner.id, "name": "x" } }),
            outcome: "FORBIDDEN",
            action: "KEY_RENAMED",
            project: In::Project(&p),
            target: Aim::Key(&owner),
        },
        Case {
            caller: Member,
            query: RENAME,
            variables: json!({ "i": { "id": member.id, "name": "renamed" } }),
            outcome: "SUCCEEDED",
            action: "KEY_RENAMED",
            project: In::Project(&p),
            target: Aim::Key(&member),
        },
        // Bad input is not a refusal: no event.
        Case {
            caller: Member,
            query: RENAME,
            variables: json!({ "i": { "id": member.id, "name": "" } }),
            outcome: "BAD_USER_INPUT",
            action: "KEY_RENAMED",
            project: In::Project(&p),
            target: Aim::Key(&member),
        },
        Case {
            caller: Owner,
            query: DELETE_KEY,
            variables: json!({ "i": { "id": doomed.id } }),
            outcome: "CONFLICT",
            action: "KEY_DELETED",
            project: In::Project(&p),
            target: Aim::Key(&doomed),
        },
        Case {
            caller: Owner,
            query: SET_STATE,
            variables: json!({ "i": { "id": doomed.id, "state": "INACTIVE" } }),
            outcome: "SUCCEEDED",
            action: "KEY_DEACTIVATED",
            project: In::Project(&p),
            target: Aim::Key(&doomed),
        },
        Case {
            caller: Owner,
            query: SET_STATE,
            variables: json!({ "i": { "id": doomed.id, "state": "ACTIVE" } }),
            outcome: "SUCCEEDED",
            action: "KEY_ACTIVATED",
            project: In::Project(&p),
            target: Aim::Key(&doomed),
        },
        Case {
            caller: Owner,
            query: SET_STATE,
            variables: json!({ "i": { "id": doomed.id, "state": "INACTIVE" } }),
            outcome: "SUCCEEDED",
            action: "KEY_DEACTIVATED",
            project: In::Project(&p),
            target: Aim::Key(&doomed),
        },
        Case {
            caller: Owner,
            query: DELETE_KEY,
            variables: json!({ "i": { "id": doomed.id } }),
            outcome: "SUCCEEDED",
            action: "KEY_DELETED",
            project: In::Project(&p),
            target: Aim::Key(&doomed),
        },
        // Another project's key: told to the outsider's own project, naming
        // only the id the outsider gave.
        Case {
            caller: Outsider,
            query: SET_STATE,
            variables: json!({ "i": { "id": owner.id, "state": "INACTIVE" } }),
            outcome: "NOT_FOUND",
            action: "KEY_DEACTIVATED",
            project: In::Project(&q),
            target: Aim::IdOnly(&owner.id),
        },
        Case {
            caller: Member,
            query: ROTATE,
            variables: json!({ "i": { "id": rotating.id, "gracePeriodSeconds": 60 } }),
            outcome: "SUCCEEDED",
            action: "KEY_ROTATED",
            project: In::Project(&p),
            target: Aim::Rotated(&rotating),
        },
        Case {
            caller: Member,
            query: ROTATE,
            variables: json!({ "i": { "id": rotating.id } }),
            outcome: "CONFLICT",
            action: "KEY_ROTATED",
            project: In::Project(&p),
            target: Aim::Key(&rotating),
        },
        Case {
            caller: Member,
            query: ROTATE,
            variables: json!({ "i": { "id": owner.id } }),
            outcome: "FORBIDDEN",
            action: "KEY_ROTATED",
            project: In::Project(&p),
            target: Aim::Key(&owner),
        },
        // Projects.
        Case {
            caller: Owner,
            query: UPDATE_PROJECT,
            variables: json!({ "i": { "id": p, "description": "watched" } }),
            outcome: "SUCCEEDED",
            action: "PROJECT_UPDATED",
            project: In::Project(&p),
            target: Aim::Nothing,
        },
        Case {
            caller: Member,
            query: UPDATE_PROJECT,
            variables: json!({ "i": { "id": p, "description": "mine" } }),
            outcome: "FORBIDDEN",
            action: "PROJECT_UPDATED",
            project: In::Project(&p),
            target: Aim::Nothing,
        },
        // A server-wide action refused to a key: recorded in its project.
        Case {
            caller: Owner,
            query: CREATE_PROJECT,
            variables: json!({ "i": { "name": "mine" } }),
            outcome: "FORBIDDEN",
            action: "PROJECT_CREATED",
            project: In::Project(&p),
            target: Aim::Nothing,
        },
        Case {
            caller: Admin,
            query: CREATE_PROJECT,
            variables: json!({ "i": { "name": "another" } }),
            outcome: "SUCCEEDED",
            action: "PROJECT_CREATED",
            project: In::CreatedProject,
            target: Aim::Nothing,
        },
        Case {
            caller: Admin,
            query: CREATE_PROJECT,
            variables: json!({ "i": { "name": "audited" } }),
            outcome: "CONFLICT",
            action: "PROJECT_CREATED",
            project: In::Server,
            target: Aim::Nothing,
        },
        Case {
            caller: Owner,
            query: DELETE_PROJECT,
            variables: json!({ "i": { "id": p } }),
            outcome: "FORBIDDEN",
            action: "PROJECT_DELETED",
            project: In::Project(&p),
            target: Aim::Nothing,
        },
        Case {
            caller: Admin,
            query: DELETE_PROJECT,
            variables: json!({ "i": { "id": r } }),
            outcome: "SUCCEEDED",
            action: "PROJECT_DELETED",
            project: In::Project(&r),
            target: Aim::Nothing,
        },
        // Webhooks.
        Case {
            caller: Owner,
            query: CREATE_WEBHOOK,
            variables: json!({ "i": { "projectId": p, "url": hook_url } }),
            outcome: "SUCCEEDED",
            action: "WEBHOOK_CREATED",
            project: In::Project(&p),
            target: Aim::Nothing,
        },
        Case {
            caller: Member,
            query: CREATE_WEBHOOK,
            variables: json!({ "i": { "projectId": p, "url": hook_url } }),
            outcome: "FORBIDDEN",
            action: "WEBHOOK_CREATED",
            project: In::Project(&p),
            target: Aim::Nothing,
        },
        Case {
            caller: Owner,
            query: UPDATE_WEBHOOK,
            variables: json!({ "i": { "id": hook, "description": "changed" } }),
            outcome: "SUCCEEDED",
            action: "WEBHOOK_UPDATED",
            project: In::Project(&p),
            target: Aim::Nothing,
        },
        // Another project's webhook: told to the outsider's own project.
        Case {
            caller: Outsider,
            query: UPDATE_WEBHOOK,
            variables: json!({ "i": { "id": hook, "enabled": false } }),
            outcome: "NOT_FOUND",
            action: "WEBHOOK_UPDATED",
            project: In::Project(&q),
            target: Aim::Nothing,
        },
        Case {
            caller: Owner,
            query: REDELIVER,
            variables: json!({ "i": { "webhookId": hook, "eventId": event } }),
            outcome: "SUCCEEDED",
            action: "WEBHOOK_REDELIVERED",
            project: In::Project(&p),
            target: Aim::Nothing,
        },
        Case {
            caller: Member,
            query: REDELIVER,
            variables: json!({ "i": { "webhookId": hook, "eventId": event } }),
            outcome: "FORBIDDEN",
            action: "WEBHOOK_REDELIVERED",
            project: In::Project(&p),
            target: Aim::Nothing,
        },
        Case {
            caller: Member,
            query: DELETE_WEBHOOK,
            variables: json!({ "i": { "id": hook } }),
            outcome: "FORBIDDEN",
            action: "WEBHOOK_DELETED",
            project: In::Project(&p),
            target: Aim::Nothing,
        },
        Case {
            caller: Owner,
            query: DELETE_WEBHOOK,
            variables: json!({ "i": { "id": hook } }),
            outcome: "SUCCEEDED",
            action: "WEBHOOK_DELETED",
            project: In::Project(&p),
            target: Aim::Nothing,
        },
        // People: the acting person and the person acted on are named.
        Case {
            caller: Admin,
            query: CREATE_USER,
            variables: json!({ "i": { "username": "carol", "password": PASSWORD } }),
            outcome: "SUCCEEDED",
            action: "USER_CREATED",
            project: In::Server,
            target: Aim::CreatedUser,
        },
        Case {
            caller: Bob,
            query: CREATE_USER,
            variables: json!({ "i": { "username": "mallory", "password": PASSWORD } }),
            outcome: "FORBIDDEN",
            action: "USER_CREATED",
            project: In::Server,
            target: Aim::Nothing,
        },
        Case {
            caller: Ada,
            query: UPDATE_USER,
            variables: json!({ "i": { "id": ada, "displayName": "Ada L." } }),
            outcome: "SUCCEEDED",
            action: "USER_UPDATED",
            project: In::Server,
            target: Aim::User(&ada, "ada"),
        },
        Case {
            caller: Ada,
            query: UPDATE_USER,
            variables: json!({ "i": { "id": dave, "displayName": "not Ada's to name" } }),
            outcome: "FORBIDDEN",
            action: "USER_UPDATED",
            project: In::Server,
            target: Aim::UserIdOnly(&dave),
        },
        Case {
            caller: Admin,
            query: SET_USER_STATE,
            variables: json!({ "i": { "id": dave, "state": "DISABLED" } }),
            outcome: "SUCCEEDED",
            action: "USER_DISABLED",
            project: In::Server,
            target: Aim::User(&dave, "dave"),
        },
        Case {
            caller: Bob,
            query: SET_USER_STATE,
            variables: json!({ "i": { "id": dave, "state": "ACTIVE" } }),
            outcome: "FORBIDDEN",
            action: "USER_ENABLED",
            project: In::Server,
            target: Aim::UserIdOnly(&dave),
        },
        Case {
            caller: Admin,
            query: SET_USER_STATE,
            variables: json!({ "i": { "id": dave, "state": "ACTIVE" } }),
            outcome: "SUCCEEDED",
            action: "USER_ENABLED",
            project: In::Server,
            target: Aim::User(&dave, "dave"),
        },
        Case {
            caller: Admin,
            query: RESET_PASSWORD,
            variables: json!({ "i": { "id": dave, "password": "a new password of dave" } }),
            outcome: "SUCCEEDED",
            action: "USER_PASSWORD_RESET",
            project: In::Server,
            target: Aim::User(&dave, "dave"),
        },
        Case {
            caller: Ada,
            query: RESET_PASSWORD,
            variables: json!({ "i": { "id": dave, "password": "Ada's password for dave" } }),
            outcome: "FORBIDDEN",
            action: "USER_PASSWORD_RESET",
            project: In::Server,
            target: Aim::UserIdOnly(&dave),
        },
        // Erin acts no more after this: her password is not PASSWORD now.
        Case {
            caller: Erin,
            query: CHANGE_PASSWORD,
            variables: json!({ "i": {
                "currentPassword": PASSWORD, "newPassword": "a new password of erin"
            } }),
            outcome: "SUCCEEDED",
            action: "PASSWORD_CHANGED",
            project: In::Server,
            target: Aim::User(&erin, "erin"),
        },
        // Only a person has a password to change.
        Case {
            caller: Owner,
            query: CHANGE_PASSWORD,
            variables: json!({ "i": {
                "currentPassword": PASSWORD, "newPassword": "a new password of a key"
            } }),
            outcome: "FORBIDDEN",
            action: "PASSWORD_CHANGED",
            project: In::Project(&p),
            target: Aim::Nothing,
        },
        Case {
            caller: Ada,
            query: SIGN_OUT_EVERYWHERE,
            variables: json!({ "i": { "userId": ada } }),
            outcome: "SUCCEEDED",
            action: "USER_SIGNED_OUT_EVERYWHERE",
            project: In::Server,
            target: Aim::User(&ada, "ada"),
        },
        Case {
            caller: Bob,
            query: SIGN_OUT_EVERYWHERE,
            variables: json!({ "i": { "userId": dave } }),
            outcome: "FORBIDDEN",
            action: "USER_SIGNED_OUT_EVERYWHERE",
            project: In::Server,
            target: Aim::UserIdOnly(&dave),
        },
        Case {
            caller: Ada,
            query: ADD_MEMBER,
            variables: json!({ "i": { "projectId": p, "userId": dave, "role": "READ_ONLY" } }),
            outcome: "SUCCEEDED",
            action: "MEMBER_ADDED",
            project: In::Project(&p),
            target: Aim::User(&dave, "dave"),
        },
        Case {
            caller: Bob,
            query: ADD_MEMBER,
            variables: json!({ "i": { "projectId": p, "userId": erin, "role": "READ_ONLY" } }),
            outcome: "FORBIDDEN",
            action: "MEMBER_ADDED",
            project: In::Project(&p),
            target: Aim::UserIdOnly(&erin),
        },
        Case {
            caller: Ada,
            query: SET_ROLE,
            variables: json!({ "i": { "projectId": p, "userId": dave, "role": "MEMBER" } }),
            outcome: "SUCCEEDED",
            action: "MEMBER_ROLE_CHANGED",
            project: In::Project(&p),
            target: Aim::User(&dave, "dave"),
        },
        // A READ_ONLY member raising themself.
        Case {
            caller: Bob,
            query: SET_ROLE,
            variables: json!({ "i": { "projectId": p, "userId": bob, "role": "OWNER" } }),
            outcome: "FORBIDDEN",
            action: "MEMBER_ROLE_CHANGED",
            project: In::Project(&p),
            target: Aim::UserIdOnly(&bob),
        },
        Case {
            caller: Bob,
            query: REMOVE_MEMBER,
            variables: json!({ "i": { "projectId": p, "userId": ada } }),
            outcome: "FORBIDDEN",
            action: "MEMBER_REMOVED",
            project: In::Project(&p),
            target: Aim::UserIdOnly(&ada),
        },
        Case {
            caller: Ada,
            query: REMOVE_MEMBER,
            variables: json!({ "i": { "projectId": p, "userId": dave } }),
            outcome: "SUCCEEDED",
            action: "MEMBER_REMOVED",
            project: In::Project(&p),
            target: Aim::User(&dave, "dave"),
        },
        Case {
            caller: Admin,
            query: SET_USER_STATE,
            variables: json!({ "i": { "id": dave, "state": "DISABLED" } }),
            outcome: "SUCCEEDED",
            action: "USER_DISABLED",
            project: In::Server,
            target: Aim::User(&dave, "dave"),
        },
        Case {
            caller: Ada,
            query: DELETE_USER,
            variables: json!({ "i": { "id": dave } }),
            outcome: "FORBIDDEN",
            action: "USER_DELETED",
            project: In::Server,
            target: Aim::UserIdOnly(&dave),
        },
        Case {
            caller: Admin,
            query: DELETE_USER,
            variables: json!({ "i": { "id": dave } }),
            outcome: "SUCCEEDED",
            action: "USER_DELETED",
            project: In::Server,
            target: Aim::User(&dave, "dave"),
        },
        // Single sign-on: identity providers and the access mode are the
        // administrators'; a project's groups its member managers'.
        Case {
            caller: Admin,
            query: CREATE_PROVIDER,
            variables: provider("corp-two"),
            outcome: "SUCCEEDED",
            action: "IDENTITY_PROVIDER_CREATED",
            project: In::Server,
            target: Aim::Provider("corp-two"),
        },
        Case {
            caller: Ada,
            query: CREATE_PROVIDER,
            variables: provider("adas"),
            outcome: "FORBIDDEN",
            action: "IDENTITY_PROVIDER_CREATED",
            project: In::Server,
            target: Aim::Nothing,
        },
        Case {
            caller: Admin,
            query: UPDATE_PROVIDER,
            variables: json!({ "i": { "id": corp, "clientSecret": "another client secret" } }),
            outcome: "SUCCEEDED",
            action: "IDENTITY_PROVIDER_UPDATED",
            project: In::Server,
            target: Aim::Provider("corp"),
        },
        Case {
            caller: Owner,
            query: UPDATE_PROVIDER,
            variables: json!({ "i": { "id": corp, "enabled": false } }),
            outcome: "FORBIDDEN",
            action: "IDENTITY_PROVIDER_UPDATED",
            project: In::Project(&p),
            target: Aim::Nothing,
        },
        Case {
            caller: Bob,
            query: DELETE_PROVIDER,
            variables: json!({ "i": { "id": doomed_sso } }),
            outcome: "FORBIDDEN",
            action: "IDENTITY_PROVIDER_DELETED",
            project: In::Server,
            target: Aim::Nothing,
        },
        Case {
            caller: Admin,
            query: DELETE_PROVIDER,
            variables: json!({ "i": { "id": doomed_sso } }),
            outcome: "SUCCEEDED",
            action: "IDENTITY_PROVIDER_DELETED",
            project: In::Server,
            target: Aim::Provider("doomed-sso"),
        },
        Case {
            caller: Admin,
            query: LINK_IDENTITY,
            variables: json!({ "i": { "userId": erin, "provider": "corp", "subject": "erin-sub" } }),
            outcome: "SUCCEEDED",
            action: "USER_IDENTITY_LINKED",
            project: In::Server,
            target: Aim::UserAtProvider(&erin, "erin", "corp"),
        },
        Case {
            caller: Ada,
            query: LINK_IDENTITY,
            variables: json!({ "i": { "userId": erin, "provider": "corp", "subject": "ada-sub" } }),
            outcome: "FORBIDDEN",
            action: "USER_IDENTITY_LINKED",
            project: In::Server,
            target: Aim::UserIdAtProvider(&erin, "corp"),
        },
        Case {
            caller: Admin,
            query: LINK_IDENTITY,
            variables: json!({ "i": { "userId": bob, "provider": "corp", "subject": "erin-sub" } }),
            outcome: "CONFLICT",
            action: "USER_IDENTITY_LINKED",
            project: In::Server,
            target: Aim::UserIdAtProvider(&bob, "corp"),
        },
        Case {
            caller: Admin,
            query: SET_ACCESS_MODE,
            variables: json!({ "i": { "mode": "RESTRICTED", "allowedGroups": ["ops"] } }),
            outcome: "SUCCEEDED",
            action: "ACCESS_MODE_CHANGED",
            project: In::Server,
            target: Aim::Nothing,
        },
        Case {
            caller: Member,
            query: SET_ACCESS_MODE,
            variables: json!({ "i": { "mode": "UNRESTRICTED" } }),
            outcome: "FORBIDDEN",
            action: "ACCESS_MODE_CHANGED",
            project: In::Project(&p),
            target: Aim::Nothing,
        },
        Case {
            caller: Ada,
            query: ADD_GROUP,
            variables: json!({ "i": { "projectId": p, "group": "ops", "role": "MEMBER" } }),
            outcome: "SUCCEEDED",
            action: "PROJECT_GROUP_ADDED",
            project: In::Project(&p),
            target: Aim::Group("ops"),
        },
        Case {
            caller: Bob,
            query: ADD_GROUP,
            variables: json!({ "i": { "projectId": p, "group": "bobs", "role": "OWNER" } }),
            outcome: "FORBIDDEN",
            action: "PROJECT_GROUP_ADDED",
            project: In::Project(&p),
            target: Aim::Group("bobs"),
        },
        Case {
            caller: Ada,
            query: SET_GROUP_ROLE,
            variables: json!({ "i": { "projectId": p, "group": "ops", "role": "OWNER" } }),
            outcome: "SUCCEEDED",
            action: "PROJECT_GROUP_ROLE_CHANGED",
            project: In::Project(&p),
            target: Aim::Group("ops"),
        },
        // Another project's key: told to its own project.
        Case {
            caller: Outsider,
            query: SET_GROUP_ROLE,
            variables: json!({ "i": { "projectId": p, "group": "ops", "role": "READ_ONLY" } }),
            outcome: "NOT_FOUND",
            action: "PROJECT_GROUP_ROLE_CHANGED",
            project: In::Project(&q),
            target: Aim::Group("ops"),
        },
        Case {
            caller: Ada,
            query: REMOVE_GROUP,
            variables: json!({ "i": { "projectId": p, "group": "ops" } }),
            outcome: "SUCCEEDED",
            action: "PROJECT_GROUP_REMOVED",
            project: In::Project(&p),
            target: Aim::Group("ops"),
        },
        Case {
            caller: Ada,
            query: REMOVE_GROUP,
            variables: json!({ "i": { "projectId": p, "group": "ops" } }),
            outcome: "NOT_FOUND",
            action: "PROJECT_GROUP_REMOVED",
            project: In::Project(&p),
            target: Aim::Group("ops"),
        },
        // Access control, last: the keys stop working once it is off.
        Case {
            caller: Owner,
            query: DISABLE,
            variables: json!({}),
            outcome: "FORBIDDEN",
            action: "ACCESS_CONTROL_DISABLED",
            project: In::Project(&p),
            target: Aim::Nothing,
        },
        Case {
            caller: Admin,
            query: ENABLE,
            variables: json!({ "i": { "username": ADMIN.0, "password": ADMIN.1 } }),
            outcome: "CONFLICT",
            action: "ACCESS_CONTROL_ENABLED",
            project: In::Server,
            target: Aim::Nothing,
        },
        Case {
            caller: Admin,
            query: DISABLE,
            variables: json!({}),
            outcome: "SUCCEEDED",
            action: "ACCESS_CONTROL_DISABLED",
            project: In::Server,
            target: Aim::Nothing,
        },
        Case {
            caller: Anonymous,
            query: ENABLE,
            variables: json!({ "i": { "username": ADMIN.0, "password": ADMIN.1 } }),
            outcome: "SUCCEEDED",
            action: "ACCESS_CONTROL_ENABLED",
            project: In::Server,
            // The administrator it made ACTIVE again.
            target: Aim::User(&admin_id, ADMIN.0),
        },
    ];

    // Every mutation of the schema has a case that succeeds and one that is
    // refused: a new mutation without them fails here.
    let data = app.ok(MUTATION_FIELDS, json!({}), &admin).await;
    let in_schema: BTreeSet<&str> = data["__schema"]["mutationType"]["fields"]
        .as_array()
        .expect("mutation fields")
        .iter()
        .filter_map(|field| field["name"].as_str())
        .collect();
    let covered = |refused: bool| -> BTreeSet<&str> {
        cases
            .iter()
            .filter(|case| case.records_an_event() && (case.outcome != "SUCCEEDED") == refused)
            .map(Case::field)
            .collect()
    };
    assert_eq!(
        covered(false),
        in_schema,
        "every mutation needs a case that succeeds"
    );
    assert_eq!(
        covered(true),
        in_schema,
        "every mutation needs a case that is refused"
    );
    // And every action a mutation records has a case that succeeds.
    let data = app.ok(AUDIT_ACTIONS, json!({}), &admin).await;
    let actions: BTreeSet<&str> = data["__type"]["enumValues"]
        .as_array()
        .expect("AuditAction's values")
        .iter()
        .filter_map(|value| value["name"].as_str())
        .filter(|action| !NOT_BY_MUTATIONS.contains(action))
        .collect();
    let succeeded: BTreeSet<&str> = cases
        .iter()
        .filter(|case| case.outcome == "SUCCEEDED")
        .map(|case| case.action)
        .collect();
    assert_eq!(
        succeeded, actions,
        "every action a mutation records needs a case"
    );

    let mut replies = Vec::new();
    for case in &cases {
        let auth = match case.caller {
            Anonymous => Auth::None,
            Admin => admin.clone(),
            Owner => owner.auth(),
            Member => member.auth(),
            Outsider => outsider.auth(),
            Ada => Auth::basic("ada", PASSWORD),
            Bob => Auth::basic("bob", PASSWORD),
            Erin => Auth::basic("erin", PASSWORD),
        };
        let reply = app.gql(case.query, case.variables.clone(), &auth).await;
        if case.outcome == "SUCCEEDED" {
            reply.data();
        } else {
            reply.assert_code(case.outcome);
        }
        if case.records_an_event() {
            replies.push((case, reply));
        }
    }

    let mut trail = whole_trail(&app).await;
    trail.reverse();
    let trail = trail.split_off(setup_events);
    let actions = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .map(|event| format!("{} {}", event["action"], event["outcome"]))
            .collect()
    };
    assert_eq!(
        trail.len(),
        replies.len(),
        "one event per audited mutation: {:#?}",
        actions(&trail)
    );
    for (event, (case, reply)) in trail.iter().zip(&replies) {
        let data = &reply.body["data"];
        let created_key = |field: &str| {
            let key = &data["createApiKey"]["apiKey"];
            key[field].as_str().expect("the created key").to_owned()
        };
        let created_key = matches!(case.target, Aim::CreatedKey).then(|| TestKey {
            id: created_key("id"),
            access_key: created_key("accessKey"),
            secret: String::new(),
            project_id: p.clone(),
        });
        let created_project = data["createProject"]["project"]["id"].as_str();
        check(
            event,
            &Expected {
                action: case.action,
                outcome: case.outcome,
                actor: match case.caller {
                    Anonymous => Actor::Anonymous,
                    Admin => Actor::Admin(&admin_id, ADMIN.0),
                    Ada => Actor::User(&ada, "ada"),
                    Bob => Actor::User(&bob, "bob"),
                    Erin => Actor::User(&erin, "erin"),
                    Owner => Actor::Key(&owner, "OWNER"),
                    Member => Actor::Key(&member, "MEMBER"),
                    Outsider => Actor::Key(&outsider, "OWNER"),
                },
                project: match case.project {
                    In::Server => None,
                    In::Project(id) => Some(id),
                    In::CreatedProject => Some(created_project.expect("the created project")),
                },
                target: match &case.target {
                    Aim::Key(key) | Aim::Rotated(key) => Some(*key),
                    Aim::CreatedKey => created_key.as_ref(),
                    _ => None,
                },
                target_id_only: match case.target {
                    Aim::IdOnly(id) => Some(id),
                    _ => None,
                },
                new_key_id: match case.target {
                    Aim::Rotated(_) => Some(&data["rotateKey"]["apiKey"]["id"]),
                    _ => None,
                },
                target_user: match case.target {
                    Aim::User(id, name) => Some((id, Some(name))),
                    Aim::UserIdOnly(id) => Some((id, None)),
                    Aim::CreatedUser => Some((
                        data["createUser"]["user"]["id"]
                            .as_str()
                            .expect("the created user"),
                        case.variables["i"]["username"].as_str(),
                    )),
                    Aim::UserAtProvider(id, name, _) => Some((id, Some(name))),
                    Aim::UserIdAtProvider(id, _) => Some((id, None)),
                    _ => None,
                },
                target_provider: match case.target {
                    Aim::Provider(name)
                    | Aim::UserAtProvider(_, _, name)
                    | Aim::UserIdAtProvider(_, name) => Some(name),
                    _ => None,
                },
                target_group: match case.target {
                    Aim::Group(group) => Some(group),
                    _ => None,
                },
                request_id: reply.request_id(),
            },
        );
    }
    // The deleted project's events stay, without the project itself.
    let deleted = trail
        .iter()
        .find(|event| event["action"] == "PROJECT_DELETED" && event["outcome"] == "SUCCEEDED")
        .expect("PROJECT_DELETED");
    assert_eq!(deleted["projectId"], json!(r));
    assert_eq!(deleted["project"], Value::Null);
}

async fn project_trails_are_readable_by_every_key_of_the_project_and_only_its_own() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let p = app.create_project(&admin, "p").await;
    let q = app.create_project(&admin, "q").await;
    let reader = app.create_key(&admin, &p, "READ_ONLY").await;
    let other = app.create_key(&admin, &q, "OWNER").await;
    for _ in 0..3 {
        app.create_key(&admin, &p, "MEMBER").await;
    }
    let before_renames = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    app.ok(
        RENAME,
        json!({ "i": { "id": reader.id, "name": "renamed" } }),
        &admin,
    )
    .await;

    // A READ_ONLY key reads its project's trail: newest first, p's only.
    let query = trail_query("project");
    let data = app
        .ok(&query, json!({ "p": p, "first": 50 }), &reader.auth())
        .await;
    let events = nodes(&data["project"]["auditEvents"]);
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        [
            "KEY_RENAMED",
            "KEY_CREATED",
            "KEY_CREATED",
            "KEY_CREATED",
            "KEY_CREATED",
            "PROJECT_CREATED"
        ]
    );
    assert!(events.iter().all(|e| e["projectId"] == json!(p)));
    assert_eq!(data["project"]["auditEvents"]["totalCount"], 6);

    // Keyset pages, newest first, and the filters.
    let first = app
        .ok(&query, json!({ "p": p, "first": 4 }), &reader.auth())
        .await;
    let cursor = first["project"]["auditEvents"]["pageInfo"]["endCursor"].clone();
    assert_eq!(
        first["project"]["auditEvents"]["pageInfo"]["hasNextPage"],
        true
    );
    let rest = app
        .ok(
            &query,
            json!({ "p": p, "first": 4, "after": cursor }),
            &reader.auth(),
        )
        .await;
    let paged: Vec<Value> = nodes(&first["project"]["auditEvents"])
        .into_iter()
        .chain(nodes(&rest["project"]["auditEvents"]))
        .collect();
    assert_eq!(paged, events);
    assert_eq!(
        rest["project"]["auditEvents"]["pageInfo"]["hasNextPage"],
        false
    );
    let created = app
        .ok(
            &query,
            json!({ "p": p, "action": "KEY_CREATED" }),
            &reader.auth(),
        )
        .await;
    assert_eq!(created["project"]["auditEvents"]["totalCount"], 4);
    let since = app
        .ok(
            &query,
            json!({ "p": p, "since": before_renames }),
            &reader.auth(),
        )
        .await;
    let recent = nodes(&since["project"]["auditEvents"]);
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0]["action"], "KEY_RENAMED");

    // Each event is a node; another project's key cannot see it.
    let event_id = events[0]["id"].clone();
    let node = "query($id: ID!) { node(id: $id) { id ... on AuditEvent { action } } }";
    let mine = app
        .ok(node, json!({ "id": event_id }), &reader.auth())
        .await;
    assert_eq!(mine["node"]["action"], "KEY_RENAMED");
    let theirs = app.ok(node, json!({ "id": event_id }), &other.auth()).await;
    assert_eq!(theirs["node"], Value::Null);
    let foreign = app.gql(&query, json!({ "p": p }), &other.auth()).await;
    assert_eq!(foreign.data()["project"], Value::Null);

    // The whole trail is the admin's.
    app.gql(&trail_query("root"), json!({}), &reader.auth())
        .await
        .assert_code("FORBIDDEN");
    assert!(whole_trail(&app).await.len() > events.len());
}

/// One case of the filters' table: its name, the `keyId`, `action`,
/// `since` and `until` given, and the actions listed, newest first.
type FilterCase = (
    &'static str,
    Value,
    &'static str,
    Value,
    Value,
    Vec<&'static str>,
);

/// Both trails with every filter: `keyId`, `since`, `until` and `action`.
fn filtered_trail_query(root: &str) -> String {
    let page = "(first: 100, action: $action, keyId: $key, since: $since, until: $until)";
    let body = "{ totalCount edges { node { action targetKeyId actorKeyId newKeyId } } }";
    let parameters = "$action: AuditAction, $key: ID, $since: DateTime, $until: DateTime";
    match root {
        "root" => format!("query({parameters}) {{ auditEvents{page} {body} }}"),
        _ => format!(
            "query($p: ID!, {parameters}) {{ project(id: $p) {{ auditEvents{page} {body} }} }}"
        ),
    }
}

async fn trails_are_filtered_by_key_and_by_period() {
    // No expiry warnings: the rotated key's would come at any moment.
    let app = TestApp::spawn_with(|config| {
        config.key_expiry_warnings = "none".parse().expect("no warnings");
    })
    .await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let p = app.create_project(&admin, "p").await;
    let q = app.create_project(&admin, "q").await;
    let a = app.create_key(&admin, &p, "OWNER").await;
    let b = app.create_key(&admin, &p, "MEMBER").await;
    let reader = app.create_key(&admin, &p, "READ_ONLY").await;
    let instant = || async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let at = chrono::Utc::now();
        tokio::time::sleep(Duration::from_millis(20)).await;
        at
    };
    let t1 = instant().await;
    // Key a acts on b, then creates c.
    app.ok(
        RENAME,
        json!({ "i": { "id": b.id, "name": "b2" } }),
        &a.auth(),
    )
    .await;
    let c = app.create_key(&a.auth(), &p, "READ_ONLY").await;
    let t2 = instant().await;
    // The administrator rotates c into c2, then deactivates a.
    let rotated = app
        .ok(
            ROTATE,
            json!({ "i": { "id": c.id, "gracePeriodSeconds": 3600 } }),
            &admin,
        )
        .await;
    let c2 = id_of(&rotated["rotateKey"]["apiKey"]);
    app.ok(
        SET_STATE,
        json!({ "i": { "id": a.id, "state": "INACTIVE" } }),
        &admin,
    )
    .await;
    // Another project's key, to be left out of p's trail.
    let stranger = app.create_key(&admin, &q, "OWNER").await;

    let none = Value::Null;
    // (case, key, action, since, until, the project's events newest first)
    let cases: Vec<FilterCase> = vec![
        (
            "key a: what it did and what was done to it",
            json!(a.id),
            "",
            none.clone(),
            none.clone(),
            vec![
                "KEY_DEACTIVATED",
                "KEY_CREATED",
                "KEY_RENAMED",
                "KEY_CREATED",
            ],
        ),
        (
            "key b: acted on",
            json!(b.id),
            "",
            none.clone(),
            none.clone(),
            vec!["KEY_RENAMED", "KEY_CREATED"],
        ),
        (
            "key c: created, then rotated",
            json!(c.id),
            "",
            none.clone(),
            none.clone(),
            vec!["KEY_ROTATED", "KEY_CREATED"],
        ),
        (
            "key c2: the rotation that made it",
            json!(c2),
            "",
            none.clone(),
            none.clone(),
            vec!["KEY_ROTATED"],
        ),
        (
            "key a and an action",
            json!(a.id),
            "KEY_CREATED",
            none.clone(),
            none.clone(),
            vec!["KEY_CREATED", "KEY_CREATED"],
        ),
        (
            "a period",
            none.clone(),
            "",
            json!(t1),
            json!(t2),
            vec!["KEY_CREATED", "KEY_RENAMED"],
        ),
        (
            "until alone",
            none.clone(),
            "",
            none.clone(),
            json!(t1),
            vec![
                "KEY_CREATED",
                "KEY_CREATED",
                "KEY_CREATED",
                "PROJECT_CREATED",
            ],
        ),
        (
            "a key and a period",
            json!(a.id),
            "",
            json!(t2),
            none.clone(),
            vec!["KEY_DEACTIVATED"],
        ),
        (
            "another project's key",
            json!(stranger.id),
            "",
            none.clone(),
            none.clone(),
            vec![],
        ),
    ];
    for (case, key, action, since, until, expected) in cases {
        let action = if action.is_empty() {
            Value::Null
        } else {
            json!(action)
        };
        let variables =
            json!({ "p": p, "key": key, "action": action, "since": since, "until": until });
        let data = app
            .ok(
                &filtered_trail_query("project"),
                variables.clone(),
                &reader.auth(),
            )
            .await;
        let events = nodes(&data["project"]["auditEvents"]);
        let actions: Vec<&str> = events
            .iter()
            .map(|e| e["action"].as_str().expect("action"))
            .collect();
        assert_eq!(actions, expected, "{case}");
        assert_eq!(
            data["project"]["auditEvents"]["totalCount"],
            expected.len(),
            "{case}"
        );
        if key != Value::Null {
            assert!(
                events
                    .iter()
                    .all(|e| [&e["targetKeyId"], &e["actorKeyId"], &e["newKeyId"]].contains(&&key)),
                "{case}: {events:?}"
            );
        }
        // The administrator's whole trail filters the same, with the
        // other project's events too (before t1: both projects' creation).
        if until == json!(t1) {
            continue;
        }
        let whole = app
            .ok(&filtered_trail_query("root"), variables, &admin)
            .await;
        let whole: Vec<Value> = nodes(&whole["auditEvents"]);
        let whole: Vec<&str> = whole
            .iter()
            .map(|e| e["action"].as_str().expect("action"))
            .collect();
        if key == json!(stranger.id) {
            assert_eq!(whole, ["KEY_CREATED"], "{case}");
        } else {
            assert_eq!(whole, expected, "{case}");
        }
    }

    // Arguments that name no key, or a period that ends before it starts.
    let bad = [
        ("a project's id as keyId", json!({ "key": p }), "keyId"),
        ("garbage as keyId", json!({ "key": "not-an-id" }), "keyId"),
        (
            "until before since",
            json!({ "since": t2, "until": t1 }),
            "until",
        ),
        (
            "until equal to since",
            json!({ "since": t1, "until": t1 }),
            "until",
        ),
    ];
    for (case, variables, field) in bad {
        for root in ["root", "project"] {
            let mut variables = variables.clone();
            variables["p"] = json!(p);
            let reply = app
                .gql(&filtered_trail_query(root), variables, &admin)
                .await;
            reply.assert_code("BAD_USER_INPUT");
            assert_eq!(
                reply.body["errors"][0]["extensions"]["field"],
                json!(field),
                "{case} ({root})"
            );
        }
    }
}

/// Runs `sql` on the server's database, whichever backend.
async fn execute(app: &TestApp, sql: &str) {
    let db = Database::connect(app.database_url())
        .await
        .expect("connect");
    db.execute_unprepared(sql).await.expect(sql);
    let _ = db.close().await;
}

/// Makes writing a KEY_DELETED event fail, as a full disk or a broken
/// connection could in the middle of the transaction.
async fn break_key_deleted_events(app: &TestApp) {
    match backend::current() {
        Backend::Sqlite => {
            execute(
                app,
                "CREATE TRIGGER broken AFTER INSERT ON audit_event \
                 WHEN NEW.action = 'KEY_DELETED' \
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
            )
            .await
        }
        Backend::Postgres => {
            execute(
                app,
                "CREATE FUNCTION broken() RETURNS trigger LANGUAGE plpgsql \
                 AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$",
            )
            .await;
            execute(
                app,
                "CREATE TRIGGER broken AFTER INSERT ON audit_event FOR EACH ROW \
                 WHEN (NEW.action = 'KEY_DELETED') EXECUTE FUNCTION broken()",
            )
            .await;
        }
    }
}

async fn a_mutation_whose_event_cannot_be_written_changes_nothing() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let project = app.default_project(&admin).await;
    let key = app.create_key(&admin, &project, "MEMBER").await;
    app.ok(
        SET_STATE,
        json!({ "i": { "id": key.id, "state": "INACTIVE" } }),
        &admin,
    )
    .await;
    break_key_deleted_events(&app).await;

    app.gql(DELETE_KEY, json!({ "i": { "id": key.id } }), &admin)
        .await
        .assert_code("INTERNAL");

    // The deletion rolled back with its event: the key is still there, still
    // counted, and the trail tells of no deletion.
    let data = app
        .ok(
            "query($id: ID!, $p: ID!) { node(id: $id) { ... on ApiKey { state } }
               project(id: $p) { apiKeys { totalCount } } }",
            json!({ "id": key.id, "p": project }),
            &admin,
        )
        .await;
    assert_eq!(data["node"]["state"], "INACTIVE");
    assert_eq!(data["project"]["apiKeys"]["totalCount"], 1);
    let trail = whole_trail(&app).await;
    assert!(
        trail.iter().all(|e| e["action"] != "KEY_DELETED"),
        "{trail:#?}"
    );
    assert_eq!(trail[0]["action"], "KEY_DEACTIVATED");
}

async fn events_older_than_the_retention_period_are_pruned() {
    let mut app = TestApp::spawn().await;
    let admin = Auth::None;
    app.create_project(&admin, "old").await;
    app.create_project(&admin, "recent").await;
    // Age the first event past the default retention (365 days).
    let aged = match backend::current() {
        Backend::Sqlite => {
            "UPDATE audit_event SET at = '2000-01-01 00:00:00+00:00' WHERE id = (SELECT MIN(id) FROM audit_event)"
        }
        Backend::Postgres => {
            "UPDATE audit_event SET at = now() - interval '400 days' WHERE id = (SELECT MIN(id) FROM audit_event)"
        }
    };
    execute(&app, aged).await;
    assert_eq!(whole_trail(&app).await.len(), 2);

    // Retention runs when a server starts, then hourly.
    app.restart().await;
    let mut trail = whole_trail(&app).await;
    for _ in 0..50 {
        if trail.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        trail = whole_trail(&app).await;
    }
    assert_eq!(trail.len(), 1, "{trail:#?}");
    assert!(trail[0]["project"]["id"].is_string());
    let name = app
        .ok(
            "query($id: ID!) { node(id: $id) { ... on Project { name } } }",
            json!({ "id": trail[0]["projectId"] }),
            &admin,
        )
        .await;
    assert_eq!(name["node"]["name"], "recent");
}

async fn a_key_reaching_its_expiry_is_recorded_once_whatever_the_replicas() {
    let a = TestApp::spawn().await;
    let b = a.replica().await;
    let auth = Auth::None;
    let project = a.default_project(&auth).await;
    let expires_at = chrono::Utc::now() + chrono::Duration::seconds(2);
    let data = a
        .ok(
            CREATE_KEY,
            json!({ "i": { "projectId": project, "name": "short", "expiresAt": expires_at } }),
            &auth,
        )
        .await;
    let key = key_from(&data);
    let expired = |trail: &[Value]| -> Vec<Value> {
        trail
            .iter()
            .filter(|e| e["action"] == "KEY_EXPIRED")
            .cloned()
            .collect()
    };
    assert!(expired(&whole_trail(&a).await).is_empty());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut events = expired(&whole_trail(&b).await);
    for _ in 0..100 {
        if !events.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        events = expired(&whole_trail(&b).await);
    }
    // Both replicas have swept since: still one event.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let events = expired(&whole_trail(&b).await);
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event["actorKind"], "SYSTEM");
    assert_eq!(event["targetKeyId"], json!(key.id));
    assert_eq!(event["targetAccessKey"], json!(key.access_key));
    assert_eq!(event["projectId"], json!(project));
    assert_eq!(event["clientAddress"], Value::Null);
    let at = chrono::DateTime::parse_from_rfc3339(event["at"].as_str().expect("at"))
        .expect("a timestamp");
    assert!(at >= expires_at, "recorded at {at}, expiry {expires_at}");
}

async fn refusals_of_every_kind_are_recorded() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let p = app.create_project(&admin, "p").await;
    let q = app.create_project(&admin, "q").await;
    let owner = app.create_key(&admin, &p, "OWNER").await;
    let member = app.create_key(&admin, &p, "MEMBER").await;
    let reader = app.create_key(&admin, &p, "READ_ONLY").await;
    let outsider = app.create_key(&admin, &q, "OWNER").await;
    let soon = chrono::Utc::now() + chrono::Duration::seconds(1);
    let expiring = key_from(
        &app.ok(
            CREATE_KEY,
            json!({ "i": { "projectId": p, "name": "soon", "expiresAt": soon } }),
            &admin,
        )
        .await,
    );
    app.ok(
        SET_STATE,
        json!({ "i": { "id": expiring.id, "state": "INACTIVE" } }),
        &admin,
    )
    .await;
    // Past its expiry, and recorded as such (so that the trail's newest
    // event is the refusal each case makes).
    for _ in 0..100 {
        let trail = whole_trail(&app).await;
        if trail.iter().any(|e| e["action"] == "KEY_EXPIRED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let missing_project = "UHJvamVjdDo5OTk5"; // Project:9999
    let missing_key = "QXBpS2V5Ojk5OTk"; // ApiKey:9999

    let (as_member, as_owner, as_reader, as_outsider) =
        (member.auth(), owner.auth(), reader.auth(), outsider.auth());
    let cases: Vec<(&str, Value, &Auth, &str, &str)> = vec![
        (
            CREATE_KEY,
            json!({ "i": { "name": "x", "role": "OWNER" } }),
            &as_member,
            "KEY_CREATED",
            "FORBIDDEN",
        ),
        (
            CREATE_KEY,
            json!({ "i": { "projectId": q, "name": "x" } }),
            &as_owner,
            "KEY_CREATED",
            "NOT_FOUND",
        ),
        (
            CREATE_KEY,
            json!({ "i": { "projectId": missing_project, "name": "x" } }),
            &admin,
            "KEY_CREATED",
            "NOT_FOUND",
        ),
        (
            SET_STATE,
            json!({ "i": { "id": expiring.id, "state": "ACTIVE" } }),
            &admin,
            "KEY_ACTIVATED",
            "CONFLICT",
        ),
        (
            SET_STATE,
            json!({ "i": { "id": owner.id, "state": "INACTIVE" } }),
            &as_reader,
            "KEY_DEACTIVATED",
            "FORBIDDEN",
        ),
        (
            RENAME,
            json!({ "i": { "id": missing_key, "name": "x" } }),
            &admin,
            "KEY_RENAMED",
            "NOT_FOUND",
        ),
        (
            DELETE_KEY,
            json!({ "i": { "id": owner.id } }),
            &as_member,
            "KEY_DELETED",
            "FORBIDDEN",
        ),
        (
            UPDATE_PROJECT,
            json!({ "i": { "id": p, "name": "x" } }),
            &as_member,
            "PROJECT_UPDATED",
            "FORBIDDEN",
        ),
        (
            UPDATE_PROJECT,
            json!({ "i": { "id": q, "name": "x" } }),
            &as_owner,
            "PROJECT_UPDATED",
            "NOT_FOUND",
        ),
        (
            UPDATE_PROJECT,
            json!({ "i": { "id": p, "name": "q" } }),
            &admin,
            "PROJECT_UPDATED",
            "CONFLICT",
        ),
        (
            DELETE_PROJECT,
            json!({ "i": { "id": missing_project } }),
            &admin,
            "PROJECT_DELETED",
            "NOT_FOUND",
        ),
        (
            DELETE_PROJECT,
            json!({ "i": { "id": q } }),
            &as_outsider,
            "PROJECT_DELETED",
            "FORBIDDEN",
        ),
        (
            "mutation($i: EnableAccessControlInput!) { enableAccessControl(input: $i) { enabled } }",
            json!({ "i": { "username": "another", "password": "another long password" } }),
            &admin,
            "ACCESS_CONTROL_ENABLED",
            "CONFLICT",
        ),
        (
            "mutation { disableAccessControl { enabled } }",
            json!({}),
            &as_owner,
            "ACCESS_CONTROL_DISABLED",
            "FORBIDDEN",
        ),
    ];
    for (query, variables, auth, action, outcome) in cases {
        let reply = app.gql(query, variables.clone(), auth).await;
        reply.assert_code(outcome);
        let newest = whole_trail(&app).await.remove(0);
        let context = format!("{action} {outcome} with {variables}: {newest:#}");
        assert_eq!(newest["action"], action, "{context}");
        assert_eq!(newest["outcome"], outcome, "{context}");
        assert_eq!(newest["requestId"], json!(reply.request_id()), "{context}");
        assert!(newest["reason"].is_string(), "{context}");
    }
}

async fn behind_a_trusted_proxy_the_client_and_request_id_are_the_proxys() {
    let app = TestApp::spawn_with(|config| {
        config.limits.trusted_proxies = vec!["127.0.0.1".parse().expect("an address")];
    })
    .await;
    let reply = send(
        app.client
            .post(app.url("/graphql"))
            .header("x-forwarded-for", "203.0.113.7")
            .header("x-request-id", "proxy-42")
            .json(&json!({ "query": "mutation { createProject(input: { name: \"behind\" }) { project { id } } }" })),
    )
    .await;
    reply.data();
    assert_eq!(reply.request_id(), "proxy-42");
    let newest = whole_trail(&app).await.remove(0);
    assert_eq!(newest["clientAddress"], "203.0.113.7");
    assert_eq!(newest["requestId"], "proxy-42");
}
