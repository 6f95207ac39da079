//! The operation commands: `scale`, `rolling-restart`, `sync`, `reconcile`, `plan`, `pause`,
//! `resume`, `abort`. Each records a request in the ledger and then runs reconcile steps
//! (`fleetctl_core::ops::step`) until its operation is over or paused, drawing progress on
//! stderr. They parse, call the core and render; the decisions are the planner's.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fleetctl_core::config::{FleetConfig, RolloutStrategy};
use fleetctl_core::fleet::Fleet;
use fleetctl_core::ops::{self, Context, StepError, StepReport};
use fleetctl_core::plan::{self, Mode};
use fleetctl_core::store::ledger::{
    Door, Ledger, Operation, OperationId, OperationKind, OperationStatus, Origin, StepAction,
    StepStatus,
};

use crate::args::{GlobalArgs, OutputFormat, Strategy};
use crate::error::CliError as Error;
use crate::render::terminal_safe;

/// How long it waits for another holder's lease before giving up.
const LEASE_WAIT: Duration = Duration::from_secs(300);
/// How long it waits at least between two tries for another holder's lease.
const LEASE_POLL_MIN: Duration = Duration::from_millis(20);

/// What the command asks for.
#[derive(Debug, Clone)]
pub enum Ask {
    Scale(u32),
    RollingRestart(Option<Strategy>),
    /// A rolling update to the fleet file's launch details.
    Rollout,
    /// A rolling update back to a revision (by default the one before the fleet file's).
    Undo(Option<u32>),
    Sync {
        adopt_untagged: bool,
    },
    Resume,
    Abort,
}

/// Options shared by the operation commands.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub dry_run: bool,
    pub no_wait: bool,
}

/// Opens the fleet ([`Fleet::open_file`]) as the command line says.
async fn open(global: &GlobalArgs) -> Result<Context, Error> {
    let fleet = Fleet::open_file(&global.config, crate::commands::overrides(global)).await?;
    Ok(fleet.context().clone())
}

fn kind_for(ask: &Ask, fleet: &FleetConfig) -> Option<OperationKind> {
    match ask {
        Ask::Scale(n) => Some(OperationKind::Scale { desired: *n }),
        Ask::RollingRestart(s) => {
            let strategy = match s {
                Some(Strategy::Replace) => RolloutStrategy::Replace,
                Some(Strategy::Reboot) => RolloutStrategy::Reboot,
                None => fleet.spec.rollout.strategy,
            };
            Some(OperationKind::RollingRestart {
                strategy,
                reboot_action: (strategy == RolloutStrategy::Reboot)
                    .then_some(fleet.spec.rollout.reboot_action),
                update: None,
            })
        }
        Ask::Sync { adopt_untagged } => Some(OperationKind::SyncState {
            adopt_untagged: *adopt_untagged,
        }),
        Ask::Rollout => Some(plan::rollout_kind()),
        Ask::Resume | Ask::Abort | Ask::Undo(_) => None,
    }
}

/// Who asks, through the command line: the OS user when the environment names one (a
/// name, never a credential).
fn cli_origin() -> Origin {
    let who = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .map(|u| {
            u.chars()
                .filter(|c| !c.is_control())
                .take(64)
                .collect::<String>()
        })
        .filter(|u| !u.is_empty());
    Origin {
        door: Door::Cli,
        who,
    }
}

/// The operation `ask` requests against `ledger` (undo needs the ledger's revisions).
fn kind_in(
    ask: &Ask,
    ledger: &Ledger,
    config: &FleetConfig,
) -> Result<Option<OperationKind>, Error> {
    match ask {
        Ask::Undo(to) => Ok(Some(
            plan::undo_kind(ledger, config, *to).map_err(fleetctl_core::Error::from)?,
        )),
        other => Ok(kind_for(other, config)),
    }
}

