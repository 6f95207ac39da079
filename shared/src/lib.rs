//! fleetctl-core: everything fleetctl knows, shared by its three front doors
//! (`fleetctl-function`, the `fleetctl` CLI and, through `fleetctl-api`, the dashboard).
//!
//! - [`cloud`]: the fleet file's auth settings turned into a signed OCI client; `auth validate`.
//! - [`config`]: the fleet file (`FleetConfig`), its validation and its JSON Schema.
//! - [`oci`]: credential providers, the request signer and the OCI REST client.
//! - [`ids`]: Oracle Cloud IDs, checked by form and resource type (`ImageId`, `SubnetId`, …).
//! - [`clock`], [`env`](mod@env): injected time and environment.
//! - [`urls`]: the pure parsers of state URLs.
//! - [`plan`]: the pure planner; [`ops`]: the reconcile step every front door calls.
//! - [`metrics`]: the metrics snapshot, control status and event history built (purely) from
//!   the ledger, as `fleetctl-api` types.
//! - [`store`]: the ledger and the state stores (file, memory, s3, oci) that keep it.
//! - [`error`]: the crate's error type and the documented exit codes.

pub mod clock;
pub mod cloud;
pub mod config;
pub mod drift;
pub mod env;
pub mod error;
pub mod ids;
pub mod metrics;
pub mod observe;
pub mod oci;
pub mod ops;
pub mod plan;
pub mod status;
pub mod store;
pub mod urls;

pub use error::{Error, ExitCode};
