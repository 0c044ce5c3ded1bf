//! Single sign-on's management API (issue 27): identity providers, linked
//! identities, groups as project members and the access mode, as GraphQL
//! shows and changes them. Who may do what, what is refused and why, that
//! every change is audited with the provider or group it concerns, and
//! that a client secret goes in and never comes out. (Signing in through a
//! provider is the sign-in tests' subject.)

use std::net::SocketAddr;

use serde_json::{Value, json};

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(
    administrators_configure_sign_on_and_member_managers_manage_groups,
    a_provider_keyward_cannot_use_is_refused_saying_why,
    providers_are_configured_linked_and_deleted_and_their_secret_never_shows,
    group_members_and_the_access_mode_are_managed_and_audited,
);

const PASSWORD: &str = "a password of a person";
const SECRET: &str = "client-secret-that-must-never-be-seen-0123456789";
const NEW_SECRET: &str = "rotated-client-secret-that-must-never-be-seen-9876";

const PROVIDER_FIELDS: &str =
    "id name issuerUrl clientId scopes usernameClaim groupsClaim enabled createdAt";
const CREATE_PROVIDER: &str = "mutation($i: CreateIdentityProviderInput!) {
    createIdentityProvider(input: $i) { identityProvider {
    id name issuerUrl clientId scopes usernameClaim groupsClaim enabled createdAt } } }";
const UPDATE_PROVIDER: &str = "mutation($i: UpdateIdentityProviderInput!) {
    updateIdentityProvider(input: $i) { identityProvider {
    id name issuerUrl clientId scopes usernameClaim groupsClaim enabled createdAt } } }";
const DELETE_PROVIDER: &str = "mutation($i: DeleteIdentityProviderInput!) {
    deleteIdentityProvider(input: $i) { deletedIdentityProviderId } }";
const PROVIDERS: &str = "{ identityProviders {
    id name issuerUrl clientId scopes usernameClaim groupsClaim enabled createdAt } }";
const LINK: &str = "mutation($i: LinkUserIdentityInput!) { linkUserIdentity(input: $i) {
    user { id username } identity { provider subject linkedAt } } }";
const ADD_GROUP: &str = "mutation($i: ProjectGroupInput!) { addProjectGroup(input: $i) {
    project { id } groupMember { group role addedAt } } }";
const SET_GROUP_ROLE: &str = "mutation($i: ProjectGroupInput!) { setProjectGroupRole(input: $i) {
    project { id } groupMember { group role addedAt } } }";
const REMOVE_GROUP: &str = "mutation($i: RemoveProjectGroupInput!) {
    removeProjectGroup(input: $i) { project { id } removedGroup } }";
const SET_ACCESS_MODE: &str = "mutation($i: SetAccessModeInput!) { setAccessMode(input: $i) {
    enabled mode allowedUsers allowedGroups } }";
const ACCESS_MODE: &str = "{ accessControl { enabled mode allowedUsers allowedGroups } }";
const CREATE_USER: &str =
    "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } } }";
const ADD_MEMBER: &str = "mutation($i: ProjectMemberInput!) { addProjectMember(input: $i) {
    member { role } } }";
const TRAIL: &str = "{ auditEvents(first: 100) { edges { node {
    action outcome actorKind actorUsername projectId targetUserId targetUsername
    targetProvider targetGroup reason } } } }";

/// The public half of an RSA key, as a provider's JWKS publishes it: the
/// discovery check only needs a provider to publish a usable key.
const JWK_N: &str = "yARqwXUSEmNgiKrZLdtymDDHjbNszKREWt96VWCBhkXnsKfmG28L0LTP-Qd5LxOIr98Ymcci0VjxQ1_\
XffvuUGFCnBT5DJm7jghnFHo2AYETyj5esGKVIiL5Bz8Pfe4p1WHPfb5TvRI2YFmMcnD8uyUJvOhkQdVr8XY2FAN-H7TH5o4d91Z\
Abs7trsqpnULT16S9I6B6Q_cxeCpP4oadf2B2NxLO8msi7heuMTN3ocUeQIZmsl-6xzZOA2xqTny8ElL0kDRRd7pkwN_3L8DBTHK\
DkrL3COngiBAPazX29ZjMjaruuRJABRxOGKgpTFKOQhAzXAF1Wqnj6e_BGE5T7w";

