//! Network load balancer (`/20200501`, `network-load-balancer-api` host): the backends of one
//! backend set.
//!
//! Differences from the classic LB that this module absorbs: flags are `isBackup`, `isDrain`,
//! `isOffline`; lists are `{"items": [...]}` and paged; mutations answer 202; work requests
//! (`GET /workRequests/{id}`) report `status`, and their errors come from
//! `GET /workRequests/{id}/errors`; a mutation while another is in flight is refused with 409
//! `Conflict` (retried, see [`super::backends`]).

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
use crate::ids::{InstanceId, InvalidId, LoadBalancerId, Ocid};
use crate::values::LoadBalancerType;

/// What an NLB backend created by target (`targetId`) points at: an instance, or a private
/// IP, which OCI names by its OCID (`ocid1.privateip.…`). Any other resource type is kept as
/// [`BackendTarget::Other`] rather than refused, as OCI may add target kinds.
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

impl std::fmt::Display for BackendTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for BackendTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendTarget::Instance(id) => write!(f, "BackendTarget::Instance({:?})", id.as_str()),
            BackendTarget::PrivateIp(o) => write!(f, "BackendTarget::PrivateIp({:?})", o.as_str()),
            BackendTarget::Other(o) => write!(f, "BackendTarget::Other({:?})", o.as_str()),
        }
    }
}

/// A backend as the NLB returns it (`BackendSummary` / `Backend`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NlbBackend {
    /// The name (`ip:port`, `targetId:port`, or the name given at creation).
    #[serde(default)]
    pub name: Option<String>,
    /// The IP address, when created by address.
    #[serde(default)]
    pub ip_address: Option<String>,
    /// The target, when created by target instead of by IP address.
    #[serde(default)]
    pub target_id: Option<BackendTarget>,
    /// The port (0 = any).
    pub port: u32,
    /// The weight.
    #[serde(default)]
    pub weight: Option<u32>,
    /// Backup backend.
    #[serde(default)]
    pub is_backup: bool,
    /// Draining.
    #[serde(default)]
    pub is_drain: bool,
    /// Offline.
    #[serde(default)]
    pub is_offline: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    ip_address: String,
    port: u16,
    weight: u32,
    is_backup: bool,
    is_drain: bool,
    is_offline: bool,
}

/// The NLB's fields are optional, but every one is sent so the result does not depend on
/// how the service treats absent ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
struct UpdateBody {
    weight: u32,
    is_backup: bool,
    is_drain: bool,
    is_offline: bool,
}

/// An NLB work request (`GET /20200501/workRequests/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NlbWorkRequest {
    /// The id.
    pub id: WorkRequestId,
    /// `CREATE_BACKEND`, `UPDATE_BACKEND`, `DELETE_BACKEND`, …
    #[serde(default)]
    pub operation_type: Option<String>,
    /// The state.
    pub status: WorkRequestStatus,
    /// Progress, 0-100.
    #[serde(default)]
    pub percent_complete: Option<f64>,
    /// When it was accepted (RFC 3339).
    #[serde(default)]
    pub time_accepted: Option<String>,
    /// When it finished (RFC 3339).
    #[serde(default)]
    pub time_finished: Option<String>,
}

/// One error of an NLB work request (`GET /workRequests/{id}/errors`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NlbWorkRequestError {
    /// A machine-usable code.
    #[serde(default)]
    pub code: Option<String>,
    /// What went wrong.
    #[serde(default)]
    pub message: Option<String>,
    /// When (RFC 3339).
    #[serde(default)]
    pub timestamp: Option<String>,
}

/// The backends of one backend set of a network load balancer.
#[derive(Debug, Clone)]
pub struct NetworkLoadBalancer {
    client: OciClient,
    lb: LoadBalancerId,
    backend_set: String,
    wait: WaitPolicy,
    locks: MutationLocks,
    page_size: Option<u32>,
}

const NLB_PREFIX: &str = "/20200501";

