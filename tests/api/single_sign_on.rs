//! Signing in through an OpenID provider, as a person with a browser meets
//! it: the provider's ID token is checked as OpenID Connect Core says, and
//! every token, state or code that should not sign anyone in signs no one
//! in, creates no user, and ends on the sign-in page saying what failed;
//! people are created at their first sign-in, let in or kept out by the
//! access mode, and act in projects through their groups; `return_to`
//! never leads off keyward and its allowed hosts; `/verify` lets signed-in
//! people through to the tools behind a proxy.
//!
//! The provider here is one the test controls (`oidc_fake`), so that it can
//! issue every kind of wrong token; `a_person_signs_in_through_a_certified_provider`
//! signs in through a real one (`oidc_provider`).

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use serde_json::{Value, json};
use url::Url;

use crate::backend::on_every_backend;
use crate::helpers::*;
use crate::oidc_fake::{FakeProvider, Person, Signing, TokenShape};

on_every_backend!(
    a_person_is_created_at_their_first_sign_in_and_found_again_at_the_next,
    groups_give_roles_and_removing_a_group_holds_from_the_next_request,
    each_access_mode_lets_in_whom_it_says_and_creates_no_user_for_the_others,
);

const CLIENT_ID: &str = "keyward-test";
const CLIENT_SECRET: &str = "client-secret-never-shown";
const CREATE_PROVIDER: &str = "mutation($i: CreateIdentityProviderInput!) { \
     createIdentityProvider(input: $i) { identityProvider { id name } } }";
const ADD_GROUP: &str = "mutation($p: ID!, $g: String!, $r: Role!) { \
     addProjectGroup(input: {projectId: $p, group: $g, role: $r}) { __typename } }";
const REMOVE_GROUP: &str = "mutation($p: ID!, $g: String!) { \
     removeProjectGroup(input: {projectId: $p, group: $g}) { __typename } }";
const USERS: &str = "{ users(first: 100) { edges { node { id username displayName groups \
     identities { provider subject } } } } }";

/// A server with access control on and provider `corp` pointing at `fake`.
async fn app_with_provider(fake: &FakeProvider) -> TestApp {
    let app = TestApp::spawn_with(|config| {
        config.sign_in.return_hosts = vec!["tools.example".to_owned()];
    })
    .await;
    app.enable_access_control().await;
    app.ok(
        CREATE_PROVIDER,
        json!({ "i": {
            "name": "corp",
            "issuerUrl": fake.issuer(),
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
        } }),
        &Auth::admin(),
    )
    .await;
    app
}

/// Where a sign-in ended: the last `Location` keyward sent, and the browser
/// (with its cookies) that followed it there.
struct Ended {
    location: String,
    browser: reqwest::Client,
    /// The callback URL the provider sent the browser back to.
    callback: Option<Url>,
}

impl Ended {
    /// The `signInError` code of a sign-in that failed.
    fn error(&self) -> Option<String> {
        let url = Url::parse("http://keyward.invalid")
            .and_then(|base| base.join(&self.location))
            .ok()?;
        url.query_pairs()
            .find(|(name, _)| name == "signInError")
            .map(|(_, code)| code.into_owned())
    }
}

