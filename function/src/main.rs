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
    tracing::info!(%addr, "fleetctl-function listening");
    if let Err(e) = axum::serve(listener, fleetctl_function::router()).await {
        eprintln!("fleetctl-function: server error: {e}");
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
