//! One view of a load balancer's backend set, whichever kind drives it.
//!
//! [`LoadBalancerBackends`] is what rolling restarts, LB sync and the reconcile step call:
//! list and read backends and their health, and change them. One client implements it for
//! both kinds ([`super::backend_set::BackendSetClient`], which keeps the classic/network
//! differences in one table); `cloud::load_balancer_backends` opens it from the fleet file's
//! `loadBalancer`.
//!
//! # Two forms of every mutation
//! - **Start** (`start_create_backend`, `start_update_backend`, `start_delete_backend`):
//!   sends the change and returns its work request id as soon as OCI accepted it, within the
//!   caller's [`Deadline`]; [`LoadBalancerBackends::check_work_request`] later says where it
//!   is ([`WorkRequestState`]). A reconcile step records the id and checks it in a later step,
//!   so no call outlives an OCI Function's 300 s.
//! - **Waiting** (`create_backend`, `update_backend`, `delete_backend`, `set_drain`): start,
//!   then poll the work request until it is terminal, within [`WaitPolicy::timeout`] each
//!   (the CLI's form). `Ok` means SUCCEEDED (the change is live);
//!   [`LbError::WorkRequestFailed`] carries OCI's error details.
//!
//! # Guarantees
//! - Mutations of one load balancer take turns in this process
//!   ([`super::workrequest::MutationLocks`]): a start first waits, within its deadline, for
//!   the work request of this process's previous mutation of that load balancer (recorded by
//!   its start), so two work requests from one process never overlap, in either form.
//! - A 409 `Conflict` answer (the load balancer is busy with a change from elsewhere; the NLB
//!   always answers so while a work request runs) is sent again with a doubling wait until the
//!   deadline, then reported as [`LbError::Busy`]; other 409s (a duplicate backend) are not.
//! - Creates and updates carry the caller's `opc-retry-token`, so a retried or resumed call
//!   does not queue the change twice.
//! - An update reads the backend and writes it back with `if-match` set to the ETag of that
//!   read, so a change made meanwhile by another process or the console is not overwritten:
//!   on 412 the backend is read again and the update (which names only the fields it
//!   changes) applied to the fresh copy, at most [`UPDATE_ATTEMPTS`] times
//!   ([`LbError::KeptChanging`] after that).

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::client::encode_path_segment;
use super::error::OciError;
use super::wire::{RetryToken, open_enum};
use super::workrequest::{
    Deadline, WaitPolicy, WorkRequestCheck, WorkRequestId, WorkRequestState, WorkRequestStatus,
};
use crate::ids::{InstanceId, InvalidId, LoadBalancerId, Ocid, SubnetId};
use crate::values::LoadBalancerType;

/// How many times an update reads the backend and writes it back with `if-match` before it
/// gives up on a backend that keeps changing ([`LbError::KeptChanging`]).
pub const UPDATE_ATTEMPTS: u32 = 5;

/// A backend name: `<ip>:<port>` for backends fleetctl creates. Sent percent-encoded in paths
/// (`10.0.0.3%3A8080`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BackendName(String);

impl BackendName {
    /// `<ip>:<port>`, the name OCI gives a backend created with this address.
    pub fn for_address(ip: IpAddr, port: u16) -> Self {
        Self(format!("{ip}:{port}"))
    }

    /// A name as OCI returned it (any non-empty text).
    pub fn new(name: impl Into<String>) -> Option<Self> {
        let name = name.into();
        (!name.is_empty()).then_some(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as one percent-encoded path segment.
    pub fn path_segment(&self) -> String {
        encode_path_segment(&self.0)
    }
}

impl fmt::Display for BackendName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BackendName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BackendName({:?})", self.0)
    }
}

/// What an NLB backend created by target (`targetId`) points at: an instance, or a private
/// IP, which OCI names by its OCID (`ocid1.privateip.…`). Any other resource type is kept as
/// [`BackendTarget::Other`] rather than refused, as OCI may add target kinds. Classic LB
/// backends have no target.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum BackendTarget {
    /// `ocid1.instance.…`.
    Instance(InstanceId),
    /// `ocid1.privateip.…`.
    PrivateIp(Ocid),
    /// Another resource type.
    Other(Ocid),
}

