//! The validated fleet definition: typed IDs, defaults resolved, cross-field rules checked.
//!
//! Values of these types come from [`super::load_file`] and friends, which guarantee the
//! invariants stated on each field. The fields are public for reading; code that changes them
//! takes over the responsibility for those invariants.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::ids::{CompartmentId, FleetName, GroupName, ImageId, LoadBalancerId, SubnetId};

pub use super::raw::AuthMethod;
use super::types::{
    CheckpointWaitSpec, CountOrPercent, EnvVarName, ListenAddr, Region, StateUrl, TagValue,
};
pub use crate::values::{InstanceMetadata, LoadBalancerType, RebootAction, RolloutStrategy};

/// A validated fleet file.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    /// The fleet's identity.
    pub metadata: Metadata,
    /// What the fleet is made of and how it is managed.
    pub spec: FleetSpec,
}

impl FleetConfig {
    /// The sum of `spec.instances[].count`: how many instances the fleet should have.
    pub fn total_instances(&self) -> u64 {
        self.spec.instances.iter().map(|g| u64::from(g.count)).sum()
    }

    /// The subnet a group's instances go in: the group's `subnetId`, else `spec.subnetId`.
    /// Validation guarantees one of them is set, and the result is resolved at load time, so
    /// this cannot fail. (The explicit lifetime lets the answer borrow from the group.)
    pub fn subnet_for<'a>(&'a self, group: &'a InstanceGroup) -> &'a SubnetId {
        &group.subnet
    }

    /// The group with this name, if any.
    pub fn group(&self, name: &str) -> Option<&InstanceGroup> {
        self.spec.instances.iter().find(|g| g.name.as_str() == name)
    }
}

/// The fleet's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The fleet name (1-63 characters of `[A-Za-z0-9._-]`, starting alphanumeric).
    pub name: FleetName,
}

/// What the fleet is made of and how it is managed.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetSpec {
    /// Where instances are launched (a compartment or tenancy OCID).
    pub compartment_id: CompartmentId,
    /// The image every instance boots from.
    pub image_id: ImageId,
    /// The availability domain (non-empty).
    pub availability_domain: String,
    /// The compute shape (non-empty).
    pub shape: String,
    /// OCPUs and memory. Always set, with `ocpus`, when the shape ends in `.Flex`.
    pub shape_config: Option<ShapeConfig>,
    /// The default subnet, as written. Use [`FleetConfig::subnet_for`] to find a group's subnet.
    pub subnet_id: Option<SubnetId>,
    /// The start of every display name (`<prefix>-<group>-<n>`); `metadata.name` by default.
    pub display_name_prefix: FleetName,
    /// Defined tags: namespace -> key -> value.
    pub defined_tags: BTreeMap<String, BTreeMap<String, TagValue>>,
    /// Free-form tags.
    pub freeform_tags: BTreeMap<String, String>,
    /// Instance metadata, including `ssh_authorized_keys` (the `sshAuthorizedKeys` list joined
    /// with newlines) when keys were given; at most [`InstanceMetadata::MAX_BYTES`]. Its
    /// `Debug` hides the values.
    pub metadata: InstanceMetadata,
    /// The instance groups (at least one; names unique).
    pub instances: Vec<InstanceGroup>,
    /// One base URL for every OCI service (http or https), when set.
    pub endpoint: Option<url::Url>,
    /// How to authenticate.
    pub auth: AuthConfig,
    /// The load balancer, when `loadBalancer.enabled` is true.
    pub load_balancer: Option<LoadBalancerConfig>,
    /// Rolling restart settings.
    pub rollout: RolloutConfig,
    /// Where the ledger lives.
    pub state: StateConfig,
    /// The HTTP API and reconcile loop.
    pub api: ApiConfig,
}

/// OCPUs and memory of a flexible shape (both > 0 when set).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShapeConfig {
    /// OCPUs per instance.
    pub ocpus: Option<f64>,
    /// Memory per instance, in GB.
    pub memory_in_gbs: Option<f64>,
}

/// One group of identical instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceGroup {
    /// The group name, unique in the fleet.
    pub name: GroupName,
    /// The desired number of instances.
    pub count: u32,
    /// The group's own `subnetId`, as written (None: it uses `spec.subnetId`).
    pub subnet_id: Option<SubnetId>,
    /// The subnet the group's instances go in, resolved at load time.
    pub(crate) subnet: SubnetId,
}

/// How to authenticate to OCI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// The method; `None` means detect it.
    pub method: Option<AuthMethod>,
    /// The OCI CLI config file, with `~`, `$VAR` and `${VAR}` expanded (`~` stays as written
    /// when no home directory is known). When the fleet file does not name one this is
    /// `~/.oci/config`, expanded the same way.
    pub config_file: PathBuf,
    /// True when the fleet file named the config file (so environment overrides such as
    /// `OCI_CLI_CONFIG_FILE` should not apply).
    pub config_file_explicit: bool,
    /// The profile in the config file (`DEFAULT` unless set).
    pub profile: String,
    /// True when the fleet file named the profile.
    pub profile_explicit: bool,
    /// The region (identifier or short code), when set.
    pub region: Option<Region>,
}

/// The load balancer the instances are registered with (present only when enabled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerConfig {
    /// Classic or network.
    pub lb_type: LoadBalancerType,
    /// The load balancer; its OCID type matches `lb_type`.
    pub load_balancer_id: LoadBalancerId,
    /// The backend set (non-empty).
    pub backend_set_name: String,
    /// The backend port, 1-65535.
    pub port: u16,
    /// The backend weight, 1-100.
    pub weight: u8,
    /// How long to wait for connections to drain.
    pub drain_timeout: Duration,
    /// How long a new backend may take to become healthy.
    pub health_timeout: Duration,
}

/// How a rolling restart proceeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutConfig {
    /// Replace or reboot.
    pub strategy: RolloutStrategy,
    /// Instances above the desired count allowed during a rollout.
    pub max_surge: CountOrPercent,
    /// Instances below the desired count allowed during a rollout. Never zero together with
    /// `max_surge` (as written; a percentage can still round to 0 for a small group).
    pub max_unavailable: CountOrPercent,
    /// Seconds a new instance must be healthy before the rollout moves on.
    pub min_ready_seconds: u32,
    /// The instance action of the reboot strategy.
    pub reboot_action: RebootAction,
    /// How long a new instance may take to reach RUNNING.
    pub launch_timeout: Duration,
    /// A replacement counts against `max_surge` until its old instance is terminated (at
    /// most desired + maxSurge instances exist); by default only until its new instance is
    /// in service (up to desired + 2 x maxSurge exist for a moment).
    pub surge_counts_draining: bool,
    /// Percentages of a rollout's steps after which it waits, ascending, each 1 to 99.
    pub checkpoints: Vec<u32>,
    /// What a checkpoint waits for.
    pub checkpoint_wait: CheckpointWaitSpec,
    /// Roll a failed rolling update back to the launch details it replaced.
    pub rollback_on_failure: bool,
}

/// Where the ledger lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateConfig {
    /// A path or a `file://`, `memory://`, `s3://` or `oci://` URL (only the scheme is checked).
    pub url: StateUrl,
}

/// The HTTP API and the reconcile loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// host:port to listen on.
    pub listen: ListenAddr,
    /// The environment variable holding the bearer token for mutations (the name, never the
    /// token).
    pub token_env: EnvVarName,
    /// How often the reconcile loop runs.
    pub reconcile_every: Duration,
}
