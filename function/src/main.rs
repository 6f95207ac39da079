//! `fleetctl-function`: serves fleetctl's HTTP API over TCP (any container host).
//!
//! Listen address: `--listen ADDR`, else `$PORT` on 0.0.0.0 (container convention), else
//! 127.0.0.1:8080. Exit codes follow fleetctl's: 1 for a bad address, 2 if the port cannot
//! be bound.

use std::net::SocketAddr;
use std::process::ExitCode;

fn listen_addr() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (Some("--listen"), Some(addr)) => addr
            .parse()
            .map_err(|e| format!("invalid --listen address {addr:?}: {e}")),
        (None, _) => match std::env::var("PORT") {
            Ok(port) => port
                .parse::<u16>()
                .map(|p| SocketAddr::from(([0, 0, 0, 0], p)))
                .map_err(|e| format!("invalid PORT {port:?}: {e}")),
            Err(_) => Ok(SocketAddr::from(([127, 0, 0, 1], 8080))),
        },
        _ => Err("usage: fleetctl-function [--listen ADDR]".to_string()),
    }
}

/// Opens the fleet of `$FLEETCTL_CONFIG` (default `fleet.yaml`) and the API token.
async fn open_state() -> Result<fleetctl_function::AppState, (u8, String)> {
    use fleetctl_core::env::Env;
    use fleetctl_core::fleet::{Fleet, Overrides};
    let path = std::env::var("FLEETCTL_CONFIG").unwrap_or_else(|_| "fleet.yaml".to_string());
    let fleet = Fleet::open_file(path.as_ref(), Overrides::new(Env::from_process()))
        .await
        .map_err(|e| (1, format!("cannot open the fleet of {path}: {e}")))?;
    let var = fleet.config().spec.api.token_env.as_str().to_string();
    let (token, origin) =
        fleetctl_function::ApiToken::from_env_or_random(&var, std::env::var(&var).ok())
            .map_err(|e| (1, e.to_string()))?;
    if origin == fleetctl_function::TokenOrigin::Generated {
        eprintln!(
            "fleetctl-function: API token for mutations (set ${var} to choose one): {}",
            token.reveal()
        );
    }
    Ok(fleetctl_function::AppState::new(fleet, token.digest()))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let addr = match listen_addr() {
        Ok(addr) => addr,
        Err(msg) => {
            eprintln!("fleetctl-function: {msg}");
            return ExitCode::from(1);
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fleetctl-function: cannot listen on {addr}: {e}");
            return ExitCode::from(2);
        }
    };
    let state = match open_state().await {
        Ok(state) => state,
        Err((code, msg)) => {
            eprintln!("fleetctl-function: {msg}");
            return ExitCode::from(code);
        }
    };
    tracing::info!(%addr, "fleetctl-function listening");
    if let Err(e) = axum::serve(listener, fleetctl_function::router(state)).await {
        eprintln!("fleetctl-function: server error: {e}");
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
