//! Concurrency proof (issue 12 item 3): many front doors sharing one store, one simulator.
//!
//! For each store backend (a file, `s3://` on moto, `oci://` in the simulator's Object
//! Storage), five processes share one ledger: two `fleetctl-function` over HTTP, one
//! `fleetctl-function` over the Fn socket (the test plays the platform) and two
//! `fleetctl serve` with their control loops. Each round, clients fire scale requests with
//! distinct desired totals at random doors while other clients fire `POST /reconcile` at
//! random doors, until the fleet converges; twice a round the lease holder is stopped
//! (SIGSTOP) past its lease and then let go on (SIGCONT), believing it still holds it, as
//! after a long pause (every other time with the serve processes, so a function door takes
//! over). Verdicts come from the simulator's request log and
//! world and from the store itself (sampled every few milliseconds, its events read without
//! a gap), never from what the doors answered:
//!
//! - (a) one acts at a time: every mutating OCI call carries its holding period
//!   (`F<fencing>-<holder>` in its `opc-request-id`); one holder per fencing counter; the calls
//!   of an older holding period all end before the first call of a newer one starts; no call
//!   starts after the store showed a newer holding period, or ends before the store showed its
//!   own; none runs past its lease; the counter never goes down and every new holder gets a
//!   new one.
//! - (b) no accepted request lost, FIFO: every request answered 202 is queued in the ledger
//!   with its desired total; one answered before another was sent is queued before it; the
//!   scales start in queue order, each exactly once, and each succeeds.
//! - (c) after each round: the live instances are the ledger's active records, as many as the
//!   last queued request asks, each behind a healthy backend; never two instances for one
//!   operation's slot.
//!
//! `FLEETCTL_RACE_SEED=<u64>` replays a run's choices (each store prints its seed, and every
//! failure names it); `FLEETCTL_RACE_ROUNDS=<n>` sets the rounds per store (default 2; the
//! soak runs more). The `fleetctl-function` binary is the one built beside `fleetctl`
//! (`cargo test --workspace` builds it; with `-p fleetctl`, `cargo build -p
//! fleetctl-function` first): the test refuses one older than its sources.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use crate::support::{self, ChildGuard};

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use fleetctl_core::config;
use fleetctl_core::env::Env;
use fleetctl_core::fleet::{Fleet, Overrides};
use fleetctl_core::ops;
use fleetctl_core::store::ledger::{HolderId, Ledger};
use fleetctl_testkit::{LogEntry, Secrets, TestSim};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The API token of every door.
const TOKEN: &str = "race-test-token-0123456789";
/// The S3 secret key moto is given (any works; this one is recognisable in a leak).
const S3_SECRET: &str = "race-s3-secret-key-0123456789";
/// Every step's lease: a holder that stops stepping blocks the others this long.
const LEASE_TTL: &str = "1500ms";
/// The serve control loops' period.
const RECONCILE_EVERY: &str = "250ms";
/// Rounds per store unless `FLEETCTL_RACE_ROUNDS` says otherwise.
const DEFAULT_ROUNDS: u32 = 2;
/// Scale requests per round, each from its own client, with distinct desired totals.
const SCALES_PER_ROUND: usize = 6;
/// The largest desired total.
const MAX_DESIRED: u32 = 6;
/// Clients firing `POST /reconcile` throughout a round.
const RECONCILERS: usize = 5;
/// How long a round may take to converge once its requests are answered.
const CONVERGE_DEADLINE: Duration = Duration::from_secs(90);

/// How long a frozen lease holder stays stopped: past its lease.
const FREEZE: Duration = Duration::from_millis(2500);
/// How many times per round the lease holder is frozen.
const FREEZES_PER_ROUND: u32 = 2;

/// The mutating OCI calls fleetctl makes.
const MUTATING: &[&str] = &[
    "LaunchInstance",
    "TerminateInstance",
    "InstanceAction",
    "UpdateInstance",
    "CreateBackend",
    "UpdateBackend",
    "DeleteBackend",
    "UpdateBackendSet",
];

// ---------------------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------------------

/// SplitMix64: small and seeded, so a failing run's choices replay from its seed.
#[derive(Clone)]
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

fn base_seed() -> u64 {
    match std::env::var("FLEETCTL_RACE_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .expect("FLEETCTL_RACE_SEED is an unsigned 64-bit number"),
        Err(_) => SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    }
}

fn rounds() -> u32 {
    std::env::var("FLEETCTL_RACE_ROUNDS")
        .ok()
        .map(|s| s.trim().parse().expect("FLEETCTL_RACE_ROUNDS is a number"))
        .unwrap_or(DEFAULT_ROUNDS)
}

// ---------------------------------------------------------------------------------------
// The binaries and moto
// ---------------------------------------------------------------------------------------

/// The newest modification time of the files under `dir`.
fn newest_under(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return newest;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let t = if path.is_dir() {
            newest_under(&path)
        } else {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH)
        };
        newest = newest.max(t);
    }
    newest
}

/// `fleetctl-function`, built beside `fleetctl`, and not older than its sources.
fn function_binary() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_fleetctl")).with_file_name("fleetctl-function");
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: `cargo test --workspace` builds it, or run `cargo build -p \
                 fleetctl-function` before `cargo test -p fleetctl`",
                bin.display()
            )
        });
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for dir in ["function/src", "shared/src", "shared/api/src"] {
        let newest = newest_under(&root.join(dir));
        assert!(
            newest <= built,
            "{} is older than {dir}: run `cargo build -p fleetctl-function` (the test would \
             prove an old build)",
            bin.display()
        );
    }
    bin
}

