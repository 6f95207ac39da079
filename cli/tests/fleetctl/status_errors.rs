//! `fleetctl status` when OCI fails: exit 2 with the failing call named, and the ledger never
//! written.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use crate::support;

use fleetctl_testkit::TestSim;

/// A simulator whose ListInstances answers `status`, `code` and `message`.
async fn sim_failing_list_instances(status: u16, code: &str, message: &str) -> TestSim {
    let sim = TestSim::start().await;
    sim.fault(serde_json::json!({
        "operation": "ListInstances",
        "status": status,
        "code": code,
        "message": message,
    }))
    .await;
    sim
}

#[tokio::test]
async fn status_is_exit_2_naming_the_call_when_oci_fails() {
    let sim = sim_failing_list_instances(
        404,
        "NotAuthorizedOrNotFound",
        "Authorization failed or requested resource not found.",
    )
    .await;

    let state = sim.dir().join("state.json");
    let fleet = sim.fleet_file();
    let out = support::fleetctl_async()
        .args(["--config", fleet.to_str().unwrap()])
        .args(["--state", state.to_str().unwrap(), "status"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("ListInstances: OCI answered HTTP 404 NotAuthorizedOrNotFound"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no report on a failure");
    assert!(!state.exists(), "status never writes the ledger");
    let answered: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|e| e.operation.as_deref() == Some("ListInstances"))
        .map(|e| e.status)
        .collect();
    assert_eq!(answered, vec![Some(404)], "one call, not retried");
}

/// Issue 7, item 8: an error message from OCI reached the terminal as it was; control
/// characters in it are escaped, and each cause stays on one line.
#[tokio::test]
async fn control_characters_in_an_oci_error_message_are_escaped() {
    let sim = sim_failing_list_instances(
        400,
        "InvalidParameter",
        "bad\u{1b}[2J\u{1b}]0;pwned\u{7}\nfleetctl: all good",
    )
    .await;
    let fleet = sim.fleet_file();
    let out = support::fleetctl_async()
        .args(["--config", fleet.to_str().unwrap()])
        .args(["--state", "memory://x", "status"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
        "{stderr:?}"
    );
    assert!(
        stderr.contains("bad\\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\nfleetctl: all good"),
        "{stderr}"
    );
    assert!(
        !stderr.lines().any(|l| l.starts_with("fleetctl: all good")),
        "a message forged a line: {stderr}"
    );
}
