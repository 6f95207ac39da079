//! Every route answers with its documented status and body.

use serde_json::json;

use crate::support::Api;

#[tokio::test]
async fn healthz_says_ok_the_version_and_that_mutations_need_a_token() {
    let api = Api::start().await;
    let a = api.get("/healthz").await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json(),
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "tokenRequired": true})
    );
}

#[tokio::test]
async fn the_root_serves_the_dashboard_and_its_wasm() {
    let api = Api::start().await;
    let a = api.get("/").await;
    assert_eq!(a.status, 200);
    assert!(a.content_type().starts_with("text/html"));
    assert_eq!(a.headers["cache-control"], "no-cache");
    let page = a.text();
    // The page loads its content-hashed script and wasm by relative URLs, served by the same
    // router beside the API.
    let wasm = page
        .split('"')
        .find(|s| s.starts_with("./") && s.ends_with("_bg.wasm"))
        .unwrap_or_else(|| panic!("no wasm in {page}"));
    let w = api.get(&wasm[1..]).await;
    assert_eq!(w.status, 200, "{wasm}");
    assert_eq!(w.content_type(), "application/wasm");
    assert!(w.body.starts_with(b"\0asm"));
}

#[tokio::test]
async fn metrics_control_and_events_come_from_the_ledger_without_calling_oci() {
    let api = Api::start().await;
    api.sim.clear_requests().await;
    let m = api.get("/metrics").await;
    assert_eq!(m.status, 200);
    assert!(m.content_type().starts_with("application/json"));
    let m = m.json();
    assert_eq!(
        (
            m["fleet"].clone(),
            m["desired"].clone(),
            m["actual"].clone()
        ),
        (json!("demo"), json!(3), json!(0))
    );
    assert_eq!(m["phase"], "done");
    let c = api.get("/control").await.json();
    assert_eq!(c["target"], 3);
    assert_eq!(c["drift"], json!({"kind": "shortfall", "missing": 3}));
    assert_eq!(c["lastError"], json!(null));
    let e = api.get("/events").await.json();
    assert_eq!(e, json!({"events": [], "capacity": 200}));
    assert!(
        api.sim.requests().is_empty(),
        "no OCI call for the read-only routes: {:?}",
        api.sim.requests()
    );
}

