//! `fleetctl`: the command-line front door. It parses arguments, calls `fleetctl-core` and
//! renders results; it decides nothing about the fleet itself.

mod args;
mod commands;
mod error;
mod operate;
mod render;

use std::io::{IsTerminal, Write};
use std::process::ExitCode as ProcessExitCode;

use clap::Parser;
use fleetctl_core::Error;

use crate::args::Cli;
use crate::error::{CliError, ExitCode};

fn main() -> ProcessExitCode {
    install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return clap_exit(&err),
    };
    init_logging(cli.global.verbose);
    let global = cli.global.clone();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = cli
        .into_invocation()
        .and_then(|invocation| commands::run(invocation, &global, &mut out));
    match result {
        Ok(()) => ProcessExitCode::SUCCESS,
        Err(err) => report(&err),
    }
}

/// Prints an error the way users read it and returns its documented exit code. An error whose
/// exit code is success (the reader of stdout went away) is not printed: the run just stops,
/// as `rg … | head` does.
fn report(err: &CliError) -> ProcessExitCode {
    let code = err.exit_code();
    if code != ExitCode::Success {
        match err {
            CliError::Core(core) => print_error(core),
            other => print_chain(other),
        }
    }
    ProcessExitCode::from(code.code())
}

/// A core error: its hints as `hint:` lines, a fleet file's problems one per line.
fn print_error(err: &Error) {
    let mut stderr = std::io::stderr().lock();
    match err {
        Error::WithHints { error, hints } => {
            drop(stderr);
            print_error(error);
            let mut stderr = std::io::stderr().lock();
            for hint in hints {
                let _ = writeln!(stderr, "  hint: {hint}");
            }
        }
        // Config problems are already one `file:line:column: path: message` per line.
        Error::Config(problems) => {
            let _ = writeln!(stderr, "{problems}");
            let n = problems.problems.len();
            let _ = writeln!(
                stderr,
                "fleetctl: the fleet file is invalid ({n} problem{})",
                if n == 1 { "" } else { "s" }
            );
        }
        other => {
            drop(stderr);
            print_chain(other);
        }
    }
}

/// `fleetctl: error: …` and one `caused by:` line per underlying cause.
fn print_chain(err: &dyn std::error::Error) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "fleetctl: error: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        let _ = writeln!(stderr, "  caused by: {cause}");
        source = cause.source();
    }
}

/// clap's own errors: help and version asked for (`--help`, `--version`) go to stdout with 0;
/// every usage error is exit 1 (clap would use 2, which fleetctl reserves for infrastructure
/// failures), including a subcommand group run without its subcommand (`fleetctl auth`),
/// whose help clap prints on stderr.
fn clap_exit(err: &clap::Error) -> ProcessExitCode {
    use clap::error::ErrorKind;
    let _ = err.print();
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ProcessExitCode::SUCCESS,
        _ => ProcessExitCode::from(ExitCode::Usage.code()),
    }
}

/// A panic is a bug: say so in one line, without a stack trace, and exit 3.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        eprintln!("fleetctl: internal error (a bug, please report it){location}: {message}");
        std::process::exit(i32::from(ExitCode::Internal.code()));
    }));
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour codes only for a person at a terminal, never in a file or a pipe.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
