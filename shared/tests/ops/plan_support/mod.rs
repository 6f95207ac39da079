//! A model of what OCI shows, for tests of the pure planner and of what is built from its
//! ledger (the metrics snapshot): [`World`] plans a step, records it, carries out its calls on
//! a few lines of state (a launch is PROVISIONING, then RUNNING one tick later; a drain is
//! seen at once; a backend is healthy while its instance is RUNNING) and records what they
//! returned, as `ops::step` does against OCI. It is not a client: the planner never talks to
//! anything, it only reads an `Observation`.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use fleetctl_core::config::{self, FleetConfig, RolloutStrategy};
use fleetctl_core::ids::InstanceId;
use fleetctl_core::observe::{LoadBalancerObservation, Observation};
use fleetctl_core::oci::backends::{Backend, BackendName, BackendSetHealth, HealthStatus};
use fleetctl_core::oci::compute::{InstanceLifecycleState, ListedInstance};
use fleetctl_core::plan::{self, Action, Mode, Outcome, Plan, RequestError};
use fleetctl_core::store::ledger::{
    InstanceRecord, Ledger, OperationId, OperationKind, OperationStatus, RecordState, Timestamp,
};
use time::OffsetDateTime;
use time::macros::datetime;

pub const T0: OffsetDateTime = datetime!(2026-03-01 12:00:00 UTC);
pub const PORT: u16 = 8080;

// ---------------------------------------------------------------------------------------------
// Fleet files
// ---------------------------------------------------------------------------------------------

/// Fleet `demo` with `groups` (name, count), the load balancer when `lb`, and `rollout` (the
/// body of a YAML flow map, e.g. `maxSurge: 2`).
pub fn fleet(groups: &[(&str, u32)], lb: bool, rollout: &str) -> FleetConfig {
    let mut text = String::from(
        "kind: FleetConfig
metadata: {name: demo}
spec:
  compartmentId: ocid1.compartment.oc1..aaaa
  imageId: ocid1.image.oc1.iad.aaaa
  availabilityDomain: AD-1
  shape: VM.Standard.E4.Flex
  shapeConfig: {ocpus: 1}
  subnetId: ocid1.subnet.oc1.iad.aaaa
  instances:
",
    );
    for (name, count) in groups {
        text.push_str(&format!("    - {{name: {name}, count: {count}}}\n"));
    }
    if lb {
        text.push_str(
            "  loadBalancer: {enabled: true, loadBalancerId: ocid1.loadbalancer.oc1.iad.aaaa, \
             backendSetName: bs, port: 8080, drainTimeout: 10s, healthTimeout: 2m}\n",
        );
    }
    if !rollout.is_empty() {
        text.push_str(&format!("  rollout: {{{rollout}}}\n"));
    }
    config::load_str("fleet.yaml", &text).unwrap()
}

pub fn id(n: u32) -> InstanceId {
    format!("ocid1.instance.oc1.iad.aaaa{n}").parse().unwrap()
}

pub fn ip(n: u32) -> IpAddr {
    format!("10.0.{}.{}", n / 200, n % 200 + 10)
        .parse()
        .unwrap()
}

pub fn n_of(id: &InstanceId) -> u32 {
    id.as_str()
        .trim_start_matches("ocid1.instance.oc1.iad.aaaa")
        .parse()
        .unwrap()
}

/// An instance as `ListInstances` shows it. `tags`: (group, Some((operation, slot))).
pub fn instance(
    n: u32,
    state: &str,
    name: &str,
    group: Option<&str>,
    launched_by: Option<(&str, u32)>,
    fleet: &str,
    created: OffsetDateTime,
) -> ListedInstance {
    let mut tags = serde_json::Map::new();
    tags.insert("fleetctl-fleet".into(), fleet.into());
    if let Some(g) = group {
        tags.insert("fleetctl-group".into(), g.into());
    }
    if let Some((op, slot)) = launched_by {
        tags.insert("fleetctl-operation".into(), op.into());
        tags.insert("fleetctl-slot".into(), slot.to_string().into());
    }
    serde_json::from_value(serde_json::json!({
        "id": id(n).to_string(),
        "compartmentId": "ocid1.compartment.oc1..aaaa",
        "availabilityDomain": "AD-1",
        "lifecycleState": state,
        "displayName": name,
        "timeCreated": Timestamp::new(created).to_string(),
        "freeformTags": tags,
    }))
    .unwrap()
}

