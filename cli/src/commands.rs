//! One function per command: load what it needs from `fleetctl-core`, call it, render.

use std::io::Write;

use fleetctl_core::config::{self, FleetConfig};
use fleetctl_core::env::Env;
use fleetctl_core::fleet::{self, Fleet, Overrides};

use crate::args::{AuthCommand, Command, GlobalArgs, Invocation, OutputFormat, RolloutVerb};
use crate::error::CliError as Error;
use crate::operate::{Ask, RunOptions};
use crate::render::terminal_safe;

/// `writeln!` to the command's output; a failed write is [`Error::Output`] (a closed pipe ends
/// the run quietly with success, see `CliError::exit_code`).
macro_rules! say {
    ($out:expr) => {
        writeln!($out).map_err(Error::Output)?
    };
    ($out:expr, $($arg:tt)*) => {
        writeln!($out, $($arg)*).map_err(Error::Output)?
    };
}

/// What the command line adds to the fleet file, in the process environment.
pub fn overrides(global: &GlobalArgs) -> Overrides {
    Overrides::new(Env::from_process())
        .state_url(global.state.clone())
        .lease_ttl(global.lease_ttl)
}

/// Runs one resolved invocation, writing results to `out` (stdout).
pub fn run(invocation: Invocation, global: &GlobalArgs, out: &mut dyn Write) -> Result<(), Error> {
    match invocation {
        Invocation::Summary => {
            let fleet = config::load_file(&global.config)?;
            say!(out, "{}", summary_line(&fleet));
        }
        Invocation::Command(command) => run_command(command, global, out)?,
    }
    out.flush().map_err(Error::Output)
}

fn run_command(command: Command, global: &GlobalArgs, out: &mut dyn Write) -> Result<(), Error> {
    match command {
        Command::Validate => validate(global, out),
        Command::Schema => write_all(out, config::json_schema_pretty().as_bytes()),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = crate::args::Cli::command();
            // clap_complete panics when its writer fails, so it writes to memory first.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "fleetctl", &mut script);
            write_all(out, &script)
        }
        Command::Status => status(global, out),
        Command::Scale(a) => {
            let desired = u32::try_from(a.desired).map_err(|_| {
                Error::Usage(format!(
                    "scale: {} is more instances than fleetctl manages (at most {})",
                    a.desired,
                    u32::MAX
                ))
            })?;
            operation(
                Ask::Scale(desired),
                a.dry_run.dry_run,
                a.wait.no_wait,
                global,
                out,
            )
        }
        Command::RollingRestart(a) => operation(
            Ask::RollingRestart(a.strategy),
            a.dry_run.dry_run,
            a.wait.no_wait,
            global,
            out,
        ),
        Command::Rollout(a) => match a.verb {
            None => operation(Ask::Rollout, a.dry_run.dry_run, a.wait.no_wait, global, out),
            Some(RolloutVerb::Undo(u)) => operation(
                Ask::Undo(u.to_revision),
                u.dry_run.dry_run,
                u.wait.no_wait,
                global,
                out,
            ),
            Some(RolloutVerb::Resume(w)) => operation(Ask::Resume, false, w.no_wait, global, out),
            Some(RolloutVerb::Pause(p)) => {
                runtime()?.block_on(crate::operate::pause(&p.reason, global, out))
            }
            Some(RolloutVerb::Status) => {
                runtime()?.block_on(crate::operate::rollout_status(global, out))
            }
            Some(RolloutVerb::History) => {
                runtime()?.block_on(crate::operate::rollout_history(global, out))
            }
        },
        Command::Sync(a) => operation(
            Ask::Sync {
                adopt_untagged: a.adopt_untagged,
            },
            a.dry_run.dry_run,
            a.wait.no_wait,
            global,
            out,
        ),
        Command::Resume(a) => operation(Ask::Resume, false, a.no_wait, global, out),
        Command::Abort(a) => operation(Ask::Abort, false, a.no_wait, global, out),
        Command::Reconcile(a) => runtime()?.block_on(crate::operate::reconcile(
            a.every,
            a.dry_run.dry_run,
            global,
            out,
        )),
        Command::Plan => runtime()?.block_on(crate::operate::show_plan(global, out)),
        Command::Pause(a) => runtime()?.block_on(crate::operate::pause(&a.reason, global, out)),
        Command::Auth(AuthCommand::Validate) => auth_validate(global, out),
        Command::Serve(a) => crate::serve::serve(&a, global, out),
        #[cfg(feature = "demo")]
        Command::Demo(args) => crate::demo::demo(&args, out),
    }
}

