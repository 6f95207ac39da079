//! The control loop of a long-running server (`fleetctl serve`, `fleetctl demo`): reconcile
//! steps with the control loop's repairs, every period, sooner while an operation is in
//! progress (as the step says) and at once after a mutation ([`AppState::kick`]).
//!
//! # Guarantees
//! - Steps of this process never overlap (`POST /reconcile` waits its turn).
//! - The lease is released whenever a step leaves nothing in progress, so a `fleetctl`
//!   command run meanwhile does not wait for it to expire.
//! - On shutdown the step in flight gets [`SHUTDOWN_GRACE`] to finish; past that it is
//!   dropped (a step is safe to stop at any point: the next one resumes it) and the lease is
//!   left to expire, since a dropped call may still reach OCI. When idle, the lease is
//!   released.

use std::time::Duration;

use fleetctl_core::ops::{self, StepError};
use fleetctl_core::plan::Mode;

use crate::state::AppState;

/// How long a step in flight may take to finish once shutdown is asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Runs the loop until [`AppState::shut_down`].
pub async fn run(state: AppState, every: Duration) {
    loop {
        if state.is_shutting_down() {
            break;
        }
        let step = state.step(Mode::Control, ops::STEP_BUDGET);
        tokio::pin!(step);
        let result = tokio::select! {
            r = &mut step => Some(r),
            () = state.shutting_down() => tokio::time::timeout(SHUTDOWN_GRACE, &mut step).await.ok(),
        };
        let Some(result) = result else {
            tracing::warn!(
                "shutting down: the step in flight was stopped; the next step resumes it (the \
                 lease expires on its own)"
            );
            return;
        };
        let wait = match result {
            Ok(report) => {
                for line in &report.did {
                    tracing::info!(step = %fleetctl_api::text::terminal_safe(line), "reconcile");
                }
                if report.requeue_after.is_some() {
                    report.poll_after()
                } else {
                    state.release_if_idle().await;
                    every
                }
            }
            Err(StepError::LeaseBusy(busy)) => {
                tracing::info!(until = %busy.expires, "another process holds the lease; waiting");
                let now = state.context().cloud.client.clock().now();
                let left = Duration::try_from(busy.expires.get() - now).unwrap_or(Duration::ZERO);
                left.clamp(ops::MIN_POLL, every.max(ops::MIN_POLL))
            }
            // Logged and kept as lastError by the state; the next period tries again.
            Err(StepError::Other(_)) => every,
        };
        if state.is_shutting_down() {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.kicked() => {}
            () = state.shutting_down() => break,
        }
    }
    state.release_if_idle().await;
}
