//! The `oci-sim` binary: readiness line, serving, clean stop on SIGTERM, clear start errors.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn binary_announces_its_port_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_oci-sim"))
        .args(["--listen", "127.0.0.1:0", "--out"])
        .arg(dir.path())
        .args(["--time-scale", "0.001", "--seed", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let url = line
        .strip_prefix("oci-sim listening on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let port: u16 = url.trim_end().parse().unwrap();
    assert_ne!(port, 0);
    let base = format!("http://127.0.0.1:{port}");
    let scale = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{base}/_sim/time-scale"))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(scale["timeScale"], 0.001);
    let config = std::fs::read_to_string(dir.path().join("config")).unwrap();
    assert!(config.contains("[DEFAULT]"), "{config}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "oci-sim did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "exit status {exit}");
    assert!(
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("{base}/_sim/time-scale"))
            .send()
            .await
            .is_err()
    );
}

fn run_sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_oci-sim"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn binary_refuses_a_bad_time_scale_with_a_clear_error_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    for scale in ["0", "1e300", "0.0000001"] {
        let out = run_sim(&["--time-scale", scale, "--out", out_dir]);
        assert_eq!(out.status.code(), Some(1), "--time-scale {scale}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("time scale must be a number from 0.000001 to 1000"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn binary_exits_1_on_bad_arguments_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&[], "--out"),
        (&["--out", out_dir, "--no-such-flag"], "--no-such-flag"),
        (
            &["--out", out_dir, "--listen", "not-an-address"],
            "--listen",
        ),
        (&["--out", out_dir, "--seed", "-3"], "-3"),
    ];
    for (args, named) in cases {
        let out = run_sim(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn binary_help_and_version_exit_0_on_stdout() {
    let out = run_sim(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("--time-scale"), "{stdout}");
    let out = run_sim(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("oci-sim "));
}

#[test]
fn binary_refuses_a_port_in_use_naming_the_address_with_exit_2() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = run_sim(&["--listen", &addr, "--out", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(stderr.contains("caused by"), "{stderr}");
}

#[test]
fn binary_refuses_an_unusable_output_directory_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let out = run_sim(&["--out", file.join("sim").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot create the output directory"),
        "{stderr}"
    );
    assert!(stderr.contains("a-file"), "{stderr}");
}
