//! `RealProvider`: a real, certified OpenID provider (npm's oidc-provider,
//! `tests/oidc/provider.mjs`) run with Node.js for the test, so that
//! keyward's single sign-on is checked against a provider that follows the
//! specifications rather than against our own reading of them. And
//! `sign_in_through`, which signs a person in as a browser would, hop by
//! hop, through keyward, the provider's login page and back.
//!
//! Without Node.js and `tests/oidc`'s packages (`npm ci --prefix
//! tests/oidc`) the tests needing it are built as ignored (build.rs,
//! `keyward_oidc`), unless `KEYWARD_OIDC_TESTS=require` (set by `.ci/run`).
#![allow(
    dead_code,
    reason = "the harness of keyward's single sign-on tests, which use more of it than its own test"
)]

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use axum::extract::Query;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use tempfile::TempDir;
use url::Url;

use crate::oidc_fake::{decode_unverified, random_string};

/// How long the provider may take to start listening.
const STARTUP: Duration = Duration::from_secs(20);
/// Hops a sign-in may take before it is a redirect loop.
const MAX_HOPS: usize = 20;

#[tokio::test]
#[cfg_attr(
    not(keyward_oidc),
    ignore = "needs Node.js and tests/oidc's packages (npm ci --prefix tests/oidc)"
)]
async fn the_real_provider_signs_a_person_in_and_issues_an_id_token_with_their_groups() {
    let catcher = Catcher::start().await;
    let client = OidcClient {
        client_id: "keyward-test".to_owned(),
        client_secret: "a client secret of thirty-two chars".to_owned(),
        redirect_uris: vec![catcher.url()],
    };
    let ada = User {
        sub: "ada-1".to_owned(),
        username: "ada".to_owned(),
        password: "correct horse battery staple".to_owned(),
        name: "Ada Lovelace".to_owned(),
        email: "ada@example.com".to_owned(),
        groups: vec!["engineering".to_owned()],
    };
    let provider = RealProvider::start(vec![client.clone()], vec![ada.clone()]).await;
    // Groups changed before the sign-in are the ones the token carries.
    provider
        .set_groups("ada-1", &["keyward-admins", "ops"])
        .await;

    let http = reqwest::Client::new();
    let discovery: Value = http
        .get(format!(
            "{}/.well-known/openid-configuration",
            provider.issuer()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], provider.issuer());
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        json!(["S256"])
    );

    // The authorization request, as a relying party builds it.
    let verifier = random_string();
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ));
    let (state, nonce) = (random_string(), random_string());
    let mut authorize = Url::parse(discovery["authorization_endpoint"].as_str().unwrap()).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.client_id)
        .append_pair("redirect_uri", &catcher.url())
        .append_pair("scope", "openid profile email groups")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");

    let signed_in = sign_in_through(&browser(), authorize.as_str(), "ada", &ada.password).await;
    assert_eq!(signed_in.response.status(), StatusCode::OK, "{signed_in:?}");
    let paths: Vec<&str> = signed_in.hops.iter().map(|hop| hop.url.path()).collect();
    assert_eq!(paths.first(), Some(&"/auth"), "{signed_in:?}");
    assert!(
        paths.iter().any(|path| path.starts_with("/interaction/")),
        "the provider's login page was on the way: {signed_in:?}"
    );
    assert!(
        signed_in.final_url().as_str().starts_with(&catcher.url()),
        "{signed_in:?}"
    );
    let caught = catcher.the_one_callback();
    assert_eq!(caught.get("state"), Some(&state));
    assert_eq!(caught.get("iss"), Some(&provider.issuer()), "RFC 9207");

    // The code exchanged, with the client's secret and the PKCE verifier.
    let answer = http
        .post(discovery["token_endpoint"].as_str().unwrap())
        .basic_auth(&client.client_id, Some(&client.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", caught["code"].as_str()),
            ("redirect_uri", &catcher.url()),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let tokens: Value = answer.json().await.unwrap();
    let (header, claims) = decode_unverified(tokens["id_token"].as_str().unwrap());
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims["iss"], provider.issuer());
    assert_eq!(claims["aud"], client.client_id);
    assert_eq!(claims["sub"], "ada-1");
    assert_eq!(claims["nonce"], nonce.as_str());
    assert_eq!(claims["preferred_username"], "ada");
    assert_eq!(claims["name"], "Ada Lovelace");
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["groups"], json!(["keyward-admins", "ops"]));
}

