//! The command line, in two layers (after ripgrep's low/high args): [`Cli`] is what clap
//! parses, with no I/O; [`Cli::into_invocation`] resolves it into one [`Invocation`] — the
//! subcommand, or the long-standing action flag — and rejects combinations that cannot work
//! together.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use fleetctl_core::config::HumanDuration;

use crate::error::CliError as Error;

/// Manage a fleet of OCI compute instances described in one YAML file.
///
/// Run with only `--config` to print a one-line summary of the fleet.
/// Exit codes: 0 success, 1 invalid arguments or configuration, 2 infrastructure
/// operation error, 3 unexpected internal error.
#[derive(Debug, Parser)]
#[command(name = "fleetctl", version, about, long_about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(flatten)]
    pub legacy: LegacyActions,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every command understands.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The fleet file.
    #[arg(
        short,
        long,
        global = true,
        value_name = "FILE",
        default_value = "fleet.yaml",
        env = "FLEETCTL_CONFIG"
    )]
    pub config: PathBuf,

    /// Where the ledger lives: a path, file://, memory://, s3://bucket/key or
    /// oci://bucket@namespace/prefix [default: spec.state.url, else .fleetctl/state.json].
    #[arg(long, global = true, value_name = "URL", env = "FLEETCTL_STATE")]
    pub state: Option<String>,

    /// Output format of commands that print results.
    #[arg(short, long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// How long a reconcile step's lease lasts [default: 120s]: how long a crashed process
    /// keeps others waiting. It must exceed the longest step. For tests and fast takeover.
    #[arg(
        long,
        global = true,
        hide = true,
        value_name = "DURATION",
        env = "FLEETCTL_LEASE_TTL",
        value_parser = parse_lease_ttl
    )]
    pub lease_ttl: Option<std::time::Duration>,
}

/// The action flags the tool has always had; each maps onto a subcommand.
#[derive(Debug, Args)]
#[command(next_help_heading = "Long-standing action flags (same as the subcommands)")]
pub struct LegacyActions {
    /// Same as `scale N`.
    #[arg(long, value_name = "N")]
    pub scale: Option<u64>,

    /// Same as `rolling-restart`.
    #[arg(long)]
    pub rolling_restart: bool,

    /// Same as `auth validate`.
    #[arg(long)]
    pub auth_validate: bool,

    /// Same as `status`.
    #[arg(long)]
    pub status: bool,

    /// Same as `serve --http ADDR`.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen)]
    pub http: Option<SocketAddr>,

    /// Same as `serve --reconcile-every DURATION` (with --http) or
    /// `reconcile --every DURATION` (without).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub reconcile_every: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people.
    Text,
    /// For scripts: one JSON document on stdout.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the fleet file and print a summary (exit 1 with every problem if invalid).
    Validate,
    /// Show the ledger beside what OCI reports, by group, marking drift.
    Status,
    /// Set the fleet's desired total; scaling down removes the oldest instances first.
    Scale(ScaleArgs),
    /// Replace or reboot every instance, a batch at a time, while the load balancer serves.
    RollingRestart(RollingRestartArgs),
    /// Rolling update: replace only the instances whose launch details (image, shape,
    /// subnet, metadata, tags) differ from the fleet file, a batch at a time; `status`,
    /// `history`, `undo`, `pause`, `resume` as kubectl's `rollout` verbs.
    Rollout(RolloutArgs),
    /// Rebuild the ledger from what OCI reports (adopt tagged instances, mark vanished ones).
    Sync(SyncArgs),
    /// Run reconcile steps until the fleet matches the file (or forever with --every).
    Reconcile(ReconcileArgs),
    /// Show what the next reconcile step would do (changes nothing).
    Plan,
    /// Pause the running operation: no step starts; those in flight finish.
    Pause(PauseArgs),
    /// Resume a paused operation (failed steps are tried again) and follow it.
    Resume(WaitArgs),
    /// Abort the operation: no step starts; those in flight finish; then it is cancelled.
    Abort(WaitArgs),
    /// Credential checks.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// Run the HTTP API, the dashboard and the control loop.
    Serve(ServeArgs),
    /// Run fleetctl against the built-in simulated OCI (no cloud account needed).
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
    /// Print the JSON Schema of the fleet file.
    Schema,
    /// Print shell completions.
    Completions {
        /// The shell to generate completions for.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// The desired total number of instances.
    pub desired: u64,
    #[command(flatten)]
    pub dry_run: DryRunArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Args, Default)]
