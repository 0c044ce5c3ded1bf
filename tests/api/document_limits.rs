//! The limits every document is held to before it runs (see
//! `src/graphql/limits.rs`), and the bound on the audit events refusals add
//! (`src/graphql/refusal_budget.rs`).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend::on_every_backend;
use crate::helpers::*;
use crate::process::ServerProcess;

on_every_backend!(
    deeply_nested_documents_get_clean_errors_and_the_server_keeps_serving,
    one_request_runs_at_most_ten_mutation_fields,
    refusals_add_at_most_sixty_events_per_caller_per_minute_and_count_the_rest,
);

/// Every refusal of a document is one line that names the limit and what was
/// measured; a syntax error is one line with its position in `locations`.
#[tokio::test]
async fn refusals_say_the_limit_and_the_measured_value_and_syntax_errors_are_one_line() {
    let app = TestApp::spawn().await;
    let page = "edges { node { id name description apiKeys(first: 100) { edges { node { id name accessKey role state } } } } }";
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "selections deeper than the schema's depth limit",
            deep_selection(19),
            vec!["19 levels", "the limit is 16"],
        ),
        (
            "32 selection sets, as deep as keyward's own limit",
            deep_selection(32),
            vec!["32 levels", "the limit is 16"],
        ),
        (
            "33 selection sets",
            deep_selection(33),
            vec!["33 levels deep", "the limit is 32"],
        ),
        (
            "40 selection sets",
            deep_selection(40),
            vec!["40 levels deep", "the limit is 32"],
        ),
        (
            "64 selection sets, as deep as brackets may nest",
            deep_selection(64),
            vec!["64 levels deep", "the limit is 32"],
        ),
        (
            "33 selection sets through a chain of fragments",
            // `{ ...f0 }`, then one level per fragment and the last's own.
            fragment_chain(31),
            vec!["33 levels deep", "the limit is 32"],
        ),
        (
            "40 selection sets of unknown fields",
            nested("{ viewer ", "kind", " }", 40),
            vec!["40 levels deep", "the limit is 32"],
        ),
        (
            "fragments that spread the next one twice, 24 deep (2^24 selections)",
            {
                let fragments: String = (0..24)
                    .map(|k| format!("fragment f{k} on Query {{ ...f{m} ...f{m} }}\n", m = k + 1))
                    .collect();
                format!("{{ ...f0 }}\n{fragments}fragment f24 on Query {{ __typename }}")
            },
            vec![
                "selections once its fragments are inlined",
                "the limit is 10000",
            ],
        ),
        (
            "a fragment of 3,500 variables spread by 64 operations",
            {
                let uses: String = (0..3_500).map(|k| format!("$v{k} ")).collect();
                let operations: String = (0..64).map(|k| format!("query q{k}{{...f}}\n")).collect();
                format!("{operations}fragment f on Query{{node(id:[{uses}]){{id}}}}")
            },
            vec![
                "227565 argument values once its fragments are inlined",
                "the limit is 20000",
            ],
        ),
        (
            "more work than the complexity limit",
            format!("{{ projects(first: 100) {{ {page} }} }}"),
            vec!["its complexity is 70601", "the limit is 2500"],
        ),
        (
            "brackets deeper than the nesting limit",
            format!("{{ node(id: {}) {{ id }} }}", nested("[", "1", "]", 80)),
            vec!["65 levels deep or more", "the limit is 64"],
        ),
        (
            "a mutation with too many root fields",
            format!(
                "mutation {{ {} }}",
                "disableAccessControl { enabled } ".repeat(11)
            ),
            vec!["has 11 root fields", "at most 10"],
        ),
    ];
    for (what, query, parts) in cases {
        let reply = app.gql(&query, json!({}), &Auth::None).await;
        let message = reply.assert_code("BAD_USER_INPUT");
        assert!(!message.contains('\n'), "{what}: {message}");
        for part in parts {
            assert!(message.contains(part), "{what}: {message:?} lacks {part:?}");
        }
    }

    let reply = app
        .gql("{\n  viewer {\n    kind\n", json!({}), &Auth::None)
        .await;
    let message = reply.assert_code("BAD_USER_INPUT");
    assert_eq!(
        message,
        "syntax error: expected selection_set, selection, directive, or arguments"
    );
    assert_eq!(
        reply.body["errors"][0]["locations"],
        json!([{ "line": 4, "column": 1 }])
    );
}

