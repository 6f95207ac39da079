//! The CLI's errors and the one place that turns any error into a documented exit code
//! (`docs/fleetctl-spec.md`, section 1).

use fleetctl_core::ErrorClass;

/// The documented exit codes of `fleetctl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// 0: the command did what was asked.
    Success = 0,
    /// 1: invalid arguments or configuration; nothing was changed in the cloud.
    Usage = 1,
    /// 2: an infrastructure operation failed (OCI, the state store, the network).
    Infrastructure = 2,
    /// 3: an unexpected internal error (a bug).
    Internal = 3,
}

impl ExitCode {
    /// The numeric process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Everything that can end a run of `fleetctl` with an error.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The core failed; its class decides the exit code.
    #[error(transparent)]
    Core(#[from] fleetctl_core::Error),
    /// Arguments that cannot work together.
    #[error("{0}")]
    Usage(String),
    /// A command whose machinery is not built yet; it never pretends to work.
    #[error("`{command}` is not available in this build of fleetctl yet: {reason}")]
    NotAvailable {
        /// The command the user asked for.
        command: String,
        /// What is missing, in the user's words.
        reason: String,
    },
    /// The results could not be written: stdout is full or failed. A closed pipe
    /// (`fleetctl schema | head -1`) is no failure: its exit code is success, and the run
    /// stops quietly.
    #[error("cannot write the output")]
    Output(#[source] std::io::Error),
    /// A local resource could not be used: a port already in use, a directory that cannot be
    /// created.
    #[error("{what}")]
    #[cfg_attr(not(feature = "demo"), allow(dead_code))] // only `demo` fails this way today
    Local {
        /// What fleetctl was doing, e.g. "cannot start the simulated OCI".
        what: String,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Another writer or lease holder is in the way (a lease held too long, an operation
    /// replaced while it was followed).
    #[error("{0}")]
    Conflict(String),
    /// An operation ended paused, failed or cancelled: the command did not get what it asked
    /// for.
    #[error("operation {operation} is {status}{}", if reason.is_empty() { String::new() } else { format!(": {reason}") })]
    OperationNotDone {
        /// The operation.
        operation: String,
        /// `paused`, `failed` or `cancelled`.
        status: &'static str,
        /// Why.
        reason: String,
    },
    /// Ctrl-C: the operation stays recorded for the next step.
    #[error("{0}")]
    Interrupted(String),
    /// A bug in the CLI itself.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<fleetctl_core::config::ConfigErrors> for CliError {
    fn from(e: fleetctl_core::config::ConfigErrors) -> Self {
        CliError::Core(e.into())
    }
}

impl CliError {
    /// The exit code this error ends the run with. This is the only place that decides it.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Core(e) => match e.class() {
                ErrorClass::BadInput | ErrorClass::Configuration | ErrorClass::Refused => {
                    ExitCode::Usage
                }
                ErrorClass::Infrastructure | ErrorClass::Conflict => ExitCode::Infrastructure,
                ErrorClass::Internal => ExitCode::Internal,
            },
            CliError::Usage(_) | CliError::NotAvailable { .. } => ExitCode::Usage,
            // The reader went away (`| head`): the user has what they wanted.
            CliError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::Success,
            CliError::Output(_) | CliError::Local { .. } => ExitCode::Infrastructure,
            CliError::Conflict(_)
            | CliError::OperationNotDone { .. }
            | CliError::Interrupted(_) => ExitCode::Infrastructure,
            CliError::Internal(_) => ExitCode::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetctl_core::Error;

    #[test]
    fn every_class_has_its_documented_exit_code() {
        let core = |e: Error| CliError::Core(e).exit_code();
        assert_eq!(core(Error::BadInput("x".into())), ExitCode::Usage);
        assert_eq!(core(Error::Refused("x".into())), ExitCode::Usage);
        let bad_url = fleetctl_core::store::StoreError::InvalidUrl {
            url: "x".into(),
            reason: "y".into(),
        };
        assert_eq!(core(Error::Store(bad_url)), ExitCode::Usage);
        assert_eq!(core(Error::Internal("x".into())), ExitCode::Internal);
        let hinted = Error::WithHints {
            error: Box::new(Error::Internal("x".into())),
            hints: vec![],
        };
        assert_eq!(core(hinted), ExitCode::Internal);
    }

    #[test]
    fn a_closed_pipe_is_success_and_a_failed_write_is_not() {
        let closed = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert_eq!(CliError::Output(closed).exit_code(), ExitCode::Success);
        let full = std::io::Error::other("disk full");
        assert_eq!(CliError::Output(full).exit_code(), ExitCode::Infrastructure);
        assert_eq!(CliError::Usage("x".into()).exit_code(), ExitCode::Usage);
    }
}
