//! The one way the bad-input suites run property tests: a proptest runner that is seeded (the
//! seed is printed, and `FLEETCTL_PROPTEST_SEED` replays it), bounded (`cases` by default,
//! `FLEETCTL_PROPTEST_CASES` for a longer run) and writes no persistence files.
//!
//! A panic in a case fails the run (proptest catches it, shrinks the input and reports it),
//! so "no panic" is checked for every input tried.

use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// The seed when `FLEETCTL_PROPTEST_SEED` is not set.
pub const DEFAULT_SEED: u64 = 0x5eed_0012;

/// A runner for the suite `name` with `cases` cases unless `FLEETCTL_PROPTEST_CASES` says
/// otherwise; prints the suite, the seed and the case count on stderr.
pub fn runner(name: &str, cases: u32) -> TestRunner {
    let cases = std::env::var("FLEETCTL_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    let seed = std::env::var("FLEETCTL_PROPTEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    eprintln!(
        "{name}: {cases} cases, seed {seed} (FLEETCTL_PROPTEST_SEED={seed} replays, \
         FLEETCTL_PROPTEST_CASES=N runs longer)"
    );
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 512,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// Runs `test` over `strategy` and fails the calling test with proptest's report (the
/// smallest failing input) when any case fails or panics.
pub fn check<S, F>(runner: &mut TestRunner, strategy: &S, test: F)
where
    S: proptest::strategy::Strategy,
    S::Value: std::fmt::Debug,
    F: Fn(S::Value) -> Result<(), proptest::test_runner::TestCaseError>,
{
    if let Err(e) = runner.run(strategy, test) {
        panic!("property failed: {e}");
    }
}
