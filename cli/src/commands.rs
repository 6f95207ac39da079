//! One function per command: load what it needs from `fleetctl-core`, call it, render.

use fleetctl_core::config::{self, FleetConfig};
use fleetctl_core::oci::{AuthContext, Env};
use fleetctl_core::{Error, cloud};

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
        Command::Auth(AuthCommand::Validate) => auth_validate(global),
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

/// `auth validate`: one lightweight IAM call with the credentials the fleet file selects.
fn auth_validate(global: &GlobalArgs) -> Result<(), Error> {
    let fleet = config::load_file(&global.config)?;
    let ctx = AuthContext::new(Env::from_process());
    let result = runtime()?.block_on(cloud::validate_auth(&fleet, ctx));
    match result {
        Ok(report) => {
            match global.output {
                OutputFormat::Json => println!("{}", json(&report)?),
                OutputFormat::Text => {
                    println!("auth: ok ({} succeeded)", report.check);
                    println!("  principal: {}", report.principal);
                    println!("  source:    {}", report.source);
                    println!("  region:    {}", report.region);
                    println!("  tenancy:   {}", report.tenancy);
                    if let Some(user) = &report.user {
                        match &report.user_name {
                            Some(name) => println!("  user:      {user} ({name})"),
                            None => println!("  user:      {user}"),
                        }
                    }
                    if let Some(instance) = &report.instance {
                        println!("  instance:  {instance}");
                    }
                    if let Some(resource) = &report.resource {
                        println!("  resource:  {resource}");
                    }
                    println!("  endpoint:  {}", report.identity_endpoint);
                }
            }
            Ok(())
        }
        Err(err) => {
            let hints = cloud::auth_hints(&err, &fleet);
            Err(Error::WithHints {
                error: Box::new(err),
                hints,
            })
        }
    }
}

/// A runtime for the commands that talk to the network.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string_pretty(value)
        .map_err(|e| Error::Internal(format!("cannot encode the JSON output: {e}")))
}

fn not_available(command: &str, missing: &str) -> Result<(), Error> {
    Err(Error::NotAvailable {
        command: command.to_string(),
        reason: format!("it needs {missing}, which this build does not have yet"),
    })
}
