//! The fleet file as written: serde and JSON Schema types close to the YAML.
//!
//! The JSON Schema (`schema/fleetctl.schema.json`) is generated from these types, so every
//! field's doc comment is what an editor shows on hover, and every `default` here is the
//! documented default. Unknown fields are rejected everywhere (`additionalProperties: false`).
//! Cross-field rules a schema cannot say (a subnet for every group, load balancer fields when
//! enabled, …) live in `validate.rs`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::types::{
    CheckpointWaitSpec, CountOrPercent, EndpointUrl, EnvVarName, HumanDuration, ListenAddr, Region,
    SshPublicKey, StateUrl, TagValue,
};
use crate::ids::{CompartmentId, FleetName, GroupName, ImageId, LoadBalancerId, SubnetId};
use crate::values::{LoadBalancerType, RebootAction, RolloutStrategy};

/// A fleet of OCI compute instances managed by fleetctl: what to launch, where, how many, and
/// how to roll changes out.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "FleetConfig", title = "FleetConfig")]
pub(crate) struct RawFleetFile {
    /// Always `FleetConfig`.
    pub kind: Kind,
    /// The fleet's identity.
    pub metadata: RawMetadata,
    /// What the fleet is made of and how it is managed.
    pub spec: RawSpec,
}

/// The document kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) enum Kind {
    /// A fleet definition.
    FleetConfig,
}

/// The fleet's identity.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Metadata")]
pub(crate) struct RawMetadata {
    /// The fleet name: 1-63 characters of letters, digits, '.', '_' or '-', starting with a
    /// letter or digit. Used in tags and instance display names.
    pub name: FleetName,
}

/// What the fleet is made of and how it is managed.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Spec")]
pub(crate) struct RawSpec {
    /// The compartment (or tenancy) the instances are launched in.
    pub compartment_id: CompartmentId,
    /// The image every instance boots from.
    pub image_id: ImageId,
    /// The availability domain, such as "Uocm:US-ASHBURN-AD-1".
    #[schemars(length(min = 1))]
    pub availability_domain: String,
    /// The compute shape, such as "VM.Standard.E4.Flex".
    #[schemars(length(min = 1))]
    pub shape: String,
    /// OCPUs and memory; required (with ocpus) for flexible shapes, whose name ends in ".Flex".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "RawShapeConfig")]
    pub shape_config: Option<RawShapeConfig>,
    /// The subnet for every group that does not set its own subnetId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "SubnetId")]
    pub subnet_id: Option<SubnetId>,
    /// The start of every instance's display name, <prefix>-<group>-<n>. Defaults to
    /// metadata.name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "FleetName")]
    pub display_name_prefix: Option<FleetName>,
    /// Defined tags: namespace -> key -> value.
    #[serde(default)]
    pub defined_tags: BTreeMap<String, BTreeMap<String, TagValue>>,
    /// Free-form tags: key -> text.
    #[serde(default)]
    pub freeform_tags: BTreeMap<String, String>,
    /// Instance metadata (for example user_data, base64-encoded cloud-init).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// SSH public keys, one per entry; they become metadata.ssh_authorized_keys.
    #[serde(default)]
    pub ssh_authorized_keys: Vec<SshPublicKey>,
    /// The instance groups; at least one.
    #[schemars(length(min = 1))]
    pub instances: Vec<RawGroup>,
    /// One base URL for every OCI service, such as the simulator's http://127.0.0.1:8999.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "EndpointUrl")]
    pub endpoint: Option<EndpointUrl>,
    /// How fleetctl authenticates to OCI.
    #[serde(default)]
    pub auth: RawAuth,
    /// The load balancer the instances are registered with.
    #[serde(default)]
    pub load_balancer: RawLoadBalancer,
    /// How instances are replaced or rebooted during a rolling restart.
    #[serde(default)]
    pub rollout: RawRollout,
    /// Where fleetctl keeps its ledger of instances.
    #[serde(default)]
    pub state: RawState,
    /// The HTTP API and the reconcile loop.
    #[serde(default)]
    pub api: RawApi,
}

/// OCPUs and memory of a flexible shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "ShapeConfig")]
pub(crate) struct RawShapeConfig {
    /// OCPUs per instance, > 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "f64", extend("exclusiveMinimum" = 0))]
    pub ocpus: Option<f64>,
    /// Memory per instance in GB, > 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "f64", extend("exclusiveMinimum" = 0))]
    #[serde(rename = "memoryInGBs")]
    pub memory_in_gbs: Option<f64>,
}

