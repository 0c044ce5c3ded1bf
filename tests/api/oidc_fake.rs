//! `FakeProvider`: an OpenID provider the test controls, for the checks a
//! real provider never lets a test make: an ID token with the wrong issuer
//! or audience, expired, from the future, for another nonce, with a broken
//! signature, `alg: none`, signed by a key the provider does not publish,
//! and keys rotated mid-test. Everything else behaves as a provider does:
//! discovery, JWKS, `/authorize` redirecting back with a code and the state,
//! `/token` checking the client, the code (once only) and the PKCE verifier,
//! and `/userinfo`.
//!
//! An axum server on an ephemeral loopback port, inside the test. RS256 with
//! ring (in the tree through rustls) and the fixed test-only keys of
//! `tests/fixtures/oidc/` (generating RSA keys in a debug build is slow).
//! Every request is recorded for assertions, with its secrets masked.
#![allow(
    dead_code,
    reason = "the harness of keyward's single sign-on tests, which use more of it than its own tests"
)]

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::Rng as _;
use ring::rsa::PublicKeyComponents;
use ring::signature::{self, RsaKeyPair};
use serde_json::{Map, Value, json};

const CLIENT_ID: &str = "keyward-test";
const CLIENT_SECRET: &str = "a client secret of thirty-two chars";

#[tokio::test]
async fn the_fake_provider_exchanges_a_code_once_and_refuses_it_the_second_time() {
    let fake = FakeProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let flow = Flow::authorize(&fake).await;
    assert_eq!(
        fake.authorizations()[0].state.as_deref(),
        Some(flow.state.as_str())
    );

    let first = flow.exchange(&fake, &flow.verifier).await;
    assert_eq!(first.status(), StatusCode::OK);
    let tokens: Value = first.json().await.unwrap();
    let (header, claims) = decode_unverified(tokens["id_token"].as_str().unwrap());
    assert_eq!(header["kid"], fake.signing_kid());
    assert_eq!(claims["nonce"], flow.nonce.as_str());

    let second = flow.exchange(&fake, &flow.verifier).await;
    assert_eq!(second.status(), StatusCode::BAD_REQUEST);
    let refusal: Value = second.json().await.unwrap();
    assert_eq!(refusal["error"], "invalid_grant");

    // A wrong PKCE verifier is refused too.
    let other = Flow::authorize(&fake).await;
    let wrong = other.exchange(&fake, &random_string()).await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let refusal: Value = wrong.json().await.unwrap();
    assert_eq!(refusal["error"], "invalid_grant");
    let tokens = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/token")
        .count();
    assert_eq!(tokens, 3, "{:?}", fake.requests());
}

