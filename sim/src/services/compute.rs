//! Compute (`/20160918`): images and instances. LaunchInstance, GetInstance, ListInstances,
//! TerminateInstance, InstanceAction, GetImage.
//!
//! Lifecycles are computed lazily: an instance stores its state, when it entered it and when
//! the state's duration runs out; [`ComputeState::settle`] applies the elapsed transitions (in
//! order, each at its own deadline) before any request reads the world. Transitions go through
//! [`lifecycle::next`].

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::identity::new_etag;
use super::lifecycle::{self, Event, InstanceState, Outcome};
use super::network::{NewVnic, vnic_ip_in_use};
use super::retry::idempotent;
use super::settings::{ServiceSettings, Tick};
use super::{check_tenancy, if_match};
use crate::auth::SigningRule;
use crate::clock::rfc3339;
use crate::http::body::{Fields, object};
use crate::http::router::{Access, Call, Operation, op};
use crate::http::{ApiError, SimResponse, list_response, paginate_with};
use crate::ocid::Ocid;
use crate::state::{Ctx, REGION_SHORT, World};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    pub id: Ocid,
    pub compartment_id: Option<Ocid>,
    pub display_name: String,
    pub operating_system: String,
    pub operating_system_version: String,
    pub lifecycle_state: String,
    pub time_created: String,
    #[serde(rename = "sizeInMBs")]
    pub size_in_mbs: u64,
    pub base_image_id: Option<Ocid>,
    pub create_image_allowed: bool,
}

/// `Instance.shapeConfig` (also what IMDS shows).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShapeConfig {
    pub ocpus: f64,
    #[serde(rename = "memoryInGBs")]
    pub memory_in_gbs: f64,
    pub vcpus: u32,
    pub processor_description: String,
    pub networking_bandwidth_in_gbps: f64,
    pub max_vnic_attachments: u32,
    pub gpus: u32,
    pub local_disks: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_ocpu_utilization: Option<String>,
}

/// A shape the simulator knows.
#[derive(Debug, Clone, Copy)]
pub struct ShapeSpec {
    pub name: &'static str,
    pub flex: bool,
    /// Fixed shapes: their OCPUs and memory; flex shapes: the allowed OCPU range.
    pub ocpus: (f64, f64),
    /// Memory per OCPU allowed (GB) for flex shapes; fixed memory for fixed shapes.
    pub memory_per_ocpu: (f64, f64),
    pub default_memory_per_ocpu: f64,
    pub vcpus_per_ocpu: u32,
    pub processor: &'static str,
}

/// The shapes LaunchInstance accepts.
pub const SHAPES: &[ShapeSpec] = &[
    ShapeSpec {
        name: "VM.Standard.E4.Flex",
        flex: true,
        ocpus: (1.0, 64.0),
        memory_per_ocpu: (1.0, 64.0),
        default_memory_per_ocpu: 16.0,
        vcpus_per_ocpu: 2,
        processor: "2.55 GHz AMD EPYC 7J13 (Milan)",
    },
    ShapeSpec {
        name: "VM.Standard.E5.Flex",
        flex: true,
        ocpus: (1.0, 94.0),
        memory_per_ocpu: (1.0, 64.0),
        default_memory_per_ocpu: 12.0,
        vcpus_per_ocpu: 2,
        processor: "2.4 GHz AMD EPYC 9J14 (Genoa)",
    },
    ShapeSpec {
        name: "VM.Standard3.Flex",
        flex: true,
        ocpus: (1.0, 32.0),
        memory_per_ocpu: (1.0, 64.0),
        default_memory_per_ocpu: 16.0,
        vcpus_per_ocpu: 2,
        processor: "2.6 GHz Intel Xeon Platinum 8358 (Ice Lake)",
    },
    ShapeSpec {
        name: "VM.Standard.A1.Flex",
        flex: true,
        ocpus: (1.0, 80.0),
        memory_per_ocpu: (1.0, 64.0),
        default_memory_per_ocpu: 6.0,
        vcpus_per_ocpu: 1,
        processor: "3.0 GHz Ampere Altra",
    },
    ShapeSpec {
        name: "VM.Standard.E2.1.Micro",
        flex: false,
        ocpus: (1.0, 1.0),
        memory_per_ocpu: (1.0, 1.0),
        default_memory_per_ocpu: 1.0,
        vcpus_per_ocpu: 2,
        processor: "2.0 GHz AMD EPYC 7551 (Naples)",
    },
    ShapeSpec {
        name: "VM.Standard2.1",
        flex: false,
        ocpus: (1.0, 1.0),
        memory_per_ocpu: (15.0, 15.0),
        default_memory_per_ocpu: 15.0,
        vcpus_per_ocpu: 2,
        processor: "2.0 GHz Intel Xeon Platinum 8167M (Skylake)",
    },
];

pub fn shape_spec(name: &str) -> Option<&'static ShapeSpec> {
    SHAPES.iter().find(|s| s.name == name)
}

impl ShapeSpec {
    fn config(&self, ocpus: f64, memory: f64, baseline: Option<String>) -> ShapeConfig {
        ShapeConfig {
            ocpus,
            memory_in_gbs: memory,
            // Whole vCPUs: a fractional OCPU count still shows at least one.
            vcpus: ((ocpus * f64::from(self.vcpus_per_ocpu)).round() as u32).max(1),
            processor_description: self.processor.into(),
            networking_bandwidth_in_gbps: ocpus,
            max_vnic_attachments: (ocpus.ceil() as u32).clamp(2, 24),
            gpus: 0,
            local_disks: 0,
            baseline_ocpu_utilization: baseline,
        }
    }
}

