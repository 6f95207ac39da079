//! `fleetctl status` end to end: instances launched into `oci-sim`, a ledger in the state
//! file and backends in the simulated load balancer, compared by the binary.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use crate::support;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use fleetctl_api::status::{DriftKind, FleetStatus};
use fleetctl_core::cloud::{self, Cloud};
use fleetctl_core::config::{self, FleetConfig};
use fleetctl_core::fleet::{self, Overrides};
use fleetctl_core::ids::InstanceId;
use fleetctl_core::oci::Env;
use fleetctl_core::oci::backends::NewBackend;
use fleetctl_core::oci::compute::{self, InstanceLifecycleState};
use fleetctl_core::oci::network;
use fleetctl_core::oci::tags::FleetTags;
use fleetctl_core::oci::wire::RetryToken;
use fleetctl_core::store::ledger::{InstanceRecord, Ledger, RecordState, Timestamp};
use fleetctl_core::store::{OpenOptions, StateStore};
use fleetctl_testkit::TestSim;

struct World {
    sim: TestSim,
    fleet_file: PathBuf,
    fleet: FleetConfig,
    cloud: Cloud,
}

async fn world() -> World {
    let sim = TestSim::start_with(|c| c.seed = None).await;
    let fleet_file = sim.fleet_file();
    let fleet = config::load_file(&fleet_file).unwrap();
    let cloud = fleet::connect(&fleet, &Overrides::new(Env::empty()))
        .await
        .unwrap();
    World {
        sim,
        fleet_file,
        fleet,
        cloud,
    }
}

