//! Identifiers: Oracle Cloud IDs checked by form and resource type ([`ocid`]).

pub mod ocid;

pub use ocid::*;
