//! What the cloud shows about a fleet, read once per step: the fleet's instances (every page),
//! their primary private IPs and the backend set with its health. The status, the drift rules
//! and the planner all read this one typed [`Observation`].

use std::collections::BTreeMap;

use foldhash::{HashMap, HashSet};
use std::net::IpAddr;

use time::OffsetDateTime;

use crate::Error;
use crate::config::FleetConfig;
use crate::ids::InstanceId;
use crate::oci::OciClient;
use crate::oci::backends::{Backend, BackendSetHealth, HealthStatus, LoadBalancerBackends};
use crate::oci::compute::{self, InstanceLifecycleState, ListedInstance};
use crate::oci::network;
use crate::oci::workrequest::{WorkRequestId, WorkRequestState};
use crate::store::ledger::{Ledger, OperationKind};

/// The primary private IP of each instance that has one, by instance (a fleet's worth of
/// OCIDs, looked up by the planner for every record: hashed, not ordered).
pub type PrivateIps = HashMap<InstanceId, IpAddr>;

/// What [`observe`] read from the cloud.
#[derive(Debug, Clone)]
pub struct Observation {
    /// When the observation started.
    pub observed_at: OffsetDateTime,
    /// Instances tagged for the fleet that are not TERMINATED (TERMINATING ones included).
    pub instances: Vec<ListedInstance>,
    /// Primary private IPs where known: a live record's from the ledger, else a live
    /// instance's from its VNIC (see [`private_ips`]). Never a terminated or missing record's.
    pub private_ips: PrivateIps,
    /// The backend set, when the fleet uses a load balancer.
    pub load_balancer: Option<LoadBalancerObservation>,
    /// Live instances with no fleet tag at all, read (from the same ListInstances pages) only
    /// while a sync that adopts untagged instances runs; empty otherwise. The planner picks
    /// those whose display name this fleet gives.
    pub untagged: Vec<ListedInstance>,
}

/// The fleet's backend set as observed.
#[derive(Debug, Clone)]
pub struct LoadBalancerObservation {
    /// Its backends.
    pub backends: Vec<Backend>,
    /// Its health.
    pub health: BackendSetHealth,
    /// The state of each work request the ledger waits on, by id.
    pub work_requests: BTreeMap<String, WorkRequestState>,
    /// The load balancer's unfinished work requests, looked up only while the ledger has a
    /// backend removal whose answer it did not record and the backend is still listed
    /// (`None` otherwise, or when this kind of load balancer cannot list them).
    pub in_flight: Option<Vec<String>>,
}

impl Observation {
    /// The instance `id`, if OCI reported it.
    pub fn instance(&self, id: &InstanceId) -> Option<&ListedInstance> {
        self.instances.iter().find(|i| &i.id == id)
    }

    /// Per-backend health from the set's health: a backend named in none of the WARNING,
    /// CRITICAL or UNKNOWN lists is OK.
    pub fn backend_health_by_name(&self) -> BTreeMap<&str, HealthStatus> {
        let mut map = BTreeMap::new();
        if let Some(seen) = &self.load_balancer {
            let h = &seen.health;
            for (names, status) in [
                (&h.warning_state_backend_names, HealthStatus::Warning),
                (&h.critical_state_backend_names, HealthStatus::Critical),
                (&h.unknown_state_backend_names, HealthStatus::Undetermined),
            ] {
                for name in names {
                    map.insert(name.as_str(), status.clone());
                }
            }
        }
        map
    }
}

