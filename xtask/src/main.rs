//! fleetctl's task runner: what cargo alone does not do.
//!
//! - `cargo xtask test`   the whole test suite, exactly what CI runs (`.ci/run`): installs what
//!   the tests need (idempotently), then format check, clippy, the tests, the dashboard build.
//! - `cargo xtask setup`  only the idempotent installs (Python venv with the OCI SDK, moto and
//!   schemathesis, rustup components and the wasm32 target, trunk and wasm-bindgen-cli for the
//!   dashboard, Debian's chromium and chromium-driver for its browser tests, cargo-deny).
//! - `cargo xtask deny`   the supply-chain check alone: `cargo deny` (advisories, licenses,
//!   duplicate and banned crates, sources) offline against the RustSec snapshot in
//!   `../shared/advisory-db` (`FLEETCTL_ADVISORY_DB` overrides), waivers in `deny.toml`.
//! - `cargo xtask dashboard` rebuilds the dashboard (`frontend/dist`, checked in) with trunk
//!   and records its inputs' hash (`frontend/dist.stamp`; a test fails when it is stale).
//! - `cargo xtask schema` regenerates `schema/fleetctl.schema.json` from the config types.
//! - `cargo xtask openapi` regenerates `docs/openapi.json` from the API's handlers and wire
//!   types (a test fails while the checked-in file is stale).
//! - `cargo xtask bench`  builds `fleetctl-bench` in release mode and runs it: rollout time
//!   against its bound, OCI calls per steady step, the 10,000-instance step, the HTTP face
//!   (`function`: the shipped binaries of the `dist` profile, built first as the Dockerfile
//!   does, against the Python FDK) (figures and commands in `docs/benchmarks.md`), and the dashboard's
//!   compressed size.
//!
//! Every install step first checks whether its result is already there and skips if so, so a
//! warm machine pays nothing. Only the browser install needs root (apt-get); without root it
//! says what to install.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};

