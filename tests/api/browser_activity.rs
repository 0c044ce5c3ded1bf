//! The console's pages of what happened, in a real browser (see
//! `browser.rs` for the driver): a key's own page, a project's Audit tab
//! and the administrators' whole trail, filtered; a project's Webhooks tab,
//! with the signing secret shown once, the deliveries to a receiver running
//! in the test, and Redeliver; the usage charts of a project and a key, and
//! a key's recent clients. Each page is screenshot, wide and on a phone.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::backend::{self, Backend};
use crate::browser::Driver;
use crate::helpers::*;

/// A key whose description is markup: it must show as text.
const MARKUP: &str = "<img src=x onerror=\"document.title='pwned'\"><b>bold</b>";

async fn create_named_key(
    app: &TestApp,
    auth: &Auth,
    project: &str,
    name: &str,
    role: &str,
) -> TestKey {
    let data = app
        .ok(
            CREATE_KEY,
            json!({ "i": { "projectId": project, "name": name, "role": role, "description": MARKUP } }),
            auth,
        )
        .await;
    key_from(&data)
}

/// The `data-*` attribute `attribute` of every element matching `selector`.
async fn attributes(
    browser: &crate::browser::Browser,
    selector: &str,
    attribute: &str,
) -> Vec<String> {
    let values = browser
        .js(
            "return [...document.querySelectorAll(arguments[0])].map(e => e.getAttribute(arguments[1]));",
            vec![json!(selector), json!(attribute)],
        )
        .await;
    serde_json::from_value(values).expect("attributes")
}

