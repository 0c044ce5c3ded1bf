//! `keyward client …`, the built binary, against a real server: every
//! command, its JSON output, its refusals and exit codes, secrets printed
//! once and nowhere else, and the rotation pipeline docs/cli.md shows.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;

use serde_json::Value;

use crate::helpers::{ADMIN, Auth, TestApp, TestKey};

/// What one run of the client left.
#[derive(Debug)]
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    #[track_caller]
    fn json(&self) -> Value {
        assert_eq!(self.code, 0, "{self:?}");
        serde_json::from_str(&self.stdout).unwrap_or_else(|err| panic!("{err}: {self:?}"))
    }

    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// The client at `url` with exactly the credentials `env` gives.
#[derive(Clone)]
struct Client {
    url: String,
    env: Vec<(&'static str, String)>,
}

impl Client {
    fn admin(app: &TestApp) -> Self {
        Self::user(app, ADMIN.0, ADMIN.1)
    }

    fn user(app: &TestApp, username: &str, password: &str) -> Self {
        Self {
            url: app.url(""),
            env: vec![
                ("KEYWARD_USERNAME", username.to_owned()),
                ("KEYWARD_PASSWORD", password.to_owned()),
            ],
        }
    }

    fn key(app: &TestApp, access_key: &str, secret: &str) -> Self {
        Self {
            url: app.url(""),
            env: vec![
                ("KEYWARD_ACCESS_KEY", access_key.to_owned()),
                ("KEYWARD_SECRET_KEY", secret.to_owned()),
            ],
        }
    }

    async fn run(&self, args: &[&str]) -> Ran {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyward"));
        command.arg("client").args(args);
        for name in [
            "KEYWARD_URL",
            "KEYWARD_ACCESS_KEY",
            "KEYWARD_SECRET_KEY",
            "KEYWARD_USERNAME",
            "KEYWARD_PASSWORD",
        ] {
            command.env_remove(name);
        }
        command.env("KEYWARD_URL", &self.url).env("NO_COLOR", "1");
        for (name, value) in &self.env {
            command.env(name, value);
        }
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .expect("keyward runs");
        Ran {
            code: output.status.code().expect("an exit code"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["--output", "json"]);
        self.run(&args).await.json()
    }
}

async fn spawn() -> TestApp {
    let app = TestApp::spawn_with(|config| config.webhooks.allow_private_networks = true).await;
    app.enable_access_control().await;
    app
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
}

#[tokio::test]
async fn every_command_does_its_work_and_prints_json_with_the_documented_fields() {
    let app = spawn().await;
    let admin = Client::admin(&app);
    let mut outputs = Vec::new();

    let viewer = admin.json(&["verify"]).await;
    assert_eq!(viewer["kind"], "ADMIN");

    let project = admin
        .json(&["projects", "create", "ci", "--description", "pipelines"])
        .await;
    let project_id = text(&project["id"]).to_owned();
    assert_eq!(project["name"], "ci");
    let listed = admin.json(&["projects", "list"]).await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == project["id"])
    );
    let renamed = admin
        .json(&["projects", "rename", &project_id, "ci-2"])
        .await;
    assert_eq!(renamed["name"], "ci-2");
    let table = admin.run(&["projects", "list"]).await;
    assert_eq!(table.code, 0, "{table:?}");
    assert!(
        table.stdout.starts_with("ID") && table.stdout.contains("ci-2"),
        "{table:?}"
    );

    let created = admin
        .json(&[
            "keys",
            "create",
            "deploy",
            "--project",
            &project_id,
            "--role",
            "MEMBER",
            "--scope",
            "read:a",
            "--scope",
            "write:b",
            "--expires",
            "30d",
            "--description",
            "ci job",
        ])
        .await;
    let secret = text(&created["secretKey"]).to_owned();
    let key = &created["key"];
    let key_id = text(&key["id"]).to_owned();
    assert_eq!(key["role"], "MEMBER");
    assert_eq!(key["state"], "ACTIVE");
    assert_eq!(key["scopes"], serde_json::json!(["read:a", "write:b"]));
    assert_eq!(key["projectId"], project["id"]);
    assert!(
        key["expiresAt"].is_string() && key["accessKey"].is_string(),
        "{key}"
    );

