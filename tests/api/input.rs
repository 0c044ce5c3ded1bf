use serde_json::json;

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(
    bad_names_and_descriptions_are_refused_naming_the_field_and_create_nothing,
    names_at_the_limits_are_accepted,
    malformed_or_mistyped_ids_are_bad_user_input,
    page_sizes_outside_0_to_100_are_refused_not_clamped,
    graphql_errors_of_the_document_itself_are_bad_user_input,
    bodies_that_are_not_one_json_graphql_request_are_refused_with_json_errors,
    health_and_unknown_routes_answer_in_json,
);

async fn bad_names_and_descriptions_are_refused_naming_the_field_and_create_nothing() {
    let app = TestApp::spawn().await;
    let project = app.default_project(&Auth::None).await;
    let long_name = "n".repeat(129);
    let long_description = "d".repeat(1025);
    let cases = [
        (json!({ "name": "   " }), "input.name"),
        (json!({ "name": long_name }), "input.name"),
        (json!({ "name": "tab\there" }), "input.name"),
        (json!({ "name": "nul\u{0}" }), "input.name"),
        (
            json!({ "name": "ok", "description": long_description }),
            "input.description",
        ),
        (
            json!({ "name": "ok", "description": "bell\u{7}" }),
            "input.description",
        ),
    ];
    for (input, field) in cases {
        let mut key_input = input.clone();
        key_input["projectId"] = json!(project);
        let reply = app
            .gql(CREATE_KEY, json!({ "i": key_input }), &Auth::None)
            .await;
        let message = reply.assert_code("BAD_USER_INPUT");
        assert!(message.starts_with(field), "{input}: {message}");
        assert_eq!(reply.body["errors"][0]["extensions"]["field"], json!(field));

        let reply = app
            .gql(CREATE_PROJECT, json!({ "i": input }), &Auth::None)
            .await;
        reply.assert_code("BAD_USER_INPUT");
    }
    let data = app
        .ok(
            "query($p: ID!) { projects { totalCount } project(id: $p) { apiKeys { totalCount } } }",
            json!({ "p": project }),
            &Auth::None,
        )
        .await;
    assert_eq!(data["projects"]["totalCount"], 1);
    assert_eq!(data["project"]["apiKeys"]["totalCount"], 0);
}

async fn names_at_the_limits_are_accepted() {
    let app = TestApp::spawn().await;
    let project = app.default_project(&Auth::None).await;
    let name = "é".repeat(128);
    let description = "line one\nline two\t".repeat(50);
    let data = app
        .ok(
            CREATE_KEY,
            json!({ "i": { "projectId": project, "name": name, "description": description } }),
            &Auth::None,
        )
        .await;
    assert_eq!(data["createApiKey"]["apiKey"]["name"], json!(name));
}

async fn malformed_or_mistyped_ids_are_bad_user_input() {
    let app = TestApp::spawn().await;
    let project = app.default_project(&Auth::None).await;
    for bad in [
        "",
        "nonsense",
        "UHJvamVjdDotMQ",
        "UHJvamVjdDo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5",
    ] {
        app.gql(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": bad }),
            &Auth::None,
        )
        .await
        .assert_code("BAD_USER_INPUT");
        app.gql(
            "query($id: ID!) { nodes(ids: [$id]) { id } }",
            json!({ "id": bad }),
            &Auth::None,
        )
        .await
        .assert_code("BAD_USER_INPUT");
        app.gql(DELETE_KEY, json!({ "i": { "id": bad } }), &Auth::None)
            .await
            .assert_code("BAD_USER_INPUT");
    }
    // A project's id where a key's is expected, and the other way round.
    app.gql(
        SET_STATE,
        json!({ "i": { "id": project, "state": "INACTIVE" } }),
        &Auth::None,
    )
    .await
    .assert_code("BAD_USER_INPUT");
    let key = app.create_key(&Auth::None, &project, "OWNER").await;
    app.gql(
        DELETE_PROJECT,
        json!({ "i": { "id": key.id } }),
        &Auth::None,
    )
    .await
    .assert_code("BAD_USER_INPUT");
    // Well-formed ids of nothing are just absent.
    let data = app
        .ok(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": "UHJvamVjdDo5OTk" }),
            &Auth::None,
        )
        .await;
    assert_eq!(data["node"], json!(null));
}

