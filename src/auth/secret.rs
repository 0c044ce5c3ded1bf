//! A string that must never be printed.

use std::fmt;

/// A secret key or password. `Debug` is redacted so that a stray `?secret` in a
/// log statement prints nothing useful.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The plain value, for hashing, verifying, or the one response that shows it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_show_the_value() {
        let secret = Secret::new("hunter2hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
