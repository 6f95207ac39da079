//! Classic load balancer (LBaaS, `/20170115`, `iaas` host): the backends of one backend set.
//!
//! Mutations (CreateBackend, UpdateBackend, DeleteBackend) answer 204 with an
//! `opc-work-request-id`; [`ClassicLoadBalancer`] waits for that work request
//! (`GET /loadBalancerWorkRequests/{id}`, `lifecycleState`, `errorDetails`) and serialises
//! mutations per load balancer (see [`super::backends`] for the guarantees). UpdateBackend
//! needs all of `weight`, `backup`, `drain` and `offline`, so an update reads the backend
//! first, under the mutation lock.

use async_trait::async_trait;
use http::Method;
use serde::{Deserialize, Serialize};

use super::backends::{
    Backend, BackendHealth, BackendName, BackendSetHealth, BackendUpdate, Deleted, LbError,
    LoadBalancerBackends, MutationDone, NewBackend, checked_name, checked_port, send_and_await,
    settle_delete,
};
use super::client::{OciClient, OciRequest, encode_path_segment};
use super::endpoints::Service;
use super::error::OciError;
use super::wire::RetryToken;
use super::workrequest::{
    MutationLocks, WaitPolicy, WorkRequestId, WorkRequestSnapshot, WorkRequestStatus, error_line,
};
use crate::ids::LoadBalancerId;
use crate::values::LoadBalancerType;

/// A backend as the classic LB returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassicBackend {
    /// `ip:port`.
    #[serde(default)]
    pub name: Option<String>,
    /// The IP address.
    #[serde(default)]
    pub ip_address: Option<String>,
    /// The port.
    pub port: u32,
    /// The weight.
    #[serde(default)]
    pub weight: Option<u32>,
    /// Backup backend.
    #[serde(default)]
    pub backup: bool,
    /// Draining.
    #[serde(default)]
    pub drain: bool,
    /// Offline.
    #[serde(default)]
    pub offline: bool,
    /// Connection limit (absent: unlimited).
    #[serde(default)]
    pub max_connections: Option<u32>,
}

/// `CreateBackendDetails` of the classic LB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    ip_address: String,
    port: u16,
    weight: u32,
    backup: bool,
    drain: bool,
    offline: bool,
}

/// `UpdateBackendDetails` of the classic LB: every field is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct UpdateBody {
    weight: u32,
    backup: bool,
    drain: bool,
    offline: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_connections: Option<u32>,
}

/// One error of a classic LB work request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LbWorkRequestError {
    /// `BAD_INPUT` or `INTERNAL_ERROR`.
    #[serde(default)]
    pub error_code: Option<String>,
    /// What went wrong.
    #[serde(default)]
    pub message: Option<String>,
}

/// A classic LB work request (`GET /20170115/loadBalancerWorkRequests/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LbWorkRequest {
    /// The id.
    pub id: WorkRequestId,
    /// The load balancer.
    #[serde(default)]
    pub load_balancer_id: Option<LoadBalancerId>,
    /// The kind of change (`CreateBackend`, …).
    #[serde(default, rename = "type")]
    pub work_request_type: Option<String>,
    /// The state.
    pub lifecycle_state: WorkRequestStatus,
    /// A free-text status message.
    #[serde(default)]
    pub message: Option<String>,
    /// Errors, when FAILED.
    #[serde(default)]
    pub error_details: Vec<LbWorkRequestError>,
    /// When it was accepted (RFC 3339).
    #[serde(default)]
    pub time_accepted: Option<String>,
    /// When it finished (RFC 3339).
    #[serde(default)]
    pub time_finished: Option<String>,
}

impl LbWorkRequest {
    /// The view the waiting loop uses.
    pub fn snapshot(&self) -> WorkRequestSnapshot {
        WorkRequestSnapshot {
            id: self.id.clone(),
            status: self.lifecycle_state.clone(),
            errors: self
                .error_details
                .iter()
                .filter_map(|e| error_line(e.error_code.as_deref(), e.message.as_deref()))
                .collect(),
            message: self.message.clone(),
        }
    }
}

