//! oci-sim's integration tests: one binary (faster to link), one module per topic.
#![allow(clippy::unwrap_used)]

mod binary;
mod common;
mod faults;
mod files;
mod imds;
mod request_log;
mod vectors;
mod verifier;
