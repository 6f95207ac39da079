//! Classic Load Balancer (`/20170115`): load balancers, backend sets, backends, health and
//! the LB's own work requests.
//!
//! Every backend mutation answers 204 with `opc-work-request-id` and changes nothing yet: the
//! change applies when its work request SUCCEEDS. Work requests of one load balancer run one
//! at a time in arrival order (see [`super::work_request`]). A duplicate `ip:port` FAILS its
//! work request with `BAD_INPUT` instead of failing the HTTP call. `/_sim/lb/fail-next` makes
//! the next N work requests FAIL with `INTERNAL_ERROR`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::SystemTime;

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::health::{self, BackendHealth, HealthStatus, Probe, SetHealth, Target, Timing};
use super::identity::new_etag;
use super::retry::idempotent;
use super::settings::{Tick, scaled};
use super::work_request::{
    self, Progress, Resource, Schedule, WorkRequest, WorkRequestError, add_backend, backend_mut,
    missing_set, remove_backend,
};
use super::{check_tenancy, if_match};
use crate::auth::SigningRule;
use crate::clock::rfc3339;
use crate::http::body::{Fields, required_object};
use crate::http::router::{Access, Call, Operation, op};
use crate::http::{ApiError, SimResponse, list_response, paginate_with};
use crate::ocid::Ocid;
use crate::state::{Ctx, REGION_SHORT, World};

/// The addresses the seeded LB uses in the first subnet (reserved from instance allocation).
pub const LB_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 250);
pub const LB_PROBE_PRIMARY: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 251);
pub const LB_PROBE_STANDBY: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 252);

#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    pub name: String,
    pub ip_address: String,
    pub port: u16,
    pub weight: u32,
    pub backup: bool,
    pub drain: bool,
    pub offline: bool,
    pub max_connections: Option<u32>,
    /// When the backend was added (its first health check follows).
    pub added_at: SystemTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HealthChecker {
    pub protocol: String,
    pub port: u16,
    pub url_path: String,
    pub return_code: u16,
    pub retries: u32,
    pub timeout_in_millis: u32,
    pub interval_in_millis: u32,
}

#[derive(Debug, Clone)]
pub struct BackendSet {
    pub name: String,
    pub policy: String,
    pub backends: Vec<Backend>,
    pub health_checker: HealthChecker,
}

#[derive(Debug, Clone)]
pub struct Listener {
    pub name: String,
    pub default_backend_set_name: String,
    pub port: u16,
    pub protocol: String,
}

#[derive(Debug, Clone)]
pub struct LoadBalancer {
    pub id: Ocid,
    pub compartment_id: Ocid,
    pub display_name: String,
    pub shape_name: String,
    pub is_private: bool,
    pub subnet_ids: Vec<Ocid>,
    pub ip_address: Ipv4Addr,
    pub time_created: SystemTime,
    pub backend_sets: BTreeMap<String, BackendSet>,
    pub listeners: BTreeMap<String, Listener>,
    /// The whole load balancer's etag: changes whenever a work request changes it.
    pub etag: String,
}

