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
use crate::services::identity::IdentityState;
use crate::services::load_balancer::LoadBalancerState;
use crate::services::network::NetworkState;

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
    pub auth: AuthState,
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
    pub availability_domains: Vec<String>,
    pub image: Ocid,
    pub subnet: Ocid,
    pub load_balancer: Ocid,
    pub backend_set: String,
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
