//! `fleetctl-function`: fleetctl's HTTP API, as an OCI Function or in any container.
//!
//! - With `FN_LISTENER` set (OCI Functions, `FN_FORMAT=http-stream`): the Fn contract on that
//!   unix socket ([`fleetctl_function::fdk`]); the socket is bound and served before anything
//!   else, so the platform's start timeout is met and its first call is not kept waiting:
//!   `GET /healthz` is answered at once, other calls wait for the fleet file, which is read
//!   meanwhile ([`fleetctl_function::fleet_source::StartingApp`]). Resource principal is the
//!   default auth of the client that reads an `oci://` fleet file (`FLEETCTL_AUTH` overrides
//!   it).
//! - Without it: HTTP on `--listen ADDR`, else `$PORT` on 0.0.0.0 (container convention),
//!   else 127.0.0.1:8080.
//!
//! The fleet file: `FLEETCTL_CONFIG` (a path, or `oci://bucket@namespace/object`), read at
//! start (a bad one stops the process) and again when it changes
//! ([`fleetctl_function::fleet_source`]); the fleet is opened (credentials, the HTTPS client,
//! the store) on the first request that needs it, never for `GET /healthz`. Logs: JSON lines
//! on stderr when it is not a terminal (OCI Logging ingests them), text otherwise
//! (`FLEETCTL_LOG_FORMAT=json|text` forces one).
//!
//! Exit codes as fleetctl's: 1 for a bad argument, environment or fleet file; 2 when the
//! socket or port cannot be bound, the fleet file cannot be read, or the server fails.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use fleetctl_core::env::Env;
use fleetctl_core::fleet::Fleet;
use fleetctl_core::fleet::Overrides;
use fleetctl_core::oci::AuthMethod;
use fleetctl_function::fdk::{self, FnConfig, FnListener, InvokeHeaders};
use fleetctl_function::fleet_source::{
    self, BuildApp, FleetApp, FleetLocation, FleetSource, SourceError, SourceOptions, StartingApp,
    error_chain,
};
use fleetctl_function::{ApiToken, AppState, StepDeadline, TokenDigest, TokenOrigin};

/// Exit code 1: a bad argument, environment variable or fleet file.
const BAD_INPUT: u8 = 1;
/// Exit code 2: infrastructure (a socket, a port, Object Storage).
const INFRASTRUCTURE: u8 = 2;

/// A failure that ends the process, with its exit code.
struct Fatal {
    code: u8,
    message: String,
}

fn bad(message: impl Into<String>) -> Fatal {
    Fatal {
        code: BAD_INPUT,
        message: message.into(),
    }
}