/// One instance and where it is in its lifecycle.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: Ocid,
    /// Creation order, to break ties between instances created in the same millisecond.
    pub seq: u64,
    pub compartment_id: Ocid,
    pub availability_domain: String,
    pub fault_domain: String,
    pub display_name: String,
    pub image_id: Ocid,
    pub boot_volume_size_in_gbs: i64,
    pub shape: String,
    pub shape_config: ShapeConfig,
    pub freeform_tags: BTreeMap<String, String>,
    pub defined_tags: BTreeMap<String, Map<String, Value>>,
    pub metadata: BTreeMap<String, String>,
    pub extended_metadata: Map<String, Value>,
    pub time_created: SystemTime,
    pub state: InstanceState,
    /// When the current state was entered.
    pub entered: SystemTime,
    /// When the current state's duration runs out (`None`: only an action leaves it).
    pub deadline: Option<SystemTime>,
    /// Changes on every state change.
    pub etag: String,
}

impl Instance {
    /// Applies an event now; a move also sets the next deadline and a new etag.
    pub fn apply(
        &mut self,
        event: Event,
        tick: Tick,
        settings: &ServiceSettings,
    ) -> Result<Outcome, lifecycle::IllegalTransition> {
        let outcome = lifecycle::next(self.state, event)?;
        if let Outcome::Moved(to) = outcome {
            self.enter(to, tick.now, tick, settings);
        }
        Ok(outcome)
    }

    fn enter(&mut self, to: InstanceState, at: SystemTime, tick: Tick, s: &ServiceSettings) {
        self.state = to;
        self.entered = at;
        self.deadline = lifecycle::dwell(to, s).map(|secs| tick.later(at, secs));
        self.etag = new_etag();
    }

    /// Applies every transition whose deadline has passed, each at its own deadline.
    pub fn settle(&mut self, tick: Tick, s: &ServiceSettings) {
        while let Some(due) = self.deadline.filter(|d| *d <= tick.now) {
            match lifecycle::next(self.state, Event::Elapsed) {
                Ok(Outcome::Moved(to)) => self.enter(to, due, tick, s),
                _ => {
                    self.deadline = None;
                    break;
                }
            }
        }
    }

    /// TERMINATED instances disappear from Get/List after the retention time.
    pub fn visible(&self, tick: Tick, s: &ServiceSettings) -> bool {
        !(self.state == InstanceState::Terminated
            && tick.later(self.entered, s.terminated_retention_seconds) <= tick.now)
    }

    /// When the instance reached RUNNING, if it is RUNNING.
    pub fn running_since(&self) -> Option<SystemTime> {
        (self.state == InstanceState::Running).then_some(self.entered)
    }

    /// Whether it still holds capacity, limits and its IP addresses.
    pub fn is_live(&self) -> bool {
        !self.state.is_terminal()
    }
}

/// Compute's part of the world.
#[derive(Debug, Default)]
pub struct ComputeState {
    pub images: Vec<Image>,
    /// Every instance, in creation order; add through [`ComputeState::push`].
    pub instances: Vec<Instance>,
    next_seq: u64,
    /// Where each instance is in `instances`, by id: every VNIC, backend health and request
    /// finds its instance, and a scan per lookup made fleets of thousands quadratic.
    index: HashMap<String, usize>,
}

impl ComputeState {
    /// Seeds one Oracle Linux image; returns its id.
    pub fn seed_image(&mut self, rng: &mut fastrand::Rng, now: &str) -> Ocid {
        let image = Image {
            id: Ocid::mint(rng, "image", REGION_SHORT),
            compartment_id: None,
            display_name: "Oracle-Linux-9.4-2024.08.30-0".into(),
            operating_system: "Oracle Linux".into(),
            operating_system_version: "9".into(),
            lifecycle_state: "AVAILABLE".into(),
            time_created: now.into(),
            size_in_mbs: 47_694,
            base_image_id: None,
            create_image_allowed: true,
        };
        let id = image.id.clone();
        self.images.push(image);
        id
    }

    /// Seeds the RUNNING instance the simulator's IMDS describes; returns its id. Its shape
    /// (VM.Standard.E2.1.Micro) differs from the fleet's so it takes no fleet capacity.
    pub fn seed_host_instance(
        &mut self,
        rng: &mut fastrand::Rng,
        compartment: &Ocid,
        availability_domain: &str,
        image: &Ocid,
        now: SystemTime,
    ) -> Ocid {
        let spec = shape_spec("VM.Standard.E2.1.Micro").unwrap_or(&SHAPES[0]);
        let instance = Instance {
            id: Ocid::mint(rng, "instance", REGION_SHORT),
            seq: self.take_seq(),
            compartment_id: compartment.clone(),
            availability_domain: availability_domain.into(),
            fault_domain: "FAULT-DOMAIN-1".into(),
            display_name: "oci-sim-host".into(),
            image_id: image.clone(),
            boot_volume_size_in_gbs: 47,
            shape: spec.name.into(),
            shape_config: spec.config(spec.ocpus.0, spec.memory_per_ocpu.0, None),
            freeform_tags: BTreeMap::from([("oci-sim".to_string(), "host".to_string())]),
            defined_tags: BTreeMap::new(),
            metadata: BTreeMap::new(),
            extended_metadata: Map::new(),
            time_created: now,
            state: InstanceState::Running,
            entered: now,
            deadline: None,
            etag: new_etag(),
        };
        let id = instance.id.clone();
        self.push(instance);
        id
    }