/// A provider's discovery endpoints, just enough for keyward to judge
/// them, for several issuers on one port: `{base}/{tenant}` is an issuer
/// whose document and keys are at `{base}/{tenant}/.well-known/…` and
/// `{base}/{tenant}/jwks`. Tenant `liar` names another issuer in its
/// document; `keyless` publishes no keys; `implicit` offers no code flow.
/// (The authorization matrix configures providers with it too.)
pub struct Discovery {
    pub base: String,
}

impl Discovery {
    pub async fn start() -> Self {
        use axum::extract::{Path, State};
        use axum::routing::get;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let addr: SocketAddr = listener.local_addr().expect("an address");
        let base = format!("http://{addr}");
        let document = async |State(base): State<String>, Path(tenant): Path<String>| {
            let issuer = match tenant.as_str() {
                "liar" => "https://another-issuer.example".to_owned(),
                _ => format!("{base}/{tenant}"),
            };
            let response_types = match tenant.as_str() {
                "implicit" => json!(["id_token"]),
                _ => json!(["code"]),
            };
            axum::Json(json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{base}/{tenant}/authorize"),
                "token_endpoint": format!("{base}/{tenant}/token"),
                "jwks_uri": format!("{base}/{tenant}/jwks"),
                "response_types_supported": response_types,
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }))
        };
        let keys = async |Path(tenant): Path<String>| {
            let keys = match tenant.as_str() {
                "keyless" => json!([]),
                _ => json!([{
                    "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "test-key",
                    "n": JWK_N, "e": "AQAB",
                }]),
            };
            axum::Json(json!({ "keys": keys }))
        };
        let router = axum::Router::new()
            .route("/{tenant}/.well-known/openid-configuration", get(document))
            .route("/{tenant}/jwks", get(keys))
            .with_state(base.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { base }
    }

    pub fn issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}", self.base)
    }
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

async fn add_member(app: &TestApp, project: &str, user: &str, role: &str) {
    app.ok(
        ADD_MEMBER,
        json!({ "i": { "projectId": project, "userId": user, "role": role } }),
        &Auth::admin(),
    )
    .await;
}

fn provider_input(name: &str, issuer: &str) -> Value {
    json!({ "i": {
        "name": name, "issuerUrl": issuer, "clientId": "keyward", "clientSecret": SECRET,
    } })
}

async fn create_provider(app: &TestApp, name: &str, issuer: &str) -> Value {
    let data = app
        .ok(
            CREATE_PROVIDER,
            provider_input(name, issuer),
            &Auth::admin(),
        )
        .await;
    data["createIdentityProvider"]["identityProvider"].clone()
}

/// The server-wide trail, newest first.
async fn trail(app: &TestApp) -> Vec<Value> {
    let data = app.ok(TRAIL, json!({}), &Auth::admin()).await;
    data["auditEvents"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| edge["node"].clone())
        .collect()
}

/// The newest event of `action` that `outcome` ended.
async fn newest(app: &TestApp, action: &str, outcome: &str) -> Value {
    trail(app)
        .await
        .into_iter()
        .find(|event| event["action"] == action && event["outcome"] == outcome)
        .unwrap_or_else(|| panic!("no {action} {outcome} event"))
}