/// Runs an operation command.
pub async fn run(
    ask: Ask,
    opts: RunOptions,
    global: &GlobalArgs,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let ctx = open(global).await?;
    if opts.dry_run {
        return dry_run(&ctx, &ask, global, out).await;
    }
    let id = match &ask {
        Ask::Resume => {
            let (id, _) = ops::update(&ctx, |ledger, now| {
                plan::resume(ledger, now)?;
                Ok(current_id(ledger))
            })
            .await?;
            id
        }
        Ask::Abort => {
            let (id, _) = ops::update(&ctx, |ledger, now| {
                plan::abort(ledger, now)?;
                Ok(current_id(ledger))
            })
            .await?;
            id
        }
        Ask::Undo(to) => {
            let config = ctx.config.clone();
            let to = *to;
            let origin = Some(cli_origin());
            let (id, _) = ops::update(&ctx, |ledger, now| {
                let kind = plan::undo_kind(ledger, &config, to)?;
                Ok(plan::request_from(
                    ledger,
                    &config,
                    kind,
                    now,
                    origin.clone(),
                )?)
            })
            .await?;
            Some(id)
        }
        other => {
            let Some(kind) = kind_for(other, &ctx.config) else {
                return Err(Error::Internal("no operation for the request".into()));
            };
            Some(ops::request_from(&ctx, kind, Some(cli_origin())).await?)
        }
    };
    let Some(id) = id else {
        return Err(Error::Internal("the operation has no id".into()));
    };
    if opts.no_wait {
        match global.output {
            OutputFormat::Text => writeln!(
                out,
                "operation {id} recorded; `fleetctl reconcile` (or a running `fleetctl serve`) carries it out"
            )
            .map_err(Error::Output)?,
            OutputFormat::Json => writeln!(out, "{}", serde_json::json!({"operation": id.as_str(), "waiting": false}))
                .map_err(Error::Output)?,
        }
        return Ok(());
    }
    follow(&ctx, &id, Mode::Operation, global, out).await
}

fn current_id(ledger: &Ledger) -> Option<OperationId> {
    ledger.operation.as_ref().map(|o| o.id.clone())
}

/// `reconcile`: steps with the control loop until nothing is left to do, or forever with
/// `--every`.
pub async fn reconcile(
    every: Option<Duration>,
    dry_run: bool,
    global: &GlobalArgs,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let ctx = open(global).await?;
    if dry_run {
        let p = ops::dry_run(&ctx, Mode::Control).await?;
        return print_plan(&p, None, global, out);
    }
    let stop = interrupt_flag();
    loop {
        let report = step_waiting(&ctx, Mode::Control, &stop).await?;
        for line in &report.did {
            tracing::info!("{line}");
            eprintln!("  {}", terminal_safe(line));
        }
        let busy = report
            .operation()
            .is_some_and(|o| o.status == OperationStatus::Running);
        if stop.load(Ordering::SeqCst) {
            let _ = ops::release(&ctx).await;
            return Err(interrupted(report.operation()));
        }
        match (busy, every) {
            (true, _) => {
                tokio::time::sleep(poll(&report)).await;
            }
            (false, Some(d)) => {
                tokio::time::sleep(d).await;
            }
            (false, None) => {
                let _ = ops::release(&ctx).await;
                return finish_line(report.operation(), global, out, &report.ledger);
            }
        }
    }
}

/// `plan`: what the next step would do, changing nothing.
pub async fn show_plan(global: &GlobalArgs, out: &mut dyn Write) -> Result<(), Error> {
    let ctx = open(global).await?;
    let p = ops::dry_run(&ctx, Mode::Operation).await?;
    print_plan(&p, None, global, out)
}

/// `pause`.
pub async fn pause(reason: &str, global: &GlobalArgs, out: &mut dyn Write) -> Result<(), Error> {
    let ctx = open(global).await?;
    let (id, _) = ops::update(&ctx, |ledger, now| {
        plan::pause(ledger, reason, now)?;
        Ok(current_id(ledger))
    })
    .await?;
    let id = id.map(|i| i.to_string()).unwrap_or_default();
    match global.output {
        OutputFormat::Text => {
            writeln!(out, "operation {id} paused: {}", terminal_safe(reason)).map_err(Error::Output)
        }
        OutputFormat::Json => writeln!(
            out,
            "{}",
            serde_json::json!({"operation": id, "status": "paused", "reason": reason})
        )
        .map_err(Error::Output),
    }
}

