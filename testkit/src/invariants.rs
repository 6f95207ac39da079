//! The invariants of the proof suites (issue 12), checked from the SIMULATOR's own state,
//! request log and health history, never from fleetctl's view. The fault suite
//! (`shared/tests/ops/faults.rs`), the crash suite and the race suite
//! (`cli/tests/fleetctl/crash.rs`) all use these.
//!
//! - [`Evidence::always`]: what must hold at every moment, crash, fault or not: no double
//!   launch for one slot, no backend created twice, every terminated instance drained and
//!   out of the load balancer first.
//! - [`Evidence::floor`]: serving backends never below a floor while an operation ran (the
//!   simulator's health history, which samples every instant a backend can go down).
//! - [`Evidence::orphans`] and [`Evidence::ledger_matches`]: after a step, every live
//!   instance with the fleet's tags is in the ledger, and the ledger's active records are
//!   exactly the live instances.
//! - [`Evidence::converged`]: the end state of an operation that succeeded.
//!
//! Each check returns the violations as sentences (empty: it holds); the suites count them
//! and fail with the seed that replays the run.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test helper: a failed unwrap is a failed test

use std::collections::{BTreeMap, BTreeSet};

use fleetctl_core::store::ledger::{Ledger, RecordState};
use oci_sim::{HealthSample, LogEntry, SimHandle};
use serde_json::Value;

/// The mutating OCI calls fleetctl makes.
pub const MUTATING: &[&str] = &[
    "LaunchInstance",
    "TerminateInstance",
    "InstanceAction",
    "UpdateInstance",
    "CreateBackend",
    "UpdateBackend",
    "DeleteBackend",
    "UpdateBackendSet",
];

/// A request the simulator carried out (answered below 300, or carried out and then its
/// connection dropped): `e.status` is set only once the operation ran.
pub fn is_op(e: &LogEntry, op: &str) -> bool {
    e.operation.as_deref() == Some(op) && e.status.is_some_and(|s| s < 300)
}

/// The mutating calls the simulator carried out.
pub fn mutating(log: &[LogEntry]) -> impl Iterator<Item = &LogEntry> {
    log.iter()
        .filter(|e| MUTATING.iter().any(|op| is_op(e, op)))
}

/// The backend name a backend call's path ends with (`10.0.0.5:8080`).
pub fn backend_in_path(e: &LogEntry) -> String {
    let last = e.path.rsplit('/').next().unwrap_or_default();
    last.replace("%3A", ":").replace("%3a", ":")
}

/// The instance a compute call's path names.
pub fn instance_in_path(e: &LogEntry) -> String {
    e.path
        .split('/')
        .find(|s| s.starts_with("ocid1.instance."))
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string()
}

pub fn id_of(i: &Value) -> String {
    i["id"].as_str().unwrap_or_default().to_string()
}

/// Not TERMINATING nor TERMINATED.
pub fn is_live(i: &Value) -> bool {
    !matches!(
        i["lifecycleState"].as_str(),
        Some("TERMINATING" | "TERMINATED")
    )
}

/// What the simulator showed at one moment: its world, its request log and its health
/// history, read together, for the fleet `fleet` whose backends listen on `port` of the
/// first backend set of the seeded classic load balancer.
///
/// Terminated instances must stay listed for the checks to see every instance ever
/// launched: start the simulator with a long `terminatedRetentionSeconds`.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub world: Value,
    pub log: Vec<LogEntry>,
    pub health: Vec<HealthSample>,
    pub fleet: String,
    pub port: u16,
}

impl Evidence {
    /// Reads the simulator now.
    pub fn read(sim: &SimHandle, fleet: &str, port: u16) -> Evidence {
        Evidence {
            world: sim.world_json(),
            log: sim.requests(),
            health: sim.health_history(),
            fleet: fleet.to_string(),
            port,
        }
    }

    /// Every instance with the fleet's tag, terminated ones included.
    pub fn fleet_instances(&self) -> Vec<&Value> {
        self.world["instances"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["freeformTags"]["fleetctl-fleet"].as_str() == Some(&self.fleet))
            .collect()
    }

    /// The ids of the fleet's live instances.
    pub fn live_ids(&self) -> BTreeSet<String> {
        self.fleet_instances()
            .into_iter()
            .filter(|i| is_live(i))
            .map(id_of)
            .collect()
    }

