//! The page's parts, top to bottom: header and connection, alerts (paused, connection lost,
//! token), badges, the active operation, controls, the status grid, the event timeline.

use fleetctl_api::badges::{self, Badge, Tone};
use fleetctl_api::http::MAX_DESIRED;
use fleetctl_api::metrics::{
    EventEntry, EventLevel, HistoryEntry, InstanceRow, MetricsSnapshot, OperationKind,
    OperationStatus, RolloutState, Strategy,
};
use leptos::html;
use leptos::prelude::*;

use crate::actions::{self, Action, Confirm};
use crate::state::{AppState, Connection, Prompt};
use crate::time;

fn use_app() -> AppState {
    // Provided by `App` before any part renders.
    use_context::<AppState>().unwrap_or_else(|| AppState::new(None))
}

/// A JSON enum value as its wire name (`load_balancer`), so the page's hooks use the API's
/// own words.
fn wire_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn tone_class(t: Tone) -> &'static str {
    match t {
        Tone::Neutral => "neutral",
        Tone::Active => "active",
        Tone::Warning => "warning",
    }
}

/// The header: title, fleet, connection state.
#[component]
pub fn Header() -> impl IntoView {
    let app = use_app();
    let label = move || match app.connection() {
        Connection::Connecting => "Connecting…",
        Connection::Live => "Live",
        Connection::Polling => "Polling (live stream unavailable)",
        Connection::Lost => "Connection lost, reconnecting…",
    };
    let class = move || match app.connection() {
        Connection::Connecting => "conn conn-connecting",
        Connection::Live => "conn conn-live",
        Connection::Polling => "conn conn-polling",
        Connection::Lost => "conn conn-lost",
    };
    view! {
        <header class="top">
            <h1>"fleetctl"</h1>
            <p id="connection" class=class role="status" aria-live="polite">
                <span class="dot" aria-hidden="true"></span>
                {label}
            </p>
        </header>
    }
}

/// What must be seen first: a paused operation's reason, a lost connection, a problem with
/// what the server sent.
#[component]
pub fn Alerts() -> impl IntoView {
    let app = use_app();
    let paused = move || {
        app.snapshot.with(|s| {
            s.as_ref()
                .filter(|s| s.operation_status == Some(OperationStatus::Paused))
                .map(|s| {
                    (
                        operation_title(s),
                        s.paused_reason
                            .clone()
                            .unwrap_or_else(|| "paused by request".to_string()),
                    )
                })
        })
    };
    view! {
        {move || paused().map(|(title, reason)| view! {
            <section id="paused" class="alert alert-warning" role="alert" aria-labelledby="paused-h">
                <h2 id="paused-h">{format!("{title} is paused")}</h2>
                <p id="paused-reason">{reason}</p>
                <div class="buttons">
                    <button type="button" on:click=move |_| request(app, Action::Resume)>"Resume"</button>
                    <button type="button" class="danger" on:click=move |_| request(app, Action::Abort)>"Abort"</button>
                </div>
            </section>
        })}
        {move || (app.connection() == Connection::Lost).then(|| view! {
            <p id="connection-lost" class="alert alert-error" role="alert">
                "Connection to the server lost. Reconnecting… what is shown may be out of date."
            </p>
        })}
        {move || app.notice.get().map(|n| view! {
            <p id="notice" class="alert alert-error" role="alert">
                {format!("The server sent {n}")}
                " "
                <button type="button" class="link" on:click=move |_| app.notice.set(None)>"Dismiss"</button>
            </p>
        })}
    }
}

