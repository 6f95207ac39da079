//! Issue 12 item 4, malformed cloud answers: a loopback server answers the typed Compute calls
//! with bodies missing fields, holding wrong types, cut short, huge, or not JSON at all, under
//! assorted content types and statuses; and the simulator's own faults (connections dropped
//! before, after or in the middle of the body, padded and chunked bodies, error statuses)
//! hit random operations. Every call ends in a value or an error that names the operation;
//! none panics (the property runner counts a panic as a failure).

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use crate::client_core::list_client;
use crate::oci_support::{Answer, TinyServer};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use fleetctl_core::ids::{CompartmentId, InstanceId};
use fleetctl_core::oci::compute::{self, Instance, ListInstancesFilter};
use fleetctl_testkit::props;
use proptest::prelude::*;
use serde_json::{Value, json};

fn instance() -> Value {
    json!({
        "id": "ocid1.instance.oc1.iad.aaaaaaaa1",
        "compartmentId": "ocid1.compartment.oc1..aaaaaaaa2",
        "availabilityDomain": "Uocm:US-ASHBURN-AD-1",
        "lifecycleState": "RUNNING",
        "shape": "VM.Standard.E4.Flex",
        "displayName": "web-0",
        "timeCreated": "2026-01-01T00:00:00Z",
        "imageId": "ocid1.image.oc1.iad.aaaaaaaa3",
        "shapeConfig": {"ocpus": 1.0, "memoryInGBs": 8.0},
        "freeformTags": {"fleetctl-fleet": "demo"},
        "definedTags": {"ns": {"k": "v"}},
        "metadata": {"user_data": "e30="}
    })
}

const FIELDS: &[&str] = &[
    "id",
    "compartmentId",
    "availabilityDomain",
    "lifecycleState",
    "shape",
    "displayName",
    "timeCreated",
    "imageId",
    "shapeConfig",
    "freeformTags",
    "definedTags",
    "metadata",
];

/// A wrong-typed (or just odd) JSON value.
fn odd_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        Just(json!(1e308)),
        ".{0,12}".prop_map(Value::String),
        Just(json!([])),
        Just(json!({})),
        Just(json!({"nested": [1, {"x": null}]})),
        Just(json!("ocid1.instance.oc1.iad.aaaaaaaa1")),
    ]
}

/// What the instance body becomes.
#[derive(Debug, Clone)]
enum Body {
    /// The instance without one field.
    Missing(&'static str),
    /// One field with another value.
    Retyped(&'static str, Value),
    /// The serialized instance cut after `n` bytes.
    Truncated(usize),
    /// A list page of `n` instances, one of them (at `bad`) broken when `bad < n`.
    Page { n: usize, bad: usize },
    /// Any bytes.
    Bytes(Vec<u8>),
    /// An error page from a proxy.
    Html,
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        3 => prop::sample::select(FIELDS).prop_map(Body::Missing),
        3 => (prop::sample::select(FIELDS), odd_value()).prop_map(|(f, v)| Body::Retyped(f, v)),
        2 => (0usize..600).prop_map(Body::Truncated),
        1 => (0usize..5000, 0usize..10_000).prop_map(|(n, bad)| Body::Page { n, bad }),
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Body::Bytes),
        1 => Just(Body::Html),
    ]
}

fn render(body: &Body) -> Vec<u8> {
    match body {
        Body::Missing(field) => {
            let mut v = instance();
            v.as_object_mut().unwrap().remove(*field);
            v.to_string().into_bytes()
        }
        Body::Retyped(field, value) => {
            let mut v = instance();
            v[*field] = value.clone();
            v.to_string().into_bytes()
        }
        Body::Truncated(n) => {
            let mut b = instance().to_string().into_bytes();
            b.truncate(*n);
            b
        }
        Body::Page { n, bad } => {
            let items: Vec<Value> = (0..*n)
                .map(|i| {
                    let mut v = instance();
                    if i == *bad {
                        v["lifecycleState"] = json!(42);
                    }
                    v
                })
                .collect();
            json!({ "items": items }).to_string().into_bytes()
        }
        Body::Bytes(b) => b.clone(),
        Body::Html => b"<html><body><h1>502 Bad Gateway</h1></body></html>".to_vec(),
    }
}

const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/json; charset=utf-8",
    "text/html",
    "text/plain",
    "application/xml",
    "application/octet-stream",
    "",
];

