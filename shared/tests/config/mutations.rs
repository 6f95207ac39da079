//! Every field of the full template replaced by values of every kind, or removed: the loader
//! either accepts the file or reports problems, and never fails with an internal error (which
//! would mean a value passed the checks but not the typed build).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use fleetctl_core::config::{FixedEnvironment, load_str_with_env};
use serde_json::{Value, json};

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/fleet.yaml.tmpl");
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// JSON pointers of every node below the root.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        _ => {}
    }
}

fn check(doc: &Value, what: &str) -> bool {
    let env = FixedEnvironment {
        home: Some("/home/test".into()),
        ..FixedEnvironment::default()
    };
    // JSON is YAML, so the mutated document can be fed to the YAML loader as is.
    let text = serde_json::to_string_pretty(doc).unwrap();
    match load_str_with_env("fleet.json", &text, &env) {
        Ok(_) => true,
        Err(errors) => {
            assert!(
                !errors.problems.is_empty(),
                "{what}: an error with no problems"
            );
            for p in &errors.problems {
                assert!(p.line >= 1 && p.column >= 1, "{what}: {p}");
                assert!(!p.message.is_empty(), "{what}: {p}");
                assert!(!p.message.contains("internal error"), "{what}: {p}");
            }
            false
        }
    }
}

#[test]
fn no_replacement_or_removal_causes_an_internal_error() {
    let base = template();
    assert!(check(&base, "the template itself"));
    let mut all = Vec::new();
    pointers(&base, String::new(), &mut all);
    let replacements = [
        json!(null),
        json!(true),
        json!(-1),
        json!(0),
        json!(2.5),
        json!(2.0),
        json!(70000),
        json!(4294967296u64),
        json!(""),
        json!("x"),
        json!("0%"),
        json!("250%"),
        json!("1m30s"),
        json!("ocid1.subnet.oc1.iad.aaaa"),
        json!([]),
        json!([1]),
        json!({}),
        json!({"zz": 1}),
    ];
    let (mut accepted, mut rejected) = (0, 0);
    for pointer in &all {
        for replacement in &replacements {
            let mut doc = base.clone();
            *doc.pointer_mut(pointer).unwrap() = replacement.clone();
            if check(&doc, &format!("{pointer} = {replacement}")) {
                accepted += 1;
            } else {
                rejected += 1;
            }
        }
        let (parent, last) = pointer.rsplit_once('/').unwrap();
        let mut doc = base.clone();
        match doc.pointer_mut(parent).unwrap() {
            Value::Object(map) => {
                map.remove(last);
            }
            Value::Array(items) => {
                items.remove(last.parse::<usize>().unwrap());
            }
            _ => unreachable!(),
        }
        if check(&doc, &format!("without {pointer}")) {
            accepted += 1;
        } else {
            rejected += 1;
        }
    }
    // Both outcomes happened, so the test exercised the build and the checks.
    assert!(
        accepted > 50 && rejected > 500,
        "accepted {accepted}, rejected {rejected}"
    );
}
