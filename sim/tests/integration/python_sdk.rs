//! The fidelity check: Oracle's official Python SDK (`oci`) against an in-process simulator.
//!
//! Runs `tests/python/sdk_identity.py` (auth and identity) and `tests/python/sdk_services.py`
//! (compute, networking, load balancers, Object Storage) with the project's Python: `FLEETCTL_TEST_PYTHON` if
//! set, else `<workspace>/.venv/bin/python`. Without either the test FAILS (run
//! `cargo xtask setup`, which creates `.venv` from `tests/python/requirements.txt`).

use std::path::PathBuf;
use std::time::Duration;

use oci_sim::auth::KeyIdKind;
use oci_sim::{Sim, SimConfig};

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("FLEETCTL_TEST_PYTHON") {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "FLEETCTL_TEST_PYTHON={} does not exist; point it at a Python with the `oci` package, \
             or unset it and run `cargo xtask setup` to create .venv",
            p.display()
        );
        return p;
    }
    let venv = workspace_root().join(".venv").join("bin").join("python");
    assert!(
        venv.exists(),
        "no Python for the SDK fidelity check: {} is missing and FLEETCTL_TEST_PYTHON is not set. \
         Run `cargo xtask setup` (it creates .venv and installs tests/python/requirements.txt).",
        venv.display()
    );
    venv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_accepts_the_simulator() {
    let python = python();
    let script = workspace_root()
        .join("tests")
        .join("python")
        .join("sdk_identity.py");
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start(SimConfig::new(dir.path().join("out")))
        .await
        .unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(180),
        tokio::process::Command::new(&python)
            .arg(&script)
            .arg("--config")
            .arg(sim.config_file())
            .arg("--endpoint")
            .arg(sim.base_url())
            .arg("--rp-env")
            .arg(sim.resource_principal_env_file())
            // The SDK must never reach a real OCI endpoint or IMDS from here.
            .env_remove("OCI_METADATA_BASE_URL")
            .env("NO_PROXY", "127.0.0.1")
            .output(),
    )
    .await
    .expect("the SDK script did not finish within 180 s")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the SDK fidelity script failed ({}).\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("the script printed no JSON summary ({e}):\n{stdout}\n{stderr}")
    });
    assert_eq!(summary["ok"], true, "{summary:#}");
    let passed: Vec<&str> = summary["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == true)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for required in [
        "api_key.get_user",
        "api_key.get_tenancy",
        "api_key.list_region_subscriptions",
        "api_key.list_availability_domains",
        "api_key.compartments_paged",
        "api_key.update_user",
        "refused.tampered_signature",
        "refused.tampered_body",
        "refused.missing_compartment_parameter",
        "session_token",
        "resource_principal",
        "instance_principal",
    ] {
        assert!(
            passed.contains(&required),
            "check {required} did not pass: {summary:#}"
        );
    }

    // The simulator's own log proves the SDK's requests reached it, signed each way.
    let log = sim.requests();
    let count = |op: &str, status: u16, kind: KeyIdKind| {
        log.iter()
            .filter(|e| {
                e.operation.as_deref() == Some(op)
                    && e.status == Some(status)
                    && e.key_id_kind == Some(kind)
            })
            .count()
    };
    assert!(count("GetUser", 200, KeyIdKind::ApiKey) >= 1);
    assert!(
        count("GetUser", 401, KeyIdKind::ApiKey) >= 1,
        "tampered signature not seen"
    );
    assert!(
        count("UpdateUser", 401, KeyIdKind::ApiKey) >= 1,
        "tampered body not seen"
    );
    assert!(count("GetTenancy", 200, KeyIdKind::Session) >= 1);
    assert!(count("RefreshSessionToken", 200, KeyIdKind::Session) >= 1);
    assert!(count("GetTenancy", 200, KeyIdKind::Resource) >= 1);
    assert!(count("X509FederationRequest", 200, KeyIdKind::Federation) >= 1);
    assert!(count("GetTenancy", 200, KeyIdKind::Instance) >= 1);
    assert!(
        log.iter()
            .filter(|e| e.operation.as_deref() == Some("ListCompartments"))
            .count()
            >= 2,
        "paging did not take two pages"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_drives_every_cloud_service() {
    let python = python();
    let script = workspace_root()
        .join("tests")
        .join("python")
        .join("sdk_services.py");
    let dir = tempfile::tempdir().unwrap();
    let mut config = SimConfig::new(dir.path().join("out"));
    // 30 s of provisioning take 0.3 s: the SDK's waiters see every state without long waits.
    config.time_scale = 0.01;
    let sim = Sim::start(config).await.unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new(&python)
            .arg(&script)
            .arg("--config")
            .arg(sim.config_file())
            .arg("--endpoint")
            .arg(sim.base_url())
            .env_remove("OCI_METADATA_BASE_URL")
            .env("NO_PROXY", "127.0.0.1")
            .output(),
    )
    .await
    .expect("the SDK script did not finish within 300 s")
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the SDK services script failed ({}).\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("the script printed no JSON summary ({e}):\n{stdout}\n{stderr}")
    });
    assert_eq!(summary["ok"], true, "{summary:#}");
    let passed: Vec<&str> = summary["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == true)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for required in [
        "compute.launch_instance",
        "compute.launch_retry_token",
        "compute.get_instance_running",
        "compute.list_instances_paged",
        "network.vnics",
        "network.missing_compartment",
        "compute.instance_action",
        "compute.terminate_instance",
        "lb.get",
        "lb.create_backend",
        "lb.health",
        "lb.update_backend",
        "lb.duplicate_fails",
        "lb.list_work_requests",
        "lb.delete_backend",
        "nlb.backend_cycle",
        "os.namespace_and_buckets",
        "os.conditional_writes",
        "os.list_and_delete",
        "extras.other_reads",
    ] {
        assert!(
            passed.contains(&required),
            "check {required} did not pass: {summary:#}"
        );
    }

    // The simulator's log proves each operation reached it from the SDK and succeeded.
    let log = sim.requests();
    let ok = |op: &str, prefix: &str| {
        log.iter().any(|e| {
            e.operation.as_deref() == Some(op)
                && e.path.starts_with(prefix)
                && e.status.is_some_and(|s| (200..300).contains(&s))
                && e.key_id_kind == Some(KeyIdKind::ApiKey)
        })
    };
    for (op, prefix) in [
        ("LaunchInstance", "/20160918/"),
        ("GetInstance", "/20160918/"),
        ("ListInstances", "/20160918/"),
        ("InstanceAction", "/20160918/"),
        ("TerminateInstance", "/20160918/"),
        ("ListVnicAttachments", "/20160918/"),
        ("GetVnicAttachment", "/20160918/"),
        ("GetVnic", "/20160918/"),
        ("GetSubnet", "/20160918/"),
        ("ListSubnets", "/20160918/"),
        ("GetImage", "/20160918/"),
        ("ListLoadBalancers", "/20170115/"),
        ("ListWorkRequestErrors", "/20200501/"),
        ("ListBuckets", "/n/"),
        ("GetLoadBalancer", "/20170115/"),
        ("GetBackendSet", "/20170115/"),
        ("CreateBackend", "/20170115/"),
        ("UpdateBackend", "/20170115/"),
        ("DeleteBackend", "/20170115/"),
        ("ListBackends", "/20170115/"),
        ("GetBackend", "/20170115/"),
        ("GetBackendHealth", "/20170115/"),
        ("GetBackendSetHealth", "/20170115/"),
        ("GetLoadBalancerHealth", "/20170115/"),
        ("GetWorkRequest", "/20170115/"),
        ("ListWorkRequests", "/20170115/"),
        ("GetNetworkLoadBalancer", "/20200501/"),
        ("CreateBackend", "/20200501/"),
        ("UpdateBackend", "/20200501/"),
        ("DeleteBackend", "/20200501/"),
        ("ListBackends", "/20200501/"),
        ("GetBackend", "/20200501/"),
        ("GetBackendHealth", "/20200501/"),
        ("GetBackendSetHealth", "/20200501/"),
        ("GetWorkRequest", "/20200501/"),
        ("GetNamespace", "/n"),
        ("GetBucket", "/n/"),
        ("CreateBucket", "/n/"),
        ("HeadBucket", "/n/"),
        ("PutObject", "/n/"),
        ("GetObject", "/n/"),
        ("HeadObject", "/n/"),
        ("ListObjects", "/n/"),
        ("DeleteObject", "/n/"),
    ] {
        assert!(
            ok(op, prefix),
            "no successful {op} under {prefix} in the request log"
        );
    }
    let refused = |op: &str, status: u16| {
        log.iter()
            .any(|e| e.operation.as_deref() == Some(op) && e.status == Some(status))
    };
    assert!(refused("PutObject", 412), "no 412 on a stale etag");
    assert!(
        refused("CreateBackend", 409),
        "no NLB 409 for a concurrent mutation"
    );
    assert!(
        refused("InstanceAction", 412),
        "no 412 for a stale instance etag"
    );
    sim.shutdown().await;
}
