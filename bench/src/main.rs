//! fleetctl's benchmarks, run by `cargo xtask bench` (release mode). Figures, not tests: every
//! number is printed beside its target, and nothing here fails because a target is missed.
//!
//! ```text
//! fleetctl-bench [all|rollout|calls|steady|ledger|function] [--rollout-scale F] [--fleet N]
//!                [--instant-lb] [--runs N] [--requests N] [--clients N] [--seconds S]
//! ```
//!
//! - `rollout`: a rolling replace of 20 instances behind the load balancer for maxSurge 1, 2
//!   and 5 (maxUnavailable 0) against the time-scaled simulator, against the bound
//!   ceil(N/s) x (launch-to-healthy) + drain;
//! - `calls`: OCI calls of one steady-state step for fleets of 10, 100 and 1000;
//! - `function`: the HTTP face (issue 10): `fleetctl-function`'s cold start over the Fn socket
//!   beside the Python FDK's hello function, its peak RSS serving 1000 requests, the release
//!   binaries' sizes, `/metrics` requests per second (function and `fleetctl serve`);
//! - `steady`: one steady step of a 10,000-instance fleet in a process of its own (CPU time,
//!   peak RSS, calls), the planner alone on its ledger, the ledger's read and write.
//!
//! `--instant-lb` runs the rollout with load balancer work requests that finish at once (a
//! diagnostic: how much of the rollout waits for them). `child-step` and `child-planner` are the child processes `steady` runs (so that their peak
//! memory is theirs alone).

mod calls;
/// The demo fleet file's writer, shared with `fleetctl demo`.
#[path = "../../cli/src/demo_fleet.rs"]
#[allow(dead_code)] // the benchmarks use the text only
mod demo_fleet;
mod function;
mod http1;
mod ledger;
mod measure;
mod rollout;
mod steady;
mod world;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::measure::{mib, ms};

/// The rollout runs at this time scale: a simulated minute takes 3 real seconds, so the real
/// cost of a step (a few ms) is a tenth of a simulated second or less.
const ROLLOUT_SCALE: f64 = 0.05;
/// Bringing up large fleets: only the counts matter, so as fast as the simulator goes.
const FLEET_SCALE: f64 = 0.001;
/// `drainTimeout` of the rollout, simulated.
const DRAIN: Duration = Duration::from_secs(5);
const SURGES: [u32; 3] = [1, 2, 5];
const CALL_FLEETS: [u32; 3] = [10, 100, 1000];

struct Options {
    section: String,
    rollout_scale: f64,
    fleet: u32,
    instant_lb: bool,
    /// Cold starts of each side (`function`).
    runs: usize,
    /// Requests of the memory figure (`function`).
    requests: usize,
    /// Concurrent clients and seconds of the requests-per-second figure (`function`).
    clients: usize,
    seconds: f64,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("child-step") => steady::child_step(&args[1..]),
        Some("child-planner") => steady::child_planner(&args[1..]),
        _ => options(&args).and_then(|o| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?
                .block_on(bench(o))
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleetctl-bench: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn options(args: &[String]) -> Result<Options> {
    let mut o = Options {
        section: "all".into(),
        rollout_scale: ROLLOUT_SCALE,
        fleet: 10_000,
        instant_lb: false,
        runs: 21,
        requests: 1000,
        clients: 4,
        seconds: 5.0,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "all" | "rollout" | "calls" | "steady" | "ledger" | "function" => {
                o.section = a.clone();
            }
            "--instant-lb" => o.instant_lb = true,
            "--rollout-scale" => {
                o.rollout_scale = it
                    .next()
                    .context("--rollout-scale needs a value")?
                    .parse()
                    .context("--rollout-scale")?;
            }
            "--runs" => o.runs = number(it.next(), "--runs")?,
            "--requests" => o.requests = number(it.next(), "--requests")?,
            "--clients" => o.clients = number(it.next(), "--clients")?,
            "--seconds" => o.seconds = number(it.next(), "--seconds")?,
            "--fleet" => {
                o.fleet = it
                    .next()
                    .context("--fleet needs a value")?
                    .parse()
                    .context("--fleet")?;
            }
            other => bail!(
                "unknown argument {other:?}; usage: fleetctl-bench [all|rollout|calls|steady|ledger|function] [--rollout-scale F] [--fleet N] [--instant-lb] [--runs N] [--requests N] [--clients N] [--seconds S]"
            ),
        }
    }
    if o.runs == 0 || o.clients == 0 {
        bail!("--runs and --clients must be at least 1");
    }
    Ok(o)
}

fn number<T: std::str::FromStr>(value: Option<&String>, flag: &str) -> Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    value
        .with_context(|| format!("{flag} needs a value"))?
        .parse()
        .with_context(|| flag.to_string())
}

