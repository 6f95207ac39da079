//! Network Load Balancer (`/20200501`): one seeded NLB with a backend set; backends, health
//! and work requests.
//!
//! Mutations answer 202 with `opc-work-request-id`; the change applies when the work request
//! SUCCEEDS. Unlike the classic LB, a second mutation while one is in flight is refused with
//! 409 `Conflict` ("Invalid State Transition of NLB lifeCycle state from Updating to
//! Updating"), and a duplicate backend with 409 `NotAuthorizedOrResourceAlreadyExists`, both
//! synchronously. While a work request runs the NLB is UPDATING.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::SystemTime;

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::health::{self, BackendHealth, HealthStatus, Probe, SetHealth, Target};
use super::identity::new_etag;
use super::load_balancer::{target_for_ip, timing};
use super::retry::idempotent;
use super::settings::Tick;
use super::work_request::{
    self, Progress, Resource, Schedule, WorkRequest, WorkRequestError, add_backend, backend_mut,
    missing_set, remove_backend,
};
use super::{check_tenancy, if_match};
use crate::auth::SigningRule;
use crate::clock::rfc3339;
use crate::http::body::{Fields, object, required_object};
use crate::http::router::{Access, Call, Operation, op};
use crate::http::{ApiError, SimResponse, paginate_with};
use crate::ocid::Ocid;
use crate::state::{Ctx, REGION_SHORT, World};

/// The seeded NLB's address in the first subnet (reserved from instance allocation).
pub const NLB_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 249);

#[derive(Debug, Clone, PartialEq)]
pub struct NlbBackend {
    pub name: String,
    pub ip_address: Option<String>,
    pub target_id: Option<Ocid>,
    pub port: u16,
    pub weight: u32,
    pub is_drain: bool,
    pub is_backup: bool,
    pub is_offline: bool,
    pub added_at: SystemTime,
    pub seq: u64,
}

#[derive(Debug, Clone)]
pub struct NlbBackendSet {
    pub name: String,
    pub policy: String,
    pub backends: Vec<NlbBackend>,
    pub health_check_port: u16,
}

