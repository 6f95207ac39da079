//! The ledger: the one JSON document fleetctl keeps about a fleet.
//!
//! It holds what fleetctl manages and what it is doing:
//! - [`InstanceRecord`]s: every instance fleetctl launched or adopted (id, group, name, private
//!   IP, created, terminated, state), kept after termination for history;
//! - the FIFO scale queue ([`ScaleRequest`]s), oldest first;
//! - the active (or last finished) [`Operation`] with its [`Step`]s, which are its progress;
//! - recent [`Event`]s, bounded by [`MAX_EVENTS`] (oldest dropped first);
//! - the [`Lease`] that lets one writer at a time act (holder, expiry, fencing counter; see
//!   [`super::lease`]).
//!
//! # Format rules
//! - The document is versioned: `"version": 1` ([`LEDGER_VERSION`]). A document with a newer
//!   version is refused by [`Ledger::from_json`] and must never be rewritten by this build, so
//!   nothing a newer fleetctl wrote is lost.
//! - Unknown fields are an error in every object, for the same reason: a field this build does
//!   not know would be silently dropped on the next write. Enum values are closed for the same
//!   reason.
//! - Field names are camelCase, enum values snake_case, timestamps RFC 3339 in UTC
//!   ([`Timestamp`]), instance ids typed OCIDs.
//! - Optional fields and empty collections may be left out when written by hand.
//!
//! Everything here is plain data and pure functions: no I/O and no clock reads (callers pass
//! `now`).

use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ids::{FleetName, GroupName, InstanceId, ParseVisitor};
pub use crate::ids::{HolderId, InvalidId, OperationId};
use crate::values::{RebootAction, RolloutStrategy};

pub use super::launch::{LaunchSpec, MAX_REVISIONS, Revision, UNKNOWN_FIELD};

/// The document version this build reads and writes.
pub const LEDGER_VERSION: u64 = 1;

/// The most events a ledger keeps; [`Ledger::push_event`] drops the oldest beyond this.
pub const MAX_EVENTS: usize = 200;

/// The most finished operations the ledger keeps as [`OperationSummary`]s in its history
/// (oldest dropped first).
pub const MAX_HISTORY: usize = 20;

// ---------------------------------------------------------------------------------------------
// Small value types
// ---------------------------------------------------------------------------------------------

/// An instant, written as RFC 3339 in UTC (`2025-01-14T08:00:00Z`, fractions kept).
///
/// **Invariant:** the instant is in UTC and within the years 0000 to 9999, the range RFC 3339
/// can write, so every `Timestamp` serialises.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

/// The earliest instant a [`Timestamp`] holds: `0000-01-01T00:00:00Z`.
const TIMESTAMP_MIN: OffsetDateTime = time::macros::datetime!(0000-01-01 00:00:00 UTC);

/// The latest instant a [`Timestamp`] holds: `9999-12-31T23:59:59.999999999Z`.
const TIMESTAMP_MAX: OffsetDateTime = time::macros::datetime!(9999-12-31 23:59:59.999_999_999 UTC);

/// Why a text is not a [`Timestamp`].
#[derive(Debug, thiserror::Error)]
pub enum TimestampError {
    /// Not RFC 3339.
    #[error("not an RFC 3339 timestamp such as \"2025-01-14T08:00:00Z\"")]
    Syntax(#[source] time::error::Parse),
    /// RFC 3339, but outside the years 0000 to 9999 once converted to UTC (e.g.
    /// `9999-12-31T23:59:59-01:00`).
    #[error("outside the years 0000 to 9999 once converted to UTC")]
    OutOfRange,
}

impl Timestamp {
    /// The instant `at`, normalised to UTC. An instant whose UTC form falls outside the years
    /// 0000 to 9999 is clamped to the nearest end of that range (as `saturating_add` clamps),
    /// so this never fails; [`Timestamp::parse`] refuses such instants instead.
    pub fn new(at: OffsetDateTime) -> Self {
        let utc = at
            .checked_to_offset(time::UtcOffset::UTC)
            .unwrap_or(if at.year() > 0 {
                TIMESTAMP_MAX
            } else {
                TIMESTAMP_MIN
            });
        Timestamp(utc.clamp(TIMESTAMP_MIN, TIMESTAMP_MAX))
    }

    /// The instant.
    pub fn get(self) -> OffsetDateTime {
        self.0
    }

