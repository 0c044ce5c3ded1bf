//! Reading a person's username and groups out of an ID token's (or the
//! userinfo endpoint's) claims, by the claim names an administrator gave.
//!
//! Providers put these in different places: Keycloak's `groups` mapper
//! gives an array, Entra ID an array of object ids, some providers a single
//! string; Keycloak's realm roles sit under `realm_access.roles`. A claim
//! name with dots is therefore followed into nested objects when no claim
//! has that literal name.

use serde_json::{Map, Value};

/// The claim `name` of `claims`: the literal name first, then a dotted
/// path into nested objects.
fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// The username claim as text: a string (trimmed, non-empty), or a number
/// written out. Anything else is no username.
pub fn username(claims: &Map<String, Value>, name: &str) -> Option<String> {
    match claim(claims, name)? {
        Value::String(text) => Some(text.trim().to_owned()).filter(|text| !text.is_empty()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The groups claim: an array of strings (others ignored), or one string;
/// `None` when the claim is absent (as opposed to an empty list).
pub fn groups(claims: &Map<String, Value>, name: &str) -> Option<Vec<String>> {
    let groups = match claim(claims, name)? {
        Value::Array(items) => items
            .iter()
            .filter_map(|item| item.as_str())
            .map(str::to_owned)
            .collect(),
        Value::String(one) => vec![one.clone()],
        _ => Vec::new(),
    };
    Some(groups)
}

/// A text claim (`name`, `email`), if it is a non-empty string.
pub fn text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn groups_are_read_as_providers_write_them() {
        let cases = [
            (
                json!({"groups": ["a", "b"]}),
                "groups",
                Some(vec!["a", "b"]),
            ),
            (json!({"groups": "a"}), "groups", Some(vec!["a"])),
            (json!({"groups": ["a", 1, null]}), "groups", Some(vec!["a"])),
            (json!({"groups": {"a": 1}}), "groups", Some(vec![])),
            (json!({}), "groups", None),
            (
                json!({"realm_access": {"roles": ["admin"]}}),
                "realm_access.roles",
                Some(vec!["admin"]),
            ),
            (
                json!({"a.b": ["literal"], "a": {"b": ["nested"]}}),
                "a.b",
                Some(vec!["literal"]),
            ),
        ];
        for (given, name, expected) in cases {
            let expected = expected.map(|groups| groups.into_iter().map(str::to_owned).collect());
            assert_eq!(groups(&claims(given.clone()), name), expected, "{given}");
        }
    }

    #[test]
    fn a_username_is_non_empty_text() {
        let cases = [
            (json!({"preferred_username": "ada"}), Some("ada")),
            (json!({"preferred_username": "  ada "}), Some("ada")),
            (json!({"preferred_username": ""}), None),
            (json!({"preferred_username": 42}), Some("42")),
            (json!({"preferred_username": ["ada"]}), None),
            (json!({}), None),
        ];
        for (given, expected) in cases {
            assert_eq!(
                username(&claims(given.clone()), "preferred_username").as_deref(),
                expected,
                "{given}"
            );
        }
    }
}
