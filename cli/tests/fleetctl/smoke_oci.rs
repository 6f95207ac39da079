//! The smoke test against a real OCI tenancy (docs/smoke-test.md): ignored by default, run by
//! an operator who names a tenancy in its environment variables:
//!
//! ```sh
//! FLEETCTL_SMOKE_OCI_CONFIG=~/.oci/config FLEETCTL_SMOKE_COMPARTMENT=ocid1.compartment... \
//! FLEETCTL_SMOKE_IMAGE=ocid1.image... FLEETCTL_SMOKE_SUBNET=ocid1.subnet... \
//! FLEETCTL_SMOKE_AD='Uocm:US-ASHBURN-AD-1' \
//!   cargo test -p fleetctl --test fleetctl -- --ignored --exact smoke_oci::a_one_instance_fleet_lives_and_dies_in_a_real_tenancy
//! ```
//!
//! It writes a fleet file for a one-instance fleet with a unique name, then runs the release
//! candidate's `fleetctl`: `validate`, `scale 1`, `status`, `rolling-restart --strategy
//! replace` (a rolling reboot of one instance is refused by design), `scale 0`, and checks the
//! ledger and that OCI lists nothing of the fleet still running. Whatever fails, it runs
//! `scale 0` before it reports, so no instance is left billing.
//!
//! Without the variables it fails naming the missing ones: a smoke test that did not run must
//! not look like one that passed. Nothing else in the suite reaches a real tenancy, and
//! nothing in CI runs ignored tests.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support;

/// The variables that name the tenancy, and what each holds.
const REQUIRED: [(&str, &str); 5] = [
    (
        "FLEETCTL_SMOKE_OCI_CONFIG",
        "an OCI config file (API key auth)",
    ),
    (
        "FLEETCTL_SMOKE_COMPARTMENT",
        "the compartment OCID to launch in",
    ),
    ("FLEETCTL_SMOKE_IMAGE", "an image OCID of that region"),
    ("FLEETCTL_SMOKE_SUBNET", "a subnet OCID for the instance"),
    (
        "FLEETCTL_SMOKE_AD",
        "an availability domain, e.g. Uocm:US-ASHBURN-AD-1",
    ),
];

/// One fleetctl command may take this long (a launch, a replacement, a termination in a real
/// region take minutes; `launchTimeout` is 10 minutes).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Proxy and TLS settings the operator's network may need to reach OCI: passed through,
/// unlike everything else [`support::hermetic`] removes.
const PASSED_THROUGH: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

struct Tenancy {
    config: String,
    profile: String,
    region: Option<String>,
    compartment: String,
    image: String,
    subnet: String,
    ad: String,
    shape: String,
    ocpus: String,
    memory: String,
}

impl Tenancy {
    /// The tenancy the environment names, or a failure naming every missing variable.
    fn from_env() -> Tenancy {
        let missing: Vec<String> = REQUIRED
            .iter()
            .filter(|(name, _)| var(name).is_none())
            .map(|(name, what)| format!("  {name}: {what}"))
            .collect();
        assert!(
            missing.is_empty(),
            "the OCI smoke test needs a tenancy and was NOT run; set:\n{}\n(see docs/smoke-test.md)",
            missing.join("\n")
        );
        let get = |name: &str| var(name).unwrap();
        Tenancy {
            config: get("FLEETCTL_SMOKE_OCI_CONFIG"),
            profile: var("FLEETCTL_SMOKE_PROFILE").unwrap_or_else(|| "DEFAULT".into()),
            region: var("FLEETCTL_SMOKE_REGION"),
            compartment: get("FLEETCTL_SMOKE_COMPARTMENT"),
            image: get("FLEETCTL_SMOKE_IMAGE"),
            subnet: get("FLEETCTL_SMOKE_SUBNET"),
            ad: get("FLEETCTL_SMOKE_AD"),
            shape: var("FLEETCTL_SMOKE_SHAPE").unwrap_or_else(|| "VM.Standard.E4.Flex".into()),
            ocpus: var("FLEETCTL_SMOKE_OCPUS").unwrap_or_else(|| "1".into()),
            memory: var("FLEETCTL_SMOKE_MEMORY_GB").unwrap_or_else(|| "4".into()),
        }
    }