    /// Parses RFC 3339 text (any offset; stored in UTC). Text whose UTC form falls outside
    /// the years 0000 to 9999 is refused.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let at = OffsetDateTime::parse(text, &Rfc3339).map_err(TimestampError::Syntax)?;
        match at.checked_to_offset(time::UtcOffset::UTC) {
            Some(utc) if (TIMESTAMP_MIN..=TIMESTAMP_MAX).contains(&utc) => Ok(Timestamp(utc)),
            _ => Err(TimestampError::OutOfRange),
        }
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(at: OffsetDateTime) -> Self {
        Timestamp::new(at)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.format(&Rfc3339) {
            Ok(s) => f.write_str(&s),
            // Unreachable by the invariant (years 0000 to 9999 always format).
            Err(_) => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.0.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ParseVisitor("an RFC 3339 timestamp", |text: &str| {
            Timestamp::parse(text).map_err(|e| match &e {
                TimestampError::Syntax(cause) => format!("{text:?} is {e}: {cause}"),
                TimestampError::OutOfRange => format!("{text:?} is {e}"),
            })
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// The document
// ---------------------------------------------------------------------------------------------

/// The document version marker: always written as [`LEDGER_VERSION`]; reading any other
/// number fails (a [`Ledger::from_json`] caller gets the precise reason first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FormatVersion;

impl Serialize for FormatVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(LEDGER_VERSION)
    }
}

impl<'de> Deserialize<'de> for FormatVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(deserializer)?;
        if v == LEDGER_VERSION {
            Ok(FormatVersion)
        } else {
            Err(serde::de::Error::custom(format_args!(
                "version {v} is not supported; this build reads version {LEDGER_VERSION}"
            )))
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The ledger of one fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ledger {
    /// Always [`LEDGER_VERSION`].
    pub version: FormatVersion,
    /// The fleet this ledger belongs to (`metadata.name`): a guard against pointing two
    /// fleets at one store.
    pub fleet: FleetName,
    /// When the ledger was first written.
    pub created: Timestamp,
    /// Every instance fleetctl launched or adopted, terminated ones included, in the order
    /// they were recorded.
    #[serde(default)]
    pub records: Vec<InstanceRecord>,
    /// Scale requests waiting their turn, oldest first (FIFO).
    #[serde(default)]
    pub scale_queue: VecDeque<ScaleRequest>,
    /// The active operation, or the last one until the next starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
    /// Recent events, oldest first, at most [`MAX_EVENTS`].
    #[serde(default)]
    pub events: VecDeque<Event>,
    /// How many events were ever appended ([`Ledger::push_event`]): the id of the newest
    /// event, so the ids of `events` survive the window (the API's SSE `id:`). At least
    /// `events.len()`; 0 in a ledger written before it was kept.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub event_count: u64,
    /// Who may act on the fleet, until when, and the fencing counter.
    #[serde(default)]
    pub lease: Lease,
    /// Load balancer changes OCI accepted and may still be applying: the next steps check
    /// them and make no other backend change until they are done.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub work_requests: Vec<PendingWorkRequest>,
    /// Backend removals a step decided on and may have sent, whose answer it has not
    /// recorded yet. A removal carries no retry token (OCI's DeleteBackend takes none), so
    /// after a restart this is what stops the next step from sending it a second time
    /// while the first is still being applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unconfirmed_removals: Vec<UnconfirmedRemoval>,
    /// The fleet file's launch-detail revisions seen, oldest first (see
    /// [`super::launch`]); at most [`MAX_REVISIONS`] beyond those still in use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<Revision>,
    /// Finished operations, oldest first, at most [`MAX_HISTORY`]: what, when, who asked,
    /// through which door, the outcome. Their steps are not kept.
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub history: VecDeque<OperationSummary>,
}

impl Ledger {
    /// An empty ledger for `fleet`, created `now`.
    pub fn new(fleet: FleetName, now: OffsetDateTime) -> Self {
        Ledger {
            version: FormatVersion,
            fleet,
            created: Timestamp::new(now),
            records: Vec::new(),
            scale_queue: VecDeque::new(),
            operation: None,
            events: VecDeque::new(),
            event_count: 0,
            lease: Lease::default(),
            work_requests: Vec::new(),
            unconfirmed_removals: Vec::new(),
            revisions: Vec::new(),
            history: VecDeque::new(),
        }
    }

    /// True when `other` holds the same as this ledger in everything but the lease (a step
    /// that would record only its lease records nothing).
    pub fn same_apart_from_lease(&self, other: &Ledger) -> bool {
        // Every field named, so a new one cannot be left out of the comparison.
        let Ledger {
            version: _,
            fleet,
            created,
            records,
            scale_queue,
            operation,
            events,
            event_count,
            lease: _,
            work_requests,
            unconfirmed_removals,
            revisions,
            history,
        } = self;
        *fleet == other.fleet
            && *created == other.created
            && *event_count == other.event_count
            && *records == other.records
            && *scale_queue == other.scale_queue
            && *operation == other.operation
            && *events == other.events
            && *work_requests == other.work_requests
            && *unconfirmed_removals == other.unconfirmed_removals
            && *revisions == other.revisions
            && *history == other.history
    }

    /// The newest revision seen, if any.
    pub fn latest_revision(&self) -> Option<&Revision> {
        self.revisions.last()
    }

    /// Revision `number`, if the ledger still keeps it.
    pub fn revision(&self, number: u32) -> Option<&Revision> {
        self.revisions.iter().find(|r| r.number == number)
    }

    /// Appends a finished operation's summary, dropping the oldest beyond [`MAX_HISTORY`].
    pub fn push_history(&mut self, summary: OperationSummary) {
        self.history.retain(|h| h.id != summary.id);
        self.history.push_back(summary);
        while self.history.len() > MAX_HISTORY {
            self.history.pop_front();
        }
    }

    /// The record of `instance`, if any.
    pub fn record(&self, instance: &InstanceId) -> Option<&InstanceRecord> {
        self.records.iter().find(|r| &r.instance_id == instance)
    }

    /// The record of `instance`, mutable, if any.
    pub fn record_mut(&mut self, instance: &InstanceId) -> Option<&mut InstanceRecord> {
        self.records.iter_mut().find(|r| &r.instance_id == instance)
    }

    /// Records that are not gone (see [`RecordState::is_gone`]), in ledger order.
    pub fn live_records(&self) -> impl Iterator<Item = &InstanceRecord> {
        self.records.iter().filter(|r| !r.state.is_gone())
    }

    /// Appends an event, dropping the oldest ones beyond [`MAX_EVENTS`].
    pub fn push_event(&mut self, event: Event) {
        self.event_count = self.newest_event_id() + 1;
        self.events.push_back(event);
        while self.events.len() > MAX_EVENTS {
            self.events.pop_front();
        }
    }

    /// The id of the newest event (0 when there is none): [`Ledger::event_count`], or the
    /// window's length for a ledger written before the count was kept.
    pub fn newest_event_id(&self) -> u64 {
        self.event_count
            .max(u64::try_from(self.events.len()).unwrap_or(u64::MAX))
    }

    /// The events of the window with their ids (oldest first): ids are consecutive and end
    /// at [`Ledger::newest_event_id`].
    pub fn events_with_ids(&self) -> impl Iterator<Item = (u64, &Event)> {
        let first = self.newest_event_id() + 1 - u64::try_from(self.events.len()).unwrap_or(0);
        self.events.iter().zip(first..).map(|(e, id)| (id, e))
    }

    /// The document as written to the store: compact JSON with a final newline (a quarter
    /// smaller than pretty JSON for a large fleet; `jq .` shows it indented).
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = serde_json::to_vec(self)?;
        out.push(b'\n');
        Ok(out)
    }

    /// Reads a document: first its `version` (a newer one is refused before anything else is
    /// looked at), then the whole shape, strictly.
    ///
    /// A document of this version is parsed once: [`FormatVersion`] accepts only this
    /// version, so a parse that succeeds read a current document, and only a failed one is
    /// probed for its version (a newer or older document is reported as such, not as the
    /// first field this build does not know).
    pub fn from_json(bytes: &[u8]) -> Result<Ledger, DecodeError> {
        // serde reads a struct from a JSON array too; only an object is a ledger (an array
        // goes to the probe, which refuses it).
        let is_object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        // UTF-8 checked once for the whole document rather than string by string (a ledger of
        // 10,000 records holds 80,000 strings); one that is not UTF-8 is read from its bytes,
        // which refuses it with the position.
        let parse = |bytes: &[u8]| match std::str::from_utf8(bytes) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(bytes),
        };
        let parse_error = match is_object.then(|| parse(bytes)) {
            Some(Ok(ledger)) => return Ok(ledger),
            Some(Err(e)) => Some(e),
            None => None,
        };
        let probe: Probe = serde_json::from_slice(bytes).map_err(DecodeError::invalid)?;
        if probe.version > LEDGER_VERSION {
            return Err(DecodeError::Newer {
                found: probe.version,
            });
        }
        if probe.version < LEDGER_VERSION {
            return Err(DecodeError::Unsupported {
                found: probe.version,
            });
        }
        match parse_error {
            Some(e) => Err(DecodeError::invalid(e)),
            // The probe accepted an object after all (it cannot: kept for the types).
            None => serde_json::from_slice(bytes).map_err(DecodeError::invalid),
        }
    }
}

/// The `version` of a document, read before anything else. Only a JSON object is accepted
/// (serde would otherwise read a struct from an array too).
struct Probe {
    version: u64,
}

impl<'de> Deserialize<'de> for Probe {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Probe;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a ledger (a JSON object with a `version`)")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Probe, A::Error> {
                let mut version = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "version" && version.is_none() {
                        version = Some(map.next_value::<u64>()?);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                match version {
                    Some(version) => Ok(Probe { version }),
                    None => Err(serde::de::Error::missing_field("version")),
                }
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// Why bytes are not a ledger this build can use.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or not the ledger's shape (wrong type, unknown or missing field, bad value).
    #[error("invalid at line {line}, column {column}")]
    Invalid {
        /// 1-based line (0 when the input ended early).
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde's message.
        #[source]
        source: serde_json::Error,
    },
    /// Written by a newer fleetctl.
    #[error(
        "it has version {found}, newer than the version {LEDGER_VERSION} this fleetctl understands"
    )]
    Newer {
        /// The version found.
        found: u64,
    },
    /// A version number no fleetctl ever wrote.
    #[error(
        "it has version {found}; the only version this fleetctl understands is {LEDGER_VERSION}"
    )]
    Unsupported {
        /// The version found.
        found: u64,
    },
}

