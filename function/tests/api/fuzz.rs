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