/// One verdict line of the summary.
struct Verdict {
    what: String,
    figure: String,
    met: bool,
}

async fn bench(o: Options) -> Result<()> {
    let all = o.section == "all";
    let mut verdicts = Vec::new();
    if all || o.section == "rollout" {
        rollouts(&o, &mut verdicts).await?;
    }
    if all || o.section == "calls" {
        call_counts(&mut verdicts).await?;
    }
    if all || o.section == "steady" {
        steady_step(&o, &mut verdicts).await?;
    }
    if all || o.section == "ledger" {
        ledger_alone(&o, &mut verdicts).await?;
    }
    if all || o.section == "function" {
        http_face(&o, &mut verdicts).await?;
    }
    println!();
    println!("== targets");
    for v in &verdicts {
        println!(
            "  [{}] {}: {}",
            if v.met { "met" } else { "MISSED" },
            v.what,
            v.figure
        );
    }
    Ok(())
}

async fn rollouts(o: &Options, verdicts: &mut Vec<Verdict>) -> Result<()> {
    println!(
        "== rolling replace of {} instances (maxUnavailable 0, minReadySeconds 0, drainTimeout {:?}), time scale {}{}",
        rollout::FLEET,
        DRAIN,
        o.rollout_scale,
        if o.instant_lb {
            ", load balancer work requests instant (diagnostic)"
        } else {
            ""
        }
    );
    println!(
        "   simulated seconds (real / time scale); bound = ceil(N/s) x launch-to-healthy + drain"
    );
    println!(
        "  {:>5}  {:>17}  {:>9}  {:>9}  {:>13}  {:>6}  {:>13}",
        "surge",
        "launch-to-healthy",
        "bound",
        "elapsed",
        "elapsed/bound",
        "steps",
        "mean step (ms)"
    );
    let mut results = Vec::new();
    for s in SURGES {
        let f = rollout::run(o.rollout_scale, s, DRAIN, o.instant_lb)
            .await
            .with_context(|| format!("rollout with maxSurge {s}"))?;
        println!(
            "  {:>5}  {:>16.1}s  {:>8.1}s  {:>8.1}s  {:>13.3}  {:>6}  {:>13.2}",
            s,
            f.launch_to_healthy.as_secs_f64(),
            f.bound.as_secs_f64(),
            f.elapsed.as_secs_f64(),
            f.ratio(),
            f.steps,
            ms(f.mean_step)
        );
        results.push(f);
    }
    if let Some(phases) = results.first().and_then(|f| f.phases.clone()) {
        println!("  maxSurge 1, where each replacement's time goes (mean, simulated):");
        for (what, d) in phases {
            println!("    {:>6.1}s  {what}", d.as_secs_f64());
        }
    }
    for f in &results {
        verdicts.push(Verdict {
            what: format!("rollout maxSurge {} within 1.10x of the bound", f.surge),
            figure: format!(
                "{:.3}x ({:.1}s against {:.1}s)",
                f.ratio(),
                f.elapsed.as_secs_f64(),
                f.bound.as_secs_f64()
            ),
            met: f.ratio() <= 1.10,
        });
    }
    if let (Some(one), Some(five)) = (
        results.iter().find(|f| f.surge == 1),
        results.iter().find(|f| f.surge == 5),
    ) {
        let speedup = one.elapsed.as_secs_f64() / five.elapsed.as_secs_f64();
        println!("  maxSurge 5 is {speedup:.2}x faster than maxSurge 1");
        verdicts.push(Verdict {
            what: "rollout maxSurge 5 at least 4x faster than maxSurge 1".into(),
            figure: format!("{speedup:.2}x"),
            met: speedup >= 4.0,
        });
    }
    Ok(())
}

