//! The adapter without a socket: header mapping, routing of invocations, deadlines and the
//! socket statuses, against a small router that echoes what it saw.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::Request as AxumRequest;
use axum::http::HeaderMap as AxumHeaders;
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use serde_json::{Value, json};

use super::*;

/// What a handler saw, as JSON.
fn seen(req: &AxumRequest) -> Value {
    let headers: serde_json::Map<String, Value> = req
        .headers()
        .keys()
        .map(|k| {
            let values: Vec<_> = req
                .headers()
                .get_all(k)
                .iter()
                .map(|v| v.to_str().unwrap_or("?"))
                .collect();
            (k.to_string(), json!(values.join(", ")))
        })
        .collect();
    json!({
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "query": req.uri().query(),
        "headers": headers,
        "deadline": req.extensions().get::<Deadline>().is_some(),
        "event": req.extensions().get::<FnEvent>().map(|e| json!({
            "type": e.event_type, "resource": e.resource_id, "id": e.event_id,
        })),
        "kind": req.extensions().get::<FnCall>().map(|c| json!(c.kind)),
        "call_id": req.extensions().get::<FnCall>().and_then(|c| c.call_id.clone()),
    })
}

fn app(calls: Arc<AtomicUsize>) -> Router {
    let c1 = calls.clone();
    let c2 = calls.clone();
    Router::new()
        .route(
            "/things",
            post(move |req: AxumRequest| async move {
                c1.fetch_add(1, Ordering::SeqCst);
                let body = seen(&req);
                let text = String::from_utf8(
                    axum::body::to_bytes(req.into_body(), 1024)
                        .await
                        .unwrap()
                        .to_vec(),
                )
                .unwrap();
                let mut headers = AxumHeaders::new();
                headers.insert("location", "/things/42".parse().unwrap());
                headers.append("x-many", "a".parse().unwrap());
                headers.append("x-many", "b".parse().unwrap());
                (
                    StatusCode::CREATED,
                    headers,
                    axum::Json(json!({"seen": body, "body": text})),
                )
            }),
        )
        .route(
            "/reconcile",
            post(move |req: AxumRequest| async move {
                c2.fetch_add(1, Ordering::SeqCst);
                axum::Json(seen(&req))
            }),
        )
        .route(
            "/fail",
            any(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response() }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route(
            "/panic",
            get(|| async {
                if std::env::var_os("NEVER_SET_fdk_test").is_none() {
                    panic!("handler bug");
                }
                "unreachable"
            }),
        )
        // As the function's router: the platform's own invocations carry the invoke token.
        .layer(axum::middleware::from_fn_with_state(
            InvokeHeaders::bearer("s3cret-token").unwrap(),
            add_invoke_headers,
        ))
}

fn config() -> FnConfig {
    let mut c = FnConfig::new();
    c.path_prefix = Some("/v1".to_string());
    c
}

async fn call(router: Router, req: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    call_at(router, req, SystemTime::now()).await
}

async fn call_at(
    router: Router,
    req: Request<Body>,
    now: SystemTime,
) -> (StatusCode, HeaderMap, Value) {
    let response = handle(router, &config(), req, now, Instant::now()).await;
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let value =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
    (parts.status, parts.headers, value)
}

fn socket_call() -> http::request::Builder {
    Request::post("/call")
        .header("host", "localhost")
        .header("fn-call-id", "01ES6STAH91BT0G48ZJ00J07ZT")
        .header("opc-request-id", "/32DE/01ES6")
}

fn in_a_minute() -> String {
    let t = time::OffsetDateTime::now_utc() + Duration::from_secs(60);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn a_gateway_call_reaches_the_route_its_method_and_url_name_with_the_client_headers() {
    let calls = Arc::new(AtomicUsize::new(0));
    let req = socket_call()
        .header("content-type", "application/json")
        .header("fn-intent", "httprequest")
        .header("fn-deadline", in_a_minute())
        .header("fn-http-method", "POST")
        .header("fn-http-request-url", "/v1/things?key1=value1")
        .header(
            "fn-http-h-host",
            "xxxx.apigateway.us-phoenix-1.oci.customer-oci.com",
        )
        .header("fn-http-h-content-type", "application/json")
        .header("fn-http-h-x-myheader1", "one")
        .header("fn-http-h-x-myheader1", "two")
        .header("content-length", "16")
        .body(Body::from(r#"{"key1":"value"}"#))
        .unwrap();
    let (status, headers, body) = call(app(calls.clone()), req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(headers["fn-http-status"], "201");
    assert_eq!(headers["fn-http-h-location"], "/things/42");
    let many: Vec<_> = headers.get_all("fn-http-h-x-many").iter().collect();
    assert_eq!(many, ["a", "b"]);
    assert_eq!(headers["content-type"], "application/json");
    assert!(!headers.contains_key("fn-http-h-content-type"));
    assert!(
        !headers.contains_key("location"),
        "raw headers would be dropped by the agent"
    );
    assert_eq!(headers["fn-fdk-version"], FDK_VERSION);
    assert!(
        headers["fn-fdk-runtime"]
            .to_str()
            .unwrap()
            .starts_with("rust/1.")
    );

    let seen = &body["seen"];
    assert_eq!(seen["method"], "POST");
    assert_eq!(
        seen["path"], "/things",
        "the deployment prefix /v1 is removed"
    );
    assert_eq!(seen["query"], "key1=value1");
    assert_eq!(
        seen["headers"]["host"],
        "xxxx.apigateway.us-phoenix-1.oci.customer-oci.com"
    );
    assert_eq!(
        seen["headers"]["x-myheader1"], "one, two",
        "both values, in order"
    );
    assert_eq!(seen["headers"]["content-type"], "application/json");
    assert_eq!(seen["headers"]["content-length"], "16");
    for platform in [
        "fn-call-id",
        "fn-http-method",
        "opc-request-id",
        "fn-intent",
        "authorization",
    ] {
        assert!(
            seen["headers"].get(platform).is_none(),
            "{platform} leaked: {seen}"
        );
    }
    assert_eq!(seen["deadline"], true);
    assert_eq!(seen["kind"], "http");
    assert_eq!(seen["call_id"], "01ES6STAH91BT0G48ZJ00J07ZT");
    assert_eq!(body["body"], r#"{"key1":"value"}"#);
}

#[tokio::test]
async fn both_values_of_a_repeated_client_header_reach_the_router() {
    let mut platform = HeaderMap::new();
    platform.append("fn-http-h-accept", "text/plain".parse().unwrap());
    platform.append("fn-http-h-accept", "application/json".parse().unwrap());
    platform.append("fn-http-h-content-type", "text/csv".parse().unwrap());
    platform.append("content-type", "text/csv".parse().unwrap());
    platform.append("fn-deadline", "2020-12-10T01:36:13Z".parse().unwrap());
    platform.append("host", "localhost".parse().unwrap());
    let client = decap_headers(&platform);
    let accept: Vec<_> = client.get_all("accept").iter().collect();
    assert_eq!(accept, ["text/plain", "application/json"]);
    let ct: Vec<_> = client.get_all("content-type").iter().collect();
    assert_eq!(ct, ["text/csv"], "the raw copy is not added twice");
    assert_eq!(client.len(), 3, "{client:?}");
}

#[tokio::test]
async fn the_raw_content_type_is_kept_when_the_client_copy_is_absent() {
    let mut platform = HeaderMap::new();
    platform.append("content-type", "application/json".parse().unwrap());
    platform.append("fn-http-h-x-a", "1".parse().unwrap());
    let client = decap_headers(&platform);
    assert_eq!(client["content-type"], "application/json");
    assert_eq!(client["x-a"], "1");
}

#[test]
fn request_urls_relative_and_absolute_become_path_and_query() {
    let cases = [
        ("/healthz", None, "/healthz"),
        (
            "/v1/http-info?key1=value1",
            None,
            "/v1/http-info?key1=value1",
        ),
        (
            "/v1/http-info?key1=value1",
            Some("/v1"),
            "/http-info?key1=value1",
        ),
        ("/v1", Some("/v1/"), "/"),
        ("/v1?x=1", Some("/v1"), "/?x=1"),
        ("/v10/metrics", Some("/v1"), "/v10/metrics"),
        (
            "http://fn.example:8080/t/app/metrics?a=b",
            None,
            "/t/app/metrics?a=b",
        ),
        (
            "http://fn.example:8080/t/app/metrics",
            Some("/t/app"),
            "/metrics",
        ),
        ("https://fn.example", None, "/"),
        ("status", None, "/status"),
    ];
    for (url, prefix, want) in cases {
        let got = request_uri(url, prefix).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(got.to_string(), want, "{url} with prefix {prefix:?}");
    }
    assert!(request_uri("http://[broken", None).is_err());
}

#[tokio::test]
async fn a_scheduled_empty_call_runs_a_reconcile_step_with_the_invoke_token() {
    let calls = Arc::new(AtomicUsize::new(0));
    let req = socket_call()
        .header("fn-deadline", in_a_minute())
        .header("content-type", "application/octet-stream")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = call(app(calls.clone()), req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["fn-http-status"], "200");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(body["method"], "POST");
    assert_eq!(body["path"], "/reconcile");
    assert_eq!(body["headers"]["authorization"], "Bearer s3cret-token");
    assert!(body["headers"].get("fn-call-id").is_none());
    assert_eq!(body["kind"], "schedule");
    assert_eq!(body["deadline"], true);
    assert_eq!(body["event"], Value::Null);
}

#[tokio::test]
async fn an_events_delivery_runs_a_step_and_carries_the_event_type_and_resource() {
    let calls = Arc::new(AtomicUsize::new(0));
    // OCI Events' CloudEvents 0.1 envelope.
    let v01 = json!({
        "eventType": "com.oraclecloud.computeapi.terminateinstance.end",
        "cloudEventsVersion": "0.1",
        "eventTypeVersion": "2.0",
        "source": "ComputeApi",
        "eventTime": "2026-12-06T07:00:00Z",
        "contentType": "application/json",
        "eventID": "e0a5f7d2-0000-4000-8000-000000000001",
        "extensions": {"compartmentId": "ocid1.compartment.oc1..aaaa"},
        "data": {"resourceId": "ocid1.instance.oc1.iad.aaaa", "resourceName": "web-1"}
    });
    // CloudEvents 1.0.
    let v10 = json!({
        "specversion": "1.0",
        "type": "com.oraclecloud.computeapi.terminateinstance.end",
        "source": "ComputeApi",
        "id": "id-10",
        "data": {"resourceId": "ocid1.instance.oc1.iad.bbbb"}
    });
    for (event, resource, id) in [
        (
            v01,
            "ocid1.instance.oc1.iad.aaaa",
            "e0a5f7d2-0000-4000-8000-000000000001",
        ),
        (v10, "ocid1.instance.oc1.iad.bbbb", "id-10"),
    ] {
        let req = socket_call()
            .header("content-type", "application/json")
            .header("fn-intent", "cloudevent")
            .body(Body::from(event.to_string()))
            .unwrap();
        let (status, _, body) = call(app(calls.clone()), req).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["path"], "/reconcile");
        assert_eq!(body["kind"], "event");
        assert_eq!(
            body["event"]["type"],
            "com.oraclecloud.computeapi.terminateinstance.end"
        );
        assert_eq!(body["event"]["resource"], resource);
        assert_eq!(body["event"]["id"], id);
        assert_eq!(body["deadline"], false, "no Fn-Deadline was sent");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_body_that_is_not_a_cloud_event_still_runs_a_step() {
    let calls = Arc::new(AtomicUsize::new(0));
    let req = socket_call()
        .body(Body::from(r#"{"title":"alarm","type":"OK_TO_FIRING"}"#))
        .unwrap();
    let (status, _, body) = call(app(calls.clone()), req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], "message");
    assert_eq!(body["event"], Value::Null);
}

#[tokio::test]
async fn a_failed_step_is_a_failed_call_but_a_failed_http_request_is_relayed() {
    let calls = Arc::new(AtomicUsize::new(0));
    let failing = Router::new().route(
        "/reconcile",
        post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "step failed") }),
    );
    let (status, headers, body) = call(failing, socket_call().body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(headers["fn-http-status"], "500");
    assert_eq!(body, "step failed");

    let req = socket_call()
        .header("fn-http-method", "GET")
        .header("fn-http-request-url", "/v1/fail")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = call(app(calls.clone()), req).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the function ran; the client sees the 500"
    );
    assert_eq!(headers["fn-http-status"], "500");

    let req = socket_call()
        .header("fn-http-method", "GET")
        .header("fn-http-request-url", "/v1/nowhere")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = call(app(calls), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["fn-http-status"], "404");
}

#[tokio::test]
async fn a_call_whose_deadline_has_passed_is_answered_504_without_running() {
    let calls = Arc::new(AtomicUsize::new(0));
    let req = socket_call()
        .header("fn-deadline", "2020-12-10T01:36:13Z")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = call(app(calls.clone()), req).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(headers["fn-fdk-version"], FDK_VERSION);
    assert!(
        body["message"].as_str().unwrap().contains("deadline"),
        "{body}"
    );
}

#[tokio::test]
async fn a_handler_still_busy_at_the_deadline_is_abandoned_with_504() {
    // The wall clock is set 59.7 s ahead, so the one-minute deadline is 300 ms away.
    let now = SystemTime::now() + Duration::from_millis(59_700);
    let req = socket_call()
        .header("fn-deadline", in_a_minute())
        .header("fn-http-method", "GET")
        .header("fn-http-request-url", "/slow")
        .body(Body::empty())
        .unwrap();
    let started = Instant::now();
    let (status, _, body) = call_at(app(Arc::default()), req, now).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_panicking_handler_is_a_502() {
    let req = socket_call()
        .header("fn-http-method", "GET")
        .header("fn-http-request-url", "/panic")
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = call(app(Arc::default()), req).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(headers["fn-fdk-runtime"], FDK_RUNTIME);
    assert!(
        !body.to_string().contains("handler bug"),
        "no internals: {body}"
    );
}

#[tokio::test]
async fn an_unknown_method_is_a_502_naming_it() {
    let req = socket_call()
        .header("fn-http-method", "G E T")
        .header("fn-http-request-url", "/")
        .body(Body::empty())
        .unwrap();
    let (status, _, body) = call(app(Arc::default()), req).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        body["message"].as_str().unwrap().contains("G E T"),
        "{body}"
    );
}

#[test]
fn fn_deadline_parses_rfc3339_against_the_wall_clock() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_607_564_173); // 2020-12-10T01:36:13Z
    let base = Instant::now();
    let d = Deadline::parse("2020-12-10T01:36:43Z", now, base).unwrap();
    assert_eq!(d.0 - base, Duration::from_secs(30));
    let d = Deadline::parse("2020-12-10T01:36:13.250Z", now, base).unwrap();
    assert_eq!(d.0 - base, Duration::from_millis(250));
    let d = Deadline::parse("2020-12-10T01:36:03Z", now, base).unwrap();
    assert!(d.has_passed(base));
    assert!(Deadline::parse("tomorrow", now, base).is_none());
}

#[test]
fn the_invoke_token_is_sensitive_and_refused_when_it_cannot_be_a_header() {
    let h = InvokeHeaders::bearer("abc").unwrap();
    assert!(h.headers()["authorization"].is_sensitive());
    let err = InvokeHeaders::bearer("bad\ntoken").unwrap_err();
    assert!(!err.contains("bad"), "{err}");
    // Added to the platform's own invocations only, over what the request carried.
    for (kind, added) in [
        (Some(InvocationKind::Schedule), true),
        (Some(InvocationKind::Event), true),
        (Some(InvocationKind::Message), true),
        (Some(InvocationKind::Http), false),
        (None, false),
    ] {
        let mut req = Request::post("/reconcile")
            .header("authorization", "Bearer client")
            .body(())
            .unwrap();
        if let Some(kind) = kind.clone() {
            req.extensions_mut().insert(FnCall {
                call_id: None,
                kind,
            });
        }
        h.apply(&mut req);
        let want = if added { "Bearer abc" } else { "Bearer client" };
        assert_eq!(req.headers()["authorization"], want, "{kind:?}");
        assert_eq!(req.headers().get_all("authorization").iter().count(), 1);
    }
    let env = |k: &str| match k {
        "FLEETCTL_PATH_PREFIX" => Some("/fleet".to_string()),
        "FN_LOGFRAME_NAME" => Some("01ES54E5RN".to_string()),
        "FN_LOGFRAME_HDR" => Some("Opc-Request-Id".to_string()),
        _ => None,
    };
    let c = FnConfig::from_env(env);
    assert_eq!(c.path_prefix.as_deref(), Some("/fleet"));
    assert_eq!(
        c.log_frame,
        Some(("01ES54E5RN".to_string(), "Opc-Request-Id".to_string()))
    );
}

#[tokio::test]
async fn the_listener_binds_a_phony_socket_and_links_it_relatively() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("lsnr.sock");
    std::fs::write(&link, "stale").unwrap();
    let listener =
        FnListener::bind(&format!("unix:{}", link.display()), Some("http-stream")).unwrap();
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("phonylsnr.sock")
    );
    let phony = dir.path().join("phonylsnr.sock");
    let mode = std::fs::metadata(&phony).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o666);
    assert_eq!(listener.path(), link);
    drop(listener);
    assert!(
        !link.exists() && !phony.exists(),
        "both files are removed on drop"
    );
}

