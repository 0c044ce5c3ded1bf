//! Revocation racing requests on another replica. The guarantee: a request
//! that starts after a revoking mutation has returned is judged by the new
//! state on every replica, whatever that replica was doing — answering from
//! memory in a tight loop, cut off from its notifications or from the whole
//! database, or paused past its lease.
//!
//! On SQLite one server holds the database (a second is refused), so the
//! tight loops there run against the server that makes the change; cut
//! listeners, partitions and pauses are PostgreSQL's (ignored, with that reason,
//! without `KEYWARD_TEST_POSTGRES_URL`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::{StatusCode, header};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::backend::{self, Backend, TestDatabase, postgres_host, run_on};
use crate::helpers::*;
use crate::process::{ServerProcess, signal};
use crate::proxy::Proxy;

/// Races per case.
const TRIALS: usize = 20;
/// Requests each loop makes after the mutation returned, at least.
const AFTER: usize = 5;
/// The lease a replica holds (`keyward::LEASE`), and the most a revoking
/// mutation may wait for a replica that does not answer: the lease, the
/// margin for clock rates (0.5 s) and a second of slack for a loaded machine.
const LEASE: Duration = keyward::store::LEASE;
const MUTATION_BOUND: Duration = Duration::from_millis(3_000 + 500 + 1_000);

/// Which state a reply was judged by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Judged {
    Old,
    New,
    /// Neither (an error): never acceptable after the mutation returned.
    Other,
}

/// One request of a loop, and how to read its reply.
#[derive(Clone)]
struct Probe {
    path: String,
    auth: Auth,
    /// A session cookie (`keyward_session=…`), sent instead of `auth`.
    session: Option<String>,
    /// The document a GraphQL endpoint is sent (other paths are GETs).
    query: String,
    judge: fn(&Reply) -> Judged,
}

impl Probe {
    fn new(path: impl Into<String>, auth: &Auth, judge: fn(&Reply) -> Judged) -> Self {
        Self {
            path: path.into(),
            auth: auth.clone(),
            session: None,
            query: "{ __typename }".to_owned(),
            judge,
        }
    }

    /// A probe that authenticates with the session cookie `cookie`, from
    /// keyward's own pages (as the console would: a POST with the cookie
    /// alone must be same-origin).
    fn session(path: impl Into<String>, cookie: &str, judge: fn(&Reply) -> Judged) -> Self {
        Self {
            session: Some(cookie.to_owned()),
            ..Self::new(path, &Auth::None, judge)
        }
    }

    /// This probe, sending `query` instead of `{ __typename }`.
    fn asking(self, query: impl Into<String>) -> Self {
        Self {
            query: query.into(),
            ..self
        }
    }

    async fn send(&self, client: &reqwest::Client, base: &str) -> Reply {
        let url = format!("{base}{}", self.path);
        let request = if self.path.ends_with("/graphql") {
            client.post(url).json(&json!({ "query": self.query }))
        } else {
            client.get(url)
        };
        let request = request.timeout(Duration::from_secs(30));
        let request = match &self.session {
            Some(cookie) => request
                .header(header::COOKIE, cookie)
                .header("sec-fetch-site", "same-origin"),
            None => with_auth(request, &self.auth),
        };
        send(request).await
    }
}

/// Let in while the key (or anonymity) is valid, refused after: as
/// unauthenticated, or, once its failures add up, as throttled.
fn revoked(reply: &Reply) -> Judged {
    match reply.status {
        StatusCode::OK => Judged::Old,
        StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS => Judged::New,
        _ => Judged::Other,
    }
}

/// Found while the project exists, NOT_FOUND once it is deleted.
fn gone(reply: &Reply) -> Judged {
    match reply.status {
        StatusCode::OK => Judged::Old,
        StatusCode::NOT_FOUND => Judged::New,
        _ => Judged::Other,
    }
}

/// Refused while access control is on, let in once it is off.
fn opened(reply: &Reply) -> Judged {
    match reply.status {
        StatusCode::UNAUTHORIZED => Judged::Old,
        StatusCode::OK => Judged::New,
        _ => Judged::Other,
    }
}

