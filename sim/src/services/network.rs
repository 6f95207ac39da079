//! Virtual networking (`/20160918`): VCNs, subnets, VNICs and VNIC attachments.
//! ListVnicAttachments, GetVnicAttachment, GetVnic, GetSubnet, ListSubnets.
//!
//! LaunchInstance creates the primary VNIC in the launch subnet with a private IP taken from
//! the subnet's CIDR. The VNIC and its attachment follow their instance: the attachment is
//! ATTACHING (with `vnicId: null`) while the instance is PROVISIONING, then ATTACHED; DETACHING
//! while it is TERMINATING, DETACHED once TERMINATED, when the IP is free again.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::time::SystemTime;

use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::check_tenancy;
use super::identity::new_etag;
use super::lifecycle::InstanceState;
use crate::auth::SigningRule;
use crate::clock::rfc3339;
use crate::http::router::{Access, Call, Operation, op};
use crate::http::{ApiError, SimResponse, list_response, paginate_with};
use crate::ocid::Ocid;
use crate::state::{Ctx, REGION_SHORT, World};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Vcn {
    pub id: Ocid,
    pub compartment_id: Ocid,
    pub display_name: String,
    pub cidr_block: String,
    pub lifecycle_state: String,
}

/// An IPv4 CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    base: u32,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = s.split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        if !(16..=30).contains(&prefix) {
            return None;
        }
        let mask = u32::MAX << (32 - prefix);
        Some(Self {
            base: u32::from(addr) & mask,
            prefix,
        })
    }

    fn size(self) -> u32 {
        1 << (32 - self.prefix)
    }

    pub fn contains(self, ip: Ipv4Addr) -> bool {
        let ip = u32::from(ip);
        ip >= self.base && ip - self.base < self.size()
    }

    /// OCI reserves the first two addresses (network, gateway) and the last (broadcast).
    pub fn first_host(self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 2)
    }

    pub fn last_host(self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + self.size() - 2)
    }

    fn gateway(self) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1)
    }
}

#[derive(Debug, Clone)]
pub struct Subnet {
    pub id: Ocid,
    pub compartment_id: Ocid,
    pub vcn_id: Ocid,
    pub display_name: String,
    pub dns_label: String,
    pub cidr: Cidr,
    pub cidr_block: String,
    pub prohibit_public_ip_on_vnic: bool,
    pub route_table_id: Ocid,
    pub security_list_id: Ocid,
    pub dhcp_options_id: Ocid,
    pub time_created: SystemTime,
    pub etag: String,
    /// Addresses never handed to a VNIC (the load balancers' own addresses).
    pub reserved: BTreeSet<Ipv4Addr>,
    /// Where the next allocation starts looking: allocation moves forward and wraps, so a
    /// freed address is reused as late as possible.
    cursor: u32,
}

#[derive(Debug, Clone)]
pub struct Vnic {
    pub id: Ocid,
    pub attachment_id: Ocid,
    pub instance_id: Ocid,
    pub subnet_id: Ocid,
    pub compartment_id: Ocid,
    pub availability_domain: String,
    pub private_ip: Ipv4Addr,
    pub public_ip: Option<Ipv4Addr>,
    pub mac_address: String,
    pub hostname_label: Option<String>,
    pub display_name: String,
    pub nsg_ids: Vec<String>,
    pub skip_source_dest_check: bool,
    pub freeform_tags: BTreeMap<String, String>,
    pub defined_tags: BTreeMap<String, Map<String, Value>>,
    pub time_created: SystemTime,
    pub seq: u64,
}

/// Network's part of the world.
#[derive(Debug, Default)]
pub struct NetworkState {
    pub vcns: Vec<Vcn>,
    pub subnets: Vec<Subnet>,
    /// Every VNIC, in creation order; add through [`NetworkState::push_vnic`].
    pub vnics: Vec<Vnic>,
    next_public: u32,
    next_seq: u64,
    /// Positions in `vnics` by private and public address: allocation and backend health
    /// look addresses up, and a scan per lookup made fleets of thousands quadratic.
    by_address: HashMap<Ipv4Addr, Vec<usize>>,
}