async fn call_counts(verdicts: &mut Vec<Verdict>) -> Result<()> {
    println!();
    println!("== OCI calls of one steady-state step (control loop, fleet converged behind the LB)");
    println!(
        "  {:>6}  {:>5}  {:>14}  {:>16}  {:>18}  calls by operation",
        "fleet", "calls", "step real (ms)", "bring-up real (s)", "launch ms first/last"
    );
    let mut totals = Vec::new();
    for n in CALL_FLEETS {
        let f = calls::run(n, FLEET_SCALE)
            .await
            .with_context(|| format!("calls of a fleet of {n}"))?;
        println!(
            "  {:>6}  {:>5}  {:>14.1}  {:>16.1}  {:>8.2} / {:<7.2}  {:?}",
            n,
            f.total(),
            ms(f.step),
            f.bring_up.as_secs_f64(),
            f.launch_ms_first,
            f.launch_ms_last,
            f.calls
        );
        totals.push((
            f.total(),
            f.calls.get("ListInstances").copied().unwrap_or(0),
        ));
    }
    let max = totals.iter().map(|t| t.0).max().unwrap_or(0);
    let constant = |v: Vec<usize>| v.windows(2).all(|w| w[0] == w[1]);
    verdicts.push(Verdict {
        what: "steady-step OCI calls constant in fleet size, at most 5".into(),
        figure: format!(
            "{:?} for fleets of {CALL_FLEETS:?}",
            totals.iter().map(|t| t.0).collect::<Vec<_>>()
        ),
        met: constant(totals.iter().map(|t| t.0).collect()) && max <= 5,
    });
    verdicts.push(Verdict {
        what: "steady-step OCI calls other than ListInstances pages (one per 1000 instances in the compartment) constant".into(),
        figure: format!(
            "{:?}",
            totals.iter().map(|t| t.0 - t.1).collect::<Vec<_>>()
        ),
        met: constant(totals.iter().map(|t| t.0 - t.1).collect()),
    });
    Ok(())
}

async fn ledger_alone(o: &Options, verdicts: &mut Vec<Verdict>) -> Result<()> {
    println!();
    println!(
        "== the ledger alone: {} running records, the finished scale that launched them, 200 events",
        o.fleet
    );
    let f = ledger::run(o.fleet).await?;
    let total = f.to_json + f.from_json;
    println!(
        "  {} records, {:.1} MiB: serialize {:.1} ms + parse {:.1} ms = {:.1} ms (medians of 11)",
        f.records,
        mib(f.bytes as u64),
        ms(f.to_json),
        ms(f.from_json),
        ms(total)
    );
    println!(
        "  through a file:// store: conditional save {:.2} ms + load {:.2} ms = {:.2} ms real ({:.2} ms CPU: the rest waits for fsync; medians of 11)",
        ms(f.store_save),
        ms(f.store_load),
        ms(f.store_save + f.store_load),
        ms(f.store_cpu)
    );
    verdicts.push(Verdict {
        what: format!(
            "{}-record ledger read and written < 20 ms (synthetic)",
            f.records
        ),
        figure: format!("{:.1} ms", ms(total)),
        met: total < Duration::from_millis(20),
    });
    Ok(())
}

