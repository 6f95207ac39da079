//! Compute operations against the simulator over loopback HTTP: paging, idempotent launches
//! through retries and lost responses, capacity and limit errors, tags, actions, terminate.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use crate::oci_ops_support;

use std::collections::{BTreeMap, BTreeSet};

use fleetctl_core::ids::InstanceId;
use fleetctl_core::oci::client::OciRequest;
use fleetctl_core::oci::compute::{
    self, InstanceAction, InstanceLifecycleState, ListInstancesFilter,
};
use fleetctl_core::oci::endpoints::Service;
use fleetctl_core::oci::error::ErrorKind;
use fleetctl_core::oci::tags::FleetTags;
use fleetctl_core::oci::wire::RetryToken;
use http::Method;
use oci_ops_support::*;
use serde_json::json;

fn tags(fleet: &str, slot: u32) -> FleetTags {
    FleetTags::new(
        fleet.parse().unwrap(),
        "api".parse().unwrap(),
        "op-1".parse().unwrap(),
        slot,
    )
}

/// Launches `count` instances tagged for `fleet` by operation `op` (slots 0..count), named
/// `<fleet>-<slot>`.
async fn launch_tagged(s: &OpsSim, fleet: &str, op: &str, count: u32) -> Vec<InstanceId> {
    let mut ids = Vec::new();
    for slot in 0..count {
        let mut d = s.launch_details(&format!("{fleet}-{slot}"));
        d.tag_for_fleet(&tags(fleet, slot));
        let i = compute::launch_instance(
            &s.client,
            &d,
            &RetryToken::derive("launch", &op.parse().unwrap(), &slot.to_string()),
        )
        .await
        .unwrap();
        ids.push(i.id);
    }
    ids
}

#[tokio::test]
async fn list_follows_every_page_and_fleet_discovery_keeps_only_the_fleet() {
    let s = OpsSim::start().await;
    s.settings(json!({"maxPageSize": 2})).await;
    let ours: BTreeSet<String> = launch_tagged(&s, "paging", "op-1", 5)
        .await
        .iter()
        .map(|id| id.to_string())
        .collect();
    let other = launch_tagged(&s, "other", "op-2", 1).await.remove(0);

    s.clear_requests().await;
    let all = compute::list_instances(&s.client, &s.compartment(), &ListInstancesFilter::default())
        .await
        .unwrap();
    let all_ids: BTreeSet<String> = all.iter().map(|i| i.id.to_string()).collect();
    assert_eq!(all.len(), all_ids.len(), "no instance listed twice");
    // 5 + 1 launched + the seeded host instance.
    assert_eq!(all.len(), 7, "{all_ids:?}");
    assert!(ours.is_subset(&all_ids));
    assert!(all_ids.contains(other.as_str()));
    let pages = s.calls("ListInstances");
    assert_eq!(pages.len(), 4, "7 instances at 2 per page are 4 pages");
    assert!(
        pages[1..]
            .iter()
            .all(|p| p.query.as_deref().unwrap_or("").contains("page=")),
        "every later page passes the token back"
    );

    let fleet =
        compute::list_fleet_instances(&s.client, &s.compartment(), &"paging".parse().unwrap())
            .await
            .unwrap();
    let fleet_ids: BTreeSet<String> = fleet.iter().map(|i| i.id.to_string()).collect();
    assert_eq!(fleet_ids, ours);
    for i in &fleet {
        let t = i.fleet_tags();
        assert_eq!(t.group.as_ref().map(|g| g.as_str()), Some("api"));
        assert_eq!(t.operation.as_ref().map(|o| o.as_str()), Some("op-1"));
        assert!(t.slot.is_some_and(|s| s < 5));
    }
}