mod dashboard;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test     install what the tests need, then fmt --check, clippy -D warnings, cargo deny,
           every test, and the dashboard's wasm build (what CI runs)
  setup    only the idempotent installs (.venv with tests/python/requirements.txt,
           rustfmt/clippy, the wasm32-unknown-unknown target, trunk, wasm-bindgen-cli,
           chromium and chromium-driver, cargo-deny)
  deny     cargo deny check (advisories, licenses, bans, sources) with no network, against
           the RustSec snapshot in ../shared/advisory-db (or $FLEETCTL_ADVISORY_DB)
  schema   regenerate schema/fleetctl.schema.json from the config types
  dashboard
           rebuild frontend/dist with trunk (release) and write frontend/dist.stamp
  openapi  regenerate docs/openapi.json from the HTTP API's handlers and wire types
  bench    run the benchmarks in release mode (see docs/benchmarks.md); arguments after
           `bench` go to fleetctl-bench: [all|rollout|calls|steady|ledger|function]
           [--rollout-scale F] [--fleet N] [--runs N] [--requests N] [--clients N]
           [--seconds S]; `bench dashboard` only measures the dashboard's gzip size
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("setup") => setup().map(|_| ()),
        Some("deny") => deny(),
        Some("schema") => schema(),
        Some("dashboard") => dashboard::build(&root()),
        Some("openapi") => openapi(),
        Some("bench") => bench(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => {
            eprint!("unknown xtask command `{other}`\n\n{USAGE}");
            return ExitCode::from(1);
        }
        None => {
            eprint!("{USAGE}");
            return ExitCode::from(1);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// The workspace root (the parent of this crate's directory).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// What `setup` produced that later steps need.
struct Env {
    python: PathBuf,
}

fn test() -> Result<()> {
    let started = Instant::now();
    let env = setup()?;
    let root = root();
    step("cargo fmt --check", || {
        run(cargo()
            .args(["fmt", "--all", "--", "--check"])
            .current_dir(&root))
    })?;
    step("cargo clippy (host crates)", || {
        run(cargo()
            .args(["clippy", "--all-targets", "--", "-D", "warnings"])
            .current_dir(&root))
    })?;
    step("cargo deny (supply chain, offline)", deny_check)?;
    step("fleetctl without the demo (what the image ships)", || {
        // Builds and lints the CLI as the Dockerfile builds it...
        run(cargo()
            .args([
                "clippy",
                "-p",
                "fleetctl",
                "--no-default-features",
                "--",
                "-D",
                "warnings",
            ])
            .current_dir(&root))?;
        // ...and proves neither deployed binary links the simulator.
        for (package, features) in [
            ("fleetctl", &["--no-default-features"][..]),
            ("fleetctl-function", &[][..]),
        ] {
            no_simulator_in(package, features, &root)?;
        }
        Ok(())
    })?;
    step("cargo clippy (dashboard, wasm32)", || {
        run(cargo()
            .args([
                "clippy",
                "-p",
                "fleetctl-frontend",
                // The wire types must build for the dashboard too (they have no I/O).
                "-p",
                "fleetctl-api",
                "--target",
                "wasm32-unknown-unknown",
                "--",
                "-D",
                "warnings",
            ])
            .current_dir(&root))
    })?;
    step("cargo test", || {
        run(cargo()
            .args(["test", "--workspace", "--exclude", "fleetctl-frontend"])
            .env("FLEETCTL_TEST_PYTHON", &env.python)
            .current_dir(&root))
    })?;
    step("dashboard build (trunk --release)", || {
        // Proves the sources build; whether frontend/dist is up to date is the stamp test's
        // job (`cargo test` above), which does not depend on the toolchain's exact output.
        let check = root.join("target/dashboard-check");
        dashboard::trunk_build(&root, &check)?;
        let same = same_files(&check, &root.join(dashboard::DIST))?;
        println!(
            "xtask: the fresh build {} the checked-in {}",
            if same {
                "is byte for byte"
            } else {
                "differs from (toolchain or paths)"
            },
            dashboard::DIST
        );
        Ok(())
    })?;
    println!("xtask: all checks passed in {:.0?}", started.elapsed());
    Ok(())
}

fn setup() -> Result<Env> {
    let root = root();
    step("rustup components and targets", || {
        ensure_rustup_component("rustfmt", "fmt")?;
        ensure_rustup_component("clippy", "clippy")?;
        ensure_rustup_target("wasm32-unknown-unknown")
    })?;
    let python = step("python venv (.venv)", || ensure_venv(&root))?;
    step("trunk and wasm-bindgen-cli (dashboard build)", || {
        ensure_cargo_tool(
            "trunk",
            &format!("trunk {}", dashboard::TRUNK_VERSION),
            &["trunk", "--version", dashboard::TRUNK_VERSION],
        )?;
        let wb = dashboard::locked_wasm_bindgen(&root)?;
        ensure_cargo_tool(
            "wasm-bindgen",
            &format!("wasm-bindgen {wb}"),
            &["wasm-bindgen-cli", "--version", &wb],
        )
    })?;
    step(
        "chromium and chromedriver (dashboard browser tests)",
        ensure_browser,
    )?;
    step("cargo-deny", ensure_cargo_deny)?;
    Ok(Env { python })
}

/// The cargo-deny release `setup` installs: one that builds with the workspace's rustc
/// (1.95; 0.20 needs 1.88) and whose advisory-database layout [`advisory_db`] reproduces.
const CARGO_DENY_VERSION: &str = "0.20.2";

/// Where cargo-deny 0.20 keeps the database of `db-urls` in `deny.toml`
/// (`https://github.com/rustsec/advisory-db`): `<db-path>/advisory-db-<hash of the URL>`.
const ADVISORY_DB_DIR: &str = "target/advisory-dbs/advisory-db-3157b0e258782691";

/// Installs cargo-deny [`CARGO_DENY_VERSION`] unless that version is already on PATH.
fn ensure_cargo_deny() -> Result<()> {
    ensure_cargo_tool(
        "cargo-deny",
        &format!("cargo-deny {CARGO_DENY_VERSION}"),
        &["cargo-deny", "--version", CARGO_DENY_VERSION],
    )
}

/// `cargo xtask deny`: the installs it needs, then the check.
fn deny() -> Result<()> {
    step("cargo-deny", ensure_cargo_deny)?;
    step("cargo deny (supply chain, offline)", deny_check)
}

/// `cargo deny check` with no network against the RustSec snapshot: any advisory not waived
/// in `deny.toml`, a license outside its list, a banned or unexpected duplicate crate, or a
/// crate from another source fails.
fn deny_check() -> Result<()> {
    let root = root();
    advisory_db(&root)?;
    run(cargo()
        .args(["deny", "--offline", "--color", "never", "check"])
        .current_dir(&root))
}

/// Lays the RustSec snapshot out where `deny.toml` points cargo-deny ([`ADVISORY_DB_DIR`]):
/// a copy of `../shared/advisory-db` (or `$FLEETCTL_ADVISORY_DB`) committed into a fresh git
/// repository, because cargo-deny reads the database's date from its `HEAD` commit. The
/// commit carries the snapshot's own date, so a stale-database check sees its true age.
/// Rebuilt only when the snapshot's `SNAPSHOT` stamp changes.
fn advisory_db(root: &Path) -> Result<()> {
    let source = match std::env::var_os("FLEETCTL_ADVISORY_DB") {
        Some(p) => PathBuf::from(p),
        None => root.join("../shared/advisory-db"),
    };
    let stamp_file = source.join("SNAPSHOT");
    let stamp = fs::read_to_string(&stamp_file).with_context(|| {
        format!(
            "the RustSec advisory snapshot is missing: expected {} (the reference folder \
             `shared/` beside the repository, as CI lays it out). Put the snapshot there or \
             set FLEETCTL_ADVISORY_DB to its directory; `cargo deny` runs with no network \
             and cannot fetch one",
            stamp_file.display()
        )
    })?;
    let db = root.join(ADVISORY_DB_DIR);
    let copied_stamp = db.join("SNAPSHOT");
    if fs::read_to_string(&copied_stamp).ok().as_deref() == Some(stamp.as_str())
        && db.join(".git").exists()
    {
        return Ok(());
    }
    if db.exists() {
        fs::remove_dir_all(&db).with_context(|| format!("removing {}", db.display()))?;
    }
    fs::create_dir_all(&db).with_context(|| format!("creating {}", db.display()))?;
    // `cp -a SOURCE/. DB`: the whole tree, dotfiles included.
    run(Command::new("cp").arg("-a").arg(source.join(".")).arg(&db))?;
    // "rustsec/advisory-db at <commit> (YYYY-MM-DD)": commit with that date.
    let date = stamp
        .rsplit_once('(')
        .and_then(|(_, d)| d.split(')').next())
        .filter(|d| d.len() == 10)
        .map(|d| format!("{d}T00:00:00Z"))
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string());
    let git = |args: &[&str]| {
        let mut cmd = Command::new("git");
        cmd.args(["-c", "user.name=xtask", "-c", "user.email=xtask@localhost"])
            .args(args)
            .current_dir(&db)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .stdout(std::process::Stdio::null());
        run(&mut cmd)
    };
    git(&["init", "--quiet"])?;
    git(&["add", "--all"])?;
    git(&["commit", "--quiet", "--no-gpg-sign", "-m", stamp.trim()])?;
    Ok(())
}

fn schema() -> Result<()> {
    let root = root();
    let out = Command::new(cargo_bin())
        .args(["run", "--quiet", "-p", "fleetctl", "--", "schema"])
        .current_dir(&root)
        .output()
        .context("running `fleetctl schema`")?;
    if !out.status.success() {
        bail!(
            "`fleetctl schema` failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let path = root.join("schema/fleetctl.schema.json");
    fs::write(&path, &out.stdout).with_context(|| format!("writing {}", path.display()))?;
    println!("xtask: wrote {}", path.display());
    Ok(())
}

/// `cargo xtask openapi`: the test that compares `docs/openapi.json` with the generated
/// document, run in its writing mode.
fn openapi() -> Result<()> {
    let root = root();
    run(cargo()
        .args([
            "test",
            "--quiet",
            "-p",
            "fleetctl-function",
            "--test",
            "api",
            "--",
            "--exact",
            "openapi::the_checked_in_document_is_current",
        ])
        .env("FLEETCTL_UPDATE_OPENAPI", "1")
        .current_dir(&root))?;
    println!("xtask: wrote {}", root.join("docs/openapi.json").display());
    Ok(())
}

/// `cargo xtask bench [ARGS]`: the benchmarks, built and run in release mode (the figures
/// mean nothing in a debug build). They print figures and ratios; a missed target is a figure,
/// not a failure.
///
/// The `function` section (part of `all`) measures the binaries that ship (the `dist`
/// profile): they are built first exactly as the Dockerfile builds them, and the Python FDK it compares with comes
/// from the project's venv (installed here when missing; without it that comparison is
/// reported as not measured).
fn bench(args: &[String]) -> Result<()> {
    let root = root();
    match args.first().map(String::as_str) {
        Some("dashboard") => return dashboard_size(&root),
        None | Some("all") => dashboard_size(&root)?,
        _ => {}
    }
    let section = args
        .iter()
        .find(|a| !a.starts_with('-') && a.chars().all(|c| c.is_ascii_lowercase()))
        .map_or("all", String::as_str);
    let mut cmd = cargo();
    if matches!(section, "all" | "function") {
        step("dist binaries (as the Dockerfile builds them)", || {
            run(cargo()
                .args([
                    "build",
                    "--profile",
                    "dist",
                    "--locked",
                    "--no-default-features",
                    "-p",
                    "fleetctl",
                    "-p",
                    "fleetctl-function",
                ])
                .current_dir(&root))
        })?;
        match step("python venv (.venv, the Python FDK)", || ensure_venv(&root)) {
            Ok(python) => {
                if let Some(bin) = python.parent() {
                    cmd.env("FLEETCTL_BENCH_FDK", bin.join("fdk"));
                }
            }
            Err(e) => eprintln!(
                "xtask: no Python FDK ({e:#}): the cold-start comparison will say it was not measured"
            ),
        }
    }
    run(cmd
        .args([
            "run",
            "--release",
            "--quiet",
            "-p",
            "fleetctl-bench",
            "--bin",
            "fleetctl-bench",
            "--",
        ])
        .args(args)
        .current_dir(&root))
}

/// Installs `crate_args` with `cargo install` unless `program --version` prints `want`.
/// `--locked` first (the tool's own lockfile); without it when the registry lacks a locked
/// version (wasm-bindgen-cli's lockfile pins crates this registry may not serve).
fn ensure_cargo_tool(program: &str, want: &str, crate_args: &[&str]) -> Result<()> {
    let have = Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if have.as_deref() == Some(want) {
        return Ok(());
    }
    println!(
        "xtask: installing {want} (found: {})",
        have.as_deref().unwrap_or("none")
    );
    let locked = run(cargo().arg("install").args(crate_args).arg("--locked"));
    if let Err(e) = locked {
        println!("xtask: `cargo install --locked` failed ({e:#}); trying without --locked");
        run(cargo().arg("install").args(crate_args))?;
    }
    Ok(())
}

fn answers(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Debian's chromium and chromium-driver (same version, no download at test time).
fn ensure_browser() -> Result<()> {
    if answers("chromium") && answers("chromedriver") {
        return Ok(());
    }
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root_user {
        bail!(
            "chromium or chromedriver is missing; install them as root: \
             apt-get install -y chromium chromium-driver"
        );
    }
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "chromium", "chromium-driver"])
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Whether two directories hold the same files with the same bytes.
fn same_files(a: &Path, b: &Path) -> Result<bool> {
    let list = |d: &Path| -> Result<Vec<(String, Vec<u8>)>> {
        let mut files = Vec::new();
        for entry in fs::read_dir(d).with_context(|| format!("listing {}", d.display()))? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                files.push((
                    entry.file_name().to_string_lossy().into_owned(),
                    fs::read(entry.path())?,
                ));
            }
        }
        files.sort();
        Ok(files)
    };
    Ok(list(a)? == list(b)?)
}

/// The dashboard's target: wasm + JS under 250 KB gzipped.
const DASHBOARD_GZIP_TARGET: u64 = 250_000;

/// The gzip (level 9) sizes of the shipped dashboard's wasm and JS (`frontend/dist`).
fn dashboard_size(root: &Path) -> Result<()> {
    use std::io::Write as _;
    let dist = root.join(dashboard::DIST);
    let mut files: Vec<PathBuf> = fs::read_dir(&dist)
        .with_context(|| format!("listing {}", dist.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "wasm" || e == "js"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!(
            "{} has no .wasm or .js: run `cargo xtask dashboard`",
            dist.display()
        );
    }
    println!("dashboard size ({}, gzip -9):", dashboard::DIST);
    let (mut raw_total, mut gz_total) = (0u64, 0u64);
    for path in &files {
        let bytes = fs::read(path)?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&bytes)?;
        let gz_len = gz.finish()?.len() as u64;
        let raw_len = bytes.len() as u64;
        raw_total += raw_len;
        gz_total += gz_len;
        println!(
            "  {:<48} {:>9} B raw {:>9} B gzip",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            raw_len,
            gz_len
        );
    }
    println!(
        "  total wasm + JS: {raw_total} B raw, {gz_total} B gzip ({:.1} KB; target under {} KB: {})",
        gz_total as f64 / 1000.0,
        DASHBOARD_GZIP_TARGET / 1000,
        if gz_total < DASHBOARD_GZIP_TARGET {
            "met"
        } else {
            "MISSED"
        }
    );
    Ok(())
}

fn ensure_rustup_component(component: &str, probe: &str) -> Result<()> {
    let present = Command::new(cargo_bin())
        .arg(probe)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if present {
        return Ok(());
    }
    run(Command::new("rustup").args(["component", "add", component]))
}

fn ensure_rustup_target(target: &str) -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running `rustup target list --installed` (is rustup on PATH?)")?;
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == target)
    {
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", target]))
}

