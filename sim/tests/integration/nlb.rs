//! The network load balancer as a client sees it: 202 mutations, one at a time (409 while
//! another runs), synchronous duplicate refusal, `items` lists and `status` work requests.

use serde_json::{Value, json};

use super::common::{TestSim, assert_oci_error, json};
use super::compute::running_instance;
use super::load_balancer::backends_carry_the_load_balancer_etag;

fn nlb(t: &TestSim) -> String {
    format!(
        "/20200501/networkLoadBalancers/{}",
        t.sim.network_load_balancer_id()
    )
}

fn backends(t: &TestSim) -> String {
    format!("{}/backendSets/web/backends", nlb(t))
}

async fn work_request(t: &TestSim, id: &str) -> Value {
    let resp = t
        .oci("GET", &format!("/20200501/workRequests/{id}"), None)
        .await;
    assert_eq!(resp.status(), 200);
    json(resp).await
}

async fn create(t: &TestSim, body: Value) -> String {
    let resp = t.oci("POST", &backends(t), Some(body)).await;
    assert_eq!(resp.status(), 202, "{:?}", resp.text().await);
    let id = resp.headers()["opc-work-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(resp.bytes().await.unwrap().is_empty());
    id
}

async fn items(t: &TestSim, query: &str) -> (Vec<String>, Option<String>) {
    let resp = t.oci("GET", &format!("{}{query}", backends(t)), None).await;
    assert_eq!(resp.status(), 200);
    let next = resp
        .headers()
        .get("opc-next-page")
        .map(|v| v.to_str().unwrap().to_string());
    let body = json(resp).await;
    let names = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect();
    (names, next)
}

#[tokio::test]
async fn a_backend_is_created_by_a_work_request_and_the_nlb_is_updating_meanwhile() {
    let t = TestSim::start().await;
    let n = json(t.oci("GET", &nlb(&t), None).await).await;
    assert_eq!(n["lifecycleState"], "ACTIVE");
    assert_eq!(n["backendSets"]["web"]["backends"], json!([]));

    let wr = create(
        &t,
        json!({"ipAddress": "10.0.0.70", "port": 8080, "weight": 1, "isDrain": false, "isBackup": false, "isOffline": false}),
    )
    .await;
    let w = work_request(&t, &wr).await;
    assert_eq!(w["status"], "ACCEPTED");
    assert_eq!(w["operationType"], "CREATE_BACKEND");
    assert_eq!(w["percentComplete"], 0.0);
    assert_eq!(
        w["resources"][0]["identifier"],
        t.sim.network_load_balancer_id().as_str()
    );
    assert_eq!(
        json(t.oci("GET", &nlb(&t), None).await).await["lifecycleState"],
        "UPDATING"
    );

    // A second mutation while the first runs is refused, synchronously.
    let resp = t
        .oci(
            "POST",
            &backends(&t),
            Some(json!({"ipAddress": "10.0.0.71", "port": 8080})),
        )
        .await;
    let msg = assert_oci_error(resp, 409, "Conflict").await;
    assert_eq!(
        msg,
        "Invalid State Transition of NLB lifeCycle state from Updating to Updating"
    );
    assert!(items(&t, "").await.0.is_empty(), "not applied yet");

    t.advance(1.5).await;
    let w = work_request(&t, &wr).await;
    assert_eq!(w["status"], "IN_PROGRESS");
    assert!(w["timeStarted"].is_string());
    t.advance(3.0).await;
    let w = work_request(&t, &wr).await;
    assert_eq!(w["status"], "SUCCEEDED");
    assert_eq!(w["percentComplete"], 100.0);
    assert_eq!(w["resources"][0]["actionType"], "CREATED");
    assert_eq!(items(&t, "").await.0, ["10.0.0.70:8080"]);
    assert_eq!(
        json(t.oci("GET", &nlb(&t), None).await).await["lifecycleState"],
        "ACTIVE"
    );

    // A duplicate is refused at once.
    let resp = t
        .oci(
            "POST",
            &backends(&t),
            Some(json!({"ipAddress": "10.0.0.70", "port": 8080})),
        )
        .await;
    assert_oci_error(resp, 409, "NotAuthorizedOrResourceAlreadyExists").await;
}

#[tokio::test]
async fn updates_are_partial_and_deletes_remove() {
    let t = TestSim::start().await;
    create(
        &t,
        json!({"ipAddress": "10.0.0.72", "port": 80, "weight": 2}),
    )
    .await;
    t.advance(5.0).await;
    let path = format!("{}/10.0.0.72%3A80", backends(&t));
    let resp = t.oci("PUT", &path, Some(json!({"isDrain": true}))).await;
    assert_eq!(resp.status(), 202);
    let wr = resp.headers()["opc-work-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    t.advance(5.0).await;
    assert_eq!(
        work_request(&t, &wr).await["operationType"],
        "UPDATE_BACKEND"
    );
    let b = json(t.oci("GET", &path, None).await).await;
    assert_eq!(b["isDrain"], true);
    assert_eq!(b["weight"], 2, "untouched fields stay");
    assert_eq!(b["isOffline"], false);

    let resp = t.oci("DELETE", &path, None).await;
    assert_eq!(resp.status(), 202);
    t.advance(5.0).await;
    assert!(items(&t, "").await.0.is_empty());
    assert_oci_error(
        t.oci("GET", &path, None).await,
        404,
        "NotAuthorizedOrNotFound",
    )
    .await;
}

#[tokio::test]
async fn list_backends_pages_with_items() {
    let t = TestSim::start().await;
    for n in 0..3 {
        create(&t, json!({"ipAddress": format!("10.0.0.8{n}"), "port": 80})).await;
        t.advance(5.0).await;
    }
    let (page1, next) = items(&t, "?limit=2").await;
    assert_eq!(page1, ["10.0.0.80:80", "10.0.0.81:80"]);
    let (page2, none) = items(&t, &format!("?limit=2&page={}", next.unwrap())).await;
    assert_eq!(page2, ["10.0.0.82:80"]);
    assert!(none.is_none());
    let (desc, _) = items(&t, "?sortBy=displayName&sortOrder=DESC").await;
    assert_eq!(desc, ["10.0.0.82:80", "10.0.0.81:80", "10.0.0.80:80"]);
}

#[tokio::test]
async fn forced_failures_show_in_status_and_errors() {
    let t = TestSim::start().await;
    t.admin("POST", "/_sim/nlb/fail-next", Some(json!({"count": 1})))
        .await;
    let wr = create(&t, json!({"ipAddress": "10.0.0.90", "port": 80})).await;
    t.advance(5.0).await;
    assert_eq!(work_request(&t, &wr).await["status"], "FAILED");
    let errors = json(
        t.oci("GET", &format!("/20200501/workRequests/{wr}/errors"), None)
            .await,
    )
    .await;
    assert!(
        errors["items"][0]["message"]
            .as_str()
            .unwrap()
            .contains("fail-next")
    );
    assert!(items(&t, "").await.0.is_empty());
}

#[tokio::test]
async fn a_target_id_backend_follows_its_instance() {
    let t = TestSim::start().await;
    let (id, ip) = running_instance(&t, "n").await;
    create(&t, json!({"targetId": id, "port": 8080})).await;
    t.advance(4.5).await;
    let name = format!("{id}:8080");
    let (names, _) = items(&t, "").await;
    assert_eq!(names, std::slice::from_ref(&name));
    let b = json(
        t.oci("GET", &format!("{}/{name}", backends(&t)), None)
            .await,
    )
    .await;
    assert_eq!(
        b["ipAddress"],
        ip.as_str(),
        "the instance's private IP is filled in"
    );
    assert_eq!(b["targetId"], id.as_str());
    let health_path = format!("{}/{name}/health", backends(&t));
    assert_eq!(
        json(t.oci("GET", &health_path, None).await).await["status"],
        "UNKNOWN"
    );
    t.advance(10.0).await;
    let h = json(t.oci("GET", &health_path, None).await).await;
    assert_eq!(h["status"], "OK");
    assert_eq!(h["healthCheckResults"][0]["healthCheckStatus"], "OK");
    let set = json(
        t.oci("GET", &format!("{}/backendSets/web/health", nlb(&t)), None)
            .await,
    )
    .await;
    assert_eq!(set["status"], "OK");
    assert_eq!(set["totalBackendCount"], 1);

    let resp = t
        .oci(
            "POST",
            &backends(&t),
            Some(json!({"targetId": "ocid1.instance.oc1.iad.nope", "port": 1})),
        )
        .await;
    assert_oci_error(resp, 400, "RelatedResourceNotAuthorizedOrNotFound").await;
    let resp = t.oci("POST", &backends(&t), Some(json!({"port": 1}))).await;
    assert_oci_error(resp, 400, "MissingParameter").await;
}

#[tokio::test]
async fn get_network_load_balancer_with_the_current_etag_is_not_modified() {
    let t = TestSim::start().await;
    let resp = t.oci("GET", &nlb(&t), None).await;
    assert_eq!(resp.status(), 200);
    let etag = resp.headers()["etag"].to_str().unwrap().to_string();
    for sent in [etag.clone(), format!("\"{etag}\"")] {
        let resp = t
            .oci_with("GET", &nlb(&t), None, &[("if-none-match", &sent)])
            .await
            .unwrap();
        assert_eq!(resp.status(), 304, "{sent}");
        assert_eq!(resp.headers()["etag"], etag.as_str());
        assert!(resp.bytes().await.unwrap().is_empty());
    }
    let resp = t
        .oci_with(
            "GET",
            &nlb(&t),
            None,
            &[("if-none-match", "some-other-etag")],
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["displayName"], "fleet-nlb");

    // Once a work request changed the NLB, the old etag gets the new document.
    let wr = create(&t, json!({"ipAddress": "10.0.0.9", "port": 8080})).await;
    t.advance(5.0).await;
    assert_eq!(work_request(&t, &wr).await["status"], "SUCCEEDED");
    let resp = t
        .oci_with("GET", &nlb(&t), None, &[("if-none-match", &etag)])
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_ne!(resp.headers()["etag"], etag.as_str());
}

#[tokio::test]
async fn a_backend_update_with_a_stale_etag_is_refused() {
    let t = TestSim::start().await;
    create(&t, json!({"ipAddress": "10.0.0.74", "port": 80})).await;
    t.advance(5.0).await;
    backends_carry_the_load_balancer_etag(
        &t,
        &nlb(&t),
        &format!("{}/10.0.0.74%3A80", backends(&t)),
        json!({"isDrain": true}),
        202,
    )
    .await;
}
