//! The demo's fleet file, written from the simulator's seeded ids.
//!
//! The simulator knows nothing of fleetctl's fleet-file format (it is checked against Oracle's
//! SDK, not against fleetctl): this module is the one place that writes a fleet file for it.
//! `fleetctl demo` writes `DIR/sim/fleet.yaml` with it, and the test harness
//! (`fleetctl-testkit`) and the benchmarks include this same file (`#[path]`), so every
//! simulated fleet starts from one text.
//!
//! The fleet: group `web` of 3 behind the seeded classic load balancer (backend set, port
//! 8080), in the seeded compartment, image, first availability domain and subnet (the large
//! subnet when the simulator seeded it), signed with the simulator's DEFAULT profile (API
//! key), every service at the simulator's URL, the ledger in `DIR/state.json`.

use std::path::{Path, PathBuf};

/// The fleet file's text for `sim`, with the ledger at `state` (a path or a state URL).
pub fn text(sim: &oci_sim::SimHandle, state: &str) -> String {
    let s = sim.seeded();
    let ad = s
        .availability_domains
        .first()
        .map(String::as_str)
        .unwrap_or_default();
    format!(
        "kind: FleetConfig\n\
         metadata: {{name: demo}}\n\
         spec:\n\
         \x20 compartmentId: {compartment}\n\
         \x20 imageId: {image}\n\
         \x20 availabilityDomain: \"{ad}\"\n\
         \x20 shape: VM.Standard.E4.Flex\n\
         \x20 shapeConfig: {{ocpus: 1, memoryInGBs: 16}}\n\
         \x20 subnetId: {subnet}\n\
         \x20 endpoint: {base_url}\n\
         \x20 auth: {{method: user, configFile: {config}, profile: DEFAULT, region: {region}}}\n\
         \x20 instances:\n\
         \x20   - {{name: web, count: 3}}\n\
         \x20 loadBalancer: {{enabled: true, type: classic, loadBalancerId: {lb}, backendSetName: {bs}, port: 8080}}\n\
         \x20 state: {{url: {state}}}\n",
        compartment = s.compartment,
        image = s.image,
        subnet = s.large_subnet.as_ref().unwrap_or(&s.subnet),
        base_url = sim.base_url(),
        config = sim.config_file().display(),
        region = s.region,
        lb = s.load_balancer,
        bs = s.backend_set,
    )
}

/// Writes [`text`] to `DIR/fleet.yaml` of the simulator's output directory, with the ledger
/// at `DIR/state.json`, and returns the file's path.
///
/// # Errors
/// The file cannot be written.
pub fn write(sim: &oci_sim::SimHandle) -> std::io::Result<PathBuf> {
    write_to(sim, &sim.out_dir().join("fleet.yaml"))
}

/// Writes [`text`] to `path`, with the ledger at `state.json` beside the simulator's files.
///
/// # Errors
/// The file cannot be written.
pub fn write_to(sim: &oci_sim::SimHandle, path: &Path) -> std::io::Result<PathBuf> {
    let state = sim.out_dir().join("state.json");
    std::fs::write(path, text(sim, &state.display().to_string()))?;
    Ok(path.to_path_buf())
}
