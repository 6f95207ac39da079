//! The composition root: one [`Fleet`], opened from the fleet file and the front door's
//! [`Overrides`], holds the OCI client, the state store and the load balancer handle. The CLI,
//! the HTTP server and the function open it the same way ([`Fleet::open`]) and then only
//! call it and render what it returns; every decision about how the parts are put together
//! (which state URL wins, which store needs the OCI client, whose ledger a store holds) is
//! made here.
//!
//! Also here: [`connect`] (the client alone, for commands that need no store),
//! [`connect_settings`] (a client before any fleet file exists) and
//! [`validate_auth`], behind `fleetctl auth validate`.
//!
//! The top rung of the core's ladder: it uses every other module, and none uses it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fleetctl_api::status::FleetStatus;
use serde::Serialize;
use url::Url;

use crate::Error;
use crate::cloud::{Cloud, auth_settings, load_balancer_backends, with_hints};
use crate::config::{self, FleetConfig};
use crate::env::Env;
use crate::http::ProxyConfig;
use crate::oci::auth::{self, AuthContext, PrincipalKind};
use crate::oci::backends::LoadBalancerBackends;
use crate::oci::{OciClient, OciError, identity};
use crate::store::ledger::Ledger;
use crate::store::{OpenOptions, StateStore, StoreError, StoreUrl, Version};
use crate::{observe, ops, status};

/// What a front door adds to the fleet file: the command line's flags, a request's
/// parameters, the environment the process runs in.
#[derive(Debug, Clone)]
pub struct Overrides {
    /// The state URL (`--state`, env `FLEETCTL_STATE`, a request's); it wins over
    /// `spec.state.url`, which wins over the default `.fleetctl/state.json`.
    pub state_url: Option<String>,
    /// The base URL of every OCI service; it wins over `spec.endpoint`, which wins over env
    /// `FLEETCTL_OCI_ENDPOINT`.
    pub endpoint: Option<Url>,
    /// The environment (credentials, proxies, `s3://` settings, the endpoint variable), the
    /// clock, the sleeper and the HTTP client of the connection and the store.
    pub auth: AuthContext,
    /// How long a reconcile step's lease lasts; [`ops::LEASE_TTL`] when not given.
    pub lease_ttl: Option<Duration>,
}

impl Overrides {
    /// No override: the fleet file as written, in `env`, with the system clock.
    pub fn new(env: Env) -> Self {
        Self {
            state_url: None,
            endpoint: None,
            auth: AuthContext::new(env),
            lease_ttl: None,
        }
    }

    /// Uses `url` as the state URL, when given.
    pub fn state_url(mut self, url: Option<String>) -> Self {
        self.state_url = url;
        self
    }

    /// Points every OCI service at `base`.
    pub fn endpoint(mut self, base: Url) -> Self {
        self.endpoint = Some(base);
        self
    }

    /// Sets how long a reconcile step's lease lasts, when given.
    pub fn lease_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// Replaces the injected context (environment, clock, sleeper, HTTP client).
    pub fn auth(mut self, auth: AuthContext) -> Self {
        self.auth = auth;
        self
    }
}

/// Builds the provider the fleet file selects and a client over it: the fleet file's
/// `spec.auth` and `spec.endpoint`, with [`Overrides::endpoint`] winning over the latter and
/// the injected context ([`Overrides::auth`]) for the environment, clock and HTTP.
///
/// # Errors
/// [`Error::Auth`] for credentials that cannot be loaded (a configuration problem when the
/// configuration is at fault, infrastructure when a call such as instance-principal
/// federation failed) and [`Error::Oci`] when the HTTP client cannot be built; with
/// [`crate::cloud::hints`] attached when fleetctl has advice.
pub async fn connect(fleet: &FleetConfig, overrides: &Overrides) -> Result<Cloud, Error> {
    connect_plain(fleet, overrides)
        .await
        .map_err(|e| with_hints(e, fleet, None))
}

async fn connect_plain(fleet: &FleetConfig, overrides: &Overrides) -> Result<Cloud, Error> {
    connect_settings(auth_settings(fleet), overrides).await
}