fn location(headers: &HeaderMap) -> String {
    headers
        .get(header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Signs in through `corp` as a browser does, starting at keyward with
/// `return_to` (if any): keyward → provider → keyward's callback → wherever
/// keyward sends the browser last.
async fn sign_in(app: &TestApp, return_to: Option<&str>) -> Ended {
    let browser = crate::oidc_provider::browser();
    let mut start = Url::parse(&app.url("/auth/oidc/corp/start")).unwrap();
    if let Some(return_to) = return_to {
        start.query_pairs_mut().append_pair("return_to", return_to);
    }
    let first = browser.get(start).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::SEE_OTHER, "start redirects");
    let to_provider = location(first.headers());
    if !to_provider.starts_with("http") {
        return Ended {
            location: to_provider,
            browser,
            callback: None,
        };
    }
    let at_provider = browser.get(&to_provider).send().await.unwrap();
    assert!(
        at_provider.status().is_redirection(),
        "the fake provider answers at once"
    );
    let callback = Url::parse(&location(at_provider.headers())).unwrap();
    let back = browser.get(callback.clone()).send().await.unwrap();
    assert_eq!(
        back.status(),
        StatusCode::SEE_OTHER,
        "the callback redirects"
    );
    Ended {
        location: location(back.headers()),
        browser,
        callback: Some(callback),
    }
}

async fn usernames(app: &TestApp) -> Vec<String> {
    let data = app.ok(USERS, json!({}), &Auth::admin()).await;
    data["users"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["username"].as_str().unwrap().to_owned())
        .collect()
}

/// GraphQL as the browser, with its session cookie.
async fn as_browser(
    app: &TestApp,
    browser: &reqwest::Client,
    query: &str,
    variables: Value,
) -> Value {
    browser
        .post(app.url("/graphql"))
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn a_person_is_created_at_their_first_sign_in_and_found_again_at_the_next() {
    let fake = FakeProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let app = app_with_provider(&fake).await;
    let ended = sign_in(&app, Some("/projects")).await;
    assert_eq!(ended.error(), None, "{}", ended.location);
    assert_eq!(ended.location, "/projects");
    let viewer = as_browser(
        &app,
        &ended.browser,
        "{ viewer { kind user { username displayName groups identities { provider subject } } } }",
        json!({}),
    )
    .await;
    assert_eq!(viewer["data"]["viewer"]["kind"], "USER", "{viewer}");
    let user = &viewer["data"]["viewer"]["user"];
    assert_eq!(user["username"], "ada");
    assert_eq!(user["displayName"], "Ada Lovelace");
    assert_eq!(user["groups"], json!(["engineering"]));
    assert_eq!(
        user["identities"],
        json!([{ "provider": "corp", "subject": "fake-subject-1" }])
    );

    // The same subject is the same user, whatever its username says now;
    // a new subject with a taken username gets a username made unique.
    fake.set_person(Person {
        preferred_username: "ada-renamed".into(),
        groups: vec!["engineering".into(), "platform".into()],
        ..Person::default()
    });
    let again = sign_in(&app, None).await;
    assert_eq!(again.error(), None);
    fake.set_person(Person {
        sub: "fake-subject-2".into(),
        ..Person::default()
    });
    let other = sign_in(&app, None).await;
    assert_eq!(other.error(), None);
    assert_eq!(usernames(&app).await, ["admin", "ada", "ada-2"]);
    let viewer = as_browser(
        &app,
        &again.browser,
        "{ viewer { user { username groups } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        viewer["data"]["viewer"]["user"],
        json!({ "username": "ada", "groups": ["engineering", "platform"] }),
        "groups are as of the last sign-in"
    );

    // The trail says who signed up, through which provider; the client
    // secret is nowhere.
    let trail = app
        .ok(
            "{ auditEvents(first: 50) { edges { node { action actorUsername targetUsername targetProvider } } } }",
            json!({}),
            &Auth::admin(),
        )
        .await;
    let signed_up: Vec<&Value> = trail["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| &edge["node"])
        .filter(|event| event["action"] == "USER_SIGNED_UP")
        .collect();
    assert_eq!(signed_up.len(), 2, "{trail}");
    assert_eq!(signed_up[0]["targetProvider"], "corp");
    assert!(!trail.to_string().contains(CLIENT_SECRET));
}

/// Every token a provider must not be believed about: refused with the
/// check it failed, no user created, the browser left without a session.
#[tokio::test]
async fn tokens_failing_any_check_sign_no_one_in() {
    let fake = FakeProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let app = app_with_provider(&fake).await;
    let now = crate::oidc_fake::now();
    let cases: Vec<(&str, TokenShape, &str)> = vec![
        (
            "another issuer",
            TokenShape::claims(json!({ "iss": "https://evil.example" })),
            "id_token_issuer",
        ),
        (
            "another audience",
            TokenShape::claims(json!({ "aud": "someone-else" })),
            "id_token_audience",
        ),
        (
            "several audiences, no azp",
            TokenShape::claims(json!({ "aud": [CLIENT_ID, "someone-else"] })),
            "id_token_audience",
        ),
        (
            "several audiences, azp another client",
            TokenShape::claims(
                json!({ "aud": [CLIENT_ID, "someone-else"], "azp": "someone-else" }),
            ),
            "id_token_audience",
        ),
        (
            "expired",
            TokenShape::claims(json!({ "exp": now - 600, "iat": now - 900 })),
            "id_token_expired",
        ),
        (
            "issued in the future",
            TokenShape::claims(json!({ "iat": now + 3600 })),
            "id_token_issued_in_future",
        ),
        (
            "another sign-in's nonce",
            TokenShape::claims(json!({ "nonce": "not-this-one" })),
            "id_token_nonce",
        ),
        (
            "no nonce",
            TokenShape::claims(json!({ "nonce": null })),
            "id_token_nonce",
        ),
        (
            "a tampered signature",
            TokenShape::signed(Signing::Tampered),
            "id_token_signature",
        ),
        (
            "alg none",
            TokenShape::signed(Signing::AlgNone),
            "id_token_signature",
        ),
        (
            "a key the JWKS does not have",
            TokenShape::signed(Signing::UnpublishedKey),
            "id_token_signature",
        ),
        (
            "a kid the JWKS does not list",
            TokenShape::signed(Signing::UnknownKid),
            "id_token_signature",
        ),
        (
            "HS256 keyed with the client secret",
            TokenShape::signed(Signing::Hs256ClientSecret),
            "id_token_signature",
        ),
    ];
    for (what, shape, code) in cases {
        fake.set_next_token(shape);
        let ended = sign_in(&app, None).await;
        assert_eq!(
            ended.error().as_deref(),
            Some(code),
            "{what}: {}",
            ended.location
        );
        let session = ended
            .browser
            .get(app.url("/auth/session"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            session.status(),
            StatusCode::UNAUTHORIZED,
            "{what}: no session"
        );
    }
    assert_eq!(usernames(&app).await, ["admin"], "no user was created");

    // Several audiences with this client as the authorized party is a
    // valid token (Core §3.1.3.7).
    fake.set_next_token(TokenShape::claims(
        json!({ "aud": [CLIENT_ID, "someone-else"], "azp": CLIENT_ID }),
    ));
    assert_eq!(sign_in(&app, None).await.error(), None);
}

/// A sign-in is finished only by the browser that started it: someone who
/// starts one as themself and gets another browser to open its callback
/// (login CSRF) signs nobody in there, and their own sign-in still works.
#[tokio::test]
async fn a_sign_in_is_finished_only_by_the_browser_that_started_it() {
    let fake = FakeProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let app = app_with_provider(&fake).await;
    let attacker = crate::oidc_provider::browser();
    let started = attacker
        .get(app.url("/auth/oidc/corp/start"))
        .send()
        .await
        .unwrap();
    let at_provider = attacker
        .get(location(started.headers()))
        .send()
        .await
        .unwrap();
    let callback = location(at_provider.headers());

    let victim = crate::oidc_provider::browser();
    let answer = victim.get(&callback).send().await.unwrap();
    assert_eq!(location(answer.headers()), "/?signInError=state_invalid");
    let session = victim.get(app.url("/auth/session")).send().await.unwrap();
    assert_eq!(
        session.status(),
        StatusCode::UNAUTHORIZED,
        "the victim is not signed in"
    );

    let answer = attacker.get(&callback).send().await.unwrap();
    assert_eq!(
        location(answer.headers()),
        "/",
        "the starter's own sign-in goes on"
    );
    let session = attacker.get(app.url("/auth/session")).send().await.unwrap();
    assert_eq!(session.status(), StatusCode::OK);
    let again = attacker.get(&callback).send().await.unwrap();
    assert_eq!(
        location(again.headers()),
        "/?signInError=state_invalid",
        "used once"
    );
}

/// A state is used once, a forged one is nobody's, a code is exchanged
/// once; the provider's own refusal is reported without its words.
#[tokio::test]
async fn states_and_codes_are_used_once() {
    let fake = FakeProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let app = app_with_provider(&fake).await;
    let ended = sign_in(&app, None).await;
    assert_eq!(ended.error(), None);
    let callback = ended.callback.unwrap();

    let replayed = crate::oidc_provider::browser()
        .get(callback.clone())
        .send()
        .await
        .unwrap();
    let replayed = location(replayed.headers());
    assert_eq!(
        replayed, "/?signInError=state_invalid",
        "a replayed callback"
    );

    let mut forged = callback.clone();
    let code = callback
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code.into_owned())
        .unwrap();
    forged
        .query_pairs_mut()
        .clear()
        .append_pair("code", &code)
        .append_pair("state", "forged-state");
    let answer = crate::oidc_provider::browser()
        .get(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(
        location(answer.headers()),
        "/?signInError=state_invalid",
        "a forged state"
    );

    // The provider issues the code it issued before: the token endpoint
    // refuses it, as providers do.
    let used = code.clone();
    fake.set_next_redirect(move |authorization| {
        format!(
            "{}?code={used}&state={}",
            authorization.redirect_uri,
            authorization.state.clone().unwrap_or_default()
        )
    });
    assert_eq!(
        sign_in(&app, None).await.error().as_deref(),
        Some("code_refused")
    );

    fake.set_next_redirect(|authorization| {
        format!(
            "{}?error=access_denied&error_description=%3Cscript%3E&state={}",
            authorization.redirect_uri,
            authorization.state.clone().unwrap_or_default()
        )
    });
    let denied = sign_in(&app, None).await;
    assert_eq!(
        denied.location, "/?signInError=provider_denied",
        "the provider's words stay out"
    );
    assert_eq!(usernames(&app).await, ["admin", "ada"]);
}

/// A provider that rotated its keys signs the next token with a key keyward
/// has not fetched yet: keyward fetches the keys again and believes it.
#[tokio::test]
async fn keys_rotated_by_the_provider_are_fetched_again() {
    let fake = FakeProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let app = app_with_provider(&fake).await;
    assert_eq!(sign_in(&app, None).await.error(), None);
    fake.rotate_keys();
    fake.retire_old_keys();
    assert_eq!(
        sign_in(&app, None).await.error(),
        None,
        "signed with the new key"
    );
}

/// `return_to` leads back to keyward or an allowed host, never elsewhere,
/// however it is spelled.
#[tokio::test]
async fn return_to_never_leads_off_keyward_and_its_allowed_hosts() {
    let fake = FakeProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let app = app_with_provider(&fake).await;
    let own = app.url("/console");
    let cases = [
        ("/projects?tab=keys", "/projects?tab=keys"),
        (own.as_str(), own.as_str()),
        (
            "https://tools.example/grafana/",
            "https://tools.example/grafana/",
        ),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("\\\\evil.example", "/"),
        ("javascript:alert(document.cookie)", "/"),
        ("https://tools.example@evil.example/", "/"),
        ("https://tools.example.evil.example/", "/"),
        ("%2F%2Fevil.example", "/"),
        (" https://evil.example", "/"),
        ("https:/\\evil.example", "/"),
    ];
    // After a sign-in through the provider, and straight from the sign-in
    // door for proxies (a browser with a session is sent on at once).
    let signed_in = sign_in(&app, None).await.browser;
    for (return_to, expected) in cases {
        let ended = sign_in(&app, Some(return_to)).await;
        assert_eq!(ended.location, expected, "{return_to:?} after a sign-in");
        let mut door = Url::parse(&app.url("/auth/sign-in")).unwrap();
        door.query_pairs_mut().append_pair("return_to", return_to);
        let answer = signed_in.get(door.clone()).send().await.unwrap();
        assert_eq!(
            location(answer.headers()),
            expected,
            "{return_to:?} at the door"
        );
        let stranger = crate::oidc_provider::browser()
            .get(door)
            .send()
            .await
            .unwrap();
        let page = location(stranger.headers());
        let expected_page = format!(
            "/?returnTo={}",
            form_urlencoded::byte_serialize(expected.as_bytes()).collect::<String>()
        );
        assert_eq!(page, expected_page, "{return_to:?} to the sign-in page");
    }
}

async fn groups_give_roles_and_removing_a_group_holds_from_the_next_request() {
    let fake = FakeProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let app = app_with_provider(&fake).await;
    let project = app.create_project(&Auth::admin(), "Payments").await;
    app.ok(
        ADD_GROUP,
        json!({ "p": project, "g": "engineering", "r": "MEMBER" }),
        &Auth::admin(),
    )
    .await;
    let browser = sign_in(&app, None).await.browser;

    // Through their group, the person is a MEMBER: they create a MEMBER key.
    let created = as_browser(
        &app,
        &browser,
        CREATE_KEY,
        json!({ "i": { "projectId": project, "name": "ci", "role": "MEMBER" } }),
    )
    .await;
    assert!(created["errors"].is_null(), "{created}");

    // `/verify` lets them through to the project's tools, and says who
    // they are.
    let verify = |path: String| {
        let browser = browser.clone();
        async move { browser.get(path).send().await.unwrap() }
    };
    let passed = verify(app.url(&format!("/projects/{project}/verify"))).await;
    assert_eq!(passed.status(), StatusCode::OK);
    let header_of = |name: &str| {
        passed
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("<missing>")
            .to_owned()
    };
    assert_eq!(header_of("x-keyward-kind"), "USER");
    assert_eq!(header_of("x-keyward-username"), "ada");
    assert_eq!(header_of("x-keyward-groups"), "engineering");
    assert_eq!(header_of("x-keyward-role"), "MEMBER");
    assert!(
        header_of("x-keyward-user-id").starts_with("VXNlcj"),
        "a User id"
    );
    assert_eq!(header_of("x-keyward-key-id"), "", "set, and empty");
    let owner_only = verify(app.url(&format!("/projects/{project}/verify?role=OWNER"))).await;
    assert_eq!(owner_only.status(), StatusCode::FORBIDDEN);
    // Without a project, a person reads.
    assert_eq!(verify(app.url("/verify")).await.status(), StatusCode::OK);
    let write = browser.post(app.url("/verify")).send().await.unwrap();
    assert_eq!(
        write.status(),
        StatusCode::FORBIDDEN,
        "a person writes only where a project says so"
    );

    app.ok(
        REMOVE_GROUP,
        json!({ "p": project, "g": "engineering" }),
        &Auth::admin(),
    )
    .await;
    let refused = verify(app.url(&format!("/projects/{project}/verify"))).await;
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "the very next request"
    );
    let hidden = as_browser(
        &app,
        &browser,
        "query($id: ID!) { node(id: $id) { id } }",
        json!({ "id": project }),
    )
    .await;
    assert_eq!(
        hidden["data"]["node"],
        Value::Null,
        "the project is gone from their view"
    );
}

async fn each_access_mode_lets_in_whom_it_says_and_creates_no_user_for_the_others() {
    let fake = FakeProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let app = app_with_provider(&fake).await;
    let set_mode = |mode: &'static str, groups: Vec<&'static str>| {
        let app = &app;
        async move {
            app.ok(
                "mutation($m: AccessMode!, $g: [String!]) { \
                 setAccessMode(input: {mode: $m, allowedUsers: [], allowedGroups: $g}) { __typename } }",
                json!({ "m": mode, "g": groups }),
                &Auth::admin(),
            )
            .await
        }
    };
    let person = |sub: &str, groups: &[&str]| Person {
        sub: sub.to_owned(),
        preferred_username: sub.to_owned(),
        groups: groups.iter().map(|group| (*group).to_owned()).collect(),
        ..Person::default()
    };

    set_mode("REQUIRED", vec!["platform"]).await;
    fake.set_person(person("outsider", &["engineering"]));
    assert_eq!(
        sign_in(&app, None).await.error().as_deref(),
        Some("not_allowed")
    );
    fake.set_person(person("insider", &["platform"]));
    assert_eq!(sign_in(&app, None).await.error(), None);

    // RESTRICTED: also members of a project, here through a group.
    set_mode("RESTRICTED", vec!["platform"]).await;
    fake.set_person(person("member", &["payments-team"]));
    assert_eq!(
        sign_in(&app, None).await.error().as_deref(),
        Some("not_allowed")
    );
    let project = app.create_project(&Auth::admin(), "Payments").await;
    app.ok(
        ADD_GROUP,
        json!({ "p": project, "g": "payments-team", "r": "READ_ONLY" }),
        &Auth::admin(),
    )
    .await;
    assert_eq!(sign_in(&app, None).await.error(), None);

    set_mode("UNRESTRICTED", vec![]).await;
    fake.set_person(person("anyone", &[]));
    assert_eq!(sign_in(&app, None).await.error(), None);
    let mut users = usernames(&app).await;
    users.sort();
    assert_eq!(
        users,
        ["admin", "anyone", "insider", "member"],
        "no user for the refused"
    );
}

/// A sign-in through a real, certified provider (npm's oidc-provider), with
/// its own login form: the person is created with their groups.
#[tokio::test]
#[cfg_attr(
    not(keyward_oidc),
    ignore = "needs Node.js and tests/oidc's packages (npm ci --prefix tests/oidc)"
)]
async fn a_person_signs_in_through_a_certified_provider() {
    use crate::oidc_provider::{OidcClient, RealProvider, User};
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let provider = RealProvider::start(
        vec![OidcClient {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            redirect_uris: vec![app.url("/auth/oidc/corp/callback")],
        }],
        vec![User {
            sub: "grace-sub".into(),
            username: "grace".into(),
            password: "hopper-1906".into(),
            name: "Grace Hopper".into(),
            email: "grace@example.com".into(),
            groups: vec!["navy".into(), "compilers".into()],
        }],
    )
    .await;
    app.ok(
        CREATE_PROVIDER,
        json!({ "i": {
            "name": "corp",
            "issuerUrl": provider.issuer(),
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "scopes": ["openid", "profile", "email", "groups"],
        } }),
        &Auth::admin(),
    )
    .await;
    let browser = crate::oidc_provider::browser();
    let signed_in = crate::oidc_provider::sign_in_through(
        &browser,
        &app.url("/auth/oidc/corp/start?return_to=%2Fwelcome"),
        "grace",
        "hopper-1906",
    )
    .await;
    assert_eq!(signed_in.final_url().path(), "/welcome", "{signed_in:?}");
    let viewer = as_browser(
        &app,
        &browser,
        "{ viewer { kind user { username displayName groups } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        viewer["data"]["viewer"],
        json!({ "kind": "USER", "user": {
            "username": "grace",
            "displayName": "Grace Hopper",
            "groups": ["compilers", "navy"],
        } }),
        "{viewer}"
    );
}