/// What a work request will do.
#[derive(Debug, Clone, PartialEq)]
pub enum LbChange {
    CreateBackend {
        set: String,
        backend: Backend,
    },
    UpdateBackend {
        set: String,
        name: String,
        weight: u32,
        backup: bool,
        drain: bool,
        offline: bool,
        max_connections: Option<u32>,
    },
    DeleteBackend {
        set: String,
        name: String,
    },
    /// UpdateBackendSet: the whole backend list (and policy, health checker) replaced in one
    /// work request. A backend already in the set keeps its health history; a new one gets
    /// its first health check as if created.
    UpdateBackendSet {
        set: String,
        policy: String,
        backends: Vec<Backend>,
        health_checker: HealthChecker,
        /// What the new list changes, against the set when the update was accepted:
        /// `("add" | "drain" | "undrain" | "remove" | "update", backend)`. Shown in the
        /// simulator's world (`/_sim/world`), so tests can tell which backends a batched
        /// update added, drained or removed.
        diff: Vec<(&'static str, String)>,
    },
}

/// What replacing `old` by `new` changes, backend by backend.
fn backend_diff(old: &[Backend], new: &[Backend]) -> Vec<(&'static str, String)> {
    let mut diff = Vec::new();
    for b in new {
        match old.iter().find(|o| o.name == b.name) {
            None => diff.push(("add", b.name.clone())),
            Some(o) if o.drain != b.drain => {
                diff.push((if b.drain { "drain" } else { "undrain" }, b.name.clone()));
            }
            Some(o)
                if (o.weight, o.backup, o.offline, o.max_connections)
                    != (b.weight, b.backup, b.offline, b.max_connections) =>
            {
                diff.push(("update", b.name.clone()));
            }
            Some(_) => {}
        }
    }
    for o in old {
        if !new.iter().any(|b| b.name == o.name) {
            diff.push(("remove", o.name.clone()));
        }
    }
    diff
}

impl LbChange {
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::CreateBackend { .. } => "CreateBackend",
            Self::UpdateBackend { .. } => "UpdateBackend",
            Self::DeleteBackend { .. } => "DeleteBackend",
            Self::UpdateBackendSet { .. } => "UpdateBackendSet",
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::CreateBackend { set, backend } => {
                format!("CreateBackend {} in backend set {set}", backend.name)
            }
            Self::UpdateBackend { set, name, .. } => {
                format!("UpdateBackend {name} in backend set {set}")
            }
            Self::DeleteBackend { set, name } => {
                format!("DeleteBackend {name} in backend set {set}")
            }
            Self::UpdateBackendSet {
                set,
                backends,
                diff,
                ..
            } => {
                let changes: Vec<String> = diff.iter().map(|(w, b)| format!("{w} {b}")).collect();
                format!(
                    "UpdateBackendSet {set} ({} backends: {})",
                    backends.len(),
                    if changes.is_empty() {
                        "no change".to_string()
                    } else {
                        changes.join(", ")
                    }
                )
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct LbWorkRequest {
    pub id: Ocid,
    /// The `opc-request-id` of the call that queued it (the simulator's world shows it, so
    /// tests can match a request of the log to its work request).
    pub opc_request_id: String,
    pub load_balancer_id: Ocid,
    pub compartment_id: Ocid,
    pub change: LbChange,
    pub progress: Progress,
}

impl WorkRequest for LbWorkRequest {
    type Resource = LoadBalancer;
    const RESOURCE: &'static str = "load balancer";
    const FAIL_NEXT: &'static str = "/_sim/lb/fail-next";

    fn id(&self) -> &Ocid {
        &self.id
    }
    fn resource_id(&self) -> &Ocid {
        &self.load_balancer_id
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
    fn apply(&self, lb: &mut LoadBalancer, at: SystemTime) -> Result<(), WorkRequestError> {
        apply(lb, &self.change, at)
    }
}

impl Resource for LoadBalancer {
    fn id(&self) -> &Ocid {
        &self.id
    }
}

impl work_request::Backend for Backend {
    fn name(&self) -> &str {
        &self.name
    }
    fn set_added_at(&mut self, at: SystemTime) {
        self.added_at = at;
    }
}

/// The classic LB's part of the world.
#[derive(Debug, Default)]
pub struct LoadBalancerState {
    pub load_balancers: Vec<LoadBalancer>,
    pub work_requests: Vec<LbWorkRequest>,
    /// How many of the next work requests will FAIL (`/_sim/lb/fail-next`).
    pub fail_next: u32,
}

fn seeded_checker() -> HealthChecker {
    HealthChecker {
        protocol: "HTTP".into(),
        port: 8080,
        url_path: "/health".into(),
        return_code: 200,
        retries: 3,
        timeout_in_millis: 3000,
        interval_in_millis: 10_000,
    }
}

impl LoadBalancerState {
    /// Seeds one ACTIVE load balancer (HTTP listener on port 80) with the empty backend set
    /// `web` (ROUND_ROBIN, health checker HTTP on port 8080); returns its id.
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
            BackendSet {
                name: "web".into(),
                policy: "ROUND_ROBIN".into(),
                backends: Vec::new(),
                health_checker: seeded_checker(),
            },
        );
        let mut listeners = BTreeMap::new();
        listeners.insert(
            "http".to_string(),
            Listener {
                name: "http".into(),
                default_backend_set_name: "web".into(),
                port: 80,
                protocol: "HTTP".into(),
            },
        );
        let lb = LoadBalancer {
            id: Ocid::mint(rng, "loadbalancer", REGION_SHORT),
            compartment_id: compartment.clone(),
            display_name: "fleet-lb".into(),
            shape_name: "flexible".into(),
            is_private: true,
            subnet_ids: vec![subnet.clone()],
            ip_address: LB_ADDRESS,
            time_created: now,
            backend_sets,
            listeners,
            etag: new_etag(),
        };
        let id = lb.id.clone();
        self.load_balancers.push(lb);
        id
    }

    pub fn get(&self, id: &str) -> Option<&LoadBalancer> {
        self.load_balancers.iter().find(|l| l.id.as_str() == id)
    }

    /// Applies every work request that is due, in arrival order, each at its finish time.
    pub fn settle(&mut self, now: SystemTime) {
        work_request::settle(&mut self.work_requests, &mut self.load_balancers, now);
    }

    fn queue_free(&self, lb: &Ocid) -> Option<SystemTime> {
        self.work_requests
            .iter()
            .filter(|w| &w.load_balancer_id == lb)
            .map(|w| w.progress.schedule.finishes)
            .max()
    }
}

fn apply(lb: &mut LoadBalancer, change: &LbChange, at: SystemTime) -> Result<(), WorkRequestError> {
    let set_name = match change {
        LbChange::CreateBackend { set, .. }
        | LbChange::UpdateBackend { set, .. }
        | LbChange::DeleteBackend { set, .. }
        | LbChange::UpdateBackendSet { set, .. } => set,
    };
    let set = lb
        .backend_sets
        .get_mut(set_name)
        .ok_or_else(|| missing_set(set_name))?;
    match change {
        LbChange::CreateBackend { backend, .. } => {
            add_backend(&mut set.backends, backend, set_name, at)?;
        }
        LbChange::UpdateBackend {
            name,
            weight,
            backup,
            drain,
            offline,
            max_connections,
            ..
        } => {
            let b = backend_mut(&mut set.backends, name, set_name)?;
            b.weight = *weight;
            b.backup = *backup;
            b.drain = *drain;
            b.offline = *offline;
            if max_connections.is_some() {
                b.max_connections = *max_connections;
            }
        }
        LbChange::DeleteBackend { name, .. } => {
            remove_backend(&mut set.backends, name, set_name)?;
        }
        LbChange::UpdateBackendSet {
            policy,
            backends,
            health_checker,
            ..
        } => {
            let mut next: Vec<Backend> = Vec::with_capacity(backends.len());
            for b in backends {
                if next.iter().any(|n| n.name == b.name) {
                    return Err(WorkRequestError::bad_input(format!(
                        "Backend {} is listed twice for backend set {set_name}",
                        b.name
                    )));
                }
                let mut kept = b.clone();
                kept.added_at = set
                    .backends
                    .iter()
                    .find(|old| old.name == b.name)
                    .map_or(at, |old| old.added_at);
                next.push(kept);
            }
            set.backends = next;
            set.policy = policy.clone();
            set.health_checker = health_checker.clone();
        }
    }
    lb.etag = new_etag();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// JSON

pub fn backend_json(b: &Backend) -> Value {
    json!({
        "name": b.name,
        "ipAddress": b.ip_address,
        "port": b.port,
        "weight": b.weight,
        "backup": b.backup,
        "drain": b.drain,
        "offline": b.offline,
        "maxConnections": b.max_connections,
    })
}

fn backend_set_json(s: &BackendSet) -> Value {
    let hc = &s.health_checker;
    json!({
        "name": s.name,
        "policy": s.policy,
        "backends": s.backends.iter().map(backend_json).collect::<Vec<_>>(),
        "backendMaxConnections": null,
        "healthChecker": {
            "protocol": hc.protocol,
            "port": hc.port,
            "urlPath": hc.url_path,
            "returnCode": hc.return_code,
            "retries": hc.retries,
            "timeoutInMillis": hc.timeout_in_millis,
            "intervalInMillis": hc.interval_in_millis,
            "responseBodyRegex": "",
            "isForcePlainText": false,
        },
        "sslConfiguration": null,
        "sessionPersistenceConfiguration": null,
        "lbCookieSessionPersistenceConfiguration": null,
    })
}

fn load_balancer_json(lb: &LoadBalancer) -> Value {
    let sets: serde_json::Map<String, Value> = lb
        .backend_sets
        .iter()
        .map(|(k, s)| (k.clone(), backend_set_json(s)))
        .collect();
    let listeners: serde_json::Map<String, Value> = lb
        .listeners
        .iter()
        .map(|(k, l)| {
            (
                k.clone(),
                json!({
                    "name": l.name,
                    "defaultBackendSetName": l.default_backend_set_name,
                    "port": l.port,
                    "protocol": l.protocol,
                    "hostnameNames": [],
                    "pathRouteSetName": null,
                    "sslConfiguration": null,
                    "connectionConfiguration": {"idleTimeout": 60, "backendTcpProxyProtocolVersion": null},
                    "ruleSetNames": [],
                    "routingPolicyName": null,
                }),
            )
        })
        .collect();
    json!({
        "id": lb.id,
        "compartmentId": lb.compartment_id,
        "displayName": lb.display_name,
        "lifecycleState": "ACTIVE",
        "timeCreated": rfc3339(lb.time_created),
        "ipAddresses": [{"ipAddress": lb.ip_address.to_string(), "isPublic": !lb.is_private, "reservedIp": null}],
        "shapeName": lb.shape_name,
        "shapeDetails": {"minimumBandwidthInMbps": 10, "maximumBandwidthInMbps": 100},
        "isPrivate": lb.is_private,
        "isDeleteProtectionEnabled": false,
        "isRequestIdEnabled": false,
        "subnetIds": lb.subnet_ids,
        "networkSecurityGroupIds": [],
        "listeners": listeners,
        "hostnames": {},
        "sslCipherSuites": {},
        "certificates": {},
        "backendSets": sets,
        "pathRouteSets": {},
        "freeformTags": {},
        "definedTags": {},
        "systemTags": {},
        "ruleSets": {},
        "routingPolicies": {},
        "ipMode": "IPV4",
    })
}

pub fn work_request_json(w: &LbWorkRequest, now: SystemTime) -> Value {
    let state = w.progress.status(now);
    let errors: Vec<Value> = match &w.progress.outcome {
        Some(Err(e)) => vec![json!({"errorCode": e.error_code, "message": e.message})],
        _ => Vec::new(),
    };
    let message = match &w.progress.outcome {
        Some(Ok(())) => format!("{} succeeded", w.change.describe()),
        Some(Err(e)) => format!("{} failed: {}", w.change.describe(), e.message),
        None if state == "ACCEPTED" => format!("{} is queued", w.change.describe()),
        None => format!("{} is in progress", w.change.describe()),
    };
    json!({
        "id": w.id,
        "loadBalancerId": w.load_balancer_id,
        "type": w.change.type_name(),
        "compartmentId": w.compartment_id,
        "lifecycleState": state,
        "message": message,
        "timeAccepted": rfc3339(w.progress.schedule.accepted),
        "timeFinished": w.progress.outcome.as_ref().map(|_| rfc3339(w.progress.schedule.finishes)),
        "errorDetails": errors,
    })
}

// ---------------------------------------------------------------------------------------
// Health

/// Health timing at the current scale.
pub fn timing(world: &World, tick: Tick) -> Timing {
    Timing {
        first_check_after: scaled(world.settings.first_health_check_seconds, tick.scale),
        healthy_after: scaled(world.settings.backend_healthy_after_seconds, tick.scale),
    }
}

/// What an address leads to: a RUNNING instance (since when), another live one, or nothing.
pub fn target_for_ip(world: &World, ip: &str) -> Target {
    match super::compute::instance_holding_ip(world, ip) {
        Some(i) => match i.running_since() {
            Some(t) => Target::RunningSince(t),
            None => Target::NotRunning,
        },
        None => Target::Nothing,
    }
}

pub fn classic_backend_health(world: &World, b: &Backend, tick: Tick) -> BackendHealth {
    health::backend_health(
        Probe {
            offline: b.offline,
            added_at: b.added_at,
            target: target_for_ip(world, &b.ip_address),
            forced: world.health_overrides.lookup_with_image(
                &b.ip_address,
                b.port,
                super::compute::instance_holding_ip(world, &b.ip_address)
                    .map(|i| i.image_id.as_str()),
            ),
        },
        tick.now,
        timing(world, tick),
    )
}

fn set_health(world: &World, s: &BackendSet, tick: Tick) -> SetHealth {
    let statuses: Vec<(&str, HealthStatus)> = s
        .backends
        .iter()
        .map(|b| {
            (
                b.name.as_str(),
                classic_backend_health(world, b, tick).status,
            )
        })
        .collect();
    health::aggregate(statuses)
}

fn set_health_json(h: &SetHealth) -> Value {
    json!({
        "status": h.status().wire(),
        "warningStateBackendNames": h.warning,
        "criticalStateBackendNames": h.critical,
        "unknownStateBackendNames": h.unknown,
        "totalBackendCount": h.total,
    })
}

// ---------------------------------------------------------------------------------------
// Operations

pub fn operations() -> Vec<Operation> {
    let signed = Access::Signed(SigningRule::Standard);
    const LB: &str = "/20170115/loadBalancers/{loadBalancerId}";
    vec![
        op(
            "ListLoadBalancers",
            "lb",
            Method::GET,
            "/20170115/loadBalancers",
            signed,
            list_load_balancers,
        ),
        op(
            "GetLoadBalancer",
            "lb",
            Method::GET,
            LB,
            signed,
            get_load_balancer,
        ),
        op(
            "GetLoadBalancerHealth",
            "lb",
            Method::GET,
            "/20170115/loadBalancers/{loadBalancerId}/health",
            signed,
            get_load_balancer_health,
        ),
        op(
            "GetBackendSet",
            "lb",
            Method::GET,
            "/20170115/loadBalancers/{loadBalancerId}/backendSets/{backendSetName}",
            signed,
            get_backend_set,
        ),
        op(
            "UpdateBackendSet",
            "lb",
            Method::PUT,
            "/20170115/loadBalancers/{loadBalancerId}/backendSets/{backendSetName}",
            signed,
            update_backend_set,
        ),
        op(
            "GetBackendSetHealth",
            "lb",
            Method::GET,
            "/20170115/loadBalancers/{loadBalancerId}/backendSets/{backendSetName}/health",
            signed,
            get_backend_set_health,
        ),
        op(
            "ListBackends",
            "lb",
            Method::GET,
            "/20170115/loadBalancers/{loadBalancerId}/backendSets/{backendSetName}/backends",
            signed,
            list_backends,
        ),
        op(
            "CreateBackend",
            "lb",
            Method::POST,
            "/20170115/loadBalancers/{loadBalancerId}/backendSets/{backendSetName}/backends",
            signed,
            create_backend,
        ),
        op(
            "GetBackend",
            "lb",
            Method::GET,
            "/20170115/loadBalancers/{loadBalancerId}/backendSets/{backendSetName}/backends/{backendName}",
            signed,
            get_backend,
        ),
        op(
            "UpdateBackend",
            "lb",
            Method::PUT,
            "/20170115/loadBalancers/{loadBalancerId}/backendSets/{backendSetName}/backends/{backendName}",
            signed,
            update_backend,
        ),
        op(
            "DeleteBackend",
            "lb",
            Method::DELETE,
            "/20170115/loadBalancers/{loadBalancerId}/backendSets/{backendSetName}/backends/{backendName}",
            signed,
            delete_backend,
        ),
        op(
            "GetBackendHealth",
            "lb",
            Method::GET,
            "/20170115/loadBalancers/{loadBalancerId}/backendSets/{backendSetName}/backends/{backendName}/health",
            signed,
            get_backend_health,
        ),
        op(
            "GetWorkRequest",
            "lb",
            Method::GET,
            "/20170115/loadBalancerWorkRequests/{workRequestId}",
            signed,
            get_work_request,
        ),
        op(
            "ListWorkRequests",
            "lb",
            Method::GET,
            "/20170115/loadBalancers/{loadBalancerId}/workRequests",
            signed,
            list_work_requests,
        ),
    ]
}

/// The load balancer of the path, after the tenancy and `if-match` checks.
fn lb_of<'w>(world: &'w World, call: &Call<'_>) -> Result<&'w LoadBalancer, ApiError> {
    let id = call.param("loadBalancerId")?;
    check_tenancy(world, call, "loadBalancer", id)?;
    let lb = world
        .load_balancer
        .get(id)
        .ok_or_else(|| ApiError::not_found("loadBalancer", id))?;
    if_match(call.req, &lb.etag, "loadBalancer", id)?;
    Ok(lb)
}

fn set_of<'w>(lb: &'w LoadBalancer, call: &Call<'_>) -> Result<&'w BackendSet, ApiError> {
    let name = call.param("backendSetName")?;
    lb.backend_sets
        .get(name)
        .ok_or_else(|| ApiError::not_found("backendSet", name))
}

fn backend_of<'w>(set: &'w BackendSet, call: &Call<'_>) -> Result<&'w Backend, ApiError> {
    let name = call.param("backendName")?;
    set.backends
        .iter()
        .find(|b| b.name == name)
        .ok_or_else(|| ApiError::not_found("backend", name))
}

fn list_load_balancers(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let compartment = call.req.required_query("compartmentId")?;
    let (world, _) = ctx.settled();
    check_tenancy(&world, call, "compartment", &compartment)?;
    let items: Vec<Value> = world
        .load_balancer
        .load_balancers
        .iter()
        .filter(|l| l.compartment_id.as_str() == compartment)
        .map(load_balancer_json)
        .collect();
    let (page, next) = paginate_with(&items, call.req, world.settings.page_size())?;
    Ok(list_response(&page, next))
}

fn get_load_balancer(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let (world, _) = ctx.settled();
    let lb = lb_of(&world, call)?;
    Ok(SimResponse::ok_json(&load_balancer_json(lb)).with_etag(&lb.etag))
}

fn get_backend_set(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let (world, _) = ctx.settled();
    let lb = lb_of(&world, call)?;
    let set = set_of(lb, call)?;
    Ok(SimResponse::ok_json(&backend_set_json(set)).with_etag(&lb.etag))
}

fn list_backends(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let (world, _) = ctx.settled();
    let lb = lb_of(&world, call)?;
    let set = set_of(lb, call)?;
    let items: Vec<Value> = set.backends.iter().map(backend_json).collect();
    Ok(SimResponse::ok_json(&items).with_etag(&lb.etag))
}

fn get_backend(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let (world, _) = ctx.settled();
    let lb = lb_of(&world, call)?;
    let b = backend_of(set_of(lb, call)?, call)?;
    Ok(SimResponse::ok_json(&backend_json(b)).with_etag(&lb.etag))
}

fn get_backend_health(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let (world, tick) = ctx.settled();
    let lb = lb_of(&world, call)?;
    let set = set_of(lb, call)?;
    let b = backend_of(set, call)?;
    let h = classic_backend_health(&world, b, tick);
    let subnet = lb.subnet_ids.first().map(Ocid::as_str).unwrap_or_default();
    let results: Vec<Value> = h
        .results
        .iter()
        .zip([LB_PROBE_PRIMARY, LB_PROBE_STANDBY])
        .map(|(r, source)| {
            json!({
                "subnetId": subnet,
                "sourceIpAddress": source.to_string(),
                "timestamp": rfc3339(tick.now),
                "healthCheckStatus": r.classic(),
            })
        })
        .collect();
    Ok(SimResponse::ok_json(&json!({
        "status": h.status.wire(),
        "healthCheckResults": results,
    }))
    .with_etag(&lb.etag))
}

fn get_backend_set_health(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let (world, tick) = ctx.settled();
    let lb = lb_of(&world, call)?;
    let set = set_of(lb, call)?;
    Ok(SimResponse::ok_json(&set_health_json(&set_health(&world, set, tick))).with_etag(&lb.etag))
}

fn get_load_balancer_health(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let (world, tick) = ctx.settled();
    let lb = lb_of(&world, call)?;
    let statuses: Vec<(&str, HealthStatus)> = lb
        .backend_sets
        .values()
        .map(|s| (s.name.as_str(), set_health(&world, s, tick).status()))
        .collect();
    let h = health::aggregate_sets(statuses);
    Ok(SimResponse::ok_json(&json!({
        "status": h.status().wire(),
        "warningStateBackendSetNames": h.warning,
        "criticalStateBackendSetNames": h.critical,
        "unknownStateBackendSetNames": h.unknown,
        "totalBackendSetCount": h.total,
    }))
    .with_etag(&lb.etag))
}

fn get_work_request(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let id = call.param("workRequestId")?;
    let (world, tick) = ctx.settled();
    check_tenancy(&world, call, "workRequest", id)?;
    let w = world
        .load_balancer
        .work_requests
        .iter()
        .find(|w| w.id.as_str() == id)
        .ok_or_else(|| ApiError::not_found("workRequest", id))?;
    Ok(SimResponse::ok_json(&work_request_json(w, tick.now)))
}

fn list_work_requests(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let (world, tick) = ctx.settled();
    let lb = lb_of(&world, call)?;
    let items: Vec<Value> = world
        .load_balancer
        .work_requests
        .iter()
        .filter(|w| w.load_balancer_id == lb.id)
        .map(|w| work_request_json(w, tick.now))
        .collect();
    let (page, next) = paginate_with(&items, call.req, world.settings.page_size())?;
    Ok(list_response(&page, next))
}

/// Queues a work request for the path's load balancer: 204 + `opc-work-request-id`.
fn accept(
    world: &mut World,
    call: &Call<'_>,
    change: LbChange,
    tick: Tick,
) -> Result<SimResponse, ApiError> {
    let lb = lb_of(world, call)?;
    let (lb_id, compartment) = (lb.id.clone(), lb.compartment_id.clone());
    if world.settings.lb_reject_concurrent_mutations
        && world
            .load_balancer
            .work_requests
            .iter()
            .any(|w| w.load_balancer_id == lb_id && !w.progress.is_finished())
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Load balancer {lb_id} has a work request in progress; retry when it has finished"
            ),
        ));
    }
    let schedule = Schedule::after(
        world.load_balancer.queue_free(&lb_id),
        tick,
        world.settings.lb_work_request_accepted_seconds,
        world.settings.lb_work_request_seconds,
    );
    let progress = Progress::accept(schedule, &mut world.load_balancer.fail_next);
    let id = Ocid::mint(&mut world.rng, "loadbalancerworkrequest", REGION_SHORT);
    tracing::info!(work_request = %id, change = %change.describe(), "LB work request accepted");
    world.load_balancer.work_requests.push(LbWorkRequest {
        id: id.clone(),
        opc_request_id: call.req.request_id.clone(),
        load_balancer_id: lb_id,
        compartment_id: compartment,
        change,
        progress,
    });
    Ok(SimResponse::no_content().with_header("opc-work-request-id", id.as_str()))
}