impl BackendTarget {
    /// Checks the form of `text` (any resource type) and sorts it by type.
    pub fn parse(text: &str) -> Result<Self, InvalidId> {
        let ocid = Ocid::parse(text)?;
        Ok(match ocid.resource_type() {
            "instance" => BackendTarget::Instance(InstanceId::from_ocid(ocid)?),
            "privateip" => BackendTarget::PrivateIp(ocid),
            _ => BackendTarget::Other(ocid),
        })
    }

    /// The OCID as written.
    pub fn as_str(&self) -> &str {
        match self {
            BackendTarget::Instance(id) => id.as_str(),
            BackendTarget::PrivateIp(ocid) | BackendTarget::Other(ocid) => ocid.as_str(),
        }
    }

    /// The instance, when the target is one.
    pub fn instance(&self) -> Option<&InstanceId> {
        match self {
            BackendTarget::Instance(id) => Some(id),
            _ => None,
        }
    }
}

impl TryFrom<String> for BackendTarget {
    type Error = InvalidId;
    fn try_from(text: String) -> Result<Self, InvalidId> {
        Self::parse(&text)
    }
}

impl From<BackendTarget> for String {
    fn from(target: BackendTarget) -> String {
        target.as_str().to_string()
    }
}

impl fmt::Display for BackendTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for BackendTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendTarget::Instance(id) => write!(f, "BackendTarget::Instance({:?})", id.as_str()),
            BackendTarget::PrivateIp(o) => write!(f, "BackendTarget::PrivateIp({:?})", o.as_str()),
            BackendTarget::Other(o) => write!(f, "BackendTarget::Other({:?})", o.as_str()),
        }
    }
}

/// A backend of the backend set (the fields both kinds share).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Its name (`ip:port`, or a name given at creation on an NLB).
    pub name: BackendName,
    /// Its IP address, when it was created by address.
    pub ip_address: Option<String>,
    /// Its port.
    pub port: u16,
    /// Its weight.
    pub weight: u32,
    /// Gets traffic only when every non-backup backend is unhealthy.
    pub backup: bool,
    /// Takes no new connections.
    pub drain: bool,
    /// Takes no traffic.
    pub offline: bool,
}

/// A backend to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewBackend {
    /// The instance's private IP.
    pub ip_address: IpAddr,
    /// The port (1-65535).
    pub port: u16,
    /// The weight (1-100 in the fleet file).
    pub weight: u32,
    /// Backup backend.
    pub backup: bool,
    /// Start drained.
    pub drain: bool,
    /// Start offline.
    pub offline: bool,
}

impl NewBackend {
    /// A serving backend: not backup, not drained, not offline.
    pub fn serving(ip_address: IpAddr, port: u16, weight: u32) -> Self {
        Self {
            ip_address,
            port,
            weight,
            backup: false,
            drain: false,
            offline: false,
        }
    }

    /// The name OCI will give it.
    pub fn name(&self) -> BackendName {
        BackendName::for_address(self.ip_address, self.port)
    }
}

/// One change of a batched backend-set update
/// ([`LoadBalancerBackends::start_update_backends`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendChange {
    /// Add a backend (nothing when the set already has one of that name).
    Add(NewBackend),
    /// Drain or undrain a backend (nothing when the set has none of that name).
    SetDrain {
        /// The backend.
        backend: BackendName,
        /// Drained or not.
        drain: bool,
    },
    /// Remove a backend (nothing when the set has none of that name).
    Remove(BackendName),
}

impl fmt::Display for BackendChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendChange::Add(b) => write!(f, "add {}", b.name()),
            BackendChange::SetDrain { backend, drain } => {
                write!(f, "{} {backend}", if *drain { "drain" } else { "undrain" })
            }
            BackendChange::Remove(b) => write!(f, "remove {b}"),
        }
    }
}

/// A change to a backend; `None` keeps the current value (read under the mutation lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BackendUpdate {
    /// New weight.
    pub weight: Option<u32>,
    /// New backup flag.
    pub backup: Option<bool>,
    /// New drain flag.
    pub drain: Option<bool>,
    /// New offline flag.
    pub offline: Option<bool>,
}

impl BackendUpdate {
    /// Only the drain flag.
    pub fn drain(drain: bool) -> Self {
        Self {
            drain: Some(drain),
            ..Self::default()
        }
    }

