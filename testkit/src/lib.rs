//! The one test harness for fleetctl's core (`shared/tests`) and CLI (`cli/tests`) tests.
//!
//! - [`TestSim`]: an `oci-sim` started in this process on loopback with a time scale and a
//!   seed, its seeded ids as fleetctl's typed ids, its fleet file ([`TestSim::fleet_file`], the
//!   one place a test reads it), the admin calls (`/_sim/...`: settings, faults, capacity,
//!   limits, time) and the request log.
//! - [`fast_retries`] / [`fast_waits`]: the one retry and wait policy of the tests, and
//!   [`user_client`] / [`TestSim::client`]: a fleetctl `OciClient` signed with the simulator's
//!   DEFAULT profile that uses them.
//! - [`eventually`]: polling with a deadline (tests never sleep a fixed time).
//! - [`Secrets`] / [`assert_no_secrets`]: the test secrets (the simulator's keys and tokens,
//!   the test passphrase, the API token a test adds) and the check that output holds none.
//! - [`props`]: the seeded, bounded proptest runner of the bad-input suites.
//!
//! A dev-dependency only; the simulator's own tests (`sim/tests`) do not use it because it
//! links fleetctl-core (the two walls of `DESIGN.md`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap here is a failed test

/// The demo fleet file's writer, shared with `fleetctl demo` (the simulator does not know
/// fleetctl's format).
#[path = "../../cli/src/demo_fleet.rs"]
pub mod demo_fleet;
pub mod props;
mod secrets;

pub use secrets::{Secrets, TEST_PASSPHRASE, assert_no_secrets};

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetctl_core::env::Env;
use fleetctl_core::ids::{CompartmentId, ImageId, InstanceId, LoadBalancerId, SubnetId};
use fleetctl_core::oci::auth::endpoints_for;
use fleetctl_core::oci::auth::{AuthContext, AuthMethod, AuthSettings, CredentialProvider};
use fleetctl_core::oci::build_provider;
use fleetctl_core::oci::client::{OciClient, OciClientBuilder};
use fleetctl_core::oci::compute::{self, Instance, InstanceLifecycleState, LaunchInstanceDetails};
use fleetctl_core::oci::retry::RetryPolicy;
use fleetctl_core::oci::wire::RetryToken;
use fleetctl_core::oci::workrequest::WaitPolicy;
pub use oci_sim::{LogEntry, Sim, SimConfig, SimHandle};
pub use reqwest::Method;
use serde_json::{Value, json};

/// The simulator's time scale in tests: a 30 s boot takes 30 ms.
pub const TIME_SCALE: f64 = 0.001;
/// The seed of [`TestSim::start`] (a fixed seed makes ids and jitter repeatable).
pub const SEED: u64 = 7;
/// How long [`eventually`] polls before it fails the test.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The simulator's own calls (`requests()`, `seeded()`, `base_url()`, …) on the harness.
impl std::ops::Deref for TestSim {
    type Target = SimHandle;
    fn deref(&self) -> &SimHandle {
        &self.sim
    }
}

/// Retries fast enough for tests, with the production shape (8 attempts, capped, budgeted).
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_total: Duration::from_secs(20),
    }
}

/// Work-request waits fast enough for tests.
pub fn fast_waits() -> WaitPolicy {
    WaitPolicy {
        first_poll: Duration::from_millis(2),
        max_poll: Duration::from_millis(20),
        timeout: Duration::from_secs(20),
    }
}

/// An HTTP client for the simulator's admin calls that never goes through a proxy.
pub fn admin_http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A simulator running in this process, its temporary directory and an admin client.
pub struct TestSim {
    pub sim: SimHandle,
    /// A fleetctl client signed with the DEFAULT profile (API key), with [`fast_retries`].
    pub client: OciClient,
    admin: reqwest::Client,
    dir: tempfile::TempDir,
    fleet_file: PathBuf,
}