    /// Adds an instance (instances are never removed: TERMINATED ones only stop showing).
    pub fn push(&mut self, instance: Instance) {
        self.index
            .insert(instance.id.as_str().to_string(), self.instances.len());
        self.instances.push(instance);
    }

    fn position(&self, id: &str) -> Option<usize> {
        match self.index.get(id) {
            Some(&at) if self.instances.get(at).is_some_and(|i| i.id.as_str() == id) => Some(at),
            // Not added through `push`: look for it.
            _ => self.instances.iter().position(|i| i.id.as_str() == id),
        }
    }

    fn take_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub fn settle(&mut self, tick: Tick, s: &ServiceSettings) {
        for i in &mut self.instances {
            i.settle(tick, s);
        }
    }

    pub fn get(&self, id: &str) -> Option<&Instance> {
        self.position(id).and_then(|at| self.instances.get(at))
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Instance> {
        self.position(id).and_then(|at| self.instances.get_mut(at))
    }
}

/// Milliseconds since the epoch (IMDS prints `timeCreated` this way).
pub fn unix_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The Instance JSON OCI answers with.
pub fn instance_json(i: &Instance) -> Value {
    json!({
        "id": i.id,
        "compartmentId": i.compartment_id,
        "availabilityDomain": i.availability_domain,
        "faultDomain": i.fault_domain,
        "displayName": i.display_name,
        "imageId": i.image_id,
        "shape": i.shape,
        "shapeConfig": i.shape_config,
        "sourceDetails": {
            "sourceType": "image",
            "imageId": i.image_id,
            "bootVolumeSizeInGBs": i.boot_volume_size_in_gbs,
        },
        "region": REGION_SHORT,
        "lifecycleState": i.state.wire(),
        "timeCreated": rfc3339(i.time_created),
        "freeformTags": i.freeform_tags,
        "definedTags": i.defined_tags,
        "systemTags": {},
        "metadata": i.metadata,
        "extendedMetadata": i.extended_metadata,
        "launchMode": "PARAVIRTUALIZED",
        "agentConfig": {
            "isMonitoringDisabled": false,
            "isManagementDisabled": false,
            "areAllPluginsDisabled": false,
        },
        "instanceOptions": {"areLegacyImdsEndpointsDisabled": false},
        "availabilityConfig": {"recoveryAction": "RESTORE_INSTANCE"},
        "timeMaintenanceRebootDue": null,
        "capacityReservationId": null,
        "dedicatedVmHostId": null,
    })
}

pub fn operations() -> Vec<Operation> {
    let signed = Access::Signed(SigningRule::Standard);
    vec![
        op(
            "LaunchInstance",
            "compute",
            Method::POST,
            "/20160918/instances",
            signed,
            launch_instance,
        ),
        op(
            "ListInstances",
            "compute",
            Method::GET,
            "/20160918/instances",
            signed,
            list_instances,
        ),
        op(
            "GetInstance",
            "compute",
            Method::GET,
            "/20160918/instances/{instanceId}",
            signed,
            get_instance,
        ),
        op(
            "TerminateInstance",
            "compute",
            Method::DELETE,
            "/20160918/instances/{instanceId}",
            signed,
            terminate_instance,
        ),
        op(
            "UpdateInstance",
            "compute",
            Method::PUT,
            "/20160918/instances/{instanceId}",
            signed,
            update_instance,
        ),
        op(
            "InstanceAction",
            "compute",
            Method::POST,
            "/20160918/instances/{instanceId}",
            signed,
            instance_action,
        ),
        op(
            "GetImage",
            "compute",
            Method::GET,
            "/20160918/images/{imageId}",
            signed,
            get_image,
        ),
    ]
}

fn instance_response(i: &Instance) -> SimResponse {
    SimResponse::ok_json(&instance_json(i)).with_etag(&i.etag)
}

fn visible_instance<'w>(world: &'w World, id: &str, tick: Tick) -> Result<&'w Instance, ApiError> {
    world
        .compute
        .get(id)
        .filter(|i| i.visible(tick, &world.settings))
        .ok_or_else(|| ApiError::not_found("instance", id))
}

fn get_instance(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let id = call.param("instanceId")?;
    let (world, tick) = ctx.settled();
    check_tenancy(&world, call, "instance", id)?;
    Ok(instance_response(visible_instance(&world, id, tick)?))
}

fn get_image(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let id = call.param("imageId")?;
    let world = ctx.world();
    check_tenancy(&world, call, "image", id)?;
    let image = world
        .compute
        .images
        .iter()
        .find(|i| i.id.as_str() == id)
        .ok_or_else(|| ApiError::not_found("image", id))?;
    Ok(SimResponse::ok_json(image).with_etag(&format!("image-{}", image.id)))
}

