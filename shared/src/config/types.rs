//! Checked scalar types of the fleet file: names, durations, limits, addresses.
//!
//! Each type parses from a string (or, for [`CountOrPercent`], a number), serializes back to
//! the same text, and describes itself in JSON Schema with a `pattern` that accepts exactly
//! what its parser accepts. Where a parser is stricter than a regular expression can say (a
//! port above 65535, a duration that overflows), the difference is noted on the type.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::ids::{FleetName, GroupName, quoted, string_schema};
use crate::urls::state::{InvalidStateUrl, StoreUrl};

/// A value that does not have the form its field requires. The message is complete and
/// user-facing ("must be … , got …"); it never contains the value of a field that might hold a
/// secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidValue {
    message: String,
}

impl InvalidValue {
    fn new(message: impl Into<String>) -> Self {
        InvalidValue {
            message: message.into(),
        }
    }
}

/// Implements `FromStr`, `TryFrom<String>`, `Display`, `as_str`, serde (as a string) and
/// `JsonSchema` for a newtype over `String` with a `check` function.
macro_rules! checked_string {
    ($name:ident, $description:expr, $pattern:expr, $max:expr) => {
        impl $name {
            /// The text as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Wraps a constant known to pass the check (the defaults; a unit test checks
            /// them).
            #[allow(dead_code)]
            pub(crate) fn from_const(s: &'static str) -> Self {
                $name(s.to_owned())
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::check(s)?;
                Ok($name(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $name::check(&s)?;
                Ok($name(s))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                $name::try_from(s).map_err(serde::de::Error::custom)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                string_schema($description, $pattern, $max)
            }
        }
    };
}

fn got(s: &str) -> String {
    quoted(s)
}

// ---------------------------------------------------------------------------------------------

/// An OCI region identifier (`us-ashburn-1`) or short code (`iad`): `[a-z0-9-]+`. Mapping a
/// short code to its identifier is the auth module's job.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Region(String);

impl Region {
    pub(crate) const EXPECTED: &'static str = "a region identifier such as \"us-ashburn-1\" or a short code such as \"iad\" (lower-case letters, digits and '-')";

    fn check(s: &str) -> Result<(), InvalidValue> {
        let ok = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(())
        } else {
            Err(InvalidValue::new(format!(
                "must be {}, got {}",
                Self::EXPECTED,
                got(s)
            )))
        }
    }
}

checked_string!(
    Region,
    "An OCI region identifier (us-ashburn-1) or short code (iad).",
    "^[a-z0-9-]+$",
    None
);

/// The name of an environment variable: `[A-Za-z_][A-Za-z0-9_]*`. Messages about it never
/// show the rejected value: a user who pastes the token itself here must not see it in logs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvVarName(String);

impl EnvVarName {
    pub(crate) const EXPECTED: &'static str =
        "the name of an environment variable (letters, digits and '_', not starting with a digit)";

    fn check(s: &str) -> Result<(), InvalidValue> {
        let ok = s
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(())
        } else {
            Err(InvalidValue::new(format!(
                "must be {}; the value given is not shown in case it is a secret",
                Self::EXPECTED
            )))
        }
    }
}

checked_string!(
    EnvVarName,
    "The name of an environment variable (not its value).",
    "^[A-Za-z_][A-Za-z0-9_]*$",
    None
);

/// One SSH public key on a single line (`ssh-ed25519 AAAA… user@host`). Messages never show
/// the rejected value, which might be a private key pasted by mistake.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SshPublicKey(String);

impl SshPublicKey {
    pub(crate) const EXPECTED: &'static str =
        "one SSH public key on a single line, such as \"ssh-ed25519 AAAA… user@host\"";

    fn check(s: &str) -> Result<(), InvalidValue> {
        if s.contains("PRIVATE KEY") {
            return Err(InvalidValue::new(
                "this looks like a private key: use the public key (the .pub file) instead; \
                 the value given is not shown",
            ));
        }
        let ok = s.chars().next().is_some_and(|c| !c.is_whitespace()) && !s.contains(['\n', '\r']);
        if ok {
            Ok(())
        } else {
            Err(InvalidValue::new(format!(
                "must be {}; the value given is not shown",
                Self::EXPECTED
            )))
        }
    }
}

checked_string!(
    SshPublicKey,
    "One SSH public key on a single line.",
    r"^\S[^\r\n]*$",
    None
);

