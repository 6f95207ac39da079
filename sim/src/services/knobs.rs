//! The admin surface for the cloud services (`/_sim`, not OCI's, unauthenticated): settings
//! (lifecycle durations, page sizes, work-request and health timing), capacity and limits,
//! forced work-request failures, backend health overrides, and a read-only dump of the world.

use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::health::{HealthStatus, Overrides};
use super::settings::{CapacityRule, LimitRule, Tick};
use super::{compute, load_balancer, nlb};
use crate::clock::rfc3339;
use crate::http::router::{Access, Call, Operation, op};
use crate::http::{ApiError, SimResponse};
use crate::state::{Ctx, World};

pub fn operations() -> Vec<Operation> {
    let o = Access::Open;
    vec![
        op(
            "SimGetSettings",
            "admin",
            Method::GET,
            "/_sim/settings",
            o,
            get_settings,
        ),
        op(
            "SimUpdateSettings",
            "admin",
            Method::PUT,
            "/_sim/settings",
            o,
            update_settings,
        ),
        op(
            "SimGetCapacity",
            "admin",
            Method::GET,
            "/_sim/capacity",
            o,
            get_capacity,
        ),
        op(
            "SimSetCapacity",
            "admin",
            Method::PUT,
            "/_sim/capacity",
            o,
            set_capacity,
        ),
        op(
            "SimClearCapacity",
            "admin",
            Method::DELETE,
            "/_sim/capacity",
            o,
            clear_capacity,
        ),
        op(
            "SimGetLimits",
            "admin",
            Method::GET,
            "/_sim/limits",
            o,
            get_limits,
        ),
        op(
            "SimSetLimit",
            "admin",
            Method::PUT,
            "/_sim/limits",
            o,
            set_limit,
        ),
        op(
            "SimClearLimits",
            "admin",
            Method::DELETE,
            "/_sim/limits",
            o,
            clear_limits,
        ),
        op(
            "SimLbFailNext",
            "admin",
            Method::POST,
            "/_sim/lb/fail-next",
            o,
            lb_fail_next,
        ),
        op(
            "SimNlbFailNext",
            "admin",
            Method::POST,
            "/_sim/nlb/fail-next",
            o,
            nlb_fail_next,
        ),
        op(
            "SimGetHealthOverrides",
            "admin",
            Method::GET,
            "/_sim/health-overrides",
            o,
            get_overrides,
        ),
        op(
            "SimSetHealthOverride",
            "admin",
            Method::PUT,
            "/_sim/health-overrides",
            o,
            set_override,
        ),
        op(
            "SimAddImage",
            "admin",
            Method::POST,
            "/_sim/images",
            o,
            add_image,
        ),
        op(
            "SimSetImageHealthOverride",
            "admin",
            Method::PUT,
            "/_sim/health-overrides/images",
            o,
            set_image_override,
        ),
        op(
            "SimClearHealthOverrides",
            "admin",
            Method::DELETE,
            "/_sim/health-overrides",
            o,
            clear_overrides,
        ),
        op(
            "SimGetWorld",
            "admin",
            Method::GET,
            "/_sim/world",
            o,
            get_world,
        ),
    ]
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::invalid_parameter(e.to_string())
}

fn get_settings(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    Ok(SimResponse::ok_json(&ctx.world().settings))
}

fn update_settings(ctx: &Ctx, c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let patch: Value = c.req.json()?;
    // Settle first: work already under way keeps the timing it was accepted with.
    let (mut world, _) = ctx.settled();
    world.settings.merge(&patch).map_err(bad)?;
    Ok(SimResponse::ok_json(&world.settings))
}

fn get_capacity(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    Ok(SimResponse::ok_json(&ctx.world().capacity))
}

fn set_capacity(ctx: &Ctx, c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let rule: CapacityRule = c.req.json()?;
    rule.validate().map_err(bad)?;
    let mut world = ctx.world();
    world.capacity.retain(|r| !r.same_key(&rule));
    world.capacity.push(rule);
    Ok(SimResponse::ok_json(&world.capacity))
}

fn clear_capacity(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    ctx.world().capacity.clear();
    Ok(SimResponse::no_content())
}

