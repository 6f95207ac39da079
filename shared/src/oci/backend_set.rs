//! The one client of a load balancer's backend set, classic (LBaaS, `/20170115`, `iaas` host)
//! or network (`/20200501`, `network-load-balancer-api` host).
//!
//! What differs between the two APIs is in one table, [`Api`] (`CLASSIC` and `NETWORK`):
//! paths, the flags' field names (`drain` / `isDrain`), whether UpdateBackend must send
//! `maxConnections` again, whether ListBackends pages, and the work requests' shape (classic
//! `lifecycleState` with `errorDetails`, NLB `status` with errors at `/errors`). Backend names
//! are `ip:port` on both for backends fleetctl creates (NLB backends created elsewhere may be
//! named `targetId:port` or anything). Everything else (turns per load balancer, 409 retries,
//! `if-match`, work requests) is written once, here; the guarantees are in
//! [`super::backends`].

use std::time::Duration;

use async_trait::async_trait;
use http::Method;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::backends::{
    Backend, BackendChange, BackendHealth, BackendName, BackendSetHealth, BackendTarget,
    BackendUpdate, DeleteStarted, LbError, LoadBalancerBackends, Mutation, MutationDone,
    MutationStarted, NewBackend, UPDATE_ATTEMPTS, confirm_absent,
};
use super::client::{OciClient, OciRequest, OciResponse, encode_path_segment};
use super::endpoints::Service;
use super::error::OciError;
use super::wire::RetryToken;
use super::workrequest::{
    Deadline, MutationLocks, MutationTurn, WaitError, WaitPolicy, WorkRequestCheck, WorkRequestId,
    WorkRequestState, WorkRequestStatus, error_line, wait_until_terminal,
};
use crate::ids::LoadBalancerId;
use crate::values::LoadBalancerType;

/// Everything that differs between the classic and the network load balancer's backend API.
#[derive(Debug)]
struct Api {
    kind: LoadBalancerType,
    /// `classic` or `network`, for messages.
    name: &'static str,
    service: Service,
    /// The load balancers' collection path.
    load_balancers: &'static str,
    /// The work requests' collection path.
    work_requests: &'static str,
    /// The body fields of the backup, drain and offline flags.
    backup: &'static str,
    drain: &'static str,
    offline: &'static str,
    /// UpdateBackend replaces `maxConnections` unless it is sent again (classic).
    resends_max_connections: bool,
    /// ListBackends takes `limit` and answers `{"items"}` pages (NLB); the classic LB answers
    /// one array.
    pages: bool,
    /// The work request's state field.
    work_request_status: &'static str,
    /// The work request's kind-of-change field.
    work_request_operation: &'static str,
    /// Where a failed work request's errors are: a field of the work request (classic
    /// `errorDetails`), or `None` for a list at `{work_requests}/{id}/errors` (NLB).
    work_request_errors: Option<&'static str>,
    /// An error's code field (the message is `message` on both).
    error_code: &'static str,
    /// ListWorkRequests of one load balancer (`{load_balancers}/{id}/workRequests`), where
    /// the API has it (classic); the NLB lists work requests by compartment only.
    lists_work_requests: bool,
    /// Several backend changes go as one UpdateBackendSet (classic; the NLB's UpdateBackendSet
    /// is not used yet, and needs a way to see queued changes before writing the full list).
    batches: bool,
    /// UpdateBackendSetDetails' fields other than `backends`, copied from GetBackendSet.
    set_fields: &'static [&'static str],
    /// BackendDetails' fields, copied from each backend GetBackendSet lists.
    backend_fields: &'static [&'static str],
}

static CLASSIC: Api = Api {
    kind: LoadBalancerType::Classic,
    name: "classic",
    service: Service::LoadBalancer,
    load_balancers: "/20170115/loadBalancers",
    work_requests: "/20170115/loadBalancerWorkRequests",
    backup: "backup",
    drain: "drain",
    offline: "offline",
    resends_max_connections: true,
    pages: false,
    work_request_status: "lifecycleState",
    work_request_operation: "type",
    work_request_errors: Some("errorDetails"),
    error_code: "errorCode",
    lists_work_requests: true,
    batches: true,
    set_fields: &[
        "policy",
        "backendMaxConnections",
        "healthChecker",
        "sslConfiguration",
        "sessionPersistenceConfiguration",
        "lbCookieSessionPersistenceConfiguration",
    ],
    backend_fields: &[
        "ipAddress",
        "port",
        "weight",
        "maxConnections",
        "backup",
        "drain",
        "offline",
    ],
};

