//! One table: every root field of the schema, and the project's fields with
//! rules of their own, as every kind of caller (keys, people, administrators,
//! a disabled user, no one) with the outcome the roles table
//! (`docs/graphql.md`) says. The fields are enumerated from the schema
//! itself, so a new query or mutation without an entry here fails. A refused
//! mutation must leave everything as it was.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(every_root_field_allows_and_refuses_each_caller_as_the_roles_table_says);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Caller {
    Anonymous,
    WrongSecret,
    HomeOwner,
    HomeMember,
    HomeReadOnly,
    OtherOwner,
    OtherMember,
    OtherReadOnly,
    /// Users who are members of the home project, with each role.
    UserOwner,
    UserMember,
    UserReadOnly,
    /// A user who is an OWNER member of the other project only.
    UserOutsider,
    /// A DISABLED user, an OWNER member of the home project.
    DisabledUser,
    /// A user made an administrator by `createUser` (a member of nothing).
    Administrator,
    /// The first administrator, made by `enableAccessControl`.
    Admin,
}

use Caller::*;

/// The administrators go last: one of their cases turns access control off
/// and on.
const CALLERS: [Caller; 15] = [
    Anonymous,
    WrongSecret,
    HomeOwner,
    HomeMember,
    HomeReadOnly,
    OtherOwner,
    OtherMember,
    OtherReadOnly,
    UserOwner,
    UserMember,
    UserReadOnly,
    UserOutsider,
    DisabledUser,
    Administrator,
    Admin,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Succeeds, and the home project's object is in the answer.
    Allowed,
    /// Succeeds, but the home project's object is absent (null / not listed).
    Hidden,
    /// HTTP 401.
    Unauthenticated,
    /// A GraphQL error with this code.
    Code(&'static str),
}

use Outcome::*;

const PASSWORD: &str = "a password of a person";
const NEW_PASSWORD: &str = "another password of a person";

/// What a caller may do in the home project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// An administrator.
    Full,
    Owner,
    Member,
    ReadOnly,
    /// Nothing: a key or a member of the other project.
    Outside,
}

fn is_key(caller: Caller) -> bool {
    matches!(
        caller,
        HomeOwner | HomeMember | HomeReadOnly | OtherOwner | OtherMember | OtherReadOnly
    )
}

/// Every rule starts here: no credentials, wrong ones and a DISABLED user's
/// are turned away whatever they ask.
fn at_the_door(caller: Caller, rule: impl FnOnce(Standing) -> Outcome) -> Outcome {
    let standing = match caller {
        Anonymous | WrongSecret | DisabledUser => return Unauthenticated,
        Admin | Administrator => Standing::Full,
        HomeOwner | UserOwner => Standing::Owner,
        HomeMember | UserMember => Standing::Member,
        HomeReadOnly | UserReadOnly => Standing::ReadOnly,
        OtherOwner | OtherMember | OtherReadOnly | UserOutsider => Standing::Outside,
    };
    rule(standing)
}

/// The roles table for actions on the home project's keys of `target_role`.
fn manage_key(caller: Caller, target_role: &str) -> Outcome {
    at_the_door(caller, |standing| match standing {
        Standing::Full | Standing::Owner => Allowed,
        Standing::Member if target_role != "OWNER" => Allowed,
        Standing::Member | Standing::ReadOnly => Code("FORBIDDEN"),
        Standing::Outside => Code("NOT_FOUND"),
    })
}

/// Reading the home project, its keys, trail and members.
fn read(caller: Caller) -> Outcome {
    at_the_door(caller, |standing| match standing {
        Standing::Outside => Hidden,
        _ => Allowed,
    })
}

/// Server-wide actions, and people's accounts.
fn admin_only(caller: Caller, admin: Outcome) -> Outcome {
    at_the_door(caller, |standing| match standing {
        Standing::Full => admin,
        _ => Code("FORBIDDEN"),
    })
}

/// What only administrators see: hidden, not refused, from everyone else.
fn seen_by_admins(caller: Caller) -> Outcome {
    at_the_door(caller, |standing| match standing {
        Standing::Full => Allowed,
        _ => Hidden,
    })
}

/// `updateProject`, and managing the home project's webhooks.
fn owner_only(caller: Caller) -> Outcome {
    at_the_door(caller, |standing| match standing {
        Standing::Full | Standing::Owner => Allowed,
        Standing::Member | Standing::ReadOnly => Code("FORBIDDEN"),
        Standing::Outside => Code("NOT_FOUND"),
    })
}

/// Reading the home project's webhooks (through `project`, which is null
/// for those who cannot see it) or one by `node` (null unless allowed).
fn read_webhooks(caller: Caller, by_node: bool) -> Outcome {
    match owner_only(caller) {
        Code("NOT_FOUND") => Hidden,
        Code(_) if by_node => Hidden,
        outcome => outcome,
    }
}

/// Managing the home project's members: administrators and its OWNER
/// members; never a key.
fn manage_members(caller: Caller) -> Outcome {
    match owner_only(caller) {
        Allowed if is_key(caller) => Code("FORBIDDEN"),
        outcome => outcome,
    }
}

