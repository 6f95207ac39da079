//! `GET /events` as Server-Sent Events (`Accept: text/event-stream`).
//!
//! # The contract (the dashboard relies on it; `docs/fleetctl-spec.md` section 6)
//! 1. On connect: `event: snapshot`, the metrics snapshot as `data:` (one JSON line).
//!    With `Last-Event-ID: N`, first every event after `N` that the ledger still keeps
//!    (`event: event`), then the snapshot.
//! 2. Then each new fleet event as `event: event` with one `EventEntry` as data, oldest
//!    first, and a new `event: snapshot` whenever the snapshot changes (its `at` alone does
//!    not count).
//! 3. Every message's `id:` is the ledger's newest event id when it was sent (an event's own
//!    id for `event: event`), so a reconnecting client resumes where it was; ids survive the
//!    ledger's 200-event window.
//! 4. A comment line (`: keep-alive`) every 15 s keeps proxies from closing the stream; the
//!    first message carries `retry: 2000`.
//!
//! Changes reach the stream when this process steps or takes a request, and otherwise from
//! reading the ledger again (shared by every client, at most once per refresh period). The
//! stream ends when the server shuts down.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use fleetctl_api::metrics::MetricsSnapshot;
use tokio::sync::watch;

use crate::error::ApiError;
use crate::state::{AppState, View};

/// How often a comment keeps an idle stream open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long a client waits before reconnecting (the `retry:` field).
const RETRY: Duration = Duration::from_secs(2);

/// The SSE answer, starting from `last_id` when the client resumes.
///
/// # Errors
/// As [`AppState::view`] (no view and the ledger cannot be read).
pub async fn stream(state: AppState, last_id: Option<u64>) -> Result<Response, ApiError> {
    let view = state.view().await?;
    let rx = state.subscribe();
    let mut s = Stream {
        state,
        rx,
        sent_id: last_id.unwrap_or(view.newest_event_id),
        sent_metrics: None,
        queue: VecDeque::new(),
    };
    s.diff(&view);
    if let Some(first) = s.queue.pop_front() {
        s.queue.push_front(first.retry(RETRY));
    }
    let events = futures::stream::unfold(s, |mut s| async move {
        s.next().await.map(|e| (Ok::<_, Infallible>(e), s))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response())
}

struct Stream {
    state: AppState,
    rx: watch::Receiver<Option<Arc<View>>>,
    /// The newest event id sent (or skipped, for a new client).
    sent_id: u64,
    /// The last snapshot sent, with `at` cleared.
    sent_metrics: Option<MetricsSnapshot>,
    queue: VecDeque<Event>,
}

impl Stream {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            if self.state.is_shutting_down() {
                return None;
            }
            let refresh = self.state.options().refresh_every;
            tokio::select! {
                changed = self.rx.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                () = tokio::time::sleep(refresh) => {
                    // Picks up what other processes wrote; a failed read keeps the old view.
                    let _ = self.state.refresh_if_stale().await;
                }
                () = self.state.shutting_down() => return None,
            }
            let view = self.rx.borrow_and_update().clone();
            if let Some(view) = view {
                self.diff(&view);
            }
        }
    }

    /// Queues what `view` has that the client has not seen: newer events, then the snapshot
    /// when it changed.
    fn diff(&mut self, view: &View) {
        if view.newest_event_id < self.sent_id {
            // The ledger was replaced (or the client's id is from another one): start over
            // from its newest event.
            self.sent_id = view.newest_event_id;
        }
        for entry in view.events.events.iter().filter(|e| e.id > self.sent_id) {
            match Event::default()
                .event("event")
                .id(entry.id.to_string())
                .json_data(entry)
            {
                Ok(e) => self.queue.push_back(e),
                Err(e) => tracing::warn!(error = %e, "cannot encode an event for SSE"),
            }
        }
        self.sent_id = view.newest_event_id;
        let mut metrics = view.metrics.clone();
        metrics.at.clear();
        if self.sent_metrics.as_ref() != Some(&metrics) {
            match Event::default()
                .event("snapshot")
                .id(view.newest_event_id.to_string())
                .json_data(&view.metrics)
            {
                Ok(e) => self.queue.push_back(e),
                Err(e) => tracing::warn!(error = %e, "cannot encode the snapshot for SSE"),
            }
            self.sent_metrics = Some(metrics);
        }
    }
}
