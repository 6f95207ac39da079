//! A simulator and a fleet in front of it, driven the way the CLI drives it: one reconcile
//! step, then a wait of [`ops::StepReport::poll_after`], again and again.
//!
//! Time scale: the simulator runs every duration at `scale` (boot, health checks, load
//! balancer work requests). The fleetctl side reads the real clock, so everything it waits
//! for by the clock is given at the same scale here: the pause between steps
//! (`poll_after() * scale`), the work-request polling of the backend-set client (its
//! [`WaitPolicy`] times `scale`) and the fleet file's `drainTimeout`. Simulated time is then
//! real time divided by `scale`, except for the real cost of the steps themselves (CPU,
//! loopback HTTP, the ledger file), which the figures report separately.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use fleetctl_core::config;
use fleetctl_core::fleet::{Fleet, Overrides};
use fleetctl_core::oci::backend_set::BackendSetClient;
use fleetctl_core::oci::{Env, WaitPolicy};
use fleetctl_core::ops::{self, Context, StepReport};
use fleetctl_core::plan::Mode;
use fleetctl_core::store::ledger::{OperationKind, OperationStatus};

use oci_sim::{LogEntry, Sim, SimConfig, SimHandle};

/// What fleet to stand up.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The simulator's time scale.
    pub scale: f64,
    /// `count` of the one group `web`.
    pub count: u32,
    /// The body of the fleet file's `rollout` flow map (may be empty).
    pub rollout: String,
    /// `drainTimeout` in simulated time.
    pub drain: Duration,
    /// Seed `fleet-subnet-large` (10.0.128.0/17) for fleets of more than ~250.
    pub large_subnet: bool,
    /// Load balancer work requests finish at once (a diagnostic: how much of a rollout is
    /// spent waiting for them).
    pub instant_lb: bool,
}

pub struct World {
    pub sim: SimHandle,
    pub ctx: Context,
    pub scale: f64,
    pub fleet_file: PathBuf,
    pub state_url: String,
    _dir: tempfile::TempDir,
}

/// A fresh simulator (seeded, so runs repeat) and the fleet `demo` of [`Setup`] on it.
pub async fn start(setup: &Setup) -> Result<World> {
    // The ledger is written (and fsynced) twice a step; on a memory file system the bring-up
    // of a large fleet does not wait for the disk. (`steady` measures the file store on disk.)
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("fleetctl-bench")
            .tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .context("creating a temporary directory")?;
    let mut config = SimConfig::new(dir.path().join("sim"));
    config.time_scale = setup.scale;
    config.seed = Some(9);
    config.large_subnet = setup.large_subnet;
    if setup.instant_lb {
        config.services.lb_work_request_accepted_seconds = 0.0;
        config.services.lb_work_request_seconds = 0.0;
    }
    let sim = Sim::start(config).await.context("starting oci-sim")?;
    let text = crate::demo_fleet::text(&sim, &dir.path().join("state.json").display().to_string());
    // The fleet runs alone in its own compartment (the seeded `sandbox`), as operators run
    // fleets: the demo compartment also holds the simulator's host instance, which would
    // make a fleet of 1000 a compartment of 1001 instances (two ListInstances pages).
    let seeded = sim.seeded();
    let text = text.replace(
        &format!("compartmentId: {}\n", seeded.compartment),
        &format!("compartmentId: {}\n", seeded.sandbox_compartment),
    );
    anyhow::ensure!(
        text.contains(seeded.sandbox_compartment.as_str()),
        "the fleet file did not take the sandbox compartment"
    );
    let drain_ms = (setup.drain.as_secs_f64() * setup.scale * 1000.0).max(1.0);
    let text = text
        .replace(
            "- {name: web, count: 3}",
            &format!("- {{name: web, count: {}}}", setup.count),
        )
        .replace(
            "port: 8080}",
            &format!("port: 8080, drainTimeout: {drain_ms:.0}ms}}"),
        );
    let text = if setup.rollout.is_empty() {
        text
    } else {
        format!("{text}  rollout: {{{}}}\n", setup.rollout)
    };
    let fleet_file = dir.path().join("fleet.yaml");
    std::fs::write(&fleet_file, text).context("writing fleet.yaml")?;
    let state_url = format!("file://{}", dir.path().join("state.json").display());
    let ctx = context(&fleet_file, &state_url, setup.scale).await?;
    Ok(World {
        sim,
        ctx,
        scale: setup.scale,
        fleet_file,
        state_url,
        _dir: dir,
    })
}