/// Sets a flag on Ctrl-C, so the loop stops after the step in flight.
fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            f.store(true, Ordering::SeqCst);
            eprintln!(
                "fleetctl: interrupted; finishing the current step (the operation stays recorded)"
            );
        }
    });
    flag
}

fn interrupted(op: Option<&Operation>) -> Error {
    let what = op
        .map(|o| {
            format!(
                "operation {} ({}) is {}",
                o.id,
                o.kind.as_str(),
                o.status.as_str()
            )
        })
        .unwrap_or_else(|| "no operation".into());
    Error::Interrupted(format!(
        "interrupted: {what}; run `fleetctl reconcile` to carry it on, `fleetctl abort` to stop it"
    ))
}

/// One step, waiting (bounded) while another process holds the lease.
async fn step_waiting(ctx: &Context, mode: Mode, stop: &AtomicBool) -> Result<StepReport, Error> {
    let started = std::time::Instant::now();
    loop {
        match ops::step(ctx, mode).await {
            Ok(r) => return Ok(r),
            Err(StepError::LeaseBusy(busy)) => {
                if started.elapsed() > LEASE_WAIT || stop.load(Ordering::SeqCst) {
                    return Err(Error::Conflict(busy.to_string()));
                }
                tracing::info!("{busy}; waiting");
                // Until the lease expires (a crashed holder), checking every second for a
                // release.
                let left = busy.expires.get() - ctx.cloud.client.clock().now();
                let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
                tokio::time::sleep(left.clamp(LEASE_POLL_MIN, Duration::from_secs(1))).await;
            }
            Err(StepError::Other(e)) => return Err(e.into()),
        }
    }
}

/// Between steps the CLI waits as the step says ([`StepReport::poll_after`]).
fn poll(report: &StepReport) -> Duration {
    report.poll_after()
}

/// Runs steps until operation `id` is over or paused.
async fn follow(
    ctx: &Context,
    id: &OperationId,
    mode: Mode,
    global: &GlobalArgs,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let stop = interrupt_flag();
    let mut progress = Progress::new();
    loop {
        let report = step_waiting(ctx, mode, &stop).await?;
        let ours = report.operation().filter(|o| &o.id == id);
        let queued = report.ledger.scale_queue.iter().any(|r| &r.id == id);
        progress.show(&report, ours);
        if let Some(op) = ours
            && (op.status.is_finished() || op.status == OperationStatus::Paused)
        {
            progress.clear();
            let _ = ops::release(ctx).await;
            return finish_line(Some(op), global, out, &report.ledger);
        }
        if ours.is_none() && !queued {
            // Our operation ran and another has replaced it (it finished within the step
            // and the next one started): find its outcome in the events.
            progress.clear();
            let _ = ops::release(ctx).await;
            return Err(Error::Conflict(format!(
                "operation {id} is no longer the ledger's current operation; see `fleetctl status`"
            )));
        }
        if stop.load(Ordering::SeqCst) {
            progress.clear();
            let _ = ops::release(ctx).await;
            return Err(interrupted(report.operation()));
        }
        tokio::time::sleep(poll(&report)).await;
    }
}