    /// Only the offline flag.
    pub fn offline(offline: bool) -> Self {
        Self {
            offline: Some(offline),
            ..Self::default()
        }
    }

    /// `current` with this change applied.
    pub fn apply_to(&self, current: &Backend) -> Backend {
        Backend {
            weight: self.weight.unwrap_or(current.weight),
            backup: self.backup.unwrap_or(current.backup),
            drain: self.drain.unwrap_or(current.drain),
            offline: self.offline.unwrap_or(current.offline),
            ..current.clone()
        }
    }
}

open_enum!(
    /// Health of a backend, backend set or load balancer.
    HealthStatus {
        /// Healthy.
        Ok => "OK",
        /// Partly healthy.
        Warning => "WARNING",
        /// Unhealthy.
        Critical => "CRITICAL",
        /// `UNKNOWN`: not known yet (new backend, no listener, metrics unavailable).
        Undetermined => "UNKNOWN",
    }
);

/// One health check result of a backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckResult {
    /// `OK`, `TIMED_OUT`, `CONNECT_FAILED`, `OFFLINE`, … (kept as text: the two kinds differ).
    pub health_check_status: String,
    /// When (RFC 3339).
    #[serde(default)]
    pub timestamp: Option<String>,
    /// The checking LB node's subnet (classic).
    #[serde(default)]
    pub subnet_id: Option<SubnetId>,
    /// The checking LB node's IP (classic).
    #[serde(default)]
    pub source_ip_address: Option<String>,
}

/// GetBackendHealth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendHealth {
    /// Overall status.
    pub status: HealthStatus,
    /// The latest checks.
    #[serde(default)]
    pub health_check_results: Vec<HealthCheckResult>,
}

/// GetBackendSetHealth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendSetHealth {
    /// Overall status.
    pub status: HealthStatus,
    /// Backends in WARNING.
    #[serde(default)]
    pub warning_state_backend_names: Vec<String>,
    /// Backends in CRITICAL.
    #[serde(default)]
    pub critical_state_backend_names: Vec<String>,
    /// Backends in UNKNOWN.
    #[serde(default)]
    pub unknown_state_backend_names: Vec<String>,
    /// How many backends the set has.
    #[serde(default)]
    pub total_backend_count: u32,
}

/// A mutation OCI accepted: its work request is running (or queued).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutationStarted {
    /// `CreateBackend`, `UpdateBackend` or `DeleteBackend`.
    pub operation: &'static str,
    /// The load balancer.
    pub load_balancer: LoadBalancerId,
    /// The work request to check ([`LoadBalancerBackends::check_work_request`]).
    pub work_request: WorkRequestId,
    /// The `opc-request-id` of the mutation call.
    pub request_id: Option<String>,
}

impl MutationStarted {
    fn mutation(&self) -> Box<Mutation> {
        Box::new(Mutation {
            operation: self.operation,
            load_balancer: self.load_balancer.clone(),
            request_id: self.request_id.clone(),
        })
    }

    /// What a terminal check of its work request means for the mutation: `Ok` when it
    /// SUCCEEDED, [`LbError::WorkRequestFailed`] with OCI's message when it FAILED or was
    /// CANCELED; `None` while it runs.
    pub fn outcome(&self, check: &WorkRequestCheck) -> Option<Result<MutationDone, LbError>> {
        match &check.state {
            WorkRequestState::InProgress(_) => None,
            WorkRequestState::Succeeded => Some(Ok(MutationDone {
                work_request: self.work_request.clone(),
                request_id: self.request_id.clone(),
            })),
            WorkRequestState::Failed { status, message } => Some(Err(LbError::WorkRequestFailed {
                mutation: self.mutation(),
                work_request: self.work_request.clone(),
                status: status.clone(),
                message: message.clone(),
            })),
        }
    }

    /// The error of a wait that ended before the work request did.
    pub fn timed_out(&self, last: &WorkRequestCheck, waited: Duration) -> LbError {
        LbError::WorkRequestTimedOut {
            mutation: self.mutation(),
            work_request: self.work_request.clone(),
            status: last.state.status(),
            waited,
        }
    }
}

/// A mutation whose work request SUCCEEDED.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutationDone {
    /// The work request.
    pub work_request: WorkRequestId,
    /// The `opc-request-id` of the mutation call.
    pub request_id: Option<String>,
}