/// The token prompt (mutations need the token `fleetctl` printed).
#[component]
pub fn TokenPrompt() -> impl IntoView {
    let app = use_app();
    let input: NodeRef<html::Input> = NodeRef::new();
    Effect::new(move |_| {
        if app.prompt.get().is_some()
            && let Some(el) = input.get()
        {
            let _ = el.focus();
        }
    });
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let value = input
            .get()
            .map(|el| el.value().trim().to_string())
            .unwrap_or_default();
        if !value.is_empty() {
            app.set_token(value);
            app.outcome.set(None);
        }
    };
    view! {
        {move || app.prompt.get().map(|why| view! {
            <section id="token-prompt" class="alert alert-info" aria-labelledby="token-h">
                <h2 id="token-h">"API token needed"</h2>
                <p id="token-why">{match why {
                    Prompt::Required => "This server needs a token for changes (scale, restart, pause…). \
                        Paste the API token: the part after #token= in the address fleetctl demo printed, \
                        the token fleetctl serve printed, or the variable spec.api.tokenEnv names.",
                    Prompt::Refused => "The server refused the token. Paste the API token: the part after \
                        #token= in the address fleetctl demo printed, the token fleetctl serve printed, or \
                        the variable spec.api.tokenEnv names.",
                }}</p>
                <form class="row" on:submit=save>
                    <label for="token-input">"Token"</label>
                    <input id="token-input" type="password" autocomplete="off" spellcheck="false" node_ref=input />
                    <button type="submit" id="token-save">"Use token"</button>
                </form>
                <p class="hint">"Kept for this browser tab only."</p>
            </section>
        })}
    }
}

/// The badges, in the spec's order, with their texts from `fleetctl_api::badges`.
#[component]
pub fn Badges() -> impl IntoView {
    let app = use_app();
    let list = move || {
        app.snapshot
            .with(|s| s.as_ref().map(badges::badges).unwrap_or_default())
    };
    view! {
        <ul id="badges" class="badges" aria-label="Fleet summary">
            {move || list().into_iter().map(badge).collect_view()}
        </ul>
    }
}

/// A badge; its detail shows under the text when the badge needs attention (drift, a paused
/// reason), else as its tooltip (the load balancer's explanation).
fn badge(b: Badge) -> impl IntoView {
    let class = format!("badge tone-{}", tone_class(b.tone));
    let (shown, tooltip) = match b.tone {
        Tone::Neutral => (None, b.detail),
        _ => (b.detail, None),
    };
    view! {
        <li class=class data-kind=wire_name(&b.kind) title=tooltip>
            <span class="badge-text">{b.text}</span>
            {shown.map(|d| view! { <span class="badge-detail">{d}</span> })}
        </li>
    }
}

fn operation_title(s: &MetricsSnapshot) -> String {
    match s.operation {
        Some(OperationKind::Scale) => format!("Scale to {}", s.target_total),
        Some(OperationKind::RollingRestart) => match (s.rollout.as_ref(), s.strategy) {
            (Some(r), _) if r.update.is_some() => update_title(r),
            (_, Some(Strategy::Reboot)) => "Rolling restart (reboot)".to_string(),
            _ => "Rolling restart (replace)".to_string(),
        },
        Some(OperationKind::SyncState) => "Sync state".to_string(),
        None => "No operation".to_string(),
    }
}

/// A rolling update's title: what kind (rollout, undo, rollback) and to which revision.
fn update_title(r: &RolloutState) -> String {
    let what = match r.update.as_deref() {
        Some("undo") => "Undo",
        Some("rollback") => "Rollback",
        _ => "Rolling update",
    };
    match r.revision {
        Some(n) => format!("{what} to revision {n}"),
        None => what.to_string(),
    }
}

/// A checkpoint in words: where it is and what it waits for.
fn checkpoint_text(r: &RolloutState) -> Option<String> {
    let c = r.checkpoint.as_ref()?;
    let wait = if c.wait == "resume" {
        "waits for Resume".to_string()
    } else {
        format!("bakes {} s with every backend healthy", c.wait)
    };
    let verdict = match c.verdict.as_str() {
        "waiting" => format!("waiting: {wait}"),
        "resumed" => "resumed".to_string(),
        "healthy" => "passed: healthy through the bake".to_string(),
        "unhealthy" => "a backend was unhealthy during the bake: paused".to_string(),
        other => other.to_string(),
    };
    Some(format!(
        "Checkpoint {}%: {} of {} done · {verdict}",
        c.percent, c.done, c.total
    ))
}

/// How far an operation is: (done, of, what is counted); `None` when it has no count.
fn progress_of(s: &MetricsSnapshot) -> Option<(u32, u32, &'static str)> {
    match s.operation? {
        OperationKind::Scale if s.target_total >= s.start_total => Some((
            s.launch_succeeded,
            s.launch_total,
            "launched and in service",
        )),
        OperationKind::Scale => Some((s.terminate_succeeded, s.terminate_total, "terminated")),
        OperationKind::RollingRestart if s.strategy == Some(Strategy::Reboot) => Some((
            s.rolling_restart_index,
            s.rolling_restart_total,
            "reboots started",
        )),
        OperationKind::RollingRestart => Some((
            s.launch_succeeded,
            s.launch_total,
            "replacements in service",
        )),
        OperationKind::SyncState => None,
    }
}