impl NetworkLoadBalancer {
    /// The backend set `backend_set` of `nlb`, with the default [`WaitPolicy`] and the
    /// process-wide [`MutationLocks`]. Fails when `nlb` is a classic load balancer OCID.
    pub fn new(
        client: OciClient,
        nlb: LoadBalancerId,
        backend_set: impl Into<String>,
    ) -> Result<Self, LbError> {
        if !nlb.is_network() {
            return Err(LbError::WrongKind {
                load_balancer: nlb,
                expected: "network",
            });
        }
        Ok(Self {
            client,
            lb: nlb,
            backend_set: backend_set.into(),
            wait: WaitPolicy::default(),
            locks: MutationLocks::global(),
            page_size: None,
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

    /// Sets the page size (`limit`) of ListBackends; the service default otherwise.
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = Some(page_size);
        self
    }

    fn set_path(&self) -> String {
        format!(
            "{NLB_PREFIX}/networkLoadBalancers/{}/backendSets/{}",
            encode_path_segment(self.lb.as_str()),
            encode_path_segment(&self.backend_set)
        )
    }

    fn backend_path(&self, name: &BackendName) -> String {
        format!("{}/backends/{}", self.set_path(), name.path_segment())
    }

    fn to_backend(&self, operation: &'static str, b: NlbBackend) -> Result<Backend, LbError> {
        let address = b
            .ip_address
            .as_deref()
            .or(b.target_id.as_ref().map(BackendTarget::as_str));
        let name = checked_name(operation, &self.lb, b.name, address, b.port)?;
        let port = checked_port(operation, &self.lb, name.as_str(), b.port)?;
        Ok(Backend {
            name,
            ip_address: b.ip_address,
            port,
            weight: b.weight.unwrap_or(1),
            backup: b.is_backup,
            drain: b.is_drain,
            offline: b.is_offline,
        })
    }

    /// `GET /20200501/workRequests/{id}`.
    pub async fn get_work_request(&self, id: &WorkRequestId) -> Result<NlbWorkRequest, OciError> {
        get_work_request(&self.client, id).await
    }

    async fn mutate(&self, req: OciRequest) -> Result<MutationDone, LbError> {
        let client = self.client.clone();
        send_and_await(&self.client, &self.lb, &self.wait, &req, move |id| {
            let client = client.clone();
            async move { snapshot(&client, &id).await }
        })
        .await
    }
}

/// `GET /20200501/workRequests/{id}`.
pub async fn get_work_request(
    client: &OciClient,
    id: &WorkRequestId,
) -> Result<NlbWorkRequest, OciError> {
    let req = OciRequest::new(
        "GetWorkRequest",
        Service::NetworkLoadBalancer,
        Method::GET,
        format!(
            "{NLB_PREFIX}/workRequests/{}",
            encode_path_segment(id.as_str())
        ),
    );
    client.send_json(&req).await
}

/// `GET /20200501/workRequests/{id}/errors`, every page.
pub async fn list_work_request_errors(
    client: &OciClient,
    id: &WorkRequestId,
) -> Result<Vec<NlbWorkRequestError>, OciError> {
    let req = OciRequest::new(
        "ListWorkRequestErrors",
        Service::NetworkLoadBalancer,
        Method::GET,
        format!(
            "{NLB_PREFIX}/workRequests/{}/errors",
            encode_path_segment(id.as_str())
        ),
    );
    client.list_all(&req).await
}

/// The work request as the waiting loop sees it; on FAILED/CANCELED its errors are fetched
/// (if that call fails, the failure is reported without details rather than hidden).
async fn snapshot(client: &OciClient, id: &WorkRequestId) -> Result<WorkRequestSnapshot, OciError> {
    let wr = get_work_request(client, id).await?;
    let mut snap = WorkRequestSnapshot {
        id: wr.id.clone(),
        status: wr.status.clone(),
        errors: Vec::new(),
        message: None,
    };
    if matches!(
        wr.status,
        WorkRequestStatus::Failed | WorkRequestStatus::Canceled
    ) {
        match list_work_request_errors(client, id).await {
            Ok(errors) => {
                snap.errors = errors
                    .iter()
                    .filter_map(|e| error_line(e.code.as_deref(), e.message.as_deref()))
                    .collect();
            }
            Err(e) => {
                tracing::warn!(work_request = %id, error = %e, "could not read the errors of a failed NLB work request");
                snap.message = Some(format!("(its errors could not be read: {e})"));
            }
        }
    }
    Ok(snap)
}

#[async_trait]
impl LoadBalancerBackends for NetworkLoadBalancer {
    fn kind(&self) -> LoadBalancerType {
        LoadBalancerType::Network
    }

    fn load_balancer_id(&self) -> &LoadBalancerId {
        &self.lb
    }

    fn backend_set(&self) -> &str {
        &self.backend_set
    }

    async fn list_backends(&self) -> Result<Vec<Backend>, LbError> {
        let mut req = OciRequest::new(
            "ListBackends",
            Service::NetworkLoadBalancer,
            Method::GET,
            format!("{}/backends", self.set_path()),
        );
        if let Some(limit) = self.page_size {
            req = req.query("limit", limit.to_string());
        }
        let raw: Vec<NlbBackend> = self.client.list_all(&req).await?;
        raw.into_iter()
            .map(|b| self.to_backend("ListBackends", b))
            .collect()
    }

    async fn get_backend(&self, name: &BackendName) -> Result<Backend, LbError> {
        let req = OciRequest::new(
            "GetBackend",
            Service::NetworkLoadBalancer,
            Method::GET,
            self.backend_path(name),
        );
        let raw: NlbBackend = self.client.send_json(&req).await?;
        self.to_backend("GetBackend", raw)
    }

    async fn create_backend(
        &self,
        backend: &NewBackend,
        retry_token: &RetryToken,
    ) -> Result<MutationDone, LbError> {
        let req = OciRequest::new(
            "CreateBackend",
            Service::NetworkLoadBalancer,
            Method::POST,
            format!("{}/backends", self.set_path()),
        )
        .json_body(&CreateBody {
            ip_address: backend.ip_address.to_string(),
            port: backend.port,
            weight: backend.weight,
            is_backup: backend.backup,
            is_drain: backend.drain,
            is_offline: backend.offline,
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
        let current = self.get_backend(name).await?;
        let next = update.apply_to(&current);
        let req = OciRequest::new(
            "UpdateBackend",
            Service::NetworkLoadBalancer,
            Method::PUT,
            self.backend_path(name),
        )
        .json_body(&UpdateBody {
            weight: next.weight,
            is_backup: next.backup,
            is_drain: next.drain,
            is_offline: next.offline,
        })?
        .retry_token(retry_token);
        self.mutate(req).await
    }

    async fn delete_backend(&self, name: &BackendName) -> Result<Deleted, LbError> {
        let req = OciRequest::new(
            "DeleteBackend",
            Service::NetworkLoadBalancer,
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
            Service::NetworkLoadBalancer,
            Method::GET,
            format!("{}/health", self.backend_path(name)),
        );
        Ok(self.client.send_json(&req).await?)
    }

    async fn backend_set_health(&self) -> Result<BackendSetHealth, LbError> {
        let req = OciRequest::new(
            "GetBackendSetHealth",
            Service::NetworkLoadBalancer,
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
    fn nlb_backends_use_is_prefixed_flags() {
        let b: NlbBackend = serde_json::from_value(serde_json::json!({
            "name": "10.0.0.3:8080",
            "ipAddress": "10.0.0.3",
            "port": 8080,
            "weight": 2,
            "isDrain": true,
            "isBackup": false,
            "isOffline": false
        }))
        .unwrap();
        assert!(b.is_drain);
        let body = serde_json::to_value(CreateBody {
            ip_address: "10.0.0.3".into(),
            port: 8080,
            weight: 1,
            is_backup: false,
            is_drain: false,
            is_offline: false,
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"ipAddress": "10.0.0.3", "port": 8080, "weight": 1,
                "isBackup": false, "isDrain": false, "isOffline": false})
        );
    }

    #[test]
    fn a_backend_target_is_a_typed_ocid() {
        let b: NlbBackend = serde_json::from_value(serde_json::json!({
            "targetId": "ocid1.instance.oc1.iad.aaaa",
            "port": 80
        }))
        .unwrap();
        let target = b.target_id.clone().unwrap();
        assert_eq!(
            target.instance().map(InstanceId::as_str),
            Some("ocid1.instance.oc1.iad.aaaa")
        );
        assert_eq!(
            serde_json::to_value(&b).unwrap()["targetId"],
            "ocid1.instance.oc1.iad.aaaa"
        );
        let ip = BackendTarget::parse("ocid1.privateip.oc1.iad.bbbb").unwrap();
        assert!(matches!(ip, BackendTarget::PrivateIp(_)));
        assert_eq!(ip.instance(), None);
        let err = serde_json::from_value::<NlbBackend>(serde_json::json!({
            "targetId": "10.0.0.3",
            "port": 80
        }))
        .unwrap_err();
        assert!(err.to_string().contains("malformed OCID"), "{err}");
    }

    #[test]
    fn nlb_work_requests_read_status_and_keep_unknown_states() {
        let wr: NlbWorkRequest = serde_json::from_value(serde_json::json!({
            "id": "ocid1.nlbworkrequest.oc1.iad.aaaa",
            "operationType": "CREATE_BACKEND",
            "status": "WAITING",
            "percentComplete": 0.0,
            "resources": []
        }))
        .unwrap();
        assert_eq!(wr.status, WorkRequestStatus::Unknown("WAITING".into()));
        assert!(!wr.status.is_terminal());
    }
}