/// `moto_server` beside `FLEETCTL_TEST_PYTHON`, else in `<workspace>/.venv`.
fn moto_server() -> PathBuf {
    let moto = match std::env::var_os("FLEETCTL_TEST_PYTHON") {
        Some(python) => PathBuf::from(python).with_file_name("moto_server"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server"),
    };
    assert!(
        moto.exists(),
        "no S3 test server: {} is missing. Run `cargo xtask setup` (it creates .venv from \
         tests/python/requirements.txt, which includes moto[server]) or set \
         FLEETCTL_TEST_PYTHON",
        moto.display()
    );
    moto
}

/// A moto server on loopback with the bucket `race`.
struct Moto {
    _child: ChildGuard,
    url: String,
}

impl Moto {
    async fn start() -> Moto {
        let exe = moto_server();
        let http = fleetctl_testkit::admin_http();
        for _ in 0..3 {
            let port = support::closed_port();
            let mut cmd = Command::new(&exe);
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let mut child = ChildGuard::spawn(&mut cmd);
            let url = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if http.get(format!("{url}/")).send().await.is_ok() {
                    let made = http.put(format!("{url}/race")).send().await.unwrap();
                    assert!(made.status().is_success(), "creating the bucket on moto");
                    return Moto { _child: child, url };
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        panic!("moto_server did not start");
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "race-access-key".to_string()),
            ("AWS_SECRET_ACCESS_KEY", S3_SECRET.to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_ALLOW_HTTP", "true".to_string()),
        ]
    }
}

// ---------------------------------------------------------------------------------------
// The doors
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreKind {
    File,
    S3,
    Oci,
}

/// Where a client sends its calls.
#[derive(Clone)]
enum Door {
    /// An HTTP base URL (`fleetctl-function --listen`, `fleetctl serve`).
    Http(String),
    /// The Fn socket of a `fleetctl-function`; the platform sends one call at a time.
    Fn(PathBuf, Arc<tokio::sync::Mutex<()>>),
}

/// A process under test.
struct Proc {
    name: String,
    door: Door,
    guard: ChildGuard,
    stderr: PathBuf,
}

/// One answer: the HTTP status (the `fn-http-status` over the Fn socket) and the body.
async fn call(http: &reqwest::Client, door: &Door, path: &str, body: &Value) -> (u16, Value) {
    match door {
        Door::Http(base) => {
            let sent = http
                .post(format!("{base}{path}"))
                .bearer_auth(TOKEN)
                .json(body)
                .timeout(Duration::from_secs(90))
                .send()
                .await;
            match sent {
                Ok(r) => {
                    let status = r.status().as_u16();
                    (status, r.json().await.unwrap_or(Value::Null))
                }
                Err(e) => (0, json!(e.to_string())),
            }
        }
        Door::Fn(socket, turn) => {
            let _turn = turn.lock().await;
            fn_call(socket, path, body).await
        }
    }
}

/// A gateway-style invocation over the Fn socket, as the platform sends it.
async fn fn_call(socket: &Path, path: &str, body: &Value) -> (u16, Value) {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let Ok(stream) = tokio::net::UnixStream::connect(socket).await else {
        return (0, json!("cannot connect to the Fn socket"));
    };
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let deadline = (OffsetDateTime::now_utc() + time::Duration::seconds(60))
        .format(&Rfc3339)
        .unwrap();
    let n = CALLS.fetch_add(1, Ordering::SeqCst);
    let deadline_at = deadline.clone();
    // Every other step comes as the platform's schedule sends it: an empty call, authorised
    // by the token the platform's own calls carry.
    if path == "/reconcile" && n % 2 == 1 {
        let request = http::Request::post("/call")
            .header("host", "localhost")
            .header("fn-call-id", format!("race-{n}"))
            .header("fn-deadline", deadline_at)
            .body(axum::body::Body::empty())
            .unwrap();
        return fn_answer(sender.send_request(request).await).await;
    }
    let request = http::Request::post("/call")
        .header("host", "localhost")
        .header("fn-call-id", format!("race-{n}"))
        .header("fn-intent", "httprequest")
        .header("fn-invoke-type", "sync")
        .header("fn-deadline", deadline)
        .header("fn-http-method", "POST")
        .header("fn-http-request-url", path)
        .header("fn-http-h-authorization", format!("Bearer {TOKEN}"))
        .header("fn-http-h-content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    fn_answer(sender.send_request(request).await).await
}

/// The status (`fn-http-status`) and body of an Fn call's answer.
async fn fn_answer(
    sent: Result<http::Response<hyper::body::Incoming>, hyper::Error>,
) -> (u16, Value) {
    let response = match sent {
        Ok(r) => r,
        Err(e) => return (0, json!(e.to_string())),
    };
    let status = response
        .headers()
        .get("fn-http-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let bytes = axum::body::to_bytes(axum::body::Body::new(response.into_body()), 1 << 20)
        .await
        .unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

// ---------------------------------------------------------------------------------------
// The store, sampled
// ---------------------------------------------------------------------------------------

/// One look at the lease, read between `before` and `after`.
#[derive(Debug, Clone)]
struct LeaseSample {
    before: OffsetDateTime,
    after: OffsetDateTime,
    fencing: u64,
    holder: Option<String>,
    expires: Option<OffsetDateTime>,
}

/// What the sampler saw of the store.
#[derive(Debug, Default)]
struct Seen {
    leases: Vec<LeaseSample>,
    /// Every event by id: message and operation.
    events: BTreeMap<u64, (String, Option<String>)>,
    /// Events that left the ledger's window before the sampler read them.
    gaps: Vec<String>,
    last: Option<Ledger>,
    loads: u64,
}

impl Seen {
    fn add(&mut self, ledger: Ledger, before: OffsetDateTime, after: OffsetDateTime) {
        self.loads += 1;
        let newest_seen = self.events.keys().next_back().copied().unwrap_or(0);
        let mut oldest = None;
        for (id, e) in ledger.events_with_ids() {
            oldest.get_or_insert(id);
            self.events.entry(id).or_insert_with(|| {
                (
                    e.message.clone(),
                    e.operation.as_ref().map(|o| o.as_str().to_string()),
                )
            });
        }
        if let Some(oldest) = oldest
            && oldest > newest_seen + 1
        {
            self.gaps.push(format!(
                "events {}..{} left the ledger before the sampler read them",
                newest_seen + 1,
                oldest - 1
            ));
        }
        let held = ledger.lease.held.as_ref();
        self.leases.push(LeaseSample {
            before,
            after,
            fencing: ledger.lease.fencing,
            holder: held.map(|h| h.holder.as_str().to_string()),
            expires: held.map(|h| h.expires.get()),
        });
        self.last = Some(ledger);
    }
}

// ---------------------------------------------------------------------------------------
// The world
// ---------------------------------------------------------------------------------------

/// A scale request and its answer.
#[derive(Debug, Clone)]
struct Asked {
    desired: u32,
    door: String,
    sent: Instant,
    answered: Instant,
    status: u16,
    /// The operation id of a 202.
    id: Option<String>,
    attempts: u32,
}

/// What a store's run did, for the summary.
#[derive(Debug, Default)]
struct Figures {
    scales_sent: u32,
    scales_accepted: u32,
    scale_retries: u32,
    reconciles: BTreeMap<u16, u32>,
    rounds: u32,
}

struct World {
    name: String,
    seed: u64,
    sim: Arc<TestSim>,
    procs: Vec<Proc>,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    /// How often a lease holder was stopped past its lease.
    freezes: Arc<AtomicU64>,
    secrets: Secrets,
    _moto: Option<Moto>,
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The demo fleet file with no instance of its own (only requests size the fleet), a short
/// drain, and the ledger at `state`.
fn fleet_text(sim: &TestSim, state: &str) -> String {
    let text = std::fs::read_to_string(sim.fleet_file()).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("state:") {
            out.push_str(&format!("  state: {{url: \"{state}\"}}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    let edited = out
        .replace("- {name: web, count: 3}", "- {name: web, count: 0}")
        .replace("port: 8080}", "port: 8080, drainTimeout: 50ms}")
        + "  rollout: {minReadySeconds: 0}\n";
    assert!(
        edited.contains("count: 0") && edited.contains("drainTimeout") && edited.contains(state),
        "the demo fleet file changed shape:\n{text}"
    );
    edited
}

async fn wait_ready(proc: &mut Proc) {
    let http = fleetctl_testkit::admin_http();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = proc.guard.try_wait().unwrap() {
            panic!(
                "{} exited with {status} before it was ready:\n{}",
                proc.name,
                std::fs::read_to_string(&proc.stderr).unwrap_or_default()
            );
        }
        let ready = match &proc.door {
            Door::Http(base) => http
                .get(format!("{base}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success()),
            Door::Fn(socket, _) => std::fs::symlink_metadata(socket).is_ok(),
        };
        if ready {
            return;
        }
        assert!(Instant::now() < deadline, "{} not ready in 60 s", proc.name);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn world(kind: StoreKind, seed: u64) -> World {
    let name = format!("race: {kind:?} store").to_lowercase();
    let sim = Arc::new(
        TestSim::start_with(|config| {
            config.seed = Some(seed & 0xffff);
            // Terminated instances stay listed, so every instance ever launched is counted.
            config.services.terminated_retention_seconds = 1e9;
        })
        .await,
    );
    let dir = sim.dir().to_path_buf();
    let moto = match kind {
        StoreKind::S3 => Some(Moto::start().await),
        _ => None,
    };
    let state = match kind {
        StoreKind::File => dir.join("state.json").display().to_string(),
        StoreKind::S3 => "s3://race/fleet/state.json".to_string(),
        StoreKind::Oci => format!("oci://{}@{}/race/state.json", sim.bucket(), sim.namespace()),
    };
    let s3_env: Vec<(&'static str, String)> = moto.as_ref().map(Moto::env).unwrap_or_default();
    let fleet = dir.join("race-fleet.yaml");
    std::fs::write(&fleet, fleet_text(&sim, &state)).unwrap();

    // The test's own view of the store.
    let env = Env::from_pairs(s3_env.iter().map(|(k, v)| (*k, v.as_str())));
    let overrides = Overrides::new(env).state_url(Some(state.clone()));
    let store = Fleet::open(config::load_file(&fleet).unwrap(), overrides)
        .await
        .unwrap()
        .store()
        .clone();

    let function = function_binary();
    let mut procs = Vec::new();
    // Each process's environment: nothing of this one's that changes an outcome, then its own.
    let spawn = |name: String, program: &Path, setup: &dyn Fn(&mut Command), door: Door| {
        let stderr = dir.join(format!("{}.stderr", name.replace(' ', "-")));
        let mut cmd = Command::new(program);
        support::hermetic(&mut cmd);
        setup(&mut cmd);
        cmd.env("FLEETCTL_API_TOKEN", TOKEN)
            .env("FLEETCTL_LEASE_TTL", LEASE_TTL)
            .envs(s3_env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap());
        Proc {
            name,
            door,
            guard: ChildGuard::spawn(&mut cmd),
            stderr,
        }
    };
    for n in 0..2 {
        let port = support::closed_port();
        let setup = |cmd: &mut Command| {
            cmd.args(["--listen", &format!("127.0.0.1:{port}")])
                .env("FLEETCTL_CONFIG", &fleet)
                .env("FLEETCTL_LOG_FORMAT", "json");
        };
        let door = Door::Http(format!("http://127.0.0.1:{port}"));
        procs.push(spawn(format!("function http {n}"), &function, &setup, door));
    }
    {
        let iofs = dir.join("iofs");
        std::fs::create_dir_all(&iofs).unwrap();
        let socket = iofs.join("lsnr.sock");
        let setup = |cmd: &mut Command| {
            cmd.env("FN_LISTENER", format!("unix:{}", socket.display()))
                .env("FN_FORMAT", "http-stream")
                .env("FN_APP_ID", "ocid1.fnapp.oc1.iad.race")
                .env("FN_FN_ID", "ocid1.fnfunc.oc1.iad.race")
                .env("FLEETCTL_CONFIG", &fleet)
                .env("FLEETCTL_LOG_FORMAT", "json");
        };
        let door = Door::Fn(socket.clone(), Arc::new(tokio::sync::Mutex::new(())));
        procs.push(spawn("function fn".to_string(), &function, &setup, door));
    }
    let fleetctl = PathBuf::from(env!("CARGO_BIN_EXE_fleetctl"));
    for n in 0..2 {
        let port = support::closed_port();
        let setup = |cmd: &mut Command| {
            cmd.arg("--config")
                .arg(&fleet)
                .args(["--state", &state, "serve", "--http"])
                .arg(format!("127.0.0.1:{port}"))
                .args(["--reconcile-every", RECONCILE_EVERY]);
        };
        let door = Door::Http(format!("http://127.0.0.1:{port}"));
        procs.push(spawn(format!("serve {n}"), &fleetctl, &setup, door));
    }
    for p in &mut procs {
        wait_ready(p).await;
    }

    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let (sampled, sampler_store, stopped) = (seen.clone(), store.clone(), stop.clone());
    tokio::spawn(async move {
        while !stopped.load(Ordering::SeqCst) {
            let before = OffsetDateTime::now_utc();
            if let Ok(Some((ledger, _))) = sampler_store.load().await {
                let after = OffsetDateTime::now_utc();
                sampled.lock().unwrap().add(ledger, before, after);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    let secrets = Secrets::of_sim(&sim)
        .with("API bearer token", TOKEN)
        .with("S3 secret key", S3_SECRET);
    World {
        name,
        seed,
        sim,
        procs,
        seen,
        stop,
        freezes: Arc::new(AtomicU64::new(0)),
        secrets,
        _moto: moto,
    }
}

// ---------------------------------------------------------------------------------------
// What the simulator shows
// ---------------------------------------------------------------------------------------

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

fn live_ids(world: &Value) -> BTreeSet<String> {
    fleet_instances(world)
        .into_iter()
        .filter(|i| is_live(i))
        .map(|i| i["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Healthy backends taking traffic.
fn serving_backends(world: &Value) -> usize {
    world["loadBalancers"][0]["backendSets"][0]["backends"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["health"] == "OK" && b["drain"] != true && b["offline"] != true)
        .count()
}

/// A mutating call of the request log, with the holding period its request id names.
#[derive(Debug)]
struct Call {
    seq: u64,
    what: String,
    start: OffsetDateTime,
    end: OffsetDateTime,
    stamp: Option<(u64, String)>,
}

/// `F<fencing>-<holder hash>-<32 hex>` → (fencing, holder hash).
fn parse_stamp(id: &str) -> Option<(u64, String)> {
    let mut parts = id.split('-');
    let fencing = parts.next()?.strip_prefix('F')?.parse().ok()?;
    let holder = parts.next()?;
    let rest = parts.next()?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(holder, 8) && hex(rest, 32) && parts.next().is_none())
        .then(|| (fencing, holder.to_string()))
}

fn mutating_calls(log: &[LogEntry]) -> Vec<Call> {
    log.iter()
        .filter(|e| {
            e.operation
                .as_deref()
                .is_some_and(|o| MUTATING.contains(&o))
        })
        .map(|e| {
            let start = OffsetDateTime::parse(&e.time, &Rfc3339).unwrap();
            Call {
                seq: e.seq,
                what: format!(
                    "{} {} ({}, request {})",
                    e.operation.as_deref().unwrap_or_default(),
                    e.path,
                    e.status.map_or("dropped".to_string(), |s| s.to_string()),
                    e.opc_request_id
                ),
                start,
                end: start + Duration::from_millis(e.duration_ms),
                stamp: parse_stamp(&e.opc_request_id),
            }
        })
        .collect()
}

/// The process id in a holder id (`host/pid/random`).
fn pid_of(holder: &str) -> Option<u32> {
    holder.rsplit('/').nth(1)?.parse().ok()
}

/// Sends `signal` (`-STOP`, `-CONT`) to `pid`, one of this test's children.
fn signal(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// The holder hash of the stamp a holder's calls carry.
fn holder_hash(holder: &str) -> String {
    let holder = HolderId::parse(holder).unwrap();
    let stamp = ops::call_stamp(&holder, 0);
    stamp.split('-').nth(1).unwrap_or_default().to_string()
}

// ---------------------------------------------------------------------------------------
// (a) one at a time
// ---------------------------------------------------------------------------------------

/// What (a) found, and its figures.
#[derive(Debug, Default)]
struct OneAtATime {
    bad: Vec<String>,
    calls: usize,
    periods: usize,
    holders: usize,
    handovers: usize,
    periods_seen_in_store: usize,
    /// The holder ids (as the store showed them) of the holding periods that made calls.
    actors: BTreeSet<String>,
}

fn one_at_a_time(calls: &[Call], seen: &Seen) -> OneAtATime {
    let slack = Duration::from_millis(2);
    let mut out = OneAtATime {
        calls: calls.len(),
        ..OneAtATime::default()
    };
    // The lease as the store showed it: the counter never goes down, a new holder always
    // comes with a new counter, and each counter has one holder.
    let mut holder_of: BTreeMap<u64, String> = BTreeMap::new();
    let mut expires_of: BTreeMap<u64, OffsetDateTime> = BTreeMap::new();
    let mut last: Option<&LeaseSample> = None;
    let mut last_holder: Option<(&str, u64)> = None;
    for s in &seen.leases {
        if let Some(l) = last
            && s.fencing < l.fencing
        {
            out.bad.push(format!(
                "the fencing counter went down from {} to {}",
                l.fencing, s.fencing
            ));
        }
        if let Some(h) = &s.holder {
            if let Some((previous, f)) = last_holder
                && previous != h
                && s.fencing <= f
            {
                out.bad.push(format!(
                    "the lease passed from {previous} to {h} without a new fencing counter \
                     ({f} -> {})",
                    s.fencing
                ));
            }
            match holder_of.get(&s.fencing) {
                Some(other) if other != h => out
                    .bad
                    .push(format!("fencing {} held by {other} and by {h}", s.fencing)),
                _ => {
                    holder_of.insert(s.fencing, h.clone());
                }
            }
            if let Some(e) = s.expires {
                let max = expires_of.entry(s.fencing).or_insert(e);
                *max = (*max).max(e);
            }
            last_holder = Some((h, s.fencing));
        }
        last = Some(s);
    }

    // Every mutating call names its holding period, and each period has one holder.
    let mut hash_of: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for c in calls {
        match &c.stamp {
            None => out.bad.push(format!(
                "{}: no holding period in its request id, so no lease holder can be named",
                c.what
            )),
            Some((f, h)) => {
                hash_of.entry(*f).or_default().insert(h.clone());
            }
        }
    }
    for (f, hashes) in &hash_of {
        if hashes.len() > 1 {
            out.bad.push(format!(
                "fencing {f} was used by {} holders: {hashes:?}",
                hashes.len()
            ));
        }
        if let Some(h) = holder_of.get(f) {
            out.periods_seen_in_store += 1;
            out.actors.insert(h.clone());
            let expected = holder_hash(h);
            if !hashes.contains(&expected) {
                out.bad.push(format!(
                    "the calls of fencing {f} name holder {hashes:?}, the store says {h} \
                     ({expected})"
                ));
            }
        }
    }
    out.periods = hash_of.len();
    out.holders = hash_of
        .values()
        .flatten()
        .collect::<BTreeSet<&String>>()
        .len();

    // The calls of an older holding period end before the first of a newer one starts.
    let mut stamped: Vec<(&Call, u64, &str)> = calls
        .iter()
        .filter_map(|c| c.stamp.as_ref().map(|(f, h)| (c, *f, h.as_str())))
        .collect();
    stamped.sort_by_key(|(c, _, _)| (c.start, c.seq));
    for (i, (c, f, h)) in stamped.iter().enumerate() {
        for (e, g, k) in &stamped[..i] {
            if k != h && e.end > c.start + slack {
                out.bad.push(format!(
                    "{} (holder {k}) was still running when {} (holder {h}) started: two \
                     holders acted at once",
                    e.what, c.what
                ));
            }
            if g > f {
                out.bad.push(format!(
                    "{} (fencing {f}) started after {} (fencing {g}): a stale holder acted",
                    c.what, e.what
                ));
            } else if g < f && e.end > c.start + slack {
                out.bad.push(format!(
                    "{} (fencing {g}) was still running when {} (fencing {f}) started: two \
                     acted at once",
                    e.what, c.what
                ));
            }
        }
    }
    out.handovers = stamped.windows(2).filter(|w| w[0].2 != w[1].2).count();

    // Against the store: no call starts after the store showed a newer holding period or
    // ends before it showed its own, and none runs past its lease. The samples are in time
    // order: the highest counter read up to each sample, the lowest from each one on.
    let leases = &seen.leases;
    let mut highest: Vec<usize> = Vec::with_capacity(leases.len());
    for (i, s) in leases.iter().enumerate() {
        let best = highest
            .last()
            .copied()
            .filter(|&b| leases[b].fencing >= s.fencing);
        highest.push(best.unwrap_or(i));
    }
    let mut lowest: Vec<usize> = vec![0; leases.len()];
    for i in (0..leases.len()).rev() {
        lowest[i] = match lowest.get(i + 1) {
            Some(&b) if i + 1 < leases.len() && leases[b].fencing <= leases[i].fencing => b,
            _ => i,
        };
    }
    for (c, f, _) in &stamped {
        let before_start = leases.partition_point(|s| s.after + slack < c.start);
        if let Some(&i) = before_start.checked_sub(1).and_then(|i| highest.get(i))
            && leases[i].fencing > *f
        {
            out.bad.push(format!(
                "{} (fencing {f}) started after the store showed fencing {} (read by {})",
                c.what, leases[i].fencing, leases[i].after
            ));
        }
        let after_end = leases.partition_point(|s| s.before <= c.end + slack);
        if let Some(&i) = lowest.get(after_end)
            && after_end < leases.len()
            && leases[i].fencing < *f
        {
            out.bad.push(format!(
                "{} (fencing {f}) ended before the store showed it (fencing {} read from {})",
                c.what, leases[i].fencing, leases[i].before
            ));
        }
        if let Some(expires) = expires_of.get(f)
            && c.end > *expires + slack
        {
            out.bad.push(format!(
                "{} (fencing {f}) ended at {}, after its lease ended at {expires}",
                c.what, c.end
            ));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// (b) every accepted request queued, FIFO
// ---------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Fifo {
    bad: Vec<String>,
    queued: Vec<(String, u32)>,
    started: usize,
}

/// The desired total in `scale to N <what>`.
fn scale_event(message: &str, what: &str) -> Option<u32> {
    message
        .strip_prefix("scale to ")?
        .strip_suffix(what)?
        .trim()
        .parse()
        .ok()
}

fn fifo(asked: &[Asked], seen: &Seen) -> Fifo {
    let mut out = Fifo::default();
    let mut started = Vec::new();
    let mut succeeded = BTreeSet::new();
    for (message, op) in seen.events.values() {
        let Some(op) = op else { continue };
        if let Some(d) = scale_event(message, "queued") {
            out.queued.push((op.clone(), d));
        } else if scale_event(message, "started").is_some() {
            started.push(op.clone());
        } else if scale_event(message, "succeeded").is_some() {
            succeeded.insert(op.clone());
        }
    }
    let position: BTreeMap<&str, usize> = out
        .queued
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.as_str(), i))
        .collect();
    let accepted: Vec<&Asked> = asked.iter().filter(|a| a.id.is_some()).collect();
    for a in &accepted {
        let id = a.id.as_deref().unwrap_or_default();
        match position.get(id) {
            None => out.bad.push(format!(
                "scale to {} (operation {id}, 202 from {}) is not in the ledger: lost",
                a.desired, a.door
            )),
            Some(&p) if out.queued[p].1 != a.desired => out.bad.push(format!(
                "operation {id} was asked as scale to {} and queued as scale to {}",
                a.desired, out.queued[p].1
            )),
            Some(_) => {}
        }
    }
    let unanswered = asked.iter().filter(|a| a.status != 202).count();
    let unknown = out
        .queued
        .iter()
        .filter(|(id, _)| !accepted.iter().any(|a| a.id.as_deref() == Some(id)))
        .count();
    if unknown > unanswered {
        out.bad.push(format!(
            "{unknown} queued requests were never answered 202, but only {unanswered} requests \
             went unanswered"
        ));
    }
    // Accepted before another was sent: queued before it.
    for a in &accepted {
        for b in &accepted {
            let (Some(pa), Some(pb)) = (
                position.get(a.id.as_deref().unwrap_or_default()),
                position.get(b.id.as_deref().unwrap_or_default()),
            ) else {
                continue;
            };
            if a.answered < b.sent && pa > pb {
                out.bad.push(format!(
                    "scale to {} was answered before scale to {} was sent, but queued after it",
                    a.desired, b.desired
                ));
            }
        }
    }
    // Started in queue order, each once, each succeeded.
    let started_queued: Vec<&String> = started
        .iter()
        .filter(|id| position.contains_key(id.as_str()))
        .collect();
    let queue_order: Vec<&String> = out.queued.iter().map(|(id, _)| id).collect();
    if started_queued != queue_order {
        out.bad.push(format!(
            "the scales started in the order {started_queued:?}, queued as {queue_order:?}"
        ));
    }
    for (id, d) in &out.queued {
        if !succeeded.contains(id) {
            out.bad.push(format!("scale to {d} ({id}) never succeeded"));
        }
    }
    out.started = started_queued.len();
    out
}

// ---------------------------------------------------------------------------------------
// Rounds
// ---------------------------------------------------------------------------------------

impl World {
    fn doors(&self) -> Vec<(String, Door)> {
        self.procs
            .iter()
            .map(|p| (p.name.clone(), p.door.clone()))
            .collect()
    }

    /// The ledger as last sampled, and the desired total of the newest queued request.
    fn last_queued(&self) -> Option<u32> {
        let seen = self.seen.lock().unwrap();
        seen.events
            .values()
            .rev()
            .find_map(|(m, _)| scale_event(m, "queued"))
    }

    /// Converged: nothing queued or running, the live instances are the ledger's active
    /// records, as many as `desired`, each serving.
    fn converged(&self, desired: u32) -> Result<(), String> {
        let ledger = self
            .seen
            .lock()
            .unwrap()
            .last
            .clone()
            .ok_or("no ledger yet")?;
        if !ledger.scale_queue.is_empty() {
            return Err(format!(
                "{} queued, operation waiting on {:?}",
                ledger.scale_queue.len(),
                ledger.operation.as_ref().map(|o| &o.waiting_on)
            ));
        }
        if let Some(op) = &ledger.operation
            && !op.status.is_finished()
        {
            return Err(format!(
                "operation {} {:?}, waiting on {:?}",
                op.id.as_str(),
                op.status,
                op.waiting_on
            ));
        }
        let world = self.sim.world_json();
        let live = live_ids(&world);
        let records: BTreeSet<String> = ledger
            .live_records()
            .map(|r| r.instance_id.as_str().to_string())
            .collect();
        if live != records {
            return Err(format!("live {live:?}, ledger {records:?}"));
        }
        if live.len() != desired as usize {
            return Err(format!("{} live, {desired} asked", live.len()));
        }
        let serving = serving_backends(&world);
        if serving != live.len() {
            return Err(format!(
                "{serving} serving backends for {} live",
                live.len()
            ));
        }
        Ok(())
    }

    /// One round: scale requests with distinct totals from their own clients, reconcile
    /// calls from others, until the fleet converges on the last queued request.
    async fn round(&self, round: u32, rng: &mut Rng, figures: &mut Figures) -> Vec<Asked> {
        let doors = self.doors();
        let http = fleetctl_testkit::admin_http();
        let mut totals: Vec<u32> = (0..=MAX_DESIRED).collect();
        for i in (1..totals.len()).rev() {
            totals.swap(i, rng.below(i as u64 + 1) as usize);
        }
        totals.truncate(SCALES_PER_ROUND);
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let reconciles = Arc::new(Mutex::new(BTreeMap::<u16, u32>::new()));
        let mut reconcilers = Vec::new();
        for _ in 0..RECONCILERS {
            let (doors, http, stop, counts) = (
                doors.clone(),
                http.clone(),
                stop.clone(),
                reconciles.clone(),
            );
            let mut rng = Rng(rng.next());
            reconcilers.push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let (_, door) = &doors[rng.below(doors.len() as u64) as usize];
                    let (status, _) = call(&http, door, "/reconcile", &json!({})).await;
                    *counts.lock().unwrap().entry(status).or_default() += 1;
                    tokio::time::sleep(Duration::from_millis(5 + rng.below(40))).await;
                }
            }));
        }
        // The freezer: now and then the lease holder is stopped (SIGSTOP) for longer than its
        // lease, as a long pause would, and then goes on (SIGCONT) believing it still holds
        // it, while another door has taken over.
        let freezer = {
            let (stop, seen, freezes) = (stop.clone(), self.seen.clone(), self.freezes.clone());
            let pids: Vec<u32> = self.procs.iter().map(|p| p.guard.id()).collect();
            let serves: Vec<u32> = self
                .procs
                .iter()
                .filter(|p| p.name.starts_with("serve"))
                .map(|p| p.guard.id())
                .collect();
            let mut rng = Rng(rng.next());
            tokio::spawn(async move {
                for _ in 0..FREEZES_PER_ROUND {
                    tokio::time::sleep(Duration::from_millis(300 + rng.below(1200))).await;
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let holder = seen
                        .lock()
                        .unwrap()
                        .last
                        .as_ref()
                        .and_then(|l| l.lease.held.as_ref().map(|h| h.holder.to_string()));
                    let Some(pid) = holder.as_deref().and_then(pid_of) else {
                        continue;
                    };
                    if !pids.contains(&pid) {
                        continue;
                    }
                    // Every other time the serve processes stop too: their control loops
                    // would take the lease first, and a function door should take it over.
                    let mut stopped = vec![pid];
                    if rng.below(2) == 0 {
                        stopped.extend(serves.iter().filter(|s| **s != pid));
                    }
                    for pid in &stopped {
                        signal("-STOP", *pid);
                    }
                    tokio::time::sleep(FREEZE).await;
                    for pid in &stopped {
                        signal("-CONT", *pid);
                    }
                    freezes.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        let mut scalers = Vec::new();
        for desired in totals {
            let (doors, http) = (doors.clone(), http.clone());
            let mut rng = Rng(rng.next());
            scalers.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(rng.below(400))).await;
                let (name, door) = &doors[rng.below(doors.len() as u64) as usize];
                let sent = Instant::now();
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    let (status, body) =
                        call(&http, door, "/scale", &json!({"desired": desired})).await;
                    // 409: another writer won each of the door's tries; a client tries again.
                    if status == 409 && attempts < 20 {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                    return Asked {
                        desired,
                        door: name.clone(),
                        sent,
                        answered: Instant::now(),
                        status,
                        id: (status == 202)
                            .then(|| body["operationId"].as_str().map(str::to_string))
                            .flatten(),
                        attempts,
                    };
                }
            }));
        }
        let mut asked = Vec::new();
        for s in scalers {
            asked.push(s.await.unwrap());
        }
        let answered = Instant::now();
        let deadline = answered + CONVERGE_DEADLINE;
        let mut told = Instant::now();
        loop {
            let last = self.last_queued().unwrap_or(0);
            let state = self.converged(last);
            if told.elapsed() > Duration::from_secs(10) {
                told = Instant::now();
                eprintln!("{}: round {round}: waiting on {state:?}", self.name);
            }
            match state {
                Ok(()) => break,
                Err(why) => assert!(
                    Instant::now() < deadline,
                    "{} (seed {}): round {round} did not converge on {last} within \
                     {CONVERGE_DEADLINE:?}: {why}\nasked: {asked:#?}",
                    self.name,
                    self.seed
                ),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!(
            "{}: round {round}: answered in {:?}, converged {:?} later",
            self.name,
            answered - started,
            answered.elapsed()
        );
        stop.store(true, Ordering::SeqCst);
        freezer.await.unwrap();
        for r in reconcilers {
            r.await.unwrap();
        }
        for (status, n) in reconciles.lock().unwrap().iter() {
            *figures.reconciles.entry(*status).or_default() += n;
        }
        figures.scales_sent += asked.len() as u32;
        figures.scales_accepted += asked.iter().filter(|a| a.id.is_some()).count() as u32;
        figures.scale_retries += asked.iter().map(|a| a.attempts - 1).sum::<u32>();
        figures.rounds += 1;
        asked
    }
}

/// Runs the rounds on one store and proves (a), (b) and (c).
async fn race(kind: StoreKind) {
    let mut h = DefaultHasher::new();
    format!("{kind:?}").hash(&mut h);
    let seed = base_seed();
    let w = world(kind, seed).await;
    eprintln!(
        "{}: seed {seed} (FLEETCTL_RACE_SEED={seed} replays its choices)",
        w.name
    );
    let mut rng = Rng(seed ^ h.finish());
    let mut figures = Figures::default();
    let mut asked = Vec::new();
    let mut created = 0;
    for round in 0..rounds() {
        asked.extend(w.round(round, &mut rng, &mut figures).await);
        let world = w.sim.world_json();
        // (c) never two instances for one operation's slot.
        let mut by_slot: BTreeMap<(String, String), u32> = BTreeMap::new();
        for i in fleet_instances(&world) {
            let tags = &i["freeformTags"];
            let key = (
                tags["fleetctl-operation"].as_str().unwrap_or("?").into(),
                tags["fleetctl-slot"].as_str().unwrap_or("?").into(),
            );
            *by_slot.entry(key).or_default() += 1;
        }
        let doubles: Vec<_> = by_slot.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            doubles.is_empty(),
            "{} (seed {seed}): double launches {doubles:?}",
            w.name
        );
        created = fleet_instances(&world).len();
    }
    // Let the sampler take a last look, then stop it.
    let loads = w.seen.lock().unwrap().loads;
    while w.seen.lock().unwrap().loads < loads + 2 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    w.stop.store(true, Ordering::SeqCst);

    let log = w.sim.requests();
    let calls = mutating_calls(&log);
    let seen = w.seen.lock().unwrap();
    let a = one_at_a_time(&calls, &seen);
    let b = fifo(&asked, &seen);
    let mut bad: Vec<String> = seen.gaps.clone();
    bad.extend(a.bad.iter().cloned());
    bad.extend(b.bad.iter().cloned());
    assert!(
        bad.is_empty(),
        "{} (seed {seed}): {} violations:\n  {}",
        w.name,
        bad.len(),
        bad.join("\n  ")
    );
    // The proof is only as good as the racing it saw.
    assert!(
        a.holders >= 2 && a.handovers >= 1,
        "{} (seed {seed}): the calls came from {} holders with {} handovers: nothing raced",
        w.name,
        a.holders,
        a.handovers
    );
    assert!(a.calls > 0 && b.started as u32 == figures.scales_accepted);
    for p in &w.procs {
        let stderr = std::fs::read_to_string(&p.stderr).unwrap_or_default();
        fleetctl_testkit::assert_no_secrets(
            &format!("the logs of {}", p.name),
            &stderr,
            &w.secrets,
        );
    }
    let acted: BTreeSet<&str> = a
        .actors
        .iter()
        .filter_map(|h| pid_of(h))
        .filter_map(|pid| w.procs.iter().find(|p| p.guard.id() == pid))
        .map(|p| p.name.as_str())
        .collect();
    let invocations: u32 =
        figures.scales_sent + figures.scale_retries + figures.reconciles.values().sum::<u32>();
    println!(
        "{}: {} processes (2 function http, 1 function fn, 2 serve), {} rounds, {invocations} \
         invocations ({} scale requests, {} accepted, {} retried after 409; reconcile answers \
         {:?}), {} mutating OCI calls by {} holders ({acted:?}) in {} holding periods ({} seen in the \
         store, {} handovers), {} instances launched, {} lease holders frozen past their lease, {} store reads, \
         invariant violations 0 (seed {seed})",
        w.name,
        w.procs.len(),
        figures.rounds,
        figures.scales_sent,
        figures.scales_accepted,
        figures.scale_retries,
        figures.reconciles,
        a.calls,
        a.holders,
        a.periods,
        a.periods_seen_in_store,
        a.handovers,
        created,
        w.freezes.load(Ordering::SeqCst),
        seen.loads,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doors_sharing_a_file_store_act_one_at_a_time_and_lose_no_request() {
    race(StoreKind::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doors_sharing_an_s3_store_act_one_at_a_time_and_lose_no_request() {
    race(StoreKind::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doors_sharing_an_oci_store_act_one_at_a_time_and_lose_no_request() {
    race(StoreKind::Oci).await;
}
