//! fleetctl's HTTP wire types. No I/O: the function, the CLI and the wasm dashboard share them.
pub mod status;
