//! `cargo xtask soak`: the fault, crash and concurrency suites of issue 12 in their long form:
//! more seeds, more kills, every fault kind at every rate and a higher top rate, more rounds
//! of racing doors on every store, bounded in time.
//!
//! Each round runs, with the round's seed, the fault suite (`fleetctl-core`'s `ops` test
//! binary, `faults::`) with every kind over all its rates several times, then the crash suite
//! (`fleetctl`'s CLI tests, `crash::`) with many more kills per scenario, then the concurrency
//! suite (`race::`: function doors and servers sharing a file, s3 and oci store) with more
//! rounds. Rounds start while
//! the time bound allows (a round already started runs to its end: each suite has its own
//! deadlines). Everything talks to simulators on 127.0.0.1: proxies are removed from the
//! children's environment. At the end it prints every suite's summary line: operations run,
//! faults injected, kills survived, invariant violations 0.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{cargo, root, show, step};

const USAGE: &str =
    "usage: cargo xtask soak [--minutes M] [--seed S] [--kills N] [--fault-rounds N]
  --minutes M       start no round after M minutes (default 30)
  --seed S          the first round's seed (default: from the clock); round n uses S + n
  --kills N         kills per crash scenario (default 150)
  --fault-rounds N  times each fault kind runs each operation at each rate (default 3)
  --race-rounds N   rounds of racing requests per store in the concurrency suite (default 6)
";

struct Options {
    minutes: u64,
    seed: u64,
    kills: u32,
    fault_rounds: u32,
    race_rounds: u32,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        minutes: 30,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1),
        kills: 150,
        fault_rounds: 3,
        race_rounds: 6,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || -> Result<u64> {
            value
                .parse()
                .with_context(|| format!("{flag} {value}: not a whole number\n{USAGE}"))
        };
        match flag.as_str() {
            "--minutes" => o.minutes = number()?,
            "--seed" => o.seed = number()?,
            "--kills" => o.kills = u32::try_from(number()?)?,
            "--fault-rounds" => o.fault_rounds = u32::try_from(number()?)?,
            "--race-rounds" => o.race_rounds = u32::try_from(number()?)?,
            _ => bail!("unknown soak option {flag}\n{USAGE}"),
        }
    }
    Ok(o)
}

/// Runs `cmd` with its stdout shown as it comes; returns the suites' summary lines.
fn run_collecting(cmd: &mut Command) -> Result<Vec<String>> {
    let shown = show(cmd);
    for var in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_PROXY", "127.0.0.1,localhost")
        .env("CARGO_INCREMENTAL", "0")
        .stdout(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("could not start `{shown}`"))?;
    let mut summaries = Vec::new();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines() {
            let line = line.context("reading the tests' output")?;
            println!("{line}");
            if line.contains("invariant violations 0") {
                summaries.push(line);
            }
        }
    }
    let status = child.wait().context("waiting for the tests")?;
    if !status.success() {
        bail!("`{shown}` exited with {status}; the failure above names the seed that replays it");
    }
    Ok(summaries)
}

pub fn soak(args: &[String]) -> Result<()> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return Ok(());
    }
    let o = parse(args)?;
    let root = root();
    let started = Instant::now();
    let bound = Duration::from_secs(o.minutes * 60);
    step("build the suites", || {
        crate::run(
            cargo()
                .args(["test", "--no-run", "-p", "fleetctl-core", "--test", "ops"])
                .args(["-p", "fleetctl", "--test", "fleetctl"])
                .env("CARGO_INCREMENTAL", "0")
                .current_dir(&root),
        )?;
        // The concurrency suite starts the `fleetctl-function` binary beside `fleetctl`.
        crate::run(
            cargo()
                .args(["build", "-p", "fleetctl-function"])
                .env("CARGO_INCREMENTAL", "0")
                .current_dir(&root),
        )
    })?;
    let mut summaries = Vec::new();
    let mut round = 0u64;
    while round == 0 || started.elapsed() < bound {
        let seed = o.seed.wrapping_add(round);
        println!(
            "xtask: soak round {} (seed {seed}), {:.0?} of {} min used",
            round + 1,
            started.elapsed(),
            o.minutes
        );
        let faults = step(&format!("fault suite, seed {seed}"), || {
            run_collecting(
                cargo()
                    .args(["test", "-p", "fleetctl-core", "--test", "ops", "faults::"])
                    .args(["--", "--nocapture", "--test-threads", "2"])
                    .env("FLEETCTL_FAULT_SEED", seed.to_string())
                    .env("FLEETCTL_FAULT_ROUNDS", o.fault_rounds.to_string())
                    .env("FLEETCTL_FAULT_RATES", "0.05,0.10,0.20,0.30")
                    .current_dir(&root),
            )
        })?;
        summaries.extend(faults);
        let crashes = step(&format!("crash suite, seed {seed}"), || {
            run_collecting(
                cargo()
                    .args(["test", "-p", "fleetctl", "--test", "fleetctl", "crash::"])
                    .args(["--", "--nocapture", "--test-threads", "2"])
                    .env("FLEETCTL_CRASH_SEED", seed.to_string())
                    .env("FLEETCTL_CRASH_KILLS", o.kills.to_string())
                    .current_dir(&root),
            )
        })?;
        summaries.extend(crashes);
        let races = step(&format!("concurrency suite, seed {seed}"), || {
            run_collecting(
                cargo()
                    .args(["test", "-p", "fleetctl", "--test", "fleetctl", "race::"])
                    .args(["--", "--nocapture", "--test-threads", "3"])
                    .env("FLEETCTL_RACE_SEED", seed.to_string())
                    .env("FLEETCTL_RACE_ROUNDS", o.race_rounds.to_string())
                    .current_dir(&root),
            )
        })?;
        summaries.extend(races);
        round += 1;
    }
    println!(
        "xtask: soak: {round} round(s) in {:.0?}, every check passed:",
        started.elapsed()
    );
    for line in &summaries {
        println!("  {line}");
    }
    Ok(())
}