    /// The first backend set of the classic load balancer.
    pub fn backends(&self) -> Vec<Value> {
        self.world["loadBalancers"][0]["backendSets"][0]["backends"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Healthy backends taking traffic (health OK, not drained, not offline).
    pub fn serving(&self) -> u32 {
        self.backends()
            .iter()
            .filter(|b| b["health"] == "OK" && b["drain"] != true && b["offline"] != true)
            .count() as u32
    }

    /// The backend name of every fleet instance (`ip:port`), by instance id.
    pub fn backend_names(&self) -> BTreeMap<String, String> {
        self.fleet_instances()
            .into_iter()
            .filter_map(|i| {
                Some((
                    id_of(i),
                    format!("{}:{}", i["privateIp"].as_str()?, self.port),
                ))
            })
            .collect()
    }

    /// The classic load balancer's backend changes, one per backend: (change, backend,
    /// state, timeFinished). A batched update (UpdateBackendSet) counts as one change per
    /// backend it touched, as `CreateBackend`, `UpdateBackend` or `DeleteBackend`.
    pub fn lb_changes(&self) -> Vec<(String, String, String, String)> {
        self.lb_changes_with_requests()
            .into_iter()
            .map(|(kind, _, backend, state, finished, _)| (kind, backend, state, finished))
            .collect()
    }

    /// As [`Evidence::lb_changes`], with the batched change's own word (`add`, `drain`,
    /// `undrain`, `update`, `remove`; the kind again for a lone call) and the
    /// `opc-request-id` of the batched call.
    #[allow(clippy::type_complexity)]
    fn lb_changes_with_requests(
        &self,
    ) -> Vec<(String, String, String, String, String, Option<String>)> {
        let mut out = Vec::new();
        for w in self.world["workRequests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|w| w["service"] == "lb")
        {
            let state = w["lifecycleState"].as_str().unwrap_or_default().to_string();
            let finished = w["timeFinished"].as_str().unwrap_or_default().to_string();
            if w["type"] == "UpdateBackendSet" {
                let request = w["opcRequestId"].as_str().map(str::to_string);
                for c in w["changes"].as_array().into_iter().flatten() {
                    let (Some(word), Some(backend)) = (c["change"].as_str(), c["backend"].as_str())
                    else {
                        continue;
                    };
                    let kind = match word {
                        "add" => "CreateBackend",
                        "remove" => "DeleteBackend",
                        _ => "UpdateBackend",
                    };
                    out.push((
                        kind.to_string(),
                        word.to_string(),
                        backend.to_string(),
                        state.clone(),
                        finished.clone(),
                        request.clone(),
                    ));
                }
                continue;
            }
            let Some(message) = w["message"].as_str() else {
                continue;
            };
            let mut words = message.split(' ');
            let (Some(kind), Some(backend)) = (words.next(), words.next()) else {
                continue;
            };
            out.push((
                kind.to_string(),
                kind.to_string(),
                backend.to_string(),
                state,
                finished,
                None,
            ));
        }
        out
    }

    /// The backends the load balancer's successful work requests created, one entry per
    /// work request.
    pub fn created_backends(&self) -> Vec<String> {
        self.lb_changes()
            .into_iter()
            .filter(|c| c.0 == "CreateBackend" && c.2 == "SUCCEEDED")
            .map(|c| c.1)
            .collect()
    }

    /// What must hold at every moment, crash or fault or not: no double launch for one
    /// slot, no backend added twice, every terminated instance drained and out of the load
    /// balancer before its termination. `seen_ips` adds instance IPs seen earlier (by id),
    /// for instances the world no longer lists.
    pub fn always(&self, seen_ips: &BTreeMap<String, String>) -> Vec<String> {
        let mut bad = self.double_launches();
        let mut created: BTreeMap<String, u32> = BTreeMap::new();
        for name in self.created_backends() {
            *created.entry(name).or_default() += 1;
        }
        for (name, n) in &created {
            if *n > 1 {
                bad.push(format!("backend {name} added {n} times"));
            }
        }
        bad.extend(self.undrained_terminations(seen_ips));
        bad
    }

    /// Two instances for one slot: by the tags fleetctl launches with (operation and slot),
    /// and by display name among the live ones.
    pub fn double_launches(&self) -> Vec<String> {
        let mut bad = Vec::new();
        let mut by_slot: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for i in self.fleet_instances() {
            let tags = &i["freeformTags"];
            let key = (
                tags["fleetctl-operation"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
                tags["fleetctl-slot"].as_str().unwrap_or("?").to_string(),
            );
            by_slot.entry(key).or_default().push(id_of(i));
            if is_live(i) {
                let name = i["displayName"].as_str().unwrap_or_default().to_string();
                by_name.entry(name).or_default().push(id_of(i));
            }
        }
        for ((op, slot), ids) in &by_slot {
            if ids.len() > 1 {
                bad.push(format!(
                    "double launch: operation {op} slot {slot} has {} instances {ids:?}",
                    ids.len()
                ));
            }
        }
        for (name, ids) in &by_name {
            if ids.len() > 1 {
                bad.push(format!(
                    "double launch: {} live instances named {name}: {ids:?}",
                    ids.len()
                ));
            }
        }
        bad
    }

    /// Every TerminateInstance the simulator carried out came after a drain of the
    /// instance's backend (an UpdateBackend accepted) and after its removal (a DeleteBackend
    /// accepted, whose work request SUCCEEDED before the termination arrived), in the request
    /// log's order. Instances that never had a backend are exempt.
    pub fn undrained_terminations(&self, seen_ips: &BTreeMap<String, String>) -> Vec<String> {
        let mut bad = Vec::new();
        let mut names = self.backend_names();
        for (id, ip) in seen_ips {
            names
                .entry(id.clone())
                .or_insert_with(|| format!("{ip}:{}", self.port));
        }
        let ever: BTreeSet<String> = self
            .lb_changes()
            .into_iter()
            .filter(|c| c.0 == "CreateBackend")
            .map(|c| c.1)
            .collect();
        let removals: Vec<(String, String)> = self
            .lb_changes()
            .into_iter()
            .filter(|c| c.0 == "DeleteBackend" && c.2 == "SUCCEEDED")
            .map(|c| (c.1, c.3))
            .collect();
        let batches = self.lb_changes_with_requests();
        for (at, e) in self.log.iter().enumerate() {
            if !is_op(e, "TerminateInstance") {
                continue;
            }
            let id = instance_in_path(e);
            let Some(backend) = names.get(&id) else {
                if self.fleet_instances().iter().any(|i| id_of(i) == id) {
                    bad.push(format!("terminated {id}, whose IP was never seen"));
                }
                continue;
            };
            if !ever.contains(backend) {
                continue;
            }
            let before = &self.log[..at];
            // A lone call, or a batched update (UpdateBackendSet) that did it.
            let in_batch = |d: &LogEntry, word: &str| {
                is_op(d, "UpdateBackendSet")
                    && batches.iter().any(|(_, w, b, _, _, request)| {
                        w == word && b == backend && request.as_deref() == Some(&d.opc_request_id)
                    })
            };
            let drained = before.iter().any(|d| {
                (is_op(d, "UpdateBackend") && &backend_in_path(d) == backend)
                    || in_batch(d, "drain")
            });
            let deleted = before.iter().any(|d| {
                (is_op(d, "DeleteBackend") && &backend_in_path(d) == backend)
                    || in_batch(d, "remove")
            });
            let removed = removals
                .iter()
                .any(|(name, finished)| name == backend && finished.as_str() <= e.time.as_str());
            if !drained || !deleted || !removed {
                bad.push(format!(
                    "{id} terminated (request {} at {}) before its backend {backend} was {}",
                    e.seq,
                    e.time,
                    if !drained {
                        "drained"
                    } else if !deleted {
                        "deleted"
                    } else {
                        "out of the load balancer (its removal had not succeeded)"
                    }
                ));
            }
        }
        bad
    }

    /// Serving backends never below `floor` from `from_ms` (simulated milliseconds since the
    /// epoch) on, by the simulator's health history (it must be on: [`crate::TestSim`]
    /// starts it). The counts in force at `from_ms` count too.
    pub fn floor(&self, floor: u32, from_ms: u64) -> Vec<String> {
        let lb = self.world["loadBalancers"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let set: Vec<&HealthSample> = self
            .health
            .iter()
            .filter(|s| s.service == "lb" && s.load_balancer_id == lb)
            .collect();
        if set.is_empty() {
            return vec!["no health history: is it recorded?".to_string()];
        }
        let start = set.iter().rposition(|s| s.time_ms <= from_ms).unwrap_or(0);
        set[start..]
            .iter()
            .filter(|s| s.serving < floor)
            .map(|s| {
                format!(
                    "{} serving backends (of {}, {} healthy) from {}: below the floor {floor}",
                    s.serving, s.total, s.healthy, s.time
                )
            })
            .collect()
    }

    /// Live instances with the fleet's tags that the ledger does not know (after a step,
    /// there must be none).
    pub fn orphans(&self, ledger: &Ledger) -> Vec<String> {
        let known: BTreeSet<String> = ledger
            .records
            .iter()
            .map(|r| r.instance_id.to_string())
            .collect();
        self.live_ids()
            .into_iter()
            .filter(|id| !known.contains(id))
            .map(|id| {
                format!("orphan: {id} runs with the fleet's tags and the ledger does not know it")
            })
            .collect()
    }

    /// The ledger against OCI: its active records (neither gone nor terminating) are exactly
    /// the live instances; a record OCI shows terminated is not active; the IPs it holds are
    /// the instances'.
    pub fn ledger_matches(&self, ledger: &Ledger) -> Vec<String> {
        let mut bad = Vec::new();
        let live = self.live_ids();
        let active: BTreeSet<String> = ledger
            .records
            .iter()
            .filter(|r| !r.state.is_gone() && r.state != RecordState::Terminating)
            .map(|r| r.instance_id.to_string())
            .collect();
        if live != active {
            bad.push(format!(
                "the ledger's active records {active:?} are not the live instances {live:?}"
            ));
        }
        let ips: BTreeMap<String, String> = self
            .fleet_instances()
            .into_iter()
            .filter_map(|i| Some((id_of(i), i["privateIp"].as_str()?.to_string())))
            .collect();
        for r in &ledger.records {
            let id = r.instance_id.to_string();
            if let (Some(recorded), Some(actual)) = (r.private_ip, ips.get(&id))
                && recorded.to_string() != *actual
            {
                bad.push(format!(
                    "the ledger holds IP {recorded} for {id}, OCI says {actual}"
                ));
            }
        }
        bad
    }

    /// After an operation succeeded and a step found nothing to do: `live` instances run,
    /// each behind one healthy in-service backend, no other backend; none orphaned; the
    /// ledger matches OCI; and when `launched` is given, that many instances were launched
    /// in all, each given a backend once.
    pub fn converged(&self, ledger: &Ledger, live: usize, launched: Option<usize>) -> Vec<String> {
        let mut bad = self.orphans(ledger);
        bad.extend(self.ledger_matches(ledger));
        let instances = self.fleet_instances();
        let live_ids = self.live_ids();
        if live_ids.len() != live {
            bad.push(format!(
                "{} live instances, expected {live}",
                live_ids.len()
            ));
        }
        let names = self.backend_names();
        let wanted: BTreeSet<String> = live_ids
            .iter()
            .filter_map(|id| names.get(id).cloned())
            .collect();
        let backends: BTreeSet<String> = self
            .backends()
            .iter()
            .filter_map(|b| b["name"].as_str().map(str::to_string))
            .collect();
        if backends != wanted {
            bad.push(format!(
                "backends {backends:?} are not the live instances' {wanted:?}"
            ));
        }
        if self.serving() as usize != live {
            bad.push(format!(
                "{} healthy in-service backends, expected {live}",
                self.serving()
            ));
        }
        if let Some(launched) = launched {
            if instances.len() != launched {
                bad.push(format!(
                    "{} instances launched in all, expected {launched}",
                    instances.len()
                ));
            }
            let ever: BTreeSet<String> = names.values().cloned().collect();
            let made: BTreeSet<String> = self.created_backends().into_iter().collect();
            if made != ever {
                bad.push(format!(
                    "backends created {made:?}, expected one per instance launched {ever:?}"
                ));
            }
        }
        bad
    }
}
