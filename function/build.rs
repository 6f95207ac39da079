//! Two things the function's code takes from its build:
//!
//! - The version of the rustc that builds it, for the `Fn-Fdk-Runtime` header
//!   (`rust/<version>`), as the official FDKs report their language runtime.
//! - The dashboard: every file of `frontend/dist` (trunk's output, checked in) becomes an
//!   entry of `ASSETS` in `$OUT_DIR/dashboard_assets.rs`, included by `src/dashboard.rs`.
//!   Cargo reruns this when anything in that directory changes.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::{env, fs};

fn main() {
    rustc_version();
    dashboard_assets();
}

fn rustc_version() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    // `rustc 1.95.0 (abcdef 2026-01-01)`: the second word; "unknown" when rustc cannot say.
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=FLEETCTL_RUSTC_VERSION={version}");
    println!("cargo:rerun-if-env-changed=RUSTC");
}

fn dashboard_assets() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dist = manifest.join("../frontend/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut files: Vec<(String, PathBuf)> = match fs::read_dir(&dist) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
            .filter(|(name, _)| !name.starts_with('.'))
            .collect(),
        Err(_) => {
            println!(
                "cargo:warning=frontend/dist is missing: the dashboard is not embedded (run `cargo xtask dashboard`)"
            );
            Vec::new()
        }
    };
    files.sort();
    let mut out =
        String::from("/// The dashboard's files, by name.\npub static ASSETS: &[Asset] = &[\n");
    for (name, path) in &files {
        let path = path.canonicalize().expect("a listed file exists");
        writeln!(
            out,
            "    Asset {{ name: {name:?}, bytes: include_bytes!({:?}) }},",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
    let target =
        PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("dashboard_assets.rs");
    fs::write(&target, out).expect("writing to OUT_DIR");
}