/// The active (or last) operation: progress bar, status, what it waits on and for how long.
#[component]
pub fn Operation() -> impl IntoView {
    let app = use_app();
    view! {
        <section id="operation" class="card" aria-labelledby="operation-h">
            <h2 id="operation-h">"Operation"</h2>
            {move || app.snapshot.get().map(|s| operation_body(app, s))}
        </section>
    }
}

fn operation_body(app: AppState, s: MetricsSnapshot) -> AnyView {
    let Some(status) = s.operation_status else {
        return view! { <p id="operation-none">"No operation has run yet."</p> }.into_any();
    };
    let title = operation_title(&s);
    let status_text = wire_name(&status);
    let active = s.operation_active();
    let started = s.operation_started.clone();
    let elapsed = move || {
        started
            .as_deref()
            .and_then(|t| app.since(t))
            .map(time::duration)
            .unwrap_or_default()
    };
    let as_of = s.at.clone();
    let age = move || app.since(&as_of).map(time::duration).unwrap_or_default();
    let bar = match progress_of(&s) {
        Some((done, of, what)) => view! {
            <progress id="op-progress" max=of.max(1) value=done aria-describedby="op-count"></progress>
            <p id="op-count">{format!("{done} of {of} {what}")}</p>
        }
        .into_any(),
        None if active => view! { <progress id="op-progress" aria-describedby="op-count"></progress>
            <p id="op-count">"in progress"</p> }
        .into_any(),
        None => ().into_any(),
    };
    let waiting = s.waiting_on.clone();
    let rollout = s.rollout.clone().filter(|r| r.update.is_some());
    let checkpoints = rollout
        .as_ref()
        .filter(|r| !r.checkpoints.is_empty())
        .map(|r| {
            let list = r
                .checkpoints
                .iter()
                .map(|p| format!("{p}%"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "Checkpoints {list}: {} of {} passed",
                r.checkpoints_passed,
                r.checkpoints.len()
            )
        });
    let checkpoint = rollout.as_ref().and_then(checkpoint_text);
    let rollback = rollout
        .as_ref()
        .and_then(|r| match (&r.rolls_back, &r.rollback_reason) {
            (Some(of), Some(why)) => Some(format!("Rolls back {of}: {why}")),
            (Some(of), None) => Some(format!("Rolls back {of}")),
            (None, Some(why)) => Some(format!("Rolled back: {why}")),
            (None, None) => r
                .rollback_to
                .map(|to| format!("On failure it rolls back to revision {to}")),
        });
    view! {
        <p id="op-title" class="op-title">
            <strong>{title}</strong>
            " · " <span id="op-status" class=format!("status status-{status_text}")>{status_text.replace('_', " ")}</span>
            {active.then(|| view! { " · phase " <span id="op-phase">{s.phase.as_str()}</span> })}
        </p>
        {bar}
        <p class="muted">
            {if active { "Running for " } else { "Started " }}
            <span id="op-elapsed">{elapsed}</span>
            {(!active).then_some(" ago")}
            " · updated " <span id="op-updated">{age}</span> " ago"
        </p>
        {checkpoints.map(|t| view! { <p id="op-checkpoints" class="muted">{t}</p> })}
        {checkpoint.map(|t| view! { <p id="op-checkpoint">{t}</p> })}
        {rollback.map(|t| view! { <p id="op-rollback">{t}</p> })}
        {s.error.clone().filter(|_| status != OperationStatus::Paused).map(|e| view! {
            <p id="op-error" class="error-text">{format!("Error: {e}")}</p>
        })}
        {(!waiting.is_empty() && active).then(|| view! {
            <h3>"Waiting on"</h3>
            <ul id="waiting-on">
                {waiting.into_iter().map(|w| view! { <li>{w}</li> }).collect_view()}
            </ul>
        })}
    }
    .into_any()
}

fn request(app: AppState, action: Action) {
    let question = app
        .snapshot
        .with_untracked(|s| actions::confirmation(action, s.as_ref()));
    match question {
        Some(question) => app.confirm.set(Some(Confirm { action, question })),
        None => actions::send(app, action),
    }
}

/// The controls: scale, rolling restart, sync, pause, resume, abort, and the confirmation
/// of destructive ones.
#[component]
pub fn Controls() -> impl IntoView {
    let app = use_app();
    let confirm = app.confirm;
    let desired = RwSignal::new(String::new());
    let desired_error = RwSignal::new(None::<String>);
    let strategy = RwSignal::new(None::<Strategy>);
    let yes: NodeRef<html::Button> = NodeRef::new();
    Effect::new(move |_| {
        if confirm.get().is_some()
            && let Some(b) = yes.get()
        {
            let _ = b.focus();
        }
    });
    let status = move || {
        app.snapshot
            .with(|s| s.as_ref().and_then(|s| s.operation_status))
    };
    let running = move || status() == Some(OperationStatus::Running);
    let paused = move || status() == Some(OperationStatus::Paused);
    let scale = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match desired.get_untracked().trim().parse::<u32>() {
            Ok(n) if n <= MAX_DESIRED => {
                desired_error.set(None);
                request(app, Action::Scale(n));
            }
            _ => desired_error.set(Some(format!(
                "Enter a whole number of instances from 0 to {MAX_DESIRED}."
            ))),
        }
    };
    let restart = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        request(app, Action::RollingRestart(strategy.get_untracked()));
    };
    let rollout_label = move || {
        let n = app.snapshot.with(|s| s.as_ref().map_or(0, |s| s.outdated));
        match n {
            0 => "Roll out".to_string(),
            1 => "Roll out (1 outdated)".to_string(),
            n => format!("Roll out ({n} outdated)"),
        }
    };
    let placeholder = move || {
        app.snapshot
            .with(|s| s.as_ref().map(|s| actions::scale_reference(s).to_string()))
            .unwrap_or_default()
    };
    view! {
        <section id="controls" class="card" aria-labelledby="controls-h">
            <h2 id="controls-h">"Controls"</h2>
            <form id="scale-form" class="row" on:submit=scale novalidate>
                <label for="desired">"Desired total"</label>
                <input id="desired" type="number" min="0" max=MAX_DESIRED step="1" inputmode="numeric"
                    placeholder=placeholder
                    aria-describedby="desired-error"
                    aria-invalid=move || desired_error.get().is_some().to_string()
                    prop:value=move || desired.get()
                    on:input=move |ev| desired.set(event_target_value(&ev)) />
                <button type="submit" id="scale">"Scale"</button>
            </form>
            <p id="desired-error" class="error-text" aria-live="polite">{move || desired_error.get()}</p>
            <form id="restart-form" class="row" on:submit=restart>
                <label for="strategy">"Strategy"</label>
                <select id="strategy" on:change=move |ev| {
                    strategy.set(match event_target_value(&ev).as_str() {
                        "replace" => Some(Strategy::Replace),
                        "reboot" => Some(Strategy::Reboot),
                        _ => None,
                    })
                }>
                    <option value="" selected=true>"as in the fleet file"</option>
                    <option value="replace">"replace (new instance first)"</option>
                    <option value="reboot">"reboot (in place)"</option>
                </select>
                <button type="submit" id="rolling-restart">"Rolling restart"</button>
            </form>
            <div class="buttons" role="group" aria-label="Rolling update">
                <button type="button" id="rollout" on:click=move |_| request(app, Action::Rollout)>{rollout_label}</button>
                <button type="button" id="rollout-undo" on:click=move |_| request(app, Action::Undo)>"Undo rollout"</button>
            </div>
            <div class="buttons" role="group" aria-label="Operation">
                <button type="button" id="sync-state" on:click=move |_| request(app, Action::SyncState)>"Sync state"</button>
                <button type="button" id="pause" disabled=move || !running() on:click=move |_| request(app, Action::Pause)>"Pause"</button>
                <button type="button" id="resume" disabled=move || !paused() on:click=move |_| request(app, Action::Resume)>"Resume"</button>
                <button type="button" id="abort" class="danger" disabled=move || !(running() || paused()) on:click=move |_| request(app, Action::Abort)>"Abort"</button>
            </div>
            {move || confirm.get().map(|Confirm { action, question }| view! {
                <div id="confirm" class="confirm" role="alertdialog" aria-labelledby="confirm-q"
                    on:keydown=move |ev: leptos::ev::KeyboardEvent| if ev.key() == "Escape" { confirm.set(None) }>
                    <p id="confirm-q">{question}</p>
                    <div class="buttons">
                        <button type="button" id="confirm-yes" class="danger" node_ref=yes on:click=move |_| {
                            confirm.set(None);
                            actions::send(app, action);
                        }>{format!("Yes, {}", action.label().to_lowercase())}</button>
                        <button type="button" id="confirm-no" on:click=move |_| confirm.set(None)>"Cancel"</button>
                    </div>
                </div>
            })}
            <p id="outcome" class=move || match app.outcome.get() {
                Some(o) if !o.ok => "outcome error-text",
                _ => "outcome",
            } role="status" aria-live="polite">{move || app.outcome.get().map(|o| o.text)}</p>
        </section>
    }
}

