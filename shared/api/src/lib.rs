//! fleetctl's HTTP wire types. No I/O: the function, the CLI and the wasm dashboard share them.
//!
//! - [`status`]: `fleetctl status` and `GET /status`.
//! - [`metrics`]: the metrics snapshot (`GET /metrics`), the control status (`GET /control`)
//!   and the event history (`GET /events`).
//! - [`badges`]: the dashboard's badge texts, computed from a metrics snapshot alone.
pub mod badges;
pub mod metrics;
pub mod status;