/// Where the state document lives: a path, or a URL with scheme `file://`, `memory://`,
/// `s3://` or `oci://`. Checked by the state store's own parser
/// ([`crate::urls::state::StoreUrl::parse`]), so `validate` accepts exactly what a run can open.
/// Messages never show user info (`user:secret@`): such a URL is shown as `scheme://***`.
///
/// The schema pattern checks the scheme (in any case), that `file://`, `memory://` and `s3://`
/// URLs have no `@`, `?` or `#`, that an `oci://` URL has one `@` before its first `/` and no
/// `:` before it, and that a plain path has no `:`. The parser also checks bucket, namespace
/// and object names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StateUrl(String);

impl StateUrl {
    /// The URL schemes a state store may use.
    pub const SCHEMES: &'static [&'static str] = &["file", "memory", "s3", "oci"];

    pub(crate) const EXPECTED: &'static str =
        "a path or a URL starting with file://, memory://, s3:// or oci://";

    fn check(s: &str) -> Result<(), InvalidValue> {
        match StoreUrl::parse(s) {
            Ok(_) => Ok(()),
            Err(InvalidStateUrl { url, reason }) => Err(InvalidValue::new(format!(
                "must be {}, got {} ({reason})",
                Self::EXPECTED,
                got(&url)
            ))),
        }
    }

    /// The URL scheme (`s3`, `oci`, …), or `None` for a plain path.
    pub fn scheme(&self) -> Option<&str> {
        self.0.split_once("://").map(|(scheme, _)| scheme)
    }
}

checked_string!(
    StateUrl,
    "A path, or a URL with scheme file://, memory://, s3://bucket/key or oci://bucket@namespace/prefix.",
    concat!(
        r"^(([Ff][Ii][Ll][Ee]|[Mm][Ee][Mm][Oo][Rr][Yy]|[Ss]3)://[^\x00-\x1f\x7f@?#]*",
        r"|[Oo][Cc][Ii]://[^\x00-\x1f\x7f@?#/:]*@[^\x00-\x1f\x7f@?#/]*(/[^\x00-\x1f\x7f@?#]*)?",
        r"|[^:\x00-\x1f\x7f]+)$"
    ),
    None
);

/// A `host:port` address to listen on, such as `127.0.0.1:8080` or `[::1]:8080`.
///
/// The schema pattern allows up to 5 port digits; the parser also rejects ports above 65535.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ListenAddr(String);

impl ListenAddr {
    pub(crate) const EXPECTED: &'static str =
        "host:port such as \"127.0.0.1:8080\" or \"[::1]:8080\" (port 0-65535)";

    fn check(s: &str) -> Result<(), InvalidValue> {
        if Self::split(s).is_some() {
            Ok(())
        } else {
            Err(InvalidValue::new(format!(
                "must be {}, got {}",
                Self::EXPECTED,
                got(s)
            )))
        }
    }

    fn split(s: &str) -> Option<(&str, u16)> {
        let (host, port) = s.rsplit_once(':')?;
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let port: u16 = port.parse().ok()?;
        let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'))
        {
            inner.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        };
        host_ok.then_some((host, port))
    }

    /// The host part (an IPv6 address keeps its brackets).
    pub fn host(&self) -> &str {
        Self::split(&self.0).map(|(h, _)| h).unwrap_or_default()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        Self::split(&self.0).map(|(_, p)| p).unwrap_or_default()
    }
}

checked_string!(
    ListenAddr,
    "host:port to listen on, such as 127.0.0.1:8080.",
    r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$",
    None
);

/// The one base URL used for every OCI service (the simulator): `http://` or `https://`, a
/// host, an optional port and path; no user info, query or fragment. Checked by the same rules
/// as the client applies at connect time ([`crate::urls::endpoint::parse_base_url`]).
/// Messages show at most `scheme://host:port` of a refused value.
///
/// The schema pattern accepts exactly what those rules accept, except that the URL parser
/// also refuses a port above 65535 or a malformed IP address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndpointUrl(String);

impl EndpointUrl {
    pub(crate) const EXPECTED: &'static str = "an http:// or https:// base URL without user info, \
         query or fragment, such as \"http://127.0.0.1:8999\"";

    fn check(s: &str) -> Result<(), InvalidValue> {
        Self::parse_url(s).map(|_| ())
    }