/// Let in while a member of the endpoint's project, refused once not: as
/// outside it (FORBIDDEN, what a key of another project is told, or
/// NOT_FOUND: which one is the authorization tests' to say).
fn outside(reply: &Reply) -> Judged {
    match reply.status {
        StatusCode::OK => Judged::Old,
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => Judged::New,
        _ => Judged::Other,
    }
}

/// `project` found while a member, null once not.
fn unseen(reply: &Reply) -> Judged {
    if reply.status != StatusCode::OK || reply.body.get("errors").is_some() {
        return Judged::Other;
    }
    match &reply.body["data"]["project"] {
        Value::Object(_) => Judged::Old,
        Value::Null => Judged::New,
        _ => Judged::Other,
    }
}

/// Let in while the role suffices, FORBIDDEN once it does not.
fn demoted(reply: &Reply) -> Judged {
    match reply.status {
        StatusCode::OK => Judged::Old,
        StatusCode::FORBIDDEN => Judged::New,
        _ => Judged::Other,
    }
}

/// A key creation that gets past the role check (and stops at its empty
/// name, writing nothing) while the role allows it, FORBIDDEN once not.
fn key_creation_forbidden(reply: &Reply) -> Judged {
    match reply.codes().as_slice() {
        [code] if code == "BAD_USER_INPUT" => Judged::Old,
        [code] if code == "FORBIDDEN" => Judged::New,
        _ => Judged::Other,
    }
}

/// What the loops saw in one trial.
#[derive(Default)]
struct Outcome {
    /// Requests started after the mutation had returned, and how each was
    /// judged.
    after: Vec<Judged>,
    /// How requests answered before the mutation was sent were judged.
    before: Vec<Judged>,
}

/// Runs `probes` in tight loops against `base` (one loop per probe, each on
/// its own connection) while `mutate` runs, until every loop has made
/// [`AFTER`] requests that started after `mutate` returned. Returns how long
/// `mutate` took, and what the loops saw.
async fn race<F>(
    base: &str,
    probes: &[Probe],
    from_memory: Option<&TestApp>,
    mutate: F,
) -> (Duration, Outcome)
where
    F: Future<Output = ()>,
{
    let returned_at: Arc<std::sync::OnceLock<Instant>> = Arc::default();
    let started = Arc::new(AtomicUsize::new(0));
    let loops: Vec<_> = probes
        .iter()
        .cloned()
        .map(|probe| {
            let (base, returned_at, started) = (
                base.to_owned(),
                Arc::clone(&returned_at),
                Arc::clone(&started),
            );
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut seen = Vec::new();
                let mut after = 0;
                let mut sent = 0;
                while after < AFTER {
                    let at = Instant::now();
                    let reply = probe.send(&client, &base).await;
                    let judged = (probe.judge)(&reply);
                    sent += 1;
                    if sent == 2 {
                        started.fetch_add(1, Ordering::AcqRel);
                    }
                    // Compared with when the mutation was sent and returned
                    // as this test saw them: a request that started later by
                    // this clock started later at the server too.
                    if returned_at.get().is_some_and(|&returned| at > returned) {
                        after += 1;
                    }
                    seen.push((at, Instant::now(), judged, reply));
                }
                seen
            })
        })
        .collect();
    // Every loop gets going (its first request may read what it needs, a
    // project say), then they run on memory alone: B sends no statement.
    while started.load(Ordering::Acquire) < probes.len() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    if let Some(b) = from_memory {
        let before = b.request_statements();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            b.request_statements(),
            before,
            "B read the database while racing"
        );
    }
    let sent = Instant::now();
    mutate.await;
    let returned = Instant::now();
    let _ = returned_at.set(returned);
    let mut outcome = Outcome::default();
    for handle in loops {
        for (started, answered, judged, reply) in handle.await.expect("a loop") {
            if started > returned {
                assert_ne!(
                    judged,
                    Judged::Other,
                    "an error after the change: {reply:?}"
                );
                outcome.after.push(judged);
            } else if answered < sent {
                // Answered before the mutation was sent (one merely started
                // before it may be judged after it committed).
                assert_ne!(
                    judged,
                    Judged::New,
                    "the new state before the change was sent: {reply:?}"
                );
                outcome.before.push(judged);
            }
        }
    }
    (returned - sent, outcome)
}

