//! What the benchmarks read from the process: CPU time and peak resident memory (Linux).

use std::time::Duration;

use anyhow::{Context, Result, bail};

/// CPU time of the whole process so far (every thread, user and system).
pub fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// The process's CPU time so far split into user and system (kernel) time, from
/// `/proc/self/stat` (clock ticks: 10 ms on Linux, so meaningful over many steps only).
pub fn user_and_system() -> Result<(Duration, Duration)> {
    user_and_system_of("self")
}

/// [`user_and_system`] of the process `pid` (`"self"` or a number), from `/proc/PID/stat`.
pub fn user_and_system_of(pid: &str) -> Result<(Duration, Duration)> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) may hold spaces: the fields after it follow its last ')'.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("no ')' in {path}"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `fields[0]` is field 3.
    let ticks = |n: usize| -> Result<u64> {
        fields
            .get(n - 3)
            .with_context(|| format!("a short {path}"))?
            .parse::<u64>()
            .with_context(|| format!("a field of {path}"))
    };
    let hz = rustix::param::clock_ticks_per_second().max(1);
    let of = |t: u64| Duration::from_nanos(t.saturating_mul(1_000_000_000) / hz);
    Ok((of(ticks(14)?), of(ticks(15)?)))
}

/// The process's peak resident set size in bytes (`VmHWM` of `/proc/self/status`).
pub fn peak_rss() -> Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix("VmHWM:") {
            let kb: u64 = rest
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .with_context(|| format!("parsing {line:?}"))?;
            return Ok(kb * 1024);
        }
    }
    bail!("no VmHWM line in /proc/self/status (peak RSS is measured on Linux only)")
}

/// The median of `runs` timings of `f` (wall clock and process CPU), after one warm-up run.
pub fn median_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration) {
    std::hint::black_box(f());
    let mut wall = Vec::with_capacity(runs);
    let mut cpu = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (w0, c0) = (std::time::Instant::now(), process_cpu());
        std::hint::black_box(f());
        wall.push(w0.elapsed());
        cpu.push(process_cpu().saturating_sub(c0));
    }
    wall.sort();
    cpu.sort();
    (wall[runs / 2], cpu[runs / 2])
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