#[tokio::test]
async fn the_fake_provider_shapes_the_next_id_token_as_the_test_asks() {
    // Each shape, what the token's header says, and whether its signature
    // verifies with the key its kid names in the JWKS.
    struct Case {
        shape: TokenShape,
        alg: &'static str,
        verifies: bool,
        claims: Value,
    }
    let fake = FakeProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let issuer = fake.issuer();
    let past = now() - 60;
    let cases = [
        Case {
            shape: TokenShape::default(),
            alg: "RS256",
            verifies: true,
            claims: json!({"iss": issuer, "aud": CLIENT_ID, "groups": ["engineering"]}),
        },
        Case {
            shape: TokenShape::signed(Signing::Tampered),
            alg: "RS256",
            verifies: false,
            claims: json!({}),
        },
        Case {
            shape: TokenShape::signed(Signing::AlgNone),
            alg: "none",
            verifies: false,
            claims: json!({}),
        },
        Case {
            shape: TokenShape::signed(Signing::UnpublishedKey),
            alg: "RS256",
            verifies: false,
            claims: json!({}),
        },
        Case {
            shape: TokenShape::signed(Signing::UnknownKid),
            alg: "RS256",
            verifies: false,
            claims: json!({}),
        },
        Case {
            shape: TokenShape::signed(Signing::Hs256ClientSecret),
            alg: "HS256",
            verifies: false,
            claims: json!({}),
        },
        Case {
            shape: TokenShape::claims(json!({"aud": ["other", CLIENT_ID], "exp": past})),
            alg: "RS256",
            verifies: true,
            claims: json!({"aud": ["other", CLIENT_ID], "exp": past}),
        },
        Case {
            shape: TokenShape::claims(json!({"nonce": null, "iss": "https://elsewhere.example"})),
            alg: "RS256",
            verifies: true,
            claims: json!({"iss": "https://elsewhere.example"}),
        },
    ];
    for (number, case) in cases.iter().enumerate() {
        fake.set_next_token(case.shape.clone());
        let flow = Flow::authorize(&fake).await;
        let answer = flow.exchange(&fake, &flow.verifier).await;
        assert_eq!(answer.status(), StatusCode::OK, "case {number}");
        let tokens: Value = answer.json().await.unwrap();
        let id_token = tokens["id_token"].as_str().unwrap();
        let (header, claims) = decode_unverified(id_token);
        assert_eq!(header["alg"], case.alg, "case {number}: {header}");
        if case.alg == "none" {
            assert_eq!(header, json!({"alg": "none"}), "case {number}");
            assert!(id_token.ends_with('.'), "case {number}: an empty signature");
        }
        assert_eq!(
            verifies(&fake, id_token).await,
            case.verifies,
            "case {number}: {header}"
        );
        for (name, value) in case.claims.as_object().unwrap() {
            assert_eq!(&claims[name], value, "case {number}: {name}");
        }
        if case.shape.claims.get("nonce").is_some_and(Value::is_null) {
            assert!(claims.get("nonce").is_none(), "case {number}: removed");
        }
    }

    // Rotation: a new key signs, and both are published.
    let before = fake.signing_kid();
    fake.rotate_keys();
    assert_ne!(fake.signing_kid(), before);
    let flow = Flow::authorize(&fake).await;
    let tokens: Value = flow
        .exchange(&fake, &flow.verifier)
        .await
        .json()
        .await
        .unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(decode_unverified(id_token).0["kid"], fake.signing_kid());
    assert!(verifies(&fake, id_token).await);
    assert_eq!(
        published_kids(&fake).await,
        [before.clone(), fake.signing_kid()]
    );
    fake.retire_old_keys();
    assert_eq!(published_kids(&fake).await, [fake.signing_kid()]);
}

/// One authorization request at the fake provider, as a relying party
/// makes it, and the code it got back.
struct Flow {
    verifier: String,
    state: String,
    nonce: String,
    code: String,
    redirect_uri: String,
}

impl Flow {
    async fn authorize(fake: &FakeProvider) -> Self {
        let verifier = random_string();
        let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            verifier.as_bytes(),
        ));
        let (state, nonce) = (random_string(), random_string());
        let redirect_uri = "http://127.0.0.1:9/callback".to_owned();
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let answer = no_redirects
            .get(format!("{}/authorize", fake.issuer()))
            .query(&[
                ("response_type", "code"),
                ("client_id", CLIENT_ID),
                ("redirect_uri", &redirect_uri),
                ("scope", "openid profile groups"),
                ("state", &state),
                ("nonce", &nonce),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_redirection(), "{answer:?}");
        let location =
            url::Url::parse(answer.headers()[header::LOCATION].to_str().unwrap()).unwrap();
        let query: BTreeMap<String, String> = location.query_pairs().into_owned().collect();
        assert_eq!(query.get("state"), Some(&state));
        Self {
            code: query["code"].clone(),
            verifier,
            state,
            nonce,
            redirect_uri,
        }
    }

    async fn exchange(&self, fake: &FakeProvider, verifier: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/token", fake.issuer()))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &self.code),
                ("redirect_uri", &self.redirect_uri),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .unwrap()
    }
}