/// Waits until the audit trail on the page is not loading and lists `count` events.
async fn audit_rows_become(browser: &crate::browser::Browser, count: usize) {
    browser
        .until(
            &format!("the trail lists {count} events"),
            "const trail = document.querySelector(\"[data-testid='audit-trail']\");
             return !!trail && !trail.hasAttribute('aria-busy')
               && trail.querySelectorAll(\"[data-testid='audit-row']\").length === arguments[0]
               && (arguments[0] > 0 || !!trail.querySelector(\"[data-testid='audit-empty']\"));",
            vec![json!(count)],
        )
        .await;
}

/// Waits until the audit trail's count says `count`.
async fn audit_count_becomes(browser: &crate::browser::Browser, count: usize) {
    browser
        .until(
            &format!("the trail counts {count} events"),
            "const count = document.querySelector(\"[data-testid='audit-count']\");
             return !!count && count.textContent === String(arguments[0]);",
            vec![json!(count)],
        )
        .await;
}

/// A key's page (facts, its events), a project's Audit tab filtered by
/// action, key and period and paged with "Load more", and the whole trail
/// of an administrator.
#[tokio::test]
#[cfg_attr(
    not(keyward_browser),
    ignore = "needs Chromium: apt-get install chromium chromium-driver"
)]
async fn a_keys_page_and_the_audit_trail_show_what_happened_filtered() {
    backend::run_on(Backend::Sqlite, async {
        let driver = Driver::start().await;
        let app = TestApp::spawn().await;
        app.enable_access_control().await;
        let admin_auth = Auth::admin();
        let payments = app.create_project(&admin_auth, "payments").await;
        let deployer = create_named_key(&app, &admin_auth, &payments, "ci-deployer", "MEMBER").await;
        let reader = create_named_key(&app, &admin_auth, &payments, "dashboards", "READ_ONLY").await;
        // The deployer renames the reader 30 times (more than a page), and
        // is refused the deletion of an ACTIVE key.
        for n in 0..30 {
            app.ok(
                RENAME,
                json!({ "i": { "id": reader.id, "name": format!("dashboards-{n}") } }),
                &deployer.auth(),
            )
            .await;
        }
        app.gql(DELETE_KEY, json!({ "i": { "id": reader.id } }), &deployer.auth())
            .await
            .assert_code("CONFLICT");
        // PROJECT_CREATED, 2 KEY_CREATED, 30 KEY_RENAMED, 1 KEY_DELETED refused.
        let project_events = 34;

        let admin = driver.browser().await;
        admin.goto(&app.url("/")).await;
        admin.sign_in("user", ADMIN.0, ADMIN.1).await;
        admin.get("nav-audit").await;

        // From the keys table, the key's own page.
        admin.goto(&app.url(&format!("/#/projects/{payments}"))).await;
        admin.key_state_becomes(&deployer.access_key, "ACTIVE").await;
        admin
            .css(&format!(
                "[data-testid='key-row'][data-access-key='{}'] [data-testid='key-name-text']",
                deployer.access_key
            ))
            .await
            .click()
            .await
            .expect("open the key's page");
        admin.get("key-page").await;
        assert_eq!(admin.value("key-page-access-key").await, deployer.access_key);
        assert_eq!(admin.value("key-page-description").await, MARKUP);
        let markup = admin
            .js(
                "return document.querySelectorAll(\"[data-testid='key-page-description'] *\").length;",
                vec![],
            )
            .await;
        assert_eq!(markup, json!(0), "the description became markup");
        assert_ne!(admin.value("key-page-last-used").await, "Never");
        // Its usage and recent clients (see the usage test below).
        admin.get("usage-chart").await;
        admin.get("key-clients").await;
        // Its events: created, then 30 renames of another key by it (a
        // page and the rest), and the refused deletion; no key filter to
        // pick, the key being fixed.
        audit_rows_become(&admin, 25).await;
        audit_count_becomes(&admin, 32).await;
        assert_eq!(
            admin
                .js("return !document.querySelector(\"[data-testid='audit-key']\");", vec![])
                .await,
            json!(true)
        );
        let first = attributes(&admin, "[data-testid='audit-row']", "data-action").await;
        assert_eq!(first[0], "KEY_DELETED");
        let refused = admin.css("[data-testid='audit-row'][data-outcome='CONFLICT']").await;
        assert!(refused.text().await.expect("text").contains("Refused"));
        admin.assert_every_control_is_labelled().await;
        admin.screenshot("key-page").await;
        admin.click("audit-more").await;
        audit_rows_become(&admin, 32).await;
        assert_eq!(admin.value("audit-summary").await, "Showing 32 of 32");
        assert_eq!(
            attributes(&admin, "[data-testid='audit-row']", "data-action").await[31],
            "KEY_CREATED"
        );
        // Each event says who acted (the key, by its access key), on what,
        // and the request's id.
        let renamed = "[data-testid='audit-row'][data-action='KEY_RENAMED']";
        let actor = admin.css(&format!("{renamed} [data-testid='audit-actor']")).await;
        assert_eq!(actor.attr("data-kind").await.expect("kind").as_deref(), Some("API_KEY"));
        assert!(actor.text().await.expect("text").contains(&deployer.access_key));
        let target = admin.css(&format!("{renamed} [data-testid='audit-target']")).await;
        assert!(target.text().await.expect("text").contains(&reader.access_key));
        let request_id = admin.css(&format!("{renamed} [data-testid='audit-request-id']")).await;
        assert!(!request_id.text().await.expect("text").trim().is_empty());

        // The project's Audit tab: everything, newest first, a page at a time.
        admin.click("key-page-back").await;
        admin.key_state_becomes(&deployer.access_key, "ACTIVE").await;
        admin.click("tab-audit").await;
        admin.get("audit-trail").await;
        audit_rows_become(&admin, 25).await;
        audit_count_becomes(&admin, project_events).await;
        // By action.
        admin
            .until(
                "the actions are offered",
                "return !!document.querySelector(\"[data-testid='audit-action'] option[value='KEY_CREATED']\");",
                vec![],
            )
            .await;
        admin
            .get("audit-action")
            .await
            .select_by_value("KEY_CREATED")
            .await
            .expect("pick an action");
        audit_rows_become(&admin, 2).await;
        assert_eq!(
            attributes(&admin, "[data-testid='audit-row']", "data-action").await,
            ["KEY_CREATED", "KEY_CREATED"]
        );
        // By action and key, the key picked from an event.
        admin
            .css(&format!(
                "[data-testid='audit-row'] [data-testid='audit-filter-key'][aria-label$='{}']",
                reader.access_key
            ))
            .await
            .click()
            .await
            .expect("only the reader's events");
        audit_rows_become(&admin, 1).await;
        admin.get("audit-action").await.select_by_value("").await.expect("all actions");
        // The reader's: created, renamed 30 times, the refused deletion.
        audit_rows_become(&admin, 25).await;
        audit_count_becomes(&admin, 32).await;
        admin.get("audit-key").await.select_by_value("").await.expect("all keys");
        audit_rows_become(&admin, 25).await;
        // By period: the last hour holds everything; a period to come, nothing.
        admin.get("audit-period").await.select_by_value("1h").await.expect("last hour");
        audit_rows_become(&admin, 25).await;
        audit_count_becomes(&admin, project_events).await;
        admin.get("audit-period").await.select_by_value("custom").await.expect("a period");
        admin
            .js(
                "const local = (ms) => { const d = new Date(Date.now() + ms); d.setMinutes(d.getMinutes() - d.getTimezoneOffset()); return d.toISOString().slice(0, 16); };
                 document.querySelector(\"[data-testid='audit-since']\").value = local(3600e3);
                 document.querySelector(\"[data-testid='audit-until']\").value = local(7200e3);",
                vec![],
            )
            .await;
        admin.click("audit-apply").await;
        audit_rows_become(&admin, 0).await;
        admin
            .js(
                "const local = (ms) => { const d = new Date(Date.now() + ms); d.setMinutes(d.getMinutes() - d.getTimezoneOffset()); return d.toISOString().slice(0, 16); };
                 document.querySelector(\"[data-testid='audit-since']\").value = local(-3600e3);
                 document.querySelector(\"[data-testid='audit-until']\").value = local(3600e3);",
                vec![],
            )
            .await;
        admin.click("audit-apply").await;
        audit_rows_become(&admin, 25).await;
        admin.get("audit-period").await.select_by_value("").await.expect("any time");
        audit_rows_become(&admin, 25).await;
        admin.assert_every_control_is_labelled().await;
        admin.screenshot("audit").await;

        // The whole trail, for administrators: the server's events too.
        admin.click("nav-audit").await;
        admin.get("audit-trail").await;
        audit_rows_become(&admin, 25).await;
        admin.get("audit-action").await;
        admin
            .until(
                "the actions are offered",
                "return !!document.querySelector(\"[data-testid='audit-action'] option[value='ACCESS_CONTROL_ENABLED']\");",
                vec![],
            )
            .await;
        admin
            .get("audit-action")
            .await
            .select_by_value("ACCESS_CONTROL_ENABLED")
            .await
            .expect("pick an action");
        audit_rows_become(&admin, 1).await;
        admin.get("audit-action").await.select_by_value("").await.expect("all actions");
        audit_rows_become(&admin, 25).await;
        admin.screenshot("audit-server").await;

        // On a phone.
        admin.client.set_window_size(390, 844).await.expect("resize");
        admin.goto(&app.url(&format!("/#/projects/{payments}/audit"))).await;
        audit_rows_become(&admin, 25).await;
        admin.screenshot("audit-phone").await;
        admin
            .goto(&app.url(&format!("/#/projects/{payments}/keys/{}", deployer.id)))
            .await;
        admin.get("key-page").await;
        audit_rows_become(&admin, 25).await;
        admin.screenshot("key-page-phone").await;
        let title = admin.js("return document.title;", vec![]).await;
        assert_ne!(title, json!("pwned"));

        // A READ_ONLY key reads its trail, but is offered no webhooks.
        let key_browser = driver.browser().await;
        key_browser.goto(&app.url("/")).await;
        key_browser.sign_in("key", &reader.access_key, &reader.secret).await;
        key_browser.key_state_becomes(&reader.access_key, "ACTIVE").await;
        key_browser.get("tab-audit").await;
        assert_eq!(
            key_browser
                .js("return !document.querySelector(\"[data-testid='tab-webhooks']\");", vec![])
                .await,
            json!(true)
        );
        key_browser.click("tab-audit").await;
        audit_rows_become(&key_browser, 25).await;
        key_browser.assert_only_local_requests(&app).await;
        key_browser.close().await;
        admin.assert_only_local_requests(&app).await;
        admin.close().await;
    })
    .await;
}

/// What a client of the usage test says it is: markup, to be shown as text.
const USER_AGENT: &str = "deploy-bot/2.1 <b>bold</b><img src=x onerror=\"document.title='pwned'\">";

/// A request of the usage test: `auth`, from `USER_AGENT`.
async fn send_as_bot(app: &TestApp, path: &str, auth: &Auth) -> StatusCode {
    with_auth(
        app.client
            .get(app.url(path))
            .header(reqwest::header::USER_AGENT, USER_AGENT),
        auth,
    )
    .send()
    .await
    .expect("an answer")
    .status()
}

/// Accepted, refused, forbidden, throttled: the order of the chart's series.
const OUTCOMES: [&str; 4] = ["accepted", "refused", "forbidden", "throttled"];

/// Waits (at most 10 s: counts are written about once a second) until
/// key or project `id` counts `expected` over the last two hours.
async fn usage_becomes(app: &TestApp, id: &str, expected: [i64; 4]) {
    let query = "query($id: ID!, $since: DateTime!) { node(id: $id) {
        ... on ApiKey { usage(since: $since, granularity: HOUR) { accepted refused forbidden throttled } }
        ... on Project { usage(since: $since, granularity: HOUR) { accepted refused forbidden throttled } } } }";
    let since = chrono::Utc::now() - chrono::Duration::hours(2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let data = app
            .ok(query, json!({ "id": id, "since": since }), &Auth::admin())
            .await;
        let buckets = data["node"]["usage"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let seen = OUTCOMES.map(|outcome| {
            buckets
                .iter()
                .map(|bucket| bucket[outcome].as_i64().expect("a count"))
                .sum::<i64>()
        });
        if seen == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "usage of {id}: {seen:?}, expected {expected:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The usage chart on the page once loaded for `period`: how many buckets
/// it draws, the counts its bars carry summed by outcome, its legend
/// (outcome and total), and its accessible title and description.
async fn usage_shown(browser: &crate::browser::Browser, period: &str) -> Value {
    browser
        .until(
            &format!("the usage chart of {period} is drawn"),
            "const card = document.querySelector(\"[data-testid='usage']\");
             return !!card && !card.hasAttribute('aria-busy') && card.dataset.period === arguments[0]
               && !!card.querySelector(\"[data-testid='usage-chart']\");",
            vec![json!(period)],
        )
        .await;
    browser
        .js(
            "const card = document.querySelector(\"[data-testid='usage']\");
             const svg = card.querySelector(\"[data-testid='usage-chart']\");
             const bars = [...svg.querySelectorAll(\"[data-testid='chart-bar']\")];
             const sums = arguments[0].map(o => bars.reduce((sum, bar) => sum + Number(bar.getAttribute('data-' + o)), 0));
             const legend = [...card.querySelectorAll(\"[data-testid='usage-chart-legend-item']\")]
               .map(item => [item.dataset.series, item.textContent.trim()]);
             const titled = bars.every(bar => bar.querySelector('title').textContent.includes(' accepted, '));
             return {
               buckets: Number(svg.getAttribute('data-buckets')),
               sums,
               legend,
               titled,
               title: svg.querySelector(':scope > title').textContent,
               desc: svg.querySelector(':scope > desc').textContent,
               labelled: svg.getAttribute('role') === 'img' && !!svg.getAttribute('aria-labelledby'),
               xLabels: svg.querySelectorAll('.chart-axis text').length,
               quiet: !!card.querySelector(\"[data-testid='usage-empty']\"),
             };",
            vec![json!(OUTCOMES)],
        )
        .await
}

/// Waits until the usage chart is drawn at its width on screen (narrower
/// than the window's `window_width`): its labels keep their size.
async fn drawn_at_its_width(browser: &crate::browser::Browser, window_width: u32) {
    browser
        .until(
            &format!("the chart is drawn at its width in a window {window_width} wide"),
            "const svg = document.querySelector(\"[data-testid='usage-chart']\");
             const width = svg.getBoundingClientRect().width;
             return width > 200 && width < arguments[0]
               && Math.abs(Number(svg.getAttribute('viewBox').split(' ')[2]) - width) <= 1;",
            vec![json!(window_width)],
        )
        .await;
}

/// The traffic of a key, outcome by outcome, on its project's chart and on
/// its own page's, over each period; its recent clients with the test's
/// address and user agent (as text).
#[tokio::test]
#[cfg_attr(
    not(keyward_browser),
    ignore = "needs Chromium: apt-get install chromium chromium-driver"
)]
async fn usage_charts_show_the_traffic_sent_by_outcome_and_the_recent_clients() {
    backend::run_on(Backend::Sqlite, async {
        let driver = Driver::start().await;
        let app = TestApp::spawn_with(|config| {
            config.limits.auth_failures_per_key = 2;
            config.limits.auth_throttle_delay_ms = 0;
        })
        .await;
        app.enable_access_control().await;
        let admin_auth = Auth::admin();
        let payments = app.create_project(&admin_auth, "payments").await;
        let billing = app.create_project(&admin_auth, "billing").await;
        let deployer = create_named_key(&app, &admin_auth, &payments, "ci-deployer", "MEMBER").await;
        let idle = create_named_key(&app, &admin_auth, &payments, "idle", "READ_ONLY").await;

        // (path, credentials, answer, how many times): 5 accepted, 3
        // forbidden (another project's endpoint, a role it lacks), 2
        // refused (a wrong secret, up to the limit), then 1 throttled.
        let wrong = Auth::basic(&deployer.access_key, &"0".repeat(40));
        let traffic = [
            ("/verify".to_owned(), deployer.auth(), StatusCode::OK, 5),
            (format!("/projects/{billing}/verify"), deployer.auth(), StatusCode::FORBIDDEN, 2),
            ("/verify?role=OWNER".to_owned(), deployer.auth(), StatusCode::FORBIDDEN, 1),
            ("/verify".to_owned(), wrong.clone(), StatusCode::UNAUTHORIZED, 2),
        ];
        for (path, auth, expected, times) in &traffic {
            for _ in 0..*times {
                assert_eq!(send_as_bot(&app, path, auth).await, *expected, "{path}");
            }
        }
        assert!(!send_as_bot(&app, "/verify", &wrong).await.is_success());
        let sent = [5, 2, 3, 1];
        usage_becomes(&app, &deployer.id, sent).await;
        usage_becomes(&app, &payments, sent).await;

        let admin = driver.browser().await;
        admin.goto(&app.url("/")).await;
        admin.sign_in("user", ADMIN.0, ADMIN.1).await;
        admin.get("nav-audit").await;

        // The project's page: its keys' usage, over each period.
        admin.goto(&app.url(&format!("/#/projects/{payments}"))).await;
        admin.key_state_becomes(&deployer.access_key, "ACTIVE").await;
        let legend = json!([
            ["accepted", "Accepted5"],
            ["refused", "Refused2"],
            ["forbidden", "Forbidden3"],
            ["throttled", "Throttled1"]
        ]);
        for (period, buckets) in [("24h", 24), ("7d", 168), ("30d", 30), ("24h", 24)] {
            if admin.value("usage-period").await != period {
                admin
                    .get("usage-period")
                    .await
                    .select_by_value(period)
                    .await
                    .expect("pick a period");
            }
            let shown = usage_shown(&admin, period).await;
            assert_eq!(shown["buckets"], json!(buckets), "{period}: {shown}");
            assert_eq!(shown["sums"], json!(sent), "{period}: {shown}");
            assert_eq!(shown["legend"], legend, "{period}: {shown}");
            assert_eq!(shown["titled"], json!(true), "{period}: {shown}");
            assert_eq!(shown["quiet"], json!(false), "{period}: {shown}");
            assert_eq!(shown["labelled"], json!(true), "{period}: {shown}");
            assert!(
                shown["desc"].as_str().expect("desc").contains("5 accepted, 2 refused, 3 forbidden, 1 throttled"),
                "{shown}"
            );
            assert!(shown["title"].as_str().expect("title").contains("payments"), "{shown}");
            assert!(shown["xLabels"].as_i64().expect("labels") >= 2, "{shown}");
        }
        admin.assert_every_control_is_labelled().await;
        admin
            .js("document.querySelector(\"[data-testid='usage']\").scrollIntoView({ block: 'center' });", vec![])
            .await;
        admin.screenshot("project-usage").await;

        // The key's page: its own chart, and its recent clients.
        admin
            .goto(&app.url(&format!("/#/projects/{payments}/keys/{}", deployer.id)))
            .await;
        admin.get("key-page").await;
        let shown = usage_shown(&admin, "24h").await;
        assert_eq!(shown["sums"], json!(sent), "{shown}");
        assert_eq!(shown["legend"], legend, "{shown}");
        assert!(shown["title"].as_str().expect("title").contains("ci-deployer"), "{shown}");
        // Drawn at its width: a pixel of the picture is a pixel on screen.
        drawn_at_its_width(&admin, 1280).await;
        let clients = admin
            .js(
                "return [...document.querySelectorAll(\"[data-testid='client-row']\")].map(row => ({
                   address: row.dataset.address,
                   shown: row.querySelector(\"[data-testid='client-address']\").textContent,
                   agent: row.querySelector(\"[data-testid='client-user-agent']\").textContent,
                   markup: row.querySelectorAll(\"[data-testid='client-user-agent'] *\").length,
                   seen: !!row.querySelector(\"[data-testid='client-last-seen'] time[datetime]\"),
                 }));",
                vec![],
            )
            .await;
        assert_eq!(
            clients,
            json!([{ "address": "127.0.0.1", "shown": "127.0.0.1", "agent": USER_AGENT, "markup": 0, "seen": true }])
        );
        admin.assert_every_control_is_labelled().await;
        admin
            .js("document.querySelector(\"[data-testid='key-usage']\").scrollIntoView();", vec![])
            .await;
        admin.screenshot("key-usage").await;

        // A key never used: an empty chart that says so, and no clients.
        admin
            .goto(&app.url(&format!("/#/projects/{payments}/keys/{}", idle.id)))
            .await;
        admin.get("key-page").await;
        let shown = usage_shown(&admin, "24h").await;
        assert_eq!(shown["sums"], json!([0, 0, 0, 0]), "{shown}");
        admin.get("usage-empty").await;
        admin.get("clients-empty").await;

        // On a phone: drawn again at the phone's width.
        admin.client.set_window_size(390, 844).await.expect("resize");
        admin
            .goto(&app.url(&format!("/#/projects/{payments}/keys/{}", deployer.id)))
            .await;
        admin.get("key-page").await;
        usage_shown(&admin, "24h").await;
        drawn_at_its_width(&admin, 390).await;
        admin
            .js("document.querySelector(\"[data-testid='key-usage']\").scrollIntoView();", vec![])
            .await;
        admin.screenshot("key-usage-phone").await;
        let title = admin.js("return document.title;", vec![]).await;
        assert_ne!(title, json!("pwned"));
        admin.assert_only_local_requests(&app).await;
        admin.close().await;
    })
    .await;
}

/// A receiver of webhook deliveries on 127.0.0.1: answers 500 to the
/// first request, 204 to the others; counts them.
async fn receiver() -> (String, Arc<Mutex<usize>>) {
    let received = Arc::new(Mutex::new(0usize));
    let count = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let count = count.clone();
            async move {
                let mut count = count.lock().unwrap();
                *count += 1;
                if *count == 1 {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the receiver");
    let addr = listener.local_addr().expect("receiver address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), received)
}

/// Clicks Refresh on the deliveries until `script` (given the deliveries
/// card) returns true.
async fn deliveries_until(browser: &crate::browser::Browser, what: &str, script: &str) {
    browser
        .until(
            what,
            &format!(
                "const card = document.querySelector(\"[data-testid='webhook-deliveries']\");
                 if (!card || card.hidden) return false;
                 if ((({script}))(card)) return true;
                 if (!card.hasAttribute('aria-busy')) card.querySelector(\"[data-testid='deliveries-refresh']\").click();
                 return false;"
            ),
            vec![],
        )
        .await;
}

/// The Webhooks tab: add a webhook (its signing secret shown once), see its
/// deliveries (a failed attempt, then a delivered one), redeliver an
/// event, edit, disable, enable and delete it.
#[tokio::test]
#[cfg_attr(
    not(keyward_browser),
    ignore = "needs Chromium: apt-get install chromium chromium-driver"
)]
async fn the_webhooks_tab_adds_a_webhook_lists_its_deliveries_and_redelivers() {
    backend::run_on(Backend::Sqlite, async {
        let driver = Driver::start().await;
        let app = TestApp::spawn_with(|config| {
            config.webhooks.allow_private_networks = true;
            config.webhooks.retry_delay_ms = Some(100);
        })
        .await;
        app.enable_access_control().await;
        let admin_auth = Auth::admin();
        let payments = app.create_project(&admin_auth, "payments").await;
        let key = app.create_key(&admin_auth, &payments, "MEMBER").await;
        let (url, received) = receiver().await;

        let admin = driver.browser().await;
        admin.goto(&app.url("/")).await;
        admin.sign_in("user", ADMIN.0, ADMIN.1).await;
        admin.get("nav-audit").await;
        admin.goto(&app.url(&format!("/#/projects/{payments}"))).await;
        admin.key_state_becomes(&key.access_key, "ACTIVE").await;
        admin.click("tab-webhooks").await;
        admin.get("webhooks-empty").await;

        // Add: the signing secret is shown once.
        admin.click("webhook-add").await;
        admin.get("webhook-dialog").await;
        admin.fill("webhook-url-input", &url).await;
        admin.fill("webhook-description-input", "audit mirror").await;
        admin.assert_every_control_is_labelled().await;
        admin.click("webhook-submit").await;
        admin.get("secret-dialog").await;
        let secret = admin.value("new-signing-secret").await;
        assert!(secret.starts_with("whsec_"), "{secret}");
        admin.get("secret-warning").await;
        admin.screenshot("webhook-secret-shown-once").await;
        admin.click("secret-done").await;
        admin
            .css("[data-testid='webhook-row'][data-enabled='true']")
            .await;
        let shown = admin.js("return document.body.innerText;", vec![]).await;
        assert!(!shown.as_str().unwrap_or_default().contains(&secret), "the secret is shown again");
        assert_eq!(admin.value("webhook-url").await, url);

        // An event: delivered, after a failed attempt (the receiver's first
        // answer is a 500, for this event or the webhook's own creation).
        app.ok(RENAME, json!({ "i": { "id": key.id, "name": "renamed" } }), &admin_auth)
            .await;
        let all_delivered = "card => { const rows = [...card.querySelectorAll(\"[data-testid='delivery-row']\")];
            return rows.some(row => row.querySelector(\"[data-testid='delivery-action']\")?.getAttribute('title') === 'KEY_RENAMED')
              && rows.every(row => row.dataset.status === 'DELIVERED'
                && row.querySelector(\"[data-testid='delivery-response']\").textContent.includes('204')); }";
        deliveries_until(&admin, "every event is delivered", all_delivered).await;
        let attempts = attributes(&admin, "[data-testid='delivery-row']", "data-attempts").await;
        assert!(attempts.iter().any(|n| n == "2"), "no delivery took two attempts: {attempts:?}");
        let before = *received.lock().unwrap();
        assert_eq!(before, attempts.len() + 1, "{attempts:?}");
        admin.assert_every_control_is_labelled().await;
        admin.screenshot("webhooks").await;

        // Redeliver: sent again, and delivered again.
        let renamed_row = "[...document.querySelectorAll(\"[data-testid='delivery-row']\")].find(row =>
            row.querySelector(\"[data-testid='delivery-action']\")?.getAttribute('title') === 'KEY_RENAMED')";
        admin
            .js(
                &format!("{renamed_row}.querySelector(\"[data-testid='delivery-redeliver']\").click();"),
                vec![],
            )
            .await;
        for _ in 0..150 {
            if *received.lock().unwrap() > before {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(*received.lock().unwrap() > before, "the event was not sent again");
        deliveries_until(&admin, "the redelivery is delivered", all_delivered).await;
        // The same delivery again; one more for the WEBHOOK_REDELIVERED
        // event itself, which this webhook receives too.
        let after = attributes(&admin, "[data-testid='delivery-row']", "data-status").await;
        assert_eq!(after.len(), attempts.len() + 1, "{after:?}");

        // Edit, disable, enable.
        admin
            .row_action("[data-testid='webhook-row']", "webhook-actions", "action-edit")
            .await;
        admin.get("edit-dialog").await;
        admin.fill("webhook-description-input", "only key changes").await;
        admin
            .css("[data-testid='webhook-actions-input'] label[data-action='KEY_CREATED'] input")
            .await
            .click()
            .await
            .expect("check KEY_CREATED");
        admin.click("webhook-submit").await;
        admin
            .until(
                "the edit shows",
                "const row = document.querySelector(\"[data-testid='webhook-row']\");
                 return !!row && row.textContent.includes('only key changes') && row.textContent.includes('Key created');",
                vec![],
            )
            .await;
        admin
            .row_action("[data-testid='webhook-row']", "webhook-actions", "action-disable")
            .await;
        admin.css("[data-testid='webhook-row'][data-enabled='false']").await;
        admin
            .row_action("[data-testid='webhook-row']", "webhook-actions", "action-enable")
            .await;
        admin.css("[data-testid='webhook-row'][data-enabled='true']").await;
        let listed = app
            .ok(
                "query($id: ID!) { project(id: $id) { webhooks { description actions enabled } } }",
                json!({ "id": payments }),
                &admin_auth,
            )
            .await;
        assert_eq!(
            listed["project"]["webhooks"],
            json!([{ "description": "only key changes", "actions": ["KEY_CREATED"], "enabled": true }])
        );

        // On a phone.
        admin.client.set_window_size(390, 844).await.expect("resize");
        admin.goto(&app.url(&format!("/#/projects/{payments}/webhooks"))).await;
        admin.get("deliveries-table").await;
        admin
            .js(
                "document.querySelector(\"[data-testid='webhook-deliveries']\").scrollIntoView();",
                vec![],
            )
            .await;
        admin.screenshot("webhooks-phone").await;

        // Delete, after confirming.
        admin
            .row_action("[data-testid='webhook-row']", "webhook-actions", "action-delete")
            .await;
        admin.click("confirm-ok").await;
        admin.get("webhooks-empty").await;
        let none: Value = app
            .ok(
                "query($id: ID!) { project(id: $id) { webhooks { id } } }",
                json!({ "id": payments }),
                &admin_auth,
            )
            .await;
        assert_eq!(none["project"]["webhooks"], json!([]));
        admin.assert_only_local_requests(&app).await;
        admin.close().await;
    })
    .await;
}