/// Launches `n` tagged instances of group `web` and waits until they run with an IP.
async fn launch(w: &World, n: u32) -> Vec<(InstanceId, String, IpAddr)> {
    let group = w.fleet.group("web").unwrap();
    let mut out = Vec::new();
    for slot in 1..=n {
        let tags = FleetTags::new(
            w.fleet.metadata.name.clone(),
            group.name.clone(),
            "status-test".parse().unwrap(),
            slot,
        );
        let details = cloud::launch_details(&w.fleet, group, &tags);
        let token =
            RetryToken::derive("launch", &"status-test".parse().unwrap(), &slot.to_string());
        let instance = compute::launch_instance(&w.cloud.client, &details, &token)
            .await
            .unwrap();
        out.push((instance.id, instance.display_name.unwrap_or_default()));
    }
    let mut ready = Vec::new();
    for (id, name) in out {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let i = compute::get_instance(&w.cloud.client, &id).await.unwrap();
            let ip =
                network::primary_private_ip(&w.cloud.client, &w.fleet.spec.compartment_id, &id)
                    .await
                    .unwrap();
            if i.lifecycle_state == InstanceLifecycleState::Running
                && let Some(ip) = ip
            {
                ready.push((id, name, ip.private_ip));
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "instance {id} not running with an IP in time (last state {})",
                i.lifecycle_state.as_str()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    ready
}

fn record(id: &InstanceId, name: &str, ip: Option<IpAddr>, state: RecordState) -> InstanceRecord {
    InstanceRecord {
        instance_id: id.clone(),
        group: "web".parse().unwrap(),
        name: name.into(),
        private_ip: ip,
        created: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
        terminated: None,
        state,
        operation: None,
        launch_digest: None,
    }
}

async fn write_ledger(w: &World, records: Vec<InstanceRecord>) {
    let store = StateStore::open(w.fleet.spec.state.url.as_str(), &OpenOptions::new()).unwrap();
    let mut ledger = Ledger::new(
        w.fleet.metadata.name.clone(),
        time::OffsetDateTime::now_utc(),
    );
    ledger.records = records;
    store.create(&ledger).await.unwrap();
}

async fn add_backend(w: &World, ip: IpAddr) {
    let lb = w.fleet.spec.load_balancer.as_ref().unwrap();
    let backends = cloud::load_balancer_backends(&w.cloud.client, lb).unwrap();
    backends
        .create_backend(
            &NewBackend::serving(ip, lb.port, 1),
            &RetryToken::derive("backend", &"status-test".parse().unwrap(), &ip.to_string()),
        )
        .await
        .unwrap();
}

async fn fleetctl(w: &World, args: &[&str]) -> Output {
    let mut all = vec!["--config", w.fleet_file.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_fleetctl"))
        .args(all)
        .env_remove("FLEETCTL_STATE")
        .env_remove("FLEETCTL_OCI_ENDPOINT")
        .env_remove("OCI_REGION")
        .output()
        .await
        .unwrap();
    support::no_secrets(out, &support::Secrets::of_sim(&w.sim))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn status_marks_every_kind_of_drift() {
    let w = world().await;
    let launched = launch(&w, 3).await;
    let [(a, a_name, a_ip), (b, b_name, b_ip), (c, _, _)] = &launched[..] else {
        unreachable!()
    };
    let gone: InstanceId = "ocid1.instance.oc1.iad.aaaaaaaagonegonegone"
        .parse()
        .unwrap();
    // a: managed, in the LB. b: managed, running, no backend. c: running, not in the ledger.
    // gone: in the ledger, unknown to OCI. 10.0.0.200: a backend of no fleet instance.
    write_ledger(
        &w,
        vec![
            record(a, a_name, Some(*a_ip), RecordState::Running),
            record(b, b_name, Some(*b_ip), RecordState::Running),
            record(&gone, "demo-web-9", None, RecordState::Running),
        ],
    )
    .await;
    add_backend(&w, *a_ip).await;
    add_backend(&w, "10.0.0.200".parse().unwrap()).await;

    let out = fleetctl(&w, &["status", "-o", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let status: FleetStatus = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status.fleet, "demo");
    assert_eq!(status.desired, 3);
    assert_eq!(status.running, 3);
    assert!(status.ledger.exists);
    assert_eq!(status.ledger.active, 3);
    assert!(!status.in_sync);
    let group = &status.groups[0];
    assert_eq!(
        (
            group.name.as_str(),
            group.desired,
            group.in_ledger,
            group.in_oci
        ),
        ("web", 3, 3, 3)
    );
    assert_eq!(group.instances.len(), 4, "3 ledger records + 1 unmanaged");
    let lb = status.load_balancer.as_ref().unwrap();
    assert_eq!(lb.backends, 2);

    let mut drift: Vec<(DriftKind, Option<String>, Option<String>)> = status
        .drift
        .iter()
        .map(|d| (d.kind, d.instance_id.clone(), d.backend.clone()))
        .collect();
    drift.sort_by_key(|d| format!("{d:?}"));
    let mut expected = vec![
        (DriftKind::InLedgerButGone, Some(gone.to_string()), None),
        (DriftKind::NotInLedger, Some(c.to_string()), None),
        (
            DriftKind::BackendMissing,
            Some(b.to_string()),
            Some(format!("{b_ip}:8080")),
        ),
        (
            DriftKind::UnknownBackend,
            None,
            Some("10.0.0.200:8080".to_string()),
        ),
    ];
    expected.sort_by_key(|d| format!("{d:?}"));
    assert_eq!(drift, expected);

    let a_row = group
        .instances
        .iter()
        .find(|i| i.id == a.to_string())
        .unwrap();
    assert_eq!(a_row.oci_state.as_deref(), Some("RUNNING"));
    assert_eq!(a_row.ledger_state.as_deref(), Some("running"));
    assert_eq!(
        a_row.backend.as_ref().map(|b| b.name.clone()),
        Some(format!("{a_ip}:8080"))
    );

    // The legacy flag prints the same in text, drift by drift.
    let out = fleetctl(&w, &["--status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.starts_with("Fleet demo: 3 of 3 desired instances in OCI"),
        "{shown}"
    );
    assert!(
        shown.contains("Group web: desired 3, in ledger 3, in OCI 3"),
        "{shown}"
    );
    assert!(shown.contains("Drift (4):"), "{shown}");
    for line in [
        "in ledger but gone: demo-web-9",
        "running but not in ledger: ",
        "LB backend missing: ",
        "LB backend unknown to the fleet: backend 10.0.0.200:8080",
    ] {
        assert!(shown.contains(line), "missing {line:?} in:\n{shown}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_that_matches_its_ledger_is_in_sync() {
    let w = world().await;
    let launched = launch(&w, 3).await;
    let mut records = Vec::new();
    for (id, name, ip) in &launched {
        records.push(record(id, name, Some(*ip), RecordState::Running));
        add_backend(&w, *ip).await;
    }
    write_ledger(&w, records).await;
    let out = fleetctl(&w, &["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.starts_with("Fleet demo: 3 of 3 desired instances in OCI"),
        "{shown}"
    );
    assert!(shown.contains("No drift"), "{shown}");
    // The simulator's own host instance is in the compartment but not tagged for the fleet.
    assert!(
        !shown.contains(&w.sim.host_instance_id().to_string()),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fewer_running_than_desired_is_drift_even_when_the_ledger_agrees() {
    let w = world().await;
    let launched = launch(&w, 2).await;
    let mut records = Vec::new();
    for (id, name, ip) in &launched {
        records.push(record(id, name, Some(*ip), RecordState::Running));
        add_backend(&w, *ip).await;
    }
    write_ledger(&w, records).await;
    let out = fleetctl(&w, &["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(!shown.contains("No drift"), "{shown}");
    assert!(
        shown.contains("fewer running than desired: 2 of 3 desired instances run in OCI (1 short)"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_ledger_is_exit_2_naming_the_problem_and_left_untouched() {
    let w = world().await;
    let path = PathBuf::from(w.fleet.spec.state.url.as_str());
    std::fs::write(&path, "{\"version\": 1,\n  \"fleet\": ").unwrap();
    let out = fleetctl(&w, &["status"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains("line 2"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"version\": 1,\n  \"fleet\": "
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ledger_of_another_fleet_is_refused() {
    let w = world().await;
    let store = StateStore::open(w.fleet.spec.state.url.as_str(), &OpenOptions::new()).unwrap();
    store
        .create(&Ledger::new(
            "other".parse().unwrap(),
            time::OffsetDateTime::now_utc(),
        ))
        .await
        .unwrap();
    let out = fleetctl(&w, &["status"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("belongs to fleet \"other\""), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn state_flag_overrides_the_fleet_file() {
    let w = world().await;
    let out = fleetctl(
        &w,
        &["--state", "memory://elsewhere", "status", "-o", "json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let status: FleetStatus = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status.state_url, "memory://elsewhere");
    assert!(!status.ledger.exists);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ledger_timestamp_out_of_range_is_a_damaged_ledger_not_a_crash() {
    let w = world().await;
    let path = PathBuf::from(w.fleet.spec.state.url.as_str());
    // In range as written, but its UTC form is in the year 10000.
    let doc = "{\n  \"version\": 1,\n  \"fleet\": \"demo\",\n  \"created\": \"9999-12-31T23:59:59-01:00\"\n}\n";
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, doc).unwrap();
    let out = fleetctl(&w, &["status"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains("line 4, column 40"), "{stderr}");
    assert!(stderr.contains("9999-12-31T23:59:59-01:00"), "{stderr}");
    assert!(!stderr.contains("panic"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), doc);
}

/// Issue 7, item 8: display names from OCI and names in the ledger were printed as they are,
/// so one holding escape sequences could clear the screen, retitle the window or hide text.
/// Text output escapes every control character; JSON keeps the strings (JSON escapes them).
#[tokio::test(flavor = "multi_thread")]
async fn control_characters_from_oci_and_the_ledger_are_escaped_in_text_output() {
    let w = world().await;
    let group = w.fleet.group("web").unwrap();
    let tags = FleetTags::new(
        w.fleet.metadata.name.clone(),
        group.name.clone(),
        "status-test".parse().unwrap(),
        1,
    );
    let mut details = cloud::launch_details(&w.fleet, group, &tags);
    let evil_oci = "web\u{1b}[2J\u{1b}]0;pwned\u{7}\u{202e}1";
    details.display_name = Some(evil_oci.to_string());
    let token = RetryToken::derive("launch", &"status-test".parse().unwrap(), "evil");
    compute::launch_instance(&w.cloud.client, &details, &token)
        .await
        .unwrap();
    let gone: InstanceId = "ocid1.instance.oc1.iad.aaaaaaaagonegonegone"
        .parse()
        .unwrap();
    let evil_ledger = "gone\r\n\u{9b}31mred\tname";
    write_ledger(
        &w,
        vec![record(&gone, evil_ledger, None, RecordState::Running)],
    )
    .await;

    let out = fleetctl(&w, &["status"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for raw in ['\u{1b}', '\u{7}', '\u{9b}', '\r', '\t', '\u{202e}'] {
        assert!(
            !shown.contains(raw),
            "{raw:?} reached the output:\n{shown:?}"
        );
    }
    assert!(
        shown.contains("web\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\u{202e}1"),
        "{shown}"
    );
    assert!(shown.contains("gone\\r\\n\\u{9b}31mred\\tname"), "{shown}");
    // Every row is still one line: the ledger's newline did not split one.
    assert!(
        shown
            .lines()
            .filter(|l| l.contains("ocid1.instance"))
            .all(|l| l.starts_with("  ")),
        "{shown}"
    );

    let out = fleetctl(&w, &["status", "-o", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let status: FleetStatus = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = status.groups[0]
        .instances
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert!(names.contains(&evil_oci), "{names:?}");
    assert!(names.contains(&evil_ledger), "{names:?}");
}
