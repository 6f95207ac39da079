//! Virtual networking state (VCNs and subnets). Seeded now; the VNIC endpoints come with
//! the compute task.

use serde::Serialize;

use crate::ocid::Ocid;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Vcn {
    pub id: Ocid,
    pub compartment_id: Ocid,
    pub display_name: String,
    pub cidr_block: String,
    pub lifecycle_state: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subnet {
    pub id: Ocid,
    pub compartment_id: Ocid,
    pub vcn_id: Ocid,
    pub display_name: String,
    pub cidr_block: String,
    pub prohibit_public_ip_on_vnic: bool,
    pub lifecycle_state: String,
}

#[derive(Debug, Default)]
pub struct NetworkState {
    pub vcns: Vec<Vcn>,
    pub subnets: Vec<Subnet>,
}

impl NetworkState {
    /// One VCN (10.0.0.0/16) with one private subnet (10.0.0.0/24); returns the subnet id.
    pub fn seed(&mut self, rng: &mut fastrand::Rng, compartment: &Ocid) -> Ocid {
        let vcn = Vcn {
            id: Ocid::mint(rng, "vcn", "iad"),
            compartment_id: compartment.clone(),
            display_name: "fleet-vcn".into(),
            cidr_block: "10.0.0.0/16".into(),
            lifecycle_state: "AVAILABLE".into(),
        };
        let subnet = Subnet {
            id: Ocid::mint(rng, "subnet", "iad"),
            compartment_id: compartment.clone(),
            vcn_id: vcn.id.clone(),
            display_name: "fleet-subnet".into(),
            cidr_block: "10.0.0.0/24".into(),
            prohibit_public_ip_on_vnic: true,
            lifecycle_state: "AVAILABLE".into(),
        };
        let id = subnet.id.clone();
        self.vcns.push(vcn);
        self.subnets.push(subnet);
        id
    }
}