    fn parse_url(s: &str) -> Result<url::Url, InvalidValue> {
        use crate::urls::endpoint::{parse_base_url, shown_base_url};
        parse_base_url(s).map_err(|problem| {
            let subject = match shown_base_url(s) {
                Some(shown) => format!("`{shown}`"),
                None => "the value (not shown, in case it holds a secret)".to_string(),
            };
            InvalidValue::new(format!("must be {}; {subject} {problem}", Self::EXPECTED))
        })
    }

    /// The parsed URL.
    pub fn to_url(&self) -> Option<url::Url> {
        Self::parse_url(&self.0).ok()
    }
}

checked_string!(
    EndpointUrl,
    "One base URL for every OCI service (for example the simulator, http://127.0.0.1:8999).",
    r"^https?://[^\s\x00-\x1f\x7f\\/?#@]+(/[^\s\x00-\x1f\x7f\\?#]*)?$",
    None
);

// ---------------------------------------------------------------------------------------------

/// A duration written as one or more `<digits><unit>` with units `ms`, `s`, `m`, `h`, `d`:
/// `90s`, `1m30s`, `250ms`, `2h`.
///
/// The schema pattern `^([0-9]+(ms|s|m|h|d))+$` accepts exactly the strings the parser
/// accepts, except that the parser also rejects a total above `u64::MAX` milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(Duration);

impl HumanDuration {
    pub(crate) const EXPECTED: &'static str = "a duration such as \"90s\", \"5m\" or \"1m30s\" (a whole number followed by ms, s, m, h or d)";

    /// The schema pattern.
    pub const PATTERN: &'static str = "^([0-9]+(ms|s|m|h|d))+$";

    /// Wraps a duration (sub-millisecond parts are kept but not printed).
    pub fn new(d: Duration) -> Self {
        HumanDuration(d)
    }

    /// The duration.
    pub fn get(self) -> Duration {
        self.0
    }

    /// Parses the duration syntax.
    pub fn parse(s: &str) -> Result<HumanDuration, InvalidValue> {
        let err = || InvalidValue::new(format!("must be {}, got {}", Self::EXPECTED, got(s)));
        let bytes = s.as_bytes();
        if bytes.is_empty() {
            return Err(err());
        }
        let mut total_ms: u64 = 0;
        let mut i = 0;
        while i < bytes.len() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return Err(err());
            }
            let digits = &s[start..i];
            let unit_ms: u64 = match (bytes.get(i), bytes.get(i + 1)) {
                (Some(b'm'), Some(b's')) => {
                    i += 2;
                    1
                }
                (Some(b's'), _) => {
                    i += 1;
                    1_000
                }
                (Some(b'm'), _) => {
                    i += 1;
                    60_000
                }
                (Some(b'h'), _) => {
                    i += 1;
                    3_600_000
                }
                (Some(b'd'), _) => {
                    i += 1;
                    86_400_000
                }
                _ => return Err(err()),
            };
            let too_long = || InvalidValue::new(format!("the duration {} is too long", got(s)));
            let n: u64 = digits.parse().map_err(|_| too_long())?;
            total_ms = n
                .checked_mul(unit_ms)
                .and_then(|ms| total_ms.checked_add(ms))
                .ok_or_else(too_long)?;
        }
        Ok(HumanDuration(Duration::from_millis(total_ms)))
    }
}

impl fmt::Display for HumanDuration {
    /// The canonical form: largest units first, zero parts left out (`1m30s`, `0s`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ] {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl FromStr for HumanDuration {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HumanDuration::parse(s)
    }
}

impl From<HumanDuration> for Duration {
    fn from(d: HumanDuration) -> Duration {
        d.0
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        HumanDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema(
            "A duration: one or more <digits><unit> with units ms, s, m, h, d (90s, 1m30s).",
            Self::PATTERN,
            None,
        )
    }
}

// ---------------------------------------------------------------------------------------------

/// A rollout limit: a whole number of instances, or a percentage (0-100%) of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CountOrPercent {
    /// A number of instances.
    Count(u32),
    /// A percentage of the group's desired count, 0 to 100.
    Percent(u8),
}

impl CountOrPercent {
    pub(crate) const EXPECTED: &'static str =
        "a whole number >= 0 or a percentage such as \"25%\" (0-100%)";

    /// The schema pattern of the percentage form.
    pub const PERCENT_PATTERN: &'static str = "^(100|[1-9]?[0-9])%$";

    /// True for `0` and `0%`.
    pub fn is_zero(self) -> bool {
        matches!(self, CountOrPercent::Count(0) | CountOrPercent::Percent(0))
    }