fn list_instances(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let req = call.req;
    let compartment = req.required_query("compartmentId")?;
    let ad = req.query_param("availabilityDomain");
    let name = req.query_param("displayName");
    let state = match req.query_param("lifecycleState") {
        None => None,
        Some(s) => {
            let up = s.to_ascii_uppercase();
            if !InstanceState::WIRE_VALUES.contains(&up.as_str()) {
                return Err(ApiError::invalid_parameter(format!(
                    "lifecycleState '{s}' is not one of {}",
                    InstanceState::WIRE_VALUES.join(", ")
                )));
            }
            Some(up)
        }
    };
    let sort_by = req
        .query_param("sortBy")
        .unwrap_or_else(|| "TIMECREATED".into());
    let by_name = match sort_by.as_str() {
        "TIMECREATED" => false,
        "DISPLAYNAME" => true,
        other => {
            return Err(ApiError::invalid_parameter(format!(
                "sortBy '{other}' is not TIMECREATED or DISPLAYNAME"
            )));
        }
    };
    let descending = match req.query_param("sortOrder").as_deref() {
        None => !by_name,
        Some("ASC") => false,
        Some("DESC") => true,
        Some(other) => {
            return Err(ApiError::invalid_parameter(format!(
                "sortOrder '{other}' is not ASC or DESC"
            )));
        }
    };
    let (world, tick) = ctx.settled();
    check_tenancy(&world, call, "compartment", &compartment)?;
    if !world.identity.compartment_exists(&compartment) {
        return Err(ApiError::not_found("compartment", &compartment));
    }
    let mut found: Vec<&Instance> = world
        .compute
        .instances
        .iter()
        .filter(|i| i.compartment_id.as_str() == compartment)
        .filter(|i| i.visible(tick, &world.settings))
        .filter(|i| ad.as_deref().is_none_or(|a| i.availability_domain == a))
        .filter(|i| name.as_deref().is_none_or(|n| i.display_name == n))
        .filter(|i| state.as_deref().is_none_or(|s| i.state.wire() == s))
        .collect();
    if by_name {
        found.sort_by(|a, b| a.display_name.cmp(&b.display_name).then(a.seq.cmp(&b.seq)));
    } else {
        found.sort_by(|a, b| a.time_created.cmp(&b.time_created).then(a.seq.cmp(&b.seq)));
    }
    if descending {
        found.reverse();
    }
    // Only the page is rendered: rendering every instance for every page made listing a
    // fleet of thousands quadratic.
    let (page, next) = paginate_with(&found, req, world.settings.page_size())?;
    let items: Vec<Value> = page.into_iter().map(instance_json).collect();
    Ok(list_response(&items, next))
}

/// A LaunchInstanceDetails body, validated without looking at the world.
#[derive(Debug)]
struct LaunchRequest {
    compartment_id: String,
    availability_domain: String,
    shape: &'static ShapeSpec,
    shape_config: ShapeConfig,
    display_name: Option<String>,
    fault_domain: Option<String>,
    image_id: String,
    boot_volume_size_in_gbs: i64,
    vnic: NewVnic,
    freeform_tags: BTreeMap<String, String>,
    defined_tags: BTreeMap<String, Map<String, Value>>,
    metadata: BTreeMap<String, String>,
    extended_metadata: Map<String, Value>,
}

/// OCI's limit on metadata + extendedMetadata.
const MAX_METADATA_BYTES: usize = 32_000;

