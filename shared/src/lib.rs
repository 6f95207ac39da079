//! fleetctl-core: everything fleetctl knows, shared by its three front doors
//! (`fleetctl-function`, the `fleetctl` CLI and, through `fleetctl-api`, the dashboard).
//!
//! - [`cloud`]: the fleet file's auth settings turned into a signed OCI client; `auth validate`.
//! - [`config`]: the fleet file (`FleetConfig`), its validation and its JSON Schema.
//! - [`oci`]: credential providers, the request signer and the OCI REST client.
//! - [`ids`]: Oracle Cloud IDs, checked by form and resource type (`ImageId`, `SubnetId`, …).
//! - [`clock`], [`env`](mod@env): injected time and environment.
//! - [`http`]: the HTTP client builder, proxy rules, DNS failures and URL redaction.
//! - [`urls`]: the pure parsers of state URLs and of the OCI endpoint override.
//! - [`values`]: small value types the fleet file shares with the OCI client and the ledger.
//! - [`store`]: the ledger and the state stores (file, memory, s3, oci) that keep it.
//! - [`error`]: the crate's error type and the documented exit codes.

pub mod clock;
pub mod cloud;
pub mod config;
pub mod env;
pub mod error;
pub mod http;
pub mod ids;
pub mod oci;
pub mod status;
pub mod store;
pub mod urls;
pub mod values;

pub use error::{Error, ExitCode};
