//! `fleetctl status`: the ledger beside what OCI reports, by group, with drift.
//!
//! Kept apart so the judgment is testable without I/O ([`crate::fleet::Fleet::status`] puts
//! them together):
//! - [`crate::observe::observe`] reads the cloud into an [`Observation`];
//! - [`crate::drift::findings`] judges it (typed findings);
//! - [`build`] is pure: (fleet file, ledger, observation) → [`FleetStatus`], the findings
//!   rendered.
//!
//! The drift rules live in [`crate::drift`]; this module only renders them.

use std::collections::{BTreeMap, BTreeSet};

use fleetctl_api::status::{
    BackendStatus, Drift, DriftKind, FleetStatus, GroupStatus, InstanceStatus, LedgerSummary,
    LoadBalancerStatus, OperationSummary,
};
use time::format_description::well_known::Rfc3339;

use crate::config::{FleetConfig, LoadBalancerType};
use crate::drift::{self, Finding};
use crate::ids::InstanceId;
pub use crate::observe::{LoadBalancerObservation, Observation};
use crate::oci::backends::Backend;
use crate::oci::compute::ListedInstance;
use crate::plan::is_active_record;
use crate::store::ledger::{InstanceRecord, Ledger, RecordState};

/// The status of `fleet` from its ledger (if any) and an observation. Pure.
pub fn build(
    fleet: &FleetConfig,
    state_url: &str,
    ledger: Option<&Ledger>,
    obs: &Observation,
) -> FleetStatus {
    let active_records: Vec<&InstanceRecord> = ledger
        .map(|l| l.records.iter().filter(|r| !r.state.is_gone()).collect())
        .unwrap_or_default();
    let fresh = ledger.map(|l| crate::plan::Freshness::new(l, &crate::cloud::launch_spec(fleet)));
    let fresh = fresh.unwrap_or_else(|| {
        crate::plan::Freshness::new(
            &Ledger::new(
                fleet.metadata.name.clone(),
                time::OffsetDateTime::UNIX_EPOCH,
            ),
            &crate::cloud::launch_spec(fleet),
        )
    });
    let by_id: BTreeMap<&InstanceId, &ListedInstance> =
        obs.instances.iter().map(|i| (&i.id, i)).collect();
    let record_ids: BTreeSet<&InstanceId> = active_records.iter().map(|r| &r.instance_id).collect();
    let backend_health = obs.backend_health_by_name();
    let lb = fleet.spec.load_balancer.as_ref();
    let backend_of = |id: &InstanceId| -> Option<&Backend> {
        let (ip, lb, seen) = (obs.private_ips.get(id)?, lb?, obs.load_balancer.as_ref()?);
        seen.backends
            .iter()
            .find(|b| b.port == lb.port && b.ip_address.as_deref() == Some(&ip.to_string()))
    };
    let backend_status = |b: &Backend| BackendStatus {
        name: b.name.as_str().to_string(),
        health: backend_health
            .get(b.name.as_str())
            .map_or_else(|| "OK".to_string(), |h| h.as_str().to_string()),
        drain: b.drain,
        offline: b.offline,
    };

    let drift: Vec<Drift> = drift::findings(fleet, ledger, obs)
        .into_iter()
        .map(render)
        .collect();
    // Group name -> instances, in the order groups are first seen.
    let mut groups: Vec<(String, Vec<InstanceStatus>)> = fleet
        .spec
        .instances
        .iter()
        .map(|g| (g.name.as_str().to_string(), Vec::new()))
        .collect();
    let mut push = |group: &str, status: InstanceStatus| match groups
        .iter_mut()
        .find(|(name, _)| name == group)
    {
        Some((_, list)) => list.push(status),
        None => groups.push((group.to_string(), vec![status])),
    };

    for record in &active_records {
        let seen = by_id.get(&record.instance_id).copied();
        let backend = backend_of(&record.instance_id);
        push(
            record.group.as_str(),
            InstanceStatus {
                id: record.instance_id.to_string(),
                name: record.name.to_string(),
                group: record.group.as_str().to_string(),
                private_ip: obs
                    .private_ips
                    .get(&record.instance_id)
                    .or(record.private_ip.as_ref())
                    .map(ToString::to_string),
                oci_state: seen.map(|i| i.lifecycle_state.as_str().to_string()),
                ledger_state: Some(state_word(record.state).to_string()),
                created: Some(record.created.to_string()),
                backend: backend.map(backend_status),
                outdated: if is_active_record(record) {
                    fresh.fields(record)
                } else {
                    Vec::new()
                },
            },
        );
    }

    for instance in &obs.instances {
        if record_ids.contains(&instance.id) {
            continue;
        }
        let tags = instance.fleet_tags();
        let group = tags
            .group
            .as_ref()
            .map(|g| g.as_str().to_string())
            .unwrap_or_else(|| "(untagged group)".to_string());
        let name = instance
            .display_name
            .as_deref()
            .map_or_else(|| instance.id.to_string(), str::to_string);
        push(
            &group,
            InstanceStatus {
                id: instance.id.to_string(),
                name,
                group: group.clone(),
                private_ip: obs.private_ips.get(&instance.id).map(ToString::to_string),
                oci_state: Some(instance.lifecycle_state.as_str().to_string()),
                ledger_state: None,
                created: instance.created_at.and_then(|t| t.format(&Rfc3339).ok()),
                backend: backend_of(&instance.id).map(backend_status),
                outdated: Vec::new(),
            },
        );
    }

    let groups: Vec<GroupStatus> = groups
        .into_iter()
        .map(|(name, instances)| {
            let desired = fleet
                .spec
                .instances
                .iter()
                .find(|g| g.name.as_str() == name)
                .map_or(0, |g| u64::from(g.count));
            GroupStatus {
                desired,
                in_ledger: count(instances.iter().filter(|i| i.ledger_state.is_some())),
                in_oci: count(instances.iter().filter(|i| {
                    i.oci_state
                        .as_deref()
                        .is_some_and(|s| s != "TERMINATING" && s != "TERMINATED")
                })),
                name,
                instances,
            }
        })
        .collect();
    let running = groups.iter().map(|g| g.in_oci).sum();
    let load_balancer = lb
        .zip(obs.load_balancer.as_ref())
        .map(|(lb, seen)| LoadBalancerStatus {
            id: lb.load_balancer_id.to_string(),
            lb_type: match lb.lb_type {
                LoadBalancerType::Classic => "classic",
                LoadBalancerType::Network => "network",
            }
            .to_string(),
            backend_set: lb.backend_set_name.clone(),
            port: lb.port,
            health: seen.health.status.as_str().to_string(),
            backends: count(seen.backends.iter()),
            healthy: count(seen.backends.iter().filter(|b| {
                backend_health
                    .get(b.name.as_str())
                    .is_none_or(|h| h.as_str() == "OK")
            })),
        });
    FleetStatus {
        fleet: fleet.metadata.name.as_str().to_string(),
        observed_at: obs
            .observed_at
            .format(&Rfc3339)
            .unwrap_or_else(|_| obs.observed_at.to_string()),
        state_url: state_url.to_string(),
        ledger: ledger_summary(ledger),
        desired: fleet.total_instances(),
        running,
        groups,
        load_balancer,
        in_sync: drift.is_empty(),
        drift,
    }
}

