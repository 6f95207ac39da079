//! The pure parsers of the URLs a fleet file and the command line give: state URLs
//! ([`state`]) and the OCI endpoint override ([`endpoint`]). A leaf of the core, so the fleet
//! file's checked types and the runtime use the same parser.

pub mod endpoint;
pub mod state;