fn parse_launch(body: &Map<String, Value>) -> Result<LaunchRequest, ApiError> {
    let f = Fields::root(body);
    let compartment_id = f.req_str("compartmentId")?.to_string();
    let availability_domain = f.req_str("availabilityDomain")?.to_string();
    if f.has("instanceConfigurationId") {
        return Err(ApiError::invalid_parameter(
            "instanceConfigurationId is not supported by the simulator; give shape, sourceDetails and createVnicDetails",
        ));
    }
    let shape_name = f.req_str("shape")?;
    let shape = shape_spec(shape_name).ok_or_else(|| {
        ApiError::invalid_parameter(format!(
            "shape '{shape_name}' is not a shape of this region (known: {})",
            SHAPES.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
        ))
    })?;
    let mut buf = String::new();
    let shape_config = match f.opt_object("shapeConfig", &mut buf)? {
        Some(sc) => {
            let ocpus = sc.opt_f64("ocpus")?;
            let vcpus = sc.opt_int("vcpus", 1..=1024)?;
            let memory = sc.opt_f64("memoryInGBs")?;
            let baseline = sc.opt_str("baselineOcpuUtilization")?;
            if let Some(b) = baseline
                && !["BASELINE_1_8", "BASELINE_1_2", "BASELINE_1_1"].contains(&b)
            {
                return Err(ApiError::invalid_parameter(format!(
                    "shapeConfig.baselineOcpuUtilization '{b}' is not BASELINE_1_8, BASELINE_1_2 or BASELINE_1_1"
                )));
            }
            if !shape.flex {
                if ocpus.is_some() || vcpus.is_some() || memory.is_some() {
                    return Err(ApiError::invalid_parameter(format!(
                        "shapeConfig cannot change {}: it is not a flexible shape",
                        shape.name
                    )));
                }
                shape.config(shape.ocpus.0, shape.memory_per_ocpu.0, None)
            } else {
                let ocpus = match (ocpus, vcpus) {
                    (Some(o), _) => o,
                    (None, Some(v)) => v as f64 / f64::from(shape.vcpus_per_ocpu),
                    (None, None) => {
                        return Err(ApiError::new(
                            StatusCode::BAD_REQUEST,
                            "MissingParameter",
                            format!(
                                "shapeConfig.ocpus (or shapeConfig.vcpus) is required for the flexible shape {}",
                                shape.name
                            ),
                        ));
                    }
                };
                if !(ocpus.is_finite() && (shape.ocpus.0..=shape.ocpus.1).contains(&ocpus)) {
                    return Err(ApiError::invalid_parameter(format!(
                        "shapeConfig.ocpus must be from {} to {} for {}, got {ocpus}",
                        shape.ocpus.0, shape.ocpus.1, shape.name
                    )));
                }
                let memory = memory.unwrap_or(ocpus * shape.default_memory_per_ocpu);
                let (lo, hi) = (
                    ocpus * shape.memory_per_ocpu.0,
                    ocpus * shape.memory_per_ocpu.1,
                );
                if !(memory.is_finite() && (lo..=hi).contains(&memory)) {
                    return Err(ApiError::invalid_parameter(format!(
                        "shapeConfig.memoryInGBs must be from {lo} to {hi} for {ocpus} OCPUs of {}, got {memory}",
                        shape.name
                    )));
                }
                shape.config(ocpus, memory, baseline.map(str::to_string))
            }
        }
        // OCI's own answer, word for word.
        None if shape.flex => {
            return Err(ApiError::invalid_parameter(
                "Invalid ShapeConfig: null (Cannot launch flexible instance without ShapeConfig)",
            ));
        }
        None => shape.config(shape.ocpus.0, shape.memory_per_ocpu.0, None),
    };

    let deprecated_image = f.opt_str("imageId")?;
    let mut buf = String::new();
    let (image_id, boot_volume_size_in_gbs) = match f.opt_object("sourceDetails", &mut buf)? {
        Some(sd) => {
            let source_type = sd.req_str("sourceType")?;
            if source_type != "image" {
                return Err(ApiError::invalid_parameter(format!(
                    "sourceDetails.sourceType '{source_type}' is not supported by the simulator (only \"image\")"
                )));
            }
            let image = sd.req_str("imageId")?;
            if let Some(d) = deprecated_image
                && d != image
            {
                return Err(ApiError::invalid_parameter(
                    "imageId and sourceDetails.imageId differ; give only sourceDetails.imageId",
                ));
            }
            let size = sd
                .opt_int("bootVolumeSizeInGBs", 50..=32_768)?
                .unwrap_or(47);
            (image.to_string(), size)
        }
        None => match deprecated_image {
            Some(i) => (i.to_string(), 47),
            None => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "MissingParameter",
                    "Missing required parameter 'sourceDetails'",
                ));
            }
        },
    };

    let deprecated_subnet = f.opt_str("subnetId")?;
    let mut buf = String::new();
    let vnic = match f.opt_object("createVnicDetails", &mut buf)? {
        Some(v) => {
            let subnet = match (v.opt_str("subnetId")?, deprecated_subnet) {
                (Some(s), Some(d)) if s != d => {
                    return Err(ApiError::invalid_parameter(
                        "subnetId and createVnicDetails.subnetId differ; give only createVnicDetails.subnetId",
                    ));
                }
                (Some(s), _) | (None, Some(s)) => s.to_string(),
                (None, None) => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "MissingParameter",
                        "Missing required parameter 'createVnicDetails.subnetId'",
                    ));
                }
            };
            let private_ip = match v.opt_str("privateIp")? {
                None => None,
                Some(s) => Some(s.parse::<Ipv4Addr>().map_err(|_| {
                    ApiError::invalid_parameter(format!(
                        "createVnicDetails.privateIp '{s}' is not an IPv4 address"
                    ))
                })?),
            };
            NewVnic {
                subnet_id: subnet,
                assign_public_ip: v.opt_bool("assignPublicIp")?,
                private_ip,
                hostname_label: v
                    .opt_str("hostnameLabel")?
                    .or(f.opt_str("hostnameLabel")?)
                    .map(str::to_string),
                display_name: v.opt_str("displayName")?.map(str::to_string),
                nsg_ids: v.opt_string_list("nsgIds")?.unwrap_or_default(),
                skip_source_dest_check: v.opt_bool("skipSourceDestCheck")?.unwrap_or(false),
                freeform_tags: v.opt_string_map("freeformTags")?.unwrap_or_default(),
                defined_tags: v.opt_object_map("definedTags")?.unwrap_or_default(),
            }
        }
        None => match deprecated_subnet {
            Some(s) => NewVnic {
                subnet_id: s.to_string(),
                assign_public_ip: None,
                private_ip: None,
                hostname_label: f.opt_str("hostnameLabel")?.map(str::to_string),
                display_name: None,
                nsg_ids: Vec::new(),
                skip_source_dest_check: false,
                freeform_tags: BTreeMap::new(),
                defined_tags: BTreeMap::new(),
            },
            None => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "MissingParameter",
                    "Missing required parameter 'createVnicDetails.subnetId'",
                ));
            }
        },
    };

    let fault_domain = f.opt_str("faultDomain")?.map(str::to_string);
    if let Some(fd) = &fault_domain
        && !["FAULT-DOMAIN-1", "FAULT-DOMAIN-2", "FAULT-DOMAIN-3"].contains(&fd.as_str())
    {
        return Err(ApiError::invalid_parameter(format!(
            "faultDomain '{fd}' is not FAULT-DOMAIN-1, FAULT-DOMAIN-2 or FAULT-DOMAIN-3"
        )));
    }
    let metadata = f.opt_string_map("metadata")?.unwrap_or_default();
    let extended_metadata = match f.value("extendedMetadata") {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(ApiError::invalid_parameter(
                "extendedMetadata must be an object",
            ));
        }
    };
    let metadata_bytes: usize = metadata
        .iter()
        .map(|(k, v)| k.len() + v.len())
        .sum::<usize>()
        + if extended_metadata.is_empty() {
            0
        } else {
            Value::Object(extended_metadata.clone()).to_string().len()
        };
    if metadata_bytes > MAX_METADATA_BYTES {
        return Err(ApiError::invalid_parameter(format!(
            "metadata and extendedMetadata together are {metadata_bytes} bytes; the limit is {MAX_METADATA_BYTES}"
        )));
    }
    Ok(LaunchRequest {
        compartment_id,
        availability_domain,
        shape,
        shape_config,
        display_name: f.opt_str("displayName")?.map(str::to_string),
        fault_domain,
        image_id,
        boot_volume_size_in_gbs,
        vnic,
        freeform_tags: f.opt_string_map("freeformTags")?.unwrap_or_default(),
        defined_tags: f.opt_object_map("definedTags")?.unwrap_or_default(),
        metadata,
        extended_metadata,
    })
}

