//! The `fleetctl` binary as users run it: arguments, outputs on stdout/stderr, exit codes.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fleetctl(args: &[&str]) -> Output {
    support::fleetctl()
        .args(args)
        .current_dir(repo())
        .output()
        .expect("fleetctl runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes `text` as `fleet.yaml` in a fresh directory and runs `fleetctl --config <it> validate`.
fn validate_text(text: &str) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.yaml");
    std::fs::write(&path, text).unwrap();
    let out = fleetctl(&["--config", path.to_str().unwrap(), "validate"]);
    (out, dir)
}

const VALID: &str = "kind: FleetConfig
metadata:
  name: web
spec:
  compartmentId: ocid1.compartment.oc1..aaaaaaaaexample
  imageId: ocid1.image.oc1.iad.aaaaaaaaexample
  availabilityDomain: \"Uocm:US-ASHBURN-AD-1\"
  shape: VM.Standard.E4.Flex
  shapeConfig: {ocpus: 1, memoryInGBs: 16}
  subnetId: ocid1.subnet.oc1.iad.aaaaaaaaexample
  instances:
    - name: blue
      count: 2
    - name: green
      count: 3
";

fn assert_config_error(out: &Output, expected_lines: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "exit code; stderr:\n{err}");
    for line in expected_lines {
        assert!(
            err.lines().any(|l| l.ends_with(line)),
            "stderr lacks a line ending with {line:?}:\n{err}"
        );
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("RUST_BACKTRACE"), "{err}");
    assert!(
        stdout(out).is_empty(),
        "nothing on stdout for an invalid file"
    );
}