static NETWORK: Api = Api {
    kind: LoadBalancerType::Network,
    name: "network",
    service: Service::NetworkLoadBalancer,
    load_balancers: "/20200501/networkLoadBalancers",
    work_requests: "/20200501/workRequests",
    backup: "isBackup",
    drain: "isDrain",
    offline: "isOffline",
    resends_max_connections: false,
    pages: true,
    work_request_status: "status",
    work_request_operation: "operationType",
    work_request_errors: None,
    error_code: "code",
    lists_work_requests: false,
    batches: false,
    set_fields: &[
        "policy",
        "isPreserveSource",
        "isFailOpen",
        "isInstantFailoverEnabled",
        "ipVersion",
        "healthChecker",
    ],
    backend_fields: &[
        "name",
        "ipAddress",
        "targetId",
        "port",
        "weight",
        "isBackup",
        "isDrain",
        "isOffline",
    ],
};

impl Api {
    fn of(kind: LoadBalancerType) -> &'static Api {
        match kind {
            LoadBalancerType::Classic => &CLASSIC,
            LoadBalancerType::Network => &NETWORK,
        }
    }

    /// CreateBackendDetails (every field sent, so the result does not depend on defaults).
    fn create_body(&self, b: &NewBackend) -> Value {
        let mut body = Map::new();
        body.insert("ipAddress".into(), b.ip_address.to_string().into());
        body.insert("port".into(), b.port.into());
        self.put_settings(&mut body, b.weight, b.backup, b.drain, b.offline);
        body.into()
    }

    /// UpdateBackendDetails: every field (the classic LB requires all four, the NLB's are
    /// optional but sent so the result does not depend on how absent ones are treated).
    fn update_body(&self, b: &Backend, max_connections: Option<u32>) -> Value {
        let mut body = Map::new();
        self.put_settings(&mut body, b.weight, b.backup, b.drain, b.offline);
        if let (true, Some(max)) = (self.resends_max_connections, max_connections) {
            body.insert("maxConnections".into(), max.into());
        }
        body.into()
    }

    /// UpdateBackendSetDetails: the set as GetBackendSet returned it (its own fields of
    /// [`Api::set_fields`], each backend's of [`Api::backend_fields`]) with `changes`
    /// applied in order to its backends. Err: what in the answer cannot be read.
    fn update_set_body(
        &self,
        set: &Map<String, Value>,
        changes: &[BackendChange],
    ) -> Result<Value, String> {
        let mut body = Map::new();
        for field in self.set_fields {
            if let Some(v) = set.get(*field).filter(|v| !v.is_null()) {
                body.insert((*field).to_string(), v.clone());
            }
        }
        let listed = match set.get("backends") {
            Some(Value::Array(items)) => items.as_slice(),
            None | Some(Value::Null) => &[],
            Some(_) => return Err("the backend set's `backends` is not an array".into()),
        };
        // (name, BackendDetails)
        let mut backends: Vec<(String, Map<String, Value>)> = Vec::with_capacity(listed.len());
        for b in listed {
            let Value::Object(b) = b else {
                return Err("a backend of the set is not an object".into());
            };
            let text = |k: &str| b.get(k).and_then(Value::as_str).filter(|t| !t.is_empty());
            let port = b.get("port").and_then(Value::as_u64);
            let name = match (text("name"), text("ipAddress").or(text("targetId")), port) {
                (Some(n), _, _) => n.to_string(),
                (None, Some(a), Some(p)) => format!("{a}:{p}"),
                _ => return Err("a backend of the set has neither a name nor an address".into()),
            };
            let details: Map<String, Value> = self
                .backend_fields
                .iter()
                .filter_map(|f| {
                    b.get(*f)
                        .filter(|v| !v.is_null())
                        .map(|v| ((*f).to_string(), v.clone()))
                })
                .collect();
            backends.push((name, details));
        }
        for change in changes {
            match change {
                BackendChange::Add(new) => {
                    let name = new.name();
                    if !backends.iter().any(|(n, _)| n == name.as_str()) {
                        let Value::Object(details) = self.create_body(new) else {
                            return Err("CreateBackendDetails is not an object".into());
                        };
                        backends.push((name.as_str().to_string(), details));
                    }
                }
                BackendChange::SetDrain { backend, drain } => {
                    if let Some((_, details)) =
                        backends.iter_mut().find(|(n, _)| n == backend.as_str())
                    {
                        details.insert(self.drain.into(), (*drain).into());
                    }
                }
                BackendChange::Remove(backend) => backends.retain(|(n, _)| n != backend.as_str()),
            }
        }
        body.insert(
            "backends".into(),
            Value::Array(
                backends
                    .into_iter()
                    .map(|(_, d)| Value::Object(d))
                    .collect(),
            ),
        );
        Ok(body.into())
    }

    fn put_settings(
        &self,
        body: &mut Map<String, Value>,
        weight: u32,
        backup: bool,
        drain: bool,
        offline: bool,
    ) {
        body.insert("weight".into(), weight.into());
        body.insert(self.backup.into(), backup.into());
        body.insert(self.drain.into(), drain.into());
        body.insert(self.offline.into(), offline.into());
    }
}