#[tokio::test]
async fn the_listener_refuses_other_formats_and_malformed_listeners() {
    let dir = tempfile::tempdir().unwrap();
    let listener = format!("unix:{}/lsnr.sock", dir.path().display());
    let err = FnListener::bind(&listener, Some("json")).unwrap_err();
    assert!(err.is_configuration_problem());
    assert!(err.to_string().contains("\"json\""), "{err}");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing created"
    );
    for bad in [
        "/tmp/iofs/lsnr.sock",
        "unix:relative.sock",
        "tcp:127.0.0.1:1",
    ] {
        let err = FnListener::bind(bad, None).unwrap_err();
        assert!(matches!(err, FnError::Listener(_)), "{bad}: {err}");
    }
    FnListener::bind(&listener, Some("")).expect("an empty FN_FORMAT is http-stream");
}

/// A header value: one the platform could plausibly send, or any bytes a header can carry.
fn header_value(
    plausible: &'static [&'static str],
) -> impl proptest::strategy::Strategy<Value = HeaderValue> {
    use proptest::prelude::*;
    let bytes = prop::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff, Just(b'\t')], 0..48);
    prop_oneof![
        prop::sample::select(plausible).prop_map(|s| s.as_bytes().to_vec()),
        bytes,
    ]
    .prop_filter_map("a header value", |b| HeaderValue::from_bytes(&b).ok())
}

