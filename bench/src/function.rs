//! The HTTP face's figures (issue 10): the release `fleetctl-function`'s cold start over the
//! Fn socket beside the official Python FDK's hello function on the same harness, its peak
//! memory serving 1000 requests, the release binaries' sizes, and `/metrics` requests per
//! second on loopback (the function in HTTP mode, and `fleetctl serve`).
//!
//! The binaries measured are the ones that ship, built with the `dist` profile beside this
//! release build (`target/dist`), which `cargo xtask bench function` builds first, as the
//! Dockerfile does (`cargo build --profile dist --locked --no-default-features -p fleetctl -p
//! fleetctl-function`); `FLEETCTL_BENCH_BINARIES=DIR` measures the two binaries of another
//! directory instead (another profile, for a comparison).
//! The Python FDK is the `fdk` console script of the project's venv (`FLEETCTL_BENCH_FDK`,
//! set by xtask; `tests/python/requirements.txt` pins it).
//!
//! Every client here is blocking std code on threads of its own ([`crate::http1`]); the
//! simulator the fleet points at runs on the bench's runtime.

use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use oci_sim::{Sim, SimConfig, SimHandle};

use crate::http1::{Conn, Response};

/// The API token both servers are given (not a secret: a benchmark's).
const TOKEN: &str = "fleetctl-bench-token-not-a-secret";
/// How long a process may take to bind its socket or port before the bench gives up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The Python FDK's hello function (the FDK's documented simplest function, answering JSON).
const FUNC_PY: &str = r#"import io
import json

from fdk import response


def handler(ctx, data: io.BytesIO = None):
    return response.Response(
        ctx,
        response_data=json.dumps({"message": "Hello World"}),
        headers={"Content-Type": "application/json"},
    )
"#;

/// The binaries measured.
pub struct Binaries {
    pub fleetctl: PathBuf,
    pub function: PathBuf,
}

impl Binaries {
    /// The `dist` binaries beside this benchmark's own (release) executable, or those of
    /// `FLEETCTL_BENCH_BINARIES`.
    pub fn dist() -> Result<Binaries> {
        let dir = match std::env::var_os("FLEETCTL_BENCH_BINARIES") {
            Some(dir) => PathBuf::from(dir),
            None => {
                let exe = std::env::current_exe().context("locating the benchmark's executable")?;
                exe.parent()
                    .and_then(Path::parent)
                    .context("the benchmark's executable has no target directory")?
                    .join("dist")
            }
        };
        let b = Binaries {
            fleetctl: dir.join("fleetctl"),
            function: dir.join("fleetctl-function"),
        };
        for p in [&b.fleetctl, &b.function] {
            if !p.is_file() {
                bail!(
                    "{} is missing: run `cargo xtask bench function`, which builds the dist binaries first",
                    p.display()
                );
            }
        }
        Ok(b)
    }
}

/// A simulator and a fleet file for it (the demo fleet, config-file auth, a `file://` ledger).
pub struct Fleet {
    /// Kept running (and alive) while the processes under test talk to it.
    _sim: SimHandle,
    pub fleet_file: PathBuf,
    pub state_url: String,
    dir: tempfile::TempDir,
}

impl Fleet {
    pub async fn start() -> Result<Fleet> {
        let dir = tempfile::Builder::new()
            .prefix("fleetctl-bench-fn")
            .tempdir()
            .context("creating a temporary directory")?;
        let mut config = SimConfig::new(dir.path().join("sim"));
        config.seed = Some(9);
        // Launches and boots of the one reconcile step the memory figure includes.
        config.time_scale = 0.05;
        let sim = Sim::start(config).await.context("starting oci-sim")?;
        let state_url = format!("file://{}", dir.path().join("state.json").display());
        let fleet_file = dir.path().join("fleet.yaml");
        std::fs::write(&fleet_file, crate::demo_fleet::text(&sim, &state_url))
            .context("writing fleet.yaml")?;
        Ok(Fleet {
            _sim: sim,
            fleet_file,
            state_url,
            dir,
        })
    }
}