async fn page_sizes_outside_0_to_100_are_refused_not_clamped() {
    let app = TestApp::spawn().await;
    for first in [-1, 101, 100_000] {
        app.gql(
            "query($f: Int) { projects(first: $f) { totalCount } }",
            json!({ "f": first }),
            &Auth::None,
        )
        .await
        .assert_code("BAD_USER_INPUT");
    }
    let data = app
        .ok(
            "{ projects(first: 0) { edges { cursor } pageInfo { hasNextPage } } }",
            json!({}),
            &Auth::None,
        )
        .await;
    assert_eq!(data["projects"]["edges"], json!([]));
    assert_eq!(data["projects"]["pageInfo"]["hasNextPage"], true);
    app.gql(
        "{ projects(after: \"garbage\") { totalCount } }",
        json!({}),
        &Auth::None,
    )
    .await
    .assert_code("BAD_USER_INPUT");
}

async fn graphql_errors_of_the_document_itself_are_bad_user_input() {
    let app = TestApp::spawn().await;
    let project = app.default_project(&Auth::None).await;
    for (query, variables) in [
        ("{ viewer { kind ", json!({})),
        ("{ noSuchField }", json!({})),
        (
            CREATE_KEY,
            json!({ "i": { "projectId": project, "name": "x", "role": "GOD" } }),
        ),
        (CREATE_KEY, json!({ "i": { "projectId": project } })),
    ] {
        let reply = app.gql(query, variables, &Auth::None).await;
        assert!(!reply.codes().is_empty(), "{reply:?}");
        assert!(
            reply.codes().iter().all(|c| c == "BAD_USER_INPUT"),
            "{reply:?}"
        );
    }
}

async fn bodies_that_are_not_one_json_graphql_request_are_refused_with_json_errors() {
    let app = TestApp::spawn().await;
    let post = |content_type: &str, body: &str| {
        app.client
            .post(app.url("/graphql"))
            .header("Content-Type", content_type)
            .body(body.to_owned())
    };
    let cases = [
        ("application/json", "{not json", 400),
        (
            "application/json",
            r#"[{"query":"{ viewer { kind } }"}]"#,
            400,
        ),
        ("text/plain", r#"{"query":"{ viewer { kind } }"}"#, 415),
        ("application/x-www-form-urlencoded", "query=x", 415),
    ];
    for (content_type, body, status) in cases {
        let reply = send(post(content_type, body)).await;
        assert_eq!(reply.status, status, "{content_type} {body}: {reply:?}");
        reply.assert_code("BAD_USER_INPUT");
    }
    let reply = send(post(
        "application/json; charset=utf-8",
        r#"{"query":"{ viewer { kind } }"}"#,
    ))
    .await;
    assert_eq!(reply.data()["viewer"]["kind"], "ANONYMOUS");
}

async fn health_and_unknown_routes_answer_in_json() {
    let app = TestApp::spawn().await;
    let health = send(app.client.get(app.url("/healthz"))).await;
    assert_eq!(health.status, 200);
    // Every response names its request, and no two the same.
    let again = send(app.client.get(app.url("/healthz"))).await;
    let ids = [&health, &again].map(|reply| reply.headers["x-request-id"].clone());
    assert_ne!(ids[0], ids[1]);
    // A client cannot choose the id (only a trusted proxy can).
    let chosen = send(
        app.client
            .get(app.url("/healthz"))
            .header("x-request-id", "chosen-by-the-client"),
    )
    .await;
    assert_ne!(chosen.headers["x-request-id"], "chosen-by-the-client");
    let missing = send(app.client.get(app.url("/nope"))).await;
    assert_eq!(missing.status, 404);
    missing.assert_code("NOT_FOUND");
    let get = send(
        app.client
            .get(app.url("/graphql"))
            .header("Accept", "application/json"),
    )
    .await;
    assert_eq!(get.status, 405);
}
