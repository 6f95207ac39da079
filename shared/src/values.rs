//! Small value types the fleet file shares with the OCI client and the ledger: which kind of
//! load balancer ([`LoadBalancerType`]), how a rolling restart works ([`RolloutStrategy`],
//! [`RebootAction`]) and an instance's metadata ([`InstanceMetadata`]).
//!
//! A leaf of the core, so `config`, `oci` and `store` use them without depending on each
//! other. They are part of the fleet file: their doc comments are the JSON Schema's
//! descriptions.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which kind of load balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LoadBalancerType {
    /// The classic load balancer (ocid1.loadbalancer.…).
    #[default]
    Classic,
    /// The network load balancer (ocid1.networkloadbalancer.…).
    Network,
}

/// How a rolling restart replaces instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RolloutStrategy {
    /// Launch a new instance, then terminate the old one.
    #[default]
    Replace,
    /// Reboot instances in place.
    Reboot,
}

/// The instance action used by the reboot strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum RebootAction {
    /// A graceful reboot (ACPI).
    #[default]
    #[serde(rename = "SOFTRESET")]
    SoftReset,
    /// A hard reset.
    #[serde(rename = "RESET")]
    Reset,
}

/// Instance metadata (`ssh_authorized_keys`, `user_data`, …), as the fleet file gives it and
/// as OCI sends it back. `user_data` often carries bootstrap secrets, so `Debug` shows the
/// keys and the size of each value, never the values.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceMetadata(pub BTreeMap<String, String>);

impl InstanceMetadata {
    /// The most bytes (keys plus values) OCI accepts in one instance's metadata (it counts
    /// `extendedMetadata` too).
    pub const MAX_BYTES: usize = 32_000;

    /// True when there is no metadata.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Keys plus values, in bytes (what OCI limits to [`InstanceMetadata::MAX_BYTES`]).
    pub fn byte_size(&self) -> usize {
        self.0.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}

impl std::ops::Deref for InstanceMetadata {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for InstanceMetadata {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl From<BTreeMap<String, String>> for InstanceMetadata {
    fn from(map: BTreeMap<String, String>) -> Self {
        Self(map)
    }
}

impl std::fmt::Debug for InstanceMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        struct Size(usize);
        impl std::fmt::Debug for Size {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "<{} bytes>", self.0)
            }
        }
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, Size(v.len()))))
            .finish()
    }
}
