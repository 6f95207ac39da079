//! Identity (`/20160918`): users, the tenancy, regions, availability domains, compartments.

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::check_tenancy;
use crate::auth::SigningRule;
use crate::http::router::{Access, Call, Operation, op};
use crate::http::{ApiError, SimResponse, list_response, paginate_with};
use crate::ocid::Ocid;
use crate::state::{Ctx, REGION, REGION_KEY};

/// Regions the simulated realm knows (`ListRegions`).
pub const REGIONS: &[(&str, &str)] = &[
    ("IAD", "us-ashburn-1"),
    ("PHX", "us-phoenix-1"),
    ("ORD", "us-chicago-1"),
    ("SJC", "us-sanjose-1"),
    ("YYZ", "ca-toronto-1"),
    ("GRU", "sa-saopaulo-1"),
    ("FRA", "eu-frankfurt-1"),
    ("AMS", "eu-amsterdam-1"),
    ("LHR", "uk-london-1"),
    ("NRT", "ap-tokyo-1"),
    ("SYD", "ap-sydney-1"),
    ("SIN", "ap-singapore-1"),
];

type Tags = BTreeMap<String, Value>;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenancy {
    pub id: Ocid,
    pub name: String,
    pub description: String,
    pub home_region_key: String,
    pub upi_idcs_compatibility_layer_endpoint: Option<String>,
    pub freeform_tags: BTreeMap<String, String>,
    pub defined_tags: BTreeMap<String, Tags>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: Ocid,
    pub compartment_id: Ocid,
    pub name: String,
    pub description: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub time_created: String,
    pub lifecycle_state: String,
    pub is_mfa_activated: bool,
    pub freeform_tags: BTreeMap<String, String>,
    pub defined_tags: BTreeMap<String, Tags>,
    #[serde(skip)]
    pub etag: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Compartment {
    pub id: Ocid,
    pub compartment_id: Ocid,
    pub name: String,
    pub description: String,
    pub time_created: String,
    pub lifecycle_state: String,
    pub is_accessible: bool,
    pub freeform_tags: BTreeMap<String, String>,
    pub defined_tags: BTreeMap<String, Tags>,
    #[serde(skip)]
    pub etag: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilityDomain {
    pub name: String,
    pub id: Ocid,
    pub compartment_id: Ocid,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionSubscription {
    pub region_key: String,
    pub region_name: String,
    pub status: String,
    pub is_home_region: bool,
}

/// Identity's part of the world.
#[derive(Debug)]
pub struct IdentityState {
    pub tenancy: Tenancy,
    pub users: Vec<User>,
    pub compartments: Vec<Compartment>,
    pub availability_domains: Vec<AvailabilityDomain>,
    pub subscriptions: Vec<RegionSubscription>,
}

/// The ids seeding created.
#[derive(Debug, Clone)]
pub struct SeededIdentity {
    pub tenancy: Ocid,
    pub user: Ocid,
    pub compartment: Ocid,
    /// `sandbox`, an empty second compartment.
    pub sandbox: Ocid,
}

pub fn new_etag() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl IdentityState {
    pub fn seed(rng: &mut fastrand::Rng, now: &str) -> (Self, SeededIdentity) {
        let tenancy_id = Ocid::mint(rng, "tenancy", "");
        let user_id = Ocid::mint(rng, "user", "");
        let compartment_id = Ocid::mint(rng, "compartment", "");
        let sandbox_id = Ocid::mint(rng, "compartment", "");
        // The tenancy-specific AD prefix OCI shows (e.g. `Uocm:US-ASHBURN-AD-1`).
        let ads = (1..=3)
            .map(|n| AvailabilityDomain {
                name: format!("Uocm:US-ASHBURN-AD-{n}"),
                id: Ocid::mint(rng, "availabilitydomain", "iad"),
                compartment_id: tenancy_id.clone(),
            })
            .collect();
        let state = Self {
            tenancy: Tenancy {
                id: tenancy_id.clone(),
                name: "oci-sim".into(),
                description: "The simulated tenancy of oci-sim".into(),
                home_region_key: REGION_KEY.into(),
                upi_idcs_compatibility_layer_endpoint: None,
                freeform_tags: BTreeMap::new(),
                defined_tags: BTreeMap::new(),
            },
            users: vec![User {
                id: user_id.clone(),
                compartment_id: tenancy_id.clone(),
                name: "sim-user".into(),
                description: "The API-key user of oci-sim's DEFAULT profile".into(),
                email: Some("sim-user@example.com".into()),
                email_verified: true,
                time_created: now.into(),
                lifecycle_state: "ACTIVE".into(),
                is_mfa_activated: false,
                freeform_tags: BTreeMap::new(),
                defined_tags: BTreeMap::new(),
                etag: new_etag(),
            }],
            compartments: vec![
                compartment(
                    compartment_id.clone(),
                    &tenancy_id,
                    "fleet-demo",
                    "Where the demo fleet runs",
                    now,
                ),
                compartment(
                    sandbox_id.clone(),
                    &tenancy_id,
                    "sandbox",
                    "An empty second compartment",
                    now,
                ),
            ],
            availability_domains: ads,
            subscriptions: vec![
                RegionSubscription {
                    region_key: REGION_KEY.into(),
                    region_name: REGION.into(),
                    status: "READY".into(),
                    is_home_region: true,
                },
                RegionSubscription {
                    region_key: "PHX".into(),
                    region_name: "us-phoenix-1".into(),
                    status: "READY".into(),
                    is_home_region: false,
                },
            ],
        };
        (
            state,
            SeededIdentity {
                tenancy: tenancy_id,
                user: user_id,
                compartment: compartment_id,
                sandbox: sandbox_id,
            },
        )
    }

    /// Whether `id` is the tenancy (root compartment) or one of its compartments.
    pub fn compartment_exists(&self, id: &str) -> bool {
        self.tenancy.id.as_str() == id || self.compartments.iter().any(|c| c.id.as_str() == id)
    }
}

fn compartment(id: Ocid, parent: &Ocid, name: &str, description: &str, now: &str) -> Compartment {
    Compartment {
        id,
        compartment_id: parent.clone(),
        name: name.into(),
        description: description.into(),
        time_created: now.into(),
        lifecycle_state: "ACTIVE".into(),
        is_accessible: true,
        freeform_tags: BTreeMap::new(),
        defined_tags: BTreeMap::new(),
        etag: new_etag(),
    }
}

pub fn operations() -> Vec<Operation> {
    let signed = Access::Signed(SigningRule::Standard);
    vec![
        op(
            "GetUser",
            "identity",
            Method::GET,
            "/20160918/users/{userId}",
            signed,
            get_user,
        ),
        op(
            "UpdateUser",
            "identity",
            Method::PUT,
            "/20160918/users/{userId}",
            signed,
            update_user,
        ),
        op(
            "GetTenancy",
            "identity",
            Method::GET,
            "/20160918/tenancies/{tenancyId}",
            signed,
            get_tenancy,
        ),
        op(
            "ListRegions",
            "identity",
            Method::GET,
            "/20160918/regions",
            signed,
            list_regions,
        ),
        op(
            "ListRegionSubscriptions",
            "identity",
            Method::GET,
            "/20160918/tenancies/{tenancyId}/regionSubscriptions",
            signed,
            list_region_subscriptions,
        ),
        op(
            "ListAvailabilityDomains",
            "identity",
            Method::GET,
            "/20160918/availabilityDomains",
            signed,
            list_availability_domains,
        ),
        op(
            "GetCompartment",
            "identity",
            Method::GET,
            "/20160918/compartments/{compartmentId}",
            signed,
            get_compartment,
        ),
        op(
            "ListCompartments",
            "identity",
            Method::GET,
            "/20160918/compartments",
            signed,
            list_compartments,
        ),
    ]
}

fn get_user(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let id = call.param("userId")?;
    let world = ctx.world();
    let s = &world.identity;
    check_tenancy(&world, call, "user", id)?;
    let user = s
        .users
        .iter()
        .find(|u| u.id.as_str() == id)
        .ok_or_else(|| ApiError::not_found("user", id))?;
    Ok(SimResponse::ok_json(user).with_etag(&user.etag))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateUserDetails {
    description: Option<String>,
    email: Option<String>,
    #[serde(default)]
    db_user_name: Option<String>,
    freeform_tags: Option<BTreeMap<String, String>>,
    defined_tags: Option<BTreeMap<String, Tags>>,
}

fn update_user(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let id = call.param("userId")?;
    let details: UpdateUserDetails = call.req.json()?;
    let _ = details.db_user_name;
    let if_match = call.req.header("if-match").map(str::to_string);
    let mut world = ctx.world();
    check_tenancy(&world, call, "user", id)?;
    let s = &mut world.identity;
    let user = s
        .users
        .iter_mut()
        .find(|u| u.id.as_str() == id)
        .ok_or_else(|| ApiError::not_found("user", id))?;
    if let Some(m) = if_match
        && m.trim_matches('"') != user.etag
    {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "NoEtagMatch",
            format!("The If-Match etag {m} does not match the current etag of user {id}"),
        ));
    }
    if let Some(d) = details.description {
        user.description = d;
    }
    if let Some(e) = details.email {
        user.email = Some(e);
    }
    if let Some(t) = details.freeform_tags {
        user.freeform_tags = t;
    }
    if let Some(t) = details.defined_tags {
        user.defined_tags = t;
    }
    user.etag = new_etag();
    Ok(SimResponse::ok_json(user).with_etag(&user.etag))
}

fn get_tenancy(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let id = call.param("tenancyId")?;
    let world = ctx.world();
    let s = &world.identity;
    check_tenancy(&world, call, "tenancy", id)?;
    if s.tenancy.id.as_str() != id {
        return Err(ApiError::not_found("tenancy", id));
    }
    Ok(SimResponse::ok_json(&s.tenancy).with_etag(&format!("tenancy-{}", s.tenancy.id)))
}

fn list_regions(_ctx: &Ctx, _call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let regions: Vec<Value> = REGIONS
        .iter()
        .map(|(key, name)| serde_json::json!({"key": key, "name": name}))
        .collect();
    Ok(SimResponse::ok_json(&regions))
}

fn list_region_subscriptions(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let id = call.param("tenancyId")?;
    let world = ctx.world();
    let s = &world.identity;
    check_tenancy(&world, call, "tenancy", id)?;
    if s.tenancy.id.as_str() != id {
        return Err(ApiError::not_found("tenancy", id));
    }
    Ok(SimResponse::ok_json(&s.subscriptions))
}

fn list_availability_domains(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let compartment = call.req.required_query("compartmentId")?;
    let world = ctx.world();
    let s = &world.identity;
    check_tenancy(&world, call, "compartment", &compartment)?;
    if !s.compartment_exists(&compartment) {
        return Err(ApiError::not_found("compartment", &compartment));
    }
    Ok(SimResponse::ok_json(&s.availability_domains))
}

fn get_compartment(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let id = call.param("compartmentId")?;
    let world = ctx.world();
    let s = &world.identity;
    check_tenancy(&world, call, "compartment", id)?;
    if let Some(c) = s.compartments.iter().find(|c| c.id.as_str() == id) {
        return Ok(SimResponse::ok_json(c).with_etag(&c.etag));
    }
    if s.tenancy.id.as_str() == id {
        // The tenancy is the root compartment.
        let root = serde_json::json!({
            "id": s.tenancy.id,
            "compartmentId": Value::Null,
            "name": s.tenancy.name,
            "description": s.tenancy.description,
            "timeCreated": s.users.first().map(|u| u.time_created.clone()),
            "lifecycleState": "ACTIVE",
            "isAccessible": true,
            "freeformTags": {},
            "definedTags": {},
        });
        return Ok(SimResponse::ok_json(&root).with_etag(&format!("root-{}", s.tenancy.id)));
    }
    Err(ApiError::not_found("compartment", id))
}

fn list_compartments(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let parent = call.req.required_query("compartmentId")?;
    let world = ctx.world();
    let s = &world.identity;
    check_tenancy(&world, call, "compartment", &parent)?;
    if !s.compartment_exists(&parent) {
        return Err(ApiError::not_found("compartment", &parent));
    }
    let children: Vec<Compartment> = s
        .compartments
        .iter()
        .filter(|c| c.compartment_id.as_str() == parent)
        .cloned()
        .collect();
    let (page, next) = paginate_with(&children, call.req, world.settings.page_size())?;
    Ok(list_response(&page, next))
}