impl DecodeError {
    fn invalid(source: serde_json::Error) -> Self {
        DecodeError::Invalid {
            line: source.line(),
            column: source.column(),
            source,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

/// One instance fleetctl manages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstanceRecord {
    /// The instance OCID.
    pub instance_id: InstanceId,
    /// The group it belongs to.
    pub group: GroupName,
    /// Its display name (`<prefix>-<group>-<n>`). Shared text, like the ids: a step copies
    /// the ledger it plans on, thousands of records.
    #[serde(deserialize_with = "shared_text")]
    pub name: Arc<str>,
    /// Its primary private IP, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ip: Option<IpAddr>,
    /// When it was launched (OCI's `timeCreated` when adopted). Scale-down removes the oldest
    /// first by this.
    pub created: Timestamp,
    /// When it was seen terminated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated: Option<Timestamp>,
    /// What fleetctl last knew of it.
    pub state: RecordState,
    /// The operation that launched it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<OperationId>,
    /// The digest of the launch details it was launched from
    /// ([`LaunchSpec::group_digest`]); `None` when not known (written by an older fleetctl,
    /// or adopted): such an instance counts as outdated.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "repeated_text_or_none"
    )]
    pub launch_digest: Option<Arc<str>>,
}

/// A string read straight into shared text (one allocation; serde's own `Arc<str>` reads a
/// `String` first and copies it).
struct SharedText(Arc<str>);