async fn steady_step(o: &Options, verdicts: &mut Vec<Verdict>) -> Result<()> {
    println!();
    println!("== one steady step of a fleet of {}", o.fleet);
    let f = steady::run(o.fleet, FLEET_SCALE)
        .await
        .with_context(|| format!("the steady step of a fleet of {}", o.fleet))?;
    steady::print(&f);
    let n = o.fleet;
    verdicts.push(Verdict {
        what: format!("fleet of {n}: planner CPU under 50 ms"),
        figure: format!("{:.2} ms", ms(f.plan_cpu)),
        met: f.plan_cpu < Duration::from_millis(50),
    });
    verdicts.push(Verdict {
        what: format!(
            "fleet of {n}: a whole steady step's CPU (HTTP client, JSON, planner, ledger) under 50 ms, in a running process"
        ),
        figure: format!(
            "{:.1} ms, the median of {} steps ({:.1}-{:.1} ms; {:.1} ms for a new process's first step)",
            ms(f.child.warm_cpu),
            steady::WARM_STEPS,
            ms(f.child.warm_cpu_min),
            ms(f.child.warm_cpu_max),
            ms(f.child.step_cpu)
        ),
        met: f.child.warm_cpu < Duration::from_millis(50),
    });
    verdicts.push(Verdict {
        what: format!("fleet of {n}: peak RSS of the step's process under 50 MiB"),
        figure: format!(
            "{:.1} MiB (planner-only process {:.1} MiB)",
            mib(f.child.peak_rss),
            mib(f.plan_rss)
        ),
        met: f.child.peak_rss < 50 * 1024 * 1024,
    });
    let ledger = f.to_json + f.from_json;
    let store = f.store_save + f.store_load;
    verdicts.push(Verdict {
        what: format!("{}-record ledger written and read under 20 ms", f.records),
        figure: format!(
            "{:.2} ms in memory, {:.2} ms through the file store ({:.2} ms of it CPU)",
            ms(ledger),
            ms(store),
            ms(f.store_cpu)
        ),
        met: ledger.max(store) < Duration::from_millis(20),
    });
    // The calls target (at most 5) is the issue's for fleets of 10, 100 and 1000 (`calls`);
    // past 1000 instances ListInstances needs a page per 1000 (its largest page), so the
    // least a step can make is those pages, ListBackends and GetBackendSetHealth.
    let pages = n.div_ceil(1000) as usize;
    verdicts.push(Verdict {
        what: format!(
            "fleet of {n}: steady-step OCI calls at most {} ({pages} ListInstances pages of 1000, ListBackends, GetBackendSetHealth)",
            pages + 2
        ),
        figure: format!("{}", f.bring_up.total()),
        met: f.bring_up.total() <= pages + 2,
    });
    Ok(())
}

/// The targets of issue 10, "How it is checked".
const COLD_START_TARGET: Duration = Duration::from_millis(4);
const COLD_START_SPEEDUP: f64 = 15.0;
/// 20 MB read strictly (10^6 bytes): 19.07 MiB.
const MB20: u64 = 20_000_000;