/// Whether a backend exists now or a queued work request will create it.
fn exists_or_pending(world: &World, lb: &Ocid, set: &str, name: &str) -> bool {
    let exists = world
        .load_balancer
        .get(lb.as_str())
        .and_then(|l| l.backend_sets.get(set))
        .is_some_and(|s| s.backends.iter().any(|b| b.name == name));
    exists
        || world.load_balancer.work_requests.iter().any(|w| {
            &w.load_balancer_id == lb
                && !w.progress.is_finished()
                && match &w.change {
                    LbChange::CreateBackend { set: s, backend } => s == set && backend.name == name,
                    LbChange::UpdateBackendSet {
                        set: s, backends, ..
                    } => s == set && backends.iter().any(|b| b.name == name),
                    _ => false,
                }
        })
}

fn create_backend(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let body = required_object(call.req, "CreateBackendDetails")?;
    let f = Fields::root(&body);
    let ip = f.req_str("ipAddress")?;
    ip.parse::<std::net::IpAddr>().map_err(|_| {
        ApiError::invalid_parameter(format!("ipAddress '{ip}' is not an IP address"))
    })?;
    let port = f.req_int("port", 1..=65_535)? as u16;
    let weight = f.opt_int("weight", 1..=100)?.unwrap_or(1) as u32;
    let max_connections = parse_max_connections(&f)?;
    let backend = Backend {
        name: format!("{ip}:{port}"),
        ip_address: ip.to_string(),
        port,
        weight,
        backup: f.opt_bool("backup")?.unwrap_or(false),
        drain: f.opt_bool("drain")?.unwrap_or(false),
        offline: f.opt_bool("offline")?.unwrap_or(false),
        max_connections,
        added_at: std::time::UNIX_EPOCH,
    };
    let (mut world, tick) = ctx.settled();
    idempotent(&mut world, call.req, tick.now, |world| {
        let lb = lb_of(world, call)?;
        let set = set_of(lb, call)?.name.clone();
        accept(world, call, LbChange::CreateBackend { set, backend }, tick)
    })
}