/// Prints the outcome; a paused, failed or cancelled operation is exit 2.
fn finish_line(
    op: Option<&Operation>,
    global: &GlobalArgs,
    out: &mut dyn Write,
    ledger: &Ledger,
) -> Result<(), Error> {
    let Some(op) = op else {
        writeln!(out, "nothing to do").map_err(Error::Output)?;
        return Ok(());
    };
    let p = op.progress();
    let active = plan::active_count(ledger);
    match global.output {
        OutputFormat::Text => {
            writeln!(
                out,
                "operation {} ({}): {} ({} of {} steps done; {} active instances)",
                op.id,
                describe(op),
                op.status.as_str(),
                p.done,
                p.total,
                active
            )
            .map_err(Error::Output)?;
            if let Some(r) = &op.pause_reason {
                writeln!(out, "  paused: {}", terminal_safe(r)).map_err(Error::Output)?;
            }
            if let Some(e) = &op.error
                && op.pause_reason.as_deref() != Some(e.as_str())
            {
                writeln!(out, "  error: {}", terminal_safe(e)).map_err(Error::Output)?;
            }
        }
        OutputFormat::Json => {
            let doc = serde_json::json!({
                "operation": op,
                "activeInstances": active,
            });
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&doc).map_err(|e| Error::Internal(e.to_string()))?
            )
            .map_err(Error::Output)?;
        }
    }
    out.flush().map_err(Error::Output)?;
    match op.status {
        OperationStatus::Succeeded => Ok(()),
        OperationStatus::Running => Ok(()),
        status => Err(Error::OperationNotDone {
            operation: op.id.to_string(),
            status: status.as_str(),
            reason: op
                .pause_reason
                .clone()
                .or_else(|| op.error.clone())
                .unwrap_or_default(),
        }),
    }
}

fn describe(op: &Operation) -> String {
    match &op.kind {
        OperationKind::Scale { desired } => format!("scale to {desired}"),
        OperationKind::RollingRestart {
            update: Some(u), ..
        } => format!(
            "rolling update to revision {}, {}",
            u.revision,
            u.reason.as_str()
        ),
        OperationKind::RollingRestart { strategy, .. } => format!(
            "rolling restart, {}",
            match strategy {
                RolloutStrategy::Replace => "replace",
                RolloutStrategy::Reboot => "reboot",
            }
        ),
        OperationKind::SyncState { .. } => "sync".into(),
    }
}

/// `--dry-run`: the request applied to a copy of the ledger and planned, nothing written.
async fn dry_run(
    ctx: &Context,
    ask: &Ask,
    global: &GlobalArgs,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let (mut ledger, _) = ops::load(ctx).await?;
    let now = ctx.cloud.client.clock().now();
    let mut replace = None;
    match ask {
        Ask::Resume => plan::resume(&mut ledger, now).map_err(fleetctl_core::Error::from)?,
        Ask::Abort => plan::abort(&mut ledger, now).map_err(fleetctl_core::Error::from)?,
        other => {
            if matches!(other, Ask::Rollout | Ask::Undo(_)) {
                replace = Some(print_outdated(ctx, &ledger, other, global, out)?);
            }
            if let Some(kind) = kind_in(other, &ledger, &ctx.config)? {
                plan::request_from(&mut ledger, &ctx.config, kind, now, Some(cli_origin()))
                    .map_err(fleetctl_core::Error::from)?;
            }
        }
    }
    let obs = ops::observe(ctx, &ledger).await?;
    let p = plan::plan(&ctx.config, &ledger, &obs, now, Mode::Operation);
    print_plan(&p, replace, global, out)
}

/// The plan; `replace` (a rolling update's dry run) adds the outdated instances and their
/// differing fields to the JSON document.
fn print_plan(
    p: &plan::Plan,
    replace: Option<serde_json::Value>,
    global: &GlobalArgs,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let w = |out: &mut dyn Write, line: String| writeln!(out, "{line}").map_err(Error::Output);
    match global.output {
        OutputFormat::Json => {
            let steps: Vec<serde_json::Value> = p
                .ledger
                .operation
                .iter()
                .flat_map(|o| o.steps.iter())
                .map(|s| serde_json::to_value(s).unwrap_or_default())
                .collect();
            let mut doc = serde_json::json!({
                "dryRun": true,
                "operation": p.ledger.operation,
                "steps": steps,
                "actions": p.actions.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>(),
                "waitingOn": p.waiting_on,
                "notes": p.notes,
            });
            if let Some(r) = replace {
                doc["replace"] = r;
            }
            w(
                out,
                serde_json::to_string_pretty(&doc).map_err(|e| Error::Internal(e.to_string()))?,
            )
        }
        OutputFormat::Text => {
            w(out, "dry run: nothing is changed".into())?;
            match &p.ledger.operation {
                Some(op) if !op.status.is_finished() => {
                    w(
                        out,
                        format!(
                            "operation {} ({}): {}",
                            op.id,
                            describe(op),
                            op.status.as_str()
                        ),
                    )?;
                    if let Some(l) = op.limits {
                        w(
                            out,
                            format!(
                                "  limits: maxSurge {}, maxUnavailable {} (resolved for {} instances)",
                                l.max_surge, l.max_unavailable, l.desired
                            ),
                        )?;
                    }
                    for (i, s) in op.steps.iter().enumerate() {
                        w(out, format!("  {:>3}. {}", i + 1, step_line(&p.ledger, s)))?;
                    }
                }
                _ => w(out, "no operation to run".into())?,
            }
            if !p.actions.is_empty() {
                w(out, "first step's calls:".into())?;
                for a in &p.actions {
                    w(out, format!("  {}", action_line(a)))?;
                }
            }
            for n in &p.notes {
                w(out, format!("note: {}", terminal_safe(n)))?;
            }
            Ok(())
        }
    }
}