/// The status grid: one row per instance.
#[component]
pub fn Grid() -> impl IntoView {
    let app = use_app();
    let rows = move || {
        app.snapshot
            .with(|s| s.as_ref().map(|s| s.instances.clone()).unwrap_or_default())
    };
    view! {
        <section id="grid" class="card" aria-labelledby="grid-h">
            <h2 id="grid-h">"Instances"</h2>
            <div class="table-wrap">
                <table id="instances">
                    <thead>
                        <tr>
                            <th scope="col">"Name"</th>
                            <th scope="col">"Group"</th>
                            <th scope="col">"State"</th>
                            <th scope="col">"Private IP"</th>
                            <th scope="col">"LB backend"</th>
                            <th scope="col">"Age"</th>
                            <th scope="col">"Launch details"</th>
                            <th scope="col">"Activity"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {move || rows().into_iter().map(|r| row(app, r)).collect_view()}
                    </tbody>
                </table>
            </div>
            {move || rows().is_empty().then(|| view! { <p id="no-instances" class="muted">"No instances."</p> })}
        </section>
    }
}

fn row(app: AppState, r: InstanceRow) -> impl IntoView {
    let created = r.created.clone();
    let age = move || app.since(&created).map(time::duration).unwrap_or_default();
    let backend = match r.backend {
        Some(b) => b.as_str().to_string(),
        None => "no LB".to_string(),
    };
    let activity = r.activity.clone().map(|a| {
        let since = a.since.clone();
        let for_how_long = move || {
            since
                .as_deref()
                .and_then(|t| app.since(t))
                .map(|ms| format!(" ({})", time::duration(ms)))
                .unwrap_or_default()
        };
        view! { {a.text} <span class="muted">{for_how_long}</span> }
    });
    let (details, details_class) = if r.outdated.is_empty() {
        ("current".to_string(), "details details-current")
    } else if r.outdated.iter().any(|f| f == "unknown") {
        (
            "outdated: launched before fleetctl kept launch details".to_string(),
            "details details-outdated",
        )
    } else {
        (
            format!("outdated: {}", r.outdated.join(", ")),
            "details details-outdated",
        )
    };
    view! {
        <tr data-id=r.id.clone() data-outdated=(!r.outdated.is_empty()).to_string() data-name=r.name.clone() data-state=r.state.clone()>
            <th scope="row" data-label="Name">{r.name.clone()}</th>
            <td data-label="Group">{r.group.clone()}</td>
            <td data-label="State"><span class=format!("state state-{}", r.state)>{r.state.clone()}</span></td>
            <td data-label="Private IP">{r.private_ip.clone().unwrap_or_else(|| "—".to_string())}</td>
            <td data-label="LB backend" class=format!("backend backend-{backend}")>{backend.clone()}</td>
            <td data-label="Age" class="nowrap">{age}</td>
            <td data-label="Launch details" class=details_class>{details}</td>
            <td data-label="Activity" class="activity">{activity}</td>
        </tr>
    }
}

