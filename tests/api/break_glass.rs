//! Break-glass, for an operator who has lost the administrator's password:
//! `keyward admin reset-password` and `keyward admin disable-access-control`
//! work on the database directly, take effect from the next request on every
//! replica, and are recorded in the trail as SYSTEM, from the command line.

use serde_json::{Value, json};

use crate::backend::{self, Backend, TestDatabase, on_every_backend};
use crate::helpers::*;
use crate::process::{Finished, ServerProcess, run_keyward};

on_every_backend!(
    reset_password_refuses_a_password_the_policy_refuses_then_replaces_the_old_one_on_every_replica,
    reset_password_is_refused_while_access_control_is_off_and_points_to_enable_access_control,
    disable_access_control_opens_every_replica_at_once_and_is_recorded_as_system,
);

const NEW_PASSWORD: &str = "a brand new break-glass password";

/// Runs `keyward ARGS --database-url …` on `app`'s database as an operator
/// would: on PostgreSQL beside the running replicas; on SQLite, where the
/// running server holds the database (and the command would be refused),
/// between stopping the server and starting it again.
async fn break_glass(app: &mut TestApp, args: &[&str], stdin: Option<&str>) -> Finished {
    let url = app.database_url().to_owned();
    let mut args = args.to_vec();
    args.extend(["--database-url", url.as_str()]);
    match backend::current() {
        Backend::Sqlite => app.restart_after(run_keyward(&args, stdin)).await,
        Backend::Postgres => run_keyward(&args, stdin).await,
    }
}

/// The replica to ask after a break-glass command: on PostgreSQL the one
/// that kept running; on SQLite the one server, restarted.
async fn replica_after(app: &TestApp, replica: TestApp) -> TestApp {
    match backend::current() {
        Backend::Sqlite => app.replica().await,
        Backend::Postgres => replica,
    }
}

async fn viewer_kind(server: &TestApp, auth: &Auth) -> Value {
    server.ok(VIEWER, json!({}), auth).await["viewer"]["kind"].clone()
}

/// The newest event of the whole trail.
async fn newest_event(app: &TestApp, auth: &Auth) -> Value {
    let data = app
        .ok(
            "{ auditEvents(first: 1) { edges { node {
                action outcome actorKind actorAccessKey clientAddress requestId reason } } } }",
            json!({}),
            auth,
        )
        .await;
    data["auditEvents"]["edges"][0]["node"].clone()
}

async fn count_events(app: &TestApp, action: &str, auth: &Auth) -> u64 {
    let data = app
        .ok(
            "query($a: AuditAction) { auditEvents(first: 1, action: $a) { totalCount } }",
            json!({ "a": action }),
            auth,
        )
        .await;
    data["auditEvents"]["totalCount"]
        .as_u64()
        .expect("totalCount")
}

async fn reset_password_refuses_a_password_the_policy_refuses_then_replaces_the_old_one_on_every_replica()
 {
    let mut app = TestApp::spawn().await;
    app.enable_access_control().await;
    let replica = app.replica().await;
    // Both replicas have verified (and cached) the administrator.
    for server in [&app, &replica] {
        assert_eq!(viewer_kind(server, &Auth::admin()).await, "ADMIN");
    }

    let short = "too short!";
    let refused = break_glass(
        &mut app,
        &["admin", "reset-password", "--username", "root"],
        Some(&format!("{short}\n")),
    )
    .await;
    let said = refused.assert_failure();
    assert!(said.contains("at least 12 characters"), "{said}");
    assert!(
        !said.contains(short),
        "the password is never echoed: {said}"
    );
    let replica = replica_after(&app, replica).await;
    for server in [&app, &replica] {
        assert_eq!(
            viewer_kind(server, &Auth::admin()).await,
            "ADMIN",
            "a refused reset changes nothing"
        );
    }

    // The administrator whose password was lost gets a new one.
    let reset = break_glass(
        &mut app,
        &["admin", "reset-password", "--username", "admin"],
        Some(&format!("{NEW_PASSWORD}\n")),
    )
    .await;
    let report = reset.assert_success();
    assert!(report.contains("\"admin\""), "{report}");
    assert!(
        !format!("{reset:?}").contains(NEW_PASSWORD),
        "the password is never echoed: {reset:?}"
    );

    // From the next request on, on every replica: the old password is
    // refused (though verified and cached before), the new one works.
    let replica = replica_after(&app, replica).await;
    let new_admin = Auth::basic("admin", NEW_PASSWORD);
    for server in [&app, &replica] {
        server
            .gql(VIEWER, json!({}), &Auth::admin())
            .await
            .assert_unauthenticated();
        assert_eq!(viewer_kind(server, &new_admin).await, "ADMIN");
    }

    let event = newest_event(&replica, &new_admin).await;
    assert_eq!(event["action"], "ADMIN_PASSWORD_RESET", "{event:#}");
    assert_eq!(event["outcome"], "SUCCEEDED", "{event:#}");
    assert_eq!(event["actorKind"], "SYSTEM", "{event:#}");
    assert_eq!(event["clientAddress"], Value::Null, "{event:#}");
    let reason = event["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("`keyward admin reset-password` on the command line"),
        "{event:#}"
    );
    assert_eq!(
        count_events(&app, "ADMIN_PASSWORD_RESET", &new_admin).await,
        1,
        "the refused attempt changed nothing, so it left no event"
    );
}

