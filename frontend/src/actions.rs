//! The control actions: what each sends, which need a confirmation, and sending them.

use fleetctl_api::http::{
    Accepted, PauseRequest, RollingRestartRequest, RolloutRequest, ScaleRequest, UndoRequest,
};
use fleetctl_api::metrics::{MetricsSnapshot, OperationKind, Strategy};
use leptos::prelude::*;

use crate::live;
use crate::net::{self, Failure};
use crate::state::{AppState, Outcome, Prompt};

/// A control action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `POST /scale`.
    Scale(u32),
    /// `POST /rolling-restart`, with a strategy or the fleet file's.
    RollingRestart(Option<Strategy>),
    /// `POST /rollout`: replace the instances whose launch details differ from the fleet
    /// file's.
    Rollout,
    /// `POST /rollout/undo`: a rolling update back to the revision before the fleet file's.
    Undo,
    /// `POST /sync-state`.
    SyncState,
    /// `POST /pause`.
    Pause,
    /// `POST /resume`.
    Resume,
    /// `POST /abort`.
    Abort,
}

impl Action {
    /// The path and JSON body.
    fn request(self) -> (&'static str, String) {
        match self {
            Action::Scale(desired) => ("scale", json(&ScaleRequest { desired })),
            Action::RollingRestart(strategy) => {
                ("rolling-restart", json(&RollingRestartRequest { strategy }))
            }
            Action::Rollout => ("rollout", json(&RolloutRequest { dry_run: false })),
            Action::Undo => ("rollout/undo", json(&UndoRequest { to_revision: None })),
            Action::SyncState => ("sync-state", "{}".to_string()),
            Action::Pause => ("pause", json(&PauseRequest::default())),
            Action::Resume => ("resume", "{}".to_string()),
            Action::Abort => ("abort", "{}".to_string()),
        }
    }

    /// The action in words.
    pub fn label(self) -> String {
        match self {
            Action::Scale(n) => format!("Scale to {n}"),
            Action::RollingRestart(None) => "Rolling restart".to_string(),
            Action::RollingRestart(Some(Strategy::Replace)) => {
                "Rolling restart (replace)".to_string()
            }
            Action::RollingRestart(Some(Strategy::Reboot)) => {
                "Rolling restart (reboot)".to_string()
            }
            Action::Rollout => "Roll out".to_string(),
            Action::Undo => "Undo rollout".to_string(),
            Action::SyncState => "Sync state".to_string(),
            Action::Pause => "Pause".to_string(),
            Action::Resume => "Resume".to_string(),
            Action::Abort => "Abort".to_string(),
        }
    }
}

fn json<T: serde::Serialize>(request: &T) -> String {
    // The request types serialise infallibly (plain fields).
    serde_json::to_string(request).unwrap_or_else(|_| "{}".to_string())
}

/// A destructive action waiting for a person's yes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    /// The action.
    pub action: Action,
    /// The question.
    pub question: String,
}

/// The total a scale request starts from: the last queued request, else a running or paused
/// scale's target, else the active instances.
pub fn scale_reference(s: &MetricsSnapshot) -> u32 {
    if let Some(last) = s.scale_queue.last() {
        return *last;
    }
    if s.operation == Some(OperationKind::Scale) && s.operation_active() {
        return s.target_total;
    }
    s.actual
}

/// The question to ask before `action`, when it destroys something: a scale-down (it
/// terminates instances), a rolling update or its undo (they replace instances), or an
/// abort.
pub fn confirmation(action: Action, s: Option<&MetricsSnapshot>) -> Option<String> {
    match action {
        Action::Scale(desired) => {
            let from = scale_reference(s?);
            (desired < from).then(|| {
                let n = from - desired;
                format!(
                    "Scale down from {from} to {desired}? {n} instance{} will be drained and \
                     terminated.",
                    if n == 1 { "" } else { "s" }
                )
            })
        }
        Action::Rollout => {
            let s = s?;
            let n = s.outdated;
            let to = s
                .revision
                .map(|r| format!(" to revision {r}"))
                .unwrap_or_default();
            Some(if n == 0 {
                format!("Roll out{to}? No instance is outdated: nothing will be replaced.")
            } else {
                format!(
                    "Roll out{to}? {n} outdated instance{} will be replaced one surge at a \
                     time, each drained before it is terminated.",
                    if n == 1 { "" } else { "s" }
                )
            })
        }
        Action::Undo => Some(
            "Undo the rollout? The fleet goes back to the launch details of the revision before \
             the fleet file's: every instance launched from another revision is replaced, each \
             drained before it is terminated."
                .to_string(),
        ),
        Action::Abort => Some(
            "Abort the operation? No new steps start; steps in flight finish, then it ends as \
             cancelled. It cannot be resumed."
                .to_string(),
        ),
        _ => None,
    }
}

/// Sends `action` with the tab's token and records the outcome; a 401 asks for a token.
pub fn send(app: AppState, action: Action) {
    let token = app.token.get_untracked();
    if token.is_none() && app.token_required.get_untracked() {
        app.prompt.set(Some(Prompt::Required));
        app.outcome.set(Some(Outcome {
            ok: false,
            text: format!("{}: a token is needed; enter it above.", action.label()),
        }));
        return;
    }
    app.outcome.set(Some(Outcome {
        ok: true,
        text: format!("{}: sending…", action.label()),
    }));
    leptos::task::spawn_local(async move {
        let (path, body) = action.request();
        let result = net::post(path, &body, token.as_deref()).await;
        let outcome = match result {
            Ok((status, body)) => Outcome {
                ok: true,
                text: match serde_json::from_str::<Accepted>(&body) {
                    Ok(a) => format!(
                        "{}: accepted (HTTP {status}): {}",
                        action.label(),
                        a.message
                    ),
                    Err(_) => format!("{}: accepted (HTTP {status}).", action.label()),
                },
            },
            Err(Failure::Unauthorized(message)) => {
                app.forget_token();
                app.prompt.set(Some(Prompt::Refused));
                Outcome {
                    ok: false,
                    text: format!(
                        "{}: refused, {message}. Enter the token above.",
                        action.label()
                    ),
                }
            }
            Err(e) => Outcome {
                ok: false,
                text: format!("{} failed: {e}", action.label()),
            },
        };
        app.outcome.set(Some(outcome));
        live::refresh(app);
    });
}
