//! The admin surface of the cloud services: settings, the world dump, the time scale driving
//! lifecycles, and faults and the request log on the new operations.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::common::{TestSim, assert_oci_error, json};
use super::compute::{launch, launch_body, state};

#[tokio::test]
async fn settings_can_be_read_and_patched_and_nonsense_is_refused() {
    let t = TestSim::start().await;
    let s = json(t.admin("GET", "/_sim/settings", None).await).await;
    assert_eq!(s["provisionSeconds"], 30.0);
    assert_eq!(s["startSeconds"], 20.0);
    assert_eq!(s["terminatedRetentionSeconds"], 3600.0);
    assert_eq!(s["defaultPageSize"], 100);
    assert!(s["maxPageSize"].is_null());

    let resp = t
        .admin("PUT", "/_sim/settings", Some(json!({"provisonSeconds": 1})))
        .await;
    let msg = assert_oci_error(resp, 400, "InvalidParameter").await;
    assert!(msg.contains("provisonSeconds"), "{msg}");
    let resp = t
        .admin("PUT", "/_sim/settings", Some(json!({"startSeconds": -5})))
        .await;
    let msg = assert_oci_error(resp, 400, "InvalidParameter").await;
    assert!(msg.contains("startSeconds"), "{msg}");

    t.settings(json!({"provisionSeconds": 5})).await;
    let id = launch(&t, "fast").await["id"].as_str().unwrap().to_string();
    t.advance(5.0).await;
    assert_eq!(state(&t, &id).await, "STARTING");

    let resp = t
        .admin(
            "PUT",
            "/_sim/capacity",
            Some(json!({"shape": "VM.Standard.E4.Flex"})),
        )
        .await;
    assert_oci_error(resp, 400, "InvalidParameter").await;
}