fn operation(
    ask: Ask,
    dry_run: bool,
    no_wait: bool,
    global: &GlobalArgs,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let opts = RunOptions { dry_run, no_wait };
    runtime()?.block_on(crate::operate::run(ask, opts, global, out))
}

fn write_all(out: &mut dyn Write, bytes: &[u8]) -> Result<(), Error> {
    out.write_all(bytes).map_err(Error::Output)
}

/// `Fleet(kind=FleetConfig, name=<name>, instances=<sum of counts>)`, the long-standing
/// summary scripts parse.
pub fn summary_line(fleet: &FleetConfig) -> String {
    format!(
        "Fleet(kind=FleetConfig, name={}, instances={})",
        fleet.metadata.name,
        fleet.total_instances()
    )
}

fn validate(global: &GlobalArgs, out: &mut dyn Write) -> Result<(), Error> {
    let fleet = config::load_file(&global.config)?;
    match global.output {
        OutputFormat::Text => {
            say!(out, "{}: valid", global.config.display());
            say!(out, "{}", summary_line(&fleet));
        }
        OutputFormat::Json => {
            let doc = serde_json::json!({
                "file": global.config.display().to_string(),
                "valid": true,
                "kind": "FleetConfig",
                "name": fleet.metadata.name.as_str(),
                "instances": fleet.total_instances(),
            });
            say!(out, "{doc}");
        }
    }
    Ok(())
}

/// `status`: the ledger beside what OCI reports, by group, marking drift. The core checks the
/// state URL before it connects to OCI ([`Fleet::open`]).
fn status(global: &GlobalArgs, out: &mut dyn Write) -> Result<(), Error> {
    let config = config::load_file(&global.config)?;
    let report = runtime()?.block_on(async {
        let fleet = Fleet::open(config, overrides(global)).await?;
        fleet.status().await
    })?;
    match global.output {
        OutputFormat::Json => say!(out, "{}", json(&report)?),
        OutputFormat::Text => write_all(out, crate::render::status_text(&report).as_bytes())?,
    }
    Ok(())
}

/// `auth validate`: one lightweight IAM call with the credentials the fleet file selects.
fn auth_validate(global: &GlobalArgs, out: &mut dyn Write) -> Result<(), Error> {
    let config = config::load_file(&global.config)?;
    // Failures come back with their hints attached.
    let report = runtime()?.block_on(fleet::validate_auth(&config, &overrides(global)))?;
    match global.output {
        OutputFormat::Json => say!(out, "{}", json(&report)?),
        OutputFormat::Text => {
            // Names and ids come from OCI and the config file: never raw to a terminal.
            let t = terminal_safe;
            say!(out, "auth: ok ({} succeeded)", t(report.check));
            say!(out, "  principal: {}", t(&report.principal));
            say!(out, "  source:    {}", t(&report.source));
            say!(out, "  region:    {}", t(&report.region));
            say!(out, "  tenancy:   {}", t(&report.tenancy));
            if let Some(user) = &report.user {
                match &report.user_name {
                    Some(name) => say!(out, "  user:      {} ({})", t(user), t(name)),
                    None => say!(out, "  user:      {}", t(user)),
                }
            }
            if let Some(instance) = &report.instance {
                say!(out, "  instance:  {}", t(instance));
            }
            if let Some(resource) = &report.resource {
                say!(out, "  resource:  {}", t(resource));
            }
            say!(out, "  endpoint:  {}", t(&report.identity_endpoint));
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn wait_for_shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// A runtime for the commands that talk to the network.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string_pretty(value)
        .map_err(|e| Error::Internal(format!("cannot encode the JSON output: {e}")))
}

#[allow(dead_code)] // every command is built today; a build without one says so with this
fn not_available(command: &str, missing: &str) -> Result<(), Error> {
    Err(Error::NotAvailable {
        command: command.to_string(),
        reason: format!("it needs {missing}, which this build does not have yet"),
    })
}
