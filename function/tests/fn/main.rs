//! The Fn platform tests.