impl<'de> Deserialize<'de> for SharedText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(crate::ids::ParseVisitor("a string", |text: &str| {
            Ok::<_, String>(SharedText(Arc::from(text)))
        }))
    }
}

fn shared_text<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
    SharedText::deserialize(d).map(|t| t.0)
}

/// A text that usually repeats from record to record (a launch digest: one per group and
/// template), shared with the last one read on this thread when it is the same.
struct RepeatedText(Arc<str>);

impl<'de> Deserialize<'de> for RepeatedText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        std::thread_local! {
            static LAST: std::cell::RefCell<Option<Arc<str>>> = const { std::cell::RefCell::new(None) };
        }
        d.deserialize_str(crate::ids::ParseVisitor("a string", |text: &str| {
            crate::ids::reuse_last(&LAST, text, |t| t, |text| Ok(Arc::from(text))).map(RepeatedText)
        }))
    }
}

fn repeated_text_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Arc<str>>, D::Error> {
    Ok(Option::<RepeatedText>::deserialize(d)?.map(|t| t.0))
}

/// What fleetctl last knew of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordState {
    /// Launched; not yet running (or not yet in the load balancer).
    Launching,
    /// Running and serving.
    Running,
    /// Being taken out of the load balancer before termination or reboot.
    Draining,
    /// Rebooting in place (rolling restart, reboot strategy).
    Rebooting,
    /// Termination requested.
    Terminating,
    /// Terminated.
    Terminated,
    /// OCI no longer knows it (drift); kept for the record.
    Missing,
}

impl RecordState {
    /// True for instances that no longer exist (terminated or missing).
    pub fn is_gone(self) -> bool {
        matches!(self, RecordState::Terminated | RecordState::Missing)
    }

    /// The state as the document writes it: `launching`, `running`, `draining`,
    /// `rebooting`, `terminating`, `terminated` or `missing`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::Launching => "launching",
            RecordState::Running => "running",
            RecordState::Draining => "draining",
            RecordState::Rebooting => "rebooting",
            RecordState::Terminating => "terminating",
            RecordState::Terminated => "terminated",
            RecordState::Missing => "missing",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scale queue and operations
// ---------------------------------------------------------------------------------------------

/// A queued request to change the fleet's size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleRequest {
    /// The request id; the operation that carries it out gets the same id.
    pub id: OperationId,
    /// The desired total number of instances.
    pub desired: u32,
    /// When it was queued.
    pub requested: Timestamp,
    /// Who asked, through which door.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// An operation: a durable record that reconcile steps advance until it finishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Operation {
    /// The id. Every `opc-retry-token` the operation sends is derived from it, the step's
    /// slot and the purpose of the call ([`crate::oci::wire::RetryToken::derive`]).
    pub id: OperationId,
    /// What it does.
    pub kind: OperationKind,
    /// Where it is.
    pub status: OperationStatus,
    /// When it started.
    pub started: Timestamp,
    /// When a step last changed it.
    pub updated: Timestamp,
    /// When it finished (succeeded, failed or was cancelled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<Timestamp>,
    /// Its steps, in order; their statuses are its progress.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// The last error, in the user's words, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why it is paused (status `paused`): a failure budget spent, or a user's `pause`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_reason: Option<String>,
    /// What its last step waited on, one line each ("web-3: waiting for backend health OK,
    /// 40 s so far").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting_on: Vec<String>,
    /// The active instance count when it started.
    #[serde(default)]
    pub start_total: u32,
    /// The active instance count it aims at (a scale's desired total; a rolling restart's
    /// desired count).
    #[serde(default)]
    pub target_total: u32,
    /// A rolling restart's resolved limits, fixed when it starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<RolloutLimits>,
    /// Set by `abort`: no step starts any more; the steps in flight finish, then the operation
    /// ends as `cancelled`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub abort_requested: bool,
    /// The revision its launches use (pinned when it starts); `None` in operations written
    /// before revisions were kept (they launch from the fleet file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u32>,
    /// Who asked for it and through which door.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// A rollout's checkpoints (percentages of its steps, ascending), fixed when it starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checkpoints: Vec<u32>,
    /// How many of `checkpoints` were passed.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub checkpoints_passed: u32,
    /// The checkpoint the operation waits at, or the last one it passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
    /// A rollout rolls back to this revision when it exhausts its failure budget
    /// (`rollbackOnFailure`): the revision of the instances it replaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_to: Option<u32>,
    /// Set when the operation finishes: its steps' totals (the steps themselves are dropped
    /// then, see [`OperationSummary`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totals: Option<StepTotals>,
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// Who asked for an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Origin {
    /// Through which door.
    pub door: Door,
    /// Who, when the door knows (the CLI's OS user; a note the API caller sent); never a
    /// credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub who: Option<String>,
}