#[tokio::test]
async fn a_fast_time_scale_runs_lifecycles_in_real_milliseconds() {
    let t = TestSim::start_with(|c| c.time_scale = 0.001).await;
    let id = launch(&t, "quick").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // 50 simulated seconds are 50 ms here; poll until RUNNING, up to 10 s.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = String::new();
    while Instant::now() < deadline {
        last = state(&t, &id).await;
        if last == "RUNNING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(last, "RUNNING");
}

#[tokio::test]
async fn the_world_dump_shows_instances_backends_work_requests_and_objects() {
    let t = TestSim::start().await;
    let id = launch(&t, "dumped").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let lb = t.sim.load_balancer_id().to_string();
    let resp = t
        .oci(
            "POST",
            &format!("/20170115/loadBalancers/{lb}/backendSets/web/backends"),
            Some(json!({"ipAddress": "10.0.0.5", "port": 8080})),
        )
        .await;
    assert_eq!(resp.status(), 204);
    let path = format!(
        "/n/{}/b/{}/o/ledger.json",
        t.sim.namespace(),
        t.sim.bucket()
    );
    assert_eq!(t.put_raw(&path, b"{}", &[]).await.status(), 200);
    t.advance(10.0).await;

    let world = json(t.admin("GET", "/_sim/world", None).await).await;
    let inst = world["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id.as_str())
        .unwrap();
    assert_eq!(inst["lifecycleState"], "PROVISIONING");
    assert!(inst["privateIp"].as_str().unwrap().starts_with("10.0.0."));
    assert_eq!(inst["freeformTags"]["fleet"], "web");
    let backend = &world["loadBalancers"][0]["backendSets"][0]["backends"][0];
    assert_eq!(backend["name"], "10.0.0.5:8080");
    assert!(backend["health"].is_string());
    assert_eq!(world["workRequests"][0]["lifecycleState"], "SUCCEEDED");
    assert_eq!(world["workRequests"][0]["service"], "lb");
    let bucket = world["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == t.sim.bucket())
        .unwrap();
    assert_eq!(bucket["objects"][0]["name"], "ledger.json");
    assert_eq!(bucket["objects"][0]["size"], 2);
    assert_eq!(
        world["networkLoadBalancers"][0]["id"],
        t.sim.network_load_balancer_id().as_str()
    );
}

#[tokio::test]
async fn faults_and_the_request_log_know_the_new_operations() {
    let t = TestSim::start().await;
    let ops = json(t.admin("GET", "/_sim/operations", None).await).await;
    let names: Vec<&str> = ops
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    for op in [
        "LaunchInstance",
        "ListInstances",
        "InstanceAction",
        "TerminateInstance",
        "ListVnicAttachments",
        "GetVnic",
        "CreateBackend",
        "GetBackendSetHealth",
        "GetNetworkLoadBalancer",
        "GetNamespace",
        "PutObject",
        "ListObjects",
    ] {
        assert!(names.contains(&op), "{op} is not registered");
    }

    let resp = t
        .admin(
            "POST",
            "/_sim/faults",
            Some(json!({"operation": "LaunchInstance", "status": 429, "count": 1})),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let resp = t
        .oci(
            "POST",
            "/20160918/instances",
            Some(launch_body(&t, "throttled")),
        )
        .await;
    assert_oci_error(resp, 429, "TooManyRequests").await;
    assert_eq!(
        t.sim.world_json()["instances"].as_array().unwrap().len(),
        1,
        "a faulted launch does nothing"
    );
    // NLB operations share OCI names with the classic LB's; pathPrefix tells them apart.
    let resp = t
        .admin(
            "POST",
            "/_sim/faults",
            Some(json!({"operation": "ListBackends", "pathPrefix": "/20200501/", "status": 503})),
        )
        .await;
    assert_eq!(resp.status(), 201);
    let nlb = format!(
        "/20200501/networkLoadBalancers/{}/backendSets/web/backends",
        t.sim.network_load_balancer_id()
    );
    assert_oci_error(t.oci("GET", &nlb, None).await, 503, "ServiceUnavailable").await;
    let lb = format!(
        "/20170115/loadBalancers/{}/backendSets/web/backends",
        t.sim.load_balancer_id()
    );
    assert_eq!(t.oci("GET", &lb, None).await.status(), 200);

    let log = t.sim.requests();
    let ops: Vec<(&str, Option<u16>)> = log
        .iter()
        .map(|e| (e.operation.as_deref().unwrap_or(""), e.status))
        .collect();
    assert!(ops.contains(&("LaunchInstance", Some(429))));
    assert!(ops.contains(&("ListBackends", Some(503))));
    assert!(ops.contains(&("ListBackends", Some(200))));
}

#[tokio::test]
async fn list_compartments_follows_the_page_size_settings() {
    let t = TestSim::start().await;
    let path = format!(
        "/20160918/compartments?compartmentId={}",
        t.sim.tenancy_id()
    );
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    let all = t.oci("GET", &path, None).await;
    assert_eq!(all.status(), 200);
    assert!(all.headers().get("opc-next-page").is_none());
    let mut expected = names(&json(all).await);
    expected.sort();
    assert_eq!(expected, ["fleet-demo", "sandbox"]);

    for setting in [json!({"maxPageSize": 1}), json!({"defaultPageSize": 1})] {
        t.settings(setting.clone()).await;
        // maxPageSize caps even an explicit limit; defaultPageSize applies without one.
        let first_path = if setting.get("maxPageSize").is_some() {
            format!("{path}&limit=1000")
        } else {
            path.clone()
        };
        let first = t.oci("GET", &first_path, None).await;
        assert_eq!(first.status(), 200);
        let next = first.headers()["opc-next-page"]
            .to_str()
            .unwrap()
            .to_string();
        let mut seen = names(&json(first).await);
        assert_eq!(seen.len(), 1, "{setting}");
        let second = t.oci("GET", &format!("{path}&page={next}"), None).await;
        assert!(second.headers().get("opc-next-page").is_none(), "{setting}");
        seen.extend(names(&json(second).await));
        seen.sort();
        assert_eq!(seen, expected, "{setting}");
        t.settings(json!({"maxPageSize": null, "defaultPageSize": 100}))
            .await;
    }
}