/// A backend as either API returns it; the flags under their API's names.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBackend {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    ip_address: Option<String>,
    /// NLB backends created by target instead of by address.
    #[serde(default)]
    target_id: Option<BackendTarget>,
    port: u32,
    #[serde(default)]
    weight: Option<u32>,
    /// Classic only (absent: unlimited).
    #[serde(default)]
    max_connections: Option<u32>,
    // The flags under both APIs' names (`Api::backup` etc. says which one is read), as
    // values so a wrong type is reported as it came. Named fields, not a flattened map of
    // the rest: a flattened field makes serde buffer every backend's whole object first (a
    // backend set of 10,000 is megabytes of that).
    #[serde(default)]
    backup: Option<Value>,
    #[serde(default)]
    drain: Option<Value>,
    #[serde(default)]
    offline: Option<Value>,
    #[serde(default)]
    is_backup: Option<Value>,
    #[serde(default)]
    is_drain: Option<Value>,
    #[serde(default)]
    is_offline: Option<Value>,
}

impl RawBackend {
    /// Takes the flag the API names `field`.
    fn take_flag(&mut self, field: &str) -> Option<Value> {
        match field {
            "backup" => self.backup.take(),
            "drain" => self.drain.take(),
            "offline" => self.offline.take(),
            "isBackup" => self.is_backup.take(),
            "isDrain" => self.is_drain.take(),
            "isOffline" => self.is_offline.take(),
            _ => None,
        }
    }
}

/// A backend either API returned, and its `maxConnections` (which the classic UpdateBackend
/// must resend).
fn decode_backend(
    api: &Api,
    lb: &LoadBalancerId,
    operation: &'static str,
    mut b: RawBackend,
) -> Result<(Backend, Option<u32>), LbError> {
    let bad = |reason: String| LbError::BadBackend {
        operation,
        load_balancer: lb.clone(),
        reason,
    };
    let raw_flags = [
        (api.backup, b.take_flag(api.backup)),
        (api.drain, b.take_flag(api.drain)),
        (api.offline, b.take_flag(api.offline)),
    ];
    let address = b
        .ip_address
        .as_deref()
        .or(b.target_id.as_ref().map(BackendTarget::as_str))
        .filter(|a| !a.is_empty());
    // OCI's own default name when none was given.
    let name = match (b.name.filter(|n| !n.is_empty()), address) {
        (Some(n), _) => n,
        (None, Some(a)) => format!("{a}:{}", b.port),
        (None, None) => return Err(bad("a backend has neither a name nor an address".into())),
    };
    let port = u16::try_from(b.port).map_err(|_| {
        bad(format!(
            "backend {name:?} has port {}, outside 0-65535",
            b.port
        ))
    })?;
    let flag = |(field, value): &(&'static str, Option<Value>)| match value {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(v)) => Ok(*v),
        Some(other) => Err(bad(format!(
            "backend {name:?} has `{field}`: {other}, not true or false"
        ))),
    };
    let [backup, drain, offline] = &raw_flags;
    let (backup, drain, offline) = (flag(backup)?, flag(drain)?, flag(offline)?);
    let name = BackendName::new(name).ok_or_else(|| bad("an empty backend name".into()))?;
    Ok((
        Backend {
            name,
            ip_address: b.ip_address,
            port,
            weight: b.weight.unwrap_or(1),
            backup,
            drain,
            offline,
        },
        b.max_connections,
    ))
}

/// The error details of a failed work request as lines (`CODE: message`).
fn error_lines(api: &Api, errors: &[Value]) -> Vec<String> {
    errors
        .iter()
        .filter_map(|e| {
            let text = |k: &str| e.get(k).and_then(Value::as_str);
            error_line(text(api.error_code), text("message"))
        })
        .collect()
}

/// The backends of one backend set of a classic or network load balancer.
#[derive(Debug, Clone)]
pub struct BackendSetClient {
    client: OciClient,
    api: &'static Api,
    lb: LoadBalancerId,
    backend_set: String,
    wait: WaitPolicy,
    locks: MutationLocks,
    page_size: Option<u32>,
}

