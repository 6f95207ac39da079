//! The one conformance suite of the backend-set client: every case runs against the classic
//! load balancer and the network load balancer in the simulator (see `oci_ops_backends.rs`),
//! through the `LoadBalancerBackends` trait. Where the two services differ on the wire (an
//! accepted mutation answers 204 or 202, a duplicate fails its work request or the call, the
//! NLB pages), the case asks the [`Target`].

use std::sync::Arc;
use std::time::Duration;

use fleetctl_core::cloud::load_balancer_backends;
use fleetctl_core::config::{LoadBalancerConfig, LoadBalancerType};
use fleetctl_core::oci::backend_set::BackendSetClient;
use fleetctl_core::oci::backends::{
    BackendName, BackendUpdate, DeleteStarted, Deleted, HealthStatus, LbError,
    LoadBalancerBackends, NewBackend, UPDATE_ATTEMPTS,
};
use fleetctl_core::oci::compute::InstanceLifecycleState;
use fleetctl_core::oci::network;
use fleetctl_core::oci::workrequest::{
    MutationLocks, WorkRequestCheck, WorkRequestId, WorkRequestState, WorkRequestStatus,
};
use serde_json::json;

use super::{Gate, Target, ip, token, waits_for};
use crate::oci_ops_support::{eventually, statuses};

/// Checks `id` until its work request is terminal (within 20 s).
async fn settled(b: &dyn LoadBalancerBackends, id: &WorkRequestId) -> WorkRequestCheck {
    eventually("a terminal work request", || async {
        let check = b.check_work_request(id).await.unwrap();
        if check.state.is_terminal() {
            Ok(check)
        } else {
            Err(check)
        }
    })
    .await
}