fn launch_instance(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let body = object(call.req)?;
    let (mut world, tick) = ctx.settled();
    idempotent(&mut world, call.req, tick.now, |world| {
        let details = parse_launch(&body)?;
        launch(world, call, details, tick)
    })
}

fn launch(
    world: &mut World,
    call: &Call<'_>,
    d: LaunchRequest,
    tick: Tick,
) -> Result<SimResponse, ApiError> {
    check_tenancy(world, call, "compartment", &d.compartment_id)?;
    if !world.identity.compartment_exists(&d.compartment_id) {
        return Err(ApiError::not_found("compartment", &d.compartment_id));
    }
    if !world
        .identity
        .availability_domains
        .iter()
        .any(|a| a.name == d.availability_domain)
    {
        return Err(ApiError::invalid_parameter(format!(
            "availabilityDomain '{}' is not an availability domain of this tenancy",
            d.availability_domain
        )));
    }
    if !world
        .compute
        .images
        .iter()
        .any(|i| i.id.as_str() == d.image_id)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "RelatedResourceNotAuthorizedOrNotFound",
            format!(
                "Authorization failed or requested resource not found: image {} (sourceDetails.imageId)",
                d.image_id
            ),
        ));
    }
    check_limits(world, &d)?;
    check_capacity(world, &d)?;

    let id = Ocid::mint(&mut world.rng, "instance", REGION_SHORT);
    let vnic = super::network::create_primary_vnic(
        world,
        &id,
        &d.compartment_id,
        &d.availability_domain,
        &d.vnic,
        tick.now,
    )?;
    let seq = world.compute.take_seq();
    let fault_domain = d
        .fault_domain
        .unwrap_or_else(|| format!("FAULT-DOMAIN-{}", seq % 3 + 1));
    let display_name = d.display_name.unwrap_or_else(|| {
        let t = time::OffsetDateTime::from(tick.now);
        format!(
            "instance-{:04}{:02}{:02}-{:02}{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        )
    });
    let mut instance = Instance {
        id: id.clone(),
        seq,
        compartment_id: Ocid::from_string(d.compartment_id),
        availability_domain: d.availability_domain,
        fault_domain,
        display_name,
        image_id: Ocid::from_string(d.image_id),
        boot_volume_size_in_gbs: d.boot_volume_size_in_gbs,
        shape: d.shape.name.into(),
        shape_config: d.shape_config,
        freeform_tags: d.freeform_tags,
        defined_tags: d.defined_tags,
        metadata: d.metadata,
        extended_metadata: d.extended_metadata,
        time_created: tick.now,
        state: InstanceState::Provisioning,
        entered: tick.now,
        deadline: None,
        etag: String::new(),
    };
    instance.enter(InstanceState::Provisioning, tick.now, tick, &world.settings);
    let work_request = Ocid::mint(&mut world.rng, "coreservicesworkrequest", REGION_SHORT);
    tracing::info!(instance = %id, vnic = %vnic, "launched an instance");
    let resp =
        instance_response(&instance).with_header("opc-work-request-id", work_request.as_str());
    world.compute.push(instance);
    Ok(resp)
}

fn check_limits(world: &World, d: &LaunchRequest) -> Result<(), ApiError> {
    for rule in &world.limits {
        if rule.shape.as_deref().is_some_and(|s| s != d.shape.name)
            || rule
                .compartment_id
                .as_ref()
                .is_some_and(|c| c.as_str() != d.compartment_id)
        {
            continue;
        }
        let used = world
            .compute
            .instances
            .iter()
            .filter(|i| i.is_live())
            .filter(|i| rule.shape.as_deref().is_none_or(|s| i.shape == s))
            .filter(|i| {
                rule.compartment_id
                    .as_ref()
                    .is_none_or(|c| &i.compartment_id == c)
            })
            .count();
        if used >= rule.instances as usize {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "LimitExceeded",
                format!(
                    "The service limit of {} instances{}{} has been reached ({used} in use)",
                    rule.instances,
                    rule.shape
                        .as_deref()
                        .map(|s| format!(" of shape {s}"))
                        .unwrap_or_default(),
                    rule.compartment_id
                        .as_ref()
                        .map(|c| format!(" in compartment {c}"))
                        .unwrap_or_default(),
                ),
            ));
        }
    }
    Ok(())
}

fn check_capacity(world: &World, d: &LaunchRequest) -> Result<(), ApiError> {
    for rule in &world.capacity {
        if rule.shape != d.shape.name
            || rule
                .availability_domain
                .as_deref()
                .is_some_and(|a| a != d.availability_domain)
        {
            continue;
        }
        let holding: Vec<&Instance> = world
            .compute
            .instances
            .iter()
            .filter(|i| i.is_live() && i.shape == rule.shape)
            .filter(|i| {
                rule.availability_domain
                    .as_deref()
                    .is_none_or(|a| i.availability_domain == a)
            })
            .collect();
        let full_by_count = rule
            .instances
            .is_some_and(|max| holding.len() + 1 > max as usize);
        let used_ocpus: f64 = holding.iter().map(|i| i.shape_config.ocpus).sum();
        let full_by_ocpus = rule
            .ocpus
            .is_some_and(|max| used_ocpus + d.shape_config.ocpus > max + 1e-9);
        if full_by_count || full_by_ocpus {
            tracing::info!(shape = %rule.shape, "launch refused: out of host capacity");
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "Out of host capacity.",
            ));
        }
    }
    Ok(())
}

