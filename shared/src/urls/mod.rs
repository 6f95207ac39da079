//! The pure parsers of the URLs a fleet file and the command line give: state URLs
//! ([`state`]).

pub mod state;
