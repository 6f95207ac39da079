//! Crash and concurrency proofs of the reconcile step (issue 9, "How it is checked"): the
//! real `fleetctl` binary against `oci-sim` (in this process, time-scaled).
//!
//! - Crashes: `scale N` and `rolling-restart` (`replace` and `reboot`) are SIGKILLed right
//!   after the Nth ledger write of a run (each step boundary in turn, N = 1, 2, ...), right
//!   after the Nth mutating OCI call of a run, and at seeded random moments; each time the
//!   command (or `fleetctl reconcile`) runs again, until the fleet converges.
//! - Races: two `fleetctl reconcile` processes on one store (a file, and `oci://` in the
//!   simulator's Object Storage) while scales run; in some rounds the one acting is killed.
//!
//! Verdicts come from the simulator (its instances, backends, work requests and request
//! log), not from fleetctl's view; the ledger is read only where it is what is checked
//! (its records against the live instances, its lease).
//!
//! `FLEETCTL_CRASH_SEED=<u64>` replays a run's kill points (each scenario prints its seed,
//! and every failure names it); `FLEETCTL_CRASH_KILLS=<n>` sets the kills per scenario
//! (default 15; e.g. 200 for a soak).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fleetctl_core::config;
use fleetctl_core::fleet::{Fleet, Overrides};
use fleetctl_core::oci::Env;
use fleetctl_core::store::StateStore;
use fleetctl_core::store::ledger::{Ledger, OperationStatus};
use fleetctl_testkit::TestSim;
use oci_sim::LogEntry;
use serde_json::Value;
use support::ChildGuard;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Kills per scenario unless `FLEETCTL_CRASH_KILLS` says otherwise.
const DEFAULT_KILLS: u32 = 15;
/// The first runs of a crash scenario are killed right after their 1st, 2nd, ... ledger
/// write: every step boundary of a run in turn.
const BOUNDARY_SWEEP: u32 = 8;
/// The lease of every run: a killed run blocks the next one this long, and a step's calls
/// stop a tenth of it before it ends.
const LEASE_TTL: &str = "1s";
/// The backend port of the simulator's fleet file.
const PORT: u16 = 8080;
/// The longest a single fleetctl run may take.
const RUN_DEADLINE: Duration = Duration::from_secs(120);
/// The most runs one command may need before it converges.
const MAX_RUNS_PER_COMMAND: u32 = 150;

/// The mutating OCI calls fleetctl makes.
const MUTATING: &[&str] = &[
    "LaunchInstance",
    "TerminateInstance",
    "InstanceAction",
    "CreateBackend",
    "UpdateBackend",
    "DeleteBackend",
    "UpdateBackendSet",
];

// ---------------------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------------------

/// SplitMix64: small and seeded, so a failing run's kill points replay from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `FLEETCTL_CRASH_SEED`, else one from the clock.
fn base_seed() -> u64 {
    match std::env::var("FLEETCTL_CRASH_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .expect("FLEETCTL_CRASH_SEED is an unsigned 64-bit number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    }
}

fn kills_per_scenario() -> u32 {
    std::env::var("FLEETCTL_CRASH_KILLS")
        .ok()
        .map(|s| s.trim().parse().expect("FLEETCTL_CRASH_KILLS is a number"))
        .unwrap_or(DEFAULT_KILLS)
}

/// What one scenario did, and where its kills come from.
struct Tally {
    name: &'static str,
    seed: u64,
    rng: Rng,
    kills_left: u32,
    next_boundary: u32,
    kills: u32,
    boundary_kills: u32,
    runs: u32,
    operations: u32,
}

impl Tally {
    fn new(name: &'static str) -> Tally {
        let seed = base_seed();
        eprintln!("{name}: seed {seed} (FLEETCTL_CRASH_SEED={seed} replays its kill points)");
        let mut h = DefaultHasher::new();
        name.hash(&mut h);
        Tally {
            name,
            seed,
            rng: Rng(seed ^ h.finish()),
            kills_left: kills_per_scenario(),
            next_boundary: 1,
            kills: 0,
            boundary_kills: 0,
            runs: 0,
            operations: 0,
        }
    }

    /// The first runs die after their 1st, 2nd, ... ledger write; later ones after a random
    /// number of writes or calls, or at a random moment; none once the kills are spent.
    fn next_kill(&mut self) -> Kill {
        if self.kills_left == 0 {
            return Kill::Never;
        }
        if self.next_boundary <= BOUNDARY_SWEEP {
            self.next_boundary += 1;
            return Kill::AfterWrites(self.next_boundary - 1);
        }
        match self.rng.below(3) {
            0 => Kill::AfterWrites(1 + self.rng.below(8) as u32),
            1 => Kill::AfterCalls(1 + self.rng.below(5) as u32),
            _ => Kill::AfterMs(self.rng.below(1500)),
        }
    }

    /// The scenario's one-line summary. It is printed only when every check passed: a
    /// violation fails the test where it is found, with the seed.
    fn summary(&self, extra: &str) {
        println!(
            "{}: {} operations, {} kills survived ({} at step boundaries), {} runs{extra}, \
             invariant violations 0 (seed {})",
            self.name, self.operations, self.kills, self.boundary_kills, self.runs, self.seed
        );
    }
}

// ---------------------------------------------------------------------------------------
// The world: a simulator, a fleet file (two ways to sign), a store, a watcher
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreKind {
    File,
    Oci,
}

/// What the simulator showed over time, sampled every few milliseconds: what one look at
/// the end cannot show.
#[derive(Debug, Default)]
struct Watch {
    /// Every instance's private IP.
    ips: BTreeMap<String, String>,
    /// Each instance's last sampled lifecycle state.
    state: BTreeMap<String, String>,
    /// How often each instance left RUNNING other than by termination (a reboot).
    went_down: BTreeMap<String, u32>,
    /// While set: healthy in-service backends must not fall below it.
    floor: Option<u32>,
    /// Samples where they did.
    below_floor: Vec<String>,
}

impl Watch {
    fn sample(&mut self, world: &Value) {
        for i in fleet_instances(world) {
            let id = i["id"].as_str().unwrap_or_default().to_string();
            if let Some(ip) = i["privateIp"].as_str() {
                self.ips.entry(id.clone()).or_insert_with(|| ip.to_string());
            }
            let now = i["lifecycleState"].as_str().unwrap_or_default().to_string();
            let before = self.state.insert(id.clone(), now.clone());
            if before.as_deref() == Some("RUNNING")
                && !matches!(now.as_str(), "RUNNING" | "TERMINATING" | "TERMINATED")
            {
                *self.went_down.entry(id).or_default() += 1;
            }
        }
        if let Some(floor) = self.floor {
            let serving = serving_backends(world);
            if serving < floor {
                self.below_floor.push(format!(
                    "{serving} healthy in-service backends at {}, below the floor {floor}",
                    world["now"]
                ));
            }
        }
    }
}