pub struct WaitArgs {
    /// Record the request and return at once instead of following the operation.
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Also adopt instances with no fleet tag whose display name is one this fleet gives
    /// (<displayNamePrefix>-<group>-<n>, a group of the fleet file): they get the fleet's tags.
    #[arg(long)]
    pub adopt_untagged: bool,
    #[command(flatten)]
    pub dry_run: DryRunArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Why (shown in status and on the dashboard).
    #[arg(long, default_value = "paused by the operator")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct RollingRestartArgs {
    /// Override spec.rollout.strategy for this run.
    #[arg(long, value_enum)]
    pub strategy: Option<Strategy>,
    #[command(flatten)]
    pub dry_run: DryRunArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RolloutArgs {
    #[command(subcommand)]
    pub verb: Option<RolloutVerb>,
    #[command(flatten)]
    pub dry_run: DryRunArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Subcommand)]
pub enum RolloutVerb {
    /// The rollout in progress (or the last one): its revision, progress, checkpoint and the
    /// instances still outdated.
    Status,
    /// The launch-details revisions the ledger keeps and the last finished operations (what,
    /// when, who asked, through which door, the outcome).
    History,
    /// Roll back to an earlier revision's launch details (a rolling update).
    Undo(UndoArgs),
    /// Pause the rollout (same as `fleetctl pause`).
    Pause(PauseArgs),
    /// Resume a paused rollout, passing a checkpoint (same as `fleetctl resume`).
    Resume(WaitArgs),
}

#[derive(Debug, Args)]
pub struct UndoArgs {
    /// The revision to go back to [default: the one before the fleet file's].
    #[arg(long, value_name = "R")]
    pub to_revision: Option<u32>,
    #[command(flatten)]
    pub dry_run: DryRunArgs,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    Replace,
    Reboot,
}

#[derive(Debug, Args)]
pub struct DryRunArgs {
    /// Print what would be done and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Keep reconciling at this interval instead of stopping when done.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub every: Option<std::time::Duration>,
    #[command(flatten)]
    pub dry_run: DryRunArgs,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Make a lightweight IAM call and print who fleetctl signs as.
    Validate,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen address of the HTTP API (`:8080` is every interface) [default: spec.api.listen].
    #[arg(long, value_name = "ADDR", value_parser = parse_listen)]
    pub http: Option<SocketAddr>,
    /// Control loop interval [default: spec.api.reconcileEvery].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub reconcile_every: Option<std::time::Duration>,
}

#[cfg(feature = "demo")]
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the simulator writes its OCI config, keys, tokens and fleet file.
    #[arg(long, value_name = "DIR", default_value = ".fleetctl/demo")]
    pub dir: std::path::PathBuf,
    /// Listen address of the simulated OCI (port 0 picks a free port). The default is the
    /// `endpoint` of config/fleet.local.yaml.tmpl.
    #[arg(long, value_name = "ADDR", default_value = oci_sim::DEMO_LISTEN)]
    pub sim_listen: SocketAddr,
    /// Every simulated duration is multiplied by this (0.05: a 60 s boot takes 3 s).
    #[arg(long, value_name = "F", default_value_t = 0.05)]
    pub time_scale: f64,
    /// Listen address of the API and the dashboard (`:8080` is every interface; port 0
    /// picks a free one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080", value_parser = parse_listen)]
    pub http: SocketAddr,
    /// Only the simulated OCI: no API, no dashboard, no control loop.
    #[arg(long, conflicts_with = "http")]
    pub sim_only: bool,
}

