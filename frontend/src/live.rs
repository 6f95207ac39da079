//! Live updates: the `/events` stream (server-sent events) with the browser's automatic
//! reconnect (it resumes with `Last-Event-ID`), and polling of `/metrics`, `/control` and
//! `/events` whenever the stream is not open (a gateway without streaming, a server restart).
//!
//! - Stream open: snapshots and events arrive as they happen; `/control` is read every
//!   [`CONTROL_EVERY`] seconds (the stream does not carry it).
//! - Stream dropped (`Retrying`) or refused (`Closed`): poll every [`POLL_EVERY`] seconds; a
//!   closed stream is opened again every [`REOPEN_EVERY`] seconds.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use fleetctl_api::metrics::{ControlStatus, EventEntry, EventHistory, MetricsSnapshot};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{EventSource, MessageEvent};

use fleetctl_api::http::Health;

use crate::net::{self, Failure};
use crate::state::{AppState, Poll, Prompt, Stream};
use crate::time;

/// Seconds between polls while the stream is not open.
pub const POLL_EVERY: u32 = 2;
/// Seconds between reads of `/control` while the stream is open.
pub const CONTROL_EVERY: u32 = 5;
/// Seconds between attempts to open a closed stream.
pub const REOPEN_EVERY: u32 = 10;

type Handler = Closure<dyn FnMut(web_sys::Event)>;

/// The open stream and its handlers (dropping it closes the stream).
struct Live {
    source: EventSource,
    _handlers: Vec<Handler>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.source.close();
    }
}

thread_local! {
    static LIVE: RefCell<Option<Live>> = const { RefCell::new(None) };
    static POLLING: Cell<bool> = const { Cell::new(false) };
}

/// Starts everything: the health check, the stream, the first reads and the one-second tick.
pub fn start(app: AppState) {
    spawn_local(read_health(app));
    spawn_local(poll_all(app, false));
    open_stream(app);
    let ticks = Cell::new(0u32);
    let closed_for = Cell::new(0u32);
    set_interval(
        move || {
            let t = ticks.get().wrapping_add(1);
            ticks.set(t);
            app.now.set(time::now_ms());
            match app.stream.get_untracked() {
                Stream::Open => {
                    closed_for.set(0);
                    if t.is_multiple_of(CONTROL_EVERY) {
                        spawn_local(read_control(app));
                    }
                }
                state => {
                    if t.is_multiple_of(POLL_EVERY) {
                        spawn_local(poll_all(app, true));
                    }
                    if state == Stream::Closed {
                        closed_for.set(closed_for.get() + 1);
                        if closed_for.get() >= REOPEN_EVERY {
                            closed_for.set(0);
                            open_stream(app);
                        }
                    }
                }
            }
        },
        Duration::from_secs(1),
    );
}

/// Reads everything again now (after a control action, when the stream is not open).
pub fn refresh(app: AppState) {
    if app.stream.get_untracked() != Stream::Open {
        spawn_local(poll_all(app, true));
    }
    spawn_local(read_control(app));
}

fn message_data(event: &web_sys::Event) -> Option<String> {
    event.dyn_ref::<MessageEvent>()?.data().as_string()
}

fn open_stream(app: AppState) {
    // Close the previous stream first (its handlers go with it).
    LIVE.with(|l| l.borrow_mut().take());
    let source = match EventSource::new("events") {
        Ok(s) => s,
        Err(_) => {
            app.stream.set(Stream::Closed);
            return;
        }
    };
    app.stream.set(Stream::Connecting);
    let on_open: Handler = Closure::new(move |_| {
        app.stream.set(Stream::Open);
        app.poll.set(Poll::Idle);
        // What happened while the stream was down: the history, the control status, and
        // the health (a restarted server may have a new version or token setting).
        spawn_local(read_history(app));
        spawn_local(read_control(app));
        spawn_local(read_health(app));
    });
    let watched = source.clone();
    let on_error: Handler = Closure::new(move |_| {
        let state = if watched.ready_state() == EventSource::CLOSED {
            Stream::Closed
        } else {
            Stream::Retrying
        };
        if app.stream.get_untracked() == Stream::Open {
            // Until a poll says otherwise, the server is gone.
            app.poll.set(Poll::Idle);
        }
        app.stream.set(state);
    });
    let on_snapshot: Handler = Closure::new(move |e: web_sys::Event| {
        let Some(data) = message_data(&e) else { return };
        match serde_json::from_str::<MetricsSnapshot>(&data) {
            Ok(s) => app.apply_snapshot(s),
            Err(err) => app.notice.set(Some(format!(
                "a snapshot this dashboard cannot read: {err}"
            ))),
        }
    });
    let on_event: Handler = Closure::new(move |e: web_sys::Event| {
        let Some(data) = message_data(&e) else { return };
        match serde_json::from_str::<EventEntry>(&data) {
            Ok(entry) => app.push_event(entry),
            Err(err) => app
                .notice
                .set(Some(format!("an event this dashboard cannot read: {err}"))),
        }
    });
    source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    for (name, handler) in [("snapshot", &on_snapshot), ("event", &on_event)] {
        if source
            .add_event_listener_with_callback(name, handler.as_ref().unchecked_ref())
            .is_err()
        {
            app.stream.set(Stream::Closed);
        }
    }
    LIVE.with(|l| {
        *l.borrow_mut() = Some(Live {
            source,
            _handlers: vec![on_open, on_error, on_snapshot, on_event],
        })
    });
}

async fn read_health(app: AppState) {
    if let Ok(h) = net::get::<Health>("healthz").await {
        app.version.set(Some(h.version));
        app.token_required.set(h.token_required);
        if h.token_required && app.token.get_untracked().is_none() {
            app.prompt.set(Some(Prompt::Required));
        }
    }
}

async fn read_control(app: AppState) {
    match net::get::<ControlStatus>("control").await {
        Ok(c) => app.control.set(Some(c)),
        Err(e @ Failure::Decode(_)) => app.notice.set(Some(e.to_string())),
        Err(_) => {}
    }
}

async fn read_history(app: AppState) {
    match net::get::<EventHistory>("events").await {
        Ok(h) => {
            for e in h.events {
                app.push_event(e);
            }
        }
        Err(e @ Failure::Decode(_)) => app.notice.set(Some(e.to_string())),
        Err(_) => {}
    }
}

/// Reads `/metrics`, `/control` and `/events`; with `mark`, records whether the server
/// answered (the connection indicator).
async fn poll_all(app: AppState, mark: bool) {
    if POLLING.with(|p| p.replace(true)) {
        return;
    }
    let metrics = net::get::<MetricsSnapshot>("metrics").await;
    let ok = match metrics {
        Ok(s) => {
            app.apply_snapshot(s);
            true
        }
        Err(e @ Failure::Decode(_)) => {
            app.notice.set(Some(e.to_string()));
            true
        }
        Err(_) => false,
    };
    if ok {
        read_control(app).await;
        read_history(app).await;
    }
    // The stream may have opened meanwhile: it is the better source then.
    if mark && app.stream.get_untracked() != Stream::Open {
        app.poll.set(if ok { Poll::Ok } else { Poll::Failing });
    }
    POLLING.with(|p| p.set(false));
}
