//! Opaque global ids: every object's `id`, and the cursors of connections.
//!
//! An id is the URL-safe base64 of `<Kind>:<row id>`. Clients must treat it as
//! opaque; the encoding only has to round-trip and be safe in a URL path
//! (project endpoints embed it).

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::Error;

/// The kinds of object that have a global id.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Project,
    ApiKey,
    AuditEvent,
    Webhook,
    WebhookDelivery,
    User,
    IdentityProvider,
}

impl NodeKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Project => "Project",
            Self::ApiKey => "ApiKey",
            Self::AuditEvent => "AuditEvent",
            Self::Webhook => "Webhook",
            Self::WebhookDelivery => "WebhookDelivery",
            Self::User => "User",
            Self::IdentityProvider => "IdentityProvider",
        }
    }
}

impl FromStr for NodeKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "Project" => Ok(Self::Project),
            "ApiKey" => Ok(Self::ApiKey),
            "AuditEvent" => Ok(Self::AuditEvent),
            "Webhook" => Ok(Self::Webhook),
            "WebhookDelivery" => Ok(Self::WebhookDelivery),
            "User" => Ok(Self::User),
            "IdentityProvider" => Ok(Self::IdentityProvider),
            _ => Err(()),
        }
    }
}

/// A decoded global id.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct GlobalId {
    pub kind: NodeKind,
    pub id: i64,
}

/// Longest encoded id we try to decode; real ids are far shorter.
const MAX_ENCODED_LEN: usize = 64;

impl GlobalId {
    pub fn new(kind: NodeKind, id: i64) -> Self {
        Self { kind, id }
    }

    pub fn project(id: i64) -> Self {
        Self::new(NodeKind::Project, id)
    }

    pub fn api_key(id: i64) -> Self {
        Self::new(NodeKind::ApiKey, id)
    }

    pub fn user(id: i64) -> Self {
        Self::new(NodeKind::User, id)
    }

    pub fn audit_event(id: i64) -> Self {
        Self::new(NodeKind::AuditEvent, id)
    }

    pub fn webhook(id: i64) -> Self {
        Self::new(NodeKind::Webhook, id)
    }

    pub fn webhook_delivery(id: i64) -> Self {
        Self::new(NodeKind::WebhookDelivery, id)
    }

    pub fn identity_provider(id: i64) -> Self {
        Self::new(NodeKind::IdentityProvider, id)
    }

    /// Decodes any global id; `None` when it is not one.
    pub fn parse(encoded: &str) -> Option<Self> {
        if encoded.len() > MAX_ENCODED_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        let (kind, id) = text.split_once(':')?;
        let kind = kind.parse().ok()?;
        // `i64::from_str` accepts a leading '+', which would give one row two ids.
        if !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let id = id.parse().ok().filter(|id| *id > 0)?;
        Some(Self { kind, id })
    }

    /// Decodes an id that must be of `kind`, naming `field` in the error.
    pub fn parse_as(kind: NodeKind, field: &'static str, encoded: &str) -> Result<i64, Error> {
        match Self::parse(encoded) {
            Some(gid) if gid.kind == kind => Ok(gid.id),
            _ => Err(Error::bad_input(
                field,
                format!("not a valid {} id", kind.as_str()),
            )),
        }
    }
}

impl fmt::Display for GlobalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let raw = format!("{}:{}", self.kind.as_str(), self.id);
        f.write_str(&URL_SAFE_NO_PAD.encode(raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips() {
        let gid = GlobalId::api_key(42);
        assert_eq!(GlobalId::parse(&gid.to_string()), Some(gid));
    }

    #[test]
    fn rejects_other_kinds_and_garbage() {
        let project = GlobalId::project(7).to_string();
        assert!(GlobalId::parse_as(NodeKind::ApiKey, "id", &project).is_err());
        for bad in ["", "!!", "UHJvamVjdDo", "UHJvamVjdDotMQ", "UHJvamVjdDorMQ"] {
            assert_eq!(GlobalId::parse(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_any_string(s in ".*") {
            let _ = GlobalId::parse(&s);
        }

        #[test]
        fn every_positive_id_round_trips(id in 1i64.., project in any::<bool>()) {
            let kind = if project { NodeKind::Project } else { NodeKind::ApiKey };
            let gid = GlobalId::new(kind, id);
            prop_assert_eq!(GlobalId::parse(&gid.to_string()), Some(gid));
        }
    }
}
