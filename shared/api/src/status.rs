//! The fleet's status: the ledger beside what OCI reports, by group, with drift.
//!
//! Produced by `fleetctl_core::status`, printed by `fleetctl status -o json` and (later) served
//! at `GET /status`. Field names are camelCase; times are RFC 3339 strings; OCIDs and IPs are
//! strings, so the dashboard needs nothing of the core.

use serde::{Deserialize, Serialize};

/// Everything `fleetctl status` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FleetStatus {
    /// `metadata.name`.
    pub fleet: String,
    /// When OCI was observed (RFC 3339).
    pub observed_at: String,
    /// The state store URL the ledger was read from.
    pub state_url: String,
    /// The ledger's summary; `exists: false` before the first write.
    pub ledger: LedgerSummary,
    /// Sum of `spec.instances[].count`.
    pub desired: u64,
    /// Instances OCI reports as not terminating (all groups).
    pub running: u64,
    /// One entry per group of the fleet file, in file order, then groups that exist only in
    /// OCI tags or the ledger.
    pub groups: Vec<GroupStatus>,
    /// The load balancer, when `spec.loadBalancer.enabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerStatus>,
    /// Every difference between the ledger, OCI and the load balancer.
    pub drift: Vec<Drift>,
    /// True when `drift` is empty.
    pub in_sync: bool,
}

/// A summary of the ledger document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LedgerSummary {
    /// Whether a ledger document exists at the state URL.
    pub exists: bool,
    /// Records that are not terminated or missing.
    pub active: u64,
    /// Every record, history included.
    pub records: u64,
    /// Scale requests waiting in the FIFO queue.
    pub scale_queue: u64,
    /// The active (or last) operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<OperationSummary>,
}

/// The ledger's active or last operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OperationSummary {
    /// Its id.
    pub id: String,
    /// `scale`, `rolling_restart` or `sync_state`: the operation's `type` in the ledger.
    pub kind: String,
    /// `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
}

/// One instance group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GroupStatus {
    /// The group name.
    pub name: String,
    /// Its `count` in the fleet file (0 for a group the file no longer has).
    pub desired: u64,
    /// Active ledger records of the group.
    pub in_ledger: u64,
    /// Instances OCI reports for the group that are not terminating.
    pub in_oci: u64,
    /// The group's instances: every active ledger record and every instance OCI reports.
    pub instances: Vec<InstanceStatus>,
}

/// One instance, as the ledger, OCI and the load balancer see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    /// The instance OCID.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Its group.
    pub group: String,
    /// Its primary private IP, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_ip: Option<String>,
    /// OCI's lifecycle state; `None` when OCI no longer reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oci_state: Option<String>,
    /// The ledger's state; `None` when the ledger has no active record of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger_state: Option<String>,
    /// When it was created (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Its load-balancer backend, when the fleet uses one and the backend exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendStatus>,
    /// For a managed instance, the launch-detail fields in which it differs from the fleet
    /// file (`unknown` when the ledger does not know); empty when up to date.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outdated: Vec<String>,
}

/// A backend of the fleet's backend set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BackendStatus {
    /// `ip:port`.
    pub name: String,
    /// `OK`, `WARNING`, `CRITICAL` or `UNKNOWN`, from the backend set's health.
    pub health: String,
    /// Takes no new connections.
    pub drain: bool,
    /// Takes no traffic.
    pub offline: bool,
}

/// The fleet's load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerStatus {
    /// The load balancer OCID.
    pub id: String,
    /// `classic` or `network`.
    #[serde(rename = "type")]
    pub lb_type: String,
    /// The backend set.
    pub backend_set: String,
    /// The backend port.
    pub port: u16,
    /// The backend set's overall health.
    pub health: String,
    /// Backends in the set.
    pub backends: u64,
    /// Backends the set's health reports OK.
    pub healthy: u64,
}

/// A difference between what the ledger says, what OCI reports and what the load balancer has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// What kind of difference.
    pub kind: DriftKind,
    /// The instance concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// The backend concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// The group concerned, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// One sentence for people.
    pub detail: String,
}

/// The kinds of drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// Fewer instances run in OCI than the fleet file's total.
    Shortfall,
    /// More instances run in OCI than the fleet file's total.
    Surplus,
    /// The ledger has an active record, but OCI no longer reports the instance (or reports it
    /// terminating) although fleetctl did not terminate it.
    InLedgerButGone,
    /// OCI reports an instance tagged for this fleet that the ledger does not manage.
    NotInLedger,
    /// A running instance the ledger manages has no backend in the load balancer.
    BackendMissing,
    /// The backend set has a backend that matches no instance of the fleet.
    UnknownBackend,
}

impl DriftKind {
    /// The kind in words, as `fleetctl status` prints it.
    pub fn describe(self) -> &'static str {
        match self {
            DriftKind::Shortfall => "fewer running than desired",
            DriftKind::Surplus => "more running than desired",
            DriftKind::InLedgerButGone => "in ledger but gone",
            DriftKind::NotInLedger => "running but not in ledger",
            DriftKind::BackendMissing => "LB backend missing",
            DriftKind::UnknownBackend => "LB backend unknown to the fleet",
        }
    }
}
