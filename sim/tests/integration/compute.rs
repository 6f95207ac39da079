//! Compute and VNICs as a client sees them: the lifecycle under the simulated clock, actions,
//! termination, paging, validation, capacity and limits, and retry tokens.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::common::{TestSim, assert_oci_error, json};

pub fn launch_body(t: &TestSim, name: &str) -> Value {
    launch_body_in(t, name, t.sim.subnet_id().as_str())
}

pub fn launch_body_in(t: &TestSim, name: &str, subnet: &str) -> Value {
    json!({
        "compartmentId": t.sim.compartment_id(),
        "availabilityDomain": t.sim.seeded().availability_domains[0],
        "shape": "VM.Standard.E4.Flex",
        "shapeConfig": {"ocpus": 1, "memoryInGBs": 16},
        "displayName": name,
        "sourceDetails": {"sourceType": "image", "imageId": t.sim.image_id()},
        "createVnicDetails": {"subnetId": subnet, "assignPublicIp": false},
        "metadata": {"ssh_authorized_keys": "ssh-ed25519 AAAA test", "user_data": "IyEvYmluL3NoCg=="},
        "freeformTags": {"fleet": "web"},
        "definedTags": {"Operations": {"CostCenter": "42"}},
    })
}

/// Launches one instance; returns its JSON.
pub async fn launch(t: &TestSim, name: &str) -> Value {
    let resp = t
        .oci("POST", "/20160918/instances", Some(launch_body(t, name)))
        .await;
    assert_eq!(resp.status(), 200);
    json(resp).await
}

pub async fn instance(t: &TestSim, id: &str) -> reqwest::Response {
    t.oci("GET", &format!("/20160918/instances/{id}"), None)
        .await
}

pub async fn state(t: &TestSim, id: &str) -> String {
    json(instance(t, id).await).await["lifecycleState"]
        .as_str()
        .unwrap()
        .to_string()
}

pub async fn attachments(t: &TestSim, instance: &str) -> Vec<Value> {
    let path = format!(
        "/20160918/vnicAttachments?compartmentId={}&instanceId={instance}",
        t.sim.compartment_id()
    );
    let resp = t.oci("GET", &path, None).await;
    assert_eq!(resp.status(), 200);
    json(resp).await.as_array().unwrap().clone()
}

/// The instance's primary private IP, once its VNIC is attached.
pub async fn private_ip(t: &TestSim, instance: &str) -> String {
    let att = attachments(t, instance).await;
    let vnic = att[0]["vnicId"].as_str().expect("attached");
    let v = json(t.oci("GET", &format!("/20160918/vnics/{vnic}"), None).await).await;
    v["privateIp"].as_str().unwrap().to_string()
}

/// Launches and advances the clock until the instance is RUNNING; returns id and private IP.
pub async fn running_instance(t: &TestSim, name: &str) -> (String, String) {
    let id = launch(t, name).await["id"].as_str().unwrap().to_string();
    t.advance(50.0).await;
    assert_eq!(state(t, &id).await, "RUNNING");
    let ip = private_ip(t, &id).await;
    (id, ip)
}