/// The backends of one backend set of a classic load balancer.
#[derive(Debug, Clone)]
pub struct ClassicLoadBalancer {
    client: OciClient,
    lb: LoadBalancerId,
    backend_set: String,
    wait: WaitPolicy,
    locks: MutationLocks,
}

const LB_PREFIX: &str = "/20170115";

impl ClassicLoadBalancer {
    /// The backend set `backend_set` of `lb`, with the default [`WaitPolicy`] and the
    /// process-wide [`MutationLocks`]. Fails when `lb` is a network load balancer OCID.
    pub fn new(
        client: OciClient,
        lb: LoadBalancerId,
        backend_set: impl Into<String>,
    ) -> Result<Self, LbError> {
        if lb.is_network() {
            return Err(LbError::WrongKind {
                load_balancer: lb,
                expected: "classic",
            });
        }
        Ok(Self {
            client,
            lb,
            backend_set: backend_set.into(),
            wait: WaitPolicy::default(),
            locks: MutationLocks::global(),
        })
    }

    /// Replaces the wait policy.
    pub fn with_wait_policy(mut self, wait: WaitPolicy) -> Self {
        self.wait = wait;
        self
    }

    /// Replaces the mutation locks (tests; normally the process-wide ones).
    pub fn with_locks(mut self, locks: MutationLocks) -> Self {
        self.locks = locks;
        self
    }

    fn set_path(&self) -> String {
        format!(
            "{LB_PREFIX}/loadBalancers/{}/backendSets/{}",
            encode_path_segment(self.lb.as_str()),
            encode_path_segment(&self.backend_set)
        )
    }

    fn backend_path(&self, name: &BackendName) -> String {
        format!("{}/backends/{}", self.set_path(), name.path_segment())
    }

    fn to_backend(&self, operation: &'static str, b: ClassicBackend) -> Result<Backend, LbError> {
        let name = checked_name(operation, &self.lb, b.name, b.ip_address.as_deref(), b.port)?;
        let port = checked_port(operation, &self.lb, name.as_str(), b.port)?;
        Ok(Backend {
            name,
            ip_address: b.ip_address,
            port,
            weight: b.weight.unwrap_or(1),
            backup: b.backup,
            drain: b.drain,
            offline: b.offline,
        })
    }

    /// `GET /20170115/loadBalancerWorkRequests/{id}`.
    pub async fn get_work_request(&self, id: &WorkRequestId) -> Result<LbWorkRequest, OciError> {
        get_work_request(&self.client, id).await
    }

    async fn get_raw_backend(&self, name: &BackendName) -> Result<ClassicBackend, OciError> {
        let req = OciRequest::new(
            "GetBackend",
            Service::LoadBalancer,
            Method::GET,
            self.backend_path(name),
        );
        self.client.send_json(&req).await
    }

    async fn mutate(&self, req: OciRequest) -> Result<MutationDone, LbError> {
        let client = self.client.clone();
        send_and_await(&self.client, &self.lb, &self.wait, &req, move |id| {
            let client = client.clone();
            async move { get_work_request(&client, &id).await.map(|w| w.snapshot()) }
        })
        .await
    }
}

/// `GET /20170115/loadBalancerWorkRequests/{id}`.
pub async fn get_work_request(
    client: &OciClient,
    id: &WorkRequestId,
) -> Result<LbWorkRequest, OciError> {
    let req = OciRequest::new(
        "GetWorkRequest",
        Service::LoadBalancer,
        Method::GET,
        format!(
            "{LB_PREFIX}/loadBalancerWorkRequests/{}",
            encode_path_segment(id.as_str())
        ),
    );
    client.send_json(&req).await
}

#[async_trait]
impl LoadBalancerBackends for ClassicLoadBalancer {
    fn kind(&self) -> LoadBalancerType {
        LoadBalancerType::Classic
    }

    fn load_balancer_id(&self) -> &LoadBalancerId {
        &self.lb
    }

    fn backend_set(&self) -> &str {
        &self.backend_set
    }