/// The VNIC part of LaunchInstanceDetails (`createVnicDetails`).
#[derive(Debug, Clone)]
pub struct NewVnic {
    pub subnet_id: String,
    pub assign_public_ip: Option<bool>,
    pub private_ip: Option<Ipv4Addr>,
    pub hostname_label: Option<String>,
    pub display_name: Option<String>,
    pub nsg_ids: Vec<String>,
    pub skip_source_dest_check: bool,
    pub freeform_tags: BTreeMap<String, String>,
    pub defined_tags: BTreeMap<String, Map<String, Value>>,
}

impl NetworkState {
    /// One VCN (10.0.0.0/16) with two regional subnets: `fleet-subnet` 10.0.0.0/24 (private;
    /// what fleetctl's demo fleet file uses) and `fleet-subnet-b` 10.0.1.0/24 (public IPs allowed).
    pub fn seed(
        &mut self,
        rng: &mut fastrand::Rng,
        compartment: &Ocid,
        now: SystemTime,
    ) -> Vec<Ocid> {
        let vcn = Vcn {
            id: Ocid::mint(rng, "vcn", REGION_SHORT),
            compartment_id: compartment.clone(),
            display_name: "fleet-vcn".into(),
            cidr_block: "10.0.0.0/16".into(),
            lifecycle_state: "AVAILABLE".into(),
        };
        let route_table = Ocid::mint(rng, "routetable", REGION_SHORT);
        let security_list = Ocid::mint(rng, "securitylist", REGION_SHORT);
        let dhcp = Ocid::mint(rng, "dhcpoptions", REGION_SHORT);
        let mut ids = Vec::new();
        for (name, label, cidr, private) in [
            ("fleet-subnet", "fleet", "10.0.0.0/24", true),
            ("fleet-subnet-b", "fleetb", "10.0.1.0/24", false),
        ] {
            let parsed = Cidr::parse(cidr).unwrap_or(Cidr {
                base: 0x0a00_0000,
                prefix: 24,
            });
            let subnet = Subnet {
                id: Ocid::mint(rng, "subnet", REGION_SHORT),
                compartment_id: compartment.clone(),
                vcn_id: vcn.id.clone(),
                display_name: name.into(),
                dns_label: label.into(),
                cidr: parsed,
                cidr_block: cidr.into(),
                prohibit_public_ip_on_vnic: private,
                route_table_id: route_table.clone(),
                security_list_id: security_list.clone(),
                dhcp_options_id: dhcp.clone(),
                time_created: now,
                etag: new_etag(),
                reserved: BTreeSet::new(),
                cursor: 0,
            };
            ids.push(subnet.id.clone());
            self.subnets.push(subnet);
        }
        self.vcns.push(vcn);
        ids
    }

    /// Adds `fleet-subnet-large` (10.0.128.0/17, private, 32,765 host addresses) to the seeded
    /// VCN, for fleets of thousands; returns its id (`None` before [`NetworkState::seed`]).
    pub fn seed_large_subnet(
        &mut self,
        rng: &mut fastrand::Rng,
        compartment: &Ocid,
        now: SystemTime,
    ) -> Option<Ocid> {
        let template = self.subnets.first()?.clone();
        let cidr = "10.0.128.0/17";
        let subnet = Subnet {
            id: Ocid::mint(rng, "subnet", REGION_SHORT),
            compartment_id: compartment.clone(),
            display_name: "fleet-subnet-large".into(),
            dns_label: "fleetlarge".into(),
            cidr: Cidr::parse(cidr)?,
            cidr_block: cidr.into(),
            prohibit_public_ip_on_vnic: true,
            time_created: now,
            etag: new_etag(),
            reserved: BTreeSet::new(),
            cursor: 0,
            ..template
        };
        let id = subnet.id.clone();
        self.subnets.push(subnet);
        Some(id)
    }

