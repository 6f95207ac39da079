//! What the client sent wrong is 4xx naming it; the shape is always the same.

use serde_json::json;

use crate::support::{Api, TOKEN};

#[tokio::test]
async fn a_body_over_16_kib_is_413() {
    let api = Api::start().await;
    let padding = "x".repeat(fleetctl_function::MAX_BODY_BYTES);
    let body = format!(r#"{{"desired":3,"pad":"{padding}"}}"#);
    api.post_raw("/scale", Some(TOKEN), body)
        .await
        .error(413, "payload_too_large");
    // At the limit is read (and then refused for its unknown field).
    let body = format!(
        r#"{{"desired":3,"p":"{}"}}"#,
        "x".repeat(fleetctl_function::MAX_BODY_BYTES - 20)
    );
    assert_eq!(body.len(), fleetctl_function::MAX_BODY_BYTES);
    api.post_raw("/scale", Some(TOKEN), body)
        .await
        .error(422, "invalid_request");
}

#[tokio::test]
async fn malformed_json_is_400_and_a_wrong_shape_422_naming_the_field() {
    let api = Api::start().await;
    for body in ["{", "desired=3", r#"{"desired":3}}"#, "\u{0}"] {
        api.post_raw("/scale", Some(TOKEN), body)
            .await
            .error(400, "malformed_json");
    }
    api.post_raw("/scale", Some(TOKEN), "")
        .await
        .error(400, "malformed_json");
    let cases = [
        (json!({"desired": -1}), "desired"),
        (json!({"desired": "3"}), "desired"),
        (json!({"desired": 2.5}), "desired"),
        (json!({"desired": 4294967296u64}), "desired"),
        (json!({"desired": 10001}), "desired"),
        (json!({"desired": null}), "desired"),
        (json!({}), "desired"),
        (json!({"desired": 3, "extra": true}), "extra"),
    ];
    for (body, field) in cases {
        let e = api
            .post("/scale", Some(body.clone()))
            .await
            .error(422, "invalid_request");
        assert_eq!(e["field"], field, "{body}: {e}");
        assert!(e["message"].as_str().unwrap().contains(field), "{e}");
    }
    let e = api
        .post("/scale", Some(json!([3])))
        .await
        .error(422, "invalid_request");
    assert_eq!(e["field"], json!(null), "{e}");
    let e = api
        .post("/pause", Some(json!({"reason": ""})))
        .await
        .error(422, "invalid_request");
    assert_eq!(e["field"], "reason");
    let e = api
        .post("/pause", Some(json!({"reason": "x".repeat(501)})))
        .await
        .error(422, "invalid_request");
    assert_eq!(e["field"], "reason");
    let e = api
        .post("/rolling-restart", Some(json!({"strategy": 1})))
        .await
        .error(422, "invalid_request");
    assert_eq!(e["field"], "strategy");
    api.post_raw("/sync-state", Some(TOKEN), "[")
        .await
        .error(400, "malformed_json");
}

#[tokio::test]
async fn a_body_that_says_it_is_not_json_is_415() {
    let api = Api::start().await;
    let r = axum::http::Request::post("/scale")
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(r#"{"desired":3}"#))
        .unwrap();
    api.send(r).await.error(415, "unsupported_media_type");
    // Without a content type, JSON is read as JSON.
    let r = axum::http::Request::post("/scale")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(axum::body::Body::from(r#"{"desired":3}"#))
        .unwrap();
    assert_eq!(api.send(r).await.status, 202);
}

#[tokio::test]
async fn a_failing_store_is_a_5xx_that_tells_nothing_of_the_server() {
    // A ledger of another fleet in the store: the server's configuration is at fault.
    let api = Api::start().await;
    let other = fleetctl_core::store::ledger::Ledger::new(
        "other".parse().unwrap(),
        time::OffsetDateTime::UNIX_EPOCH,
    );
    api.state.fleet().store().create(&other).await.unwrap();
    let e = api.get("/metrics").await.error(503, "unavailable");
    let m = e["message"].as_str().unwrap();
    assert!(!m.contains("memory://") && !m.contains("other"), "{e}");
    api.post("/scale", Some(json!({"desired": 2})))
        .await
        .error(503, "unavailable");
}