    async fn list_backends(&self) -> Result<Vec<Backend>, LbError> {
        let req = OciRequest::new(
            "ListBackends",
            Service::LoadBalancer,
            Method::GET,
            format!("{}/backends", self.set_path()),
        );
        // Not paginated by OCI; list_all also accepts a bare array and follows a page token
        // should one appear.
        let raw: Vec<ClassicBackend> = self.client.list_all(&req).await?;
        raw.into_iter()
            .map(|b| self.to_backend("ListBackends", b))
            .collect()
    }

    async fn get_backend(&self, name: &BackendName) -> Result<Backend, LbError> {
        let raw = self.get_raw_backend(name).await?;
        self.to_backend("GetBackend", raw)
    }

    async fn create_backend(
        &self,
        backend: &NewBackend,
        retry_token: &RetryToken,
    ) -> Result<MutationDone, LbError> {
        let req = OciRequest::new(
            "CreateBackend",
            Service::LoadBalancer,
            Method::POST,
            format!("{}/backends", self.set_path()),
        )
        .json_body(&CreateBody {
            ip_address: backend.ip_address.to_string(),
            port: backend.port,
            weight: backend.weight,
            backup: backend.backup,
            drain: backend.drain,
            offline: backend.offline,
        })?
        .retry_token(retry_token);
        let _turn = self.locks.lock(&self.lb).await;
        self.mutate(req).await
    }

    async fn update_backend(
        &self,
        name: &BackendName,
        update: &BackendUpdate,
        retry_token: &RetryToken,
    ) -> Result<MutationDone, LbError> {
        let _turn = self.locks.lock(&self.lb).await;
        let raw = self.get_raw_backend(name).await?;
        let max_connections = raw.max_connections;
        let current = self.to_backend("GetBackend", raw)?;
        let next = update.apply_to(&current);
        let req = OciRequest::new(
            "UpdateBackend",
            Service::LoadBalancer,
            Method::PUT,
            self.backend_path(name),
        )
        .json_body(&UpdateBody {
            weight: next.weight,
            backup: next.backup,
            drain: next.drain,
            offline: next.offline,
            max_connections,
        })?
        .retry_token(retry_token);
        self.mutate(req).await
    }

    async fn delete_backend(&self, name: &BackendName) -> Result<Deleted, LbError> {
        let req = OciRequest::new(
            "DeleteBackend",
            Service::LoadBalancer,
            Method::DELETE,
            self.backend_path(name),
        );
        let result = {
            let _turn = self.locks.lock(&self.lb).await;
            self.mutate(req).await
        };
        settle_delete(self, name, result).await
    }

    async fn backend_health(&self, name: &BackendName) -> Result<BackendHealth, LbError> {
        let req = OciRequest::new(
            "GetBackendHealth",
            Service::LoadBalancer,
            Method::GET,
            format!("{}/health", self.backend_path(name)),
        );
        Ok(self.client.send_json(&req).await?)
    }

    async fn backend_set_health(&self) -> Result<BackendSetHealth, LbError> {
        let req = OciRequest::new(
            "GetBackendSetHealth",
            Service::LoadBalancer,
            Method::GET,
            format!("{}/health", self.set_path()),
        );
        Ok(self.client.send_json(&req).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_work_request_reports_code_and_message() {
        let wr: LbWorkRequest = serde_json::from_value(serde_json::json!({
            "id": "ocid1.loadbalancerworkrequest.oc1.iad.aaaa",
            "loadBalancerId": "ocid1.loadbalancer.oc1.iad.aaaa",
            "type": "CreateBackend",
            "lifecycleState": "FAILED",
            "message": "Work request failed",
            "errorDetails": [{"errorCode": "BAD_INPUT", "message": "Backend 10.0.0.3:80 already exists"}],
            "timeAccepted": "2025-01-14T08:00:00Z"
        }))
        .unwrap();
        let s = wr.snapshot();
        assert_eq!(s.status, WorkRequestStatus::Failed);
        assert_eq!(
            s.failure_message(),
            "BAD_INPUT: Backend 10.0.0.3:80 already exists"
        );
    }

    #[test]
    fn update_body_has_every_required_field() {
        let body = serde_json::to_value(UpdateBody {
            weight: 3,
            backup: false,
            drain: true,
            offline: false,
            max_connections: None,
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"weight": 3, "backup": false, "drain": true, "offline": false})
        );
    }
}