async fn published_keys(fake: &FakeProvider) -> Vec<Value> {
    let jwks: Value = reqwest::get(format!("{}/jwks", fake.issuer()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"].as_array().unwrap().clone()
}

async fn published_kids(fake: &FakeProvider) -> Vec<String> {
    let keys = published_keys(fake).await;
    keys.iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Whether `jwt` is RS256 and verifies with the published key its kid names.
async fn verifies(fake: &FakeProvider, jwt: &str) -> bool {
    let (header, _) = decode_unverified(jwt);
    let keys = published_keys(fake).await;
    let Some(key) = keys.iter().find(|key| key["kid"] == header["kid"]) else {
        return false;
    };
    if header["alg"] != "RS256" {
        return false;
    }
    let (signed, signature) = jwt.rsplit_once('.').unwrap();
    let component = |name: &str| URL_SAFE_NO_PAD.decode(key[name].as_str().unwrap()).unwrap();
    let public = signature::RsaPublicKeyComponents {
        n: component("n"),
        e: component("e"),
    };
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    public
        .verify(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &signature,
        )
        .is_ok()
}

// ---------------------------------------------------------------------------
// The provider.

/// The test-only keys, in the order they are published: the first signs at
/// start, each `rotate_keys` publishes and signs with the next.
const PUBLISHABLE_KEYS: [&str; 3] = [
    include_str!("../fixtures/oidc/first.pem"),
    include_str!("../fixtures/oidc/second.pem"),
    include_str!("../fixtures/oidc/third.pem"),
];
/// A key the provider never publishes: a token it signs is a forgery.
const UNPUBLISHED_KEY: &str = include_str!("../fixtures/oidc/unpublished.pem");

/// How long a default ID token is valid.
pub const TOKEN_LIFETIME: i64 = 300;

/// Request parameters whose values are secrets: masked in Debug output.
const SECRET_PARAMS: [&str; 4] = ["client_secret", "code", "code_verifier", "authorization"];

/// The person signed in at the fake provider: the claims of its ID tokens
/// and of `/userinfo`.
#[derive(Clone, Debug)]
pub struct Person {
    pub sub: String,
    pub preferred_username: String,
    pub name: String,
    pub email: String,
    pub groups: Vec<String>,
}

impl Default for Person {
    fn default() -> Self {
        Self {
            sub: "fake-subject-1".to_owned(),
            preferred_username: "ada".to_owned(),
            name: "Ada Lovelace".to_owned(),
            email: "ada@example.com".to_owned(),
            groups: vec!["engineering".to_owned()],
        }
    }
}

/// How the next ID token is signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Signing {
    /// RS256 with the published signing key, as a provider signs.
    #[default]
    Valid,
    /// Signed, then bytes of the signature flipped.
    Tampered,
    /// `{"alg":"none"}` and an empty signature.
    AlgNone,
    /// RS256 by a key not in the JWKS, under a kid that is (the current one).
    UnpublishedKey,
    /// RS256 by the signing key, under a kid the JWKS does not list.
    UnknownKid,
    /// HS256 keyed with the client secret (which discovery does not offer).
    Hs256ClientSecret,
}

/// The shape of the next ID token: claims replaced, added or removed (a
/// JSON null removes one) over the valid defaults, and its signing.
#[derive(Clone, Debug, Default)]
pub struct TokenShape {
    pub claims: Map<String, Value>,
    pub signing: Signing,
}

impl TokenShape {
    /// Valid but for `claims`, e.g. `json!({"aud": ["other", "client"]})`.
    pub fn claims(claims: Value) -> Self {
        let Value::Object(claims) = claims else {
            panic!("claims are a JSON object: {claims}");
        };
        Self {
            claims,
            ..Self::default()
        }
    }

    /// Valid claims, signed as `signing` says.
    pub fn signed(signing: Signing) -> Self {
        Self {
            signing,
            ..Self::default()
        }
    }
}

/// One request the provider received: its path, and its query or form
/// parameters (with the Authorization header as `authorization`).
#[derive(Clone)]
pub struct Recorded {
    pub path: String,
    pub params: BTreeMap<String, String>,
}

impl Recorded {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

impl fmt::Debug for Recorded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let params: BTreeMap<&str, &str> = self
            .params
            .iter()
            .map(|(name, value)| {
                let shown = if SECRET_PARAMS.contains(&name.as_str()) {
                    "<secret>"
                } else {
                    value.as_str()
                };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("Recorded")
            .field("path", &self.path)
            .field("params", &params)
            .finish()
    }
}

/// An authorization request as `/authorize` recorded it, and the code it
/// issued for it.
#[derive(Clone)]
pub struct Authorization {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub scope: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub code: String,
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization")
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("state", &self.state)
            .field("nonce", &self.nonce)
            .field("scope", &self.scope)
            .field("code_challenge", &self.code_challenge)
            .field("code_challenge_method", &self.code_challenge_method)
            .finish_non_exhaustive()
    }
}

type RedirectFn = Box<dyn FnOnce(&Authorization) -> String + Send>;

struct Key {
    kid: String,
    pair: RsaKeyPair,
}

impl Key {
    fn from_pem(kid: &str, pem: &str) -> Self {
        let base64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(base64).expect("a PEM fixture");
        let pair = RsaKeyPair::from_pkcs8(&der).expect("a PKCS#8 RSA key");
        Self {
            kid: kid.to_owned(),
            pair,
        }
    }

    fn jwk(&self) -> Value {
        let public = PublicKeyComponents::<Vec<u8>>::from(self.pair.public());
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(public.n),
            "e": URL_SAFE_NO_PAD.encode(public.e),
        })
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                message,
                &mut signature,
            )
            .expect("RS256 signing");
        signature
    }
}

