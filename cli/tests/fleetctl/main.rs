//! The `fleetctl` binary's integration tests, in one test binary (each former `tests/*.rs` is
//! a module) so the CLI, the core and the simulator are linked once.

mod support;

mod auth_validate;
mod cli;
mod crash;
mod demo;
mod operations;
mod race;
mod rollout;
mod serve;
mod smoke_oci;
mod state_s3;
mod status;
mod status_errors;