    /// The limit for a group of `total` instances, rounding a percentage up (as for maxSurge).
    pub fn resolve_up(self, total: u64) -> u64 {
        match self {
            CountOrPercent::Count(n) => u64::from(n),
            CountOrPercent::Percent(p) => (total * u64::from(p)).div_ceil(100),
        }
    }

    /// The limit for a group of `total` instances, rounding a percentage down (as for
    /// maxUnavailable).
    pub fn resolve_down(self, total: u64) -> u64 {
        match self {
            CountOrPercent::Count(n) => u64::from(n),
            CountOrPercent::Percent(p) => total * u64::from(p) / 100,
        }
    }

    /// Parses the percentage form (`"25%"`).
    pub fn parse_percent(s: &str) -> Option<u8> {
        let digits = s.strip_suffix('%')?;
        let canonical = !digits.is_empty()
            && digits.len() <= 3
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        let n: u8 = digits.parse().ok().filter(|_| canonical)?;
        (n <= 100).then_some(n)
    }

    /// Checks a JSON value (a number or a percentage string).
    pub fn from_value(v: &Value) -> Result<CountOrPercent, InvalidValue> {
        let parsed = match v {
            Value::Number(n) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(CountOrPercent::Count),
            Value::String(s) => Self::parse_percent(s).map(CountOrPercent::Percent),
            _ => None,
        };
        parsed.ok_or_else(|| {
            InvalidValue::new(format!(
                "must be {}, got {}",
                Self::EXPECTED,
                crate::config::describe(v)
            ))
        })
    }
}

impl fmt::Display for CountOrPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CountOrPercent::Count(n) => write!(f, "{n}"),
            CountOrPercent::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for CountOrPercent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            CountOrPercent::Count(n) => serializer.serialize_u32(*n),
            CountOrPercent::Percent(_) => serializer.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for CountOrPercent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(deserializer)?;
        CountOrPercent::from_value(&v).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for CountOrPercent {
    fn schema_name() -> Cow<'static, str> {
        "CountOrPercent".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let mut count = serde_json::Map::new();
        count.insert("type".into(), "integer".into());
        count.insert("minimum".into(), 0.into());
        count.insert("maximum".into(), u32::MAX.into());
        let mut percent = serde_json::Map::new();
        percent.insert("type".into(), "string".into());
        percent.insert("pattern".into(), Self::PERCENT_PATTERN.into());
        let mut map = serde_json::Map::new();
        map.insert(
            "description".into(),
            "A whole number of instances, or a percentage of the group such as \"25%\" (0-100%)."
                .into(),
        );
        map.insert(
            "anyOf".into(),
            Value::Array(vec![Value::Object(count), Value::Object(percent)]),
        );
        Schema::from(map)
    }
}

// ---------------------------------------------------------------------------------------------

/// The value of a defined tag: text, a number or a boolean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TagValue {
    /// Text.
    String(String),
    /// A number.
    Number(serde_json::Number),
    /// A boolean.
    Bool(bool),
}

impl JsonSchema for TagValue {
    fn schema_name() -> Cow<'static, str> {
        "DefinedTagValue".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let mut map = serde_json::Map::new();
        map.insert(
            "description".into(),
            "The value of a defined tag: text, a number or a boolean.".into(),
        );
        map.insert(
            "type".into(),
            Value::Array(vec!["string".into(), "number".into(), "boolean".into()]),
        );
        Schema::from(map)
    }
}

/// What a rollout's checkpoint waits for: `resume` (an explicit `fleetctl rollout resume`)
/// or a bake time (a duration, e.g. `5m`) during which every backend stays healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CheckpointWaitSpec {
    /// Wait for `resume`.
    #[default]
    Resume,
    /// Wait this long with every backend healthy.
    Bake(Duration),
}

impl CheckpointWaitSpec {
    pub(crate) const EXPECTED: &'static str =
        "\"resume\" or a bake time such as \"5m\" (a whole number followed by ms, s, m, h or d)";

    /// The schema pattern.
    pub const PATTERN: &'static str = "^(resume|([0-9]+(ms|s|m|h|d))+)$";

    /// Parses `resume` or a duration.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if s == "resume" {
            return Ok(CheckpointWaitSpec::Resume);
        }
        HumanDuration::parse(s)
            .map(|d| CheckpointWaitSpec::Bake(d.get()))
            .map_err(|_| InvalidValue::new(format!("must be {}, got {}", Self::EXPECTED, got(s))))
    }
}