/// What one run of fleetctl does, after the flags are resolved.
#[derive(Debug)]
pub enum Invocation {
    /// `fleetctl --config F` alone: the one-line summary.
    Summary,
    Command(Command),
}

impl Cli {
    /// Resolves the long-standing flags into the subcommand they stand for.
    pub fn into_invocation(self) -> Result<Invocation, Error> {
        let legacy = self.legacy;
        let mut chosen: Vec<(&'static str, Command)> = Vec::new();
        if let Some(desired) = legacy.scale {
            chosen.push((
                "--scale",
                Command::Scale(ScaleArgs {
                    desired,
                    dry_run: DryRunArgs { dry_run: false },
                    wait: WaitArgs::default(),
                }),
            ));
        }
        if legacy.rolling_restart {
            chosen.push((
                "--rolling-restart",
                Command::RollingRestart(RollingRestartArgs {
                    strategy: None,
                    dry_run: DryRunArgs { dry_run: false },
                    wait: WaitArgs::default(),
                }),
            ));
        }
        if legacy.auth_validate {
            chosen.push(("--auth-validate", Command::Auth(AuthCommand::Validate)));
        }
        if legacy.status {
            chosen.push(("--status", Command::Status));
        }
        match (legacy.http, legacy.reconcile_every) {
            (Some(http), every) => chosen.push((
                "--http",
                Command::Serve(ServeArgs {
                    http: Some(http),
                    reconcile_every: every,
                }),
            )),
            (None, Some(every)) => chosen.push((
                "--reconcile-every",
                Command::Reconcile(ReconcileArgs {
                    every: Some(every),
                    dry_run: DryRunArgs { dry_run: false },
                }),
            )),
            (None, None) => {}
        }

        if chosen.len() > 1 {
            let names: Vec<&str> = chosen.iter().map(|(n, _)| *n).collect();
            return Err(Error::Usage(format!(
                "choose one action: {} cannot be used together",
                names.join(", ")
            )));
        }
        match (self.command, chosen.pop()) {
            (Some(_), Some((flag, _))) => Err(Error::Usage(format!(
                "{flag} cannot be combined with a subcommand"
            ))),
            (Some(command), None) | (None, Some((_, command))) => Ok(Invocation::Command(command)),
            (None, None) => Ok(Invocation::Summary),
        }
    }
}

/// Parses a listen address: `IP:PORT`, or `:PORT` for every interface (as the Go tool had it).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    match text.strip_prefix(':') {
        Some(port) => port
            .parse::<u16>()
            .map(|p| SocketAddr::from(([0, 0, 0, 0], p)))
            .map_err(|_| format!("{text:?}: expected :PORT with a port 0-65535")),
        None => text.parse().map_err(|_| {
            format!("{text:?}: expected IP:PORT (127.0.0.1:8080, [::1]:8080) or :PORT")
        }),
    }
}

/// Parses a duration exactly as the fleet file does (`90s`, `1m30s`, `500ms`, `2h`, `1d`).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    HumanDuration::parse(text)
        .map(HumanDuration::get)
        .map_err(|e| e.to_string())
}

/// The shortest lease accepted: below it, a step's own calls outlast the lease.
const MIN_LEASE_TTL: std::time::Duration = std::time::Duration::from_millis(100);

