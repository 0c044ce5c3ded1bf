//! Webhook delivery, after the Standard Webhooks specification
//! (<https://www.standardwebhooks.com/>): what is sent and how it is signed
//! ([`signing`]), where it may be sent ([`destination`]), the HTTP sender
//! ([`client`]), when a failed delivery is tried again ([`backoff`]), and how
//! many attempts one project may have at once ([`share`]).
//!
//! [`worker`] is the caller: it delivers the store's outbox. The other
//! modules hold no storage: the caller keeps each webhook's URL and secret, builds a
//! [`Payload`] once per message and stores its bytes, calls
//! [`Client::deliver`] for each attempt, records the [`Attempt`], and asks
//! [`next_attempt`] when to try again.

pub mod backoff;
pub mod client;
pub mod destination;
pub mod share;
pub mod signing;
pub mod worker;

pub use backoff::{DEFAULT_MAX_AGE, next_attempt};
pub use client::{Attempt, Client, ClientError, DEFAULT_TIMEOUT};
pub use destination::{
    DestinationError, DestinationPolicy, GuardedResolver, check_url, refused_range, validate_url,
};
pub use signing::{Payload, SecretError, SigningSecret};
