//! Helpers for fleetctl's end-to-end tests.
