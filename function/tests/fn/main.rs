//! `fleetctl-function` as OCI Functions runs it: the Fn platform played by the test over the
//! unix socket ([`platform`]), and the fleet file read from a path or from Object Storage on a
//! simulated OCI ([`fleet_source`]). The simulator runs in this process on loopback
//! (fleetctl-testkit); nothing is mocked.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap here is a failed test

mod fleet_source;
mod platform;
mod support;