/// Adds one backend through each client, all at once (10.0.0.`first`, `first + 1`, …); every
/// add must succeed.
async fn add_at_once(clients: Vec<Arc<BackendSetClient>>, first: u8) {
    let tasks: Vec<_> = clients
        .into_iter()
        .zip(first..)
        .map(|(b, n)| {
            tokio::spawn(async move {
                b.create_backend(
                    &NewBackend::serving(ip(n), 8080, 1),
                    &token(&format!("add-{n}")),
                )
                .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
}

pub async fn a_created_backend_is_live_when_the_call_returns(t: Target) {
    let b = t.backends();
    let done = b
        .create_backend(&NewBackend::serving(ip(21), 8080, 3), &token("add-21"))
        .await
        .unwrap();
    // No polling here: the call only returns once the work request SUCCEEDED.
    let backends = b.list_backends().await.unwrap();
    assert_eq!(backends.len(), 1);
    let got = &backends[0];
    assert_eq!(got.name.as_str(), "10.0.0.21:8080");
    assert_eq!(got.ip_address.as_deref(), Some("10.0.0.21"));
    assert_eq!(
        (got.port, got.weight, got.drain, got.offline, got.backup),
        (8080, 3, false, false, false)
    );

    let check = b.check_work_request(&done.work_request).await.unwrap();
    assert_eq!(check.state, WorkRequestState::Succeeded);
    assert_eq!(
        check.operation.as_deref(),
        Some(t.create_work_request_type())
    );
    let creates = t.s.calls("CreateBackend");
    assert_eq!(statuses(&creates), vec![t.accepted()]);
    assert!(
        creates[0].path.starts_with(t.prefix()),
        "{}",
        creates[0].path
    );
    assert_eq!(
        done.request_id.as_deref(),
        Some(creates[0].opc_request_id.as_str())
    );
    let polls = t.s.calls("GetWorkRequest");
    assert!(!polls.is_empty());
    assert!(polls.iter().all(|p| p.seq > creates[0].seq));
}

pub async fn a_failed_work_request_is_an_error_with_its_message(t: Target) {
    let b = t.backends();
    t.fail_next(1).await;
    let err = b
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
    let creates = t.s.calls("CreateBackend");
    assert_eq!(err.request_id(), Some(creates[0].opc_request_id.as_str()));
    let text = err.to_string();
    assert!(
        text.contains("FAILED") && text.contains(message.as_str()),
        "{text}"
    );
    // The classic LB puts the errors in the work request; the NLB lists them separately.
    assert_eq!(
        !t.s.calls("ListWorkRequestErrors").is_empty(),
        t.is_network(),
        "where the errors of a failed work request are read"
    );
    assert!(b.list_backends().await.unwrap().is_empty());
}

pub async fn a_duplicate_backend_is_refused_and_the_first_one_stays(t: Target) {
    let b = t.backends();
    b.create_backend(&NewBackend::serving(ip(23), 80, 1), &token("add-23"))
        .await
        .unwrap();
    let err = b
        .create_backend(&NewBackend::serving(ip(23), 80, 1), &token("add-23-again"))
        .await
        .unwrap_err();
    if t.is_network() {
        // The NLB refuses the call at once, and it is not retried.
        let oci = err.oci().expect("an OCI error");
        assert_eq!(oci.code(), Some("NotAuthorizedOrResourceAlreadyExists"));
        assert_eq!(
            statuses(&t.s.calls("CreateBackend")),
            vec![Some(202), Some(409)]
        );
    } else {
        // The classic LB accepts it and fails the work request with OCI's own details.
        assert!(err.is_work_request_failed(), "{err}");
        assert!(err.to_string().contains("10.0.0.23:80"), "{err}");
    }
    assert_eq!(b.list_backends().await.unwrap().len(), 1);
}

pub async fn concurrent_mutations_of_one_load_balancer_never_overlap(t: Target) {
    // Each work request runs 200 ms real, and OCI answers 409 to a mutation while one runs.
    t.work_requests_take(200.0).await;
    t.refuse_concurrent_mutations().await;
    // Two separate clients of the same LB with the process-wide turns: they still take turns.
    let client = |t: &Target| {
        BackendSetClient::new(
            t.s.client.clone(),
            t.kind,
            t.load_balancer(),
            t.backend_set(),
        )
        .unwrap()
        .with_wait_policy(crate::oci_ops_support::fast_waits())
        .with_locks(MutationLocks::global())
    };
    let (a, b) = (Arc::new(client(&t)), Arc::new(client(&t)));
    add_at_once(vec![a.clone(), b.clone(), a.clone(), b], 30).await;
    assert_eq!(
        statuses(&t.s.calls("CreateBackend")),
        vec![t.accepted(); 4],
        "no 409: one mutation in flight at a time"
    );
    let spans = t.work_request_spans().await;
    assert_eq!(spans.len(), 4);
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "work requests overlap: {pair:?}");
    }
    assert_eq!(a.list_backends().await.unwrap().len(), 4);
}

pub async fn without_shared_turns_racing_mutations_meet_409_and_are_sent_again(t: Target) {
    // The control for the case above: separate turns let mutations race, OCI answers 409
    // Conflict, and each client waits and sends again until it passes.
    t.work_requests_take(200.0).await;
    t.refuse_concurrent_mutations().await;
    let racers = (0..3)
        .map(|_| Arc::new(t.backends().with_locks(MutationLocks::default())))
        .collect();
    add_at_once(racers, 40).await;
    let conflicts =
        t.s.calls("CreateBackend")
            .iter()
            .filter(|c| c.status == Some(409))
            .count();
    assert!(conflicts >= 1, "the racing calls should have met a 409");
    assert_eq!(t.backends().list_backends().await.unwrap().len(), 3);
}

pub async fn drain_changes_only_drain_and_delete_removes_the_backend(t: Target) {
    let b = t.backends();
    let new = NewBackend {
        backup: true,
        ..NewBackend::serving(ip(50), 8443, 7)
    };
    b.create_backend(&new, &token("add-50")).await.unwrap();
    let name = new.name();
    b.set_drain(&name, true, &token("drain-50")).await.unwrap();
    let got = b.get_backend(&name).await.unwrap();
    assert_eq!(
        (got.drain, got.weight, got.backup, got.offline),
        (true, 7, true, false)
    );
    let updates = t.s.calls("UpdateBackend");
    assert_eq!(updates.len(), 1);
    assert!(
        updates[0].path.ends_with("/backends/10.0.0.50%3A8443"),
        "{}",
        updates[0].path
    );

    b.update_backend(
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
    let got = b.get_backend(&name).await.unwrap();
    assert_eq!(
        (got.drain, got.weight, got.backup, got.offline),
        (false, 2, true, true)
    );
    b.update_backend(&name, &BackendUpdate::offline(false), &token("on-50"))
        .await
        .unwrap();
    assert!(!b.get_backend(&name).await.unwrap().offline);

    let deleted = b.delete_backend(&name).await.unwrap();
    assert!(matches!(deleted, Deleted::Done(_)), "{deleted:?}");
    assert!(b.list_backends().await.unwrap().is_empty());
    let err = b.get_backend(&name).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

pub async fn backends_are_listed_across_pages(t: Target) {
    let b = t.backends().with_page_size(2);
    for n in 0..5u8 {
        b.create_backend(
            &NewBackend::serving(ip(70 + n), 80, 1),
            &token(&format!("page-{n}")),
        )
        .await
        .unwrap();
    }
    t.s.clear_requests().await;
    let mut names: Vec<String> = b
        .list_backends()
        .await
        .unwrap()
        .iter()
        .map(|b| b.name.to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        (70..75)
            .map(|n| format!("10.0.0.{n}:80"))
            .collect::<Vec<_>>()
    );
    // The NLB pages (2 + 2 + 1); the classic LB answers every backend at once.
    let expected_calls = if t.is_network() { 3 } else { 1 };
    assert_eq!(t.s.calls("ListBackends").len(), expected_calls);
}

pub async fn backend_health_turns_ok_once_its_instance_runs(t: Target) {
    let b = t.backends();
    let i = t.s.launch("healthy").await;
    let ips = eventually("the instance's IP", || async {
        network::primary_private_ip(&t.s.client, &t.s.compartment(), &i.id)
            .await
            .unwrap()
            .ok_or("attaching")
    })
    .await;
    let new = NewBackend::serving(ips.private_ip, 8080, 1);
    b.create_backend(&new, &token("add-healthy")).await.unwrap();
    t.s.wait_for_state(&i.id, InstanceLifecycleState::Running)
        .await;
    let health = eventually("backend health OK", || async {
        let h = b.backend_health(&new.name()).await.unwrap();
        (h.status == HealthStatus::Ok).then_some(h.clone()).ok_or(h)
    })
    .await;
    assert!(
        health
            .health_check_results
            .iter()
            .all(|r| r.health_check_status == "OK")
    );
    let set = b.backend_set_health().await.unwrap();
    assert_eq!(set.status, HealthStatus::Ok);
    assert_eq!(set.total_backend_count, 1);

    // A backend whose IP matches no instance is critical.
    let ghost = NewBackend::serving(ip(99), 8080, 1);
    b.create_backend(&ghost, &token("add-ghost")).await.unwrap();
    eventually("ghost backend CRITICAL", || async {
        let h = b.backend_health(&ghost.name()).await.unwrap();
        (h.status == HealthStatus::Critical).then_some(()).ok_or(h)
    })
    .await;
    let set = b.backend_set_health().await.unwrap();
    assert_ne!(set.status, HealthStatus::Ok);
    assert!(
        set.critical_state_backend_names
            .contains(&"10.0.0.99:8080".to_string()),
        "{set:?}"
    );
}

pub async fn a_work_request_that_never_finishes_times_out_with_its_id(t: Target) {
    t.work_requests_take(1_000_000.0).await;
    let b = t
        .backends()
        .with_wait_policy(waits_for(Duration::from_millis(150)));
    let err = b
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
    assert!(t.s.calls("GetWorkRequest").len() >= 2);
}

pub async fn the_fleet_file_type_picks_the_client_of_its_kind(t: Target) {
    let config = LoadBalancerConfig {
        lb_type: t.kind,
        load_balancer_id: t.load_balancer(),
        backend_set_name: t.backend_set(),
        port: 8080,
        weight: 1,
        drain_timeout: Duration::from_secs(30),
        health_timeout: Duration::from_secs(300),
    };
    let backends = load_balancer_backends(&t.s.client, &config).unwrap();
    assert_eq!(backends.kind(), t.kind);
    assert!(backends.list_backends().await.unwrap().is_empty());
    let lists = t.s.calls("ListBackends");
    assert_eq!(lists.len(), 1);
    assert!(lists[0].path.starts_with(t.prefix()), "{}", lists[0].path);

    let wrong = BackendSetClient::new(
        t.s.client.clone(),
        t.kind,
        t.other_kind_load_balancer(),
        t.backend_set(),
    )
    .unwrap_err();
    let expected = match t.kind {
        LoadBalancerType::Classic => "is not a classic load balancer OCID",
        LoadBalancerType::Network => "is not a network load balancer OCID",
    };
    assert!(wrong.to_string().contains(expected), "{wrong}");
    let missing = BackendName::for_address(ip(1), 1);
    let err = backends.backend_health(&missing).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

pub async fn mutations_whose_response_was_lost_are_not_done_twice(t: Target) {
    let b = t.backends();
    t.s.fault(json!({"operation": "CreateBackend", "drop": "after", "count": 1}))
        .await;
    let new = NewBackend::serving(ip(80), 8080, 1);
    b.create_backend(&new, &token("add-80")).await.unwrap();
    let creates = t.s.calls("CreateBackend");
    assert_eq!(creates.len(), 2);
    assert_eq!(creates[0].dropped.as_deref(), Some("after"));
    assert_eq!(
        creates[1].status,
        t.accepted(),
        "the token replays the answer"
    );
    assert_eq!(t.work_requests().await.len(), 1, "one work request");
    assert_eq!(b.list_backends().await.unwrap().len(), 1);

    t.s.fault(json!({"operation": "UpdateBackend", "drop": "after", "count": 1}))
        .await;
    b.set_drain(&new.name(), true, &token("drain-80"))
        .await
        .unwrap();
    assert_eq!(t.s.calls("UpdateBackend").len(), 2);
    assert_eq!(t.work_requests().await.len(), 2);
    assert!(b.get_backend(&new.name()).await.unwrap().drain);

    // A DELETE has no retry token: the retry after a lost response meets the first attempt's
    // effect and reports the backend as already absent instead of failing.
    t.s.fault(json!({"operation": "DeleteBackend", "drop": "after", "count": 1}))
        .await;
    let deleted = b.delete_backend(&new.name()).await.unwrap();
    let deletes = t.s.calls("DeleteBackend");
    assert!(deletes.len() >= 2, "{deletes:?}");
    assert_eq!(deletes[0].dropped.as_deref(), Some("after"));
    assert!(
        matches!(deleted, Deleted::AlreadyAbsent { .. }),
        "{deleted:?}"
    );
    assert!(b.list_backends().await.unwrap().is_empty());
}

pub async fn deleting_from_a_missing_backend_set_is_an_error_not_already_absent(t: Target) {
    let b = t.backends_of(t.s.client.clone(), "no-such-set");
    let err = b
        .delete_backend(&BackendName::for_address(ip(81), 80))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

pub async fn a_failed_delete_of_a_backend_that_still_exists_is_an_error(t: Target) {
    let b = t.backends();
    let new = NewBackend::serving(ip(82), 80, 1);
    b.create_backend(&new, &token("add-82")).await.unwrap();
    t.fail_next(1).await;
    let err = b.delete_backend(&new.name()).await.unwrap_err();
    assert!(err.is_work_request_failed(), "{err}");
    assert_eq!(b.list_backends().await.unwrap().len(), 1);
}

pub async fn a_load_balancer_busy_for_the_whole_timeout_is_reported_as_busy(t: Target) {
    t.s.fault(json!({
        "operation": "CreateBackend",
        "status": 409,
        "code": "Conflict",
        "message": "Load balancer is busy",
        "count": 1000
    }))
    .await;
    let b = t
        .backends()
        .with_wait_policy(waits_for(Duration::from_millis(100)));
    let err = b
        .create_backend(&NewBackend::serving(ip(90), 80, 1), &token("busy"))
        .await
        .unwrap_err();
    let LbError::Busy {
        source: Some(source),
        in_flight: None,
        ..
    } = &err
    else {
        panic!("expected busy with OCI's 409, got {err:?}");
    };
    assert_eq!(source.code(), Some("Conflict"));
    let creates = t.s.calls("CreateBackend");
    assert!(
        creates.len() >= 2,
        "409 Conflict is sent again while time remains"
    );
    assert!(creates.iter().all(|c| c.status == Some(409)));
    assert_eq!(
        err.request_id(),
        Some(creates.last().unwrap().opc_request_id.as_str())
    );
    assert!(b.list_backends().await.unwrap().is_empty());
}

pub async fn a_started_mutation_returns_at_once_and_a_check_follows_its_work_request(t: Target) {
    // A work request that runs 1000 s of the simulator's clock: it finishes only when the
    // test moves that clock.
    t.work_requests_take(1_000_000.0).await;
    let b = t.backends();
    let new = NewBackend::serving(ip(24), 8080, 1);
    let started = b
        .start_create_backend(
            &new,
            &token("start-24"),
            b.deadline_after(Duration::from_secs(20)),
        )
        .await
        .unwrap();
    assert_eq!(started.operation, "CreateBackend");
    assert_eq!(&started.load_balancer, b.load_balancer_id());
    assert!(
        t.s.calls("GetWorkRequest").is_empty(),
        "the start form does not wait"
    );
    let check = b.check_work_request(&started.work_request).await.unwrap();
    assert!(
        matches!(check.state, WorkRequestState::InProgress(_)),
        "{check:?}"
    );
    assert!(started.outcome(&check).is_none());
    assert!(
        b.list_backends().await.unwrap().is_empty(),
        "not applied yet"
    );

    t.s.advance(2_000.0).await;
    let check = settled(&b, &started.work_request).await;
    assert_eq!(check.state, WorkRequestState::Succeeded);
    let done = started.outcome(&check).unwrap().unwrap();
    assert_eq!(done.work_request, started.work_request);
    assert_eq!(b.list_backends().await.unwrap()[0].name, new.name());
}

pub async fn a_check_of_a_failed_work_request_carries_ocis_message(t: Target) {
    let b = t.backends();
    t.fail_next(1).await;
    let started = b
        .start_create_backend(
            &NewBackend::serving(ip(25), 8080, 1),
            &token("start-25"),
            b.deadline_after(Duration::from_secs(20)),
        )
        .await
        .unwrap();
    let check = settled(&b, &started.work_request).await;
    let WorkRequestState::Failed { status, message } = &check.state else {
        panic!("expected FAILED, got {check:?}");
    };
    assert_eq!(*status, WorkRequestStatus::Failed);
    assert!(message.contains("fail-next"), "OCI's message: {message}");
    let err = started.outcome(&check).unwrap().unwrap_err();
    assert!(err.is_work_request_failed(), "{err}");
    assert!(err.to_string().contains(message.as_str()), "{err}");
}

pub async fn a_start_waits_for_this_process_s_previous_mutation_within_its_deadline(t: Target) {
    t.work_requests_take(1_000_000.0).await;
    // Two clients sharing this test's turns, as two tasks of one process would.
    let (a, b) = (t.backends(), t.backends());
    let first = a
        .start_create_backend(
            &NewBackend::serving(ip(26), 8080, 1),
            &token("start-26"),
            a.deadline_after(Duration::from_secs(20)),
        )
        .await
        .unwrap();
    let second = NewBackend::serving(ip(27), 8080, 1);
    let err = b
        .start_create_backend(
            &second,
            &token("start-27"),
            b.deadline_after(Duration::from_millis(100)),
        )
        .await
        .unwrap_err();
    let LbError::Busy { in_flight, .. } = &err else {
        panic!("expected busy, got {err:?}");
    };
    assert_eq!(in_flight.as_ref(), Some(&first.work_request));
    assert!(
        err.to_string().contains(first.work_request.as_str()),
        "{err}"
    );
    assert_eq!(
        t.s.calls("CreateBackend").len(),
        1,
        "nothing sent past the deadline"
    );

    // Once the first work request finished, the second starts.
    t.s.advance(2_000.0).await;
    let started = b
        .start_create_backend(
            &second,
            &token("start-27"),
            b.deadline_after(Duration::from_secs(20)),
        )
        .await
        .unwrap();
    assert_ne!(started.work_request, first.work_request);
    t.s.advance(2_000.0).await;
    assert_eq!(
        settled(&b, &started.work_request).await.state,
        WorkRequestState::Succeeded
    );
    let spans = t.work_request_spans().await;
    assert_eq!(spans.len(), 2);
    assert!(spans[0].1 <= spans[1].0, "work requests overlap: {spans:?}");
}

pub async fn updates_and_deletes_can_be_started_and_checked_too(t: Target) {
    let b = t.backends();
    let new = NewBackend::serving(ip(28), 8080, 4);
    b.create_backend(&new, &token("add-28")).await.unwrap();
    let deadline = || b.deadline_after(Duration::from_secs(20));

    let started = b
        .start_update_backend(
            &new.name(),
            &BackendUpdate::drain(true),
            &token("drain-28"),
            deadline(),
        )
        .await
        .unwrap();
    assert_eq!(started.operation, "UpdateBackend");
    assert_eq!(
        settled(&b, &started.work_request).await.state,
        WorkRequestState::Succeeded
    );
    let got = b.get_backend(&new.name()).await.unwrap();
    assert_eq!((got.drain, got.weight), (true, 4));

    let DeleteStarted::Started(started) = b
        .start_delete_backend(&new.name(), deadline())
        .await
        .unwrap()
    else {
        panic!("the backend exists: the delete must start");
    };
    assert_eq!(started.operation, "DeleteBackend");
    assert_eq!(
        settled(&b, &started.work_request).await.state,
        WorkRequestState::Succeeded
    );
    assert!(b.list_backends().await.unwrap().is_empty());

    // Deleting it again: OCI answers 404, ListBackends confirms, and no work request starts.
    let again = b
        .start_delete_backend(&new.name(), deadline())
        .await
        .unwrap();
    assert!(
        matches!(again, DeleteStarted::AlreadyAbsent { .. }),
        "{again:?}"
    );
    assert_eq!(t.work_requests().await.len(), 3);
}

pub async fn a_change_made_elsewhere_between_read_and_write_is_not_lost(t: Target) {
    let b = t.backends();
    let new = NewBackend::serving(ip(29), 8080, 3);
    b.create_backend(&new, &token("add-29")).await.unwrap();
    let name = new.name();

    // Our update reads the backend (weight 3), sends, meets one 409 and waits at the gate
    // before sending again. Meanwhile "another process" (another client, other turns)
    // changes the weight to 7.
    t.s.fault(
        json!({"operation": "UpdateBackend", "status": 409, "code": "Conflict",
        "message": "Load balancer is busy", "count": 1}),
    )
    .await;
    let gate = Arc::new(Gate::default());
    let ours = t
        .backends_of(t.gated_client(gate.clone()).await, &t.backend_set())
        .with_locks(MutationLocks::default());
    let name2 = name.clone();
    let drain = tokio::spawn(async move { ours.set_drain(&name2, true, &token("drain-29")).await });
    gate.reached().await;
    let elsewhere = t.backends().with_locks(MutationLocks::default());
    let weighted = BackendUpdate {
        weight: Some(7),
        ..BackendUpdate::default()
    };
    elsewhere
        .update_backend(&name, &weighted, &token("weight-29"))
        .await
        .unwrap();
    gate.open();
    drain.await.unwrap().unwrap();

    let got = b.get_backend(&name).await.unwrap();
    assert_eq!(
        (got.drain, got.weight),
        (true, 7),
        "both changes are live: the drain did not write back the weight it read first"
    );
    // Ours: 409, then 412 (the etag it read is stale), then accepted after reading again.
    let updates: Vec<Option<u16>> = statuses(&t.s.calls("UpdateBackend"));
    assert_eq!(
        updates,
        vec![Some(409), t.accepted(), Some(412), t.accepted()],
        "{updates:?}"
    );
}

pub async fn an_update_that_keeps_meeting_412_gives_up_without_overwriting(t: Target) {
    let b = t.backends();
    let new = NewBackend::serving(ip(31), 8080, 3);
    b.create_backend(&new, &token("add-31")).await.unwrap();
    t.s.clear_requests().await;
    t.s.fault(
        json!({"operation": "UpdateBackend", "status": 412, "code": "NoEtagMatch",
        "message": "The If-Match etag does not match", "count": 1000}),
    )
    .await;
    let err = b
        .set_drain(&new.name(), true, &token("drain-31"))
        .await
        .unwrap_err();
    let LbError::KeptChanging {
        attempts, backend, ..
    } = &err
    else {
        panic!("expected KeptChanging, got {err:?}");
    };
    assert_eq!(*attempts, UPDATE_ATTEMPTS);
    assert_eq!(backend, &new.name());
    assert!(
        err.to_string()
            .contains("changed between each read and write"),
        "{err}"
    );
    assert_eq!(err.oci().and_then(|e| e.status()), Some(412));
    let rounds = UPDATE_ATTEMPTS as usize;
    assert_eq!(t.s.calls("GetBackend").len(), rounds, "one read per round");
    assert_eq!(t.s.calls("UpdateBackend").len(), rounds);
    assert!(!b.get_backend(&new.name()).await.unwrap().drain);
}