fn infra(message: impl Into<String>) -> Fatal {
    Fatal {
        code: INFRASTRUCTURE,
        message: message.into(),
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn listen_addr(args: &[String]) -> Result<SocketAddr, Fatal> {
    match args {
        [flag, addr] if flag == "--listen" => addr
            .parse()
            .map_err(|e| bad(format!("invalid --listen address {addr:?}: {e}"))),
        [] => match var("PORT") {
            Some(port) => port
                .trim()
                .parse::<u16>()
                .map(|p| SocketAddr::from(([0, 0, 0, 0], p)))
                .map_err(|e| bad(format!("invalid PORT {port:?}: {e}"))),
            None => Ok(SocketAddr::from(([127, 0, 0, 1], 8080))),
        },
        _ => Err(bad("usage: fleetctl-function [--listen ADDR]")),
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = match var("FLEETCTL_LOG_FORMAT").as_deref() {
        Some("json") => true,
        Some("text") => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init();
    } else {
        builder.init();
    }
}

/// The fleet source `FLEETCTL_CONFIG` names (default `fleet.yaml` in the working
/// directory), read once (so a bad one stops the process), and the name of the variable
/// holding the API token (`spec.api.tokenEnv`).
async fn fleet_source(fn_mode: bool) -> Result<(Arc<FleetSource>, String), Fatal> {
    let config = var("FLEETCTL_CONFIG").unwrap_or_else(|| "fleet.yaml".to_string());
    let location = FleetLocation::parse(&config).map_err(|e| bad(e.to_string()))?;
    let auth = match var("FLEETCTL_AUTH") {
        Some(text) => Some(
            text.parse::<AuthMethod>()
                .map_err(|e| bad(format!("FLEETCTL_AUTH: {e}")))?,
        ),
        None if fn_mode => Some(AuthMethod::Resource),
        None => None,
    };
    let refresh_every = match var("FLEETCTL_CONFIG_REFRESH") {
        Some(text) => humantime::parse_duration(text.trim())
            .map_err(|e| bad(format!("FLEETCTL_CONFIG_REFRESH={text:?}: {e}")))?,
        None => fleet_source::REFRESH_EVERY,
    };
    let options = SourceOptions {
        auth,
        overrides: Overrides::new(Env::from_process()),
        refresh_every,
    };
    let fatal = |e: SourceError| {
        let message = error_chain(&e);
        if e.is_configuration_problem() {
            bad(message)
        } else {
            infra(message)
        }
    };
    let source = FleetSource::open(location, options).await.map_err(fatal)?;
    let current = source.current().await.map_err(fatal)?;
    tracing::info!(
        fleet = %source.location(),
        name = current.config.metadata.name.as_str(),
        "fleet file loaded"
    );
    let token_env = current.config.spec.api.token_env.as_str().to_string();
    Ok((Arc::new(source), token_env))
}

/// The API token: the variable the fleet file names (`spec.api.tokenEnv`), else one made at
/// random. Over HTTP a made one is printed once on stderr, so its operator can use it; in Fn
/// mode it is never printed (stderr is the function's log): only the platform's own
/// schedule and Events invocations carry it ([`InvokeHeaders`]), and HTTP mutations need a
/// configured token.
fn api_token(token_env: &str, fn_mode: bool) -> Result<ApiToken, Fatal> {
    let (token, origin) =
        ApiToken::from_env_or_random(token_env, var(token_env)).map_err(|e| bad(e.to_string()))?;
    if origin == TokenOrigin::Generated {
        if fn_mode {
            tracing::warn!(
                variable = token_env,
                "no API token configured: HTTP mutations are refused; schedules and Events still run steps"
            );
        } else {
            eprintln!(
                "fleetctl-function: API token for mutations (set ${token_env} to choose one): {}",
                token.reveal()
            );
        }
    }
    Ok(token)
}

/// The shortest lease `FLEETCTL_LEASE_TTL` may ask for (as `fleetctl --lease-ttl`).
const MIN_LEASE_TTL: std::time::Duration = std::time::Duration::from_millis(100);

/// `FLEETCTL_LEASE_TTL` (a duration of at least 100ms, as `fleetctl --lease-ttl`), when set:
/// how long each step's lease lasts.
fn lease_ttl() -> Result<Option<std::time::Duration>, Fatal> {
    let Some(text) = var("FLEETCTL_LEASE_TTL") else {
        return Ok(None);
    };
    let ttl = humantime::parse_duration(text.trim())
        .map_err(|e| bad(format!("FLEETCTL_LEASE_TTL={text:?}: {e}")))?;
    if ttl < MIN_LEASE_TTL {
        return Err(bad(format!(
            "FLEETCTL_LEASE_TTL={text:?}: a lease must last at least 100ms"
        )));
    }
    Ok(Some(ttl))
}

/// Opens the fleet of each fleet file generation and serves the router over it: the Fn
/// deadline of a call, when there is one, bounds `POST /reconcile`'s step, each step's lease
/// lasts `lease_ttl` when set, and the platform's own invocations carry `invoke` (in Fn mode).
fn build_app(
    token: TokenDigest,
    lease_ttl: Option<std::time::Duration>,
    invoke: Option<InvokeHeaders>,
) -> BuildApp {
    Arc::new(move |current: Option<fleet_source::Current>| {
        let token = token.clone();
        let invoke = invoke.clone();
        Box::pin(async move {
            let Some(current) = current else {
                return Err("no fleet file to serve".to_string());
            };
            let config = (*current.config).clone();
            let overrides = Overrides::new(Env::from_process()).lease_ttl(lease_ttl);
            let fleet = Fleet::open(config, overrides)
                .await
                .map_err(|e| format!("cannot open the fleet: {}", error_chain(&e)))?;
            let router = fleetctl_function::router(AppState::new(fleet, token))
                .layer(axum::middleware::from_fn(fn_deadline));
            Ok(match invoke {
                Some(invoke) => router.layer(axum::middleware::from_fn_with_state(
                    invoke,
                    fdk::add_invoke_headers,
                )),
                None => router,
            })
        })
    })
}

/// Carries the Fn platform's deadline (`fdk::Deadline`) to the router as the step's.
async fn fn_deadline(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Some(fdk::Deadline(at)) = req.extensions().get::<fdk::Deadline>().copied() {
        req.extensions_mut().insert(StepDeadline(at));
    }
    next.run(req).await
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

async fn run() -> Result<(), Fatal> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(fn_listener) = var("FN_LISTENER") {
        if !args.is_empty() {
            return Err(bad(
                "--listen cannot be used with FN_LISTENER (the platform names the socket)",
            ));
        }
        // Bind first: the platform waits only a few seconds for the socket.
        let listener = FnListener::bind(&fn_listener, std::env::var("FN_FORMAT").ok().as_deref())
            .map_err(|e| {
            let message = error_chain(&e);
            if e.is_configuration_problem() {
                bad(message)
            } else {
                infra(message)
            }
        })?;
        tracing::info!(
            socket = %listener.path().display(),
            fdk = fdk::FDK_VERSION,
            runtime = fdk::FDK_RUNTIME,
            "fleetctl-function listening for Fn calls"
        );
        // Serve at once; the fleet file is read meanwhile (a bad one still stops the
        // process), and calls other than `GET /healthz` wait for it.
        let lease_ttl = lease_ttl()?;
        let (app, starter) = StartingApp::new();
        let start = tokio::spawn(async move {
            let (source, token_env) = fleet_source(true).await?;
            let token = api_token(&token_env, true)?;
            let invoke = InvokeHeaders::bearer(token.reveal())
                .map_err(|e| bad(format!("{token_env}: {e}")))?;
            let build = build_app(token.digest(), lease_ttl, Some(invoke));
            starter.ready(FleetApp::new(Some(source), build).into_router());
            Ok::<(), Fatal>(())
        });
        let service = fdk::FnAdapter::new(app.into_router(), FnConfig::from_env(var));
        let serving = fdk::serve(&listener, service, shutdown_signal());
        tokio::pin!(serving);
        let served = tokio::select! {
            served = &mut serving => served,
            started = start => {
                match started {
                    Ok(Ok(())) => {}
                    Ok(Err(fatal)) => return Err(fatal),
                    Err(e) => return Err(infra(format!("the start failed: {e}"))),
                }
                serving.await
            }
        };
        served.map_err(|e| infra(format!("the Fn socket failed: {e}")))?;
        return Ok(());
    }
    let addr = listen_addr(&args)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| infra(format!("cannot listen on {addr}: {e}")))?;
    tracing::info!(%addr, "fleetctl-function listening");
    let (source, token_env) = fleet_source(false).await?;
    let token = api_token(&token_env, false)?;
    let app =
        FleetApp::new(Some(source), build_app(token.digest(), lease_ttl()?, None)).into_router();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| infra(format!("server error: {e}")))?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(fatal) => {
            eprintln!("fleetctl-function: {}", fatal.message);
            ExitCode::from(fatal.code)
        }
    }
}