// ---------------------------------------------------------------------------
// The provider.

/// A client registered at the provider.
#[derive(Clone, Serialize)]
pub struct OidcClient {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
}

impl fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcClient")
            .field("client_id", &self.client_id)
            .field("redirect_uris", &self.redirect_uris)
            .finish_non_exhaustive()
    }
}

/// A person who can sign in at the provider.
#[derive(Clone, Serialize)]
pub struct User {
    pub sub: String,
    pub username: String,
    pub password: String,
    pub name: String,
    pub email: String,
    pub groups: Vec<String>,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("sub", &self.sub)
            .field("username", &self.username)
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}

/// oidc-provider listening on `127.0.0.1:<ephemeral>`; stopped when dropped,
/// its output printed then if the test failed.
pub struct RealProvider {
    issuer: String,
    process: Child,
    // Holds the configuration and the provider's stderr.
    dir: TempDir,
}

impl RealProvider {
    /// Starts the provider with these clients and people.
    pub async fn start(clients: Vec<OidcClient>, users: Vec<User>) -> Self {
        tokio::task::spawn_blocking(move || Self::start_blocking(&clients, &users))
            .await
            .expect("the provider starts")
    }

    fn start_blocking(clients: &[OidcClient], users: &[User]) -> Self {
        let oidc = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
        assert!(
            oidc.join("node_modules/oidc-provider").is_dir(),
            "tests/oidc's packages are not installed: npm ci --prefix tests/oidc"
        );
        let dir = tempfile::tempdir().expect("a folder for the provider");
        let config = dir.path().join("config.json");
        let contents = json!({ "port": 0, "clients": clients, "users": users });
        std::fs::write(&config, contents.to_string()).expect("the provider's configuration");
        let stderr = std::fs::File::create(dir.path().join("stderr")).expect("a log file");
        let mut process = Command::new("node")
            .arg(oidc.join("provider.mjs"))
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node (Node.js, apt-get install nodejs): {e}"));

        // Its first line names the issuer; the rest is drained, so that a
        // full pipe never blocks it.
        let stdout = process.stdout.take().expect("its stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(issuer) = line.strip_prefix("ISSUER ") {
                    let _ = tx.send(issuer.to_owned());
                }
            }
        });
        let mut provider = Self {
            issuer: String::new(),
            process,
            dir,
        };
        match rx.recv_timeout(STARTUP) {
            Ok(issuer) => provider.issuer = issuer,
            Err(_) => panic!(
                "the OpenID provider did not start within {STARTUP:?}:\n{}",
                provider.logs()
            ),
        }
        provider
    }

    /// Its issuer URL, `http://127.0.0.1:<port>`.
    pub fn issuer(&self) -> String {
        self.issuer.clone()
    }

    /// Gives `sub` these groups from the next sign-in on.
    pub async fn set_groups(&self, sub: &str, groups: &[&str]) {
        let sub: String = form_urlencoded::byte_serialize(sub.as_bytes()).collect();
        let answer = reqwest::Client::new()
            .post(format!("{}/test/users/{sub}/groups", self.issuer))
            .json(groups)
            .send()
            .await
            .expect("the provider answers");
        assert_eq!(answer.status(), StatusCode::NO_CONTENT, "set_groups {sub}");
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }
}

impl Drop for RealProvider {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        if std::thread::panicking() {
            eprintln!("--- OpenID provider stderr ---\n{}", self.logs());
        }
    }
}

// ---------------------------------------------------------------------------
// Signing in as a browser does.

/// A client as a browser: it keeps cookies, and follows no redirect itself,
/// so `sign_in_through` sees every hop.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// One request of a sign-in and the status it got.
pub struct Hop {
    pub method: reqwest::Method,
    pub url: Url,
    pub status: StatusCode,
}

impl fmt::Debug for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} -> {}",
            self.method,
            masked(&self.url),
            self.status
        )
    }
}

