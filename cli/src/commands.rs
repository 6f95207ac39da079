//! One function per command: load what it needs from `fleetctl-core`, call it, render.

use fleetctl_core::Error;
use fleetctl_core::config::{self, FleetConfig};

use crate::args::{AuthCommand, Command, GlobalArgs, Invocation, OutputFormat};

/// Runs one resolved invocation.
pub fn run(invocation: Invocation, global: &GlobalArgs) -> Result<(), Error> {
    match invocation {
        Invocation::Summary => {
            let fleet = config::load_file(&global.config)?;
            println!("{}", summary_line(&fleet));
            Ok(())
        }
        Invocation::Command(command) => run_command(command, global),
    }
}

fn run_command(command: Command, global: &GlobalArgs) -> Result<(), Error> {
    match command {
        Command::Validate => validate(global),
        Command::Schema => {
            print!("{}", config::json_schema_pretty());
            Ok(())
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = crate::args::Cli::command();
            clap_complete::generate(shell, &mut cmd, "fleetctl", &mut std::io::stdout());
            Ok(())
        }
        Command::Status => not_available("status", "the state store and the OCI compute client"),
        Command::Scale(_) => not_available("scale", "the reconcile step (scale operations)"),
        Command::RollingRestart(_) => {
            not_available("rolling-restart", "the reconcile step (rolling restarts)")
        }
        Command::Sync(_) => not_available("sync", "the reconcile step (sync-state)"),
        Command::Reconcile(_) => not_available("reconcile", "the reconcile step"),
        Command::Auth(AuthCommand::Validate) => not_available(
            "auth validate",
            "the OCI request signer and credential providers",
        ),
        Command::Serve(_) => not_available("serve", "the HTTP API and the control loop"),
        Command::Demo(_) => not_available("demo", "the simulator, the HTTP API and the dashboard"),
    }
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

fn validate(global: &GlobalArgs) -> Result<(), Error> {
    let fleet = config::load_file(&global.config)?;
    match global.output {
        OutputFormat::Text => {
            println!("{}: valid", global.config.display());
            println!("{}", summary_line(&fleet));
        }
        OutputFormat::Json => {
            let doc = serde_json::json!({
                "file": global.config.display().to_string(),
                "valid": true,
                "kind": "FleetConfig",
                "name": fleet.metadata.name.as_str(),
                "instances": fleet.total_instances(),
            });
            println!("{doc}");
        }
    }
    Ok(())
}

fn not_available(command: &str, missing: &str) -> Result<(), Error> {
    Err(Error::NotAvailable {
        command: command.to_string(),
        reason: format!("it needs {missing}, which this build does not have yet"),
    })
}