/// Median, fastest and slowest of some durations.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    pub median: Duration,
    pub min: Duration,
    pub max: Duration,
}

impl Spread {
    fn of(mut v: Vec<Duration>) -> Spread {
        v.sort();
        Spread {
            median: v.get(v.len() / 2).copied().unwrap_or_default(),
            min: v.first().copied().unwrap_or_default(),
            max: v.last().copied().unwrap_or_default(),
        }
    }
}

/// One side's cold starts: to the socket's symlink, and to the first answer read.
#[derive(Debug, Clone, Copy)]
pub struct ColdStart {
    pub socket: Spread,
    pub answer: Spread,
}

/// The first request of a cold start: the gateway-style `GET /healthz` both sides answer
/// (the Python hello function answers any request alike), or, for the Rust side only, the
/// first request that needs the fleet.
pub const FIRST_REQUEST: &str = "/healthz";
/// Needs the fleet file read, the fleet opened (credentials, the HTTPS client) and the ledger
/// read from the store: the first useful answer.
pub const FIRST_FLEET_REQUEST: &str = "/metrics";

pub struct ColdStarts {
    pub runs: usize,
    pub rust: ColdStart,
    /// The Rust side's cold starts to the answer of [`FIRST_FLEET_REQUEST`].
    pub rust_fleet: ColdStart,
    /// The Python FDK's, or why it was not measured.
    pub python: Result<ColdStart, String>,
    pub python_version: String,
}

/// What a cold start measures: process spawn to the symlink, and to the response read.
struct Sample {
    socket: Duration,
    answer: Duration,
}

fn rfc3339_in(d: Duration) -> Result<String> {
    (time::OffsetDateTime::now_utc() + d)
        .format(&time::format_description::well_known::Rfc3339)
        .context("formatting a deadline")
}

/// Starts `cmd` (with `FN_LISTENER` in `iofs`), waits for the symlink, sends a gateway-style
/// `GET path` invocation and reads the answer; then kills the process.
fn cold_start(mut cmd: Command, iofs: &Path, log: &Path, path: &str) -> Result<Sample> {
    let link = iofs.join("lsnr.sock");
    let deadline = rfc3339_in(Duration::from_secs(60))?;
    // The callers cleared the environment (`env_clear`) and set their own variables.
    cmd.env("HOME", iofs)
        .env("FN_LISTENER", format!("unix:{}", link.display()))
        .env("FN_FORMAT", "http-stream")
        .env("FN_APP_ID", "ocid1.fnapp.oc1.iad.bench")
        .env("FN_FN_ID", "ocid1.fnfunc.oc1.iad.bench")
        .env("FN_MEMORY", "256")
        .env("FN_TYPE", "sync")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(log).context("creating a log file")?);
    let started = Instant::now();
    let mut child = cmd.spawn().context("spawning")?;
    let result = first_answer(&mut child, &link, started, &deadline, path);
    // SIGKILL: the next run starts from nothing; nothing here waits for a graceful stop.
    let _ = child.kill();
    let _ = child.wait();
    result.map_err(|e| {
        let log = std::fs::read_to_string(log).unwrap_or_default();
        anyhow!("{e:#}; its stderr:\n{}", tail(&log, 20))
    })
}

