//! Launch details in the ledger: what an instance was launched from, and the fleet file's
//! revisions the ledger has seen.
//!
//! - A [`LaunchSpec`] is the part of the fleet file that decides what a new instance is:
//!   image, shape and shape config, each group's subnet, metadata, and the tags fleetctl
//!   sets (the user's defined and freeform tags; fleetctl's own fleet/group/operation tags
//!   differ per instance and are not part of it). Compartment, availability domain and
//!   display name prefix are not: changing them is a new fleet, not a new revision.
//! - Its [`LaunchSpec::group_digest`] is a stable digest of one group's launch details
//!   (canonical JSON: fields in a fixed order, maps sorted; SHA-256, the first 16 hex
//!   digits). Every record keeps the digest it was launched from
//!   ([`super::ledger::InstanceRecord::launch_digest`]).
//! - A [`Revision`] is one version of the launch details the ledger has seen, numbered from
//!   1, with the fields that changed from the one before. It keeps the whole spec so an
//!   `undo` or an automatic rollback can launch from it again.
//!
//! **Invariant:** the metadata values (user data may hold secrets) are kept only in the
//! ledger, never in what the API, the dashboard or `status` show: those show revision
//! numbers, digests and the *names* of the fields that differ ([`LaunchSpec::differences`]).

use std::collections::BTreeMap;

use aws_lc_rs::digest;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{GroupName, ImageId, SubnetId};
use crate::values::InstanceMetadata;

use super::ledger::Timestamp;

/// The most revisions a ledger keeps (oldest dropped first, except those a live instance or
/// the active operation still uses).
pub const MAX_REVISIONS: usize = 10;

/// What a digest looks like when the launch details of a record are not known: records
/// written before digests were kept, and instances adopted from OCI. Such an instance counts
/// as outdated (a rolling update replaces it), with this as the differing field.
pub const UNKNOWN_FIELD: &str = "unknown";

/// The launch details fleetctl sets on a new instance (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LaunchSpec {
    /// The image.
    pub image_id: ImageId,
    /// The shape.
    pub shape: String,
    /// The flexible shape's config (`ocpus`, `memoryInGBs`), as OCI takes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape_config: Option<Value>,
    /// Each group's subnet.
    pub subnets: BTreeMap<GroupName, SubnetId>,
    /// Instance metadata (`ssh_authorized_keys`, `user_data`, ...). Never shown (its
    /// `Debug` names keys and sizes only).
    #[serde(default, skip_serializing_if = "InstanceMetadata::is_empty")]
    pub metadata: InstanceMetadata,
    /// The user's defined tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub defined_tags: BTreeMap<String, BTreeMap<String, Value>>,
    /// The user's freeform tags (fleetctl's own are added per instance).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub freeform_tags: BTreeMap<String, String>,
}

/// One group's launch details in the order the digest reads them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupView<'a> {
    image_id: &'a ImageId,
    shape: &'a str,
    shape_config: &'a Option<Value>,
    subnet_id: Option<&'a SubnetId>,
    metadata: &'a InstanceMetadata,
    defined_tags: &'a BTreeMap<String, BTreeMap<String, Value>>,
    freeform_tags: &'a BTreeMap<String, String>,
}

