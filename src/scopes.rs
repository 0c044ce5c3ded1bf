//! Scopes: names a key holds beyond its role, which the services behind
//! `/verify` can require (`scope=deploy`). keyward gives them no meaning of
//! its own. A key's scopes are fixed at its creation, like its key pair.

use std::fmt;

use crate::error::Error;

/// Longest scope name, in characters.
pub const MAX_SCOPE_CHARS: usize = 64;
/// Most scopes one key may hold.
pub const MAX_SCOPES_PER_KEY: usize = 32;

/// A set of scope names: distinct and sorted, each valid.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Scopes as a client gave them: each 1–64 characters of `a-z 0-9 : . _ -`
    /// starting with a letter or digit, at most 32 distinct ones. Duplicates
    /// are the same scope, given twice.
    pub fn parse(field: &'static str, raw: &[String]) -> Result<Self, Error> {
        let mut scopes = Vec::with_capacity(raw.len().min(MAX_SCOPES_PER_KEY));
        for scope in raw {
            check(field, scope)?;
            scopes.push(scope.clone());
        }
        scopes.sort_unstable();
        scopes.dedup();
        if scopes.len() > MAX_SCOPES_PER_KEY {
            return Err(Error::bad_input(
                field,
                format!("a key may hold at most {MAX_SCOPES_PER_KEY} scopes"),
            ));
        }
        Ok(Self(scopes))
    }

    /// Scopes as stored: space-separated names, written by [`Scopes::stored`].
    pub fn from_stored(stored: &str) -> Self {
        let mut scopes: Vec<String> = stored.split_whitespace().map(str::to_owned).collect();
        scopes.sort_unstable();
        scopes.dedup();
        Self(scopes)
    }

    /// The stored form: space-separated (a scope never holds a space).
    pub fn stored(&self) -> String {
        self.0.join(" ")
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0
            .binary_search_by(|held| held.as_str().cmp(scope))
            .is_ok()
    }

    /// The first of `self` that `held` lacks, if any.
    pub fn first_missing_from<'a>(&'a self, held: &Scopes) -> Option<&'a str> {
        self.0
            .iter()
            .map(String::as_str)
            .find(|scope| !held.contains(scope))
    }
}

/// One scope name's rules.
fn check(field: &'static str, scope: &str) -> Result<(), Error> {
    let allowed = |c: char| matches!(c, 'a'..='z' | '0'..='9' | ':' | '.' | '_' | '-');
    let starts_well = scope
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if scope.is_empty() || scope.len() > MAX_SCOPE_CHARS {
        return Err(Error::bad_input(
            field,
            format!("each scope must be 1 to {MAX_SCOPE_CHARS} characters"),
        ));
    }
    if !scope.chars().all(allowed) || !starts_well {
        return Err(Error::bad_input(
            field,
            "each scope must be made of a-z, 0-9, ':', '.', '_' and '-', starting with a letter or digit",
        ));
    }
    Ok(())
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

/// Space-separated, as in `X-Keyward-Scopes`.
impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.stored())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn parse(raw: &[&str]) -> Result<Vec<String>, ErrorCode> {
        let raw: Vec<String> = raw.iter().map(|s| (*s).to_owned()).collect();
        Scopes::parse("input.scopes", &raw)
            .map(|scopes| scopes.as_slice().to_vec())
            .map_err(|err| err.code())
    }

    #[test]
    fn scopes_are_distinct_and_sorted() {
        assert_eq!(
            parse(&["deploy", "billing:read", "deploy"]),
            Ok(vec!["billing:read".to_owned(), "deploy".to_owned()])
        );
        assert_eq!(parse(&[]), Ok(vec![]));
    }

    #[test]
    fn scope_names_follow_the_rules() {
        let cases: &[(&str, bool)] = &[
            ("deploy", true),
            ("0day", true),
            ("metrics:read", true),
            ("a.b_c-d:e", true),
            (&"a".repeat(64), true),
            (&"a".repeat(65), false),
            ("", false),
            ("Deploy", false),
            ("-deploy", false),
            (":deploy", false),
            ("de ploy", false),
            ("déploy", false),
            ("deploy*", false),
        ];
        for (scope, valid) in cases {
            let got = parse(&[scope]);
            assert_eq!(got.is_ok(), *valid, "{scope:?}: {got:?}");
            if !valid {
                assert_eq!(got, Err(ErrorCode::BadUserInput));
            }
        }
    }

    #[test]
    fn at_most_thirty_two_distinct_scopes() {
        let many: Vec<String> = (0..33).map(|i| format!("s{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(parse(&refs[..32]).map(|s| s.len()), Ok(32));
        assert_eq!(parse(&refs), Err(ErrorCode::BadUserInput));
        let twice: Vec<&str> = refs[..32].iter().chain(&refs[..32]).copied().collect();
        assert_eq!(
            parse(&twice).map(|s| s.len()),
            Ok(32),
            "duplicates count once"
        );
    }

    #[test]
    fn the_stored_form_round_trips() {
        let scopes = Scopes::parse("s", &["b".into(), "a:x".into()]).expect("valid");
        assert_eq!(scopes.stored(), "a:x b");
        assert_eq!(Scopes::from_stored(&scopes.stored()), scopes);
        assert_eq!(Scopes::from_stored(""), Scopes::default());
    }

    #[test]
    fn missing_scopes_are_named() {
        let held = Scopes::from_stored("deploy metrics:read");
        assert_eq!(
            Scopes::from_stored("deploy").first_missing_from(&held),
            None
        );
        assert_eq!(
            Scopes::from_stored("billing deploy").first_missing_from(&held),
            Some("billing")
        );
    }
}
