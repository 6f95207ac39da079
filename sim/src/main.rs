//! `oci-sim --listen 127.0.0.1:PORT --out DIR [--time-scale F] [--seed N]`

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use oci_sim::SimErrorKind;

/// A local OCI (identity, auth, IMDS, compute, networking, load balancers, Object Storage, admin)
/// over HTTP on loopback, for fleetctl's tests and demo.
#[derive(Debug, Parser)]
#[command(name = "oci-sim", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Directory for the config file, keys and tokens (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Multiplies every simulated duration (0.001 turns a 60 s boot into 60 ms).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Seed for OCIDs and fault probabilities (default: random).
    #[arg(long)]
    seed: Option<u64>,
    /// Also seed the subnet fleet-subnet-large (10.0.128.0/17), for fleets of more than about
    /// 250 instances.
    #[arg(long)]
    large_subnet: bool,
}

/// Exit codes (documented in `sim/README.md`).
const EXIT_BAD_ARGUMENTS: u8 = 1;
const EXIT_ENVIRONMENT: u8 = 2;
const EXIT_INTERNAL: u8 = 3;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OCI_SIM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            // --help and --version print to stdout and succeed; anything else is a usage
            // error on stderr.
            let _ = e.print();
            return if e.exit_code() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_BAD_ARGUMENTS)
            };
        }
    };
    // Run on a task so that a panic is reported as an internal error (exit 3), not 101.
    match tokio::spawn(run(args)).await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Err(panicked) => {
            eprintln!("oci-sim: internal error: {panicked}");
            ExitCode::from(EXIT_INTERNAL)
        }
        Ok(Err(e)) => {
            eprintln!("oci-sim: error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::from(match e.kind() {
                SimErrorKind::Config => EXIT_BAD_ARGUMENTS,
                SimErrorKind::Environment => EXIT_ENVIRONMENT,
                SimErrorKind::Internal => EXIT_INTERNAL,
            })
        }
    }
}

async fn run(args: Args) -> Result<(), oci_sim::SimError> {
    let mut config = oci_sim::SimConfig::new(args.out);
    config.listen = args.listen;
    config.time_scale = args.time_scale;
    config.seed = args.seed;
    config.large_subnet = args.large_subnet;
    let sim = oci_sim::Sim::start(config).await?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "oci-sim listening on {}", sim.base_url());
        let _ = out.flush();
    }
    wait_for_signal().await;
    eprintln!("oci-sim: shutting down");
    sim.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
