//! The tagging scheme: how fleetctl marks the instances it launches.
//!
//! Every instance fleetctl launches carries four freeform tags:
//!
//! | Key | Value | Example |
//! |---|---|---|
//! | `fleetctl-fleet` | the fleet name (`metadata.name`) | `web-prod` |
//! | `fleetctl-group` | the instance group | `api` |
//! | `fleetctl-operation` | the operation that launched it | `op-20250114-0001` |
//! | `fleetctl-slot` | the slot (index in the group) the operation launched it for | `3` |
//!
//! They are merged with the user's freeform tags (`spec.freeformTags`); fleetctl's keys win:
//! a user tag with one of these keys (compared case-insensitively, as OCI compares tag keys)
//! is dropped, so a fleet file cannot make an instance look like it belongs to another fleet,
//! group or operation. Freeform tags are used (not defined tags) because they need no tag
//! namespace to exist in the tenancy.
//!
//! Discovery (`compute::list_fleet_instances`) pages ListInstances and keeps the instances
//! whose `fleetctl-fleet` equals the fleet name ([`ObservedFleetTags::belongs_to`]);
//! ListInstances has no tag filter.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::ids::{FleetName, GroupName, OperationId};

/// The fleet tag key.
pub const TAG_FLEET: &str = "fleetctl-fleet";
/// The group tag key.
pub const TAG_GROUP: &str = "fleetctl-group";
/// The operation tag key.
pub const TAG_OPERATION: &str = "fleetctl-operation";
/// The slot tag key.
pub const TAG_SLOT: &str = "fleetctl-slot";
/// Every key fleetctl owns.
pub const RESERVED_TAG_KEYS: [&str; 4] = [TAG_FLEET, TAG_GROUP, TAG_OPERATION, TAG_SLOT];

/// The tags that mark one launched instance (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FleetTags {
    fleet: FleetName,
    group: GroupName,
    operation: OperationId,
    slot: u32,
}

impl FleetTags {
    /// The tags of the instance `operation` launches for `slot` of `group` in `fleet`. Every
    /// value fits OCI's freeform tags: the id types limit their length and characters.
    pub fn new(fleet: FleetName, group: GroupName, operation: OperationId, slot: u32) -> Self {
        Self {
            fleet,
            group,
            operation,
            slot,
        }
    }

    /// The fleet.
    pub fn fleet(&self) -> &FleetName {
        &self.fleet
    }

    /// The group.
    pub fn group(&self) -> &GroupName {
        &self.group
    }

    /// The operation id.
    pub fn operation(&self) -> &OperationId {
        &self.operation
    }

    /// The slot.
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// fleetctl's four tags.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (TAG_FLEET.to_string(), self.fleet.as_str().to_string()),
            (TAG_GROUP.to_string(), self.group.as_str().to_string()),
            (
                TAG_OPERATION.to_string(),
                self.operation.as_str().to_string(),
            ),
            (TAG_SLOT.to_string(), self.slot.to_string()),
        ])
    }

    /// The user's tags plus fleetctl's; a user key equal (case-insensitively) to one of
    /// fleetctl's is dropped and fleetctl's value is used.
    pub fn merged_with(&self, user: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = user
            .iter()
            .filter(|(k, _)| !is_reserved_key(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.extend(self.to_map());
        out
    }
}

/// True when `key` is one of fleetctl's tag keys (case-insensitive).
pub fn is_reserved_key(key: &str) -> bool {
    RESERVED_TAG_KEYS
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(key))
}

/// The user tag keys that [`FleetTags::merged_with`] would drop, for a validation warning.
pub fn reserved_keys_in(user: &BTreeMap<String, String>) -> Vec<&str> {
    user.keys()
        .map(String::as_str)
        .filter(|k| is_reserved_key(k))
        .collect()
}

/// The value of tag `key` in `tags`, matching the key case-insensitively (OCI treats tag keys
/// case-insensitively, so another tool may have written `Fleetctl-Fleet`).
pub fn tag_value<'a>(tags: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    tags.get(key).map(String::as_str).or_else(|| {
        tags.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    })
}

/// fleetctl's tags as read back from an instance; fields are `None` when the tag is missing
/// or unusable (an instance tagged by hand, or by an older fleetctl).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedFleetTags {
    /// `fleetctl-fleet` (shared text: a listing's copies of an instance share it).
    pub fleet: Option<Arc<str>>,
    /// `fleetctl-group`, when it is a valid group name.
    pub group: Option<GroupName>,
    /// `fleetctl-operation`, when it is a valid operation id.
    pub operation: Option<OperationId>,
    /// `fleetctl-slot`, when it is a number.
    pub slot: Option<u32>,
}