#[tokio::test]
async fn a_launch_goes_provisioning_starting_running_with_the_clock() {
    let t = TestSim::start().await;
    let resp = t
        .oci(
            "POST",
            "/20160918/instances",
            Some(launch_body(&t, "web-1")),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let etag0 = resp.headers()["etag"].to_str().unwrap().to_string();
    assert!(
        resp.headers()["opc-work-request-id"]
            .to_str()
            .unwrap()
            .starts_with("ocid1.coreservicesworkrequest.oc1.iad."),
    );
    let body = json(resp).await;
    let id = body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ocid1.instance.oc1.iad."));
    assert_eq!(body["lifecycleState"], "PROVISIONING");
    assert_eq!(body["region"], "iad");
    assert_eq!(body["shapeConfig"]["ocpus"], 1.0);
    assert_eq!(
        body["shapeConfig"]["memoryInGBs"], 16.0,
        "OCI spells it memoryInGBs"
    );
    assert_eq!(body["freeformTags"]["fleet"], "web");
    assert_eq!(body["definedTags"]["Operations"]["CostCenter"], "42");
    assert_eq!(body["metadata"]["user_data"], "IyEvYmluL3NoCg==");

    // The VNIC attachment exists at once, without a vnicId while provisioning.
    let att = attachments(&t, &id).await;
    assert_eq!(att.len(), 1);
    assert_eq!(att[0]["lifecycleState"], "ATTACHING");
    assert!(att[0]["vnicId"].is_null());

    t.advance(29.0).await;
    assert_eq!(state(&t, &id).await, "PROVISIONING");
    t.advance(1.5).await;
    let resp = instance(&t, &id).await;
    let etag1 = resp.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(json(resp).await["lifecycleState"], "STARTING");
    assert_ne!(etag0, etag1, "the etag changes with the state");

    let att = attachments(&t, &id).await;
    assert_eq!(att[0]["lifecycleState"], "ATTACHED");
    let vnic_id = att[0]["vnicId"].as_str().unwrap();
    let vnic = json(
        t.oci("GET", &format!("/20160918/vnics/{vnic_id}"), None)
            .await,
    )
    .await;
    assert_eq!(vnic["isPrimary"], true);
    assert_eq!(vnic["lifecycleState"], "AVAILABLE");
    assert!(vnic["publicIp"].is_null());
    let ip: std::net::Ipv4Addr = vnic["privateIp"].as_str().unwrap().parse().unwrap();
    assert_eq!(ip.octets()[..3], [10, 0, 0]);
    assert!(ip.octets()[3] >= 2 && ip.octets()[3] < 255);
    let one = json(
        t.oci(
            "GET",
            &format!(
                "/20160918/vnicAttachments/{}",
                att[0]["id"].as_str().unwrap()
            ),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(one["instanceId"], id.as_str());

    t.advance(20.0).await;
    assert_eq!(state(&t, &id).await, "RUNNING");
}

#[tokio::test]
async fn launches_in_the_second_subnet_get_its_addresses_and_public_ips() {
    let t = TestSim::start().await;
    let subnets = t.sim.subnet_ids().to_vec();
    assert!(subnets.len() >= 2, "two subnets are seeded");
    assert_eq!(&subnets[0], t.sim.subnet_id());
    let mut body = launch_body_in(&t, "b-1", subnets[1].as_str());
    body["createVnicDetails"]["assignPublicIp"] = json!(true);
    let resp = t.oci("POST", "/20160918/instances", Some(body)).await;
    assert_eq!(resp.status(), 200);
    let id = json(resp).await["id"].as_str().unwrap().to_string();
    t.advance(31.0).await;
    let att = attachments(&t, &id).await;
    assert_eq!(att[0]["subnetId"], subnets[1].as_str());
    let vnic = att[0]["vnicId"].as_str().unwrap();
    let v = json(t.oci("GET", &format!("/20160918/vnics/{vnic}"), None).await).await;
    assert!(v["privateIp"].as_str().unwrap().starts_with("10.0.1."));
    assert!(v["publicIp"].as_str().is_some());

    // The first subnet is private: a public IP there is refused, naming the field.
    let mut body = launch_body(&t, "a-1");
    body["createVnicDetails"]["assignPublicIp"] = json!(true);
    let resp = t.oci("POST", "/20160918/instances", Some(body)).await;
    let msg = assert_oci_error(resp, 400, "InvalidParameter").await;
    assert!(msg.contains("assignPublicIp"), "{msg}");

    let subnet = json(
        t.oci("GET", &format!("/20160918/subnets/{}", subnets[1]), None)
            .await,
    )
    .await;
    assert_eq!(subnet["cidrBlock"], "10.0.1.0/24");
}

/// A launch asking for a given primary private IP.
async fn launch_at_ip(t: &TestSim, name: &str, ip: &str) -> reqwest::Response {
    let mut body = launch_body(t, name);
    body["createVnicDetails"]["privateIp"] = json!(ip);
    t.oci("POST", "/20160918/instances", Some(body)).await
}

#[tokio::test]
async fn private_ips_are_unique_while_in_use_and_freed_at_termination() {
    let t = TestSim::start().await;
    // Boot at once; terminating still takes its 30 s.
    t.settings(json!({"provisionSeconds": 0, "startSeconds": 0}))
        .await;
    let mut ips = BTreeSet::new();
    let mut ids = Vec::new();
    for n in 0..6 {
        let id = launch(&t, &format!("w{n}")).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            ips.insert(private_ip(&t, &id).await),
            "an IP was handed out twice"
        );
        ids.push(id);
    }
    // The seeded host holds 10.0.0.2 and the LBs' addresses are reserved.
    assert!(!ips.contains("10.0.0.2"));
    assert!(!ips.contains("10.0.0.250"));
    let victim = ids[0].clone();
    let victim_ip = private_ip(&t, &victim).await;
    let count = |v: Value| v.as_array().unwrap().len();
    let list = format!(
        "/20160918/instances?compartmentId={}",
        t.sim.compartment_id()
    );
    let listed = count(json(t.oci("GET", &list, None).await).await);

    // Asking for an address a RUNNING instance holds, or the seeded host's, is refused.
    let msg = assert_oci_error(launch_at_ip(&t, "dup", &victim_ip).await, 409, "Conflict").await;
    assert!(msg.contains(&victim_ip), "{msg}");
    assert_oci_error(launch_at_ip(&t, "dup", "10.0.0.2").await, 409, "Conflict").await;

    let resp = t
        .oci("DELETE", &format!("/20160918/instances/{victim}"), None)
        .await;
    assert_eq!(resp.status(), 204);
    assert_eq!(state(&t, &victim).await, "TERMINATING");
    assert_eq!(
        attachments(&t, &victim).await[0]["lifecycleState"],
        "DETACHING"
    );
    // Still held while TERMINATING.
    assert_oci_error(launch_at_ip(&t, "early", &victim_ip).await, 409, "Conflict").await;
    assert_eq!(
        count(json(t.oci("GET", &list, None).await).await),
        listed,
        "a refused launch must create nothing"
    );

    t.advance(30.0).await;
    assert_eq!(state(&t, &victim).await, "TERMINATED");
    assert_eq!(
        attachments(&t, &victim).await[0]["lifecycleState"],
        "DETACHED"
    );
    // Freed once TERMINATED: the same address can be asked for again.
    let resp = launch_at_ip(&t, "heir", &victim_ip).await;
    assert_eq!(resp.status(), 200);
    let heir = json(resp).await["id"].as_str().unwrap().to_string();
    assert_eq!(private_ip(&t, &heir).await, victim_ip);

    let world = t.sim.world_json();
    let live_ips: Vec<&str> = world["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["lifecycleState"] != "TERMINATED")
        .map(|i| i["privateIp"].as_str().unwrap())
        .collect();
    assert_eq!(live_ips.len(), 7, "the host, five survivors and the heir");
    let unique: BTreeSet<&str> = live_ips.iter().copied().collect();
    assert_eq!(unique.len(), live_ips.len());
}

#[tokio::test]
async fn launch_validation_names_the_bad_field() {
    let t = TestSim::start().await;
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Edit, u16, &str, &str)> = vec![
        (
            Box::new(|b| {
                b.as_object_mut().unwrap().remove("compartmentId");
            }),
            400,
            "MissingParameter",
            "compartmentId",
        ),
        (
            Box::new(|b| b["createVnicDetails"] = json!({"assignPublicIp": false})),
            400,
            "MissingParameter",
            "createVnicDetails.subnetId",
        ),
        (
            Box::new(|b| b["shapeConfig"]["ocpus"] = json!("two")),
            400,
            "InvalidParameter",
            "shapeConfig.ocpus",
        ),
        (
            Box::new(|b| {
                b.as_object_mut().unwrap().remove("shapeConfig");
            }),
            400,
            "InvalidParameter",
            "Invalid ShapeConfig: null (Cannot launch flexible instance without ShapeConfig)",
        ),
        (
            Box::new(|b| b["shape"] = json!("VM.Imaginary.Flex")),
            400,
            "InvalidParameter",
            "VM.Imaginary.Flex",
        ),
        (
            Box::new(|b| b["availabilityDomain"] = json!("Uocm:US-ASHBURN-AD-9")),
            400,
            "InvalidParameter",
            "availabilityDomain",
        ),
        (
            Box::new(|b| b["sourceDetails"]["imageId"] = json!("ocid1.image.oc1.iad.nope")),
            400,
            "RelatedResourceNotAuthorizedOrNotFound",
            "ocid1.image.oc1.iad.nope",
        ),
        (
            Box::new(|b| b["createVnicDetails"]["subnetId"] = json!("ocid1.subnet.oc1.iad.nope")),
            400,
            "RelatedResourceNotAuthorizedOrNotFound",
            "ocid1.subnet.oc1.iad.nope",
        ),
        (
            Box::new(|b| b["compartmentId"] = json!("ocid1.compartment.oc1..nope")),
            404,
            "NotAuthorizedOrNotFound",
            "ocid1.compartment.oc1..nope",
        ),
        (
            Box::new(|b| b["metadata"]["user_data"] = json!("x".repeat(40_000))),
            400,
            "InvalidParameter",
            "32000",
        ),
    ];
    for (edit, status, code, needle) in cases {
        let mut body = launch_body(&t, "bad");
        edit(&mut body);
        let resp = t.oci("POST", "/20160918/instances", Some(body)).await;
        let msg = assert_oci_error(resp, status, code).await;
        assert!(
            msg.contains(needle),
            "{code}: '{msg}' does not name {needle}"
        );
    }
    // Not JSON at all.
    let resp = t
        .signed(t.signer(), "POST", "/20160918/instances", Some("{nope"))
        .await;
    assert_oci_error(resp, 400, "CannotParseRequest").await;
    // Nothing was created by any of these.
    let world = t.sim.world_json();
    assert_eq!(
        world["instances"].as_array().unwrap().len(),
        1,
        "only the host"
    );
}

#[tokio::test]
async fn list_instances_pages_filters_and_sorts() {
    let t = TestSim::start().await;
    for name in ["delta", "alpha", "charlie", "bravo", "echo"] {
        launch(&t, name).await;
    }
    t.settings(json!({"maxPageSize": 2})).await;
    let base = format!(
        "/20160918/instances?compartmentId={}",
        t.sim.compartment_id()
    );

    // Paging: every instance exactly once, over several pages, even when limit asks for more.
    let mut seen = Vec::new();
    let mut page: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &page {
            Some(p) => format!("{base}&limit=50&page={p}"),
            None => format!("{base}&limit=50"),
        };
        let resp = t.oci("GET", &path, None).await;
        assert_eq!(resp.status(), 200);
        let next = resp
            .headers()
            .get("opc-next-page")
            .map(|v| v.to_str().unwrap().to_string());
        let items = json(resp).await;
        assert!(items.as_array().unwrap().len() <= 2);
        seen.extend(
            items
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["displayName"].as_str().unwrap().to_string()),
        );
        pages += 1;
        match next {
            Some(n) => page = Some(n),
            None => break,
        }
    }
    assert_eq!(pages, 3, "6 instances (5 + the host) at 2 per page");
    assert_eq!(seen.len(), 6);
    // TIMECREATED is the default, newest first.
    assert_eq!(seen[0], "echo");
    assert_eq!(seen.last().unwrap(), "oci-sim-host");

    t.settings(json!({"maxPageSize": null})).await;
    let names = |v: Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["displayName"].as_str().unwrap().to_string())
            .collect()
    };
    let sorted = json(
        t.oci("GET", &format!("{base}&sortBy=DISPLAYNAME"), None)
            .await,
    )
    .await;
    assert_eq!(
        names(sorted),
        ["alpha", "bravo", "charlie", "delta", "echo", "oci-sim-host"]
    );
    let one = json(
        t.oci("GET", &format!("{base}&displayName=charlie"), None)
            .await,
    )
    .await;
    assert_eq!(names(one), ["charlie"]);
    let provisioning = json(
        t.oci("GET", &format!("{base}&lifecycleState=provisioning"), None)
            .await,
    )
    .await;
    assert_eq!(provisioning.as_array().unwrap().len(), 5);
    let running = json(
        t.oci("GET", &format!("{base}&lifecycleState=RUNNING"), None)
            .await,
    )
    .await;
    assert_eq!(names(running), ["oci-sim-host"]);

    let resp = t.oci("GET", "/20160918/instances", None).await;
    let msg = assert_oci_error(resp, 400, "MissingParameter").await;
    assert!(msg.contains("compartmentId"));
    let resp = t.oci("GET", &format!("{base}&sortBy=SIZE"), None).await;
    assert_oci_error(resp, 400, "InvalidParameter").await;
    let resp = t.oci("GET", &format!("{base}&page=bogus"), None).await;
    assert_oci_error(resp, 400, "InvalidParameter").await;
}

