//! The dashboard in a real browser: Debian's headless `chromium`, driven through
//! `chromedriver` (WebDriver, with fantoccini), against `fleetctl demo --http` (the binary
//! under test, spawned). Screenshots of every state go to `target/dashboard-e2e/<test>/`
//! (test artifacts, not committed).
//!
//! Needs `chromium` and `chromedriver` on PATH (`cargo xtask setup` installs Debian's;
//! `FLEETCTL_CHROMEDRIVER` / `FLEETCTL_CHROMIUM` name others). Without them the tests fail
//! saying so: they are never skipped as passed. One browser test runs at a time (each starts
//! a demo, a driver and a browser; the CI machines have 2 cores).

#[path = "../fleetctl/support/mod.rs"]
mod support;

mod harness;
mod pages;