    /// The fleet file of a one-instance fleet `name`, its ledger at `state`.
    fn fleet_file(&self, name: &str, state: &Path) -> String {
        let shape_config = if self.shape.ends_with(".Flex") {
            format!(
                "  shapeConfig: {{ocpus: {}, memoryInGBs: {}}}\n",
                self.ocpus, self.memory
            )
        } else {
            String::new()
        };
        let region = self
            .region
            .as_ref()
            .map(|r| format!(", region: {r}"))
            .unwrap_or_default();
        format!(
            "kind: FleetConfig\n\
             metadata: {{name: {name}}}\n\
             spec:\n\
             \x20 compartmentId: {compartment}\n\
             \x20 imageId: {image}\n\
             \x20 availabilityDomain: \"{ad}\"\n\
             \x20 shape: {shape}\n\
             {shape_config}\
             \x20 subnetId: {subnet}\n\
             \x20 freeformTags: {{fleetctl-smoke-test: \"true\"}}\n\
             \x20 auth: {{method: user, configFile: \"{config}\", profile: {profile}{region}}}\n\
             \x20 instances:\n\
             \x20   - {{name: web, count: 1}}\n\
             \x20 rollout: {{strategy: replace, minReadySeconds: 0}}\n\
             \x20 state: {{url: \"file://{state}\"}}\n",
            compartment = self.compartment,
            image = self.image,
            ad = self.ad,
            shape = self.shape,
            subnet = self.subnet,
            config = self.config,
            profile = self.profile,
            state = state.display(),
        )
    }
}

/// A fleet name no other run shares: `smoke-<unix seconds>-<pid>`.
fn unique_name() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("smoke-{secs}-{}", std::process::id())
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `fleetctl --config FILE ARGS` in a hermetic environment (plus the operator's proxy
/// and TLS settings), killed after [`COMMAND_TIMEOUT`].
fn fleetctl(fleet_file: &Path, args: &[&str]) -> Run {
    let mut cmd = support::fleetctl();
    for name in PASSED_THROUGH {
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    cmd.arg("--config")
        .arg(fleet_file)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    eprintln!("smoke: fleetctl {}", args.join(" "));
    let started = Instant::now();
    let mut child = support::ChildGuard::spawn(&mut cmd);
    // Read both pipes on threads, so a chatty command cannot block on a full pipe.
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut text);
            }
            text
        })
    };
    let out = read(child.stdout.take().map(|p| Box::new(p) as _));
    let err = read(child.stderr.take().map(|p| Box::new(p) as _));
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let run = Run {
        code,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    eprintln!(
        "smoke: exit {:?} after {:.0?}\n{}{}",
        run.code,
        started.elapsed(),
        run.stdout,
        run.stderr
    );
    run
}

/// Runs a command that must succeed.
fn ok(fleet_file: &Path, args: &[&str]) -> Run {
    let run = fleetctl(fleet_file, args);
    assert_eq!(
        run.code,
        Some(0),
        "`fleetctl {}` failed (None: timed out after {COMMAND_TIMEOUT:?}):\n{}\n{}",
        args.join(" "),
        run.stdout,
        run.stderr
    );
    run
}

/// `status -o json`.
fn status(fleet_file: &Path) -> Value {
    let run = ok(fleet_file, &["-o", "json", "status"]);
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("status -o json is not JSON ({e}):\n{}", run.stdout))
}