/// A finished sign-in: every hop, and the last answer (not a redirect).
pub struct SignIn {
    pub hops: Vec<Hop>,
    pub response: reqwest::Response,
}

impl SignIn {
    pub fn final_url(&self) -> &Url {
        &self.hops.last().expect("at least one hop").url
    }
}

impl fmt::Debug for SignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignIn").field("hops", &self.hops).finish()
    }
}

/// Starts at `start_url` (keyward's sign-in start, or a provider's
/// authorization URL) and follows every redirect with `client` (see
/// `browser`): to the provider, its login page, whose form it fills with
/// `username` and `password` and posts (once: a refused password ends the
/// sign-in on the page that says so), and back to the redirect URI and
/// wherever that leads.
pub async fn sign_in_through(
    client: &reqwest::Client,
    start_url: &str,
    username: &str,
    password: &str,
) -> SignIn {
    let mut hops = Vec::new();
    let mut next = client.get(start_url);
    let mut logged_in = false;
    loop {
        assert!(hops.len() < MAX_HOPS, "a redirect loop: {hops:?}");
        let request = next.build().expect("a request");
        let (method, url) = (request.method().clone(), request.url().clone());
        let response = client
            .execute(request)
            .await
            .unwrap_or_else(|e| panic!("{method} {}: {e}", masked(&url)));
        let status = response.status();
        hops.push(Hop {
            method,
            url: url.clone(),
            status,
        });
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_else(|| panic!("a redirect without Location: {hops:?}"));
            let target = url
                .join(location)
                .unwrap_or_else(|e| panic!("Location {location:?}: {e}"));
            next = client.get(target);
            continue;
        }
        let is_login_page = !logged_in
            && status == StatusCode::OK
            && url.path().starts_with("/interaction/")
            && response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .is_some_and(|value| value.as_bytes().starts_with(b"text/html"));
        if !is_login_page {
            return SignIn { hops, response };
        }
        let page = response.text().await.expect("the login page");
        let action = form_action(&page).unwrap_or_else(|| panic!("no form in {page}"));
        let target = url
            .join(&action)
            .unwrap_or_else(|e| panic!("form action {action:?}: {e}"));
        next = client
            .post(target)
            .form(&[("username", username), ("password", password)]);
        logged_in = true;
    }
}

/// The `action` of the first form of `html`, its entities decoded.
fn form_action(html: &str) -> Option<String> {
    let form = &html[html.find("<form")?..];
    let tag = &form[..form.find('>')?];
    let start = tag.find("action=\"")? + "action=\"".len();
    let end = start + tag[start..].find('"')?;
    Some(
        tag[start..end]
            .replace("&amp;", "&")
            .replace("&#38;", "&")
            .replace("&quot;", "\"")
            .replace("&#34;", "\""),
    )
}

/// `url` with the values of `code` and `state` hidden: what a failure may
/// print.
fn masked(url: &Url) -> String {
    let mut shown = url.clone();
    if url.query().is_none() {
        return shown.to_string();
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(name, value)| {
            let value = if matches!(&*name, "code" | "state") {
                "<secret>".to_owned()
            } else {
                value.into_owned()
            };
            (name.into_owned(), value)
        })
        .collect();
    shown.query_pairs_mut().clear().extend_pairs(pairs);
    shown.to_string()
}

/// A redirect URI inside the test: records the query of each request.
struct Catcher {
    addr: std::net::SocketAddr,
    caught: Arc<Mutex<Vec<BTreeMap<String, String>>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Catcher {
    async fn start() -> Self {
        let caught = Arc::new(Mutex::new(Vec::new()));
        let recorder = caught.clone();
        let app = axum::Router::new().route(
            "/callback",
            get(
                move |Query(query): Query<BTreeMap<String, String>>| async move {
                    recorder.lock().unwrap().push(query);
                    "caught"
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            caught,
            server,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/callback", self.addr)
    }

    fn the_one_callback(&self) -> BTreeMap<String, String> {
        let caught = self.caught.lock().unwrap();
        assert_eq!(caught.len(), 1, "one callback");
        caught[0].clone()
    }
}

impl Drop for Catcher {
    fn drop(&mut self) {
        self.server.abort();
    }
}