async fn http_face(o: &Options, verdicts: &mut Vec<Verdict>) -> Result<()> {
    println!();
    println!(
        "== the HTTP face: the dist fleetctl-function and fleetctl against the simulator (demo fleet, config-file auth, file:// ledger)"
    );
    let bins = function::Binaries::dist()?;
    let fleet = function::Fleet::start().await?;
    let (runs, requests, clients) = (o.runs, o.requests, o.clients);
    let length = Duration::from_secs_f64(o.seconds);
    // Blocking clients on a thread of their own; the simulator goes on on the runtime.
    let (cold, memory, sizes, rps) = tokio::task::spawn_blocking(move || -> Result<_> {
        let cold = function::cold_starts(&bins, &fleet, runs)?;
        let memory = function::memory(&bins, &fleet, requests)?;
        let sizes = function::sizes(&bins)?;
        let rps = function::throughputs(&bins, &fleet, clients, length)?;
        Ok((cold, memory, sizes, rps))
    })
    .await
    .context("the benchmark's thread panicked")??;

    println!(
        "  cold start over the Fn socket: spawn to the symlink, and to the answer of a gateway-style GET {} read back; {} runs each, interleaved, after one warm-up each",
        function::FIRST_REQUEST,
        cold.runs
    );
    println!(
        "  {:<44}  {:>14}  {:>14}  {:>9}  {:>9}",
        "", "symlink median", "answer median", "min", "max"
    );
    let row = |what: &str, c: &function::ColdStart| {
        println!(
            "  {:<44}  {:>11.2} ms  {:>11.2} ms  {:>6.2} ms  {:>6.2} ms",
            what,
            ms(c.socket.median),
            ms(c.answer.median),
            ms(c.answer.min),
            ms(c.answer.max)
        );
    };
    row("fleetctl-function (Rust)", &cold.rust);
    let rust = cold.rust.answer.median;
    verdicts.push(Verdict {
        what: format!(
            "function cold start (Fn socket, first answer) at most {} ms",
            COLD_START_TARGET.as_millis()
        ),
        figure: format!("{:.2} ms (median of {})", ms(rust), cold.runs),
        met: rust <= COLD_START_TARGET,
    });
    match &cold.python {
        Ok(py) => {
            row(
                &format!("Python FDK hello (fdk, {})", cold.python_version),
                py,
            );
            let speedup = py.answer.median.as_secs_f64() / rust.as_secs_f64();
            println!("  fleetctl-function answers first {speedup:.1}x sooner");
            verdicts.push(Verdict {
                what: format!(
                    "function cold start at least {COLD_START_SPEEDUP}x faster than the Python FDK's hello function"
                ),
                figure: format!(
                    "{speedup:.1}x ({:.2} ms against {:.2} ms)",
                    ms(rust),
                    ms(py.answer.median)
                ),
                met: speedup >= COLD_START_SPEEDUP,
            });
        }
        Err(why) => {
            println!("  Python FDK: not measured: {why}");
            verdicts.push(Verdict {
                what: format!(
                    "function cold start at least {COLD_START_SPEEDUP}x faster than the Python FDK's hello function"
                ),
                figure: format!("not measured: {why}"),
                met: false,
            });
        }
    }

    row(
        &format!(
            "fleetctl-function, first GET {}",
            function::FIRST_FLEET_REQUEST
        ),
        &cold.rust_fleet,
    );
    println!(
        "  (the first request that needs the fleet: fleet file, credentials, HTTPS client, ledger; no target)"
    );

    println!();
    println!(
        "  peak RSS of fleetctl-function --listen (HTTP mode): one POST /reconcile, then {} GETs on one kept-alive connection, in turn {}",
        memory.requests,
        memory.paths.join(", ")
    );
    println!(
        "    VmHWM {:.1} MiB after start and the step, {:.1} MiB after the requests (VmRSS then {:.1} MiB)",
        mib(memory.after_step),
        mib(memory.peak),
        mib(memory.rss_end)
    );
    verdicts.push(Verdict {
        what: format!(
            "function peak RSS serving {} requests under 20 MB",
            memory.requests
        ),
        figure: format!("{:.1} MiB ({} bytes)", mib(memory.peak), memory.peak),
        met: memory.peak < MB20,
    });

    println!();
    println!(
        "  shipped binaries (cargo build --profile dist --no-default-features -p fleetctl -p fleetctl-function, as the Dockerfile)"
    );
    for s in &sizes {
        let carries = match (s.symbols, s.debuginfo) {
            (false, false) => "stripped",
            (true, false) => "symbols, no debuginfo",
            (_, true) => "debuginfo",
        };
        let stripped = s
            .stripped
            .map(|b| format!(", {:.1} MiB after strip (the image's)", mib(b)))
            .unwrap_or_default();
        println!(
            "    {:<36} {:>6.1} MiB ({} bytes; {carries}){stripped}",
            s.name,
            mib(s.bytes),
            s.bytes
        );
        verdicts.push(Verdict {
            what: format!("dist {} under 20 MB", s.name),
            figure: format!("{:.1} MiB as built ({carries}){stripped}", mib(s.bytes)),
            met: s.bytes < MB20,
        });
    }

    println!();
    println!(
        "  GET /metrics (JSON) on loopback: {} kept-alive clients (threads of this process) for {:.0?}; no target",
        rps.clients, length
    );
    let line = |what: &str, t: &function::Throughput| {
        println!(
            "    {:<34} {:>8.0} requests/s  ({} requests; server CPU {:.2} s = {:.0} requests per CPU-second)",
            what,
            t.per_second(),
            t.requests,
            t.server_cpu.as_secs_f64(),
            t.requests as f64 / t.server_cpu.as_secs_f64().max(1e-9)
        );
    };
    line("fleetctl-function --listen", &rps.function);
    match &rps.serve {
        Ok(t) => line("fleetctl serve (control loop 2 s)", t),
        Err(why) => println!("    fleetctl serve: not measured: {why}"),
    }
    Ok(())
}
