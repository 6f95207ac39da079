//! Oracle Cloud IDs (OCIDs), checked by form and by resource type.
//!
//! An OCID has the form `ocid1.<type>.<realm>.[region][.future].<unique>`:
//!
//! - `type`: the resource type, lower-case letters and digits (`instance`, `subnet`, …);
//! - `realm`: lower-case letters and digits (`oc1`, `oc2`, …);
//! - `region`: lower-case letters, digits and `-`; empty for global resources, as in
//!   `ocid1.compartment.oc1..aaaa…`;
//! - `future`: an optional extra part (lower-case letters, digits and `-`), reserved by OCI;
//! - `unique`: lower-case letters and digits.
//!
//! [`Ocid`] accepts any resource type. The typed IDs ([`CompartmentId`], [`ImageId`],
//! [`SubnetId`], [`LoadBalancerId`], [`InstanceId`], [`TenancyId`], [`UserId`]) also check the
//! type, so a subnet OCID can never be passed where an image is expected. All of them
//! serialize as plain strings and describe themselves in JSON Schema with a `pattern` that
//! accepts exactly the strings their `FromStr` accepts; a refused text is an
//! [`InvalidId`].

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{InvalidId, string_schema};

/// The longest OCID accepted (real ones are about 90 characters).
pub const MAX_OCID_LEN: usize = 255;

/// The form every OCID has, for messages.
pub(crate) const OCID_FORM: &str = "ocid1.<type>.<realm>.[region][.future].<unique>";

/// A syntactically valid OCID of any resource type.
///
/// Its text is shared, not copied, when the id is cloned: the planner and the ledger hold
/// thousands of instance ids and clone them freely.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ocid {
    text: Arc<str>,
}

impl Ocid {
    /// Checks `text` and wraps it.
    pub fn parse(text: &str) -> Result<Ocid, InvalidId> {
        check_form(text)?;
        Ok(Ocid {
            text: Arc::from(text),
        })
    }

    /// The OCID as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The resource type (`instance`, `subnet`, …).
    pub fn resource_type(&self) -> &str {
        self.part(1).unwrap_or_default()
    }

    /// The realm (`oc1`, …).
    pub fn realm(&self) -> &str {
        self.part(2).unwrap_or_default()
    }

    /// The region part, or `None` when it is empty (global resources such as compartments).
    pub fn region(&self) -> Option<&str> {
        self.part(3).filter(|r| !r.is_empty())
    }

    /// The unique part (the last one).
    pub fn unique(&self) -> &str {
        self.text.rsplit('.').next().unwrap_or_default()
    }

    fn part(&self, n: usize) -> Option<&str> {
        // A byte loop: `split('.')` searches with memchr, slower on parts this short.
        let bytes = self.text.as_bytes();
        let mut start = 0;
        let mut k = 0;
        for (at, &b) in bytes.iter().enumerate() {
            if b == b'.' {
                if k == n {
                    return self.text.get(start..at);
                }
                k += 1;
                start = at + 1;
            }
        }
        (k == n).then(|| self.text.get(start..)).flatten()
    }
}

impl fmt::Display for Ocid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Ocid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ocid({:?})", self.text)
    }
}

impl FromStr for Ocid {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ocid::parse(s)
    }
}

impl TryFrom<String> for Ocid {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        check_form(&s)?;
        Ok(Ocid { text: Arc::from(s) })
    }
}

impl AsRef<str> for Ocid {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl Serialize for Ocid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Ocid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(super::ParseVisitor("an OCID", |text: &str| {
            Ocid::parse(text).map_err(|e| e.to_string())
        }))
    }
}

impl JsonSchema for Ocid {
    fn schema_name() -> Cow<'static, str> {
        "Ocid".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema(
            "An Oracle Cloud ID of any resource type: ocid1.<type>.<realm>.[region][.future].<unique>.",
            &ocid_pattern("[a-z0-9]+"),
            Some(MAX_OCID_LEN),
        )
    }
}

/// Checks the generic OCID form. The JSON Schema pattern built by [`ocid_pattern`] accepts
/// exactly the same strings (plus the length limit, expressed as `maxLength`).
fn check_form(text: &str) -> Result<(), InvalidId> {
    // Every instance id of every listing and every ledger record is checked: one pass over
    // the bytes for the usual, well-formed case; the reason for a refusal from the slow one.
    if well_formed(text.as_bytes()) {
        return Ok(());
    }
    explain_form(text)
}

