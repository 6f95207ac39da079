//! The crate-wide error type and the one mapping from errors to exit codes.
//!
//! Every front door reports failures through [`Error`]; the CLI turns it into a process exit
//! code with [`Error::exit_code`], the HTTP API into a status code. Module errors keep their
//! own context (file:line:column, request ids) and are wrapped here without repeating their
//! text.

/// The documented exit codes of `fleetctl` (see `docs/fleetctl-spec.md`).
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

/// Everything that can go wrong in fleetctl, classified for exit codes and HTTP statuses.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The fleet file could not be read, parsed or validated.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigErrors),
    /// OCI credentials could not be loaded or refreshed.
    #[error(transparent)]
    Auth(#[from] crate::oci::AuthError),
    /// An OCI call failed.
    #[error(transparent)]
    Oci(#[from] crate::oci::OciError),
    /// A load-balancer backend operation failed (including a FAILED work request).
    #[error(transparent)]
    LoadBalancer(#[from] crate::oci::backends::LbError),
    /// An instance's network (VNIC, private IP) could not be read.
    #[error(transparent)]
    Network(#[from] crate::oci::network::NetworkError),
    /// The state store failed, refused a URL, or another writer won.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Arguments that cannot work together, or a value out of range.
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
    /// (`fleetctl schema | head -1`) is no failure: its exit code is success, and front doors
    /// stop quietly.
    #[error("cannot write the output")]
    Output(#[source] std::io::Error),
    /// A local resource could not be used: a port already in use, a directory that cannot be
    /// created.
    #[error("{what}")]
    Local {
        /// What fleetctl was doing, e.g. "cannot start the simulated OCI".
        what: String,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Another writer or lease holder is in the way (a lease held too long, a ledger that
    /// kept changing).
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
    /// A bug: something the code assumed cannot happen did.
    #[error("internal error: {0}")]
    Internal(String),
    /// An error with advice on what to try next. `Display` shows only the error itself;
    /// front doors print `hints` after it (the CLI as `hint:` lines).
    #[error("{error}")]
    WithHints {
        /// The error.
        error: Box<Error>,
        /// What the user can try, most likely first.
        hints: Vec<String>,
    },
}

impl Error {
    /// The exit code this error ends the CLI with. This is the only place that decides it.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Config(_) | Error::Usage(_) | Error::NotAvailable { .. } => ExitCode::Usage,
            // A bad state URL: the user fixes it. A failing store or a writer that won: 2.
            Error::Store(e) if e.is_configuration_problem() => ExitCode::Usage,
            Error::Store(e) if e.is_internal() => ExitCode::Internal,
            Error::Store(_) => ExitCode::Infrastructure,
            // A request or session key our own code failed to build: a bug. Missing config
            // file/profile/key/region: the user fixes configuration. A failed call, a network
            // error or refused credentials: infrastructure.
            Error::Auth(e) if e.is_internal() => ExitCode::Internal,
            Error::Oci(e) if e.is_internal() => ExitCode::Internal,
            Error::Auth(e) if e.is_configuration_problem() => ExitCode::Usage,
            Error::Oci(e) if e.is_configuration_problem() => ExitCode::Usage,
            Error::Auth(_) | Error::Oci(_) => ExitCode::Infrastructure,
            Error::LoadBalancer(_) | Error::Network(_) => ExitCode::Infrastructure,
            // The reader went away (`| head`): the user has what they wanted.
            Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::Success,
            Error::Output(_) | Error::Local { .. } => ExitCode::Infrastructure,
            Error::Conflict(_) | Error::OperationNotDone { .. } | Error::Interrupted(_) => {
                ExitCode::Infrastructure
            }
            Error::WithHints { error, .. } => error.exit_code(),
            Error::Internal(_) => ExitCode::Internal,
        }
    }
}
