//! Classic load balancer state. Seeded now with one load balancer and its `web` backend set;
//! the LB endpoints and work requests come with a later task.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::ocid::Ocid;
use crate::state::REGION_SHORT;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Backend {
    pub name: String,
    pub ip_address: String,
    pub port: u16,
    pub weight: u32,
    pub backup: bool,
    pub drain: bool,
    pub offline: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendSet {
    pub name: String,
    pub policy: String,
    pub backends: Vec<Backend>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancer {
    pub id: Ocid,
    pub compartment_id: Ocid,
    pub display_name: String,
    pub lifecycle_state: String,
    pub shape_name: String,
    pub is_private: bool,
    pub subnet_ids: Vec<Ocid>,
    pub time_created: String,
    pub backend_sets: BTreeMap<String, BackendSet>,
}

#[derive(Debug, Default)]
pub struct LoadBalancerState {
    pub load_balancers: Vec<LoadBalancer>,
}

impl LoadBalancerState {
    /// Seeds one ACTIVE load balancer with an empty `web` backend set; returns its id.
    pub fn seed(
        &mut self,
        rng: &mut fastrand::Rng,
        compartment: &Ocid,
        subnet: &Ocid,
        now: &str,
    ) -> Ocid {
        let mut backend_sets = BTreeMap::new();
        backend_sets.insert(
            "web".to_string(),
            BackendSet {
                name: "web".into(),
                policy: "ROUND_ROBIN".into(),
                backends: Vec::new(),
            },
        );
        let lb = LoadBalancer {
            id: Ocid::mint(rng, "loadbalancer", REGION_SHORT),
            compartment_id: compartment.clone(),
            display_name: "fleet-lb".into(),
            lifecycle_state: "ACTIVE".into(),
            shape_name: "flexible".into(),
            is_private: true,
            subnet_ids: vec![subnet.clone()],
            time_created: now.into(),
            backend_sets,
        };
        let id = lb.id.clone();
        self.load_balancers.push(lb);
        id
    }
}
