//! `fleetctl rollout` and its verbs end to end: the binary against `oci-sim`, checked from
//! the simulator's state (instances' images) and its request log.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use crate::operations::{World, fleetctl, text};

use std::process::Output;

use fleetctl_testkit::{SimHandle, TestSim};
use serde_json::Value;

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn images(sim: &SimHandle) -> Vec<String> {
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
        .map(|i| i["imageId"].as_str().unwrap().to_string())
        .collect()
}

fn launches(sim: &SimHandle) -> usize {
    sim.requests()
        .iter()
        .filter(|e| e.operation.as_deref() == Some("LaunchInstance"))
        .count()
}

const USER_DATA: &str = "c2VjcmV0LWRlcGxveS10b2tlbg";

#[tokio::test]
async fn rollout_replaces_what_the_file_changed_lists_it_first_and_undo_goes_back() {
    let sim = TestSim::start_with(|c| c.seed = Some(7)).await;
    let first = sim.edited_fleet_file(3, ", drainTimeout: 50ms", "minReadySeconds: 0");
    // User data that must never be shown (only kept in the ledger to relaunch from).
    let mut body = std::fs::read_to_string(&first).unwrap();
    body.push_str(&format!("  metadata: {{user_data: {USER_DATA}}}\n"));
    std::fs::write(&first, body).unwrap();
    let state = sim.dir().join("state.json");
    let old_image = sim.image().to_string();
    let mut w = World {
        sim,
        fleet_file: first.clone(),
        state,
    };
    ok(&fleetctl(&w, &["scale", "3"]).await);
    assert_eq!(images(&w.sim), vec![old_image.clone(); 3]);

    // The fleet file gets a new image.
    let new_image = w.sim.add_image().await.to_string();
    let second = w.sim.dir().join("fleet-v2.yaml");
    let body = std::fs::read_to_string(&first)
        .unwrap()
        .replace(&old_image, &new_image);
    assert!(body.contains(&new_image));
    std::fs::write(&second, body).unwrap();
    w.fleet_file = second;

    // The dry run lists each instance and the field that differs; it changes nothing.
    let before = std::fs::read(&w.state).unwrap();
    let launched = launches(&w.sim);
    let plan = ok(&fleetctl(&w, &["rollout", "--dry-run"]).await);
    assert!(plan.contains("3 of 3 active instance(s) differ"), "{plan}");
    for n in 1..=3 {
        assert!(
            plan.contains(&format!("replace demo-web-{n} (")) && plan.contains("imageId differs"),
            "{plan}"
        );
    }
    assert_eq!(
        std::fs::read(&w.state).unwrap(),
        before,
        "no ledger written"
    );
    assert_eq!(launches(&w.sim), launched, "nothing launched");
    let doc: Value =
        serde_json::from_str(&ok(
            &fleetctl(&w, &["-o", "json", "rollout", "--dry-run"]).await
        ))
        .unwrap();
    let replace = doc["replace"].as_array().unwrap();
    assert_eq!(replace.len(), 3, "{doc}");
    assert!(
        replace
            .iter()
            .all(|r| r["fields"] == serde_json::json!(["imageId"])),
        "{doc}"
    );
    assert_eq!(
        doc["operation"]["steps"].as_array().unwrap().len(),
        3,
        "{doc}"
    );
    assert_eq!(launches(&w.sim), launched, "nothing launched");
    let status = ok(&fleetctl(&w, &["status"]).await);
    assert!(status.contains("outdated"), "{status}");
    assert!(status.contains("demo-web-1 (imageId)"), "{status}");

    // The rollout replaces the three; a second one replaces none.
    let out = ok(&fleetctl(&w, &["rollout"]).await);
    assert!(out.contains("succeeded"), "{out}");
    assert_eq!(images(&w.sim), vec![new_image.clone(); 3]);
    assert_eq!(launches(&w.sim), launched + 3);
    ok(&fleetctl(&w, &["rollout"]).await);
    assert_eq!(
        launches(&w.sim),
        launched + 3,
        "a second rollout replaces none"
    );
    let st = ok(&fleetctl(&w, &["rollout", "status"]).await);
    assert!(
        st.contains("every active instance matches the fleet file"),
        "{st}"
    );

    // History: both revisions, the operations newest first, through the command line.
    let hist = ok(&fleetctl(&w, &["rollout", "history"]).await);
    assert!(hist.contains("imageId"), "{hist}");
    assert!(hist.contains("(fleet file)"), "{hist}");
    assert!(
        hist.contains("rolling_restart (rollout): succeeded by cli"),
        "{hist}"
    );
    let json: Value =
        serde_json::from_str(&ok(
            &fleetctl(&w, &["-o", "json", "rollout", "history"]).await
        ))
        .unwrap();
    let revisions = json["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 2, "{json}");
    assert_eq!(revisions[1]["changed"], serde_json::json!(["imageId"]));
    assert_eq!(revisions[1]["current"], true);
    assert_eq!(revisions[1]["instances"], 3);
    let ops = json["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 3, "scale and two rollouts: {json}");
    assert_eq!(ops[1]["launched"], 3);
    assert_eq!(ops[1]["door"], "cli");
    // No launch details (metadata values) in what history, status or the plan show.
    for shown in [
        json.to_string(),
        plan.clone(),
        status.clone(),
        ok(&fleetctl(&w, &["-o", "json", "status"]).await),
        ok(&fleetctl(&w, &["-o", "json", "rollout", "status"]).await),
    ] {
        assert!(!shown.contains(USER_DATA), "{shown}");
    }

    // Undo: back to revision 1's image; the file still says the new one.
    let out = ok(&fleetctl(&w, &["rollout", "undo"]).await);
    assert!(out.contains("succeeded"), "{out}");
    assert_eq!(images(&w.sim), vec![old_image.clone(); 3]);
    let st = ok(&fleetctl(&w, &["rollout", "status"]).await);
    assert!(
        st.contains("3 instance(s) differ from the fleet file"),
        "{st}"
    );
    let out = fleetctl(&w, &["rollout", "undo", "--to-revision", "9"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("revision 9 is not in the ledger"));
}
