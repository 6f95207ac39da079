//! Oracle Cloud IDs: `ocid1.<resource type>.oc1.<region key or empty>.<unique part>`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An OCID. A newtype so ids never travel as bare strings between modules.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ocid(String);

impl Ocid {
    /// Mints a new OCID; `region` is the short key (`iad`) for regional resources, `""` for
    /// global ones (tenancy, user, compartment).
    pub fn mint(rng: &mut fastrand::Rng, resource_type: &str, region: &str) -> Self {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let unique: String = (0..52)
            .map(|_| char::from(ALPHABET[rng.usize(..ALPHABET.len())]))
            .collect();
        Self(format!(
            "ocid1.{resource_type}.oc1.{region}.aaaaaaaa{unique}"
        ))
    }

    /// Wraps an existing id (from a request); no validation.
    pub fn from_string(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ocid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Ocid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_are_well_formed_and_unique() {
        let mut rng = fastrand::Rng::with_seed(1);
        let a = Ocid::mint(&mut rng, "compartment", "");
        let b = Ocid::mint(&mut rng, "image", "iad");
        assert!(a.as_str().starts_with("ocid1.compartment.oc1..aaaaaaaa"));
        assert!(b.as_str().starts_with("ocid1.image.oc1.iad.aaaaaaaa"));
        assert_ne!(a, Ocid::mint(&mut rng, "compartment", ""));
        let unique = a.as_str().rsplit('.').next().unwrap();
        assert_eq!(unique.len(), 60);
        assert!(
            unique
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }
}
