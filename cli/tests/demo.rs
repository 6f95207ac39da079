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
