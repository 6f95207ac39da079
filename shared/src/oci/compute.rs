//! Compute operations (`/20160918`, `iaas` host): launch, get, list, terminate and power
//! actions of instances, and fleet discovery by tag.
//!
//! # Idempotency
//! LaunchInstance and InstanceAction take a [`RetryToken`] (required by this API): OCI
//! deduplicates a request sent again with the same token, so the client's retries (429, 5xx,
//! lost responses) and a resumed operation never launch twice. Derive the token from the
//! operation id and the slot ([`RetryToken::derive`]). TerminateInstance is a DELETE and is
//! idempotent by itself; with `if-match` it is not (see [`terminate_instance_if_match`]).
//!
//! # Errors
//! Every function returns [`OciError`]; branch on [`OciError::kind`]:
//! [`ErrorKind::OutOfHostCapacity`](super::error::ErrorKind::OutOfHostCapacity) (500
//! "Out of host capacity.", not retried: nothing was created, try later or elsewhere),
//! `LimitExceeded` (400 `LimitExceeded`/`QuotaExceeded`), `NotFound`, `Throttled` (after the
//! client's retries), `Conflict`, `PreconditionFailed`, `Auth`. Each carries the
//! `opc-request-id`.
//!
//! Response types are camelCase, ignore unknown fields, and keep unknown enum values (a new
//! lifecycle state) as `Unknown(<value>)`.

use std::collections::BTreeMap;
use std::sync::Arc;

use foldhash::{HashSet, HashSetExt as _};

use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::client::{OciClient, OciRequest, encode_path_segment};
use super::endpoints::Service;
use super::error::OciError;
use super::tags::{FleetTags, Key, ObservedFleetTags};
use super::wire::{RetryToken, open_enum};
use crate::ids::FleetName;
use crate::ids::{CompartmentId, ImageId, InstanceId, SubnetId};
pub use crate::values::InstanceMetadata;

/// The most bytes `metadata` may hold (keys and values; OCI counts `extendedMetadata` too).
pub const MAX_METADATA_BYTES: usize = InstanceMetadata::MAX_BYTES;

open_enum!(
    /// `Instance.lifecycleState`.
    InstanceLifecycleState {
        /// Being moved (migration).
        Moving => "MOVING",
        /// Launched, not yet booted.
        Provisioning => "PROVISIONING",
        /// Running.
        Running => "RUNNING",
        /// Powering on.
        Starting => "STARTING",
        /// Powering off.
        Stopping => "STOPPING",
        /// Powered off.
        Stopped => "STOPPED",
        /// An image is being made from it.
        CreatingImage => "CREATING_IMAGE",
        /// Being terminated.
        Terminating => "TERMINATING",
        /// Gone (still listed for a while).
        Terminated => "TERMINATED",
    }
);

impl InstanceLifecycleState {
    /// TERMINATING or TERMINATED: the instance is going or gone.
    pub fn is_going_away(&self) -> bool {
        matches!(
            self,
            InstanceLifecycleState::Terminating | InstanceLifecycleState::Terminated
        )
    }
}

/// A power action (`POST /instances/{id}?action=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceAction {
    /// Power on.
    Start,
    /// Hard power off.
    Stop,
    /// ACPI shutdown; forced off after 15 minutes.
    SoftStop,
    /// Hard power off, then on.
    Reset,
    /// ACPI shutdown, then power on.
    SoftReset,
}

impl InstanceAction {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceAction::Start => "START",
            InstanceAction::Stop => "STOP",
            InstanceAction::SoftStop => "SOFTSTOP",
            InstanceAction::Reset => "RESET",
            InstanceAction::SoftReset => "SOFTRESET",
        }
    }
}

