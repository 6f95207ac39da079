//! What every test that runs the `fleetctl` binary shares: a run isolated from the machine
//! running the tests, and a child process that cannot outlive its test.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test
#![allow(dead_code)] // each test binary uses a different part of this module

use std::ffi::OsString;
use std::process::{Child, Command, Output};

pub use fleetctl_testkit::Secrets;

/// A home directory that does not exist, so `~/.oci/config` is never the tester's own.
pub const NO_HOME: &str = "/nonexistent/fleetctl-test-home";

/// Names of the environment variables that can change what a fleetctl run does, beyond the
/// prefixes in [`is_outcome_changing`]: proxies (the HTTP clients may honour them), logging.
const EXACT: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "RUST_LOG",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// True for a variable that can change the outcome of a fleetctl run: everything OCI
/// (`OCI_CLI_*` overrides, `OCI_REGION`, `OCI_CONFIG_FILE`, `OCI_METADATA_BASE_URL`,
/// `OCI_RESOURCE_PRINCIPAL_*`, …), fleetctl's own (`FLEETCTL_CONFIG`, `FLEETCTL_STATE`,
/// `FLEETCTL_OCI_ENDPOINT`, …), the S3 state store's (`AWS_*`), proxies and logging.
pub fn is_outcome_changing(name: &str) -> bool {
    name.starts_with("OCI_")
        || name.starts_with("FLEETCTL_")
        || name.starts_with("AWS_")
        || EXACT.contains(&name)
}

/// The variables of this process that [`hermetic`] removes.
pub fn outcome_changing_vars() -> Vec<OsString> {
    let mut names: Vec<OsString> = std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| name.to_str().is_some_and(is_outcome_changing))
        .collect();
    // Removed even when unset here, so a variable set between now and the spawn cannot leak.
    names.extend(EXACT.iter().map(OsString::from));
    names
}

/// Makes `cmd` independent of the machine running the tests: every variable that can change
/// the outcome is removed and `HOME` points at a directory that does not exist. Tests set
/// what they need after calling this.
pub fn hermetic(cmd: &mut Command) -> &mut Command {
    for name in outcome_changing_vars() {
        cmd.env_remove(name);
    }
    cmd.env("HOME", NO_HOME)
}

/// `fleetctl` (the binary under test), made [`hermetic`].
pub fn fleetctl() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fleetctl"));
    hermetic(&mut cmd);
    cmd
}

/// [`fleetctl`] for async tests.
pub fn fleetctl_async() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_fleetctl"));
    hermetic(cmd.as_std_mut());
    cmd.kill_on_drop(true);
    cmd
}

/// A child process that is killed (and reaped) when the guard is dropped, so a failed
/// assertion cannot leave it running.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Spawns `cmd` under a guard.
    pub fn spawn(cmd: &mut Command) -> Self {
        ChildGuard(cmd.spawn().expect("the process starts"))
    }
}

impl std::ops::Deref for ChildGuard {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // Already exited and reaped: both calls fail harmlessly.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A minimal valid fleet file, with `auth` as given (a flow mapping), and nothing that leads
/// outside 127.0.0.1.
pub fn fleet_yaml(auth: &str) -> String {
    format!(
        "kind: FleetConfig
metadata:
  name: web
spec:
  compartmentId: ocid1.compartment.oc1..aaaaaaaaexample
  imageId: ocid1.image.oc1.iad.aaaaaaaaexample
  availabilityDomain: \"Uocm:US-ASHBURN-AD-1\"
  shape: VM.Standard.E4.Flex
  shapeConfig: {{ocpus: 1, memoryInGBs: 16}}
  subnetId: ocid1.subnet.oc1.iad.aaaaaaaaexample
  auth: {auth}
  instances:
    - name: blue
      count: 2
"
    )
}

/// Fails when `out`'s stdout or stderr holds one of `secrets` (or any private key or token,
/// whatever its origin); returns `out`. Every helper that runs the binary passes its output
/// through here.
pub fn no_secrets(out: Output, secrets: &Secrets) -> Output {
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        fleetctl_testkit::assert_no_secrets(
            &format!("fleetctl's {name}"),
            &String::from_utf8_lossy(bytes),
            secrets,
        );
    }
    out
}
