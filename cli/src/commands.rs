//! One function per command: load what it needs from `fleetctl-core`, call it, render.

use fleetctl_core::config::{self, FleetConfig};
use fleetctl_core::oci::{AuthContext, Env};
use fleetctl_core::store::{OpenOptions, StateStore};
use fleetctl_core::{Error, cloud};

use crate::args::{AuthCommand, Command, DemoArgs, GlobalArgs, Invocation, OutputFormat};

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
        Command::Status => status(global),
        Command::Scale(_) => not_available("scale", "the reconcile step (scale operations)"),
        Command::RollingRestart(_) => {
            not_available("rolling-restart", "the reconcile step (rolling restarts)")
        }
        Command::Sync(_) => not_available("sync", "the reconcile step (sync-state)"),
        Command::Reconcile(_) => not_available("reconcile", "the reconcile step"),
        Command::Auth(AuthCommand::Validate) => auth_validate(global),
        Command::Serve(_) => not_available("serve", "the HTTP API and the control loop"),
        Command::Demo(args) => demo(&args),
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

/// `status`: the ledger beside what OCI reports, by group, marking drift.
fn status(global: &GlobalArgs) -> Result<(), Error> {
    let fleet = config::load_file(&global.config)?;
    let report = runtime()?.block_on(async {
        let cloud = cloud::connect(&fleet, AuthContext::new(Env::from_process())).await?;
        let url = global
            .state
            .clone()
            .unwrap_or_else(|| fleet.spec.state.url.as_str().to_string());
        let store = StateStore::open(
            &url,
            &OpenOptions::new()
                .env(Env::from_process())
                .oci_client(cloud.client.clone()),
        )?;
        fleetctl_core::status::fleet_status(&fleet, &cloud, &store).await
    })?;
    match global.output {
        OutputFormat::Json => println!("{}", json(&report)?),
        OutputFormat::Text => print!("{}", crate::render::status_text(&report)),
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

/// `demo`: starts the simulated OCI in this process, checks fleetctl's credentials against
/// it, and keeps it running (until Ctrl-C or SIGTERM) for other fleetctl commands to use.
fn demo(args: &DemoArgs) -> Result<(), Error> {
    runtime()?.block_on(async {
        let mut config = oci_sim::SimConfig::new(args.dir.join("sim"));
        config.listen = args.sim_listen;
        config.time_scale = args.time_scale;
        // Fixed, so the OCIDs match config/fleet.local.yaml.tmpl on every run.
        config.seed = Some(oci_sim::DEMO_SEED);
        let sim = oci_sim::Sim::start(config).await.map_err(|e| {
            Error::Usage(format!(
                "cannot start the simulated OCI: {}",
                error_chain(&e)
            ))
        })?;
        let fleet_file = sim.fleet_file();
        let fleet = config::load_file(&fleet_file)?;
        println!(
            "fleetctl demo: a simulated OCI is serving at {} (nothing leaves this machine)",
            sim.base_url()
        );
        println!("  fleet file: {}", fleet_file.display());
        println!("  {}", summary_line(&fleet));
        let report = cloud::validate_auth(&fleet, AuthContext::new(Env::from_process())).await?;
        println!(
            "  auth: ok ({} as {}, tenancy {})",
            report.check, report.principal, report.tenancy
        );
        println!();
        println!("In another terminal, point fleetctl at it:");
        println!("  fleetctl --config {} auth validate", fleet_file.display());
        println!();
        println!(
            "Not built yet: the dashboard, the HTTP API and the fleet operations (scale, \
             rolling-restart, sync, reconcile) arrive with later work."
        );
        println!("Press Ctrl-C to stop.");
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        wait_for_shutdown().await;
        sim.shutdown().await;
        println!("fleetctl demo: stopped");
        Ok(())
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn wait_for_shutdown() {
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

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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
