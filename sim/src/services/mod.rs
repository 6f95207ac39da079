//! One module per simulated OCI service; each exposes its state and its operations.

pub mod admin;
pub mod auth_service;
pub mod compute;
pub mod health;
pub mod health_history;
pub mod identity;
pub mod imds;
pub mod knobs;
pub mod lifecycle;
pub mod load_balancer;
pub mod network;
pub mod nlb;
pub mod object_storage;
pub mod retry;
pub mod settings;
pub mod work_request;

use http::StatusCode;

use crate::http::router::{Call, Registry};
use crate::http::{ApiError, SimRequest};
use crate::state::World;

/// Every operation the simulator serves, by OCI name.
pub fn registry() -> Registry {
    let mut r = Registry::default();
    r.add(identity::operations());
    r.add(auth_service::operations());
    r.add(imds::operations());
    r.add(compute::operations());
    r.add(network::operations());
    r.add(load_balancer::operations());
    r.add(nlb::operations());
    r.add(object_storage::operations());
    r.add(admin::operations());
    r.add(knobs::operations());
    r
}

/// The caller must belong to the simulated tenancy; anyone else sees nothing (404, as OCI
/// answers when it cannot tell missing from forbidden).
pub(crate) fn check_tenancy(
    world: &World,
    call: &Call<'_>,
    what: &str,
    id: &str,
) -> Result<(), ApiError> {
    if call.principal()?.tenancy() == world.identity.tenancy.id.as_str() {
        Ok(())
    } else {
        Err(ApiError::not_found(what, id))
    }
}

/// `if-match` against a Core / LB / NLB resource's etag: a mismatch is 412 `NoEtagMatch`.
/// Surrounding quotes are tolerated.
pub(crate) fn if_match(
    req: &SimRequest,
    current: &str,
    what: &str,
    id: &str,
) -> Result<(), ApiError> {
    match req.header("if-match") {
        Some(m) if m.trim().trim_matches('"') != current => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "NoEtagMatch",
            format!(
                "The If-Match etag {} does not match the current etag of {what} {id}",
                m.trim()
            ),
        )),
        _ => Ok(()),
    }
}
