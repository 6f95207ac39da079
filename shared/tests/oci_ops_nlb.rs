//! Network load balancer backends against the simulator: the same guarantees as the classic
//! LB through the same trait, with NLB's wire differences (`is*` flags, `{"items"}` pages,
//! 202, `status`, work request errors, 409 while updating).

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

mod oci_ops_support;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use fleetctl_core::cloud::load_balancer_backends;
use fleetctl_core::config::{LoadBalancerConfig, LoadBalancerType};
use fleetctl_core::oci::backends::{
    BackendUpdate, Deleted, HealthStatus, LbError, LoadBalancerBackends, NewBackend,
};
use fleetctl_core::oci::compute::InstanceLifecycleState;
use fleetctl_core::oci::network;
use fleetctl_core::oci::nlb::NetworkLoadBalancer;
use fleetctl_core::oci::wire::RetryToken;
use fleetctl_core::oci::workrequest::{MutationLocks, WorkRequestStatus};
use oci_ops_support::*;
use serde_json::json;

fn nlb(s: &OpsSim) -> NetworkLoadBalancer {
    NetworkLoadBalancer::new(
        s.client.clone(),
        s.network_load_balancer(),
        s.nlb_backend_set(),
    )
    .unwrap()
    .with_wait_policy(fast_waits())
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, last])
}

fn token(what: &str) -> RetryToken {
    RetryToken::derive("nlb", &"op-1".parse().unwrap(), what)
}

#[tokio::test]
async fn a_created_backend_is_live_when_the_call_returns() {
    let s = OpsSim::start().await;
    let nlb = nlb(&s);
    let done = nlb
        .create_backend(&NewBackend::serving(ip(21), 8080, 2), &token("add-21"))
        .await
        .unwrap();
    let backends = nlb.list_backends().await.unwrap();
    assert_eq!(backends.len(), 1);
    let b = &backends[0];
    assert_eq!(b.name.as_str(), "10.0.0.21:8080");
    assert_eq!(
        (b.port, b.weight, b.drain, b.offline, b.backup),
        (8080, 2, false, false, false)
    );
    let wr = nlb.get_work_request(&done.work_request).await.unwrap();
    assert_eq!(wr.status, WorkRequestStatus::Succeeded);
    assert_eq!(wr.operation_type.as_deref(), Some("CREATE_BACKEND"));
    let creates = s.calls("CreateBackend");
    assert_eq!(statuses(&creates), vec![Some(202)]);
    assert!(
        creates[0]
            .path
            .starts_with("/20200501/networkLoadBalancers/")
    );
}