struct Inner {
    base: String,
    discovery_issuer: Option<String>,
    client_id: String,
    client_secret: String,
    person: Person,
    /// Published keys; the last one signs.
    keys: Vec<Key>,
    next_rotation: usize,
    unpublished: Key,
    next_token: TokenShape,
    next_redirect: Option<RedirectFn>,
    /// Authorization requests in order, each with whether its code was
    /// exchanged already.
    authorizations: Vec<(Authorization, bool)>,
    /// Access tokens issued, for `/userinfo`.
    access_tokens: Vec<String>,
    requests: Vec<Recorded>,
}

type Shared = Arc<Mutex<Inner>>;

/// A provider on `127.0.0.1:<ephemeral>`, stopped when dropped.
pub struct FakeProvider {
    addr: SocketAddr,
    inner: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl FakeProvider {
    /// A provider with one client, `client_id` with `client_secret`, which
    /// may authenticate with HTTP Basic or in the form.
    pub async fn start(client_id: &str, client_secret: &str) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("a loopback port for the fake provider");
        let addr = listener.local_addr().expect("its address");
        let inner = Arc::new(Mutex::new(Inner {
            base: format!("http://{addr}"),
            discovery_issuer: None,
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            person: Person::default(),
            keys: vec![Key::from_pem("fake-key-1", PUBLISHABLE_KEYS[0])],
            next_rotation: 1,
            unpublished: Key::from_pem("fake-key-unpublished", UNPUBLISHED_KEY),
            next_token: TokenShape::default(),
            next_redirect: None,
            authorizations: Vec::new(),
            access_tokens: Vec::new(),
            requests: Vec::new(),
        }));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo).post(userinfo))
            .with_state(inner.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the fake provider serves");
        });
        Self {
            addr,
            inner,
            server,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("the fake provider's state")
    }

    /// Its base URL, which is its issuer.
    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Makes discovery name `issuer` instead of the provider's own URL
    /// (tokens keep the real one unless shaped otherwise).
    pub fn set_discovery_issuer(&self, issuer: &str) {
        self.lock().discovery_issuer = Some(issuer.to_owned());
    }

    /// Who signs in from now on.
    pub fn set_person(&self, person: Person) {
        self.lock().person = person;
    }

    /// Shapes the next ID token `/token` issues; later ones are valid again.
    pub fn set_next_token(&self, shape: TokenShape) {
        self.lock().next_token = shape;
    }

    /// Makes the next `/authorize` redirect to the URL `redirect` returns
    /// for the recorded request (a wrong state, an `error=`, another
    /// redirect URI), instead of `redirect_uri?code=…&state=…`.
    pub fn set_next_redirect(
        &self,
        redirect: impl FnOnce(&Authorization) -> String + Send + 'static,
    ) {
        self.lock().next_redirect = Some(Box::new(redirect));
    }

    /// Publishes a new key and signs with it from now on; the earlier keys
    /// stay published, as providers keep them for a while.
    pub fn rotate_keys(&self) {
        let mut inner = self.lock();
        let next = inner.next_rotation;
        let pem = PUBLISHABLE_KEYS
            .get(next)
            .unwrap_or_else(|| panic!("only {} test keys to rotate to", PUBLISHABLE_KEYS.len()));
        inner
            .keys
            .push(Key::from_pem(&format!("fake-key-{}", next + 1), pem));
        inner.next_rotation += 1;
    }

    /// Stops publishing every key but the signing one.
    pub fn retire_old_keys(&self) {
        let mut inner = self.lock();
        let keep = inner.keys.len() - 1;
        inner.keys.drain(..keep);
    }

    /// The kid of the key that signs now.
    pub fn signing_kid(&self) -> String {
        self.lock().keys.last().expect("a signing key").kid.clone()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Every authorization request received so far, in order.
    pub fn authorizations(&self) -> Vec<Authorization> {
        let inner = self.lock();
        inner
            .authorizations
            .iter()
            .map(|(a, _)| a.clone())
            .collect()
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

// ---------------------------------------------------------------------------
// The endpoints.

fn record(inner: &mut Inner, path: &str, params: &BTreeMap<String, String>, headers: &HeaderMap) {
    let mut params = params.clone();
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        params.insert(
            "authorization".to_owned(),
            String::from_utf8_lossy(authorization.as_bytes()).into_owned(),
        );
    }
    inner.requests.push(Recorded {
        path: path.to_owned(),
        params,
    });
}

async fn discovery(State(inner): State<Shared>) -> Response {
    let inner = inner.lock().expect("state");
    let base = &inner.base;
    let issuer = inner.discovery_issuer.as_deref().unwrap_or(base);
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "profile", "email", "groups"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "name", "preferred_username", "email", "groups"],
    }))
    .into_response()
}

