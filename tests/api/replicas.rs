//! Several replicas on one PostgreSQL database, and a database that goes away.
//! These need `KEYWARD_TEST_POSTGRES_URL`; without it they are ignored, with
//! that reason (see `build.rs`).

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::json;

use crate::backend::{Backend, TestDatabase, postgres_host, run_on, through_proxy};
use crate::helpers::*;
use crate::process::ServerProcess;
use crate::proxy::Proxy;

const ENABLE: &str =
    "mutation($i: EnableAccessControlInput!) { enableAccessControl(input: $i) { enabled } }";

#[tokio::test]
#[cfg_attr(
    not(keyward_postgres),
    ignore = "needs PostgreSQL: set KEYWARD_TEST_POSTGRES_URL"
)]
async fn what_one_replica_does_holds_on_the_next_request_to_another() {
    run_on(Backend::Postgres, async {
        let database = TestDatabase::fresh(Backend::Postgres).await;
        let a = ServerProcess::start(&database.url);
        let b = ServerProcess::start(&database.url);

        // A key created through A works on B.
        let project = a
            .ok(
                CREATE_PROJECT,
                json!({ "i": { "name": "shared" } }),
                &Auth::None,
            )
            .await;
        let project = id_of(&project["createProject"]["project"]);
        let created = a
            .ok(
                CREATE_KEY,
                json!({ "i": { "projectId": project, "name": "k" } }),
                &Auth::None,
            )
            .await;
        let key = key_from(&created);
        let other = a
            .ok(
                CREATE_KEY,
                json!({ "i": { "projectId": project, "name": "k2" } }),
                &Auth::None,
            )
            .await;
        let other = key_from(&other);

        // Access control enabled through A: B refuses anonymous requests at once.
        a.ok(
            ENABLE,
            json!({ "i": { "username": ADMIN.0, "password": ADMIN.1 } }),
            &Auth::None,
        )
        .await;
        b.gql(VIEWER, json!({}), &Auth::None)
            .await
            .assert_unauthenticated();
        let viewer = b.ok(VIEWER, json!({}), &key.auth()).await;
        assert_eq!(viewer["viewer"]["apiKey"]["id"], json!(key.id));

        // Deactivated through B: the next request on A is refused, although
        // A has just verified (and cached) the key.
        a.ok(VIEWER, json!({}), &key.auth()).await;
        b.ok(
            SET_STATE,
            json!({ "i": { "id": key.id, "state": "INACTIVE" } }),
            &Auth::admin(),
        )
        .await;
        a.gql(VIEWER, json!({}), &key.auth())
            .await
            .assert_unauthenticated();

        // Project deleted through A: its keys are refused on B.
        b.ok(VIEWER, json!({}), &other.auth()).await;
        a.ok(
            DELETE_PROJECT,
            json!({ "i": { "id": project } }),
            &Auth::admin(),
        )
        .await;
        b.gql(VIEWER, json!({}), &other.auth())
            .await
            .assert_unauthenticated();

        // Access control disabled through B: A is open again.
        b.ok(
            "mutation { disableAccessControl { enabled } }",
            json!({}),
            &Auth::admin(),
        )
        .await;
        let viewer = a.ok(VIEWER, json!({}), &Auth::None).await;
        assert_eq!(viewer["viewer"]["kind"], "ANONYMOUS");
    })
    .await;
}

#[tokio::test]
#[cfg_attr(
    not(keyward_postgres),
    ignore = "needs PostgreSQL: set KEYWARD_TEST_POSTGRES_URL"
)]
async fn three_replicas_starting_at_once_on_an_empty_database_all_serve() {
    run_on(Backend::Postgres, async {
        let database = TestDatabase::fresh(Backend::Postgres).await;
        let starting: Vec<_> = (0..3)
            .map(|_| {
                let url = database.url.clone();
                std::thread::spawn(move || ServerProcess::start(&url))
            })
            .collect();
        let replicas: Vec<ServerProcess> = starting
            .into_iter()
            .map(|thread| thread.join().expect("every replica starts"))
            .collect();

        for replica in &replicas {
            let data = replica
                .ok(
                    "{ projects { totalCount edges { node { name } } } }",
                    json!({}),
                    &Auth::None,
                )
                .await;
            assert_eq!(
                data["projects"]["totalCount"], 1,
                "migrated and seeded once"
            );
            assert_eq!(data["projects"]["edges"][0]["node"]["name"], "Default");
        }
        let db = Database::connect(&database.url).await.expect("connect");
        let applied = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM seaql_migrations",
            ))
            .await
            .expect("query")
            .expect("a row");
        let migrations = <migration::Migrator as migration::MigratorTrait>::migrations().len();
        let applied = applied.try_get::<i64>("", "n").expect("n");
        assert_eq!(
            usize::try_from(applied).ok(),
            Some(migrations),
            "each migration once"
        );
        let _ = db.close().await;
    })
    .await;
}

#[tokio::test]
#[cfg_attr(
    not(keyward_postgres),
    ignore = "needs PostgreSQL: set KEYWARD_TEST_POSTGRES_URL"
)]
async fn while_the_database_is_away_requests_fail_cleanly_and_then_everything_recovers() {
    run_on(Backend::Postgres, async {
        // The server reaches PostgreSQL only through a proxy the test controls.
        let database = TestDatabase::fresh(Backend::Postgres).await;
        let proxy = Proxy::start(postgres_host(&database.url).1).await;
        let proxied = through_proxy(&database.url, proxy.addr);
        let app = TestApp::spawn_with(|config| {
            config.database_url = proxied;
            config.database.db_connect_timeout_ms = 1_000;
        })
        .await;
        app.enable_access_control().await;
        let project = app.default_project(&Auth::admin()).await;
        let key = app.create_key(&Auth::admin(), &project, "OWNER").await;
        app.ok(VIEWER, json!({}), &key.auth()).await;

        proxy.cut();
        // For the rest of its lease the server may still answer from memory
        // (no revoking change can return meanwhile); past it, every request
        // needs the database.
        let deadline = tokio::time::Instant::now() + keyward::store::LEASE;
        while app.auth_state_trusted() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "trusted past the lease"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Fails rather than hangs: the connect timeout bounds the wait.
        let request = app
            .client
            .post(app.url(&format!("/projects/{project}/graphql")))
            .timeout(Duration::from_secs(30));
        let request = request.json(&json!({ "query": VIEWER }));
        let reply = send(with_auth(request, &key.auth())).await;
        assert!(reply.status.is_server_error(), "{reply:?}");
        reply.assert_code("INTERNAL");
        assert!(
            !reply.body.to_string().contains("proxy")
                && !reply.body.to_string().contains("127.0.0.1"),
            "no internals in the error: {reply:?}"
        );
        let health = send(app.client.get(app.url("/healthz"))).await;
        assert_eq!(health.status, 503);

        proxy.restore();
        // The pool reconnects by itself; give it a moment.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let health = send(app.client.get(app.url("/healthz"))).await;
            if health.status == 200 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "/healthz never recovered"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Nothing was lost, and writes work again.
        let viewer = app.ok(VIEWER, json!({}), &key.auth()).await;
        assert_eq!(viewer["viewer"]["apiKey"]["id"], json!(key.id));
        app.create_key(&Auth::admin(), &project, "MEMBER").await;
    })
    .await;
}
