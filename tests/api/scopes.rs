//! Scopes on keys: given at creation, checked, never escalated, audited.

use serde_json::{Value, json};

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(
    scopes_are_kept_distinct_and_sorted,
    malformed_scopes_are_bad_user_input_naming_scopes,
    a_key_grants_only_scopes_it_holds,
    key_creation_is_audited_with_its_scopes,
);

const CREATE_SCOPED: &str = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) {
    secretKey apiKey { id accessKey scopes project { id } } } }";

async fn create(app: &TestApp, auth: &Auth, project: &str, role: &str, scopes: Value) -> Reply {
    app.gql(
        CREATE_SCOPED,
        json!({ "i": { "projectId": project, "name": "scoped", "role": role, "scopes": scopes } }),
        auth,
    )
    .await
}

async fn scopes_are_kept_distinct_and_sorted() {
    let app = TestApp::spawn().await;
    let project = app.default_project(&Auth::None).await;
    let reply = create(
        &app,
        &Auth::None,
        &project,
        "MEMBER",
        json!(["z.z", "deploy", "a:b", "deploy"]),
    )
    .await;
    let created = &reply.data()["createApiKey"]["apiKey"];
    assert_eq!(created["scopes"], json!(["a:b", "deploy", "z.z"]));
    let id = created["id"].as_str().expect("id");
    let data = app
        .ok(
            "query($id: ID!) { node(id: $id) { ... on ApiKey { scopes } } }",
            json!({ "id": id }),
            &Auth::None,
        )
        .await;
    assert_eq!(data["node"]["scopes"], json!(["a:b", "deploy", "z.z"]));

    // Left out, or null: none.
    for scopes in [Value::Null, json!([])] {
        let reply = create(&app, &Auth::None, &project, "MEMBER", scopes).await;
        assert_eq!(reply.data()["createApiKey"]["apiKey"]["scopes"], json!([]));
    }
}

async fn malformed_scopes_are_bad_user_input_naming_scopes() {
    let app = TestApp::spawn().await;
    let project = app.default_project(&Auth::None).await;
    let too_many: Vec<String> = (0..33).map(|i| format!("scope{i}")).collect();
    let cases = [
        ("empty", json!([""])),
        ("upper case", json!(["Deploy"])),
        ("a space", json!(["de ploy"])),
        ("leading punctuation", json!([".deploy"])),
        ("not ASCII", json!(["déployer"])),
        ("65 characters", json!(["a".repeat(65)])),
        ("33 scopes", json!(too_many)),
    ];
    for (what, scopes) in cases {
        let reply = create(&app, &Auth::None, &project, "MEMBER", scopes).await;
        let message = reply.assert_code("BAD_USER_INPUT");
        assert_eq!(
            reply.body["errors"][0]["extensions"]["field"], "input.scopes",
            "{what}: {message}"
        );
    }
    let keys = app
        .ok(
            "query($id: ID!) { node(id: $id) { ... on Project { apiKeys(first: 1) { totalCount } } } }",
            json!({ "id": project }),
            &Auth::None,
        )
        .await;
    assert_eq!(
        keys["node"]["apiKeys"]["totalCount"], 0,
        "nothing was created"
    );
}

async fn a_key_grants_only_scopes_it_holds() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let project = app.default_project(&admin).await;
    let reply = create(
        &app,
        &admin,
        &project,
        "OWNER",
        json!(["deploy", "metrics:read"]),
    )
    .await;
    let owner = key_from(reply.data());
    let reply = create(&app, &admin, &project, "MEMBER", json!(["deploy"])).await;
    let member = key_from(reply.data());

    // (granting key, role asked, scopes asked, allowed)
    let cases = [
        (&owner, "MEMBER", json!(["deploy"]), true),
        (&owner, "OWNER", json!(["deploy", "metrics:read"]), true),
        (&owner, "MEMBER", json!([]), true),
        (&owner, "MEMBER", json!(["billing"]), false),
        (&owner, "MEMBER", json!(["deploy", "billing"]), false),
        (&member, "READ_ONLY", json!(["deploy"]), true),
        (&member, "READ_ONLY", json!(["metrics:read"]), false),
    ];
    for (granter, role, scopes, allowed) in cases {
        let reply = create(&app, &granter.auth(), &project, role, scopes.clone()).await;
        if allowed {
            assert_eq!(
                reply.data()["createApiKey"]["apiKey"]["scopes"],
                scopes,
                "{role} {scopes}"
            );
        } else {
            let message = reply.assert_code("FORBIDDEN");
            assert!(message.contains("scopes"), "{scopes}: {message}");
        }
    }
    // The administrator grants anything.
    let reply = create(
        &app,
        &admin,
        &project,
        "READ_ONLY",
        json!(["anything:at-all"]),
    )
    .await;
    assert_eq!(
        reply.data()["createApiKey"]["apiKey"]["scopes"],
        json!(["anything:at-all"])
    );
}

async fn key_creation_is_audited_with_its_scopes() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let admin = Auth::admin();
    let project = app.default_project(&admin).await;
    let reply = create(&app, &admin, &project, "OWNER", json!(["deploy"])).await;
    let owner = key_from(reply.data());
    // A refused grant is audited too, without the scopes of a key that does
    // not exist.
    create(&app, &owner.auth(), &project, "MEMBER", json!(["billing"]))
        .await
        .assert_code("FORBIDDEN");
    let data = app
        .ok(
            "{ auditEvents(first: 10) { edges { node { action outcome targetAccessKey targetScopes } } } }",
            json!({}),
            &admin,
        )
        .await;
    let events: Vec<&Value> = data["auditEvents"]["edges"]
        .as_array()
        .expect("events")
        .iter()
        .map(|edge| &edge["node"])
        .filter(|event| event["action"] == "KEY_CREATED")
        .collect();
    let created = events
        .iter()
        .find(|event| {
            event["outcome"] == "SUCCEEDED" && event["targetAccessKey"] == json!(owner.access_key)
        })
        .expect("the creation's event");
    assert_eq!(created["targetScopes"], json!(["deploy"]));
    let refused = events
        .iter()
        .find(|event| event["outcome"] == "FORBIDDEN")
        .expect("the refusal's event");
    assert_eq!(refused["targetScopes"], Value::Null);
}
