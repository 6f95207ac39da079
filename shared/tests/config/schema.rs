//! The JSON Schema: checked in, strict, and in agreement with the parsers.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::str::FromStr;

use fleetctl_core::config::{
    CountOrPercent, EndpointUrl, EnvVarName, FleetName, GroupName, HumanDuration, ListenAddr,
    Region, SshPublicKey, StateUrl, json_schema, json_schema_pretty,
};
use fleetctl_core::ids::{CompartmentId, ImageId, InstanceId, LoadBalancerId, Ocid, SubnetId};
use schemars::JsonSchema;
use serde_json::{Value, json};

const SCHEMA_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../schema/fleetctl.schema.json"
);

#[test]
fn checked_in_schema_is_up_to_date() {
    let on_disk = std::fs::read_to_string(SCHEMA_FILE).unwrap_or_default();
    assert!(
        on_disk == json_schema_pretty(),
        "schema/fleetctl.schema.json is stale: run `cargo xtask schema`"
    );
}

#[test]
fn pretty_schema_is_the_schema_with_a_trailing_newline() {
    let pretty = json_schema_pretty();
    assert!(pretty.ends_with("}\n"));
    let parsed: Value = serde_json::from_str(&pretty).unwrap();
    assert_eq!(parsed, json_schema());
    assert_eq!(
        parsed["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(parsed["title"], "FleetConfig");
}

/// Every object schema that lists properties forbids others.
fn assert_closed(schema: &Value, at: &str) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") {
                assert_eq!(
                    map.get("additionalProperties"),
                    Some(&json!(false)),
                    "{at} accepts unknown fields"
                );
            }
            for (k, v) in map {
                assert_closed(v, &format!("{at}/{k}"));
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                assert_closed(v, &format!("{at}/{i}"));
            }
        }
        _ => {}
    }
}

#[test]
fn every_object_rejects_unknown_fields() {
    let schema = json_schema();
    assert_closed(&schema, "#");
    // Sanity: the check above looked at the sections.
    assert_eq!(
        schema["$defs"]["Spec"]["additionalProperties"],
        json!(false)
    );
    assert_eq!(
        schema["$defs"]["LoadBalancer"]["additionalProperties"],
        json!(false)
    );
}

#[test]
fn defaults_are_in_the_schema() {
    let d = &json_schema()["$defs"];
    assert_eq!(
        d["Auth"]["properties"]["configFile"]["default"],
        "~/.oci/config"
    );
    assert_eq!(d["Auth"]["properties"]["profile"]["default"], "DEFAULT");
    assert_eq!(d["LoadBalancer"]["properties"]["enabled"]["default"], false);
    assert_eq!(
        d["LoadBalancer"]["properties"]["type"]["default"],
        "classic"
    );
    assert_eq!(d["LoadBalancer"]["properties"]["weight"]["default"], 1);
    assert_eq!(
        d["LoadBalancer"]["properties"]["drainTimeout"]["default"],
        "30s"
    );
    assert_eq!(
        d["LoadBalancer"]["properties"]["healthTimeout"]["default"],
        "5m"
    );
    assert_eq!(d["Rollout"]["properties"]["strategy"]["default"], "replace");
    assert_eq!(d["Rollout"]["properties"]["maxSurge"]["default"], 1);
    assert_eq!(d["Rollout"]["properties"]["maxUnavailable"]["default"], 0);
    assert_eq!(d["Rollout"]["properties"]["minReadySeconds"]["default"], 10);
    assert_eq!(
        d["Rollout"]["properties"]["rebootAction"]["default"],
        "SOFTRESET"
    );
    assert_eq!(
        d["Rollout"]["properties"]["launchTimeout"]["default"],
        "10m"
    );
    assert_eq!(
        d["State"]["properties"]["url"]["default"],
        ".fleetctl/state.json"
    );
    assert_eq!(
        d["Api"]["properties"]["listen"]["default"],
        "127.0.0.1:8080"
    );
    assert_eq!(
        d["Api"]["properties"]["tokenEnv"]["default"],
        "FLEETCTL_API_TOKEN"
    );
    assert_eq!(d["Api"]["properties"]["reconcileEvery"]["default"], "30s");
    assert_eq!(d["Spec"]["properties"]["definedTags"]["default"], json!({}));
    assert_eq!(
        d["Spec"]["properties"]["freeformTags"]["default"],
        json!({})
    );
    assert_eq!(d["Spec"]["properties"]["metadata"]["default"], json!({}));
    let required = &d["Spec"]["required"];
    assert_eq!(
        required,
        &json!([
            "compartmentId",
            "imageId",
            "availabilityDomain",
            "shape",
            "instances"
        ])
    );
}

