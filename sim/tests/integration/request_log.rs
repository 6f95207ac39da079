//! The request log and `opc-request-id` on every response.

use serde_json::json;

use super::common::{TestSim, assert_oci_error, json};

#[tokio::test]
async fn log_records_each_oci_request_in_order_without_admin_calls() {
    let t = TestSim::start().await;
    assert_eq!(
        t.admin("DELETE", "/_sim/requests", None).await.status(),
        204
    );
    let signer = t.api_key_signer();
    let path = format!(
        "/20160918/availabilityDomains?compartmentId={}",
        t.sim.tenancy_id()
    );
    let req = signer.sign(
        "GET",
        &path,
        &t.host(),
        None,
        &httpdate::fmt_http_date(std::time::SystemTime::now()),
    );
    let mut req = req;
    req.set_header("opc-request-id", "client-chosen-id-1");
    let resp = t.send(&req, &path).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["opc-request-id"], "client-chosen-id-1");
    t.client
        .get(t.url("/20160918/regions"))
        .send()
        .await
        .unwrap();
    t.client.get(t.url("/no/such/api")).send().await.unwrap();
    t.signed(
        &t.session_signer(),
        "GET",
        &format!("/20160918/tenancies/{}", t.sim.tenancy_id()),
        None,
    )
    .await;
    t.admin("GET", "/_sim/faults", None).await;

    let log = json(t.admin("GET", "/_sim/requests", None).await).await;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 4, "{log:#?}");
    assert_eq!(log[0]["method"], "GET");
    assert_eq!(log[0]["path"], "/20160918/availabilityDomains");
    assert_eq!(
        log[0]["query"],
        format!("compartmentId={}", t.sim.tenancy_id())
    );
    assert_eq!(log[0]["status"], 200);
    assert_eq!(log[0]["operation"], "ListAvailabilityDomains");
    assert_eq!(log[0]["opcRequestId"], "client-chosen-id-1");
    assert_eq!(log[0]["keyIdKind"], "api-key");
    assert!(log[0]["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(log[1]["operation"], "ListRegions");
    assert_eq!(log[1]["status"], 401);
    assert_eq!(log[1]["keyIdKind"], json!(null));
    assert_eq!(log[2]["operation"], json!(null));
    assert_eq!(log[2]["status"], 404);
    assert_eq!(log[3]["keyIdKind"], "session");
    assert_eq!(log[3]["operation"], "GetTenancy");
    let seqs: Vec<u64> = log.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    // No token anywhere in the log.
    let text = serde_json::to_string(&log).unwrap();
    let token = std::fs::read_to_string(t.out().join("session").join("token")).unwrap();
    assert!(!text.contains(&token[..30]));

    assert_eq!(
        t.admin("DELETE", "/_sim/requests", None).await.status(),
        204
    );
    assert_eq!(
        json(t.admin("GET", "/_sim/requests", None).await).await,
        json!([])
    );
}

#[tokio::test]
async fn every_response_carries_an_opc_request_id() {
    let t = TestSim::start().await;
    let user = format!("/20160918/users/{}", t.sim.user_id());
    let responses = vec![
        t.signed(&t.api_key_signer(), "GET", &user, None).await,
        t.client.get(t.url(&user)).send().await.unwrap(),
        t.client.get(t.url("/nope")).send().await.unwrap(),
        t.client
            .delete(t.url("/20160918/regions"))
            .send()
            .await
            .unwrap(),
        t.client
            .get(t.url("/opc/v2/instance/id"))
            .send()
            .await
            .unwrap(),
        t.client
            .get(t.url("/opc/v2/instance/id"))
            .header("authorization", "Bearer Oracle")
            .send()
            .await
            .unwrap(),
        t.admin("GET", "/_sim/time-scale", None).await,
    ];
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, vec![200, 401, 404, 405, 401, 200, 200]);
    let mut ids = std::collections::HashSet::new();
    for r in &responses {
        let id = r.headers()["opc-request-id"].to_str().unwrap().to_string();
        assert!(!id.is_empty());
        ids.insert(id);
    }
    assert_eq!(ids.len(), responses.len(), "generated ids repeat");
    let resp = t
        .client
        .delete(t.url("/20160918/regions"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["allow"], "GET");
    let body = json(resp).await;
    assert_eq!(body["code"], "MethodNotAllowed");
}

#[tokio::test]
async fn time_scale_and_clock_can_be_read_and_changed() {
    let t = TestSim::start_with(|c| c.time_scale = 0.001).await;
    assert_eq!(
        json(t.admin("GET", "/_sim/time-scale", None).await).await["timeScale"],
        0.001
    );
    let resp = t
        .admin("PUT", "/_sim/time-scale", Some(json!({"timeScale": 0.5})))
        .await;
    assert_eq!(json(resp).await["timeScale"], 0.5);
    let resp = t
        .admin("PUT", "/_sim/time-scale", Some(json!({"timeScale": -1})))
        .await;
    assert_eq!(resp.status(), 400);
    let before = t.sim.now();
    let resp = t
        .admin("POST", "/_sim/time/advance", Some(json!({"seconds": 600})))
        .await;
    assert_eq!(json(resp).await["offsetSeconds"], 600.0);
    assert!(t.sim.now().duration_since(before).unwrap() >= std::time::Duration::from_secs(600));
    let resp = t
        .admin("POST", "/_sim/time/advance", Some(json!({"seconds": -5})))
        .await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn huge_clock_advances_are_refused_and_the_simulator_keeps_working() {
    let t = TestSim::start().await;
    let instances = format!(
        "/20160918/instances?compartmentId={}",
        t.sim.compartment_id()
    );
    // 1e300 does not fit a Duration; 1e18 s would put the clock past year 9999; 3.2e9 s is
    // just over the 100-year cap.
    for seconds in [1e300, 1e18, 3.2e9] {
        let resp = t
            .admin(
                "POST",
                "/_sim/time/advance",
                Some(json!({ "seconds": seconds })),
            )
            .await;
        let msg = assert_oci_error(resp, 400, "InvalidParameter").await;
        assert!(msg.contains("100 years"), "{seconds}: {msg}");
        let time = json(t.admin("GET", "/_sim/time", None).await).await;
        assert_eq!(
            time["offsetSeconds"], 0.0,
            "a refused advance moved the clock"
        );
        assert_eq!(t.oci("GET", &instances, None).await.status(), 200);
    }
    assert!(t.sim.advance(std::time::Duration::MAX).is_err());

    // Up to the cap works, in steps, and every instant still prints.
    t.advance(3.0e9).await;
    let resp = t
        .admin(
            "POST",
            "/_sim/time/advance",
            Some(json!({"seconds": 2.0e8})),
        )
        .await;
    let msg = assert_oci_error(resp, 400, "InvalidParameter").await;
    assert!(msg.contains("at most"), "{msg}");
    t.advance(1.5e8).await;
    let time = json(t.admin("GET", "/_sim/time", None).await).await;
    assert_eq!(time["offsetSeconds"], 3.15e9);
    assert!(time["now"].as_str().unwrap().starts_with("21"), "{time}");
    let launched = super::compute::launch(&t, "far-future").await;
    assert!(launched["timeCreated"].as_str().unwrap().starts_with("21"));
    assert_eq!(t.oci("GET", &instances, None).await.status(), 200);
    assert_eq!(t.admin("GET", "/_sim/world", None).await.status(), 200);
}

#[tokio::test]
async fn time_scales_outside_the_sane_range_are_refused() {
    let t = TestSim::start().await;
    for scale in [json!(1e300), json!(1e-9), json!(1001), json!(0), json!(-1)] {
        let resp = t
            .admin(
                "PUT",
                "/_sim/time-scale",
                Some(json!({ "timeScale": scale })),
            )
            .await;
        let msg = assert_oci_error(resp, 400, "InvalidParameter").await;
        assert!(msg.contains("from 0.000001 to 1000"), "{scale}: {msg}");
    }
    assert_eq!(
        json(t.admin("GET", "/_sim/time-scale", None).await).await["timeScale"],
        1.0
    );
    let dir = tempfile::tempdir().unwrap();
    let mut config = oci_sim::SimConfig::new(dir.path().join("out"));
    config.time_scale = 1e300;
    assert!(matches!(
        oci_sim::Sim::start(config).await,
        Err(oci_sim::SimError::TimeScale(_))
    ));

    // The slowest scale with the longest timings: deadlines far away still print.
    let resp = t
        .admin("PUT", "/_sim/time-scale", Some(json!({"timeScale": 1000})))
        .await;
    assert_eq!(resp.status(), 200);
    t.settings(json!({"lbWorkRequestAcceptedSeconds": 1e9, "lbWorkRequestSeconds": 1e9}))
        .await;
    let lb = t.sim.load_balancer_id().to_string();
    let resp = t
        .oci(
            "POST",
            &format!("/20170115/loadBalancers/{lb}/backendSets/web/backends"),
            Some(json!({"ipAddress": "10.0.0.5", "port": 8080})),
        )
        .await;
    assert_eq!(resp.status(), 204);
    let wr = resp.headers()["opc-work-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let resp = t
        .oci(
            "GET",
            &format!("/20170115/loadBalancerWorkRequests/{wr}"),
            None,
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["lifecycleState"], "ACCEPTED");
    t.advance(3.0e9).await;
    assert_eq!(t.admin("GET", "/_sim/world", None).await.status(), 200);
    let _ = super::compute::launch(&t, "slow").await;
}