/// Fragments `f0` … `f11` on `root`, each spreading the next twice: `f0`
/// is 6,142 selections once inlined, the twelve 12,261 together.
fn doubling_fragments(root: &str) -> String {
    let fragments: String = (0..11)
        .map(|k| format!("fragment f{k} on {root}{{...f{m} ...f{m}}}\n", m = k + 1))
        .collect();
    format!("{fragments}fragment f11 on {root}{{__typename}}")
}

/// The bound on a document's work is the document's, not each operation's:
/// operations each well within the limits are refused together, by their
/// number and by their selections summed with the fragments'.
#[tokio::test]
async fn operations_each_within_the_limits_are_refused_together_past_the_documents() {
    let app = TestApp::spawn().await;
    let fragments = doubling_fragments("Query");
    let document = |operations: usize| -> String {
        let operations: String = (0..operations)
            .map(|k| format!("query q{k}{{...f0}}\n"))
            .collect();
        format!("{operations}{fragments}")
    };
    // One operation spreading f0 (6,143 selections, 18,404 with the
    // fragments') runs.
    let one = app.ok(&document(1), json!({}), &Auth::None).await;
    assert_eq!(one["__typename"], "Query");

    // The reproduction: 1,700 such operations in 31.6 KB.
    let many = document(1_700);
    assert!(many.len() < 32 * 1024, "{}", many.len());
    let reply = app.gql(&many, json!({}), &Auth::None).await;
    let message = reply.assert_code("BAD_USER_INPUT");
    assert_eq!(message, "the document has 1700 operations; the limit is 64");

    // Two are past the document's selections.
    let reply = app.gql(&document(2), json!({}), &Auth::None).await;
    let message = reply.assert_code("BAD_USER_INPUT");
    assert_eq!(
        message,
        "the document has 24547 selections once its fragments are inlined, counting every \
         operation and fragment; the limit is 20000"
    );
}

/// A query whose selection sets nest `sets` deep: `sets - 1` fields each
/// nested in the one before (`viewer`, `project`, then `apiKeys`, `edges`,
/// `node`, `project` over and over), and a leaf of the innermost's type.
/// Every field exists, so nothing but depth can refuse it; the schema's
/// depth limit counts the same levels (fields, the leaf included).
fn deep_selection(sets: usize) -> String {
    let fields = ["viewer", "project"]
        .into_iter()
        .chain(["apiKeys(first: 1)", "edges", "node", "project"].repeat(sets / 4 + 1))
        .take(sets - 1)
        .collect::<Vec<_>>();
    let leaf = match fields.last() {
        Some(&"viewer") => "kind",
        Some(&"apiKeys(first: 1)") => "totalCount",
        Some(&"edges") => "cursor",
        _ => "id",
    };
    format!(
        "{{ {} {leaf} {} }}",
        fields
            .iter()
            .map(|f| format!("{f} {{"))
            .collect::<Vec<_>>()
            .join(" "),
        "}".repeat(fields.len())
    )
}

/// Longest document the HTTP layer accepts.
const MAX_QUERY_BYTES: usize = 32 * 1024;

/// A construct that nests: the document (and variables) at a given depth.
struct Construct {
    name: &'static str,
    build: fn(usize) -> (String, Value),
}

fn nested(open: &str, inner: &str, close: &str, depth: usize) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

