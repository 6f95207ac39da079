//! fleetctl's HTTP wire types. No I/O: the function, the CLI and the wasm dashboard share them.
//!
//! - [`status`]: `fleetctl status` and `GET /status`.
//! - [`metrics`]: the metrics snapshot (`GET /metrics`), the control status (`GET /control`)
//!   and the event history (`GET /events`).
//! - [`badges`]: the dashboard's badge texts, computed from a metrics snapshot alone.
//! - [`http`]: the API's requests, answers and its one error shape.
//! - [`text`]: `fleetctl status` as text (also `GET /status`) and `terminal_safe`.
//!
//! With the `openapi` feature (the server's), every type derives `utoipa::ToSchema`.
pub mod badges;
pub mod http;
pub mod metrics;
pub mod status;
pub mod text;
