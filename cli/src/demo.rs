//! `fleetctl demo`: the simulated OCI in this process and, unless `--sim-only`, the API, the
//! dashboard and the control loop ([`crate::serve::Server`]) over it, which brings the demo
//! fleet (3 instances behind the simulated load balancer) into service. Runs until Ctrl-C or
//! SIGTERM.

use std::io::Write;
use std::time::{Duration, Instant};

use fleetctl_core::config;
use fleetctl_core::env::Env;
use fleetctl_core::fleet::{self, Fleet, Overrides};

use crate::args::DemoArgs;
use crate::commands::summary_line;
use crate::error::CliError as Error;
use crate::serve::Server;
use fleetctl_function::TokenOrigin;

/// The demo's control loop period: short, so the dashboard moves while you watch.
const RECONCILE_EVERY: Duration = Duration::from_secs(2);

/// How long the demo waits for its fleet to be in service before it says so and goes on.
const BRING_UP_WAIT: Duration = Duration::from_secs(120);

macro_rules! say {
    ($out:expr) => {
        writeln!($out).map_err(Error::Output)?
    };
    ($out:expr, $($arg:tt)*) => {
        writeln!($out, $($arg)*).map_err(Error::Output)?
    };
}

/// `demo`.
pub fn demo(args: &DemoArgs, out: &mut dyn Write) -> Result<(), Error> {
    crate::commands::runtime()?.block_on(async {
        let mut config = oci_sim::SimConfig::new(args.dir.join("sim"));
        config.listen = args.sim_listen;
        config.time_scale = args.time_scale;
        // Fixed, so the OCIDs match config/fleet.local.yaml.tmpl on every run.
        config.seed = Some(oci_sim::DEMO_SEED);
        let sim = oci_sim::Sim::start(config)
            .await
            .map_err(|e| match e.kind() {
                // The only thing the user gave that the simulator can refuse.
                oci_sim::SimErrorKind::Config => Error::Usage(format!("--time-scale: {e}")),
                // A port in use, a directory that cannot be created: this machine, not the
                // arguments.
                oci_sim::SimErrorKind::Environment => Error::Local {
                    what: "cannot start the simulated OCI".into(),
                    source: Box::new(e),
                },
                oci_sim::SimErrorKind::Internal => {
                    Error::Internal(format!("the simulated OCI failed to start: {e}"))
                }
            })?;
        let result = run(args, &sim, out).await;
        sim.shutdown().await;
        result?;
        say!(out, "fleetctl demo: stopped");
        Ok(())
    })
}

async fn run(args: &DemoArgs, sim: &oci_sim::SimHandle, out: &mut dyn Write) -> Result<(), Error> {
    let fleet_file = crate::demo_fleet::write(sim).map_err(|e| Error::Local {
        what: "cannot write the demo's fleet file".into(),
        source: Box::new(e),
    })?;
    let fleet_config = config::load_file(&fleet_file)?;
    say!(
        out,
        "fleetctl demo: a simulated OCI is serving at {} (nothing leaves this machine)",
        sim.base_url()
    );
    say!(out, "  fleet file: {}", fleet_file.display());
    say!(out, "  {}", summary_line(&fleet_config));
    let report = fleet::validate_auth(&fleet_config, &Overrides::new(Env::from_process())).await?;
    say!(
        out,
        "  auth: ok ({} as {}, tenancy {})",
        report.check,
        report.principal,
        report.tenancy
    );
    let f = fleet_file.display();
    if args.sim_only {
        say!(out);
        say!(out, "In another terminal, point fleetctl at it:");
        say!(out, "  fleetctl --config {f} auth validate");
        say!(out, "  fleetctl --config {f} status");
        say!(out, "  fleetctl --config {f} serve");
        say!(out, "Press Ctrl-C to stop.");
        out.flush().map_err(Error::Output)?;
        crate::commands::wait_for_shutdown().await;
        return Ok(());
    }

    // The simulated world is new on every run: a ledger a previous demo left describes
    // instances that no longer exist.
    let state = std::path::PathBuf::from(fleet_config.spec.state.url.as_str());
    if state.starts_with(&args.dir) {
        let _ = std::fs::remove_file(&state);
    }
    let (token, origin) = crate::serve::token(&fleet_config)?;
    let var = fleet_config.spec.api.token_env.as_str().to_string();
    let desired = fleet_config.total_instances();
    let fleet = Fleet::open(fleet_config, Overrides::new(Env::from_process())).await?;
    let server = Server::start(
        fleet,
        token.digest(),
        &args.http.to_string(),
        RECONCILE_EVERY,
    )
    .await?;
    let base = format!("http://{}", server.addr);
    if let TokenOrigin::Env(_) = origin {
        say!(out, "  API token: from ${var}");
    }
    say!(
        out,
        "fleetctl demo: the API and the dashboard are at {base} (a reconcile step every {})",
        crate::serve::humantime(RECONCILE_EVERY)
    );
    say!(out);
    say!(out, "  Dashboard: {base}/#token={}", token.reveal());
    say!(out);
    say!(
        out,
        "Bringing the demo fleet into service: {desired} instances behind the simulated load balancer ..."
    );
    out.flush().map_err(Error::Output)?;
    let stop = crate::commands::wait_for_shutdown();
    tokio::pin!(stop);
    let stopped_early = tokio::select! {
        up = in_service(&server, desired) => {
            match up {
                Some(n) => say!(out, "fleet demo: {n} of {desired} instances in service behind the load balancer"),
                None => say!(out, "fleet demo: still coming up; the dashboard shows where it is"),
            }
            false
        }
        () = &mut stop => true,
    };
    if !stopped_early {
        say!(out);
        say!(out, "Try, in another terminal:");
        say!(out, "  export FLEETCTL_API_TOKEN={}", token.reveal());
        say!(out, "  curl -s {base}/metrics");
        say!(
            out,
            "  curl -s -X POST -H \"Authorization: Bearer $FLEETCTL_API_TOKEN\" \
             -H 'Content-Type: application/json' -d '{{\"desired\":5}}' {base}/scale"
        );
        say!(out, "  fleetctl --config {f} status");
        say!(out, "  fleetctl --config {f} rolling-restart --no-wait");
        say!(out, "  fleetctl --config {f} scale 2 --no-wait");
        say!(out, "Press Ctrl-C to stop.");
        out.flush().map_err(Error::Output)?;
        stop.await;
    }
    eprintln!("fleetctl demo: stopping (the step in flight finishes)");
    server.stop().await
}

/// Waits until `desired` instances are in service behind the load balancer (the ledger's
/// running records); `None` after [`BRING_UP_WAIT`].
async fn in_service(server: &Server, desired: u64) -> Option<u64> {
    let started = Instant::now();
    while started.elapsed() < BRING_UP_WAIT {
        if let Ok(view) = server.state.view().await {
            let n = u64::from(view.metrics.lb_backends);
            if n >= desired && u64::from(view.metrics.actual) >= desired {
                return Some(n);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}