async fn reset_password_is_refused_while_access_control_is_off_and_points_to_enable_access_control()
{
    let mut app = TestApp::spawn().await;
    let refused = break_glass(
        &mut app,
        &["admin", "reset-password", "--username", "root"],
        Some(&format!("{NEW_PASSWORD}\n")),
    )
    .await;
    let said = refused.assert_failure();
    assert!(said.contains("access control is off"), "{said}");
    assert!(said.contains("enableAccessControl"), "{said}");

    assert_eq!(viewer_kind(&app, &Auth::None).await, "ANONYMOUS");
    assert_eq!(
        count_events(&app, "ADMIN_PASSWORD_RESET", &Auth::None).await,
        0
    );
}

async fn disable_access_control_opens_every_replica_at_once_and_is_recorded_as_system() {
    let mut app = TestApp::spawn().await;
    app.enable_access_control().await;
    let replica = app.replica().await;
    for server in [&app, &replica] {
        server
            .gql(VIEWER, json!({}), &Auth::None)
            .await
            .assert_unauthenticated();
        assert_eq!(viewer_kind(server, &Auth::admin()).await, "ADMIN");
    }

    let disabled = break_glass(&mut app, &["admin", "disable-access-control"], None).await;
    let report = disabled.assert_success();
    assert!(report.contains("access control is off"), "{report}");

    let replica = replica_after(&app, replica).await;
    for server in [&app, &replica] {
        assert_eq!(viewer_kind(server, &Auth::None).await, "ANONYMOUS");
    }
    let event = newest_event(&replica, &Auth::None).await;
    assert_eq!(event["action"], "ACCESS_CONTROL_DISABLED", "{event:#}");
    assert_eq!(event["outcome"], "SUCCEEDED", "{event:#}");
    assert_eq!(event["actorKind"], "SYSTEM", "{event:#}");
    let reason = event["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("`keyward admin disable-access-control` on the command line"),
        "{event:#}"
    );

    // The way back: access control on again, with a new administrator.
    app.enable_access_control().await;
    assert_eq!(viewer_kind(&replica, &Auth::admin()).await, "ADMIN");
}