/// `--lease-ttl` / `FLEETCTL_LEASE_TTL`: a duration of at least 100ms.
pub fn parse_lease_ttl(text: &str) -> Result<std::time::Duration, String> {
    let ttl = parse_duration(text)?;
    if ttl < MIN_LEASE_TTL {
        return Err(format!(
            "the lease must last at least 100ms (a step's calls outlast a shorter one), got {text}"
        ));
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn invocation(args: &[&str]) -> Result<Invocation, Error> {
        let cli = Cli::try_parse_from(std::iter::once("fleetctl").chain(args.iter().copied()))
            .map_err(|e| Error::Usage(e.to_string()))?;
        cli.into_invocation()
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_parse_like_the_config_file() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        for bad in ["", "30", "s", "1x", "-5s", "1.5s", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn the_lease_ttl_is_a_duration_of_at_least_100ms() {
        let cli = Cli::try_parse_from(["fleetctl", "--lease-ttl", "2s", "status"]).unwrap();
        assert_eq!(cli.global.lease_ttl, Some(Duration::from_secs(2)));
        let cli = Cli::try_parse_from(["fleetctl", "status"]).unwrap();
        assert_eq!(cli.global.lease_ttl, None, "the core's 120 s unless set");
        let err = Cli::try_parse_from(["fleetctl", "--lease-ttl", "50ms", "status"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--lease-ttl") && err.contains("at least 100ms") && err.contains("50ms"),
            "{err}"
        );
        let err = Cli::try_parse_from(["fleetctl", "--lease-ttl", "soon", "status"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--lease-ttl") && err.contains("soon"), "{err}");
    }

    #[test]
    fn no_action_means_summary() {
        assert!(matches!(
            invocation(&["--config", "f.yaml"]),
            Ok(Invocation::Summary)
        ));
    }

    #[test]
    fn legacy_flags_map_onto_subcommands() {
        assert!(matches!(
            invocation(&["--scale", "4"]),
            Ok(Invocation::Command(Command::Scale(ScaleArgs {
                desired: 4,
                ..
            })))
        ));
        assert!(matches!(
            invocation(&["--rolling-restart"]),
            Ok(Invocation::Command(Command::RollingRestart(_)))
        ));
        assert!(matches!(
            invocation(&["--auth-validate"]),
            Ok(Invocation::Command(Command::Auth(AuthCommand::Validate)))
        ));
        assert!(matches!(
            invocation(&["--status"]),
            Ok(Invocation::Command(Command::Status))
        ));
        match invocation(&["--http", "127.0.0.1:9000", "--reconcile-every", "1m"]) {
            Ok(Invocation::Command(Command::Serve(s))) => {
                assert_eq!(s.http, Some("127.0.0.1:9000".parse().unwrap()));
                assert_eq!(s.reconcile_every, Some(Duration::from_secs(60)));
            }
            other => panic!("unexpected {other:?}"),
        }
        match invocation(&["--reconcile-every", "45s"]) {
            Ok(Invocation::Command(Command::Reconcile(r))) => {
                assert_eq!(r.every, Some(Duration::from_secs(45)))
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn two_actions_at_once_are_refused() {
        match invocation(&["--scale", "3", "--status"]) {
            Err(Error::Usage(msg)) => assert!(msg.contains("--scale, --status"), "{msg}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn legacy_flag_with_subcommand_is_refused() {
        assert!(invocation(&["--status", "validate"]).is_err());
    }

    #[test]
    fn negative_scale_is_refused_by_the_parser() {
        assert!(invocation(&["--scale", "-2"]).is_err());
        assert!(invocation(&["scale", "-2"]).is_err());
    }

    #[test]
    fn a_bare_port_listens_on_every_interface_as_the_go_tool_did() {
        match invocation(&["--http", ":8080"]) {
            Ok(Invocation::Command(Command::Serve(s))) => {
                assert_eq!(s.http, Some("0.0.0.0:8080".parse().unwrap()));
            }
            other => panic!("unexpected {other:?}"),
        }
        match invocation(&["serve", "--http", "[::1]:9000"]) {
            Ok(Invocation::Command(Command::Serve(s))) => {
                assert_eq!(s.http, Some("[::1]:9000".parse().unwrap()));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(invocation(&["serve", "--http", ":99999"]).is_err());
        assert!(invocation(&["serve", "--http", "localhost"]).is_err());
    }
}
