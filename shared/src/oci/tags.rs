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

use std::collections::BTreeMap;

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
    /// `fleetctl-fleet`.
    pub fleet: Option<String>,
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
        Self {
            fleet: tag_value(tags, TAG_FLEET).map(str::to_string),
            group: tag_value(tags, TAG_GROUP).and_then(|g| g.parse().ok()),
            operation: tag_value(tags, TAG_OPERATION).and_then(|o| o.parse().ok()),
            slot: tag_value(tags, TAG_SLOT).and_then(|s| s.parse().ok()),
        }
    }

    /// True when the instance is tagged as a member of `fleet`.
    pub fn belongs_to(&self, fleet: &FleetName) -> bool {
        self.fleet.as_deref() == Some(fleet.as_str())
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
}
