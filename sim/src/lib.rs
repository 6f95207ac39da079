//! oci-sim: a local OCI that speaks the REST API over HTTP on loopback.
//!
//! It is written from OCI's documents and checked against Oracle's own Python SDK; it shares
//! no code with fleetctl's client, so a mistake there cannot hide behind the same mistake here.
//!
//! ```no_run
//! # async fn demo() -> Result<(), oci_sim::SimError> {
//! let sim = oci_sim::Sim::start(oci_sim::SimConfig::new("/tmp/oci-sim")).await?;
//! println!("{} (config file {})", sim.base_url(), sim.config_file().display());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Layout: [`state::World`] holds every resource behind one lock, one module per service under
//! [`services`]; [`http::router::Registry`] names every operation by its OCI name; the
//! [`clock::SimClock`] holds the simulated now and the time scale; [`auth`] verifies OCI
//! request signatures.

pub mod auth;
pub mod clock;
pub mod crypto;
pub mod faults;
pub mod files;
pub mod http;
pub mod jwt;
pub mod ocid;
pub mod pki;
pub mod reqlog;
pub mod services;
pub mod state;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use clock::{BadAdvance, BadTimeScale};
pub use ocid::Ocid;
pub use reqlog::LogEntry;
pub use state::SeededIds;

/// The seed `fleetctl demo` starts the simulator with, so its OCIDs are the same on every run
/// and `config/fleet.local.yaml.tmpl` can name them (a test keeps the two in step).
pub const DEMO_SEED: u64 = 1;

/// The address `fleetctl demo` serves the simulator on by default (the local template's
/// `endpoint`).
pub const DEMO_LISTEN: &str = "127.0.0.1:8999";

use crate::clock::{SimClock, rfc3339};
use crate::faults::Faults;
use crate::files::{OutFiles, WriteError};
use crate::reqlog::RequestLog;
use crate::services::auth_service::{AuthKeys, AuthSeed, AuthSetupError, AuthState};
use crate::services::compute::ComputeState;
use crate::services::identity::IdentityState;
use crate::services::load_balancer::{
    LB_ADDRESS, LB_PROBE_PRIMARY, LB_PROBE_STANDBY, LoadBalancerState,
};
use crate::services::network::{NetworkState, NewVnic, create_primary_vnic};
use crate::services::nlb::{NLB_ADDRESS, NlbState};
use crate::services::object_storage::ObjectStorageState;
use crate::state::{Ctx, REGION, World};

