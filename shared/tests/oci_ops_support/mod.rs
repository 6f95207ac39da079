//! Helpers for the `oci_ops_*` tests: an in-process simulator (oci-sim) on loopback, a
//! fleetctl `OciClient` pointed at it with fast retries, the simulator's admin calls, the
//! request log, and polling with a deadline (no fixed sleeps).
#![allow(clippy::unwrap_used, dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetctl_core::env::Env;
use fleetctl_core::ids::{CompartmentId, ImageId, InstanceId, LoadBalancerId, SubnetId};
use fleetctl_core::oci::auth::endpoints_for;
use fleetctl_core::oci::auth::{AuthContext, AuthMethod, AuthSettings, CredentialProvider};
use fleetctl_core::oci::build_provider;
use fleetctl_core::oci::client::OciClient;
use fleetctl_core::oci::compute::{self, Instance, InstanceLifecycleState, LaunchInstanceDetails};
use fleetctl_core::oci::retry::RetryPolicy;
use fleetctl_core::oci::wire::RetryToken;
use fleetctl_core::oci::workrequest::WaitPolicy;
use oci_sim::{LogEntry, Sim, SimConfig, SimHandle};
use serde_json::{Value, json};

/// The simulator's time scale in these tests: a 30 s boot takes 30 ms.
pub const TIME_SCALE: f64 = 0.001;

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

/// A simulator with a fleetctl client (API key of the DEFAULT profile) pointed at it.
pub struct OpsSim {
    pub sim: SimHandle,
    pub client: OciClient,
    pub admin: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl OpsSim {
    /// Starts a simulator at [`TIME_SCALE`] with a fixed seed.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = SimConfig::new(dir.path().join("sim"));
        config.time_scale = TIME_SCALE;
        config.seed = Some(7);
        let sim = Sim::start(config).await.unwrap();
        let client = user_client(&sim, |b| b.retry_policy(fast_retries()))
            .await
            .build()
            .unwrap();
        Self {
            sim,
            client,
            admin: reqwest::Client::builder().no_proxy().build().unwrap(),
            _dir: dir,
        }
    }

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

    /// Waits until the instance is in `state` (GetInstance), within 20 s.
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

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    /// An admin call; panics unless it answers 2xx.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.admin.request(method.clone(), self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(
            status.is_success(),
            "admin {method} {path} answered {status}: {text}"
        );
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }

    /// `PUT /_sim/settings` with a partial document.
    pub async fn settings(&self, patch: Value) {
        self.admin(reqwest::Method::PUT, "/_sim/settings", Some(patch))
            .await;
    }

    /// `POST /_sim/faults`.
    pub async fn fault(&self, rule: Value) {
        self.admin(reqwest::Method::POST, "/_sim/faults", Some(rule))
            .await;
    }

    /// `POST /_sim/time/advance`.
    pub async fn advance(&self, seconds: f64) {
        self.admin(
            reqwest::Method::POST,
            "/_sim/time/advance",
            Some(json!({ "seconds": seconds })),
        )
        .await;
    }

    /// `GET /_sim/world`.
    pub async fn world(&self) -> Value {
        self.admin(reqwest::Method::GET, "/_sim/world", None).await
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

    /// Clears the request log.
    pub async fn clear_requests(&self) {
        self.admin(reqwest::Method::DELETE, "/_sim/requests", None)
            .await;
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
    edit: impl FnOnce(
        fleetctl_core::oci::client::OciClientBuilder,
    ) -> fleetctl_core::oci::client::OciClientBuilder,
) -> fleetctl_core::oci::client::OciClientBuilder {
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

/// Polls `check` until it returns `Ok`, for at most 20 s; panics with the last value seen.
pub async fn eventually<T, E, F, Fut>(what: &str, mut check: F) -> T
where
    E: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
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
