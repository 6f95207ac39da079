//! oci-sim's integration tests: one binary (faster to link), one module per topic.
#![allow(clippy::unwrap_used)]

mod admin_services;
mod binary;
mod common;
mod compute;
mod faults;
mod files;
mod imds;
mod load_balancer;
mod nlb;
mod object_storage;
mod python_sdk;
mod request_log;
mod vectors;
mod verifier;
