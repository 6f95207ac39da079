//! fleetctl's HTTP API: [`router`] is the whole application, served over TCP by
//! `fleetctl-function` and `fleetctl serve`, and over the Fn unix socket.
//!
//! - [`state`]: [`AppState`], the opened fleet, the token's digest and the cached view the
//!   read-only routes serve (no OCI call per request).
//! - `handlers`: one function per route; `sse`: `/events` as Server-Sent Events;
//!   `prometheus`: `/metrics` as Prometheus text.
//! - [`error`]: the one error shape and the mapping from the core's error classes.
//! - [`auth`]: the bearer token of mutations.
//! - [`openapi`]: the OpenAPI document, generated with the routes.
//! - [`control`]: the control loop of a long-running server.
//! - [`dashboard`]: `GET /`.
//!
//! Routes are described in `docs/fleetctl-spec.md`, section 6.

pub mod auth;
pub mod control;
pub mod dashboard;
pub mod error;
pub mod fdk;
pub mod fleet_source;
mod handlers;
pub mod layers;
pub mod openapi;
mod prometheus;
mod sse;
pub mod state;

use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

pub use auth::{ApiToken, TokenDigest, TokenOrigin};
pub use handlers::MAX_BODY_BYTES;
pub use state::{AppState, Options};

/// When the invocation that carries a request must be answered (the Fn platform's
/// `Fn-Deadline`): `POST /reconcile` bounds its step by it. Put it in the request's
/// extensions; without it a step gets the default budget (`fleetctl_core::ops::STEP_BUDGET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepDeadline(pub std::time::Instant);

/// The whole HTTP application for `state`.
pub fn router(state: AppState) -> Router {
    let (api, _) = openapi::api_routes();
    api.merge(dashboard::routes())
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(CatchPanicLayer::custom(layers::panic_response))
        .layer(axum::middleware::from_fn(layers::request_id))
        .with_state(state)
}

/// `GET /healthz` alone, with the layers of [`router`] (request id, its log line, panics as
/// 500): what answers before the fleet is opened, and without opening it
/// ([`fleet_source::FleetApp`], the Fn adapter's start). The answer is the one [`router`]
/// gives: it depends on no fleet.
pub fn health_router() -> Router {
    Router::new()
        .route(HEALTH_PATH, axum::routing::get(handlers::healthz))
        .layer(CatchPanicLayer::custom(layers::panic_response))
        .layer(axum::middleware::from_fn(layers::request_id))
}

/// The path of the health check.
pub const HEALTH_PATH: &str = "/healthz";

/// True for the requests [`health_router`] answers: `GET` or `HEAD` of [`HEALTH_PATH`].
pub fn is_health_check<B>(req: &http::Request<B>) -> bool {
    req.uri().path() == HEALTH_PATH
        && matches!(*req.method(), http::Method::GET | http::Method::HEAD)
}