#[tokio::test]
async fn a_repeated_listing_parses_only_the_pages_whose_bytes_changed_and_sees_every_change() {
    let s = OpsSim::start().await;
    s.settings(json!({"maxPageSize": 2, "terminateSeconds": 1000}))
        .await;
    let ids = launch_tagged(&s, "memo", "op-1", 5).await;
    // Nothing moves by itself from here on.
    for id in &ids {
        s.wait_for_state(id, InstanceLifecycleState::Running).await;
    }
    let list = || async {
        compute::list_instances(&s.client, &s.compartment(), &ListInstancesFilter::default())
            .await
            .unwrap()
    };
    // 5 launched + the seeded host instance: 3 pages of 2, oldest first.
    let counts = s.client.page_counts();
    let first = list().await;
    assert_eq!(first.len(), 6);
    assert_eq!(s.client.page_counts().decoded - counts.decoded, 3);

    // Unchanged: the same instances, no page parsed again, every page still asked for.
    s.clear_requests().await;
    let counts = s.client.page_counts();
    assert_eq!(list().await, first);
    let now = s.client.page_counts();
    assert_eq!(
        (now.decoded - counts.decoded, now.reused - counts.reused),
        (0, 3)
    );
    assert_eq!(s.calls("ListInstances").len(), 3);

    // A tag changed on the second page (to a value of the same length: the page keeps its
    // size) and a termination on the third: both are seen, and only those two pages are
    // parsed.
    let retagged = &ids[1];
    let new_tags = tags("memo", 7).to_map();
    compute::update_instance_freeform_tags(&s.client, retagged, &new_tags, None)
        .await
        .unwrap();
    compute::terminate_instance(&s.client, &ids[4])
        .await
        .unwrap();
    let counts = s.client.page_counts();
    let after = list().await;
    let now = s.client.page_counts();
    assert_eq!(
        (now.decoded - counts.decoded, now.reused - counts.reused),
        (2, 1)
    );
    let find = |id: &InstanceId| after.iter().find(|i| &i.id == id).unwrap();
    assert_eq!(find(retagged).tags.slot, Some(7));
    assert_eq!(
        find(&ids[4]).lifecycle_state,
        InstanceLifecycleState::Terminating
    );
    // Everything else is as the first listing had it.
    for (was, is) in first.iter().zip(&after) {
        if was.id != *retagged && was.id != ids[4] {
            assert_eq!(was, is);
        }
    }
}

#[tokio::test]
async fn terminated_instances_leave_fleet_discovery_and_terminating_ones_stay() {
    let s = OpsSim::start().await;
    // Termination takes 1000 simulated seconds (1 s real): TERMINATING is observable.
    s.settings(json!({"terminateSeconds": 1000})).await;
    let fleet = "term".parse().unwrap();
    let ids = launch_tagged(&s, "term", "op-t", 3).await;
    compute::terminate_instance(&s.client, &ids[0])
        .await
        .unwrap();
    let deleted = s.calls("TerminateInstance");
    assert_eq!(deleted.len(), 1);
    assert!(
        deleted[0]
            .query
            .as_deref()
            .unwrap_or("")
            .contains("preserveBootVolume=false")
    );
    let listed = compute::list_fleet_instances(&s.client, &s.compartment(), &fleet)
        .await
        .unwrap();
    let gone = listed.iter().find(|i| i.id == ids[0]).unwrap();
    assert_eq!(gone.lifecycle_state, InstanceLifecycleState::Terminating);
    assert_eq!(listed.len(), 3);

    // The simulated clock moves in real seconds: 1.5 s passes the 1 s termination but not the
    // 3.6 s (3600 simulated seconds) a TERMINATED instance stays listed.
    s.advance(1.5).await;
    s.wait_for_state(&ids[0], InstanceLifecycleState::Terminated)
        .await;
    let listed = compute::list_fleet_instances(&s.client, &s.compartment(), &fleet)
        .await
        .unwrap();
    let listed: BTreeSet<_> = listed.into_iter().map(|i| i.id).collect();
    assert_eq!(listed, BTreeSet::from([ids[1].clone(), ids[2].clone()]));
    // The TERMINATED instance is still visible to a plain list.
    let all = compute::list_instances(
        &s.client,
        &s.compartment(),
        &ListInstancesFilter {
            lifecycle_state: Some(InstanceLifecycleState::Terminated),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id, ids[0]);
}

#[tokio::test]
async fn a_launch_carries_merged_tags_and_reaches_running() {
    let s = OpsSim::start().await;
    let mut d = s.launch_details("tagged-0");
    d.freeform_tags = BTreeMap::from([
        ("team".to_string(), "payments".to_string()),
        ("fleetctl-fleet".to_string(), "spoofed".to_string()),
    ]);
    d.tag_for_fleet(&tags("web", 4));
    let launched = compute::launch_instance(
        &s.client,
        &d,
        &RetryToken::derive("launch", &"op-1".parse().unwrap(), "4"),
    )
    .await
    .unwrap();
    assert_eq!(
        launched.lifecycle_state,
        InstanceLifecycleState::Provisioning
    );
    s.wait_for_state(&launched.id, InstanceLifecycleState::Running)
        .await;
    let got = compute::get_instance(&s.client, &launched.id)
        .await
        .unwrap();
    assert_eq!(
        got.freeform_tags,
        BTreeMap::from([
            ("team".to_string(), "payments".to_string()),
            ("fleetctl-fleet".to_string(), "web".to_string()),
            ("fleetctl-group".to_string(), "api".to_string()),
            ("fleetctl-operation".to_string(), "op-1".to_string()),
            ("fleetctl-slot".to_string(), "4".to_string()),
        ])
    );
    assert_eq!(got.display_name.as_deref(), Some("tagged-0"));
    assert_eq!(got.shape.as_deref(), Some("VM.Standard.E4.Flex"));
    assert_eq!(got.shape_config.as_ref().and_then(|c| c.ocpus), Some(1.0));
    assert!(got.created_at().is_some());
}

#[tokio::test]
async fn a_launch_retried_after_a_500_creates_exactly_one_instance() {
    let s = OpsSim::start().await;
    let before = s.world_instance_ids().await.len();
    s.fault(json!({"operation": "LaunchInstance", "status": 500, "count": 1}))
        .await;
    let i = s.launch("retry-500").await;
    let after = s.world_instance_ids().await;
    assert_eq!(after.len(), before + 1);
    assert!(after.contains(&i.id.to_string()));
    assert_eq!(
        statuses(&s.calls("LaunchInstance")),
        vec![Some(500), Some(200)]
    );
}

#[tokio::test]
async fn a_launch_whose_response_was_lost_is_not_done_twice() {
    let s = OpsSim::start().await;
    let before = s.world_instance_ids().await.len();
    s.fault(json!({"operation": "LaunchInstance", "drop": "after", "count": 1}))
        .await;
    let i = s.launch("lost-response").await;
    let after = s.world_instance_ids().await;
    assert_eq!(
        after.len(),
        before + 1,
        "the dropped attempt did launch; the retry must not"
    );
    assert!(after.contains(&i.id.to_string()));
    let calls = s.calls("LaunchInstance");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].dropped.as_deref(), Some("after"));
    assert_eq!(calls[1].status, Some(200));

    // A resumed operation sends the same token again: the same instance comes back.
    let again = s.launch("lost-response").await;
    assert_eq!(again.id, i.id);
    assert_eq!(s.world_instance_ids().await.len(), before + 1);
}