impl FromStr for CheckpointWaitSpec {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CheckpointWaitSpec::parse(s)
    }
}

impl fmt::Display for CheckpointWaitSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointWaitSpec::Resume => f.write_str("resume"),
            CheckpointWaitSpec::Bake(d) => HumanDuration::new(*d).fmt(f),
        }
    }
}

impl Serialize for CheckpointWaitSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CheckpointWaitSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        CheckpointWaitSpec::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for CheckpointWaitSpec {
    fn schema_name() -> Cow<'static, str> {
        "CheckpointWait".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        string_schema(
            "What a checkpoint waits for: resume (an explicit `fleetctl rollout resume`) or a \
             bake time (5m) during which every backend stays healthy.",
            Self::PATTERN,
            None,
        )
    }
}

// ---------------------------------------------------------------------------------------------

/// The checked types by schema definition name: how a value at a place whose schema is
/// `#/$defs/<name>` is checked, and what it should be. Used to turn schema errors (a failed
/// `pattern`, a wrong type) into the same messages the parsers give, and to run the parsers'
/// extra checks that a schema cannot express.
pub(crate) struct Checked {
    /// Schema definition name.
    pub def: &'static str,
    /// What a valid value is ("an image OCID (ocid1.image.…)").
    pub expected: &'static str,
    /// Checks a value; `Err` holds the full message.
    pub check: fn(&Value) -> Result<(), String>,
}

/// The check of a type parsed from a string: other JSON types are wrong.
fn string_check<T: FromStr>(v: &Value) -> Result<(), String>
where
    T::Err: fmt::Display,
{
    match v {
        Value::String(s) => T::from_str(s).map(|_| ()).map_err(|e| e.to_string()),
        other => Err(format!(
            "must be text, got {}",
            crate::config::describe(other)
        )),
    }
}

macro_rules! checked {
    ($($def:literal => $ty:ty),+ $(,)?) => {
        &[$(Checked { def: $def, expected: <$ty>::EXPECTED, check: string_check::<$ty> }),+]
    };
}

pub(crate) const CHECKED: &[Checked] = {
    use crate::ids::{CompartmentId, ImageId, InstanceId, LoadBalancerId, SubnetId};
    const STRINGS: &[Checked] = checked! {
        "CompartmentId" => CompartmentId,
        "ImageId" => ImageId,
        "SubnetId" => SubnetId,
        "LoadBalancerId" => LoadBalancerId,
        "InstanceId" => InstanceId,
        "FleetName" => FleetName,
        "GroupName" => GroupName,
        "Region" => Region,
        "EnvVarName" => EnvVarName,
        "SshPublicKey" => SshPublicKey,
        "StateUrl" => StateUrl,
        "ListenAddr" => ListenAddr,
        "EndpointUrl" => EndpointUrl,
        "Duration" => HumanDuration,
        "CheckpointWait" => CheckpointWaitSpec,
    };
    STRINGS
};

/// Checks that are not about a single string type.
const OTHER_CHECKED: &[Checked] = &[Checked {
    def: "CountOrPercent",
    expected: CountOrPercent::EXPECTED,
    check: |v| {
        CountOrPercent::from_value(v)
            .map(|_| ())
            .map_err(|e| e.to_string())
    },
}];

