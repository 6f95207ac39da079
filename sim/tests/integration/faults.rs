//! Fault injection as a client sees it: OCI error bodies, counted faults, latency, and
//! connections closed before or after the operation.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::common::{TestSim, assert_oci_error, json};

async fn add_fault(t: &TestSim, spec: serde_json::Value) -> String {
    let resp = t.admin("POST", "/_sim/faults", Some(spec)).await;
    assert_eq!(resp.status(), 201);
    json(resp).await["id"].as_str().unwrap().to_string()
}

fn user_path(t: &TestSim) -> String {
    format!("/20160918/users/{}", t.sim.user_id())
}

async fn description(t: &TestSim) -> String {
    let resp = t
        .signed(&t.api_key_signer(), "GET", &user_path(t), None)
        .await;
    json(resp).await["description"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn status_fault_answers_with_oci_error_for_count_requests_then_stops() {
    let t = TestSim::start().await;
    add_fault(
        &t,
        json!({"operation": "GetUser", "status": 429, "count": 2}),
    )
    .await;
    let signer = t.api_key_signer();
    for _ in 0..2 {
        let resp = t.signed(&signer, "GET", &user_path(&t), None).await;
        let msg = assert_oci_error(resp, 429, "TooManyRequests").await;
        assert_eq!(msg, "Too many requests for the user");
    }
    assert_eq!(
        t.signed(&signer, "GET", &user_path(&t), None)
            .await
            .status(),
        200
    );
    // Other operations were never affected.
    let path = format!("/20160918/tenancies/{}", t.sim.tenancy_id());
    assert_eq!(t.signed(&signer, "GET", &path, None).await.status(), 200);
    let faults = json(t.admin("GET", "/_sim/faults", None).await).await;
    assert_eq!(faults[0]["hits"], 2);
    assert_eq!(faults[0]["remaining"], 0);
}

#[tokio::test]
async fn status_fault_uses_oci_codes_or_the_given_ones() {
    let t = TestSim::start().await;
    add_fault(
        &t,
        json!({"pathPrefix": "/20160918/regions", "status": 503, "count": 1}),
    )
    .await;
    let resp = t
        .client
        .get(t.url("/20160918/regions"))
        .send()
        .await
        .unwrap();
    assert_oci_error(resp, 503, "ServiceUnavailable").await;
    add_fault(
        &t,
        json!({"method": "get", "pathPrefix": "/20160918/regions", "status": 500,
               "code": "InternalError", "message": "Out of host capacity.", "count": 1}),
    )
    .await;
    let resp = t
        .client
        .get(t.url("/20160918/regions"))
        .send()
        .await
        .unwrap();
    let msg = assert_oci_error(resp, 500, "InternalError").await;
    assert_eq!(msg, "Out of host capacity.");
}

#[tokio::test]
async fn drop_before_closes_the_connection_without_performing_the_operation() {
    let t = TestSim::start().await;
    add_fault(
        &t,
        json!({"operation": "UpdateUser", "drop": "before", "count": 1}),
    )
    .await;
    let err = t
        .try_signed(
            &t.api_key_signer(),
            "PUT",
            &user_path(&t),
            Some(r#"{"description":"dropped-before"}"#),
        )
        .await
        .unwrap_err();
    assert!(
        err.status().is_none(),
        "a dropped connection has no status: {err}"
    );
    assert!(
        err.is_request() || err.is_connect(),
        "not a connection error: {err:?}"
    );
    assert_ne!(description(&t).await, "dropped-before", "the operation ran");
    let log = t.sim.requests();
    let entry = log
        .iter()
        .find(|e| e.operation.as_deref() == Some("UpdateUser"))
        .unwrap();
    assert_eq!(entry.dropped.as_deref(), Some("before"));
    assert_eq!(entry.status, None);
}

#[tokio::test]
async fn drop_after_performs_the_operation_then_closes_the_connection() {
    let t = TestSim::start().await;
    add_fault(
        &t,
        json!({"operation": "UpdateUser", "drop": "after", "count": 1}),
    )
    .await;
    let err = t
        .try_signed(
            &t.api_key_signer(),
            "PUT",
            &user_path(&t),
            Some(r#"{"description":"dropped-after"}"#),
        )
        .await
        .unwrap_err();
    assert!(
        err.status().is_none(),
        "a dropped connection has no status: {err}"
    );
    assert_eq!(
        description(&t).await,
        "dropped-after",
        "the operation did not run"
    );
    let log = t.sim.requests();
    let entry = log
        .iter()
        .find(|e| e.operation.as_deref() == Some("UpdateUser"))
        .unwrap();
    assert_eq!(entry.dropped.as_deref(), Some("after"));
    assert_eq!(entry.status, Some(200));
}

#[tokio::test]
async fn mid_body_drop_performs_the_operation_and_breaks_the_body_off() {
    let t = TestSim::start().await;
    add_fault(
        &t,
        json!({"operation": "UpdateUser", "drop": "midBody", "count": 1}),
    )
    .await;
    let resp = t
        .try_signed(
            &t.api_key_signer(),
            "PUT",
            &user_path(&t),
            Some(r#"{"description":"mid-body"}"#),
        )
        .await
        .expect("the status and headers arrive");
    assert_eq!(resp.status(), 200);
    let declared = resp.content_length().unwrap();
    assert!(declared > 2, "{declared}");
    assert!(resp.bytes().await.is_err(), "the body breaks off");
    assert_eq!(
        description(&t).await,
        "mid-body",
        "the operation did not run"
    );
    let log = t.sim.requests();
    let entry = log
        .iter()
        .find(|e| e.operation.as_deref() == Some("UpdateUser"))
        .unwrap();
    assert_eq!(entry.dropped.as_deref(), Some("midBody"));
    assert_eq!(entry.status, Some(200));
}

#[tokio::test]
async fn pad_body_bytes_appends_whitespace_and_chunked_hides_the_length() {
    let t = TestSim::start().await;
    let plain = t
        .signed(&t.api_key_signer(), "GET", &user_path(&t), None)
        .await
        .bytes()
        .await
        .unwrap();
    add_fault(
        &t,
        json!({"operation": "GetUser", "padBodyBytes": 200000, "count": 1}),
    )
    .await;
    add_fault(
        &t,
        json!({"operation": "GetUser", "padBodyBytes": 10, "chunked": true, "count": 1}),
    )
    .await;
    let resp = t
        .signed(&t.api_key_signer(), "GET", &user_path(&t), None)
        .await;
    assert_eq!(resp.content_length(), Some(plain.len() as u64 + 200_000));
    let padded = resp.bytes().await.unwrap();
    assert_eq!(padded.len(), plain.len() + 200_000);
    assert_eq!(&padded[..plain.len()], &plain[..]);
    assert!(padded[plain.len()..].iter().all(|b| *b == b' '));
    let v: serde_json::Value = serde_json::from_slice(&padded).unwrap();
    assert_eq!(v["id"], t.sim.user_id().to_string());

    let resp = t
        .signed(&t.api_key_signer(), "GET", &user_path(&t), None)
        .await;
    assert_eq!(resp.content_length(), None, "chunked: no content-length");
    assert_eq!(
        resp.headers()["transfer-encoding"].to_str().unwrap(),
        "chunked"
    );
    assert_eq!(resp.bytes().await.unwrap().len(), plain.len() + 10);
}

#[tokio::test]
async fn dropped_connection_sends_no_bytes_at_all() {
    let t = TestSim::start().await;
    add_fault(
        &t,
        json!({"pathPrefix": "/20160918/regions", "drop": "before"}),
    )
    .await;
    let mut stream = tokio::net::TcpStream::connect(t.sim.local_addr())
        .await
        .unwrap();
    let req = format!(
        "GET /20160918/regions HTTP/1.1\r\nHost: {}\r\n\r\n",
        t.host()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf))
        .await
        .expect("the server neither answered nor closed");
    // A reset or an orderly close, but never an HTTP response.
    if read.is_ok() {
        assert!(
            buf.is_empty(),
            "got bytes: {:?}",
            String::from_utf8_lossy(&buf)
        );
    }
}

#[tokio::test]
async fn latency_fault_delays_the_answer() {
    let t = TestSim::start().await;
    add_fault(
        &t,
        json!({"operation": "ListRegions", "latencyMs": 300, "count": 1}),
    )
    .await;
    let started = Instant::now();
    let resp = t
        .client
        .get(t.url("/20160918/regions"))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    // Latency alone does not change the answer (here: unsigned, so 401).
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn probability_zero_never_fires_and_one_always_does() {
    let t = TestSim::start().await;
    add_fault(
        &t,
        json!({"operation": "ListRegions", "status": 500, "probability": 0.0}),
    )
    .await;
    add_fault(
        &t,
        json!({"operation": "ListRegions", "status": 503, "probability": 1.0}),
    )
    .await;
    for _ in 0..5 {
        let resp = t
            .client
            .get(t.url("/20160918/regions"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 503);
    }
}

async fn pattern(seed: u64) -> Vec<u16> {
    let t = TestSim::start_with(|c| c.seed = Some(seed)).await;
    add_fault(
        &t,
        json!({"operation": "ListRegions", "status": 503, "probability": 0.5}),
    )
    .await;
    let mut out = Vec::new();
    for _ in 0..24 {
        out.push(
            t.client
                .get(t.url("/20160918/regions"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    out
}

#[tokio::test]
async fn probability_follows_the_seed() {
    let a = pattern(7).await;
    assert_eq!(a, pattern(7).await);
    assert!(
        a.contains(&503) && a.contains(&401),
        "p=0.5 over 24 requests: {a:?}"
    );
}

#[tokio::test]
async fn faults_can_be_listed_deleted_and_cleared() {
    let t = TestSim::start().await;
    let id = add_fault(&t, json!({"operation": "ListRegions", "status": 500})).await;
    add_fault(&t, json!({"operation": "GetUser", "status": 500})).await;
    assert_eq!(
        json(t.admin("GET", "/_sim/faults", None).await)
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        t.admin("DELETE", &format!("/_sim/faults/{id}"), None)
            .await
            .status(),
        204
    );
    let resp = t
        .client
        .get(t.url("/20160918/regions"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "the deleted fault still fired");
    let resp = t.admin("DELETE", &format!("/_sim/faults/{id}"), None).await;
    assert_oci_error(resp, 404, "NotFound").await;
    assert_eq!(t.admin("DELETE", "/_sim/faults", None).await.status(), 204);
    assert_eq!(
        json(t.admin("GET", "/_sim/faults", None).await).await,
        json!([])
    );
}

#[tokio::test]
async fn nonsense_faults_are_refused_with_the_reason() {
    let t = TestSim::start().await;
    for (spec, needle) in [
        (json!({"operation": "GetUser"}), "effect"),
        (json!({"operation": "NoSuchOp", "status": 500}), "NoSuchOp"),
        (json!({"status": 200}), "400 to 599"),
        (json!({"status": 500, "probability": 2}), "probability"),
        (json!({"status": 500, "count": 0}), "count"),
        (json!({"status": 500, "drop": "after"}), "drop"),
        (json!({"padBodyBytes": 10, "drop": "before"}), "no body"),
        (json!({"padBodyBytes": 2_000_000_000u64}), "padBodyBytes"),
        (json!({"chunked": false}), "effect"),
    ] {
        let resp = t.admin("POST", "/_sim/faults", Some(spec.clone())).await;
        let msg = assert_oci_error(resp, 400, "InvalidParameter").await;
        assert!(msg.contains(needle), "{spec}: {msg}");
    }
    let resp = t
        .admin("POST", "/_sim/faults", Some(json!({"stauts": 500})))
        .await;
    let msg = assert_oci_error(resp, 400, "CannotParseRequest").await;
    assert!(msg.contains("stauts"), "{msg}");
}

#[tokio::test]
async fn admin_calls_are_never_faulted() {
    let t = TestSim::start().await;
    add_fault(&t, json!({"pathPrefix": "/", "drop": "before"})).await;
    assert_eq!(t.admin("GET", "/_sim/faults", None).await.status(), 200);
    assert!(
        t.client
            .get(t.url("/20160918/regions"))
            .send()
            .await
            .is_err()
    );
}