fn terminate_instance(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let id = call.param("instanceId")?;
    for flag in ["preserveBootVolume", "preserveDataVolumesCreatedAtLaunch"] {
        if let Some(v) = call.req.query_param(flag)
            && v != "true"
            && v != "false"
        {
            return Err(ApiError::invalid_parameter(format!(
                "{flag} must be true or false, got '{v}'"
            )));
        }
    }
    if let Some(level) = call.req.query_param("recycleLevel")
        && level != "FULL_RECYCLE"
    {
        return Err(ApiError::invalid_parameter(format!(
            "recycleLevel must be FULL_RECYCLE, got '{level}'"
        )));
    }
    let (mut world, tick) = ctx.settled();
    check_tenancy(&world, call, "instance", id)?;
    visible_instance(&world, id, tick)?;
    let world = &mut *world;
    let settings = world.settings.clone();
    let instance = world
        .compute
        .get_mut(id)
        .ok_or_else(|| ApiError::not_found("instance", id))?;
    if_match(call.req, &instance.etag, "instance", id)?;
    instance
        .apply(Event::Terminate, tick, &settings)
        .map_err(incorrect_state(id))?;
    let work_request = Ocid::mint(&mut world.rng, "coreservicesworkrequest", REGION_SHORT);
    tracing::info!(instance = %id, "terminating an instance");
    Ok(SimResponse::no_content().with_header("opc-work-request-id", work_request.as_str()))
}

fn incorrect_state(id: &str) -> impl Fn(lifecycle::IllegalTransition) -> ApiError + '_ {
    move |e| {
        ApiError::new(
            StatusCode::CONFLICT,
            "IncorrectState",
            format!(
                "Instance {id} is {} and cannot take the action {}",
                e.from, e.event
            ),
        )
    }
}

/// InstanceAction `action` values.
fn action_event(action: &str) -> Option<Event> {
    Some(match action {
        "START" => Event::Start,
        "STOP" | "SOFTSTOP" => Event::Stop,
        "RESET"
        | "SOFTRESET"
        | "DIAGNOSTICREBOOT"
        | "REBOOTMIGRATE"
        | "SENDDIAGNOSTICINTERRUPT" => Event::Reset,
        _ => return None,
    })
}

fn instance_action(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let id = call.param("instanceId")?;
    let action = call.req.required_query("action")?;
    let event = action_event(&action).ok_or_else(|| {
        ApiError::invalid_parameter(format!(
            "action '{action}' is not one of START, STOP, RESET, SOFTSTOP, SOFTRESET, \
             SENDDIAGNOSTICINTERRUPT, DIAGNOSTICREBOOT, REBOOTMIGRATE"
        ))
    })?;
    let body = object(call.req)?;
    if let Some(t) = Fields::root(&body).opt_str("actionType")?
        && !["reset", "softreset", "rebootMigrate"].contains(&t)
    {
        return Err(ApiError::invalid_parameter(format!(
            "actionType '{t}' is not reset, softreset or rebootMigrate"
        )));
    }
    let (mut world, tick) = ctx.settled();
    check_tenancy(&world, call, "instance", id)?;
    idempotent(&mut world, call.req, tick.now, |world| {
        visible_instance(world, id, tick)?;
        let settings = world.settings.clone();
        let instance = world
            .compute
            .get_mut(id)
            .ok_or_else(|| ApiError::not_found("instance", id))?;
        if_match(call.req, &instance.etag, "instance", id)?;
        let outcome = instance.apply(event, tick, &settings).map_err(|e| {
            ApiError::new(
                StatusCode::CONFLICT,
                "IncorrectState",
                format!(
                    "Instance {id} is {} and cannot take the action {action}",
                    e.from
                ),
            )
        })?;
        tracing::info!(instance = %id, %action, ?outcome, "instance action");
        Ok(instance_response(instance))
    })
}

/// `PUT /20160918/instances/{id}` (UpdateInstanceDetails): the display name and the tags.
/// Each given field replaces the whole value (OCI's rule for tags: the map sent is the map
/// kept). Other fields of UpdateInstanceDetails (shape, metadata, …) are refused as not
/// simulated rather than ignored. Honours `if-match` and `opc-retry-token`; a TERMINATING or
/// TERMINATED instance is 409.
fn update_instance(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let id = call.param("instanceId")?;
    let body = object(call.req)?;
    let f = Fields::root(&body);
    for key in body.keys() {
        if !["displayName", "freeformTags", "definedTags"].contains(&key.as_str()) {
            return Err(ApiError::invalid_parameter(format!(
                "UpdateInstance field '{key}' is not simulated (displayName, freeformTags and definedTags are)"
            )));
        }
    }
    let display_name = f.opt_str("displayName")?.map(str::to_string);
    let freeform_tags = f.opt_string_map("freeformTags")?;
    let defined_tags = f.opt_object_map("definedTags")?;
    let (mut world, tick) = ctx.settled();
    check_tenancy(&world, call, "instance", id)?;
    idempotent(&mut world, call.req, tick.now, |world| {
        visible_instance(world, id, tick)?;
        let instance = world
            .compute
            .get_mut(id)
            .ok_or_else(|| ApiError::not_found("instance", id))?;
        if_match(call.req, &instance.etag, "instance", id)?;
        if matches!(
            instance.state,
            InstanceState::Terminating | InstanceState::Terminated
        ) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "IncorrectState",
                format!("Instance {id} is {} and cannot be updated", instance.state),
            ));
        }
        if let Some(name) = display_name.clone() {
            instance.display_name = name;
        }
        if let Some(tags) = freeform_tags.clone() {
            instance.freeform_tags = tags;
        }
        if let Some(tags) = defined_tags.clone() {
            instance.defined_tags = tags;
        }
        instance.etag = new_etag();
        tracing::info!(instance = %id, "instance updated");
        Ok(instance_response(instance))
    })
}