/// The reconcile context for a fleet file, with the backend-set client's work-request
/// polling at `scale`.
pub async fn context(fleet_file: &Path, state_url: &str, scale: f64) -> Result<Context> {
    let fleet = config::load_file(fleet_file).map_err(|e| anyhow!("{e}"))?;
    let mut overrides = Overrides::new(Env::empty());
    overrides.state_url = Some(state_url.to_string());
    let opened = Fleet::open(fleet, overrides)
        .await
        .context("opening the fleet against the simulator")?;
    let mut ctx = opened.context().clone();
    if let Some(lb) = ctx.config.spec.load_balancer.clone() {
        let d = WaitPolicy::default();
        let client = BackendSetClient::new(
            ctx.cloud.client.clone(),
            lb.lb_type,
            lb.load_balancer_id.clone(),
            lb.backend_set_name.clone(),
        )
        .context("the backend set client")?
        .with_wait_policy(WaitPolicy {
            first_poll: d.first_poll.mul_f64(scale),
            max_poll: d.max_poll.mul_f64(scale),
            timeout: d.timeout,
        });
        ctx.lb = Some(Arc::new(client));
    }
    Ok(ctx)
}

/// How a run of steps went.
#[derive(Debug, Clone)]
pub struct Run {
    pub status: Option<OperationStatus>,
    /// Steps run.
    pub steps: u32,
    /// Real time from the request (or the first step) to the end of the last step.
    pub real: Duration,
    /// Real time spent inside `ops::step`.
    pub in_steps: Duration,
}

impl World {
    /// Real time as simulated time.
    pub fn simulated(&self, real: Duration) -> Duration {
        real.div_f64(self.scale)
    }

    /// Requests `kind`, then runs steps until its operation is over or paused.
    pub async fn operate(&self, kind: OperationKind, limit: Duration) -> Result<Run> {
        let started = Instant::now();
        ops::request(&self.ctx, kind)
            .await
            .context("recording the request")?;
        self.run_until(Mode::Operation, started, limit, |_| false)
            .await
    }

    /// Runs control-loop steps until the repair it starts is over and a step finds nothing
    /// to do (no call, no operation running).
    pub async fn converge(&self, limit: Duration) -> Result<Run> {
        self.run_until(Mode::Control, Instant::now(), limit, |r| {
            r.did.is_empty() && r.operation().is_none_or(|o| o.status.is_finished())
        })
        .await
    }

    async fn run_until(
        &self,
        mode: Mode,
        started: Instant,
        limit: Duration,
        steady: impl Fn(&StepReport) -> bool,
    ) -> Result<Run> {
        let mut run = Run {
            status: None,
            steps: 0,
            real: Duration::ZERO,
            in_steps: Duration::ZERO,
        };
        loop {
            let t = Instant::now();
            let report = ops::step(&self.ctx, mode)
                .await
                .context("a reconcile step")?;
            run.in_steps += t.elapsed();
            run.steps += 1;
            if std::env::var_os("FLEETCTL_BENCH_TRACE").is_some() {
                eprintln!(
                    "{:>9.3}s step {:>4} {:>7.2} ms: {} calls, waiting on {} ({:?})",
                    started.elapsed().as_secs_f64(),
                    run.steps,
                    t.elapsed().as_secs_f64() * 1000.0,
                    report.did.len(),
                    report.waiting_on.len(),
                    report.waiting_on.first()
                );
            }
            run.status = report.operation().map(|o| o.status);
            let over = report
                .operation()
                .is_some_and(|o| o.status.is_finished() || o.status == OperationStatus::Paused);
            if (mode == Mode::Operation && over) || (mode == Mode::Control && steady(&report)) {
                run.real = started.elapsed();
                return Ok(run);
            }
            if started.elapsed() > limit {
                bail!(
                    "not done after {limit:?} ({} steps); waiting on {:?}",
                    run.steps,
                    report.waiting_on
                );
            }
            tokio::time::sleep(report.poll_after().mul_f64(self.scale)).await;
        }
    }

    /// The simulator's request log from entry `from` on.
    pub fn requests_since(&self, from: usize) -> Vec<LogEntry> {
        self.sim.requests().into_iter().skip(from).collect()
    }
}
