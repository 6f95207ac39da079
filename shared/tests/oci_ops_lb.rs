//! Classic load balancer backends against the simulator: awaited work requests, FAILED work
//! requests, per-LB serialisation, drain, delete, health, and the wait timeout.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

mod oci_ops_support;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use fleetctl_core::cloud::load_balancer_backends;
use fleetctl_core::config::{LoadBalancerConfig, LoadBalancerType};
use fleetctl_core::oci::backends::{
    BackendName, BackendUpdate, Deleted, HealthStatus, LbError, LoadBalancerBackends, NewBackend,
};
use fleetctl_core::oci::compute::InstanceLifecycleState;
use fleetctl_core::oci::lb::ClassicLoadBalancer;
use fleetctl_core::oci::network;
use fleetctl_core::oci::wire::RetryToken;
use fleetctl_core::oci::workrequest::{MutationLocks, WaitPolicy, WorkRequestStatus};
use oci_ops_support::*;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn lb(s: &OpsSim) -> ClassicLoadBalancer {
    ClassicLoadBalancer::new(s.client.clone(), s.load_balancer(), s.backend_set())
        .unwrap()
        .with_wait_policy(fast_waits())
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, last])
}

fn token(what: &str) -> RetryToken {
    RetryToken::derive("lb", &"op-1".parse().unwrap(), what)
}

/// The classic LB work requests of the world, as (accepted, finished) times.
async fn lb_work_request_spans(s: &OpsSim) -> Vec<(OffsetDateTime, OffsetDateTime)> {
    let world = s.world().await;
    let mut spans: Vec<_> = world["workRequests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["service"] == "lb")
        .map(|w: &Value| {
            let t = |k: &str| OffsetDateTime::parse(w[k].as_str().unwrap(), &Rfc3339).unwrap();
            (t("timeAccepted"), t("timeFinished"))
        })
        .collect();
    spans.sort();
    spans
}

#[tokio::test]
async fn a_created_backend_is_live_when_the_call_returns() {
    let s = OpsSim::start().await;
    let lb = lb(&s);
    let done = lb
        .create_backend(&NewBackend::serving(ip(21), 8080, 3), &token("add-21"))
        .await
        .unwrap();
    // No polling here: the call only returns once the work request SUCCEEDED.
    let backends = lb.list_backends().await.unwrap();
    assert_eq!(backends.len(), 1);
    let b = &backends[0];
    assert_eq!(b.name.as_str(), "10.0.0.21:8080");
    assert_eq!(b.ip_address.as_deref(), Some("10.0.0.21"));
    assert_eq!(
        (b.port, b.weight, b.drain, b.offline, b.backup),
        (8080, 3, false, false, false)
    );

    let wr = lb.get_work_request(&done.work_request).await.unwrap();
    assert_eq!(wr.lifecycle_state, WorkRequestStatus::Succeeded);
    let creates = s.calls("CreateBackend");
    assert_eq!(statuses(&creates), vec![Some(204)]);
    assert_eq!(
        done.request_id.as_deref(),
        Some(creates[0].opc_request_id.as_str())
    );
    let polls = s.calls("GetWorkRequest");
    assert!(!polls.is_empty());
    assert!(polls.iter().all(|p| p.seq > creates[0].seq));
}

#[tokio::test]
async fn a_failed_work_request_is_an_error_with_its_message() {
    let s = OpsSim::start().await;
    let lb = lb(&s);
    s.admin(
        reqwest::Method::POST,
        "/_sim/lb/fail-next",
        Some(json!({"count": 1})),
    )
    .await;
    let err = lb
        .create_backend(&NewBackend::serving(ip(22), 8080, 1), &token("add-22"))
        .await
        .unwrap_err();
    let LbError::WorkRequestFailed {
        status,
        message,
        mutation,
        ..
    } = &err
    else {
        panic!("expected a failed work request, got {err:?}");
    };
    assert_eq!(*status, WorkRequestStatus::Failed);
    assert!(
        !message.is_empty() && message != "OCI gave no error details",
        "{message}"
    );
    assert_eq!(mutation.operation, "CreateBackend");
    let creates = s.calls("CreateBackend");
    assert_eq!(err.request_id(), Some(creates[0].opc_request_id.as_str()));
    let text = err.to_string();
    assert!(
        text.contains("FAILED") && text.contains(message.as_str()),
        "{text}"
    );
    assert!(lb.list_backends().await.unwrap().is_empty());

    // A duplicate backend fails its work request with OCI's own details.
    lb.create_backend(&NewBackend::serving(ip(23), 80, 1), &token("add-23"))
        .await
        .unwrap();
    let dup = lb
        .create_backend(&NewBackend::serving(ip(23), 80, 1), &token("add-23-again"))
        .await
        .unwrap_err();
    assert!(dup.is_work_request_failed(), "{dup}");
    assert!(dup.to_string().contains("10.0.0.23:80"), "{dup}");
}

#[tokio::test]
async fn concurrent_mutations_of_one_lb_never_overlap() {
    let s = OpsSim::start().await;
    // Each work request runs 200 ms real; the simulator answers 409 if a second mutation
    // arrives while one is unfinished.
    s.settings(json!({"lbWorkRequestSeconds": 200, "lbRejectConcurrentMutations": true}))
        .await;
    // Two separate clients of the same LB: the process-wide locks still serialise them.
    let a = Arc::new(lb(&s));
    let b = Arc::new(lb(&s));
    let mut tasks = Vec::new();
    for n in 0..4u8 {
        let lb = if n % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            lb.create_backend(
                &NewBackend::serving(ip(30 + n), 8080, 1),
                &token(&format!("add-{n}")),
            )
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let creates = s.calls("CreateBackend");
    assert_eq!(
        statuses(&creates),
        vec![Some(204); 4],
        "the 409 knob was never hit"
    );
    let spans = lb_work_request_spans(&s).await;
    assert_eq!(spans.len(), 4);
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "work requests overlap: {pair:?}");
    }
    assert_eq!(a.list_backends().await.unwrap().len(), 4);
}