/// Creates `.venv` and installs `tests/python/requirements.txt` into it, unless the venv
/// already holds exactly that file's contents (a stamp copy records what was installed).
fn ensure_venv(root: &Path) -> Result<PathBuf> {
    let venv = root.join(".venv");
    let python = venv.join("bin/python");
    let requirements = root.join("tests/python/requirements.txt");
    let wanted = fs::read_to_string(&requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let stamp = venv.join("fleetctl-requirements.txt");
    if python.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    if !python.exists() {
        let system_python = ["python3", "python"]
            .into_iter()
            .find(|p| {
                Command::new(p)
                    .arg("--version")
                    .output()
                    .map(|o| o.status.success())
                    .unwrap_or(false)
            })
            .context("no python3 on PATH: the OCI SDK fidelity tests and moto need Python 3")?;
        run(Command::new(system_python).args(["-m", "venv"]).arg(&venv))?;
    }
    run(Command::new(&python).args(["-m", "pip", "install", "--quiet", "--upgrade", "pip"]))?;
    run(Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "-r"])
        .arg(&requirements))?;
    fs::write(&stamp, wanted).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(python)
}

/// Fails when `package` (built with `features`) depends on `oci-sim` outside its tests.
fn no_simulator_in(package: &str, features: &[&str], root: &Path) -> Result<()> {
    let mut cmd = cargo();
    cmd.args([
        "tree",
        "-p",
        package,
        "-e",
        "normal,build",
        "--prefix",
        "none",
    ])
    .args(features)
    .current_dir(root);
    let shown = show(&cmd);
    let out = cmd
        .output()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !out.status.success() {
        bail!("`{shown}` exited with {}", out.status);
    }
    let tree = String::from_utf8_lossy(&out.stdout);
    if tree.lines().any(|l| l.starts_with("oci-sim ")) {
        bail!(
            "{package} {} links oci-sim; the simulator must not ship",
            features.join(" ")
        );
    }
    if !tree.lines().any(|l| l.starts_with(&format!("{package} "))) {
        bail!("`{shown}` printed no tree for {package}:\n{tree}");
    }
    Ok(())
}

fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

fn cargo() -> Command {
    Command::new(cargo_bin())
}

fn step<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let started = Instant::now();
    println!("xtask: {name} ...");
    let out = f().with_context(|| format!("step `{name}` failed"))?;
    println!("xtask: {name} ok ({:.1?})", started.elapsed());
    Ok(out)
}

fn run(cmd: &mut Command) -> Result<()> {
    let shown = show(cmd);
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` exited with {status}");
    }
    Ok(())
}

fn show(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}