/// The mutation an [`LbError`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    /// `CreateBackend`, `UpdateBackend` or `DeleteBackend`.
    pub operation: &'static str,
    /// The load balancer.
    pub load_balancer: LoadBalancerId,
    /// The `opc-request-id` of the mutation call, once it was answered.
    pub request_id: Option<String>,
}

impl Mutation {
    fn request_id_text(&self) -> &str {
        self.request_id.as_deref().unwrap_or("none")
    }
}

/// The outcome of a waited-for delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    /// The delete's work request SUCCEEDED.
    Done(MutationDone),
    /// The backend was already gone: OCI answered 404, or the delete's work request failed,
    /// and a fresh ListBackends does not show the backend. This is what a DELETE retried
    /// after a lost response (or a resumed operation) sees when its first attempt did the work.
    AlreadyAbsent {
        /// The `opc-request-id` of the answer that said so.
        request_id: Option<String>,
    },
}

/// The outcome of a started delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteStarted {
    /// OCI accepted the delete; check its work request.
    Started(MutationStarted),
    /// OCI answered 404 and a fresh ListBackends does not show the backend (see
    /// [`Deleted::AlreadyAbsent`]); there is no work request to check.
    AlreadyAbsent {
        /// The `opc-request-id` of the 404.
        request_id: Option<String>,
    },
}

/// Whether `err`, met deleting `name`, means the backend is already gone: it is a 404 or a
/// failed work request, the backend set still exists and no longer lists the backend (a
/// DELETE is not deduplicated by a retry token, so a retry after a lost response meets the
/// first attempt's effect). Returns `err` otherwise, including for a 404 of the whole backend
/// set or load balancer.
pub async fn confirm_absent<B: LoadBalancerBackends + ?Sized>(
    backends: &B,
    name: &BackendName,
    err: LbError,
) -> Result<Option<String>, LbError> {
    if !err.is_not_found() && !err.is_work_request_failed() {
        return Err(err);
    }
    match backends.list_backends().await {
        Ok(list) if !list.iter().any(|b| &b.name == name) => {
            tracing::info!(
                load_balancer = %backends.load_balancer_id(),
                backend = %name,
                error = %err,
                "backend already absent; the delete is done"
            );
            Ok(err.request_id().map(str::to_string))
        }
        _ => Err(err),
    }
}

fn in_flight_text(in_flight: &Option<WorkRequestId>) -> String {
    match in_flight {
        Some(w) => format!(" (this process's work request {w} was still running)"),
        None => String::new(),
    }
}