#[derive(Debug, Clone)]
pub struct NetworkLoadBalancer {
    pub id: Ocid,
    pub compartment_id: Ocid,
    pub display_name: String,
    pub subnet_id: Ocid,
    pub ip_address: Ipv4Addr,
    pub time_created: SystemTime,
    pub time_updated: SystemTime,
    pub backend_sets: BTreeMap<String, NlbBackendSet>,
    pub etag: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NlbChange {
    Create {
        set: String,
        backend: NlbBackend,
    },
    Update {
        set: String,
        name: String,
        weight: Option<u32>,
        is_drain: Option<bool>,
        is_backup: Option<bool>,
        is_offline: Option<bool>,
    },
    Delete {
        set: String,
        name: String,
    },
}

impl NlbChange {
    pub fn operation_type(&self) -> &'static str {
        match self {
            Self::Create { .. } => "CREATE_BACKEND",
            Self::Update { .. } => "UPDATE_BACKEND",
            Self::Delete { .. } => "DELETE_BACKEND",
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Create { set, backend } => {
                format!("create backend {} in backend set {set}", backend.name)
            }
            Self::Update { set, name, .. } => format!("update backend {name} in backend set {set}"),
            Self::Delete { set, name } => format!("delete backend {name} in backend set {set}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct NlbWorkRequest {
    pub id: Ocid,
    pub nlb_id: Ocid,
    pub compartment_id: Ocid,
    pub change: NlbChange,
    pub progress: Progress,
}

impl WorkRequest for NlbWorkRequest {
    type Resource = NetworkLoadBalancer;
    const RESOURCE: &'static str = "network load balancer";
    const FAIL_NEXT: &'static str = "/_sim/nlb/fail-next";

    fn id(&self) -> &Ocid {
        &self.id
    }
    fn resource_id(&self) -> &Ocid {
        &self.nlb_id
    }
    fn progress(&self) -> &Progress {
        &self.progress
    }
    fn progress_mut(&mut self) -> &mut Progress {
        &mut self.progress
    }
    fn describe(&self) -> String {
        self.change.describe()
    }
    fn apply(&self, nlb: &mut NetworkLoadBalancer, at: SystemTime) -> Result<(), WorkRequestError> {
        apply(nlb, &self.change, at)
    }
}

impl Resource for NetworkLoadBalancer {
    fn id(&self) -> &Ocid {
        &self.id
    }
    /// The NLB's `timeUpdated` moves with every finished work request.
    fn work_finished(&mut self, at: SystemTime) {
        self.time_updated = at;
    }
}

impl work_request::Backend for NlbBackend {
    fn name(&self) -> &str {
        &self.name
    }
    fn set_added_at(&mut self, at: SystemTime) {
        self.added_at = at;
    }
}

/// The NLB's part of the world.
#[derive(Debug, Default)]
pub struct NlbState {
    pub nlbs: Vec<NetworkLoadBalancer>,
    pub work_requests: Vec<NlbWorkRequest>,
    /// How many of the next work requests will FAIL (`/_sim/nlb/fail-next`).
    pub fail_next: u32,
    next_seq: u64,
}

impl NlbState {
    /// Seeds one ACTIVE NLB (TCP listener on 80) with the empty backend set `web`
    /// (FIVE_TUPLE, HTTP health checks on 8080); returns its id.
    pub fn seed(
        &mut self,
        rng: &mut fastrand::Rng,
        compartment: &Ocid,
        subnet: &Ocid,
        now: SystemTime,
    ) -> Ocid {
        let mut backend_sets = BTreeMap::new();
        backend_sets.insert(
            "web".to_string(),
            NlbBackendSet {
                name: "web".into(),
                policy: "FIVE_TUPLE".into(),
                backends: Vec::new(),
                health_check_port: 8080,
            },
        );
        let nlb = NetworkLoadBalancer {
            id: Ocid::mint(rng, "networkloadbalancer", REGION_SHORT),
            compartment_id: compartment.clone(),
            display_name: "fleet-nlb".into(),
            subnet_id: subnet.clone(),
            ip_address: NLB_ADDRESS,
            time_created: now,
            time_updated: now,
            backend_sets,
            etag: new_etag(),
        };
        let id = nlb.id.clone();
        self.nlbs.push(nlb);
        id
    }

    pub fn get(&self, id: &str) -> Option<&NetworkLoadBalancer> {
        self.nlbs.iter().find(|n| n.id.as_str() == id)
    }

    fn in_flight(&self, nlb: &Ocid) -> bool {
        self.work_requests
            .iter()
            .any(|w| &w.nlb_id == nlb && !w.progress.is_finished())
    }

    /// Applies every due work request, each at its finish time.
    pub fn settle(&mut self, now: SystemTime) {
        work_request::settle(&mut self.work_requests, &mut self.nlbs, now);
    }
}

fn apply(
    nlb: &mut NetworkLoadBalancer,
    change: &NlbChange,
    at: SystemTime,
) -> Result<(), WorkRequestError> {
    let set_name = match change {
        NlbChange::Create { set, .. }
        | NlbChange::Update { set, .. }
        | NlbChange::Delete { set, .. } => set,
    };
    let set = nlb
        .backend_sets
        .get_mut(set_name)
        .ok_or_else(|| missing_set(set_name))?;
    match change {
        NlbChange::Create { backend, .. } => {
            add_backend(&mut set.backends, backend, set_name, at)?;
        }
        NlbChange::Update {
            name,
            weight,
            is_drain,
            is_backup,
            is_offline,
            ..
        } => {
            let b = backend_mut(&mut set.backends, name, set_name)?;
            if let Some(w) = weight {
                b.weight = *w;
            }
            if let Some(v) = is_drain {
                b.is_drain = *v;
            }
            if let Some(v) = is_backup {
                b.is_backup = *v;
            }
            if let Some(v) = is_offline {
                b.is_offline = *v;
            }
        }
        NlbChange::Delete { name, .. } => {
            remove_backend(&mut set.backends, name, set_name)?;
        }
    }
    nlb.etag = new_etag();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// JSON and health

pub fn backend_json(b: &NlbBackend) -> Value {
    json!({
        "name": b.name,
        "ipAddress": b.ip_address,
        "targetId": b.target_id,
        "port": b.port,
        "weight": b.weight,
        "isDrain": b.is_drain,
        "isBackup": b.is_backup,
        "isOffline": b.is_offline,
    })
}

fn backend_set_json(s: &NlbBackendSet) -> Value {
    json!({
        "name": s.name,
        "policy": s.policy,
        "isPreserveSource": true,
        "isFailOpen": false,
        "isInstantFailoverEnabled": false,
        "ipVersion": "IPV4",
        "backends": s.backends.iter().map(backend_json).collect::<Vec<_>>(),
        "healthChecker": {
            "protocol": "HTTP",
            "port": s.health_check_port,
            "urlPath": "/health",
            "returnCode": 200,
            "retries": 3,
            "timeoutInMillis": 3000,
            "intervalInMillis": 10000,
        },
    })
}

fn nlb_json(n: &NetworkLoadBalancer, updating: bool) -> Value {
    let sets: serde_json::Map<String, Value> = n
        .backend_sets
        .iter()
        .map(|(k, s)| (k.clone(), backend_set_json(s)))
        .collect();
    json!({
        "id": n.id,
        "compartmentId": n.compartment_id,
        "displayName": n.display_name,
        "lifecycleState": if updating { "UPDATING" } else { "ACTIVE" },
        "lifecycleDetails": null,
        "nlbIpVersion": "IPV4",
        "timeCreated": rfc3339(n.time_created),
        "timeUpdated": rfc3339(n.time_updated),
        "ipAddresses": [{"ipAddress": n.ip_address.to_string(), "isPublic": false, "ipVersion": "IPV4", "reservedIp": null}],
        "isPrivate": true,
        "isPreserveSourceDestination": false,
        "isSymmetricHashEnabled": false,
        "subnetId": n.subnet_id,
        "networkSecurityGroupIds": [],
        "listeners": {
            "tcp": {
                "name": "tcp",
                "defaultBackendSetName": "web",
                "port": 80,
                "protocol": "TCP",
                "ipVersion": "IPV4",
            }
        },
        "backendSets": sets,
        "freeformTags": {},
        "definedTags": {},
        "systemTags": {},
    })
}

pub fn work_request_json(w: &NlbWorkRequest, now: SystemTime) -> Value {
    let status = w.progress.status(now);
    let started = (status != "ACCEPTED").then(|| rfc3339(w.progress.schedule.started));
    let action = match (&w.progress.outcome, &w.change) {
        (None, _) => "IN_PROGRESS",
        (Some(Err(_)), _) => "RELATED",
        (Some(Ok(())), NlbChange::Create { .. }) => "CREATED",
        (Some(Ok(())), NlbChange::Update { .. }) => "UPDATED",
        (Some(Ok(())), NlbChange::Delete { .. }) => "DELETED",
    };
    json!({
        "id": w.id,
        "operationType": w.change.operation_type(),
        "status": status,
        "compartmentId": w.compartment_id,
        "resources": [{
            "entityType": "NetworkLoadBalancer",
            "actionType": action,
            "identifier": w.nlb_id,
            "entityUri": format!("/networkLoadBalancers/{}", w.nlb_id),
        }],
        "percentComplete": match status { "ACCEPTED" => 0.0, "IN_PROGRESS" => 50.0, _ => 100.0 },
        "timeAccepted": rfc3339(w.progress.schedule.accepted),
        "timeStarted": started,
        "timeFinished": w.progress.outcome.as_ref().map(|_| rfc3339(w.progress.schedule.finishes)),
    })
}

fn nlb_target(world: &World, b: &NlbBackend) -> Target {
    if let Some(t) = &b.target_id {
        return match world.compute.get(t.as_str()) {
            Some(i) if i.is_live() => match i.running_since() {
                Some(since) => Target::RunningSince(since),
                None => Target::NotRunning,
            },
            _ => Target::Nothing,
        };
    }
    b.ip_address
        .as_deref()
        .map_or(Target::Nothing, |ip| target_for_ip(world, ip))
}

pub fn nlb_backend_health(world: &World, b: &NlbBackend, tick: Tick) -> BackendHealth {
    let forced = b.ip_address.as_deref().and_then(|ip| {
        world.health_overrides.lookup_with_image(
            ip,
            b.port,
            super::compute::instance_holding_ip(world, ip).map(|i| i.image_id.as_str()),
        )
    });
    health::backend_health(
        Probe {
            offline: b.is_offline,
            added_at: b.added_at,
            target: nlb_target(world, b),
            forced,
        },
        tick.now,
        timing(world, tick),
    )
}

fn set_health(world: &World, s: &NlbBackendSet, tick: Tick) -> SetHealth {
    let statuses: Vec<(&str, HealthStatus)> = s
        .backends
        .iter()
        .map(|b| (b.name.as_str(), nlb_backend_health(world, b, tick).status))
        .collect();
    health::aggregate(statuses)
}

// ---------------------------------------------------------------------------------------
// Operations

const BACKENDS: &str =
    "/20200501/networkLoadBalancers/{networkLoadBalancerId}/backendSets/{backendSetName}/backends";
const BACKEND: &str = "/20200501/networkLoadBalancers/{networkLoadBalancerId}/backendSets/{backendSetName}/backends/{backendName}";

pub fn operations() -> Vec<Operation> {
    let signed = Access::Signed(SigningRule::Standard);
    vec![
        op(
            "GetNetworkLoadBalancer",
            "nlb",
            Method::GET,
            "/20200501/networkLoadBalancers/{networkLoadBalancerId}",
            signed,
            get_nlb,
        ),
        op(
            "GetBackendSet",
            "nlb",
            Method::GET,
            "/20200501/networkLoadBalancers/{networkLoadBalancerId}/backendSets/{backendSetName}",
            signed,
            get_backend_set,
        ),
        op(
            "GetBackendSetHealth",
            "nlb",
            Method::GET,
            "/20200501/networkLoadBalancers/{networkLoadBalancerId}/backendSets/{backendSetName}/health",
            signed,
            get_backend_set_health,
        ),
        op(
            "ListBackends",
            "nlb",
            Method::GET,
            BACKENDS,
            signed,
            list_backends,
        ),
        op(
            "CreateBackend",
            "nlb",
            Method::POST,
            BACKENDS,
            signed,
            create_backend,
        ),
        op(
            "GetBackend",
            "nlb",
            Method::GET,
            BACKEND,
            signed,
            get_backend,
        ),
        op(
            "UpdateBackend",
            "nlb",
            Method::PUT,
            BACKEND,
            signed,
            update_backend,
        ),
        op(
            "DeleteBackend",
            "nlb",
            Method::DELETE,
            BACKEND,
            signed,
            delete_backend,
        ),
        op(
            "GetBackendHealth",
            "nlb",
            Method::GET,
            "/20200501/networkLoadBalancers/{networkLoadBalancerId}/backendSets/{backendSetName}/backends/{backendName}/health",
            signed,
            get_backend_health,
        ),
        op(
            "GetWorkRequest",
            "nlb",
            Method::GET,
            "/20200501/workRequests/{workRequestId}",
            signed,
            get_work_request,
        ),
        op(
            "ListWorkRequestErrors",
            "nlb",
            Method::GET,
            "/20200501/workRequests/{workRequestId}/errors",
            signed,
            list_work_request_errors,
        ),
    ]
}

fn nlb_of<'w>(world: &'w World, call: &Call<'_>) -> Result<&'w NetworkLoadBalancer, ApiError> {
    let id = call.param("networkLoadBalancerId")?;
    check_tenancy(world, call, "networkLoadBalancer", id)?;
    world
        .nlb
        .get(id)
        .ok_or_else(|| ApiError::not_found("networkLoadBalancer", id))
}

fn set_of<'w>(n: &'w NetworkLoadBalancer, call: &Call<'_>) -> Result<&'w NlbBackendSet, ApiError> {
    let name = call.param("backendSetName")?;
    n.backend_sets
        .get(name)
        .ok_or_else(|| ApiError::not_found("backendSet", name))
}

fn backend_of<'w>(s: &'w NlbBackendSet, call: &Call<'_>) -> Result<&'w NlbBackend, ApiError> {
    let name = call.param("backendName")?;
    s.backends
        .iter()
        .find(|b| b.name == name)
        .ok_or_else(|| ApiError::not_found("backend", name))
}

fn get_nlb(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let (world, _) = ctx.settled();
    let n = nlb_of(&world, call)?;
    if let Some(tag) = call.req.header("if-none-match")
        && tag.trim().trim_matches('"') == n.etag
    {
        return Ok(SimResponse {
            status: StatusCode::NOT_MODIFIED,
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::new(),
        }
        .with_etag(&n.etag));
    }
    Ok(SimResponse::ok_json(&nlb_json(n, world.nlb.in_flight(&n.id))).with_etag(&n.etag))
}

fn get_backend_set(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let (world, _) = ctx.settled();
    let n = nlb_of(&world, call)?;
    Ok(SimResponse::ok_json(&backend_set_json(set_of(n, call)?)).with_etag(&n.etag))
}

fn list_backends(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let req = call.req;
    let by_name = match req.query_param("sortBy").as_deref() {
        None | Some("timeCreated") => false,
        Some("displayName") => true,
        Some(other) => {
            return Err(ApiError::invalid_parameter(format!(
                "sortBy '{other}' is not timeCreated or displayName"
            )));
        }
    };
    let descending = match req.query_param("sortOrder").as_deref() {
        None | Some("ASC") => false,
        Some("DESC") => true,
        Some(other) => {
            return Err(ApiError::invalid_parameter(format!(
                "sortOrder '{other}' is not ASC or DESC"
            )));
        }
    };
    let (world, _) = ctx.settled();
    let n = nlb_of(&world, call)?;
    let mut backends: Vec<&NlbBackend> = set_of(n, call)?.backends.iter().collect();
    if by_name {
        backends.sort_by(|a, b| a.name.cmp(&b.name));
    } else {
        backends.sort_by_key(|b| b.seq);
    }
    if descending {
        backends.reverse();
    }
    let items: Vec<Value> = backends.into_iter().map(backend_json).collect();
    let (page, next) = paginate_with(&items, req, world.settings.page_size())?;
    let resp = SimResponse::ok_json(&json!({ "items": page }));
    Ok(match next {
        Some(p) => resp.with_header("opc-next-page", &p),
        None => resp,
    })
}

fn get_backend(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let (world, _) = ctx.settled();
    let n = nlb_of(&world, call)?;
    let b = backend_of(set_of(n, call)?, call)?;
    Ok(SimResponse::ok_json(&backend_json(b)).with_etag(&n.etag))
}

fn get_backend_health(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let (world, tick) = ctx.settled();
    let n = nlb_of(&world, call)?;
    let b = backend_of(set_of(n, call)?, call)?;
    let h = nlb_backend_health(&world, b, tick);
    let results: Vec<Value> = h
        .results
        .iter()
        .map(|r| json!({"timestamp": rfc3339(tick.now), "healthCheckStatus": r.nlb()}))
        .collect();
    Ok(SimResponse::ok_json(&json!({
        "status": h.status.wire(),
        "healthCheckResults": results,
    })))
}

fn get_backend_set_health(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let (world, tick) = ctx.settled();
    let n = nlb_of(&world, call)?;
    let h = set_health(&world, set_of(n, call)?, tick);
    Ok(SimResponse::ok_json(&json!({
        "status": h.status().wire(),
        "warningStateBackendNames": h.warning,
        "criticalStateBackendNames": h.critical,
        "unknownStateBackendNames": h.unknown,
        "totalBackendCount": h.total,
    }))
    .with_etag(&n.etag))
}

fn find_work_request<'w>(
    world: &'w World,
    call: &Call<'_>,
) -> Result<&'w NlbWorkRequest, ApiError> {
    let id = call.param("workRequestId")?;
    check_tenancy(world, call, "workRequest", id)?;
    world
        .nlb
        .work_requests
        .iter()
        .find(|w| w.id.as_str() == id)
        .ok_or_else(|| ApiError::not_found("workRequest", id))
}

fn get_work_request(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let (world, tick) = ctx.settled();
    let w = find_work_request(&world, call)?;
    let resp = SimResponse::ok_json(&work_request_json(w, tick.now));
    Ok(if !w.progress.is_finished() {
        resp.with_header("retry-after", "1")
    } else {
        resp
    })
}

fn list_work_request_errors(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let (world, _) = ctx.settled();
    let w = find_work_request(&world, call)?;
    let items: Vec<Value> = match &w.progress.outcome {
        Some(Err(e)) => vec![json!({
            "code": "InternalError",
            "message": e.message,
            "timestamp": rfc3339(w.progress.schedule.finishes),
        })],
        _ => Vec::new(),
    };
    Ok(SimResponse::ok_json(&json!({ "items": items })))
}

/// Accepts a mutation of the path's NLB: 409 while another one runs, else 202.
fn accept(
    world: &mut World,
    call: &Call<'_>,
    change: NlbChange,
    tick: Tick,
) -> Result<SimResponse, ApiError> {
    let n = nlb_of(world, call)?;
    if_match(call.req, &n.etag, "networkLoadBalancer", n.id.as_str())?;
    let (nlb_id, compartment) = (n.id.clone(), n.compartment_id.clone());
    if world.nlb.in_flight(&nlb_id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Conflict",
            "Invalid State Transition of NLB lifeCycle state from Updating to Updating",
        ));
    }
    let schedule = Schedule::after(
        None,
        tick,
        world.settings.nlb_work_request_accepted_seconds,
        world.settings.nlb_work_request_seconds,
    );
    let progress = Progress::accept(schedule, &mut world.nlb.fail_next);
    let id = Ocid::mint(&mut world.rng, "nlbworkrequest", REGION_SHORT);
    tracing::info!(work_request = %id, change = %change.describe(), "NLB work request accepted");
    world.nlb.work_requests.push(NlbWorkRequest {
        id: id.clone(),
        nlb_id,
        compartment_id: compartment,
        change,
        progress,
    });
    Ok(SimResponse {
        status: StatusCode::ACCEPTED,
        headers: http::HeaderMap::new(),
        body: bytes::Bytes::new(),
    }
    .with_header("opc-work-request-id", id.as_str()))
}