    pub fn subnet(&self, id: &str) -> Option<&Subnet> {
        self.subnets.iter().find(|s| s.id.as_str() == id)
    }

    pub fn vnic(&self, id: &str) -> Option<&Vnic> {
        self.vnics.iter().find(|v| v.id.as_str() == id)
    }

    /// Adds a VNIC (VNICs are never removed: a TERMINATED instance's VNIC frees its
    /// addresses).
    pub fn push_vnic(&mut self, vnic: Vnic) {
        let at = self.vnics.len();
        self.by_address.entry(vnic.private_ip).or_default().push(at);
        if let Some(public) = vnic.public_ip {
            self.by_address.entry(public).or_default().push(at);
        }
        self.vnics.push(vnic);
    }

    /// The VNICs that have (or had) `ip` as their private or public address, oldest first.
    pub fn with_address(&self, ip: Ipv4Addr) -> impl Iterator<Item = &Vnic> {
        self.by_address
            .get(&ip)
            .into_iter()
            .flatten()
            .filter_map(|at| self.vnics.get(*at))
            .filter(move |v| v.private_ip == ip || v.public_ip == Some(ip))
    }

    /// Reserves an address of a subnet for something that is not an instance (an LB).
    pub fn reserve(&mut self, subnet: &Ocid, ip: Ipv4Addr) {
        if let Some(s) = self.subnets.iter_mut().find(|s| &s.id == subnet) {
            s.reserved.insert(ip);
        }
    }

    fn take_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }
}

/// Whether a VNIC's addresses are still held: its instance is not TERMINATED.
pub fn vnic_ip_in_use(world: &World, v: &Vnic) -> bool {
    world
        .compute
        .get(v.instance_id.as_str())
        .is_some_and(|i| i.is_live())
}

/// Whether a live instance's VNIC holds `ip` as its private address.
fn private_ip_in_use(world: &World, ip: Ipv4Addr) -> bool {
    world
        .network
        .with_address(ip)
        .any(|v| v.private_ip == ip && vnic_ip_in_use(world, v))
}

fn related_not_found(what: &str, id: &str, field: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "RelatedResourceNotAuthorizedOrNotFound",
        format!("Authorization failed or requested resource not found: {what} {id} ({field})"),
    )
}

/// Creates an instance's primary VNIC and its attachment; returns the VNIC id. Checks the
/// subnet, the public-IP rule and the private address (given or allocated).
pub fn create_primary_vnic(
    world: &mut World,
    instance_id: &Ocid,
    compartment_id: &str,
    availability_domain: &str,
    d: &NewVnic,
    now: SystemTime,
) -> Result<Ocid, ApiError> {
    let subnet = world
        .network
        .subnet(&d.subnet_id)
        .ok_or_else(|| related_not_found("subnet", &d.subnet_id, "createVnicDetails.subnetId"))?
        .clone();
    let public = d
        .assign_public_ip
        .unwrap_or(!subnet.prohibit_public_ip_on_vnic);
    if public && subnet.prohibit_public_ip_on_vnic {
        return Err(ApiError::invalid_parameter(format!(
            "createVnicDetails.assignPublicIp is true but subnet {} prohibits public IPs on VNICs",
            subnet.id
        )));
    }
    let private_ip = match d.private_ip {
        Some(ip) => {
            if !subnet.cidr.contains(ip)
                || ip < subnet.cidr.first_host()
                || ip > subnet.cidr.last_host()
                || subnet.reserved.contains(&ip)
            {
                return Err(ApiError::invalid_parameter(format!(
                    "createVnicDetails.privateIp {ip} is not an available address of subnet {} ({})",
                    subnet.id, subnet.cidr_block
                )));
            }
            if private_ip_in_use(world, ip) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "Conflict",
                    format!(
                        "The private IP {ip} is already in use in subnet {}",
                        subnet.id
                    ),
                ));
            }
            ip
        }
        None => allocate(world, &subnet.id).ok_or_else(|| {
            ApiError::invalid_parameter(format!(
                "subnet {} ({}) has no free private IP address",
                subnet.id, subnet.cidr_block
            ))
        })?,
    };
    let public_ip = public.then(|| {
        world.network.next_public += 1;
        let n = world.network.next_public;
        Ipv4Addr::new(129, 213, ((n >> 8) & 0xff) as u8, (n & 0xff) as u8)
    });
    let id = Ocid::mint(&mut world.rng, "vnic", REGION_SHORT);
    let attachment_id = Ocid::mint(&mut world.rng, "vnicattachment", REGION_SHORT);
    let mac = format!(
        "02:00:17:{:02X}:{:02X}:{:02X}",
        world.rng.u8(..),
        world.rng.u8(..),
        world.rng.u8(..)
    );
    let seq = world.network.take_seq();
    world.network.push_vnic(Vnic {
        id: id.clone(),
        attachment_id,
        instance_id: instance_id.clone(),
        subnet_id: subnet.id.clone(),
        compartment_id: Ocid::from_string(compartment_id),
        availability_domain: availability_domain.into(),
        private_ip,
        public_ip,
        mac_address: mac,
        hostname_label: d.hostname_label.clone(),
        display_name: d
            .display_name
            .clone()
            .unwrap_or_else(|| "primary vnic".into()),
        nsg_ids: d.nsg_ids.clone(),
        skip_source_dest_check: d.skip_source_dest_check,
        freeform_tags: d.freeform_tags.clone(),
        defined_tags: d.defined_tags.clone(),
        time_created: now,
        seq,
    });
    Ok(id)
}