/// Whether an IPv4 address is held by a live instance's VNIC (for the LB health checks).
pub fn instance_holding_ip<'w>(world: &'w World, ip: &str) -> Option<&'w Instance> {
    let ip: Ipv4Addr = ip.parse().ok()?;
    let vnic = world
        .network
        .with_address(ip)
        .find(|v| vnic_ip_in_use(world, v))?;
    world.compute.get(vnic.instance_id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn tick(now: SystemTime) -> Tick {
        Tick { now, scale: 1.0 }
    }

    fn instance(now: SystemTime) -> Instance {
        let spec = shape_spec("VM.Standard.E4.Flex").unwrap();
        let mut i = Instance {
            id: Ocid::from_string("ocid1.instance.oc1.iad.x"),
            seq: 1,
            compartment_id: Ocid::from_string("c"),
            availability_domain: "AD-1".into(),
            fault_domain: "FAULT-DOMAIN-1".into(),
            display_name: "i".into(),
            image_id: Ocid::from_string("img"),
            boot_volume_size_in_gbs: 47,
            shape: spec.name.into(),
            shape_config: spec.config(1.0, 16.0, None),
            freeform_tags: BTreeMap::new(),
            defined_tags: BTreeMap::new(),
            metadata: BTreeMap::new(),
            extended_metadata: Map::new(),
            time_created: now,
            state: InstanceState::Provisioning,
            entered: now,
            deadline: None,
            etag: String::new(),
        };
        i.enter(
            InstanceState::Provisioning,
            now,
            tick(now),
            &ServiceSettings::default(),
        );
        i
    }

    #[test]
    fn settling_applies_each_transition_at_its_own_deadline() {
        let s = ServiceSettings::default();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut i = instance(t0);
        i.settle(tick(t0 + Duration::from_secs(29)), &s);
        assert_eq!(i.state, InstanceState::Provisioning);
        // Long after: both PROVISIONING (30 s) and STARTING (20 s) have elapsed.
        i.settle(tick(t0 + Duration::from_secs(500)), &s);
        assert_eq!(i.state, InstanceState::Running);
        assert_eq!(i.running_since(), Some(t0 + Duration::from_secs(50)));
        assert_eq!(i.deadline, None);
    }

    #[test]
    fn every_state_change_makes_a_new_etag() {
        let s = ServiceSettings::default();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut i = instance(t0);
        let e0 = i.etag.clone();
        i.settle(tick(t0 + Duration::from_secs(31)), &s);
        assert_eq!(i.state, InstanceState::Starting);
        assert_ne!(i.etag, e0);
        let e1 = i.etag.clone();
        i.settle(tick(t0 + Duration::from_secs(32)), &s);
        assert_eq!(i.etag, e1, "no change, same etag");
    }

    #[test]
    fn terminated_instances_vanish_after_the_retention_time() {
        let s = ServiceSettings::default();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut i = instance(t0);
        i.apply(Event::Terminate, tick(t0), &s).unwrap();
        i.settle(tick(t0 + Duration::from_secs(30)), &s);
        assert_eq!(i.state, InstanceState::Terminated);
        assert!(i.visible(tick(t0 + Duration::from_secs(3629)), &s));
        assert!(!i.visible(tick(t0 + Duration::from_secs(3630)), &s));
    }

    #[test]
    fn flex_shapes_need_ocpus_and_fixed_shapes_refuse_them() {
        let body = |extra: &str| -> Map<String, Value> {
            serde_json::from_str(&format!(
                r#"{{"compartmentId":"c","availabilityDomain":"a","sourceDetails":{{"sourceType":"image","imageId":"i"}},"createVnicDetails":{{"subnetId":"s"}}{extra}}}"#
            ))
            .unwrap()
        };
        let e = parse_launch(&body(r#","shape":"VM.Standard.E4.Flex""#)).unwrap_err();
        assert_eq!(e.code, "InvalidParameter");
        assert_eq!(
            e.message,
            "Invalid ShapeConfig: null (Cannot launch flexible instance without ShapeConfig)"
        );
        let e =
            parse_launch(&body(r#","shape":"VM.Standard.E4.Flex","shapeConfig":{}"#)).unwrap_err();
        assert_eq!(e.code, "MissingParameter");
        assert!(e.message.contains("shapeConfig.ocpus"), "{}", e.message);
        let ok = parse_launch(&body(
            r#","shape":"VM.Standard.E4.Flex","shapeConfig":{"ocpus":2}"#,
        ))
        .unwrap();
        assert_eq!(ok.shape_config.memory_in_gbs, 32.0);
        assert_eq!(ok.shape_config.vcpus, 4);
        let e = parse_launch(&body(
            r#","shape":"VM.Standard.E2.1.Micro","shapeConfig":{"ocpus":2}"#,
        ))
        .unwrap_err();
        assert_eq!(e.code, "InvalidParameter");
        let e = parse_launch(&body(r#","shape":"VM.Nope""#)).unwrap_err();
        assert!(e.message.contains("VM.Nope"));
    }
}
