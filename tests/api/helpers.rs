//! `TestApp`: a real keyward server on an ephemeral port with a fresh database
//! (see [`crate::backend`]), and a client that speaks GraphQL over HTTP to it.

use std::net::SocketAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keyward::{Application, Config, HashingConfig};
use reqwest::header::HeaderMap;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::backend::{self, TestDatabase};

pub const ADMIN: (&str, &str) = ("admin", "correct horse battery staple");

pub const CREATE_KEY: &str = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) {
    secretKey apiKey { id accessKey name description state role createdAt updatedAt lastUsedAt project { id name } } } }";
pub const SET_STATE: &str =
    "mutation($i: SetKeyStateInput!) { setKeyState(input: $i) { apiKey { id state updatedAt } } }";
pub const RENAME: &str = "mutation($i: RenameKeyInput!) { renameKey(input: $i) { apiKey { id name description accessKey } } }";
pub const DELETE_KEY: &str =
    "mutation($i: DeleteKeyInput!) { deleteKey(input: $i) { deletedKeyId } }";
pub const CREATE_PROJECT: &str = "mutation($i: CreateProjectInput!) { createProject(input: $i) { project { id name description endpoint } } }";
pub const UPDATE_PROJECT: &str = "mutation($i: UpdateProjectInput!) { updateProject(input: $i) { project { id name description } } }";
pub const DELETE_PROJECT: &str =
    "mutation($i: DeleteProjectInput!) { deleteProject(input: $i) { deletedProjectId } }";
pub const VIEWER: &str = "{ viewer { kind role apiKey { id accessKey } project { id name } } }";

/// How a request authenticates.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Basic(String, String),
    /// An Authorization header sent exactly as given.
    Raw(Vec<u8>),
}

impl Auth {
    pub fn basic(user: &str, password: &str) -> Self {
        Self::Basic(user.to_owned(), password.to_owned())
    }

    pub fn admin() -> Self {
        Self::basic(ADMIN.0, ADMIN.1)
    }
}

/// A key created through the API, with its one-time secret.
#[derive(Clone, Debug)]
pub struct TestKey {
    pub id: String,
    pub access_key: String,
    pub secret: String,
    pub project_id: String,
}

impl TestKey {
    pub fn auth(&self) -> Auth {
        Auth::basic(&self.access_key, &self.secret)
    }
}

