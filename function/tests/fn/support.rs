//! What both topics share: a simulator with the fleet file as an object, and the Functions
//! environment (resource principal files written by the simulator).

use bytes::Bytes;
use fleetctl_core::oci::objectstorage::{self, Bucket, PutObjectOptions};
use fleetctl_testkit::TestSim;

/// The object name the fleet file is stored under.
pub const OBJECT: &str = "fleet.yaml";

/// The simulator's seeded bucket.
pub fn bucket(sim: &TestSim) -> Bucket {
    Bucket::new(sim.namespace(), sim.bucket())
}

/// `oci://bucket@namespace/<object>` of the seeded bucket.
pub fn object_url(sim: &TestSim, object: &str) -> String {
    format!("oci://{}@{}/{object}", sim.bucket(), sim.namespace())
}

/// The demo fleet file of this simulator, with `count` instances of `web`.
pub fn fleet_text(sim: &TestSim, count: u32) -> String {
    let text = std::fs::read_to_string(sim.fleet_file()).unwrap();
    let edited = text.replace(
        "{name: web, count: 3}",
        &format!("{{name: web, count: {count}}}"),
    );
    assert!(
        count == 3 || edited != text,
        "the demo fleet file changed shape:\n{text}"
    );
    edited
}

/// Writes `text` as the object `name` of the seeded bucket; returns its ETag.
pub async fn put(sim: &TestSim, name: &str, text: &str) -> String {
    objectstorage::put_object(
        &sim.client,
        &bucket(sim),
        name,
        Bytes::from(text.to_string()),
        &PutObjectOptions::default(),
    )
    .await
    .unwrap()
    .etag
}

/// The Functions environment of the simulator: `OCI_RESOURCE_PRINCIPAL_*` (files the
/// simulator trusts) and `FLEETCTL_OCI_ENDPOINT` pointing every service at it.
pub fn functions_env(sim: &TestSim) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(sim.resource_principal_env_file()).unwrap();
    let mut env: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert!(
        env.iter().any(|(k, _)| k == "OCI_RESOURCE_PRINCIPAL_RPST"),
        "{text}"
    );
    env.push(("FLEETCTL_OCI_ENDPOINT".into(), sim.base_url().to_string()));
    env
}