impl ObservedFleetTags {
    /// Reads fleetctl's tags from an instance's freeform tags.
    pub fn read(tags: &BTreeMap<String, String>) -> Self {
        Self::from_values(
            tag_value(tags, TAG_FLEET),
            tag_value(tags, TAG_GROUP),
            tag_value(tags, TAG_OPERATION),
            tag_value(tags, TAG_SLOT),
        )
    }

    fn from_values(
        fleet: Option<&str>,
        group: Option<&str>,
        operation: Option<&str>,
        slot: Option<&str>,
    ) -> Self {
        Self {
            fleet: fleet.map(Arc::from),
            group: group.and_then(|g| g.parse().ok()),
            operation: operation.and_then(|o| o.parse().ok()),
            slot: slot.and_then(|s| s.parse().ok()),
        }
    }

    /// True when the instance carries no `fleetctl-fleet` tag at all (see
    /// [`has_no_fleet_tag`]).
    pub fn has_no_fleet_tag(&self) -> bool {
        self.fleet.is_none()
    }

    /// True when the instance is tagged as a member of `fleet`.
    pub fn belongs_to(&self, fleet: &FleetName) -> bool {
        self.fleet.as_deref() == Some(fleet.as_str())
    }
}

/// Reads fleetctl's tags straight from a `freeformTags` JSON object, as [`ObservedFleetTags::read`]
/// reads them from the whole map (a key matched case-insensitively, an exact match first),
/// without building that map: the other keys and their values are skipped unread. Fleet
/// discovery decodes every instance of the compartment on every step, so this is most of
/// what an instance costs to read.
impl<'de> Deserialize<'de> for ObservedFleetTags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FleetTagsVisitor)
    }
}

struct FleetTagsVisitor;

/// A reserved key found: whether it matched exactly, the key as written, its value.
type Found<'de> = (bool, Cow<'de, str>, Cow<'de, str>);

/// A JSON string, borrowed from the input when it has no escapes (a tag's key or value, an
/// instance's creation time): read without a copy.
pub(crate) struct Key<'de>(pub(crate) Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

impl<'de> Visitor<'de> for FleetTagsVisitor {
    type Value = ObservedFleetTags;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("freeform tags (an object of strings)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ObservedFleetTags, A::Error> {
        // For each reserved key: the value of the exact key, else of the smallest key equal to
        // it case-insensitively (the first `tag_value` finds in a sorted map).
        let mut found: [Option<Found<'de>>; 4] = Default::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let Some(at) = RESERVED_TAG_KEYS
                .iter()
                .position(|r| r.eq_ignore_ascii_case(&key))
            else {
                map.next_value::<de::IgnoredAny>()?;
                continue;
            };
            let Key(value) = map.next_value()?;
            let exact = key == RESERVED_TAG_KEYS[at];
            // A key given twice keeps its last value, as a map would.
            let wins = match &found[at] {
                None => true,
                Some((was_exact, _, _)) if exact || *was_exact => exact,
                Some((_, was, _)) => key <= *was,
            };
            if wins {
                found[at] = Some((exact, key, value));
            }
        }
        let [fleet, group, operation, slot] = &found;
        fn value<'a>(f: &'a Option<Found<'_>>) -> Option<&'a str> {
            f.as_ref().map(|(_, _, v)| v.as_ref())
        }
        Ok(ObservedFleetTags::from_values(
            value(fleet),
            value(group),
            value(operation),
            value(slot),
        ))
    }
}