pub async fn action(t: &TestSim, id: &str, action: &str) -> reqwest::Response {
    t.oci(
        "POST",
        &format!("/20160918/instances/{id}?action={action}"),
        None,
    )
    .await
}

#[tokio::test]
async fn actions_follow_the_state_machine() {
    let t = TestSim::start().await;
    let id = launch(&t, "a").await["id"].as_str().unwrap().to_string();

    // Nothing but termination is possible while provisioning.
    let msg = assert_oci_error(action(&t, &id, "STOP").await, 409, "IncorrectState").await;
    assert!(msg.contains("PROVISIONING"), "{msg}");
    t.advance(50.0).await;

    // START on RUNNING: a 200 no-op, same etag.
    let before = instance(&t, &id).await.headers()["etag"].clone();
    let resp = action(&t, &id, "START").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["etag"], before);
    assert_eq!(json(resp).await["lifecycleState"], "RUNNING");

    let resp = action(&t, &id, "SOFTSTOP").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["lifecycleState"], "STOPPING");
    t.advance(20.0).await;
    assert_eq!(state(&t, &id).await, "STOPPED");
    let resp = action(&t, &id, "STOP").await;
    assert_eq!(resp.status(), 200, "STOP on STOPPED is a no-op");
    assert_oci_error(action(&t, &id, "RESET").await, 409, "IncorrectState").await;

    assert_eq!(
        json(action(&t, &id, "START").await).await["lifecycleState"],
        "STARTING"
    );
    t.advance(20.0).await;
    assert_eq!(state(&t, &id).await, "RUNNING");

    // RESET: STOPPING, then STARTING, then RUNNING.
    assert_eq!(
        json(action(&t, &id, "RESET").await).await["lifecycleState"],
        "STOPPING"
    );
    t.advance(20.0).await;
    assert_eq!(state(&t, &id).await, "STARTING");
    t.advance(20.0).await;
    assert_eq!(state(&t, &id).await, "RUNNING");

    let msg = assert_oci_error(action(&t, &id, "HIBERNATE").await, 400, "InvalidParameter").await;
    assert!(msg.contains("HIBERNATE"));
    assert_oci_error(
        t.oci("POST", &format!("/20160918/instances/{id}"), None)
            .await,
        400,
        "MissingParameter",
    )
    .await;
    assert_oci_error(
        action(&t, "ocid1.instance.oc1.iad.nope", "START").await,
        404,
        "NotAuthorizedOrNotFound",
    )
    .await;
}

