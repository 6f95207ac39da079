//! Networking operations (`/20160918`, `iaas` host): an instance's VNICs and IP addresses.
//!
//! An instance has no IP address field; its primary VNIC has. The recipe:
//! ListVnicAttachments(compartment, instance) → keep ATTACHED attachments with a `vnicId` →
//! GetVnic each → the one with `isPrimary` → `privateIp` / `publicIp`
//! ([`primary_private_ip`]).

use std::fmt;
use std::net::IpAddr;

use http::Method;
use serde::{Deserialize, Serialize};

use super::client::{OciClient, OciRequest, encode_path_segment};
use super::endpoints::Service;
use super::error::OciError;
use super::wire::open_enum;
use crate::ids::{CompartmentId, InstanceId, SubnetId, VnicAttachmentId, VnicId};

open_enum!(
    /// `VnicAttachment.lifecycleState`.
    VnicAttachmentState {
        /// Being attached; `vnicId` may still be null.
        Attaching => "ATTACHING",
        /// Attached.
        Attached => "ATTACHED",
        /// Being detached.
        Detaching => "DETACHING",
        /// Detached.
        Detached => "DETACHED",
    }
);

open_enum!(
    /// `Vnic.lifecycleState`.
    VnicState {
        /// Being created.
        Provisioning => "PROVISIONING",
        /// Usable.
        Available => "AVAILABLE",
        /// Being deleted.
        Terminating => "TERMINATING",
        /// Deleted.
        Terminated => "TERMINATED",
    }
);

/// A VNIC attachment (ListVnicAttachments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VnicAttachment {
    /// The attachment OCID.
    pub id: VnicAttachmentId,
    /// The instance.
    pub instance_id: InstanceId,
    /// The compartment.
    #[serde(default)]
    pub compartment_id: Option<CompartmentId>,
    /// The availability domain.
    #[serde(default)]
    pub availability_domain: Option<String>,
    /// The lifecycle state.
    pub lifecycle_state: VnicAttachmentState,
    /// The VNIC; null until the attachment completes.
    #[serde(default)]
    pub vnic_id: Option<VnicId>,
    /// The subnet.
    #[serde(default)]
    pub subnet_id: Option<SubnetId>,
    /// The NIC index (0 for the primary VNIC on most shapes).
    #[serde(default)]
    pub nic_index: Option<u32>,
    /// The display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Creation time (RFC 3339).
    #[serde(default)]
    pub time_created: Option<String>,
}

/// A VNIC (GetVnic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Vnic {
    /// The VNIC OCID.
    pub id: VnicId,
    /// The lifecycle state.
    #[serde(default)]
    pub lifecycle_state: Option<VnicState>,
    /// The primary private IP address.
    #[serde(default)]
    pub private_ip: Option<IpAddr>,
    /// The public IP address, if any.
    #[serde(default)]
    pub public_ip: Option<IpAddr>,
    /// True for the VNIC created at launch.
    #[serde(default)]
    pub is_primary: Option<bool>,
    /// The subnet.
    #[serde(default)]
    pub subnet_id: Option<SubnetId>,
    /// The hostname label.
    #[serde(default)]
    pub hostname_label: Option<String>,
    /// The MAC address.
    #[serde(default)]
    pub mac_address: Option<String>,
    /// The display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// The addresses of an instance's primary VNIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryIps {
    /// The primary VNIC.
    pub vnic_id: VnicId,
    /// Its private IP.
    pub private_ip: IpAddr,
    /// Its public IP, if any.
    pub public_ip: Option<IpAddr>,
}

/// Why an instance's primary IP cannot be found (and will not appear by waiting).
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// An OCI call failed.
    #[error(transparent)]
    Oci(#[from] OciError),
    /// Every VNIC attachment of the instance is detaching or detached (the instance is being
    /// or was terminated), or the attached ones are all secondary.
    #[error(
        "instance {instance} has no attached primary VNIC (attachments: {})",
        describe_states(states)
    )]
    NoPrimaryVnic {
        /// The instance.
        instance: InstanceId,
        /// The state of each attachment seen.
        states: Vec<VnicAttachmentState>,
    },
}

fn describe_states(states: &[VnicAttachmentState]) -> String {
    if states.is_empty() {
        return "none".into();
    }
    states
        .iter()
        .map(VnicAttachmentState::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

impl NetworkError {
    /// The OCI error, when a call failed.
    pub fn oci(&self) -> Option<&OciError> {
        match self {
            NetworkError::Oci(e) => Some(e),
            NetworkError::NoPrimaryVnic { .. } => None,
        }
    }
}

impl fmt::Display for PrimaryIps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.private_ip)?;
        if let Some(public) = self.public_ip {
            write!(f, " (public {public})")?;
        }
        Ok(())
    }
}

fn core_path(rest: &str) -> String {
    format!("{}{rest}", Service::Core.api_prefix())
}