/// True when `text` has the generic OCID form (what [`explain_form`] accepts), in one pass.
fn well_formed(text: &[u8]) -> bool {
    let Some(rest) = text.strip_prefix(b"ocid1.") else {
        return false;
    };
    if text.len() > MAX_OCID_LEN {
        // Possibly still short enough in characters: the slow path counts them.
        return false;
    }
    // The byte offsets of the dots in `rest`, and which parts hold a '-' (bit k: part k).
    let mut dots = [0usize; 4];
    let mut count = 0;
    let mut dashes = 0u8;
    for (at, &b) in rest.iter().enumerate() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' => {}
            b'-' => dashes |= 1 << count,
            b'.' if count < dots.len() => {
                dots[count] = at;
                count += 1;
            }
            _ => return false,
        }
    }
    // type . realm . region [. future] . unique: 3 or 4 dots.
    if count < 3 {
        return false;
    }
    let last = count; // the unique part's index
    let starts = |k: usize| if k == 0 { 0 } else { dots[k - 1] + 1 };
    let ends = |k: usize| if k == last { rest.len() } else { dots[k] };
    let non_empty = |k: usize| ends(k) > starts(k);
    let no_dash = |k: usize| dashes & (1 << k) == 0;
    non_empty(0)
        && no_dash(0)
        && non_empty(1)
        && no_dash(1)
        && (count == 3 || non_empty(3))
        && non_empty(last)
        && no_dash(last)
}

/// [`check_form`]'s slow path: what is wrong with `text`, part by part.
fn explain_form(text: &str) -> Result<(), InvalidId> {
    let malformed = |reason| InvalidId::MalformedOcid {
        value: text.to_owned(),
        reason,
    };
    // Characters, not bytes (a byte count is never below it).
    if text.len() > MAX_OCID_LEN && text.chars().count() > MAX_OCID_LEN {
        return Err(malformed("it is longer than 255 characters"));
    }
    let Some(rest) = text.strip_prefix("ocid1.") else {
        return Err(malformed("it must start with \"ocid1.\""));
    };
    // type, realm, region, [future], unique (every instance id of every listing is checked:
    // no allocation here)
    let mut parts = [""; 5];
    let mut count = 0;
    for part in rest.split('.') {
        if count == parts.len() {
            count += 1;
            break;
        }
        parts[count] = part;
        count += 1;
    }
    if count != 4 && count != 5 {
        return Err(malformed(
            "it does not have the right number of dot-separated parts",
        ));
    }
    let parts = &parts[..count];
    let lower_alnum = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let lower_alnum_dash = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if !lower_alnum(parts[0]) {
        return Err(malformed(
            "the resource type must be lower-case letters and digits",
        ));
    }
    if !lower_alnum(parts[1]) {
        return Err(malformed("the realm must be lower-case letters and digits"));
    }
    if !lower_alnum_dash(parts[2]) {
        return Err(malformed(
            "the region must be lower-case letters, digits and '-' (or empty)",
        ));
    }
    if parts.len() == 5 && (parts[3].is_empty() || !lower_alnum_dash(parts[3])) {
        return Err(malformed(
            "the part before the unique ID must be lower-case letters, digits and '-'",
        ));
    }
    if !lower_alnum(parts[parts.len() - 1]) {
        return Err(malformed(
            "the unique part must be lower-case letters and digits",
        ));
    }
    Ok(())
}

/// The JSON Schema pattern of an OCID whose type matches the regex fragment `types`.
pub(crate) fn ocid_pattern(types: &str) -> String {
    format!(r"^ocid1\.{types}\.[a-z0-9]+\.[a-z0-9-]*(\.[a-z0-9-]+)?\.[a-z0-9]+$")
}

id! {
    /// The OCID of a compartment, or of a tenancy (its root compartment).
    CompartmentId: ocid ["compartment", "tenancy"],
    expected: "a compartment or tenancy OCID (ocid1.compartment.… or ocid1.tenancy.…)",
    pattern: "(compartment|tenancy)"
}