fn fragment_chain(d: usize) -> String {
    let chain: String = (0..d)
        .map(|n| format!("fragment f{n} on Query{{...f{}}}\n", n + 1))
        .collect();
    format!("{{...f0}}\n{chain}fragment f{d} on Query{{nope}}")
}

const CONSTRUCTS: &[Construct] = &[
    Construct {
        name: "list literal",
        build: |d| {
            let value = nested("[", "1", "]", d);
            (format!("{{ node(id: {value}) {{ id }} }}"), json!({}))
        },
    },
    Construct {
        name: "object literal",
        build: |d| {
            let value = nested("{a:", "1", "}", d);
            (format!("{{ node(id: {value}) {{ id }} }}"), json!({}))
        },
    },
    Construct {
        name: "directive argument",
        build: |d| {
            let value = nested("[", "true", "]", d);
            (format!("{{ nope @skip(if: {value}) }}"), json!({}))
        },
    },
    Construct {
        name: "selection sets",
        build: |d| (nested("{ viewer ", "kind", " }", d), json!({})),
    },
    Construct {
        name: "fragment chain",
        build: |d| (fragment_chain(d), json!({})),
    },
    Construct {
        name: "unused fragment chain",
        build: |d| {
            let chain: String = (0..d)
                .map(|n| format!("fragment f{n} on Query{{...f{}}}\n", n + 1))
                .collect();
            let query = format!("{{__typename}}\n{chain}fragment f{d} on Query{{nope}}");
            (query, json!({}))
        },
    },
    Construct {
        name: "mixed",
        build: |d| {
            let value = nested("[{a:", "1", "}]", d);
            let selections = nested("... on Query { viewer ", "kind", " }", d);
            let query = format!("{{ __typename @include(if: {value}) {selections} }}");
            (query, json!({}))
        },
    },
];

/// Depths from small (an ordinary validation error) to the longest document
/// the size limit lets through.
fn depths(construct: &Construct) -> Vec<usize> {
    let len = |d| (construct.build)(d).0.len();
    let per_level = len(2) - len(1);
    let mut longest = (MAX_QUERY_BYTES - (len(1) - per_level)) / per_level;
    // Levels may grow longer with depth (fragment names have more digits).
    while len(longest) > MAX_QUERY_BYTES {
        longest -= longest / 100 + 1;
    }
    let mut depths: Vec<usize> = [3, 70, 500, 1_750, 5_000]
        .into_iter()
        .filter(|&d| d < longest)
        .collect();
    depths.push(longest);
    depths
}

/// Variables JSON: nested arrays, from small to far past serde_json's own
/// limit (128) and close to the body limit.
fn variables_cases() -> Vec<(usize, String, Value)> {
    [3, 70, 127, 1_000, 200_000]
        .into_iter()
        .map(|d| {
            let value: Value =
                serde_json::from_str(&nested("[", "1", "]", d.min(127))).unwrap_or(Value::Null);
            let query = "query($v: ID) { node(id: $v) { id } }".to_owned();
            // serde_json (here) cannot build deeper values; send those as text.
            (
                d,
                query,
                if d <= 127 {
                    json!({ "v": value })
                } else {
                    Value::Null
                },
            )
        })
        .collect()
}

#[track_caller]
fn assert_clean_error(what: &str, reply: &Reply) {
    assert!(
        reply.status == StatusCode::OK || reply.status == StatusCode::BAD_REQUEST,
        "{what}: {reply:?}"
    );
    let codes = reply.codes();
    assert!(
        !codes.is_empty() && codes.iter().all(|code| code == "BAD_USER_INPUT"),
        "{what}: {:.300}",
        reply.body
    );
}

async fn post_raw(app: &TestApp, body: String, auth: &Auth) -> Reply {
    let request = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(body);
    send(with_auth(request, auth)).await
}