impl Origin {
    /// An origin with no name.
    pub fn door(door: Door) -> Self {
        Origin { door, who: None }
    }
}

/// The front door a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Door {
    /// The `fleetctl` command line.
    Cli,
    /// The HTTP API of a long-running server (`fleetctl serve`, the container).
    Api,
    /// The HTTP API inside OCI Functions.
    Function,
    /// The control loop's own repair.
    ControlLoop,
    /// An automatic rollback started by a failed rollout.
    Rollback,
}

impl Door {
    /// The door as the document writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Cli => "cli",
            Door::Api => "api",
            Door::Function => "function",
            Door::ControlLoop => "control_loop",
            Door::Rollback => "rollback",
        }
    }
}

/// A checkpoint of a rollout: reached after `percent` of its steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Checkpoint {
    /// The percentage of the steps done when it was reached.
    pub percent: u32,
    /// Steps finished then, of how many.
    pub done: u32,
    /// All steps.
    pub total: u32,
    /// When it was reached.
    pub reached: Timestamp,
    /// What it waits for.
    pub wait: CheckpointWait,
    /// Where it stands: waiting, passed (with how), or failed (backends unhealthy during
    /// the bake).
    pub verdict: CheckpointVerdict,
}

/// What a checkpoint waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", deny_unknown_fields)]
pub enum CheckpointWait {
    /// An explicit `resume`.
    Resume,
    /// A bake time with every backend healthy.
    Bake {
        /// Seconds.
        seconds: u64,
    },
}

/// A checkpoint's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointVerdict {
    /// Waiting for `resume` or the bake time.
    Waiting,
    /// Passed: resumed by a person.
    Resumed,
    /// Passed: baked healthy for the whole bake time.
    Healthy,
    /// A backend was unhealthy during the bake: the rollout paused.
    Unhealthy,
}

impl CheckpointVerdict {
    /// The verdict as the document writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckpointVerdict::Waiting => "waiting",
            CheckpointVerdict::Resumed => "resumed",
            CheckpointVerdict::Healthy => "healthy",
            CheckpointVerdict::Unhealthy => "unhealthy",
        }
    }
}

/// A finished operation's step totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StepTotals {
    /// Steps.
    pub steps: u32,
    /// Finished (done or skipped).
    pub done: u32,
    /// Failed.
    pub failed: u32,
    /// Instances it launched (launches and replacements).
    pub launch_total: u32,
    /// Of those, launched and in service.
    pub launch_succeeded: u32,
    /// Instances it removed (terminations and replaced instances).
    pub terminate_total: u32,
    /// Of those, terminated.
    pub terminate_succeeded: u32,
}

/// A finished operation, as the history keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OperationSummary {
    /// The operation's id.
    pub id: OperationId,
    /// What it did.
    pub kind: OperationKind,
    /// How it ended.
    pub status: OperationStatus,
    /// When it started.
    pub started: Timestamp,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<Timestamp>,
    /// Who asked, through which door.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// The revision its launches used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u32>,
    /// Its steps' totals.
    pub totals: StepTotals,
    /// Why it failed, was cancelled or rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The totals of `op`'s steps against `ledger` (a launch succeeded once its step is done or
