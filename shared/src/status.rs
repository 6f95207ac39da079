//! `fleetctl status`: the ledger beside what OCI reports, by group, with drift.
//!
//! Two halves, kept apart so the judgment is testable without I/O:
//! - [`observe`] reads the cloud (fleet instances, their private IPs, the backend set and its
//!   health) into an [`Observation`];
//! - [`build`] is pure: (fleet file, ledger, observation) → [`FleetStatus`].
//!
//! # Drift rules
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

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use fleetctl_api::status::{
    BackendStatus, Drift, DriftKind, FleetStatus, GroupStatus, InstanceStatus, LedgerSummary,
    LoadBalancerStatus, OperationSummary,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Error;
use crate::config::{FleetConfig, LoadBalancerType};
use crate::ids::InstanceId;
use crate::oci::OciClient;
use crate::oci::backends::{Backend, BackendSetHealth, HealthStatus, LoadBalancerBackends};
use crate::oci::compute::{self, Instance, InstanceLifecycleState};
use crate::oci::network;
use crate::store::ledger::{InstanceRecord, Ledger, RecordState};

/// What [`observe`] read from the cloud.
#[derive(Debug, Clone)]
pub struct Observation {
    /// When the observation started.
    pub observed_at: OffsetDateTime,
    /// Instances tagged for the fleet that are not TERMINATED (TERMINATING ones included).
    pub instances: Vec<Instance>,
    /// Primary private IPs where known: a live record's from the ledger, else a live
    /// instance's from its VNIC (see [`private_ips`]). Never a terminated or missing record's.
    pub private_ips: BTreeMap<InstanceId, IpAddr>,
    /// The backend set, when the fleet uses a load balancer.
    pub load_balancer: Option<LoadBalancerObservation>,
}

/// The fleet's backend set as observed.
#[derive(Debug, Clone)]
pub struct LoadBalancerObservation {
    /// Its backends.
    pub backends: Vec<Backend>,
    /// Its health.
    pub health: BackendSetHealth,
}

/// Reads what OCI reports about the fleet: its instances (every page), the primary private IP
/// of each live instance no live ledger record has an IP for ([`ips_to_look_up`]), and the
/// backend set with its health. The IP map is [`private_ips`].
pub async fn observe(
    fleet: &FleetConfig,
    client: &OciClient,
    load_balancer: Option<&dyn LoadBalancerBackends>,
    ledger: Option<&Ledger>,
) -> Result<Observation, Error> {
    let observed_at = client.clock().now();
    let compartment = &fleet.spec.compartment_id;
    let instances =
        compute::list_fleet_instances(client, compartment, &fleet.metadata.name).await?;
    let mut looked_up = BTreeMap::new();
    for id in ips_to_look_up(ledger, &instances) {
        match network::primary_private_ip(client, compartment, id).await {
            Ok(Some(ips)) => {
                looked_up.insert(id.clone(), ips.private_ip);
            }
            // Still attaching, or detaching: no IP to show yet.
            Ok(None) | Err(network::NetworkError::NoPrimaryVnic { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let private_ips = private_ips(ledger, &instances, &looked_up);
    let load_balancer = match load_balancer {
        Some(backends) => Some(LoadBalancerObservation {
            backends: backends.list_backends().await?,
            health: backends.backend_set_health().await?,
        }),
        None => None,
    };
    Ok(Observation {
        observed_at,
        instances,
        private_ips,
        load_balancer,
    })
}

/// The IPs the ledger holds for its live records (not terminated or missing). A gone record's
/// IP may belong to another machine by now, so it is never the fleet's.
fn live_record_ips(ledger: Option<&Ledger>) -> BTreeMap<InstanceId, IpAddr> {
    ledger
        .map(|l| {
            l.live_records()
                .filter_map(|r| r.private_ip.map(|ip| (r.instance_id.clone(), ip)))
                .collect()
        })
        .unwrap_or_default()
}

/// The instances whose primary private IP [`observe`] looks up: those OCI reports as live
/// (not terminating) for which no live ledger record has an IP.
pub fn ips_to_look_up<'a>(
    ledger: Option<&Ledger>,
    instances: &'a [Instance],
) -> Vec<&'a InstanceId> {
    let known = live_record_ips(ledger);
    instances
        .iter()
        .filter(|i| !i.lifecycle_state.is_going_away() && !known.contains_key(&i.id))
        .map(|i| &i.id)
        .collect()
}

/// The private IPs of an [`Observation`], as [`observe`] builds them: the ledger's IP of every
/// live record, and for the instances of [`ips_to_look_up`] the IP found in `looked_up` (its
/// other entries are ignored). Terminated and missing records contribute nothing. Pure.
pub fn private_ips(
    ledger: Option<&Ledger>,
    instances: &[Instance],
    looked_up: &BTreeMap<InstanceId, IpAddr>,
) -> BTreeMap<InstanceId, IpAddr> {
    let mut ips = live_record_ips(ledger);
    for id in ips_to_look_up(ledger, instances) {
        if let Some(ip) = looked_up.get(id) {
            ips.insert(id.clone(), *ip);
        }
    }
    ips
}

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
    let by_id: BTreeMap<&InstanceId, &Instance> =
        obs.instances.iter().map(|i| (&i.id, i)).collect();
    let record_ids: BTreeSet<&InstanceId> = active_records.iter().map(|r| &r.instance_id).collect();
    let backend_health = backend_health_by_name(obs);
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
            .cloned()
            .unwrap_or_else(|| "OK".to_string()),
        drain: b.drain,
        offline: b.offline,
    };

    let mut drift = Vec::new();
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
        let gone = seen.is_none_or(|i| i.lifecycle_state.is_going_away());
        if gone && record.state != RecordState::Terminating {
            drift.push(Drift {
                kind: DriftKind::InLedgerButGone,
                instance_id: Some(record.instance_id.to_string()),
                backend: None,
                group: Some(record.group.as_str().to_string()),
                detail: format!(
                    "{} ({}) is {} in the ledger but OCI {}",
                    record.name,
                    record.instance_id,
                    state_word(record.state),
                    match seen {
                        Some(i) => format!("reports it {}", i.lifecycle_state.as_str()),
                        None => "no longer lists it".to_string(),
                    }
                ),
            });
        }
        let backend = backend_of(&record.instance_id);
        if lb.is_some()
            && backend.is_none()
            && record.state == RecordState::Running
            && seen.is_some_and(|i| i.lifecycle_state == InstanceLifecycleState::Running)
            && let Some(ip) = obs.private_ips.get(&record.instance_id)
            && let Some(lb) = lb
        {
            drift.push(Drift {
                kind: DriftKind::BackendMissing,
                instance_id: Some(record.instance_id.to_string()),
                backend: Some(format!("{ip}:{}", lb.port)),
                group: Some(record.group.as_str().to_string()),
                detail: format!(
                    "{} ({}) is running but backend {ip}:{} is not in backend set {}",
                    record.name, record.instance_id, lb.port, lb.backend_set_name
                ),
            });
        }
        push(
            record.group.as_str(),
            InstanceStatus {
                id: record.instance_id.to_string(),
                name: record.name.clone(),
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
            .map(|g| g.as_str().to_string())
            .unwrap_or_else(|| "(untagged group)".to_string());
        let name = instance
            .display_name
            .clone()
            .unwrap_or_else(|| instance.id.to_string());
        if !instance.lifecycle_state.is_going_away() {
            drift.push(Drift {
                kind: DriftKind::NotInLedger,
                instance_id: Some(instance.id.to_string()),
                backend: None,
                group: Some(group.clone()),
                detail: format!(
                    "{name} ({}) is {} and tagged for this fleet but the ledger does not manage \
                     it",
                    instance.id,
                    instance.lifecycle_state.as_str()
                ),
            });
        }
        push(
            &group,
            InstanceStatus {
                id: instance.id.to_string(),
                name,
                group: group.clone(),
                private_ip: obs.private_ips.get(&instance.id).map(ToString::to_string),
                oci_state: Some(instance.lifecycle_state.as_str().to_string()),
                ledger_state: None,
                created: instance.created_at().and_then(|t| t.format(&Rfc3339).ok()),
                backend: backend_of(&instance.id).map(backend_status),
            },
        );
    }

    if let (Some(lb), Some(seen)) = (lb, obs.load_balancer.as_ref()) {
        // The fleet's IPs: those of its active records and of the instances OCI reports
        // live. Nothing else in `private_ips` counts (a gone record's IP may be reused).
        let fleet_ips: BTreeSet<String> = active_records
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
                drift.push(Drift {
                    kind: DriftKind::UnknownBackend,
                    instance_id: None,
                    backend: Some(b.name.as_str().to_string()),
                    group: None,
                    detail: format!(
                        "backend {} in backend set {} matches no instance of the fleet",
                        b.name.as_str(),
                        lb.backend_set_name
                    ),
                });
            }
        }
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
                    .is_none_or(|h| h == "OK")
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

/// Per-backend health from the set's health: a backend named in none of the WARNING,
/// CRITICAL or UNKNOWN lists is OK.
fn backend_health_by_name(obs: &Observation) -> BTreeMap<&str, String> {
    let mut map = BTreeMap::new();
    if let Some(seen) = &obs.load_balancer {
        let h = &seen.health;
        for (names, status) in [
            (&h.warning_state_backend_names, HealthStatus::Warning),
            (&h.critical_state_backend_names, HealthStatus::Critical),
            (&h.unknown_state_backend_names, HealthStatus::Undetermined),
        ] {
            for name in names {
                map.insert(name.as_str(), status.as_str().to_string());
            }
        }
    }
    map
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
