//! One view of a load balancer's backend set, whichever kind drives it.
//!
//! [`LoadBalancerBackends`] is what rolling restarts and LB sync call: list, add, drain,
//! update, remove backends and read their health. It is implemented by the classic
//! ([`super::lb::ClassicLoadBalancer`]) and the network ([`super::nlb::NetworkLoadBalancer`])
//! load balancer; `cloud::load_balancer_backends` picks one from the fleet file's
//! `loadBalancer.type`.
//!
//! # Guarantees
//! - Every mutation returns only after its work request is terminal: `Ok` means SUCCEEDED
//!   (the change is live), [`LbError::WorkRequestFailed`] carries OCI's error details.
//! - Mutations of one load balancer are serialised in this process (see
//!   [`super::workrequest::MutationLocks`]); the read-modify-write of an update happens
//!   under the same lock.
//! - Creates and updates carry an `opc-retry-token`, so a retried or resumed call does not
//!   queue the change twice.
//! - A 409 `Conflict` answer (the load balancer is busy with a mutation from elsewhere) is
//!   retried with backoff until the wait timeout; other 409s (a duplicate backend) are not.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::client::{OciClient, OciRequest, encode_path_segment};
use super::error::OciError;
use super::wire::{RetryToken, open_enum};
use super::workrequest::{
    WaitError, WaitPolicy, WorkRequestId, WorkRequestSnapshot, WorkRequestStatus,
    wait_until_terminal,
};
use crate::ids::{LoadBalancerId, SubnetId};
use crate::values::LoadBalancerType;

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

/// The outcome of a delete.
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

/// Turns the result of a delete into [`Deleted`]: a 404 or a failed work request is a success
/// when the backend set still exists and no longer lists the backend (a DELETE is not
/// deduplicated by a retry token, so a retry after a lost response meets the first attempt's
/// effect). Anything else, including a 404 for the whole backend set or load balancer, stays
/// an error.
pub(crate) async fn settle_delete<B: LoadBalancerBackends + ?Sized>(
    backends: &B,
    name: &BackendName,
    result: Result<MutationDone, LbError>,
) -> Result<Deleted, LbError> {
    let err = match result {
        Ok(done) => return Ok(Deleted::Done(done)),
        Err(e) if e.is_not_found() || e.is_work_request_failed() => e,
        Err(e) => return Err(e),
    };
    match backends.list_backends().await {
        Ok(list) if !list.iter().any(|b| &b.name == name) => {
            tracing::info!(
                load_balancer = %backends.load_balancer_id(),
                backend = %name,
                error = %err,
                "backend already absent; the delete is done"
            );
            Ok(Deleted::AlreadyAbsent {
                request_id: err.request_id().map(str::to_string),
            })
        }
        _ => Err(err),
    }
}

