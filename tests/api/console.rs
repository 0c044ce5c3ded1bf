//! The web console and GraphiQL as HTTP resources: embedded, versioned,
//! cacheable, locked to this origin. (The browser tests click through them.)

use reqwest::header;
use serde_json::json;

use crate::backend::on_every_backend;
use crate::helpers::*;

on_every_backend!(
    the_console_and_its_assets_come_from_the_binary_with_caching_and_a_strict_policy,
    graphiql_opened_from_the_console_needs_no_prompt_but_a_direct_visit_still_gets_one,
);

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.client.get(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("the server answers")
}

fn header_of(response: &reqwest::Response, name: header::HeaderName) -> String {
    response
        .headers()
        .get(&name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The `/assets/<version>/…` URLs a page refers to.
fn asset_urls(html: &str) -> Vec<String> {
    html.split(['"', '\''])
        .filter(|part| part.starts_with("/assets/"))
        .map(str::to_owned)
        .collect()
}

async fn the_console_and_its_assets_come_from_the_binary_with_caching_and_a_strict_policy() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;

    // The console page needs no credentials: it holds no data.
    let page = get(&app, "/", &[]).await;
    assert_eq!(page.status(), 200);
    assert_eq!(
        header_of(&page, header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    assert_eq!(header_of(&page, header::CACHE_CONTROL), "no-cache");
    let policy = header_of(&page, header::CONTENT_SECURITY_POLICY);
    assert!(policy.contains("default-src 'self'"), "{policy}");
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    let etag = header_of(&page, header::ETAG);
    let html = page.text().await.expect("HTML");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "absolute URLs in {html}"
    );
    let assets = asset_urls(&html);
    assert!(
        assets.iter().any(|url| url.ends_with("/console.js")),
        "{assets:?}"
    );
    assert_eq!(
        get(&app, "/", &[("If-None-Match", &etag)]).await.status(),
        304
    );

    // Versioned assets: proper types, cached for a year, revalidated by ETag.
    for url in &assets {
        let asset = get(&app, url, &[]).await;
        assert_eq!(asset.status(), 200, "{url}");
        assert_eq!(
            header_of(&asset, header::CACHE_CONTROL),
            "public, max-age=31536000, immutable",
            "{url}"
        );
        let expected = match url.rsplit('.').next() {
            Some("js") => "text/javascript",
            Some("css") => "text/css",
            Some("svg") => "image/svg+xml",
            other => panic!("unexpected asset type {other:?} of {url}"),
        };
        assert!(
            header_of(&asset, header::CONTENT_TYPE).starts_with(expected),
            "{url}: {}",
            header_of(&asset, header::CONTENT_TYPE)
        );
        let etag = header_of(&asset, header::ETAG);
        assert_eq!(
            get(&app, url, &[("If-None-Match", &etag)]).await.status(),
            304
        );
    }
    // The modules the entry point imports are there too, and the vendored
    // licences ship with the libraries.
    let version = assets[0].split('/').nth(2).expect("a version");
    for (path, content_type) in [
        ("js/api.js", "text/javascript"),
        ("js/keys.js", "text/javascript"),
        ("vendor/graphiql-3.9.0/LICENSE", "text/plain; charset=utf-8"),
    ] {
        let asset = get(&app, &format!("/assets/{version}/{path}"), &[]).await;
        assert_eq!(asset.status(), 200, "{path}");
        assert_eq!(
            header_of(&asset, header::CONTENT_TYPE),
            content_type,
            "{path}"
        );
    }
    // Another version, or a file that is not there, is a plain 404.
    for path in [
        "/assets/0000000000000000/console.js".to_owned(),
        format!("/assets/{version}/nothing.js"),
        // Pages only at their routes, with their security headers.
        format!("/assets/{version}/index.html"),
        format!("/assets/{version}/../Cargo.toml"),
    ] {
        let missing = get(&app, &path, &[]).await;
        assert_eq!(missing.status(), 404, "{path}");
    }
}

async fn graphiql_opened_from_the_console_needs_no_prompt_but_a_direct_visit_still_gets_one() {
    let app = TestApp::spawn().await;
    app.enable_access_control().await;
    let project = app.default_project(&Auth::admin()).await;
    let html = [("Accept", "text/html")];
    let from_console = [("Accept", "text/html"), ("Sec-Fetch-Site", "same-origin")];

    // Typed into the address bar (or from another site): the browser is
    // prompted, as before.
    for headers in [
        &html[..],
        &[("Accept", "text/html"), ("Sec-Fetch-Site", "none")],
    ] {
        let direct = get(&app, "/graphql", headers).await;
        assert_eq!(direct.status(), 401);
        assert!(header_of(&direct, header::WWW_AUTHENTICATE).starts_with("Basic"));
    }
    let cross_site = get(
        &app,
        "/graphql",
        &[("Accept", "text/html"), ("Sec-Fetch-Site", "cross-site")],
    )
    .await;
    assert_eq!(cross_site.status(), 401);

    // From the console's own pages: the page, which sends the console's
    // credentials itself.
    for path in [
        "/graphql".to_owned(),
        format!("/projects/{project}/graphql"),
    ] {
        let page = get(&app, &path, &from_console).await;
        assert_eq!(page.status(), 200, "{path}");
        assert!(page.text().await.expect("HTML").contains("graphiql.js"));
    }
    // The page alone gives nothing away: its queries still need credentials.
    let anonymous = app
        .gql("{ projects { totalCount } }", json!({}), &Auth::None)
        .await;
    anonymous.assert_unauthenticated();
}