/// One group of identical instances.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "InstanceGroup")]
pub(crate) struct RawGroup {
    /// The group name, unique in the fleet: 1-32 characters of lower-case letters, digits and
    /// '-', starting with a letter.
    pub name: GroupName,
    /// How many instances the group should have.
    #[schemars(range(max = 4294967295u32))]
    pub count: u32,
    /// The subnet of this group's instances; overrides spec.subnetId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "SubnetId")]
    pub subnet_id: Option<SubnetId>,
}

/// How to authenticate to OCI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// A user principal: API key or session token from the OCI CLI config file.
    User,
    /// An instance principal (fleetctl runs on an OCI instance).
    Instance,
    /// A resource principal (fleetctl runs as an OCI Function).
    Resource,
}

fn default_config_file() -> String {
    "~/.oci/config".to_owned()
}

fn default_profile() -> String {
    "DEFAULT".to_owned()
}

/// How fleetctl authenticates to OCI.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Auth")]
pub(crate) struct RawAuth {
    /// user, instance or resource; when omitted fleetctl detects it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "AuthMethod")]
    pub method: Option<AuthMethod>,
    /// The OCI CLI config file (user principal). `~`, `$VAR` and `${VAR}` are expanded when
    /// the file is loaded; an unset variable is an error.
    #[serde(default = "default_config_file")]
    #[schemars(length(min = 1))]
    pub config_file: String,
    /// The profile in the config file.
    #[serde(default = "default_profile")]
    #[schemars(length(min = 1))]
    pub profile: String,
    /// The region, such as us-ashburn-1 (or a short code such as iad); when omitted it comes
    /// from OCI_REGION or the auth provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Region")]
    pub region: Option<Region>,
}

impl Default for RawAuth {
    fn default() -> Self {
        RawAuth {
            method: None,
            config_file: default_config_file(),
            profile: default_profile(),
            region: None,
        }
    }
}

fn default_weight() -> u8 {
    1
}

fn seconds(s: u64) -> HumanDuration {
    HumanDuration::new(std::time::Duration::from_secs(s))
}

fn default_drain_timeout() -> HumanDuration {
    seconds(30)
}

fn default_health_timeout() -> HumanDuration {
    seconds(5 * 60)
}

/// The load balancer the instances are registered with. When enabled, loadBalancerId,
/// backendSetName and port are required.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "LoadBalancer")]
pub(crate) struct RawLoadBalancer {
    /// Register instances as backends and drain them before replacing them.
    #[serde(default)]
    pub enabled: bool,
    /// classic or network.
    #[serde(default, rename = "type")]
    pub lb_type: LoadBalancerType,
    /// The load balancer: an ocid1.loadbalancer.… for classic, ocid1.networkloadbalancer.… for
    /// network. Required when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "LoadBalancerId")]
    pub load_balancer_id: Option<LoadBalancerId>,
    /// The backend set. Required when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", length(min = 1))]
    pub backend_set_name: Option<String>,
    /// The port the instances serve on, 1-65535. Required when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u16", range(min = 1, max = 65535))]
    pub port: Option<u16>,
    /// The backend weight, 1-100.
    #[serde(default = "default_weight")]
    #[schemars(range(min = 1, max = 100))]
    pub weight: u8,
    /// How long to wait for connections to drain before an instance is removed.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout: HumanDuration,
    /// How long a new backend may take to become healthy.
    #[serde(default = "default_health_timeout")]
    pub health_timeout: HumanDuration,
}

impl Default for RawLoadBalancer {
    fn default() -> Self {
        RawLoadBalancer {
            enabled: false,
            lb_type: LoadBalancerType::Classic,
            load_balancer_id: None,
            backend_set_name: None,
            port: None,
            weight: default_weight(),
            drain_timeout: default_drain_timeout(),
            health_timeout: default_health_timeout(),
        }
    }
}

/// `rollout.maxSurge` when not written.
pub(crate) fn default_max_surge() -> CountOrPercent {
    CountOrPercent::Count(1)
}

/// `rollout.maxUnavailable` when not written.
pub(crate) fn default_max_unavailable() -> CountOrPercent {
    CountOrPercent::Count(0)
}

fn default_min_ready_seconds() -> u32 {
    10
}

fn default_launch_timeout() -> HumanDuration {
    seconds(10 * 60)
}