/// its instance is `running`; a removal once the instance it removes is gone); a finished
/// operation's recorded [`Operation::totals`] when its steps were dropped.
pub fn step_totals(op: &Operation, ledger: &Ledger) -> StepTotals {
    if op.steps.is_empty()
        && let Some(t) = op.totals
    {
        return t;
    }
    let mut c = StepTotals::default();
    let launched = |s: &Step| {
        s.status == StepStatus::Done
            || (s.status == StepStatus::InProgress
                && s.instance
                    .as_ref()
                    .and_then(|i| ledger.record(i))
                    .is_some_and(|r| r.state == RecordState::Running))
    };
    let removed = |s: &Step, old: &InstanceId| {
        s.status != StepStatus::Pending && ledger.record(old).is_some_and(|r| r.state.is_gone())
    };
    let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    c.steps = n(op.steps.len());
    c.done = n(op.steps.iter().filter(|s| s.status.is_finished()).count());
    c.failed = n(op
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Failed)
        .count());
    for s in &op.steps {
        match &s.action {
            StepAction::Launch { .. } => {
                c.launch_total += 1;
                c.launch_succeeded += u32::from(launched(s));
            }
            StepAction::Terminate { instance } => {
                c.terminate_total += 1;
                c.terminate_succeeded += u32::from(removed(s, instance));
            }
            StepAction::Replace { instance } => {
                c.launch_total += 1;
                c.launch_succeeded += u32::from(launched(s));
                c.terminate_total += 1;
                c.terminate_succeeded += u32::from(removed(s, instance));
            }
            StepAction::Reboot { .. } => {}
        }
    }
    c
}

/// A rolling restart's limits as resolved for its fleet size (see `plan::resolve_limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutLimits {
    /// The instance count the limits were resolved against.
    pub desired: u32,
    /// Extra instances that may run at once.
    pub max_surge: u32,
    /// Instances that may be out of service at once.
    pub max_unavailable: u32,
}

impl Operation {
    /// How many steps are finished (done or skipped) out of how many.
    pub fn progress(&self) -> Progress {
        if self.steps.is_empty()
            && let Some(t) = self.totals
        {
            return Progress {
                done: t.done,
                total: t.steps,
            };
        }
        let done = self.steps.iter().filter(|s| s.status.is_finished()).count();
        Progress {
            done: u32::try_from(done).unwrap_or(u32::MAX),
            total: u32::try_from(self.steps.len()).unwrap_or(u32::MAX),
        }
    }

    /// True while the operation still has work to do.
    pub fn is_active(&self) -> bool {
        self.status == OperationStatus::Running
    }
}

/// `done` of `total` steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Finished steps.
    pub done: u32,
    /// All steps.
    pub total: u32,
}

/// What an operation does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OperationKind {
    /// Bring the fleet to `desired` instances (scale-down removes the oldest first).
    Scale {
        /// The desired total.
        desired: u32,
    },
    /// Replace or reboot every instance, a batch at a time, while the load balancer serves.
    RollingRestart {
        /// Replace or reboot.
        strategy: RolloutStrategy,
        /// The instance action of the reboot strategy.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reboot_action: Option<RebootAction>,
        /// A rolling update (`fleetctl rollout`, `undo`, an automatic rollback): only the
        /// instances whose launch details differ from this revision's are replaced, and
        /// their replacements are launched from it. `None`: every instance (a restart).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        update: Option<RolloutUpdate>,
    },
    /// Rebuild the ledger from what OCI reports.
    SyncState {
        /// Also adopt instances with no fleet tag at all whose display name is one this fleet
        /// gives (`<displayNamePrefix>-<group>-<n>`): they are tagged for the fleet.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        adopt_untagged: bool,
    },
}

impl OperationKind {
    /// The kind as the document writes it (its `type`): `scale`, `rolling_restart` or
    /// `sync_state`. `fleetctl status` and the API report this same word.
    pub fn as_str(&self) -> &'static str {
        match self {
            OperationKind::Scale { .. } => "scale",
            OperationKind::RollingRestart { .. } => "rolling_restart",
            OperationKind::SyncState { .. } => "sync_state",
        }
    }
}

/// A rolling update's target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutUpdate {
    /// The revision the instances are brought to.
    pub revision: u32,
    /// Why: a rollout to the fleet file, an undo, or a rollback.
    pub reason: UpdateReason,
}

/// Why a rolling update runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", deny_unknown_fields)]
pub enum UpdateReason {
    /// `fleetctl rollout`: to the fleet file's launch details.
    Rollout,
    /// `fleetctl rollout undo`: to an earlier revision.
    Undo,
    /// A rollout exhausted its failure budget with `rollbackOnFailure`.
    Rollback {
        /// The rollout rolled back.
        of: OperationId,
        /// Why it failed.
        why: String,
    },
}

impl UpdateReason {
    /// One word: `rollout`, `undo` or `rollback`.
    pub fn as_str(&self) -> &'static str {
        match self {
            UpdateReason::Rollout => "rollout",
            UpdateReason::Undo => "undo",
            UpdateReason::Rollback { .. } => "rollback",
        }
    }
}

/// Where an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationStatus {
    /// Steps remain.
    Running,
    /// Every step finished.
    Succeeded,
    /// Stopped by an error it cannot get past (see `error`).
    Failed,
    /// Stopped on request.
    Cancelled,
    /// Waiting for `resume` (or to be superseded): no step starts; `pauseReason` says why.
    Paused,
}

