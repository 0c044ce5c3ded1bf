//! Where a sign-in may send the browser afterwards (`return_to`): a path on
//! keyward, keyward's own origin, or one of the hosts of
//! `--sign-in-return-hosts` (the tools behind the gate). Anything else —
//! another host, `//host`, `/\host`, `javascript:`, a URL with
//! credentials, whitespace or control characters anywhere — lands on the
//! console (`/`): keyward is never an open redirect.
//!
//! The value is judged as the browser will read it: already decoded once
//! (a query parameter), so `%2F%2Fevil.example` arrives as `//evil.example`
//! and is refused; and browsers treat `\` as `/` in URLs, so no backslash
//! is accepted anywhere.

use axum::http::HeaderMap;
use axum::http::header;

use super::AppState;

/// Where to go when `return_to` is missing or refused.
pub const HOME: &str = "/";

/// `raw` if a sign-in may return there, else [`HOME`].
pub fn checked(app: &AppState, headers: &HeaderMap, raw: Option<&str>) -> String {
    let own_host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    let public = app
        .public_url
        .as_deref()
        .and_then(|url| url::Url::parse(url).ok())
        .and_then(|url| authority_of(&url));
    let allowed = Allowed {
        own: [own_host.map(str::to_ascii_lowercase), public]
            .into_iter()
            .flatten()
            .collect(),
        extra: &app.sign_in.return_hosts,
    };
    raw.and_then(|raw| allowed.check(raw))
        .unwrap_or_else(|| HOME.to_owned())
}

struct Allowed<'a> {
    /// keyward's own authorities (`host` or `host:port`, lower case).
    own: Vec<String>,
    /// `--sign-in-return-hosts`: a `host` entry allows that host on any
    /// port, a `host:port` entry that port only.
    extra: &'a [String],
}

impl Allowed<'_> {
    fn check(&self, raw: &str) -> Option<String> {
        if raw.is_empty()
            || raw
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        {
            return None;
        }
        if raw.starts_with('/') {
            // `//host` is another host to a browser.
            return (!raw.starts_with("//")).then(|| raw.to_owned());
        }
        let url = url::Url::parse(raw).ok()?;
        if !matches!(url.scheme(), "http" | "https")
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return None;
        }
        let host = url.host_str()?.to_ascii_lowercase();
        let authority = authority_of(&url)?;
        let permitted = self.own.contains(&authority)
            || self
                .extra
                .iter()
                .any(|entry| *entry == authority || *entry == host);
        permitted.then(|| url.to_string())
    }
}

/// The `host[:port]` of a URL, lower case.
fn authority_of(url: &url::Url) -> Option<String> {
    let host = url.host_str()?.to_ascii_lowercase();
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(extra: &[String]) -> Allowed<'_> {
        Allowed {
            own: vec!["keyward.example".into(), "127.0.0.1:8000".into()],
            extra,
        }
    }

    #[test]
    fn only_keyward_and_the_listed_hosts_are_returned_to() {
        let extra = vec![
            "tools.example".to_owned(),
            "grafana.example:3000".to_owned(),
        ];
        let cases = [
            ("/", Some("/")),
            ("/projects?x=1#top", Some("/projects?x=1#top")),
            ("/%2F%2Fevil.example", Some("/%2F%2Fevil.example")),
            (
                "https://keyward.example/console",
                Some("https://keyward.example/console"),
            ),
            ("http://127.0.0.1:8000/x", Some("http://127.0.0.1:8000/x")),
            (
                "https://tools.example/dash",
                Some("https://tools.example/dash"),
            ),
            (
                "https://tools.example:8443/",
                Some("https://tools.example:8443/"),
            ),
            ("https://TOOLS.example/", Some("https://tools.example/")),
            (
                "https://grafana.example:3000/d",
                Some("https://grafana.example:3000/d"),
            ),
            ("https://grafana.example/d", None),
            ("http://127.0.0.1:9000/", None),
            ("https://evil.example/", None),
            ("https://tools.example.evil.example/", None),
            ("https://evil.example@tools.example/", None),
            ("https://tools.example@evil.example/", None),
            ("//evil.example", None),
            ("///evil.example", None),
            ("/\\evil.example", None),
            ("\\\\evil.example", None),
            ("https:\\\\evil.example", None),
            ("javascript:alert(1)", None),
            ("JavaScript:alert(1)", None),
            ("data:text/html,hi", None),
            (" //evil.example", None),
            ("/\t/evil.example", None),
            ("\n/evil.example", None),
            ("https:evil.example", None),
            ("evil.example", None),
            ("", None),
        ];
        let allowed = allowed(&extra);
        for (raw, expected) in cases {
            assert_eq!(allowed.check(raw).as_deref(), expected, "{raw:?}");
        }
    }

    proptest::proptest! {
        /// Whatever comes in, what goes out is a path on keyward or a URL
        /// of an allowed host: never anything a browser reads as elsewhere.
        #[test]
        fn nothing_leads_elsewhere(raw in ".{0,40}", prefix in proptest::sample::select(vec![
            "", "/", "//", "https://", "http://evil.example", "https://tools.example", "/\\", "%2F",
        ])) {
            let raw = format!("{prefix}{raw}");
            let extra = vec!["tools.example".to_owned()];
            if let Some(out) = allowed(&extra).check(&raw) {
                if out.starts_with('/') {
                    proptest::prop_assert!(!out.starts_with("//") && !out.contains('\\'));
                } else {
                    let url = url::Url::parse(&out).expect("a URL");
                    let host = url.host_str().unwrap_or_default();
                    proptest::prop_assert!(
                        host == "tools.example" || host == "keyward.example" || host == "127.0.0.1",
                        "{out}"
                    );
                }
            }
        }
    }
}
