//! The web console and GraphiQL: files of `web/`, embedded in the binary.
//!
//! There is no front-end build: `web/` holds hand-written HTML, CSS and ES
//! modules plus vendored, pinned libraries (`web/vendor/VENDORED.md`), and
//! this module serves them. Pages are served with `no-cache` and refer to
//! their assets under `/assets/<version>/…`, where the version is a digest
//! of every embedded file: assets can then be cached for a year, and a new
//! binary's pages ask for new URLs.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::{RawPathParams, Request};
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

/// An embedded asset with the headers it is served with, prepared once:
/// serving one copies nothing and formats nothing.
struct Asset {
    body: Bytes,
    /// Quoted, as sent and as compared with `If-None-Match`.
    etag: HeaderValue,
    content_type: HeaderValue,
}

/// Every asset (every embedded file but the pages), by path.
fn assets() -> &'static HashMap<String, Asset> {
    static ASSETS_BY_PATH: OnceLock<HashMap<String, Asset>> = OnceLock::new();
    ASSETS_BY_PATH.get_or_init(|| {
        Web::iter()
            .filter(|path| !path.ends_with(".html"))
            .filter_map(|path| {
                let file = Web::get(&path)?;
                let hash = file.metadata.sha256_hash();
                let etag: String = hash[..8].iter().map(|byte| format!("{byte:02x}")).collect();
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
                let asset = Asset {
                    body: match file.data {
                        Cow::Borrowed(data) => Bytes::from_static(data),
                        Cow::Owned(data) => Bytes::from(data),
                    },
                    etag: HeaderValue::from_str(&format!("\"{etag}\"")).ok()?,
                    content_type: HeaderValue::from_str(content_type).ok()?,
                };
                Some((path.into_owned(), asset))
            })
            .collect()
    })
}

/// `GET /assets/{version}/{*path}`. Pages are not assets: they are served
/// at their own routes, with their security headers.
pub async fn asset(params: RawPathParams, request: Request) -> Response {
    let (mut version, mut path) = (None, None);
    for (name, value) in &params {
        match name {
            "version" => version = Some(value),
            "path" => path = Some(value),
            _ => {}
        }
    }
    let asset = path
        .filter(|_| version == Some(self::version()))
        .and_then(|path| assets().get(path));
    let Some(asset) = asset else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(error_body("no such asset", ErrorCode::NotFound)),
        )
            .into_response();
    };
    let etag = asset.etag.to_str().unwrap_or_default();
    if not_modified(request.headers(), etag) {
        return not_modified_response(etag, IMMUTABLE);
    }
    let mut response = asset.body.clone().into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, asset.content_type.clone());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    headers.insert(header::ETAG, asset.etag.clone());
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
