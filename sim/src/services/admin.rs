//! The simulator's own admin surface (`/_sim`): request log, faults, time, token lifetime and
//! credential rotation. Not OCI's; unauthenticated; documented in `sim/README.md`.

use std::time::Duration;

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::clock::rfc3339;
use crate::crypto::RsaKey;
use crate::faults::FaultSpec;
use crate::http::router::{Access, Call, Operation, op};
use crate::http::{ApiError, SimResponse, internal};
use crate::state::Ctx;

pub fn operations() -> Vec<Operation> {
    let o = Access::Open;
    vec![
        op(
            "SimListRequests",
            "admin",
            Method::GET,
            "/_sim/requests",
            o,
            list_requests,
        ),
        op(
            "SimClearRequests",
            "admin",
            Method::DELETE,
            "/_sim/requests",
            o,
            clear_requests,
        ),
        op(
            "SimAddFault",
            "admin",
            Method::POST,
            "/_sim/faults",
            o,
            add_fault,
        ),
        op(
            "SimGetHealthHistory",
            "admin",
            Method::GET,
            "/_sim/health-history",
            o,
            get_health_history,
        ),
        op(
            "SimSetHealthHistory",
            "admin",
            Method::PUT,
            "/_sim/health-history",
            o,
            set_health_history,
        ),
        op(
            "SimClearHealthHistory",
            "admin",
            Method::DELETE,
            "/_sim/health-history",
            o,
            clear_health_history,
        ),
        op(
            "SimListFaults",
            "admin",
            Method::GET,
            "/_sim/faults",
            o,
            list_faults,
        ),
        op(
            "SimClearFaults",
            "admin",
            Method::DELETE,
            "/_sim/faults",
            o,
            clear_faults,
        ),
        op(
            "SimDeleteFault",
            "admin",
            Method::DELETE,
            "/_sim/faults/{faultId}",
            o,
            delete_fault,
        ),
        op(
            "SimGetTimeScale",
            "admin",
            Method::GET,
            "/_sim/time-scale",
            o,
            get_time_scale,
        ),
        op(
            "SimSetTimeScale",
            "admin",
            Method::PUT,
            "/_sim/time-scale",
            o,
            set_time_scale,
        ),
        op(
            "SimGetTime",
            "admin",
            Method::GET,
            "/_sim/time",
            o,
            get_time,
        ),
        op(
            "SimAdvanceTime",
            "admin",
            Method::POST,
            "/_sim/time/advance",
            o,
            advance_time,
        ),
        op(
            "SimGetTokens",
            "admin",
            Method::GET,
            "/_sim/tokens",
            o,
            get_tokens,
        ),
        op(
            "SimSetTokens",
            "admin",
            Method::PUT,
            "/_sim/tokens",
            o,
            set_tokens,
        ),
        op(
            "SimRotateInstanceCert",
            "admin",
            Method::POST,
            "/_sim/rotate/instance-cert",
            o,
            rotate_instance_cert,
        ),
        op(
            "SimRotateResourcePrincipal",
            "admin",
            Method::POST,
            "/_sim/rotate/resource-principal",
            o,
            rotate_resource_principal,
        ),
        op(
            "SimListOperations",
            "admin",
            Method::GET,
            "/_sim/operations",
            o,
            list_operations,
        ),
        op(
            "SimGetSeed",
            "admin",
            Method::GET,
            "/_sim/seed",
            o,
            get_seed,
        ),
    ]
}

fn list_requests(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    Ok(SimResponse::ok_json(&ctx.log().entries()))
}

fn clear_requests(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    ctx.log().clear();
    Ok(SimResponse::no_content())
}

fn add_fault(ctx: &Ctx, c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let spec: FaultSpec = c.req.json()?;
    let registry = &ctx.registry;
    let fault = ctx
        .faults()
        .add(spec, |name| {
            registry.by_name(name).is_some_and(|o| !o.is_admin())
        })
        .map_err(ApiError::invalid_parameter)?;
    Ok(SimResponse::json(StatusCode::CREATED, &fault))
}

fn list_faults(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    Ok(SimResponse::ok_json(&ctx.faults().list()))
}

fn clear_faults(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    ctx.faults().clear();
    Ok(SimResponse::no_content())
}

fn health_history_json(world: &crate::state::World) -> serde_json::Value {
    json!({
        "enabled": world.health_history.enabled,
        "samples": world.health_history.samples(),
    })
}

