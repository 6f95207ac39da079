//! `fleetctl`: the command-line front door. It parses arguments, calls `fleetctl-core` and
//! renders results; it decides nothing about the fleet itself.

mod args;
mod commands;
#[cfg(feature = "demo")]
mod demo;
#[cfg(feature = "demo")]
mod demo_fleet;
mod error;
mod operate;
mod render;
mod serve;

use std::io::{IsTerminal, Write};
use std::process::ExitCode as ProcessExitCode;

use clap::Parser;
use fleetctl_core::Error;

use crate::args::Cli;
use crate::error::{CliError, ExitCode};
use crate::render::terminal_safe;

fn main() -> ProcessExitCode {
    install_panic_hook();
    // The documented test-only trigger of exit 3 (docs/fleetctl-spec.md, section 1): no input
    // reaches a bug on purpose, so tests of the one-line report need a way to fail as one.
    if std::env::var_os("FLEETCTL_TEST_PANIC").is_some_and(|v| v == "1") {
        panic!("FLEETCTL_TEST_PANIC is set: failing as a bug would");
    }
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

/// Prints a core error on stderr: one line for it, one per cause, one per hint, a fleet file's
/// problems one per line. Messages can carry text from outside (OCI's error messages, a fleet
/// file's keys), so each is [`terminal_safe`]: a control character cannot break a line or
/// reach the terminal.
fn print_error(err: &Error) {
    let mut stderr = std::io::stderr().lock();
    match err {
        Error::WithHints { error, hints } => {
            drop(stderr);
            print_error(error);
            let mut stderr = std::io::stderr().lock();
            for hint in hints {
                let _ = writeln!(stderr, "  hint: {}", terminal_safe(hint));
            }
        }
        // Config problems are one `file:line:column: path: message` line each.
        Error::Config(problems) => {
            for problem in &problems.problems {
                let _ = writeln!(stderr, "{}", terminal_safe(&problem.to_string()));
            }
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

/// `fleetctl: error: …` and one `caused by:` line per underlying cause, each
/// [`terminal_safe`].
fn print_chain(err: &dyn std::error::Error) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(
        stderr,
        "fleetctl: error: {}",
        terminal_safe(&err.to_string())
    );
    let mut source = err.source();
    while let Some(cause) = source {
        let _ = writeln!(stderr, "  caused by: {}", terminal_safe(&cause.to_string()));
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
        eprintln!(
            "fleetctl: internal error (a bug, please report it){location}: {}",
            terminal_safe(&message)
        );
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
        .with_writer(|| OneLine(std::io::stderr()))
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Writes each log event as one line: a line break inside it (an OCI error message that
/// holds one) is written as `\n` or `\r`, so a message cannot forge a line of its own.
/// (tracing-subscriber already escapes the other control characters of field values.) The
/// formatter writes one whole event per `write_all`, which this takes in one `write`.
struct OneLine<W>(W);

impl<W: Write> Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (body, end) = match buf.strip_suffix(b"\n") {
            Some(body) => (body, &b"\n"[..]),
            None => (buf, &b""[..]),
        };
        let mut line = Vec::with_capacity(buf.len());
        for &b in body {
            match b {
                b'\n' => line.extend_from_slice(b"\\n"),
                b'\r' => line.extend_from_slice(b"\\r"),
                b => line.push(b),
            }
        }
        line.extend_from_slice(end);
        self.0.write_all(&line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
