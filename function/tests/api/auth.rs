//! Mutations need the bearer token; reads do not.

use crate::support::{Api, TOKEN};

const MUTATIONS: &[&str] = &[
    "/scale",
    "/rolling-restart",
    "/sync-state",
    "/pause",
    "/resume",
    "/abort",
    "/reconcile",
];

#[tokio::test]
async fn every_mutation_without_the_token_or_with_a_wrong_one_is_401_and_changes_nothing() {
    let api = Api::start().await;
    let body = r#"{"desired":4}"#;
    for path in MUTATIONS {
        let body = if *path == "/scale" { body } else { "" };
        for token in [None, Some("wrong-token-0123456789"), Some("")] {
            let a = api.post_raw(path, token, body).await;
            a.error(401, "unauthorized");
            assert_eq!(a.headers["www-authenticate"], "Bearer", "{path}");
        }
        // Another scheme with the right token is no bearer token.
        let r = axum::http::Request::post(*path)
            .header("authorization", format!("Basic {TOKEN}"))
            .body(axum::body::Body::from(body))
            .unwrap();
        api.send(r).await.error(401, "unauthorized");
    }
    let m = api.get("/metrics").await.json();
    assert_eq!(m["scaleQueue"], serde_json::json!([]));
    assert_eq!(m["operation"], serde_json::json!(null));
    assert!(api.sim.calls("LaunchInstance").is_empty());
}

#[tokio::test]
async fn the_token_is_checked_before_the_body_is_read() {
    let api = Api::start().await;
    let big = vec![b'x'; fleetctl_function::MAX_BODY_BYTES * 2];
    api.post_raw("/scale", None, big)
        .await
        .error(401, "unauthorized");
    api.post_raw("/scale", None, "{not json")
        .await
        .error(401, "unauthorized");
}

#[tokio::test]
async fn reads_need_no_token() {
    let api = Api::start().await;
    for path in [
        "/",
        "/healthz",
        "/status",
        "/metrics",
        "/control",
        "/events",
        "/openapi.json",
    ] {
        assert_eq!(api.get(path).await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn no_cors_header_is_sent_even_to_a_foreign_origin() {
    let api = Api::start().await;
    let r = axum::http::Request::get("/metrics")
        .header("origin", "https://evil.example")
        .body(axum::body::Body::empty())
        .unwrap();
    let a = api.send(r).await;
    assert!(
        !a.headers
            .keys()
            .any(|k| k.as_str().starts_with("access-control-")),
        "{:?}",
        a.headers
    );
    let r = axum::http::Request::options("/scale")
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .body(axum::body::Body::empty())
        .unwrap();
    let a = api.send(r).await;
    a.error(405, "method_not_allowed");
    assert!(
        !a.headers
            .keys()
            .any(|k| k.as_str().starts_with("access-control-"))
    );
}