#[tokio::test]
async fn out_of_host_capacity_is_its_own_error_and_creates_nothing() {
    let s = OpsSim::start().await;
    s.admin(
        reqwest::Method::PUT,
        "/_sim/capacity",
        Some(json!({"shape": "VM.Standard.E4.Flex", "instances": 0})),
    )
    .await;
    let before = s.world_instance_ids().await;
    let err = compute::launch_instance(
        &s.client,
        &s.launch_details("no-room"),
        &RetryToken::derive("launch", &"op-1".parse().unwrap(), "0"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutOfHostCapacity);
    assert!(err.is_out_of_host_capacity());
    let calls = s.calls("LaunchInstance");
    assert_eq!(statuses(&calls), vec![Some(500)], "not retried in a loop");
    assert_eq!(err.request_id(), Some(calls[0].opc_request_id.as_str()));
    let text = err.to_string();
    assert!(text.contains("Out of host capacity"), "{text}");
    assert!(text.contains(&calls[0].opc_request_id), "{text}");
    assert_eq!(s.world_instance_ids().await, before);
}

#[tokio::test]
async fn a_service_limit_is_its_own_error_and_creates_nothing() {
    let s = OpsSim::start().await;
    s.admin(
        reqwest::Method::PUT,
        "/_sim/limits",
        Some(json!({"shape": "VM.Standard.E4.Flex", "instances": 1})),
    )
    .await;
    s.launch("within-limit").await;
    let before = s.world_instance_ids().await;
    let err = compute::launch_instance(
        &s.client,
        &s.launch_details("over-limit"),
        &RetryToken::derive("launch", &"op-1".parse().unwrap(), "over"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded);
    assert_eq!(err.code(), Some("LimitExceeded"));
    assert_eq!(err.status(), Some(400));
    assert!(err.request_id().is_some());
    assert_eq!(
        statuses(&s.calls("LaunchInstance")),
        vec![Some(200), Some(400)]
    );
    assert_eq!(s.world_instance_ids().await, before);
}

#[tokio::test]
async fn power_actions_move_the_instance_and_survive_a_lost_response() {
    let s = OpsSim::start().await;
    let i = s.launch("actions").await;
    s.wait_for_state(&i.id, InstanceLifecycleState::Running)
        .await;

    s.fault(json!({"operation": "InstanceAction", "drop": "after", "count": 1}))
        .await;
    let stopping = compute::instance_action(
        &s.client,
        &i.id,
        InstanceAction::Stop,
        &RetryToken::derive("stop", &"op-1".parse().unwrap(), "0"),
    )
    .await
    .unwrap();
    assert_eq!(stopping.lifecycle_state, InstanceLifecycleState::Stopping);
    let calls = s.calls("InstanceAction");
    assert_eq!(calls.len(), 2);
    assert!(
        calls[0]
            .query
            .as_deref()
            .unwrap_or("")
            .contains("action=STOP")
    );
    s.wait_for_state(&i.id, InstanceLifecycleState::Stopped)
        .await;

    compute::instance_action(
        &s.client,
        &i.id,
        InstanceAction::Start,
        &RetryToken::derive("start", &"op-1".parse().unwrap(), "0"),
    )
    .await
    .unwrap();
    s.wait_for_state(&i.id, InstanceLifecycleState::Running)
        .await;

    let resetting = compute::instance_action(
        &s.client,
        &i.id,
        InstanceAction::SoftReset,
        &RetryToken::derive("softreset", &"op-1".parse().unwrap(), "0"),
    )
    .await
    .unwrap();
    assert_ne!(resetting.lifecycle_state, InstanceLifecycleState::Stopped);
    s.wait_for_state(&i.id, InstanceLifecycleState::Running)
        .await;
}

#[tokio::test]
async fn a_missing_instance_is_not_found_with_its_request_id() {
    let s = OpsSim::start().await;
    let missing = "ocid1.instance.oc1.iad.aaaaaaaanotthere".parse().unwrap();
    let err = compute::get_instance(&s.client, &missing)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let calls = s.calls("GetInstance");
    assert_eq!(statuses(&calls), vec![Some(404)]);
    assert_eq!(err.request_id(), Some(calls[0].opc_request_id.as_str()));
    let err = compute::terminate_instance(&s.client, &missing)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn a_stale_etag_on_terminate_is_a_precondition_failure() {
    let s = OpsSim::start().await;
    let i = s.launch("etag").await;
    let err = compute::terminate_instance_if_match(&s.client, &i.id, "not-the-etag")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed, "{err}");
    let still = compute::get_instance(&s.client, &i.id).await.unwrap();
    assert!(!still.lifecycle_state.is_going_away());
}

#[tokio::test]
async fn a_conditional_terminate_whose_answer_was_lost_is_confirmed_not_a_conflict() {
    let s = OpsSim::start().await;
    // TERMINATING for a long while, then TERMINATED, then gone (404): each counts as done.
    s.settings(json!({"terminateSeconds": 100_000, "terminatedRetentionSeconds": 1e9}))
        .await;
    let i = s.launch("lost-terminate").await;
    // Every state change makes a new etag: read it once the instance has settled.
    s.wait_for_state(&i.id, InstanceLifecycleState::Running)
        .await;
    let etag = instance_etag(&s, &i.id).await;
    s.fault(json!({"operation": "TerminateInstance", "drop": "after", "count": 1}))
        .await;
    compute::terminate_instance_if_match(&s.client, &i.id, &etag)
        .await
        .unwrap();
    let calls = s.calls("TerminateInstance");
    assert_eq!(statuses(&calls), vec![Some(204), Some(412)]);
    assert_eq!(calls[0].dropped.as_deref(), Some("after"));
    let gone = compute::get_instance(&s.client, &i.id).await.unwrap();
    assert_eq!(gone.lifecycle_state, InstanceLifecycleState::Terminating);

    // Once TERMINATED, and once no longer listed at all (404), the same holds.
    // The simulator's clock moves in unscaled seconds: 100 s are 100000 simulated ones.
    s.advance(100.0).await;
    s.wait_for_state(&i.id, InstanceLifecycleState::Terminated)
        .await;
    s.fault(json!({"operation": "TerminateInstance", "status": 503, "count": 1}))
        .await;
    compute::terminate_instance_if_match(&s.client, &i.id, &etag)
        .await
        .unwrap();
    s.fault(json!({"operation": "TerminateInstance", "status": 503, "count": 1}))
        .await;
    s.fault(json!({"operation": "GetInstance", "status": 404, "count": 1}))
        .await;
    s.clear_requests().await;
    compute::terminate_instance_if_match(&s.client, &i.id, &etag)
        .await
        .unwrap();
    assert_eq!(
        statuses(&s.calls("TerminateInstance")),
        vec![Some(503), Some(412)]
    );
    assert_eq!(statuses(&s.calls("GetInstance")), vec![Some(404)]);
}

/// The instance's current `etag` (GetInstance's header).
async fn instance_etag(s: &OpsSim, id: &InstanceId) -> String {
    let req = OciRequest::new(
        "GetInstance",
        Service::Core,
        Method::GET,
        format!("/20160918/instances/{id}"),
    );
    s.client
        .send(&req)
        .await
        .unwrap()
        .etag()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_412_on_a_retry_of_a_terminate_that_did_nothing_is_still_a_precondition_failure() {
    let s = OpsSim::start().await;
    let i = s.launch("retried-stale").await;
    // The first attempt fails before acting; the retry meets a stale etag.
    s.fault(json!({"operation": "TerminateInstance", "status": 503, "count": 1}))
        .await;
    let err = compute::terminate_instance_if_match(&s.client, &i.id, "not-the-etag")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PreconditionFailed, "{err}");
    assert_eq!(err.service().unwrap().attempts, 2);
    assert_eq!(
        s.calls("GetInstance").len(),
        1,
        "the 412 was checked with one read"
    );
    let still = compute::get_instance(&s.client, &i.id).await.unwrap();
    assert!(!still.lifecycle_state.is_going_away());
}

#[tokio::test]
async fn a_launch_built_from_the_fleet_file_uses_the_group_subnet_and_tags() {
    let s = OpsSim::start().await;
    let yaml = format!(
        r#"kind: FleetConfig
metadata:
  name: shop
spec:
  compartmentId: {compartment}
  imageId: {image}
  availabilityDomain: "{ad}"
  shape: VM.Standard.E4.Flex
  shapeConfig: {{ocpus: 2, memoryInGBs: 16}}
  subnetId: {subnet}
  displayNamePrefix: shop-prod
  freeformTags:
    team: payments
    fleetctl-group: not-yours
  definedTags:
    Operations:
      CostCenter: "42"
  instances:
    - name: web
      count: 1
    - name: edge
      count: 1
      subnetId: {public}
  state:
    url: memory://test
"#,
        compartment = s.compartment(),
        image = s.image(),
        ad = s.ad(),
        subnet = s.subnet(),
        public = s.public_subnet(),
    );
    let config = fleetctl_core::config::load_str("fleet.yaml", &yaml).unwrap();
    let edge = config.group("edge").unwrap();
    let tags = FleetTags::new(
        config.metadata.name.clone(),
        edge.name.clone(),
        "op-9".parse().unwrap(),
        0,
    );
    let details = fleetctl_core::cloud::launch_details(&config, edge, &tags);
    assert_eq!(details.create_vnic_details.subnet_id, s.public_subnet());
    assert_eq!(details.display_name.as_deref(), Some("shop-prod-edge-0"));
    assert_eq!(
        details.defined_tags["Operations"]["CostCenter"],
        serde_json::json!("42")
    );

    let launched = compute::launch_instance(
        &s.client,
        &details,
        &RetryToken::derive("launch", &"op-9".parse().unwrap(), "edge-0"),
    )
    .await
    .unwrap();
    let got = compute::get_instance(&s.client, &launched.id)
        .await
        .unwrap();
    assert_eq!(got.freeform_tags["team"], "payments");
    assert_eq!(got.freeform_tags["fleetctl-group"], "edge");
    assert_eq!(got.freeform_tags["fleetctl-fleet"], "shop");
    assert_eq!(
        got.defined_tags["Operations"]["CostCenter"],
        serde_json::json!("42")
    );
    assert_eq!(got.shape_config.as_ref().and_then(|c| c.ocpus), Some(2.0));
    let found =
        compute::list_fleet_instances(&s.client, &s.compartment(), &"shop".parse().unwrap())
            .await
            .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, launched.id);
}

#[tokio::test]
async fn fleet_discovery_lists_a_fleet_of_150_in_one_call() {
    // The service's default page is 100: discovery asks for the largest page, so that every
    // reconcile step of a fleet of up to a thousand costs one ListInstances call.
    let s = OpsSim::start().await;
    let op: fleetctl_core::ids::OperationId = "op-b".parse().unwrap();
    for slot in 0..150 {
        let mut d = s.launch_details(&format!("big-{slot}"));
        d.tag_for_fleet(&FleetTags::new(
            "big".parse().unwrap(),
            "web".parse().unwrap(),
            op.clone(),
            slot,
        ));
        compute::launch_instance(
            &s.client,
            &d,
            &RetryToken::derive("launch", &op, &slot.to_string()),
        )
        .await
        .unwrap();
    }
    s.clear_requests().await;
    let fleet = compute::list_fleet_instances(&s.client, &s.compartment(), &"big".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(fleet.len(), 150);
    assert_eq!(
        s.calls("ListInstances").len(),
        1,
        "one page holds the fleet"
    );
}
