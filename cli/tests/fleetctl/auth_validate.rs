//! `fleetctl auth validate` end to end: the binary signs real requests to `oci-sim` over
//! loopback for every principal kind, and fails with the documented hints and exit codes.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use fleetctl_testkit::TestSim;
use oci_sim::auth::keys::KeyIdKind;

struct Fixture {
    sim: TestSim,
}

impl Fixture {
    async fn start() -> Self {
        Fixture {
            sim: TestSim::start().await,
        }
    }

    fn dir(&self) -> &Path {
        self.sim.out_dir()
    }

    /// The simulator's own fleet file with its `auth:` line replaced.
    fn fleet_with_auth(&self, name: &str, auth: &str) -> PathBuf {
        let text = std::fs::read_to_string(self.sim.fleet_file()).unwrap();
        let mut replaced = false;
        let lines: Vec<String> = text
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("auth:") {
                    replaced = true;
                    format!("  auth: {auth}")
                } else {
                    l.to_string()
                }
            })
            .collect();
        assert!(
            replaced,
            "the simulator's fleet.yaml has an auth line:\n{text}"
        );
        let path = self.dir().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    }

    /// A fleet file using the API key of `config`'s DEFAULT profile.
    fn fleet_with_config_file(&self, name: &str, config: &Path) -> PathBuf {
        self.fleet_with_auth(
            name,
            &format!(
                "{{method: user, configFile: {}, region: us-ashburn-1}}",
                config.display()
            ),
        )
    }

    fn user_auth(&self, profile: &str) -> String {
        format!(
            "{{method: user, configFile: {}, profile: {profile}, region: us-ashburn-1}}",
            self.sim.config_file().display()
        )
    }

    /// Operations the simulator answered with 200, with the kind of key that signed them.
    fn ok_calls(&self) -> Vec<(String, Option<KeyIdKind>)> {
        self.sim
            .requests()
            .into_iter()
            .filter(|e| e.status == Some(200))
            .filter_map(|e| e.operation.map(|op| (op, e.key_id_kind)))
            .collect()
    }
}