struct World {
    /// The simulator and the temporary directory of every file of the world.
    sim: Arc<TestSim>,
    kind: StoreKind,
    /// The fleet file, signed with the API key (the request log says `ApiKey`).
    fleet: PathBuf,
    /// The same fleet signed with the session token (`Session`): a second process the
    /// request log tells apart from the first.
    fleet_session: PathBuf,
    /// `--state` of every run.
    state: String,
    /// The same store, to read the ledger.
    store: StateStore,
    seed: u64,
    /// The simulator's keys and tokens: no run's stderr may hold them.
    secrets: fleetctl_testkit::Secrets,
    runs: AtomicU32,
    watch: Arc<Mutex<Watch>>,
    stop: Arc<AtomicBool>,
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A simulator and its fleet file with `count` instances of `web` behind the classic load
/// balancer (drained for 50ms) and the rollout settings `rollout` (a YAML flow map's body).
async fn world(count: u32, rollout: &str, kind: StoreKind, seed: u64) -> World {
    let sim = Arc::new(
        TestSim::start_with(|config| {
            config.time_scale = 0.001;
            config.seed = Some(seed);
            // Terminated instances stay listed, so every instance ever launched can be
            // counted.
            config.services.terminated_retention_seconds = 1e9;
            // Backend changes stay in progress for 0.7 s, so a kill often leaves one running
            // for the next run to find.
            config.services.lb_work_request_seconds = 700.0;
        })
        .await,
    );
    let dir = sim.dir().to_path_buf();
    let text = std::fs::read_to_string(sim.fleet_file()).unwrap();
    let text = text
        .replace(
            "- {name: web, count: 3}",
            &format!("- {{name: web, count: {count}}}"),
        )
        .replace("port: 8080}", "port: 8080, drainTimeout: 50ms}");
    let text = format!("{text}  rollout: {{{rollout}}}\n");
    let fleet = dir.join("fleet.yaml");
    std::fs::write(&fleet, &text).unwrap();
    let fleet_session = dir.join("fleet-session.yaml");
    let session = text.replace("profile: DEFAULT", "profile: SESSION");
    assert_ne!(session, text, "the fleet file names its profile");
    std::fs::write(&fleet_session, session).unwrap();
    let state = match kind {
        StoreKind::File => dir.join("state.json").display().to_string(),
        StoreKind::Oci => format!("oci://{}@{}/race/state.json", sim.bucket(), sim.namespace()),
    };
    let loaded = config::load_file(&fleet).unwrap();
    let overrides = Overrides::new(Env::empty()).state_url(Some(state.clone()));
    let store = Fleet::open(loaded, overrides)
        .await
        .unwrap()
        .store()
        .clone();
    let w = World {
        secrets: fleetctl_testkit::Secrets::of_sim(&sim),
        sim,
        kind,
        fleet,
        fleet_session,
        state,
        store,
        seed,
        runs: AtomicU32::new(0),
        watch: Arc::new(Mutex::new(Watch::default())),
        stop: Arc::new(AtomicBool::new(false)),
    };
    let (sim, watch, stop) = (w.sim.clone(), w.watch.clone(), w.stop.clone());
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            let world = sim.world_json();
            watch.lock().unwrap().sample(&world);
            tokio::time::sleep(Duration::from_millis(4)).await;
        }
    });
    w
}