/// Why a load balancer operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LbError {
    /// An OCI call failed (send, or checking the work request).
    #[error(transparent)]
    Oci(#[from] OciError),
    /// The work request ended FAILED or CANCELED.
    #[error(
        "{} on {}: work request {work_request} {status}: {message} (opc-request-id: {})",
        mutation.operation, mutation.load_balancer, mutation.request_id_text()
    )]
    WorkRequestFailed {
        /// The mutation.
        mutation: Box<Mutation>,
        /// The work request.
        work_request: WorkRequestId,
        /// FAILED or CANCELED.
        status: WorkRequestStatus,
        /// OCI's error details.
        message: String,
    },
    /// The work request was not terminal within the wait timeout; it may still finish.
    #[error(
        "{} on {}: work request {work_request} still {status} after {waited:?}; it may still complete (opc-request-id: {})",
        mutation.operation, mutation.load_balancer, mutation.request_id_text()
    )]
    WorkRequestTimedOut {
        /// The mutation.
        mutation: Box<Mutation>,
        /// The work request.
        work_request: WorkRequestId,
        /// The last state seen.
        status: WorkRequestStatus,
        /// How long it was waited for.
        waited: Duration,
    },
    /// The load balancer was still busy when the deadline came: OCI kept answering 409
    /// `Conflict`, or this process's previous mutation of it was still running. Nothing was
    /// changed; try again later.
    #[error(
        "{} on {}: the load balancer was still busy with another change after {waited:?}{}",
        mutation.operation, mutation.load_balancer, in_flight_text(in_flight)
    )]
    Busy {
        /// The mutation.
        mutation: Box<Mutation>,
        /// How long it waited.
        waited: Duration,
        /// This process's previous mutation, when that is what it waited for.
        in_flight: Option<WorkRequestId>,
        /// The last 409, when OCI said so.
        #[source]
        source: Option<Box<OciError>>,
    },
    /// Every conditional write of an update met 412: the backend (or, where OCI's ETag covers
    /// the whole load balancer, the load balancer) changed between each read and write.
    /// Nothing was overwritten.
    #[error(
        "{} on {}: backend {backend} changed between each read and write ({attempts} attempts); fleetctl did not overwrite the change made elsewhere (opc-request-id: {})",
        mutation.operation, mutation.load_balancer, mutation.request_id_text()
    )]
    KeptChanging {
        /// The mutation.
        mutation: Box<Mutation>,
        /// The backend.
        backend: BackendName,
        /// How many read-and-write rounds were made.
        attempts: u32,
        /// The last 412.
        #[source]
        source: Box<OciError>,
    },
    /// OCI accepted the mutation but sent no usable `opc-work-request-id`.
    #[error(
        "{} on {}: OCI accepted the request but sent no opc-work-request-id, so its outcome cannot be checked (opc-request-id: {})",
        mutation.operation, mutation.load_balancer, mutation.request_id_text()
    )]
    NoWorkRequest {
        /// The mutation.
        mutation: Box<Mutation>,
    },
    /// A backend OCI returned cannot be understood (no name, a port out of range).
    #[error("{operation} on {load_balancer}: OCI returned an unusable backend: {reason}")]
    BadBackend {
        /// The operation.
        operation: &'static str,
        /// The load balancer.
        load_balancer: LoadBalancerId,
        /// What is wrong.
        reason: String,
    },
    /// The load balancer id is of the other kind (`ocid1.networkloadbalancer` for a classic
    /// client or the reverse).
    #[error("{load_balancer} is not a {expected} load balancer OCID")]
    WrongKind {
        /// The id given.
        load_balancer: LoadBalancerId,
        /// `classic` or `network`.
        expected: &'static str,
    },
}

impl LbError {
    /// The OCI error, when a call failed.
    pub fn oci(&self) -> Option<&OciError> {
        match self {
            LbError::Oci(e) => Some(e),
            LbError::Busy { source, .. } => source.as_deref(),
            LbError::KeptChanging { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The `opc-request-id` involved, when there is one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            LbError::Oci(e) => e.request_id(),
            LbError::Busy { source, .. } => source.as_deref().and_then(OciError::request_id),
            LbError::KeptChanging { source, .. } => source.request_id(),
            LbError::WorkRequestFailed { mutation, .. }
            | LbError::WorkRequestTimedOut { mutation, .. }
            | LbError::NoWorkRequest { mutation } => mutation.request_id.as_deref(),
            LbError::BadBackend { .. } | LbError::WrongKind { .. } => None,
        }
    }

    /// True for a 404 (backend, backend set or load balancer missing, or not authorised).
    pub fn is_not_found(&self) -> bool {
        matches!(self, LbError::Oci(e) if e.is_not_found())
    }

    /// True when the work request ended FAILED or CANCELED.
    pub fn is_work_request_failed(&self) -> bool {
        matches!(self, LbError::WorkRequestFailed { .. })
    }
}

/// The backend set of one load balancer, classic or network.
#[async_trait]
pub trait LoadBalancerBackends: Send + Sync + fmt::Debug {
    /// Classic or network.
    fn kind(&self) -> LoadBalancerType;

    /// The load balancer.
    fn load_balancer_id(&self) -> &LoadBalancerId;

    /// The backend set.
    fn backend_set(&self) -> &str;

    /// How the waiting forms wait.
    fn wait_policy(&self) -> &WaitPolicy;

    /// The deadline `within` from now, on the clock the client's waits use.
    fn deadline_after(&self, within: Duration) -> Deadline;

    /// Every backend of the set (every page).
    async fn list_backends(&self) -> Result<Vec<Backend>, LbError>;

    /// One backend.
    async fn get_backend(&self, name: &BackendName) -> Result<Backend, LbError>;

    /// One backend's health.
    async fn backend_health(&self, name: &BackendName) -> Result<BackendHealth, LbError>;

    /// The backend set's health.
    async fn backend_set_health(&self) -> Result<BackendSetHealth, LbError>;