/// What any signed-in person does for themself (`changePassword`, their
/// own display name and sessions), and `createProject`: never a key.
fn people_only(caller: Caller) -> Outcome {
    at_the_door(caller, |_| {
        if is_key(caller) {
            Code("FORBIDDEN")
        } else {
            Allowed
        }
    })
}

fn everyone(caller: Caller) -> Outcome {
    at_the_door(caller, |_| Allowed)
}

/// What `viewer.kind` says for each caller.
fn viewer_kind(caller: Caller) -> &'static str {
    match caller {
        Admin | Administrator => "ADMIN",
        caller if is_key(caller) => "API_KEY",
        _ => "USER",
    }
}

fn username(caller: Caller) -> String {
    match caller {
        Admin => ADMIN.0.to_owned(),
        caller => format!("{caller:?}").to_lowercase(),
    }
}

fn password(caller: Caller) -> &'static str {
    match caller {
        Admin => ADMIN.1,
        _ => PASSWORD,
    }
}

struct World {
    home: String,
    other: String,
    /// A READ_ONLY key of the home project, looked up by id.
    home_key: String,
    /// A webhook of the home project, looked up and changed by id.
    hook: String,
    keys: BTreeMap<Caller, TestKey>,
    /// Each person's user id.
    people: BTreeMap<Caller, String>,
    /// A user who is a member of nothing: whom the user mutations target.
    victim: String,
    /// A READ_ONLY member of the home project: whose role changes and
    /// membership is removed.
    bystander: String,
    /// The issuer of a discovery server keyward can use.
    issuer: String,
    /// An identity provider ("home-sso"), looked up and changed by id.
    provider: String,
}

impl World {
    fn auth(&self, caller: Caller) -> Auth {
        match caller {
            Anonymous => Auth::None,
            WrongSecret => Auth::basic(&self.keys[&HomeOwner].access_key, &"0".repeat(40)),
            caller if is_key(caller) => self.keys[&caller].auth(),
            person => Auth::basic(&username(person), password(person)),
        }
    }

    /// The user a caller's own-account cases name: themself, or for those
    /// who are no one, the victim.
    fn own_id(&self, caller: Caller) -> &str {
        self.people.get(&caller).unwrap_or(&self.victim)
    }
}

const ROOT_FIELDS: &str =
    "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }";
const CREATE_USER: &str =
    "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } } }";
const UPDATE_USER: &str =
    "mutation($i: UpdateUserInput!) { updateUser(input: $i) { user { id } } }";
const SET_USER_STATE: &str =
    "mutation($i: SetUserStateInput!) { setUserState(input: $i) { user { id } } }";
const RESET_PASSWORD: &str =
    "mutation($i: ResetUserPasswordInput!) { resetUserPassword(input: $i) { user { id } } }";
const CHANGE_PASSWORD: &str =
    "mutation($i: ChangePasswordInput!) { changePassword(input: $i) { user { id } } }";
const DELETE_USER: &str =
    "mutation($i: DeleteUserInput!) { deleteUser(input: $i) { deletedUserId } }";
const SIGN_OUT_EVERYWHERE: &str =
    "mutation($i: SignOutEverywhereInput!) { signOutEverywhere(input: $i) { user { id } } }";
const ADD_MEMBER: &str =
    "mutation($i: ProjectMemberInput!) { addProjectMember(input: $i) { member { role } } }";
const SET_ROLE: &str =
    "mutation($i: ProjectMemberInput!) { setProjectMemberRole(input: $i) { member { role } } }";
const REMOVE_MEMBER: &str = "mutation($i: RemoveProjectMemberInput!) {
    removeProjectMember(input: $i) { removedUserId } }";
const CREATE_WEBHOOK: &str =
    "mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } } }";
const CREATE_PROVIDER: &str = "mutation($i: CreateIdentityProviderInput!) {
    createIdentityProvider(input: $i) { identityProvider { id } } }";
const ADD_GROUP: &str =
    "mutation($i: ProjectGroupInput!) { addProjectGroup(input: $i) { groupMember { role } } }";
const SET_GROUP_ROLE: &str =
    "mutation($i: ProjectGroupInput!) { setProjectGroupRole(input: $i) { groupMember { role } } }";
const REMOVE_GROUP: &str =
    "mutation($i: RemoveProjectGroupInput!) { removeProjectGroup(input: $i) { removedGroup } }";
const ENABLE: &str =
    "mutation($i: EnableAccessControlInput!) { enableAccessControl(input: $i) { enabled } }";
/// Everything a mutation of the table could change, as an administrator
/// sees it: the access mode, identity providers, projects and people (with
/// their identities), then each of the two projects' keys, webhooks and
/// members, people and groups (in parts, each under the complexity limit).
const EVERYTHING: [&str; 4] = [
    "{ accessControl { enabled mode allowedUsers allowedGroups }
        identityProviders { id name issuerUrl clientId scopes usernameClaim groupsClaim enabled }
        projects(first: 50) { totalCount edges { node { id name description } } }
        users(first: 50) { totalCount edges { node { id username displayName administrator state
            identities { provider subject } } } } }",
    "query($id: ID!) { project(id: $id) {
        apiKeys(first: 100) { totalCount edges { node { id name description state role } } } } }",
    "query($id: ID!) { project(id: $id) { webhooks { id url description enabled actions } } }",
    "query($id: ID!) { project(id: $id) {
        members(first: 50) { totalCount edges { node { role user { id } } } }
        groupMembers { group role } } }",
];

