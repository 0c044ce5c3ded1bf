//! The web console and GraphiQL in a real browser: Debian's headless
//! Chromium, driven over WebDriver (chromedriver) with fantoccini.
//!
//! Without `/usr/bin/chromium` and `/usr/bin/chromedriver` these tests are
//! built as ignored (build.rs), unless `KEYWARD_BROWSER_TESTS=require` (set
//! by `.ci/run`), which makes a missing browser a failure. They save a
//! screenshot of each main screen: into the target folder, or, with
//! `KEYWARD_UPDATE_SCREENSHOTS=1`, into `docs/screenshots/`, which the
//! README shows (see `screenshots_dir`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::backend::{self, Backend};
use crate::helpers::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const REQUIRE_VAR: &str = "KEYWARD_BROWSER_TESTS";
/// How long the page may take to show something that should appear.
const PATIENCE: Duration = Duration::from_secs(15);
/// The WebDriver code of the Enter key.
const ENTER: &str = "\u{E007}";
const ESCAPE: &str = "\u{E00C}";

/// A chromedriver process, killed when dropped.
pub(crate) struct Driver {
    process: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Driver {
    /// Starts chromedriver. A test needing it is built as ignored where the
    /// browser is missing (`keyward_browser`, see build.rs); one that runs
    /// without it was required to (`KEYWARD_BROWSER_TESTS`), and fails.
    pub(crate) async fn start() -> Self {
        let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
            .into_iter()
            .filter(|path| !Path::new(path).exists())
            .collect();
        assert!(
            missing.is_empty(),
            "the browser tests are required here ({REQUIRE_VAR}) but {missing:?} are missing: \
             apt-get install chromium chromium-driver"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let process = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Self {
            process,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start listening");
    }

    /// A new browser with a fresh profile: no cookies, no storage, no
    /// saved credentials.
    pub(crate) async fn browser(&self) -> Browser {
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--window-size=1280,900",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-extensions",
                    // Nothing but this machine resolves: a page reaching for
                    // another origin fails instead of reaching the Internet.
                    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                ]
            },
            // Chrome's network events, read back by `requests_made`.
            "goog:loggingPrefs": { "performance": "ALL" }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        // Plain HTTP to a local chromedriver: no TLS needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a browser session");
        Browser {
            client,
            driver: self.url.clone(),
        }
    }
}

pub(crate) struct Browser {
    pub(crate) client: Client,
    /// chromedriver's URL, for what fantoccini does not wrap.
    driver: String,
}

impl Browser {
    pub(crate) async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// The element with `data-testid`, once it is there.
    pub(crate) async fn get(&self, testid: &str) -> Element {
        self.css(&format!("[data-testid='{testid}']")).await
    }