/// The freeform tags of an untagged instance that a sync adopts into `group` of `fleet`:
/// its own tags kept (any that look like fleetctl's dropped), plus `fleetctl-fleet` and
/// `fleetctl-group`. No operation or slot: no operation launched it.
pub fn adoption_tags(
    existing: &BTreeMap<String, String>,
    fleet: &FleetName,
    group: &GroupName,
) -> BTreeMap<String, String> {
    let mut tags: BTreeMap<String, String> = existing
        .iter()
        .filter(|(k, _)| !is_reserved_key(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    tags.insert(TAG_FLEET.to_string(), fleet.as_str().to_string());
    tags.insert(TAG_GROUP.to_string(), group.as_str().to_string());
    tags
}

/// Whether an instance carries no `fleetctl-fleet` tag at all (in any case): the only kind a
/// sync may adopt by display name. An instance tagged for another fleet is never taken.
pub fn has_no_fleet_tag(tags: &BTreeMap<String, String>) -> bool {
    tag_value(tags, TAG_FLEET).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags() -> FleetTags {
        FleetTags::new(
            "web-prod".parse().unwrap(),
            "api".parse().unwrap(),
            "op-1".parse().unwrap(),
            3,
        )
    }

    #[test]
    fn fleet_tags_win_over_user_tags_with_the_same_key_in_any_case() {
        let user = BTreeMap::from([
            ("team".to_string(), "payments".to_string()),
            ("fleetctl-fleet".to_string(), "someone-else".to_string()),
            ("FleetCtl-Slot".to_string(), "99".to_string()),
        ]);
        let merged = tags().merged_with(&user);
        assert_eq!(
            merged,
            BTreeMap::from([
                ("team".to_string(), "payments".to_string()),
                ("fleetctl-fleet".to_string(), "web-prod".to_string()),
                ("fleetctl-group".to_string(), "api".to_string()),
                ("fleetctl-operation".to_string(), "op-1".to_string()),
                ("fleetctl-slot".to_string(), "3".to_string()),
            ])
        );
        assert_eq!(
            reserved_keys_in(&user),
            vec!["FleetCtl-Slot", "fleetctl-fleet"]
        );
    }

    #[test]
    fn tags_read_back_match_what_was_written() {
        let observed = ObservedFleetTags::read(&tags().to_map());
        assert!(observed.belongs_to(&"web-prod".parse().unwrap()));
        assert!(!observed.belongs_to(&"web".parse().unwrap()));
        assert_eq!(observed.group.as_ref().map(|g| g.as_str()), Some("api"));
        assert_eq!(
            observed.operation.as_ref().map(|o| o.as_str()),
            Some("op-1")
        );
        assert_eq!(observed.slot, Some(3));
    }

    #[test]
    fn hand_written_tags_are_read_case_insensitively_and_leniently() {
        let t = BTreeMap::from([
            ("Fleetctl-Fleet".to_string(), "web".to_string()),
            ("fleetctl-slot".to_string(), "three".to_string()),
            ("fleetctl-group".to_string(), "Not A Group".to_string()),
            ("fleetctl-operation".to_string(), "not an id".to_string()),
        ]);
        let observed = ObservedFleetTags::read(&t);
        assert_eq!(observed.fleet.as_deref(), Some("web"));
        assert_eq!(observed.slot, None);
        assert_eq!(observed.group, None);
        assert_eq!(observed.operation, None);
    }

    /// The decoder that reads `freeformTags` straight from JSON reads what
    /// [`ObservedFleetTags::read`] reads from the decoded map, for every kind of hand-made tag
    /// set: keys in another case, both cases at once, unusable values, escaped keys, other
    /// tags of any shape skipped.
    #[test]
    fn tags_decoded_from_json_are_those_read_from_the_whole_map() {
        let cases = [
            r#"{}"#,
            r#"{"fleetctl-fleet":"web","fleetctl-group":"api","fleetctl-operation":"op-1","fleetctl-slot":"4","team":"payments"}"#,
            r#"{"Fleetctl-Fleet":"web","fleetctl-slot":"three","fleetctl-group":"Not A Group"}"#,
            r#"{"FLEETCTL-FLEET":"upper","Fleetctl-Fleet":"title","fleetctl-fleet":"exact"}"#,
            r#"{"fleetctl-fleet":"exact","FLEETCTL-FLEET":"upper"}"#,
            r#"{"Fleetctl-Fleet":"title","FLEETCTL-FLEET":"upper"}"#,
            r#"{"fleetctl-fleet":"first","fleetctl-fleet":"last"}"#,
            r#"{"fleetctl\u002dfleet":"escaped","fleetctl-group":"a\u0070i"}"#,
            r#"{"team":"payments","cost-center":"42","fleetctl-groupx":"no"}"#,
            r#"{"fleetctl-slot":"7","fleetctl-Slot":"8"}"#,
        ];
        for json in cases {
            let map: BTreeMap<String, String> = serde_json::from_str(json).unwrap();
            let decoded: ObservedFleetTags = serde_json::from_str(json).unwrap();
            assert_eq!(decoded, ObservedFleetTags::read(&map), "{json}");
            assert_eq!(decoded.has_no_fleet_tag(), has_no_fleet_tag(&map), "{json}");
        }
        // Other tags are skipped unread, whatever their shape; fleetctl's own must be strings.
        let decoded: ObservedFleetTags =
            serde_json::from_str(r#"{"odd":{"nested":[1,2]},"n":3,"fleetctl-fleet":"web"}"#)
                .unwrap();
        assert_eq!(decoded.fleet.as_deref(), Some("web"));
        let err = serde_json::from_str::<ObservedFleetTags>(r#"{"fleetctl-fleet":7}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected a string"), "{err}");
        assert!(serde_json::from_str::<ObservedFleetTags>("[]").is_err());
    }
}