/// The last finished operations, newest first: what, how it ended, who asked through which
/// door, the revision, what it launched and removed.
#[component]
pub fn History() -> impl IntoView {
    let app = use_app();
    let rows = move || {
        app.snapshot
            .with(|s| s.as_ref().map(|s| s.history.clone()).unwrap_or_default())
    };
    view! {
        <section id="history" class="card" aria-labelledby="history-h">
            <h2 id="history-h">"History"</h2>
            <div class="table-wrap">
                <table id="history-table">
                    <thead>
                        <tr>
                            <th scope="col">"Operation"</th>
                            <th scope="col">"Outcome"</th>
                            <th scope="col">"Asked through"</th>
                            <th scope="col">"Revision"</th>
                            <th scope="col">"Launched / removed"</th>
                            <th scope="col">"Finished"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {move || rows().into_iter().map(|h| history_row(app, h)).collect_view()}
                    </tbody>
                </table>
            </div>
            {move || rows().is_empty().then(|| view! { <p id="no-history" class="muted">"No finished operation yet."</p> })}
        </section>
    }
}

fn history_row(app: AppState, h: HistoryEntry) -> impl IntoView {
    let what = match (h.kind, h.update.as_deref()) {
        (OperationKind::RollingRestart, Some("undo")) => "Undo".to_string(),
        (OperationKind::RollingRestart, Some("rollback")) => "Rollback".to_string(),
        (OperationKind::RollingRestart, Some(_)) => "Rolling update".to_string(),
        (OperationKind::RollingRestart, None) => "Rolling restart".to_string(),
        (OperationKind::Scale, _) => "Scale".to_string(),
        (OperationKind::SyncState, _) => "Sync state".to_string(),
    };
    let status = wire_name(&h.status);
    let door = match (h.door.as_deref(), h.who.as_deref()) {
        (Some(d), Some(w)) => format!("{} ({w})", d.replace('_', " ")),
        (Some(d), None) => d.replace('_', " "),
        (None, _) => "—".to_string(),
    };
    let finished = h.finished.clone().unwrap_or_else(|| h.started.clone());
    let ago = move || {
        app.since(&finished)
            .map(|ms| format!("{} ago", time::duration(ms)))
            .unwrap_or_default()
    };
    view! {
        <tr data-id=h.id.clone() data-status=status.clone()>
            <th scope="row" data-label="Operation">{what}</th>
            <td data-label="Outcome">
                <span class=format!("status status-{status}")>{status.replace('_', " ")}</span>
                {h.error.clone().map(|e| view! { <span class="muted">{format!(": {e}")}</span> })}
            </td>
            <td data-label="Asked through">{door}</td>
            <td data-label="Revision">{h.revision.map_or_else(|| "—".to_string(), |r| r.to_string())}</td>
            <td data-label="Launched / removed">{format!("{} / {}", h.launched, h.removed)}</td>
            <td data-label="Finished" class="nowrap">{ago}</td>
        </tr>
    }
}