pub use crate::services::health::HealthStatus;
pub use crate::services::settings::{BadSetting, CapacityRule, LimitRule, ServiceSettings};

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free port. Default `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// Where the config, keys and tokens are written (created if missing).
    pub out_dir: PathBuf,
    /// Every simulated duration is multiplied by this (0.001: a 60 s boot takes 60 ms).
    pub time_scale: f64,
    /// Seeds OCIDs and fault probabilities; random when `None`.
    pub seed: Option<u64>,
    /// Lifetime of the tokens the simulator issues (settable later via `PUT /_sim/tokens`).
    pub token_lifetime: Duration,
    /// Lifecycle durations, page sizes, work-request and health timing (later
    /// `PUT /_sim/settings`).
    pub services: ServiceSettings,
    /// Host capacity per shape (later `PUT /_sim/capacity`); none means unlimited.
    pub capacity: Vec<CapacityRule>,
    /// Service limits (later `PUT /_sim/limits`); none means unlimited.
    pub limits: Vec<LimitRule>,
    /// Also seed `fleet-subnet-large` (10.0.128.0/17, 32,765 addresses), for fleets of
    /// thousands of instances (the /24 subnets hold about 250). Default `false`: every other
    /// seeded id is the same either way.
    pub large_subnet: bool,
}

impl SimConfig {
    pub fn new(out_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            out_dir: out_dir.into(),
            time_scale: 1.0,
            seed: None,
            token_lifetime: Duration::from_secs(3600),
            services: ServiceSettings::default(),
            capacity: Vec::new(),
            limits: Vec::new(),
            large_subnet: false,
        }
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    TimeScale(#[from] BadTimeScale),
    #[error("cannot create the output directory {}", path.display())]
    OutDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("creating the simulator's keys and certificates")]
    Credentials(#[source] AuthSetupError),
    #[error("writing the simulator's files")]
    Files(#[source] WriteError),
    #[error("the key-generation task failed")]
    Task(#[source] tokio::task::JoinError),
    #[error("invalid service settings")]
    Settings(#[source] BadSetting),
    #[error("invalid capacity rule")]
    Capacity(#[source] BadSetting),
    #[error("seeding the simulated world: {0}")]
    Seed(String),
}

/// What kind of failure a [`SimError`] is (the binary's exit code follows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimErrorKind {
    /// The configuration is wrong (time scale, settings, capacity rules): fix the arguments.
    Config,
    /// The machine refused: the port is taken, the output directory is unusable.
    Environment,
    /// The simulator itself failed (key generation, seeding).
    Internal,
}

impl SimError {
    pub fn kind(&self) -> SimErrorKind {
        match self {
            Self::TimeScale(_) | Self::Settings(_) | Self::Capacity(_) => SimErrorKind::Config,
            Self::OutDir { .. } | Self::Bind { .. } | Self::Files(_) => SimErrorKind::Environment,
            Self::Credentials(_) | Self::Task(_) | Self::Seed(_) => SimErrorKind::Internal,
        }
    }
}

/// Entry point.
#[derive(Debug)]
pub struct Sim;

impl Sim {
    /// Creates the world, binds the listener, writes the files, and starts serving.
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        let clock = SimClock::new(config.time_scale)?;
        config.services.validate().map_err(SimError::Settings)?;
        for rule in &config.capacity {
            rule.validate().map_err(SimError::Capacity)?;
        }
        std::fs::create_dir_all(&config.out_dir).map_err(|source| SimError::OutDir {
            path: config.out_dir.clone(),
            source,
        })?;
        let out_dir =
            std::fs::canonicalize(&config.out_dir).map_err(|source| SimError::OutDir {
                path: config.out_dir.clone(),
                source,
            })?;
        let seed = config.seed.unwrap_or_else(|| fastrand::u64(..));
        let keys = tokio::task::spawn_blocking(AuthKeys::generate)
            .await
            .map_err(SimError::Task)?
            .map_err(|e| SimError::Credentials(e.into()))?;

        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: config.listen,
            source,
        })?;
        let base_url = format!("http://{addr}");

        let (mut world, seeded) = seed_world(
            seed,
            keys,
            &clock,
            config.token_lifetime,
            config.large_subnet,
        )?;
        world.settings = config.services.clone();
        world.capacity = config.capacity.clone();
        world.limits = config.limits.clone();
        let files = OutFiles::new(out_dir.clone());
        files
            .write_all(&world.auth, &seeded)
            .map_err(SimError::Files)?;

        let ctx = Arc::new(Ctx {
            world: Mutex::new(world),
            clock,
            faults: Mutex::new(Faults::new(seed)),
            log: Mutex::new(RequestLog::default()),
            registry: services::registry(),
            files,
            base_url: base_url.clone(),
            seeded: seeded.clone(),
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let server = tokio::spawn(http::server::serve(listener, ctx.clone(), shutdown_rx));
        tracing::info!(%base_url, out_dir = %out_dir.display(), seed, "oci-sim started");
        Ok(SimHandle {
            base_url,
            addr,
            out_dir,
            seeded,
            ctx,
            shutdown_tx,
            server: Some(server),
        })
    }
}

fn seed_world(
    seed: u64,
    keys: AuthKeys,
    clock: &SimClock,
    token_lifetime: Duration,
    large_subnet: bool,
) -> Result<(World, SeededIds), SimError> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let now = clock.now();
    let now_text = rfc3339(now);
    let (identity, ids) = IdentityState::seed(&mut rng, &now_text);
    let mut network = NetworkState::default();
    let subnets = network.seed(&mut rng, &ids.compartment, now);
    let subnet = subnets
        .first()
        .cloned()
        .ok_or_else(|| SimError::Seed("no subnet was seeded".into()))?;
    for ip in [LB_ADDRESS, LB_PROBE_PRIMARY, LB_PROBE_STANDBY, NLB_ADDRESS] {
        network.reserve(&subnet, ip);
    }
    let mut compute = ComputeState::default();
    let image = compute.seed_image(&mut rng, &now_text);
    let ads: Vec<String> = identity
        .availability_domains
        .iter()
        .map(|a| a.name.clone())
        .collect();
    let first_ad = ads.first().cloned().unwrap_or_default();
    let host = compute.seed_host_instance(&mut rng, &ids.compartment, &first_ad, &image, now);
    let mut load_balancer = LoadBalancerState::default();
    let lb = load_balancer.seed(&mut rng, &ids.compartment, &subnet, now);
    let mut nlb = NlbState::default();
    let network_load_balancer = nlb.seed(&mut rng, &ids.compartment, &subnet, now);
    let object_storage = ObjectStorageState::seed(&mut rng, &ids.compartment, &ids.user, now);
    let function = Ocid::mint(&mut rng, "fnfunc", state::REGION_SHORT);
    let auth = AuthState::new(
        &AuthSeed {
            tenancy: ids.tenancy.clone(),
            user: ids.user.clone(),
            compartment: ids.compartment.clone(),
            host_instance: host.clone(),
            function: function.clone(),
        },
        keys,
        now,
        clock.now_unix(),
        token_lifetime,
    )
    .map_err(SimError::Credentials)?;
    let mut seeded = SeededIds {
        tenancy: ids.tenancy,
        tenancy_name: identity.tenancy.name.clone(),
        user: ids.user,
        compartment: ids.compartment.clone(),
        sandbox_compartment: ids.sandbox.clone(),
        availability_domains: ads,
        image,
        subnet: subnet.clone(),
        subnets,
        large_subnet: None,
        load_balancer: lb,
        backend_set: "web".into(),
        network_load_balancer,
        nlb_backend_set: "web".into(),
        namespace: object_storage.namespace.clone(),
        bucket: services::object_storage::SEEDED_BUCKET.into(),
        host_instance: host.clone(),
        function,
        region: REGION.into(),
    };
    let mut world = World {
        rng,
        identity,
        network,
        compute,
        load_balancer,
        nlb,
        object_storage,
        auth,
        settings: ServiceSettings::default(),
        capacity: Vec::new(),
        limits: Vec::new(),
        health_overrides: Default::default(),
        retry_tokens: Default::default(),
    };
    // The host instance's primary VNIC: the first address of the first subnet.
    let host_vnic = NewVnic {
        subnet_id: subnet.to_string(),
        assign_public_ip: Some(false),
        private_ip: None,
        hostname_label: Some("oci-sim-host".into()),
        display_name: None,
        nsg_ids: Vec::new(),
        skip_source_dest_check: false,
        freeform_tags: Default::default(),
        defined_tags: Default::default(),
    };
    create_primary_vnic(
        &mut world,
        &host,
        ids.compartment.as_str(),
        &first_ad,
        &host_vnic,
        now,
    )
    .map_err(|e| SimError::Seed(e.message))?;
    if large_subnet {
        // Minted last, from the world's generator, so that every id seeded above is the same
        // with or without it.
        let id = world
            .network
            .seed_large_subnet(&mut world.rng, &seeded.compartment, now)
            .ok_or_else(|| SimError::Seed("no VCN for the large subnet".into()))?;
        seeded.subnets.push(id.clone());
        seeded.large_subnet = Some(id);
    }
    Ok((world, seeded))
}

/// A running simulator. Dropping it stops the server too; [`SimHandle::shutdown`] also waits.
#[derive(Debug)]
pub struct SimHandle {
    base_url: String,
    addr: SocketAddr,
    out_dir: PathBuf,
    seeded: SeededIds,
    ctx: Arc<Ctx>,
    shutdown_tx: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`: every service lives under this one URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// The output directory (absolute).
    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }
    /// The seeded tenancy, user, compartment, image, subnet, load balancer, host instance...
    pub fn seeded(&self) -> &SeededIds {
        &self.seeded
    }
    pub fn tenancy_id(&self) -> &Ocid {
        &self.seeded.tenancy
    }
    pub fn user_id(&self) -> &Ocid {
        &self.seeded.user
    }
    pub fn compartment_id(&self) -> &Ocid {
        &self.seeded.compartment
    }
    pub fn image_id(&self) -> &Ocid {
        &self.seeded.image
    }
    pub fn subnet_id(&self) -> &Ocid {
        &self.seeded.subnet
    }
    /// Every seeded subnet; the first is [`SimHandle::subnet_id`].
    pub fn subnet_ids(&self) -> &[Ocid] {
        &self.seeded.subnets
    }
    /// `fleet-subnet-large` (10.0.128.0/17), when [`SimConfig::large_subnet`] seeded it.
    pub fn large_subnet_id(&self) -> Option<&Ocid> {
        self.seeded.large_subnet.as_ref()
    }
    pub fn load_balancer_id(&self) -> &Ocid {
        &self.seeded.load_balancer
    }
    pub fn network_load_balancer_id(&self) -> &Ocid {
        &self.seeded.network_load_balancer
    }
    /// The Object Storage namespace (`simnamespace`).
    pub fn namespace(&self) -> &str {
        &self.seeded.namespace
    }
    /// The seeded bucket (`fleetctl-state`).
    pub fn bucket(&self) -> &str {
        &self.seeded.bucket
    }
    pub fn host_instance_id(&self) -> &Ocid {
        &self.seeded.host_instance
    }
    /// `DIR/config` (profiles DEFAULT and SESSION).
    pub fn config_file(&self) -> PathBuf {
        self.ctx.files.config.clone()
    }
    /// `DIR/rp/env`.
    pub fn resource_principal_env_file(&self) -> PathBuf {
        self.ctx.files.rp_env.clone()
    }
    /// The request log (same as `GET /_sim/requests`).
    pub fn requests(&self) -> Vec<LogEntry> {
        self.ctx.log().entries().to_vec()
    }
    /// The simulated now.
    pub fn now(&self) -> SystemTime {
        self.ctx.clock.now()
    }
    /// Moves the simulated clock forward (same as `POST /_sim/time/advance`); refused when it
    /// would run more than [`clock::MAX_OFFSET`] (100 years) ahead of the real clock.
    pub fn advance(&self, by: Duration) -> Result<(), BadAdvance> {
        self.ctx.clock.advance(by)
    }
    /// The world as `GET /_sim/world` shows it.
    pub fn world_json(&self) -> serde_json::Value {
        let (world, tick) = self.ctx.settled();
        services::knobs::world_json(&world, tick)
    }

    /// Stops accepting, lets in-flight requests finish (up to 5 s), and waits for the server.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
    }
}