pub fn scale(desired: u32) -> OperationKind {
    OperationKind::Scale { desired }
}

pub fn rolling(strategy: RolloutStrategy) -> OperationKind {
    OperationKind::RollingRestart {
        strategy,
        reboot_action: None,
        update: None,
    }
}

// ---------------------------------------------------------------------------------------------
// A model of what OCI shows
// ---------------------------------------------------------------------------------------------

/// The planner's surroundings: a ledger, the instances and backends OCI would list, and a
/// clock. [`World::step`] plans once, records the plan, carries out its calls on the model
/// and records what they returned, as `ops::step` does against OCI.
pub struct World {
    pub config: FleetConfig,
    pub now: OffsetDateTime,
    pub ledger: Ledger,
    pub instances: Vec<ListedInstance>,
    pub backends: Vec<Backend>,
    /// Instances whose backend never gets healthy.
    pub sick: BTreeSet<InstanceId>,
    /// New instances are sick (a bad image).
    pub new_are_sick: bool,
    /// Instances launched from these images never become healthy (a bad image).
    pub sick_images: BTreeSet<String>,
    /// The image each instance launched by the model was launched from.
    pub images: BTreeMap<InstanceId, String>,
    /// Launches are refused with this reason (no capacity).
    pub refuse_launches: Option<String>,
    /// Terminations are lost (the call failed; `ops` records it as transient).
    pub lose_terminations: bool,
    pub next_n: u32,
    /// Every call, with when it was made.
    pub log: Vec<(OffsetDateTime, Action)>,
    /// Instances created by launches (never more than one per operation and slot).
    pub launched: Vec<InstanceId>,
}

impl World {
    pub fn new(config: FleetConfig) -> Self {
        World {
            config,
            now: T0,
            ledger: Ledger::new("demo".parse().unwrap(), T0),
            instances: Vec::new(),
            backends: Vec::new(),
            sick: BTreeSet::new(),
            new_are_sick: false,
            sick_images: BTreeSet::new(),
            images: BTreeMap::new(),
            refuse_launches: None,
            lose_terminations: false,
            next_n: 1,
            log: Vec::new(),
            launched: Vec::new(),
        }
    }

    pub fn lb(&self) -> bool {
        self.config.spec.load_balancer.is_some()
    }

    /// Adds `count` RUNNING instances of `group` that the ledger manages (with their healthy
    /// backends when the fleet has a load balancer), each created a minute after the last.
    pub fn seed(&mut self, group: &str, count: u32) -> Vec<InstanceId> {
        let mut ids = Vec::new();
        for _ in 0..count {
            let n = self.next_n;
            self.next_n += 1;
            let slot = self
                .ledger
                .records
                .iter()
                .filter(|r| r.group.as_str() == group)
                .count() as u32
                + 1;
            let name = format!("demo-{group}-{slot}");
            let created = T0 - time::Duration::hours(1) + time::Duration::minutes(i64::from(n));
            self.instances.push(instance(
                n,
                "RUNNING",
                &name,
                Some(group),
                None,
                "demo",
                created,
            ));
            self.ledger.records.push(InstanceRecord {
                instance_id: id(n),
                group: group.parse().unwrap(),
                name: name.into(),
                private_ip: Some(ip(n)),
                created: Timestamp::new(created),
                terminated: None,
                state: RecordState::Running,
                operation: None,
                launch_digest: Some(
                    fleetctl_core::cloud::launch_spec(&self.config)
                        .group_digest(&group.parse().unwrap())
                        .into(),
                ),
            });
            if self.lb() {
                self.backends.push(backend(n));
            }
            ids.push(id(n));
        }
        ids
    }

    pub fn request(&mut self, kind: OperationKind) -> Result<OperationId, RequestError> {
        plan::request(&mut self.ledger, &self.config, kind, self.now)
    }

    pub fn state_of(&self, n: u32) -> Option<InstanceLifecycleState> {
        self.instances
            .iter()
            .find(|i| i.id == id(n))
            .map(|i| i.lifecycle_state.clone())
    }