#[tokio::test]
async fn if_match_guards_actions_and_termination() {
    let t = TestSim::start().await;
    let launched = t
        .oci("POST", "/20160918/instances", Some(launch_body(&t, "m")))
        .await;
    let stale = launched.headers()["etag"].to_str().unwrap().to_string();
    let id = json(launched).await["id"].as_str().unwrap().to_string();
    t.advance(50.0).await;
    let path = format!("/20160918/instances/{id}?action=STOP");
    let resp = t
        .oci_with("POST", &path, None, &[("if-match", &stale)])
        .await
        .unwrap();
    assert_oci_error(resp, 412, "NoEtagMatch").await;
    let resp = t
        .oci_with(
            "DELETE",
            &format!("/20160918/instances/{id}"),
            None,
            &[("if-match", &stale)],
        )
        .await
        .unwrap();
    assert_oci_error(resp, 412, "NoEtagMatch").await;
    assert_eq!(state(&t, &id).await, "RUNNING", "nothing happened");

    let current = instance(&t, &id).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();
    let resp = t
        .oci_with("POST", &path, None, &[("if-match", &current)])
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn terminated_instances_stay_listed_for_an_hour_then_vanish() {
    let t = TestSim::start().await;
    let id = launch(&t, "t").await["id"].as_str().unwrap().to_string();
    t.advance(50.0).await;
    let resp = t
        .oci(
            "DELETE",
            &format!("/20160918/instances/{id}?preserveBootVolume=false"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 204);
    assert!(resp.headers().get("opc-work-request-id").is_some());
    assert_eq!(state(&t, &id).await, "TERMINATING");
    assert_eq!(attachments(&t, &id).await[0]["lifecycleState"], "DETACHING");
    // Terminating again is accepted and changes nothing.
    let again = t
        .oci("DELETE", &format!("/20160918/instances/{id}"), None)
        .await;
    assert_eq!(again.status(), 204);
    t.advance(30.0).await;
    assert_eq!(state(&t, &id).await, "TERMINATED");
    let listed = json(
        t.oci(
            "GET",
            &format!(
                "/20160918/instances?compartmentId={}&lifecycleState=TERMINATED",
                t.sim.compartment_id()
            ),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    t.advance(3600.0).await;
    assert_oci_error(instance(&t, &id).await, 404, "NotAuthorizedOrNotFound").await;
    assert!(attachments(&t, &id).await.is_empty());
    let resp = t
        .oci(
            "DELETE",
            &format!("/20160918/instances/{id}?preserveBootVolume=maybe"),
            None,
        )
        .await;
    assert_oci_error(resp, 400, "InvalidParameter").await;
}

#[tokio::test]
async fn out_of_host_capacity_creates_nothing_and_termination_frees_it() {
    let t = TestSim::start_with(|c| {
        c.capacity.push(oci_sim::CapacityRule {
            shape: "VM.Standard.E4.Flex".into(),
            availability_domain: None,
            instances: Some(2),
            ocpus: None,
        });
    })
    .await;
    let first = launch(&t, "c1").await["id"].as_str().unwrap().to_string();
    launch(&t, "c2").await;
    let before = t.sim.world_json();
    let resp = t
        .oci("POST", "/20160918/instances", Some(launch_body(&t, "c3")))
        .await;
    let msg = assert_oci_error(resp, 500, "InternalError").await;
    assert_eq!(msg, "Out of host capacity.");
    let after = t.sim.world_json();
    assert_eq!(
        before["instances"], after["instances"],
        "no instance created"
    );

    // Another shape is not affected.
    let mut other = launch_body(&t, "a1");
    other["shape"] = json!("VM.Standard.A1.Flex");
    other["shapeConfig"] = json!({"ocpus": 2});
    assert_eq!(
        t.oci("POST", "/20160918/instances", Some(other))
            .await
            .status(),
        200
    );

    // A terminated instance gives its capacity back once TERMINATED.
    t.oci("DELETE", &format!("/20160918/instances/{first}"), None)
        .await;
    let resp = t
        .oci("POST", "/20160918/instances", Some(launch_body(&t, "c3")))
        .await;
    assert_eq!(resp.status(), 500, "still TERMINATING: capacity is held");
    t.advance(30.0).await;
    let resp = t
        .oci("POST", "/20160918/instances", Some(launch_body(&t, "c3")))
        .await;
    assert_eq!(resp.status(), 200);

    // Capacity in OCPUs, set through the admin API, per AD.
    let ad = t.sim.seeded().availability_domains[1].clone();
    let resp = t
        .admin(
            "PUT",
            "/_sim/capacity",
            Some(json!({"shape": "VM.Standard.E4.Flex", "availabilityDomain": ad, "ocpus": 3})),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let mut big = launch_body(&t, "big");
    big["availabilityDomain"] = json!(ad);
    big["shapeConfig"] = json!({"ocpus": 4});
    let resp = t.oci("POST", "/20160918/instances", Some(big)).await;
    assert_eq!(
        assert_oci_error(resp, 500, "InternalError").await,
        "Out of host capacity."
    );
}

#[tokio::test]
async fn a_service_limit_refuses_launches_with_limit_exceeded() {
    let t = TestSim::start().await;
    let resp = t
        .admin(
            "PUT",
            "/_sim/limits",
            Some(json!({"shape": "VM.Standard.E4.Flex", "compartmentId": t.sim.compartment_id(), "instances": 1})),
        )
        .await;
    assert_eq!(resp.status(), 200);
    launch(&t, "l1").await;
    let resp = t
        .oci("POST", "/20160918/instances", Some(launch_body(&t, "l2")))
        .await;
    let msg = assert_oci_error(resp, 400, "LimitExceeded").await;
    assert!(msg.contains("VM.Standard.E4.Flex"), "{msg}");
    assert_eq!(t.admin("DELETE", "/_sim/limits", None).await.status(), 204);
    assert_eq!(
        t.oci("POST", "/20160918/instances", Some(launch_body(&t, "l2")))
            .await
            .status(),
        200
    );
}

async fn launch_with_token(
    t: &TestSim,
    body: Value,
    token: &str,
) -> reqwest::Result<reqwest::Response> {
    t.oci_with(
        "POST",
        "/20160918/instances",
        Some(body),
        &[("opc-retry-token", token)],
    )
    .await
}

fn instance_count(t: &TestSim) -> usize {
    t.sim.world_json()["instances"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_retry_token_replays_the_original_launch() {
    let t = TestSim::start().await;
    let body = launch_body(&t, "r");
    let first = launch_with_token(&t, body.clone(), "token-1")
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let wr = first.headers()["opc-work-request-id"].clone();
    let first = json(first).await;
    t.advance(40.0).await;
    let again = launch_with_token(&t, body.clone(), "token-1")
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["opc-work-request-id"], wr);
    let again = json(again).await;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(
        again["lifecycleState"], "PROVISIONING",
        "the original answer"
    );
    assert_eq!(instance_count(&t), 2, "the host and one launch");

    // The same token for another request is refused.
    let other = launch_body(&t, "other");
    let resp = launch_with_token(&t, other, "token-1").await.unwrap();
    assert_oci_error(resp, 409, "InvalidatedRetryToken").await;
    assert_eq!(instance_count(&t), 2);

    // The token is forgotten after 24 h of simulated time.
    t.advance(86_400.0).await;
    let resp = launch_with_token(&t, body, "token-1").await.unwrap();
    assert_ne!(json(resp).await["id"], first["id"]);
}

#[tokio::test]
async fn a_retry_token_replays_a_launch_whose_answer_was_lost() {
    let t = TestSim::start().await;
    let resp = t
        .admin(
            "POST",
            "/_sim/faults",
            Some(json!({"operation": "LaunchInstance", "drop": "after", "count": 1})),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let body = launch_body(&t, "lost");
    let lost = launch_with_token(&t, body.clone(), "lost-answer").await;
    assert!(lost.is_err(), "the first answer must be lost");
    let retried = launch_with_token(&t, body, "lost-answer").await.unwrap();
    assert_eq!(retried.status(), 200);
    let id = json(retried).await["id"].as_str().unwrap().to_string();
    let world = t.sim.world_json();
    let launched: Vec<&Value> = world["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["displayName"] == "lost")
        .collect();
    assert_eq!(launched.len(), 1, "one instance, not two");
    assert_eq!(launched[0]["id"], id.as_str());
    let log: Vec<_> = t
        .sim
        .requests()
        .into_iter()
        .filter(|e| e.operation.as_deref() == Some("LaunchInstance"))
        .collect();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].dropped.as_deref(), Some("after"));
    assert_eq!(log[1].status, Some(200));
}

#[tokio::test]
async fn a_failed_launch_does_not_use_up_its_retry_token() {
    let t = TestSim::start_with(|c| {
        c.capacity.push(oci_sim::CapacityRule {
            shape: "VM.Standard.E4.Flex".into(),
            availability_domain: None,
            instances: Some(0),
            ocpus: None,
        });
    })
    .await;
    let body = launch_body(&t, "later");
    let resp = launch_with_token(&t, body.clone(), "tok").await.unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(
        t.admin("DELETE", "/_sim/capacity", None).await.status(),
        204
    );
    let resp = launch_with_token(&t, body, "tok").await.unwrap();
    assert_eq!(resp.status(), 200, "the retry does the work now");
}

#[tokio::test]
async fn instance_actions_replay_with_their_retry_token() {
    let t = TestSim::start().await;
    let id = launch(&t, "x").await["id"].as_str().unwrap().to_string();
    t.advance(50.0).await;
    let path = format!("/20160918/instances/{id}?action=STOP");
    let first = t
        .oci_with("POST", &path, None, &[("opc-retry-token", "stop-1")])
        .await
        .unwrap();
    assert_eq!(json(first).await["lifecycleState"], "STOPPING");
    t.advance(20.0).await;
    let replay = t
        .oci_with("POST", &path, None, &[("opc-retry-token", "stop-1")])
        .await
        .unwrap();
    assert_eq!(
        json(replay).await["lifecycleState"],
        "STOPPING",
        "the original answer, not a new STOP"
    );
    assert_eq!(state(&t, &id).await, "STOPPED");
    let resp = t
        .oci_with("POST", &path, None, &[("opc-retry-token", &"x".repeat(65))])
        .await
        .unwrap();
    assert_oci_error(resp, 400, "InvalidParameter").await;
}

#[tokio::test]
async fn list_vnic_attachments_needs_a_compartment_and_pages() {
    let t = TestSim::start().await;
    for n in 0..3 {
        launch(&t, &format!("v{n}")).await;
    }
    let resp = t.oci("GET", "/20160918/vnicAttachments", None).await;
    let msg = assert_oci_error(resp, 400, "MissingParameter").await;
    assert!(msg.contains("compartmentId"));
    let base = format!(
        "/20160918/vnicAttachments?compartmentId={}&limit=2",
        t.sim.compartment_id()
    );
    let first = t.oci("GET", &base, None).await;
    let next = first.headers()["opc-next-page"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(json(first).await.as_array().unwrap().len(), 2);
    let second = t.oci("GET", &format!("{base}&page={next}"), None).await;
    assert!(second.headers().get("opc-next-page").is_none());
    assert_eq!(
        json(second).await.as_array().unwrap().len(),
        2,
        "4 with the host's"
    );
}

#[tokio::test]
async fn the_large_subnet_holds_fleets_beyond_a_slash_24_and_changes_no_other_id() {
    let plain = TestSim::start().await;
    let t = TestSim::start_with(|c| c.large_subnet = true).await;
    let large = t.sim.large_subnet_id().expect("seeded").clone();
    assert!(plain.sim.large_subnet_id().is_none());
    // Minted last: every other seeded id is the one a simulator without it has.
    let (a, b) = (plain.sim.seeded(), t.sim.seeded());
    assert_eq!(&b.subnets[..2], &a.subnets[..]);
    assert_eq!(b.subnets.last(), Some(&large));
    assert_eq!(
        (
            &b.image,
            &b.load_balancer,
            &b.network_load_balancer,
            &b.host_instance
        ),
        (
            &a.image,
            &a.load_balancer,
            &a.network_load_balancer,
            &a.host_instance
        )
    );
    let subnet = json(
        t.oci("GET", &format!("/20160918/subnets/{large}"), None)
            .await,
    )
    .await;
    assert_eq!(subnet["cidrBlock"], "10.0.128.0/17");
    assert_eq!(subnet["prohibitPublicIpOnVnic"], true);

    // More instances than a /24 has addresses, each with its own address in the large subnet.
    for n in 0..300 {
        let resp = t
            .oci(
                "POST",
                "/20160918/instances",
                Some(launch_body_in(&t, &format!("big-{n}"), large.as_str())),
            )
            .await;
        assert_eq!(resp.status(), 200, "launch {n}");
    }
    let world = t.sim.world_json();
    let ips: BTreeSet<std::net::Ipv4Addr> = world["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["displayName"].as_str().unwrap().starts_with("big-"))
        .map(|i| i["privateIp"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ips.len(), 300, "300 different addresses");
    let net: std::net::Ipv4Addr = "10.0.128.0".parse().unwrap();
    assert!(
        ips.iter()
            .all(|ip| u32::from(*ip) >> 15 == u32::from(net) >> 15),
        "every address in 10.0.128.0/17"
    );
}
