//! The operation commands end to end: the `fleetctl` binary against `oci-sim` (in this
//! process, time-scaled), checked from the simulator's own state and request log.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use crate::support;

use std::path::PathBuf;
use std::process::Output;

use fleetctl_testkit::{SimHandle, TestSim};
use serde_json::{Value, json};

/// A simulator, a fleet file and a ledger path; [`fleetctl`] runs the binary on them.
pub(crate) struct World {
    pub(crate) sim: TestSim,
    pub(crate) fleet_file: PathBuf,
    pub(crate) state: PathBuf,
}

/// The simulator's fleet file with `count` instances of `web`, short drains and no warm-up.
async fn world(count: u32) -> World {
    let sim = TestSim::start_with(|c| c.seed = Some(5)).await;
    let fleet_file = sim.edited_fleet_file(count, ", drainTimeout: 50ms", "minReadySeconds: 0");
    let state = sim.dir().join("state.json");
    World {
        sim,
        fleet_file,
        state,
    }
}

pub(crate) async fn fleetctl(w: &World, args: &[&str]) -> Output {
    let state = w.state.display().to_string();
    let mut all = vec![
        "--config",
        w.fleet_file.to_str().unwrap(),
        "--state",
        &state,
    ];
    all.extend_from_slice(args);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_fleetctl"));
    support::hermetic(&mut cmd);
    let mut cmd = tokio::process::Command::from(cmd);
    support::no_secrets(
        cmd.args(all).output().await.unwrap(),
        &support::Secrets::of_sim(&w.sim),
    )
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn live(sim: &SimHandle) -> Vec<Value> {
    sim.world_json()["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["freeformTags"]["fleetctl-fleet"] == "demo")
        .filter(|i| {
            !matches!(
                i["lifecycleState"].as_str(),
                Some("TERMINATING" | "TERMINATED")
            )
        })
        .cloned()
        .collect()
}

fn mutating_calls(sim: &SimHandle) -> usize {
    sim.requests()
        .iter()
        .filter(|e| {
            matches!(
                e.operation.as_deref(),
                Some(
                    "LaunchInstance"
                        | "TerminateInstance"
                        | "InstanceAction"
                        | "CreateBackend"
                        | "UpdateBackend"
                        | "DeleteBackend"
                )
            )
        })
        .count()
}

async fn admin(w: &World, method: reqwest::Method, path: &str, body: Option<Value>) {
    w.sim.admin(method, path, body).await;
}

#[tokio::test]
async fn scale_then_a_dry_run_rolling_restart_changes_nothing() {
    let w = world(0).await;
    let out = fleetctl(&w, &["scale", "3"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("succeeded"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(live(&w.sim).len(), 3);

    let calls = mutating_calls(&w.sim);
    let before = std::fs::read(&w.state).unwrap();
    let out = fleetctl(&w, &["rolling-restart", "--dry-run"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    for name in ["demo-web-1", "demo-web-2", "demo-web-3"] {
        assert!(plan.contains(&format!("replace {name}")), "{plan}");
    }
    assert!(plan.contains("maxSurge 1, maxUnavailable 0"), "{plan}");
    assert_eq!(
        mutating_calls(&w.sim),
        calls,
        "a dry run calls no mutating API"
    );
    assert_eq!(
        std::fs::read(&w.state).unwrap(),
        before,
        "a dry run writes no ledger"
    );

    let out = fleetctl(&w, &["-o", "json", "status"]).await;
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The ledger, OCI and the LB agree; the only drift is the count: 3 run where the fleet
    // file (count 0) asks for none.
    let kinds: Vec<&str> = status["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["surplus"], "{status}");
}

#[tokio::test]
async fn a_rolling_restart_without_capacity_pauses_keeps_the_old_instances_and_resumes() {
    let w = world(2).await;
    let out = fleetctl(&w, &["reconcile"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let old: Vec<Value> = live(&w.sim);
    assert_eq!(old.len(), 2, "the control loop brings the fleet to its 2");

    // No room for a surge instance.
    admin(
        &w,
        reqwest::Method::PUT,
        "/_sim/capacity",
        Some(json!({"shape": "VM.Standard.E4.Flex", "instances": 2})),
    )
    .await;
    let out = fleetctl(&w, &["rolling-restart"]).await;
    assert_eq!(out.status.code(), Some(2), "a paused operation is exit 2");
    let err = text(&out.stderr);
    assert!(err.contains("paused"), "{err}");
    assert!(err.to_lowercase().contains("capacity"), "{err}");
    let now: Vec<Value> = live(&w.sim);
    assert_eq!(now.len(), 2);
    assert_eq!(
        now.iter().map(|i| i["id"].clone()).collect::<Vec<_>>(),
        old.iter().map(|i| i["id"].clone()).collect::<Vec<_>>(),
        "the old instances keep serving"
    );

    admin(&w, reqwest::Method::DELETE, "/_sim/capacity", None).await;
    let out = fleetctl(&w, &["resume"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let after = live(&w.sim);
    assert_eq!(after.len(), 2);
    for i in &after {
        assert!(
            !old.iter().any(|o| o["id"] == i["id"]),
            "every instance replaced"
        );
    }
}

#[tokio::test]
async fn no_wait_records_and_reconcile_carries_it_out() {
    let w = world(0).await;
    let out = fleetctl(&w, &["scale", "2", "--no-wait"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("recorded"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(mutating_calls(&w.sim), 0, "--no-wait calls nothing");
    let out = fleetctl(&w, &["reconcile"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(live(&w.sim).len(), 2);
}

#[tokio::test]
async fn pause_without_an_operation_is_exit_1_and_says_so() {
    let w = world(0).await;
    let out = fleetctl(&w, &["pause"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no operation is running"),
        "{}",
        text(&out.stderr)
    );
}
