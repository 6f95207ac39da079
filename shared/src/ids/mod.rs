//! Identifiers and names: every id that crosses a module boundary, as a checked newtype.
//!
//! - [`ocid`]: Oracle Cloud IDs checked by form ([`Ocid`]) and by resource type
//!   ([`CompartmentId`], [`ImageId`], [`InstanceId`], …).
//! - [`names`]: the fleet's names ([`FleetName`], [`GroupName`]) and fleetctl's own ids
//!   ([`OperationId`], [`HolderId`]).
//!
//! Every type here is made by one macro (`id!`) and fails with one error type,
//! [`InvalidId`]: each parses from text (`parse`, `FromStr`, `TryFrom<String>`), gives it back
//! (`as_str`, `Display`, `AsRef<str>`), serializes as a plain string, and describes itself in
//! JSON Schema with a `pattern` that accepts exactly what its parser accepts.
//!
//! A leaf of the core: it uses no other module of the crate, so the config, the OCI client,
//! the store and the operations all share these types without depending on each other.
//!
//! **Invariant:** a bare `String` never crosses a module boundary as an id.

use schemars::Schema;

/// Why a text is not a valid id or name. Ids are not secrets: messages show the rejected text,
/// shortened to 80 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidId {
    /// The text is not an OCID at all.
    #[error(
        "malformed OCID {}: {reason}; an OCID has the form {}",
        quoted(value),
        ocid::OCID_FORM
    )]
    MalformedOcid {
        /// The rejected text.
        value: String,
        /// What is wrong with it, in plain English.
        reason: &'static str,
    },
    /// A well-formed OCID of the wrong resource type.
    #[error("expected {expected}, got {} {got} OCID", article(got))]
    WrongType {
        /// What was expected, e.g. "an image OCID (ocid1.image.…)".
        expected: &'static str,
        /// The resource type the OCID has, e.g. "subnet".
        got: String,
    },
    /// A name or id that does not have its form.
    #[error("must be {expected}, got {}", quoted(value))]
    Form {
        /// What a valid value looks like.
        expected: &'static str,
        /// The rejected text.
        value: String,
    },
}

/// `text` in double quotes, shortened to 80 characters.
pub(crate) fn quoted(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() > MAX {
        let short: String = text.chars().take(MAX).collect();
        format!("{:?}…", short)
    } else {
        format!("{text:?}")
    }
}

fn article(word: &str) -> &'static str {
    match word.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// A string schema with a description, an optional `maxLength` and a pattern.
pub(crate) fn string_schema(description: &str, pattern: &str, max_length: Option<usize>) -> Schema {
    let mut map = serde_json::Map::new();
    map.insert("description".into(), description.into());
    map.insert("type".into(), "string".into());
    if let Some(max) = max_length {
        map.insert("maxLength".into(), max.into());
    }
    map.insert("pattern".into(), pattern.into());
    Schema::from(map)
}

/// Deserializes a string through `parse` inside the string visitor, so that a JSON reader
/// reports the position of the value itself, and a value of another type is described by
/// what was expected.
pub(crate) struct ParseVisitor<F>(pub &'static str, pub F);

impl<'de, T, F> serde::de::Visitor<'de> for ParseVisitor<F>
where
    F: FnOnce(&str) -> Result<T, String>,
{
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        (self.1)(v).map_err(E::custom)
    }
}

/// The value `last` holds when it was read from the same `text`, else `parse(text)` (which
/// then becomes the one `last` holds). A ledger of 10,000 records names a handful of groups
/// and operations, so the text ids (shared text) keep the last one read on each thread: a
/// repeat is neither checked again nor allocated.
pub(crate) fn reuse_last<T: Clone + 'static>(
    last: &'static std::thread::LocalKey<std::cell::RefCell<Option<T>>>,
    text: &str,
    as_str: fn(&T) -> &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, String> {
    let known = last.with_borrow(|l| l.as_ref().filter(|v| as_str(v) == text).cloned());
    if let Some(value) = known {
        return Ok(value);
    }
    let value = parse(text)?;
    last.set(Some(value.clone()));
    Ok(value)
}

