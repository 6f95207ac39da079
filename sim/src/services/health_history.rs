//! The health history behind `GET /_sim/health-history`: how many backends of each backend
//! set (classic and NLB) were serving, sample by sample, so a test can prove that a rolling
//! change never took too many out of service at once, including between two of its looks.
//!
//! Off unless asked for (`SimConfig::health_history`, `PUT /_sim/health-history`): while it
//! is on, [`crate::state::World::settle`] applies due transitions and work requests in time
//! order and samples after each instant, and every request samples after it is answered.
//!
//! Why samples at those instants are enough: a backend's health drops only when something
//! happens that the simulator applies itself (an instance leaves RUNNING, a work request
//! drains, takes offline or removes a backend, a request forces health); it rises on its own
//! (a first health check passes, an instance has been RUNNING long enough) at instants nobody
//! applies. So the count between two samples never falls below the smaller of the two, and
//! the lowest sample is the lowest the count ever was.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;

use crate::clock::rfc3339;
use crate::services::health::HealthStatus;
use crate::services::settings::Tick;
use crate::services::{load_balancer, nlb};
use crate::state::World;

/// One change of a backend set's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthSample {
    /// Simulated time (RFC 3339) from which these counts held.
    pub time: String,
    /// The same instant, in milliseconds since the Unix epoch, for comparisons.
    pub time_ms: u64,
    /// `lb` (classic) or `nlb`.
    pub service: &'static str,
    pub load_balancer_id: String,
    pub backend_set: String,
    /// Backends taking traffic: health OK, not drained, not offline (not backup either).
    pub serving: u32,
    /// Backends whose health is OK, drained or not.
    pub healthy: u32,
    /// Backends in the set.
    pub total: u32,
}

/// The samples, each set's last counts (a sample is kept only when they change), and
/// whether recording is on.
#[derive(Debug, Default)]
pub struct HealthHistory {
    pub enabled: bool,
    samples: Vec<HealthSample>,
    last: BTreeMap<(String, String), (u32, u32, u32)>,
}

/// The most samples kept; older ones are dropped first (a long demo must not grow forever).
const MAX_SAMPLES: usize = 200_000;

impl HealthHistory {
    pub fn samples(&self) -> &[HealthSample] {
        &self.samples
    }

    /// Forgets every sample; the next sample of each set is recorded whatever it holds.
    pub fn clear(&mut self) {
        self.samples.clear();
        self.last.clear();
    }

    fn push(
        &mut self,
        at: SystemTime,
        key: (&'static str, String, String),
        counts: (u32, u32, u32),
    ) {
        let (service, lb, set) = key;
        if self.last.get(&(lb.clone(), set.clone())) == Some(&counts) {
            return;
        }
        self.last.insert((lb.clone(), set.clone()), counts);
        if self.samples.len() >= MAX_SAMPLES {
            self.samples.drain(..MAX_SAMPLES / 10);
        }
        self.samples.push(HealthSample {
            time: rfc3339(at),
            time_ms: at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0),
            service,
            load_balancer_id: lb,
            backend_set: set,
            serving: counts.0,
            healthy: counts.1,
            total: counts.2,
        });
    }
}

/// Records each backend set's counts at `tick.now` (when recording is on).
pub fn sample(world: &mut World, tick: Tick) {
    if !world.health_history.enabled {
        return;
    }
    let mut rows = Vec::new();
    for lb in &world.load_balancer.load_balancers {
        for set in lb.backend_sets.values() {
            let (mut serving, mut healthy) = (0, 0);
            for b in &set.backends {
                let ok = load_balancer::classic_backend_health(world, b, tick).status
                    == HealthStatus::Ok;
                healthy += u32::from(ok);
                serving += u32::from(ok && !b.drain && !b.offline && !b.backup);
            }
            rows.push((
                ("lb", lb.id.to_string(), set.name.clone()),
                (serving, healthy, set.backends.len() as u32),
            ));
        }
    }
    for n in &world.nlb.nlbs {
        for set in n.backend_sets.values() {
            let (mut serving, mut healthy) = (0, 0);
            for b in &set.backends {
                let ok = nlb::nlb_backend_health(world, b, tick).status == HealthStatus::Ok;
                healthy += u32::from(ok);
                serving += u32::from(ok && !b.is_drain && !b.is_offline && !b.is_backup);
            }
            rows.push((
                ("nlb", n.id.to_string(), set.name.clone()),
                (serving, healthy, set.backends.len() as u32),
            ));
        }
    }
    for (key, counts) in rows {
        world.health_history.push(tick.now, key, counts);
    }
}

/// The earliest instant not after `now` at which an instance transition or a work request
/// is due, if any.
pub fn next_due(world: &World, now: SystemTime) -> Option<SystemTime> {
    let instances = world
        .compute
        .instances
        .iter()
        .filter_map(|i| i.deadline)
        .filter(|d| *d <= now);
    let lb = world
        .load_balancer
        .work_requests
        .iter()
        .filter(|w| !w.progress.is_finished())
        .map(|w| w.progress.schedule.finishes)
        .filter(|d| *d <= now);
    let nlb = world
        .nlb
        .work_requests
        .iter()
        .filter(|w| !w.progress.is_finished())
        .map(|w| w.progress.schedule.finishes)
        .filter(|d| *d <= now);
    instances.chain(lb).chain(nlb).min()
}
