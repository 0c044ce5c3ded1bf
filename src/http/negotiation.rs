//! Which media type a GraphQL response is sent as, chosen by the request's
//! `Accept` as GraphQL over HTTP says: `application/graphql-response+json`
//! (the specification's own type, whose status codes tell request errors
//! from results) when the client names it and accepts it at least as much
//! as `application/json`, which legacy clients, and clients that accept
//! anything, get with its always-200 rule.

use axum::http::HeaderMap;
use axum::http::header::ACCEPT;

/// The media types a GraphQL response can be sent as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseType {
    /// `application/graphql-response+json`: a request error (syntax,
    /// validation, unknown operation, bad variables) is a 4xx.
    GraphqlResponseJson,
    /// `application/json`: every well-formed request gets 200.
    Json,
}

impl ResponseType {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json",
        }
    }

    fn essence(self) -> (&'static str, &'static str) {
        match self {
            Self::GraphqlResponseJson => ("application", "graphql-response+json"),
            Self::Json => ("application", "json"),
        }
    }
}

/// The response type for the request's `Accept` headers, or `None` when
/// they allow neither type (the caller answers 406). A request without
/// `Accept` gets `application/json`, as the specification asks of servers
/// for clients that predate it.
pub fn negotiate(headers: &HeaderMap) -> Option<ResponseType> {
    let mut ranges = ranges(headers).peekable();
    if ranges.peek().is_none() {
        return Some(ResponseType::Json);
    }
    let ranges: Vec<MediaRange<'_>> = ranges.collect();
    let quality = |ty: ResponseType| {
        let (kind, subtype) = ty.essence();
        // The most specific range that matches decides (RFC 9110, 12.5.1);
        // among equally specific ones, the most favourable.
        ranges
            .iter()
            .filter_map(|range| range.specificity(kind, subtype).map(|s| (s, range.quality)))
            .max_by_key(|&(specificity, quality)| (specificity, quality))
            .map_or((None, 0), |(specificity, quality)| {
                (Some(specificity), quality)
            })
    };
    let (new_specificity, new) = quality(ResponseType::GraphqlResponseJson);
    let (_, legacy) = quality(ResponseType::Json);
    // A tie goes to the specification's type only when the client names it:
    // `*/*` is what generic clients (curl, fetch) send, and the
    // specification asks that they get `application/json`.
    let named = new_specificity == Some(2);
    match (new, legacy) {
        (0, 0) => None,
        (new, legacy) if new > legacy || (new == legacy && named) => {
            Some(ResponseType::GraphqlResponseJson)
        }
        _ => Some(ResponseType::Json),
    }
}

/// Whether the request's `Accept` names `text/html` with a quality above 0:
/// a browser navigating to a GraphQL endpoint, which gets GraphiQL. `*/*`
/// and `text/*` do not count (generic clients send them, and what they want
/// from a GET is a GraphQL response), nor does `text/html;q=0`, which says
/// HTML is not acceptable.
pub fn names_html(headers: &HeaderMap) -> bool {
    ranges(headers)
        .filter(|range| range.specificity("text", "html") == Some(2))
        .map(|range| range.quality)
        .max()
        .is_some_and(|quality| quality > 0)
}

/// The well-formed ranges of every `Accept` header of the request.
fn ranges(headers: &HeaderMap) -> impl Iterator<Item = MediaRange<'_>> {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(MediaRange::parse)
}

/// One element of `Accept`: `type/subtype;param=value;q=0.5`.
struct MediaRange<'a> {
    kind: &'a str,
    subtype: &'a str,
    /// Thousandths, 0 to 1000.
    quality: u16,
    /// False when a `charset` other than UTF-8 is asked for: JSON is UTF-8.
    utf8: bool,
}

impl<'a> MediaRange<'a> {
    /// The range, or `None` for one that is malformed (ignored, as if the
    /// client had not sent it).
    fn parse(text: &'a str) -> Option<Self> {
        let mut parts = text.split(';');
        let essence = parts.next()?.trim();
        let (kind, subtype) = essence.split_once('/')?;
        let (kind, subtype) = (kind.trim(), subtype.trim());
        if kind.is_empty() || subtype.is_empty() || (kind == "*" && subtype != "*") {
            return None;
        }
        let mut range = Self {
            kind,
            subtype,
            quality: 1000,
            utf8: true,
        };
        for parameter in parts {
            let (name, value) = parameter.split_once('=')?;
            let (name, value) = (name.trim(), value.trim().trim_matches('"'));
            if name.eq_ignore_ascii_case("q") {
                range.quality = parse_quality(value)?;
            } else if name.eq_ignore_ascii_case("charset") {
                range.utf8 =
                    value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8");
            }
        }
        Some(range)
    }