/// The ids of the instances OCI lists for the fleet (not terminating).
fn instance_ids(status: &Value) -> Vec<String> {
    status["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["instances"].as_array().into_iter().flatten())
        .filter(|i| {
            !matches!(
                i["ociState"].as_str(),
                None | Some("TERMINATING" | "TERMINATED")
            )
        })
        .filter_map(|i| i["id"].as_str().map(String::from))
        .collect()
}

/// Scales the fleet to 0 when dropped unless disarmed: a failed assertion must not leave an
/// instance running in the operator's tenancy.
struct Teardown {
    fleet_file: PathBuf,
    armed: bool,
}

impl Drop for Teardown {
    fn drop(&mut self) {
        if self.armed {
            eprintln!("smoke: the test failed; scaling the fleet to 0 so nothing is left running");
            let run = fleetctl(&self.fleet_file, &["scale", "0"]);
            if run.code != Some(0) {
                eprintln!(
                    "smoke: CLEAN UP BY HAND: instances tagged fleetctl-smoke-test=true may still run"
                );
            }
        }
    }
}

#[test]
#[ignore = "reaches a real OCI tenancy: run it as docs/smoke-test.md says"]
fn a_one_instance_fleet_lives_and_dies_in_a_real_tenancy() {
    let tenancy = Tenancy::from_env();
    let dir = tempfile::tempdir().unwrap();
    let name = unique_name();
    let state = dir.path().join("state.json");
    let fleet_file = dir.path().join("fleet.yaml");
    std::fs::write(&fleet_file, tenancy.fleet_file(&name, &state)).unwrap();
    eprintln!(
        "smoke: fleet {name}, fleet file {}, ledger {}",
        fleet_file.display(),
        state.display()
    );

    ok(&fleet_file, &["validate"]);
    ok(&fleet_file, &["auth", "validate"]);
    let mut teardown = Teardown {
        fleet_file: fleet_file.clone(),
        armed: true,
    };

    // Up: one instance, running, in the ledger and in OCI, no drift.
    ok(&fleet_file, &["scale", "1"]);
    let up = status(&fleet_file);
    let first = instance_ids(&up);
    assert_eq!(first.len(), 1, "one instance runs after scale 1: {up}");
    assert_eq!(up["running"], 1, "{up}");
    assert_eq!(up["inSync"], true, "no drift after scale 1: {up}");
    assert_eq!(up["ledger"]["active"], 1, "{up}");

    // A rolling replace: a new instance takes the old one's place.
    ok(&fleet_file, &["rolling-restart", "--strategy", "replace"]);
    let replaced = status(&fleet_file);
    let second = instance_ids(&replaced);
    assert_eq!(
        second.len(),
        1,
        "one instance after the replace: {replaced}"
    );
    assert_ne!(
        second, first,
        "the replace launched a new instance: {replaced}"
    );
    assert_eq!(replaced["inSync"], true, "{replaced}");
    assert_eq!(
        replaced["ledger"]["operation"]["status"], "succeeded",
        "{replaced}"
    );

    // Down: nothing of the fleet left running in OCI.
    ok(&fleet_file, &["scale", "0"]);
    let down = status(&fleet_file);
    assert_eq!(
        instance_ids(&down),
        Vec::<String>::new(),
        "nothing runs after scale 0: {down}"
    );
    assert_eq!(down["running"], 0, "{down}");
    assert_eq!(down["ledger"]["active"], 0, "{down}");
    teardown.armed = false;

    // The ledger: both instances recorded, both terminated, the last operation a succeeded
    // scale.
    let ledger: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let records = ledger["records"].as_array().cloned().unwrap_or_default();
    for id in first.iter().chain(&second) {
        let record = records
            .iter()
            .find(|r| r["instanceId"] == id.as_str())
            .unwrap_or_else(|| panic!("the ledger has no record of {id}: {ledger}"));
        assert_eq!(record["state"], "terminated", "{record}");
    }
    assert_eq!(ledger["operation"]["status"], "succeeded", "{ledger}");
    eprintln!("smoke: passed: fleet {name} launched, replaced and terminated");
}