/// The next free host address of a subnet, moving forward from the subnet's cursor.
fn allocate(world: &mut World, subnet_id: &Ocid) -> Option<Ipv4Addr> {
    let at = world
        .network
        .subnets
        .iter()
        .position(|s| &s.id == subnet_id)?;
    let s = &world.network.subnets[at];
    let first = u32::from(s.cidr.first_host());
    let count = u32::from(s.cidr.last_host()) - first + 1;
    let (ip, offset) = (0..count)
        .map(|step| (s.cursor + step) % count)
        .map(|offset| (Ipv4Addr::from(first + offset), offset))
        .find(|(ip, _)| !s.reserved.contains(ip) && !private_ip_in_use(world, *ip))?;
    world.network.subnets[at].cursor = (offset + 1) % count;
    Some(ip)
}

/// The VNIC and attachment states that follow an instance state.
fn states(instance: Option<InstanceState>) -> (&'static str, &'static str) {
    match instance {
        Some(InstanceState::Provisioning) => ("PROVISIONING", "ATTACHING"),
        Some(InstanceState::Terminating) => ("TERMINATING", "DETACHING"),
        Some(InstanceState::Terminated) | None => ("TERMINATED", "DETACHED"),
        Some(_) => ("AVAILABLE", "ATTACHED"),
    }
}

fn instance_state(world: &World, v: &Vnic) -> Option<InstanceState> {
    world.compute.get(v.instance_id.as_str()).map(|i| i.state)
}

fn vnic_etag(world: &World, v: &Vnic) -> String {
    world
        .compute
        .get(v.instance_id.as_str())
        .map(|i| format!("{}-{}", i.etag, v.seq))
        .unwrap_or_else(|| format!("vnic-{}", v.seq))
}

pub fn attachment_json(world: &World, v: &Vnic) -> Value {
    let state = instance_state(world, v);
    let (_, attach) = states(state);
    json!({
        "id": v.attachment_id,
        "instanceId": v.instance_id,
        "compartmentId": v.compartment_id,
        "availabilityDomain": v.availability_domain,
        "displayName": format!("vnicattachment-{}", v.seq),
        "lifecycleState": attach,
        "vnicId": if state == Some(InstanceState::Provisioning) { Value::Null } else { json!(v.id) },
        "subnetId": v.subnet_id,
        "nicIndex": 0,
        "vlanTag": 0,
        "vlanId": null,
        "timeCreated": rfc3339(v.time_created),
    })
}

