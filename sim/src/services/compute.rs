//! Compute state (images and instances). Seeded now with one image and the "host instance"
//! that instance-principal auth speaks for; the Compute endpoints come with the next task.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ocid::Ocid;
use crate::state::REGION_SHORT;

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
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShapeConfig {
    pub ocpus: f64,
    pub memory_in_gbs: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub id: Ocid,
    pub compartment_id: Ocid,
    pub availability_domain: String,
    pub fault_domain: String,
    pub display_name: String,
    pub image_id: Ocid,
    pub shape: String,
    pub shape_config: ShapeConfig,
    pub region: String,
    pub lifecycle_state: String,
    pub time_created: String,
    pub freeform_tags: BTreeMap<String, String>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
pub struct ComputeState {
    pub images: Vec<Image>,
    pub instances: Vec<Instance>,
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
        };
        let id = image.id.clone();
        self.images.push(image);
        id
    }

    /// Seeds the running instance the simulator's IMDS describes; returns its id.
    pub fn seed_host_instance(
        &mut self,
        rng: &mut fastrand::Rng,
        compartment: &Ocid,
        availability_domain: &str,
        image: &Ocid,
        now: &str,
    ) -> Ocid {
        let instance = Instance {
            id: Ocid::mint(rng, "instance", REGION_SHORT),
            compartment_id: compartment.clone(),
            availability_domain: availability_domain.into(),
            fault_domain: "FAULT-DOMAIN-1".into(),
            display_name: "oci-sim-host".into(),
            image_id: image.clone(),
            shape: "VM.Standard.E4.Flex".into(),
            shape_config: ShapeConfig {
                ocpus: 1.0,
                memory_in_gbs: 16.0,
            },
            region: REGION_SHORT.into(),
            lifecycle_state: "RUNNING".into(),
            time_created: now.into(),
            freeform_tags: BTreeMap::new(),
            metadata: BTreeMap::new(),
        };
        let id = instance.id.clone();
        self.instances.push(instance);
        id
    }
}