fn parse_max_connections(f: &Fields<'_>) -> Result<Option<u32>, ApiError> {
    match f.opt_int("maxConnections", 0..=65_535)? {
        None | Some(0) => Ok(None),
        Some(n) if n >= 256 => Ok(Some(n as u32)),
        Some(n) => Err(ApiError::invalid_parameter(format!(
            "maxConnections must be 0 (unlimited) or from 256 to 65535, got {n}"
        ))),
    }
}

fn update_backend(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let body = required_object(call.req, "UpdateBackendDetails")?;
    let f = Fields::root(&body);
    // A full replacement, not a patch: all four are required.
    let weight = f.req_int("weight", 1..=100)? as u32;
    let backup = f.req_bool("backup")?;
    let drain = f.req_bool("drain")?;
    let offline = f.req_bool("offline")?;
    let max_connections = parse_max_connections(&f)?;
    let (mut world, tick) = ctx.settled();
    idempotent(&mut world, call.req, tick.now, |world| {
        let lb = lb_of(world, call)?;
        let lb_id = lb.id.clone();
        let set = set_of(lb, call)?.name.clone();
        let name = call.param("backendName")?.to_string();
        if !exists_or_pending(world, &lb_id, &set, &name) {
            return Err(ApiError::not_found("backend", &name));
        }
        let change = LbChange::UpdateBackend {
            set,
            name,
            weight,
            backup,
            drain,
            offline,
            max_connections,
        };
        accept(world, call, change, tick)
    })
}