pub fn vnic_json(world: &World, v: &Vnic) -> Value {
    let (state, _) = states(instance_state(world, v));
    json!({
        "id": v.id,
        "compartmentId": v.compartment_id,
        "availabilityDomain": v.availability_domain,
        "displayName": v.display_name,
        "lifecycleState": state,
        "privateIp": v.private_ip.to_string(),
        "publicIp": v.public_ip.map(|ip| ip.to_string()),
        "isPrimary": true,
        "subnetId": v.subnet_id,
        "hostnameLabel": v.hostname_label,
        "macAddress": v.mac_address,
        "nsgIds": v.nsg_ids,
        "skipSourceDestCheck": v.skip_source_dest_check,
        "ipv6Addresses": [],
        "freeformTags": v.freeform_tags,
        "definedTags": v.defined_tags,
        "systemTags": {},
        "timeCreated": rfc3339(v.time_created),
    })
}

pub fn subnet_json(s: &Subnet) -> Value {
    json!({
        "id": s.id,
        "compartmentId": s.compartment_id,
        "vcnId": s.vcn_id,
        "displayName": s.display_name,
        "dnsLabel": s.dns_label,
        "cidrBlock": s.cidr_block,
        "ipv4CidrBlocks": [s.cidr_block],
        "availabilityDomain": null,
        "lifecycleState": "AVAILABLE",
        "prohibitPublicIpOnVnic": s.prohibit_public_ip_on_vnic,
        "prohibitInternetIngress": s.prohibit_public_ip_on_vnic,
        "routeTableId": s.route_table_id,
        "securityListIds": [s.security_list_id],
        "dhcpOptionsId": s.dhcp_options_id,
        "subnetDomainName": format!("{}.fleetvcn.oraclevcn.com", s.dns_label),
        "virtualRouterIp": s.cidr.gateway().to_string(),
        "virtualRouterMac": "00:00:17:00:00:01",
        "timeCreated": rfc3339(s.time_created),
        "freeformTags": {},
        "definedTags": {},
    })
}

/// A VNIC is shown as long as its instance is (TERMINATED instances vanish after retention).
fn vnic_visible(world: &World, v: &Vnic, tick: super::settings::Tick) -> bool {
    world
        .compute
        .get(v.instance_id.as_str())
        .is_some_and(|i| i.visible(tick, &world.settings))
}

pub fn operations() -> Vec<Operation> {
    let signed = Access::Signed(SigningRule::Standard);
    vec![
        op(
            "ListVnicAttachments",
            "compute",
            Method::GET,
            "/20160918/vnicAttachments",
            signed,
            list_vnic_attachments,
        ),
        op(
            "GetVnicAttachment",
            "compute",
            Method::GET,
            "/20160918/vnicAttachments/{vnicAttachmentId}",
            signed,
            get_vnic_attachment,
        ),
        op(
            "GetVnic",
            "network",
            Method::GET,
            "/20160918/vnics/{vnicId}",
            signed,
            get_vnic,
        ),
        op(
            "GetSubnet",
            "network",
            Method::GET,
            "/20160918/subnets/{subnetId}",
            signed,
            get_subnet,
        ),
        op(
            "ListSubnets",
            "network",
            Method::GET,
            "/20160918/subnets",
            signed,
            list_subnets,
        ),
    ]
}

fn list_vnic_attachments(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let req = call.req;
    let compartment = req.required_query("compartmentId")?;
    let instance = req.query_param("instanceId");
    let ad = req.query_param("availabilityDomain");
    let vnic = req.query_param("vnicId");
    let (world, tick) = ctx.settled();
    check_tenancy(&world, call, "compartment", &compartment)?;
    if !world.identity.compartment_exists(&compartment) {
        return Err(ApiError::not_found("compartment", &compartment));
    }
    let mut found: Vec<&Vnic> = world
        .network
        .vnics
        .iter()
        .filter(|v| v.compartment_id.as_str() == compartment)
        .filter(|v| {
            instance
                .as_deref()
                .is_none_or(|i| v.instance_id.as_str() == i)
        })
        .filter(|v| ad.as_deref().is_none_or(|a| v.availability_domain == a))
        .filter(|v| vnic.as_deref().is_none_or(|id| v.id.as_str() == id))
        .filter(|v| vnic_visible(&world, v, tick))
        .collect();
    found.sort_by_key(|v| v.seq);
    let items: Vec<Value> = found.iter().map(|v| attachment_json(&world, v)).collect();
    let (page, next) = paginate_with(&items, req, world.settings.page_size())?;
    Ok(list_response(&page, next))
}