    /// What `status::observe` would read.
    pub fn observe(&self) -> Observation {
        let listed: Vec<ListedInstance> = self
            .instances
            .iter()
            .filter(|i| i.lifecycle_state != InstanceLifecycleState::Terminated)
            .cloned()
            .collect();
        let vnics: BTreeMap<InstanceId, IpAddr> = listed
            .iter()
            .map(|i| (i.id.clone(), ip(n_of(&i.id))))
            .collect();
        let private_ips = fleetctl_core::observe::private_ips(Some(&self.ledger), &listed, &vnics);
        let load_balancer = self.lb().then(|| {
            let critical: Vec<String> = self
                .backends
                .iter()
                .filter(|b| !self.backend_healthy(b))
                .map(|b| b.name.as_str().to_string())
                .collect();
            LoadBalancerObservation {
                backends: self.backends.clone(),
                health: BackendSetHealth {
                    status: HealthStatus::Ok,
                    warning_state_backend_names: vec![],
                    critical_state_backend_names: critical,
                    unknown_state_backend_names: vec![],
                    total_backend_count: self.backends.len() as u32,
                },
                work_requests: Default::default(),
                in_flight: None,
            }
        });
        Observation {
            observed_at: self.now,
            instances: listed,
            private_ips,
            load_balancer,
            untagged: Vec::new(),
        }
    }

    /// A backend is healthy while an instance with its IP is RUNNING and not sick.
    pub fn backend_healthy(&self, b: &Backend) -> bool {
        self.instances.iter().any(|i| {
            Some(ip(n_of(&i.id)).to_string()) == b.ip_address
                && i.lifecycle_state == InstanceLifecycleState::Running
                && !self.sick.contains(&i.id)
        })
    }

    /// Healthy backends taking traffic; without a load balancer, RUNNING instances the
    /// ledger has as active.
    pub fn serving(&self) -> u32 {
        if self.lb() {
            self.backends
                .iter()
                .filter(|b| !b.drain && !b.offline && self.backend_healthy(b))
                .count() as u32
        } else {
            self.instances
                .iter()
                .filter(|i| i.lifecycle_state == InstanceLifecycleState::Running)
                .count() as u32
        }
    }

    /// One reconcile step: plan, record, act, record the outcomes.
    pub fn step(&mut self, mode: Mode) -> Plan {
        let obs = self.observe();
        let plan = plan::plan(&self.config, &self.ledger, &obs, self.now, mode);
        self.ledger = plan.ledger.clone();
        let mut outcomes = Vec::new();
        for action in &plan.actions {
            self.log.push((self.now, action.clone()));
            outcomes.extend(self.act(action));
        }
        plan::apply(&mut self.ledger, &outcomes, self.now);
        plan
    }

    /// What OCI does for one call.
    pub fn act(&mut self, action: &Action) -> Option<Outcome> {
        match action {
            Action::Launch {
                operation,
                slot,
                group,
                name,
                launch,
                digest,
            } => {
                // The retry token (operation, slot) makes a repeated launch return the first
                // instance.
                let existing = self.instances.iter().find(|i| {
                    let t = i.fleet_tags();
                    t.operation.as_ref() == Some(operation) && t.slot == Some(*slot)
                });
                let instance = match existing {
                    Some(i) => i.id.clone(),
                    None => {
                        if let Some(reason) = &self.refuse_launches {
                            return Some(Outcome::StepFailed {
                                operation: operation.clone(),
                                slot: *slot,
                                reason: format!("{name}: launch refused: {reason}"),
                            });
                        }
                        let n = self.next_n;
                        self.next_n += 1;
                        self.instances.push(instance(
                            n,
                            "PROVISIONING",
                            name,
                            Some(group.as_str()),
                            Some((operation.as_str(), *slot)),
                            "demo",
                            self.now,
                        ));
                        if self.new_are_sick || self.sick_images.contains(launch.image_id.as_str())
                        {
                            self.sick.insert(id(n));
                        }
                        self.images
                            .insert(id(n), launch.image_id.as_str().to_string());
                        self.launched.push(id(n));
                        id(n)
                    }
                };
                Some(Outcome::Launched {
                    operation: operation.clone(),
                    slot: *slot,
                    instance,
                    name: name.clone(),
                    group: group.clone(),
                    private_ip: None,
                    launch_digest: Some(digest.clone()),
                })
            }
            Action::AddBackend { ip, port, .. } => {
                let name = BackendName::for_address(*ip, *port);
                if !self.backends.iter().any(|b| b.name == name) {
                    self.backends.push(Backend {
                        name,
                        ip_address: Some(ip.to_string()),
                        port: *port,
                        weight: 1,
                        backup: false,
                        drain: false,
                        offline: false,
                    });
                }
                None
            }
            Action::SetDrain { backend, drain, .. } => {
                for b in self.backends.iter_mut().filter(|b| &b.name == backend) {
                    b.drain = *drain;
                }
                None
            }
            Action::DeleteBackend { backend } => {
                self.backends.retain(|b| &b.name != backend);
                Some(Outcome::RemovalSettled {
                    backend: backend.as_str().to_string(),
                })
            }
            Action::Tag { instance, group } => {
                let fleet = self.config.metadata.name.as_str().to_string();
                for i in self.instances.iter_mut().filter(|i| &i.id == instance) {
                    i.tags.fleet = Some(fleet.as_str().into());
                    i.tags.group = Some(group.clone());
                }
                None
            }
            Action::Terminate { .. } if self.lose_terminations => Some(Outcome::Transient {
                reason: "terminate failed: 503".to_string(),
            }),
            Action::Terminate { instance } => {
                for i in self.instances.iter_mut().filter(|i| &i.id == instance) {
                    if !i.lifecycle_state.is_going_away() {
                        i.lifecycle_state = InstanceLifecycleState::Terminating;
                    }
                }
                None
            }
            Action::Reboot {
                operation,
                slot,
                instance,
                ..
            } => {
                for i in self.instances.iter_mut().filter(|i| &i.id == instance) {
                    if i.lifecycle_state == InstanceLifecycleState::Running {
                        i.lifecycle_state = InstanceLifecycleState::Stopping;
                    }
                }
                // OCI answers the instance action: the reconcile step reports it accepted.
                Some(Outcome::RebootAccepted {
                    operation: operation.clone(),
                    slot: *slot,
                })
            }
        }
    }