/// The event timeline, newest first.
#[component]
pub fn Timeline() -> impl IntoView {
    let app = use_app();
    let recent = move || {
        app.events
            .with(|e| e.iter().rev().take(100).cloned().collect::<Vec<_>>())
    };
    view! {
        <section id="timeline" class="card" aria-labelledby="timeline-h">
            <h2 id="timeline-h">"Events"</h2>
            <ol id="events" class="events">
                {move || recent().into_iter().map(event).collect_view()}
            </ol>
            {move || app.events.with(Vec::is_empty).then(|| view! { <p class="muted">"No events yet."</p> })}
        </section>
    }
}

fn event(e: EventEntry) -> impl IntoView {
    let level = match e.level {
        EventLevel::Info => "info",
        EventLevel::Warning => "warning",
        EventLevel::Error => "error",
    };
    view! {
        <li class=format!("event level-{level}")>
            <time datetime=e.at.clone()>{time::clock(&e.at)}</time>
            " "
            <span class="level">{level}</span>
            " "
            <span class="message">{e.message}</span>
        </li>
    }
}

/// The footer: version, the token's state.
#[component]
pub fn Footer() -> impl IntoView {
    let app = use_app();
    view! {
        <footer class="muted">
            {move || app.version.get().map(|v| format!("fleetctl {v}"))}
            {move || app.token.get().map(|_| view! {
                " · token set for this tab · "
                <button type="button" id="forget-token" class="link" on:click=move |_| app.forget_token()>"Forget token"</button>
            })}
        </footer>
    }
}
