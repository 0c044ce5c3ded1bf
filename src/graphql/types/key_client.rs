use async_graphql::Object;
use chrono::{DateTime, Utc};

use crate::store::key_client;

/// A client address a key was used from (GraphQL description on the impl).
#[derive(Clone, Debug)]
pub struct KeyClient {
    address: String,
    user_agent: String,
    last_seen_at: DateTime<Utc>,
}

impl From<key_client::Model> for KeyClient {
    fn from(model: key_client::Model) -> Self {
        Self {
            address: model.address,
            user_agent: model.user_agent,
            last_seen_at: model.last_seen_at,
        }
    }
}

/// A client that authenticated with a key: its address and what it said it
/// was. Recorded about once a second, like usage.
#[Object]
impl KeyClient {
    /// The client's IP address: the connection's peer, or behind a trusted
    /// proxy (`--trusted-proxy`) the address it forwarded.
    async fn address(&self) -> &str {
        &self.address
    }

    /// The `User-Agent` the client last sent from this address, cut to 256
    /// characters; empty if none. Whatever the client chose to send: plain
    /// text to display as text, never markup, and not proof of anything.
    async fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// When the key was last used from this address.
    async fn last_seen_at(&self) -> DateTime<Utc> {
        self.last_seen_at
    }
}
