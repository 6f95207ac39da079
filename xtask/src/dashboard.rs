//! The dashboard's build: `cargo xtask dashboard` runs trunk on `frontend/` (release, into
//! the checked-in `frontend/dist`) and records the hash of its inputs in
//! `frontend/dist.stamp`. The test below recomputes the hash, so a change to the dashboard's
//! sources without a rebuild fails `cargo test` (as the JSON schema's staleness test does):
//! the binaries embed `frontend/dist`, and a fresh machine with only rustup must get a
//! working dashboard from `cargo run --bin fleetctl -- demo`.
//!
//! The inputs: every file of `frontend/` but its output, the wire types it compiles in
//! (`shared/api/`), the workspace's `[profile.wasm-release]`, and the `Cargo.lock` entries of
//! the frontend's dependency closure (every platform's, so the closure errs on the large side).
//! Not the toolchain: the same sources give the same page, whatever rustc built them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// trunk's version: 0.22 needs a newer rustc than the workspace's.
pub const TRUNK_VERSION: &str = "0.21.14";
/// The checked-in output.
pub const DIST: &str = "frontend/dist";
/// The record of the inputs `DIST` was built from.
pub const STAMP: &str = "frontend/dist.stamp";
/// The line of the stamp the test compares.
const INPUTS_PREFIX: &str = "inputs sha256:";

/// The hash of the dashboard's inputs under `root`.
pub fn inputs_hash(root: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut files = Vec::new();
    for dir in ["frontend", "shared/api"] {
        collect(root, &root.join(dir), &mut files)?;
    }
    files.sort();
    for rel in &files {
        let bytes = fs::read(root.join(rel)).with_context(|| format!("reading {rel}"))?;
        feed(&mut hasher, rel.as_bytes());
        feed(&mut hasher, &bytes);
    }
    let manifest = fs::read_to_string(root.join("Cargo.toml")).context("reading Cargo.toml")?;
    feed(
        &mut hasher,
        section(&manifest, "[profile.wasm-release]").as_bytes(),
    );
    let lock = fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    for entry in lock_closure(&lock, "fleetctl-frontend")? {
        feed(&mut hasher, entry.as_bytes());
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn feed(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

/// Files under `dir` (relative to `root`, `/`-separated), without trunk's output, build
/// directories and dotfiles.
fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || ["dist", "dist.stamp", "target"].contains(&name.as_str()) {
            continue;
        }
        if entry.file_type()?.is_dir() {
            collect(root, &path, out)?;
        } else {
            let rel = path
                .strip_prefix(root)
                .context("a file outside the workspace")?
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push(rel);
        }
    }
    Ok(())
}

/// The lines of a TOML table, from its header to the next header.
fn section(text: &str, header: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == header;
        }
        if inside {
            out.push_str(t);
            out.push('\n');
        }
    }
    out
}

/// A package of `Cargo.lock`.
#[derive(Debug, Default, Clone)]
struct LockPackage {
    name: String,
    version: String,
    source: String,
    checksum: String,
    dependencies: Vec<String>,
}

fn quoted(value: &str) -> String {
    value.trim().trim_matches('"').to_string()
}

fn parse_lock(lock: &str) -> Vec<LockPackage> {
    let mut packages = Vec::new();
    let mut current: Option<LockPackage> = None;
    let mut in_deps = false;
    for line in lock.lines() {
        let t = line.trim();
        if t == "[[package]]" {
            packages.extend(current.take());
            current = Some(LockPackage::default());
            in_deps = false;
            continue;
        }
        let Some(p) = current.as_mut() else { continue };
        if in_deps {
            if t == "]" {
                in_deps = false;
            } else {
                p.dependencies.push(quoted(t.trim_end_matches(',')));
            }
            continue;
        }
        match t.split_once(" = ") {
            Some(("name", v)) => p.name = quoted(v),
            Some(("version", v)) => p.version = quoted(v),
            Some(("source", v)) => p.source = quoted(v),
            Some(("checksum", v)) => p.checksum = quoted(v),
            Some(("dependencies", "[")) => in_deps = true,
            Some(("dependencies", v)) => {
                // An inline list: `dependencies = ["a", "b 1.0"]`.
                p.dependencies.extend(
                    v.trim_matches(|c| c == '[' || c == ']')
                        .split(',')
                        .map(quoted)
                        .filter(|d| !d.is_empty()),
                );
            }
            _ => {}
        }
    }
    packages.extend(current);
    packages
}