    /// How specifically the range names `kind/subtype` (2 exactly, 1 by
    /// `kind/*`, 0 by `*/*`), or `None` if it does not.
    fn specificity(&self, kind: &str, subtype: &str) -> Option<u8> {
        if !self.utf8 {
            return None;
        }
        let kind_matches = self.kind.eq_ignore_ascii_case(kind);
        match (self.kind, self.subtype) {
            ("*", "*") => Some(0),
            (_, "*") if kind_matches => Some(1),
            (_, range_subtype) if kind_matches && range_subtype.eq_ignore_ascii_case(subtype) => {
                Some(2)
            }
            _ => None,
        }
    }
}

/// A quality value (`0`, `0.5`, `1.000`) in thousandths; `None` if it is
/// not one (RFC 9110, 12.4.2).
fn parse_quality(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};
    use proptest::prelude::*;

    use super::ResponseType::{GraphqlResponseJson as New, Json as Legacy};
    use super::{ResponseType, names_html, negotiate};

    fn negotiated(accepts: &[&str]) -> Option<ResponseType> {
        let mut headers = HeaderMap::new();
        for accept in accepts {
            headers.append(
                axum::http::header::ACCEPT,
                HeaderValue::from_str(accept).expect("a header value"),
            );
        }
        negotiate(&headers)
    }

    #[test]
    fn the_response_type_follows_accept() {
        let cases: &[(&[&str], Option<ResponseType>)] = &[
            (&[], Some(Legacy)),
            (&[""], Some(Legacy)),
            (&["application/json"], Some(Legacy)),
            (&["application/graphql-response+json"], Some(New)),
            (
                &["application/graphql-response+json, application/json"],
                Some(New),
            ),
            (
                &["application/json, application/graphql-response+json"],
                Some(New),
            ),
            (
                &["application/json;q=0.9, application/graphql-response+json"],
                Some(New),
            ),
            (
                &["application/json, application/graphql-response+json;q=0.9"],
                Some(Legacy),
            ),
            (
                &["application/graphql-response+json; charset=utf-8"],
                Some(New),
            ),
            (&["application/json; charset=UTF-8"], Some(Legacy)),
            (&["application/json; charset=iso-8859-1"], None),
            (&["*/*"], Some(Legacy)),
            (&["application/*"], Some(Legacy)),
            (&["application/json, */*"], Some(Legacy)),
            (&["application/graphql-response+json, */*"], Some(New)),
            (
                &["*/*;q=0.8, application/graphql-response+json;q=0.8"],
                Some(New),
            ),
            (&["application/*;q=0.5, application/json"], Some(Legacy)),
            (
                &["*/*, application/graphql-response+json;q=0"],
                Some(Legacy),
            ),
            (&["*/*;q=0.1, application/json;q=0.2"], Some(Legacy)),
            (&["text/html"], None),
            (&["application/xml, text/plain"], None),
            (&["application/json;q=0"], None),
            (&["application/json;q=0, */*;q=0.5"], Some(New)),
            (&["APPLICATION/JSON"], Some(Legacy)),
            (&["text/html", "application/json"], Some(Legacy)),
            // Malformed ranges are ignored, not guessed at.
            (&["application/json;q=2"], Some(Legacy)),
            (&["application/json;q=abc, text/html"], None),
            (&["nonsense"], Some(Legacy)),
        ];
        for (accept, expected) in cases {
            assert_eq!(negotiated(accept), *expected, "Accept: {accept:?}");
        }
    }

    #[test]
    fn html_is_wanted_only_when_named_with_a_quality_above_zero() {
        let cases: &[(&[&str], bool)] = &[
            (&[], false),
            (&["text/html"], true),
            (
                &["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"],
                true,
            ),
            (&["TEXT/HTML; q=0.5"], true),
            (&["application/json", "text/html"], true),
            (&["text/html;q=0"], false),
            (&["text/html;q=0.000, */*"], false),
            (&["text/html;q=0, text/html;q=0.3"], true),
            (&["*/*"], false),
            (&["text/*"], false),
            (&["application/graphql-response+json"], false),
            (&["text/htmlx"], false),
            (&["application/json; a=text/html"], false),
        ];
        for (accept, expected) in cases {
            let mut headers = HeaderMap::new();
            for value in *accept {
                headers.append(
                    axum::http::header::ACCEPT,
                    HeaderValue::from_str(value).expect("a header value"),
                );
            }
            assert_eq!(names_html(&headers), *expected, "Accept: {accept:?}");
        }
    }

    proptest! {
        /// Whatever `Accept` says, negotiation answers without panicking,
        /// and a client that names the specification's type with full
        /// quality gets it, whatever else the header says.
        #[test]
        fn any_accept_gets_an_answer(accept in "[ -~]{0,80}") {
            let with_new = format!("{accept}, application/graphql-response+json");
            if let (Ok(value), Ok(with_new)) =
                (HeaderValue::from_str(&accept), HeaderValue::from_str(&with_new))
            {
                let mut headers = HeaderMap::new();
                headers.insert(axum::http::header::ACCEPT, value);
                let _ = negotiate(&headers);
                headers.insert(axum::http::header::ACCEPT, with_new);
                prop_assert_eq!(negotiate(&headers), Some(New), "{}", accept);
            }
        }
    }
}