/// Asserts that the loops saw the old state before the change and nothing
/// but the new one after it.
#[track_caller]
fn assert_exact(case: &str, trial: usize, probes: &[Probe], outcome: &Outcome) {
    assert!(
        !outcome.before.is_empty() && outcome.before.iter().all(|&j| j == Judged::Old),
        "{case}, trial {trial}: before the change, the loops saw {:?}",
        outcome.before
    );
    let stale = outcome.after.iter().filter(|&&j| j == Judged::Old).count();
    assert_eq!(
        stale,
        0,
        "{case}, trial {trial}: {stale} of {} requests started after the mutation returned were judged by the old state",
        outcome.after.len()
    );
    assert!(outcome.after.len() >= probes.len() * AFTER);
}

/// Two replicas of one database, in this process (so that the test can see
/// that B answers from memory); on SQLite, the one server twice.
async fn replicas() -> (TestApp, TestApp) {
    let a = racing_server().await;
    let b = a.replica().await;
    (a, b)
}

/// A server for racing loops: the loops fail by the hundred once a key is
/// revoked, from one address, which must not throttle the administrator
/// (a revoked key itself is still throttled, and that counts as refused).
async fn racing_server() -> TestApp {
    TestApp::spawn_with(|config| {
        config.limits.auth_failures_per_address = 1_000_000;
    })
    .await
}

/// B's server (on SQLite, B is A's server, whose counters A's handle holds).
fn server_of<'a>(a: &'a TestApp, b: &'a TestApp) -> &'a TestApp {
    match backend::current() {
        Backend::Sqlite => a,
        Backend::Postgres => b,
    }
}

/// Whether B answers from memory.
fn answers_from_memory(a: &TestApp, b: &TestApp) -> bool {
    server_of(a, b).auth_state_trusted()
}