async fn every_root_field_allows_and_refuses_each_caller_as_the_roles_table_says() {
    // Throttling has its own tests; here the wrong-secret caller and the
    // disabled user must keep getting 401s and lock nothing out.
    let app = TestApp::spawn_with(|config| {
        config.limits.auth_failures_per_key = 10_000;
        config.limits.auth_failures_per_address = 10_000;
        config.webhooks.allow_private_networks = true;
    })
    .await;
    app.enable_access_control().await;
    let discovery = crate::single_sign_on_admin::Discovery::start().await;
    let world = world(&app, &discovery).await;

    let data = app.ok(ROOT_FIELDS, json!({}), &Auth::admin()).await;
    let in_schema: BTreeSet<String> = ["queryType", "mutationType"]
        .iter()
        .flat_map(|root| {
            data["__schema"][root]["fields"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|field| field["name"].as_str().map(str::to_owned))
        .collect();
    let in_table: BTreeSet<String> = [
        "node",
        "nodes",
        "viewer",
        "accessControl",
        "projects",
        "project",
        "auditEvents",
        "users",
        "enableAccessControl",
        "disableAccessControl",
        "createProject",
        "updateProject",
        "deleteProject",
        "createApiKey",
        "setKeyState",
        "renameKey",
        "rotateKey",
        "deleteKey",
        "createWebhook",
        "updateWebhook",
        "deleteWebhook",
        "redeliverWebhookEvent",
        "createUser",
        "updateUser",
        "setUserState",
        "resetUserPassword",
        "changePassword",
        "deleteUser",
        "signOutEverywhere",
        "addProjectMember",
        "setProjectMemberRole",
        "removeProjectMember",
        "identityProviders",
        "createIdentityProvider",
        "updateIdentityProvider",
        "deleteIdentityProvider",
        "linkUserIdentity",
        "setAccessMode",
        "addProjectGroup",
        "setProjectGroupRole",
        "removeProjectGroup",
    ]
    .iter()
    .map(|name| (*name).to_owned())
    .collect();
    assert_eq!(
        in_schema, in_table,
        "every root field needs an entry in this table"
    );

    let mut table = Table {
        app: &app,
        world: &world,
        caller: Anonymous,
        auth: Auth::None,
        mismatches: Vec::new(),
        state: None,
        spares: BTreeMap::new(),
        spare_count: 0,
    };
    for caller in CALLERS {
        table.caller = caller;
        table.auth = world.auth(caller);
        table.run_cases().await;
    }
    assert!(
        table.mismatches.is_empty(),
        "{} mismatches:\n{}",
        table.mismatches.len(),
        table.mismatches.join("\n")
    );
}

/// The projects, keys, webhook and people the cases act on.
async fn world(app: &TestApp, discovery: &crate::single_sign_on_admin::Discovery) -> World {
    let admin = Auth::admin();
    let home = app.default_project(&admin).await;
    let other = app.create_project(&admin, "other").await;
    let mut keys = BTreeMap::new();
    for (caller, project, role) in [
        (HomeOwner, &home, "OWNER"),
        (HomeMember, &home, "MEMBER"),
        (HomeReadOnly, &home, "READ_ONLY"),
        (OtherOwner, &other, "OWNER"),
        (OtherMember, &other, "MEMBER"),
        (OtherReadOnly, &other, "READ_ONLY"),
    ] {
        keys.insert(caller, app.create_key(&admin, project, role).await);
    }
    let home_key = app.create_key(&admin, &home, "READ_ONLY").await.id;
    let hook = app
        .ok(
            CREATE_WEBHOOK,
            json!({ "i": { "projectId": home, "url": "http://127.0.0.1:9/hook" } }),
            &admin,
        )
        .await["createWebhook"]["webhook"]["id"]
        .clone();
    let hook = hook.as_str().expect("a webhook id").to_owned();

    let mut people = BTreeMap::new();
    let data = app
        .ok("{ viewer { user { id } } }", json!({}), &admin)
        .await;
    people.insert(Admin, id_of(&data["viewer"]["user"]));
    people.insert(
        Administrator,
        create_user(app, &username(Administrator), true).await,
    );
    for (caller, project, role) in [
        (UserOwner, &home, "OWNER"),
        (UserMember, &home, "MEMBER"),
        (UserReadOnly, &home, "READ_ONLY"),
        (UserOutsider, &other, "OWNER"),
        (DisabledUser, &home, "OWNER"),
    ] {
        let id = create_user(app, &username(caller), false).await;
        add_member(app, project, &id, role).await;
        people.insert(caller, id);
    }
    set_user_state(app, &people[&DisabledUser], "DISABLED").await;
    let victim = create_user(app, "victim", false).await;
    let bystander = create_user(app, "bystander", false).await;
    add_member(app, &home, &bystander, "READ_ONLY").await;
    let issuer = discovery.issuer("matrix");
    let provider = create_provider(app, "home-sso", &issuer).await;
    app.ok(
        ADD_GROUP,
        json!({ "i": { "projectId": home, "group": "ops", "role": "READ_ONLY" } }),
        &admin,
    )
    .await;
    World {
        home,
        other,
        home_key,
        hook,
        keys,
        people,
        victim,
        bystander,
        issuer,
        provider,
    }
}

async fn create_user(app: &TestApp, username: &str, administrator: bool) -> String {
    let data = app
        .ok(
            CREATE_USER,
            json!({ "i": {
                "username": username, "password": PASSWORD, "administrator": administrator
            } }),
            &Auth::admin(),
        )
        .await;
    id_of(&data["createUser"]["user"])
}

async fn create_provider(app: &TestApp, name: &str, issuer: &str) -> String {
    let data = app
        .ok(
            CREATE_PROVIDER,
            json!({ "i": { "name": name, "issuerUrl": issuer, "clientId": "keyward",
                "clientSecret": "a client secret" } }),
            &Auth::admin(),
        )
        .await;
    id_of(&data["createIdentityProvider"]["identityProvider"])
}

async fn add_member(app: &TestApp, project: &str, user: &str, role: &str) {
    app.ok(
        ADD_MEMBER,
        json!({ "i": { "projectId": project, "userId": user, "role": role } }),
        &Auth::admin(),
    )
    .await;
}

async fn set_user_state(app: &TestApp, user: &str, state: &str) {
    app.ok(
        SET_USER_STATE,
        json!({ "i": { "id": user, "state": state } }),
        &Auth::admin(),
    )
    .await;
}

/// What a spare object is for: used up by the case that succeeds on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Spare {
    /// An ACTIVE key of this role, to rotate.
    Rotatable(&'static str),
    /// An INACTIVE key of this role, to delete.
    Deletable(&'static str),
    /// A webhook of the home project, to delete.
    Webhook,
    /// A project, to delete.
    Project,
    /// A DISABLED user, to delete.
    DisabledUser,
    /// An identity provider, to delete.
    IdentityProvider,
}

/// The cases, run as one caller after another against one world; what a
/// case uses up is made again only when it was used up.
struct Table<'a> {
    app: &'a TestApp,
    world: &'a World,
    caller: Caller,
    auth: Auth,
    mismatches: Vec<String>,
    /// Everything (`EVERYTHING`) as it was after the last change, when known.
    state: Option<Value>,
    spares: BTreeMap<Spare, String>,
    spare_count: usize,
}

impl Table<'_> {
    fn check(&mut self, case: &str, expected: Outcome, actual: Outcome) {
        if expected != actual {
            self.mismatches.push(format!(
                "{case} as {:?}: expected {expected:?}, got {actual:?}",
                self.caller
            ));
        }
    }

    async fn query(
        &mut self,
        case: &str,
        expected: Outcome,
        query: &str,
        variables: Value,
        found: impl Fn(&Value) -> bool,
    ) {
        let reply = self.app.gql(query, variables, &self.auth).await;
        self.check(case, expected, outcome_of(&reply, found));
    }

    /// Sends a mutation, checks its outcome, and that nothing changed if it
    /// was refused. Whether it succeeded.
    async fn mutate(
        &mut self,
        case: &str,
        expected: Outcome,
        query: &str,
        variables: Value,
    ) -> bool {
        let before = match self.state.take() {
            Some(state) => state,
            None => self.everything().await,
        };
        let reply = self.app.gql(query, variables, &self.auth).await;
        let actual = outcome_of(&reply, |_| true);
        self.check(case, expected, actual);
        if actual == Allowed {
            return true;
        }
        let after = self.everything().await;
        if after != before {
            self.mismatches.push(format!(
                "{case} as {:?}: refused ({actual:?}) yet changed something:\nbefore {before}\nafter {after}",
                self.caller
            ));
        }
        self.state = Some(after);
        false
    }

    /// What an administrator sees of everything, and whether the victim can
    /// still sign in with their password.
    async fn everything(&self) -> Value {
        let admin = Auth::admin();
        let mut state = Vec::new();
        for query in EVERYTHING {
            for project in [&self.world.home, &self.world.other] {
                let data = self.app.ok(query, json!({ "id": project }), &admin).await;
                let lists = [&data["projects"], &data["users"]];
                let lists = lists
                    .into_iter()
                    .chain(["apiKeys", "members"].map(|list| &data["project"][list]));
                for list in lists {
                    let total = list["totalCount"].as_i64().unwrap_or_default();
                    assert!(total < 50, "more than a page: {list}");
                }
                state.push(data);
                if !query.contains("$id") {
                    break;
                }
            }
        }
        let victim = Auth::basic("victim", PASSWORD);
        let signs_in = self.app.gql(VIEWER, json!({}), &victim).await.status == 200;
        state.push(json!({ "victimSignsIn": signs_in }));
        Value::Array(state)
    }

    /// A spare object for `what`, made by an administrator if none is left.
    async fn spare(&mut self, what: Spare) -> String {
        if let Some(id) = self.spares.get(&what) {
            return id.clone();
        }
        self.spare_count += 1;
        let (app, admin, home) = (self.app, Auth::admin(), &self.world.home);
        let id = match what {
            Spare::Rotatable(role) => app.create_key(&admin, home, role).await.id,
            Spare::Deletable(role) => {
                let key = app.create_key(&admin, home, role).await;
                app.ok(
                    SET_STATE,
                    json!({ "i": { "id": key.id, "state": "INACTIVE" } }),
                    &admin,
                )
                .await;
                key.id
            }
            Spare::Webhook => {
                let data = app
                    .ok(
                        CREATE_WEBHOOK,
                        json!({ "i": { "projectId": home, "url": "http://127.0.0.1:9/spare" } }),
                        &admin,
                    )
                    .await;
                id_of(&data["createWebhook"]["webhook"])
            }
            Spare::Project => {
                app.create_project(&admin, &format!("spare {}", self.spare_count))
                    .await
            }
            Spare::DisabledUser => {
                let id = create_user(app, &format!("spare {}", self.spare_count), false).await;
                set_user_state(app, &id, "DISABLED").await;
                id
            }
            Spare::IdentityProvider => {
                let name = format!("spare-{}", self.spare_count);
                create_provider(app, &name, &self.world.issuer).await
            }
        };
        self.state = None;
        self.spares.insert(what, id.clone());
        id
    }

    /// An administrator's change putting back what a case changed.
    async fn restore(&mut self, query: &str, variables: Value) {
        self.app.ok(query, variables, &Auth::admin()).await;
        self.state = None;
    }

    async fn run_cases(&mut self) {
        self.run_queries().await;
        self.run_project_and_key_mutations().await;
        self.run_people_mutations().await;
        self.run_single_sign_on_mutations().await;
        self.run_access_control_mutations().await;
    }

    async fn run_queries(&mut self) {
        let caller = self.caller;
        let w = self.world;
        let home = json!(w.home);
        let node = "query($id: ID!) { node(id: $id) { id } }";
        for (case, id, expected) in [
            ("node(Project)", &w.home, read(caller)),
            ("node(ApiKey)", &w.home_key, read(caller)),
            ("node(Webhook)", &w.hook, read_webhooks(caller, true)),
            ("node(User, a member)", &w.bystander, read(caller)),
            (
                "node(User, of no project)",
                &w.victim,
                seen_by_admins(caller),
            ),
        ] {
            let found = |data: &Value| data["node"]["id"] == json!(id);
            self.query(case, expected, node, json!({ "id": id }), found)
                .await;
            let nodes = "query($id: ID!) { nodes(ids: [$id]) { id } }";
            let found = |data: &Value| data["nodes"][0]["id"] == json!(id);
            let case = case.replace("node", "nodes");
            self.query(&case, expected, nodes, json!({ "id": id }), found)
                .await;
        }
        let found = |data: &Value| data["project"]["id"] == home;
        self.query(
            "project",
            read(caller),
            "query($id: ID!) { project(id: $id) { id } }",
            json!({ "id": home }),
            found,
        )
        .await;
        let found = |data: &Value| any_node(&data["projects"], |node| node["id"] == home);
        self.query(
            "projects",
            read(caller),
            "{ projects(first: 100) { edges { node { id } } } }",
            json!({}),
            found,
        )
        .await;
        for (case, field) in [
            (
                "Project.apiKeys",
                "apiKeys(first: 100) { edges { node { id } } }",
            ),
            (
                "Project.auditEvents",
                "auditEvents(first: 1) { edges { node { id } } }",
            ),
            (
                "Project.members",
                "members(first: 100) { edges { node { user { id } } } }",
            ),
            ("Project.webhooks", "webhooks { id }"),
        ] {
            let project = |data: &Value| data["project"].clone();
            let found = |data: &Value| match case {
                "Project.apiKeys" => any_node(&project(data)["apiKeys"], |key| {
                    key["id"] == json!(w.home_key)
                }),
                "Project.auditEvents" => any_node(&project(data)["auditEvents"], |_| true),
                "Project.members" => any_node(&project(data)["members"], |member| {
                    member["user"]["id"] == json!(w.bystander)
                }),
                _ => project(data)["webhooks"]
                    .as_array()
                    .is_some_and(|hooks| hooks.iter().any(|hook| hook["id"] == json!(w.hook))),
            };
            let expected = match case {
                "Project.webhooks" => read_webhooks(caller, false),
                _ => read(caller),
            };
            let query = format!("query($id: ID!) {{ project(id: $id) {{ {field} }} }}");
            self.query(case, expected, &query, json!({ "id": home }), found)
                .await;
        }
        let found = |data: &Value| any_node(&data["users"], |user| user["id"] == json!(w.victim));
        self.query(
            "users",
            admin_only(caller, Allowed),
            "{ users(first: 100) { edges { node { id } } } }",
            json!({}),
            found,
        )
        .await;
        let found =
            |data: &Value| any_node(&data["auditEvents"], |event| event["project"]["id"] == home);
        self.query(
            "auditEvents",
            admin_only(caller, Allowed),
            "{ auditEvents(first: 100, action: PROJECT_CREATED) { edges { node { project { id } } } } }",
            json!({}),
            found,
        )
        .await;
        let found = |data: &Value| {
            data["identityProviders"]
                .as_array()
                .is_some_and(|list| list.iter().any(|p| p["id"] == json!(w.provider)))
        };
        self.query(
            "identityProviders",
            admin_only(caller, Allowed),
            "{ identityProviders { id } }",
            json!({}),
            found,
        )
        .await;
        self.query(
            "node(IdentityProvider)",
            seen_by_admins(caller),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": w.provider }),
            |data| data["node"]["id"] == json!(w.provider),
        )
        .await;
        self.query(
            "accessControl.mode",
            admin_only(caller, Allowed),
            "{ accessControl { mode } }",
            json!({}),
            |data| data["accessControl"]["mode"].is_string(),
        )
        .await;
        self.query(
            "Project.groupMembers",
            read(caller),
            "query($id: ID!) { project(id: $id) { groupMembers { group } } }",
            json!({ "id": home }),
            |data| {
                data["project"]["groupMembers"]
                    .as_array()
                    .is_some_and(|list| list.iter().any(|member| member["group"] == "ops"))
            },
        )
        .await;
        let own_id = w.people.get(&caller).map_or(Value::Null, |id| json!(id));
        let found = |data: &Value| {
            data["viewer"]["kind"] == viewer_kind(caller) && data["viewer"]["user"]["id"] == own_id
        };
        self.query(
            "viewer",
            everyone(caller),
            "{ viewer { kind user { id } } }",
            json!({}),
            found,
        )
        .await;
        self.query(
            "accessControl",
            everyone(caller),
            "{ accessControl { enabled } }",
            json!({}),
            |data| data["accessControl"]["enabled"] == true,
        )
        .await;
    }

    async fn run_project_and_key_mutations(&mut self) {
        let caller = self.caller;
        let w = self.world;
        let home = &w.home;
        self.mutate(
            "createProject",
            people_only(caller),
            CREATE_PROJECT,
            json!({ "i": { "name": format!("new by {caller:?}") } }),
        )
        .await;
        let doomed = self.spare(Spare::Project).await;
        if self
            .mutate(
                "deleteProject",
                admin_only(caller, Allowed),
                DELETE_PROJECT,
                json!({ "i": { "id": doomed } }),
            )
            .await
        {
            self.spares.remove(&Spare::Project);
        }
        self.mutate(
            "updateProject",
            owner_only(caller),
            UPDATE_PROJECT,
            json!({ "i": { "id": home, "description": format!("by {caller:?}") } }),
        )
        .await;

        for role in ["MEMBER", "OWNER"] {
            let expected = manage_key(caller, role);
            self.mutate(
                &format!("createApiKey({role})"),
                expected,
                CREATE_KEY,
                json!({ "i": { "projectId": home, "name": "new", "role": role } }),
            )
            .await;
            let target = self.spare(Spare::Rotatable(role)).await;
            if self
                .mutate(
                    &format!("setKeyState({role})"),
                    expected,
                    SET_STATE,
                    json!({ "i": { "id": target, "state": "INACTIVE" } }),
                )
                .await
            {
                let active = json!({ "i": { "id": target, "state": "ACTIVE" } });
                self.restore(SET_STATE, active).await;
            }
            self.mutate(
                &format!("renameKey({role})"),
                expected,
                RENAME,
                json!({ "i": { "id": target, "name": format!("renamed by {caller:?}") } }),
            )
            .await;
            if self
                .mutate(
                    &format!("rotateKey({role})"),
                    expected,
                    "mutation($i: RotateKeyInput!) { rotateKey(input: $i) { apiKey { id } } }",
                    json!({ "i": { "id": target } }),
                )
                .await
            {
                self.spares.remove(&Spare::Rotatable(role));
            }
            let target = self.spare(Spare::Deletable(role)).await;
            if self
                .mutate(
                    &format!("deleteKey({role})"),
                    expected,
                    DELETE_KEY,
                    json!({ "i": { "id": target } }),
                )
                .await
            {
                self.spares.remove(&Spare::Deletable(role));
            }
        }

        let expected = owner_only(caller);
        self.mutate(
            "createWebhook",
            expected,
            CREATE_WEBHOOK,
            json!({ "i": { "projectId": home, "url": "http://127.0.0.1:9/new" } }),
        )
        .await;
        self.mutate(
            "updateWebhook",
            expected,
            "mutation($i: UpdateWebhookInput!) { updateWebhook(input: $i) { webhook { id } } }",
            json!({ "i": { "id": w.hook, "description": format!("by {caller:?}") } }),
        )
        .await;
        let event = self
            .app
            .ok(
                "query($id: ID!) { project(id: $id) { auditEvents(first: 1) { edges { node { id } } } } }",
                json!({ "id": home }),
                &Auth::admin(),
            )
            .await["project"]["auditEvents"]["edges"][0]["node"]["id"]
            .clone();
        self.mutate(
            "redeliverWebhookEvent",
            expected,
            "mutation($i: RedeliverWebhookEventInput!) { redeliverWebhookEvent(input: $i) {
                delivery { id } } }",
            json!({ "i": { "webhookId": w.hook, "eventId": event } }),
        )
        .await;
        let hook = self.spare(Spare::Webhook).await;
        if self
            .mutate(
                "deleteWebhook",
                expected,
                "mutation($i: DeleteWebhookInput!) { deleteWebhook(input: $i) { deletedWebhookId } }",
                json!({ "i": { "id": hook } }),
            )
            .await
        {
            self.spares.remove(&Spare::Webhook);
        }
    }

    async fn run_people_mutations(&mut self) {
        let caller = self.caller;
        let w = self.world;
        let (home, victim, bystander) = (&w.home, &w.victim, &w.bystander);
        let own = w.own_id(caller);
        self.mutate(
            "createUser",
            admin_only(caller, Allowed),
            CREATE_USER,
            json!({ "i": { "username": format!("made by {}", username(caller)), "password": PASSWORD } }),
        )
        .await;
        self.mutate(
            "updateUser(someone's displayName)",
            admin_only(caller, Allowed),
            UPDATE_USER,
            json!({ "i": { "id": victim, "displayName": format!("named by {caller:?}") } }),
        )
        .await;
        self.mutate(
            "updateUser(own displayName)",
            people_only(caller),
            UPDATE_USER,
            json!({ "i": { "id": own, "displayName": format!("{caller:?} themself") } }),
        )
        .await;
        // Nobody makes themself an administrator; an administrator stays one.
        self.mutate(
            "updateUser(own administrator)",
            admin_only(caller, Allowed),
            UPDATE_USER,
            json!({ "i": { "id": own, "administrator": true } }),
        )
        .await;
        if self
            .mutate(
                "setUserState",
                admin_only(caller, Allowed),
                SET_USER_STATE,
                json!({ "i": { "id": victim, "state": "DISABLED" } }),
            )
            .await
        {
            let active = json!({ "i": { "id": victim, "state": "ACTIVE" } });
            self.restore(SET_USER_STATE, active).await;
        }
        if self
            .mutate(
                "resetUserPassword",
                admin_only(caller, Allowed),
                RESET_PASSWORD,
                json!({ "i": { "id": victim, "password": NEW_PASSWORD } }),
            )
            .await
        {
            let back = json!({ "i": { "id": victim, "password": PASSWORD } });
            self.restore(RESET_PASSWORD, back).await;
        }
        let change = |current: &str, new: &str| json!({ "i": { "currentPassword": current, "newPassword": new } });
        if self
            .mutate(
                "changePassword",
                people_only(caller),
                CHANGE_PASSWORD,
                change(password(caller), NEW_PASSWORD),
            )
            .await
        {
            // Back to the password the other cases use, by the person.
            let auth = Auth::basic(&username(caller), NEW_PASSWORD);
            let back = change(NEW_PASSWORD, password(caller));
            self.app.ok(CHANGE_PASSWORD, back, &auth).await;
            self.state = None;
        }
        let doomed = self.spare(Spare::DisabledUser).await;
        if self
            .mutate(
                "deleteUser",
                admin_only(caller, Allowed),
                DELETE_USER,
                json!({ "i": { "id": doomed } }),
            )
            .await
        {
            self.spares.remove(&Spare::DisabledUser);
        }
        self.mutate(
            "signOutEverywhere(own)",
            people_only(caller),
            SIGN_OUT_EVERYWHERE,
            json!({ "i": { "userId": own } }),
        )
        .await;
        self.mutate(
            "signOutEverywhere(someone)",
            admin_only(caller, Allowed),
            SIGN_OUT_EVERYWHERE,
            json!({ "i": { "userId": victim } }),
        )
        .await;

        let expected = manage_members(caller);
        let membership = |user: &str, role: Option<&str>| {
            let mut input = json!({ "projectId": home, "userId": user });
            if let Some(role) = role {
                input["role"] = json!(role);
            }
            json!({ "i": input })
        };
        if self
            .mutate(
                "addProjectMember",
                expected,
                ADD_MEMBER,
                membership(victim, Some("READ_ONLY")),
            )
            .await
        {
            self.restore(REMOVE_MEMBER, membership(victim, None)).await;
        }
        if self
            .mutate(
                "setProjectMemberRole",
                expected,
                SET_ROLE,
                membership(bystander, Some("MEMBER")),
            )
            .await
        {
            let back = membership(bystander, Some("READ_ONLY"));
            self.restore(SET_ROLE, back).await;
        }
        if self
            .mutate(
                "removeProjectMember",
                expected,
                REMOVE_MEMBER,
                membership(bystander, None),
            )
            .await
        {
            let back = membership(bystander, Some("READ_ONLY"));
            self.restore(ADD_MEMBER, back).await;
        }
        // Owning the other project gives nothing in the home project, and
        // the other way round.
        let theirs = match caller {
            UserOutsider => Some(home),
            UserOwner | HomeOwner => Some(&w.other),
            _ => None,
        };
        if let Some(project) = theirs {
            let mut input = membership(victim, Some("OWNER"));
            input["i"]["projectId"] = json!(project);
            self.mutate(
                "addProjectMember(a project they are not in)",
                Code("NOT_FOUND"),
                ADD_MEMBER,
                input,
            )
            .await;
        }
    }

    async fn run_single_sign_on_mutations(&mut self) {
        let caller = self.caller;
        let w = self.world;
        let by = format!("{caller:?}").to_lowercase();
        self.mutate(
            "createIdentityProvider",
            admin_only(caller, Allowed),
            CREATE_PROVIDER,
            json!({ "i": { "name": format!("by-{by}"), "issuerUrl": w.issuer,
                "clientId": "keyward", "clientSecret": "a client secret" } }),
        )
        .await;
        self.mutate(
            "updateIdentityProvider",
            admin_only(caller, Allowed),
            "mutation($i: UpdateIdentityProviderInput!) {
                updateIdentityProvider(input: $i) { identityProvider { id } } }",
            json!({ "i": { "id": w.provider, "clientId": format!("by {by}") } }),
        )
        .await;
        let doomed = self.spare(Spare::IdentityProvider).await;
        if self
            .mutate(
                "deleteIdentityProvider",
                admin_only(caller, Allowed),
                "mutation($i: DeleteIdentityProviderInput!) {
                    deleteIdentityProvider(input: $i) { deletedIdentityProviderId } }",
                json!({ "i": { "id": doomed } }),
            )
            .await
        {
            self.spares.remove(&Spare::IdentityProvider);
        }
        self.mutate(
            "linkUserIdentity",
            admin_only(caller, Allowed),
            "mutation($i: LinkUserIdentityInput!) { linkUserIdentity(input: $i) { user { id } } }",
            json!({ "i": { "userId": w.victim, "provider": "home-sso", "subject": by } }),
        )
        .await;
        self.mutate(
            "setAccessMode",
            admin_only(caller, Allowed),
            "mutation($i: SetAccessModeInput!) { setAccessMode(input: $i) { mode } }",
            json!({ "i": { "mode": "RESTRICTED", "allowedGroups": [by] } }),
        )
        .await;

        let expected = manage_members(caller);
        let group = |group: &str, role: Option<&str>| {
            let mut input = json!({ "projectId": w.home, "group": group });
            if let Some(role) = role {
                input["role"] = json!(role);
            }
            json!({ "i": input })
        };
        if self
            .mutate(
                "addProjectGroup",
                expected,
                ADD_GROUP,
                group("new", Some("MEMBER")),
            )
            .await
        {
            self.restore(REMOVE_GROUP, group("new", None)).await;
        }
        if self
            .mutate(
                "setProjectGroupRole",
                expected,
                SET_GROUP_ROLE,
                group("ops", Some("OWNER")),
            )
            .await
        {
            self.restore(SET_GROUP_ROLE, group("ops", Some("READ_ONLY")))
                .await;
        }
        if self
            .mutate(
                "removeProjectGroup",
                expected,
                REMOVE_GROUP,
                group("ops", None),
            )
            .await
        {
            self.restore(ADD_GROUP, group("ops", Some("READ_ONLY")))
                .await;
        }
    }

    async fn run_access_control_mutations(&mut self) {
        let caller = self.caller;
        let again = json!({ "i": { "username": ADMIN.0, "password": ADMIN.1 } });
        self.mutate(
            "enableAccessControl",
            admin_only(caller, Code("CONFLICT")),
            ENABLE,
            again.clone(),
        )
        .await;
        if self
            .mutate(
                "disableAccessControl",
                admin_only(caller, Allowed),
                "mutation { disableAccessControl { enabled } }",
                json!({}),
            )
            .await
        {
            // Put access control back for the callers after this one.
            self.app.ok(ENABLE, again, &Auth::None).await;
            self.state = None;
        }
    }
}

/// Whether a connection has a node for which `found` holds.
fn any_node(connection: &Value, found: impl Fn(&Value) -> bool) -> bool {
    connection["edges"]
        .as_array()
        .is_some_and(|edges| edges.iter().any(|edge| found(&edge["node"])))
}

/// What a reply amounts to; `found` says whether the home project's object
/// is in a successful answer.
fn outcome_of(reply: &Reply, found: impl Fn(&Value) -> bool) -> Outcome {
    if reply.status == 401 {
        return Unauthenticated;
    }
    match reply.codes().first() {
        Some(code) => Code(match code.as_str() {
            "FORBIDDEN" => "FORBIDDEN",
            "NOT_FOUND" => "NOT_FOUND",
            "CONFLICT" => "CONFLICT",
            "BAD_USER_INPUT" => "BAD_USER_INPUT",
            "RATE_LIMITED" => "RATE_LIMITED",
            "UNAUTHENTICATED" => "UNAUTHENTICATED",
            _ => "INTERNAL",
        }),
        None if found(&reply.body["data"]) => Allowed,
        None => Hidden,
    }
}