async fn deeply_nested_documents_get_clean_errors_and_the_server_keeps_serving() {
    let app = TestApp::spawn().await;
    let anonymous = Auth::None;
    let read_only = {
        app.enable_access_control().await;
        let project = app.default_project(&Auth::admin()).await;
        app.create_key(&Auth::admin(), &project, "READ_ONLY")
            .await
            .auth()
    };
    for (caller, auth) in [("READ_ONLY key", &read_only), ("admin", &Auth::admin())] {
        for construct in CONSTRUCTS {
            for depth in depths(construct) {
                let (query, variables) = (construct.build)(depth);
                let what = format!("{caller}, {} at depth {depth}", construct.name);
                let reply = app.gql(&query, variables, auth).await;
                assert_clean_error(&what, &reply);
                app.ok("{ __typename }", json!({}), auth).await;
            }
        }
        for (depth, query, variables) in variables_cases() {
            let what = format!("{caller}, variables JSON at depth {depth}");
            let reply = if variables.is_null() {
                let value = nested("[", "1", "]", depth);
                let body = format!(
                    r#"{{"query":{},"variables":{{"v":{value}}}}}"#,
                    json!(query)
                );
                post_raw(&app, body, auth).await
            } else {
                app.gql(&query, variables, auth).await
            };
            assert_clean_error(&what, &reply);
            app.ok("{ __typename }", json!({}), auth).await;
        }
    }
    // Anyone at all, while access control is off.
    let open = TestApp::spawn().await;
    let (query, variables) = (CONSTRUCTS[0].build)(5_000);
    assert_clean_error("anonymous", &open.gql(&query, variables, &anonymous).await);
    open.ok("{ __typename }", json!({}), &anonymous).await;
}

fn create_keys(project: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "k{i}: createApiKey(input: {{ projectId: \"{project}\", name: \"k{i}\" }}) {{ secretKey }} "
            )
        })
        .collect()
}

