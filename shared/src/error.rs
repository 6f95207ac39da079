//! The crate-wide error type and its classes.
//!
//! Every operation of the core reports failures through [`Error`]. Each error has a class
//! ([`Error::class`], [`ErrorClass`]): what kind of failure it is, so that each front door
//! maps classes to its own vocabulary in one place (the CLI to exit codes, the HTTP API to
//! statuses). Module errors keep their own context (file:line:column, request ids) and are
//! wrapped here without repeating their text.

use crate::ids::FleetName;

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The request itself is wrong (a value out of range, arguments that cannot work
    /// together); nothing was changed.
    BadInput,
    /// The configuration is wrong or unusable: the fleet file, the state URL, credential
    /// settings, the endpoint override, proxy variables, a ledger of another fleet. The user
    /// fixes it; nothing was changed in the cloud.
    Configuration,
    /// An infrastructure operation failed: OCI refused or failed a call, the network failed,
    /// the state store failed.
    Infrastructure,
    /// Another writer changed the state first; nothing was written. Re-read and try again.
    Conflict,
    /// The request is well formed but the fleet's current state refuses it (another
    /// operation runs, nothing to pause or resume, a rolling reboot of one instance);
    /// nothing was recorded.
    Refused,
    /// A bug: something the code assumed cannot happen did.
    Internal,
}

/// Everything that can go wrong in the core, classified by [`Error::class`].
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
    /// The state store holds the ledger of another fleet: two fleets must never share one.
    #[error(
        "the state at {url} belongs to fleet {:?}, not {:?}: point --state or spec.state.url \
         at this fleet's ledger",
        found.as_str(),
        expected.as_str()
    )]
    ForeignLedger {
        /// The store (credentials redacted).
        url: String,
        /// The fleet the ledger names.
        found: FleetName,
        /// The fleet of the fleet file.
        expected: FleetName,
    },
    /// A request the core refuses: a value out of range, arguments that cannot work together.
    #[error("{0}")]
    BadInput(String),
    /// A request the fleet's current state refuses (another operation runs, nothing to
    /// pause): nothing was recorded.
    #[error("{0}")]
    Refused(String),
    /// A bug: something the code assumed cannot happen did.
    #[error("internal error: {0}")]
    Internal(String),
    /// An error with advice on what to try next. `Display` shows only the error itself;
    /// front doors show `hints` after it (the CLI as `hint:` lines).
    #[error("{error}")]
    WithHints {
        /// The error.
        error: Box<Error>,
        /// What the user can try, most likely first.
        hints: Vec<String>,
    },
}

impl Error {
    /// The class of this error. This is the only place that decides it.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::BadInput(_) => ErrorClass::BadInput,
            Error::Refused(_) => ErrorClass::Refused,
            Error::Config(_) | Error::ForeignLedger { .. } => ErrorClass::Configuration,
            // A bad state URL: the user fixes it. Another writer that won: a conflict. A
            // ledger that cannot be encoded: a bug. Anything else the store did: 2.
            Error::Store(e) if e.is_configuration_problem() => ErrorClass::Configuration,
            Error::Store(e) if e.is_internal() => ErrorClass::Internal,
            Error::Store(e) if e.is_conflict() => ErrorClass::Conflict,
            Error::Store(_) => ErrorClass::Infrastructure,
            // A request or session key our own code failed to build: a bug. Missing config
            // file/profile/key/region: the user fixes configuration. A failed call, a network
            // error or refused credentials: infrastructure.
            Error::Auth(e) if e.is_internal() => ErrorClass::Internal,
            Error::Oci(e) if e.is_internal() => ErrorClass::Internal,
            Error::Auth(e) if e.is_configuration_problem() => ErrorClass::Configuration,
            Error::Oci(e) if e.is_configuration_problem() => ErrorClass::Configuration,
            Error::Auth(_) | Error::Oci(_) => ErrorClass::Infrastructure,
            Error::LoadBalancer(_) | Error::Network(_) => ErrorClass::Infrastructure,
            Error::WithHints { error, .. } => error.class(),
            Error::Internal(_) => ErrorClass::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_keep_the_class_of_the_error_they_explain() {
        let err = Error::WithHints {
            error: Box::new(Error::Internal("x".into())),
            hints: vec!["try y".into()],
        };
        assert_eq!(err.class(), ErrorClass::Internal);
        assert_eq!(err.to_string(), "internal error: x");
    }

    #[test]
    fn a_ledger_of_another_fleet_is_a_configuration_problem_named_as_before() {
        let err = Error::ForeignLedger {
            url: "memory://x".into(),
            found: "other".parse().unwrap(),
            expected: "web".parse().unwrap(),
        };
        assert_eq!(err.class(), ErrorClass::Configuration);
        assert_eq!(
            err.to_string(),
            "the state at memory://x belongs to fleet \"other\", not \"web\": point --state or \
             spec.state.url at this fleet's ledger"
        );
    }
}
