//! A steady step of a 10,000-instance fleet: its OCI calls, the CPU time and peak memory of a
//! process that runs it (a child process, so the simulator's memory is not counted), the
//! planner alone on the same ledger, and the ledger's read and write.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use fleetctl_core::config::FleetConfig;
use fleetctl_core::observe::{self, LoadBalancerObservation, Observation};
use fleetctl_core::oci::backends::{Backend, BackendName, BackendSetHealth, HealthStatus};
use fleetctl_core::oci::compute::ListedInstance;
use fleetctl_core::ops;
use fleetctl_core::plan::{self, Mode};
use fleetctl_core::store::ledger::Ledger;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::calls;
use crate::measure::{self, median_of};
use crate::world;

#[derive(Debug, Clone)]
pub struct Figures {
    pub bring_up: calls::Figures,
    pub records: usize,
    pub ledger_bytes: usize,
    /// The child process that ran one steady step.
    pub child: ChildStep,
    /// The calls of the child's step.
    pub child_calls: BTreeMap<String, usize>,
    /// `plan::plan` alone (median wall and CPU).
    pub plan_wall: Duration,
    pub plan_cpu: Duration,
    /// Peak RSS of a process that only builds the inputs and plans.
    pub plan_rss: u64,
    /// Ledger: serialize, parse (medians), and through the file store.
    pub to_json: Duration,
    pub from_json: Duration,
    pub store_save: Duration,
    pub store_load: Duration,
    /// The process CPU time of the same (what is left is waiting for the disk: fsync).
    pub store_cpu: Duration,
}

/// The command that runs this executable as the child step: itself, or under the command
/// line in `FLEETCTL_BENCH_CHILD_PREFIX` (a profiler: `perf record -g -o /tmp/step.data`).
fn child_command() -> Result<Command> {
    let exe = std::env::current_exe().context("this executable's path")?;
    let prefix = std::env::var("FLEETCTL_BENCH_CHILD_PREFIX").unwrap_or_default();
    let mut words = prefix.split_whitespace();
    Ok(match words.next() {
        Some(first) => {
            let mut c = Command::new(first);
            c.args(words).arg(exe);
            c
        }
        None => Command::new(exe),
    })
}

/// The steps a child runs after its first one; their median is the figure of a running
/// process (the machines this runs on are noisy).
pub const WARM_STEPS: usize = 11;

/// What the child process reports (one JSON line on stdout).
#[derive(Debug, Clone, Default)]
pub struct ChildStep {
    /// Real time of the process's first `ops::step`.
    pub step_wall: Duration,
    /// Process CPU time during the first `ops::step` (every thread: HTTP client, JSON,
    /// planner, ledger file).
    pub step_cpu: Duration,
    /// The same for the steps after it, the median of [`WARM_STEPS`] (warm: what a running
    /// server pays per step), and the least and most CPU of one of them.
    pub warm_wall: Duration,
    pub warm_cpu: Duration,
    pub warm_cpu_min: Duration,
    pub warm_cpu_max: Duration,
    /// User and system (kernel: the sockets, the file) CPU time of those steps together.
    pub warm_user: Duration,
    pub warm_system: Duration,
    /// Process CPU time from start to exit (with config load, key load, connect).
    pub process_cpu: Duration,
    pub peak_rss: u64,
    /// List pages the running steps parsed, and recognised unchanged (not parsed again).
    pub warm_pages: (u64, u64),
    /// The simulator's (this process's) CPU time while the child ran, and the child's real
    /// time from start to exit.
    pub simulator_cpu: Duration,
    pub child_wall: Duration,
    /// The simulator's CPU time over half a second with no request, just before.
    pub simulator_idle_cpu: Duration,
}