/// `rollout --dry-run` (text): instance by instance, what the rolling update replaces and
/// which fields differ (names only, never values).
fn print_outdated(
    ctx: &Context,
    ledger: &Ledger,
    ask: &Ask,
    global: &GlobalArgs,
    out: &mut dyn Write,
) -> Result<serde_json::Value, Error> {
    let (target, outdated) = match ask {
        Ask::Undo(to) => {
            let Ok(OperationKind::RollingRestart {
                update: Some(u), ..
            }) = plan::undo_kind(ledger, &ctx.config, *to)
            else {
                return Ok(serde_json::Value::Null);
            };
            let launch = plan::launch_of(&ctx.config, ledger, Some(u.revision));
            let fresh = plan::Freshness::new(ledger, &launch);
            let list: Vec<(fleetctl_core::ids::InstanceId, Vec<String>)> = ledger
                .records
                .iter()
                .filter(|r| plan::is_active_record(r) && fresh.is_outdated(r))
                .map(|r| (r.instance_id.clone(), fresh.fields(r)))
                .collect();
            (format!("revision {}", u.revision), list)
        }
        _ => (
            "the fleet file".to_string(),
            plan::outdated(&ctx.config, ledger)
                .into_iter()
                .map(|o| (o.instance, o.fields))
                .collect::<Vec<_>>(),
        ),
    };
    let doc = serde_json::Value::Array(
        outdated
            .iter()
            .map(|(id, fields)| {
                serde_json::json!({
                    "id": id.to_string(),
                    "name": ledger.record(id).map(|r| r.name.clone()),
                    "fields": fields,
                })
            })
            .collect(),
    );
    if global.output != OutputFormat::Text {
        return Ok(doc);
    }
    let active = plan::active_count(ledger);
    writeln!(
        out,
        "rolling update to {target}: {} of {active} active instance(s) differ and would be replaced",
        outdated.len()
    )
    .map_err(Error::Output)?;
    for (id, fields) in outdated {
        writeln!(
            out,
            "  replace {}: {} differs",
            name_of(ledger, &id),
            terminal_safe(&fields.join(", "))
        )
        .map_err(Error::Output)?;
    }
    Ok(doc)
}

