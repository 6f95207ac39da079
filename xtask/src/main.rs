//! fleetctl's task runner: what cargo alone does not do.
//!
//! - `cargo xtask test`   the whole test suite, exactly what CI runs (`.ci/run`): installs what
//!   the tests need (idempotently), then format check, clippy, the tests, the dashboard build.
//! - `cargo xtask setup`  only the idempotent installs (Python venv with the OCI SDK and moto,
//!   rustup components and the wasm32 target).
//! - `cargo xtask schema` regenerates `schema/fleetctl.schema.json` from the config types.
//! - `cargo xtask openapi` regenerates `docs/openapi.json` from the API's handlers and wire
//!   types (a test fails while the checked-in file is stale).
//! - `cargo xtask bench`  builds `fleetctl-bench` in release mode and runs it: rollout time
//!   against its bound, OCI calls per steady step, the 10,000-instance step, and the HTTP
//!   face (`function`: the release binaries, built first as the Dockerfile does, against the
//!   Python FDK) (figures and commands in `docs/benchmarks.md`).
//!
//! Every install step first checks whether its result is already there and skips if so, so a
//! warm machine pays nothing. Nothing here needs root except the browser install that the
//! dashboard tests will add.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test     install what the tests need, then fmt --check, clippy -D warnings, every test,
           and the dashboard's wasm build (what CI runs)
  setup    only the idempotent installs (.venv with tests/python/requirements.txt,
           rustfmt/clippy, the wasm32-unknown-unknown target)
  schema   regenerate schema/fleetctl.schema.json from the config types
  openapi  regenerate docs/openapi.json from the HTTP API's handlers and wire types
  bench    run the benchmarks in release mode (see docs/benchmarks.md); arguments after
           `bench` go to fleetctl-bench: [all|rollout|calls|steady|ledger|function]
           [--rollout-scale F] [--fleet N] [--runs N] [--requests N] [--clients N]
           [--seconds S]
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("setup") => setup().map(|_| ()),
        Some("schema") => schema(),
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
    step("dashboard build (wasm32)", || {
        run(cargo()
            .args([
                "build",
                "-p",
                "fleetctl-frontend",
                "--target",
                "wasm32-unknown-unknown",
            ])
            .current_dir(&root))
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
    Ok(Env { python })
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
/// The `function` section (part of `all`) measures the release binaries that ship: they are
/// built first exactly as the Dockerfile builds them, and the Python FDK it compares with comes
/// from the project's venv (installed here when missing; without it that comparison is
/// reported as not measured).
fn bench(args: &[String]) -> Result<()> {
    let root = root();
    let section = args
        .iter()
        .find(|a| !a.starts_with('-') && a.chars().all(|c| c.is_ascii_lowercase()))
        .map_or("all", String::as_str);
    let mut cmd = cargo();
    if matches!(section, "all" | "function") {
        step("release binaries (as the Dockerfile builds them)", || {
            run(cargo()
                .args([
                    "build",
                    "--release",
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