fn delete_backend(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let (mut world, tick) = ctx.settled();
    let lb = lb_of(&world, call)?;
    let lb_id = lb.id.clone();
    let set = set_of(lb, call)?.name.clone();
    let name = call.param("backendName")?.to_string();
    if !exists_or_pending(&world, &lb_id, &set, &name) {
        return Err(ApiError::not_found("backend", &name));
    }
    accept(
        &mut world,
        call,
        LbChange::DeleteBackend { set, name },
        tick,
    )
}

/// A backend of UpdateBackendSetDetails.backends (BackendDetails).
fn backend_details(v: &Value, at: usize) -> Result<Backend, ApiError> {
    let Value::Object(map) = v else {
        return Err(ApiError::invalid_parameter(format!(
            "backends[{at}] must be an object"
        )));
    };
    let f = Fields::root(map);
    let ip = f.req_str("ipAddress")?;
    ip.parse::<std::net::IpAddr>().map_err(|_| {
        ApiError::invalid_parameter(format!(
            "backends[{at}].ipAddress '{ip}' is not an IP address"
        ))
    })?;
    let port = f.req_int("port", 1..=65_535)? as u16;
    Ok(Backend {
        name: format!("{ip}:{port}"),
        ip_address: ip.to_string(),
        port,
        weight: f.opt_int("weight", 1..=100)?.unwrap_or(1) as u32,
        backup: f.opt_bool("backup")?.unwrap_or(false),
        drain: f.opt_bool("drain")?.unwrap_or(false),
        offline: f.opt_bool("offline")?.unwrap_or(false),
        max_connections: parse_max_connections(&f)?,
        added_at: std::time::UNIX_EPOCH,
    })
}