fn create_backend(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let body = required_object(call.req, "CreateBackendDetails")?;
    let f = Fields::root(&body);
    let port = f.req_int("port", 0..=65_535)? as u16;
    let ip = f.opt_str("ipAddress")?.map(str::to_string);
    if let Some(ip) = &ip {
        ip.parse::<std::net::IpAddr>().map_err(|_| {
            ApiError::invalid_parameter(format!("ipAddress '{ip}' is not an IP address"))
        })?;
    }
    let target = f.opt_str("targetId")?.map(Ocid::from_string);
    if ip.is_none() && target.is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            "CreateBackendDetails needs ipAddress or targetId",
        ));
    }
    let name = f.opt_str("name")?.map(str::to_string);
    let weight = f.opt_int("weight", 1..=16)?.unwrap_or(1) as u32;
    let is_drain = f.opt_bool("isDrain")?.unwrap_or(false);
    let is_backup = f.opt_bool("isBackup")?.unwrap_or(false);
    let is_offline = f.opt_bool("isOffline")?.unwrap_or(false);
    let (mut world, tick) = ctx.settled();
    idempotent(&mut world, call.req, tick.now, |world| {
        let n = nlb_of(world, call)?;
        let set = set_of(n, call)?;
        // A targetId must be an instance; the backend then gets the instance's private IP.
        let resolved_ip = match (&ip, &target) {
            (Some(ip), _) => Some(ip.clone()),
            (None, Some(t)) => {
                let vnic = world
                    .network
                    .vnics
                    .iter()
                    .find(|v| &v.instance_id == t)
                    .filter(|_| world.compute.get(t.as_str()).is_some_and(|i| i.is_live()))
                    .ok_or_else(|| {
                        ApiError::new(
                            StatusCode::BAD_REQUEST,
                            "RelatedResourceNotAuthorizedOrNotFound",
                            format!("targetId {t} is not a live instance"),
                        )
                    })?;
                Some(vnic.private_ip.to_string())
            }
            (None, None) => None,
        };
        // OCI's default name: `ipAddress:port` when an address was given, else `targetId:port`.
        let name = name.clone().unwrap_or_else(|| {
            let host = ip
                .as_deref()
                .or(target.as_ref().map(Ocid::as_str))
                .unwrap_or_default();
            format!("{host}:{port}")
        });
        let ip = resolved_ip;
        let duplicate = set.backends.iter().any(|b| {
            b.name == name
                || (b.port == port
                    && ((ip.is_some() && b.ip_address == ip)
                        || (target.is_some() && b.target_id == target)))
        });
        if duplicate {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "NotAuthorizedOrResourceAlreadyExists",
                format!("Backend {name} already exists in backend set {}", set.name),
            ));
        }
        let set = set.name.clone();
        world.nlb.next_seq += 1;
        let backend = NlbBackend {
            name,
            ip_address: ip,
            target_id: target.clone(),
            port,
            weight,
            is_drain,
            is_backup,
            is_offline,
            added_at: std::time::UNIX_EPOCH,
            seq: world.nlb.next_seq,
        };
        accept(world, call, NlbChange::Create { set, backend }, tick)
    })
}

fn update_backend(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let body = object(call.req)?;
    let f = Fields::root(&body);
    let weight = f.opt_int("weight", 1..=16)?.map(|w| w as u32);
    let is_drain = f.opt_bool("isDrain")?;
    let is_backup = f.opt_bool("isBackup")?;
    let is_offline = f.opt_bool("isOffline")?;
    let (mut world, tick) = ctx.settled();
    idempotent(&mut world, call.req, tick.now, |world| {
        let n = nlb_of(world, call)?;
        let set = set_of(n, call)?;
        let b = backend_of(set, call)?;
        let change = NlbChange::Update {
            set: set.name.clone(),
            name: b.name.clone(),
            weight,
            is_drain,
            is_backup,
            is_offline,
        };
        accept(world, call, change, tick)
    })
}

fn delete_backend(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let (mut world, tick) = ctx.settled();
    let n = nlb_of(&world, call)?;
    let set = set_of(n, call)?;
    let b = backend_of(set, call)?;
    let change = NlbChange::Delete {
        set: set.name.clone(),
        name: b.name.clone(),
    };
    accept(&mut world, call, change, tick)
}