async fn administrators_configure_sign_on_and_member_managers_manage_groups() {
    let app = TestApp::spawn().await;
    let discovery = Discovery::start().await;
    app.enable_access_control().await;
    let project = app.create_project(&Auth::admin(), "tools").await;
    for (name, role) in [
        ("owner", Some("OWNER")),
        ("member", Some("MEMBER")),
        ("outsider", None),
    ] {
        let id = user(&app, name).await;
        if let Some(role) = role {
            add_member(&app, &project, &id, role).await;
        }
    }
    let linked = user(&app, "linked").await;
    let key = app.create_key(&Auth::admin(), &project, "OWNER").await;
    let existing = id_of(&create_provider(&app, "existing", &discovery.issuer("good")).await);
    app.ok(
        ADD_GROUP,
        json!({ "i": { "projectId": project, "group": "ops", "role": "READ_ONLY" } }),
        &Auth::admin(),
    )
    .await;
    let callers = [
        ("admin", Auth::admin()),
        ("owner", person("owner")),
        ("member", person("member")),
        ("key", key.auth()),
        ("outsider", person("outsider")),
    ];

    // What only administrators do: everyone else is FORBIDDEN.
    let admin_only = ["OK", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN", "FORBIDDEN"];
    // What whoever manages the project's members does: a key manages no
    // people; the project looks missing to someone outside it.
    let member_managers = ["OK", "OK", "FORBIDDEN", "FORBIDDEN", "NOT_FOUND"];
    type Variables = Box<dyn Fn(&str) -> Value>;
    let (issuer, p, u) = (discovery.issuer("good"), project.clone(), linked.clone());
    let (existing_id, doomed) = (existing.clone(), existing.clone());
    let cases: Vec<(&str, &str, Variables, [&str; 5])> = vec![
        (
            "identityProviders",
            PROVIDERS,
            Box::new(|_| json!({})),
            admin_only,
        ),
        (
            "accessControl.mode",
            ACCESS_MODE,
            Box::new(|_| json!({})),
            admin_only,
        ),
        (
            "createIdentityProvider",
            CREATE_PROVIDER,
            Box::new(move |who| provider_input(&format!("by-{who}"), &issuer)),
            admin_only,
        ),
        (
            "updateIdentityProvider",
            UPDATE_PROVIDER,
            Box::new(
                move |who| json!({ "i": { "id": existing_id, "clientId": format!("by-{who}") } }),
            ),
            admin_only,
        ),
        (
            "linkUserIdentity",
            LINK,
            Box::new(
                move |who| json!({ "i": { "userId": u, "provider": "existing", "subject": format!("sub-{who}") } }),
            ),
            admin_only,
        ),
        (
            "setAccessMode",
            SET_ACCESS_MODE,
            Box::new(|_| json!({ "i": { "mode": "RESTRICTED", "allowedGroups": ["ops"] } })),
            admin_only,
        ),
        (
            "addProjectGroup",
            ADD_GROUP,
            Box::new({
                let p = p.clone();
                move |who| json!({ "i": { "projectId": p, "group": format!("g-{who}"), "role": "MEMBER" } })
            }),
            member_managers,
        ),
        (
            "setProjectGroupRole",
            SET_GROUP_ROLE,
            Box::new({
                let p = p.clone();
                move |_| json!({ "i": { "projectId": p, "group": "ops", "role": "MEMBER" } })
            }),
            member_managers,
        ),
        (
            "removeProjectGroup",
            REMOVE_GROUP,
            Box::new(move |who| json!({ "i": { "projectId": p, "group": format!("g-{who}") } })),
            member_managers,
        ),
        (
            "deleteIdentityProvider",
            DELETE_PROVIDER,
            Box::new(move |_| json!({ "i": { "id": doomed } })),
            admin_only,
        ),
    ];
    for (operation, query, variables, expected) in &cases {
        for ((who, auth), expected) in callers.iter().zip(expected) {
            let reply = app.gql(query, variables(who), auth).await;
            assert_eq!(&outcome(&reply), expected, "{who}: {operation} {reply:?}");
        }
    }

    // The access mode is the administrators': anyone else reads null and
    // FORBIDDEN for each of its fields, and still whether access control
    // is on.
    let reply = app.gql(ACCESS_MODE, json!({}), &person("owner")).await;
    assert_eq!(
        reply.codes(),
        ["FORBIDDEN", "FORBIDDEN", "FORBIDDEN"],
        "{reply:?}"
    );
    let control = &reply.body["data"]["accessControl"];
    assert_eq!(control["enabled"], true);
    for field in ["mode", "allowedUsers", "allowedGroups"] {
        assert_eq!(control[field], Value::Null, "{field}");
    }
    let anyone = app
        .ok(
            "{ accessControl { enabled } }",
            json!({}),
            &person("outsider"),
        )
        .await;
    assert_eq!(anyone["accessControl"]["enabled"], true);

    // Each refusal is in the trail, as FORBIDDEN or NOT_FOUND of its action.
    let events = trail(&app).await;
    for action in [
        "IDENTITY_PROVIDER_CREATED",
        "IDENTITY_PROVIDER_UPDATED",
        "IDENTITY_PROVIDER_DELETED",
        "USER_IDENTITY_LINKED",
        "ACCESS_MODE_CHANGED",
        "PROJECT_GROUP_ADDED",
        "PROJECT_GROUP_ROLE_CHANGED",
        "PROJECT_GROUP_REMOVED",
    ] {
        let outcomes: Vec<&str> = events
            .iter()
            .filter(|event| event["action"] == action)
            .filter_map(|event| event["outcome"].as_str())
            .collect();
        assert!(outcomes.contains(&"FORBIDDEN"), "{action}: {outcomes:?}");
        assert!(outcomes.contains(&"SUCCEEDED"), "{action}: {outcomes:?}");
    }
}

async fn a_provider_keyward_cannot_use_is_refused_saying_why() {
    let app = TestApp::spawn().await;
    let discovery = Discovery::start().await;
    app.enable_access_control().await;
    create_provider(&app, "taken", &discovery.issuer("good")).await;
    let with = |changes: Value| {
        let mut input = provider_input("fresh", &discovery.issuer("good"));
        for (field, value) in changes.as_object().expect("an object") {
            input["i"][field] = value.clone();
        }
        input
    };
    // (what is wrong, input, code, the field and the reason the message gives)
    let cases = [
        (
            "unreachable issuer",
            with(json!({ "issuerUrl": "http://127.0.0.1:1" })),
            "BAD_USER_INPUT",
            "input.issuerUrl: keyward cannot use this identity provider",
        ),
        (
            "no discovery document",
            with(json!({ "issuerUrl": format!("{}/nothing/here/x/y", discovery.base) })),
            "BAD_USER_INPUT",
            "input.issuerUrl: keyward cannot use this identity provider",
        ),
        (
            "another issuer in the document",
            with(json!({ "issuerUrl": discovery.issuer("liar") })),
            "BAD_USER_INPUT",
            "input.issuerUrl: keyward cannot use this identity provider",
        ),
        (
            "no signing keys",
            with(json!({ "issuerUrl": discovery.issuer("keyless") })),
            "BAD_USER_INPUT",
            "signing keys",
        ),
        (
            "no code flow",
            with(json!({ "issuerUrl": discovery.issuer("implicit") })),
            "BAD_USER_INPUT",
            "authorization code flow",
        ),
        (
            "not a URL",
            with(json!({ "issuerUrl": "sso.example.com" })),
            "BAD_USER_INPUT",
            "input.issuerUrl: not a URL",
        ),
        (
            "not http",
            with(json!({ "issuerUrl": "ftp://sso.example.com" })),
            "BAD_USER_INPUT",
            "input.issuerUrl",
        ),
        (
            "a name that is no slug",
            with(json!({ "name": "Corp_SSO" })),
            "BAD_USER_INPUT",
            "input.name",
        ),
        (
            "a name too long",
            with(json!({ "name": "a".repeat(33) })),
            "BAD_USER_INPUT",
            "input.name",
        ),
        (
            "an empty client id",
            with(json!({ "clientId": "" })),
            "BAD_USER_INPUT",
            "input.clientId",
        ),
        (
            "a client secret too long",
            with(json!({ "clientSecret": "s".repeat(1025) })),
            "BAD_USER_INPUT",
            "input.clientSecret",
        ),
        (
            "a scope that is no scope",
            with(json!({ "scopes": ["openid", "two words"] })),
            "BAD_USER_INPUT",
            "input.scopes",
        ),
        (
            "an empty claim",
            with(json!({ "groupsClaim": "" })),
            "BAD_USER_INPUT",
            "input.groupsClaim",
        ),
        (
            "a name taken",
            with(json!({ "name": "taken" })),
            "CONFLICT",
            "an identity provider named \"taken\" exists already",
        ),
    ];
    for (wrong, input, code, says) in cases {
        let reply = app.gql(CREATE_PROVIDER, input, &Auth::admin()).await;
        let message = reply.assert_code(code);
        assert!(message.contains(says), "{wrong}: {message}");
        assert!(
            !reply.body.to_string().contains(SECRET),
            "{wrong}: {reply:?}"
        );
    }
    // The unusable issuer's reason is specific, not a generic failure.
    let liar = app
        .gql(
            CREATE_PROVIDER,
            with(json!({ "issuerUrl": discovery.issuer("liar") })),
            &Auth::admin(),
        )
        .await;
    let message = liar.assert_code("BAD_USER_INPUT");
    assert!(message.to_lowercase().contains("issuer"), "{message}");

    let data = app.ok(PROVIDERS, json!({}), &Auth::admin()).await;
    let names: Vec<&str> = data["identityProviders"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|provider| provider["name"].as_str())
        .collect();
    assert_eq!(names, ["taken"], "nothing refused was created");
}

async fn providers_are_configured_linked_and_deleted_and_their_secret_never_shows() {
    let app = TestApp::spawn().await;
    let discovery = Discovery::start().await;
    app.enable_access_control().await;
    let ada = user(&app, "ada").await;
    // Every answer of this test, to search for the secrets at the end.
    let mut answers = Vec::new();

    let reply = app
        .gql(
            CREATE_PROVIDER,
            provider_input("corp", &discovery.issuer("good")),
            &Auth::admin(),
        )
        .await;
    let created = reply.data()["createIdentityProvider"]["identityProvider"].clone();
    answers.push(reply.body.to_string());
    let id = id_of(&created);
    assert_eq!(created["name"], "corp");
    assert_eq!(created["issuerUrl"], discovery.issuer("good"));
    assert_eq!(created["clientId"], "keyward");
    assert_eq!(
        created["scopes"],
        json!(["openid", "profile", "email"]),
        "the default"
    );
    assert_eq!(created["usernameClaim"], "preferred_username");
    assert_eq!(created["groupsClaim"], "groups");
    assert_eq!(created["enabled"], true);
    assert!(created["createdAt"].is_string());

    // By id, the administrators' only.
    let node = format!(
        "query($id: ID!) {{ node(id: $id) {{ ... on IdentityProvider {{ {PROVIDER_FIELDS} }} }} }}"
    );
    let data = app.ok(&node, json!({ "id": id }), &Auth::admin()).await;
    assert_eq!(data["node"], created);
    let data = app.ok(&node, json!({ "id": id }), &person("ada")).await;
    assert_eq!(data["node"], Value::Null, "hidden from people");

    // Changes: fields left out stay; openid is always asked for.
    let reply = app
        .gql(
            UPDATE_PROVIDER,
            json!({ "i": { "id": id, "clientSecret": NEW_SECRET, "scopes": ["email", "groups"],
                "usernameClaim": "email", "enabled": false } }),
            &Auth::admin(),
        )
        .await;
    let updated = reply.data()["updateIdentityProvider"]["identityProvider"].clone();
    answers.push(reply.body.to_string());
    assert_eq!(updated["scopes"], json!(["openid", "email", "groups"]));
    assert_eq!(updated["usernameClaim"], "email");
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["name"], "corp");
    assert_eq!(updated["clientId"], "keyward");
    assert_eq!(updated["issuerUrl"], discovery.issuer("good"));
    assert_eq!(updated["createdAt"], created["createdAt"]);

    // A new issuer is checked as at creation; a taken name is a conflict.
    create_provider(&app, "other", &discovery.issuer("other")).await;
    let refusals = [
        (
            json!({ "issuerUrl": discovery.issuer("liar") }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "issuerUrl": "http://127.0.0.1:1" }),
            "BAD_USER_INPUT",
        ),
        (json!({ "name": "other" }), "CONFLICT"),
        (json!({ "name": "Not A Slug" }), "BAD_USER_INPUT"),
        (json!({ "clientSecret": "" }), "BAD_USER_INPUT"),
    ];
    for (change, code) in refusals {
        let mut input = change.clone();
        input["id"] = json!(id);
        let reply = app
            .gql(UPDATE_PROVIDER, json!({ "i": input }), &Auth::admin())
            .await;
        reply.assert_code(code);
        answers.push(reply.body.to_string());
    }
    let reply = app
        .gql(
            UPDATE_PROVIDER,
            json!({ "i": { "id": id, "name": "corp-sso", "issuerUrl": discovery.issuer("moved"), "enabled": true } }),
            &Auth::admin(),
        )
        .await;
    let moved = reply.data()["updateIdentityProvider"]["identityProvider"].clone();
    answers.push(reply.body.to_string());
    assert_eq!(moved["name"], "corp-sso");
    assert_eq!(moved["issuerUrl"], discovery.issuer("moved"));
    assert_eq!(moved["enabled"], true);

    // Linking a user to an identity: shown on the user; once only.
    let link = |provider: &str, subject: &str| json!({ "i": { "userId": ada, "provider": provider, "subject": subject } });
    let reply = app
        .gql(LINK, link("corp-sso", "248289761001"), &Auth::admin())
        .await;
    let linked = reply.data()["linkUserIdentity"].clone();
    answers.push(reply.body.to_string());
    assert_eq!(linked["user"]["username"], "ada");
    assert_eq!(linked["identity"]["provider"], "corp-sso");
    assert_eq!(linked["identity"]["subject"], "248289761001");
    let refusals = [
        (link("corp-sso", "248289761001"), "CONFLICT"),
        (link("nowhere", "248289761001"), "NOT_FOUND"),
        (link("corp-sso", ""), "BAD_USER_INPUT"),
        (link("corp-sso", &"s".repeat(256)), "BAD_USER_INPUT"),
        (
            json!({ "i": { "userId": GlobalIdOf::user(999_999), "provider": "corp-sso", "subject": "x" } }),
            "NOT_FOUND",
        ),
    ];
    for (input, code) in refusals {
        app.gql(LINK, input.clone(), &Auth::admin())
            .await
            .assert_code(code);
    }
    let identities = "query($id: ID!) { node(id: $id) { ... on User { identities { provider subject linkedAt } groups } } }";
    let data = app
        .ok(identities, json!({ "id": ada }), &Auth::admin())
        .await;
    assert_eq!(data["node"]["identities"][0]["subject"], "248289761001");
    assert_eq!(
        data["node"]["groups"],
        json!([]),
        "no sign-in through a provider yet"
    );
    // Visible to whoever sees the user: the user themself.
    let data = app
        .ok(identities, json!({ "id": ada }), &person("ada"))
        .await;
    assert_eq!(data["node"]["identities"][0]["provider"], "corp-sso");

    // Deleting the provider takes its identities; the user stays.
    let reply = app
        .gql(
            DELETE_PROVIDER,
            json!({ "i": { "id": id } }),
            &Auth::admin(),
        )
        .await;
    assert_eq!(
        reply.data()["deleteIdentityProvider"]["deletedIdentityProviderId"],
        id
    );
    app.gql(
        DELETE_PROVIDER,
        json!({ "i": { "id": id } }),
        &Auth::admin(),
    )
    .await
    .assert_code("NOT_FOUND");
    let data = app
        .ok(identities, json!({ "id": ada }), &Auth::admin())
        .await;
    assert_eq!(data["node"]["identities"], json!([]));
    let data = app.ok(PROVIDERS, json!({}), &Auth::admin()).await;
    answers.push(data.to_string());
    assert_eq!(data["identityProviders"].as_array().map(Vec::len), Some(1));

    // Every change is in the trail, naming its provider, never its secret.
    let events = trail(&app).await;
    let audited = |action: &str, provider: &str| {
        events.iter().any(|event| {
            event["action"] == action
                && event["outcome"] == "SUCCEEDED"
                && event["targetProvider"] == provider
        })
    };
    for (action, provider) in [
        ("IDENTITY_PROVIDER_CREATED", "corp"),
        ("IDENTITY_PROVIDER_UPDATED", "corp"),
        ("IDENTITY_PROVIDER_UPDATED", "corp-sso"),
        ("USER_IDENTITY_LINKED", "corp-sso"),
        ("IDENTITY_PROVIDER_DELETED", "corp-sso"),
    ] {
        assert!(audited(action, provider), "{action} {provider}: {events:?}");
    }
    let link_event = newest(&app, "USER_IDENTITY_LINKED", "SUCCEEDED").await;
    assert_eq!(link_event["targetUsername"], "ada");
    let conflict = events
        .iter()
        .find(|event| {
            event["action"] == "IDENTITY_PROVIDER_UPDATED" && event["outcome"] == "CONFLICT"
        })
        .expect("the refused rename is recorded");
    assert_eq!(conflict["targetProvider"], "corp");
    answers.push(serde_json::to_string(&events).expect("json"));
    for answer in &answers {
        for secret in [SECRET, NEW_SECRET] {
            assert!(
                !answer.contains(secret),
                "a client secret was shown: {answer}"
            );
        }
    }
}