fn get_limits(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    Ok(SimResponse::ok_json(&ctx.world().limits))
}

fn set_limit(ctx: &Ctx, c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let rule: LimitRule = c.req.json()?;
    let mut world = ctx.world();
    world.limits.retain(|r| !r.same_key(&rule));
    world.limits.push(rule);
    Ok(SimResponse::ok_json(&world.limits))
}

fn clear_limits(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    ctx.world().limits.clear();
    Ok(SimResponse::no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FailNext {
    count: u32,
}

fn lb_fail_next(ctx: &Ctx, c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let body: FailNext = c.req.json()?;
    let mut world = ctx.world();
    world.load_balancer.fail_next = body.count;
    Ok(SimResponse::ok_json(&json!({"pending": body.count})))
}

fn nlb_fail_next(ctx: &Ctx, c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let body: FailNext = c.req.json()?;
    let mut world = ctx.world();
    world.nlb.fail_next = body.count;
    Ok(SimResponse::ok_json(&json!({"pending": body.count})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OverrideBody {
    ip_address: String,
    #[serde(default)]
    port: Option<u16>,
    /// `null` removes the override.
    status: Option<HealthStatus>,
}

fn get_overrides(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    Ok(SimResponse::ok_json(&ctx.world().health_overrides.by_key))
}

fn set_override(ctx: &Ctx, c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let body: OverrideBody = c.req.json()?;
    body.ip_address.parse::<std::net::IpAddr>().map_err(|_| {
        bad(format!(
            "ipAddress '{}' is not an IP address",
            body.ip_address
        ))
    })?;
    let key = Overrides::key(&body.ip_address, body.port);
    let mut world = ctx.world();
    match body.status {
        Some(s) => {
            world.health_overrides.by_key.insert(key, s);
        }
        None => {
            world.health_overrides.by_key.remove(&key);
        }
    }
    Ok(SimResponse::ok_json(&world.health_overrides.by_key))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddImageBody {
    #[serde(default)]
    display_name: Option<String>,
}

/// Adds an image (a new build to roll out); answers `{"id": ...}`.
fn add_image(ctx: &Ctx, c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let body: AddImageBody = c.req.json()?;
    let mut world = ctx.world();
    let now = rfc3339(std::time::SystemTime::now());
    let w = &mut *world;
    let id = w.compute.seed_image(&mut w.rng, &now);
    if let (Some(name), Some(image)) = (body.display_name, w.compute.images.last_mut()) {
        image.display_name = name;
    }
    Ok(SimResponse::ok_json(&json!({ "id": id })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ImageOverrideBody {
    image_id: String,
    /// `null` removes the override.
    status: Option<HealthStatus>,
}

/// Forces the health of every backend an instance of `imageId` holds (a bad image).
fn set_image_override(ctx: &Ctx, c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let body: ImageOverrideBody = c.req.json()?;
    if !body.image_id.starts_with("ocid1.image.") {
        return Err(bad(format!(
            "imageId '{}' is not an image OCID",
            body.image_id
        )));
    }
    let mut world = ctx.world();
    match body.status {
        Some(s) => {
            world.health_overrides.by_image.insert(body.image_id, s);
        }
        None => {
            world.health_overrides.by_image.remove(&body.image_id);
        }
    }
    Ok(SimResponse::ok_json(&world.health_overrides.by_image))
}

fn clear_overrides(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let mut world = ctx.world();
    world.health_overrides.by_key.clear();
    world.health_overrides.by_image.clear();
    Ok(SimResponse::no_content())
}

fn get_world(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let (world, tick) = ctx.settled();
    Ok(SimResponse::ok_json(&world_json(&world, tick)).with_header("cache-control", "no-store"))
}

/// The read-only dump behind `GET /_sim/world` (tests and the dashboard demo).
pub fn world_json(world: &World, tick: Tick) -> Value {
    let instances: Vec<Value> = world
        .compute
        .instances
        .iter()
        .filter(|i| i.visible(tick, &world.settings))
        .map(|i| {
            let vnic = world.network.vnics.iter().find(|v| v.instance_id == i.id);
            json!({
                "id": i.id,
                "displayName": i.display_name,
                "lifecycleState": i.state.wire(),
                "imageId": i.image_id,
                "shape": i.shape,
                "ocpus": i.shape_config.ocpus,
                "compartmentId": i.compartment_id,
                "availabilityDomain": i.availability_domain,
                "faultDomain": i.fault_domain,
                "subnetId": vnic.map(|v| &v.subnet_id),
                "privateIp": vnic.map(|v| v.private_ip.to_string()),
                "publicIp": vnic.and_then(|v| v.public_ip).map(|ip| ip.to_string()),
                "freeformTags": i.freeform_tags,
                "timeCreated": rfc3339(i.time_created),
                "timeStateEntered": rfc3339(i.entered),
                "etag": i.etag,
            })
        })
        .collect();
    let lbs: Vec<Value> = world
        .load_balancer
        .load_balancers
        .iter()
        .map(|lb| {
            let sets: Vec<Value> = lb
                .backend_sets
                .values()
                .map(|s| {
                    let backends: Vec<Value> = s
                        .backends
                        .iter()
                        .map(|b| {
                            let mut v = load_balancer::backend_json(b);
                            v["health"] = json!(
                                load_balancer::classic_backend_health(world, b, tick)
                                    .status
                                    .wire()
                            );
                            v
                        })
                        .collect();
                    json!({"name": s.name, "policy": s.policy, "backends": backends})
                })
                .collect();
            json!({"id": lb.id, "displayName": lb.display_name, "etag": lb.etag, "backendSets": sets})
        })
        .collect();
    let nlbs: Vec<Value> = world
        .nlb
        .nlbs
        .iter()
        .map(|n| {
            let sets: Vec<Value> = n
                .backend_sets
                .values()
                .map(|s| {
                    let backends: Vec<Value> = s
                        .backends
                        .iter()
                        .map(|b| {
                            let mut v = nlb::backend_json(b);
                            v["health"] =
                                json!(nlb::nlb_backend_health(world, b, tick).status.wire());
                            v
                        })
                        .collect();
                    json!({"name": s.name, "policy": s.policy, "backends": backends})
                })
                .collect();
            json!({"id": n.id, "displayName": n.display_name, "etag": n.etag, "backendSets": sets})
        })
        .collect();
    let mut work_requests: Vec<Value> = world
        .load_balancer
        .work_requests
        .iter()
        .map(|w| {
            let mut v = load_balancer::work_request_json(w, tick.now);
            v["service"] = json!("lb");
            v["opcRequestId"] = json!(w.opc_request_id);
            if let load_balancer::LbChange::UpdateBackendSet { diff, .. } = &w.change {
                v["changes"] = diff
                    .iter()
                    .map(|(what, backend)| json!({"change": what, "backend": backend}))
                    .collect();
            }
            v
        })
        .collect();
    work_requests.extend(world.nlb.work_requests.iter().map(|w| {
        let mut v = nlb::work_request_json(w, tick.now);
        v["service"] = json!("nlb");
        v["loadBalancerId"] = json!(w.nlb_id);
        v
    }));
    let buckets: Vec<Value> = world
        .object_storage
        .buckets
        .values()
        .map(|b| {
            let objects: Vec<Value> = b
                .objects
                .iter()
                .map(|(name, o)| {
                    json!({
                        "name": name,
                        "size": o.data.len(),
                        "etag": o.etag,
                        "timeModified": rfc3339(o.time_modified),
                    })
                })
                .collect();
            json!({"namespace": world.object_storage.namespace, "name": b.name, "objects": objects})
        })
        .collect();
    json!({
        "now": rfc3339(tick.now),
        "timeScale": tick.scale,
        "instances": instances,
        "loadBalancers": lbs,
        "networkLoadBalancers": nlbs,
        "workRequests": work_requests,
        "buckets": buckets,
        "capacity": world.capacity,
        "limits": world.limits,
        "healthOverrides": world.health_overrides.by_key,
        "imageHealthOverrides": world.health_overrides.by_image,
        "settings": world.settings,
        "rememberedRetryTokens": world.retry_tokens.len(),
        "shapes": compute::SHAPES.iter().map(|s| s.name).collect::<Vec<_>>(),
    })
}