/// How instances are replaced or rebooted during a rolling restart.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Rollout")]
pub(crate) struct RawRollout {
    /// replace (launch new, then terminate old) or reboot (in place).
    #[serde(default)]
    pub strategy: RolloutStrategy,
    /// How many instances above the desired count may exist during a rollout: a number or a
    /// percentage such as "25%". maxSurge and maxUnavailable may not both be 0.
    #[serde(default = "default_max_surge")]
    pub max_surge: CountOrPercent,
    /// How many instances below the desired count may be unavailable during a rollout: a
    /// number or a percentage such as "25%".
    #[serde(default = "default_max_unavailable")]
    pub max_unavailable: CountOrPercent,
    /// Seconds a new instance must be healthy before the rollout moves on.
    #[serde(default = "default_min_ready_seconds")]
    #[schemars(range(max = 4294967295u32))]
    pub min_ready_seconds: u32,
    /// SOFTRESET or RESET, used by the reboot strategy.
    #[serde(default)]
    pub reboot_action: RebootAction,
    /// How long a new instance may take to reach RUNNING.
    #[serde(default = "default_launch_timeout")]
    pub launch_timeout: HumanDuration,
    /// Whether a replacement counts against maxSurge until its old instance is terminated.
    /// false (the default): once a replacement's new instance is in service, the draining,
    /// removal and termination of its old one no longer count, so the next replacement
    /// starts at once and up to desired + 2 x maxSurge instances may exist for a moment.
    /// true: at most desired + maxSurge instances ever exist (tight quotas), at the cost of
    /// a slower rollout.
    #[serde(default)]
    pub surge_counts_draining: bool,
    /// Percentages of a rollout's instances after which it stops and waits (checkpointWait),
    /// ascending, each from 1 to 99: [10, 50] stops after a tenth and after half.
    #[serde(default)]
    #[schemars(inner(range(min = 1, max = 99)))]
    pub checkpoints: Vec<u32>,
    /// What a checkpoint waits for: resume, or a bake time such as 5m with every backend
    /// healthy (a backend unhealthy during the bake pauses the rollout).
    #[serde(default)]
    pub checkpoint_wait: CheckpointWaitSpec,
    /// When a rolling update (fleetctl rollout, undo) exhausts its failure budget, roll the
    /// instances it replaced back to the launch details they had, with the same limits.
    #[serde(default)]
    pub rollback_on_failure: bool,
}

impl Default for RawRollout {
    fn default() -> Self {
        RawRollout {
            strategy: RolloutStrategy::Replace,
            max_surge: default_max_surge(),
            max_unavailable: default_max_unavailable(),
            min_ready_seconds: default_min_ready_seconds(),
            reboot_action: RebootAction::SoftReset,
            launch_timeout: default_launch_timeout(),
            surge_counts_draining: false,
            checkpoints: Vec::new(),
            checkpoint_wait: CheckpointWaitSpec::Resume,
            rollback_on_failure: false,
        }
    }
}

fn default_state_url() -> StateUrl {
    StateUrl::from_const(".fleetctl/state.json")
}

/// Where fleetctl keeps its ledger of instances.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "State")]
pub(crate) struct RawState {
    /// A path, file://…, memory://, s3://bucket/key or oci://bucket@namespace/prefix.
    #[serde(default = "default_state_url")]
    pub url: StateUrl,
}

impl Default for RawState {
    fn default() -> Self {
        RawState {
            url: default_state_url(),
        }
    }
}

fn default_listen() -> ListenAddr {
    ListenAddr::from_const("127.0.0.1:8080")
}

fn default_token_env() -> EnvVarName {
    EnvVarName::from_const("FLEETCTL_API_TOKEN")
}

fn default_reconcile_every() -> HumanDuration {
    seconds(30)
}

/// The HTTP API and the reconcile loop.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(rename = "Api")]
pub(crate) struct RawApi {
    /// host:port the HTTP API listens on.
    #[serde(default = "default_listen")]
    pub listen: ListenAddr,
    /// The environment variable holding the bearer token that mutations require.
    #[serde(default = "default_token_env")]
    pub token_env: EnvVarName,
    /// How often the reconcile loop runs.
    #[serde(default = "default_reconcile_every")]
    pub reconcile_every: HumanDuration,
}

impl Default for RawApi {
    fn default() -> Self {
        RawApi {
            listen: default_listen(),
            token_env: default_token_env(),
            reconcile_every: default_reconcile_every(),
        }
    }
}