#[tokio::test]
async fn a_failed_work_request_is_an_error_with_its_message() {
    let s = OpsSim::start().await;
    let nlb = nlb(&s);
    s.admin(
        reqwest::Method::POST,
        "/_sim/nlb/fail-next",
        Some(json!({"count": 1})),
    )
    .await;
    let err = nlb
        .create_backend(&NewBackend::serving(ip(22), 8080, 1), &token("add-22"))
        .await
        .unwrap_err();
    let LbError::WorkRequestFailed {
        status, message, ..
    } = &err
    else {
        panic!("expected a failed work request, got {err:?}");
    };
    assert_eq!(*status, WorkRequestStatus::Failed);
    assert!(
        !message.is_empty() && message != "OCI gave no error details",
        "{message}"
    );
    assert!(
        !s.calls("ListWorkRequestErrors").is_empty(),
        "the errors of a failed NLB work request are fetched"
    );
    assert!(err.request_id().is_some());
    assert!(nlb.list_backends().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_duplicate_backend_is_refused_at_once_and_not_retried() {
    let s = OpsSim::start().await;
    let nlb = nlb(&s);
    nlb.create_backend(&NewBackend::serving(ip(23), 80, 1), &token("add-23"))
        .await
        .unwrap();
    let err = nlb
        .create_backend(&NewBackend::serving(ip(23), 80, 1), &token("add-23-again"))
        .await
        .unwrap_err();
    let oci = err.oci().expect("an OCI error");
    assert_eq!(oci.code(), Some("NotAuthorizedOrResourceAlreadyExists"));
    assert_eq!(
        statuses(&s.calls("CreateBackend")),
        vec![Some(202), Some(409)]
    );
}

#[tokio::test]
async fn concurrent_mutations_of_one_nlb_never_overlap() {
    let s = OpsSim::start().await;
    // Each work request runs 200 ms real; the NLB answers 409 to a mutation while one runs.
    s.settings(json!({"nlbWorkRequestSeconds": 200})).await;
    let a = Arc::new(nlb(&s));
    let b = Arc::new(nlb(&s));
    let mut tasks = Vec::new();
    for n in 0..4u8 {
        let nlb = if n % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            nlb.create_backend(
                &NewBackend::serving(ip(30 + n), 8080, 1),
                &token(&format!("add-{n}")),
            )
            .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(
        statuses(&s.calls("CreateBackend")),
        vec![Some(202); 4],
        "no 409: one mutation in flight at a time"
    );
    assert_eq!(a.list_backends().await.unwrap().len(), 4);
}

#[tokio::test]
async fn without_shared_locks_a_busy_nlb_answers_409_and_the_call_waits_its_turn() {
    let s = OpsSim::start().await;
    s.settings(json!({"nlbWorkRequestSeconds": 200})).await;
    let mut tasks = Vec::new();
    for n in 0..3u8 {
        let nlb = nlb(&s).with_locks(MutationLocks::default());
        tasks.push(tokio::spawn(async move {
            nlb.create_backend(
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
        "the racing calls should have met the busy NLB"
    );
    assert_eq!(nlb(&s).list_backends().await.unwrap().len(), 3);
}

#[tokio::test]
async fn drain_changes_only_drain_and_delete_removes_the_backend() {
    let s = OpsSim::start().await;
    let nlb = nlb(&s);
    let new = NewBackend {
        backup: true,
        ..NewBackend::serving(ip(50), 8443, 7)
    };
    nlb.create_backend(&new, &token("add-50")).await.unwrap();
    let name = new.name();
    nlb.set_drain(&name, true, &token("drain-50"))
        .await
        .unwrap();
    let b = nlb.get_backend(&name).await.unwrap();
    assert_eq!(
        (b.drain, b.weight, b.backup, b.offline),
        (true, 7, true, false)
    );
    let updates = s.calls("UpdateBackend");
    assert_eq!(updates.len(), 1);
    assert!(updates[0].path.ends_with("/backends/10.0.0.50%3A8443"));

    nlb.update_backend(&name, &BackendUpdate::offline(true), &token("off-50"))
        .await
        .unwrap();
    let b = nlb.get_backend(&name).await.unwrap();
    assert_eq!((b.drain, b.offline), (true, true));

    nlb.delete_backend(&name).await.unwrap();
    assert!(nlb.list_backends().await.unwrap().is_empty());
}

#[tokio::test]
async fn backends_are_listed_across_pages() {
    let s = OpsSim::start().await;
    let nlb = nlb(&s).with_page_size(2);
    for n in 0..5u8 {
        nlb.create_backend(
            &NewBackend::serving(ip(70 + n), 80, 1),
            &token(&format!("page-{n}")),
        )
        .await
        .unwrap();
    }
    s.clear_requests().await;
    let all = nlb.list_backends().await.unwrap();
    let mut names: Vec<String> = all.iter().map(|b| b.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        (70..75)
            .map(|n| format!("10.0.0.{n}:80"))
            .collect::<Vec<_>>()
    );
    assert_eq!(s.calls("ListBackends").len(), 3);
}

#[tokio::test]
async fn backend_health_turns_ok_once_its_instance_runs() {
    let s = OpsSim::start().await;
    let nlb = nlb(&s);
    let i = s.launch("nlb-healthy").await;
    let ips = eventually("the instance's IP", || async {
        network::primary_private_ip(&s.client, &s.compartment(), &i.id)
            .await
            .unwrap()
            .ok_or("attaching")
    })
    .await;
    let new = NewBackend::serving(ips.private_ip, 8080, 1);
    nlb.create_backend(&new, &token("add-healthy"))
        .await
        .unwrap();
    s.wait_for_state(&i.id, InstanceLifecycleState::Running)
        .await;
    eventually("backend health OK", || async {
        let h = nlb.backend_health(&new.name()).await.unwrap();
        (h.status == HealthStatus::Ok).then_some(()).ok_or(h)
    })
    .await;
    let set = nlb.backend_set_health().await.unwrap();
    assert_eq!(set.status, HealthStatus::Ok);
    assert_eq!(set.total_backend_count, 1);
}

#[tokio::test]
async fn the_fleet_file_type_picks_the_network_implementation() {
    let s = OpsSim::start().await;
    let config = LoadBalancerConfig {
        lb_type: LoadBalancerType::Network,
        load_balancer_id: s.network_load_balancer(),
        backend_set_name: s.nlb_backend_set(),
        port: 8080,
        weight: 1,
        drain_timeout: Duration::from_secs(30),
        health_timeout: Duration::from_secs(300),
    };
    let backends = load_balancer_backends(&s.client, &config).unwrap();
    assert_eq!(backends.kind(), LoadBalancerType::Network);
    assert!(backends.list_backends().await.unwrap().is_empty());
    assert!(s.calls("ListBackends")[0].path.starts_with("/20200501/"));
    let wrong = NetworkLoadBalancer::new(s.client.clone(), s.load_balancer(), "web").unwrap_err();
    assert!(
        wrong
            .to_string()
            .contains("is not a network load balancer OCID")
    );
}

#[tokio::test]
async fn mutations_whose_response_was_lost_are_not_done_twice() {
    let s = OpsSim::start().await;
    let nlb = nlb(&s);
    s.fault(json!({"operation": "CreateBackend", "drop": "after", "count": 1}))
        .await;
    let new = NewBackend::serving(ip(80), 8080, 1);
    nlb.create_backend(&new, &token("add-80")).await.unwrap();
    let creates = s.calls("CreateBackend");
    assert_eq!(creates.len(), 2);
    assert_eq!(creates[0].dropped.as_deref(), Some("after"));
    assert_eq!(
        creates[1].status,
        Some(202),
        "the token replays the first answer"
    );
    let world = s.world().await;
    let nlb_work_requests = world["workRequests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["service"] == "nlb")
        .count();
    assert_eq!(nlb_work_requests, 1);
    assert_eq!(nlb.list_backends().await.unwrap().len(), 1);

    s.fault(json!({"operation": "DeleteBackend", "drop": "after", "count": 1}))
        .await;
    let deleted = nlb.delete_backend(&new.name()).await.unwrap();
    assert!(
        matches!(deleted, Deleted::AlreadyAbsent { .. }),
        "{deleted:?}"
    );
    assert!(nlb.list_backends().await.unwrap().is_empty());
}