async fn jwks(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    let mut inner = inner.lock().expect("state");
    record(&mut inner, "/jwks", &BTreeMap::new(), &headers);
    let keys: Vec<Value> = inner.keys.iter().map(Key::jwk).collect();
    axum::Json(json!({ "keys": keys })).into_response()
}

async fn authorize(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Query(params): Query<BTreeMap<String, String>>,
) -> Response {
    let mut inner = inner.lock().expect("state");
    record(&mut inner, "/authorize", &params, &headers);
    let (Some(client_id), Some(redirect_uri)) =
        (params.get("client_id"), params.get("redirect_uri"))
    else {
        return (
            StatusCode::BAD_REQUEST,
            "client_id and redirect_uri are required",
        )
            .into_response();
    };
    let authorization = Authorization {
        client_id: client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        state: params.get("state").cloned(),
        nonce: params.get("nonce").cloned(),
        scope: params.get("scope").cloned(),
        code_challenge: params.get("code_challenge").cloned(),
        code_challenge_method: params.get("code_challenge_method").cloned(),
        code: random_string(),
    };
    let location = match inner.next_redirect.take() {
        Some(redirect) => redirect(&authorization),
        None => {
            let mut url = url::Url::parse(redirect_uri).expect("an absolute redirect_uri");
            url.query_pairs_mut()
                .append_pair("code", &authorization.code);
            if let Some(state) = &authorization.state {
                url.query_pairs_mut().append_pair("state", state);
            }
            url.to_string()
        }
    };
    inner.authorizations.push((authorization, false));
    Redirect::to(&location).into_response()
}

/// An OAuth error answer (RFC 6749 section 5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

async fn token(
    State(inner): State<Shared>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<BTreeMap<String, String>>,
) -> Response {
    let mut inner = inner.lock().expect("state");
    record(&mut inner, "/token", &form, &headers);

    // The client: Basic (RFC 6749 2.3.1: each part form-urlencoded) or
    // client_secret_post; never both.
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .map(|encoded| {
            let decoded = STANDARD.decode(encoded).unwrap_or_default();
            let decoded = String::from_utf8_lossy(&decoded).into_owned();
            let (id, secret) = decoded.split_once(':').unwrap_or((&decoded, ""));
            let unescape = |part: &str| {
                form_urlencoded::parse(format!("x={part}").as_bytes())
                    .next()
                    .map(|(_, value)| value.into_owned())
                    .unwrap_or_default()
            };
            (unescape(id), unescape(secret))
        });
    let posted = form.get("client_secret").map(|secret| {
        (
            form.get("client_id").cloned().unwrap_or_default(),
            secret.clone(),
        )
    });
    let (client_id, secret) = match (basic, posted) {
        (Some(_), Some(_)) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "one client authentication method only",
            );
        }
        (Some(credentials), None) | (None, Some(credentials)) => credentials,
        (None, None) => {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication required",
            );
        }
    };
    if client_id != inner.client_id || secret != inner.client_secret {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "authorization_code only",
        );
    }

    // The code: known, this client's, not used before (a second use is
    // refused, as RFC 6749 4.1.2 requires), for the same redirect URI.
    let code = form.get("code").cloned().unwrap_or_default();
    let issued = inner
        .authorizations
        .iter_mut()
        .find(|(a, _)| a.code == code);
    let Some((authorization, used)) = issued else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown code");
    };
    if std::mem::replace(used, true) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "code already used",
        );
    }
    let authorization = authorization.clone();
    if authorization.client_id != client_id {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "code of another client",
        );
    }
    if form.get("redirect_uri") != Some(&authorization.redirect_uri) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri mismatch",
        );
    }

    // PKCE (RFC 7636 4.6): S256 of the verifier is the recorded challenge.
    let verifier = form.get("code_verifier");
    match (&authorization.code_challenge, verifier) {
        (None, None) => {}
        (Some(challenge), Some(verifier)) => {
            let method_ok = authorization.code_challenge_method.as_deref() == Some("S256");
            let shape_ok = (43..=128).contains(&verifier.len());
            let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
            if !method_ok || !shape_ok || URL_SAFE_NO_PAD.encode(digest) != *challenge {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "PKCE verification failed",
                );
            }
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "PKCE verification failed",
            );
        }
    }

    let shape = std::mem::take(&mut inner.next_token);
    let id_token = id_token(&inner, &authorization, &shape);
    let access_token = random_string();
    inner.access_tokens.push(access_token.clone());
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "scope": authorization.scope,
            "id_token": id_token,
        })),
    )
        .into_response()
}