/// Waits (at most 10 s) until B answers from memory: right after start its
/// lease may not be renewed yet.
async fn until_answering_from_memory(a: &TestApp, b: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !answers_from_memory(a, b) {
        assert!(Instant::now() < deadline, "B never answered from memory");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The probes of a key: `/verify` and `{ __typename }` (both answered from
/// memory once the key is verified), and the key's project endpoint (which
/// reads its project).
fn key_probes(key: &TestKey, judge: fn(&Reply) -> Judged) -> Vec<Probe> {
    let auth = key.auth();
    vec![
        Probe::new("/verify", &auth, judge),
        Probe::new("/graphql", &auth, judge),
        Probe::new(format!("/projects/{}/verify", key.project_id), &auth, judge),
        Probe::new(
            format!("/projects/{}/graphql", key.project_id),
            &auth,
            judge,
        ),
    ]
}

async fn deactivated_key_is_refused_by_every_request_started_after_the_mutation() {
    let (a, b) = replicas().await;
    a.enable_access_control().await;
    let project = a.default_project(&Auth::admin()).await;
    for trial in 0..TRIALS {
        let key = a.create_key(&Auth::admin(), &project, "MEMBER").await;
        b.ok("{ __typename }", json!({}), &key.auth()).await;
        until_answering_from_memory(&a, &b).await;
        let probes = key_probes(&key, revoked);
        let (_, outcome) = race(&b.url(""), &probes, Some(server_of(&a, &b)), async {
            a.ok(
                SET_STATE,
                json!({ "i": { "id": key.id, "state": "INACTIVE" } }),
                &Auth::admin(),
            )
            .await;
        })
        .await;
        assert_exact("deactivation", trial, &probes, &outcome);
    }
}

async fn deleted_project_keys_are_refused_by_every_request_started_after_the_mutation() {
    let (a, b) = replicas().await;
    a.enable_access_control().await;
    for trial in 0..TRIALS {
        let project = a.create_project(&Auth::admin(), &format!("p{trial}")).await;
        let key = a.create_key(&Auth::admin(), &project, "OWNER").await;
        b.ok("{ __typename }", json!({}), &key.auth()).await;
        until_answering_from_memory(&a, &b).await;
        let mut probes = key_probes(&key, revoked);
        // The administrator reaches every project: the remembered project
        // itself must be gone.
        probes.push(Probe::new(
            format!("/projects/{project}/graphql"),
            &Auth::admin(),
            gone,
        ));
        let (_, outcome) = race(&b.url(""), &probes, Some(server_of(&a, &b)), async {
            a.ok(
                DELETE_PROJECT,
                json!({ "i": { "id": project } }),
                &Auth::admin(),
            )
            .await;
        })
        .await;
        assert_exact("project deletion", trial, &probes, &outcome);
    }
}

async fn access_control_holds_both_ways_from_every_request_started_after_the_mutation() {
    let (a, b) = replicas().await;
    let anonymous = [
        Probe::new("/verify", &Auth::None, revoked),
        Probe::new("/graphql", &Auth::None, revoked),
    ];
    for trial in 0..TRIALS {
        // Turned on: anonymous requests are refused.
        until_answering_from_memory(&a, &b).await;
        let (_, outcome) = race(
            &b.url(""),
            &anonymous,
            Some(server_of(&a, &b)),
            a.enable_access_control(),
        )
        .await;
        assert_exact("access control turned on", trial, &anonymous, &outcome);

        // Turned off: they are let in again.
        until_answering_from_memory(&a, &b).await;
        let opening = anonymous.clone().map(|probe| Probe {
            judge: opened,
            ..probe
        });
        let (_, outcome) = race(&b.url(""), &opening, Some(server_of(&a, &b)), async {
            a.ok(
                "mutation { disableAccessControl { enabled } }",
                json!({}),
                &Auth::admin(),
            )
            .await;
        })
        .await;
        assert_exact("access control turned off", trial, &opening, &outcome);
    }
}

/// A person's password in these races.
const PASSWORD: &str = "a password of a person";

/// A person, member of `project`, with their Basic credentials and two
/// browser sessions (`signOutEverywhere` must end every one).
struct Person {
    id: String,
    project: String,
    basic: Auth,
    sessions: [String; 2],
}

impl Person {
    /// Creates user `username` on `a` and makes them a `role` member of
    /// `project`; they sign in twice.
    async fn join(a: &TestApp, username: &str, project: &str, role: &str) -> Self {
        let created = a
            .ok(
                "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } } }",
                json!({ "i": { "username": username, "password": PASSWORD, "administrator": false } }),
                &Auth::admin(),
            )
            .await;
        let id = id_of(&created["createUser"]["user"]);
        a.ok(
            "mutation($i: ProjectMemberInput!) { addProjectMember(input: $i) { member { role } } }",
            json!({ "i": { "projectId": project, "userId": id, "role": role } }),
            &Auth::admin(),
        )
        .await;
        Self {
            id,
            project: project.to_owned(),
            basic: Auth::basic(username, PASSWORD),
            sessions: [sign_in(a, username).await, sign_in(a, username).await],
        }
    }

    /// `/projects/{project}/{rest}`: an endpoint of their project.
    fn project_path(&self, rest: &str) -> String {
        format!("/projects/{}/{rest}", self.project)
    }

    /// `{ project(id: …) { id } }` about their project.
    fn project_query(&self) -> String {
        format!("{{ project(id: \"{}\") {{ id }} }}", self.project)
    }
}

/// Signs `username` in on `app`; returns the cookie (`keyward_session=…`).
async fn sign_in(app: &TestApp, username: &str) -> String {
    let reply = send(
        app.client
            .post(app.url("/auth/sign-in"))
            .json(&json!({ "username": username, "password": PASSWORD })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.starts_with("keyward_session="))
        .unwrap_or_else(|| panic!("a keyward_session cookie: {reply:?}"))
        .to_owned()
}

/// What an administrator does to a person (on A) while they are at work
/// (on B).
#[derive(Clone, Copy, Debug)]
enum Change {
    /// `removeProjectMember`: the project is no longer theirs.
    RemoveMembership,
    /// `setProjectMemberRole`, OWNER to READ_ONLY.
    LowerRole,
    /// `setUserState` DISABLED.
    Disable,
    /// `deleteUser`: only a DISABLED user can be deleted, so deleting
    /// someone at work is disabling them then deleting them, and the
    /// requests judged are those started after the deletion returned.
    Delete,
    /// `resetUserPassword`: the old password, and every session, end.
    ResetPassword,
    /// `signOutEverywhere`: every session ends (the password stays).
    SignOutEverywhere,
}

impl Change {
    async fn apply(self, a: &TestApp, person: &Person) {
        let admin = Auth::admin();
        let (project, user) = (&person.project, &person.id);
        let set_state =
            "mutation($i: SetUserStateInput!) { setUserState(input: $i) { user { state } } }";
        let disable = json!({ "i": { "id": user, "state": "DISABLED" } });
        match self {
            Self::RemoveMembership => a.ok(
                "mutation($i: RemoveProjectMemberInput!) { removeProjectMember(input: $i) { removedUserId } }",
                json!({ "i": { "projectId": project, "userId": user } }),
                &admin,
            ),
            Self::LowerRole => a.ok(
                "mutation($i: ProjectMemberInput!) { setProjectMemberRole(input: $i) { member { role } } }",
                json!({ "i": { "projectId": project, "userId": user, "role": "READ_ONLY" } }),
                &admin,
            ),
            Self::Disable => a.ok(set_state, disable, &admin),
            Self::Delete => {
                a.ok(set_state, disable, &admin).await;
                a.ok(
                    "mutation($i: DeleteUserInput!) { deleteUser(input: $i) { deletedUserId } }",
                    json!({ "i": { "id": user } }),
                    &admin,
                )
            }
            Self::ResetPassword => a.ok(
                "mutation($i: ResetUserPasswordInput!) { resetUserPassword(input: $i) { user { id } } }",
                json!({ "i": { "id": user, "password": "another password of a person" } }),
                &admin,
            ),
            Self::SignOutEverywhere => a.ok(
                "mutation($i: SignOutEverywhereInput!) { signOutEverywhere(input: $i) { user { id } } }",
                json!({ "i": { "userId": user } }),
                &admin,
            ),
        }
        .await;
    }
}

/// The probes of a person who is let in, then refused: with Basic
/// credentials and both sessions, at the API's and their project's
/// endpoints (`/verify` names no project, and judges no person).
fn refused_person_probes(person: &Person) -> Vec<Probe> {
    let [first, second] = &person.sessions;
    vec![
        Probe::new("/graphql", &person.basic, revoked),
        Probe::new(person.project_path("verify"), &person.basic, revoked),
        Probe::new(person.project_path("graphql"), &person.basic, revoked),
        Probe::session("/graphql", first, revoked),
        Probe::session(person.project_path("verify"), second, revoked),
    ]
}

/// The requests a person makes in a race.
type PersonProbes = fn(&Person) -> Vec<Probe>;

/// Each change, the role the person holds before it, and what their
/// requests show of it: every request is one B answers from memory.
const PERSON_CHANGES: [(Change, &str, PersonProbes); 6] = [
    (Change::RemoveMembership, "MEMBER", |person| {
        let [first, second] = &person.sessions;
        vec![
            Probe::new(person.project_path("verify"), &person.basic, outside),
            Probe::session(person.project_path("graphql"), first, outside),
            Probe::new("/graphql", &person.basic, unseen).asking(person.project_query()),
            Probe::session("/graphql", second, unseen).asking(person.project_query()),
        ]
    }),
    (Change::LowerRole, "OWNER", |person| {
        let [first, second] = &person.sessions;
        let create_owner_key = format!(
            "mutation {{ createApiKey(input: {{ projectId: \"{}\", name: \"\", role: OWNER }}) {{ secretKey }} }}",
            person.project
        );
        vec![
            Probe::new(
                person.project_path("verify?role=OWNER"),
                &person.basic,
                demoted,
            ),
            Probe::session(person.project_path("verify?role=MEMBER"), first, demoted),
            Probe::new("/graphql", &person.basic, key_creation_forbidden)
                .asking(create_owner_key.clone()),
            Probe::session("/graphql", second, key_creation_forbidden).asking(create_owner_key),
        ]
    }),
    (Change::Disable, "MEMBER", refused_person_probes),
    (Change::Delete, "MEMBER", refused_person_probes),
    (Change::ResetPassword, "MEMBER", refused_person_probes),
    (Change::SignOutEverywhere, "MEMBER", |person| {
        let [first, second] = &person.sessions;
        vec![
            Probe::session("/graphql", first, revoked),
            Probe::session(person.project_path("verify"), first, revoked),
            Probe::session(person.project_path("graphql"), second, revoked),
            Probe::session("/graphql", second, revoked),
        ]
    }),
];

async fn a_change_to_a_person_holds_from_every_request_they_start_after_the_mutation() {
    let (a, b) = replicas().await;
    a.enable_access_control().await;
    let project = a.default_project(&Auth::admin()).await;
    for (change, role, probes) in PERSON_CHANGES {
        for trial in 0..TRIALS {
            let person = Person::join(&a, &format!("{change:?}{trial}"), &project, role).await;
            // B verifies the password and both sessions, and remembers them.
            b.ok("{ __typename }", json!({}), &person.basic).await;
            for cookie in &person.sessions {
                let reply = Probe::session("/graphql", cookie, revoked)
                    .send(&b.client, &b.url(""))
                    .await;
                assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
            }
            until_answering_from_memory(&a, &b).await;
            let probes = probes(&person);
            let (_, outcome) = race(
                &b.url(""),
                &probes,
                Some(server_of(&a, &b)),
                change.apply(&a, &person),
            )
            .await;
            assert_exact(&format!("{change:?}"), trial, &probes, &outcome);
        }
    }
}

/// Like `on_every_backend!`, on a multi-threaded runtime: the loops, the
/// mutation and (on PostgreSQL) each replica's listener and lease really
/// run at once.
macro_rules! racing_on_every_backend {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::backend::run_on($crate::backend::Backend::Sqlite, super::$name()).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[cfg_attr(
                    not(keyward_postgres),
                    ignore = "needs PostgreSQL: set KEYWARD_TEST_POSTGRES_URL"
                )]
                async fn $name() {
                    $crate::backend::run_on($crate::backend::Backend::Postgres, super::$name()).await
                }
            )+
        }
    };
}

racing_on_every_backend!(
    deactivated_key_is_refused_by_every_request_started_after_the_mutation,
    deleted_project_keys_are_refused_by_every_request_started_after_the_mutation,
    access_control_holds_both_ways_from_every_request_started_after_the_mutation,
    a_change_to_a_person_holds_from_every_request_they_start_after_the_mutation,
);

/// A replica B on `a`'s PostgreSQL database that reaches it only through a
/// proxy the test controls.
async fn replica_behind_a_proxy(a: &TestApp) -> (TestApp, Proxy) {
    let proxy = Proxy::start(postgres_host(a.database_url()).1).await;
    let proxied = backend::through_proxy(a.database_url(), proxy.addr);
    let b = a
        .replica_with(|config| {
            config.database_url = proxied;
            config.database.db_connect_timeout_ms = 1_000;
        })
        .await;
    (b, proxy)
}

/// The proxy port of B's listening connection (other than `except`), as
/// PostgreSQL sees it.
async fn listening_port(a: &TestApp, proxy: &Proxy, except: Option<u16>) -> u16 {
    let db = Database::connect(a.database_url()).await.expect("connect");
    // The listener probes its connection every 10 s, and gives up on it
    // after the database's time limit.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT client_port FROM pg_stat_activity \
                 WHERE datname = current_database() AND query ILIKE 'LISTEN%keyward_auth%'",
            ))
            .await
            .expect("pg_stat_activity");
        let ports = proxy.upstream_ports();
        let found = rows
            .iter()
            .filter_map(|row| row.try_get::<i32>("", "client_port").ok())
            .filter_map(|port| u16::try_from(port).ok())
            .find(|port| ports.contains(port) && Some(*port) != except);
        if let Some(port) = found {
            let _ = db.close().await;
            return port;
        }
        assert!(Instant::now() < deadline, "B never listened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn deactivate(a: &TestApp, key: &TestKey) -> Duration {
    let sent = Instant::now();
    a.ok(
        SET_STATE,
        json!({ "i": { "id": key.id, "state": "INACTIVE" } }),
        &Auth::admin(),
    )
    .await;
    sent.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(keyward_postgres),
    ignore = "needs PostgreSQL: set KEYWARD_TEST_POSTGRES_URL"
)]
async fn a_replica_whose_listening_connection_is_cut_still_refuses_a_revoked_key_at_once() {
    run_on(Backend::Postgres, async {
        let a = racing_server().await;
        a.enable_access_control().await;
        let (b, proxy) = replica_behind_a_proxy(&a).await;
        let project = a.default_project(&Auth::admin()).await;
        let keys = [
            a.create_key(&Auth::admin(), &project, "MEMBER").await,
            a.create_key(&Auth::admin(), &project, "MEMBER").await,
        ];
        for key in &keys {
            b.ok("{ __typename }", json!({}), &key.auth()).await;
        }
        until_answering_from_memory(&a, &b).await;

        // B's notifications stop arriving, and B cannot tell: its listening
        // connection stays open, as across a partition.
        let frozen = listening_port(&a, &proxy, None).await;
        assert!(proxy.freeze(frozen));
        let probes = key_probes(&keys[0], revoked);
        let (took, outcome) = race(&b.url(""), &probes, Some(&b), async {
            assert!(deactivate(&a, &keys[0]).await < MUTATION_BOUND);
        })
        .await;
        assert!(took < MUTATION_BOUND, "the mutation took {took:?}");
        assert_exact("deactivation, listener cut", 0, &probes, &outcome);
        // B still serves the other key.
        b.ok("{ __typename }", json!({}), &keys[1].auth()).await;

        // B notices the dead connection when it next probes it, listens
        // again on a new one, and then answers from memory again.
        listening_port(&a, &proxy, Some(frozen)).await;
        until_answering_from_memory(&a, &b).await;
        let took = deactivate(&a, &keys[1]).await;
        assert!(took < MUTATION_BOUND, "the mutation took {took:?}");
        b.gql("{ __typename }", json!({}), &keys[1].auth())
            .await
            .assert_unauthenticated();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(keyward_postgres),
    ignore = "needs PostgreSQL: set KEYWARD_TEST_POSTGRES_URL"
)]
async fn a_partitioned_replica_never_serves_a_revoked_key_and_the_mutation_returns_within_the_lease()
 {
    run_on(Backend::Postgres, async {
        let a = racing_server().await;
        a.enable_access_control().await;
        let (b, proxy) = replica_behind_a_proxy(&a).await;
        let project = a.default_project(&Auth::admin()).await;
        let key = a.create_key(&Auth::admin(), &project, "MEMBER").await;
        b.ok("{ __typename }", json!({}), &key.auth()).await;
        until_answering_from_memory(&a, &b).await;

        // Every connection of B goes silent; new ones are refused.
        proxy.freeze_all();
        let took = deactivate(&a, &key).await;
        assert!(took < MUTATION_BOUND, "the mutation took {took:?}");
        // From now on B has stopped trusting its memory, and cannot reach
        // the database: it refuses or fails, and never lets the key in.
        assert!(!b.auth_state_trusted());
        let reply = b.gql("{ __typename }", json!({}), &key.auth()).await;
        assert_ne!(reply.status, StatusCode::OK, "{reply:?}");

        // Healed: B catches up before it trusts its memory again.
        proxy.restore();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !b.auth_state_trusted() {
            assert!(Instant::now() < deadline, "B never recovered");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        b.gql("{ __typename }", json!({}), &key.auth())
            .await
            .assert_unauthenticated();
    })
    .await;
}

/// Stops a process until dropped (SIGSTOP, then SIGCONT), so that a failing
/// test never leaves a stopped server behind.
struct Paused(u32);

impl Paused {
    fn pause(pid: u32) -> Self {
        signal(pid, "-STOP");
        Self(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        signal(self.0, "-CONT");
    }
}

#[tokio::test]
#[cfg_attr(
    not(keyward_postgres),
    ignore = "needs PostgreSQL: set KEYWARD_TEST_POSTGRES_URL"
)]
async fn a_replica_paused_past_its_lease_refuses_keys_revoked_meanwhile_on_its_first_request() {
    run_on(Backend::Postgres, async {
        let database = TestDatabase::fresh(Backend::Postgres).await;
        let a = ServerProcess::start(&database.url);
        let b = ServerProcess::start(&database.url);
        a.ok(
            "mutation($i: EnableAccessControlInput!) { enableAccessControl(input: $i) { enabled } }",
            json!({ "i": { "username": ADMIN.0, "password": ADMIN.1 } }),
            &Auth::None,
        )
        .await;
        let project = a
            .ok(
                "{ projects(first: 1) { edges { node { id } } } }",
                json!({}),
                &Auth::admin(),
            )
            .await;
        let project = id_of(&project["projects"]["edges"][0]["node"]);
        let mut keys = Vec::new();
        for name in ["revoked while B's lease was live", "revoked after", "kept"] {
            let created = a
                .ok(
                    CREATE_KEY,
                    json!({ "i": { "projectId": project, "name": name } }),
                    &Auth::admin(),
                )
                .await;
            let key = key_from(&created);
            b.ok("{ __typename }", json!({}), &key.auth()).await;
            keys.push(key);
        }
        // B's lease is renewed every second: wait for one with all three.
        tokio::time::sleep(Duration::from_millis(1_500)).await;

        let paused = Paused::pause(b.pid());
        // B's lease is live: the mutation waits for it to run out.
        let took = timed(a.ok(
            SET_STATE,
            json!({ "i": { "id": keys[0].id, "state": "INACTIVE" } }),
            &Auth::admin(),
        ))
        .await;
        assert!(took < MUTATION_BOUND, "the mutation took {took:?}");
        // B renewed at most a second before the pause, for LEASE: the
        // mutation could not return before that lease ran out.
        assert!(
            took >= LEASE - Duration::from_millis(1_500),
            "the mutation returned in {took:?}, while B's lease was live"
        );
        // Past B's lease: nothing to wait for.
        tokio::time::sleep(LEASE).await;
        let took = timed(a.ok(
            SET_STATE,
            json!({ "i": { "id": keys[1].id, "state": "INACTIVE" } }),
            &Auth::admin(),
        ))
        .await;
        assert!(took < Duration::from_secs(1), "the mutation took {took:?}");
        drop(paused);

        // B's first requests after it resumes, before its next renewal.
        let first: Vec<Reply> = futures_join(&b, &keys).await;
        assert_eq!(first[0].status, StatusCode::UNAUTHORIZED, "{:?}", first[0]);
        assert_eq!(first[1].status, StatusCode::UNAUTHORIZED, "{:?}", first[1]);
        assert_eq!(first[2].status, StatusCode::OK, "{:?}", first[2]);
    })
    .await;
}

async fn timed(work: impl Future<Output = Value>) -> Duration {
    let sent = Instant::now();
    work.await;
    sent.elapsed()
}

/// One `{ __typename }` per key, all sent at once.
async fn futures_join(b: &ServerProcess, keys: &[TestKey]) -> Vec<Reply> {
    let auths: Vec<Auth> = keys.iter().map(TestKey::auth).collect();
    let replies = auths
        .iter()
        .map(|auth| b.gql("{ __typename }", json!({}), auth));
    futures::future::join_all(replies).await
}