/// UpdateBackendSet: `policy`, `backends` and `healthChecker` are required (a full
/// replacement of the set's configuration); one work request applies the whole list.
fn update_backend_set(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let body = required_object(call.req, "UpdateBackendSetDetails")?;
    let f = Fields::root(&body);
    let policy = f.req_str("policy")?.to_string();
    let missing = |name: &str| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "MissingParameter",
            format!("Missing required parameter '{name}'"),
        )
    };
    let mut path = String::new();
    let hc = f
        .opt_object("healthChecker", &mut path)?
        .ok_or_else(|| missing("healthChecker"))?;
    let health_checker = HealthChecker {
        protocol: hc.req_str("protocol")?.to_string(),
        port: hc.opt_int("port", 0..=65_535)?.unwrap_or(0) as u16,
        url_path: hc.opt_str("urlPath")?.unwrap_or("/").to_string(),
        return_code: hc.opt_int("returnCode", 100..=599)?.unwrap_or(200) as u16,
        retries: hc.opt_int("retries", 0..=10)?.unwrap_or(3) as u32,
        timeout_in_millis: hc.opt_int("timeoutInMillis", 1..=600_000)?.unwrap_or(3000) as u32,
        interval_in_millis: hc
            .opt_int("intervalInMillis", 1..=1_800_000)?
            .unwrap_or(10_000) as u32,
    };
    let backends = match f.value("backends") {
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(at, v)| backend_details(v, at))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(ApiError::invalid_parameter("backends must be an array")),
        None => return Err(missing("backends")),
    };
    let (mut world, tick) = ctx.settled();
    idempotent(&mut world, call.req, tick.now, |world| {
        let lb = lb_of(world, call)?;
        let current = set_of(lb, call)?;
        let diff = backend_diff(&current.backends, &backends);
        let change = LbChange::UpdateBackendSet {
            set: current.name.clone(),
            policy,
            backends,
            health_checker,
            diff,
        };
        accept(world, call, change, tick)
    })
}