/// Issue 12 item 4: random values of every header the adapter reads (the HTTP method, URL
/// and client headers, the deadline, the call id, the intent, the log-frame header) never
/// panic the adapter: each call is answered, 200 carrying the router's status in
/// `Fn-Http-Status`, or 502 / 504 with the platform error body.
#[test]
fn property_random_fn_header_values_never_panic_and_always_get_an_answer() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let methods: &'static [&'static str] = &[
        "GET", "POST", "post", "DELETE", "CONNECT", "OPTIONS", "G E T", "", "TRACE", "PATCH",
    ];
    let urls: &'static [&'static str] = &[
        "/v1/things",
        "/v1/things?x=1&y",
        "http://h/t/app/v1/things?x=1",
        "/v1/reconcile",
        "/v1/fail",
        "v1/things",
        "//",
        "/v1/../etc/passwd",
        "%zz",
        "http://",
        "http://[::1",
        "/v1?",
        "*",
        "",
    ];
    let deadlines: &'static [&'static str] = &[
        "2020-12-10T01:36:13Z",
        "9999-12-31T23:59:59Z",
        "0000-01-01T00:00:00Z",
        "2099-01-01T00:00:00+14:00",
        "2026-13-45T99:99:99Z",
        "not a date",
        "",
    ];
    let names: &'static [&'static str] = &[
        "fn-http-h-content-type",
        "fn-http-h-authorization",
        "fn-http-h-x-thing",
        "fn-http-h-",
        "fn-http-h-host",
        "fn-http-h-content-length",
        "content-type",
        "content-length",
        "fn-intent",
        "fn-call-id",
        "x-log",
    ];
    let strategy = (
        prop::option::of(header_value(methods)),
        prop::option::of(header_value(urls)),
        prop::option::of(header_value(deadlines)),
        prop::collection::vec(
            (
                prop::sample::select(names),
                header_value(&[
                    "text/plain",
                    "application/json",
                    "12",
                    "-1",
                    "httprequest",
                    "cloudevent",
                ]),
            ),
            0..5,
        ),
        prop::collection::vec(any::<u8>(), 0..64),
    );
    let mut config = config();
    config.log_frame = Some(("fleetctl_frame".into(), "x-log".into()));
    let mut runner = fleetctl_testkit::props::runner("Fn headers", 2000);
    let (relayed_calls, refused) = (AtomicUsize::new(0), AtomicUsize::new(0));
    fleetctl_testkit::props::check(
        &mut runner,
        &strategy,
        |(method, url, deadline, headers, body)| {
            let mut req = Request::post("/call").header("host", "localhost");
            for (name, value) in [
                ("fn-http-method", method),
                ("fn-http-request-url", url),
                ("fn-deadline", deadline),
            ] {
                if let Some(v) = value {
                    req = req.header(name, v);
                }
            }
            for (name, value) in headers {
                req = req.header(name, value);
            }
            let req = req.body(Body::from(body)).unwrap();
            let call = handle(
                app(Arc::default()),
                &config,
                req,
                SystemTime::now(),
                Instant::now(),
            );
            let response = rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(10), call).await })
                .expect("an answer within 10 s");
            let status = response.status();
            prop_assert!(
                [
                    StatusCode::OK,
                    StatusCode::BAD_GATEWAY,
                    StatusCode::GATEWAY_TIMEOUT
                ]
                .contains(&status),
                "socket status {}",
                status
            );
            if status == StatusCode::OK {
                let relayed = response
                    .headers()
                    .get(FN_HTTP_STATUS)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u16>().ok());
                prop_assert!(
                    relayed.is_some_and(|s| (100..600).contains(&s)),
                    "{:?}",
                    response.headers()
                );
                relayed_calls.fetch_add(1, Ordering::Relaxed);
            } else {
                refused.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        },
    );
    let (relayed, refused) = (relayed_calls.into_inner(), refused.into_inner());
    println!(
        "Fn headers: {} calls answered ({relayed} relayed to the router, {refused} refused \
         with 502/504), panics 0",
        relayed + refused
    );
    // Both paths ran, or the headers never reached the decoding they are meant to test.
    assert!(
        relayed > 0 && refused > 0,
        "relayed {relayed}, refused {refused}"
    );
}