/// [`connect`] from plain settings, before any fleet file exists: `fleetctl-function` reads
/// its fleet file from Object Storage with such a client. [`Overrides::endpoint`] wins over
/// `settings.endpoint`; the injected context ([`Overrides::auth`]) gives the environment,
/// clock and HTTP.
///
/// # Errors
/// As [`connect`], without hints (there is no fleet file to advise on).
pub async fn connect_settings(
    mut settings: auth::AuthSettings,
    overrides: &Overrides,
) -> Result<Cloud, Error> {
    let ctx = &overrides.auth;
    if let Some(endpoint) = &overrides.endpoint {
        settings.endpoint = Some(endpoint.clone());
    }
    let provider: Arc<dyn auth::CredentialProvider> =
        Arc::from(auth::build_provider(&settings, ctx).await?);
    let endpoints = auth::endpoints_for(&*provider, &settings, &ctx.env)?;
    let region = endpoints.region().clone();
    let principal = provider.principal();
    // The proxy comes from the injected environment, like everything else the connection reads.
    let proxy = ProxyConfig::from_env(&ctx.env).map_err(|source| OciError::Proxy {
        operation: "connect",
        source,
    })?;
    let mut builder = OciClient::builder(provider, endpoints)
        .clock(ctx.clock.clone())
        .sleeper(ctx.sleeper.clone())
        .proxy(proxy);
    if let Some(http) = ctx.http.clone() {
        builder = builder.http_client(http);
    }
    let client = builder.build()?;
    Ok(Cloud {
        client,
        region,
        principal,
    })
}

/// One fleet, ready to work on: the fleet file, the OCI connection, the state store and the
/// load balancer's backend set, shared (cheap to clone) as the reconcile step's
/// [`ops::Context`].
#[derive(Debug, Clone)]
pub struct Fleet {
    ctx: ops::Context,
}

impl Fleet {
    /// Loads the fleet file at `path` ([`config::load_file`]) and opens it ([`Fleet::open`]).
    ///
    /// # Errors
    /// [`Error::Config`] for a fleet file that cannot be read or is invalid; then as
    /// [`Fleet::open`].
    pub async fn open_file(path: &Path, overrides: Overrides) -> Result<Fleet, Error> {
        let config = config::load_file(path)?;
        Fleet::open(config, overrides).await
    }

    /// Opens the fleet `config` describes, with `overrides`:
    ///
    /// 1. the state URL ([`Overrides::state_url`], else `spec.state.url`) is parsed, and a
    ///    store that needs no OCI client is opened, before anything connects, so a mistyped
    ///    URL is a configuration error on any machine;
    /// 2. [`connect`];
    /// 3. an `oci://` store is opened with the connection's client;
    /// 4. the load balancer's backend set, when the fleet file has one;
    /// 5. the lease holder id of this process ([`ops::holder_id`]) and the lease's TTL
    ///    ([`Overrides::lease_ttl`]).
    ///
    /// Nothing is read or written yet.
    ///
    /// # Errors
    /// [`Error::Store`] for a state URL or store that cannot be used, then as [`connect`].
    pub async fn open(config: FleetConfig, overrides: Overrides) -> Result<Fleet, Error> {
        let url = overrides
            .state_url
            .clone()
            .unwrap_or_else(|| config.spec.state.url.as_str().to_string());
        let parsed = StoreUrl::parse(&url).map_err(StoreError::from)?;
        let options = OpenOptions::new().env(overrides.auth.env.clone());
        let local_store = match parsed {
            StoreUrl::Oci { .. } => None,
            _ => Some(StateStore::open(&url, &options)?),
        };
        let cloud = connect(&config, &overrides).await?;
        let store = match local_store {
            Some(store) => store,
            None => StateStore::open(&url, &options.oci_client(cloud.client.clone()))?,
        };
        let load_balancer = match &config.spec.load_balancer {
            Some(lb) => Some(load_balancer_backends(&cloud.client, lb)?),
            None => None,
        };
        Ok(Fleet {
            ctx: ops::Context {
                config: Arc::new(config),
                cloud: Arc::new(cloud),
                store: Arc::new(store),
                lb: load_balancer,
                holder: ops::holder_id(),
                lease_ttl: overrides.lease_ttl.unwrap_or(ops::LEASE_TTL),
            },
        })
    }

    /// The fleet file.
    pub fn config(&self) -> &FleetConfig {
        &self.ctx.config
    }

    /// The client every OCI operation goes through.
    pub fn client(&self) -> &OciClient {
        &self.ctx.cloud.client
    }

    /// The connection: the client, its region and who it signs as.
    pub fn cloud(&self) -> &Cloud {
        &self.ctx.cloud
    }

    /// The store that keeps the fleet's ledger.
    pub fn store(&self) -> &StateStore {
        &self.ctx.store
    }