    /// Starts adding a backend: returns once OCI accepted it, with its work request.
    async fn start_create_backend(
        &self,
        backend: &NewBackend,
        retry_token: &RetryToken,
        deadline: Deadline,
    ) -> Result<MutationStarted, LbError>;

    /// Starts changing a backend: reads it and writes `update` applied to it back, with
    /// `if-match` (see the module's guarantees); returns once OCI accepted it.
    async fn start_update_backend(
        &self,
        name: &BackendName,
        update: &BackendUpdate,
        retry_token: &RetryToken,
        deadline: Deadline,
    ) -> Result<MutationStarted, LbError>;

    /// Whether [`LoadBalancerBackends::start_update_backends`] is available: several backend
    /// changes in one work request.
    fn batches(&self) -> bool {
        false
    }

    /// Starts several backend changes as one UpdateBackendSet (one work request instead of
    /// one per change; a load balancer runs its work requests one at a time): reads the
    /// backend set with its ETag, applies `changes` in order to its backend list and writes
    /// the whole set back with `if-match` (on 412 read and apply again, at most
    /// [`UPDATE_ATTEMPTS`] times). A change from elsewhere still queued (a work request not
    /// finished) when the set is read would be overwritten by the full list: the update is
    /// not sent then ([`LbError::Busy`], nothing changed). Returns once OCI accepted it.
    async fn start_update_backends(
        &self,
        changes: &[BackendChange],
        retry_token: &RetryToken,
        deadline: Deadline,
    ) -> Result<MutationStarted, LbError> {
        let _ = (changes, retry_token, deadline);
        Err(LbError::Oci(OciError::InvalidRequest {
            operation: "UpdateBackendSet",
            reason: "this load balancer client does not batch backend changes".into(),
        }))
    }

    /// Starts removing a backend; returns once OCI accepted it, or when the backend turns out
    /// to be gone already.
    async fn start_delete_backend(
        &self,
        name: &BackendName,
        deadline: Deadline,
    ) -> Result<DeleteStarted, LbError>;

    /// One look at a work request of this load balancer (a started mutation's).
    async fn check_work_request(&self, id: &WorkRequestId) -> Result<WorkRequestCheck, LbError>;

    /// The load balancer's work requests that are not finished (ACCEPTED, IN_PROGRESS, …),
    /// whoever started them; `None` when this kind of load balancer cannot list them by load
    /// balancer (the NLB lists work requests by compartment only). Used after a restart to
    /// tell whether a backend removal sent just before it is still being applied.
    async fn in_flight_work_requests(&self) -> Result<Option<Vec<WorkRequestId>>, LbError>;

    /// Polls a started mutation's work request until it is terminal (see
    /// [`MutationStarted::outcome`]) or `deadline` passes
    /// ([`LbError::WorkRequestTimedOut`]).
    async fn wait_for(
        &self,
        started: &MutationStarted,
        deadline: Deadline,
    ) -> Result<MutationDone, LbError>;

    /// Adds a backend; returns when its work request SUCCEEDED.
    async fn create_backend(
        &self,
        backend: &NewBackend,
        retry_token: &RetryToken,
    ) -> Result<MutationDone, LbError> {
        let timeout = self.wait_policy().timeout;
        let started = self
            .start_create_backend(backend, retry_token, self.deadline_after(timeout))
            .await?;
        self.wait_for(&started, self.deadline_after(timeout)).await
    }

    /// Changes a backend (see [`LoadBalancerBackends::start_update_backend`]); returns when
    /// its work request SUCCEEDED.
    async fn update_backend(
        &self,
        name: &BackendName,
        update: &BackendUpdate,
        retry_token: &RetryToken,
    ) -> Result<MutationDone, LbError> {
        let timeout = self.wait_policy().timeout;
        let started = self
            .start_update_backend(name, update, retry_token, self.deadline_after(timeout))
            .await?;
        self.wait_for(&started, self.deadline_after(timeout)).await
    }

