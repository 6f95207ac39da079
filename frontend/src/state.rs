//! The page's state: reactive signals, shared by every part of the page (`AppState` is
//! `Copy`).

use fleetctl_api::metrics::{ControlStatus, EventEntry, MetricsSnapshot};
use leptos::prelude::*;

use crate::actions::Confirm;
use crate::time;

/// The most events the timeline keeps (the ledger keeps 200).
pub const MAX_EVENTS: usize = 200;

/// The live stream (`GET /events`, server-sent events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Opening.
    Connecting,
    /// Open: snapshots and events arrive as they happen.
    Open,
    /// Dropped; the browser is reconnecting (it resumes with `Last-Event-ID`).
    Retrying,
    /// Refused or unavailable (a gateway without streaming): the page polls and tries again
    /// later.
    Closed,
}

/// The last poll of `/metrics` and `/control` (only while the stream is not open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// No poll since the stream last closed.
    Idle,
    /// The last poll answered.
    Ok,
    /// The last poll failed.
    Failing,
}

/// What the connection indicator says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// Before the first answer.
    Connecting,
    /// Streaming.
    Live,
    /// Streaming unavailable, polling works.
    Polling,
    /// Neither: the server is gone or unreachable; the page keeps trying.
    Lost,
}

/// Why the token prompt shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// The server requires a token and this tab has none.
    Required,
    /// The server refused the token (401).
    Refused,
}

/// The result of the last control action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Accepted (or refused).
    pub ok: bool,
    /// What happened, for people.
    pub text: String,
}

/// Everything the page shows and changes.
#[derive(Clone, Copy)]
pub struct AppState {
    /// The latest metrics snapshot.
    pub snapshot: RwSignal<Option<MetricsSnapshot>>,
    /// The latest control status.
    pub control: RwSignal<Option<ControlStatus>>,
    /// The recent events, oldest first.
    pub events: RwSignal<Vec<EventEntry>>,
    /// The stream's state.
    pub stream: RwSignal<Stream>,
    /// The polling fallback's state.
    pub poll: RwSignal<Poll>,
    /// The token for mutations, if known.
    pub token: RwSignal<Option<String>>,
    /// Whether the server says mutations need a token.
    pub token_required: RwSignal<bool>,
    /// The token prompt, when shown.
    pub prompt: RwSignal<Option<Prompt>>,
    /// A destructive action waiting for confirmation (any button can ask: the paused
    /// banner's Abort too).
    pub confirm: RwSignal<Option<Confirm>>,
    /// The last control action's result.
    pub outcome: RwSignal<Option<Outcome>>,
    /// A problem with what the server sent (never swallowed).
    pub notice: RwSignal<Option<String>>,
    /// The server's fleetctl version.
    pub version: RwSignal<Option<String>>,
    /// The browser's clock, refreshed every second (ages and durations follow it).
    pub now: RwSignal<f64>,
    /// The browser's clock minus the server's, as of the last snapshot.
    pub skew: RwSignal<f64>,
}

impl AppState {
    /// Empty state with the tab's token.
    pub fn new(token: Option<String>) -> Self {
        AppState {
            snapshot: RwSignal::new(None),
            control: RwSignal::new(None),
            events: RwSignal::new(Vec::new()),
            stream: RwSignal::new(Stream::Connecting),
            poll: RwSignal::new(Poll::Idle),
            token: RwSignal::new(token),
            token_required: RwSignal::new(false),
            prompt: RwSignal::new(None),
            confirm: RwSignal::new(None),
            outcome: RwSignal::new(None),
            notice: RwSignal::new(None),
            version: RwSignal::new(None),
            now: RwSignal::new(time::now_ms()),
            skew: RwSignal::new(0.0),
        }
    }

    /// What the connection indicator says.
    pub fn connection(&self) -> Connection {
        match (self.stream.get(), self.poll.get()) {
            (Stream::Open, _) => Connection::Live,
            (_, Poll::Ok) => Connection::Polling,
            (Stream::Connecting, Poll::Idle) => Connection::Connecting,
            _ => Connection::Lost,
        }
    }

    /// The server's clock now, by the browser's clock and the last snapshot's skew.
    pub fn server_now(&self) -> f64 {
        self.now.get() - self.skew.get()
    }

    /// Milliseconds from `at` (a server time) to the server's now.
    pub fn since(&self, at: &str) -> Option<f64> {
        time::parse_ms(at).map(|t| self.server_now() - t)
    }

    /// Takes a new snapshot.
    pub fn apply_snapshot(&self, s: MetricsSnapshot) {
        if let Some(at) = time::parse_ms(&s.at) {
            self.skew.set(time::now_ms() - at);
        }
        self.snapshot.set(Some(s));
    }

    /// Appends an event unless the timeline already has it (a resumed stream and a
    /// re-read history can both carry it): the same id, or for a server that does not
    /// number events (id 0), the same event.
    pub fn push_event(&self, e: EventEntry) {
        self.events.update(|list| {
            let known = |x: &EventEntry| if e.id == 0 { x == &e } else { x.id == e.id };
            if list.iter().rev().take(MAX_EVENTS).any(known) {
                return;
            }
            list.push(e);
            if list.len() > MAX_EVENTS {
                let extra = list.len() - MAX_EVENTS;
                list.drain(..extra);
            }
        });
    }

    /// Stores a token for this tab and hides the prompt.
    pub fn set_token(&self, token: String) {
        crate::token::save(&token);
        self.token.set(Some(token));
        self.prompt.set(None);
    }

    /// Forgets the tab's token.
    pub fn forget_token(&self) {
        crate::token::forget();
        self.token.set(None);
        if self.token_required.get_untracked() {
            self.prompt.set(Some(Prompt::Required));
        }
    }
}