    pub(crate) async fn css(&self, selector: &str) -> Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("no {selector} on the page: {e}"))
    }

    pub(crate) async fn click(&self, testid: &str) {
        self.get(testid).await.click().await.expect("click");
    }

    pub(crate) async fn fill(&self, testid: &str, text: &str) {
        let input = self.get(testid).await;
        input.clear().await.expect("clear");
        input.send_keys(text).await.expect("type");
    }

    /// Runs `script` (a function body) with `args`; its return value.
    pub(crate) async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .expect("script runs")
    }

    /// Waits until `script` returns true. A script that fails (the page
    /// navigating away under it, say) counts as not yet.
    pub(crate) async fn until(&self, what: &str, script: &str, args: Vec<Value>) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let result = self.client.execute(script, args.clone()).await;
            if result.is_ok_and(|value| value == json!(true)) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting until {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(crate) async fn text_contains(&self, needle: &str) {
        self.until(
            &format!("the page shows {needle:?}"),
            "return document.body.innerText.includes(arguments[0]);",
            vec![json!(needle)],
        )
        .await;
    }

    /// The value or text of the element with `testid`.
    pub(crate) async fn value(&self, testid: &str) -> String {
        let element = self.get(testid).await;
        let value = self
            .js(
                "const e = arguments[0]; return e.value || e.textContent;",
                vec![serde_json::to_value(&element).expect("element as JSON")],
            )
            .await;
        value.as_str().unwrap_or_default().trim().to_owned()
    }

    /// The state badge of the key row with `access_key`, once it says `state`.
    pub(crate) async fn key_state_becomes(&self, access_key: &str, state: &str) {
        self.until(
            &format!("key {access_key} is {state}"),
            "const row = document.querySelector(`[data-testid='key-row'][data-access-key='${arguments[0]}']`);
             const badge = row && row.querySelector(\"[data-testid='key-state']\");
             return !!badge && badge.getAttribute('data-state') === arguments[1];",
            vec![json!(access_key), json!(state)],
        )
        .await;
    }

    /// Opens the actions menu of the key row with `access_key` and picks
    /// the item `action`.
    async fn key_action(&self, access_key: &str, action: &str) {
        let row = format!("[data-testid='key-row'][data-access-key='{access_key}']");
        // With the keyboard, as the menu allows.
        self.css(&format!("{row} [data-testid='key-actions']"))
            .await
            .send_keys(ENTER)
            .await
            .expect("open the menu");
        self.get(action)
            .await
            .send_keys(ENTER)
            .await
            .expect("pick the action");
    }

    /// Opens the actions menu of the key row with `access_key`, waits until
    /// it shows Edit (offered for every key), and returns the `data-testid`
    /// of each of its items; then closes it with Escape.
    async fn key_menu(&self, access_key: &str) -> Vec<String> {
        let row = format!("[data-testid='key-row'][data-access-key='{access_key}']");
        self.css(&format!("{row} [data-testid='key-actions']"))
            .await
            .send_keys(ENTER)
            .await
            .expect("open the menu");
        let open = "[role='menu']:not([hidden])";
        self.css(&format!("{open} [data-testid='action-edit']"))
            .await;
        let items = self
            .js(
                "return [...document.querySelectorAll(arguments[0])]
                    .map(item => item.getAttribute('data-testid'));",
                vec![json!(format!("{open} [role='menuitem']"))],
            )
            .await;
        // Escape closes the menu, from wherever the menu put the focus.
        self.css(":focus")
            .await
            .send_keys(ESCAPE)
            .await
            .expect("close the menu");
        self.until(
            "the menu closes",
            "return !document.querySelector(\"[role='menu']:not([hidden])\");",
            vec![],
        )
        .await;
        serde_json::from_value(items).expect("the items' testids")
    }

    /// Signs in with the sign-in form: `method` "user" (username and
    /// password, a session) or "key" (access key and secret key).
    pub(crate) async fn sign_in(&self, method: &str, username: &str, secret: &str) {
        self.click(&format!("signin-method-{method}")).await;
        self.fill("signin-username", username).await;
        self.fill("signin-password", secret).await;
        self.click("signin-submit").await;
    }

    /// Opens the menu `button` in the table row `row` (a CSS selector) and
    /// picks its item `action`.
    pub(crate) async fn row_action(&self, row: &str, button: &str, action: &str) {
        self.css(&format!("{row} [data-testid='{button}']"))
            .await
            .click()
            .await
            .expect("open the menu");
        self.css(&format!(
            "[role='menu']:not([hidden]) [data-testid='{action}']"
        ))
        .await
        .click()
        .await
        .expect("pick the action");
    }

    /// The text of every element matching `selector`, in page order.
    pub(crate) async fn texts(&self, selector: &str) -> Vec<String> {
        let texts = self
            .js(
                "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent.trim());",
                vec![json!(selector)],
            )
            .await;
        serde_json::from_value(texts).expect("texts")
    }

    /// Screen readers can name every visible form control and button.
    pub(crate) async fn assert_every_control_is_labelled(&self) {
        let unnamed = self
            .js(
                "return [...document.querySelectorAll('input, select, textarea, button')]
                   .filter(e => e.offsetParent !== null && e.type !== 'hidden')
                   .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                             && !e.getAttribute('aria-labelledby') && !e.textContent.trim())
                   .map(e => e.outerHTML.slice(0, 120));",
                vec![],
            )
            .await;
        assert_eq!(unnamed, json!([]), "controls without a name");
    }

    /// Every URL the browser sent a request for since the last call, as
    /// Chrome's network log records it (whatever the page's own scripts
    /// can see).
    async fn requests_made(&self) -> Vec<String> {
        let session = self
            .client
            .session_id()
            .await
            .expect("a session")
            .expect("a session id");
        let log: Value = reqwest::Client::new()
            .post(format!("{}/session/{session}/se/log", self.driver))
            .json(&json!({ "type": "performance" }))
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("a JSON log");
        log["value"]
            .as_array()
            .expect("log entries")
            .iter()
            .filter_map(|entry| entry["message"].as_str())
            .filter_map(|message| serde_json::from_str::<Value>(message).ok())
            .filter(|message| message["message"]["method"] == "Network.requestWillBeSent")
            .filter_map(|message| {
                message["message"]["params"]["request"]["url"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }

    /// No request of this browser so far left this machine's server.
    pub(crate) async fn assert_only_local_requests(&self, app: &TestApp) {
        let origin = app.url("/");
        let requests = self.requests_made().await;
        assert!(!requests.is_empty(), "the network log is empty");
        for url in requests {
            assert!(
                url.starts_with(&origin) || url.starts_with("data:"),
                "{url} is not on {origin}"
            );
        }
    }

    pub(crate) async fn screenshot(&self, name: &str) {
        // Status messages would cover the screen being documented.
        self.js(
            "document.querySelectorAll('.toast').forEach(t => t.remove());",
            vec![],
        )
        .await;
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = screenshots_dir();
        std::fs::create_dir_all(&dir).expect("the screenshots folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is saved");
    }

    pub(crate) async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// The project of the key `access_key`.
async fn project_of_key(app: &TestApp, access_key: &str, secret: &str) -> String {
    let data = app
        .ok(
            "{ viewer { project { id } } }",
            json!({}),
            &Auth::basic(access_key, secret),
        )
        .await;
    data["viewer"]["project"]["id"]
        .as_str()
        .expect("the key's project")
        .to_owned()
}

/// Where screenshots go. A test run never rewrites committed files, so by
/// default they land in Cargo's scratch folder for integration tests
/// (`target/tmp/screenshots/`); `KEYWARD_UPDATE_SCREENSHOTS=1` writes them
/// into `docs/screenshots/`, to update the README's pictures.
fn screenshots_dir() -> PathBuf {
    if std::env::var("KEYWARD_UPDATE_SCREENSHOTS").is_ok_and(|value| value == "1") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
    }
}

/// The whole seed page, clicked through: an administrator turns access
/// control on, creates a project and a key; the key signs in elsewhere and
/// manages keys; View in API runs a query in GraphiQL.
#[tokio::test]
#[cfg_attr(
    not(keyward_browser),
    ignore = "needs Chromium: apt-get install chromium chromium-driver"
)]
async fn the_console_manages_keys_end_to_end_in_a_real_browser() {
    backend::run_on(Backend::Sqlite, async {
        let driver = Driver::start().await;
        let app = TestApp::spawn().await;
        let admin = driver.browser().await;

        // Access control is off: the console says so and offers to turn it on.
        admin.goto(&app.url("/")).await;
        admin.get("ac-banner").await;
        admin.assert_only_local_requests(&app).await;
        admin.screenshot("access-control-off").await;
        admin.fill("ac-username", ADMIN.0).await;
        admin.fill("ac-password", ADMIN.1).await;
        admin.click("ac-submit").await;
        admin.get("signout").await;
        // Signed out, the administrator signs in again with the form.
        admin.click("signout").await;
        admin.sign_in("user", ADMIN.0, ADMIN.1).await;
        admin.get("project-add").await;
        let enabled = app.gql("{ accessControl { enabled } }", json!({}), &Auth::admin()).await;
        assert_eq!(enabled.data()["accessControl"]["enabled"], true);

        // Projects: create one and open its API & Keys page.
        admin.click("project-add").await;
        admin.fill("project-create-name", "payments").await;
        admin.fill("project-create-description", "card processing").await;
        admin.click("project-create-submit").await;
        admin.text_contains("payments").await;

        // An error from the API is shown where it happened: in the dialog,
        // next to the name.
        admin.click("project-add").await;
        admin.fill("project-create-name", "payments").await;
        admin.click("project-create-submit").await;
        admin
            .until(
                "the duplicate name is refused in the dialog",
                "const dialog = document.querySelector(\"[data-testid='project-dialog']\");
                 const error = dialog && dialog.querySelector(\"[data-testid='error']\");
                 return !!error && error.textContent.includes('already exists');",
                vec![],
            )
            .await;
        admin.click("dialog-cancel").await;

        // A project deleted after confirming.
        admin.click("project-add").await;
        admin.fill("project-create-name", "scratch").await;
        admin.click("project-create-submit").await;
        let scratch_row = "[...document.querySelectorAll(\"[data-testid='project-row']\")]
             .find(row => row.textContent.includes('scratch'))";
        // Listed (a status message naming it may come first).
        admin
            .until(
                "the new project is listed",
                &format!("return !!{scratch_row};"),
                vec![],
            )
            .await;
        admin
            .js(
                &format!("{scratch_row}.querySelector(\"[data-testid='project-actions']\").click();"),
                vec![],
            )
            .await;
        admin.click("action-delete").await;
        admin.get("confirm-dialog").await;
        admin.click("confirm-ok").await;
        admin
            .until(
                "the deleted project leaves the list",
                &format!("return !{scratch_row};"),
                vec![],
            )
            .await;
        admin.screenshot("projects").await;
        admin
            .css("[data-testid='project-row'] [data-testid='project-open']")
            .await;
        admin
            .until(
                "the new project is listed",
                "return [...document.querySelectorAll(\"[data-testid='project-open']\")].some(a => a.textContent.includes('payments'));",
                vec![],
            )
            .await;
        admin
            .js(
                "[...document.querySelectorAll(\"[data-testid='project-open']\")].find(a => a.textContent.includes('payments')).click();",
                vec![],
            )
            .await;
        admin.get("endpoint").await;
        admin.text_contains("/projects/").await;
        // The verify endpoint for proxies sits next to the project's own.
        let endpoint = admin.value("endpoint").await;
        let verify_url = admin.value("verify-url").await;
        assert_eq!(
            verify_url,
            endpoint.replace("/graphql", "/verify"),
            "the verify URL is the project's, beside its endpoint"
        );
        admin.get("verify-url-copy").await;

        // The switcher in the top bar goes to another project and back.
        for name in ["Default", "payments"] {
            admin.click("project-switcher").await;
            admin
                .until(
                    "the switcher lists the projects",
                    "return document.querySelectorAll(\"[data-testid='switch-project']\").length >= 2;",
                    vec![],
                )
                .await;
            admin
                .js(
                    "[...document.querySelectorAll(\"[data-testid='switch-project']\")]
                       .find(item => item.textContent.trim().startsWith(arguments[0])).click();",
                    vec![json!(name)],
                )
                .await;
            admin
                .until(
                    &format!("{name} is the current project"),
                    "const current = document.querySelector(\"[data-testid='current-project']\");
                     return !!current && current.textContent.includes(arguments[0])
                       && !!document.querySelector(\"[data-testid='endpoint']\");",
                    vec![json!(name)],
                )
                .await;
        }

        // Add an OWNER key; its secret is shown once.
        admin.click("add-key").await;
        admin.fill("key-name", "ci-deployer").await;
        admin.fill("key-description", "deploys from CI").await;
        admin
            .get("key-role")
            .await
            .select_by_value("OWNER")
            .await
            .expect("pick OWNER");
        admin.assert_every_control_is_labelled().await;
        // A malformed scope is refused next to the scopes field, and the
        // rest of the form is kept.
        admin.fill("key-scopes-input", "metrics:read, Deploy!").await;
        admin.click("key-submit").await;
        admin
            .until(
                "the scopes field shows its error",
                "const error = document.querySelector(\"[data-field='scopes'] [data-testid='error']\");
                 return !!error && error.textContent.length > 0;",
                vec![],
            )
            .await;
        assert_eq!(admin.value("key-name").await, "ci-deployer");
        admin
            .fill("key-scopes-input", "metrics:read deploy:write,deploy:write")
            .await;
        admin.click("key-submit").await;
        let access_key = admin.value("new-access-key").await;
        let secret = admin.value("new-secret-key").await;
        assert_eq!(access_key.len(), 20, "{access_key:?}");
        assert_eq!(secret.len(), 40);
        admin.get("secret-warning").await;
        assert_eq!(
            admin.value("new-key-scopes").await,
            "Scopes: deploy:write metrics:read.",
            "the one-time view shows the key's scopes, distinct and sorted"
        );
        admin.screenshot("new-key-secret-shown-once").await;
        admin.click("secret-done").await;
        admin.key_state_becomes(&access_key, "ACTIVE").await;
        let row_scopes = admin
            .js(
                "const row = document.querySelector(`[data-testid='key-row'][data-access-key='${arguments[0]}']`);
                 return [...row.querySelectorAll(\"[data-testid='key-scopes'] code\")].map(c => c.textContent);",
                vec![json!(access_key)],
            )
            .await;
        assert_eq!(row_scopes, json!(["deploy:write", "metrics:read"]));
        let shown = admin
            .js("return document.documentElement.outerHTML.includes(arguments[0]);", vec![json!(secret)])
            .await;
        assert_eq!(shown, json!(false), "the secret is gone once dismissed");
        admin.screenshot("api-and-keys").await;

        // View in API on the project: GraphiQL, and Run shows the project.
        admin
            .css("main [data-testid='view-in-api'][aria-label^='View project']")
            .await
            .click()
            .await
            .expect("View in API");
        admin.css(".graphiql-execute-button").await.click().await.expect("run");
        admin.text_contains("card processing").await;
        admin.goto(&app.url("/")).await;
        admin.get("project-add").await;

        // The key signs in in a fresh browser: only its own project.
        let key_browser = driver.browser().await;
        key_browser.goto(&app.url("/")).await;
        key_browser.click("signin-method-key").await;
        key_browser.fill("signin-username", &access_key).await;
        key_browser.fill("signin-password", &secret).await;
        key_browser.assert_every_control_is_labelled().await;
        key_browser.screenshot("sign-in").await;
        key_browser.click("signin-submit").await;
        key_browser.key_state_becomes(&access_key, "ACTIVE").await;
        key_browser.text_contains("payments").await;
        // Another project's address shows nothing of it.
        let default_project = app.default_project(&Auth::admin()).await;
        key_browser
            .goto(&app.url(&format!("/#/projects/{default_project}")))
            .await;
        key_browser.key_state_becomes(&access_key, "ACTIVE").await;
        let current = key_browser
            .js("return document.querySelector(\"[data-testid='current-project']\").textContent;", vec![])
            .await;
        assert!(current.as_str().is_some_and(|name| name.contains("payments")), "{current}");
        let projects_link = key_browser
            .js("return !!document.querySelector(\"[data-testid='nav-projects']\");", vec![])
            .await;
        assert_eq!(projects_link, json!(false), "a key has no projects list");

        // The key adds a MEMBER key, then deactivates, activates, and
        // deletes it after deactivating.
        key_browser.click("add-key").await;
        key_browser.fill("key-name", "temporary").await;
        key_browser
            .get("key-role")
            .await
            .select_by_value("MEMBER")
            .await
            .expect("pick MEMBER");
        // A key cannot grant a scope it does not hold itself.
        key_browser
            .fill("key-scopes-input", "metrics:read billing:write")
            .await;
        key_browser.click("key-submit").await;
        key_browser
            .until(
                "the dialog says the scope cannot be granted",
                "const dialog = document.querySelector(\"[data-testid='key-dialog']\");
                 return !!dialog && dialog.innerText.includes('scopes that it holds itself');",
                vec![],
            )
            .await;
        key_browser.fill("key-scopes-input", "metrics:read").await;
        key_browser.click("key-submit").await;
        let temporary = key_browser.value("new-access-key").await;
        assert_eq!(
            key_browser.value("new-key-scopes").await,
            "Scopes: metrics:read."
        );
        key_browser.click("secret-done").await;
        key_browser.key_state_becomes(&temporary, "ACTIVE").await;
        key_browser.key_action(&temporary, "action-deactivate").await;
        key_browser.key_state_becomes(&temporary, "INACTIVE").await;
        key_browser.key_action(&temporary, "action-activate").await;
        key_browser.key_state_becomes(&temporary, "ACTIVE").await;
        key_browser.key_action(&temporary, "action-deactivate").await;
        key_browser.key_state_becomes(&temporary, "INACTIVE").await;
        key_browser.key_action(&temporary, "action-delete").await;
        key_browser.get("confirm-dialog").await;
        key_browser.click("confirm-ok").await;
        key_browser
            .until(
                "the deleted key leaves the list",
                "return !document.querySelector(`[data-testid='key-row'][data-access-key='${arguments[0]}']`);",
                vec![json!(temporary)],
            )
            .await;

        // Edit changes the name and description, nothing else.
        key_browser.key_action(&access_key, "action-edit").await;
        key_browser.fill("edit-name", "ci-deployer-renamed").await;
        key_browser.fill("edit-description", "deploys from the new CI").await;
        key_browser.click("edit-submit").await;
        key_browser.text_contains("ci-deployer-renamed").await;
        let renamed = app
            .ok(
                "{ project { apiKeys { edges { node { name description accessKey state } } } } }",
                json!({}),
                &Auth::basic(&access_key, &secret),
            )
            .await;
        assert_eq!(
            renamed["project"]["apiKeys"]["edges"],
            json!([{ "node": {
                "name": "ci-deployer-renamed",
                "description": "deploys from the new CI",
                "accessKey": access_key,
                "state": "ACTIVE",
            } }])
        );

        // Rotate: a new pair shown once, the old one kept for a day (and so
        // marked as expiring soon), and no second rotation of it.
        key_browser.click("add-key").await;
        key_browser.fill("key-name", "rotate-me").await;
        key_browser.click("key-submit").await;
        let old_access = key_browser.value("new-access-key").await;
        let old_secret = key_browser.value("new-secret-key").await;
        key_browser.click("secret-done").await;
        key_browser.key_state_becomes(&old_access, "ACTIVE").await;
        key_browser.key_action(&old_access, "action-rotate").await;
        key_browser.get("rotate-dialog").await;
        key_browser.assert_every_control_is_labelled().await;
        key_browser
            .get("rotate-grace")
            .await
            .select_by_value("86400")
            .await
            .expect("pick one day");
        key_browser.click("rotate-submit").await;
        let new_access = key_browser.value("new-access-key").await;
        let new_secret = key_browser.value("new-secret-key").await;
        assert_ne!(new_access, old_access);
        key_browser.text_contains("rotated").await;
        key_browser.click("secret-done").await;
        key_browser.key_state_becomes(&new_access, "ACTIVE").await;
        key_browser
            .until(
                "the old key is marked as expiring soon",
                "const row = document.querySelector(`[data-testid='key-row'][data-access-key='${arguments[0]}']`);
                 return !!row && !!row.querySelector(\"[data-testid='expires-soon']\");",
                vec![json!(old_access)],
            )
            .await;
        for (access, secret) in [(&old_access, &old_secret), (&new_access, &new_secret)] {
            app.ok(VIEWER, json!({}), &Auth::basic(access, secret)).await;
        }
        let offered = key_browser.key_menu(&old_access).await;
        assert!(
            !offered.contains(&"action-rotate".to_owned()),
            "a rotated key is not offered Rotate again: {offered:?}"
        );
        // Nor once its successor is deleted (rotatedTo is null again).
        key_browser.key_action(&new_access, "action-deactivate").await;
        key_browser.key_state_becomes(&new_access, "INACTIVE").await;
        key_browser.key_action(&new_access, "action-delete").await;
        key_browser.get("confirm-dialog").await;
        key_browser.click("confirm-ok").await;
        key_browser
            .until(
                "the deleted successor leaves the list",
                "return !document.querySelector(`[data-testid='key-row'][data-access-key='${arguments[0]}']`);",
                vec![json!(new_access)],
            )
            .await;
        let offered = key_browser.key_menu(&old_access).await;
        assert!(
            offered.contains(&"action-deactivate".to_owned())
                && !offered.contains(&"action-rotate".to_owned()),
            "an ACTIVE key whose successor was deleted is not offered Rotate: {offered:?}"
        );

        // View in API: GraphiQL with a node query for the key, which runs.
        let row = format!("[data-testid='key-row'][data-access-key='{access_key}']");
        key_browser
            .css(&format!("{row} [data-testid='view-in-api']"))
            .await
            .click()
            .await
            .expect("View in API");
        key_browser.css(".graphiql-container").await;
        key_browser.text_contains("node(id:").await;
        // Nothing runs by itself: the object appears once Run is pressed.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let early = key_browser
            .js("return document.body.innerText.includes('ci-deployer-renamed');", vec![])
            .await;
        assert_eq!(early, json!(false), "GraphiQL ran the query by itself");
        key_browser.css(".graphiql-execute-button").await.click().await.expect("run");
        key_browser.text_contains("ci-deployer-renamed").await;
        key_browser.assert_only_local_requests(&app).await;
        key_browser.screenshot("graphiql").await;

        // A link carrying a mutation (from anywhere) only fills the editor.
        let me = app
            .ok(
                "{ viewer { apiKey { id } } }",
                json!({}),
                &Auth::basic(&access_key, &secret),
            )
            .await;
        let hijack = format!(
            "mutation {{ renameKey(input: {{ id: \"{}\", name: \"hijacked\" }}) {{ apiKey {{ name }} }} }}",
            id_of(&me["viewer"]["apiKey"])
        );
        // The page goes away under the script: its outcome does not matter.
        let _ = key_browser
            .client
            .execute(
                "location.href = '/graphql?query=' + encodeURIComponent(arguments[0]);",
                vec![json!(hijack)],
            )
            .await;
        key_browser.css(".graphiql-container").await;
        key_browser.text_contains("hijacked").await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let name = app
            .ok(
                "{ viewer { apiKey { name } } }",
                json!({}),
                &Auth::basic(&access_key, &secret),
            )
            .await;
        assert_eq!(name["viewer"]["apiKey"]["name"], "ci-deployer-renamed");

        // A phone-sized screen.
        key_browser.goto(&app.url("/")).await;
        key_browser
            .client
            .set_window_size(390, 844)
            .await
            .expect("resize");
        key_browser.key_state_becomes(&access_key, "ACTIVE").await;
        key_browser.screenshot("api-and-keys-phone").await;

        // A READ_ONLY key is offered no change at all.
        let reader = app
            .create_key(&Auth::admin(), &project_of_key(&app, &access_key, &secret).await, "READ_ONLY")
            .await;
        let reader_browser = driver.browser().await;
        reader_browser.goto(&app.url("/")).await;
        reader_browser
            .sign_in("key", &reader.access_key, &reader.secret)
            .await;
        reader_browser.key_state_becomes(&reader.access_key, "ACTIVE").await;
        let offered = reader_browser
            .js(
                "return [...document.querySelectorAll(\"[data-testid='add-key'], [data-testid='key-actions']\")].length;",
                vec![],
            )
            .await;
        assert_eq!(offered, json!(0), "a READ_ONLY key is offered actions");
        reader_browser.assert_only_local_requests(&app).await;
        reader_browser.close().await;

        // Signing out forgets the credentials.
        key_browser.click("signout").await;
        key_browser.get("signin-username").await;
        let stored = key_browser
            .js("return JSON.stringify(sessionStorage) + document.cookie;", vec![])
            .await;
        let stored = stored.as_str().unwrap_or_default().to_owned();
        assert!(!stored.contains(&secret), "{stored}");

        key_browser.assert_only_local_requests(&app).await;
        key_browser.close().await;
        admin.assert_only_local_requests(&app).await;
        admin.close().await;
    })
    .await;
}

/// The people of the team below, with their passwords.
const OWNER: (&str, &str) = ("owner", "the owner's long password");
const READER: (&str, &str) = ("reader", "the reader's long password");

/// A team of three set up in the console alone (issue 26): the
/// administrator signs in with a password (a session: nothing stored in the
/// page), adds a project owner and a read-only member on the Users page and
/// puts them in a project from its Members tab. The owner signs in, sees
/// that project only, adds a key, and the keys table says who made each
/// key; the read-only member is offered no change.
#[tokio::test]
#[cfg_attr(
    not(keyward_browser),
    ignore = "needs Chromium: apt-get install chromium chromium-driver"
)]
async fn a_team_of_three_is_set_up_in_the_console_alone() {
    backend::run_on(Backend::Sqlite, async {
        let driver = Driver::start().await;
        let app = TestApp::spawn().await;
        app.enable_access_control().await;
        let payments = app.create_project(&Auth::admin(), "payments").await;
        // Keys from before: one made by the administrator, one by a key.
        let by_admin = app.create_key(&Auth::admin(), &payments, "OWNER").await;
        let by_key = app.create_key(&by_admin.auth(), &payments, "MEMBER").await;

        let admin = driver.browser().await;
        admin.goto(&app.url("/")).await;
        admin.sign_in("user", ADMIN.0, ADMIN.1).await;
        admin.get("nav-users").await;
        // A session: its cookie is out of the page's reach, and the page
        // keeps no password.
        let kept = admin
            .js(
                "return JSON.stringify(sessionStorage) + JSON.stringify(localStorage) + document.cookie;",
                vec![],
            )
            .await;
        let kept = kept.as_str().unwrap_or_default().to_owned();
        assert!(
            !kept.contains(ADMIN.1) && !kept.contains("keyward_session"),
            "{kept}"
        );
        // A reload finds the session.
        admin.goto(&app.url("/")).await;
        admin.get("nav-users").await;

        // Users: the owner and the reader.
        admin.click("nav-users").await;
        admin.get("users-table").await;
        for ((username, password), display_name) in [(OWNER, "Olive Owner"), (READER, "")] {
            admin.click("user-add").await;
            admin.fill("user-create-username", username).await;
            if !display_name.is_empty() {
                admin.fill("user-create-display-name", display_name).await;
            }
            admin.fill("user-create-password", password).await;
            admin.assert_every_control_is_labelled().await;
            admin.click("user-create-submit").await;
            admin
                .until(
                    &format!("{username} is listed"),
                    "return !!document.querySelector(`[data-testid='user-row'][data-username='${arguments[0]}'][data-state='ACTIVE']`);",
                    vec![json!(username)],
                )
                .await;
        }
        // A username is taken whatever its case: refused in the dialog.
        admin.click("user-add").await;
        admin.fill("user-create-username", "OWNER").await;
        admin.fill("user-create-password", OWNER.1).await;
        admin.click("user-create-submit").await;
        admin
            .until(
                "the taken username is refused in the dialog",
                "const dialog = document.querySelector(\"[data-testid='user-dialog']\");
                 return !!dialog && !!dialog.querySelector(\"[data-testid='error']\");",
                vec![],
            )
            .await;
        admin.click("dialog-cancel").await;
        // The last administrator cannot stop being one: the refusal shows
        // in the confirmation.
        admin
            .row_action(
                "[data-testid='user-row'][data-username='admin']",
                "user-actions",
                "action-unmake-admin",
            )
            .await;
        admin.click("confirm-ok").await;
        admin
            .until(
                "the last administrator stays one",
                "const dialog = document.querySelector(\"[data-testid='confirm-dialog']\");
                 return !!dialog && !!dialog.querySelector(\"[data-testid='error']\");",
                vec![],
            )
            .await;
        admin.click("confirm-cancel").await;
        admin.screenshot("users").await;

        // Members: both join payments from its Members tab.
        admin
            .goto(&app.url(&format!("/#/projects/{payments}")))
            .await;
        admin.key_state_becomes(&by_admin.access_key, "ACTIVE").await;
        admin.click("tab-members").await;
        // Whoever creates a project is its first owner.
        admin
            .css("[data-testid='member-row'][data-username='admin'][data-role='OWNER']")
            .await;
        for (label, username, role) in [
            ("Olive Owner (owner)", OWNER.0, "OWNER"),
            ("reader", READER.0, "READ_ONLY"),
        ] {
            admin.click("member-add").await;
            admin
                .get("member-user")
                .await
                .select_by_label(label)
                .await
                .expect("pick the user");
            admin
                .get("member-role")
                .await
                .select_by_value(role)
                .await
                .expect("pick the role");
            admin.assert_every_control_is_labelled().await;
            admin.click("member-submit").await;
            admin
                .until(
                    &format!("{username} is a member as {role}"),
                    "return !!document.querySelector(`[data-testid='member-row'][data-username='${arguments[0]}'][data-role='${arguments[1]}']`);",
                    vec![json!(username), json!(role)],
                )
                .await;
        }
        admin.screenshot("members").await;

        // The owner, in another browser: payments only, as its owner.
        let owner = driver.browser().await;
        owner.goto(&app.url("/")).await;
        owner.sign_in("user", OWNER.0, OWNER.1).await;
        owner
            .css("[data-testid='project-row'] [data-testid='project-open']")
            .await;
        assert_eq!(
            owner.texts("[data-testid='project-open']").await,
            ["payments"]
        );
        assert_eq!(owner.texts("[data-testid='project-role']").await, ["Owner"]);
        let users_link = owner
            .js("return !!document.querySelector(\"[data-testid='nav-users']\");", vec![])
            .await;
        assert_eq!(users_link, json!(false), "only administrators see Users");
        owner.screenshot("projects-of-a-user").await;

        // The owner adds a key; the table says who made each one.
        owner.click("project-open").await;
        owner.key_state_becomes(&by_admin.access_key, "ACTIVE").await;
        owner.click("add-key").await;
        owner.fill("key-name", "the owner's key").await;
        owner.click("key-submit").await;
        let owners_key = owner.value("new-access-key").await;
        owner.click("secret-done").await;
        owner.key_state_becomes(&owners_key, "ACTIVE").await;
        for (access_key, creator) in [
            (&owners_key, "Olive Owner"),
            (&by_admin.access_key, ADMIN.0),
            (&by_key.access_key, "—"),
        ] {
            assert_eq!(
                owner
                    .texts(&format!(
                        "[data-testid='key-row'][data-access-key='{access_key}'] [data-testid='key-created-by']"
                    ))
                    .await,
                [creator],
                "the creator of {access_key}"
            );
        }
        // The keys table, Created by and all, in the picture.
        owner
            .js(
                "document.querySelector(\"[data-testid='keys-table']\").scrollIntoView({ block: 'center' });",
                vec![],
            )
            .await;
        owner.screenshot("api-and-keys-created-by").await;

        // The owner manages the members but, not listing users, adds none.
        owner.click("tab-members").await;
        owner.get("member-add-note").await;
        owner
            .css("[data-testid='member-row'][data-username='reader'] [data-testid='member-actions']")
            .await;
        let add = owner
            .js("return !!document.querySelector(\"[data-testid='member-add']\");", vec![])
            .await;
        assert_eq!(add, json!(false), "only administrators are offered Add Member");

        // My account: a new display name, shown in the top bar at once.
        owner.click("identity").await;
        owner.fill("account-display-name", "Olive O.").await;
        owner.click("account-save").await;
        owner
            .until(
                "the top bar shows the new name",
                "return document.querySelector(\"[data-testid='identity']\").textContent.includes('Olive O.');",
                vec![],
            )
            .await;
        owner.assert_every_control_is_labelled().await;
        owner.screenshot("my-account").await;

        // The reader reads: no key or member changes offered.
        let reader = driver.browser().await;
        reader.goto(&app.url("/")).await;
        reader.sign_in("user", READER.0, READER.1).await;
        reader
            .css("[data-testid='project-row'] [data-testid='project-open']")
            .await;
        assert_eq!(reader.texts("[data-testid='project-role']").await, ["Read-only"]);
        reader.click("project-open").await;
        reader.key_state_becomes(&owners_key, "ACTIVE").await;
        reader.click("tab-members").await;
        reader.get("members-table").await;
        let offered = reader
            .js(
                "return [...document.querySelectorAll(\"[data-testid='add-key'], [data-testid='key-actions'], [data-testid='member-add'], [data-testid='member-actions']\")].length;",
                vec![],
            )
            .await;
        assert_eq!(offered, json!(0), "a READ_ONLY member is offered changes");
        // Signing out ends the session: a reload asks to sign in.
        reader.click("signout").await;
        reader.get("signin-username").await;
        reader.goto(&app.url("/")).await;
        reader.get("signin-username").await;

        // The owner signs out everywhere: back to signing in, for good.
        owner.click("identity").await;
        owner.click("account-sign-out-everywhere").await;
        owner.click("confirm-ok").await;
        owner.get("signin-username").await;
        owner.goto(&app.url("/")).await;
        owner.get("signin-username").await;

        // What the console set up is what the API says.
        let team = app
            .ok(
                "query($id: ID!) { project(id: $id) { members { edges { node { role user { username displayName } } } } } }",
                json!({ "id": payments }),
                &Auth::admin(),
            )
            .await;
        let mut members: Vec<(String, String, String)> = team["project"]["members"]["edges"]
            .as_array()
            .expect("members")
            .iter()
            .map(|edge| {
                let node = &edge["node"];
                (
                    node["user"]["username"].as_str().unwrap_or_default().to_owned(),
                    node["user"]["displayName"].as_str().unwrap_or_default().to_owned(),
                    node["role"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        members.sort();
        assert_eq!(
            members,
            [
                ("admin".to_owned(), "admin".to_owned(), "OWNER".to_owned()),
                ("owner".to_owned(), "Olive O.".to_owned(), "OWNER".to_owned()),
                ("reader".to_owned(), "reader".to_owned(), "READ_ONLY".to_owned()),
            ]
        );

        for browser in [admin, owner, reader] {
            browser.assert_only_local_requests(&app).await;
            browser.close().await;
        }
    })
    .await;
}

/// The modulus of an RSA public key no test signs with: what an identity
/// provider's JWKS needs to hold for keyward to accept its discovery.
const JWK_MODULUS: &str = "0PmmNignZFy8i6DuaPRFBaopB8yfhf4_buyITtZgVT09ix_023PEwNMtMBrYK_FyAkOELE0PyCYvxeMUZCQAJ98eNrKLVx6kZjKTxvUx43ut9LrAYXNRkbObfOuJTrqEefKobdUb_97Q2t-E4VwwMogYGrrGFw1vEvv8slJ8vtpoYIcNn7nyDUulT5Y6XfRCpF37Bh1sk8pyjmpLLlbv5oScr-5hpesDJ5deqKz-JOzfpkaQPq7EKaI45TgaI-o7n4purZTMbaliLOfKT7ij4-eKBeMLc-EeFpD41-2b-UkcRG8cj6qDX6QYVUCumdH-QIGDZDIDbebTSjXWG1j6Nw";

/// A client secret typed into the console, which it must never show again.
const CLIENT_SECRET: &str = "the client secret of keyward at corp";

/// Serves an OpenID provider's discovery document and JWKS on loopback
/// (nobody signs in through it: the console tests only set it up); its
/// issuer URL.
async fn discovery_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the discovery server");
    let issuer = format!("http://{}", listener.local_addr().expect("its address"));
    let metadata = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    let jwks = json!({
        "keys": [{ "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "console-test", "n": JWK_MODULUS, "e": "AQAB" }]
    });
    let router = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || async move { axum::Json(metadata) }),
        )
        .route(
            "/jwks",
            axum::routing::get(move || async move { axum::Json(jwks) }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    issuer
}

/// Creates identity provider `name` at `issuer` through GraphQL.
async fn create_provider(app: &TestApp, name: &str, issuer: &str) {
    app.ok(
        "mutation($name: String!, $issuerUrl: String!, $clientId: String!, $clientSecret: String!) {
           createIdentityProvider(input: { name: $name, issuerUrl: $issuerUrl, clientId: $clientId, clientSecret: $clientSecret }) {
             identityProvider { id name }
           }
         }",
        json!({ "name": name, "issuerUrl": issuer, "clientId": "keyward", "clientSecret": CLIENT_SECRET }),
        &Auth::admin(),
    )
    .await;
}

/// Single sign-on set up in the console alone (issue 27): an administrator
/// adds an identity provider (keyward reads its discovery document), lets
/// a group and a user sign in (RESTRICTED), makes another group a MEMBER of
/// a project and links a user to an identity; the API then says the same,
/// and the client secret typed once is nowhere in the page.
#[tokio::test]
#[cfg_attr(
    not(keyward_browser),
    ignore = "needs Chromium: apt-get install chromium chromium-driver"
)]
async fn an_administrator_sets_up_single_sign_on_in_the_console() {
    backend::run_on(Backend::Sqlite, async {
        let driver = Driver::start().await;
        let issuer = discovery_server().await;
        let app = TestApp::spawn().await;
        app.enable_access_control().await;
        let payments = app.create_project(&Auth::admin(), "payments").await;
        let olive = app
            .ok(
                "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } } }",
                json!({ "i": { "username": OWNER.0, "password": OWNER.1, "displayName": "Olive Owner" } }),
                &Auth::admin(),
            )
            .await["createUser"]["user"]["id"]
            .as_str()
            .expect("the user's id")
            .to_owned();

        let admin = driver.browser().await;
        admin.goto(&app.url("/")).await;
        admin.sign_in("user", ADMIN.0, ADMIN.1).await;
        admin.click("nav-sso").await;
        admin.get("providers-empty").await;

        // A provider keyward cannot use is refused, saying why, in the dialog.
        admin.click("provider-add").await;
        admin.fill("provider-name", "corp").await;
        admin
            .fill("provider-issuer-url", &format!("{issuer}/nowhere"))
            .await;
        admin.fill("provider-client-id", "keyward").await;
        admin.fill("provider-client-secret", CLIENT_SECRET).await;
        admin.assert_every_control_is_labelled().await;
        // The redirect URI to register with the provider follows the name.
        assert_eq!(
            admin.value("provider-dialog-callback").await,
            app.url("/auth/oidc/corp/callback")
        );
        admin.click("provider-submit").await;
        admin
            .until(
                "the unusable issuer is refused in the dialog",
                "const dialog = document.querySelector(\"[data-testid='provider-dialog']\");
                 return !!dialog && !!dialog.querySelector(\"[data-testid='error']\");",
                vec![],
            )
            .await;
        // The real issuer; the secret was cleared and is typed again.
        admin.fill("provider-issuer-url", &issuer).await;
        assert_eq!(admin.value("provider-client-secret").await, "");
        admin.fill("provider-client-secret", CLIENT_SECRET).await;
        admin.click("provider-submit").await;
        admin
            .css("[data-testid='provider-row'][data-name='corp'][data-enabled='true']")
            .await;
        assert_eq!(
            admin.texts("[data-testid='provider-callback']").await,
            [app.url("/auth/oidc/corp/callback")]
        );

        // The access mode: RESTRICTED, with a group and a user allowed.
        admin.click("access-mode-restricted").await;
        admin.fill("access-groups", "platform-team\n  \nops").await;
        admin
            .css(&format!(
                "[data-testid='access-user'][data-username='{}']",
                OWNER.0
            ))
            .await
            .click()
            .await
            .expect("allow the user");
        admin.assert_every_control_is_labelled().await;
        admin.click("access-mode-save").await;
        admin.get("access-mode-saved").await;
        admin.screenshot("single-sign-on").await;

        // The payments team's group is a MEMBER of payments.
        admin
            .goto(&app.url(&format!("/#/projects/{payments}/members")))
            .await;
        admin.get("groups-empty").await;
        admin.click("group-add").await;
        admin.fill("group-add-name", "payments-team").await;
        admin
            .get("group-add-role")
            .await
            .select_by_value("MEMBER")
            .await
            .expect("pick the role");
        admin.assert_every_control_is_labelled().await;
        admin.click("group-add-submit").await;
        admin
            .css("[data-testid='group-row'][data-group='payments-team'][data-role='MEMBER']")
            .await;
        admin.screenshot("group-members").await;

        // Olive may sign in through corp as the person it knows as "olive-sub".
        admin.click("nav-users").await;
        admin
            .row_action(
                &format!("[data-testid='user-row'][data-username='{}']", OWNER.0),
                "user-actions",
                "action-link-identity",
            )
            .await;
        admin
            .get("link-identity-provider")
            .await
            .select_by_value("corp")
            .await
            .expect("pick the provider");
        admin.fill("link-identity-subject", "olive-sub").await;
        admin.assert_every_control_is_labelled().await;
        admin.click("link-identity-submit").await;
        admin
            .css(&format!(
                "[data-testid='user-row'][data-username='{}'] [data-testid='user-identity'][data-provider='corp'][data-subject='olive-sub']",
                OWNER.0
            ))
            .await;

        // The secret typed twice is nowhere in the page or its storage.
        admin.click("nav-sso").await;
        admin.css("[data-testid='provider-row'][data-name='corp']").await;
        let page = admin
            .js(
                "return document.documentElement.outerHTML + JSON.stringify(sessionStorage) + JSON.stringify(localStorage);",
                vec![],
            )
            .await;
        assert!(
            !page.as_str().unwrap_or_default().contains(CLIENT_SECRET),
            "the client secret is in the page"
        );

        // What the console set up is what the API says.
        let data = app
            .ok(
                "query($id: ID!) {
                   identityProviders { name issuerUrl clientId scopes usernameClaim groupsClaim enabled }
                   accessControl { enabled mode allowedUsers allowedGroups }
                   project(id: $id) { groupMembers { group role } }
                   users(first: 10) { edges { node { username identities { provider subject } } } }
                 }",
                json!({ "id": payments }),
                &Auth::admin(),
            )
            .await;
        assert_eq!(
            data["identityProviders"],
            json!([{
                "name": "corp",
                "issuerUrl": issuer,
                "clientId": "keyward",
                "scopes": ["openid", "profile", "email"],
                "usernameClaim": "preferred_username",
                "groupsClaim": "groups",
                "enabled": true,
            }])
        );
        let mut groups: Vec<String> =
            serde_json::from_value(data["accessControl"]["allowedGroups"].clone())
                .expect("allowed groups");
        groups.sort();
        assert_eq!(groups, ["ops", "platform-team"]);
        assert_eq!(data["accessControl"]["mode"], "RESTRICTED");
        assert_eq!(data["accessControl"]["allowedUsers"], json!([olive]));
        assert_eq!(
            data["project"]["groupMembers"],
            json!([{ "group": "payments-team", "role": "MEMBER" }])
        );
        let identities: Vec<(String, Value)> = data["users"]["edges"]
            .as_array()
            .expect("users")
            .iter()
            .map(|edge| {
                (
                    edge["node"]["username"].as_str().unwrap_or_default().to_owned(),
                    edge["node"]["identities"].clone(),
                )
            })
            .collect();
        assert!(
            identities.contains(&(
                OWNER.0.to_owned(),
                json!([{ "provider": "corp", "subject": "olive-sub" }])
            )),
            "{identities:?}"
        );

        admin.assert_only_local_requests(&app).await;
        admin.close().await;
    })
    .await;
}

/// The sign-in page proxies send people to: a button per enabled provider
/// that carries where they came from, a sentence for each way a sign-in
/// through a provider fails (never the URL's own text), and after a
/// password sign-in the page the server accepted going back to, not
/// whatever the URL asked for.
#[tokio::test]
#[cfg_attr(
    not(keyward_browser),
    ignore = "needs Chromium: apt-get install chromium chromium-driver"
)]
async fn the_sign_in_page_offers_each_provider_and_explains_a_failed_sign_in() {
    backend::run_on(Backend::Sqlite, async {
        let driver = Driver::start().await;
        let issuer = discovery_server().await;
        let app = TestApp::spawn().await;
        app.enable_access_control().await;
        create_provider(&app, "corp", &issuer).await;
        let browser = driver.browser().await;

        // Refused by the access mode, on the way to a tool.
        let tool = "https://tool.example/dashboards?tab=1";
        browser
            .goto(&app.url(&format!(
                "/?signInError=not_allowed&returnTo={}",
                urlencoding(tool)
            )))
            .await;
        let error = browser.get("signin-error").await;
        assert_eq!(
            error.attr("data-code").await.expect("its code").as_deref(),
            Some("not_allowed")
        );
        browser
            .text_contains("Your organisation's access settings do not let you sign in to keyward. Ask an administrator.")
            .await;
        // The password form is there too.
        browser.get("signin-username").await;
        let provider = browser
            .css("[data-testid='signin-provider'][data-provider='corp']")
            .await;
        assert_eq!(provider.text().await.expect("its text"), "Sign in with corp");
        assert_eq!(
            provider.attr("href").await.expect("its link").as_deref(),
            Some(format!("/auth/oidc/corp/start?return_to={}", urlencoding(tool)).as_str())
        );
        // The failure is told once: gone from the URL, which keeps returnTo.
        let search = browser.js("return location.search;", vec![]).await;
        assert_eq!(search, json!(format!("?returnTo={}", urlencoding(tool))));
        browser.assert_every_control_is_labelled().await;
        browser.screenshot("sign-in-single-sign-on").await;

        // An unknown code gets the generic sentence; nothing of it is HTML.
        browser
            .goto(&app.url(&format!(
                "/?signInError={}",
                urlencoding("<img src=x id=injected>")
            )))
            .await;
        let error = browser.get("signin-error").await;
        assert_eq!(
            error.attr("data-code").await.expect("its code").as_deref(),
            Some("unknown")
        );
        browser
            .text_contains("Signing in through your identity provider failed.")
            .await;
        let injected = browser
            .js("return !!document.getElementById('injected') || document.body.innerText.includes('<img');", vec![])
            .await;
        assert_eq!(injected, json!(false));
        // Without returnTo, a provider's sign-in comes back to the console.
        let provider = browser
            .css("[data-testid='signin-provider'][data-provider='corp']")
            .await;
        assert_eq!(
            provider.attr("href").await.expect("its link").as_deref(),
            Some("/auth/oidc/corp/start?return_to=%2F")
        );

        // A password sign-in asked to go to another site stays here: the
        // server did not accept it.
        browser
            .goto(&app.url(&format!("/?returnTo={}", urlencoding("https://evil.example/"))))
            .await;
        browser.sign_in("user", ADMIN.0, ADMIN.1).await;
        browser.get("nav-sso").await;
        let here = browser.js("return location.origin;", vec![]).await;
        assert_eq!(here, json!(app.url("").trim_end_matches('/')));
        browser.click("signout").await;

        // Asked to go to a page of keyward's own, it goes there.
        browser
            .goto(&app.url(&format!("/?returnTo={}", urlencoding(&app.url("/graphql")))))
            .await;
        browser.sign_in("user", ADMIN.0, ADMIN.1).await;
        browser
            .until(
                "the browser goes where it was sent back to",
                "return location.pathname === '/graphql' && !!document.querySelector(\"[data-testid='graphiql']\");",
                vec![],
            )
            .await;

        browser.assert_only_local_requests(&app).await;
        browser.close().await;
    })
    .await;
}

/// `text` percent-encoded as JavaScript's encodeURIComponent does.
fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'_'
            | b'.'
            | b'!'
            | b'~'
            | b'*'
            | b'\''
            | b'('
            | b')' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