    /// The load balancer's backend set, when the fleet file has a load balancer.
    pub fn load_balancer(&self) -> Option<&dyn LoadBalancerBackends> {
        self.ctx.lb.as_deref()
    }

    /// What the reconcile step and the requests of [`ops`] work with.
    pub fn context(&self) -> &ops::Context {
        &self.ctx
    }

    /// Loads the ledger and its version (for a conditional save), or `None` when the store
    /// has none yet.
    ///
    /// # Errors
    /// [`Error::ForeignLedger`] when the ledger belongs to another fleet (two fleets must never
    /// share one), and [`Error::Store`] when it cannot be read.
    pub async fn ledger(&self) -> Result<Option<(Ledger, Version)>, Error> {
        ops::read(&self.ctx).await
    }

    /// `fleetctl status`: loads the ledger, observes the cloud and builds the status
    /// ([`crate::observe::observe`], [`status::build`]).
    ///
    /// # Errors
    /// As [`Fleet::ledger`], or a failed OCI call; with [`crate::cloud::hints`] attached when
    /// fleetctl has advice.
    pub async fn status(&self) -> Result<FleetStatus, Error> {
        let run = async {
            let ledger = self.ledger().await?.map(|(ledger, _)| ledger);
            let observation = observe::observe(
                self.config(),
                self.client(),
                self.load_balancer(),
                ledger.as_ref(),
            )
            .await?;
            Ok(status::build(
                self.config(),
                self.store().url(),
                ledger.as_ref(),
                &observation,
            ))
        };
        run.await
            .map_err(|e| with_hints(e, self.config(), Some(self.client().endpoints())))
    }
}

/// What `fleetctl auth validate` reports when OCI accepted the credentials.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthReport {
    /// Always true in a report (failures are errors).
    pub ok: bool,
    /// `api_key`, `session_token`, `instance` or `resource`.
    pub principal_kind: &'static str,
    /// The principal in words, e.g. `user (API key)`.
    pub principal: String,
    /// Where the credentials came from, e.g. `profile [DEFAULT] in /home/u/.oci/config`.
    pub source: String,
    /// The region requests went to.
    pub region: String,
    /// The tenancy OCID.
    pub tenancy: String,
    /// The user OCID (API key, session token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The user's name, when the check read the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The instance OCID (instance principal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The resource OCID (resource principal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The IAM operation that proved the credentials (`GetUser` or `ListAvailabilityDomains`).
    pub check: &'static str,
    /// The base URL of the identity service that answered.
    pub identity_endpoint: String,
}

