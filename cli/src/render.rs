//! Text renderings of results for people (JSON output is the wire types as they are).
//!
//! They live in `fleetctl_api::text`, so `GET /status` serves the same text: the status table
//! ([`status_text`]) and [`terminal_safe`], which every string from outside fleetctl passes
//! through before it is printed.

pub use fleetctl_api::text::{status_text, terminal_safe};
