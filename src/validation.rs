//! Checks on what users type: names, descriptions, administrator
//! credentials, and what configures single sign-on (identity providers,
//! groups, subjects).
//!
//! Every failure names the input field, so a form can show it next to the
//! field that caused it.

use crate::error::Error;

pub const MAX_NAME_CHARS: usize = 128;
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// An identity provider's name is a path segment of its sign-in URLs.
pub const MAX_SLUG_CHARS: usize = 32;
/// Client ids and secrets: longer than any provider issues.
pub const MAX_CLIENT_CREDENTIAL_CHARS: usize = 1024;
/// Longest group name: longer than Entra ID's or LDAP's usual ones.
pub const MAX_GROUP_CHARS: usize = 256;
/// OpenID Connect Core §2: a `sub` is at most 255 ASCII characters.
pub const MAX_SUBJECT_CHARS: usize = 255;
/// Scopes a provider is asked for: far more than any sign-in needs.
pub const MAX_SCOPES: usize = 32;
/// The scope without which a provider does not speak OpenID Connect.
pub const OPENID_SCOPE: &str = "openid";

/// A name: trimmed, 1..=128 characters, no control characters.
pub fn name(field: &'static str, raw: &str) -> Result<String, Error> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 {
        return Err(Error::bad_input(field, "must not be empty"));
    }
    if chars > MAX_NAME_CHARS {
        return Err(Error::bad_input(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::bad_input(
            field,
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// A description: trimmed, at most 1024 characters; line breaks and tabs are
/// allowed, other control characters are not. Empty means none.
pub fn description(field: &'static str, raw: Option<&str>) -> Result<Option<String>, Error> {
    let Some(description) = raw.map(str::trim).filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Error::bad_input(
            field,
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if description
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(Error::bad_input(
            field,
            "must not contain control characters",
        ));
    }
    Ok(Some(description.to_owned()))
}

/// The administrator's username: a name that can travel in a Basic header
/// (which cannot carry ':' in the username).
pub fn admin_username(field: &'static str, raw: &str) -> Result<String, Error> {
    let username = name(field, raw)?;
    if username.contains(':') {
        return Err(Error::bad_input(field, "must not contain ':'"));
    }
    Ok(username)
}

/// The administrator's password: 12..=1024 characters, taken as typed.
pub fn admin_password(field: &'static str, raw: &str) -> Result<(), Error> {
    let chars = raw.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(Error::bad_input(
            field,
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(Error::bad_input(
            field,
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A value taken exactly as typed (it must match what another system
/// says, character for character): `min..=max` characters, no control
/// characters.
fn exact(field: &'static str, raw: &str, max: usize) -> Result<String, Error> {
    let chars = raw.chars().count();
    if chars == 0 {
        return Err(Error::bad_input(field, "must not be empty"));
    }
    if chars > max {
        return Err(Error::bad_input(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err(Error::bad_input(
            field,
            "must not contain control characters",
        ));
    }
    Ok(raw.to_owned())
}

/// An identity provider's name, used in its sign-in URLs: 1 to 32 of
/// `a-z`, `0-9` and `-`.
pub fn slug(field: &'static str, raw: &str) -> Result<String, Error> {
    if raw.is_empty() || raw.len() > MAX_SLUG_CHARS {
        return Err(Error::bad_input(
            field,
            format!("must be 1 to {MAX_SLUG_CHARS} characters"),
        ));
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(Error::bad_input(
            field,
            "may contain only lowercase letters a-z, digits and '-'",
        ));
    }
    Ok(raw.to_owned())
}

/// An OpenID Connect issuer: an `http` or `https` URL with a host and no
/// credentials, query or fragment (OpenID Connect Discovery §2). Kept as
/// typed, since the provider's discovery document must name exactly it.
/// Loopback and private hosts are allowed: identity providers usually
/// are on them, and only administrators configure them.
pub fn issuer_url(field: &'static str, raw: &str) -> Result<String, Error> {
    let raw = raw.trim();
    if raw.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Error::bad_input(
            field,
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    let url =
        url::Url::parse(raw).map_err(|err| Error::bad_input(field, format!("not a URL: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::bad_input(field, "must be an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::bad_input(field, "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::bad_input(field, "must not contain credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::bad_input(
            field,
            "must not have a query or a fragment",
        ));
    }
    Ok(raw.to_owned())
}

/// A client id or secret, as the provider issued it: 1 to 1024
/// characters, no control characters. (The field's name is all an error
/// says: never the value.)
pub fn client_credential(field: &'static str, raw: &str) -> Result<String, Error> {
    exact(field, raw, MAX_CLIENT_CREDENTIAL_CHARS)
}

/// The scopes to ask a provider for: OAuth scope tokens of at most 128
/// characters (RFC 6749 §3.3:
/// printable ASCII but space, `"` and `\`), without repeats, `openid`
/// added first when missing (a provider asked without it does not sign
/// people in with OpenID Connect).
pub fn scopes(field: &'static str, raw: &[String]) -> Result<Vec<String>, Error> {
    let token = |scope: &str| {
        !scope.is_empty()
            && scope.len() <= MAX_NAME_CHARS
            && scope
                .bytes()
                .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
    };
    let mut scopes: Vec<String> = Vec::with_capacity(raw.len() + 1);
    if !raw.iter().any(|scope| scope == OPENID_SCOPE) {
        scopes.push(OPENID_SCOPE.to_owned());
    }
    for scope in raw {
        if !token(scope) {
            return Err(Error::bad_input(
                field,
                format!(
                    "{scope:?} is not a scope: scopes are 1 to {MAX_NAME_CHARS} printable ASCII \
                     characters without spaces, '\"' or '\\'"
                ),
            ));
        }
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    if scopes.len() > MAX_SCOPES {
        return Err(Error::bad_input(
            field,
            format!("at most {MAX_SCOPES} scopes"),
        ));
    }
    Ok(scopes)
}

/// The name of a claim of an ID token: a name (1 to 128 characters).
pub fn claim(field: &'static str, raw: &str) -> Result<String, Error> {
    exact(field, raw, MAX_NAME_CHARS)
}

/// A group's name, exactly as the identity provider writes it in its
/// groups claim: 1 to 256 characters, no control characters.
pub fn group(field: &'static str, raw: &str) -> Result<String, Error> {
    exact(field, raw, MAX_GROUP_CHARS)
}

/// A provider's subject (`sub`), exactly as it sends it: 1 to 255
/// characters, no control characters.
pub fn subject(field: &'static str, raw: &str) -> Result<String, Error> {
    exact(field, raw, MAX_SUBJECT_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  ci  ").ok().as_deref(), Some("ci"));
        assert!(name("name", "   ").is_err());
        assert!(
            name("name", &"é".repeat(128)).is_ok(),
            "characters, not bytes"
        );
        assert!(name("name", &"a".repeat(129)).is_err());
        assert!(name("name", "a\u{0}b").is_err());
        assert!(name("name", "a\nb").is_err());
    }

    #[test]
    fn errors_name_the_field() {
        let err = name("input.name", "").expect_err("empty");
        assert!(err.to_string().starts_with("input.name:"), "{err}");
    }

    #[test]
    fn descriptions_allow_lines_but_not_other_controls() {
        assert_eq!(
            description("d", Some("a\nb")).ok().flatten().as_deref(),
            Some("a\nb")
        );
        assert_eq!(description("d", Some("  ")).ok(), Some(None));
        assert!(description("d", Some("a\u{7}")).is_err());
        assert!(description("d", Some(&"x".repeat(1025))).is_err());
    }

    #[test]
    fn admin_credentials_follow_the_policy() {
        assert!(admin_username("u", "ad:min").is_err());
        assert!(admin_password("p", "short").is_err());
        assert!(admin_password("p", "twelve chars").is_ok());
    }

    #[test]
    fn provider_names_are_slugs() {
        let cases = [
            ("keycloak", true),
            ("corp-sso-2", true),
            ("a", true),
            (&*"a".repeat(32), true),
            (&*"a".repeat(33), false),
            ("", false),
            ("Keycloak", false),
            ("key cloak", false),
            ("key_cloak", false),
            ("clé", false),
            ("a/b", false),
        ];
        for (name, valid) in cases {
            assert_eq!(slug("input.name", name).is_ok(), valid, "{name:?}");
        }
    }

    #[test]
    fn issuers_are_http_urls_without_query_credentials_or_fragment() {
        let cases = [
            ("https://sso.example.com/realms/corp", true),
            ("http://127.0.0.1:8080", true),
            ("http://10.0.0.7:5556/dex", true),
            ("not a url", false),
            ("ftp://sso.example.com", false),
            ("https://sso.example.com/?x=1", false),
            ("https://sso.example.com/#x", false),
            ("https://user:pass@sso.example.com", false),
            ("file:///etc/passwd", false),
            ("javascript:alert(1)", false),
        ];
        for (url, valid) in cases {
            assert_eq!(issuer_url("input.issuerUrl", url).is_ok(), valid, "{url}");
        }
        assert_eq!(
            issuer_url("i", " https://sso.example.com/realms/corp ").ok(),
            Some("https://sso.example.com/realms/corp".to_owned()),
            "trimmed, otherwise as typed"
        );
    }

    #[test]
    fn scopes_are_oauth_tokens_with_openid_first_when_missing() {
        let list = |scopes: &[&str]| scopes.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            scopes("s", &list(&["profile", "email"])).ok(),
            Some(list(&["openid", "profile", "email"]))
        );
        assert_eq!(
            scopes("s", &list(&["email", "openid", "email"])).ok(),
            Some(list(&["email", "openid"])),
            "kept in order, repeats dropped"
        );
        assert_eq!(scopes("s", &[]).ok(), Some(list(&["openid"])));
        for bad in ["", "two words", "quo\"te", "back\\slash", "é", "tab\t"] {
            assert!(scopes("s", &list(&[bad])).is_err(), "{bad:?}");
        }
        let many: Vec<String> = (0..40).map(|n| format!("s{n}")).collect();
        assert!(scopes("s", &many).is_err());
    }

    #[test]
    fn groups_subjects_and_credentials_are_taken_as_typed_and_bounded() {
        assert_eq!(
            group("g", " Platform Team ").ok().as_deref(),
            Some(" Platform Team ")
        );
        assert!(group("g", "").is_err());
        assert!(group("g", &"g".repeat(256)).is_ok());
        assert!(group("g", &"g".repeat(257)).is_err());
        assert!(group("g", "a\nb").is_err());
        assert!(subject("s", &"s".repeat(255)).is_ok());
        assert!(subject("s", &"s".repeat(256)).is_err());
        assert!(client_credential("c", &"c".repeat(1024)).is_ok());
        assert!(client_credential("c", &"c".repeat(1025)).is_err());
        assert!(client_credential("c", "").is_err());
        assert!(claim("c", "preferred_username").is_ok());
        assert!(claim("c", &"c".repeat(129)).is_err());
    }

    #[test]
    fn a_refused_secret_is_not_repeated_in_the_error() {
        let secret = format!("{}\u{7}", "s3cr3t".repeat(10));
        let err = client_credential("input.clientSecret", &secret).expect_err("control");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }
}