impl OperationStatus {
    /// Whether the operation is over (succeeded, failed or cancelled).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            OperationStatus::Succeeded | OperationStatus::Failed | OperationStatus::Cancelled
        )
    }

    /// The status as the document writes it: `running`, `paused`, `succeeded`, `failed` or
    /// `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationStatus::Running => "running",
            OperationStatus::Paused => "paused",
            OperationStatus::Succeeded => "succeeded",
            OperationStatus::Failed => "failed",
            OperationStatus::Cancelled => "cancelled",
        }
    }
}

/// One unit of an operation's work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Step {
    /// A number unique in the operation and never reused. A step makes several calls that
    /// carry an `opc-retry-token` (drain, instance action, undrain, launch, ...); each gets its
    /// own token, derived from the purpose of the call, the operation id and this slot
    /// ([`crate::oci::wire::RetryToken::derive`]), so a retried or resumed step sends the same
    /// tokens again and no two calls ever share one.
    pub slot: u32,
    /// What the step does.
    pub action: StepAction,
    /// Where it is.
    pub status: StepStatus,
    /// The instance the step created (launch, replace), once OCI answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<InstanceId>,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<Timestamp>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<Timestamp>,
    /// What the step is waiting on or why it failed, in the user's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Where an in-progress step is (see [`StepPhase`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<StepPhase>,
    /// When the current phase began: its timeouts and waits count from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    /// A replacement that takes the old instance out of service before launching the new one
    /// (no surge left, `maxUnavailable` allows it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drain_first: bool,
    /// A reboot: OCI accepted the reboot (or the instance was seen down since), so RUNNING
    /// and OK again mean it came back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub seen_down: bool,
    /// A reboot: the soft reboot did not bring the instance back in time and a hard RESET
    /// was sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub escalated: bool,
}

/// The phase of an in-progress step. Each phase makes sure one thing is true in OCI (an
/// idempotent call when it is not) and waits for what follows from it; the planner moves a
/// step to the next phase only on what it observes.
///
/// - launch: `launching` (the instance exists and is RUNNING) → `registering` (its backend
///   exists and is OK) → `warming` (OK for `minReadySeconds`);
/// - terminate: `draining` (the backend drains for `drainTimeout`) → `deregistering` (the
///   backend is gone) → `terminating` (the instance is terminating);
/// - replace: the launch phases for the new instance, then the terminate phases for the old
///   one (or the other way round with `drainFirst`);
/// - reboot: `draining` → `rebooting` (down, then RUNNING and OK again) → `warming` →
///   `undraining`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepPhase {
    Launching,
    Registering,
    Warming,
    Draining,
    Deregistering,
    Terminating,
    Rebooting,
    Undraining,
}

impl StepPhase {
    /// The phase as written in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            StepPhase::Launching => "launching",
            StepPhase::Registering => "registering",
            StepPhase::Warming => "warming",
            StepPhase::Draining => "draining",
            StepPhase::Deregistering => "deregistering",
            StepPhase::Terminating => "terminating",
            StepPhase::Rebooting => "rebooting",
            StepPhase::Undraining => "undraining",
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepAction {
    /// Launch one instance in `group`.
    Launch {
        /// The group.
        group: GroupName,
    },
    /// Drain `instance` from the load balancer, then terminate it.
    Terminate {
        /// The instance.
        instance: InstanceId,
    },
    /// Launch a replacement for `instance`, wait until it serves, then drain and terminate
    /// `instance`.
    Replace {
        /// The instance replaced.
        instance: InstanceId,
    },
    /// Drain `instance`, reboot it, wait until it serves again.
    Reboot {
        /// The instance.
        instance: InstanceId,
    },
}

/// Where a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not started.
    Pending,
    /// Started; calls may be in flight.
    InProgress,
    /// Finished.
    Done,
    /// Not needed any more (e.g. the instance was already gone).
    Skipped,
    /// Failed (see `detail`).
    Failed,
}

impl StepStatus {
    /// True for done and skipped steps.
    pub fn is_finished(self) -> bool {
        matches!(self, StepStatus::Done | StepStatus::Skipped)
    }
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

/// Something that happened, for the dashboard and `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Event {
    /// When.
    pub at: Timestamp,
    /// How much it matters.
    pub level: EventLevel,
    /// What happened, in the user's words.
    pub message: String,
    /// The operation it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<OperationId>,
    /// The instance it concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<InstanceId>,
}

/// How much an event matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventLevel {
    /// Normal progress.
    Info,
    /// Something unexpected that fleetctl handled.
    Warning,
    /// Something that needs a person.
    Error,
}

/// A load balancer change whose work request a later step checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PendingWorkRequest {
    /// The work request's id.
    pub id: String,
    /// What it does, in words ("add backend 10.0.0.3:8080").
    pub what: String,
    /// When OCI accepted it.
    pub started: Timestamp,
}

/// A backend removal that may have been sent and whose answer is not recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnconfirmedRemoval {
    /// The backend's name (`ip:port`).
    pub backend: String,
    /// When the step that decided it saved its plan.
    pub since: Timestamp,
}