/// Why a load balancer operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LbError {
    /// An OCI call failed (send, or polling the work request).
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
    /// The load balancer stayed busy (409 `Conflict`) for the whole wait timeout.
    #[error(
        "{} on {}: the load balancer stayed busy with another change for {waited:?}",
        mutation.operation, mutation.load_balancer
    )]
    Busy {
        /// The mutation.
        mutation: Box<Mutation>,
        /// How long it was retried.
        waited: Duration,
        /// The last 409.
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
            LbError::Busy { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The `opc-request-id` involved, when there is one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            LbError::Oci(e) => e.request_id(),
            LbError::Busy { source, .. } => source.request_id(),
            LbError::WorkRequestFailed { mutation, .. }
            | LbError::WorkRequestTimedOut { mutation, .. }
            | LbError::NoWorkRequest { mutation } => mutation.request_id.as_deref(),
            LbError::BadBackend { .. } | LbError::WrongKind { .. } => None,
        }
    }

    /// True for a 404 (backend, backend set or load balancer missing, or not authorised).
    pub fn is_not_found(&self) -> bool {
        self.oci().is_some_and(OciError::is_not_found)
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

    /// Every backend of the set (every page).
    async fn list_backends(&self) -> Result<Vec<Backend>, LbError>;

    /// One backend.
    async fn get_backend(&self, name: &BackendName) -> Result<Backend, LbError>;

    /// Adds a backend; returns when its work request SUCCEEDED.
    async fn create_backend(
        &self,
        backend: &NewBackend,
        retry_token: &RetryToken,
    ) -> Result<MutationDone, LbError>;

    /// Changes a backend (reads it first, under the mutation lock, and sends every field);
    /// returns when its work request SUCCEEDED.
    async fn update_backend(
        &self,
        name: &BackendName,
        update: &BackendUpdate,
        retry_token: &RetryToken,
    ) -> Result<MutationDone, LbError>;

    /// Removes a backend; returns when its work request SUCCEEDED, or when the backend turns
    /// out to be gone already (see [`Deleted::AlreadyAbsent`]).
    async fn delete_backend(&self, name: &BackendName) -> Result<Deleted, LbError>;

    /// One backend's health.
    async fn backend_health(&self, name: &BackendName) -> Result<BackendHealth, LbError>;

    /// The backend set's health.
    async fn backend_set_health(&self) -> Result<BackendSetHealth, LbError>;

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

/// The header naming a mutation's work request.
const OPC_WORK_REQUEST_ID: &str = "opc-work-request-id";

/// Sends a mutation of `lb` and waits for its work request (the caller holds the mutation
/// lock). A 409 `Conflict` (the load balancer is busy with a change from elsewhere) is sent
/// again after a doubling wait until `policy.timeout`; the retry token, if any, stays the same.
pub(crate) async fn send_and_await<P, Fut>(
    client: &OciClient,
    lb: &LoadBalancerId,
    policy: &WaitPolicy,
    req: &OciRequest,
    poll: P,
) -> Result<MutationDone, LbError>
where
    P: Fn(WorkRequestId) -> Fut,
    Fut: Future<Output = Result<WorkRequestSnapshot, OciError>>,
{
    let operation = req.operation;
    let clock = client.clock().clone();
    let start = clock.now();
    let mut delay = policy.first_poll;
    let response = loop {
        match client.send(req).await {
            Ok(r) => break r,
            Err(e) if e.status() == Some(409) && e.code() == Some("Conflict") => {
                let waited = Duration::try_from(clock.now() - start).unwrap_or(Duration::ZERO);
                if waited >= policy.timeout {
                    return Err(LbError::Busy {
                        mutation: Box::new(Mutation {
                            operation,
                            load_balancer: lb.clone(),
                            request_id: None,
                        }),
                        waited,
                        source: Box::new(e),
                    });
                }
                tracing::warn!(
                    operation,
                    load_balancer = %lb,
                    opc_request_id = e.request_id().unwrap_or("none"),
                    "load balancer busy with another change (409 Conflict); waiting to send again"
                );
                client
                    .sleeper()
                    .sleep(delay.min(policy.timeout - waited))
                    .await;
                delay = delay
                    .saturating_mul(2)
                    .min(policy.max_poll.max(policy.first_poll));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let request_id = response.request_id.clone();
    let Some(work_request) = response
        .header(OPC_WORK_REQUEST_ID)
        .and_then(WorkRequestId::new)
    else {
        return Err(LbError::NoWorkRequest {
            mutation: Box::new(Mutation {
                operation,
                load_balancer: lb.clone(),
                request_id,
            }),
        });
    };
    tracing::debug!(operation, load_balancer = %lb, %work_request, "waiting for work request");
    match wait_until_terminal(client, policy, || poll(work_request.clone())).await {
        Ok(done) if done.status == WorkRequestStatus::Succeeded => {
            tracing::info!(operation, load_balancer = %lb, %work_request, "work request succeeded");
            Ok(MutationDone {
                work_request,
                request_id,
            })
        }
        Ok(done) => {
            let message = done.failure_message();
            tracing::warn!(
                operation,
                load_balancer = %lb,
                %work_request,
                status = %done.status,
                %message,
                opc_request_id = request_id.as_deref().unwrap_or("none"),
                "work request did not succeed"
            );
            Err(LbError::WorkRequestFailed {
                mutation: Box::new(Mutation {
                    operation,
                    load_balancer: lb.clone(),
                    request_id,
                }),
                work_request,
                status: done.status,
                message,
            })
        }
        Err(WaitError::TimedOut { last, waited }) => {
            tracing::warn!(
                operation,
                load_balancer = %lb,
                %work_request,
                status = %last.status,
                opc_request_id = request_id.as_deref().unwrap_or("none"),
                "gave up waiting for work request"
            );
            Err(LbError::WorkRequestTimedOut {
                mutation: Box::new(Mutation {
                    operation,
                    load_balancer: lb.clone(),
                    request_id,
                }),
                work_request,
                status: last.status,
                waited,
            })
        }
        Err(WaitError::Oci(e)) => Err(e.into()),
    }
}

/// A port OCI returned, checked to fit a TCP port.
pub(crate) fn checked_port(
    operation: &'static str,
    lb: &LoadBalancerId,
    name: &str,
    port: u32,
) -> Result<u16, LbError> {
    u16::try_from(port).map_err(|_| LbError::BadBackend {
        operation,
        load_balancer: lb.clone(),
        reason: format!("backend {name:?} has port {port}, outside 0-65535"),
    })
}

/// A backend name OCI returned, or derived from its address when missing.
pub(crate) fn checked_name(
    operation: &'static str,
    lb: &LoadBalancerId,
    name: Option<String>,
    ip: Option<&str>,
    port: u32,
) -> Result<BackendName, LbError> {
    match name.filter(|n| !n.is_empty()) {
        Some(n) => Ok(BackendName(n)),
        None => match ip {
            Some(ip) if !ip.is_empty() => Ok(BackendName(format!("{ip}:{port}"))),
            _ => Err(LbError::BadBackend {
                operation,
                load_balancer: lb.clone(),
                reason: "a backend has neither a name nor an IP address".into(),
            }),
        },
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