    /// Time passes: every instance moves one lifecycle state on.
    pub fn tick(&mut self, by: Duration) {
        self.now += by;
        for i in &mut self.instances {
            i.lifecycle_state = match i.lifecycle_state {
                InstanceLifecycleState::Provisioning => InstanceLifecycleState::Running,
                InstanceLifecycleState::Stopping => InstanceLifecycleState::Starting,
                InstanceLifecycleState::Starting => InstanceLifecycleState::Running,
                InstanceLifecycleState::Terminating => InstanceLifecycleState::Terminated,
                ref s => s.clone(),
            };
        }
    }

    /// Steps (`tick` apart) until the operation is over or paused; `check` runs after every
    /// step and every tick. Returns the operation's status.
    pub fn run(
        &mut self,
        mode: Mode,
        tick: Duration,
        mut check: impl FnMut(&World),
    ) -> OperationStatus {
        for _ in 0..2000 {
            let plan = self.step(mode);
            check(self);
            let status = self.ledger.operation.as_ref().map(|o| o.status);
            match status {
                Some(s) if s.is_finished() || s == OperationStatus::Paused => return s,
                None => panic!("no operation runs; waiting on {:?}", plan.waiting_on),
                _ => {}
            }
            self.tick(tick);
            check(self);
        }
        panic!(
            "the operation did not finish: {:#?}",
            self.ledger.operation.as_ref().map(|o| &o.steps)
        )
    }

    pub fn active(&self) -> Vec<&InstanceRecord> {
        self.ledger
            .records
            .iter()
            .filter(|r| {
                matches!(
                    r.state,
                    RecordState::Launching
                        | RecordState::Running
                        | RecordState::Draining
                        | RecordState::Rebooting
                )
            })
            .collect()
    }

    pub fn live_ids(&self) -> BTreeSet<InstanceId> {
        self.instances
            .iter()
            .filter(|i| !i.lifecycle_state.is_going_away())
            .map(|i| i.id.clone())
            .collect()
    }

    pub fn actions_of(&self, pred: impl Fn(&Action) -> bool) -> Vec<&Action> {
        self.log
            .iter()
            .map(|(_, a)| a)
            .filter(|a| pred(a))
            .collect()
    }
}

pub fn backend(n: u32) -> Backend {
    Backend {
        name: BackendName::for_address(ip(n), PORT),
        ip_address: Some(ip(n).to_string()),
        port: PORT,
        weight: 1,
        backup: false,
        drain: false,
        offline: false,
    }
}

pub fn launches(actions: &[Action]) -> Vec<(u32, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Launch { slot, name, .. } => Some((*slot, name.clone())),
            _ => None,
        })
        .collect()
}

pub fn terminated(actions: &[Action]) -> Vec<InstanceId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Terminate { instance } => Some(instance.clone()),
            _ => None,
        })
        .collect()
}

pub const TICK: Duration = Duration::from_secs(5);
