//! What the router serves from: the opened fleet, the token's digest and a cached [`View`]
//! of the ledger (metrics snapshot, control status, events), so read-only routes never call
//! OCI per request.
//!
//! # Rules
//! - The view is built from the ledger alone (`fleetctl_core::metrics`). It is rebuilt after
//!   every step and mutation this process makes ([`AppState::publish`]), and otherwise by
//!   reading the ledger again from the store, at most once per [`Options::refresh_every`]
//!   however many clients ask (reads are single-flight). So a dashboard left open costs one
//!   store read every few seconds and no OCI call.
//! - `/status` compares the ledger with what OCI reports: it observes OCI, at most once per
//!   [`Options::status_ttl`] (single-flight too), and serves the cached answer in between.
//! - Subscribers ([`AppState::subscribe`], the SSE route) are told when the view changes;
//!   a view that differs only in its `at` time is not a change.
//! - Steps of this process never overlap ([`AppState::step`] holds one lock), so the control
//!   loop and `POST /reconcile` take turns.

use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use fleetctl_api::metrics::{ControlStatus, EventHistory, MetricsSnapshot, RolloutHistory};
use fleetctl_api::status::FleetStatus;
use fleetctl_core::fleet::Fleet;
use fleetctl_core::ops::{self, Context, StepError, StepReport};
use fleetctl_core::plan::Mode;
use fleetctl_core::store::ledger::Ledger;
use time::OffsetDateTime;
use tokio::sync::{Mutex, Notify, watch};

use crate::auth::TokenDigest;

/// What the read-only routes serve: one ledger, seen three ways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// `GET /metrics`.
    pub metrics: MetricsSnapshot,
    /// `GET /control`.
    pub control: ControlStatus,
    /// `GET /events`.
    pub events: EventHistory,
    /// The id of the ledger's newest event (0 when none): the SSE `id:`.
    pub newest_event_id: u64,
    /// `GET /rollout/history`.
    pub history: RolloutHistory,
}

impl View {
    /// True when `other` shows the same fleet, whatever its `at`.
    fn same_as(&self, other: &View) -> bool {
        let mut a = self.clone();
        a.metrics.at.clear();
        let mut b = other.clone();
        b.metrics.at.clear();
        a == b
    }
}

/// How fresh the caches are kept.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The longest a read-only route serves a view before the ledger is read again.
    pub refresh_every: Duration,
    /// The longest `/status` serves an observation of OCI before observing again.
    pub status_ttl: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            refresh_every: Duration::from_secs(2),
            status_ttl: Duration::from_secs(10),
        }
    }
}

/// The router's state (cheap to clone).
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    fleet: Fleet,
    token: TokenDigest,
    options: Options,
    view: watch::Sender<Option<Arc<View>>>,
    /// When the ledger was last read; held while it is read, so reads are single-flight.
    read_at: Mutex<Option<Instant>>,
    status: Mutex<Option<(Instant, Arc<FleetStatus>)>>,
    step_lock: Mutex<()>,
    kick: Notify,
    shutdown: watch::Sender<bool>,
    loaded_at: OffsetDateTime,
    last_error: StdMutex<Option<String>>,
}

impl AppState {
    /// The state of a server of `fleet` whose mutations need the token of `token`.
    pub fn new(fleet: Fleet, token: TokenDigest) -> AppState {
        AppState::with_options(fleet, token, Options::default())
    }

    /// [`AppState::new`] with other cache periods.
    pub fn with_options(fleet: Fleet, token: TokenDigest, options: Options) -> AppState {
        let loaded_at = fleet.client().clock().now();
        AppState(Arc::new(Inner {
            fleet,
            token,
            options,
            view: watch::Sender::new(None),
            read_at: Mutex::new(None),
            status: Mutex::new(None),
            step_lock: Mutex::new(()),
            kick: Notify::new(),
            shutdown: watch::Sender::new(false),
            loaded_at,
            last_error: StdMutex::new(None),
        }))
    }

    /// The fleet.
    pub fn fleet(&self) -> &Fleet {
        &self.0.fleet
    }

    /// What the core's operations work with.
    pub fn context(&self) -> &Context {
        self.0.fleet.context()
    }

    /// The token's digest.
    pub fn token(&self) -> &TokenDigest {
        &self.0.token
    }

    /// The cache periods.
    pub fn options(&self) -> Options {
        self.0.options
    }

    /// The current view, reading the ledger first when the view is older than
    /// [`Options::refresh_every`].
    ///
    /// # Errors
    /// The store's error when there is no view yet and the ledger cannot be read (with a
    /// view, a failed read is logged and the older view served).
    pub async fn view(&self) -> Result<Arc<View>, fleetctl_core::Error> {
        self.refresh_if_stale().await?;
        match self.0.view.borrow().clone() {
            Some(v) => Ok(v),
            None => Err(fleetctl_core::Error::Internal(
                "no view after reading the ledger".into(),
            )),
        }
    }

