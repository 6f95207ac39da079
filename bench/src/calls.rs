//! OCI calls of one steady-state step (fleet converged, nothing to do), counted from the
//! simulator's request log, for fleets of 10, 100, 1000 (and the 10,000 of `steady`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use fleetctl_core::ops;
use fleetctl_core::plan::Mode;
use oci_sim::LogEntry;

use crate::world::{self, Setup, World};

#[derive(Debug, Clone)]
pub struct Figures {
    pub fleet: u32,
    /// Real time the control loop took to launch and register the fleet.
    pub bring_up: Duration,
    pub bring_up_steps: u32,
    /// Mean simulator time of one LaunchInstance, over the first and the last tenth of the
    /// launches (does launching get slower as the fleet grows?).
    pub launch_ms_first: f64,
    pub launch_ms_last: f64,
    /// The steady step's calls, by operation.
    pub calls: BTreeMap<String, usize>,
    /// Real time of the steady step.
    pub step: Duration,
}

impl Figures {
    pub fn total(&self) -> usize {
        self.calls.values().sum()
    }
}

/// A converged fleet of `fleet` instances behind the load balancer.
pub async fn converged(fleet: u32, scale: f64) -> Result<(World, Figures)> {
    let w = world::start(&Setup {
        scale,
        count: fleet,
        rollout: "minReadySeconds: 0".into(),
        drain: Duration::from_secs(1),
        large_subnet: true,
        instant_lb: false,
    })
    .await?;
    let up = w
        .converge(Duration::from_secs(3600))
        .await
        .with_context(|| format!("bringing up {fleet} instances"))?;
    let launches: Vec<f64> = w
        .sim
        .requests()
        .iter()
        .filter(|e| e.operation.as_deref() == Some("LaunchInstance"))
        .map(|e| e.duration_ms as f64)
        .collect();
    ensure!(
        launches.len() == fleet as usize,
        "{} launches for a fleet of {fleet}",
        launches.len()
    );
    let tenth = (launches.len() / 10).max(1);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let figures = Figures {
        fleet,
        bring_up: up.real,
        bring_up_steps: up.steps,
        launch_ms_first: mean(&launches[..tenth]),
        launch_ms_last: mean(&launches[launches.len() - tenth..]),
        calls: BTreeMap::new(),
        step: Duration::ZERO,
    };
    Ok((w, figures))
}

/// One control-loop step on a converged fleet: its calls and its real time.
pub async fn steady_step(w: &World) -> Result<(BTreeMap<String, usize>, Duration)> {
    let from = w.sim.requests().len();
    let t = Instant::now();
    let report = ops::step(&w.ctx, Mode::Control)
        .await
        .context("the steady step")?;
    let took = t.elapsed();
    ensure!(
        report.did.is_empty(),
        "the fleet is not steady: the step did {:?}",
        report.did
    );
    Ok((by_operation(&w.requests_since(from)), took))
}

pub fn by_operation(log: &[LogEntry]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in log {
        *out.entry(
            e.operation
                .clone()
                .unwrap_or_else(|| format!("{} {}", e.method, e.path)),
        )
        .or_insert(0) += 1;
    }
    out
}

pub async fn run(fleet: u32, scale: f64) -> Result<Figures> {
    let (w, mut f) = converged(fleet, scale).await?;
    let (calls, step) = steady_step(&w).await?;
    f.calls = calls;
    f.step = step;
    Ok(f)
}
