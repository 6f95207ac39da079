//! What the backends conformance suite (`conformance.rs`) needs to know about each kind of load
//! balancer in the simulator: which seeded load balancer and backend set, and where the two
//! services differ on the wire (prefix, status of an accepted mutation, settings knobs).
#![allow(clippy::unwrap_used, dead_code)]

pub mod conformance;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use fleetctl_core::clock::Sleeper;
use fleetctl_core::config::LoadBalancerType;
use fleetctl_core::ids::LoadBalancerId;
use fleetctl_core::oci::backend_set::BackendSetClient;
use fleetctl_core::oci::client::OciClient;
use fleetctl_core::oci::wire::RetryToken;
use fleetctl_core::oci::workrequest::{MutationLocks, WaitPolicy};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::{Notify, Semaphore};

use crate::oci_ops_support::{OpsSim, fast_retries, fast_waits, user_client};

/// One kind of load balancer in a fresh simulator.
pub struct Target {
    pub s: OpsSim,
    pub kind: LoadBalancerType,
    /// This test's own turns (so tests running at once in this binary, whose simulators seed
    /// the same OCIDs, do not wait for each other).
    pub locks: MutationLocks,
}

impl Target {
    /// A simulator, aimed at its seeded load balancer of `kind`.
    pub async fn start(kind: LoadBalancerType) -> Self {
        Self {
            s: OpsSim::start().await,
            kind,
            locks: MutationLocks::default(),
        }
    }

    pub fn is_network(&self) -> bool {
        self.kind == LoadBalancerType::Network
    }

    /// The seeded load balancer of this kind.
    pub fn load_balancer(&self) -> LoadBalancerId {
        if self.is_network() {
            self.s.network_load_balancer()
        } else {
            self.s.load_balancer()
        }
    }

    /// The seeded load balancer of the other kind.
    pub fn other_kind_load_balancer(&self) -> LoadBalancerId {
        if self.is_network() {
            self.s.load_balancer()
        } else {
            self.s.network_load_balancer()
        }
    }

    pub fn backend_set(&self) -> String {
        if self.is_network() {
            self.s.nlb_backend_set()
        } else {
            self.s.backend_set()
        }
    }

    /// A client of the seeded backend set with fast waits and this test's turns.
    pub fn backends(&self) -> BackendSetClient {
        self.backends_of(self.s.client.clone(), &self.backend_set())
    }

    /// A client of backend set `set` over `client`, with fast waits and this test's turns.
    pub fn backends_of(&self, client: OciClient, set: &str) -> BackendSetClient {
        BackendSetClient::new(client, self.kind, self.load_balancer(), set)
            .unwrap()
            .with_wait_policy(fast_waits())
            .with_locks(self.locks.clone())
    }

    /// The API version prefix of every path.
    pub fn prefix(&self) -> &'static str {
        if self.is_network() {
            "/20200501/"
        } else {
            "/20170115/"
        }
    }

    /// What OCI answers a mutation it accepted: the classic LB 204, the NLB 202.
    pub fn accepted(&self) -> Option<u16> {
        Some(if self.is_network() { 202 } else { 204 })
    }

    /// The work request type of a CreateBackend, as OCI names it.
    pub fn create_work_request_type(&self) -> &'static str {
        if self.is_network() {
            "CREATE_BACKEND"
        } else {
            "CreateBackend"
        }
    }

    /// The simulator's name of this service (`service` of `/_sim/world` work requests).
    fn service(&self) -> &'static str {
        if self.is_network() { "nlb" } else { "lb" }
    }

    /// Makes the next `count` work requests of this kind FAIL.
    pub async fn fail_next(&self, count: u32) {
        self.s
            .admin(
                reqwest::Method::POST,
                &format!("/_sim/{}/fail-next", self.service()),
                Some(json!({ "count": count })),
            )
            .await;
    }

    /// Sets how long this kind's work requests run, in simulated seconds (a millisecond each
    /// at the tests' time scale).
    pub async fn work_requests_take(&self, seconds: f64) {
        let key = if self.is_network() {
            "nlbWorkRequestSeconds"
        } else {
            "lbWorkRequestSeconds"
        };
        self.s.settings(json!({ key: seconds })).await;
    }

    /// Makes OCI refuse a mutation while another runs (409 `Conflict`): what the NLB always
    /// does, and the classic LB with the simulator's knob.
    pub async fn refuse_concurrent_mutations(&self) {
        if !self.is_network() {
            self.s
                .settings(json!({"lbRejectConcurrentMutations": true}))
                .await;
        }
    }

    /// This kind's work requests in the simulator.
    pub async fn work_requests(&self) -> Vec<Value> {
        let world = self.s.world().await;
        world["workRequests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["service"] == self.service())
            .cloned()
            .collect()
    }

    /// This kind's work requests as (accepted, finished) times, in order.
    pub async fn work_request_spans(&self) -> Vec<(OffsetDateTime, OffsetDateTime)> {
        let mut spans: Vec<_> = self
            .work_requests()
            .await
            .iter()
            .map(|w| {
                let t = |k: &str| OffsetDateTime::parse(w[k].as_str().unwrap(), &Rfc3339).unwrap();
                (t("timeAccepted"), t("timeFinished"))
            })
            .collect();
        spans.sort();
        spans
    }

    /// A client whose first wait blocks on `gate` (see [`Gate`]).
    pub async fn gated_client(&self, gate: Arc<Gate>) -> OciClient {
        user_client(&self.s.sim, |b| {
            b.retry_policy(fast_retries()).sleeper(gate)
        })
        .await
        .build()
        .unwrap()
    }
}

pub fn ip(last: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, last])
}

pub fn token(what: &str) -> RetryToken {
    RetryToken::derive("backends", &"op-1".parse().unwrap(), what)
}

/// A sleeper whose first sleep announces itself and waits until the test opens the gate; later
/// sleeps just sleep. It lets a test act at the exact moment the client is waiting between
/// two attempts (for instance, change a backend from "another process").
#[derive(Debug)]
pub struct Gate {
    entered: Notify,
    open: Semaphore,
    used: AtomicBool,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            entered: Notify::new(),
            open: Semaphore::new(0),
            used: AtomicBool::new(false),
        }
    }
}

impl Gate {
    /// Waits until the client is held at the gate (at most 20 s).
    pub async fn reached(&self) {
        tokio::time::timeout(Duration::from_secs(20), self.entered.notified())
            .await
            .expect("the client never waited at the gate");
    }

    /// Lets the held client go on.
    pub fn open(&self) {
        self.open.add_permits(1);
    }
}

#[async_trait]
impl Sleeper for Gate {
    async fn sleep(&self, duration: Duration) {
        if !self.used.swap(true, Ordering::SeqCst) {
            self.entered.notify_one();
            self.open.acquire().await.unwrap().forget();
        } else {
            tokio::time::sleep(duration).await;
        }
    }
}

/// A wait policy whose timeout is `timeout`, polling fast.
pub fn waits_for(timeout: Duration) -> WaitPolicy {
    WaitPolicy {
        first_poll: Duration::from_millis(5),
        max_poll: Duration::from_millis(20),
        timeout,
    }
}