async fn key_count(app: &TestApp, project: &str) -> u64 {
    let data = app
        .ok(
            "query($p: ID!) { project(id: $p) { apiKeys { totalCount } } }",
            json!({ "p": project }),
            &Auth::admin(),
        )
        .await;
    data["project"]["apiKeys"]["totalCount"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

async fn one_request_runs_at_most_ten_mutation_fields() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let cases: Vec<(&str, String, usize)> = vec![
        ("ten aliases", format!("mutation {{ {} }}", create_keys(&project, 10)), 10),
        ("eleven aliases", format!("mutation {{ {} }}", create_keys(&project, 11)), 0),
        (
            "eleven through a fragment and an inline fragment",
            format!(
                "mutation {{ ...f ... on Mutation {{ {} }} }} fragment f on Mutation {{ {} }}",
                create_keys(&project, 1),
                create_keys(&project, 10)
            ),
            0,
        ),
        (
            "the same field repeated eleven times",
            format!(
                "mutation {{ {} }}",
                format!(
                    "k: createApiKey(input: {{ projectId: \"{project}\", name: \"k\" }}) {{ secretKey }} "
                )
                .repeat(11)
            ),
            0,
        ),
        ("250 aliases (about what fits in a document)", format!("mutation {{ {} }}", create_keys(&project, 250)), 0),
    ];
    for (what, query, created) in cases {
        let before = key_count(&app, &project).await;
        let reply = app.gql(&query, json!({}), &Auth::admin()).await;
        if created == 0 {
            let message = reply.assert_code("BAD_USER_INPUT");
            assert!(message.contains("at most 10"), "{what}: {message}");
            assert!(reply.body["data"].is_null(), "{what}: nothing ran");
        } else {
            reply.data();
        }
        let after = key_count(&app, &project).await;
        assert_eq!(after - before, created as u64, "{what}");
    }
}

async fn refusals_add_at_most_sixty_events_per_caller_per_minute_and_count_the_rest() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let read_only = app.create_key(&Auth::admin(), &project, "READ_ONLY").await;
    let other = app.create_key(&Auth::admin(), &project, "READ_ONLY").await;
    let started = Instant::now();
    // 100 refusals, one per request (a refused mutation field stops the
    // rest of its request: its payload is non-null).
    let refused = format!("mutation {{ {} }}", create_keys(&project, 1));
    for _ in 0..100 {
        let reply = app.gql(&refused, json!({}), &read_only.auth()).await;
        assert_eq!(reply.codes(), vec!["FORBIDDEN"], "{reply:?}");
    }
    // Another caller has a budget of its own.
    for _ in 0..10 {
        let reply = app.gql(&refused, json!({}), &other.auth()).await;
        assert_eq!(reply.codes(), vec!["FORBIDDEN"], "{reply:?}");
    }

    let refusals_by = |events: &[Value], key: &TestKey| -> Vec<Value> {
        events
            .iter()
            .filter(|e| {
                e["actorAccessKey"] == key.access_key.as_str() && e["outcome"] == "FORBIDDEN"
            })
            .cloned()
            .collect()
    };
    let events = trail(&app).await;
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "the test ran too slowly to tell"
    );
    assert_eq!(
        refusals_by(&events, &read_only).len(),
        60,
        "within the first minute"
    );
    assert_eq!(refusals_by(&events, &other).len(), 10);

    // When the key's minute ends, one event counts the 40 others.
    let deadline = started + Duration::from_secs(90);
    loop {
        let events = trail(&app).await;
        let recorded = refusals_by(&events, &read_only);
        if recorded.len() > 60 {
            assert_eq!(recorded.len(), 61, "one summary");
            let reason = recorded[0]["reason"].as_str().unwrap_or_default();
            assert!(
                reason.starts_with("40 more refusals by this caller"),
                "{reason}"
            );
            assert_eq!(recorded[0]["action"], "KEY_CREATED");
            break;
        }
        assert!(Instant::now() < deadline, "no summary after 90 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A graceful stop (SIGTERM) within a caller's minute writes the summary
/// of the refusals it had counted, instead of losing it with the process.
#[tokio::test]
async fn refusals_counted_into_a_summary_are_recorded_at_a_graceful_stop() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
    let server = ServerProcess::start(&url);
    // Access control is off: an anonymous caller, refused NOT_FOUND on a
    // key that does not exist, 61 times within its first minute.
    let rename = json!({ "i": { "id": "QXBpS2V5Ojk5OTk5OQ", "name": "x" } });
    for _ in 0..=keyward::graphql::RECORDED_PER_MINUTE {
        let reply = server.gql(RENAME, rename.clone(), &Auth::None).await;
        assert_eq!(reply.codes(), vec!["NOT_FOUND"], "{reply:?}");
    }
    let (clean, log) = server.terminate();
    assert!(clean, "a clean exit: {log:#?}");

    let server = ServerProcess::start(&url);
    let events = server
        .ok(
            "{ auditEvents(first: 100) { edges { node { outcome reason } } } }",
            json!({}),
            &Auth::None,
        )
        .await;
    let refused: Vec<&str> = events["auditEvents"]["edges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|edge| edge["node"]["outcome"] == "NOT_FOUND")
        .map(|edge| edge["node"]["reason"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        refused.len(),
        61,
        "60 one by one and a summary: {refused:#?}"
    );
    assert!(refused[0].starts_with("1 more refusals"), "{}", refused[0]);
}

/// The whole trail, newest first.
async fn trail(app: &TestApp) -> Vec<Value> {
    let mut events = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = app
            .ok(
                "query($after: String) { auditEvents(first: 100, after: $after) {
                    edges { node { action outcome actorAccessKey reason } }
                    pageInfo { hasNextPage endCursor } } }",
                json!({ "after": after }),
                &Auth::admin(),
            )
            .await;
        let page = &data["auditEvents"];
        events.extend(
            page["edges"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|edge| edge["node"].clone()),
        );
        if page["pageInfo"]["hasNextPage"] != true {
            return events;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}