id! {
    /// The OCID of a compute image.
    ImageId: ocid ["image"],
    expected: "an image OCID (ocid1.image.…)",
    pattern: "image"
}

id! {
    /// The OCID of a VCN subnet.
    SubnetId: ocid ["subnet"],
    expected: "a subnet OCID (ocid1.subnet.…)",
    pattern: "subnet"
}

id! {
    /// The OCID of a load balancer: classic (`loadbalancer`) or network (`networkloadbalancer`).
    LoadBalancerId: ocid ["loadbalancer", "networkloadbalancer"],
    expected: "a load balancer OCID (ocid1.loadbalancer.… or ocid1.networkloadbalancer.…)",
    pattern: "(loadbalancer|networkloadbalancer)"
}

id! {
    /// The OCID of a compute instance.
    InstanceId: ocid ["instance"],
    expected: "an instance OCID (ocid1.instance.…)",
    pattern: "instance"
}

id! {
    /// The OCID of a tenancy.
    TenancyId: ocid ["tenancy"],
    expected: "a tenancy OCID (ocid1.tenancy.…)",
    pattern: "tenancy"
}

id! {
    /// The OCID of an IAM user.
    UserId: ocid ["user"],
    expected: "a user OCID (ocid1.user.…)",
    pattern: "user"
}

id! {
    /// The OCID of a VNIC.
    VnicId: ocid ["vnic"],
    expected: "a VNIC OCID (ocid1.vnic.…)",
    pattern: "vnic"
}

id! {
    /// The OCID of a VNIC attachment (the link between an instance and a VNIC).
    VnicAttachmentId: ocid ["vnicattachment"],
    expected: "a VNIC attachment OCID (ocid1.vnicattachment.…)",
    pattern: "vnicattachment"
}

/// The OCID of the resource a resource principal acts for (a function, a notebook...): any
/// resource type.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResourceId(Ocid);

impl ResourceId {
    /// Checks the form of `text` (any resource type) and wraps it.
    pub fn parse(text: &str) -> Result<Self, InvalidId> {
        Ocid::parse(text).map(ResourceId)
    }

    /// The OCID as written.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResourceId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Debug for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResourceId({:?})", self.as_str())
    }
}

impl From<&TenancyId> for CompartmentId {
    /// The tenancy is the root compartment.
    fn from(tenancy: &TenancyId) -> Self {
        CompartmentId(tenancy.as_ocid().clone())
    }
}

