//! `fleetctl demo`: the embedded simulated OCI comes up, other fleetctl runs can use it, and
//! it stops cleanly on SIGTERM.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use crate::support;

use std::io::{BufRead, BufReader, Read};
use std::process::{ChildStdout, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use support::ChildGuard;

/// The demo's stdout, line by line, read on a thread so a demo that stops printing cannot
/// block the test past its deadline.
struct Lines {
    rx: Receiver<std::io::Result<String>>,
    seen: Vec<String>,
}

impl Lines {
    fn new(stdout: ChildStdout) -> Self {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
        }
    }

    /// Reads until a line satisfies `done` (returns true), or until the stream ends or
    /// `deadline` passes (returns false). Every line read is kept in `seen`.
    fn until(&mut self, deadline: Instant, done: impl Fn(&str) -> bool) -> bool {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    let line = line.unwrap();
                    let hit = done(&line);
                    self.seen.push(line);
                    if hit {
                        return true;
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return false,
            }
        }
    }

    fn text(&self) -> String {
        self.seen.join("\n")
    }
}

#[test]
fn demo_sim_only_serves_a_simulated_oci_that_other_runs_can_use_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let mut child = ChildGuard::spawn(
        support::fleetctl()
            .args([
                "demo",
                "--dir",
                demo_dir.to_str().unwrap(),
                "--time-scale",
                "0.01",
                "--sim-listen",
                "127.0.0.1:0",
                "--sim-only",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let mut lines = Lines::new(child.stdout.take().unwrap());
    let ready = lines.until(Instant::now() + Duration::from_secs(60), |l| {
        l.starts_with("Press Ctrl-C")
    });
    let text = lines.text();
    assert!(ready, "the demo did not get ready within 60 s:\n{text}");
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
    let other = support::fleetctl()
        .args([
            "--config",
            fleet.to_str().unwrap(),
            "auth",
            "validate",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        other.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
    let status = support::fleetctl()
        .args(["--config", fleet.to_str().unwrap(), "status", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(report["fleet"], "demo");
    assert_eq!(report["desired"], 3);
    // Nothing runs yet: the only drift is the count (0 of 3 desired).
    let kinds: Vec<&str> = report["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["shortfall"], "{report}");

    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let stopped = lines.until(Instant::now() + Duration::from_secs(30), |l| {
        l == "fleetctl demo: stopped"
    });
    assert!(stopped, "no stop line after SIGTERM:\n{}", lines.text());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

/// A blocking GET or POST over loopback (no proxy), answered with status and body.
fn http(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut r = client.request(method.parse().unwrap(), url);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = r.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    })
}

#[test]
fn demo_brings_its_fleet_into_service_behind_the_api_and_prints_the_dashboard_url() {
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let mut child = ChildGuard::spawn(
        support::fleetctl()
            .args(["demo", "--dir", demo_dir.to_str().unwrap()])
            .args(["--time-scale", "0.01", "--sim-listen", "127.0.0.1:0"])
            .args(["--http", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let mut lines = Lines::new(child.stdout.take().unwrap());
    let ready = lines.until(Instant::now() + Duration::from_secs(120), |l| {
        l.starts_with("Press Ctrl-C")
    });
    let text = lines.text();
    assert!(ready, "the demo did not get ready within 120 s:\n{text}");
    assert!(
        text.contains("fleet demo: 3 of 3 instances in service behind the load balancer"),
        "{text}"
    );
    let url = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Dashboard: "))
        .unwrap_or_else(|| panic!("no dashboard URL:\n{text}"));
    let (base, token) = url.split_once("/#token=").unwrap();
    assert!(base.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(token.len(), 64, "a random token: {url}");

    let (status, page) = http("GET", &format!("{base}/"), None, None);
    assert_eq!(status, 200);
    assert!(page.contains("_bg.wasm"), "the dashboard: {page}");
    let (status, metrics) = http("GET", &format!("{base}/metrics"), None, None);
    assert_eq!(status, 200);
    let m: serde_json::Value = serde_json::from_str(&metrics).unwrap();
    assert_eq!(
        (m["actual"].clone(), m["lbBackends"].clone()),
        (3.into(), 3.into()),
        "{m}"
    );
    let (status, _) = http(
        "POST",
        &format!("{base}/scale"),
        None,
        Some(r#"{"desired":4}"#),
    );
    assert_eq!(status, 401);
    let (status, body) = http(
        "POST",
        &format!("{base}/scale"),
        Some(token),
        Some(r#"{"desired":4}"#),
    );
    assert_eq!(status, 202, "{body}");

    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let stopped = lines.until(Instant::now() + Duration::from_secs(30), |l| {
        l == "fleetctl demo: stopped"
    });
    assert!(stopped, "no stop line after SIGTERM:\n{}", lines.text());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn demo_on_a_port_in_use_is_an_infrastructure_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut child = ChildGuard::spawn(
        support::fleetctl()
            .args(["demo", "--dir", dir.path().to_str().unwrap()])
            .args(["--sim-listen", &addr])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the demo kept running on a port in use"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("caused by:"),
        "the OS reason follows: {stderr}"
    );
    drop(taken);
}

/// `config/fleet.local.yaml.tmpl` names the resources `fleetctl demo` seeds; if the simulator's
/// seeding changes, this fails and the template's OCIDs must be updated from a demo's
/// `.fleetctl/demo/sim/fleet.yaml`.
#[tokio::test]
async fn the_local_template_names_the_resources_the_demo_seeds() {
    let template =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/fleet.local.yaml.tmpl");
    let fleet = fleetctl_core::config::load_file(&template).unwrap();
    let sim = fleetctl_testkit::TestSim::start_with(|c| c.seed = Some(oci_sim::DEMO_SEED)).await;
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

/// The demo's fleet file (cli/src/demo_fleet.rs, which the test harness includes) targets the
/// simulator's seeded resources; the simulator itself writes none.
#[tokio::test]
async fn the_demo_fleet_file_targets_the_seeded_resources() {
    let t = fleetctl_testkit::TestSim::start().await;
    let s = t.seeded();
    let dir = t.out_dir().display().to_string();
    let expected = format!(
        "kind: FleetConfig
metadata: {{name: demo}}
spec:
  compartmentId: {}
  imageId: {}
  availabilityDomain: \"Uocm:US-ASHBURN-AD-1\"
  shape: VM.Standard.E4.Flex
  shapeConfig: {{ocpus: 1, memoryInGBs: 16}}
  subnetId: {}
  endpoint: {}
  auth: {{method: user, configFile: {dir}/config, profile: DEFAULT, region: us-ashburn-1}}
  instances:
    - {{name: web, count: 3}}
  loadBalancer: {{enabled: true, type: classic, loadBalancerId: {}, backendSetName: web, port: 8080}}
  state: {{url: {dir}/state.json}}
",
        s.compartment,
        s.image,
        s.subnet,
        t.base_url(),
        s.load_balancer
    );
    assert_eq!(t.fleet_file(), t.out_dir().join("fleet.yaml"));
    assert_eq!(std::fs::read_to_string(t.fleet_file()).unwrap(), expected);
    fleetctl_core::config::load_file(&t.fleet_file()).unwrap();
}

#[tokio::test]
async fn with_the_large_subnet_the_demo_fleet_file_uses_it() {
    let t = fleetctl_testkit::TestSim::start_with(|c| c.large_subnet = true).await;
    let large = t.large_subnet_id().unwrap().to_string();
    let text = std::fs::read_to_string(t.fleet_file()).unwrap();
    assert!(text.contains(&format!("subnetId: {large}\n")), "{text}");
}