pub async fn run(fleet: u32, scale: f64) -> Result<Figures> {
    let (w, mut up) = calls::converged(fleet, scale).await?;
    let (in_process_calls, step) = calls::steady_step(&w).await?;
    up.calls = in_process_calls;
    up.step = step;

    // One steady step in a process of its own (a holder of its own: this one lets go).
    ops::release(&w.ctx).await.context("releasing the lease")?;
    // What the simulator does by itself (its clock runs 1000 times faster than real time
    // here): a busy simulator would share the cores with the child and slow it down.
    let idle_cpu = measure::process_cpu();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_cpu = measure::process_cpu().saturating_sub(idle_cpu);
    let from = w.sim.requests().len();
    let (parent_wall, parent_cpu) = (Instant::now(), measure::process_cpu());
    let out = child_command()?
        .arg("child-step")
        .arg(&w.fleet_file)
        .arg(&w.state_url)
        .arg(scale.to_string())
        .output()
        .context("running the child step")?;
    if !out.status.success() {
        bail!(
            "the child step failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut child = parse_child(&out.stdout)?;
    // This process runs the simulator: its CPU meanwhile is OCI's side of the steps (and
    // shares the machine's cores with the child).
    child.simulator_cpu = measure::process_cpu().saturating_sub(parent_cpu);
    child.child_wall = parent_wall.elapsed();
    child.simulator_idle_cpu = idle_cpu;
    let child_calls = calls::by_operation(&w.requests_since(from));

    // The planner alone, on the ledger the run wrote and an observation that matches it.
    let (ledger, _) = ops::load(&w.ctx).await.context("reading the ledger")?;
    let now = OffsetDateTime::now_utc();
    let obs = observation_for(&w.ctx.config, &ledger, now)?;
    let p = plan::plan(&w.ctx.config, &ledger, &obs, now, Mode::Control);
    ensure!(
        p.actions.is_empty(),
        "the hand-built observation does not match the ledger: the plan calls {:?}",
        p.actions.first()
    );
    let (plan_wall, plan_cpu) = median_of(11, || {
        plan::plan(&w.ctx.config, &ledger, &obs, now, Mode::Control)
    });
    let state_path = w
        .state_url
        .strip_prefix("file://")
        .ok_or_else(|| anyhow!("the state is not a file"))?;
    let out = Command::new(std::env::current_exe().context("this executable's path")?)
        .arg("child-planner")
        .arg(&w.fleet_file)
        .arg(state_path)
        .output()
        .context("running the planner-only child")?;
    if !out.status.success() {
        bail!(
            "the planner-only child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let plan_rss = parse_json_line(&out.stdout)?["peakRss"]
        .as_u64()
        .ok_or_else(|| anyhow!("no peakRss from the planner-only child"))?;

    // The ledger: serialize and parse, then through the file store.
    let bytes = ledger.to_json()?;
    let (to_json, _) = median_of(11, || ledger.to_json());
    let (from_json, _) = median_of(11, || Ledger::from_json(&bytes));
    let (store_save, store_load, store_cpu) = crate::ledger::store_round_trip(&ledger).await?;

    Ok(Figures {
        bring_up: up,
        records: ledger.records.len(),
        ledger_bytes: bytes.len(),
        child,
        child_calls,
        plan_wall,
        plan_cpu,
        plan_rss,
        to_json,
        from_json,
        store_save,
        store_load,
        store_cpu,
    })
}

/// What OCI would show for a converged fleet with `ledger`: each live record's instance
/// RUNNING and tagged, its healthy backend in service.
pub fn observation_for(
    config: &FleetConfig,
    ledger: &Ledger,
    now: OffsetDateTime,
) -> Result<Observation> {
    let port = config
        .spec
        .load_balancer
        .as_ref()
        .map(|lb| lb.port)
        .ok_or_else(|| anyhow!("the fleet has no load balancer"))?;
    let mut instances = Vec::new();
    let mut backends = Vec::new();
    for r in ledger.live_records() {
        let doc = json!({
            "id": r.instance_id.as_str(),
            "compartmentId": config.spec.compartment_id.as_str(),
            "availabilityDomain": config.spec.availability_domain,
            "lifecycleState": "RUNNING",
            "displayName": r.name,
            "shape": "VM.Standard.E4.Flex",
            "timeCreated": r.created.to_string(),
            "freeformTags": {
                "fleetctl-fleet": ledger.fleet.as_str(),
                "fleetctl-group": r.group.as_str(),
            },
        });
        let instance: ListedInstance = serde_json::from_value(doc).context("an instance")?;
        instances.push(instance);
        if let Some(ip) = r.private_ip {
            backends.push(Backend {
                name: BackendName::for_address(ip, port),
                ip_address: Some(ip.to_string()),
                port,
                weight: 1,
                backup: false,
                drain: false,
                offline: false,
            });
        }
    }
    let private_ips = observe::private_ips(Some(ledger), &instances, &BTreeMap::new());
    let total = u32::try_from(backends.len()).unwrap_or(u32::MAX);
    Ok(Observation {
        observed_at: now,
        instances,
        private_ips,
        load_balancer: Some(LoadBalancerObservation {
            backends,
            health: BackendSetHealth {
                status: HealthStatus::Ok,
                warning_state_backend_names: Vec::new(),
                critical_state_backend_names: Vec::new(),
                unknown_state_backend_names: Vec::new(),
                total_backend_count: total,
            },
            work_requests: BTreeMap::new(),
            in_flight: None,
        }),
        untagged: Vec::new(),
    })
}

/// The process's resident set now (`VmRSS`), in bytes.
fn resident() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    Some(
        kb.trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()?
            * 1024,
    )
}

/// A diagnostic (`FLEETCTL_BENCH_PHASES=FILE`): the CPU time of a steady step's parts, done
/// one by one as `ops::step` does them (load, observe, plan, save), one line each.
async fn phases(ctx: &ops::Context) -> Result<String> {
    let mut out = String::new();
    let mut lap = |what: &str, c: Duration, t: Instant| {
        out.push_str(&format!(
            "{what}: {:.1} ms CPU, {:.1} ms real, {:.1} MiB resident after\n",
            measure::ms(measure::process_cpu().saturating_sub(c)),
            measure::ms(t.elapsed()),
            resident().unwrap_or(0) as f64 / (1024.0 * 1024.0)
        ));
    };
    let (t, c) = (Instant::now(), measure::process_cpu());
    let (ledger, version) = ops::load(ctx).await?;
    lap("load", c, t);
    let (t, c) = (Instant::now(), measure::process_cpu());
    let obs = ops::observe(ctx, &ledger).await?;
    lap("observe", c, t);
    if let Ok(n) = std::env::var("FLEETCTL_BENCH_OBSERVE_LOOP") {
        for _ in 0..n.parse::<u32>().unwrap_or(0) {
            let (t, c) = (Instant::now(), measure::process_cpu());
            drop(ops::observe(ctx, &ledger).await?);
            lap("observe again", c, t);
        }
    }
    let (t, c) = (Instant::now(), measure::process_cpu());
    // As `ops::step` does: the plan takes the ledger, the observation goes after it.
    let p = plan::plan_owned(
        &ctx.config,
        ledger,
        &obs,
        OffsetDateTime::now_utc(),
        Mode::Control,
    );
    drop(obs);
    lap("plan", c, t);
    let (t, c) = (Instant::now(), measure::process_cpu());
    let size = p.ledger.to_json()?.len();
    lap("serialize", c, t);
    let (t, c) = (Instant::now(), measure::process_cpu());
    let version = version.ok_or_else(|| anyhow!("no ledger"))?;
    ctx.store.save(&p.ledger, &version).await?;
    lap("save (serialize, write, fsync)", c, t);
    drop(p);
    out.push_str(&format!("ledger {size} bytes\n"));
    Ok(out)
}

/// `child-step FLEET_FILE STATE_URL SCALE`: one control-loop step, then one JSON line.
pub fn child_step(args: &[String]) -> Result<()> {
    let [file, state, scale] = args else {
        bail!("usage: child-step FLEET_FILE STATE_URL SCALE");
    };
    let scale: f64 = scale.parse().context("SCALE")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let took = runtime.block_on(async {
        let ctx = world::context(Path::new(file), state, scale).await?;
        let mut took = Vec::new();
        let mut kernel = (Duration::ZERO, Duration::ZERO);
        let mut pages_before = Default::default();
        // The first step of a process, then the next ones (what a running server pays).
        for n in 0..=WARM_STEPS {
            if n == 1 {
                kernel = measure::user_and_system()?;
                pages_before = ctx.cloud.client.page_counts();
            }
            let (t, c) = (Instant::now(), measure::process_cpu());
            let report = ops::step(&ctx, Mode::Control).await?;
            took.push((t.elapsed(), measure::process_cpu().saturating_sub(c)));
            ensure!(report.did.is_empty(), "not steady: {:?}", report.did);
        }
        let (user, system) = measure::user_and_system()?;
        let pages = ctx.cloud.client.page_counts();
        let pages = (
            pages.decoded - pages_before.decoded,
            pages.reused - pages_before.reused,
        );
        let kernel = (
            user.saturating_sub(kernel.0),
            system.saturating_sub(kernel.1),
        );
        // The steps' peak, before the diagnostic below (which holds more at once).
        let peak = measure::peak_rss()?;
        if let Ok(path) = std::env::var("FLEETCTL_BENCH_PHASES") {
            std::fs::write(&path, phases(&ctx).await?).context("writing the phases")?;
        }
        ops::release(&ctx).await?;
        Ok::<_, anyhow::Error>((took, peak, kernel, pages))
    })?;
    let (took, peak, (user, system), (pages_decoded, pages_reused)) = took;
    let Some((&(wall, cpu), warm)) = took.split_first() else {
        bail!("no step was run");
    };
    let mut walls: Vec<Duration> = warm.iter().map(|(w, _)| *w).collect();
    let mut cpus: Vec<Duration> = warm.iter().map(|(_, c)| *c).collect();
    walls.sort();
    cpus.sort();
    let (Some(warm_wall), Some(warm_cpu), Some(min), Some(max)) = (
        walls.get(walls.len() / 2),
        cpus.get(cpus.len() / 2),
        cpus.first(),
        cpus.last(),
    ) else {
        bail!("no warm step was run");
    };
    drop(runtime);
    println!(
        "{}",
        json!({
            "stepWallNs": wall.as_nanos() as u64,
            "stepCpuNs": cpu.as_nanos() as u64,
            "warmWallNs": warm_wall.as_nanos() as u64,
            "warmCpuNs": warm_cpu.as_nanos() as u64,
            "warmCpuMinNs": min.as_nanos() as u64,
            "warmCpuMaxNs": max.as_nanos() as u64,
            "warmUserNs": user.as_nanos() as u64,
            "warmSystemNs": system.as_nanos() as u64,
            "processCpuNs": measure::process_cpu().as_nanos() as u64,
            "peakRss": peak,
            "warmPagesDecoded": pages_decoded,
            "warmPagesReused": pages_reused,
        })
    );
    Ok(())
}

/// `child-planner FLEET_FILE STATE_FILE`: reads the ledger, builds the matching observation,
/// plans once, then one JSON line with the peak RSS.
pub fn child_planner(args: &[String]) -> Result<()> {
    let [file, state] = args else {
        bail!("usage: child-planner FLEET_FILE STATE_FILE");
    };
    let config = fleetctl_core::config::load_file(Path::new(file)).map_err(|e| anyhow!("{e}"))?;
    let ledger = Ledger::from_json(&std::fs::read(state)?)?;
    let now = OffsetDateTime::now_utc();
    let obs = observation_for(&config, &ledger, now)?;
    let (t, c) = (Instant::now(), measure::process_cpu());
    let p = plan::plan(&config, &ledger, &obs, now, Mode::Control);
    let (wall, cpu) = (t.elapsed(), measure::process_cpu().saturating_sub(c));
    ensure!(p.actions.is_empty(), "not steady");
    // A diagnostic: `FLEETCTL_BENCH_PLAN_LOOP=N` plans N more times (to profile the planner:
    // `perf record target/release/fleetctl-bench child-planner FLEET STATE`).
    let more: u32 = std::env::var("FLEETCTL_BENCH_PLAN_LOOP")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    for _ in 0..more {
        drop(plan::plan(&config, &ledger, &obs, now, Mode::Control));
    }
    println!(
        "{}",
        json!({
            "planWallNs": wall.as_nanos() as u64,
            "planCpuNs": cpu.as_nanos() as u64,
            "peakRss": measure::peak_rss()?,
        })
    );
    Ok(())
}

fn parse_json_line(stdout: &[u8]) -> Result<Value> {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .last()
        .ok_or_else(|| anyhow!("the child printed nothing"))?;
    serde_json::from_str(line).with_context(|| format!("the child's line {line:?}"))
}

fn parse_child(stdout: &[u8]) -> Result<ChildStep> {
    let v = parse_json_line(stdout)?;
    let ns = |k: &str| {
        v[k].as_u64()
            .map(Duration::from_nanos)
            .ok_or_else(|| anyhow!("no {k} from the child step"))
    };
    Ok(ChildStep {
        step_wall: ns("stepWallNs")?,
        step_cpu: ns("stepCpuNs")?,
        warm_wall: ns("warmWallNs")?,
        warm_cpu: ns("warmCpuNs")?,
        warm_cpu_min: ns("warmCpuMinNs")?,
        warm_cpu_max: ns("warmCpuMaxNs")?,
        warm_user: ns("warmUserNs")?,
        warm_system: ns("warmSystemNs")?,
        process_cpu: ns("processCpuNs")?,
        simulator_cpu: Duration::ZERO,
        child_wall: Duration::ZERO,
        simulator_idle_cpu: Duration::ZERO,
        peak_rss: v["peakRss"]
            .as_u64()
            .ok_or_else(|| anyhow!("no peakRss from the child step"))?,
        warm_pages: (
            v["warmPagesDecoded"].as_u64().unwrap_or(0),
            v["warmPagesReused"].as_u64().unwrap_or(0),
        ),
    })
}

pub fn print(f: &Figures) {
    let c = &f.child;
    println!(
        "  fleet of {}: ledger {} records, {:.1} MiB; brought up in {:.1?} real ({} steps)",
        f.bring_up.fleet,
        f.records,
        measure::mib(f.ledger_bytes as u64),
        f.bring_up.bring_up,
        f.bring_up.bring_up_steps
    );
    println!(
        "  steady steps in a process of its own: first {:.1} ms real, {:.1} ms CPU; the {WARM_STEPS} after it {:.1} ms real, {:.1} ms CPU (medians; CPU {:.1}-{:.1} ms) (whole process {:.1} ms CPU); peak RSS {:.1} MiB; {} OCI calls for the {} {:?}",
        measure::ms(c.step_wall),
        measure::ms(c.step_cpu),
        measure::ms(c.warm_wall),
        measure::ms(c.warm_cpu),
        measure::ms(c.warm_cpu_min),
        measure::ms(c.warm_cpu_max),
        measure::ms(c.process_cpu),
        measure::mib(c.peak_rss),
        f.child_calls.values().sum::<usize>(),
        WARM_STEPS + 1,
        f.child_calls
    );
    println!(
        "  list pages in the {WARM_STEPS} running steps: {} parsed, {} recognised as the previous step's bytes and not parsed again (the first step parses every page)",
        c.warm_pages.0, c.warm_pages.1
    );
    let total = c.warm_user + c.warm_system;
    println!(
        "  the {WARM_STEPS} running steps together: {:.0} ms user, {:.0} ms system ({:.0}% in the kernel: reading the sockets, the file)",
        measure::ms(c.warm_user),
        measure::ms(c.warm_system),
        100.0 * c.warm_system.as_secs_f64() / total.as_secs_f64().max(f64::EPSILON)
    );
    println!(
        "  the child ran {:.1} ms real; the simulator (this process) used {:.1} ms CPU meanwhile, and {:.1} ms in the half second before, with no request",
        measure::ms(c.child_wall),
        measure::ms(c.simulator_cpu),
        measure::ms(c.simulator_idle_cpu)
    );
    println!(
        "  planner alone (plan::plan, no network): {:.2} ms CPU, {:.2} ms wall (median of 11); peak RSS of a planner-only process {:.1} MiB",
        measure::ms(f.plan_cpu),
        measure::ms(f.plan_wall),
        measure::mib(f.plan_rss)
    );
    println!(
        "  ledger: serialize {:.2} ms + parse {:.2} ms = {:.2} ms; file store save {:.2} ms + load {:.2} ms = {:.2} ms real ({:.2} ms CPU: the rest waits for fsync)",
        measure::ms(f.to_json),
        measure::ms(f.from_json),
        measure::ms(f.to_json + f.from_json),
        measure::ms(f.store_save),
        measure::ms(f.store_load),
        measure::ms(f.store_save + f.store_load),
        measure::ms(f.store_cpu)
    );
}