    /// Reads the ledger again when the view is older than [`Options::refresh_every`] (one
    /// read at a time; callers that arrive meanwhile wait for it and share its result).
    ///
    /// # Errors
    /// As [`AppState::view`].
    pub async fn refresh_if_stale(&self) -> Result<(), fleetctl_core::Error> {
        let mut read_at = self.0.read_at.lock().await;
        let fresh = read_at.is_some_and(|t| t.elapsed() < self.0.options.refresh_every);
        if fresh && self.0.view.borrow().is_some() {
            return Ok(());
        }
        let loaded = ops::load(self.context()).await;
        *read_at = Some(Instant::now());
        match loaded {
            Ok((ledger, _)) => {
                self.publish_view(&ledger);
                Ok(())
            }
            Err(e) if self.0.view.borrow().is_some() => {
                tracing::warn!(error = %e, "cannot read the ledger; serving the last view");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Rebuilds the view from `ledger` (after a step or a mutation of this process) and tells
    /// subscribers when it changed.
    pub async fn publish(&self, ledger: &Ledger) {
        let mut read_at = self.0.read_at.lock().await;
        self.publish_view(ledger);
        *read_at = Some(Instant::now());
    }

    fn publish_view(&self, ledger: &Ledger) {
        let config = &self.context().config;
        let now = self.fleet().client().clock().now();
        let waiting_on: &[String] = ledger
            .operation
            .as_ref()
            .filter(|o| !o.status.is_finished())
            .map_or(&[], |o| o.waiting_on.as_slice());
        let last_error = self.last_error();
        let view = View {
            metrics: fleetctl_core::metrics::snapshot(config, ledger, waiting_on, now),
            control: fleetctl_core::metrics::control_status(
                config,
                ledger,
                last_error.as_deref(),
                Some(self.0.loaded_at),
            ),
            events: fleetctl_core::metrics::events(ledger),
            newest_event_id: ledger.newest_event_id(),
            history: fleetctl_core::metrics::rollout_history(config, ledger),
        };
        self.0.view.send_if_modified(|current| match current {
            Some(old) if old.same_as(&view) => false,
            _ => {
                *current = Some(Arc::new(view));
                true
            }
        });
    }

    /// A receiver told of every change of the view.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<View>>> {
        self.0.view.subscribe()
    }

    /// The last step's error, `None` when it succeeded (or none ran).
    pub fn last_error(&self) -> Option<String> {
        self.0
            .last_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    fn set_last_error(&self, error: Option<String>) {
        if let Ok(mut e) = self.0.last_error.lock() {
            *e = error;
        }
    }

    /// One reconcile step of `mode` within `budget`, never at the same time as another step
    /// of this process; the view is rebuilt after it.
    ///
    /// # Errors
    /// As [`ops::step_within`]; the error is kept as the control status's `lastError`.
    pub async fn step(&self, mode: Mode, budget: Duration) -> Result<StepReport, StepError> {
        let _turn = self.0.step_lock.lock().await;
        let result = ops::step_within(self.context(), mode, budget).await;
        match &result {
            Ok(report) => {
                self.set_last_error(None);
                self.publish(&report.ledger).await;
            }
            Err(StepError::LeaseBusy(_)) => {}
            Err(StepError::Other(e)) => {
                // The control status says a step failed; the details are in the log only.
                tracing::warn!(error = %e, "reconcile step failed");
                self.set_last_error(Some(crate::error::step_error_summary(e)));
                // The view may show the error; read the ledger for it on the next request.
                *self.0.read_at.lock().await = None;
            }
        }
        result
    }

    /// Releases this process's lease when it holds it and no step runs.
    pub async fn release_if_idle(&self) {
        let Ok(_turn) = self.0.step_lock.try_lock() else {
            return;
        };
        let ctx = self.context();
        let now = ctx.cloud.client.clock().now();
        let held = match ops::read(ctx).await {
            Ok(Some((ledger, _))) => ledger.lease.is_held_by(&ctx.holder, now),
            _ => false,
        };
        if held && let Err(e) = ops::release(ctx).await {
            tracing::warn!(error = %e, "cannot release the lease");
        }
    }

    /// `GET /status`: the status observed at most [`Options::status_ttl`] ago.
    ///
    /// # Errors
    /// As [`Fleet::status`].
    pub async fn status(&self) -> Result<Arc<FleetStatus>, fleetctl_core::Error> {
        let mut cached = self.0.status.lock().await;
        if let Some((at, status)) = cached.as_ref()
            && at.elapsed() < self.0.options.status_ttl
        {
            return Ok(status.clone());
        }
        let status = Arc::new(self.fleet().status().await?);
        *cached = Some((Instant::now(), status.clone()));
        Ok(status)
    }

    /// Wakes the control loop (after a mutation), if one runs.
    pub fn kick(&self) {
        self.0.kick.notify_one();
    }

    /// Resolves at the next [`AppState::kick`] (or at once when one came meanwhile).
    pub async fn kicked(&self) {
        self.0.kick.notified().await;
    }

    /// Tells the control loop and every SSE stream to end.
    pub fn shut_down(&self) {
        self.0.shutdown.send_replace(true);
    }

    /// Resolves once [`AppState::shut_down`] was called.
    pub async fn shutting_down(&self) {
        let mut rx = self.0.shutdown.subscribe();
        let _ = rx.wait_for(|down| *down).await;
    }

    /// True once [`AppState::shut_down`] was called.
    pub fn is_shutting_down(&self) -> bool {
        *self.0.shutdown.borrow()
    }
}
