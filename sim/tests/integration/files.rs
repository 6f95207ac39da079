//! The files written into the output directory.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use md5::Digest as _;
use serde_json::Value;

use super::common::{TestSigner, TestSim, pem_to_der, read_profile};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn md5_fp(der: &[u8]) -> String {
    md5::Md5::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn claims(token: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.trim().split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

/// The `jwk` claim names the public key of `pem`.
fn assert_jwk_matches(claims: &Value, pem_path: &Path) {
    let jwk: Value = serde_json::from_str(claims["jwk"].as_str().unwrap()).unwrap();
    assert_eq!(jwk["kty"], "RSA");
    let signer = TestSigner::from_pem_file(pem_path, String::new());
    let expected = oci_sim::crypto::PublicJwk::from_public_der(&signer.public_spki_der()).unwrap();
    let got = oci_sim::crypto::PublicJwk::from_json(&jwk.to_string()).unwrap();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn default_profile_points_at_a_private_pkcs8_key_with_its_fingerprint() {
    let t = TestSim::start().await;
    let p = read_profile(&t.out().join("config"), "DEFAULT");
    assert_eq!(p("user"), t.sim.user_id().as_str());
    assert_eq!(p("tenancy"), t.sim.tenancy_id().as_str());
    assert_eq!(p("region"), "us-ashburn-1");
    let key_file = std::path::PathBuf::from(p("key_file"));
    assert!(key_file.is_absolute());
    assert_eq!(key_file, t.out().join("key.pem"));
    assert_eq!(mode(&key_file), 0o600);
    let pem = std::fs::read_to_string(&key_file).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let signer = TestSigner::from_pkcs8(&pem_to_der(&pem), String::new());
    assert_eq!(p("fingerprint"), md5_fp(&signer.public_spki_der()));
}

#[tokio::test]
async fn session_profile_holds_a_token_the_sim_issued_for_its_own_key() {
    let t = TestSim::start().await;
    let text = std::fs::read_to_string(t.out().join("config")).unwrap();
    let session_section = text.split("[SESSION]").nth(1).unwrap();
    assert!(
        !session_section.lines().any(|l| l.starts_with("user=")),
        "SESSION has a user"
    );
    let p = read_profile(&t.out().join("config"), "SESSION");
    assert_eq!(p("tenancy"), t.sim.tenancy_id().as_str());
    assert_eq!(p("region"), "us-ashburn-1");
    let token_file = std::path::PathBuf::from(p("security_token_file"));
    assert_eq!(token_file, t.out().join("session").join("token"));
    assert_eq!(mode(&token_file), 0o600);
    let key_file = std::path::PathBuf::from(p("key_file"));
    assert_eq!(key_file, t.out().join("session").join("key.pem"));
    assert_eq!(mode(&key_file), 0o600);
    let signer = TestSigner::from_pem_file(&key_file, String::new());
    assert_eq!(p("fingerprint"), md5_fp(&signer.public_spki_der()));
    let c = claims(&std::fs::read_to_string(&token_file).unwrap());
    assert_eq!(c["sub"], t.sim.user_id().as_str());
    assert_eq!(c["tenant"], t.sim.tenancy_id().as_str());
    let now = oci_sim::clock::unix_secs(std::time::SystemTime::now());
    assert!((c["exp"].as_i64().unwrap() - now - 3600).abs() < 120, "{c}");
    assert_jwk_matches(&c, &key_file);
}

#[tokio::test]
async fn resource_principal_files_and_env_match_the_function_contract() {
    let t = TestSim::start().await;
    let env = std::fs::read_to_string(t.out().join("rp").join("env")).unwrap();
    let rpst = t.out().join("rp").join("rpst");
    let pem = t.out().join("rp").join("private.pem");
    assert_eq!(
        env,
        format!(
            "OCI_RESOURCE_PRINCIPAL_VERSION=2.2\nOCI_RESOURCE_PRINCIPAL_RPST={}\nOCI_RESOURCE_PRINCIPAL_PRIVATE_PEM={}\nOCI_RESOURCE_PRINCIPAL_REGION=us-ashburn-1\n",
            rpst.display(),
            pem.display()
        )
    );
    assert_eq!(mode(&rpst), 0o600);
    assert_eq!(mode(&pem), 0o600);
    let c = claims(&std::fs::read_to_string(&rpst).unwrap());
    assert_eq!(c["res_tenant"], t.sim.tenancy_id().as_str());
    assert_eq!(c["res_compartment"], t.sim.compartment_id().as_str());
    assert_eq!(c["res_type"], "fnfunc");
    assert_eq!(c["res_id"], t.sim.seeded().function.as_str());
    assert!(c["exp"].as_i64().is_some());
    assert_jwk_matches(&c, &pem);
}

#[tokio::test]
async fn no_fleet_file_is_written() {
    // The simulator does not know fleetctl's fleet-file format: fleetctl writes its demo fleet
    // file from the seeded ids (cli/src/demo_fleet.rs).
    let t = TestSim::start().await;
    assert!(!t.out().join("fleet.yaml").exists());
    assert!(!t.out().join("state.json").exists());
}

#[tokio::test]
async fn seeded_ids_are_well_formed_ocids() {
    let t = TestSim::start().await;
    let s = t.sim.seeded();
    let shape = |id: &oci_sim::Ocid, prefix: &str| {
        let id = id.as_str();
        assert!(id.starts_with(prefix), "{id} does not start with {prefix}");
        let unique = id.rsplit('.').next().unwrap();
        assert!(
            unique.len() >= 20
                && unique
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{id}"
        );
    };
    shape(&s.tenancy, "ocid1.tenancy.oc1..");
    shape(&s.user, "ocid1.user.oc1..");
    shape(&s.compartment, "ocid1.compartment.oc1..");
    shape(&s.image, "ocid1.image.oc1.iad.");
    shape(&s.subnet, "ocid1.subnet.oc1.iad.");
    shape(&s.load_balancer, "ocid1.loadbalancer.oc1.iad.");
    shape(&s.host_instance, "ocid1.instance.oc1.iad.");
    shape(&s.function, "ocid1.fnfunc.oc1.iad.");
    let seed = super::common::json(t.admin("GET", "/_sim/seed", None).await).await;
    assert_eq!(seed["loadBalancer"], s.load_balancer.as_str());
}

#[tokio::test]
async fn a_missing_nested_output_directory_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a").join("b");
    let sim = oci_sim::Sim::start(oci_sim::SimConfig::new(&out))
        .await
        .unwrap();
    assert!(out.join("config").is_file());
    assert!(out.join("rp").join("env").is_file());
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unusable_time_scale_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = oci_sim::SimConfig::new(dir.path());
    config.time_scale = 0.0;
    let err = oci_sim::Sim::start(config).await.unwrap_err();
    assert!(err.to_string().contains("time scale"), "{err}");
}
