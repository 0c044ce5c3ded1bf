//! The web console and GraphiQL: files of `web/`, embedded in the binary.
//!
//! There is no front-end build: `web/` holds hand-written HTML, CSS and ES
//! modules plus vendored, pinned libraries (`web/vendor/VENDORED.md`), and
//! this module serves them. Pages are served with `no-cache` and refer to
//! their assets under `/assets/<version>/…`, where the version is a digest
//! of every embedded file: assets can then be cached for a year, and a new
//! binary's pages ask for new URLs.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use blake2::{Blake2b, Digest, digest::consts::U8};
use rust_embed::Embed;

use crate::error::{Error, ErrorCode, error_body};

#[derive(Embed)]
#[folder = "web/"]
#[exclude = "*.md"]
#[exclude = "*.sh"]
#[exclude = "vendor/*/package.json"]
struct Web;

/// Where pages find their assets: `/assets/<version>`.
const ASSETS: &str = "/assets/";
/// Cache lifetime of versioned assets.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Pages run only our own scripts, talk only to this origin and cannot be
/// framed. Inline styles are allowed because React (GraphiQL) sets `style`
/// attributes; no inline script is.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The HTML pages of the site.
#[derive(Copy, Clone, Debug)]
pub enum Page {
    Console,
    GraphiQL,
}

impl Page {
    fn file(self) -> &'static str {
        match self {
            Self::Console => "index.html",
            Self::GraphiQL => "graphiql.html",
        }
    }
}

/// A digest of every embedded file, computed once.
fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut names: Vec<_> = Web::iter().collect();
        names.sort();
        let mut digest = Blake2b::<U8>::new();
        for name in names {
            digest.update(name.as_bytes());
            if let Some(file) = Web::get(&name) {
                digest.update(file.metadata.sha256_hash());
            }
        }
        digest
            .finalize()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    })
}

/// A page, with its asset URLs pointing at this binary's version.
pub fn page(page: Page, request: &HeaderMap) -> Response {
    let version = version();
    let etag = format!("\"{version}\"");
    if not_modified(request, &etag) {
        return not_modified_response(&etag, "no-cache");
    }
    let Some(file) = Web::get(page.file()) else {
        return Error::internal(format!("{} is not embedded", page.file())).into_response();
    };
    let html = String::from_utf8_lossy(&file.data).replace(ASSETS, &format!("{ASSETS}{version}/"));
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        html,
    )
        .into_response();
    let headers = response.headers_mut();
    insert(headers, header::ETAG, &etag);
    security_headers(headers);
    response
}

/// `GET /assets/{version}/{*path}`. Pages are not assets: they are served
/// at their own routes, with their security headers.
pub async fn asset(Path((version, path)): Path<(String, String)>, request: HeaderMap) -> Response {
    let file = Web::get(&path).filter(|_| version == self::version() && !path.ends_with(".html"));
    let Some(file) = file else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(error_body("no such asset", ErrorCode::NotFound)),
        )
            .into_response();
    };
    let hash = file.metadata.sha256_hash();
    let etag = format!(
        "\"{}\"",
        hash[..8]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    );
    if not_modified(&request, &etag) {
        return not_modified_response(&etag, IMMUTABLE);
    }
    // Licence texts have no extension to guess from.
    let content_type = if path
        .rsplit('/')
        .next()
        .is_some_and(|name| name.starts_with("LICENSE"))
    {
        "text/plain; charset=utf-8"
    } else {
        file.metadata.mimetype()
    };
    let mut response = file.data.into_owned().into_response();
    let headers = response.headers_mut();
    insert(headers, header::CONTENT_TYPE, content_type);
    insert(headers, header::CACHE_CONTROL, IMMUTABLE);
    insert(headers, header::ETAG, &etag);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// A 304 carries the validators and caching of the 200 it stands for.
fn not_modified_response(etag: &str, cache_control: &str) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    let headers = response.headers_mut();
    insert(headers, header::ETAG, etag);
    insert(headers, header::CACHE_CONTROL, cache_control);
    response
}

fn not_modified(request: &HeaderMap, etag: &str) -> bool {
    request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag))
}

fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

fn security_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}
