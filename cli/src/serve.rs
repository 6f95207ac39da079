//! `fleetctl serve` (also `--http ADDR`): the HTTP API and the dashboard
//! (`fleetctl_function::router`) with the control loop (`fleetctl_function::control`) in
//! one process, until Ctrl-C or SIGTERM. `fleetctl demo` runs the same [`Server`].

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use fleetctl_core::config;
use fleetctl_core::fleet::Fleet;
use fleetctl_function::{ApiToken, AppState, TokenDigest, TokenOrigin};

use crate::args::{GlobalArgs, ServeArgs};
use crate::error::CliError as Error;

/// A running server: the listener's task and the control loop's.
pub struct Server {
    /// Where it listens (the port chosen when 0 was asked for).
    pub addr: SocketAddr,
    /// What the routes serve from.
    pub state: AppState,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    control: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Binds `addr` and starts serving `fleet` (mutations need the token of `token`) and the
    /// control loop, a step every `every` (sooner while an operation runs, at once after a
    /// mutation).
    ///
    /// # Errors
    /// [`Error::Local`] when `addr` cannot be bound.
    pub async fn start(
        fleet: Fleet,
        token: TokenDigest,
        addr: &str,
        every: Duration,
    ) -> Result<Server, Error> {
        let cannot = |e: std::io::Error| Error::Local {
            what: format!("cannot listen on {addr}"),
            source: Box::new(e),
        };
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(cannot)?;
        let addr = listener.local_addr().map_err(cannot)?;
        let state = AppState::new(fleet, token);
        let control = tokio::spawn(fleetctl_function::control::run(state.clone(), every));
        let app = fleetctl_function::router(state.clone());
        let stopping = state.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopping.shutting_down().await })
                .await
        });
        Ok(Server {
            addr,
            state,
            server,
            control,
        })
    }

    /// Stops: no new connection, the SSE streams end, the step in flight finishes (or is
    /// dropped after the grace period) and the lease is released when idle.
    pub async fn stop(self) -> Result<(), Error> {
        self.state.shut_down();
        let _ = self.control.await;
        match self.server.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Local {
                what: "the HTTP server failed".into(),
                source: Box::new(e),
            }),
            Err(e) => Err(Error::Internal(format!("the HTTP server task failed: {e}"))),
        }
    }
}

/// The API token of `fleet`: its `spec.api.tokenEnv` variable's, else a random one.
///
/// # Errors
/// [`Error::Usage`] for a token too short to be safe.
pub fn token(fleet: &config::FleetConfig) -> Result<(ApiToken, TokenOrigin), Error> {
    let var = fleet.spec.api.token_env.as_str();
    ApiToken::from_env_or_random(var, std::env::var(var).ok())
        .map_err(|e| Error::Usage(e.to_string()))
}

/// Prints a generated token once, on stderr (never to the log).
pub fn announce_token(command: &str, token: &ApiToken, origin: &TokenOrigin, var: &str) {
    if *origin == TokenOrigin::Generated {
        eprintln!(
            "fleetctl {command}: API token for mutations (made for this run; set {var} to \
             choose one): {}",
            token.reveal()
        );
    }
}

/// `fleetctl serve`.
pub fn serve(args: &ServeArgs, global: &GlobalArgs, out: &mut dyn Write) -> Result<(), Error> {
    let config = config::load_file(&global.config)?;
    let addr = match args.http {
        Some(a) => a.to_string(),
        None => config.spec.api.listen.as_str().to_string(),
    };
    let every = args
        .reconcile_every
        .unwrap_or(config.spec.api.reconcile_every);
    let (token, origin) = token(&config)?;
    let var = config.spec.api.token_env.as_str().to_string();
    crate::commands::runtime()?.block_on(async {
        let fleet = Fleet::open(config, crate::commands::overrides(global)).await?;
        let server = Server::start(fleet, token.digest(), &addr, every).await?;
        announce_token("serve", &token, &origin, &var);
        writeln!(
            out,
            "fleetctl serve: listening on http://{} (a reconcile step every {}); Ctrl-C stops",
            server.addr,
            humantime(every)
        )
        .map_err(Error::Output)?;
        out.flush().map_err(Error::Output)?;
        crate::commands::wait_for_shutdown().await;
        eprintln!("fleetctl serve: stopping (the step in flight finishes)");
        server.stop().await?;
        writeln!(out, "fleetctl serve: stopped").map_err(Error::Output)
    })
}

/// A duration as the fleet file writes it (`30s`, `1m 30s`, `500ms`).
pub fn humantime(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}