    /// Removes a backend; returns when its work request SUCCEEDED, or when the backend turns
    /// out to be gone already (see [`Deleted::AlreadyAbsent`]).
    async fn delete_backend(&self, name: &BackendName) -> Result<Deleted, LbError> {
        let timeout = self.wait_policy().timeout;
        let result = match self
            .start_delete_backend(name, self.deadline_after(timeout))
            .await?
        {
            DeleteStarted::AlreadyAbsent { request_id } => {
                return Ok(Deleted::AlreadyAbsent { request_id });
            }
            DeleteStarted::Started(started) => {
                self.wait_for(&started, self.deadline_after(timeout)).await
            }
        };
        match result {
            Ok(done) => Ok(Deleted::Done(done)),
            Err(e) => Ok(Deleted::AlreadyAbsent {
                request_id: confirm_absent(self, name, e).await?,
            }),
        }
    }

    /// Drains (or undrains) a backend: [`LoadBalancerBackends::update_backend`] with only
    /// `drain` changed.
    async fn set_drain(
        &self,
        name: &BackendName,
        drain: bool,
        retry_token: &RetryToken,
    ) -> Result<MutationDone, LbError> {
        self.update_backend(name, &BackendUpdate::drain(drain), retry_token)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_are_ip_colon_port_and_encode_the_colon() {
        let name = BackendName::for_address("10.0.0.3".parse().unwrap(), 8080);
        assert_eq!(name.as_str(), "10.0.0.3:8080");
        assert_eq!(name.path_segment(), "10.0.0.3%3A8080");
    }

    #[test]
    fn an_update_changes_only_what_it_names() {
        let current = Backend {
            name: BackendName::new("10.0.0.3:80").unwrap(),
            ip_address: Some("10.0.0.3".into()),
            port: 80,
            weight: 5,
            backup: true,
            drain: false,
            offline: false,
        };
        let drained = BackendUpdate::drain(true).apply_to(&current);
        assert_eq!(
            drained,
            Backend {
                drain: true,
                ..current.clone()
            }
        );
        let reweighted = BackendUpdate {
            weight: Some(1),
            offline: Some(true),
            ..BackendUpdate::default()
        }
        .apply_to(&current);
        assert_eq!(
            (reweighted.weight, reweighted.offline, reweighted.backup),
            (1, true, true)
        );
    }

    #[test]
    fn a_health_check_names_the_checking_subnet_by_its_typed_id() {
        let h: BackendHealth = serde_json::from_value(serde_json::json!({
            "status": "OK",
            "healthCheckResults": [{
                "healthCheckStatus": "OK",
                "subnetId": "ocid1.subnet.oc1.iad.aaaa",
                "sourceIpAddress": "10.0.0.9"
            }]
        }))
        .unwrap();
        let subnet = h.health_check_results[0].subnet_id.as_ref().unwrap();
        assert_eq!(subnet.as_str(), "ocid1.subnet.oc1.iad.aaaa");
        assert!(
            serde_json::from_value::<HealthCheckResult>(serde_json::json!({
                "healthCheckStatus": "OK",
                "subnetId": "ocid1.instance.oc1.iad.aaaa"
            }))
            .is_err()
        );
    }

    #[test]
    fn a_backend_target_is_a_typed_ocid() {
        let target: BackendTarget =
            serde_json::from_value(serde_json::json!("ocid1.instance.oc1.iad.aaaa")).unwrap();
        assert_eq!(
            target.instance().map(InstanceId::as_str),
            Some("ocid1.instance.oc1.iad.aaaa")
        );
        assert_eq!(
            serde_json::to_value(&target).unwrap(),
            "ocid1.instance.oc1.iad.aaaa"
        );
        let ip = BackendTarget::parse("ocid1.privateip.oc1.iad.bbbb").unwrap();
        assert!(matches!(ip, BackendTarget::PrivateIp(_)));
        assert_eq!(ip.instance(), None);
        let err =
            serde_json::from_value::<BackendTarget>(serde_json::json!("10.0.0.3")).unwrap_err();
        assert!(err.to_string().contains("malformed OCID"), "{err}");
    }

    #[test]
    fn health_keeps_unknown_values() {
        let h: BackendSetHealth = serde_json::from_value(serde_json::json!({
            "status": "DEGRADED",
            "criticalStateBackendNames": ["10.0.0.3:80"],
            "totalBackendCount": 2
        }))
        .unwrap();
        assert_eq!(h.status, HealthStatus::Unknown("DEGRADED".into()));
        assert_eq!(h.critical_state_backend_names, vec!["10.0.0.3:80"]);
        let known: HealthStatus = "UNKNOWN".to_string().into();
        assert_eq!(known, HealthStatus::Undetermined);
    }
}