#[tokio::test]
async fn without_shared_locks_the_same_calls_collide_and_are_retried() {
    // The control for the test above: separate lock registries let mutations race, the
    // simulator answers 409 Conflict, and the client waits and sends again until it passes.
    let s = OpsSim::start().await;
    s.settings(json!({"lbWorkRequestSeconds": 200, "lbRejectConcurrentMutations": true}))
        .await;
    let mut tasks = Vec::new();
    for n in 0..3u8 {
        let lb = lb(&s).with_locks(MutationLocks::default());
        tasks.push(tokio::spawn(async move {
            lb.create_backend(
                &NewBackend::serving(ip(40 + n), 8080, 1),
                &token(&format!("race-{n}")),
            )
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let conflicts = s
        .calls("CreateBackend")
        .iter()
        .filter(|c| c.status == Some(409))
        .count();
    assert!(
        conflicts >= 1,
        "the racing calls should have met the 409 knob"
    );
    assert_eq!(lb(&s).list_backends().await.unwrap().len(), 3);
}

#[tokio::test]
async fn drain_changes_only_drain_and_delete_removes_the_backend() {
    let s = OpsSim::start().await;
    let lb = lb(&s);
    let new = NewBackend {
        backup: true,
        ..NewBackend::serving(ip(50), 8443, 7)
    };
    lb.create_backend(&new, &token("add-50")).await.unwrap();
    let name = new.name();
    lb.set_drain(&name, true, &token("drain-50")).await.unwrap();
    let b = lb.get_backend(&name).await.unwrap();
    assert_eq!(
        (b.drain, b.weight, b.backup, b.offline),
        (true, 7, true, false)
    );
    let updates = s.calls("UpdateBackend");
    assert_eq!(updates.len(), 1);
    assert!(
        updates[0].path.ends_with("/backends/10.0.0.50%3A8443"),
        "{}",
        updates[0].path
    );

    lb.update_backend(
        &name,
        &BackendUpdate {
            weight: Some(2),
            drain: Some(false),
            offline: Some(true),
            ..Default::default()
        },
        &token("update-50"),
    )
    .await
    .unwrap();
    let b = lb.get_backend(&name).await.unwrap();
    assert_eq!(
        (b.drain, b.weight, b.backup, b.offline),
        (false, 2, true, true)
    );

    lb.delete_backend(&name).await.unwrap();
    assert!(lb.list_backends().await.unwrap().is_empty());
    let err = lb.get_backend(&name).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn backend_health_turns_ok_once_its_instance_runs() {
    let s = OpsSim::start().await;
    let lb = lb(&s);
    let i = s.launch("healthy").await;
    let ips = eventually("the instance's IP", || async {
        network::primary_private_ip(&s.client, &s.compartment(), &i.id)
            .await
            .unwrap()
            .ok_or("attaching")
    })
    .await;
    let new = NewBackend::serving(ips.private_ip, 8080, 1);
    lb.create_backend(&new, &token("add-healthy"))
        .await
        .unwrap();
    s.wait_for_state(&i.id, InstanceLifecycleState::Running)
        .await;
    let health = eventually("backend health OK", || async {
        let h = lb.backend_health(&new.name()).await.unwrap();
        (h.status == HealthStatus::Ok).then_some(h.clone()).ok_or(h)
    })
    .await;
    assert!(
        health
            .health_check_results
            .iter()
            .all(|r| r.health_check_status == "OK")
    );
    let set = lb.backend_set_health().await.unwrap();
    assert_eq!(set.status, HealthStatus::Ok);
    assert_eq!(set.total_backend_count, 1);

    // A backend whose IP matches no instance is critical.
    let ghost = NewBackend::serving(ip(99), 8080, 1);
    lb.create_backend(&ghost, &token("add-ghost"))
        .await
        .unwrap();
    let h = eventually("ghost backend CRITICAL", || async {
        let h = lb.backend_health(&ghost.name()).await.unwrap();
        (h.status == HealthStatus::Critical)
            .then_some(h.clone())
            .ok_or(h)
    })
    .await;
    assert_eq!(h.status, HealthStatus::Critical);
    let set = lb.backend_set_health().await.unwrap();
    assert_ne!(set.status, HealthStatus::Ok);
    assert!(
        set.critical_state_backend_names
            .contains(&"10.0.0.99:8080".to_string()),
        "{set:?}"
    );
}

#[tokio::test]
async fn a_work_request_that_never_finishes_times_out_with_its_id() {
    let s = OpsSim::start().await;
    s.settings(json!({"lbWorkRequestSeconds": 1000000})).await;
    let lb = ClassicLoadBalancer::new(s.client.clone(), s.load_balancer(), s.backend_set())
        .unwrap()
        .with_wait_policy(WaitPolicy {
            first_poll: Duration::from_millis(5),
            max_poll: Duration::from_millis(20),
            timeout: Duration::from_millis(150),
        });
    let err = lb
        .create_backend(&NewBackend::serving(ip(60), 80, 1), &token("slow"))
        .await
        .unwrap_err();
    let LbError::WorkRequestTimedOut {
        work_request,
        status,
        waited,
        ..
    } = &err
    else {
        panic!("expected a timeout, got {err:?}");
    };
    assert!(*waited >= Duration::from_millis(150));
    assert!(!status.is_terminal());
    assert!(err.to_string().contains(work_request.as_str()), "{err}");
    assert!(s.calls("GetWorkRequest").len() >= 2);
}

#[tokio::test]
async fn the_fleet_file_type_picks_the_classic_implementation() {
    let s = OpsSim::start().await;
    let config = LoadBalancerConfig {
        lb_type: LoadBalancerType::Classic,
        load_balancer_id: s.load_balancer(),
        backend_set_name: s.backend_set(),
        port: 8080,
        weight: 1,
        drain_timeout: Duration::from_secs(30),
        health_timeout: Duration::from_secs(300),
    };
    let backends = load_balancer_backends(&s.client, &config).unwrap();
    assert_eq!(backends.kind(), LoadBalancerType::Classic);
    assert!(backends.list_backends().await.unwrap().is_empty());
    assert_eq!(s.calls("ListBackends").len(), 1);
    assert!(s.calls("ListBackends")[0].path.starts_with("/20170115/"));

    let wrong =
        ClassicLoadBalancer::new(s.client.clone(), s.network_load_balancer(), s.backend_set())
            .unwrap_err();
    assert!(
        wrong
            .to_string()
            .contains("is not a classic load balancer OCID"),
        "{wrong}"
    );
    let missing = BackendName::for_address(ip(1), 1);
    let err = backends.backend_health(&missing).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn mutations_whose_response_was_lost_are_not_queued_twice() {
    let s = OpsSim::start().await;
    let lb = lb(&s);
    s.fault(json!({"operation": "CreateBackend", "drop": "after", "count": 1}))
        .await;
    let new = NewBackend::serving(ip(80), 8080, 1);
    lb.create_backend(&new, &token("add-80")).await.unwrap();
    let creates = s.calls("CreateBackend");
    assert_eq!(creates.len(), 2);
    assert_eq!(creates[0].dropped.as_deref(), Some("after"));
    assert_eq!(lb_work_request_spans(&s).await.len(), 1, "one work request");
    assert_eq!(lb.list_backends().await.unwrap().len(), 1);

    s.fault(json!({"operation": "UpdateBackend", "drop": "after", "count": 1}))
        .await;
    lb.set_drain(&new.name(), true, &token("drain-80"))
        .await
        .unwrap();
    assert_eq!(s.calls("UpdateBackend").len(), 2);
    assert_eq!(lb_work_request_spans(&s).await.len(), 2);
    assert!(lb.get_backend(&new.name()).await.unwrap().drain);

    // A DELETE has no retry token: the retry after a lost response finds the backend gone
    // (404) and reports it as already absent instead of failing.
    s.fault(json!({"operation": "DeleteBackend", "drop": "after", "count": 1}))
        .await;
    let deleted = lb.delete_backend(&new.name()).await.unwrap();
    let deletes = s.calls("DeleteBackend");
    assert_eq!(deletes.len(), 2);
    assert_eq!(deletes[0].dropped.as_deref(), Some("after"));
    assert!(
        matches!(deleted, Deleted::AlreadyAbsent { .. }),
        "{deleted:?}"
    );
    assert!(lb.list_backends().await.unwrap().is_empty());
}

#[tokio::test]
async fn deleting_from_a_missing_backend_set_is_an_error_not_already_absent() {
    let s = OpsSim::start().await;
    let lb = ClassicLoadBalancer::new(s.client.clone(), s.load_balancer(), "no-such-set")
        .unwrap()
        .with_wait_policy(fast_waits());
    let err = lb
        .delete_backend(&BackendName::for_address(ip(81), 80))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn a_failed_delete_of_a_backend_that_still_exists_is_an_error() {
    let s = OpsSim::start().await;
    let lb = lb(&s);
    let new = NewBackend::serving(ip(82), 80, 1);
    lb.create_backend(&new, &token("add-82")).await.unwrap();
    s.admin(
        reqwest::Method::POST,
        "/_sim/lb/fail-next",
        Some(json!({"count": 1})),
    )
    .await;
    let err = lb.delete_backend(&new.name()).await.unwrap_err();
    assert!(err.is_work_request_failed(), "{err}");
    assert_eq!(lb.list_backends().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_load_balancer_busy_for_the_whole_timeout_is_reported_as_busy() {
    let s = OpsSim::start().await;
    s.fault(json!({
        "operation": "CreateBackend",
        "status": 409,
        "code": "Conflict",
        "message": "Load balancer is busy",
        "count": 1000
    }))
    .await;
    let lb = ClassicLoadBalancer::new(s.client.clone(), s.load_balancer(), s.backend_set())
        .unwrap()
        .with_wait_policy(WaitPolicy {
            first_poll: Duration::from_millis(5),
            max_poll: Duration::from_millis(20),
            timeout: Duration::from_millis(100),
        });
    let err = lb
        .create_backend(&NewBackend::serving(ip(90), 80, 1), &token("busy"))
        .await
        .unwrap_err();
    let LbError::Busy { source, .. } = &err else {
        panic!("expected busy, got {err:?}");
    };
    assert_eq!(source.code(), Some("Conflict"));
    let creates = s.calls("CreateBackend");
    assert!(
        creates.len() >= 2,
        "409 Conflict is sent again while time remains"
    );
    assert!(creates.iter().all(|c| c.status == Some(409)));
    assert_eq!(
        err.request_id(),
        Some(creates.last().unwrap().opc_request_id.as_str())
    );
    assert!(lb.list_backends().await.unwrap().is_empty());
}