/// `name version source checksum` of `root` and everything it depends on, sorted.
fn lock_closure(lock: &str, root: &str) -> Result<Vec<String>> {
    let packages = parse_lock(lock);
    let mut by_name: BTreeMap<&str, Vec<&LockPackage>> = BTreeMap::new();
    for p in &packages {
        by_name.entry(p.name.as_str()).or_default().push(p);
    }
    let find = |dep: &str| -> Result<&LockPackage> {
        let mut parts = dep.split(' ');
        let name = parts.next().unwrap_or_default();
        let version = parts.next();
        let candidates = by_name.get(name).map(Vec::as_slice).unwrap_or_default();
        let found: Vec<&&LockPackage> = candidates
            .iter()
            .filter(|p| version.is_none_or(|v| p.version == v))
            .collect();
        match found.as_slice() {
            [one] => Ok(**one),
            _ => bail!("Cargo.lock: cannot resolve dependency {dep:?}"),
        }
    };
    let mut seen = BTreeSet::new();
    let mut todo = vec![find(root)?];
    while let Some(p) = todo.pop() {
        let line = format!("{} {} {} {}", p.name, p.version, p.source, p.checksum);
        if !seen.insert(line) {
            continue;
        }
        for dep in &p.dependencies {
            todo.push(find(dep)?);
        }
    }
    Ok(seen.into_iter().collect())
}

/// The hash recorded in the stamp, if any.
pub fn recorded_hash(root: &Path) -> Option<String> {
    let stamp = fs::read_to_string(root.join(STAMP)).ok()?;
    stamp
        .lines()
        .find_map(|l| l.strip_prefix(INPUTS_PREFIX))
        .map(|h| h.trim().to_string())
}

fn version_of(program: &str) -> String {
    Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| format!("{program} (unknown version)"))
}

/// The wasm-bindgen version locked for the frontend (the CLI must equal it).
pub fn locked_wasm_bindgen(root: &Path) -> Result<String> {
    let lock = fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    parse_lock(&lock)
        .into_iter()
        .find(|p| p.name == "wasm-bindgen")
        .map(|p| p.version)
        .context("wasm-bindgen is not in Cargo.lock")
}

/// `trunk build --release` of `frontend/` into `dist` (relative to the workspace root).
pub fn trunk_build(root: &Path, dist: &Path) -> Result<()> {
    let status = Command::new("trunk")
        .args(["build", "--release", "--dist"])
        .arg(dist)
        .current_dir(root.join("frontend"))
        // Never download tools; skip the update check (it asks crates.io).
        .env("TRUNK_OFFLINE", "true")
        .env("TRUNK_SKIP_VERSION_CHECK", "true")
        .status()
        .context("could not start `trunk` (run `cargo xtask setup`)")?;
    if !status.success() {
        bail!("`trunk build --release` exited with {status}");
    }
    Ok(())
}

