//! The primary-IP helper against the simulator: nothing while the VNIC is attaching, the
//! addresses once attached, and a clear error once the instance's VNIC is gone.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use crate::oci_ops_support;

use fleetctl_core::oci::compute::{self, InstanceLifecycleState};
use fleetctl_core::oci::network::{self, NetworkError, VnicAttachmentState};
use fleetctl_core::oci::wire::RetryToken;
use oci_ops_support::*;
use serde_json::json;

#[tokio::test]
async fn primary_ip_is_none_while_attaching_and_known_once_attached() {
    let s = OpsSim::start().await;
    // Provisioning takes 2000 simulated seconds (2 s real): the attachment stays ATTACHING.
    s.settings(json!({"provisionSeconds": 2000})).await;
    let i = s.launch("ip-wait").await;

    let attachments = network::list_vnic_attachments(&s.client, &s.compartment(), Some(&i.id))
        .await
        .unwrap();
    assert_eq!(attachments.len(), 1);
    assert_eq!(
        attachments[0].lifecycle_state,
        VnicAttachmentState::Attaching
    );
    assert_eq!(attachments[0].vnic_id, None);
    let ips = network::primary_private_ip(&s.client, &s.compartment(), &i.id)
        .await
        .unwrap();
    assert_eq!(ips, None);

    // Jump past provisioning (simulated clock, real seconds).
    s.advance(2.5).await;
    let ips = eventually("the primary VNIC attached", || async {
        network::primary_private_ip(&s.client, &s.compartment(), &i.id)
            .await
            .unwrap()
            .ok_or("still attaching")
    })
    .await;
    let world = s.world().await;
    let sim_view = world["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == i.id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        ips.private_ip.to_string(),
        sim_view["privateIp"].as_str().unwrap()
    );
    assert!(ips.private_ip.to_string().starts_with("10.0.0."));
    assert_eq!(ips.public_ip, None, "the first subnet is private");
    let vnic = network::get_vnic(&s.client, &ips.vnic_id).await.unwrap();
    assert_eq!(vnic.is_primary, Some(true));
}

#[tokio::test]
async fn a_public_subnet_gives_a_public_ip_too() {
    let s = OpsSim::start().await;
    let mut d = s.launch_details("public-0");
    d.create_vnic_details.subnet_id = s.public_subnet();
    d.create_vnic_details.assign_public_ip = Some(true);
    let i = compute::launch_instance(
        &s.client,
        &d,
        &RetryToken::derive("launch", &"op".parse().unwrap(), "p0"),
    )
    .await
    .unwrap();
    s.wait_for_state(&i.id, InstanceLifecycleState::Running)
        .await;
    let ips = eventually("the primary VNIC attached", || async {
        network::primary_private_ip(&s.client, &s.compartment(), &i.id)
            .await
            .unwrap()
            .ok_or("still attaching")
    })
    .await;
    assert!(ips.private_ip.to_string().starts_with("10.0.1."), "{ips}");
    assert!(ips.public_ip.is_some(), "{ips}");
}

#[tokio::test]
async fn a_terminated_instance_has_no_primary_vnic_and_says_so() {
    let s = OpsSim::start().await;
    let i = s.launch("ip-gone").await;
    s.wait_for_state(&i.id, InstanceLifecycleState::Running)
        .await;
    compute::terminate_instance(&s.client, &i.id).await.unwrap();
    s.wait_for_state(&i.id, InstanceLifecycleState::Terminated)
        .await;
    let err = eventually("the VNIC detached", || async {
        match network::primary_private_ip(&s.client, &s.compartment(), &i.id).await {
            Err(e @ NetworkError::NoPrimaryVnic { .. }) => Ok(e),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let text = err.to_string();
    assert!(text.contains(i.id.as_str()), "{text}");
    assert!(text.contains("DETACH"), "{text}");
}

#[tokio::test]
async fn attachments_are_listed_across_pages() {
    let s = OpsSim::start().await;
    s.settings(json!({"maxPageSize": 1})).await;
    for n in 0..3 {
        s.launch(&format!("att-{n}")).await;
    }
    s.clear_requests().await;
    let all = network::list_vnic_attachments(&s.client, &s.compartment(), None)
        .await
        .unwrap();
    // Three launched instances plus the seeded host.
    assert_eq!(all.len(), 4);
    assert_eq!(s.calls("ListVnicAttachments").len(), 4);
}