/// Connects as the fleet file says and makes one lightweight IAM call: `GetUser` for a user
/// principal (it proves the user OCID and the key together), `ListAvailabilityDomains` on the
/// tenancy otherwise (every principal may list them, so no policy is needed).
///
/// # Errors
/// As [`connect`], or the failed call; with [`crate::cloud::hints`] attached
/// ([`Error::WithHints`]) when fleetctl has advice.
pub async fn validate_auth(
    fleet: &FleetConfig,
    overrides: &Overrides,
) -> Result<AuthReport, Error> {
    let cloud = connect(fleet, overrides).await?;
    let p = &cloud.principal;
    let check = async {
        Ok::<_, Error>(match &p.user {
            Some(user) => {
                let u = identity::get_user(&cloud.client, user).await?;
                ("GetUser", u.name)
            }
            None => {
                let compartment = crate::ids::CompartmentId::from(&p.tenancy);
                identity::list_availability_domains(&cloud.client, &compartment).await?;
                ("ListAvailabilityDomains", None)
            }
        })
    };
    let (check, user_name) = check
        .await
        .map_err(|e| with_hints(e, fleet, Some(cloud.client.endpoints())))?;
    let identity_endpoint = cloud
        .client
        .endpoints()
        .base_url(crate::oci::Service::Identity)
        .map(|u| u.to_string())
        .unwrap_or_default();
    Ok(AuthReport {
        ok: true,
        principal_kind: match p.kind {
            PrincipalKind::ApiKey => "api_key",
            PrincipalKind::SessionToken => "session_token",
            PrincipalKind::Instance => "instance",
            PrincipalKind::Resource => "resource",
        },
        principal: p.kind.to_string(),
        source: p.source.clone(),
        region: cloud.region.id().to_string(),
        tenancy: p.tenancy.to_string(),
        user: p.user.as_ref().map(ToString::to_string),
        user_name,
        instance: p.instance.as_ref().map(ToString::to_string),
        resource: p.resource.as_ref().map(ToString::to_string),
        check,
        identity_endpoint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorClass;

    /// A simulated OCI and its fleet file, with a closed port as the file's endpoint: only the
    /// override reaches the simulator.
    async fn sim_and_config(dir: &Path) -> (oci_sim::SimHandle, FleetConfig) {
        let mut sim_config = oci_sim::SimConfig::new(dir.join("sim"));
        sim_config.time_scale = 0.001;
        let sim = oci_sim::Sim::start(sim_config)
            .await
            .expect("the simulator starts");
        // The simulator writes no fleet file (it does not know the format): a small one here.
        let s = sim.seeded();
        let text = format!(
            "kind: FleetConfig\n\
             metadata: {{name: demo}}\n\
             spec:\n\
             \x20 compartmentId: {}\n\
             \x20 imageId: {}\n\
             \x20 availabilityDomain: \"{}\"\n\
             \x20 shape: VM.Standard2.1\n\
             \x20 subnetId: {}\n\
             \x20 endpoint: http://127.0.0.1:9\n\
             \x20 auth: {{method: user, configFile: {}, profile: DEFAULT}}\n\
             \x20 instances: [{{name: web, count: 3}}]\n\
             \x20 loadBalancer: {{enabled: true, type: classic, loadBalancerId: {}, backendSetName: {}, port: 8080}}\n\
             \x20 state: {{url: {}}}\n",
            s.compartment,
            s.image,
            s.availability_domains
                .first()
                .map(String::as_str)
                .unwrap_or_default(),
            s.subnet,
            sim.config_file().display(),
            s.load_balancer,
            s.backend_set,
            dir.join("state.json").display(),
        );
        let config = config::load_str("fleet.yaml", &text).expect("a valid fleet file");
        (sim, config)
    }

    fn overrides_for(sim: &oci_sim::SimHandle, state: &str) -> Overrides {
        Overrides::new(Env::empty())
            .state_url(Some(state.to_string()))
            .endpoint(Url::parse(sim.base_url()).expect("the sim's URL"))
    }

    #[tokio::test]
    async fn the_overrides_win_over_the_fleet_file() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (sim, config) = sim_and_config(dir.path()).await;
        let fleet = Fleet::open(config, overrides_for(&sim, "memory://fleet-overrides"))
            .await
            .expect("the fleet opens");
        assert_eq!(fleet.store().url(), "memory://fleet-overrides");
        assert!(fleet.load_balancer().is_some());
        // Only the simulator answers: the fleet file's endpoint is a closed port.
        let status = fleet.status().await.expect("status against the simulator");
        assert_eq!(status.fleet, "demo");
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn a_ledger_of_another_fleet_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (sim, config) = sim_and_config(dir.path()).await;
        let fleet = Fleet::open(config, overrides_for(&sim, "memory://fleet-foreign"))
            .await
            .expect("the fleet opens");
        let other = Ledger::new(
            "other".parse().expect("a name"),
            time::OffsetDateTime::UNIX_EPOCH,
        );
        fleet
            .store()
            .create(&other)
            .await
            .expect("a ledger is written");
        let err = fleet.ledger().await.expect_err("another fleet's ledger");
        assert!(
            matches!(&err, Error::ForeignLedger { found, .. } if found.as_str() == "other"),
            "{err:?}"
        );
        assert_eq!(err.class(), ErrorClass::Configuration);
        let err = fleet.status().await.expect_err("status refuses it too");
        assert_eq!(err.class(), ErrorClass::Configuration);
        let kept = fleet
            .store()
            .load()
            .await
            .expect("readable")
            .expect("still there");
        assert_eq!(kept.0, other);
        sim.shutdown().await;
    }

    #[tokio::test]
    async fn a_bad_state_url_is_reported_before_anything_connects() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (sim, mut config) = sim_and_config(dir.path()).await;
        // Connecting would fail too, with another error.
        config.spec.auth.config_file = dir.path().join("no-such-oci-config");
        config.spec.auth.config_file_explicit = true;
        let err = Fleet::open(config, overrides_for(&sim, "gs://bucket/key"))
            .await
            .expect_err("an unsupported scheme");
        assert!(
            matches!(err, Error::Store(StoreError::InvalidUrl { .. })),
            "{err:?}"
        );
        assert_eq!(err.class(), ErrorClass::Configuration);
        sim.shutdown().await;
    }
}