/// A finding as the wire shows it.
fn render(f: Finding) -> Drift {
    let (kind, instance_id, backend, group, detail) = match f {
        Finding::Shortfall { desired, running } => (
            DriftKind::Shortfall,
            None,
            None,
            None,
            format!(
                "{running} of {desired} desired instances run in OCI ({} short)",
                desired - running
            ),
        ),
        Finding::Surplus { desired, running } => (
            DriftKind::Surplus,
            None,
            None,
            None,
            format!(
                "{running} instances run in OCI, {} more than the {desired} desired",
                running - desired
            ),
        ),
        Finding::InLedgerButGone {
            instance,
            group,
            name,
            state,
            oci_state,
        } => (
            DriftKind::InLedgerButGone,
            Some(instance.to_string()),
            None,
            Some(group.as_str().to_string()),
            format!(
                "{name} ({instance}) is {} in the ledger but OCI {}",
                state_word(state),
                match oci_state {
                    Some(s) => format!("reports it {}", s.as_str()),
                    None => "no longer lists it".to_string(),
                }
            ),
        ),
        Finding::NotInLedger {
            instance,
            group,
            name,
            oci_state,
        } => (
            DriftKind::NotInLedger,
            Some(instance.to_string()),
            None,
            Some(
                group
                    .map(|g| g.as_str().to_string())
                    .unwrap_or_else(|| "(untagged group)".to_string()),
            ),
            format!(
                "{name} ({instance}) is {} and tagged for this fleet but the ledger does not \
                 manage it",
                oci_state.as_str()
            ),
        ),
        Finding::BackendMissing {
            instance,
            group,
            name,
            ip,
            port,
            backend_set,
        } => (
            DriftKind::BackendMissing,
            Some(instance.to_string()),
            Some(format!("{ip}:{port}")),
            Some(group.as_str().to_string()),
            format!(
                "{name} ({instance}) is running but backend {ip}:{port} is not in backend set \
                 {backend_set}"
            ),
        ),
        Finding::UnknownBackend {
            backend,
            backend_set,
        } => (
            DriftKind::UnknownBackend,
            None,
            Some(backend.as_str().to_string()),
            None,
            format!(
                "backend {} in backend set {backend_set} matches no instance of the fleet",
                backend.as_str()
            ),
        ),
    };
    Drift {
        kind,
        instance_id,
        backend,
        group,
        detail,
    }
}

fn ledger_summary(ledger: Option<&Ledger>) -> LedgerSummary {
    match ledger {
        None => LedgerSummary {
            exists: false,
            active: 0,
            records: 0,
            scale_queue: 0,
            operation: None,
        },
        Some(l) => LedgerSummary {
            exists: true,
            active: count(l.records.iter().filter(|r| !r.state.is_gone())),
            records: count(l.records.iter()),
            scale_queue: count(l.scale_queue.iter()),
            operation: l.operation.as_ref().map(|op| OperationSummary {
                id: op.id.to_string(),
                kind: op.kind.as_str().to_string(),
                status: op.status.as_str().to_string(),
            }),
        },
    }
}

fn state_word(state: RecordState) -> &'static str {
    match state {
        RecordState::Launching => "launching",
        RecordState::Running => "running",
        RecordState::Draining => "draining",
        RecordState::Rebooting => "rebooting",
        RecordState::Terminating => "terminating",
        RecordState::Terminated => "terminated",
        RecordState::Missing => "missing",
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> u64 {
    u64::try_from(items.count()).unwrap_or(u64::MAX)
}