impl TestSim {
    /// A simulator at [`TIME_SCALE`] with seed [`SEED`].
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A simulator at [`TIME_SCALE`] with seed [`SEED`], then `edit` applied to its config
    /// (e.g. another seed, `time_scale = 1.0`, a fixed port).
    pub async fn start_with(edit: impl FnOnce(&mut SimConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = SimConfig::new(dir.path().join("sim"));
        config.time_scale = TIME_SCALE;
        config.seed = Some(SEED);
        edit(&mut config);
        let sim = Sim::start(config).await.unwrap();
        let fleet_file = demo_fleet::write(&sim).unwrap();
        let client = user_client(&sim, |b| b.retry_policy(fast_retries()))
            .await
            .build()
            .unwrap();
        Self {
            sim,
            client,
            admin: admin_http(),
            dir,
            fleet_file,
        }
    }

    /// A temporary directory that lives as long as the simulator (for state files, edited
    /// fleet files, …).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    // ---- ids --------------------------------------------------------------------------

    pub fn compartment(&self) -> CompartmentId {
        self.sim.compartment_id().as_str().parse().unwrap()
    }

    pub fn image(&self) -> ImageId {
        self.sim.image_id().as_str().parse().unwrap()
    }

    /// The first (private, 10.0.0.0/24) subnet.
    pub fn subnet(&self) -> SubnetId {
        self.sim.subnet_id().as_str().parse().unwrap()
    }

    /// The second (public, 10.0.1.0/24) subnet.
    pub fn public_subnet(&self) -> SubnetId {
        self.sim.subnet_ids()[1].as_str().parse().unwrap()
    }

    /// The first availability domain.
    pub fn ad(&self) -> String {
        self.sim.seeded().availability_domains[0].clone()
    }

    pub fn load_balancer(&self) -> LoadBalancerId {
        self.sim.load_balancer_id().as_str().parse().unwrap()
    }

    pub fn network_load_balancer(&self) -> LoadBalancerId {
        self.sim
            .network_load_balancer_id()
            .as_str()
            .parse()
            .unwrap()
    }

    pub fn backend_set(&self) -> String {
        self.sim.seeded().backend_set.clone()
    }

    pub fn nlb_backend_set(&self) -> String {
        self.sim.seeded().nlb_backend_set.clone()
    }

    // ---- the fleet file ---------------------------------------------------------------

    /// The demo fleet file for this simulator (group `web` of 3 behind the seeded classic
    /// load balancer), written at start by [`demo_fleet`] as `fleetctl demo` writes it. The one
    /// place the tests get it.
    pub fn fleet_file(&self) -> PathBuf {
        self.fleet_file.clone()
    }

    /// The demo fleet file with `count` instances of `web`, `lb_extra` appended inside the
    /// load balancer's flow map (e.g. `", drainTimeout: 50ms"`) and, when not empty,
    /// `rollout` as the body of `spec.rollout`; written to `DIR/fleet.yaml`.
    pub fn edited_fleet_file(&self, count: u32, lb_extra: &str, rollout: &str) -> PathBuf {
        let text = std::fs::read_to_string(self.fleet_file()).unwrap();
        let mut text = text
            .replace(
                "- {name: web, count: 3}",
                &format!("- {{name: web, count: {count}}}"),
            )
            .replace("port: 8080}", &format!("port: 8080{lb_extra}}}"));
        if !rollout.is_empty() {
            text = format!("{text}  rollout: {{{rollout}}}\n");
        }
        let file = self.dir().join("fleet.yaml");
        std::fs::write(&file, text).unwrap();
        file
    }

    // ---- compute through the fleetctl client --------------------------------------------

    /// A flexible launch in the first subnet.
    pub fn launch_details(&self, name: &str) -> LaunchInstanceDetails {
        let mut d = LaunchInstanceDetails::new(
            self.compartment(),
            self.ad(),
            "VM.Standard.E4.Flex",
            self.image(),
            self.subnet(),
        );
        d.shape_config = Some(compute::LaunchShapeConfig {
            ocpus: Some(1.0),
            memory_in_gbs: Some(8.0),
        });
        d.display_name = Some(name.to_string());
        d
    }

    /// Launches `name` with a token derived from it.
    pub async fn launch(&self, name: &str) -> Instance {
        compute::launch_instance(
            &self.client,
            &self.launch_details(name),
            &RetryToken::derive("launch", &"test".parse().unwrap(), name),
        )
        .await
        .unwrap()
    }

    /// Waits until the instance is in `state` (GetInstance), within [`DEADLINE`].
    pub async fn wait_for_state(&self, id: &InstanceId, state: InstanceLifecycleState) {
        let client = self.client.clone();
        eventually(&format!("instance {id} {state}"), || {
            let client = client.clone();
            let state = state.clone();
            async move {
                let i = compute::get_instance(&client, id).await.unwrap();
                (i.lifecycle_state == state)
                    .then_some(())
                    .ok_or(i.lifecycle_state)
            }
        })
        .await;
    }

    // ---- admin calls ----------------------------------------------------------------------

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    /// An admin call answered with its status and body (JSON, or `Null` when empty).
    pub async fn admin_raw(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.admin.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// An admin call; panics unless it answers 2xx.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.admin_raw(method.clone(), path, body).await;
        assert!(
            (200..300).contains(&status),
            "admin {method} {path} answered {status}: {value}"
        );
        value
    }

    /// `POST /_sim/images`: a new image (a new build to roll out).
    pub async fn add_image(&self) -> ImageId {
        let v = self
            .admin(Method::POST, "/_sim/images", Some(serde_json::json!({})))
            .await;
        v["id"].as_str().unwrap().parse().unwrap()
    }

    /// `PUT /_sim/health-overrides/images`: every backend of an instance of `image` gets
    /// `status` (`"CRITICAL"`: a bad image that never becomes healthy); `None` removes it.
    pub async fn image_health(&self, image: &ImageId, status: Option<&str>) {
        self.admin(
            Method::PUT,
            "/_sim/health-overrides/images",
            Some(serde_json::json!({"imageId": image.as_str(), "status": status})),
        )
        .await;
    }

    /// `PUT /_sim/settings` with a partial document, e.g. `{"maxPageSize": 2}`.
    pub async fn settings(&self, patch: Value) {
        self.admin(Method::PUT, "/_sim/settings", Some(patch)).await;
    }

    /// `POST /_sim/faults`.
    pub async fn fault(&self, rule: Value) {
        self.admin(Method::POST, "/_sim/faults", Some(rule)).await;
    }

    /// `PUT /_sim/capacity`.
    pub async fn capacity(&self, rule: Value) {
        self.admin(Method::PUT, "/_sim/capacity", Some(rule)).await;
    }

    /// `DELETE /_sim/capacity`: capacity back to unlimited.
    pub async fn clear_capacity(&self) {
        self.admin(Method::DELETE, "/_sim/capacity", None).await;
    }

    /// `PUT /_sim/limits`.
    pub async fn limits(&self, limits: Value) {
        self.admin(Method::PUT, "/_sim/limits", Some(limits)).await;
    }

    /// `POST /_sim/time/advance`.
    pub async fn advance(&self, seconds: f64) {
        self.admin(
            Method::POST,
            "/_sim/time/advance",
            Some(json!({ "seconds": seconds })),
        )
        .await;
    }

    /// `GET /_sim/world`.
    pub async fn world(&self) -> Value {
        self.admin(Method::GET, "/_sim/world", None).await
    }

    /// Ids of the instances in the world (TERMINATED ones still listed are included).
    pub async fn world_instance_ids(&self) -> Vec<String> {
        self.world().await["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    }

    // ---- the request log ----------------------------------------------------------------

    /// Clears the request log.
    pub async fn clear_requests(&self) {
        self.admin(Method::DELETE, "/_sim/requests", None).await;
    }

    /// The logged requests of one OCI operation, in order.
    pub fn calls(&self, operation: &str) -> Vec<LogEntry> {
        self.sim
            .requests()
            .into_iter()
            .filter(|e| e.operation.as_deref() == Some(operation))
            .collect()
    }
}

/// A client builder for the simulator's DEFAULT profile (API key), so a test can change the
/// retry policy, clock or sleeper before building.
pub async fn user_client(
    sim: &SimHandle,
    edit: impl FnOnce(OciClientBuilder) -> OciClientBuilder,
) -> OciClientBuilder {
    let settings = AuthSettings {
        method: Some(AuthMethod::User),
        config_file: Some(sim.config_file()),
        profile: Some("DEFAULT".into()),
        region: None,
        endpoint: Some(url::Url::parse(sim.base_url()).unwrap()),
        metadata_base_url: None,
    };
    let ctx = AuthContext::new(Env::empty());
    let provider: Arc<dyn CredentialProvider> =
        Arc::from(build_provider(&settings, &ctx).await.unwrap());
    let endpoints = endpoints_for(provider.as_ref(), &settings, &ctx.env).unwrap();
    edit(OciClient::builder(provider, endpoints))
}

/// Writes the demo fleet file of a simulator started without [`TestSim`] (as
/// [`TestSim::fleet_file`] has it: `DIR/fleet.yaml` of its output directory) and returns its
/// path.
pub fn fleet_file(sim: &SimHandle) -> PathBuf {
    demo_fleet::write(sim).unwrap()
}

/// Polls `check` until it returns `Ok`, for at most [`DEADLINE`]; panics with the last value
/// seen.
pub async fn eventually<T, E, F, Fut>(what: &str, mut check: F) -> T
where
    E: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + DEADLINE;
    let mut wait = Duration::from_millis(1);
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) => {
                assert!(
                    Instant::now() < deadline,
                    "timed out waiting for {what}; last seen: {last:?}"
                );
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_millis(25));
    }
}

/// The statuses of log entries (None for a dropped connection).
pub fn statuses(entries: &[LogEntry]) -> Vec<Option<u16>> {
    entries.iter().map(|e| e.status).collect()
}