/// On SQLite the server's auth state lives in its memory: a command that
/// writes beside it would go unseen, so it is refused, while a backup, which
/// only reads, is taken.
#[tokio::test]
async fn on_sqlite_migrate_and_admin_refuse_a_database_a_running_server_holds_while_backup_reads_it()
 {
    let database = TestDatabase::fresh(Backend::Sqlite).await;
    let server = ServerProcess::start(&database.url);
    let url = database.url.as_str();

    for command in [
        &["migrate"][..],
        &["admin", "disable-access-control"],
        &["admin", "reset-password", "--username", "root"],
    ] {
        let mut args = command.to_vec();
        args.extend(["--database-url", url]);
        let refusal = run_keyward(&args, Some(&format!("{NEW_PASSWORD}\n")))
            .await
            .assert_failure();
        assert!(
            refusal.contains("in use by another keyward process")
                && refusal.contains("stop that process first"),
            "{command:?}: {refusal}"
        );
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("backup.db");
    let output = output.to_str().expect("a UTF-8 path");
    run_keyward(&["backup", "--database-url", url, "--output", output], None)
        .await
        .assert_success();

    let data = server.ok(VIEWER, json!({}), &Auth::None).await;
    assert_eq!(
        data["viewer"]["kind"], "ANONYMOUS",
        "access control is still off: the refused command did nothing"
    );
}

/// Runs `keyward ARGS` on a pseudo-terminal of its own (its controlling
/// terminal, as in a shell), types `keys` once the password prompt shows,
/// and returns the exit status, whether the terminal echoes afterwards, and
/// what was shown. python3 drives the terminal: the tests calling this are
/// built as ignored without it (`keyward_python3`, see build.rs).
fn at_a_terminal(args: &[&str], keys: &[u8]) -> (i32, bool, String) {
    const DRIVER: &str = r#"
import fcntl, os, select, subprocess, sys, termios, time
keys = bytes.fromhex(sys.argv[1])
master, slave = os.openpty()
child = subprocess.Popen(sys.argv[2:], stdin=slave, stdout=slave, stderr=slave,
    start_new_session=True, preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
shown, deadline, sent = b"", time.time() + 60, False
while child.poll() is None and time.time() < deadline:
    if select.select([master], [], [], 0.05)[0]:
        shown += os.read(master, 4096)
    if not sent and b"(not shown)" in shown:
        os.write(master, keys)
        sent = True
if child.poll() is None:
    child.kill()
while select.select([master], [], [], 0.1)[0]:
    try:
        chunk = os.read(master, 4096)
    except OSError:
        break
    if not chunk:
        break
    shown += chunk
echo = bool(termios.tcgetattr(slave)[3] & termios.ECHO)
print(child.wait(), int(echo), shown.decode(errors="replace").replace("\n", " "))
"#;
    let hex: String = keys.iter().map(|byte| format!("{byte:02x}")).collect();
    let ran = std::process::Command::new("python3")
        .args(["-c", DRIVER, &hex, env!("CARGO_BIN_EXE_keyward")])
        .args(args)
        .env("NO_COLOR", "1")
        .output();
    let ran = ran.expect("python3, which drives the pseudo-terminal");
    let report = String::from_utf8_lossy(&ran.stdout).into_owned();
    let mut fields = report.trim().splitn(3, ' ');
    let status = fields.next().and_then(|s| s.parse().ok());
    let echo = fields.next().map(|e| e == "1");
    let (Some(status), Some(echo)) = (status, echo) else {
        panic!(
            "the driver failed: {report} {}",
            String::from_utf8_lossy(&ran.stderr)
        );
    };
    (status, echo, fields.next().unwrap_or_default().to_owned())
}

#[tokio::test]
#[cfg_attr(
    not(keyward_python3),
    ignore = "needs python3, which drives a pseudo-terminal"
)]
async fn ctrl_c_at_the_hidden_password_prompt_leaves_the_terminal_echoing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("k.db");
    // The prompt comes before the database is read: any file will do.
    std::fs::File::create(&file).expect("a database file");
    let url = format!("sqlite://{}", file.display());
    let reset = [
        "admin",
        "reset-password",
        "--username",
        "admin",
        "--database-url",
        &url,
    ]
    .map(str::to_owned);
    let args = reset.clone();
    let ran = tokio::task::spawn_blocking(move || {
        at_a_terminal(&args.each_ref().map(String::as_str), b"half typed\x03")
    });
    let (status, echo, shown) = ran.await.expect("the driver's thread");
    assert!(echo, "the echo is back on: {shown}");
    assert_eq!(status, 130, "{shown}");
    assert!(shown.contains("cancelled"), "{shown}");
    assert!(
        !shown.contains("half typed"),
        "nothing typed was shown: {shown}"
    );

    // Enter still ends the password (the command then finds the empty
    // database behind this keyward).
    let args = reset;
    let ran = tokio::task::spawn_blocking(move || {
        at_a_terminal(
            &args.each_ref().map(String::as_str),
            b"a passwort\x7fd long enough\r",
        )
    });
    let (status, echo, shown) = ran.await.expect("the driver's thread");
    assert!(echo, "{shown}");
    assert_eq!(status, 1, "{shown}");
    assert!(
        shown.contains("behind this keyward"),
        "read the line: {shown}"
    );
    assert!(!shown.contains("long enough"), "{shown}");
}