async fn fleetctl(args: &[&str], env: &BTreeMap<String, String>) -> Output {
    // Nothing from the machine running the tests may leak into the run.
    let mut cmd = support::fleetctl_async();
    cmd.args(args);
    cmd.envs(env);
    cmd.output().await.unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn no_env() -> BTreeMap<String, String> {
    BTreeMap::new()
}

#[tokio::test]
async fn user_principal_api_key_succeeds_and_reports_who_it_signs_as() {
    let f = Fixture::start().await;
    let fleet = f.sim.fleet_file();
    let out = fleetctl(
        &["--config", fleet.to_str().unwrap(), "auth", "validate"],
        &no_env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("auth: ok (GetUser succeeded)\n"),
        "{stdout}"
    );
    assert!(stdout.contains("principal: user (API key)"), "{stdout}");
    assert!(stdout.contains("region:    us-ashburn-1"), "{stdout}");
    assert!(
        stdout.contains(&format!("tenancy:   {}", f.sim.tenancy_id())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("user:      {}", f.sim.user_id())),
        "{stdout}"
    );
    assert_eq!(
        f.ok_calls(),
        vec![("GetUser".to_string(), Some(KeyIdKind::ApiKey))]
    );
}

#[tokio::test]
async fn log_lines_on_a_stderr_that_is_not_a_terminal_have_no_colour_codes() {
    let f = Fixture::start().await;
    let fleet = f.sim.fleet_file();
    let out = fleetctl(
        &[
            "-vvv",
            "--config",
            fleet.to_str().unwrap(),
            "auth",
            "validate",
        ],
        &no_env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("DEBUG"), "-vvv logs: {stderr}");
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
}

#[tokio::test]
async fn legacy_flag_and_json_output_report_the_same() {
    let f = Fixture::start().await;
    let fleet = f.sim.fleet_file();
    let out = fleetctl(
        &[
            "--config",
            fleet.to_str().unwrap(),
            "--auth-validate",
            "-o",
            "json",
        ],
        &no_env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["principalKind"], "api_key");
    assert_eq!(doc["tenancy"], f.sim.tenancy_id().to_string());
    assert_eq!(doc["user"], f.sim.user_id().to_string());
    assert_eq!(doc["region"], "us-ashburn-1");
    assert_eq!(doc["check"], "GetUser");
}

#[tokio::test]
async fn session_token_profile_signs_with_the_token() {
    let f = Fixture::start().await;
    let fleet = f.fleet_with_auth("session.yaml", &f.user_auth("SESSION"));
    let out = fleetctl(
        &[
            "--config",
            fleet.to_str().unwrap(),
            "auth",
            "validate",
            "-o",
            "json",
        ],
        &no_env(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["principalKind"], "session_token");
    assert_eq!(doc["user"], f.sim.user_id().to_string());
    assert_eq!(
        f.ok_calls(),
        vec![("GetUser".to_string(), Some(KeyIdKind::Session))]
    );
}

#[tokio::test]
async fn instance_principal_federates_through_the_metadata_service() {
    let f = Fixture::start().await;
    let fleet = f.fleet_with_auth("instance.yaml", "{method: instance, region: us-ashburn-1}");
    let env = BTreeMap::from([(
        "OCI_METADATA_BASE_URL".to_string(),
        format!("{}/opc/v2", f.sim.base_url()),
    )]);
    let out = fleetctl(
        &[
            "--config",
            fleet.to_str().unwrap(),
            "auth",
            "validate",
            "-o",
            "json",
        ],
        &env,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["principalKind"], "instance");
    assert_eq!(doc["instance"], f.sim.host_instance_id().to_string());
    assert_eq!(doc["tenancy"], f.sim.tenancy_id().to_string());
    assert_eq!(doc["check"], "ListAvailabilityDomains");
    let calls = f.ok_calls();
    assert!(
        calls.contains(&(
            "X509FederationRequest".to_string(),
            Some(KeyIdKind::Federation)
        )),
        "{calls:?}"
    );
    assert!(
        calls.contains(&(
            "ListAvailabilityDomains".to_string(),
            Some(KeyIdKind::Instance)
        )),
        "{calls:?}"
    );
}

#[tokio::test]
async fn resource_principal_reads_the_function_environment() {
    let f = Fixture::start().await;
    let fleet = f.fleet_with_auth("resource.yaml", "{method: resource}");
    let env: BTreeMap<String, String> =
        std::fs::read_to_string(f.sim.resource_principal_env_file())
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    assert!(env.contains_key("OCI_RESOURCE_PRINCIPAL_RPST"), "{env:?}");
    let out = fleetctl(
        &[
            "--config",
            fleet.to_str().unwrap(),
            "auth",
            "validate",
            "-o",
            "json",
        ],
        &env,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["principalKind"], "resource");
    assert_eq!(
        doc["region"], "us-ashburn-1",
        "from OCI_RESOURCE_PRINCIPAL_REGION"
    );
    assert_eq!(
        f.ok_calls(),
        vec![(
            "ListAvailabilityDomains".to_string(),
            Some(KeyIdKind::Resource)
        )]
    );
}

#[tokio::test]
async fn a_missing_profile_is_exit_1_listing_the_profiles_with_a_hint() {
    let f = Fixture::start().await;
    let fleet = f.fleet_with_auth("noprofile.yaml", &f.user_auth("NOPE"));
    let out = fleetctl(
        &["--config", fleet.to_str().unwrap(), "auth", "validate"],
        &no_env(),
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("profile [NOPE] not found"), "{stderr}");
    assert!(stderr.contains("DEFAULT"), "{stderr}");
    assert!(stderr.contains("hint: set spec.auth.profile"), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(f.ok_calls().is_empty(), "nothing was called");
}

#[tokio::test]
async fn a_missing_config_file_is_exit_1_with_the_wrong_machine_hints() {
    let f = Fixture::start().await;
    let fleet = f.fleet_with_auth(
        "nofile.yaml",
        "{method: user, configFile: /nonexistent/oci/config, region: us-ashburn-1}",
    );
    let out = fleetctl(
        &["--config", fleet.to_str().unwrap(), "auth", "validate"],
        &no_env(),
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/oci/config"), "{stderr}");
    assert!(stderr.contains("hint: no OCI CLI config file"), "{stderr}");
    assert!(stderr.contains("method: instance"), "{stderr}");
}

#[tokio::test]
async fn a_wrong_key_is_refused_by_oci_exit_2_with_signature_hints() {
    let f = Fixture::start().await;
    // The DEFAULT profile, signing with another key (the session key the simulator wrote).
    let config = std::fs::read_to_string(f.sim.config_file()).unwrap();
    let default_section: String = config
        .split("\n[SESSION]")
        .next()
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with("key_file") {
                format!("key_file={}", f.dir().join("session/key.pem").display())
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let wrong = f.dir().join("wrong-key-config");
    std::fs::write(&wrong, default_section + "\n").unwrap();
    let fleet = f.fleet_with_config_file("wrongkey.yaml", &wrong);
    let out = fleetctl(
        &["--config", fleet.to_str().unwrap(), "auth", "validate"],
        &no_env(),
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("401 NotAuthenticated"), "{stderr}");
    assert!(
        stderr.contains("hint: OCI refused the request signature"),
        "{stderr}"
    );
    assert!(
        stderr.contains("fingerprint"),
        "the mismatch warning or hint: {stderr}"
    );
    assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
}

#[tokio::test]
async fn no_region_anywhere_is_exit_1_with_a_hint() {
    let f = Fixture::start().await;
    let config = std::fs::read_to_string(f.sim.config_file()).unwrap();
    let no_region: String = config
        .lines()
        .filter(|l| !l.starts_with("region"))
        .collect::<Vec<_>>()
        .join("\n");
    let path = f.dir().join("no-region-config");
    std::fs::write(&path, no_region + "\n").unwrap();
    let fleet = f.fleet_with_auth(
        "noregion.yaml",
        &format!("{{method: user, configFile: {}}}", path.display()),
    );
    let out = fleetctl(
        &["--config", fleet.to_str().unwrap(), "auth", "validate"],
        &no_env(),
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no OCI region is configured"), "{stderr}");
    assert!(
        stderr.contains("hint: the region is empty or unknown"),
        "{stderr}"
    );
    assert!(f.ok_calls().is_empty());
}

#[tokio::test]
async fn instance_method_off_an_oci_instance_is_exit_2_with_a_hint() {
    let f = Fixture::start().await;
    let fleet = f.fleet_with_auth(
        "offinstance.yaml",
        "{method: instance, region: us-ashburn-1}",
    );
    // A loopback port nothing listens on stands in for an unreachable metadata service.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let env = BTreeMap::from([(
        "OCI_METADATA_BASE_URL".to_string(),
        format!("http://127.0.0.1:{port}/opc/v2"),
    )]);
    let out = fleetctl(
        &["--config", fleet.to_str().unwrap(), "auth", "validate"],
        &env,
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("instance metadata request"), "{stderr}");
    assert!(
        stderr.contains("hint: the instance metadata service did not answer"),
        "{stderr}"
    );
    assert!(stderr.contains("method: user"), "{stderr}");
}

#[tokio::test]
async fn instance_principal_rides_out_metadata_and_federation_errors() {
    let f = Fixture::start().await;
    f.sim
        .fault(serde_json::json!({"operation": "ImdsGetCertificate", "status": 503, "count": 2}))
        .await;
    f.sim
        .fault(serde_json::json!({"operation": "X509FederationRequest", "status": 500, "count": 1}))
        .await;
    let fleet = f.fleet_with_auth("flaky.yaml", "{method: instance, region: us-ashburn-1}");
    let env = BTreeMap::from([(
        "OCI_METADATA_BASE_URL".to_string(),
        format!("{}/opc/v2", f.sim.base_url()),
    )]);
    let out = fleetctl(
        &["--config", fleet.to_str().unwrap(), "auth", "validate"],
        &env,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let statuses = |op: &str| -> Vec<Option<u16>> {
        f.sim
            .requests()
            .into_iter()
            .filter(|e| e.operation.as_deref() == Some(op))
            .map(|e| e.status)
            .collect()
    };
    assert_eq!(
        statuses("ImdsGetCertificate"),
        vec![Some(503), Some(503), Some(200)]
    );
    assert_eq!(
        statuses("X509FederationRequest"),
        vec![Some(500), Some(200)]
    );
}

#[tokio::test]
async fn a_plain_http_endpoint_to_a_host_that_is_not_loopback_is_refused_unless_allowed() {
    let f = Fixture::start().await;
    let port = f.sim.local_addr().port();
    let text_of = std::fs::read_to_string(f.sim.fleet_file()).unwrap();
    let base = f.sim.base_url().trim_end_matches('/');
    assert!(text_of.contains(base), "{text_of}");
    let fleet = f.dir().join("insecure.yaml");
    let remote = format!("http://oci.fleet.test:{port}");
    std::fs::write(&fleet, text_of.replace(base, &remote)).unwrap();

    let out = fleetctl(
        &["--config", fleet.to_str().unwrap(), "auth", "validate"],
        &no_env(),
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "`{remote}` (from the `endpoint` setting) is plain http:// to a host that is not \
             loopback"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("use https://"), "{stderr}");
    assert!(
        stderr.contains("set FLEETCTL_ALLOW_INSECURE_ENDPOINT=1"),
        "{stderr}"
    );
    assert!(f.sim.requests().is_empty(), "nothing was sent");

    // Opted in, the request goes out. The simulator doubles as the HTTP proxy, so the name
    // need not resolve and nothing leaves loopback.
    let env = BTreeMap::from([
        (
            "FLEETCTL_ALLOW_INSECURE_ENDPOINT".to_string(),
            "1".to_string(),
        ),
        ("HTTP_PROXY".to_string(), f.sim.base_url().to_string()),
    ]);
    let out = fleetctl(
        &["--config", fleet.to_str().unwrap(), "auth", "validate"],
        &env,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("endpoint:  {remote}/")),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        f.ok_calls(),
        vec![("GetUser".to_string(), Some(KeyIdKind::ApiKey))]
    );
}

#[tokio::test]
async fn an_upper_case_fingerprint_in_the_profile_signs_with_the_fingerprint_oci_computes() {
    let f = Fixture::start().await;
    let original = std::fs::read_to_string(f.sim.config_file()).unwrap();
    let upper: String = original
        .lines()
        .map(|l| match l.strip_prefix("fingerprint") {
            Some(rest) => format!("fingerprint{}", rest.to_ascii_uppercase()),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(
        upper.trim(),
        original.trim(),
        "the profile has a lower-case fingerprint"
    );
    let config = f.dir().join("config-upper");
    std::fs::write(&config, upper + "\n").unwrap();
    let fleet = f.fleet_with_config_file("upper.yaml", &config);
    let out = fleetctl(
        &["--config", fleet.to_str().unwrap(), "auth", "validate"],
        &no_env(),
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("does not match"),
        "no mismatch warning: {stderr}"
    );
    assert_eq!(
        f.ok_calls(),
        vec![("GetUser".to_string(), Some(KeyIdKind::ApiKey))]
    );
}
