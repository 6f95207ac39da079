//! One test binary per topic (each former `tests/*.rs` is a module), so the core and the
//! simulator are linked a few times instead of once per file.
//!
//! The configuration: loading, errors, schema, templates and mutations of the fleet file.

mod errors;
mod load;
mod mutations;
mod properties;
mod schema;
mod templates;