/// Waits for the symlink at `link`, then sends the invocation and reads its answer.
fn first_answer(
    child: &mut Child,
    link: &Path,
    started: Instant,
    deadline: &str,
    path: &str,
) -> Result<Sample> {
    loop {
        if std::fs::symlink_metadata(link).is_ok() {
            break;
        }
        if let Some(status) = child.try_wait().context("waiting")? {
            bail!("exited with {status} before binding its socket");
        }
        if started.elapsed() > START_TIMEOUT {
            bail!("no socket after {START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    let socket = started.elapsed();
    let stream = UnixStream::connect(link).context("connecting to the socket")?;
    stream
        .set_read_timeout(Some(START_TIMEOUT))
        .context("setting a timeout")?;
    let mut conn = Conn::new(stream);
    let r = conn.request(
        "POST",
        "/call",
        &[
            ("fn-call-id", "01BENCHCOLDSTART0000000000"),
            ("fn-deadline", deadline),
            ("fn-intent", "httprequest"),
            ("fn-invoke-type", "sync"),
            ("fn-http-method", "GET"),
            ("fn-http-request-url", path),
            ("fn-http-h-accept", "application/json"),
        ],
        b"",
    )?;
    let answer = started.elapsed();
    check_call(&r)?;
    Ok(Sample { socket, answer })
}

/// The socket answers 200 and, when the FDK says it, the function's status is 200.
fn check_call(r: &Response) -> Result<()> {
    let inner = r.header("fn-http-status").unwrap_or("200");
    if r.status != 200 || inner != "200" {
        bail!(
            "the call answered {} (Fn-Http-Status {inner}): {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    Ok(())
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The Python FDK's `fdk` console script, or why there is none.
fn python_fdk() -> Result<PathBuf, String> {
    let path = match std::env::var_os("FLEETCTL_BENCH_FDK") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/fdk"),
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "no Python FDK at {} (`cargo xtask setup` installs it into .venv; FLEETCTL_BENCH_FDK names another)",
            path.display()
        ))
    }
}

/// `runs` cold starts of each side, interleaved (so a change of the machine's load touches
/// both), after one warm-up of each (the page cache); then as many of the Rust side to its
/// first [`FIRST_FLEET_REQUEST`].
pub fn cold_starts(bins: &Binaries, fleet: &Fleet, runs: usize) -> Result<ColdStarts> {
    let work = tempfile::tempdir().context("creating a temporary directory")?;
    let fdk = python_fdk();
    let func_dir = work.path().join("func");
    std::fs::create_dir(&func_dir).context("creating the function's directory")?;
    std::fs::write(func_dir.join("func.py"), FUNC_PY).context("writing func.py")?;
    let python_version = match &fdk {
        Ok(fdk) => fdk
            .parent()
            .map(|bin| bin.join("python"))
            .and_then(|py| Command::new(py).arg("--version").output().ok())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    let rust_cmd = || {
        let mut cmd = Command::new(&bins.function);
        cmd.env_clear()
            .env("FLEETCTL_CONFIG", &fleet.fleet_file)
            .env("FLEETCTL_API_TOKEN", TOKEN)
            .env("FLEETCTL_LOG_FORMAT", "json");
        cmd
    };
    let python_cmd = |fdk: &Path| {
        let mut cmd = Command::new(fdk);
        cmd.env_clear()
            .args(["func.py", "handler"])
            .current_dir(&func_dir);
        cmd
    };
    let mut rust = Vec::new();
    let mut rust_fleet = Vec::new();
    let mut python: Result<Vec<Sample>, String> = fdk.clone().map(|_| Vec::new());
    for i in 0..=runs {
        let run = tempfile::tempdir_in(work.path()).context("creating a run directory")?;
        let iofs = run.path().join("iofs");
        std::fs::create_dir(&iofs).context("creating iofs")?;
        let s = cold_start(
            rust_cmd(),
            &iofs,
            &run.path().join("rust.log"),
            FIRST_REQUEST,
        )
        .context("fleetctl-function's cold start")?;
        if i > 0 {
            rust.push(s);
        }
        if let (Ok(fdk), true) = (&fdk, python.is_ok()) {
            let iofs = run.path().join("iofs-py");
            std::fs::create_dir(&iofs).context("creating iofs")?;
            let sample = cold_start(
                python_cmd(fdk),
                &iofs,
                &run.path().join("python.log"),
                FIRST_REQUEST,
            );
            match (sample, &mut python) {
                (Ok(s), Ok(samples)) if i > 0 => samples.push(s),
                (Ok(_), _) => {}
                (Err(e), _) => python = Err(format!("the Python FDK failed: {e:#}")),
            }
        }
    }
    for i in 0..=runs {
        let run = tempfile::tempdir_in(work.path()).context("creating a run directory")?;
        let iofs = run.path().join("iofs");
        std::fs::create_dir(&iofs).context("creating iofs")?;
        let s = cold_start(
            rust_cmd(),
            &iofs,
            &run.path().join("rust.log"),
            FIRST_FLEET_REQUEST,
        )
        .context("fleetctl-function's cold start to its first fleet request")?;
        if i > 0 {
            rust_fleet.push(s);
        }
    }
    let spread = |v: &[Sample]| ColdStart {
        socket: Spread::of(v.iter().map(|s| s.socket).collect()),
        answer: Spread::of(v.iter().map(|s| s.answer).collect()),
    };
    Ok(ColdStarts {
        runs,
        rust: spread(&rust),
        rust_fleet: spread(&rust_fleet),
        python: python.map(|v| spread(&v)),
        python_version,
    })
}

/// A server process and the address it answers on; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn connect(&self) -> Result<Conn<TcpStream>> {
        let stream = TcpStream::connect(self.addr).context("connecting")?;
        stream.set_nodelay(true).context("TCP_NODELAY")?;
        stream
            .set_read_timeout(Some(START_TIMEOUT))
            .context("setting a timeout")?;
        Ok(Conn::new(stream))
    }
}

/// A free port on loopback (bound and released: the server binds it a moment later).
fn free_port() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    l.local_addr().context("finding a free port")
}

/// `fleetctl-function --listen` (HTTP mode) on the fleet, once it accepts connections.
fn function_http(bins: &Binaries, fleet: &Fleet, log: &Path) -> Result<Server> {
    let addr = free_port()?;
    let child = Command::new(&bins.function)
        .args(["--listen", &addr.to_string()])
        .env_clear()
        .env("HOME", fleet.dir.path())
        .env("FLEETCTL_CONFIG", &fleet.fleet_file)
        .env("FLEETCTL_API_TOKEN", TOKEN)
        .env("FLEETCTL_LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(log).context("creating a log file")?)
        .spawn()
        .context("spawning fleetctl-function")?;
    let mut server = Server { child, addr };
    let started = Instant::now();
    while TcpStream::connect(addr).is_err() {
        if let Some(status) = server.child.try_wait().context("waiting")? {
            bail!(
                "fleetctl-function exited with {status}:\n{}",
                tail(&std::fs::read_to_string(log).unwrap_or_default(), 20)
            );
        }
        if started.elapsed() > START_TIMEOUT {
            bail!("fleetctl-function does not listen after {START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(server)
}

/// `fleetctl serve` (the control loop every 2 s) on the fleet, once it says where it listens.
fn fleetctl_serve(bins: &Binaries, fleet: &Fleet, log: &Path) -> Result<Server> {
    let mut child = Command::new(&bins.fleetctl)
        .arg("--config")
        .arg(&fleet.fleet_file)
        .args(["--state", &fleet.state_url])
        .args(["serve", "--http", "127.0.0.1:0", "--reconcile-every", "2s"])
        .env_clear()
        .env("HOME", fleet.dir.path())
        .env("FLEETCTL_API_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(log).context("creating a log file")?)
        .spawn()
        .context("spawning fleetctl serve")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().transpose().context("reading serve's output")?;
    // Keep draining its stdout so that it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let addr = first
        .as_deref()
        .and_then(|l| l.strip_prefix("fleetctl serve: listening on http://"))
        .and_then(|r| r.split(['/', ' ']).next())
        .and_then(|a| a.parse::<SocketAddr>().ok());
    let server = Server {
        child,
        addr: addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
    };
    if addr.is_none() {
        bail!(
            "fleetctl serve said {first:?} first; its stderr:\n{}",
            tail(&std::fs::read_to_string(log).unwrap_or_default(), 20)
        );
    }
    Ok(server)
}

/// `VmHWM` and `VmRSS` of a process, in bytes.
fn memory_of(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        let kb: u64 = line
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .with_context(|| format!("parsing {name}{line}"))?;
        Ok(kb * 1024)
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}

/// User + system CPU time of a process so far (`/proc/PID/stat`).
fn cpu_of(pid: u32) -> Result<Duration> {
    let (user, system) = crate::measure::user_and_system_of(&pid.to_string())?;
    Ok(user + system)
}

/// Peak memory of the function in HTTP mode.
pub struct Memory {
    /// `VmHWM` after start, the fleet opened and one reconcile step.
    pub after_step: u64,
    /// `VmHWM` after the requests as well.
    pub peak: u64,
    /// `VmRSS` at the end.
    pub rss_end: u64,
    pub requests: usize,
    pub paths: Vec<String>,
}

/// What the 1000 requests ask for, in turn.
const MIX: [(&str, &str); 5] = [
    ("/metrics", "application/json"),
    ("/metrics", "text/plain;version=0.0.4"),
    ("/healthz", "application/json"),
    ("/control", "application/json"),
    ("/status", "text/plain"),
];

pub fn memory(bins: &Binaries, fleet: &Fleet, requests: usize) -> Result<Memory> {
    let log = fleet.dir.path().join("function-memory.log");
    let server = function_http(bins, fleet, &log)?;
    let mut conn = server.connect()?;
    let auth = format!("Bearer {TOKEN}");
    let r = conn.request("POST", "/reconcile", &[("authorization", &auth)], b"")?;
    if r.status != 200 {
        bail!(
            "POST /reconcile answered {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    let (after_step, _) = memory_of(server.pid())?;
    for i in 0..requests {
        let (path, accept) = MIX[i % MIX.len()];
        let r = conn.request("GET", path, &[("accept", accept)], b"")?;
        if r.status != 200 {
            bail!(
                "GET {path} answered {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
    }
    let (peak, rss_end) = memory_of(server.pid())?;
    Ok(Memory {
        after_step,
        peak,
        rss_end,
        requests,
        paths: MIX.iter().map(|(p, a)| format!("{p} ({a})")).collect(),
    })
}

/// Requests per second of one server.
pub struct Throughput {
    pub requests: u64,
    pub elapsed: Duration,
    /// The server's own CPU time over the run.
    pub server_cpu: Duration,
}

impl Throughput {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// `clients` threads, each with a kept-alive connection, asking `GET /metrics` (JSON) for
/// `length`.
fn throughput(server: &Server, clients: usize, length: Duration) -> Result<Throughput> {
    // Warm: the fleet opened, the view cached.
    let mut warm = server.connect()?;
    for _ in 0..50 {
        let r = warm.request("GET", "/metrics", &[], b"")?;
        if r.status != 200 {
            bail!("GET /metrics answered {}", r.status);
        }
    }
    drop(warm);
    let stop = Arc::new(AtomicBool::new(false));
    let mut conns = Vec::new();
    for _ in 0..clients {
        conns.push(server.connect()?);
    }
    let cpu0 = cpu_of(server.pid())?;
    let started = Instant::now();
    let threads: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || -> Result<u64> {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let r =
                        conn.request("GET", "/metrics", &[("accept", "application/json")], b"")?;
                    if r.status != 200 {
                        bail!("GET /metrics answered {}", r.status);
                    }
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    std::thread::sleep(length);
    stop.store(true, Ordering::Relaxed);
    let mut requests = 0;
    for t in threads {
        requests += t
            .join()
            .map_err(|_| anyhow!("a client thread panicked"))??;
    }
    let elapsed = started.elapsed();
    let server_cpu = cpu_of(server.pid())?.saturating_sub(cpu0);
    Ok(Throughput {
        requests,
        elapsed,
        server_cpu,
    })
}

pub struct Throughputs {
    pub clients: usize,
    pub function: Throughput,
    pub serve: Result<Throughput, String>,
}

pub fn throughputs(
    bins: &Binaries,
    fleet: &Fleet,
    clients: usize,
    length: Duration,
) -> Result<Throughputs> {
    let function = {
        let log = fleet.dir.path().join("function-rps.log");
        let server = function_http(bins, fleet, &log)?;
        throughput(&server, clients, length).context("fleetctl-function --listen")?
    };
    let log = fleet.dir.path().join("serve-rps.log");
    let serve = fleetctl_serve(bins, fleet, &log)
        .and_then(|server| throughput(&server, clients, length))
        .map_err(|e| format!("{e:#}"));
    Ok(Throughputs {
        clients,
        function,
        serve,
    })
}

/// A release binary's size, and what it carries.
pub struct Size {
    pub name: &'static str,
    pub bytes: u64,
    /// It has a symbol table (`.symtab`).
    pub symbols: bool,
    /// It has DWARF (`.debug_*` sections).
    pub debuginfo: bool,
    /// After `strip` (as the Dockerfile ships it), when `strip` is on PATH.
    pub stripped: Option<u64>,
}

pub fn sizes(bins: &Binaries) -> Result<Vec<Size>> {
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let mut out = Vec::new();
    for (name, path) in [
        ("fleetctl (--no-default-features)", &bins.fleetctl),
        ("fleetctl-function", &bins.function),
    ] {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let sections = elf_sections(&bytes).with_context(|| format!("{}", path.display()))?;
        let copy = tmp.path().join("stripped");
        let stripped = Command::new("strip")
            .arg("-o")
            .arg(&copy)
            .arg(path)
            .status()
            .ok()
            .filter(|s| s.success())
            .and_then(|_| std::fs::metadata(&copy).ok())
            .map(|m| m.len());
        out.push(Size {
            name,
            bytes: bytes.len() as u64,
            symbols: sections.iter().any(|s| s == ".symtab"),
            debuginfo: sections.iter().any(|s| s.starts_with(".debug_")),
            stripped,
        });
    }
    Ok(out)
}

/// The section names of a little-endian ELF64 file.
fn elf_sections(b: &[u8]) -> Result<Vec<String>> {
    let u16_at = |o: usize| -> Result<usize> {
        b.get(o..o + 2)
            .map(|s| usize::from(u16::from_le_bytes([s[0], s[1]])))
            .context("a truncated ELF file")
    };
    let u32_at = |o: usize| -> Result<usize> {
        b.get(o..o + 4)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map(|a| u32::from_le_bytes(a) as usize)
            .context("a truncated ELF file")
    };
    let u64_at = |o: usize| -> Result<usize> {
        b.get(o..o + 8)
            .and_then(|s| <[u8; 8]>::try_from(s).ok())
            .and_then(|a| usize::try_from(u64::from_le_bytes(a)).ok())
            .context("a truncated ELF file")
    };
    if b.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
        bail!("not a little-endian ELF64 file");
    }
    let (shoff, shentsize, shnum, shstrndx) =
        (u64_at(0x28)?, u16_at(0x3a)?, u16_at(0x3c)?, u16_at(0x3e)?);
    let header = |i: usize| shoff + i * shentsize;
    let strtab = u64_at(header(shstrndx) + 0x18)?;
    let mut names = Vec::with_capacity(shnum);
    for i in 0..shnum {
        let start = strtab + u32_at(header(i))?;
        let len = b
            .get(start..)
            .and_then(|s| s.iter().position(|&c| c == 0))
            .context("a malformed section name")?;
        names.push(String::from_utf8_lossy(&b[start..start + len]).into_owned());
    }
    Ok(names)
}