fn fleet_instances(world: &Value) -> Vec<&Value> {
    world["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["freeformTags"]["fleetctl-fleet"] == "demo")
        .collect()
}

fn is_live(i: &Value) -> bool {
    !matches!(
        i["lifecycleState"].as_str(),
        Some("TERMINATING" | "TERMINATED")
    )
}

fn id_of(i: &Value) -> String {
    i["id"].as_str().unwrap_or_default().to_string()
}

fn backends_of(world: &Value) -> Vec<Value> {
    world["loadBalancers"][0]["backendSets"][0]["backends"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Healthy backends taking traffic (health OK, not drained, not offline).
fn serving_backends(world: &Value) -> u32 {
    backends_of(world)
        .iter()
        .filter(|b| b["health"] == "OK" && b["drain"] != true && b["offline"] != true)
        .count() as u32
}

fn mutating(log: &[LogEntry]) -> impl Iterator<Item = &LogEntry> {
    log.iter().filter(|e| {
        e.status.is_some_and(|s| s < 300)
            && e.operation
                .as_deref()
                .is_some_and(|o| MUTATING.contains(&o))
    })
}

fn is_op(e: &LogEntry, op: &str) -> bool {
    e.operation.as_deref() == Some(op) && e.status.is_some_and(|s| s < 300)
}

/// The backend name a backend call's path ends with (`10.0.0.5:8080`).
fn backend_in_path(e: &LogEntry) -> String {
    let last = e.path.rsplit('/').next().unwrap_or_default();
    last.replace("%3A", ":").replace("%3a", ":")
}

/// The instance a compute call's path names.
fn instance_in_path(e: &LogEntry) -> String {
    e.path
        .split('/')
        .find(|s| s.starts_with("ocid1.instance."))
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The names of the backends the load balancer's work requests created, one entry per work
/// request.
fn created_backends(world: &Value) -> Vec<String> {
    let lone = world["workRequests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w["message"].as_str())
        .filter_map(|m| m.strip_prefix("CreateBackend "))
        .filter_map(|m| m.split(' ').next())
        .map(str::to_string);
    let batched = batch_changes(world)
        .into_values()
        .flatten()
        .filter(|(change, _)| change == "add")
        .map(|(_, backend)| backend);
    lone.chain(batched).collect()
}

/// The backend changes of each batched update (UpdateBackendSet) the load balancer queued,
/// by the `opc-request-id` of the call that queued it: `(add|drain|undrain|update|remove,
/// backend)`, as the simulator worked them out against the set when it accepted the update.
fn batch_changes(world: &Value) -> BTreeMap<String, Vec<(String, String)>> {
    world["workRequests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|w| w["service"] == "lb" && w["type"] == "UpdateBackendSet")
        .filter_map(|w| {
            let changes = w["changes"]
                .as_array()?
                .iter()
                .filter_map(|c| {
                    Some((
                        c["change"].as_str()?.to_string(),
                        c["backend"].as_str()?.to_string(),
                    ))
                })
                .collect();
            Some((w["opcRequestId"].as_str()?.to_string(), changes))
        })
        .collect()
}

/// A fleetctl run that ended.
#[derive(Debug)]
struct Run {
    what: String,
    killed: bool,
    code: Option<i32>,
    stderr: String,
}

/// When a run is killed.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// It is left to finish.
    Never,
    /// Right after its Nth ledger write (a step boundary).
    AfterWrites(u32),
    /// Right after its Nth mutating OCI call was answered.
    AfterCalls(u32),
    /// This many milliseconds after it started.
    AfterMs(u64),
    /// Right after its first call of this OCI operation was answered.
    AfterCall(&'static str),
}

/// A spawned fleetctl.
struct Child {
    what: String,
    guard: ChildGuard,
    stderr: PathBuf,
}

impl Child {
    /// Its end, if it ended.
    fn ended(&mut self) -> Option<Run> {
        let status = self.guard.try_wait().unwrap()?;
        Some(self.run(status))
    }

    /// Kills it (SIGKILL) and reaps it; a run that ended on its own first is reported so.
    fn kill(&mut self) -> Run {
        let _ = self.guard.kill();
        let status = self.guard.wait().unwrap();
        self.run(status)
    }

    fn run(&self, status: std::process::ExitStatus) -> Run {
        Run {
            what: self.what.clone(),
            killed: status.signal() == Some(9),
            code: status.code(),
            stderr: std::fs::read_to_string(&self.stderr).unwrap_or_default(),
        }
    }
}

impl World {
    fn spawn(&self, fleet: &Path, args: &[&str], ttl: &str) -> Child {
        let n = self.runs.fetch_add(1, Ordering::SeqCst);
        let stderr = self.sim.dir().join(format!("run-{n}.stderr"));
        let mut cmd = support::fleetctl();
        cmd.arg("--config")
            .arg(fleet)
            .arg("--state")
            .arg(&self.state)
            .args(args)
            .env("FLEETCTL_LEASE_TTL", ttl)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap());
        Child {
            what: format!("run {n}: fleetctl {}", args.join(" ")),
            guard: ChildGuard::spawn(&mut cmd),
            stderr,
        }
    }

    /// Something that changes with every ledger write.
    fn ledger_mark(&self) -> u64 {
        match self.kind {
            StoreKind::File => {
                let mut h = DefaultHasher::new();
                std::fs::read(&self.state).unwrap_or_default().hash(&mut h);
                h.finish()
            }
            StoreKind::Oci => self
                .sim
                .requests()
                .iter()
                .filter(|e| is_op(e, "PutObject"))
                .count() as u64,
        }
    }

    /// Runs fleetctl `args` until it ends or `kill` says to kill it; its stderr may hold no
    /// secret.
    async fn run(&self, args: &[&str], kill: Kill, ttl: &str) -> Run {
        let run = self.run_unchecked(args, kill, ttl).await;
        fleetctl_testkit::assert_no_secrets(
            &format!("the stderr of {}", run.what),
            &run.stderr,
            &self.secrets,
        );
        run
    }

    async fn run_unchecked(&self, args: &[&str], kill: Kill, ttl: &str) -> Run {
        let log_before = self.sim.requests().len();
        let calls_before = mutating(&self.sim.requests()).count();
        let mut mark = self.ledger_mark();
        let mut writes = 0;
        let started = Instant::now();
        let mut child = self.spawn(&self.fleet, args, ttl);
        child.what = format!("{} ({kill:?})", child.what);
        loop {
            if let Some(run) = child.ended() {
                eprintln!("{} ended after {:?}", run.what, started.elapsed());

                return run;
            }
            let fire = match kill {
                Kill::Never => false,
                Kill::AfterMs(ms) => started.elapsed() >= Duration::from_millis(ms),
                Kill::AfterWrites(n) => {
                    let now = self.ledger_mark();
                    if now != mark {
                        writes += 1;
                        mark = now;
                    }
                    writes >= n
                }
                Kill::AfterCalls(n) => {
                    mutating(&self.sim.requests()).count() - calls_before >= n as usize
                }
                Kill::AfterCall(op) => self.sim.requests()[log_before..]
                    .iter()
                    .any(|e| is_op(e, op)),
            };
            if fire {
                eprintln!("{} killed after {:?}", child.what, started.elapsed());
                return child.kill();
            }
            assert!(
                started.elapsed() < RUN_DEADLINE,
                "{} still running after {RUN_DEADLINE:?} (seed {})",
                child.what,
                self.seed
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn ledger(&self) -> Ledger {
        self.store.load().await.unwrap().map(|(l, _)| l).unwrap()
    }

    /// What must hold at every moment, crash or not.
    fn always(&self) -> Vec<String> {
        let world = self.sim.world_json();
        let log = self.sim.requests();
        let watch = self.watch.lock().unwrap();
        let mut bad = Vec::new();

        // No double launch: one instance per operation and slot.
        let mut by_slot: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for i in fleet_instances(&world) {
            let tags = &i["freeformTags"];
            let key = (
                tags["fleetctl-operation"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
                tags["fleetctl-slot"].as_str().unwrap_or("?").to_string(),
            );
            by_slot.entry(key).or_default().push(id_of(i));
        }
        for ((op, slot), ids) in &by_slot {
            if ids.len() > 1 {
                bad.push(format!(
                    "double launch: operation {op} slot {slot} has {} instances {ids:?}",
                    ids.len()
                ));
            }
        }

        // Each backend created once (an instance's IP is never reused here).
        let mut created: BTreeMap<String, u32> = BTreeMap::new();
        for name in created_backends(&world) {
            *created.entry(name).or_default() += 1;
        }
        for (name, n) in &created {
            if *n > 1 {
                bad.push(format!("backend {name} created {n} times"));
            }
        }

        // Every terminated instance left the load balancer first: drained, then its backend
        // deleted, before TerminateInstance (each a lone call or part of a batched update).
        let batches = batch_changes(&world);
        let ips: BTreeMap<String, String> = fleet_instances(&world)
            .iter()
            .filter_map(|i| Some((id_of(i), i["privateIp"].as_str()?.to_string())))
            .chain(watch.ips.clone())
            .collect();
        for (at, e) in log.iter().enumerate() {
            if !is_op(e, "TerminateInstance") {
                continue;
            }
            let id = instance_in_path(e);
            let Some(ip) = ips.get(&id) else {
                bad.push(format!("terminated {id}, whose IP was never seen"));
                continue;
            };
            let backend = format!("{ip}:{PORT}");
            if !created.contains_key(&backend) {
                continue;
            }
            let before = &log[..at];
            // A lone call, or a batched update that did it.
            let in_batch = |d: &LogEntry, change: &str| {
                is_op(d, "UpdateBackendSet")
                    && batches.get(&d.opc_request_id).is_some_and(|changes| {
                        changes.iter().any(|(c, b)| c == change && b == &backend)
                    })
            };
            let deleted = before.iter().any(|d| {
                (is_op(d, "DeleteBackend") && backend_in_path(d) == backend)
                    || in_batch(d, "remove")
            });
            let drained = before.iter().any(|d| {
                (is_op(d, "UpdateBackend") && backend_in_path(d) == backend) || in_batch(d, "drain")
            });
            if !deleted || !drained {
                bad.push(format!(
                    "{id} terminated (request {}) before its backend {backend} was {}",
                    e.seq,
                    if drained { "deleted" } else { "drained" }
                ));
            }
        }

        // Never a reboot twice, never below the serving floor.
        for (id, n) in &watch.went_down {
            if *n > 1 {
                bad.push(format!("{id} went down {n} times (rebooted twice?)"));
            }
        }
        bad.extend(watch.below_floor.iter().cloned());
        bad
    }

    /// Panics with the seed, the last run and what broke, if anything did.
    fn check_always(&self, t: &Tally, last: &Run) {
        let bad = self.always();
        assert!(
            bad.is_empty(),
            "{} (seed {}): after {} (killed: {}):\n  {}\nits stderr:\n{}",
            t.name,
            t.seed,
            last.what,
            last.killed,
            bad.join("\n  "),
            last.stderr
        );
    }

    /// After convergence: one more reconcile changes nothing, the live instances are the
    /// ledger's active records, `live` of them, `created` ever launched, each behind one
    /// healthy in-service backend, and nothing was adopted or went missing on the way.
    async fn check_converged(&self, t: &Tally, live: usize, created: usize) {
        let calls = mutating(&self.sim.requests()).count();
        let run = self.run(&["reconcile"], Kill::Never, LEASE_TTL).await;
        assert_eq!(
            run.code,
            Some(0),
            "{} (seed {}): {}:\n{}",
            t.name,
            t.seed,
            run.what,
            run.stderr
        );
        let mut bad = self.always();
        let after = mutating(&self.sim.requests()).count();
        if after != calls {
            bad.push(format!(
                "a reconcile after convergence made {} mutating calls",
                after - calls
            ));
        }
        let world = self.sim.world_json();
        let instances = fleet_instances(&world);
        let live_ids: BTreeSet<String> = instances
            .iter()
            .filter(|i| is_live(i))
            .map(|i| id_of(i))
            .collect();
        let ledger = self.ledger().await;
        let active: BTreeSet<String> = ledger
            .records
            .iter()
            .filter(|r| !r.state.is_gone() && r.state.as_str() != "terminating")
            .map(|r| r.instance_id.to_string())
            .collect();
        if live_ids != active {
            bad.push(format!(
                "live instances {live_ids:?} are not the ledger's active records {active:?}"
            ));
        }
        if live_ids.len() != live {
            bad.push(format!(
                "{} live instances, expected {live}",
                live_ids.len()
            ));
        }
        if instances.len() != created {
            bad.push(format!(
                "{} instances launched in all, expected {created}",
                instances.len()
            ));
        }
        let ips: BTreeSet<String> = instances
            .iter()
            .filter(|i| is_live(i))
            .filter_map(|i| i["privateIp"].as_str())
            .map(|ip| format!("{ip}:{PORT}"))
            .collect();
        let backends: BTreeSet<String> = backends_of(&world)
            .iter()
            .filter_map(|b| b["name"].as_str().map(str::to_string))
            .collect();
        if backends != ips {
            bad.push(format!(
                "backends {backends:?} are not the live instances' {ips:?}"
            ));
        }
        if serving_backends(&world) as usize != live {
            bad.push(format!(
                "{} healthy in-service backends, expected {live}",
                serving_backends(&world)
            ));
        }
        let ever: BTreeSet<String> = instances
            .iter()
            .filter_map(|i| i["privateIp"].as_str())
            .map(|ip| format!("{ip}:{PORT}"))
            .collect();
        let made: BTreeSet<String> = created_backends(&world).into_iter().collect();
        if made != ever {
            bad.push(format!(
                "backends created {made:?}, expected one per instance launched {ever:?}"
            ));
        }
        for e in &ledger.events {
            if e.message.contains("adopted") || e.message.contains("marked missing") {
                bad.push(format!(
                    "the ledger lost track of an instance: {}",
                    e.message
                ));
            }
        }
        if !ledger.scale_queue.is_empty()
            || ledger
                .operation
                .as_ref()
                .is_some_and(|o| o.status != OperationStatus::Succeeded)
        {
            bad.push(format!(
                "not done: queue {:?}, operation {:?}",
                ledger.scale_queue,
                ledger.operation.as_ref().map(|o| o.status)
            ));
        }
        assert!(
            bad.is_empty(),
            "{} (seed {}): not converged:\n  {}",
            t.name,
            t.seed,
            bad.join("\n  ")
        );
    }
}

/// Every operation id the ledger knows of (current, queued, in events).
fn operation_ids(ledger: &Ledger) -> BTreeSet<String> {
    ledger
        .operation
        .iter()
        .map(|o| o.id.to_string())
        .chain(ledger.scale_queue.iter().map(|r| r.id.to_string()))
        .chain(
            ledger
                .events
                .iter()
                .filter_map(|e| e.operation.as_ref().map(|o| o.to_string())),
        )
        .collect()
}

/// Runs `args` until its operation succeeded, killing runs as `t` says; after a kill, runs
/// the command again when its request was lost (or, for a `repeatable` one, at random), else
/// `fleetctl reconcile`.
async fn carry_out(w: &World, t: &mut Tally, args: &[&str], repeatable: bool) {
    let known = match w.store.load().await.unwrap() {
        Some((l, _)) => operation_ids(&l),
        None => BTreeSet::new(),
    };
    let mut command = true;
    for _ in 0..MAX_RUNS_PER_COMMAND {
        let what: Vec<&str> = if command {
            args.to_vec()
        } else {
            vec!["reconcile"]
        };
        let kill = t.next_kill();
        let run = w.run(&what, kill, LEASE_TTL).await;
        t.runs += 1;
        let ledger = match w.store.load().await.unwrap() {
            Some((l, _)) => l,
            None => {
                command = true;
                continue;
            }
        };
        let recorded = operation_ids(&ledger).iter().any(|id| !known.contains(id));
        if run.killed {
            t.kills += 1;
            t.kills_left -= 1;
            if matches!(kill, Kill::AfterWrites(_)) && t.next_boundary <= BOUNDARY_SWEEP + 1 {
                t.boundary_kills += 1;
            }
            w.check_always(t, &run);
            command = !recorded || (repeatable && t.rng.below(2) == 0);
            continue;
        }
        assert_eq!(
            run.code,
            Some(0),
            "{} (seed {}): {} failed:\n{}",
            t.name,
            t.seed,
            run.what,
            run.stderr
        );
        if !recorded {
            // A reconcile with nothing to do: the request died before it was written.
            command = true;
            continue;
        }
        let busy = !ledger.scale_queue.is_empty()
            || ledger
                .operation
                .as_ref()
                .is_some_and(|o| !o.status.is_finished());
        if busy {
            command = false;
            continue;
        }
        let status = ledger.operation.as_ref().map(|o| o.status);
        assert_eq!(
            status,
            Some(OperationStatus::Succeeded),
            "{} (seed {}): after {}",
            t.name,
            t.seed,
            run.what
        );
        t.operations += 1;
        return;
    }
    panic!(
        "{} (seed {}): fleetctl {} did not converge in {MAX_RUNS_PER_COMMAND} runs",
        t.name,
        t.seed,
        args.join(" ")
    );
}

// ---------------------------------------------------------------------------------------
// Crash scenarios
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_survives_kills_at_every_step_boundary_and_at_random_moments() {
    let mut t = Tally::new("crash: scale");
    let w = world(0, "minReadySeconds: 0", StoreKind::File, t.seed & 0xffff).await;
    let (mut current, mut created) = (0u32, 0u32);
    let targets = [4u32, 1, 3, 0, 2];
    for (i, target) in targets.iter().cycle().enumerate() {
        if i >= targets.len() && (t.kills_left == 0 || i >= 2 * targets.len()) {
            break;
        }
        let before = live_instances(&w.sim.world_json());
        carry_out(&w, &mut t, &["scale", &target.to_string()], true).await;
        created += target.saturating_sub(current);
        current = *target;
        w.check_converged(&t, current as usize, created as usize)
            .await;
        // A scale-down kept the newest (FIFO by creation), kills or not.
        let after = live_instances(&w.sim.world_json());
        let kept_oldest = after.iter().map(|(c, _)| c).min();
        let removed_newest = before
            .iter()
            .filter(|i| !after.contains(i))
            .map(|(c, _)| c)
            .max();
        if let (Some(kept), Some(removed)) = (kept_oldest, removed_newest) {
            assert!(
                kept >= removed,
                "{} (seed {}): scale to {target} removed an instance created {removed}, \
                 newer than one it kept ({kept})",
                t.name,
                t.seed
            );
        }
    }
    t.summary("");
}

/// The live instances of the fleet: (timeCreated, id).
fn live_instances(world: &Value) -> Vec<(String, String)> {
    fleet_instances(world)
        .into_iter()
        .filter(|i| is_live(i))
        .map(|i| {
            (
                i["timeCreated"].as_str().unwrap_or_default().to_string(),
                id_of(i),
            )
        })
        .collect()
}

/// A fleet of 4 brought up by the control loop, then rolled with `strategy` again and again
/// while runs are killed.
async fn rolling_restart_survives_kills(name: &'static str, strategy: &str) {
    let mut t = Tally::new(name);
    let w = world(
        4,
        "maxSurge: 2, maxUnavailable: 1, minReadySeconds: 0",
        StoreKind::File,
        t.seed & 0xffff,
    )
    .await;
    let up = w.run(&["reconcile"], Kill::Never, LEASE_TTL).await;
    assert_eq!(up.code, Some(0), "{}", up.stderr);
    w.check_converged(&t, 4, 4).await;
    // 4 - maxUnavailable 1 from now on, kills or not.
    w.watch.lock().unwrap().floor = Some(3);
    let mut created = 4;
    for round in 0..4 {
        if round > 0 && t.kills_left == 0 {
            break;
        }
        let before: BTreeSet<String> = fleet_instances(&w.sim.world_json())
            .into_iter()
            .filter(|i| is_live(i))
            .map(id_of)
            .collect();
        // One reboot per instance per round.
        w.watch.lock().unwrap().went_down.clear();
        carry_out(
            &w,
            &mut t,
            &["rolling-restart", "--strategy", strategy],
            false,
        )
        .await;
        let after: BTreeSet<String> = fleet_instances(&w.sim.world_json())
            .into_iter()
            .filter(|i| is_live(i))
            .map(id_of)
            .collect();
        if strategy == "replace" {
            created += 4;
            assert!(
                after.is_disjoint(&before),
                "{name} (seed {}): not every instance was replaced: {before:?} -> {after:?}",
                t.seed
            );
        } else {
            assert_eq!(
                after, before,
                "{name} (seed {}): a reboot keeps them",
                t.seed
            );
            let log = w.sim.requests();
            for id in &after {
                let accepted = log
                    .iter()
                    .filter(|e| is_op(e, "InstanceAction") && &instance_in_path(e) == id)
                    .count();
                assert!(
                    accepted > round,
                    "{name} (seed {}): {id} was not rebooted in round {round}",
                    t.seed
                );
            }
        }
        w.check_converged(&t, 4, created).await;
    }
    t.summary("");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_replace_survives_kills_at_every_step_boundary_and_at_random_moments() {
    rolling_restart_survives_kills("crash: rolling replace", "replace").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_reboot_survives_kills_at_every_step_boundary_and_at_random_moments() {
    rolling_restart_survives_kills("crash: rolling reboot", "reboot").await;
}

impl World {
    /// `POST /_sim/faults` with `rule`, or `DELETE /_sim/faults` without.
    async fn faults(&self, rule: Option<Value>) {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let url = format!("{}/_sim/faults", self.sim.base_url());
        let resp = match rule {
            Some(rule) => client.post(url).json(&rule).send().await.unwrap(),
            None => client.delete(url).send().await.unwrap(),
        };
        assert!(resp.status().is_success(), "faults: {}", resp.status());
    }

    /// Kills `fleetctl args` right after its first answered `call`, checks nothing broke,
    /// and lets `fleetctl reconcile` finish the operation.
    async fn kill_after_call(&self, t: &mut Tally, args: &[&str], call: &'static str) {
        let run = self.run(args, Kill::AfterCall(call), LEASE_TTL).await;
        assert!(
            run.killed,
            "{} ended before its {call}:\n{}",
            run.what, run.stderr
        );
        t.kills += 1;
        t.boundary_kills += 1;
        self.check_always(t, &run);
    }

    async fn reconcile(&self, t: &mut Tally) {
        let run = self.run(&["reconcile"], Kill::Never, LEASE_TTL).await;
        assert_eq!(run.code, Some(0), "{}:\n{}", run.what, run.stderr);
        t.runs += 1;
        t.operations += 1;
    }
}

/// The crash windows named in issue 9, each hit on purpose: between LaunchInstance and
/// recording what it returned, between a drain and the next record, between a backend's
/// removal and the termination, between TerminateInstance and its record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kills_in_the_named_crash_windows_resume_without_repeating_a_call() {
    let mut t = Tally::new("crash: named windows");
    let w = world(0, "minReadySeconds: 0", StoreKind::File, 7).await;

    // Launch 1 is answered; launch 2 is held a second, and the kill lands meanwhile: the
    // step records what its launches returned only after both.
    w.faults(Some(
        serde_json::json!({"operation": "LaunchInstance", "latencyMs": 1, "count": 1}),
    ))
    .await;
    w.faults(Some(
        serde_json::json!({"operation": "LaunchInstance", "latencyMs": 1000, "count": 1}),
    ))
    .await;
    w.kill_after_call(&mut t, &["scale", "2"], "LaunchInstance")
        .await;
    w.faults(None).await;
    let launched: Vec<String> = fleet_instances(&w.sim.world_json())
        .into_iter()
        .map(id_of)
        .collect();
    let ledger = w.ledger().await;
    assert!(
        !launched.is_empty()
            && launched.iter().all(|id| ledger
                .records
                .iter()
                .all(|r| &r.instance_id.to_string() != id)),
        "the kill was to fall between a launch and its record: launched {launched:?}, \
         recorded {:?}",
        ledger.records
    );
    w.reconcile(&mut t).await;
    w.check_converged(&t, 2, 2).await;

    // Scale down: killed after the drain, then after the backend's removal, then after the
    // termination; each time nothing is sent twice and the next run goes on.
    w.kill_after_call(&mut t, &["scale", "1"], "UpdateBackend")
        .await;
    let ledger = w.ledger().await;
    assert!(
        ledger
            .records
            .iter()
            .any(|r| r.state.as_str() == "draining"),
        "the drain was recorded before it was sent: {:?}",
        ledger.records
    );
    w.kill_after_call(&mut t, &["reconcile"], "DeleteBackend")
        .await;
    w.kill_after_call(&mut t, &["reconcile"], "TerminateInstance")
        .await;
    w.reconcile(&mut t).await;
    w.check_converged(&t, 1, 2).await;
    let log = w.sim.requests();
    for op in ["UpdateBackend", "DeleteBackend", "TerminateInstance"] {
        let n = log.iter().filter(|e| is_op(e, op)).count();
        assert_eq!(n, 1, "{op} sent {n} times for one scale-down");
    }
    let launches = log.iter().filter(|e| is_op(e, "LaunchInstance")).count();
    assert!(launches >= 2, "{launches} launches answered");
    t.summary("");
}

/// Killed right after a batched backend-set update was answered, before its step recorded
/// it: a scale from 3 to 1 drains two backends in one UpdateBackendSet and removes them in
/// another. The runs after it neither repeat nor lose a change, and the crash oracle
/// (drained, then removed, before terminated) reads the batches' changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_after_a_batched_backend_update_repeats_no_change() {
    let mut t = Tally::new("crash: batched backend update");
    let w = world(0, "minReadySeconds: 0", StoreKind::File, 11).await;
    let up = w.run(&["scale", "3"], Kill::Never, LEASE_TTL).await;
    assert_eq!(up.code, Some(0), "{}", up.stderr);
    t.operations += 1;
    w.check_converged(&t, 3, 3).await;
    w.kill_after_call(&mut t, &["scale", "1"], "UpdateBackendSet")
        .await;
    w.kill_after_call(&mut t, &["reconcile"], "UpdateBackendSet")
        .await;
    w.reconcile(&mut t).await;
    w.check_converged(&t, 1, 3).await;
    let changes = lb_changes(&w.sim.world_json());
    for kind in ["UpdateBackend", "DeleteBackend"] {
        let mut each: BTreeMap<&str, u32> = BTreeMap::new();
        for c in changes.iter().filter(|c| c.0 == kind) {
            *each.entry(c.1.as_str()).or_default() += 1;
        }
        assert_eq!(
            each.len(),
            2,
            "{kind} of two backends expected: {changes:?}"
        );
        assert!(
            each.values().all(|n| *n == 1),
            "{kind} repeated (seed {}): {changes:?}",
            t.seed
        );
    }
    let batched = w
        .sim
        .requests()
        .iter()
        .filter(|e| is_op(e, "UpdateBackendSet"))
        .count();
    assert!(batched >= 2, "the changes were batched: {batched} updates");
    t.summary("");
}

/// The load balancer's work requests as `(change, backend, state)`.
/// A batched update counts as one change of each kind it made.
fn lb_changes(world: &Value) -> Vec<(String, String, String)> {
    world["workRequests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|w| w["service"] == "lb")
        .flat_map(|w| {
            let state = w["lifecycleState"].as_str().unwrap_or_default().to_string();
            if w["type"] == "UpdateBackendSet" {
                return w["changes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| {
                        let kind = match c["change"].as_str()? {
                            "add" => "CreateBackend",
                            "remove" => "DeleteBackend",
                            _ => "UpdateBackend",
                        };
                        Some((
                            kind.to_string(),
                            c["backend"].as_str()?.to_string(),
                            state.clone(),
                        ))
                    })
                    .collect::<Vec<_>>();
            }
            let mut words = w["message"].as_str().unwrap_or_default().split(' ');
            match (words.next(), words.next()) {
                (Some(kind), Some(backend)) => {
                    vec![(kind.to_string(), backend.to_string(), state)]
                }
                _ => Vec::new(),
            }
        })
        .collect()
}

/// A fleet of one, whose load balancer changes then take 4 s: longer than a killed run's
/// lease (1 s), so the next run finds the change it started still running.
async fn one_instance_and_a_slow_load_balancer(t: &mut Tally) -> World {
    let w = world(0, "minReadySeconds: 0", StoreKind::File, 9).await;
    let up = w.run(&["scale", "1"], Kill::Never, LEASE_TTL).await;
    assert_eq!(up.code, Some(0), "{}", up.stderr);
    t.operations += 1;
    w.check_converged(t, 1, 1).await;
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .put(format!("{}/_sim/settings", w.sim.base_url()))
        .json(&serde_json::json!({"lbWorkRequestSeconds": 4000}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    w
}

/// Asserts the load balancer ran exactly one change of each kind.
fn assert_one_change_each(w: &World, t: &Tally) {
    let changes = lb_changes(&w.sim.world_json());
    for kind in ["CreateBackend", "UpdateBackend", "DeleteBackend"] {
        let of_kind: Vec<_> = changes.iter().filter(|c| c.0 == kind).collect();
        assert_eq!(
            of_kind.len(),
            1,
            "{} (seed {}): one {kind} expected, the load balancer ran {of_kind:?}",
            t.name,
            t.seed
        );
    }
}

/// Killed while the drain it started still runs, before its step recorded the work request:
/// the next run sends the drain again with the same retry token, which OCI answers with the
/// same work request, so the load balancer drains once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_during_a_drain_does_not_repeat_it() {
    let mut t = Tally::new("crash: drain in flight");
    let w = one_instance_and_a_slow_load_balancer(&mut t).await;
    w.kill_after_call(&mut t, &["scale", "0"], "UpdateBackend")
        .await;
    w.reconcile(&mut t).await;
    w.check_converged(&t, 0, 1).await;
    assert_one_change_each(&w, &t);
    t.summary("");
}

/// Killed while the backend removal it started still runs, before its step recorded the
/// work request: the next run must not remove the backend again.
///
/// Fails today: DeleteBackend carries no retry token and the step only knows the work
/// requests the ledger recorded, so the next run sends a second DeleteBackend (the load
/// balancer queues it; it fails once the first one removed the backend, and fleetctl
/// reports the failure as a warning). Possible fixes: record each load balancer change's
/// intent with the plan (before the call) and hold changes while one is unaccounted for, or
/// list the load balancer's work requests in flight when observing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_during_a_backend_removal_does_not_repeat_it() {
    let mut t = Tally::new("crash: backend removal in flight");
    // The step records the work request a few milliseconds after OCI answered: the kill
    // does not always land before that. Try until it did.
    let mut attempt = 0;
    let w = loop {
        attempt += 1;
        assert!(
            attempt <= 8,
            "the kill never fell before the removal was recorded"
        );
        let w = one_instance_and_a_slow_load_balancer(&mut t).await;
        let drain = w
            .run(&["scale", "0", "--no-wait"], Kill::Never, LEASE_TTL)
            .await;
        assert_eq!(drain.code, Some(0), "{}", drain.stderr);
        w.kill_after_call(&mut t, &["reconcile"], "DeleteBackend")
            .await;
        if w.ledger().await.work_requests.is_empty() {
            break w;
        }
    };
    w.reconcile(&mut t).await;
    w.check_converged(&t, 0, 1).await;
    assert_one_change_each(&w, &t);
    t.summary("");
}

// ---------------------------------------------------------------------------------------
// Two reconcilers racing on one store
// ---------------------------------------------------------------------------------------

/// One look at the lease in the store, read between `before` and `after`.
#[derive(Debug, Clone)]
struct LeaseSample {
    before: OffsetDateTime,
    after: OffsetDateTime,
    fencing: u64,
    /// The holder and when its lease ends, if it is held.
    held: Option<(String, OffsetDateTime)>,
}

/// The lease as sampled from the store: a new holder always comes with a higher fencing
/// counter, and the counter never goes down.
#[derive(Debug, Default)]
struct LeaseWatch {
    samples: Vec<LeaseSample>,
    holders: u32,
    bad: Vec<String>,
}

impl LeaseWatch {
    fn sample(&mut self, ledger: &Ledger, before: OffsetDateTime, after: OffsetDateTime) {
        let fencing = ledger.lease.fencing;
        let held = ledger
            .lease
            .held
            .as_ref()
            .map(|h| (h.holder.as_str().to_string(), h.expires.get()));
        let last = self.samples.last();
        let last_fencing = last.map_or(0, |l| l.fencing);
        if fencing < last_fencing {
            self.bad.push(format!(
                "the fencing counter went down from {last_fencing} to {fencing}"
            ));
        }
        let last_holder = self
            .samples
            .iter()
            .rev()
            .find_map(|l| l.held.as_ref().map(|(h, _)| (h.clone(), l.fencing)));
        if let Some((holder, _)) = &held
            && last_holder.as_ref().map(|(h, _)| h) != Some(holder)
        {
            if let Some((previous, previous_fencing)) = &last_holder
                && fencing <= *previous_fencing
            {
                self.bad.push(format!(
                    "the lease passed from {previous} to {holder} without a new fencing \
                     counter ({previous_fencing} -> {fencing})"
                ));
            }
            self.holders += 1;
        }
        self.samples.push(LeaseSample {
            before,
            after,
            fencing,
            held,
        });
    }

    /// Mutating calls made while the lease was seen held by another process before and
    /// after the call, in one holding period that lasted past it: two acting at once.
    fn calls_without_the_lease(
        &self,
        log: &[LogEntry],
        pids: &BTreeMap<String, u32>,
    ) -> Vec<String> {
        let mut bad = Vec::new();
        for e in mutating(log) {
            let Some(pid) = pids.get(&signer(e)) else {
                continue;
            };
            let at = OffsetDateTime::parse(&e.time, &Rfc3339).unwrap();
            // The log's times have milliseconds.
            let from = at - Duration::from_millis(1);
            let to = at + Duration::from_millis(e.duration_ms + 1);
            let before = self.samples.iter().rev().find(|s| s.after < from);
            let after = self.samples.iter().find(|s| s.before > to);
            if let (Some(b), Some(a)) = (before, after)
                && b.fencing == a.fencing
                && let (Some((holder, expires)), Some((same, _))) = (&b.held, &a.held)
                && holder == same
                && *expires > to
                && pid_of(holder) != Some(*pid)
            {
                bad.push(format!(
                    "{} {} by {} (pid {pid}) at {}, while {holder} held the lease (fencing {})",
                    e.operation.as_deref().unwrap_or_default(),
                    e.path,
                    signer(e),
                    e.time,
                    b.fencing
                ));
            }
        }
        bad
    }
}

/// The process id in a holder id (`host/pid/random`).
fn pid_of(holder: &str) -> Option<u32> {
    holder.rsplit('/').nth(1)?.parse().ok()
}

/// Which principal signed a request: the two reconcilers sign differently.
fn signer(e: &LogEntry) -> String {
    e.key_id_kind.map(|k| format!("{k:?}")).unwrap_or_default()
}

/// A round of racing reconcilers.
struct Race {
    runs: Vec<Run>,
    /// The signer whose reconciler was killed.
    killed: Option<String>,
    /// Each signer's process id.
    pids: BTreeMap<String, u32>,
}

impl World {
    /// Two `fleetctl reconcile` at once, one signing with the API key, the other with the
    /// session token. With `kill_after`, the first to act is killed once it made that many
    /// mutating calls.
    async fn race(&self, kill_after: Option<usize>) -> Race {
        let start = self.sim.requests().len();
        let mut children = [
            ("ApiKey", self.spawn(&self.fleet, &["reconcile"], LEASE_TTL)),
            (
                "Session",
                self.spawn(&self.fleet_session, &["reconcile"], LEASE_TTL),
            ),
        ];
        let pids = children
            .iter()
            .map(|(s, c)| (s.to_string(), c.guard.id()))
            .collect();
        let mut runs: [Option<Run>; 2] = [None, None];
        let mut killed = None;
        let started = Instant::now();
        while runs.iter().any(Option::is_none) {
            for (i, (_, child)) in children.iter_mut().enumerate() {
                if runs[i].is_none() {
                    runs[i] = child.ended();
                }
            }
            if let (Some(k), None) = (kill_after, &killed) {
                let log = self.sim.requests();
                let calls: Vec<&LogEntry> = mutating(&log[start..]).collect();
                if let Some(first) = calls.first() {
                    let actor = signer(first);
                    if calls.iter().filter(|e| signer(e) == actor).count() >= k {
                        if let Some(i) = children.iter().position(|(s, _)| *s == actor)
                            && runs[i].is_none()
                        {
                            runs[i] = Some(children[i].1.kill());
                        }
                        killed = Some(actor);
                    }
                }
            }
            assert!(
                started.elapsed() < RUN_DEADLINE,
                "racing reconcilers still running after {RUN_DEADLINE:?} (seed {})",
                self.seed
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let runs: Vec<Run> = runs.into_iter().map(Option::unwrap).collect();
        for run in &runs {
            fleetctl_testkit::assert_no_secrets(
                &format!("the stderr of {}", run.what),
                &run.stderr,
                &self.secrets,
            );
        }
        Race { runs, killed, pids }
    }
}

/// Scales 0 -> 4 -> 1 -> 3 -> 2, each carried out by two reconcilers started together on
/// one store; in every other round the one acting is killed after one or two calls.
async fn reconcilers_race(name: &'static str, kind: StoreKind) {
    let mut t = Tally::new(name);
    let w = world(0, "minReadySeconds: 0", kind, t.seed & 0xffff).await;
    let lease = Arc::new(Mutex::new(LeaseWatch::default()));
    let (store, sampled, stop) = (w.store.clone(), lease.clone(), w.stop.clone());
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            let before = OffsetDateTime::now_utc();
            if let Ok(Some((ledger, _))) = store.load().await {
                let after = OffsetDateTime::now_utc();
                sampled.lock().unwrap().sample(&ledger, before, after);
            }
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    });
    let (mut current, mut created) = (0u32, 0u32);
    let mut handovers = 0;
    for (round, target) in [4u32, 1, 3, 2].into_iter().enumerate() {
        let asked = w
            .run(
                &["scale", &target.to_string(), "--no-wait"],
                Kill::Never,
                LEASE_TTL,
            )
            .await;
        assert_eq!(asked.code, Some(0), "{}", asked.stderr);
        let kill = (round % 2 == 1).then(|| 1 + t.rng.below(2) as usize);
        let start = w.sim.requests().len();
        let race = w.race(kill).await;
        t.runs += 2;
        for r in &race.runs {
            if r.killed {
                t.kills += 1;
            } else {
                assert_eq!(
                    r.code,
                    Some(0),
                    "{name} (seed {}): {} failed:\n{}",
                    t.seed,
                    r.what,
                    r.stderr
                );
            }
        }
        let log = w.sim.requests();
        let signers: Vec<String> = mutating(&log[start..]).map(signer).collect();
        handovers += signers.windows(2).filter(|p| p[0] != p[1]).count();
        if let Some(killed) = &race.killed {
            assert!(
                signers.iter().any(|s| s != killed),
                "{name} (seed {}): round {round}: {killed}'s reconciler was killed and the \
                 other never took over: {signers:?}",
                t.seed
            );
        }
        // Give the sampler a look after the last call, then: one acted at a time.
        let seen = lease.lock().unwrap().samples.len();
        let deadline = Instant::now() + Duration::from_secs(10);
        while lease.lock().unwrap().samples.len() < seen + 2 {
            assert!(Instant::now() < deadline, "the lease sampler stopped");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let overlapping = lease
            .lock()
            .unwrap()
            .calls_without_the_lease(&log[start..], &race.pids);
        assert!(
            overlapping.is_empty(),
            "{name} (seed {}): round {round}: calls by {signers:?}; made without the lease:\n  {}",
            t.seed,
            overlapping.join("\n  ")
        );
        w.check_always(&t, &race.runs[0]);
        t.operations += 1;
        created += target.saturating_sub(current);
        current = target;
        w.check_converged(&t, current as usize, created as usize)
            .await;
    }
    // Both again with nothing to do: both end, neither calls anything.
    let calls = mutating(&w.sim.requests()).count();
    let race = w.race(None).await;
    for r in &race.runs {
        assert_eq!(r.code, Some(0), "{}: {}", r.what, r.stderr);
    }
    assert_eq!(mutating(&w.sim.requests()).count(), calls);
    let lease = lease.lock().unwrap();
    assert!(
        lease.bad.is_empty(),
        "{name} (seed {}): {}",
        t.seed,
        lease.bad.join("\n")
    );
    assert!(
        lease.holders >= 2 && handovers >= 2,
        "{name}: the lease was seen with {} holders, calls changed hands {handovers} times",
        lease.holders
    );
    t.summary(&format!(
        ", {} lease holders seen, calls changed hands {handovers} times",
        lease.holders
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reconcilers_on_a_file_store_take_turns_and_act_once() {
    reconcilers_race("race: file store", StoreKind::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reconcilers_on_an_oci_store_take_turns_and_act_once() {
    reconcilers_race("race: oci store", StoreKind::Oci).await;
}
