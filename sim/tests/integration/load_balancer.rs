//! The classic load balancer as a client sees it: asynchronous backend changes through work
//! requests that queue per LB, failures reported in the work request, and health that follows
//! the instances behind the backends.

use serde_json::{Value, json};

use super::common::{TestSim, assert_oci_error, json};
use super::compute::{action, running_instance};

fn lb(t: &TestSim) -> String {
    format!("/20170115/loadBalancers/{}", t.sim.load_balancer_id())
}

fn backends(t: &TestSim) -> String {
    format!("{}/backendSets/web/backends", lb(t))
}

async fn create(t: &TestSim, ip: &str, port: u16) -> String {
    let resp = t
        .oci(
            "POST",
            &backends(t),
            Some(json!({"ipAddress": ip, "port": port, "weight": 1, "backup": false, "drain": false, "offline": false})),
        )
        .await;
    assert_eq!(resp.status(), 204);
    let wr = resp.headers()["opc-work-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(resp.bytes().await.unwrap().is_empty(), "204 has no body");
    wr
}

async fn work_request(t: &TestSim, id: &str) -> Value {
    let resp = t
        .oci(
            "GET",
            &format!("/20170115/loadBalancerWorkRequests/{id}"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 200);
    json(resp).await
}

async fn backend_names(t: &TestSim) -> Vec<String> {
    let resp = t.oci("GET", &backends(t), None).await;
    assert_eq!(resp.status(), 200);
    json(resp)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect()
}

async fn health(t: &TestSim, name: &str) -> Value {
    let resp = t
        .oci("GET", &format!("{}/{name}/health", backends(t)), None)
        .await;
    assert_eq!(resp.status(), 200);
    json(resp).await
}

#[tokio::test]
async fn the_seeded_load_balancer_has_an_empty_web_set_checked_on_8080() {
    let t = TestSim::start().await;
    let resp = t.oci("GET", &lb(&t), None).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("etag").is_some());
    let body = json(resp).await;
    assert_eq!(body["lifecycleState"], "ACTIVE");
    let web = &body["backendSets"]["web"];
    assert_eq!(web["policy"], "ROUND_ROBIN");
    assert_eq!(web["healthChecker"]["port"], 8080);
    assert_eq!(web["backends"], json!([]));
    let set = json(
        t.oci("GET", &format!("{}/backendSets/web", lb(&t)), None)
            .await,
    )
    .await;
    assert_eq!(set["name"], "web");
    assert_oci_error(
        t.oci("GET", &format!("{}/backendSets/nope", lb(&t)), None)
            .await,
        404,
        "NotAuthorizedOrNotFound",
    )
    .await;
}

#[tokio::test]
async fn work_requests_queue_per_load_balancer_and_apply_only_when_they_succeed() {
    let t = TestSim::start().await;
    let etag0 = t.oci("GET", &lb(&t), None).await.headers()["etag"].clone();
    let first = create(&t, "10.0.0.10", 8080).await;
    let second = create(&t, "10.0.0.11", 8080).await;
    let w1 = work_request(&t, &first).await;
    let w2 = work_request(&t, &second).await;
    assert_eq!(w1["lifecycleState"], "ACCEPTED");
    assert_eq!(w1["type"], "CreateBackend");
    assert_eq!(w1["loadBalancerId"], t.sim.load_balancer_id().as_str());
    assert!(w1["timeFinished"].is_null());
    assert_eq!(w2["lifecycleState"], "ACCEPTED");
    assert!(
        backend_names(&t).await.is_empty(),
        "nothing applies before SUCCEEDED"
    );

    t.advance(1.5).await; // first: accepted 1 s, now running 3 s
    assert_eq!(
        work_request(&t, &first).await["lifecycleState"],
        "IN_PROGRESS"
    );
    assert_eq!(
        work_request(&t, &second).await["lifecycleState"],
        "ACCEPTED",
        "queued behind"
    );
    assert!(backend_names(&t).await.is_empty());

    t.advance(3.0).await; // first finished at 4 s
    assert_eq!(
        work_request(&t, &first).await["lifecycleState"],
        "SUCCEEDED"
    );
    assert_eq!(
        work_request(&t, &second).await["lifecycleState"],
        "ACCEPTED"
    );
    assert_eq!(backend_names(&t).await, ["10.0.0.10:8080"]);
    let etag1 = t.oci("GET", &lb(&t), None).await.headers()["etag"].clone();
    assert_ne!(etag0, etag1, "the LB's etag changes with its configuration");

    t.advance(4.0).await;
    let w2 = work_request(&t, &second).await;
    assert_eq!(w2["lifecycleState"], "SUCCEEDED");
    assert!(
        w2["timeFinished"].as_str().unwrap()
            > work_request(&t, &first).await["timeFinished"]
                .as_str()
                .unwrap()
    );
    assert_eq!(
        backend_names(&t).await,
        ["10.0.0.10:8080", "10.0.0.11:8080"]
    );

    // Both the raw `:` and the `%3A`-encoded name address the backend.
    for name in ["10.0.0.10:8080", "10.0.0.10%3A8080"] {
        let b = json(
            t.oci("GET", &format!("{}/{name}", backends(&t)), None)
                .await,
        )
        .await;
        assert_eq!(b["ipAddress"], "10.0.0.10");
        assert_eq!(b["port"], 8080);
        assert_eq!(b["drain"], false);
    }

    // ListWorkRequests pages.
    let path = format!("{}/workRequests?limit=1", lb(&t));
    let page1 = t.oci("GET", &path, None).await;
    let next = page1.headers()["opc-next-page"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(json(page1).await.as_array().unwrap().len(), 1);
    let page2 = json(t.oci("GET", &format!("{path}&page={next}"), None).await).await;
    assert_eq!(page2.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_duplicate_backend_fails_its_work_request_not_the_call() {
    let t = TestSim::start().await;
    create(&t, "10.0.0.20", 8080).await;
    let dup = create(&t, "10.0.0.20", 8080).await;
    t.advance(10.0).await;
    let w = work_request(&t, &dup).await;
    assert_eq!(w["lifecycleState"], "FAILED");
    assert_eq!(w["errorDetails"][0]["errorCode"], "BAD_INPUT");
    assert!(
        w["errorDetails"][0]["message"]
            .as_str()
            .unwrap()
            .contains("10.0.0.20:8080")
    );
    assert!(w["timeFinished"].is_string());
    assert_eq!(backend_names(&t).await, ["10.0.0.20:8080"]);
}

#[tokio::test]
async fn update_needs_all_four_flags_and_replaces_them() {
    let t = TestSim::start().await;
    create(&t, "10.0.0.30", 8080).await;
    t.advance(5.0).await;
    let path = format!("{}/10.0.0.30%3A8080", backends(&t));
    let resp = t
        .oci(
            "PUT",
            &path,
            Some(json!({"weight": 3, "backup": false, "offline": false})),
        )
        .await;
    let msg = assert_oci_error(resp, 400, "MissingParameter").await;
    assert!(msg.contains("drain"), "{msg}");
    let resp = t
        .oci(
            "PUT",
            &path,
            Some(json!({"weight": 3, "backup": false, "drain": true, "offline": false})),
        )
        .await;
    assert_eq!(resp.status(), 204);
    let wr = resp.headers()["opc-work-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        json(t.oci("GET", &path, None).await).await["drain"],
        false,
        "not yet"
    );
    t.advance(5.0).await;
    assert_eq!(work_request(&t, &wr).await["type"], "UpdateBackend");
    let b = json(t.oci("GET", &path, None).await).await;
    assert_eq!(b["drain"], true);
    assert_eq!(b["weight"], 3);

    let resp = t.oci("DELETE", &path, None).await;
    assert_eq!(resp.status(), 204);
    t.advance(5.0).await;
    assert!(backend_names(&t).await.is_empty());
    assert_oci_error(
        t.oci("DELETE", &path, None).await,
        404,
        "NotAuthorizedOrNotFound",
    )
    .await;
    assert_oci_error(
        t.oci(
            "PUT",
            &path,
            Some(json!({"weight": 1, "backup": false, "drain": false, "offline": false})),
        )
        .await,
        404,
        "NotAuthorizedOrNotFound",
    )
    .await;
    let resp = t
        .oci(
            "POST",
            &backends(&t),
            Some(json!({"ipAddress": "10.0.0.31"})),
        )
        .await;
    let msg = assert_oci_error(resp, 400, "MissingParameter").await;
    assert!(msg.contains("port"));
}

#[tokio::test]
async fn forced_failures_fail_the_next_work_requests_and_change_nothing() {
    let t = TestSim::start().await;
    let resp = t
        .admin("POST", "/_sim/lb/fail-next", Some(json!({"count": 1})))
        .await;
    assert_eq!(resp.status(), 200);
    let failed = create(&t, "10.0.0.40", 8080).await;
    let ok = create(&t, "10.0.0.41", 8080).await;
    t.advance(10.0).await;
    let w = work_request(&t, &failed).await;
    assert_eq!(w["lifecycleState"], "FAILED");
    assert_eq!(w["errorDetails"][0]["errorCode"], "INTERNAL_ERROR");
    assert_eq!(work_request(&t, &ok).await["lifecycleState"], "SUCCEEDED");
    assert_eq!(backend_names(&t).await, ["10.0.0.41:8080"]);
}

#[tokio::test]
async fn the_reject_knob_refuses_a_mutation_while_one_is_in_flight() {
    let t = TestSim::start().await;
    t.settings(json!({"lbRejectConcurrentMutations": true}))
        .await;
    create(&t, "10.0.0.50", 8080).await;
    let resp = t
        .oci(
            "POST",
            &backends(&t),
            Some(json!({"ipAddress": "10.0.0.51", "port": 8080})),
        )
        .await;
    assert_oci_error(resp, 409, "Conflict").await;
    t.advance(5.0).await;
    create(&t, "10.0.0.51", 8080).await;
}

#[tokio::test]
async fn mutations_check_the_load_balancer_etag_and_replay_retry_tokens() {
    let t = TestSim::start().await;
    let body = json!({"ipAddress": "10.0.0.60", "port": 8080});
    let resp = t
        .oci_with(
            "POST",
            &backends(&t),
            Some(body.clone()),
            &[("if-match", "stale")],
        )
        .await
        .unwrap();
    assert_oci_error(resp, 412, "NoEtagMatch").await;
    let etag = t.oci("GET", &lb(&t), None).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_string();
    let headers = [("if-match", etag.as_str()), ("opc-retry-token", "add-60")];
    let first = t
        .oci_with("POST", &backends(&t), Some(body.clone()), &headers)
        .await
        .unwrap();
    assert_eq!(first.status(), 204);
    let again = t
        .oci_with("POST", &backends(&t), Some(body), &headers)
        .await
        .unwrap();
    assert_eq!(again.status(), 204);
    assert_eq!(
        first.headers()["opc-work-request-id"],
        again.headers()["opc-work-request-id"],
        "the same work request, not a second one"
    );
    t.advance(10.0).await;
    let world = t.sim.world_json();
    let wrs: Vec<&Value> = world["workRequests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["service"] == "lb")
        .collect();
    assert_eq!(wrs.len(), 1);
    assert_eq!(wrs[0]["lifecycleState"], "SUCCEEDED");
}

#[tokio::test]
async fn backend_health_follows_the_instance_behind_it() {
    let t = TestSim::start().await;
    let (id, ip) = running_instance(&t, "h").await;
    let name = format!("{ip}:8080");
    create(&t, &ip, 8080).await;
    create(&t, "10.0.0.99", 8080).await; // no instance there
    t.advance(4.0).await; // both added (at 4 s and 8 s from acceptance)
    let h = health(&t, &name).await;
    assert_eq!(h["status"], "UNKNOWN", "no check yet");
    assert_eq!(h["healthCheckResults"][0]["healthCheckStatus"], "UNKNOWN");

    t.advance(10.0).await;
    let h = health(&t, &name).await;
    assert_eq!(h["status"], "OK");
    assert_eq!(h["healthCheckResults"].as_array().unwrap().len(), 2);
    assert_eq!(h["healthCheckResults"][0]["healthCheckStatus"], "OK");
    assert!(h["healthCheckResults"][0]["sourceIpAddress"].is_string());
    let ghost = health(&t, "10.0.0.99:8080").await;
    assert_eq!(ghost["status"], "CRITICAL");
    assert_eq!(
        ghost["healthCheckResults"][0]["healthCheckStatus"],
        "CONNECT_FAILED"
    );

    let set = json(
        t.oci("GET", &format!("{}/backendSets/web/health", lb(&t)), None)
            .await,
    )
    .await;
    assert_eq!(set["status"], "WARNING", "half OK");
    assert_eq!(set["criticalStateBackendNames"], json!(["10.0.0.99:8080"]));
    assert_eq!(set["totalBackendCount"], 2);
    let whole = json(t.oci("GET", &format!("{}/health", lb(&t)), None).await).await;
    assert_eq!(whole["status"], "WARNING");
    assert_eq!(whole["warningStateBackendSetNames"], json!(["web"]));
    assert_eq!(whole["totalBackendSetCount"], 1);

    // A bad deploy: forced CRITICAL, then cleared.
    let resp = t
        .admin(
            "PUT",
            "/_sim/health-overrides",
            Some(json!({"ipAddress": ip, "status": "CRITICAL"})),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(health(&t, &name).await["status"], "CRITICAL");
    let resp = t
        .admin(
            "PUT",
            "/_sim/health-overrides",
            Some(json!({"ipAddress": ip, "status": null})),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(health(&t, &name).await["status"], "OK");

    // Stopping the instance makes it CRITICAL; running again it needs the delay once more.
    assert_eq!(action(&t, &id, "STOP").await.status(), 200);
    assert_eq!(health(&t, &name).await["status"], "CRITICAL");
    t.advance(20.0).await;
    assert_eq!(action(&t, &id, "START").await.status(), 200);
    t.advance(20.0).await; // RUNNING again
    assert_eq!(
        health(&t, &name).await["status"],
        "CRITICAL",
        "still booting"
    );
    t.advance(10.0).await;
    assert_eq!(health(&t, &name).await["status"], "OK");

    // An offline backend reports OFFLINE results.
    let resp = t
        .oci(
            "PUT",
            &format!("{}/{ip}%3A8080", backends(&t)),
            Some(json!({"weight": 1, "backup": false, "drain": false, "offline": true})),
        )
        .await;
    assert_eq!(resp.status(), 204);
    t.advance(5.0).await;
    let h = health(&t, &name).await;
    assert_eq!(h["healthCheckResults"][0]["healthCheckStatus"], "OFFLINE");
    assert_eq!(h["status"], "CRITICAL");

    // Termination: CRITICAL.
    assert_eq!(
        t.oci("DELETE", &format!("/20160918/instances/{id}"), None)
            .await
            .status(),
        204
    );
    let resp = t
        .oci(
            "PUT",
            &format!("{}/{ip}%3A8080", backends(&t)),
            Some(json!({"weight": 1, "backup": false, "drain": false, "offline": false})),
        )
        .await;
    assert_eq!(resp.status(), 204);
    t.advance(5.0).await;
    assert_eq!(health(&t, &name).await["status"], "CRITICAL");
}

/// A backend answers with its load balancer's etag (the whole load balancer's: what OCI's
/// `if-match` on backend mutations compares with), a mutation with a stale `if-match` is
/// refused with 412 and queues nothing, and once a change applied, the etag read before it is
/// stale. Shared by the classic LB and the NLB tests.
pub(super) async fn backends_carry_the_load_balancer_etag(
    t: &TestSim,
    lb_path: &str,
    backend_path: &str,
    update: Value,
    accepted: u16,
) {
    let etag = |resp: &reqwest::Response| resp.headers()["etag"].to_str().unwrap().to_string();
    let read = etag(&t.oci("GET", backend_path, None).await);
    assert_eq!(read, etag(&t.oci("GET", lb_path, None).await));
    let work_requests = || t.sim.world_json()["workRequests"].as_array().unwrap().len();
    let queued = work_requests();
    for (method, body) in [("PUT", Some(update.clone())), ("DELETE", None)] {
        let resp = t
            .oci_with(method, backend_path, body, &[("if-match", "\"stale\"")])
            .await
            .unwrap();
        assert_oci_error(resp, 412, "NoEtagMatch").await;
    }
    assert_eq!(work_requests(), queued, "a refused mutation queues nothing");

    let resp = t
        .oci_with(
            "PUT",
            backend_path,
            Some(update.clone()),
            &[("if-match", &read)],
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), accepted);
    t.advance(5.0).await;
    assert_ne!(
        etag(&t.oci("GET", backend_path, None).await),
        read,
        "the applied change gave the load balancer a new etag"
    );
    let resp = t
        .oci_with("PUT", backend_path, Some(update), &[("if-match", &read)])
        .await
        .unwrap();
    assert_oci_error(resp, 412, "NoEtagMatch").await;
}

#[tokio::test]
async fn a_backend_update_with_a_stale_etag_is_refused() {
    let t = TestSim::start().await;
    create(&t, "10.0.0.32", 8080).await;
    t.advance(5.0).await;
    backends_carry_the_load_balancer_etag(
        &t,
        &lb(&t),
        &format!("{}/10.0.0.32%3A8080", backends(&t)),
        json!({"weight": 2, "backup": false, "drain": true, "offline": false}),
        204,
    )
    .await;
}

#[tokio::test]
async fn an_added_image_launches_and_its_health_override_covers_its_instances_only() {
    let t = TestSim::start().await;
    let resp = t
        .admin(
            "POST",
            "/_sim/images",
            Some(json!({"displayName": "build-2"})),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let image = json(resp).await["id"].as_str().unwrap().to_string();
    assert!(image.starts_with("ocid1.image."), "{image}");
    assert_ne!(image, t.sim.image_id().as_str());

    // One instance of the seeded image, one of the new image, both behind the LB.
    let (_, old_ip) = running_instance(&t, "old").await;
    let mut body = super::compute::launch_body(&t, "new");
    body["sourceDetails"]["imageId"] = json!(image);
    let resp = t.oci("POST", "/20160918/instances", Some(body)).await;
    assert_eq!(resp.status(), 200);
    let new_id = json(resp).await["id"].as_str().unwrap().to_string();
    t.advance(50.0).await;
    let new_ip = super::compute::private_ip(&t, &new_id).await;
    create(&t, &old_ip, 8080).await;
    create(&t, &new_ip, 8080).await;
    t.advance(20.0).await;
    assert_eq!(health(&t, &format!("{old_ip}:8080")).await["status"], "OK");
    assert_eq!(health(&t, &format!("{new_ip}:8080")).await["status"], "OK");

    // A bad image: every backend of its instances is CRITICAL; the others stay OK.
    let resp = t
        .admin(
            "PUT",
            "/_sim/health-overrides/images",
            Some(json!({"imageId": image, "status": "CRITICAL"})),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        health(&t, &format!("{new_ip}:8080")).await["status"],
        "CRITICAL"
    );
    assert_eq!(health(&t, &format!("{old_ip}:8080")).await["status"], "OK");
    let world = json(t.admin("GET", "/_sim/world", None).await).await;
    assert_eq!(world["imageHealthOverrides"][&image], "CRITICAL");
    let imgs: Vec<&str> = world["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["imageId"].as_str())
        .collect();
    assert!(imgs.contains(&image.as_str()), "{imgs:?}");
    // An IP override wins over the image's.
    t.admin(
        "PUT",
        "/_sim/health-overrides",
        Some(json!({"ipAddress": new_ip, "status": "OK"})),
    )
    .await;
    assert_eq!(health(&t, &format!("{new_ip}:8080")).await["status"], "OK");
    // Clearing removes both kinds.
    assert_eq!(
        t.admin("DELETE", "/_sim/health-overrides", None)
            .await
            .status(),
        204
    );
    let world = json(t.admin("GET", "/_sim/world", None).await).await;
    assert_eq!(world["imageHealthOverrides"], json!({}));
    // Not an image OCID: 400.
    let resp = t
        .admin(
            "PUT",
            "/_sim/health-overrides/images",
            Some(json!({"imageId": "ami-123", "status": "CRITICAL"})),
        )
        .await;
    assert_eq!(resp.status(), 400);
}