async fn userinfo(State(inner): State<Shared>, headers: HeaderMap) -> Response {
    let mut inner = inner.lock().expect("state");
    record(&mut inner, "/userinfo", &BTreeMap::new(), &headers);
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if !bearer.is_some_and(|token| inner.access_tokens.iter().any(|t| t == token)) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        )
            .into_response();
    }
    axum::Json(person_claims(&inner.person)).into_response()
}

// ---------------------------------------------------------------------------
// ID tokens.

fn person_claims(person: &Person) -> Map<String, Value> {
    let Value::Object(claims) = json!({
        "sub": person.sub,
        "preferred_username": person.preferred_username,
        "name": person.name,
        "email": person.email,
        "groups": person.groups,
    }) else {
        unreachable!("an object literal")
    };
    claims
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970");
    i64::try_from(since.as_secs()).expect("seconds fit")
}

/// The ID token for `authorization`: valid claims with `shape`'s changes,
/// signed as `shape` says.
fn id_token(inner: &Inner, authorization: &Authorization, shape: &TokenShape) -> String {
    let mut claims = person_claims(&inner.person);
    let now = now();
    claims.insert("iss".to_owned(), json!(inner.base));
    claims.insert("aud".to_owned(), json!(authorization.client_id));
    claims.insert("exp".to_owned(), json!(now + TOKEN_LIFETIME));
    claims.insert("iat".to_owned(), json!(now));
    if let Some(nonce) = &authorization.nonce {
        claims.insert("nonce".to_owned(), json!(nonce));
    }
    for (name, value) in &shape.claims {
        if value.is_null() {
            claims.remove(name);
        } else {
            claims.insert(name.clone(), value.clone());
        }
    }
    let signing_key = inner.keys.last().expect("a signing key");
    let (alg, kid) = match shape.signing {
        Signing::AlgNone => ("none", None),
        Signing::Hs256ClientSecret => ("HS256", None),
        Signing::UnknownKid => ("RS256", Some("fake-key-never-published")),
        Signing::Valid | Signing::Tampered | Signing::UnpublishedKey => {
            ("RS256", Some(signing_key.kid.as_str()))
        }
    };
    // `alg: none` as attackers send it: `{"alg":"none"}` alone.
    let mut header = json!({ "alg": alg });
    if alg != "none" {
        header["typ"] = json!("JWT");
    }
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
    );
    let signature = match shape.signing {
        Signing::Valid | Signing::UnknownKid => signing_key.sign(signing_input.as_bytes()),
        Signing::Tampered => {
            let mut signature = signing_key.sign(signing_input.as_bytes());
            for byte in &mut signature[..8] {
                *byte ^= 0xff;
            }
            signature
        }
        Signing::UnpublishedKey => inner.unpublished.sign(signing_input.as_bytes()),
        Signing::AlgNone => Vec::new(),
        Signing::Hs256ClientSecret => {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, inner.client_secret.as_bytes());
            ring::hmac::sign(&key, signing_input.as_bytes())
                .as_ref()
                .to_vec()
        }
    };
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// 32 random bytes, base64url: a code, an access token; a PKCE verifier, a
/// state or a nonce.
pub fn random_string() -> String {
    URL_SAFE_NO_PAD.encode(rand::rng().random::<[u8; 32]>())
}

/// The header and payload of a JWT, not verified: for assertions on what a
/// provider issued.
pub fn decode_unverified(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let mut part = |what: &str| {
        let encoded = parts
            .next()
            .unwrap_or_else(|| panic!("a JWT {what}: {jwt}"));
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .unwrap_or_else(|e| panic!("base64url JWT {what}: {e}"));
        serde_json::from_slice::<Value>(&bytes).unwrap_or_else(|e| panic!("JSON JWT {what}: {e}"))
    };
    (part("header"), part("payload"))
}
