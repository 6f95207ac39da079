//! Rolling replace of 20 instances behind the load balancer, maxSurge 1, 2 and 5
//! (maxUnavailable 0), against the bound ceil(N/s) x (launch-to-healthy) + drain.

use std::time::Duration;

use anyhow::{Result, ensure};
use fleetctl_core::config::RolloutStrategy;
use fleetctl_core::store::ledger::{OperationKind, OperationStatus};
use oci_sim::LogEntry;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::world::{self, Setup};

pub const FLEET: u32 = 20;
/// Real time is at most this long per operation before the benchmark gives up.
const LIMIT: Duration = Duration::from_secs(900);

#[derive(Debug, Clone)]
pub struct Figures {
    pub surge: u32,
    /// One launch until its backend is healthy and minReadySeconds passed (simulated).
    pub launch_to_healthy: Duration,
    pub bound: Duration,
    /// The rolling restart, request to success (simulated).
    pub elapsed: Duration,
    pub steps: u32,
    /// Mean real time of one reconcile step during the rollout.
    pub mean_step: Duration,
    /// Where a replacement's time goes (simulated), when the rollout replaced one at a time.
    pub phases: Option<Vec<(&'static str, Duration)>>,
}

impl Figures {
    pub fn ratio(&self) -> f64 {
        self.elapsed.as_secs_f64() / self.bound.as_secs_f64()
    }
}

pub async fn run(scale: f64, surge: u32, drain: Duration, instant_lb: bool) -> Result<Figures> {
    let w = world::start(&Setup {
        scale,
        count: FLEET,
        rollout: format!("maxSurge: {surge}, maxUnavailable: 0, minReadySeconds: 0"),
        drain,
        large_subnet: false,
        instant_lb,
    })
    .await?;
    // Launch-to-healthy, measured in this run: a scale from 0 to 1.
    let one = w
        .operate(OperationKind::Scale { desired: 1 }, LIMIT)
        .await?;
    ensure!(
        one.status == Some(OperationStatus::Succeeded),
        "scale to 1: {:?}",
        one.status
    );
    let launch_to_healthy = w.simulated(one.real);
    let up = w
        .operate(OperationKind::Scale { desired: FLEET }, LIMIT)
        .await?;
    ensure!(
        up.status == Some(OperationStatus::Succeeded),
        "scale to {FLEET}: {:?}",
        up.status
    );
    let from = w.sim.requests().len();
    let r = w
        .operate(
            OperationKind::RollingRestart {
                strategy: RolloutStrategy::Replace,
                reboot_action: None,
                update: None,
            },
            LIMIT,
        )
        .await?;
    ensure!(
        r.status == Some(OperationStatus::Succeeded),
        "rolling restart: {:?}",
        r.status
    );
    let log = w.requests_since(from);
    let launches = log
        .iter()
        .filter(|e| e.operation.as_deref() == Some("LaunchInstance") && ok(e))
        .count();
    ensure!(
        launches == FLEET as usize,
        "{launches} launches for {FLEET} replacements"
    );
    let waves = FLEET.div_ceil(surge);
    let bound = launch_to_healthy * waves + drain;
    Ok(Figures {
        surge,
        launch_to_healthy,
        bound,
        elapsed: w.simulated(r.real),
        steps: r.steps,
        mean_step: r.in_steps / r.steps.max(1),
        phases: (surge == 1).then(|| phases(&log, scale)).flatten(),
    })
}

fn ok(e: &LogEntry) -> bool {
    e.status.is_some_and(|s| s < 300)
}

/// With one replacement at a time the calls of each come in order: launch, add its backend,
/// drain the old one, remove it, terminate it, then the next launch. The mean gaps between
/// them, in simulated time.
fn phases(log: &[LogEntry], scale: f64) -> Option<Vec<(&'static str, Duration)>> {
    const ORDER: [&str; 5] = [
        "LaunchInstance",
        "CreateBackend",
        "UpdateBackend",
        "DeleteBackend",
        "TerminateInstance",
    ];
    const GAPS: [&str; 5] = [
        "launch -> RUNNING seen, backend added",
        "backend added -> healthy + minReady seen, drain of the old one sent",
        "drain sent -> drain work request + drainTimeout, removal sent",
        "removal sent -> removal work request, termination sent",
        "termination sent -> next launch",
    ];
    let calls: Vec<(&str, OffsetDateTime)> = log
        .iter()
        .filter(|e| ok(e))
        .filter_map(|e| {
            let op = ORDER.iter().find(|o| e.operation.as_deref() == Some(**o))?;
            Some((*op, OffsetDateTime::parse(&e.time, &Rfc3339).ok()?))
        })
        .collect();
    let mut sums = [Duration::ZERO; 5];
    let mut counts = [0u32; 5];
    for pair in calls.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let i = ORDER.iter().position(|o| *o == a.0)?;
        if ORDER[(i + 1) % ORDER.len()] != b.0 {
            // Not in the expected order (a retried call): the run is not one at a time.
            return None;
        }
        let gap = Duration::try_from(b.1 - a.1).unwrap_or(Duration::ZERO);
        sums[i] += gap;
        counts[i] += 1;
    }
    Some(
        GAPS.iter()
            .zip(sums.iter().zip(counts.iter()))
            .map(|(name, (sum, n))| (*name, (*sum / (*n).max(1)).div_f64(scale)))
            .collect(),
    )
}
