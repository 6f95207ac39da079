//! Instance metadata service v2 (`/opc/v2`) of the simulated host instance.
//!
//! Every request needs `Authorization: Bearer Oracle` and must not carry `Forwarded` or
//! `X-Forwarded-*` (the server checks both before these handlers run).

use std::sync::MutexGuard;

use http::Method;
use serde_json::json;

use crate::crypto::RsaKey;
use crate::http::router::{Access, Call, Operation, op};
use crate::http::{ApiError, SimResponse, internal};
use crate::state::{Ctx, REALM, REALM_DOMAIN, REGION, REGION_KEY, REGION_SHORT, World};

pub fn operations() -> Vec<Operation> {
    let a = Access::Imds;
    vec![
        op(
            "ImdsGetInstance",
            "imds",
            Method::GET,
            "/opc/v2/instance/",
            a,
            instance,
        ),
        op(
            "ImdsGetInstance",
            "imds",
            Method::GET,
            "/opc/v2/instance",
            a,
            instance,
        ),
        op(
            "ImdsGetInstanceId",
            "imds",
            Method::GET,
            "/opc/v2/instance/id",
            a,
            instance_id,
        ),
        op(
            "ImdsGetRegion",
            "imds",
            Method::GET,
            "/opc/v2/instance/region",
            a,
            region,
        ),
        op(
            "ImdsGetCanonicalRegionName",
            "imds",
            Method::GET,
            "/opc/v2/instance/canonicalRegionName",
            a,
            canonical_region,
        ),
        op(
            "ImdsGetRegionInfo",
            "imds",
            Method::GET,
            "/opc/v2/instance/regionInfo",
            a,
            region_info,
        ),
        op(
            "ImdsGetCertificate",
            "imds",
            Method::GET,
            "/opc/v2/identity/cert.pem",
            a,
            cert,
        ),
        op(
            "ImdsGetKey",
            "imds",
            Method::GET,
            "/opc/v2/identity/key.pem",
            a,
            key,
        ),
        op(
            "ImdsGetIntermediate",
            "imds",
            Method::GET,
            "/opc/v2/identity/intermediate.pem",
            a,
            intermediate,
        ),
    ]
}

fn region_info_json() -> serde_json::Value {
    json!({
        "realmKey": REALM,
        "realmDomainComponent": REALM_DOMAIN,
        "regionKey": REGION_KEY,
        "regionIdentifier": REGION,
    })
}

fn instance(ctx: &Ctx, _call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let world = ctx.world();
    let host_id = world.auth.host.instance_id.clone();
    let i = world
        .compute
        .instances
        .iter()
        .find(|i| i.id.as_str() == host_id)
        .ok_or_else(|| ApiError::not_found("instance", &host_id))?;
    let created_ms = crate::services::compute::unix_millis(i.time_created);
    // IMDS writes the state capitalised: "Running".
    let lower = i.state.wire().to_ascii_lowercase();
    let state = lower
        .get(..1)
        .map(|f| f.to_ascii_uppercase() + &lower[1..])
        .unwrap_or_default();
    let ad_index = i.availability_domain.rsplit('-').next().unwrap_or("1");
    Ok(SimResponse::ok_json(&json!({
        "availabilityDomain": i.availability_domain,
        "faultDomain": i.fault_domain,
        "compartmentId": i.compartment_id,
        "displayName": i.display_name,
        "hostname": i.display_name,
        "id": i.id,
        "image": i.image_id,
        "metadata": i.metadata,
        "region": REGION_SHORT,
        "canonicalRegionName": REGION,
        "ociAdName": format!("{REGION_SHORT}-ad-{ad_index}"),
        "regionInfo": region_info_json(),
        "shape": i.shape,
        "shapeConfig": i.shape_config,
        "state": state,
        "timeCreated": created_ms,
        "freeformTags": i.freeform_tags,
        "definedTags": {},
    })))
}

fn instance_id(ctx: &Ctx, _call: &Call<'_>) -> Result<SimResponse, ApiError> {
    Ok(SimResponse::text(ctx.world().auth.host.instance_id.clone()))
}

fn region(_ctx: &Ctx, _call: &Call<'_>) -> Result<SimResponse, ApiError> {
    Ok(SimResponse::text(REGION_SHORT))
}

fn canonical_region(_ctx: &Ctx, _call: &Call<'_>) -> Result<SimResponse, ApiError> {
    Ok(SimResponse::text(REGION))
}

fn region_info(_ctx: &Ctx, _call: &Call<'_>) -> Result<SimResponse, ApiError> {
    Ok(SimResponse::ok_json(&region_info_json()))
}

/// The world, with the host's leaf certificate renewed first if it is about to expire on the
/// simulated clock (see [`super::auth_service::LEAF_RENEW_BEFORE`]): IMDS never hands out a
/// dead certificate.
fn with_current_leaf(ctx: &Ctx) -> Result<MutexGuard<'_, World>, ApiError> {
    let now = ctx.clock.now();
    if !ctx.world().auth.leaf_needs_renewal(now) {
        return Ok(ctx.world());
    }
    // Generate the key outside the lock; another request may renew first.
    let key = RsaKey::generate().map_err(internal)?;
    let mut world = ctx.world();
    if world.auth.leaf_needs_renewal(now) {
        world
            .auth
            .rotate_instance_cert(key, now)
            .map_err(internal)?;
        tracing::info!("IMDS renewed the host's instance certificate");
    }
    Ok(world)
}

fn cert(ctx: &Ctx, _call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let world = with_current_leaf(ctx)?;
    Ok(SimResponse::text(world.auth.instance_leaf.pem()))
}

fn key(ctx: &Ctx, _call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let world = with_current_leaf(ctx)?;
    Ok(SimResponse::text(
        world.auth.instance_leaf.key.private_pkcs8_pem(),
    ))
}

fn intermediate(ctx: &Ctx, _call: &Call<'_>) -> Result<SimResponse, ApiError> {
    Ok(SimResponse::text(ctx.world().auth.ca.intermediate.pem()))
}