impl std::fmt::Display for InstanceAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Instance.shapeConfig` (the fields fleetctl reads).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceShapeConfig {
    /// OCPUs.
    #[serde(default)]
    pub ocpus: Option<f64>,
    /// Memory in GB.
    #[serde(default, rename = "memoryInGBs")]
    pub memory_in_gbs: Option<f64>,
    /// vCPUs.
    #[serde(default)]
    pub vcpus: Option<u32>,
}

/// A compute instance (GetInstance, ListInstances, LaunchInstance, InstanceAction).
///
/// It has no IP address: see [`super::network::primary_private_ip`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// The instance OCID.
    pub id: InstanceId,
    /// Its compartment.
    pub compartment_id: CompartmentId,
    /// Its availability domain (`Uocm:PHX-AD-1`).
    pub availability_domain: String,
    /// The lifecycle state.
    pub lifecycle_state: InstanceLifecycleState,
    /// The shape.
    #[serde(default)]
    pub shape: Option<String>,
    /// The region (`phx`/`iad` for Phoenix and Ashburn, the identifier elsewhere).
    #[serde(default)]
    pub region: Option<String>,
    /// The display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The fault domain.
    #[serde(default)]
    pub fault_domain: Option<String>,
    /// Creation time (RFC 3339), as OCI wrote it; see [`Instance::created_at`].
    #[serde(default)]
    pub time_created: Option<String>,
    /// The image it was launched from (deprecated field, still filled by OCI).
    #[serde(default)]
    pub image_id: Option<ImageId>,
    /// The shape configuration.
    #[serde(default)]
    pub shape_config: Option<InstanceShapeConfig>,
    /// Freeform tags.
    #[serde(default)]
    pub freeform_tags: BTreeMap<String, String>,
    /// Defined tags: namespace -> key -> value.
    #[serde(default)]
    pub defined_tags: BTreeMap<String, BTreeMap<String, Value>>,
    /// Instance metadata (values hidden from `Debug`).
    #[serde(default)]
    pub metadata: InstanceMetadata,
}

impl Instance {
    /// The creation time, when OCI gave one in RFC 3339.
    pub fn created_at(&self) -> Option<OffsetDateTime> {
        self.time_created
            .as_deref()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
    }

    /// fleetctl's tags on this instance.
    pub fn fleet_tags(&self) -> ObservedFleetTags {
        ObservedFleetTags::read(&self.freeform_tags)
    }
}

/// An instance as fleet discovery reads it from ListInstances: what fleetctl decides on (id,
/// lifecycle state, display name, creation time, fleetctl's tags) and nothing else.
///
/// OCI answers with a kilobyte or more per instance (shape and its configuration, source
/// details, defined tags, agent settings, metadata: a cloud-init `user_data` alone is often
/// several kilobytes). Every step lists the whole compartment, so those fields are skipped
/// while the page is parsed, never decoded, validated or allocated: a fleet of 10,000 costs
/// what is read of it. [`Instance`] (GetInstance, LaunchInstance) keeps the rest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedInstance {
    /// The instance OCID.
    pub id: InstanceId,
    /// The lifecycle state.
    pub lifecycle_state: InstanceLifecycleState,
    /// The display name (shared text: a listing's copies of an instance share it).
    #[serde(default)]
    pub display_name: Option<Arc<str>>,
    /// Creation time; `None` when OCI gave none in RFC 3339.
    #[serde(default, rename = "timeCreated", deserialize_with = "rfc3339_or_none")]
    pub created_at: Option<OffsetDateTime>,
    /// fleetctl's freeform tags (read by [`ObservedFleetTags`]'s decoder; the others are
    /// skipped).
    #[serde(default, rename = "freeformTags")]
    pub tags: ObservedFleetTags,
}

impl ListedInstance {
    /// fleetctl's tags on this instance.
    pub fn fleet_tags(&self) -> &ObservedFleetTags {
        &self.tags
    }
}

/// `timeCreated` as [`Instance::created_at`] reads it: a time in RFC 3339, else `None` (not
/// an error: a listing is not refused for a timestamp fleetctl only displays).
fn rfc3339_or_none<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<OffsetDateTime>, D::Error> {
    let text: Option<Key<'de>> = Option::deserialize(d)?;
    Ok(text.and_then(|Key(t)| OffsetDateTime::parse(&t, &Rfc3339).ok()))
}

impl From<Instance> for ListedInstance {
    fn from(i: Instance) -> Self {
        ListedInstance {
            created_at: i.created_at(),
            tags: i.fleet_tags(),
            id: i.id,
            lifecycle_state: i.lifecycle_state,
            display_name: i.display_name.map(Arc::from),
        }
    }
}

/// `LaunchInstanceShapeConfigDetails`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchShapeConfig {
    /// OCPUs (flexible shapes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ocpus: Option<f64>,
    /// Memory in GB (flexible shapes).
    #[serde(
        default,
        rename = "memoryInGBs",
        skip_serializing_if = "Option::is_none"
    )]
    pub memory_in_gbs: Option<f64>,
}

/// `InstanceSourceDetails` (discriminator `sourceType`); fleetctl boots from images.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "sourceType", rename_all = "camelCase")]
pub enum InstanceSource {
    /// `sourceType: image`.
    #[serde(rename = "image", rename_all = "camelCase")]
    Image {
        /// The image.
        image_id: ImageId,
        /// Boot volume size (50..32768 GB); the image's default when `None`.
        #[serde(
            default,
            rename = "bootVolumeSizeInGBs",
            skip_serializing_if = "Option::is_none"
        )]
        boot_volume_size_in_gbs: Option<u64>,
    },
}

/// `CreateVnicDetails` of the primary VNIC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateVnicDetails {
    /// The subnet (per group, from the caller).
    pub subnet_id: SubnetId,
    /// Whether to assign a public IP; the subnet's default when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assign_public_ip: Option<bool>,
    /// A hostname label (DNS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname_label: Option<String>,
}

/// `LaunchInstanceDetails`: what to launch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchInstanceDetails {
    /// The compartment.
    pub compartment_id: CompartmentId,
    /// The availability domain name (`Uocm:PHX-AD-1`).
    pub availability_domain: String,
    /// The shape (`VM.Standard.E4.Flex`).
    pub shape: String,
    /// OCPUs and memory (flexible shapes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape_config: Option<LaunchShapeConfig>,
    /// The boot source.
    pub source_details: InstanceSource,
    /// The primary VNIC.
    pub create_vnic_details: CreateVnicDetails,
    /// The display name (not unique in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The fault domain; OCI picks one when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_domain: Option<String>,
    /// Metadata (`ssh_authorized_keys`, `user_data`), at most [`MAX_METADATA_BYTES`].
    #[serde(default, skip_serializing_if = "InstanceMetadata::is_empty")]
    pub metadata: InstanceMetadata,
    /// Freeform tags; see [`LaunchInstanceDetails::tag_for_fleet`]. (`cloud::launch_details`
    /// builds the whole request from the fleet file.)
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub freeform_tags: BTreeMap<String, String>,
    /// Defined tags: namespace -> key -> value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub defined_tags: BTreeMap<String, BTreeMap<String, Value>>,
}

impl LaunchInstanceDetails {
    /// The minimal launch: image, subnet, shape, AD and compartment; nothing else set.
    pub fn new(
        compartment_id: CompartmentId,
        availability_domain: impl Into<String>,
        shape: impl Into<String>,
        image_id: ImageId,
        subnet_id: SubnetId,
    ) -> Self {
        Self {
            compartment_id,
            availability_domain: availability_domain.into(),
            shape: shape.into(),
            shape_config: None,
            source_details: InstanceSource::Image {
                image_id,
                boot_volume_size_in_gbs: None,
            },
            create_vnic_details: CreateVnicDetails {
                subnet_id,
                assign_public_ip: None,
                hostname_label: None,
            },
            display_name: None,
            fault_domain: None,
            metadata: InstanceMetadata::default(),
            freeform_tags: BTreeMap::new(),
            defined_tags: BTreeMap::new(),
        }
    }

    /// Merges fleetctl's tags into the freeform tags (fleetctl's keys win; see
    /// [`super::tags`]).
    pub fn tag_for_fleet(&mut self, tags: &FleetTags) {
        self.freeform_tags = tags.merged_with(&self.freeform_tags);
    }

    /// Checks what OCI would refuse anyway, so the error names the field: empty
    /// AD/shape, metadata over [`MAX_METADATA_BYTES`].
    pub fn validate(&self) -> Result<(), OciError> {
        let invalid = |reason: String| OciError::InvalidRequest {
            operation: "LaunchInstance",
            reason,
        };
        if self.availability_domain.trim().is_empty() {
            return Err(invalid("availabilityDomain is empty".into()));
        }
        if self.shape.trim().is_empty() {
            return Err(invalid("shape is empty".into()));
        }
        let metadata_bytes = self.metadata.byte_size();
        if metadata_bytes > MAX_METADATA_BYTES {
            return Err(invalid(format!(
                "metadata holds {metadata_bytes} bytes; OCI accepts at most {MAX_METADATA_BYTES}"
            )));
        }
        Ok(())
    }
}

/// Filters of ListInstances (all optional; the compartment is an argument).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListInstancesFilter {
    /// Only this availability domain.
    pub availability_domain: Option<String>,
    /// Only this exact display name.
    pub display_name: Option<String>,
    /// Only this lifecycle state.
    pub lifecycle_state: Option<InstanceLifecycleState>,
    /// Page size (`limit`); the service default when `None`.
    pub page_size: Option<u32>,
}

fn core_path(rest: &str) -> String {
    format!("{}{rest}", Service::Core.api_prefix())
}

fn instance_path(id: &InstanceId) -> String {
    core_path(&format!("/instances/{}", encode_path_segment(id.as_str())))
}

/// `POST /20160918/instances` with `opc-retry-token`: launches one instance and returns it
/// (normally PROVISIONING).
///
/// A retry after a lost response, or a resumed operation, sends the same token and gets the
/// original instance back instead of a second one.
pub async fn launch_instance(
    client: &OciClient,
    details: &LaunchInstanceDetails,
    retry_token: &RetryToken,
) -> Result<Instance, OciError> {
    details.validate()?;
    let req = OciRequest::new(
        "LaunchInstance",
        Service::Core,
        Method::POST,
        core_path("/instances"),
    )
    .json_body(details)?
    .retry_token(retry_token);
    let instance: Instance = client.send_json(&req).await?;
    tracing::info!(
        instance = %instance.id,
        state = %instance.lifecycle_state,
        retry_token = %retry_token,
        "instance launched"
    );
    Ok(instance)
}

/// `GET /20160918/instances/{id}`.
pub async fn get_instance(client: &OciClient, id: &InstanceId) -> Result<Instance, OciError> {
    let req = OciRequest::new("GetInstance", Service::Core, Method::GET, instance_path(id));
    client.send_json(&req).await
}

/// GetInstance with the answer's ETag (for a conditional update).
pub async fn get_instance_with_etag(
    client: &OciClient,
    id: &InstanceId,
) -> Result<(Instance, Option<String>), OciError> {
    let req = OciRequest::new("GetInstance", Service::Core, Method::GET, instance_path(id));
    let resp = client.send(&req).await?;
    let instance: Instance = resp.json(req.operation)?;
    Ok((instance, resp.etag().map(str::to_string)))
}

/// `PUT /20160918/instances/{id}` with `freeformTags` only (UpdateInstance): the map sent
/// replaces the instance's freeform tags, so `tags` must hold the ones to keep. With `etag`
/// the update is made only if the instance is unchanged since it was read (else 412,
/// [`ErrorKind::PreconditionFailed`](super::error::ErrorKind::PreconditionFailed)). Setting
/// the same tags twice changes nothing, so no retry token is needed; a retry after a lost
/// answer meets the new ETag (412), and the caller reads the instance again.
pub async fn update_instance_freeform_tags(
    client: &OciClient,
    id: &InstanceId,
    tags: &BTreeMap<String, String>,
    etag: Option<&str>,
) -> Result<Instance, OciError> {
    let mut req = OciRequest::new(
        "UpdateInstance",
        Service::Core,
        Method::PUT,
        instance_path(id),
    )
    .json_body(&serde_json::json!({ "freeformTags": tags }))?;
    if let Some(etag) = etag {
        req = req.if_match(etag)?;
    }
    let instance: Instance = client.send_json(&req).await?;
    tracing::info!(instance = %id, "instance tags updated");
    Ok(instance)
}

/// `GET /20160918/instances?compartmentId=…`: every page (`opc-next-page`), oldest first
/// (`sortBy=TIMECREATED&sortOrder=ASC`, so instances created while paging land on later pages
/// instead of shifting earlier ones), each instance once.
pub async fn list_instances(
    client: &OciClient,
    compartment: &CompartmentId,
    filter: &ListInstancesFilter,
) -> Result<Vec<ListedInstance>, OciError> {
    let mut req = OciRequest::new(
        "ListInstances",
        Service::Core,
        Method::GET,
        core_path("/instances"),
    )
    .query("compartmentId", compartment.as_str());
    if let Some(ad) = &filter.availability_domain {
        req = req.query("availabilityDomain", ad);
    }
    if let Some(name) = &filter.display_name {
        req = req.query("displayName", name);
    }
    if let Some(state) = &filter.lifecycle_state {
        req = req.query("lifecycleState", state.as_str());
    }
    if let Some(limit) = filter.page_size {
        req = req.query("limit", limit.to_string());
    }
    req = req.query("sortBy", "TIMECREATED").query("sortOrder", "ASC");
    let mut all: Vec<ListedInstance> = client.list_all_remembered(&req).await?;
    drop_repeated(&mut all);
    Ok(all)
}

/// Keeps the first of instances listed twice (an instance launched between two page calls
/// moves the later pages by one), in place and without copying an id.
fn drop_repeated(all: &mut Vec<ListedInstance>) {
    let repeated: HashSet<usize> = {
        let mut seen = HashSet::with_capacity(all.len());
        all.iter()
            .enumerate()
            .filter(|(_, i)| !seen.insert(i.id.as_str()))
            .map(|(k, _)| k)
            .collect()
    };
    if repeated.is_empty() {
        return;
    }
    let mut k = 0;
    all.retain(|_| {
        k += 1;
        !repeated.contains(&(k - 1))
    });
}

/// The largest ListInstances page OCI serves (`limit`). Fleet discovery asks for it, so that
/// every reconcile step lists a fleet of a thousand in one call rather than ten (the default
/// page is 100).
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The instances of `fleet` in `compartment`: ListInstances (every page, of
/// [`MAX_PAGE_SIZE`]) filtered client-side
/// on the `fleetctl-fleet` tag (OCI has no tag filter), without TERMINATED ones.
/// TERMINATING instances are included: they still exist and may still be a load balancer
/// backend.
pub async fn list_fleet_instances(
    client: &OciClient,
    compartment: &CompartmentId,
    fleet: &FleetName,
) -> Result<Vec<ListedInstance>, OciError> {
    Ok(list_and_split(client, compartment, fleet).await?.0)
}

/// The same ListInstances pages as [`list_fleet_instances`], split: the fleet's instances,
/// and every other instance of the compartment that is not TERMINATED (a sync that adopts
/// untagged instances picks from those, at no extra call).
pub async fn list_and_split(
    client: &OciClient,
    compartment: &CompartmentId,
    fleet: &FleetName,
) -> Result<(Vec<ListedInstance>, Vec<ListedInstance>), OciError> {
    let filter = ListInstancesFilter {
        page_size: Some(MAX_PAGE_SIZE),
        ..ListInstancesFilter::default()
    };
    let all = list_instances(client, compartment, &filter).await?;
    Ok(split_fleet(all, fleet))
}

/// In place: the fleet's instances stay in the list's own buffer (10,000 of them are
/// megabytes; a partition into two new vectors held both at once), the others move out. Both
/// keep the list's order.
fn split_fleet(
    mut all: Vec<ListedInstance>,
    fleet: &FleetName,
) -> (Vec<ListedInstance>, Vec<ListedInstance>) {
    all.retain(|i| i.lifecycle_state != InstanceLifecycleState::Terminated);
    let others: Vec<ListedInstance> = all
        .extract_if(.., |i| !i.fleet_tags().belongs_to(fleet))
        .collect();
    (all, others)
}

/// [`list_fleet_instances`] with extra ListInstances filters (page size, AD).
pub async fn list_fleet_instances_with(
    client: &OciClient,
    compartment: &CompartmentId,
    fleet: &FleetName,
    filter: &ListInstancesFilter,
) -> Result<Vec<ListedInstance>, OciError> {
    let all = list_instances(client, compartment, filter).await?;
    Ok(split_fleet(all, fleet).0)
}

/// `DELETE /20160918/instances/{id}?preserveBootVolume=false`: starts termination (204).
/// The boot volume is deleted with the instance.
pub async fn terminate_instance(client: &OciClient, id: &InstanceId) -> Result<(), OciError> {
    terminate(client, id, None).await
}

/// [`terminate_instance`] only if the instance's etag is still `etag` (else 412,
/// [`ErrorKind::PreconditionFailed`](super::error::ErrorKind::PreconditionFailed)).
///
/// A conditional DELETE is not idempotent the way a plain one is: when the answer to an
/// attempt that did terminate the instance is lost, the client's retry meets the new etag of
/// the TERMINATING instance and gets 412. So a 412 that came on a retry is checked with
/// GetInstance: a 404, TERMINATING or TERMINATED means the termination happened and this
/// returns `Ok`; anything else (the etag really changed, the read fails) returns the 412.
/// A 412 on the first attempt is returned as is: that request changed nothing.
pub async fn terminate_instance_if_match(
    client: &OciClient,
    id: &InstanceId,
    etag: &str,
) -> Result<(), OciError> {
    let err = match terminate(client, id, Some(etag)).await {
        Err(e) if e.is_precondition_failed() && e.service().is_some_and(|s| s.attempts > 1) => e,
        other => return other,
    };
    let confirmed = match get_instance(client, id).await {
        Ok(instance) => instance.lifecycle_state.is_going_away(),
        Err(read) => {
            if !read.is_not_found() {
                tracing::warn!(instance = %id, error = %read, "cannot confirm a conditional termination after a 412 on its retry");
            }
            read.is_not_found()
        }
    };
    if confirmed {
        tracing::info!(instance = %id, "instance termination confirmed after a 412 on the retry of a lost answer");
        Ok(())
    } else {
        Err(err)
    }
}

async fn terminate(
    client: &OciClient,
    id: &InstanceId,
    etag: Option<&str>,
) -> Result<(), OciError> {
    let mut req = OciRequest::new(
        "TerminateInstance",
        Service::Core,
        Method::DELETE,
        instance_path(id),
    )
    .query("preserveBootVolume", "false");
    if let Some(etag) = etag {
        req = req.if_match(etag)?;
    }
    client.send(&req).await?;
    tracing::info!(instance = %id, "instance termination requested");
    Ok(())
}

/// `POST /20160918/instances/{id}?action=…` with `opc-retry-token`: returns the instance as
/// the action was accepted.
pub async fn instance_action(
    client: &OciClient,
    id: &InstanceId,
    action: InstanceAction,
    retry_token: &RetryToken,
) -> Result<Instance, OciError> {
    let req = OciRequest::new(
        "InstanceAction",
        Service::Core,
        Method::POST,
        instance_path(id),
    )
    .query("action", action.as_str())
    .retry_token(retry_token);
    let instance: Instance = client.send_json(&req).await?;
    tracing::info!(instance = %id, %action, state = %instance.lifecycle_state, "instance action accepted");
    Ok(instance)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTANCE: &str = "ocid1.instance.oc1.iad.aaaaaaaaexample";
    const COMPARTMENT: &str = "ocid1.compartment.oc1..aaaaaaaaexample";
    const IMAGE: &str = "ocid1.image.oc1.iad.aaaaaaaaexample";
    const SUBNET: &str = "ocid1.subnet.oc1.iad.aaaaaaaaexample";

    /// A listed instance reads what fleetctl decides on and skips the rest, whatever it
    /// holds; it agrees with the full `Instance` on every field it keeps.
    #[test]
    fn a_listed_instance_reads_what_discovery_needs_and_skips_the_rest() {
        let doc = serde_json::json!({
            "id": INSTANCE,
            "compartmentId": COMPARTMENT,
            "availabilityDomain": "Uocm:PHX-AD-1",
            "lifecycleState": "RUNNING",
            "displayName": "web-api-3",
            "timeCreated": "2026-01-02T03:04:05.678Z",
            "shape": "VM.Standard.E4.Flex",
            "shapeConfig": {"ocpus": 1.0, "memoryInGBs": 16.0},
            "imageId": IMAGE,
            "metadata": {"user_data": "IyEvYmluL3NoCmVjaG8gaGk=", "ssh_authorized_keys": "ssh-ed25519 AAAA"},
            "definedTags": {"Operations": {"CostCenter": "42"}},
            "freeformTags": {"team": "payments", "fleetctl-fleet": "web", "fleetctl-group": "api",
                             "fleetctl-operation": "op-1", "fleetctl-slot": "3"},
            "agentConfig": {"isMonitoringDisabled": false},
            "somethingNew": [1, {"nested": null}],
        });
        let listed: ListedInstance = serde_json::from_value(doc.clone()).unwrap();
        let full: Instance = serde_json::from_value(doc).unwrap();
        assert_eq!(listed, ListedInstance::from(full.clone()));
        assert_eq!(listed.created_at, full.created_at());
        assert!(listed.created_at.is_some());
        assert_eq!(listed.tags.slot, Some(3));
        assert_eq!(listed.display_name.as_deref(), Some("web-api-3"));

        // A creation time that is not RFC 3339 is no time (as `Instance::created_at` reads
        // it), not a refused listing; a missing id or state still is.
        let odd: ListedInstance = serde_json::from_value(serde_json::json!({
            "id": INSTANCE, "lifecycleState": "RUNNING", "timeCreated": "yesterday"
        }))
        .unwrap();
        assert_eq!(odd.created_at, None);
        assert!(
            serde_json::from_value::<ListedInstance>(serde_json::json!({"id": INSTANCE})).is_err()
        );
        assert!(
            serde_json::from_value::<ListedInstance>(
                serde_json::json!({"id": IMAGE, "lifecycleState": "RUNNING"})
            )
            .is_err(),
            "an image OCID is not an instance id"
        );
    }

    #[test]
    fn an_instance_with_unknown_fields_and_a_new_state_still_decodes() {
        let json = serde_json::json!({
            "id": INSTANCE,
            "compartmentId": COMPARTMENT,
            "availabilityDomain": "Uocm:US-ASHBURN-AD-1",
            "lifecycleState": "HIBERNATING",
            "region": "iad",
            "shape": "VM.Standard.E4.Flex",
            "timeCreated": "2016-08-25T21:10:29.600Z",
            "freeformTags": {"fleetctl-fleet": "web"},
            "someFutureField": {"nested": [1, 2, 3]},
            "shapeConfig": {"ocpus": 1.0, "memoryInGBs": 16.0, "gpus": 0}
        });
        let i: Instance = serde_json::from_value(json).unwrap();
        assert_eq!(
            i.lifecycle_state,
            InstanceLifecycleState::Unknown("HIBERNATING".into())
        );
        assert_eq!(i.lifecycle_state.to_string(), "HIBERNATING");
        assert_eq!(
            i.created_at().map(|t| t.unix_timestamp()),
            Some(1_472_159_429)
        );
        assert!(i.fleet_tags().belongs_to(&"web".parse().unwrap()));
        assert_eq!(i.shape_config.and_then(|c| c.memory_in_gbs), Some(16.0));
    }

    #[test]
    fn launch_details_serialise_to_oci_field_names() {
        let mut d = LaunchInstanceDetails::new(
            COMPARTMENT.parse().unwrap(),
            "Uocm:US-ASHBURN-AD-1",
            "VM.Standard.E4.Flex",
            IMAGE.parse().unwrap(),
            SUBNET.parse().unwrap(),
        );
        d.shape_config = Some(LaunchShapeConfig {
            ocpus: Some(1.0),
            memory_in_gbs: Some(8.0),
        });
        d.display_name = Some("web-api-0".into());
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "compartmentId": COMPARTMENT,
                "availabilityDomain": "Uocm:US-ASHBURN-AD-1",
                "shape": "VM.Standard.E4.Flex",
                "shapeConfig": {"ocpus": 1.0, "memoryInGBs": 8.0},
                "sourceDetails": {"sourceType": "image", "imageId": IMAGE},
                "createVnicDetails": {"subnetId": SUBNET},
                "displayName": "web-api-0"
            })
        );
    }

    #[test]
    fn oversized_metadata_is_refused_before_sending() {
        let mut d = LaunchInstanceDetails::new(
            COMPARTMENT.parse().unwrap(),
            "AD-1",
            "VM.Standard.E4.Flex",
            IMAGE.parse().unwrap(),
            SUBNET.parse().unwrap(),
        );
        d.metadata
            .insert("user_data".into(), "x".repeat(MAX_METADATA_BYTES));
        let err = d.validate().unwrap_err();
        assert!(
            err.to_string()
                .contains("metadata holds 32009 bytes; OCI accepts at most 32000"),
            "{err}"
        );
        d.metadata.clear();
        d.metadata
            .insert("user_data".into(), "c2VjcmV0LXRva2Vu".into());
        let shown = format!("{d:?}");
        assert!(!shown.contains("c2VjcmV0LXRva2Vu"), "{shown}");
        assert!(shown.contains("\"user_data\": <16 bytes>"), "{shown}");
        d.shape = " ".into();
        assert!(
            d.validate()
                .unwrap_err()
                .to_string()
                .contains("shape is empty")
        );
    }
}