async fn group_members_and_the_access_mode_are_managed_and_audited() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let project = app.create_project(&Auth::admin(), "tools").await;
    let ada = user(&app, "ada").await;
    let grace = user(&app, "grace").await;
    add_member(&app, &project, &ada, "READ_ONLY").await;
    let group = |group: &str, role: &str| json!({ "i": { "projectId": project, "group": group, "role": role } });

    let data = app
        .ok(ADD_GROUP, group("Platform Team", "MEMBER"), &Auth::admin())
        .await;
    let added = &data["addProjectGroup"];
    assert_eq!(added["project"]["id"], project);
    assert_eq!(added["groupMember"]["group"], "Platform Team", "as typed");
    assert_eq!(added["groupMember"]["role"], "MEMBER");
    app.ok(ADD_GROUP, group("auditors", "READ_ONLY"), &Auth::admin())
        .await;
    let data = app
        .ok(
            SET_GROUP_ROLE,
            group("Platform Team", "OWNER"),
            &Auth::admin(),
        )
        .await;
    assert_eq!(data["setProjectGroupRole"]["groupMember"]["role"], "OWNER");

    // (input, mutation, code)
    let refusals = [
        (ADD_GROUP, group("auditors", "OWNER"), "CONFLICT"),
        (ADD_GROUP, group("", "OWNER"), "BAD_USER_INPUT"),
        (
            ADD_GROUP,
            group(&"g".repeat(257), "OWNER"),
            "BAD_USER_INPUT",
        ),
        (ADD_GROUP, group("a\u{7}b", "OWNER"), "BAD_USER_INPUT"),
        (SET_GROUP_ROLE, group("nobody", "OWNER"), "NOT_FOUND"),
        (
            REMOVE_GROUP,
            json!({ "i": { "projectId": project, "group": "nobody" } }),
            "NOT_FOUND",
        ),
        (
            ADD_GROUP,
            json!({ "i": { "projectId": ada, "group": "x", "role": "OWNER" } }),
            "BAD_USER_INPUT",
        ),
    ];
    for (mutation, input, code) in refusals {
        let reply = app.gql(mutation, input.clone(), &Auth::admin()).await;
        assert_eq!(outcome(&reply), code, "{input}");
    }

    // Project.groupMembers: by name, to whoever sees the project.
    let members = "query($id: ID) { project(id: $id) { groupMembers { group role addedAt } } }";
    let data = app
        .ok(members, json!({ "id": project }), &person("ada"))
        .await;
    let listed: Vec<(&str, &str)> = data["project"]["groupMembers"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|member| {
            (
                member["group"].as_str().unwrap_or_default(),
                member["role"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [("Platform Team", "OWNER"), ("auditors", "READ_ONLY")]
    );
    let data = app
        .ok(members, json!({ "id": project }), &person("grace"))
        .await;
    assert_eq!(
        data["project"],
        Value::Null,
        "not a member: the project is not there"
    );

    let data = app
        .ok(
            REMOVE_GROUP,
            json!({ "i": { "projectId": project, "group": "auditors" } }),
            &Auth::admin(),
        )
        .await;
    assert_eq!(data["removeProjectGroup"]["removedGroup"], "auditors");
    let data = app
        .ok(members, json!({ "id": project }), &Auth::admin())
        .await;
    assert_eq!(
        data["project"]["groupMembers"].as_array().map(Vec::len),
        Some(1)
    );

    for (action, group) in [
        ("PROJECT_GROUP_ADDED", "auditors"),
        ("PROJECT_GROUP_ROLE_CHANGED", "Platform Team"),
        ("PROJECT_GROUP_REMOVED", "auditors"),
    ] {
        let event = newest(&app, action, "SUCCEEDED").await;
        assert_eq!(event["targetGroup"], group, "{action}");
        assert_eq!(event["projectId"], project, "{action}");
    }
    let conflict = newest(&app, "PROJECT_GROUP_ADDED", "CONFLICT").await;
    assert_eq!(conflict["targetGroup"], "auditors");

    // The access mode: UNRESTRICTED with empty lists at first; set whole.
    let data = app.ok(ACCESS_MODE, json!({}), &Auth::admin()).await;
    assert_eq!(
        data["accessControl"],
        json!({ "enabled": true, "mode": "UNRESTRICTED", "allowedUsers": [], "allowedGroups": [] })
    );
    let data = app
        .ok(
            SET_ACCESS_MODE,
            json!({ "i": { "mode": "REQUIRED", "allowedUsers": [grace, ada, grace],
                "allowedGroups": ["sre", "Platform Team"] } }),
            &Auth::admin(),
        )
        .await;
    // By user id: ada was created first.
    let users = vec![ada.clone(), grace.clone()];
    let set = &data["setAccessMode"];
    assert_eq!(set["mode"], "REQUIRED");
    assert_eq!(set["allowedUsers"], json!(users), "each once, by id");
    assert_eq!(
        set["allowedGroups"],
        json!(["Platform Team", "sre"]),
        "each once, sorted"
    );
    newest(&app, "ACCESS_MODE_CHANGED", "SUCCEEDED").await;

    // Refused inputs change nothing.
    let refusals = [
        (
            json!({ "mode": "RESTRICTED", "allowedUsers": [GlobalIdOf::user(999_999)] }),
            "NOT_FOUND",
        ),
        (
            json!({ "mode": "RESTRICTED", "allowedUsers": [project] }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "mode": "RESTRICTED", "allowedGroups": [""] }),
            "BAD_USER_INPUT",
        ),
        (json!({ "mode": "OPEN" }), "BAD_USER_INPUT"),
    ];
    for (input, code) in refusals {
        let reply = app
            .gql(SET_ACCESS_MODE, json!({ "i": input }), &Auth::admin())
            .await;
        assert_eq!(outcome(&reply), code, "{input}: {reply:?}");
    }
    let data = app.ok(ACCESS_MODE, json!({}), &Auth::admin()).await;
    assert_eq!(data["accessControl"]["mode"], "REQUIRED");
    assert_eq!(data["accessControl"]["allowedUsers"], json!(users));

    // Left out, the lists are emptied.
    let data = app
        .ok(
            SET_ACCESS_MODE,
            json!({ "i": { "mode": "UNRESTRICTED" } }),
            &Auth::admin(),
        )
        .await;
    assert_eq!(
        data["setAccessMode"],
        json!({ "enabled": true, "mode": "UNRESTRICTED", "allowedUsers": [], "allowedGroups": [] })
    );
}

/// Global ids as the server writes them (base64url of `Kind:id`), for ids
/// of objects that do not exist.
struct GlobalIdOf;

impl GlobalIdOf {
    fn user(id: i64) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("User:{id}"))
    }
}
