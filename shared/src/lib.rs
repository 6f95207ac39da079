//! fleetctl-core: everything fleetctl knows, shared by its three front doors
//! (`fleetctl-function`, the `fleetctl` CLI and, through `fleetctl-api`, the dashboard).
//!
//! - [`fleet`]: the composition root: [`fleet::Fleet`], opened from the fleet file and a front
//!   door's overrides, holds the OCI client, the state store and the load balancer handle.
//! - [`cloud`]: the fleet file turned into the plain values the OCI client takes; hints.
//! - [`config`]: the fleet file (`FleetConfig`), its validation and its JSON Schema.
//! - [`oci`]: credential providers, the request signer and the OCI REST client.
//! - [`ids`]: Oracle Cloud IDs, checked by form and resource type (`ImageId`, `SubnetId`, …).
//! - [`clock`], [`env`](mod@env): injected time and environment.
//! - [`http`]: the HTTP client builder, proxy rules, DNS failures and URL redaction.
//! - [`urls`]: the pure parsers of state URLs and of the OCI endpoint override.
//! - [`values`]: small value types the fleet file shares with the OCI client and the ledger.
//! - [`plan`]: the pure planner; [`ops`]: the reconcile step every front door calls.
//! - [`metrics`]: the metrics snapshot, control status and event history built (purely) from
//!   the ledger, as `fleetctl-api` types.
//! - [`store`]: the ledger and the state stores (file, memory, s3, oci) that keep it.
//! - [`error`]: the crate's error type and its classes (front doors map them to exit codes
//!   and HTTP statuses).

pub mod clock;
pub mod cloud;
pub mod config;
pub mod drift;
pub mod env;
pub mod error;
pub mod fleet;
pub mod http;
pub mod ids;
#[cfg(test)]
mod layering;
pub mod metrics;
pub mod observe;
pub mod oci;
pub mod ops;
pub mod plan;
pub mod status;
pub mod store;
pub mod urls;
pub mod values;

pub use error::{Error, ErrorClass};
