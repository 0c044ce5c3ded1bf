//! Checks on what users type: names, descriptions, administrator credentials.
//!
//! Every failure names the input field, so a form can show it next to the
//! field that caused it.

use crate::error::Error;

pub const MAX_NAME_CHARS: usize = 128;
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 1024;

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
}