/// The outcome of one HTTP request.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `extensions.code` of every error.
    pub fn codes(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        e["extensions"]["code"]
                            .as_str()
                            .unwrap_or("<none>")
                            .to_owned()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts one error with `code` and returns its message.
    #[track_caller]
    pub fn assert_code(&self, code: &str) -> String {
        assert_eq!(self.codes(), vec![code.to_owned()], "reply: {self:?}");
        self.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Asserts an HTTP 401 with a Basic challenge and UNAUTHENTICATED.
    #[track_caller]
    pub fn assert_unauthenticated(&self) {
        assert_eq!(self.status, StatusCode::UNAUTHORIZED, "reply: {self:?}");
        let challenge = self.headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap_or_default();
        assert!(
            challenge.starts_with("Basic realm=\"keyward\""),
            "{challenge}"
        );
        self.assert_code("UNAUTHENTICATED");
    }

    /// The `x-request-id` the server answered with.
    pub fn request_id(&self) -> String {
        self.headers
            .get("x-request-id")
            .and_then(|id| id.to_str().ok())
            .expect("an x-request-id header")
            .to_owned()
    }

    /// Asserts success and returns `data`.
    #[track_caller]
    pub fn data(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "reply: {self:?}");
        assert!(self.body.get("errors").is_none(), "reply: {self:?}");
        &self.body["data"]
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    config: Config,
    app: Option<Application>,
    // Declared last: dropped after the server, when nothing uses it any more.
    // `None` for a replica, which shares its primary's database.
    _database: Option<TestDatabase>,
}

impl TestApp {
    /// A server on a fresh database.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A server on a fresh database, with `configure` applied to its config.
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_on(TestDatabase::fresh(backend::current()).await, configure).await
    }

    /// A server on `database`, which may hold data already (an older
    /// release's, say: it is migrated at start-up), with `configure` applied.
    pub async fn spawn_on(database: TestDatabase, configure: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::new(([127, 0, 0, 1], 0).into(), database.url.clone());
        // Tests may lower the argon2 cost; the default stays at the OWASP minimum.
        config.hashing = HashingConfig::INSECURE_FOR_TESTS;
        configure(&mut config);
        let app = Application::build(config.clone())
            .await
            .expect("the server starts");
        Self {
            addr: app.local_addr(),
            client: reqwest::Client::new(),
            config,
            app: Some(app),
            _database: Some(database),
        }
    }

    /// A second server on the same database, as another replica would be.
    /// It must not outlive `self`, which owns the database.
    ///
    /// On SQLite there are no replicas: one process holds the database (a
    /// second one is refused at start, see `hot_path.rs`), so the "replica"
    /// is this very server, reached through a second handle, and a test of
    /// replicas checks that one server.
    pub async fn replica(&self) -> TestApp {
        self.replica_with(|_| {}).await
    }

    /// Like `replica`, with `configure` applied to the replica's config (on
    /// PostgreSQL; on SQLite the one server is returned as it is).
    pub async fn replica_with(&self, configure: impl FnOnce(&mut Config)) -> TestApp {
        if backend::current() == backend::Backend::Sqlite {
            return TestApp {
                addr: self.addr,
                client: reqwest::Client::new(),
                config: self.config.clone(),
                app: None,
                _database: None,
            };
        }
        let mut config = self.config.clone();
        configure(&mut config);
        let app = Application::build(config.clone())
            .await
            .expect("the replica starts");
        TestApp {
            addr: app.local_addr(),
            client: reqwest::Client::new(),
            config,
            app: Some(app),
            _database: None,
        }
    }

    /// Stops the server and starts a new one on the same database.
    pub async fn restart(&mut self) {
        self.restart_after(async {}).await;
    }

    /// Stops the server, awaits `offline` (nothing of this server holds the
    /// database meanwhile), then starts a new one on the same database.
    pub async fn restart_after<T>(&mut self, offline: impl std::future::Future<Output = T>) -> T {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
        let result = offline.await;
        let app = Application::build(self.config.clone())
            .await
            .expect("the server restarts");
        self.addr = app.local_addr();
        self.app = Some(app);
        result
    }

    /// The URL of the database this server runs on, for tests that reach
    /// under the API.
    pub fn database_url(&self) -> &str {
        &self.config.database_url
    }

    /// Statements this server has run for requests (see
    /// `Application::request_statements`).
    pub fn request_statements(&self) -> u64 {
        self.app
            .as_ref()
            .map_or(0, keyward::Application::request_statements)
    }

    /// Whether this server answers authentication from memory right now.
    pub fn auth_state_trusted(&self) -> bool {
        self.app
            .as_ref()
            .is_some_and(keyward::Application::auth_state_trusted)
    }

    /// How many argon2 verifications the server has run.
    pub fn argon2_verifications(&self) -> u64 {
        self.app
            .as_ref()
            .map_or(0, keyward::Application::argon2_verifications)
    }

    /// Where this server serves `/metrics` (with `metrics_listen` set).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.app.as_ref().and_then(Application::metrics_addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POSTs a GraphQL request to `path`.
    pub async fn post(&self, path: &str, query: &str, variables: Value, auth: &Auth) -> Reply {
        let request = self
            .client
            .post(self.url(path))
            .json(&json!({ "query": query, "variables": variables }));
        send(with_auth(request, auth)).await
    }

    /// A GraphQL request to `/graphql`.
    pub async fn gql(&self, query: &str, variables: Value, auth: &Auth) -> Reply {
        self.post("/graphql", query, variables, auth).await
    }

    /// A GraphQL request to `/graphql` that must succeed; returns `data`.
    pub async fn ok(&self, query: &str, variables: Value, auth: &Auth) -> Value {
        self.gql(query, variables, auth).await.data().clone()
    }

    pub async fn enable_access_control(&self) {
        let data = self
            .ok(
                "mutation($i: EnableAccessControlInput!) { enableAccessControl(input: $i) { enabled } }",
                json!({ "i": { "username": ADMIN.0, "password": ADMIN.1 } }),
                &Auth::None,
            )
            .await;
        assert_eq!(data["enableAccessControl"]["enabled"], true);
    }

    /// The id of the `Default` project every fresh database has.
    pub async fn default_project(&self, auth: &Auth) -> String {
        let data = self
            .ok(
                "{ projects(first: 1) { edges { node { id name } } } }",
                json!({}),
                auth,
            )
            .await;
        assert_eq!(data["projects"]["edges"][0]["node"]["name"], "Default");
        id_of(&data["projects"]["edges"][0]["node"])
    }

    pub async fn create_project(&self, auth: &Auth, name: &str) -> String {
        let data = self
            .ok(CREATE_PROJECT, json!({ "i": { "name": name } }), auth)
            .await;
        id_of(&data["createProject"]["project"])
    }

    pub async fn create_key(&self, auth: &Auth, project_id: &str, role: &str) -> TestKey {
        let reply = self
            .gql(
                CREATE_KEY,
                json!({ "i": { "projectId": project_id, "name": format!("{role} key"), "role": role } }),
                auth,
            )
            .await;
        key_from(reply.data())
    }

    /// Sends `key`'s access key with `times` wrong secrets, each refused as
    /// wrong credentials: how a test brings a key to its throttle.
    pub async fn fail_to_authenticate(&self, key: &TestKey, times: usize) {
        for n in 0..times {
            let wrong = Auth::basic(&key.access_key, &format!("{n:0>40}"));
            self.gql(VIEWER, json!({}), &wrong)
                .await
                .assert_unauthenticated();
        }
    }
}

/// Reads a `TestKey` out of a `createApiKey` result.
pub fn key_from(data: &Value) -> TestKey {
    let created = &data["createApiKey"];
    TestKey {
        id: id_of(&created["apiKey"]),
        access_key: created["apiKey"]["accessKey"]
            .as_str()
            .expect("accessKey")
            .to_owned(),
        secret: created["secretKey"].as_str().expect("secretKey").to_owned(),
        project_id: id_of(&created["apiKey"]["project"]),
    }
}

pub fn id_of(node: &Value) -> String {
    node["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {node}"))
        .to_owned()
}

pub fn with_auth(request: reqwest::RequestBuilder, auth: &Auth) -> reqwest::RequestBuilder {
    match auth {
        Auth::None => request,
        Auth::Basic(user, password) => request.header(
            header::AUTHORIZATION,
            format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))),
        ),
        Auth::Raw(raw) => request.header(
            header::AUTHORIZATION,
            header::HeaderValue::from_bytes(raw).expect("a header value"),
        ),
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "_raw": text }));
    Reply {
        status,
        headers,
        body,
    }
}

/// A TCP connection to `server` from `source` (any port): from one of the
/// loopback's other addresses (`127.0.0.2`…), a test plays another client.
pub async fn connect_from(
    source: [u8; 4],
    server: SocketAddr,
) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    socket.connect(server).await
}
