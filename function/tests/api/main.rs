//! The HTTP API's tests, one binary with a module per topic: the router answered without a
//! socket (`tower::ServiceExt::oneshot`) over a fleet whose OCI is `oci-sim` on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

mod support;

mod auth;
mod errors;
mod fuzz;
mod openapi;
mod routes;
mod sse;