impl LoadBalancerId {
    /// True for a network load balancer (`ocid1.networkloadbalancer.…`), false for a classic one.
    pub fn is_network(&self) -> bool {
        self.0.resource_type() == "networkloadbalancer"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_regional_global_and_future_forms() {
        let regional = Ocid::parse("ocid1.image.oc1.iad.aaaabbbb").unwrap();
        assert_eq!(regional.resource_type(), "image");
        assert_eq!(regional.realm(), "oc1");
        assert_eq!(regional.region(), Some("iad"));
        assert_eq!(regional.unique(), "aaaabbbb");

        let global = Ocid::parse("ocid1.compartment.oc1..aaaa").unwrap();
        assert_eq!(global.region(), None);
        assert_eq!(global.unique(), "aaaa");

        let future = Ocid::parse("ocid1.instance.oc1.us-ashburn-1.extra-1.abc123").unwrap();
        assert_eq!(future.region(), Some("us-ashburn-1"));
        assert_eq!(future.unique(), "abc123");
    }

    #[test]
    fn rejects_malformed_text_with_a_reason() {
        for (text, reason) in [
            ("", "must start with \"ocid1.\""),
            ("ami-1234", "must start with \"ocid1.\""),
            ("ocid2.image.oc1.iad.aaaa", "must start with \"ocid1.\""),
            ("ocid1.image.oc1", "number of dot-separated parts"),
            ("ocid1.image.oc1.iad.x.y.z", "number of dot-separated parts"),
            (
                "ocid1.Image.oc1.iad.aaaa",
                "resource type must be lower-case",
            ),
            ("ocid1.image.OC1.iad.aaaa", "realm must be lower-case"),
            ("ocid1.image.oc1.IAD.aaaa", "region must be lower-case"),
            ("ocid1.image.oc1.iad.AAAA", "unique part must be lower-case"),
            ("ocid1.image.oc1.iad.", "unique part must be lower-case"),
            ("ocid1.image.oc1.iad..aaaa", "part before the unique ID"),
        ] {
            let err = Ocid::parse(text).unwrap_err().to_string();
            assert!(err.contains(reason), "{text:?}: {err}");
            assert!(err.starts_with("malformed OCID"), "{err}");
        }
        let long = format!("ocid1.image.oc1.iad.{}", "a".repeat(300));
        assert!(
            Ocid::parse(&long)
                .unwrap_err()
                .to_string()
                .contains("longer than 255")
        );
    }

    #[test]
    fn typed_ids_reject_other_resource_types() {
        let err = ImageId::parse("ocid1.subnet.oc1.iad.aaaa").unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected an image OCID (ocid1.image.…), got a subnet OCID"
        );
        let err = SubnetId::parse("ocid1.image.oc1.iad.aaaa").unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected a subnet OCID (ocid1.subnet.…), got an image OCID"
        );
        assert!(CompartmentId::parse("ocid1.tenancy.oc1..aaaa").is_ok());
        assert!(CompartmentId::parse("ocid1.compartment.oc1..aaaa").is_ok());
        assert!(CompartmentId::parse("ocid1.user.oc1..aaaa").is_err());
        assert!(
            !LoadBalancerId::parse("ocid1.loadbalancer.oc1.iad.aaaa")
                .unwrap()
                .is_network()
        );
        assert!(
            LoadBalancerId::parse("ocid1.networkloadbalancer.oc1.iad.aaaa")
                .unwrap()
                .is_network()
        );
        assert!(InstanceId::parse("ocid1.instance.oc1.iad.aaaa").is_ok());
        assert!(TenancyId::parse("ocid1.compartment.oc1..aaaa").is_err());
        assert!(UserId::parse("ocid1.user.oc1..aaaa").is_ok());
    }

    #[test]
    fn serde_round_trips_as_a_plain_string_and_checks_on_the_way_in() {
        let id: ImageId = serde_json::from_str("\"ocid1.image.oc1.iad.aaaa\"").unwrap();
        assert_eq!(id.as_str(), "ocid1.image.oc1.iad.aaaa");
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"ocid1.image.oc1.iad.aaaa\""
        );
        let err = serde_json::from_str::<ImageId>("\"ocid1.subnet.oc1.iad.aaaa\"").unwrap_err();
        assert!(err.to_string().contains("got a subnet OCID"), "{err}");
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let err = Ocid::parse(&"x".repeat(200)).unwrap_err().to_string();
        assert!(err.len() < 250, "{err}");
        assert!(err.contains('…'));
    }

    proptest::proptest! {
        /// The one-pass check accepts exactly what the part-by-part one accepts, and the part
        /// lookup agrees with splitting on dots.
        #[test]
        fn the_fast_form_check_agrees_with_the_explaining_one(
            text in "(ocid1\\.)?[a-z0-9.\\-]{0,24}|[a-zA-Z0-9.\\-_é]{0,12}|ocid1\\.[a-z]{1,3}\\.[a-z0-9]{0,2}\\.[a-z0-9-]{0,3}(\\.[a-z0-9-]{0,2})?\\.[a-z0-9-]{0,3}(\\.x)?",
        ) {
            proptest::prop_assert_eq!(
                well_formed(text.as_bytes()),
                explain_form(&text).is_ok(),
                "{:?}", text
            );
            let ocid = Ocid { text: Arc::from(text.as_str()) };
            for n in 0..7 {
                proptest::prop_assert_eq!(ocid.part(n), text.split('.').nth(n), "{:?} part {}", text, n);
            }
        }
    }

    #[test]
    fn the_fast_form_check_leaves_long_ids_to_the_explaining_one() {
        let long = format!("ocid1.instance.oc1.iad.{}", "a".repeat(300));
        assert!(!well_formed(long.as_bytes()));
        assert!(
            Ocid::parse(&long)
                .unwrap_err()
                .to_string()
                .contains("longer than 255")
        );
        let at_limit = format!("ocid1.instance.oc1.iad.{}", "a".repeat(255 - 23));
        assert_eq!(at_limit.len(), 255);
        assert!(well_formed(at_limit.as_bytes()));
    }
}