impl BackendSetClient {
    /// The backend set `backend_set` of the `kind` load balancer `lb`, with the default
    /// [`WaitPolicy`] and the process-wide [`MutationLocks`]. Fails when `lb` is an OCID of
    /// the other kind.
    pub fn new(
        client: OciClient,
        kind: LoadBalancerType,
        lb: LoadBalancerId,
        backend_set: impl Into<String>,
    ) -> Result<Self, LbError> {
        let api = Api::of(kind);
        if lb.is_network() != (kind == LoadBalancerType::Network) {
            return Err(LbError::WrongKind {
                load_balancer: lb,
                expected: api.name,
            });
        }
        Ok(Self {
            client,
            api,
            lb,
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

    /// Sets the page size (`limit`) of ListBackends where the API pages it (NLB); the
    /// service default otherwise. The classic LB answers every backend at once.
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = Some(page_size);
        self
    }

    fn request(&self, operation: &'static str, method: Method, path: String) -> OciRequest {
        OciRequest::new(operation, self.api.service, method, path)
    }

    fn set_path(&self) -> String {
        format!(
            "{}/{}/backendSets/{}",
            self.api.load_balancers,
            encode_path_segment(self.lb.as_str()),
            encode_path_segment(&self.backend_set)
        )
    }

    fn backend_path(&self, name: &BackendName) -> String {
        format!("{}/backends/{}", self.set_path(), name.path_segment())
    }

    fn work_request_path(&self, id: &WorkRequestId) -> String {
        format!(
            "{}/{}",
            self.api.work_requests,
            encode_path_segment(id.as_str())
        )
    }

    /// GetBackend, with its `maxConnections` and the ETag of the answer.
    async fn read_backend(
        &self,
        name: &BackendName,
    ) -> Result<(Backend, Option<u32>, Option<String>), LbError> {
        let req = self.request("GetBackend", Method::GET, self.backend_path(name));
        let resp = self.client.send(&req).await?;
        let raw: RawBackend = resp.json(req.operation)?;
        let (backend, max_connections) = decode_backend(self.api, &self.lb, req.operation, raw)?;
        Ok((backend, max_connections, resp.etag().map(str::to_string)))
    }

    /// GetWorkRequest; for a FAILED or CANCELED NLB work request also its errors (if that
    /// call fails, the failure is reported without details rather than hidden).
    async fn fetch_work_request(&self, id: &WorkRequestId) -> Result<WorkRequestCheck, LbError> {
        let req = self.request("GetWorkRequest", Method::GET, self.work_request_path(id));
        let resp = self.client.send(&req).await?;
        let wr: Map<String, Value> = resp.json(req.operation)?;
        let field = |name: &str| wr.get(name).and_then(Value::as_str);
        let status: WorkRequestStatus = field(self.api.work_request_status)
            .ok_or_else(|| OciError::Decode {
                operation: req.operation,
                request_id: resp.request_id.clone(),
                source: serde::de::Error::custom(format_args!(
                    "work request {id} has no `{}`",
                    self.api.work_request_status
                )),
            })?
            .to_string()
            .into();
        let mut message = field("message").map(str::to_string);
        let mut errors = Vec::new();
        if matches!(
            status,
            WorkRequestStatus::Failed | WorkRequestStatus::Canceled
        ) {
            let listed = match self.api.work_request_errors {
                Some(inline) => Ok(wr.get(inline).and_then(Value::as_array).cloned()),
                None => {
                    let req = self.request(
                        "ListWorkRequestErrors",
                        Method::GET,
                        format!("{}/errors", self.work_request_path(id)),
                    );
                    self.client.list_all::<Value>(&req).await.map(Some)
                }
            };
            match listed {
                Ok(list) => errors = error_lines(self.api, &list.unwrap_or_default()),
                Err(e) => {
                    tracing::warn!(work_request = %id, error = %e, "could not read the errors of a failed work request");
                    message = Some(format!("(its errors could not be read: {e})"));
                }
            }
        }
        Ok(WorkRequestCheck {
            id: id.clone(),
            operation: field(self.api.work_request_operation).map(str::to_string),
            state: WorkRequestState::new(status, &errors, message.as_deref()),
        })
    }

    fn busy(
        &self,
        operation: &'static str,
        waited: Duration,
        in_flight: Option<WorkRequestId>,
        source: Option<OciError>,
    ) -> LbError {
        LbError::Busy {
            mutation: Box::new(Mutation {
                operation,
                load_balancer: self.lb.clone(),
                request_id: None,
            }),
            waited,
            in_flight,
            source: source.map(Box::new),
        }
    }

    fn since(&self, start: time::OffsetDateTime) -> Duration {
        Duration::try_from(self.client.clock().now() - start).unwrap_or(Duration::ZERO)
    }

    /// Takes this load balancer's turn and waits for the work request of this process's
    /// previous mutation of it, both within `deadline` ([`LbError::Busy`] when they do not
    /// end in time; nothing was sent).
    async fn take_turn(
        &self,
        operation: &'static str,
        deadline: Deadline,
    ) -> Result<MutationTurn, LbError> {
        let clock = self.client.clock().clone();
        let start = clock.now();
        let mut turn = match self.locks.try_lock(&self.lb) {
            Some(turn) => turn,
            None => {
                let remaining = deadline.remaining(clock.as_ref());
                tokio::select! {
                    biased;
                    turn = self.locks.lock(&self.lb) => turn,
                    () = self.client.sleeper().sleep(remaining) => {
                        return Err(self.busy(operation, self.since(start), None, None));
                    }
                }
            }
        };
        if let Some(previous) = turn.work_request.clone() {
            tracing::debug!(operation, load_balancer = %self.lb, work_request = %previous, "waiting for this process's previous mutation");
            match wait_until_terminal(&self.client, &self.wait, deadline, || {
                self.fetch_work_request(&previous)
            })
            .await
            {
                Ok(_) => {}
                Err(WaitError::TimedOut { .. }) => {
                    return Err(self.busy(operation, self.since(start), Some(previous), None));
                }
                // OCI no longer knows it: nothing to wait for.
                Err(WaitError::Poll(e)) if e.is_not_found() => {}
                Err(WaitError::Poll(e)) => return Err(e),
            }
            turn.work_request = None;
        }
        Ok(turn)
    }

    /// Sends a mutation; a 409 `Conflict` (the load balancer is busy with a change from
    /// elsewhere) is sent again after a doubling wait until `deadline`. The retry token, if
    /// any, stays the same.
    async fn send_within(
        &self,
        req: &OciRequest,
        deadline: Deadline,
    ) -> Result<OciResponse, LbError> {
        let clock = self.client.clock().clone();
        let start = clock.now();
        let mut delay = self.wait.first_poll;
        loop {
            match self.client.send(req).await {
                Ok(r) => return Ok(r),
                Err(e) if e.status() == Some(409) && e.code() == Some("Conflict") => {
                    let remaining = deadline.remaining(clock.as_ref());
                    if remaining.is_zero() {
                        return Err(self.busy(req.operation, self.since(start), None, Some(e)));
                    }
                    tracing::warn!(
                        operation = req.operation,
                        load_balancer = %self.lb,
                        opc_request_id = e.request_id().unwrap_or("none"),
                        "load balancer busy with another change (409 Conflict); waiting to send again"
                    );
                    self.client.sleeper().sleep(delay.min(remaining)).await;
                    delay = delay
                        .saturating_mul(2)
                        .min(self.wait.max_poll.max(self.wait.first_poll));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The mutation `response` accepted, recorded as the load balancer's in-flight one.
    fn started(
        &self,
        turn: &mut MutationTurn,
        operation: &'static str,
        response: OciResponse,
    ) -> Result<MutationStarted, LbError> {
        let request_id = response.request_id.clone();
        let Some(work_request) = response
            .header("opc-work-request-id")
            .and_then(WorkRequestId::new)
        else {
            return Err(LbError::NoWorkRequest {
                mutation: Box::new(Mutation {
                    operation,
                    load_balancer: self.lb.clone(),
                    request_id,
                }),
            });
        };
        tracing::info!(operation, load_balancer = %self.lb, %work_request, "load balancer change accepted");
        turn.work_request = Some(work_request.clone());
        Ok(MutationStarted {
            operation,
            load_balancer: self.lb.clone(),
            work_request,
            request_id,
        })
    }
}

#[async_trait]
impl LoadBalancerBackends for BackendSetClient {
    fn kind(&self) -> LoadBalancerType {
        self.api.kind
    }

    fn load_balancer_id(&self) -> &LoadBalancerId {
        &self.lb
    }

    fn backend_set(&self) -> &str {
        &self.backend_set
    }

    fn wait_policy(&self) -> &WaitPolicy {
        &self.wait
    }

    fn deadline_after(&self, within: Duration) -> Deadline {
        Deadline::after(self.client.clock().as_ref(), within)
    }

    async fn list_backends(&self) -> Result<Vec<Backend>, LbError> {
        let mut req = self.request(
            "ListBackends",
            Method::GET,
            format!("{}/backends", self.set_path()),
        );
        if let (true, Some(limit)) = (self.api.pages, self.page_size) {
            req = req.query("limit", limit.to_string());
        }
        // list_all takes a bare array (classic) or `{"items"}` pages (NLB).
        let raw: Vec<RawBackend> = self.client.list_all_remembered(&req).await?;
        raw.into_iter()
            .map(|b| Ok(decode_backend(self.api, &self.lb, req.operation, b)?.0))
            .collect()
    }

    async fn get_backend(&self, name: &BackendName) -> Result<Backend, LbError> {
        Ok(self.read_backend(name).await?.0)
    }

    async fn backend_health(&self, name: &BackendName) -> Result<BackendHealth, LbError> {
        let req = self.request(
            "GetBackendHealth",
            Method::GET,
            format!("{}/health", self.backend_path(name)),
        );
        Ok(self.client.send_json(&req).await?)
    }

    async fn backend_set_health(&self) -> Result<BackendSetHealth, LbError> {
        let req = self.request(
            "GetBackendSetHealth",
            Method::GET,
            format!("{}/health", self.set_path()),
        );
        Ok(self.client.send_json(&req).await?)
    }

    async fn start_create_backend(
        &self,
        backend: &NewBackend,
        retry_token: &RetryToken,
        deadline: Deadline,
    ) -> Result<MutationStarted, LbError> {
        let req = self
            .request(
                "CreateBackend",
                Method::POST,
                format!("{}/backends", self.set_path()),
            )
            .json_body(&self.api.create_body(backend))?
            .retry_token(retry_token);
        let mut turn = self.take_turn(req.operation, deadline).await?;
        let response = self.send_within(&req, deadline).await?;
        self.started(&mut turn, req.operation, response)
    }

    async fn start_update_backend(
        &self,
        name: &BackendName,
        update: &BackendUpdate,
        retry_token: &RetryToken,
        deadline: Deadline,
    ) -> Result<MutationStarted, LbError> {
        const OPERATION: &str = "UpdateBackend";
        let mut turn = self.take_turn(OPERATION, deadline).await?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (current, max_connections, etag) = self.read_backend(name).await?;
            let next = update.apply_to(&current);
            // The same retry token on every round: a round that met 412 did nothing, and a
            // round whose answer was lost is replayed, not done twice.
            let mut req = self
                .request(OPERATION, Method::PUT, self.backend_path(name))
                .json_body(&self.api.update_body(&next, max_connections))?
                .retry_token(retry_token);
            match etag.as_deref() {
                Some(etag) => req = req.if_match(etag)?,
                None => tracing::warn!(
                    load_balancer = %self.lb,
                    backend = %name,
                    "GetBackend sent no ETag; updating without if-match"
                ),
            }
            match self.send_within(&req, deadline).await {
                Ok(response) => return self.started(&mut turn, OPERATION, response),
                Err(LbError::Oci(e)) if e.is_precondition_failed() => {
                    if attempts >= UPDATE_ATTEMPTS {
                        return Err(LbError::KeptChanging {
                            mutation: Box::new(Mutation {
                                operation: OPERATION,
                                load_balancer: self.lb.clone(),
                                request_id: e.request_id().map(str::to_string),
                            }),
                            backend: name.clone(),
                            attempts,
                            source: Box::new(e),
                        });
                    }
                    tracing::info!(
                        load_balancer = %self.lb,
                        backend = %name,
                        attempts,
                        "the backend changed since it was read (412); reading it again"
                    );
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn batches(&self) -> bool {
        self.api.batches
    }

    async fn start_update_backends(
        &self,
        changes: &[BackendChange],
        retry_token: &RetryToken,
        deadline: Deadline,
    ) -> Result<MutationStarted, LbError> {
        const OPERATION: &str = "UpdateBackendSet";
        if !self.api.batches {
            return Err(LbError::Oci(OciError::InvalidRequest {
                operation: OPERATION,
                reason: format!(
                    "backend changes of a {} load balancer are not batched",
                    self.api.name
                ),
            }));
        }
        let mut turn = self.take_turn(OPERATION, deadline).await?;
        let mut attempts = 0;
        loop {
            attempts += 1;
            // The full list would overwrite a change someone else queued that is not applied
            // yet (this process's own previous one was waited for above).
            if let Some(queued) = self.in_flight_work_requests().await?
                && !queued.is_empty()
            {
                tracing::info!(
                    load_balancer = %self.lb,
                    queued = queued.len(),
                    "a change from elsewhere is still queued; the backend set update waits"
                );
                return Err(self.busy(OPERATION, Duration::ZERO, None, None));
            }
            let read = self.request("GetBackendSet", Method::GET, self.set_path());
            let resp = self.client.send(&read).await?;
            let etag = resp.etag().map(str::to_string);
            let set: Map<String, Value> = resp.json(read.operation)?;
            let body =
                self.api
                    .update_set_body(&set, changes)
                    .map_err(|reason| LbError::BadBackend {
                        operation: read.operation,
                        load_balancer: self.lb.clone(),
                        reason,
                    })?;
            // The same retry token on every round, as for UpdateBackend.
            let mut req = self
                .request(OPERATION, Method::PUT, self.set_path())
                .json_body(&body)?
                .retry_token(retry_token);
            match etag.as_deref() {
                Some(etag) => req = req.if_match(etag)?,
                None => tracing::warn!(
                    load_balancer = %self.lb,
                    backend_set = %self.backend_set,
                    "GetBackendSet sent no ETag; updating without if-match"
                ),
            }
            match self.send_within(&req, deadline).await {
                Ok(response) => return self.started(&mut turn, OPERATION, response),
                Err(LbError::Oci(e)) if e.is_precondition_failed() => {
                    if attempts >= UPDATE_ATTEMPTS {
                        return Err(LbError::KeptChanging {
                            mutation: Box::new(Mutation {
                                operation: OPERATION,
                                load_balancer: self.lb.clone(),
                                request_id: e.request_id().map(str::to_string),
                            }),
                            backend: BackendName::new(format!("(set {})", self.backend_set))
                                .unwrap_or_else(|| {
                                    BackendName::for_address([0, 0, 0, 0].into(), 0)
                                }),
                            attempts,
                            source: Box::new(e),
                        });
                    }
                    tracing::info!(
                        load_balancer = %self.lb,
                        backend_set = %self.backend_set,
                        attempts,
                        "the backend set changed since it was read (412); reading it again"
                    );
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn start_delete_backend(
        &self,
        name: &BackendName,
        deadline: Deadline,
    ) -> Result<DeleteStarted, LbError> {
        let req = self.request("DeleteBackend", Method::DELETE, self.backend_path(name));
        let result = {
            let mut turn = self.take_turn(req.operation, deadline).await?;
            match self.send_within(&req, deadline).await {
                Ok(response) => self.started(&mut turn, req.operation, response),
                Err(e) => Err(e),
            }
        };
        match result {
            Ok(started) => Ok(DeleteStarted::Started(started)),
            Err(e) => Ok(DeleteStarted::AlreadyAbsent {
                request_id: confirm_absent(self, name, e).await?,
            }),
        }
    }

    async fn check_work_request(&self, id: &WorkRequestId) -> Result<WorkRequestCheck, LbError> {
        let check = self.fetch_work_request(id).await?;
        if check.state.is_terminal() {
            self.locks.finished(&self.lb, id);
        }
        Ok(check)
    }

    async fn in_flight_work_requests(&self) -> Result<Option<Vec<WorkRequestId>>, LbError> {
        if !self.api.lists_work_requests {
            return Ok(None);
        }
        let req = self.request(
            "ListWorkRequests",
            Method::GET,
            format!(
                "{}/{}/workRequests",
                self.api.load_balancers,
                encode_path_segment(self.lb.as_str())
            ),
        );
        let items: Vec<Map<String, Value>> = self.client.list_all(&req).await?;
        let mut in_flight = Vec::new();
        for wr in items {
            let field = |name: &str| wr.get(name).and_then(Value::as_str);
            let status = WorkRequestStatus::from(
                field(self.api.work_request_status)
                    .unwrap_or_default()
                    .to_string(),
            );
            // A work request without a state or id is not trusted to be finished: it counts
            // as running unless its id cannot be read at all.
            if status.is_terminal() {
                continue;
            }
            if let Some(id) = field("id").and_then(WorkRequestId::new) {
                in_flight.push(id);
            }
        }
        Ok(Some(in_flight))
    }

    async fn wait_for(
        &self,
        started: &MutationStarted,
        deadline: Deadline,
    ) -> Result<MutationDone, LbError> {
        let work_request = &started.work_request;
        tracing::debug!(operation = started.operation, load_balancer = %self.lb, %work_request, "waiting for work request");
        let start = self.client.clock().now();
        let check = match wait_until_terminal(&self.client, &self.wait, deadline, || {
            self.fetch_work_request(work_request)
        })
        .await
        {
            Ok(check) => check,
            Err(WaitError::TimedOut { last, waited }) => {
                tracing::warn!(operation = started.operation, load_balancer = %self.lb, %work_request, status = %last.state.status(), "gave up waiting for work request");
                return Err(started.timed_out(&last, waited));
            }
            Err(WaitError::Poll(e)) => return Err(e),
        };
        self.locks.finished(&self.lb, work_request);
        match started.outcome(&check) {
            Some(Ok(done)) => {
                tracing::info!(operation = started.operation, load_balancer = %self.lb, %work_request, "work request succeeded");
                Ok(done)
            }
            Some(Err(e)) => {
                tracing::warn!(operation = started.operation, load_balancer = %self.lb, %work_request, error = %e, "work request did not succeed");
                Err(e)
            }
            // wait_until_terminal returns only terminal checks.
            None => Err(started.timed_out(&check, self.since(start))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(api: &Api, v: Value) -> Result<(Backend, Option<u32>), LbError> {
        let lb = "ocid1.loadbalancer.oc1.iad.aaaa".parse().unwrap();
        decode_backend(api, &lb, "GetBackend", serde_json::from_value(v).unwrap())
    }

    #[test]
    fn each_api_reads_its_own_flag_names() {
        let classic = json!({"name": "10.0.0.3:8080", "ipAddress": "10.0.0.3", "port": 8080,
            "weight": 2, "backup": true, "drain": true, "offline": false, "maxConnections": 300});
        let (b, max) = decode(&CLASSIC, classic.clone()).unwrap();
        assert_eq!(
            (b.weight, b.backup, b.drain, b.offline),
            (2, true, true, false)
        );
        assert_eq!(max, Some(300));
        // The other API's names mean nothing here.
        let (b, _) = decode(&NETWORK, classic).unwrap();
        assert_eq!((b.backup, b.drain), (false, false));
        let nlb = json!({"name": "10.0.0.3:8080", "ipAddress": "10.0.0.3", "port": 8080,
            "isBackup": false, "isDrain": true, "isOffline": true});
        let (b, _) = decode(&NETWORK, nlb).unwrap();
        assert_eq!((b.weight, b.drain, b.offline), (1, true, true));
        let err = decode(&NETWORK, json!({"name": "x", "port": 1, "isDrain": "yes"})).unwrap_err();
        assert!(err.to_string().contains("`isDrain`: \"yes\""), "{err}");
    }

    #[test]
    fn a_nameless_backend_gets_ocis_default_name() {
        let (b, _) = decode(&CLASSIC, json!({"ipAddress": "10.0.0.3", "port": 80})).unwrap();
        assert_eq!(b.name.as_str(), "10.0.0.3:80");
        let (b, _) = decode(
            &NETWORK,
            json!({"targetId": "ocid1.instance.oc1.iad.aaaa", "port": 0}),
        )
        .unwrap();
        assert_eq!(b.name.as_str(), "ocid1.instance.oc1.iad.aaaa:0");
        assert!(decode(&NETWORK, json!({"port": 80})).is_err());
        let err = decode(&CLASSIC, json!({"name": "x", "port": 70000})).unwrap_err();
        assert!(err.to_string().contains("outside 0-65535"), "{err}");
    }

    #[test]
    fn bodies_use_each_apis_field_names() {
        let new = NewBackend {
            drain: true,
            ..NewBackend::serving("10.0.0.3".parse().unwrap(), 8080, 2)
        };
        assert_eq!(
            CLASSIC.create_body(&new),
            json!({"ipAddress": "10.0.0.3", "port": 8080, "weight": 2,
                "backup": false, "drain": true, "offline": false})
        );
        assert_eq!(
            NETWORK.create_body(&new),
            json!({"ipAddress": "10.0.0.3", "port": 8080, "weight": 2,
                "isBackup": false, "isDrain": true, "isOffline": false})
        );
        let b = Backend {
            name: new.name(),
            ip_address: Some("10.0.0.3".into()),
            port: 8080,
            weight: 3,
            backup: false,
            drain: true,
            offline: false,
        };
        assert_eq!(
            CLASSIC.update_body(&b, Some(300)),
            json!({"weight": 3, "backup": false, "drain": true, "offline": false,
                "maxConnections": 300})
        );
        assert_eq!(
            CLASSIC.update_body(&b, None),
            json!({"weight": 3, "backup": false, "drain": true, "offline": false})
        );
        assert_eq!(
            NETWORK.update_body(&b, Some(300)),
            json!({"weight": 3, "isBackup": false, "isDrain": true, "isOffline": false})
        );
    }

    #[test]
    fn work_request_errors_are_read_with_each_apis_code_field() {
        assert_eq!(
            error_lines(
                &CLASSIC,
                &[
                    json!({"errorCode": "BAD_INPUT", "message": "Backend 10.0.0.3:80 already exists"})
                ]
            ),
            ["BAD_INPUT: Backend 10.0.0.3:80 already exists"]
        );
        assert_eq!(
            error_lines(
                &NETWORK,
                &[
                    json!({"code": "InternalError", "message": "m", "timestamp": "t"}),
                    json!({})
                ]
            ),
            ["InternalError: m"]
        );
    }
}
