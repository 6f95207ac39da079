//! One module per simulated OCI service; each exposes its state and its operations.

pub mod admin;
pub mod auth_service;
pub mod compute;
pub mod identity;
pub mod imds;
pub mod load_balancer;
pub mod network;

use crate::http::router::Registry;

/// Every operation the simulator serves, by OCI name.
pub fn registry() -> Registry {
    let mut r = Registry::default();
    r.add(identity::operations());
    r.add(auth_service::operations());
    r.add(imds::operations());
    r.add(admin::operations());
    r
}