/// `cargo xtask dashboard`: rebuilds `frontend/dist` and writes the stamp.
pub fn build(root: &Path) -> Result<()> {
    let dist: PathBuf = root.join(DIST);
    let inputs = inputs_hash(root)?;
    if recorded_hash(root).as_deref() == Some(inputs.as_str()) {
        println!("xtask: the inputs are those of the checked-in build; rebuilding anyway");
    }
    trunk_build(root, &dist)?;
    let stamp = format!(
        "# The inputs frontend/dist was built from, written by `cargo xtask dashboard`.\n\
         # xtask's test `dashboard_assets_match_their_sources` recomputes the hash and fails\n\
         # when frontend/, shared/api/, the wasm-release profile or the locked dependencies\n\
         # changed without a rebuild. The tool versions are for information.\n\
         {INPUTS_PREFIX} {}\n\
         built with: {}, {}, {}\n",
        inputs,
        version_of("trunk"),
        version_of("wasm-bindgen"),
        version_of("rustc"),
    );
    fs::write(root.join(STAMP), stamp).with_context(|| format!("writing {STAMP}"))?;
    println!("xtask: rebuilt {DIST} and wrote {STAMP}");
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

    use super::*;

    #[test]
    fn dashboard_assets_match_their_sources() {
        let root = crate::root();
        let want = inputs_hash(&root).unwrap();
        let recorded = recorded_hash(&root);
        assert_eq!(
            recorded.as_deref(),
            Some(want.as_str()),
            "{DIST} is stale against the dashboard's sources (or {STAMP} is missing): run \
             `cargo xtask dashboard` and commit {DIST} and {STAMP}"
        );
        let index = fs::read_to_string(root.join(DIST).join("index.html")).unwrap();
        assert!(index.contains(".wasm"), "{DIST}/index.html loads no wasm");
    }

    #[test]
    fn the_lock_closure_follows_dependencies_and_resolves_versions() {
        let lock = r#"
[[package]]
name = "app"
version = "0.1.0"
dependencies = [
 "a",
 "b 2.0.0",
]

[[package]]
name = "a"
version = "1.0.0"
source = "registry+x"
checksum = "aa"
dependencies = ["b 1.0.0"]

[[package]]
name = "b"
version = "1.0.0"
source = "registry+x"
checksum = "b1"

[[package]]
name = "b"
version = "2.0.0"
source = "registry+x"
checksum = "b2"

[[package]]
name = "unrelated"
version = "9.0.0"
"#;
        assert_eq!(
            lock_closure(lock, "app").unwrap(),
            vec![
                "a 1.0.0 registry+x aa",
                "app 0.1.0  ",
                "b 1.0.0 registry+x b1",
                "b 2.0.0 registry+x b2",
            ]
        );
        assert!(lock_closure(lock, "missing").is_err());
    }

    #[test]
    fn a_source_change_changes_the_hash() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        for (path, text) in [
            (
                "Cargo.toml",
                "[profile.wasm-release]\nopt-level = \"z\"\n[other]\nx = 1\n",
            ),
            (
                "Cargo.lock",
                "[[package]]\nname = \"fleetctl-frontend\"\nversion = \"0.1.0\"\n",
            ),
            ("frontend/src/main.rs", "fn main() {}"),
            ("frontend/dist/index.html", "built"),
            ("shared/api/src/lib.rs", "pub struct A;"),
        ] {
            let p = dir.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        let before = inputs_hash(dir).unwrap();
        fs::write(dir.join("frontend/dist/index.html"), "rebuilt").unwrap();
        fs::write(
            dir.join("Cargo.toml"),
            "[profile.wasm-release]\nopt-level = \"z\"\n[other]\nx = 2\n",
        )
        .unwrap();
        assert_eq!(
            inputs_hash(dir).unwrap(),
            before,
            "output and other sections are not inputs"
        );
        for (path, text) in [
            ("shared/api/src/lib.rs", "pub struct B;"),
            ("frontend/src/main.rs", "fn main() { }"),
            ("Cargo.toml", "[profile.wasm-release]\nopt-level = \"s\"\n"),
        ] {
            let was = inputs_hash(dir).unwrap();
            fs::write(dir.join(path), text).unwrap();
            assert_ne!(inputs_hash(dir).unwrap(), was, "{path}");
        }
    }
}