/// `GET /20160918/vnicAttachments?compartmentId=…[&instanceId=…]`, every page.
pub async fn list_vnic_attachments(
    client: &OciClient,
    compartment: &CompartmentId,
    instance: Option<&InstanceId>,
) -> Result<Vec<VnicAttachment>, OciError> {
    let mut req = OciRequest::new(
        "ListVnicAttachments",
        Service::Core,
        Method::GET,
        core_path("/vnicAttachments"),
    )
    .query("compartmentId", compartment.as_str());
    if let Some(instance) = instance {
        req = req.query("instanceId", instance.as_str());
    }
    client.list_all(&req).await
}

/// `GET /20160918/vnics/{vnicId}`.
pub async fn get_vnic(client: &OciClient, id: &VnicId) -> Result<Vnic, OciError> {
    let req = OciRequest::new(
        "GetVnic",
        Service::Core,
        Method::GET,
        core_path(&format!("/vnics/{}", encode_path_segment(id.as_str()))),
    );
    client.send_json(&req).await
}

/// The private (and public, if any) IP of `instance`'s primary VNIC.
///
/// `Ok(None)` means "not yet, ask again": no attachment listed yet (right after launch), an
/// attachment still ATTACHING or without a `vnicId`, or the primary VNIC has no private IP
/// yet. [`NetworkError::NoPrimaryVnic`] means waiting will not help: every attachment is
/// DETACHING/DETACHED (the instance is terminating) or only secondary VNICs are attached and
/// nothing is pending.
pub async fn primary_private_ip(
    client: &OciClient,
    compartment: &CompartmentId,
    instance: &InstanceId,
) -> Result<Option<PrimaryIps>, NetworkError> {
    let attachments = list_vnic_attachments(client, compartment, Some(instance)).await?;
    // The filter is the server's; keep only this instance's in case it was ignored.
    let attachments: Vec<VnicAttachment> = attachments
        .into_iter()
        .filter(|a| &a.instance_id == instance)
        .collect();
    if attachments.is_empty() {
        return Ok(None);
    }
    let mut pending = false;
    for attachment in &attachments {
        match (&attachment.lifecycle_state, &attachment.vnic_id) {
            (VnicAttachmentState::Attached, Some(vnic_id)) => {
                let vnic = get_vnic(client, vnic_id).await?;
                if vnic.is_primary == Some(true) {
                    return Ok(vnic.private_ip.map(|private_ip| PrimaryIps {
                        vnic_id: vnic.id.clone(),
                        private_ip,
                        public_ip: vnic.public_ip,
                    }));
                }
            }
            (VnicAttachmentState::Attached, None) | (VnicAttachmentState::Attaching, _) => {
                pending = true;
            }
            // A state added later: treat it as pending rather than as gone.
            (VnicAttachmentState::Unknown(_), _) => pending = true,
            (VnicAttachmentState::Detaching | VnicAttachmentState::Detached, _) => {}
        }
    }
    if pending {
        Ok(None)
    } else {
        Err(NetworkError::NoPrimaryVnic {
            instance: instance.clone(),
            states: attachments.into_iter().map(|a| a.lifecycle_state).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attaching_attachment_without_vnic_decodes() {
        let a: VnicAttachment = serde_json::from_value(serde_json::json!({
            "id": "ocid1.vnicattachment.oc1.iad.aaaa",
            "instanceId": "ocid1.instance.oc1.iad.aaaa",
            "compartmentId": "ocid1.compartment.oc1..aaaa",
            "availabilityDomain": "Uocm:US-ASHBURN-AD-1",
            "lifecycleState": "ATTACHING",
            "vnicId": null,
            "subnetId": "ocid1.subnet.oc1.iad.aaaa",
            "nicIndex": 0,
            "vlanTag": 0
        }))
        .unwrap();
        assert_eq!(a.lifecycle_state, VnicAttachmentState::Attaching);
        assert_eq!(a.vnic_id, None);
    }

    #[test]
    fn a_vnic_without_public_ip_decodes_and_a_bad_ip_is_refused() {
        let v: Vnic = serde_json::from_value(serde_json::json!({
            "id": "ocid1.vnic.oc1.iad.aaaa",
            "privateIp": "10.0.0.7",
            "publicIp": null,
            "isPrimary": true,
            "lifecycleState": "AVAILABLE"
        }))
        .unwrap();
        assert_eq!(v.private_ip, Some("10.0.0.7".parse().unwrap()));
        assert_eq!(v.public_ip, None);
        let bad = serde_json::from_value::<Vnic>(serde_json::json!({
            "id": "ocid1.vnic.oc1.iad.aaaa",
            "privateIp": "10.0.0.300"
        }));
        assert!(bad.is_err());
    }

    #[test]
    fn no_primary_vnic_names_the_instance_and_the_states() {
        let e = NetworkError::NoPrimaryVnic {
            instance: "ocid1.instance.oc1.iad.aaaa".parse().unwrap(),
            states: vec![
                VnicAttachmentState::Detached,
                VnicAttachmentState::Detaching,
            ],
        };
        assert_eq!(
            e.to_string(),
            "instance ocid1.instance.oc1.iad.aaaa has no attached primary VNIC (attachments: DETACHED, DETACHING)"
        );
    }
}