fn get_vnic_attachment(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let id = call.param("vnicAttachmentId")?;
    let (world, tick) = ctx.settled();
    check_tenancy(&world, call, "vnicAttachment", id)?;
    let v = world
        .network
        .vnics
        .iter()
        .find(|v| v.attachment_id.as_str() == id && vnic_visible(&world, v, tick))
        .ok_or_else(|| ApiError::not_found("vnicAttachment", id))?;
    Ok(SimResponse::ok_json(&attachment_json(&world, v)).with_etag(&vnic_etag(&world, v)))
}

fn get_vnic(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let id = call.param("vnicId")?;
    let (world, tick) = ctx.settled();
    check_tenancy(&world, call, "vnic", id)?;
    let v = world
        .network
        .vnic(id)
        .filter(|v| vnic_visible(&world, v, tick))
        .ok_or_else(|| ApiError::not_found("vnic", id))?;
    Ok(SimResponse::ok_json(&vnic_json(&world, v)).with_etag(&vnic_etag(&world, v)))
}

fn get_subnet(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let id = call.param("subnetId")?;
    let world = ctx.world();
    check_tenancy(&world, call, "subnet", id)?;
    let s = world
        .network
        .subnet(id)
        .ok_or_else(|| ApiError::not_found("subnet", id))?;
    Ok(SimResponse::ok_json(&subnet_json(s)).with_etag(&s.etag))
}

fn list_subnets(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let req = call.req;
    let compartment = req.required_query("compartmentId")?;
    let vcn = req.query_param("vcnId");
    let world = ctx.world();
    check_tenancy(&world, call, "compartment", &compartment)?;
    if !world.identity.compartment_exists(&compartment) {
        return Err(ApiError::not_found("compartment", &compartment));
    }
    let items: Vec<Value> = world
        .network
        .subnets
        .iter()
        .filter(|s| s.compartment_id.as_str() == compartment)
        .filter(|s| vcn.as_deref().is_none_or(|v| s.vcn_id.as_str() == v))
        .map(subnet_json)
        .collect();
    let (page, next) = paginate_with(&items, req, world.settings.page_size())?;
    Ok(list_response(&page, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_hosts_skip_oci_reserved_addresses() {
        let c = Cidr::parse("10.0.1.0/24").unwrap();
        assert_eq!(c.first_host(), Ipv4Addr::new(10, 0, 1, 2));
        assert_eq!(c.last_host(), Ipv4Addr::new(10, 0, 1, 254));
        assert!(c.contains(Ipv4Addr::new(10, 0, 1, 77)));
        assert!(!c.contains(Ipv4Addr::new(10, 0, 2, 1)));
        assert!(Cidr::parse("10.0.0.0").is_none());
        assert!(Cidr::parse("10.0.0.0/8").is_none());
    }

    #[test]
    fn vnic_states_follow_the_instance() {
        assert_eq!(
            states(Some(InstanceState::Provisioning)),
            ("PROVISIONING", "ATTACHING")
        );
        assert_eq!(
            states(Some(InstanceState::Stopped)),
            ("AVAILABLE", "ATTACHED")
        );
        assert_eq!(
            states(Some(InstanceState::Terminating)),
            ("TERMINATING", "DETACHING")
        );
        assert_eq!(
            states(Some(InstanceState::Terminated)),
            ("TERMINATED", "DETACHED")
        );
    }
}
