//! The request log behind `GET /_sim/requests`: every OCI request in arrival order.

use serde::Serialize;

use crate::auth::KeyIdKind;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    pub seq: u64,
    /// RFC 3339 (real clock) when the request arrived.
    pub time: String,
    pub method: String,
    /// The raw path as received.
    pub path: String,
    pub query: Option<String>,
    /// `None` when the connection was dropped without a response.
    pub status: Option<u16>,
    /// The OCI operation name, `None` for unknown paths.
    pub operation: Option<String>,
    pub opc_request_id: String,
    /// Which kind of key signed the request (never the key or token itself).
    pub key_id_kind: Option<KeyIdKind>,
    pub fault_id: Option<String>,
    /// `"before"` or `"after"` when a fault dropped the connection.
    pub dropped: Option<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Default)]
pub struct RequestLog {
    entries: Vec<LogEntry>,
    next_seq: u64,
}

impl RequestLog {
    pub fn push(&mut self, mut e: LogEntry) {
        self.next_seq += 1;
        e.seq = self.next_seq;
        self.entries.push(e);
    }
    pub fn entries(&self) -> &[LogEntry] {
        &self.entries
    }
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}