/// `rollout status`: the rolling update in progress or the last operation, its checkpoint,
/// and the instances still outdated against the fleet file.
pub async fn rollout_status(global: &GlobalArgs, out: &mut dyn Write) -> Result<(), Error> {
    let ctx = open(global).await?;
    let (ledger, _) = ops::load(&ctx).await?;
    let now = ctx.cloud.client.clock().now();
    let snap = fleetctl_core::metrics::snapshot(&ctx.config, &ledger, &[], now);
    let outdated = plan::outdated(&ctx.config, &ledger);
    let w = |out: &mut dyn Write, line: String| writeln!(out, "{line}").map_err(Error::Output);
    match global.output {
        OutputFormat::Json => {
            let doc = serde_json::json!({
                "operationId": snap.operation_id,
                "operation": snap.operation,
                "status": snap.operation_status,
                "revision": snap.revision,
                "rollout": snap.rollout,
                "pausedReason": snap.paused_reason,
                "outdated": outdated.iter().map(|o| serde_json::json!({
                    "id": o.instance.to_string(),
                    "name": o.name,
                    "fields": o.fields,
                })).collect::<Vec<_>>(),
            });
            w(
                out,
                serde_json::to_string_pretty(&doc).map_err(|e| Error::Internal(e.to_string()))?,
            )
        }
        OutputFormat::Text => {
            match ledger.operation.as_ref() {
                Some(op) => {
                    let p = op.progress();
                    w(
                        out,
                        format!(
                            "operation {} ({}): {} ({} of {} steps done)",
                            op.id,
                            describe(op),
                            op.status.as_str(),
                            p.done,
                            p.total
                        ),
                    )?;
                    if let Some(r) = &op.pause_reason {
                        w(out, format!("  paused: {}", terminal_safe(r)))?;
                    }
                    if let Some(c) = &op.checkpoint {
                        w(
                            out,
                            format!(
                                "  checkpoint {}%: {} of {} done, {}",
                                c.percent,
                                c.done,
                                c.total,
                                c.verdict.as_str()
                            ),
                        )?;
                    }
                    if let Some(to) = op.rollback_to {
                        w(out, format!("  rolls back to revision {to} if it fails"))?;
                    }
                }
                None => w(out, "no operation yet".into())?,
            }
            match snap.revision {
                Some(r) => w(out, format!("fleet file: revision {r}"))?,
                None => w(out, "fleet file: not seen by a step yet".into())?,
            }
            if outdated.is_empty() {
                w(out, "every active instance matches the fleet file".into())
            } else {
                w(
                    out,
                    format!(
                        "{} instance(s) differ from the fleet file (`fleetctl rollout` replaces them):",
                        outdated.len()
                    ),
                )?;
                for o in &outdated {
                    w(
                        out,
                        format!(
                            "  {}: {}",
                            name_of(&ledger, &o.instance),
                            terminal_safe(&o.fields.join(", "))
                        ),
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// `rollout history`: the kept revisions (digests and changed fields, never the launch
/// details) and the finished operations, newest first.
pub async fn rollout_history(global: &GlobalArgs, out: &mut dyn Write) -> Result<(), Error> {
    let ctx = open(global).await?;
    let (ledger, _) = ops::load(&ctx).await?;
    let h = fleetctl_core::metrics::rollout_history(&ctx.config, &ledger);
    let w = |out: &mut dyn Write, line: String| writeln!(out, "{line}").map_err(Error::Output);
    match global.output {
        OutputFormat::Json => w(
            out,
            serde_json::to_string_pretty(&h).map_err(|e| Error::Internal(e.to_string()))?,
        ),
        OutputFormat::Text => {
            w(
                out,
                "REVISION  DIGEST            SEEN                  INSTANCES  CHANGED".into(),
            )?;
            for r in &h.revisions {
                w(
                    out,
                    format!(
                        "{:<9} {:<17} {:<21} {:<10} {}{}",
                        r.number,
                        r.digest,
                        r.seen,
                        r.instances,
                        terminal_safe(&r.changed.join(", ")),
                        if r.current { " (fleet file)" } else { "" }
                    ),
                )?;
            }
            w(out, String::new())?;
            w(out, "operations, newest first:".into())?;
            if h.operations.is_empty() {
                w(out, "  none yet".into())?;
            }
            for o in &h.operations {
                let what = match &o.update {
                    Some(u) => format!("{} ({u})", kind_word(o.kind)),
                    None => kind_word(o.kind).to_string(),
                };
                let door = match (&o.door, &o.who) {
                    (Some(d), Some(who)) => format!("{d}, {}", terminal_safe(who)),
                    (Some(d), None) => d.clone(),
                    _ => "-".into(),
                };
                w(
                    out,
                    format!(
                        "  {} {what}: {} by {door}, revision {}, {} launched, {} removed, {} .. {}{}",
                        o.id,
                        serde_json::to_value(o.status)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default(),
                        o.revision.map_or("-".to_string(), |r| r.to_string()),
                        o.launched,
                        o.removed,
                        o.started,
                        o.finished.as_deref().unwrap_or("-"),
                        o.error
                            .as_deref()
                            .map(|e| format!(": {}", terminal_safe(e)))
                            .unwrap_or_default()
                    ),
                )?;
            }
            Ok(())
        }
    }
}

fn kind_word(k: fleetctl_api::metrics::OperationKind) -> &'static str {
    match k {
        fleetctl_api::metrics::OperationKind::Scale => "scale",
        fleetctl_api::metrics::OperationKind::RollingRestart => "rolling_restart",
        fleetctl_api::metrics::OperationKind::SyncState => "sync_state",
    }
}

fn name_of(ledger: &Ledger, id: &fleetctl_core::ids::InstanceId) -> String {
    ledger
        .record(id)
        .map(|r| format!("{} ({id})", terminal_safe(&r.name)))
        .unwrap_or_else(|| id.to_string())
}

fn step_line(ledger: &Ledger, s: &fleetctl_core::store::ledger::Step) -> String {
    let what = match &s.action {
        StepAction::Launch { group } => format!("launch a new instance in group {group}"),
        StepAction::Terminate { instance } => {
            format!(
                "drain, remove from the LB and terminate {} (oldest first)",
                name_of(ledger, instance)
            )
        }
        StepAction::Replace { instance } => format!(
            "replace {}: launch its successor, wait for health, drain it, terminate it",
            name_of(ledger, instance)
        ),
        StepAction::Reboot { instance } => {
            format!(
                "reboot {}: drain, reset, wait for health, undrain",
                name_of(ledger, instance)
            )
        }
    };
    let status = match s.status {
        StepStatus::Pending => "pending".to_string(),
        StepStatus::InProgress => s.phase.map(|p| p.as_str().to_string()).unwrap_or_default(),
        StepStatus::Done => "done".into(),
        StepStatus::Skipped => "skipped".into(),
        StepStatus::Failed => format!(
            "failed: {}",
            terminal_safe(s.detail.as_deref().unwrap_or_default())
        ),
    };
    format!("{what} [{status}]")
}

fn action_line(a: &plan::Action) -> String {
    match a {
        plan::Action::Launch { name, group, .. } => {
            format!("LaunchInstance {name} (group {group})")
        }
        plan::Action::AddBackend {
            ip, port, instance, ..
        } => format!("CreateBackend {ip}:{port} for {instance}"),
        plan::Action::SetDrain { backend, drain, .. } => {
            format!("UpdateBackend {} drain={drain}", backend.as_str())
        }
        plan::Action::DeleteBackend { backend } => format!("DeleteBackend {}", backend.as_str()),
        plan::Action::Terminate { instance } => format!("TerminateInstance {instance}"),
        plan::Action::Tag { instance, group } => {
            format!("UpdateInstance {instance} freeformTags += fleet, group {group}")
        }
        plan::Action::Reboot {
            instance, action, ..
        } => format!("InstanceAction {action} {instance}"),
    }
}

/// Progress on stderr: a bar on a terminal, plain lines otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last: String,
}

impl Progress {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            last: String::new(),
        }
    }

    fn show(&mut self, report: &StepReport, op: Option<&Operation>) {
        // What the step did and waits on names instances and carries OCI's messages.
        let msg = terminal_safe(report.waiting_on.first().map_or("", String::as_str)).into_owned();
        match &self.bar {
            Some(bar) => {
                if let Some(op) = op {
                    let p = op.progress();
                    bar.set_length(u64::from(p.total));
                    bar.set_position(u64::from(p.done));
                }
                for line in &report.did {
                    bar.println(format!("  {}", terminal_safe(line)));
                }
                bar.set_message(msg);
            }
            None => {
                for line in &report.did {
                    eprintln!("  {}", terminal_safe(line));
                }
                let line = match op {
                    Some(op) => {
                        let p = op.progress();
                        format!("{}/{} {msg}", p.done, p.total)
                    }
                    None => format!("queued {msg}"),
                };
                if line != self.last {
                    eprintln!("{line}");
                    self.last = line;
                }
            }
        }
    }

    fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
