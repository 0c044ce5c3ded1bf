//! `keyward serve` as a separate process, as users and replicas run it,
//! and the other commands as operators run them.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{ADMIN, Auth, CREATE_KEY, Reply, TestKey, id_of, key_from, send, with_auth};

/// A running `keyward serve --listen 127.0.0.1:0`, killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`, read from the server's own log line.
    pub base_url: String,
    /// Log lines after the one that announced the URL.
    pub log: mpsc::Receiver<String>,
    /// Log lines up to and including the one that announced the URL.
    pub startup_log: Vec<String>,
    client: reqwest::Client,
}

impl ServerProcess {
    /// Starts the binary on `database_url` and waits until it says where it
    /// serves. Fails the test if it does not within 60 s.
    pub fn start(database_url: &str) -> Self {
        Self::start_logging(database_url, "info")
    }

    /// Like `start`, with `RUST_LOG` set to `filter` (the log goes to stdout).
    pub fn start_logging(database_url: &str, filter: &str) -> Self {
        Self::start_with(database_url, filter, &[])
    }

    /// Like `start_logging`, with more `serve` options.
    pub fn start_with(database_url: &str, filter: &str, options: &[&str]) -> Self {
        Self::start_command(Self::command(database_url, filter, options))
    }

    /// The command `start_with` runs, for a test to change before
    /// `start_command`.
    pub fn command(database_url: &str, filter: &str, options: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyward"));
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            .args(options)
            .env("RUST_LOG", filter)
            .env("NO_COLOR", "1")
            // Tests may lower the argon2 cost (see `HashingConfig`).
            .env("KEYWARD_ARGON2_MEMORY_KIB", "8")
            .env("KEYWARD_ARGON2_ITERATIONS", "1");
        command
    }

    /// Runs `command` (a `serve`), its standard output piped into `log`.
    pub fn start_command(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("keyward starts");
        let stdout = child.stdout.take().expect("stdout");
        let (lines_tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let base_url = loop {
            let Ok(line) = log.recv_timeout(Duration::from_secs(60)) else {
                let _ = child.kill();
                panic!("keyward never announced its URL; log: {seen:#?}");
            };
            seen.push(line.clone());
            if let Some(url) = announced_url(&line) {
                break url;
            }
        };
        Self {
            child,
            base_url,
            log,
            startup_log: seen,
            client: reqwest::Client::new(),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.base_url
            .trim_start_matches("http://")
            .parse()
            .expect("an address")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A GraphQL request to this server's `/graphql`.
    pub async fn gql(&self, query: &str, variables: Value, auth: &Auth) -> Reply {
        let request = self
            .client
            .post(format!("{}/graphql", self.base_url))
            .json(&json!({ "query": query, "variables": variables }));
        send(with_auth(request, auth)).await
    }

    pub async fn ok(&self, query: &str, variables: Value, auth: &Auth) -> Value {
        self.gql(query, variables, auth).await.data().clone()
    }

    /// Turns access control on with [`ADMIN`] and creates a key named
    /// `name` in the default project: three requests to `/graphql`
    /// (enable, list, create), the first with access control still off.
    pub async fn with_admin_and_key(&self, name: &str) -> (String, TestKey) {
        self.ok(
            "mutation($i: EnableAccessControlInput!) { enableAccessControl(input: $i) { enabled } }",
            json!({ "i": { "username": ADMIN.0, "password": ADMIN.1 } }),
            &Auth::None,
        )
        .await;
        let projects = self
            .ok(
                "{ projects { edges { node { id } } } }",
                json!({}),
                &Auth::admin(),
            )
            .await;
        let project = id_of(&projects["projects"]["edges"][0]["node"]);
        let created = self
            .ok(
                CREATE_KEY,
                json!({ "i": { "projectId": project, "name": name } }),
                &Auth::admin(),
            )
            .await;
        (project, key_from(&created))
    }

    /// Stops the server as an orchestrator does, with SIGTERM, and waits
    /// (at most 30 s) for it to exit on its own: a graceful stop. Returns
    /// whether it exited with success, and everything it logged.
    pub fn terminate(mut self) -> (bool, Vec<String>) {
        signal(self.pid(), "-TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("the server's status") {
                break status;
            }
            assert!(Instant::now() < deadline, "no exit 30 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        (status.success(), self.stop())
    }

    /// Stops the server and returns everything it logged.
    pub fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut lines = std::mem::take(&mut self.startup_log);
        while let Ok(line) = self.log.recv_timeout(Duration::from_secs(2)) {
            lines.push(line);
        }
        lines
    }
}

/// Sends `which` (`-STOP`, `-TERM`, …) to process `pid`.
pub fn signal(pid: u32, which: &str) {
    let status = Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {which} {pid}");
}

/// The base URL in the line announcing where the GraphQL API is served, in
/// either log format (`graphql=http://…/graphql`,
/// `"graphql":"http://…/graphql"`).
fn announced_url(line: &str) -> Option<String> {
    let rest = ["graphql=", "\"graphql\":\""]
        .iter()
        .find_map(|field| line.find(field).map(|at| &line[at + field.len()..]))?;
    let url = rest.split(|c: char| c.is_whitespace() || c == '"').next()?;
    url.strip_suffix("/graphql").map(str::to_owned)
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `keyward` command run to its end.
#[derive(Debug)]
pub struct Finished {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Asserts exit status 0 and returns standard output.
    #[track_caller]
    pub fn assert_success(&self) -> &str {
        assert!(self.success, "the command failed: {self:#?}");
        &self.stdout
    }

    /// Asserts a non-zero exit status and returns everything the command
    /// printed (a server logs its refusal on standard output).
    #[track_caller]
    pub fn assert_failure(&self) -> String {
        assert!(!self.success, "the command succeeded: {self:#?}");
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `keyward ARGS` to its end as an operator would, with `stdin` on its
/// standard input (`None`: empty) and the tests' low argon2 costs; fails the
/// test past 120 s. Waits off the runtime's thread, so that servers of this
/// process keep answering meanwhile (a break-glass command on PostgreSQL
/// waits for every replica's acknowledgement).
pub async fn run_keyward(args: &[&str], stdin: Option<&str>) -> Finished {
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    let stdin = stdin.map(str::to_owned);
    tokio::task::spawn_blocking(move || run_keyward_blocking(&args, stdin.as_deref()))
        .await
        .expect("the command's thread")
}

fn run_keyward_blocking(args: &[String], stdin: Option<&str>) -> Finished {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .env("KEYWARD_ARGON2_MEMORY_KIB", "8")
        .env("KEYWARD_ARGON2_ITERATIONS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keyward starts");
    if let Some(mut input) = child.stdin.take() {
        // A command that exits without reading closes the pipe: not an error.
        let _ = input.write_all(stdin.unwrap_or_default().as_bytes());
    }
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("the command's status") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("keyward {args:?} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Finished {
        success: status.success(),
        stdout: stdout.join().expect("stdout"),
        stderr: stderr.join().expect("stderr"),
    }
}
