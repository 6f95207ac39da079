//! The simulator's shared state: one [`World`] of resources behind one lock, plus the clock,
//! the fault rules, the request log and the operation registry.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use crate::clock::SimClock;
use crate::faults::Faults;
use crate::files::OutFiles;
use crate::http::router::Registry;
use crate::ocid::Ocid;
use crate::reqlog::RequestLog;
use crate::services::auth_service::AuthState;
use crate::services::compute::ComputeState;
use crate::services::health::Overrides;
use crate::services::identity::IdentityState;
use crate::services::load_balancer::LoadBalancerState;
use crate::services::network::NetworkState;
use crate::services::nlb::NlbState;
use crate::services::object_storage::ObjectStorageState;
use crate::services::retry::RetryTokens;
use crate::services::settings::{CapacityRule, LimitRule, ServiceSettings, Tick};

/// The region every simulated resource lives in.
pub const REGION: &str = "us-ashburn-1";
/// Its short code (what OCIDs and `Instance.region` use).
pub const REGION_SHORT: &str = "iad";
pub const REGION_KEY: &str = "IAD";
pub const REALM: &str = "oc1";
pub const REALM_DOMAIN: &str = "oraclecloud.com";

/// Every simulated resource, one module of state per OCI service.
#[derive(Debug)]
pub struct World {
    /// Mints OCIDs; seeded from `--seed` so ids repeat across runs with the same seed.
    pub rng: fastrand::Rng,
    pub identity: IdentityState,
    pub network: NetworkState,
    pub compute: ComputeState,
    pub load_balancer: LoadBalancerState,
    pub nlb: NlbState,
    pub object_storage: ObjectStorageState,
    pub auth: AuthState,
    /// The knobs of `/_sim/settings`.
    pub settings: ServiceSettings,
    /// Host capacity (`/_sim/capacity`) and service limits (`/_sim/limits`).
    pub capacity: Vec<CapacityRule>,
    pub limits: Vec<LimitRule>,
    /// Backend health forced by `/_sim/health-overrides`.
    pub health_overrides: Overrides,
    pub retry_tokens: RetryTokens,
}

impl World {
    /// Brings every lazily computed lifecycle up to `tick.now`: instance transitions and
    /// load-balancer work requests whose time has come are applied, in order.
    pub fn settle(&mut self, tick: Tick) {
        self.compute.settle(tick, &self.settings);
        self.load_balancer.settle(tick.now);
        self.nlb.settle(tick.now);
    }
}

/// Everything a request handler can reach.
#[derive(Debug)]
pub struct Ctx {
    pub world: Mutex<World>,
    pub clock: SimClock,
    pub faults: Mutex<Faults>,
    pub log: Mutex<RequestLog>,
    pub registry: Registry,
    pub files: OutFiles,
    pub base_url: String,
    pub seeded: SeededIds,
}

/// The ids of the resources seeded at start (`GET /_sim/seed`).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeededIds {
    pub tenancy: Ocid,
    pub tenancy_name: String,
    pub user: Ocid,
    pub compartment: Ocid,
    /// `sandbox`: a second compartment, empty when seeded (no host instance, no load
    /// balancer), where a fleet can run alone, as operators run fleets in their own
    /// compartment.
    pub sandbox_compartment: Ocid,
    pub availability_domains: Vec<String>,
    pub image: Ocid,
    /// The first subnet (10.0.0.0/24, private): the one fleetctl's demo fleet file uses
    /// unless the large subnet is seeded.
    pub subnet: Ocid,
    /// Every seeded subnet, the first one first (10.0.0.0/24 private, 10.0.1.0/24 public,
    /// then the large one when seeded).
    pub subnets: Vec<Ocid>,
    /// `fleet-subnet-large` (10.0.128.0/17, private), seeded only with
    /// [`crate::SimConfig::large_subnet`]; fleetctl's demo fleet file uses it then.
    pub large_subnet: Option<Ocid>,
    pub load_balancer: Ocid,
    pub backend_set: String,
    pub network_load_balancer: Ocid,
    pub nlb_backend_set: String,
    /// Object Storage namespace and the seeded bucket.
    pub namespace: String,
    pub bucket: String,
    /// The instance instance-principal auth (IMDS) speaks for.
    pub host_instance: Ocid,
    /// The function the resource principal (`DIR/rp/`) speaks for.
    pub function: Ocid,
    pub region: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ctx {
    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }
    /// The world with every lifecycle brought up to now, and that now.
    pub fn settled(&self) -> (MutexGuard<'_, World>, Tick) {
        let mut world = lock(&self.world);
        let tick = Tick {
            now: self.clock.now(),
            scale: self.clock.time_scale(),
        };
        world.settle(tick);
        (world, tick)
    }
    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.faults)
    }
    pub fn log(&self) -> MutexGuard<'_, RequestLog> {
        lock(&self.log)
    }
    pub fn out_dir(&self) -> &PathBuf {
        &self.files.dir
    }
}