fn short_digest(bytes: &[u8]) -> String {
    let d = digest::digest(&digest::SHA256, bytes);
    d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

impl LaunchSpec {
    /// The digest of `group`'s launch details (16 hex digits). A group the spec has no
    /// subnet for digests with no subnet (it cannot match a record launched with one).
    pub fn group_digest(&self, group: &GroupName) -> String {
        let view = GroupView {
            image_id: &self.image_id,
            shape: &self.shape,
            shape_config: &self.shape_config,
            subnet_id: self.subnets.get(group),
            metadata: &self.metadata,
            defined_tags: &self.defined_tags,
            freeform_tags: &self.freeform_tags,
        };
        // Serialising plain strings and sorted maps cannot fail.
        short_digest(&serde_json::to_vec(&view).unwrap_or_default())
    }

    /// The digest of the whole spec, every group's subnet included: a revision's identity.
    pub fn digest(&self) -> String {
        short_digest(&serde_json::to_vec(self).unwrap_or_default())
    }

    /// The names of the fields in which `self` differs from `other`, for `group` (its subnet
    /// only) or for the whole spec (`None`: every group's subnet). Metadata keys are named
    /// (`metadata.user_data`), never their values.
    pub fn differences(&self, other: &LaunchSpec, group: Option<&GroupName>) -> Vec<String> {
        let mut out = Vec::new();
        if self.image_id != other.image_id {
            out.push("imageId".to_string());
        }
        if self.shape != other.shape {
            out.push("shape".to_string());
        }
        if self.shape_config != other.shape_config {
            out.push("shapeConfig".to_string());
        }
        let subnets_differ = match group {
            Some(g) => self.subnets.get(g) != other.subnets.get(g),
            None => self.subnets != other.subnets,
        };
        if subnets_differ {
            out.push("subnetId".to_string());
        }
        let keys: std::collections::BTreeSet<&String> =
            self.metadata.keys().chain(other.metadata.keys()).collect();
        for k in keys {
            if self.metadata.get(k) != other.metadata.get(k) {
                out.push(format!("metadata.{k}"));
            }
        }
        if self.defined_tags != other.defined_tags {
            out.push("definedTags".to_string());
        }
        if self.freeform_tags != other.freeform_tags {
            out.push("freeformTags".to_string());
        }
        out
    }
}

/// One revision of the launch details the ledger has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Revision {
    /// 1 for the first revision seen, then one more for each change.
    pub number: u32,
    /// [`LaunchSpec::digest`] of `launch`.
    pub digest: String,
    /// When a step first saw this revision in the fleet file (or an undo/rollback made it
    /// current again, see [`Revision::number`]: it keeps its number).
    pub seen: Timestamp,
    /// The fields that differ from the revision before (empty for the first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    /// The launch details, so `undo` and rollback can launch from them again. Never shown.
    pub launch: LaunchSpec,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> LaunchSpec {
        LaunchSpec {
            image_id: "ocid1.image.oc1..aaaa".parse().unwrap(),
            shape: "VM.Standard.E4.Flex".into(),
            shape_config: Some(serde_json::json!({"ocpus": 1.0})),
            subnets: [(
                "web".parse().unwrap(),
                "ocid1.subnet.oc1..aaaa".parse().unwrap(),
            )]
            .into_iter()
            .collect(),
            metadata: InstanceMetadata(
                [("user_data".to_string(), "c2VjcmV0".to_string())]
                    .into_iter()
                    .collect(),
            ),
            defined_tags: BTreeMap::new(),
            freeform_tags: BTreeMap::new(),
        }
    }

    #[test]
    fn the_digest_is_stable_and_follows_every_field() {
        let a = spec();
        let web: GroupName = "web".parse().unwrap();
        assert_eq!(a.group_digest(&web), spec().group_digest(&web));
        assert_eq!(a.group_digest(&web).len(), 16);
        let mut b = spec();
        b.image_id = "ocid1.image.oc1..bbbb".parse().unwrap();
        assert_ne!(a.group_digest(&web), b.group_digest(&web));
        assert_eq!(a.differences(&b, Some(&web)), ["imageId"]);
        let mut c = spec();
        c.metadata.insert("user_data".into(), "b3RoZXI=".into());
        assert_ne!(a.group_digest(&web), c.group_digest(&web));
        let diff = a.differences(&c, Some(&web));
        assert_eq!(diff, ["metadata.user_data"]);
        assert!(!diff.iter().any(|d| d.contains("c2VjcmV0")));
        assert!(!format!("{a:?}").contains("c2VjcmV0"));
        // Another group's subnet changes the revision, not this group's digest.
        let mut d = spec();
        d.subnets.insert(
            "api".parse().unwrap(),
            "ocid1.subnet.oc1..cccc".parse().unwrap(),
        );
        assert_eq!(a.group_digest(&web), d.group_digest(&web));
        assert_ne!(a.digest(), d.digest());
        assert!(a.differences(&d, Some(&web)).is_empty());
        assert_eq!(a.differences(&d, None), ["subnetId"]);
    }
}