/// `GET /_sim/health-history`: whether it records, and the samples up to now.
fn get_health_history(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let (world, _) = ctx.settled();
    Ok(SimResponse::ok_json(&health_history_json(&world)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthHistoryBody {
    enabled: bool,
}

/// `PUT /_sim/health-history {"enabled": bool}`: starts (with a first sample now) or stops
/// recording; the samples so far are kept.
fn set_health_history(ctx: &Ctx, c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let body: HealthHistoryBody = c.req.json()?;
    let (mut world, tick) = ctx.settled();
    world.health_history.enabled = body.enabled;
    crate::services::health_history::sample(&mut world, tick);
    Ok(SimResponse::ok_json(&health_history_json(&world)))
}

/// `DELETE /_sim/health-history`: forgets the samples (recording stays as it was).
fn clear_health_history(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    ctx.world().health_history.clear();
    Ok(SimResponse::no_content())
}

fn delete_fault(ctx: &Ctx, c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let id = c.param("faultId")?;
    if ctx.faults().remove(id) {
        Ok(SimResponse::no_content())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no fault with id {id}"),
        ))
    }
}

fn get_time_scale(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    Ok(SimResponse::ok_json(
        &json!({"timeScale": ctx.clock.time_scale()}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TimeScaleBody {
    time_scale: f64,
}

fn set_time_scale(ctx: &Ctx, c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let body: TimeScaleBody = c.req.json()?;
    ctx.clock
        .set_time_scale(body.time_scale)
        .map_err(|e| ApiError::invalid_parameter(e.to_string()))?;
    get_time_scale(ctx, c)
}

fn time_json(ctx: &Ctx) -> serde_json::Value {
    json!({
        "now": rfc3339(ctx.clock.now()),
        "offsetSeconds": ctx.clock.offset().as_secs_f64(),
        "timeScale": ctx.clock.time_scale(),
    })
}

fn get_time(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    Ok(SimResponse::ok_json(&time_json(ctx)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    seconds: f64,
}

fn advance_time(ctx: &Ctx, c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let body: AdvanceBody = c.req.json()?;
    ctx.clock
        .advance_secs(body.seconds)
        .map_err(|e| ApiError::invalid_parameter(e.to_string()))?;
    Ok(SimResponse::ok_json(&time_json(ctx)))
}

fn get_tokens(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let secs = ctx.world().auth.token_lifetime.as_secs();
    Ok(SimResponse::ok_json(&json!({"lifetimeSeconds": secs})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokensBody {
    lifetime_seconds: u64,
}

fn set_tokens(ctx: &Ctx, c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let body: TokensBody = c.req.json()?;
    if body.lifetime_seconds == 0 || body.lifetime_seconds > 7 * 24 * 3600 {
        return Err(ApiError::invalid_parameter(format!(
            "lifetimeSeconds must be from 1 to 604800, got {}",
            body.lifetime_seconds
        )));
    }
    ctx.world().auth.token_lifetime = Duration::from_secs(body.lifetime_seconds);
    get_tokens(ctx, c)
}

fn rotate_instance_cert(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let key = RsaKey::generate().map_err(internal)?;
    let now = ctx.clock.now();
    let mut world = ctx.world();
    world
        .auth
        .rotate_instance_cert(key, now)
        .map_err(internal)?;
    let leaf = &world.auth.instance_leaf;
    Ok(SimResponse::ok_json(&json!({
        "sha1Fingerprint": leaf.sha1_fingerprint(),
        "sha256Fingerprint": leaf.sha256_fingerprint(),
    })))
}

fn rotate_resource_principal(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let key = RsaKey::generate().map_err(internal)?;
    let now = ctx.clock.now_unix();
    let mut world = ctx.world();
    world
        .auth
        .rotate_resource_principal(key, now)
        .map_err(internal)?;
    ctx.files
        .write_resource_principal(&world.auth.rp)
        .map_err(internal)?;
    Ok(SimResponse::ok_json(&json!({
        "rpst": ctx.files.rpst,
        "privatePem": ctx.files.rp_key,
    })))
}

fn list_operations(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    let ops: Vec<serde_json::Value> = ctx
        .registry
        .operations()
        .iter()
        .map(|o| json!({"name": o.name, "service": o.service, "method": o.method.as_str(), "path": o.path}))
        .collect();
    Ok(SimResponse::ok_json(&ops))
}

fn get_seed(ctx: &Ctx, _c: &Call<'_>) -> Result<SimResponse, ApiError> {
    Ok(SimResponse::ok_json(&ctx.seeded))
}
