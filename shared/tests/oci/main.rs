//! One test binary per topic (each former `tests/*.rs` is a module), so the core and the
//! simulator are linked a few times instead of once per file.
//!
//! The OCI client: signing, keys, auth principals, regions and endpoints, the HTTP client and redaction.

mod oci_support;

mod client_core;
mod client_network;
mod instance_principal;
mod keys;
mod malformed;
mod redaction;
mod regions_endpoints;
mod resource_principal;
mod signer;
mod user_principal;
