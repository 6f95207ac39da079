//! Helpers for the `oci_ops_*` tests: the one harness (`fleetctl-testkit`) under the names
//! these tests use.
#![allow(dead_code, unused_imports)]

pub use fleetctl_testkit::{
    TIME_SCALE, eventually, fast_retries, fast_waits, statuses, user_client,
};

/// A simulator at [`TIME_SCALE`] with a fixed seed and a fleetctl client pointed at it.
pub type OpsSim = fleetctl_testkit::TestSim;