#[test]
fn property_malformed_compute_answers_are_errors_naming_the_operation_never_panics() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let answer: Arc<Mutex<Answer>> = Arc::new(Mutex::new((200, vec![], vec![])));
    let served = answer.clone();
    let server = rt.block_on(TinyServer::start(move |_| served.lock().unwrap().clone()));
    let client = list_client(&server.url());
    let id: InstanceId = "ocid1.instance.oc1.iad.aaaaaaaa1".parse().unwrap();
    let compartment: CompartmentId = "ocid1.compartment.oc1..aaaaaaaa2".parse().unwrap();
    let (ok, errors) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let strategy = (
        body(),
        prop::sample::select(CONTENT_TYPES),
        prop::sample::select(&[200u16, 200, 200, 201, 400, 404, 409, 412][..]),
        any::<bool>(),
        any::<bool>(),
    );
    let mut runner = props::runner("malformed OCI answers", 250);
    props::check(
        &mut runner,
        &strategy,
        |(body, content_type, status, list, next_page)| {
            let bytes = render(&body);
            let mut headers = vec![("opc-request-id".to_string(), "req-1".to_string())];
            if !content_type.is_empty() {
                headers.push(("content-type".into(), content_type.into()));
            }
            if next_page {
                // The same token on every page: the client must stop, not loop.
                headers.push(("opc-next-page".into(), "page-2".into()));
            }
            *answer.lock().unwrap() = (status, headers, bytes.clone());
            let (operation, outcome) = if list {
                let r = rt.block_on(compute::list_instances(
                    &client,
                    &compartment,
                    &ListInstancesFilter::default(),
                ));
                ("ListInstances", r.map(|v| v.len()))
            } else {
                let r = rt.block_on(compute::get_instance(&client, &id));
                ("GetInstance", r.map(|_| 1))
            };
            match outcome {
                Ok(_) => {
                    ok.fetch_add(1, Ordering::Relaxed);
                    // Only a success status with a body of the right shape reads as a value.
                    prop_assert!(
                        (200..300).contains(&status),
                        "{} read a {} answer",
                        operation,
                        status
                    );
                    if !list {
                        prop_assert!(
                            serde_json::from_slice::<Instance>(&bytes).is_ok(),
                            "GetInstance accepted a body its type refuses"
                        );
                    }
                    prop_assert!(!next_page || !list, "a repeated page token was followed");
                }
                Err(e) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    let text = e.to_string();
                    prop_assert!(
                        text.starts_with(&format!("{operation}: ")),
                        "the error does not name {}: {}",
                        operation,
                        text
                    );
                    prop_assert!(
                        text.len() < 4096,
                        "an error that long is not clear: {} bytes",
                        text.len()
                    );
                }
            }
            Ok(())
        },
    );
    let (ok, errors) = (ok.into_inner(), errors.into_inner());
    println!(
        "malformed OCI answers: {} calls tried ({ok} read, {errors} clear errors), panics 0",
        ok + errors
    );
    assert!(ok > 0 && errors > ok, "read {ok}, errors {errors}");
}

/// The simulator's faults on random operations of a real client: every call ends in a value
/// or an error naming the operation.
#[test]
fn property_simulator_faults_end_in_a_value_or_an_error_naming_the_operation() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sim = rt.block_on(fleetctl_testkit::TestSim::start());
    let host: InstanceId = sim.host_instance_id().as_str().parse().unwrap();
    let compartment = sim.compartment();
    let faults = prop_oneof![
        Just(json!({"drop": "before"})),
        Just(json!({"drop": "after"})),
        Just(json!({"drop": "midBody"})),
        (1u64..200_000).prop_map(|n| json!({"padBodyBytes": n})),
        (1u64..200_000).prop_map(|n| json!({"padBodyBytes": n, "chunked": true})),
        Just(json!({"chunked": true})),
        prop::sample::select(&[400u16, 401, 404, 409, 429, 500, 503][..]).prop_map(
            |s| json!({"status": s, "code": "Fuzzed", "message": "fuzzed\n<b>answer</b>"})
        ),
    ];
    let strategy = (faults, any::<bool>(), 1u32..4);
    let (ok, errors) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let mut runner = props::runner("simulator faults", 60);
    props::check(&mut runner, &strategy, |(fault, list, count)| {
        let operation = if list { "ListInstances" } else { "GetInstance" };
        let mut rule = fault;
        rule["operation"] = json!(operation);
        rule["count"] = json!(count);
        rt.block_on(sim.admin(fleetctl_testkit::Method::DELETE, "/_sim/faults", None));
        rt.block_on(sim.fault(rule.clone()));
        let outcome = if list {
            rt.block_on(compute::list_instances(
                &sim.client,
                &compartment,
                &ListInstancesFilter::default(),
            ))
            .map(|_| ())
        } else {
            rt.block_on(compute::get_instance(&sim.client, &host))
                .map(|_| ())
        };
        match outcome {
            Ok(()) => {
                ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                errors.fetch_add(1, Ordering::Relaxed);
                let text = e.to_string();
                prop_assert!(
                    text.starts_with(&format!("{operation}: ")),
                    "{}: {}",
                    rule,
                    text
                );
            }
        }
        Ok(())
    });
    let (ok, errors) = (ok.into_inner(), errors.into_inner());
    println!(
        "simulator faults: {} calls tried ({ok} read after retries, {errors} clear errors), \
         panics 0",
        ok + errors
    );
    assert!(ok > 0 && errors > 0, "read {ok}, errors {errors}");
}