// ---------------------------------------------------------------------------------------------
// Lease
// ---------------------------------------------------------------------------------------------

/// The lease: at most one holder acts on the fleet at a time. Its rules are in
/// [`super::lease`].
///
/// `fencing` never decreases, not even when the lease is released: every new holding period
/// gets a larger number, so work stamped with an older number is recognisably stale.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lease {
    /// The fencing counter of the current (or last) holding period; 0 before the first.
    pub fencing: u64,
    /// The current holder, if the lease is held (it may have expired: compare `expires`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<LeaseHold>,
}

/// Who holds the lease and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LeaseHold {
    /// The holder.
    pub holder: HolderId,
    /// When this holding period began.
    pub acquired: Timestamp,
    /// When it ends unless renewed.
    pub expires: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn event(n: usize) -> Event {
        Event {
            at: Timestamp::new(OffsetDateTime::UNIX_EPOCH),
            level: EventLevel::Info,
            message: format!("event {n}"),
            operation: None,
            instance: None,
        }
    }

    #[test]
    fn event_ids_run_on_past_the_window_and_survive_a_round_trip() {
        let mut ledger = Ledger::new("web".parse().unwrap(), OffsetDateTime::UNIX_EPOCH);
        assert_eq!(ledger.newest_event_id(), 0);
        for n in 1..=MAX_EVENTS + 5 {
            ledger.push_event(event(n));
        }
        assert_eq!(ledger.events.len(), MAX_EVENTS);
        assert_eq!(ledger.newest_event_id(), (MAX_EVENTS + 5) as u64);
        let ids: Vec<(u64, String)> = ledger
            .events_with_ids()
            .map(|(id, e)| (id, e.message.clone()))
            .collect();
        assert_eq!(ids.first().unwrap(), &(6, "event 6".to_string()));
        assert_eq!(
            ids.last().unwrap(),
            &((MAX_EVENTS + 5) as u64, format!("event {}", MAX_EVENTS + 5))
        );
        let back = Ledger::from_json(&ledger.to_json().unwrap()).unwrap();
        assert_eq!(back.newest_event_id(), ledger.newest_event_id());
    }

    #[test]
    fn a_ledger_written_before_the_count_numbers_its_window_from_one() {
        let mut ledger = Ledger::new("web".parse().unwrap(), OffsetDateTime::UNIX_EPOCH);
        ledger.events.push_back(event(1));
        ledger.events.push_back(event(2));
        let json = String::from_utf8(ledger.to_json().unwrap()).unwrap();
        assert!(!json.contains("eventCount"), "{json}");
        let ids: Vec<u64> = ledger.events_with_ids().map(|(id, _)| id).collect();
        assert_eq!(ids, [1, 2]);
        ledger.push_event(event(3));
        assert_eq!(ledger.event_count, 3);
    }

    /// A step records nothing when its plan changed the ledger only in its lease: every other
    /// change, down to one field of one record, is a difference.
    #[test]
    fn only_the_lease_may_differ_for_a_ledger_to_count_as_unchanged() {
        let mut base = Ledger::new("web".parse().unwrap(), OffsetDateTime::UNIX_EPOCH);
        base.records.push(InstanceRecord {
            instance_id: "ocid1.instance.oc1.iad.aaaa1".parse().unwrap(),
            group: "web".parse().unwrap(),
            name: "web-web-1".into(),
            private_ip: Some("10.0.0.2".parse().unwrap()),
            created: Timestamp::new(OffsetDateTime::UNIX_EPOCH),
            terminated: None,
            state: RecordState::Running,
            operation: None,
            launch_digest: Some("d1".into()),
        });
        let mut leased = base.clone();
        leased
            .lease
            .acquire(
                &HolderId::parse("host/1/abcd").unwrap(),
                OffsetDateTime::UNIX_EPOCH,
                Duration::from_secs(120),
            )
            .unwrap();
        assert_ne!(leased, base);
        assert!(base.same_apart_from_lease(&leased));
        assert!(leased.same_apart_from_lease(&base));

        type Change = fn(&mut Ledger);
        let changes: [(&str, Change); 6] = [
            ("a record's state", |l| {
                l.records[0].state = RecordState::Missing
            }),
            ("a record's IP", |l| l.records[0].private_ip = None),
            ("a record's launch digest", |l| {
                l.records[0].launch_digest = Some("d2".into())
            }),
            ("an event", |l| l.push_event(event(1))),
            ("a queued scale", |l| {
                l.scale_queue.push_back(ScaleRequest {
                    id: "op-1".parse().unwrap(),
                    desired: 3,
                    requested: Timestamp::new(OffsetDateTime::UNIX_EPOCH),
                    origin: None,
                })
            }),
            ("a new record", |l| {
                let r = l.records[0].clone();
                l.records.push(r)
            }),
        ];
        for (what, change) in changes {
            let mut changed = leased.clone();
            change(&mut changed);
            assert!(!base.same_apart_from_lease(&changed), "{what}");
        }
    }
}