/// Whether the ledger's running operation is a sync that adopts untagged instances.
pub fn adopts_untagged(ledger: &Ledger) -> bool {
    ledger.operation.as_ref().is_some_and(|op| {
        !op.status.is_finished()
            && matches!(
                op.kind,
                OperationKind::SyncState {
                    adopt_untagged: true
                }
            )
    })
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
    let adopting = ledger.is_some_and(adopts_untagged);
    let (instances, others) =
        compute::list_and_split(client, compartment, &fleet.metadata.name).await?;
    let untagged = if adopting {
        others
            .into_iter()
            .filter(|i| !i.lifecycle_state.is_going_away() && i.tags.has_no_fleet_tag())
            .collect()
    } else {
        Vec::new()
    };
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
    let mut instances = instances;
    // OCI's lists are eventually consistent: an instance launched a moment ago may not be
    // listed yet. A live record whose instance the list lacks is read with GetInstance before
    // anything concludes it is gone (404: gone; any other error ends the observation, so
    // nothing is judged on a partial view).
    let listed: HashSet<&InstanceId> = instances.iter().map(|i| &i.id).collect();
    let unlisted: Vec<InstanceId> = ledger
        .iter()
        .flat_map(|l| l.live_records())
        .filter(|r| !listed.contains(&r.instance_id))
        .map(|r| r.instance_id.clone())
        .collect();
    for id in unlisted {
        match compute::get_instance(client, &id).await {
            Ok(inst) if inst.lifecycle_state != InstanceLifecycleState::Terminated => {
                instances.push(inst.into());
            }
            Ok(_) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    let private_ips = private_ips(ledger, &instances, &looked_up);
    let load_balancer = match load_balancer {
        Some(backends) => {
            let mut work_requests = BTreeMap::new();
            for pending in ledger.iter().flat_map(|l| l.work_requests.iter()) {
                let Some(id) = WorkRequestId::new(&pending.id) else {
                    continue;
                };
                let check = backends.check_work_request(&id).await?;
                work_requests.insert(pending.id.clone(), check.state);
            }
            let listed = backends.list_backends().await?;
            let unconfirmed_still_listed = ledger.is_some_and(|l| {
                l.unconfirmed_removals
                    .iter()
                    .any(|u| listed.iter().any(|b| b.name.as_str() == u.backend))
            });
            let in_flight = if unconfirmed_still_listed {
                backends
                    .in_flight_work_requests()
                    .await?
                    .map(|ids| ids.iter().map(|id| id.as_str().to_string()).collect())
            } else {
                None
            };
            Some(LoadBalancerObservation {
                backends: listed,
                health: backends.backend_set_health().await?,
                work_requests,
                in_flight,
            })
        }
        None => None,
    };
    Ok(Observation {
        observed_at,
        instances,
        private_ips,
        load_balancer,
        untagged,
    })
}

/// The IPs the ledger holds for its live records (not terminated or missing). A gone record's
/// IP may belong to another machine by now, so it is never the fleet's.
fn live_record_ips(ledger: Option<&Ledger>) -> PrivateIps {
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
    instances: &'a [ListedInstance],
) -> Vec<&'a InstanceId> {
    let known: HashSet<&InstanceId> = ledger
        .into_iter()
        .flat_map(|l| l.live_records())
        .filter(|r| r.private_ip.is_some())
        .map(|r| &r.instance_id)
        .collect();
    instances
        .iter()
        .filter(|i| !i.lifecycle_state.is_going_away() && !known.contains(&i.id))
        .map(|i| &i.id)
        .collect()
}

/// The private IPs of an [`Observation`], as [`observe`] builds them: the ledger's IP of every
/// live record, and for the instances of [`ips_to_look_up`] the IP found in `looked_up` (its
/// other entries are ignored). Terminated and missing records contribute nothing. Pure.
pub fn private_ips(
    ledger: Option<&Ledger>,
    instances: &[ListedInstance],
    looked_up: &BTreeMap<InstanceId, IpAddr>,
) -> PrivateIps {
    let mut ips = live_record_ips(ledger);
    if looked_up.is_empty() {
        return ips;
    }
    // The instances of `ips_to_look_up`: live, and no live record has their IP.
    for i in instances {
        if i.lifecycle_state.is_going_away() || ips.contains_key(&i.id) {
            continue;
        }
        if let Some(ip) = looked_up.get(&i.id) {
            ips.insert(i.id.clone(), *ip);
        }
    }
    ips
}