#[tokio::test]
async fn metrics_speak_prometheus_text_when_a_scrape_asks_for_it() {
    let api = Api::start().await;
    let a = api
        .get_as(
            "/metrics",
            Some("application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type(), "text/plain; version=0.0.4; charset=utf-8");
    let text = a.text();
    assert!(
        text.contains("# TYPE fleetctl_desired_instances gauge\n"),
        "{text}"
    );
    assert!(
        text.contains("fleetctl_desired_instances{fleet=\"demo\"} 3\n"),
        "{text}"
    );
    assert!(
        text.contains("fleetctl_group_count{fleet=\"demo\",group=\"web\"} 3\n"),
        "{text}"
    );
    assert!(
        text.contains("fleetctl_outdated_instances{fleet=\"demo\"} 0\n"),
        "{text}"
    );
    // Every sample line is `name{labels} value`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
}

#[tokio::test]
async fn status_is_the_cli_text_or_its_json() {
    let api = Api::start().await;
    let text = api.get("/status").await;
    assert_eq!(text.status, 200);
    assert!(text.content_type().starts_with("text/plain"));
    assert!(
        text.text()
            .starts_with("Fleet demo: 0 of 3 desired instances in OCI"),
        "{}",
        text.text()
    );
    let json = api.get_as("/status", Some("application/json")).await;
    assert_eq!(json.status, 200);
    let j = json.json();
    assert_eq!(j["fleet"], "demo");
    assert_eq!(j["inSync"], false);
}

#[tokio::test]
async fn status_observes_oci_at_most_once_per_cache_period() {
    let api = Api::start_with(fleetctl_function::Options {
        refresh_every: std::time::Duration::ZERO,
        status_ttl: std::time::Duration::from_secs(600),
    })
    .await;
    assert_eq!(api.get("/status").await.status, 200);
    api.sim.clear_requests().await;
    for _ in 0..5 {
        assert_eq!(api.get("/status").await.status, 200);
    }
    assert!(api.sim.requests().is_empty(), "{:?}", api.sim.requests());
}

#[tokio::test]
async fn scale_is_queued_and_shows_in_metrics_and_events() {
    let api = Api::start().await;
    let a = api.post("/scale", Some(json!({"desired": 5}))).await;
    assert_eq!(a.status, 202, "{}", a.text());
    let id = a.json()["operationId"].as_str().unwrap().to_string();
    assert_eq!(a.json()["message"], "scale to 5 queued");
    let m = api.get("/metrics").await.json();
    assert_eq!(m["scaleQueue"], json!([5]));
    let e = api.get("/events").await.json();
    let last = e["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["message"], "scale to 5 queued");
    assert_eq!(last["operation"], id.as_str());
    assert_eq!(last["id"], 1);
    // Zero is a valid total (no instance); the cap is 10,000.
    assert_eq!(
        api.post("/scale", Some(json!({"desired": 0}))).await.status,
        202
    );
    assert_eq!(
        api.post("/scale", Some(json!({"desired": 10000})))
            .await
            .status,
        202
    );
}

#[tokio::test]
async fn sync_state_then_pause_resume_and_abort_act_on_the_operation() {
    let api = Api::start().await;
    let a = api.post("/sync-state", None).await;
    assert_eq!(a.status, 202, "{}", a.text());
    let id = a.json()["operationId"].clone();
    // A second one is refused while the first runs.
    api.post("/sync-state", None).await.error(409, "conflict");
    api.post("/rolling-restart", None)
        .await
        .error(409, "conflict");
    let p = api.post("/pause", Some(json!({"reason": "lunch"}))).await;
    assert_eq!(p.status, 200, "{}", p.text());
    assert_eq!(p.json()["operationId"], id);
    let m = api.get("/metrics").await.json();
    assert_eq!(m["operationStatus"], "paused");
    assert_eq!(m["pausedReason"], "lunch");
    api.post("/pause", None).await.error(409, "conflict");
    let r = api.post("/resume", None).await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(
        api.get("/metrics").await.json()["operationStatus"],
        "running"
    );
    api.post("/resume", None).await.error(409, "conflict");
    let ab = api.post("/abort", None).await;
    assert_eq!(ab.status, 202, "{}", ab.text());
    assert_eq!(ab.json()["operationId"], id);
}

#[tokio::test]
async fn nothing_to_pause_resume_or_abort_is_a_conflict() {
    let api = Api::start().await;
    for path in ["/pause", "/resume", "/abort"] {
        let e = api.post(path, None).await.error(409, "conflict");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .starts_with("no operation is"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn a_rolling_restart_takes_its_strategy_from_the_body_or_the_fleet_file() {
    let api = Api::start().await;
    let a = api
        .post("/rolling-restart", Some(json!({"strategy": "reboot"})))
        .await;
    assert_eq!(a.status, 202, "{}", a.text());
    assert_eq!(api.get("/metrics").await.json()["strategy"], "reboot");
    api.post("/abort", None).await;
    api.post("/reconcile", None).await;
    let a = api.post("/rolling-restart", None).await;
    assert_eq!(a.status, 202, "{}", a.text());
    assert_eq!(api.get("/metrics").await.json()["strategy"], "replace");
    api.post("/rolling-restart", Some(json!({"strategy": "sideways"})))
        .await
        .error(422, "invalid_request");
}

#[tokio::test]
async fn reconcile_runs_one_bounded_step_and_the_fleet_converges() {
    let api = Api::start().await;
    let a = api.post("/reconcile", None).await;
    assert_eq!(a.status, 200, "{}", a.text());
    let r = a.json();
    assert_eq!(r["operationStatus"], "running", "{r}");
    assert!(
        r["did"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("launch")),
        "{r}"
    );
    fleetctl_testkit::eventually("the fleet runs 3 behind the LB", || async {
        let a = api.post("/reconcile", None).await;
        let m = api.get("/metrics").await.json();
        (m["lbBackends"] == 3 && m["operationStatus"] == "succeeded")
            .then_some(())
            .ok_or((a.text(), m))
    })
    .await;
    let c = api.get("/control").await.json();
    assert_eq!(
        (c["actual"].clone(), c["drift"].clone()),
        (json!(3), json!(null))
    );
    // A step that leaves nothing in progress hands the lease back, so another function
    // container or a CLI does not wait for it to expire.
    let a = api.post("/reconcile", None).await.json();
    assert_eq!(a["requeueAfterMs"], json!(null), "{a}");
    let ctx = api.state.context();
    let (ledger, _) = fleetctl_core::ops::read(ctx).await.unwrap().unwrap();
    let now = ctx.cloud.client.clock().now();
    assert!(
        !ledger.lease.is_held_by(&ctx.holder, now),
        "the lease is still held after an idle step: {:?}",
        ledger.lease
    );
}

#[tokio::test]
async fn reconcile_with_a_spent_deadline_makes_no_call() {
    let api = Api::start().await;
    let mut request = axum::http::Request::post("/reconcile")
        .header("authorization", format!("Bearer {}", crate::support::TOKEN))
        .body(axum::body::Body::empty())
        .unwrap();
    request
        .extensions_mut()
        .insert(fleetctl_function::StepDeadline(std::time::Instant::now()));
    let a = api.send(request).await;
    assert_eq!(a.status, 200, "{}", a.text());
    let r = a.json();
    assert!(
        r["did"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("out of time")),
        "{r}"
    );
    assert_eq!(r["requeueAfterMs"], 0);
    assert!(api.sim.calls("LaunchInstance").is_empty());
}

#[tokio::test]
async fn unknown_routes_and_methods_get_the_error_shape() {
    let api = Api::start().await;
    api.get("/nope").await.error(404, "not_found");
    api.get("/scale").await.error(405, "method_not_allowed");
    api.post_raw("/metrics", None, "")
        .await
        .error(405, "method_not_allowed");
}

#[tokio::test]
async fn a_request_id_from_a_gateway_is_kept_and_a_bad_one_replaced() {
    let api = Api::start().await;
    let r = axum::http::Request::get("/nope")
        .header("opc-request-id", "GW-1234/abc")
        .body(axum::body::Body::empty())
        .unwrap();
    let a = api.send(r).await;
    assert_eq!(a.error(404, "not_found")["requestId"], "GW-1234/abc");
    let r = axum::http::Request::get("/healthz")
        .header("x-request-id", "has space")
        .body(axum::body::Body::empty())
        .unwrap();
    let a = api.send(r).await;
    let id = a.headers["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 16, "{id}");
}

#[tokio::test]
async fn sync_state_can_adopt_untagged_instances() {
    let api = Api::start().await;
    let a = api
        .post("/sync-state", Some(json!({"adoptUntagged": true})))
        .await;
    assert_eq!(a.status, 202, "{}", a.text());
    let (ledger, _) = api.state.fleet().ledger().await.unwrap().unwrap();
    assert_eq!(
        ledger.operation.unwrap().kind,
        fleetctl_core::store::ledger::OperationKind::SyncState {
            adopt_untagged: true
        }
    );
    let e = api
        .post("/sync-state", Some(json!({"adopt": true})))
        .await
        .error(422, "invalid_request");
    assert_eq!(e["field"], "adopt");
}

#[tokio::test]
async fn rollout_routes_plan_record_undo_and_show_the_history_through_the_api_door() {
    let api = Api::start().await;
    // Bring the fleet up (the control loop's repair), then a rollout has nothing to do.
    for _ in 0..400 {
        api.post("/reconcile", None).await;
        let m = api.get("/metrics").await.json();
        if m["operationStatus"] == "succeeded" && m["actual"] == m["desired"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let plan = api.post("/rollout", Some(json!({"dryRun": true}))).await;
    assert_eq!(plan.status, 200, "{}", plan.text());
    assert_eq!(plan.json()["replace"], json!([]), "{}", plan.text());
    assert_eq!(plan.json()["revision"], 1);
    let a = api.post("/rollout", None).await;
    assert_eq!(a.status, 202, "{}", a.text());
    let id = a.json()["operationId"].as_str().unwrap().to_string();
    let m = api.get("/metrics").await.json();
    assert_eq!(m["rollout"]["update"], "rollout");
    assert_eq!(m["rollout"]["revision"], 1);
    assert_eq!(m["outdated"], 0);
    api.post("/reconcile", None).await;
    let h = api.get("/rollout/history").await;
    assert_eq!(h.status, 200, "{}", h.text());
    let h = h.json();
    assert_eq!(h["revisions"][0]["number"], 1);
    assert_eq!(h["revisions"][0]["current"], true);
    let newest = &h["operations"][0];
    assert_eq!(newest["id"], id.as_str(), "{h}");
    assert_eq!(newest["update"], "rollout");
    assert_eq!(newest["status"], "succeeded");
    assert_eq!(newest["door"], "api");
    // No earlier revision to undo to; an unknown one is refused too.
    api.post("/rollout/undo", None).await.error(409, "conflict");
    let e = api
        .post("/rollout/undo", Some(json!({"toRevision": 7})))
        .await
        .error(409, "conflict");
    assert!(e["message"].as_str().unwrap().contains("revision 7"), "{e}");
    api.post("/rollout/undo", Some(json!({"toRevision": "one"})))
        .await
        .error(422, "invalid_request");
    // Mutations need the token.
    assert_eq!(api.post_raw("/rollout", None, "").await.status, 401);
}
