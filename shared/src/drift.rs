//! Drift: where the fleet file, the ledger and what OCI shows disagree. Pure: (fleet file,
//! ledger, observation) → typed [`Finding`]s, which `status` renders and the planner's
//! repairs answer.
//!
//! # Rules
//! - **shortfall / surplus**: fewer (more) instances of the fleet run in OCI than the fleet
//!   file's total (`spec.instances[].count`). Running means tagged for the fleet and not
//!   terminating.
//! - **in ledger but gone**: an active record (launching, running, draining, rebooting) whose
//!   instance OCI no longer lists, or lists as terminating. A record fleetctl is terminating
//!   is expected to disappear and is not drift.
//! - **running but not in ledger**: an instance tagged for this fleet, not terminating, that
//!   has no active record.
//! - **LB backend missing**: with the load balancer enabled, a record the ledger says is
//!   `running`, whose instance OCI reports RUNNING with a known IP, has no `ip:port` backend.
//! - **LB backend unknown to the fleet**: a backend whose IP and port are those of no instance
//!   of the fleet: neither an active record (launching, running, draining, rebooting,
//!   terminating) nor an instance OCI reports live. The IP of a terminated or missing record
//!   does not count: a backend still pointing at it is the most dangerous stale backend.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::config::{FleetConfig, GroupName};
use crate::ids::InstanceId;
use crate::observe::Observation;
use crate::oci::backends::{Backend, BackendName};
use crate::oci::compute::InstanceLifecycleState;
use crate::store::ledger::{InstanceRecord, Ledger, RecordState};

/// One disagreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Fewer instances run than the fleet file asks for.
    Shortfall { desired: u64, running: u64 },
    /// More instances run than the fleet file asks for.
    Surplus { desired: u64, running: u64 },
    /// An active record whose instance is gone (or going) without fleetctl.
    InLedgerButGone {
        instance: InstanceId,
        group: GroupName,
        name: String,
        state: RecordState,
        /// What OCI reports, `None` when it no longer lists it.
        oci_state: Option<InstanceLifecycleState>,
    },
    /// An instance tagged for the fleet that the ledger does not manage.
    NotInLedger {
        instance: InstanceId,
        group: Option<GroupName>,
        name: String,
        oci_state: InstanceLifecycleState,
    },
    /// A running managed instance without its backend.
    BackendMissing {
        instance: InstanceId,
        group: GroupName,
        name: String,
        ip: IpAddr,
        port: u16,
        backend_set: String,
    },
    /// A backend that matches no instance of the fleet.
    UnknownBackend {
        backend: BackendName,
        backend_set: String,
    },
}

/// The backend of `id` at its known IP and the fleet's port, if the set has one.
pub fn backend_of<'o>(
    fleet: &FleetConfig,
    obs: &'o Observation,
    id: &InstanceId,
) -> Option<&'o Backend> {
    let lb = fleet.spec.load_balancer.as_ref()?;
    let ip = obs.private_ips.get(id)?.to_string();
    obs.load_balancer
        .as_ref()?
        .backends
        .iter()
        .find(|b| b.port == lb.port && b.ip_address.as_deref() == Some(ip.as_str()))
}

/// How many of the fleet's instances OCI reports running (not terminating).
pub fn running(obs: &Observation) -> u64 {
    let n = obs
        .instances
        .iter()
        .filter(|i| !i.lifecycle_state.is_going_away())
        .count();
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Every finding, in a stable order: the count first, then per record, per unmanaged
/// instance, per unknown backend.
pub fn findings(fleet: &FleetConfig, ledger: Option<&Ledger>, obs: &Observation) -> Vec<Finding> {
    let mut out = Vec::new();
    let desired = fleet.total_instances();
    let running = running(obs);
    if running < desired {
        out.push(Finding::Shortfall { desired, running });
    } else if running > desired {
        out.push(Finding::Surplus { desired, running });
    }
    let active: Vec<&InstanceRecord> = ledger
        .map(|l| l.records.iter().filter(|r| !r.state.is_gone()).collect())
        .unwrap_or_default();
    let lb = fleet.spec.load_balancer.as_ref();
    for record in &active {
        let seen = obs.instance(&record.instance_id);
        let gone = seen.is_none_or(|i| i.lifecycle_state.is_going_away());
        if gone && record.state != RecordState::Terminating {
            out.push(Finding::InLedgerButGone {
                instance: record.instance_id.clone(),
                group: record.group.clone(),
                name: record.name.to_string(),
                state: record.state,
                oci_state: seen.map(|i| i.lifecycle_state.clone()),
            });
        }
        if let Some(lb) = lb
            && backend_of(fleet, obs, &record.instance_id).is_none()
            && record.state == RecordState::Running
            && seen.is_some_and(|i| i.lifecycle_state == InstanceLifecycleState::Running)
            && let Some(ip) = obs.private_ips.get(&record.instance_id)
        {
            out.push(Finding::BackendMissing {
                instance: record.instance_id.clone(),
                group: record.group.clone(),
                name: record.name.to_string(),
                ip: *ip,
                port: lb.port,
                backend_set: lb.backend_set_name.clone(),
            });
        }
    }
    let record_ids: BTreeSet<&InstanceId> = active.iter().map(|r| &r.instance_id).collect();
    for instance in &obs.instances {
        if record_ids.contains(&instance.id) || instance.lifecycle_state.is_going_away() {
            continue;
        }
        out.push(Finding::NotInLedger {
            instance: instance.id.clone(),
            group: instance.tags.group.clone(),
            name: instance
                .display_name
                .as_deref()
                .map_or_else(|| instance.id.to_string(), str::to_string),
            oci_state: instance.lifecycle_state.clone(),
        });
    }
    if let (Some(lb), Some(seen)) = (lb, obs.load_balancer.as_ref()) {
        // The fleet's IPs: those of its active records and of the instances OCI reports
        // live. Nothing else counts (a gone record's IP may be reused).
        let fleet_ips: BTreeSet<String> = active
            .iter()
            .filter_map(|r| {
                obs.private_ips
                    .get(&r.instance_id)
                    .or(r.private_ip.as_ref())
            })
            .chain(
                obs.instances
                    .iter()
                    .filter(|i| !i.lifecycle_state.is_going_away())
                    .filter_map(|i| obs.private_ips.get(&i.id)),
            )
            .map(ToString::to_string)
            .collect();
        for b in &seen.backends {
            let ours = b.port == lb.port
                && b.ip_address
                    .as_ref()
                    .is_some_and(|ip| fleet_ips.contains(ip));
            if !ours {
                out.push(Finding::UnknownBackend {
                    backend: b.name.clone(),
                    backend_set: lb.backend_set_name.clone(),
                });
            }
        }
    }
    out
}
