//! Seeded random and mutated bodies never get a 5xx, and every error has the one shape.

use serde_json::{Value, json};

use crate::support::{Api, TOKEN};

/// A random JSON value, at most `depth` deep.
fn value(rng: &mut fastrand::Rng, depth: u32) -> Value {
    match rng.u8(0..if depth == 0 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.bool()),
        2 => json!(rng.i64(..)),
        3 => json!(rng.f64() * 1e12 - 5e11),
        4 => json!(rng.u32(0..20_000)),
        5 => Value::String((0..rng.usize(0..12)).map(|_| rng.char(..)).collect()),
        6 => Value::Array(
            (0..rng.usize(0..4))
                .map(|_| value(rng, depth - 1))
                .collect(),
        ),
        _ => {
            let keys = ["desired", "strategy", "reason", "x", "Desired", ""];
            Value::Object(
                (0..rng.usize(0..4))
                    .map(|_| {
                        (
                            keys[rng.usize(0..keys.len())].to_string(),
                            value(rng, depth - 1),
                        )
                    })
                    .collect(),
            )
        }
    }
}

/// A valid body with bytes changed, cut or repeated.
fn mutated(rng: &mut fastrand::Rng) -> Vec<u8> {
    let seeds = [
        r#"{"desired":3}"#,
        r#"{"strategy":"replace"}"#,
        r#"{"reason":"maintenance"}"#,
        r#"{"desired":10000}"#,
    ];
    let mut bytes = seeds[rng.usize(0..seeds.len())].as_bytes().to_vec();
    for _ in 0..rng.usize(1..4) {
        if bytes.is_empty() {
            break;
        }
        let i = rng.usize(0..bytes.len());
        match rng.u8(0..4) {
            0 => bytes[i] = rng.u8(..),
            1 => {
                bytes.remove(i);
            }
            2 => bytes.insert(i, b"{}[]\",:-0e\\"[rng.usize(0..11)]),
            _ => bytes.truncate(i),
        }
    }
    bytes
}

#[tokio::test]
async fn random_and_mutated_bodies_never_get_a_5xx() {
    let api = Api::start().await;
    let mut rng = fastrand::Rng::with_seed(0x5eed_f1ee);
    let paths = [
        "/scale",
        "/rolling-restart",
        "/sync-state",
        "/pause",
        "/resume",
        "/abort",
    ];
    let mut seen = std::collections::BTreeMap::new();
    for i in 0..400 {
        let body: Vec<u8> = match i % 3 {
            0 => value(&mut rng, 3).to_string().into_bytes(),
            1 => mutated(&mut rng),
            _ => (0..rng.usize(0..64)).map(|_| rng.u8(..)).collect(),
        };
        let path = paths[rng.usize(0..paths.len())];
        let a = api.post_raw(path, Some(TOKEN), body.clone()).await;
        let status = a.status.as_u16();
        assert!(
            status < 500,
            "{path} {:?} -> {status}: {}",
            String::from_utf8_lossy(&body),
            a.text()
        );
        if status >= 400 {
            let code = a.json()["error"]["code"].as_str().unwrap().to_string();
            a.error(status, &code);
        }
        *seen.entry(status).or_insert(0) += 1;
    }
    // The bodies reach every kind of answer, or the fuzzing proves little.
    for status in [400, 409, 422] {
        assert!(seen.contains_key(&status), "no {status} in {seen:?}");
    }
    assert!(seen.keys().any(|s| *s < 300), "{seen:?}");
}

/// A JSON value with the API's own field names among the keys.
fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        (0u32..20_000).prop_map(|n| json!(n)),
        ".{0,16}".prop_map(Value::String),
        prop::sample::select(
            &[
                "replace",
                "restart",
                "drain",
                "surge",
                "",
                "3",
                "maintenance"
            ][..]
        )
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(
                        &[
                            "desired",
                            "strategy",
                            "reason",
                            "adoptUntagged",
                            "force",
                            "maxUnavailable",
                            "Desired",
                            "",
                            "x",
                        ][..]
                    ),
                    inner
                ),
                0..4
            )
            .prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

/// A body: JSON, a valid body with bytes changed, or random bytes.
fn body() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    prop_oneof![
        6 => json_value().prop_map(|v| v.to_string().into_bytes()),
        4 => (any::<u64>()).prop_map(|seed| mutated(&mut fastrand::Rng::with_seed(seed))),
        2 => prop::collection::vec(any::<u8>(), 0..96),
        // Around the 16 KiB limit, and far past it.
        1 => prop_oneof![16_000usize..17_000, 17_000usize..300_000].prop_map(|n| format!("{{\"reason\":\"{}\"}}", "x".repeat(n)).into_bytes()),
    ]
}

/// Issue 12 item 4: random JSON and bytes, with assorted content types, sent to every
/// mutating endpoint never get a 5xx (nor a panic: the runner counts one as a failure), every
/// refusal has the one error shape, and a refused request leaves the ledger as it was.
#[test]
fn property_no_body_gets_a_5xx_and_a_refused_one_never_changes_the_ledger() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let api = rt.block_on(Api::start());
    let paths: &'static [&'static str] = &[
        "/scale",
        "/rolling-restart",
        "/sync-state",
        "/pause",
        "/resume",
        "/abort",
        "/reconcile",
    ];
    let content_types: &'static [Option<&'static str>] = &[
        Some("application/json"),
        Some("application/json"),
        Some("application/json"),
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ];
    let seen = std::sync::Mutex::new(std::collections::BTreeMap::<u16, usize>::new());
    let strategy = (
        prop::sample::select(paths),
        prop::sample::select(content_types),
        body(),
    );
    let mut runner = fleetctl_testkit::props::runner("HTTP bodies", 400);
    fleetctl_testkit::props::check(&mut runner, &strategy, |(path, content_type, body)| {
        let version = |api: &Api| {
            rt.block_on(api.state.fleet().ledger())
                .unwrap()
                .map(|(_, v)| v)
        };
        let before = version(&api);
        let mut r =
            axum::http::Request::post(path).header("authorization", format!("Bearer {TOKEN}"));
        if let Some(t) = content_type {
            r = r.header("content-type", t);
        }
        let a = rt.block_on(api.send(r.body(axum::body::Body::from(body.clone())).unwrap()));
        let status = a.status.as_u16();
        prop_assert!(status < 500, "{} -> {}: {}", path, status, a.text());
        if status >= 400 {
            let code = a.json()["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            prop_assert!(!code.is_empty(), "{}", a.text());
            a.error(status, &code);
            prop_assert_eq!(
                &version(&api),
                &before,
                "{} refused with {} changed the ledger",
                path,
                status
            );
        }
        *seen.lock().unwrap().entry(status).or_insert(0) += 1;
        Ok(())
    });
    let seen = seen.into_inner().unwrap();
    let tried: usize = seen.values().sum();
    println!("HTTP bodies: {tried} requests tried, statuses {seen:?}, 5xx 0, panics 0");
    for status in [400, 415, 422] {
        assert!(seen.contains_key(&status), "no {status} in {seen:?}");
    }
}
