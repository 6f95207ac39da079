//! Typed OCIDs: a bare `String` never crosses a module boundary as an id.
//!
//! The types do not validate the OCID shape: OCI decides what exists, and the local simulator
//! may hand out ids of its own shape. They exist so a tenancy id cannot be passed where a
//! compartment id is expected.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! ocid_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an OCID string as given (no shape check; see the module docs).
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The OCID as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The OCID as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

ocid_type!(
    /// The OCID of a tenancy (`ocid1.tenancy.oc1..…`).
    TenancyId
);
ocid_type!(
    /// The OCID of an IAM user (`ocid1.user.oc1..…`).
    UserId
);
ocid_type!(
    /// The OCID of a compartment; the tenancy OCID is also a valid compartment id.
    CompartmentId
);
ocid_type!(
    /// The OCID of a compute instance (`ocid1.instance.oc1.<region>.…`).
    InstanceId
);
ocid_type!(
    /// The OCID of the resource a resource principal acts for (e.g. a function).
    ResourceId
);

impl From<&TenancyId> for CompartmentId {
    /// The tenancy is the root compartment.
    fn from(tenancy: &TenancyId) -> Self {
        CompartmentId::new(tenancy.as_str())
    }
}