/// The one macro of every id type.
///
/// - `Name: ocid ["type", …], expected: "…", pattern: "regex of the types"`: a typed OCID,
///   an [`Ocid`] whose resource type is one of the list.
/// - `Name: text, expected: "…", description: "…", pattern: "^…$", check: |s| …`: a checked
///   text; `check` and `pattern` accept the same strings.
macro_rules! id {
    (
        $(#[$doc:meta])*
        $name:ident: ocid [$($ty:literal),+], expected: $expected:literal, pattern: $pattern:literal
    ) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Ocid);

        impl $name {
            /// The resource types this ID accepts.
            pub const RESOURCE_TYPES: &'static [&'static str] = &[$($ty),+];
            /// What this ID is, for messages ("an image OCID (ocid1.image.…)").
            pub const EXPECTED: &'static str = $expected;

            /// Checks `text` (form and resource type) and wraps it.
            pub fn parse(text: &str) -> Result<Self, $crate::ids::InvalidId> {
                Self::from_ocid(Ocid::parse(text)?)
            }

            /// Checks the resource type of an already parsed OCID.
            pub fn from_ocid(ocid: Ocid) -> Result<Self, $crate::ids::InvalidId> {
                if Self::RESOURCE_TYPES.contains(&ocid.resource_type()) {
                    Ok($name(ocid))
                } else {
                    Err($crate::ids::InvalidId::WrongType {
                        expected: Self::EXPECTED,
                        got: ocid.resource_type().to_owned(),
                    })
                }
            }

            /// The OCID as written.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            /// The untyped OCID.
            pub fn as_ocid(&self) -> &Ocid {
                &self.0
            }

            fn from_string(s: String) -> Result<Self, $crate::ids::InvalidId> {
                Self::from_ocid(Ocid::try_from(s)?)
            }

            fn schema() -> schemars::Schema {
                $crate::ids::string_schema(
                    concat!("Must be ", $expected, "."),
                    &ocid_pattern($pattern),
                    Some(MAX_OCID_LEN),
                )
            }
        }

        impl From<$name> for Ocid {
            fn from(id: $name) -> Ocid {
                id.0
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str($crate::ids::ParseVisitor(
                    Self::EXPECTED,
                    |text: &str| Self::parse(text).map_err(|e| e.to_string()),
                ))
            }
        }

        id!(@common $name);
    };

    (
        $(#[$doc:meta])*
        $name:ident: text, expected: $expected:literal, description: $description:literal,
        pattern: $pattern:literal, check: $check:expr
    ) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(std::sync::Arc<str>);

        impl $name {
            /// What a valid value looks like, for messages.
            pub const EXPECTED: &'static str = $expected;
            /// The schema pattern: it accepts exactly what [`Self::parse`] accepts.
            pub const PATTERN: &'static str = $pattern;

            /// Checks `text` and wraps it.
            pub fn parse(text: &str) -> Result<Self, $crate::ids::InvalidId> {
                let check: fn(&str) -> bool = $check;
                if check(text) {
                    Ok($name(std::sync::Arc::from(text)))
                } else {
                    Err($crate::ids::InvalidId::Form { expected: $expected, value: text.to_owned() })
                }
            }

            /// The text as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            fn from_string(s: String) -> Result<Self, $crate::ids::InvalidId> {
                Self::parse(&s)
            }

            fn schema() -> schemars::Schema {
                $crate::ids::string_schema($description, $pattern, None)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                std::thread_local! {
                    static LAST: std::cell::RefCell<Option<$name>> =
                        const { std::cell::RefCell::new(None) };
                }
                deserializer.deserialize_str($crate::ids::ParseVisitor(
                    Self::EXPECTED,
                    |text: &str| {
                        $crate::ids::reuse_last(&LAST, text, Self::as_str, |text| {
                            Self::parse(text).map_err(|e| e.to_string())
                        })
                    },
                ))
            }
        }

        id!(@common $name);
    };

    (@common $name:ident) => {
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::ids::InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::ids::InvalidId;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::from_string(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                Self::schema()
            }
        }
    };
}

pub mod names;
pub mod ocid;

pub use names::{FleetName, GroupName, HolderId, OperationId};
pub use ocid::{
    CompartmentId, ImageId, InstanceId, LoadBalancerId, MAX_OCID_LEN, Ocid, ResourceId, SubnetId,
    TenancyId, UserId, VnicAttachmentId, VnicId,
};