/// Does the JSON Schema of `T` (as it appears in `$defs`) accept `value`?
fn schema_accepts<T: JsonSchema>(value: &Value) -> bool {
    let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
    jsonschema::validator_for(schema.as_value())
        .unwrap()
        .is_valid(value)
}

fn agree<T: FromStr + JsonSchema>(samples: &[&str]) {
    for s in samples {
        assert_eq!(
            schema_accepts::<T>(&json!(s)),
            T::from_str(s).is_ok(),
            "{}: schema and parser disagree on {s:?}",
            T::schema_name()
        );
    }
}

#[test]
fn the_named_types_appear_in_the_schema_as_generated() {
    let defs = &json_schema()["$defs"];
    let mut generator = schemars::SchemaGenerator::default();
    let own = HumanDuration::json_schema(&mut generator);
    assert_eq!(&defs["Duration"], own.as_value());
    let own = ImageId::json_schema(&mut generator);
    assert_eq!(&defs["ImageId"], own.as_value());
}

#[test]
fn duration_pattern_accepts_exactly_what_the_parser_accepts() {
    agree::<HumanDuration>(&[
        "90s",
        "1m30s",
        "250ms",
        "2h",
        "1d",
        "0s",
        "1h1m1s1ms",
        "",
        "30",
        "s",
        "1.5s",
        "-1s",
        "1 s",
        "1S",
        "1sec",
        "ms",
        "1ms1",
        "1m 30s",
        "5mm",
        "1hs",
        " 1s",
        "1s ",
        "1s\n",
    ]);
}

#[test]
fn ocid_patterns_accept_exactly_what_the_parsers_accept() {
    let samples = [
        "ocid1.image.oc1.iad.aaaa",
        "ocid1.image.oc1..aaaa",
        "ocid1.image.oc1.iad.future.aaaa",
        "ocid1.image.oc1.iad..aaaa",
        "ocid1.image.oc1.iad.AAAA",
        "ocid1.Image.oc1.iad.aaaa",
        "ocid1.image.oc1",
        "ocid2.image.oc1.iad.aaaa",
        "ocid1.image.oc-1.iad.aaaa",
        "ocid1.image.oc1.us-ashburn-1.aaaa",
        "ocid1.subnet.oc1.iad.aaaa",
        "ocid1.compartment.oc1..aaaa",
        "ocid1.tenancy.oc1..aaaa",
        "ocid1.loadbalancer.oc1.iad.aaaa",
        "ocid1.networkloadbalancer.oc1.iad.aaaa",
        "ocid1.instance.oc1.iad.aaaa",
        "ocid1.image.oc1.iad.aaaa.",
        "ocid1.image.oc1.iad.a_a",
        " ocid1.image.oc1.iad.aaaa",
        "ocid1.image.oc1.iad.aaaa\n",
        "",
    ];
    let long = format!("ocid1.image.oc1.iad.{}", "a".repeat(240));
    let mut all: Vec<&str> = samples.to_vec();
    all.push(&long);
    agree::<ImageId>(&all);
    agree::<SubnetId>(&all);
    agree::<CompartmentId>(&all);
    agree::<LoadBalancerId>(&all);
    agree::<InstanceId>(&all);
    agree::<Ocid>(&all);
}

#[test]
fn name_patterns_accept_exactly_what_the_parsers_accept() {
    let long63 = "a".repeat(63);
    let long64 = "a".repeat(64);
    let long32 = "a".repeat(32);
    let long33 = "a".repeat(33);
    let mut names = vec![
        "web",
        "Web.prod_1-a",
        "1web",
        "-web",
        ".web",
        "web server",
        "",
        "wéb",
        "blue",
        "b-1",
        "Blue",
        "1blue",
        "b_1",
    ];
    names.extend([
        long63.as_str(),
        long64.as_str(),
        long32.as_str(),
        long33.as_str(),
    ]);
    agree::<FleetName>(&names);
    agree::<GroupName>(&names);
    agree::<Region>(&[
        "us-ashburn-1",
        "iad",
        "US-ASHBURN-1",
        "",
        "us ashburn",
        "eu_x",
    ]);
    agree::<EnvVarName>(&["FLEETCTL_API_TOKEN", "_X", "x1", "1X", "", "A-B", "A B"]);
    agree::<SshPublicKey>(&["ssh-ed25519 AAAA me", "", " ssh", "a\nb", "a\rb", "x"]);
}

