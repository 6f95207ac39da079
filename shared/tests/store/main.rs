//! One test binary per topic (each former `tests/*.rs` is a module), so the core and the
//! simulator are linked a few times instead of once per file.
//!
//! The state store: ledger units, the file, Object Storage and S3 backends and their conformance suite.

mod store_support;

mod conformance;
mod file;
mod objectstorage;
mod s3;
mod units;