pub(crate) fn checked(def: &str) -> Option<&'static Checked> {
    CHECKED.iter().chain(OTHER_CHECKED).find(|c| c.def == def)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> u128 {
        HumanDuration::parse(s).unwrap().get().as_millis()
    }

    #[test]
    fn durations_parse_every_unit_and_combinations() {
        assert_eq!(ms("250ms"), 250);
        assert_eq!(ms("90s"), 90_000);
        assert_eq!(ms("5m"), 300_000);
        assert_eq!(ms("2h"), 7_200_000);
        assert_eq!(ms("1d"), 86_400_000);
        assert_eq!(ms("1m30s"), 90_000);
        assert_eq!(ms("1h1m1s1ms"), 3_661_001);
        assert_eq!(ms("0s"), 0);
        assert_eq!(ms("1s1s"), 2_000);
    }

    #[test]
    fn durations_reject_missing_units_spaces_and_signs() {
        for bad in [
            "", "30", "s", "1.5s", "-1s", "1 s", "1S", "1sec", "1m 30s", "ms", "1ms1",
        ] {
            let err = HumanDuration::parse(bad).unwrap_err().to_string();
            assert!(
                err.starts_with("must be a duration such as"),
                "{bad:?}: {err}"
            );
        }
        let err = HumanDuration::parse("99999999999999999999d").unwrap_err();
        assert!(err.to_string().contains("too long"), "{err}");
    }

    #[test]
    fn durations_display_canonically() {
        for (input, shown) in [
            ("90s", "1m30s"),
            ("0ms", "0s"),
            ("1d2h", "1d2h"),
            ("1500ms", "1s500ms"),
        ] {
            assert_eq!(HumanDuration::parse(input).unwrap().to_string(), shown);
        }
    }

    #[test]
    fn count_or_percent_accepts_numbers_and_percentages_in_range() {
        use serde_json::json;
        assert_eq!(
            CountOrPercent::from_value(&json!(3)).unwrap(),
            CountOrPercent::Count(3)
        );
        assert_eq!(
            CountOrPercent::from_value(&json!("25%")).unwrap(),
            CountOrPercent::Percent(25)
        );
        assert_eq!(
            CountOrPercent::from_value(&json!("0%")).unwrap(),
            CountOrPercent::Percent(0)
        );
        assert_eq!(
            CountOrPercent::from_value(&json!("100%")).unwrap(),
            CountOrPercent::Percent(100)
        );
        for bad in [
            json!(-1),
            json!("101%"),
            json!("05%"),
            json!("25"),
            json!(1.5),
            json!("%"),
            json!(true),
        ] {
            let err = CountOrPercent::from_value(&bad).unwrap_err().to_string();
            assert!(
                err.starts_with("must be a whole number >= 0 or a percentage"),
                "{bad}: {err}"
            );
        }
        assert!(CountOrPercent::Percent(0).is_zero());
        assert!(CountOrPercent::Count(0).is_zero());
        assert_eq!(CountOrPercent::Percent(25).resolve_up(5), 2);
        assert_eq!(CountOrPercent::Percent(25).resolve_down(5), 1);
    }

    #[test]
    fn listen_addresses_need_a_host_and_a_port_in_range() {
        let a: ListenAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!((a.host(), a.port()), ("127.0.0.1", 8080));
        let a: ListenAddr = "[::1]:9000".parse().unwrap();
        assert_eq!((a.host(), a.port()), ("[::1]", 9000));
        for bad in [
            "8080",
            ":8080",
            "host:",
            "host:99999",
            "host:80a",
            "[zz]:80",
            "a b:80",
        ] {
            assert!(bad.parse::<ListenAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn state_urls_are_checked_by_the_store_parser() {
        for good in [
            ".fleetctl/state.json",
            "/abs/state.json",
            "file:///tmp/s.json",
            "memory://",
            "s3://bucket/key",
            "oci://b@ns/prefix",
            "OCI://b@ns/prefix",
        ] {
            assert!(good.parse::<StateUrl>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "http://x/y",
            "s3:/bucket",
            "c:state",
            "s3://",
            "oci://bucket/x",
            "file://a?b",
            "s3://k:s@b/x",
        ] {
            assert!(bad.parse::<StateUrl>().is_err(), "{bad}");
        }
        assert_eq!("s3://b/k".parse::<StateUrl>().unwrap().scheme(), Some("s3"));
        assert_eq!("a/b".parse::<StateUrl>().unwrap().scheme(), None);
    }

    #[test]
    fn env_var_name_errors_never_echo_the_value() {
        let err = "eyJhbGciOiJSUzI1NiJ9.secret"
            .parse::<EnvVarName>()
            .unwrap_err();
        assert!(!err.to_string().contains("eyJ"), "{err}");
        let err = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n"
            .parse::<SshPublicKey>()
            .unwrap_err();
        assert!(!err.to_string().contains("b3Blbn"), "{err}");
        assert!(err.to_string().contains("private key"), "{err}");
    }

    #[test]
    fn endpoints_must_be_http_or_https_with_a_host() {
        assert!("http://127.0.0.1:8999".parse::<EndpointUrl>().is_ok());
        assert!(
            "https://iaas.us-ashburn-1.oraclecloud.com/"
                .parse::<EndpointUrl>()
                .is_ok()
        );
        for bad in [
            "ftp://x",
            "http://",
            "127.0.0.1:8999",
            "http:///path",
            "http://a b",
            "HTTP://x",
            "http://u:p@x",
            "http://x/?q",
            "http://x/#f",
        ] {
            assert!(bad.parse::<EndpointUrl>().is_err(), "{bad}");
        }
    }
}