    let runs: Vec<(Vec<&str>, &str, Value)> = vec![
        (vec!["keys", "show", &key_id], "name", "deploy".into()),
        (
            vec!["keys", "rename", &key_id, "deploy-2"],
            "name",
            "deploy-2".into(),
        ),
        (
            vec!["keys", "deactivate", &key_id],
            "state",
            "INACTIVE".into(),
        ),
        (vec!["keys", "activate", &key_id], "state", "ACTIVE".into()),
    ];
    for (args, field, expected) in runs {
        let mut json_args = args.clone();
        json_args.extend(["--output", "json"]);
        let ran = admin.run(&json_args).await;
        assert_eq!(ran.json()[field], expected, "{args:?}");
        outputs.push(ran.all());
    }
    let listed = admin
        .run(&["keys", "list", "--project", &project_id, "--output", "json"])
        .await;
    assert_eq!(listed.json().as_array().unwrap().len(), 1, "{listed:?}");
    outputs.push(listed.all());
    let table = admin.run(&["keys", "list", "--project", &project_id]).await;
    assert!(
        table.stdout.contains("ACCESS KEY") && table.stdout.contains("deploy-2"),
        "{table:?}"
    );
    outputs.push(table.all());

    // The key itself: verify, and its own project by default.
    let as_key = Client::key(&app, text(&key["accessKey"]), &secret);
    let viewer = as_key.json(&["verify"]).await;
    assert_eq!(viewer["kind"], "API_KEY");
    assert_eq!(viewer["role"], "MEMBER");
    let own = as_key.run(&["keys", "list", "--output", "json"]).await;
    assert_eq!(own.json()[0]["id"], key["id"]);
    outputs.push(own.all());

    let webhook = admin
        .json(&[
            "webhooks",
            "create",
            "http://127.0.0.1:9/hook",
            "--project",
            &project_id,
            "--action",
            "KEY_CREATED",
            "--description",
            "ci",
        ])
        .await;
    let signing_secret = text(&webhook["signingSecret"]).to_owned();
    let webhook_id = text(&webhook["webhook"]["id"]).to_owned();
    assert_eq!(
        webhook["webhook"]["actions"],
        serde_json::json!(["KEY_CREATED"])
    );
    let listed = admin
        .run(&[
            "webhooks",
            "list",
            "--project",
            &project_id,
            "--output",
            "json",
        ])
        .await;
    assert_eq!(listed.json()[0]["id"], webhook_id.as_str());
    assert!(!listed.all().contains(&signing_secret));
    let deleted = admin.json(&["webhooks", "delete", &webhook_id]).await;
    assert_eq!(deleted["deletedWebhookId"], webhook_id.as_str());

    let events = admin
        .run(&[
            "audit",
            "list",
            "--project",
            &project_id,
            "--action",
            "KEY_CREATED",
            "--since",
            "1h",
            "--output",
            "json",
        ])
        .await;
    let list = events.json();
    let list = list.as_array().unwrap();
    assert!(!list.is_empty(), "{events:?}");
    assert!(
        list.iter().all(|e| e["action"] == "KEY_CREATED"),
        "{events:?}"
    );
    assert_eq!(list[0]["targetKeyId"], key["id"]);
    outputs.push(events.all());
    let whole = admin.run(&["audit", "list", "--output", "json"]).await;
    assert!(
        whole.json().as_array().unwrap().len() > list.len(),
        "{whole:?}"
    );
    outputs.push(whole.all());

    let ran = admin.run(&["keys", "deactivate", &key_id]).await;
    outputs.push(ran.all());
    let deleted = admin.json(&["keys", "delete", &key_id]).await;
    assert_eq!(deleted["deletedKeyId"], key_id.as_str());
    let deleted = admin.json(&["projects", "delete", &project_id]).await;
    assert_eq!(deleted["deletedProjectId"], project_id.as_str());

    for output in outputs {
        assert!(!output.contains(&secret), "the secret again in: {output}");
    }
}

