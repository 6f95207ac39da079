//! `fleetctl demo`: the embedded simulated OCI comes up, other fleetctl runs can use it, and
//! it stops cleanly on SIGTERM.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_serves_a_simulated_oci_that_other_runs_can_use_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetctl"))
        .args([
            "demo",
            "--dir",
            demo_dir.to_str().unwrap(),
            "--time-scale",
            "0.01",
            "--sim-listen",
            "127.0.0.1:0",
        ])
        .env_remove("FLEETCTL_OCI_ENDPOINT")
        .env_remove("OCI_REGION")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let line = lines.next().unwrap().unwrap();
        let done = line.starts_with("Press Ctrl-C");
        seen.push(line);
        if done {
            break;
        }
    }
    let text = seen.join("\n");
    assert!(
        text.contains("a simulated OCI is serving at http://127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("Fleet(kind=FleetConfig, name=demo, instances=3)"),
        "{text}"
    );
    assert!(text.contains("auth: ok (GetUser"), "{text}");

    // Another fleetctl run uses the fleet file the demo printed.
    let fleet = demo_dir.join("sim/fleet.yaml");
    assert!(text.contains(fleet.to_str().unwrap()), "{text}");
    let other = Command::new(env!("CARGO_BIN_EXE_fleetctl"))
        .args([
            "--config",
            fleet.to_str().unwrap(),
            "auth",
            "validate",
            "-o",
            "json",
        ])
        .env_remove("FLEETCTL_OCI_ENDPOINT")
        .env_remove("OCI_REGION")
        .output()
        .unwrap();
    assert_eq!(
        other.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        rest.last().map(String::as_str),
        Some("fleetctl demo: stopped")
    );
}

/// `config/fleet.local.yaml.tmpl` names the resources `fleetctl demo` seeds; if the simulator's
/// seeding changes, this fails and the template's OCIDs must be updated from a demo's
/// `.fleetctl/demo/sim/fleet.yaml`.
#[tokio::test]
async fn the_local_template_names_the_resources_the_demo_seeds() {
    let template =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/fleet.local.yaml.tmpl");
    let fleet = fleetctl_core::config::load_file(&template).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = oci_sim::SimConfig::new(dir.path());
    config.seed = Some(oci_sim::DEMO_SEED);
    let sim = oci_sim::Sim::start(config).await.unwrap();
    let spec = &fleet.spec;
    let stale = "config/fleet.local.yaml.tmpl is stale: copy the OCIDs from a demo's fleet.yaml";
    assert_eq!(
        spec.compartment_id.as_str(),
        sim.compartment_id().to_string(),
        "{stale}"
    );
    assert_eq!(
        spec.image_id.as_str(),
        sim.image_id().to_string(),
        "{stale}"
    );
    assert_eq!(
        spec.subnet_id.as_ref().map(|s| s.as_str().to_string()),
        Some(sim.subnet_id().to_string()),
        "{stale}"
    );
    assert_eq!(
        spec.load_balancer
            .as_ref()
            .map(|lb| lb.load_balancer_id.as_str().to_string()),
        Some(sim.load_balancer_id().to_string()),
        "{stale}"
    );
    assert_eq!(
        spec.endpoint
            .as_ref()
            .map(|e| e.as_str().trim_end_matches('/').to_string()),
        Some(format!("http://{}", oci_sim::DEMO_LISTEN)),
        "{stale}"
    );
    assert_eq!(
        spec.auth.config_file,
        std::path::PathBuf::from(".fleetctl/demo/sim/config"),
        "the demo writes its OCI config under --dir (default .fleetctl/demo)/sim"
    );
}
