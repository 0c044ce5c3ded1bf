//! Listeners: the accept loop (a head timeout, connections capped in all
//! and per address, a graceful stop) and the slots that count what is held
//! open.
//!
//! It serves any `Router` and knows nothing of routes, credentials or
//! metrics, so that both the API's listener (`http`) and the metrics'
//! listener (`metrics`) stand on it.

mod server;
mod slots;

pub use server::{ConnectionLimits, serve};
pub use slots::{Reserved, Slot, Slots};