#[tokio::test]
async fn refusals_say_the_servers_code_on_stderr_and_exit_with_the_documented_codes() {
    let app = spawn().await;
    let admin_auth = Auth::admin();
    let project = app.default_project(&admin_auth).await;
    let read_only: TestKey = app.create_key(&admin_auth, &project, "READ_ONLY").await;
    let gone = app.create_project(&admin_auth, "gone").await;
    let deleted = Client::admin(&app)
        .json(&["projects", "delete", &gone])
        .await;
    assert_eq!(deleted["deletedProjectId"], gone.as_str());

    let admin = Client::admin(&app);
    let wrong = Client::user(&app, ADMIN.0, "not the password at all");
    let reader = Client::key(&app, &read_only.access_key, &read_only.secret);
    let unreachable = Client {
        url: "http://127.0.0.1:1".to_owned(),
        ..admin.clone()
    };
    let half = Client {
        env: vec![("KEYWARD_ACCESS_KEY", read_only.access_key.clone())],
        ..admin.clone()
    };
    let cases: Vec<(&Client, Vec<&str>, i32, &str)> = vec![
        (&wrong, vec!["verify"], 1, "UNAUTHENTICATED"),
        (&wrong, vec!["projects", "list"], 1, "UNAUTHENTICATED"),
        (&reader, vec!["keys", "create", "more"], 1, "FORBIDDEN"),
        (
            &admin,
            vec!["keys", "list", "--project", &gone],
            1,
            "NOT_FOUND",
        ),
        (
            &admin,
            vec!["keys", "create", "k", "--project", &gone],
            1,
            "NOT_FOUND",
        ),
        (&unreachable, vec!["verify"], 3, "cannot reach"),
        (&unreachable, vec!["projects", "list"], 3, "cannot reach"),
        (&admin, vec!["keys", "frobnicate"], 2, "frobnicate"),
        (&admin, vec!["keys", "create"], 2, "<NAME>"),
        (
            &admin,
            vec!["keys", "rotate", "x", "--grace", "1x"],
            2,
            "1x",
        ),
        (
            &admin,
            vec!["keys", "create", "k", "--role", "ROOT"],
            2,
            "ROOT",
        ),
        (&half, vec!["verify"], 2, "KEYWARD_SECRET_KEY"),
    ];
    for (client, args, code, says) in cases {
        let ran = client.run(&args).await;
        assert_eq!(ran.code, code, "{args:?}: {ran:?}");
        assert!(ran.stderr.contains(says), "{args:?}: {ran:?}");
        assert!(ran.stdout.is_empty(), "{args:?}: {ran:?}");
        for secret in [
            ADMIN.1,
            "not the password at all",
            read_only.secret.as_str(),
        ] {
            assert!(!ran.all().contains(secret), "{args:?}: {ran:?}");
        }
    }
}

/// The pipeline of docs/cli.md: a key renews itself, its new secret going
/// only to a file of mode 0600; the old key works through the grace
/// period until the pipeline deactivates it.
#[tokio::test]
async fn a_key_rotated_into_a_secret_file_works_and_the_old_one_until_deactivated() {
    let app = spawn().await;
    let admin = Auth::admin();
    let project = app.default_project(&admin).await;
    let old = app.create_key(&admin, &project, "OWNER").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyward-secret");
    let path_text = path.display().to_string();

    let as_old = Client::key(&app, &old.access_key, &old.secret);
    let rotated = as_old
        .run(&[
            "keys",
            "rotate",
            &old.id,
            "--grace",
            "1h",
            "--secret-file",
            &path_text,
            "--output",
            "json",
        ])
        .await;
    let json = rotated.json();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let new_secret = std::fs::read_to_string(&path)
        .unwrap()
        .trim_end()
        .to_owned();
    assert!(!rotated.all().contains(&new_secret), "{rotated:?}");
    assert!(json.get("secretKey").is_none(), "{json}");
    assert_eq!(json["secretFile"], path_text.as_str());
    assert_eq!(json["previousKey"]["id"], old.id.as_str());
    let as_new = Client::key(&app, text(&json["key"]["accessKey"]), &new_secret);

    assert_eq!(as_new.run(&["verify"]).await.code, 0);
    assert_eq!(
        as_old.run(&["verify"]).await.code,
        0,
        "the old key within grace"
    );
    let deactivated = as_new.json(&["keys", "deactivate", &old.id]).await;
    assert_eq!(deactivated["state"], "INACTIVE");
    let refused = as_old.run(&["verify"]).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("UNAUTHENTICATED"), "{refused:?}");
    assert_eq!(as_new.run(&["verify"]).await.code, 0);
    // No temporary file left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