#[test]
fn address_and_url_patterns_agree_with_the_parsers_where_a_pattern_can() {
    agree::<StateUrl>(&[
        ".fleetctl/state.json",
        "/abs/x",
        "file:///x",
        "memory://",
        "s3://b/k",
        "oci://b@ns/p",
        "",
        "http://x",
        "s3:/b",
        "c:x",
        "a\u{1}b",
        "s3://a\u{7f}",
        "S3://b/k",
        "OCI://b@ns/p",
        "oci://b@ns",
        "s3://k:s@b/x",
        "s3://AKIA:wJalr/K7MD@b/x",
        "oci://u:p@b@ns/x",
        "oci://u:p/q@ns/x",
        "oci://b/x",
        "oci://b/x@y",
        "memory://u:p@x",
        "file://u:p@h/x",
        "file://a?b",
        "s3://b/k#f",
        "./a:b",
        "/srv/state@2.json",
    ]);
    agree::<ListenAddr>(&[
        "127.0.0.1:8080",
        "[::1]:80",
        "localhost:0",
        "host:",
        ":80",
        "8080",
        "a b:80",
        "h:123456",
    ]);
    agree::<EndpointUrl>(&[
        "http://127.0.0.1:8999",
        "https://x.example.com/path",
        "ftp://x",
        "http://",
        "http:///p",
        "http://a b",
        "HTTP://x",
        "127.0.0.1:8999",
        "http://u:p@h",
        "http://u@h:1/p",
        "http://@h",
        "http://h/p?q",
        "http://h?",
        "http://h/p#f",
        "http://h#",
        "http://h/a b",
        "http://h/a\tb",
        "http://h\\x",
        "http://[::1]:8999/p@th",
    ]);
    // Stricter than the pattern: ports above 65535 (five digits fit the pattern).
    assert!(schema_accepts::<ListenAddr>(&json!("h:99999")));
    assert!("h:99999".parse::<ListenAddr>().is_err());
}

#[test]
fn count_or_percent_schema_agrees_with_the_parser() {
    for v in [
        json!(0),
        json!(7),
        json!(-1),
        json!("0%"),
        json!("25%"),
        json!("100%"),
        json!("101%"),
        json!("05%"),
        json!("25"),
        json!(true),
        json!(null),
        json!(1.5),
    ] {
        assert_eq!(
            schema_accepts::<CountOrPercent>(&v),
            CountOrPercent::from_value(&v).is_ok(),
            "CountOrPercent: schema and parser disagree on {v}"
        );
    }
}

#[test]
fn the_templates_validate_against_the_schema_as_parsed_by_another_yaml_reader() {
    // serde-saphyr reads the YAML independently of fleetctl's loader.
    let validator = jsonschema::validator_for(&json_schema()).unwrap();
    for name in ["fleet.yaml.tmpl", "fleet.local.yaml.tmpl"] {
        let path = format!("{}/../config/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        let value: Value = serde_saphyr::from_str(&text).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
}

#[test]
fn the_schema_rejects_an_unknown_field_and_a_wrong_ocid_type() {
    let validator = jsonschema::validator_for(&json_schema()).unwrap();
    let base = json!({
        "kind": "FleetConfig",
        "metadata": {"name": "web"},
        "spec": {
            "compartmentId": "ocid1.compartment.oc1..aaaa",
            "imageId": "ocid1.image.oc1.iad.aaaa",
            "availabilityDomain": "AD-1",
            "shape": "VM.Standard2.1",
            "subnetId": "ocid1.subnet.oc1.iad.aaaa",
            "instances": [{"name": "blue", "count": 1}]
        }
    });
    assert!(validator.is_valid(&base));
    let mut unknown = base.clone();
    unknown["spec"]["colour"] = json!("red");
    assert!(!validator.is_valid(&unknown));
    let mut wrong = base.clone();
    wrong["spec"]["imageId"] = json!("ocid1.subnet.oc1.iad.aaaa");
    assert!(!validator.is_valid(&wrong));
}
