//! One test binary per topic (each former `tests/*.rs` is a module), so the core and the
//! simulator are linked a few times instead of once per file.
//!
//! Operations against the simulator (compute, network, limits, retries, backends, the reconcile step end to end) and the pure planner tables, metrics and status.

mod backends_support;
mod oci_ops_support;
mod plan_support;

mod backends;
mod compute;
mod e2e;
mod limits;
mod metrics_snapshot;
mod network;
mod plan_tables;
mod retry;
mod rollout_e2e;
mod rollout_tables;
mod status_build;