#[test]
fn version_prints_name_and_version() {
    let out = fleetctl(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out).trim(),
        format!("fleetctl {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn config_alone_prints_the_summary_line() {
    let out = fleetctl(&["--config", "config/fleet.yaml.tmpl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Fleet(kind=FleetConfig, name=web, instances=3)\n"
    );
}

#[test]
fn summary_sums_every_group() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.yaml");
    std::fs::write(&path, VALID).unwrap();
    let out = fleetctl(&["--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Fleet(kind=FleetConfig, name=web, instances=5)\n"
    );
}

#[test]
fn validate_accepts_both_templates() {
    for template in ["config/fleet.yaml.tmpl", "config/fleet.local.yaml.tmpl"] {
        let out = fleetctl(&["validate", "--config", template]);
        assert_eq!(out.status.code(), Some(0), "{template}: {}", stderr(&out));
        assert!(stdout(&out).starts_with(&format!("{template}: valid\n")));
    }
}

#[test]
fn validate_json_is_one_document() {
    let out = fleetctl(&[
        "--config",
        "config/fleet.yaml.tmpl",
        "validate",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["name"], "web");
    assert_eq!(doc["instances"], 3);
}

#[test]
fn default_config_is_fleet_yaml_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fleet.yaml"), VALID).unwrap();
    let out = support::fleetctl()
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Fleet(kind=FleetConfig, name=web, instances=5)\n"
    );
}

#[test]
fn missing_config_file_is_exit_1_naming_the_file() {
    let out = fleetctl(&["--config", "does-not-exist.yaml"]);
    assert_config_error(
        &out,
        &["does-not-exist.yaml:1:1: cannot read the file: the file does not exist"],
    );
}

#[test]
fn bad_yaml_syntax_is_exit_1_with_position() {
    let (out, _d) = validate_text("kind: FleetConfig\nmetadata: [\n");
    assert_config_error(
        &out,
        &["fleet.yaml:2:11: invalid YAML: unclosed bracket '['"],
    );
}

#[test]
fn wrong_type_is_exit_1_with_position_and_path() {
    let (out, _d) = validate_text(&VALID.replace("count: 2", "count: two"));
    assert_config_error(
        &out,
        &["fleet.yaml:13:14: spec.instances[0].count: must be a whole number >= 0, got \"two\""],
    );
}

#[test]
fn negative_count_is_exit_1_with_position_and_path() {
    let (out, _d) = validate_text(&VALID.replace("count: 3", "count: -2"));
    assert_config_error(
        &out,
        &["fleet.yaml:15:14: spec.instances[1].count: must be a whole number >= 0, got -2"],
    );
}

#[test]
fn unknown_key_is_exit_1_with_a_suggestion() {
    let (out, _d) = validate_text(&VALID.replace("compartmentId:", "compartmentID:"));
    assert_config_error(
        &out,
        &[
            "fleet.yaml:5:3: spec: unknown field \"compartmentID\"; did you mean \"compartmentId\"?",
            "fleet.yaml:4:1: spec: missing required field \"compartmentId\"",
        ],
    );
}

#[test]
fn wrong_ocid_type_is_exit_1() {
    let (out, _d) = validate_text(&VALID.replace(
        "imageId: ocid1.image.oc1.iad.aaaaaaaaexample",
        "imageId: ocid1.subnet.oc1.iad.aaaaaaaaexample",
    ));
    assert_config_error(
        &out,
        &[
            "fleet.yaml:6:12: spec.imageId: expected an image OCID (ocid1.image.…), got a subnet OCID",
        ],
    );
}

#[test]
fn duplicate_group_is_exit_1() {
    let (out, _d) = validate_text(&VALID.replace("name: green", "name: blue"));
    assert_config_error(
        &out,
        &[
            "fleet.yaml:14:13: spec.instances[1].name: duplicate group name \"blue\" (first defined at line 12)",
        ],
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let broken = VALID
        .replace("compartmentId:", "compartmentID:")
        .replace("count: 3", "count: -2")
        .replace("name: green", "name: blue");
    let (out, _d) = validate_text(&broken);
    assert_config_error(&out, &["(4 problems)"]);
    let err = stderr(&out);
    let positions: Vec<&str> = err.lines().filter(|l| l.contains("fleet.yaml:")).collect();
    assert_eq!(positions.len(), 4, "{err}");
}

#[test]
fn usage_errors_exit_1_not_2() {
    for args in [
        &["--scale", "x"][..],
        &["--scale", "-1"][..],
        &["no-such-command"][..],
        &["auth"][..],
    ] {
        let out = fleetctl(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
    }
}

/// Conflicting long-standing flags and a bad duration: exit 1, and the first line says what
/// is wrong (before anything is loaded or contacted).
#[test]
fn conflicting_flags_and_bad_durations_say_what_is_wrong() {
    for (args, first_line) in [
        (
            &["--scale", "3", "--status"][..],
            "fleetctl: error: choose one action: --scale, --status cannot be used together",
        ),
        (
            &["--status", "validate"][..],
            "fleetctl: error: --status cannot be combined with a subcommand",
        ),
        (
            &["--reconcile-every", "soon"][..],
            "error: invalid value 'soon' for '--reconcile-every <DURATION>': must be a duration \
             such as \"90s\", \"5m\" or \"1m30s\" (a whole number followed by ms, s, m, h or d), \
             got \"soon\"",
        ),
    ] {
        let out = fleetctl(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().next(), Some(first_line), "{args:?}: {err}");
        assert!(stdout(&out).is_empty(), "{args:?}");
    }
}

/// Exit 3 end to end: a bug (here the documented test-only trigger `FLEETCTL_TEST_PANIC=1`,
/// spec section 1, because no input reaches a bug on purpose) is one line on stderr, even
/// with `RUST_BACKTRACE` set, and exit 3.
#[test]
fn an_internal_error_is_one_line_and_exit_3() {
    let out = support::fleetctl()
        .args(["--config", "config/fleet.local.yaml.tmpl", "validate"])
        .current_dir(repo())
        .env("FLEETCTL_TEST_PANIC", "1")
        .env("RUST_BACKTRACE", "full")
        .output()
        .expect("fleetctl runs");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("fleetctl: internal error (a bug, please report it) at cli/src/main.rs:"),
        "{err}"
    );
    assert!(
        err.ends_with(": FLEETCTL_TEST_PANIC is set: failing as a bug would\n"),
        "{err}"
    );
    assert!(stdout(&out).is_empty());

    // Any other value is not the trigger.
    let out = support::fleetctl()
        .args(["--config", "config/fleet.local.yaml.tmpl", "validate"])
        .current_dir(repo())
        .env("FLEETCTL_TEST_PANIC", "0")
        .output()
        .expect("fleetctl runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn serve_and_the_http_flag_need_a_valid_fleet_file_before_they_listen() {
    for args in [
        &["--config", "/nonexistent/fleet.yaml", "serve"][..],
        &["--config", "/nonexistent/fleet.yaml", "--http", ":0"][..],
    ] {
        let out = fleetctl(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?} printed {}", stdout(&out));
        assert!(
            stderr(&out).contains("/nonexistent/fleet.yaml"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let out = fleetctl(&["serve", "--http", "localhost"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("expected IP:PORT"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn schema_command_prints_the_checked_in_schema() {
    let out = fleetctl(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let checked_in = std::fs::read_to_string(repo().join("schema/fleetctl.schema.json")).unwrap();
    assert_eq!(stdout(&out), checked_in);
}

#[test]
fn completions_are_generated() {
    let out = fleetctl(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("rolling-restart"));
}

#[test]
fn help_exits_0() {
    let out = fleetctl(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("--rolling-restart"));
}

#[test]
fn a_subcommand_group_without_its_subcommand_is_a_usage_error() {
    let out = fleetctl(&["auth"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "the help goes to stderr");
    assert!(stderr(&out).contains("validate"), "{}", stderr(&out));
}

#[test]
fn fleetctl_config_names_the_fleet_file_and_config_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("from-env.yaml");
    std::fs::write(&path, VALID).unwrap();
    let out = support::fleetctl()
        .current_dir(dir.path())
        .env("FLEETCTL_CONFIG", &path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Fleet(kind=FleetConfig, name=web, instances=5)\n"
    );

    let out = support::fleetctl()
        .current_dir(repo())
        .env("FLEETCTL_CONFIG", &path)
        .args(["--config", "config/fleet.yaml.tmpl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "Fleet(kind=FleetConfig, name=web, instances=3)\n",
        "--config wins over FLEETCTL_CONFIG"
    );

    let out = support::fleetctl()
        .current_dir(dir.path())
        .env("FLEETCTL_CONFIG", dir.path().join("missing.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("missing.yaml:1:1: cannot read the file"),
        "{}",
        stderr(&out)
    );
}

/// Runs fleetctl with a stdout whose reading end is closed before it starts, as in
/// `fleetctl schema | true`: every write fails with EPIPE.
fn with_closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    support::fleetctl()
        .args(args)
        .current_dir(repo())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_closed_output_pipe_ends_the_run_quietly_with_success() {
    for args in [
        &["schema"][..],
        &["completions", "bash"][..],
        &["--config", "config/fleet.yaml.tmpl"][..],
        &["--config", "config/fleet.yaml.tmpl", "validate"][..],
        &[
            "--config",
            "config/fleet.yaml.tmpl",
            "validate",
            "-o",
            "json",
        ][..],
    ] {
        let out = with_closed_stdout(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
}

#[test]
fn an_output_that_cannot_be_written_is_an_infrastructure_error() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        panic!("this test needs /dev/full (Linux)");
    };
    let out = support::fleetctl()
        .arg("schema")
        .stdout(Stdio::from(full))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot write the output"), "{err}");
    assert!(!err.contains("internal error"), "{err}");
}

/// A fleet file whose credentials come from an instance metadata service on a closed
/// loopback port: any attempt to connect to OCI fails (exit 2) without leaving the machine.
fn unreachable_cloud_fleet() -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.yaml");
    std::fs::write(
        &path,
        support::fleet_yaml("{method: instance, region: us-ashburn-1}"),
    )
    .unwrap();
    let metadata = format!("http://127.0.0.1:{}/opc/v2", support::closed_port());
    (dir, path, metadata)
}

#[test]
fn status_refuses_a_bad_state_url_before_connecting_to_oci() {
    let (_dir, fleet, metadata) = unreachable_cloud_fleet();
    let out = support::fleetctl()
        .args(["--config", fleet.to_str().unwrap()])
        .args(["--state", "ftp://host/x", "status"])
        .env("OCI_METADATA_BASE_URL", &metadata)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ftp://host/x"), "{err}");
    assert!(!err.contains("metadata"), "OCI was not contacted: {err}");
    assert!(stdout(&out).is_empty());
}

#[test]
fn fleetctl_state_names_the_ledger_and_state_overrides_it() {
    let (_dir, fleet, metadata) = unreachable_cloud_fleet();
    let out = support::fleetctl()
        .args(["--config", fleet.to_str().unwrap(), "status"])
        .env("FLEETCTL_STATE", "ftp://from-env/x")
        .env("OCI_METADATA_BASE_URL", &metadata)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("ftp://from-env/x"), "{err}");

    let out = support::fleetctl()
        .args(["--config", fleet.to_str().unwrap(), "status"])
        .args(["--state", "gopher://from-flag/x"])
        .env("FLEETCTL_STATE", "ftp://from-env/x")
        .env("OCI_METADATA_BASE_URL", &metadata)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("gopher://from-flag/x"), "{err}");
    assert!(!err.contains("from-env"), "--state wins: {err}");
}

/// Issue 7, item 1: a ~200 KB fleet file of 250 nested anchored flow lists around one long
/// list took 12 s and gigabytes of memory (every anchor deep-copied its list). It is refused
/// at once, at the list that nests too deep.
#[test]
fn an_anchor_bomb_is_refused_quickly_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.yaml");
    let mut text = String::from("kind: FleetConfig\nmetadata:\n  name: bomb\nspec:\n  metadata: ");
    for i in 0..250 {
        text.push_str(&format!("&a{i} ["));
    }
    text.push_str(&vec!["x"; 65_000].join(", "));
    text.push_str(&"]".repeat(250));
    text.push('\n');
    assert!(
        (190_000..=210_000).contains(&text.len()),
        "{} bytes",
        text.len()
    );
    std::fs::write(&path, &text).unwrap();

    let mut child = support::ChildGuard::spawn(
        support::fleetctl()
            .args(["--config", path.to_str().unwrap(), "validate"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "fleetctl validate still runs after 10 s on a 200 KB file"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    // Levels: the root mapping, `spec`, then the lists; the 31st list is level 33. Its `[`
    // follows `  metadata: ` and 30 times `&aN [` (10 with one digit, 20 with two), `&a30 `.
    let column = "  metadata: ".len() + 1 + 10 * 5 + 20 * 6 + 5;
    assert_eq!(
        err,
        format!(
            "{}:5:{column}: lists and mappings are nested more than 32 levels deep here; a \
             fleet file needs far fewer\nfleetctl: the fleet file is invalid (1 problem)\n",
            path.display()
        )
    );
}
