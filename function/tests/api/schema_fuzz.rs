//! Issue 12 item 4, the schema-driven fuzz run: schemathesis (from `tests/python/requirements.txt`,
//! installed by `cargo xtask setup`) reads `/openapi.json` from the router served on a free
//! loopback port (as `fleetctl serve` and the function's HTTP mode serve it) and sends a
//! bounded number of generated requests, valid and invalid, to every operation. It fails on
//! any 5xx, a status, content type or body the document does not declare.

use std::time::Duration;

use crate::openapi::python;
use crate::support::{Api, TOKEN};

/// Examples per operation (`FLEETCTL_SCHEMA_FUZZ_EXAMPLES` for a longer run).
const EXAMPLES: u32 = 60;
/// The seed, so a failure replays.
const SEED: u64 = 1212;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_5xx_and_no_answer_outside_the_document() {
    let api = Api::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = api.router.clone();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let examples = std::env::var("FLEETCTL_SCHEMA_FUZZ_EXAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(EXAMPLES);
    let report = tempfile::tempdir().unwrap();
    let junit = report.path().join("junit.xml");
    let mut cmd = tokio::process::Command::new(python());
    cmd.args(["-m", "schemathesis.cli", "run"])
        .arg(format!("http://{addr}/openapi.json"))
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance",
            "--max-examples",
            &examples.to_string(),
            "--seed",
            &SEED.to_string(),
            "--workers",
            "1",
            "--phases",
            "examples,coverage,fuzzing",
            "--generation-database",
            "none",
            "--request-timeout",
            "20",
            // An event stream never ends: it has its own tests (`sse.rs`).
            "--exclude-path",
            "/events",
            "--header",
            &format!("Authorization: Bearer {TOKEN}"),
            "--report",
            "junit",
            "--report-junit-path",
        ])
        .arg(&junit)
        // Its caches (`.hypothesis`, `.schemathesis`) go to the temporary directory.
        .current_dir(report.path())
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "")
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .expect("schemathesis finished within 300 s")
        .expect("schemathesis runs (`cargo xtask setup` installs it)");
    server.abort();
    if std::env::var_os("FLEETCTL_SCHEMA_FUZZ_SHOW").is_some() {
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{stdout}\n{stderr}"
    );
    // The run really tested the operations: the report lists them, none failed.
    let report = std::fs::read_to_string(&junit).unwrap();
    let cases = report.matches("<testcase").count();
    assert!(
        cases >= 10,
        "only {cases} operations tested:\n{report}\n{stdout}"
    );
    assert!(!report.contains("<failure"), "{report}");
    // "Test cases:" is followed by "N generated, N passed".
    let generated = stdout
        .lines()
        .skip_while(|l| !l.starts_with("Test cases:"))
        .nth(1)
        .unwrap_or_default()
        .trim();
    assert!(
        generated.contains("generated"),
        "no test cases run:\n{stdout}"
    );
    println!(
        "schemathesis: {cases} operations, at most {examples} examples each, seed {SEED}: \
         {generated}, 5xx 0"
    );
}
