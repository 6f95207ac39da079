//! The state store: the ledger document and the backends that keep it.
//!
//! - [`ledger`]: the versioned JSON document (records, scale queue, operation, events, lease).
//! - [`lease`]: the lease rules, as pure functions.
//! - [`url`]: state URLs (path, `file://`, `memory://`, `s3://`, `oci://`).
//! - [`file`], [`oci`]: the file and OCI Object Storage backends; memory and S3 are
//!   object_store's `InMemory` and `AmazonS3` (configured and given fleetctl's HTTP client
//!   rules by `s3`).
//! - [`foreign`]: backend errors made fit to print (no credentials, no whole bodies).
//! - [`StateStore`]: one type over any backend, chosen by URL.
//!
//! # Guarantees
//! - Every write is conditional: [`StateStore::create`] only creates (`PutMode::Create`),
//!   [`StateStore::save`] only replaces the version it was given (`PutMode::Update` with the
//!   ETag). A concurrent writer makes the loser fail with [`StoreError::Conflict`]; nothing is
//!   ever overwritten blindly. On conflict, re-read, re-plan and try again.
//! - Reading never writes. A document that cannot be read (bad JSON, wrong shape, unknown
//!   field, newer version) is an error naming the URL and the problem, and the object is left
//!   exactly as it was.
//!
//! # Caveat
//! An S3 or OCI write whose response is lost may be retried by the HTTP layer; for `oci://`
//! a 412 after such a retry is checked against the object's MD5 (see
//! [`crate::oci::objectstorage`]), for `s3://` object_store reports it as a conflict, and the
//! re-read that follows shows the write.

pub mod file;
pub mod foreign;
pub mod launch;
pub mod lease;
pub mod ledger;
pub mod oci;
mod s3;
pub use crate::urls::state as url;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};

use futures::StreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{GetOptions, ObjectStore, PutMode, PutOptions, PutPayload, UpdateVersion};

use crate::env::Env;
use crate::oci::OciClient;
use crate::oci::objectstorage::Bucket;

pub use file::FileStore;
pub use foreign::BackendError;
pub use lease::LeaseBusy;
pub use ledger::{
    DecodeError, Event, EventLevel, HolderId, InstanceRecord, LEDGER_VERSION, Lease, LeaseHold,
    Ledger, MAX_EVENTS, Operation, OperationId, OperationKind, OperationStatus, RecordState,
    ScaleRequest, Step, StepAction, StepStatus, Timestamp, TimestampError,
};
pub use oci::OciObjectStore;
pub use url::{DEFAULT_OBJECT_NAME, DEFAULT_STATE_PATH, InvalidStateUrl, StoreUrl};

/// The largest state document fleetctl reads: 64 MiB. A ledger of 10,000 records and the
/// latest events is a few MiB, so anything larger is not a ledger (or is damaged), and
/// reading it whole could exhaust memory. The size is checked before the content is read
/// (the object's size, an HTTP `Content-Length`), and the read stops at the limit.
pub const MAX_DOCUMENT_BYTES: u64 = 64 * 1024 * 1024;

/// An object larger than a reader accepts; it sits in the source chain of the backend's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} more than the limit of {}",
    size.map_or_else(|| "it is".to_string(), |n| format!("{n} bytes is")),
    describe_limit(*limit)
)]
pub struct ObjectTooLarge {
    /// The object's size, when known before reading.
    pub size: Option<u64>,
    /// The limit, in bytes.
    pub limit: u64,
}

/// `64 MiB`, or `1000 bytes` when not a whole number of MiB.
fn describe_limit(limit: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if limit.is_multiple_of(MIB) {
        format!("{} MiB", limit / MIB)
    } else {
        format!("{limit} bytes")
    }
}

/// Why a store operation failed. Every message names the store's URL.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL cannot be parsed (exit code 1).
    #[error("invalid state URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL as given, or only `scheme://***` when it carries credentials ([`url::redact`]).
        url: String,
        /// What is wrong, and how to write it.
        reason: String,
    },
    /// The URL is fine but the store cannot be set up as configured (exit code 1).
    #[error("cannot open the state store {url}: {reason}")]
    Unusable {
        /// The store.
        url: String,
        /// What is missing or wrong.
        reason: String,
        /// The backend's error, if any (sanitized: [`foreign`]).
        #[source]
        source: Option<BackendError>,
    },
    /// Another writer got there first; nothing was written (exit code 2).
    #[error("{}", conflict_message(url, *reason))]
    Conflict {
        /// The store.
        url: String,
        /// What the other writer did.
        reason: ConflictReason,
        /// The backend's answer (sanitized: [`foreign`]).
        #[source]
        source: BackendError,
    },
    /// The document is not valid JSON or not the ledger's shape (exit code 2).
    #[error(
        "the state document at {url} is damaged at line {line}, column {column} and was left \
         untouched; fix it or move it away"
    )]
    Damaged {
        /// The store.
        url: String,
        /// 1-based line (0 when the input ended early).
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde's description of the problem.
        #[source]
        source: serde_json::Error,
    },
    /// The document was written by a newer fleetctl (exit code 2).
    #[error(
        "the state document at {url} has version {found}, newer than version {LEDGER_VERSION} \
         that this fleetctl understands; it was left untouched: upgrade fleetctl"
    )]
    NewerVersion {
        /// The store.
        url: String,
        /// The version found.
        found: u64,
    },
    /// The document has a version number no fleetctl writes (exit code 2).
    #[error(
        "the state document at {url} has version {found}, which no fleetctl writes (this one \
         understands version {LEDGER_VERSION}); it was left untouched"
    )]
    UnsupportedVersion {
        /// The store.
        url: String,
        /// The version found.
        found: u64,
    },
    /// The backend failed (exit code 2).
    #[error("cannot {action} the state at {url}")]
    Backend {
        /// The store.
        url: String,
        /// What was being done (`read`, `create`, `update`).
        action: &'static str,
        /// The backend's error (sanitized: [`foreign`]).
        #[source]
        source: BackendError,
    },
    /// The backend answered without an ETag, so writes could not be conditional (exit code 2).
    #[error(
        "the state store {url} returned no ETag after {action}, so it cannot make writes \
         conditional"
    )]
    NoEtag {
        /// The store.
        url: String,
        /// What was being done.
        action: &'static str,
    },
    /// The document is larger than [`MAX_DOCUMENT_BYTES`]; it was not read (exit code 2).
    #[error(
        "the state document at {url} was not read: {}; a fleetctl ledger is far smaller, so \
         check the URL or move the object away",
        ObjectTooLarge { size: *size, limit: *limit }
    )]
    TooLarge {
        /// The store.
        url: String,
        /// The object's size, when it was known before reading.
        size: Option<u64>,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The ledger could not be serialised (a bug; exit code 3).
    #[error("cannot serialise the ledger for {url}")]
    Encode {
        /// The store.
        url: String,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },
}

/// What a concurrent writer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictReason {
    /// `create` found a document already there.
    AlreadyExists,
    /// `save` found the document changed (or removed) since it was read.
    Changed,
}

fn conflict_message(url: &str, reason: ConflictReason) -> String {
    match reason {
        ConflictReason::AlreadyExists => format!(
            "a state document already exists at {url}, so it was not created; load it instead"
        ),
        ConflictReason::Changed => format!(
            "the state at {url} was changed by another writer since it was read, so nothing was \
             written; re-read it and try again"
        ),
    }
}

impl From<InvalidStateUrl> for StoreError {
    fn from(e: InvalidStateUrl) -> Self {
        StoreError::InvalidUrl {
            url: e.url,
            reason: e.reason,
        }
    }
}

impl StoreError {
    /// True for [`StoreError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }

    /// True for errors the user fixes in the URL or the configuration (exit code 1).
    pub fn is_configuration_problem(&self) -> bool {
        matches!(
            self,
            StoreError::InvalidUrl { .. } | StoreError::Unusable { .. }
        )
    }

    /// True for a bug in fleetctl (exit code 3).
    pub fn is_internal(&self) -> bool {
        matches!(self, StoreError::Encode { .. })
    }
}

/// The version of a stored document that a conditional save must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    e_tag: String,
    version: Option<String>,
}

impl Version {
    /// The ETag.
    pub fn e_tag(&self) -> &str {
        &self.e_tag
    }

    /// The backend's object version, if it keeps versions.
    pub fn object_version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    fn from_parts(
        url: &str,
        action: &'static str,
        e_tag: Option<String>,
        version: Option<String>,
    ) -> Result<Self, StoreError> {
        match e_tag {
            Some(e_tag) if !e_tag.is_empty() => Ok(Version { e_tag, version }),
            _ => Err(StoreError::NoEtag {
                url: url.to_string(),
                action,
            }),
        }
    }
}

/// What [`StateStore::open`] needs besides the URL.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    base_dir: Option<PathBuf>,
    env: Env,
    oci: Option<OciClient>,
}

impl OpenOptions {
    /// Relative paths against the working directory, no environment, no OCI client.
    pub fn new() -> Self {
        Self::default()
    }

    /// Resolves relative paths against `dir` instead of the working directory.
    pub fn base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.base_dir = Some(dir.into());
        self
    }

    /// Reads `s3://` settings from `env` (see [`StateStore::open`]).
    pub fn env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    /// Uses `client` (its credential provider and endpoints) for `oci://` stores.
    pub fn oci_client(mut self, client: OciClient) -> Self {
        self.oci = Some(client);
        self
    }
}

/// The in-process stores of `memory://NAME`, shared by name.
static MEMORY_STORES: LazyLock<Mutex<HashMap<String, Arc<InMemory>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn memory_store(name: &str) -> Arc<InMemory> {
    // A poisoned lock only means another thread panicked while holding a plain map.
    let mut stores = MEMORY_STORES.lock().unwrap_or_else(|e| e.into_inner());
    Arc::clone(
        stores
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(InMemory::new())),
    )
}

/// True when an error (or a cause) is S3's `NoSuchBucket`: object_store reports it as
/// `NotFound` like a missing object.
fn mentions_missing_bucket(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if e.to_string().contains("NoSuchBucket") {
            return true;
        }
        cause = e.source();
    }
    false
}

/// The ledger in one store, chosen by URL. Cheap to clone (the backend is shared, and so is
/// the ledger last read, see [`StateStore::load_shared`]).
#[derive(Clone)]
pub struct StateStore {
    url: String,
    store: Arc<dyn ObjectStore>,
    location: Path,
    last_read: Arc<Mutex<Option<LastRead>>>,
}

/// The ledger a store parsed last, with the version it was read at.
type LastRead = (Version, Arc<Ledger>);

impl fmt::Debug for StateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateStore")
            .field("url", &self.url)
            .field("store", &format_args!("{}", self.store))
            .field("location", &self.location.as_ref())
            .finish()
    }
}

impl StateStore {
    /// Opens the store `url` names (see [`url`] for the forms). Nothing is read or written
    /// yet, and no directory is created before the first write.
    ///
    /// - Paths and `file://`: relative paths are resolved against
    ///   [`OpenOptions::base_dir`], else the working directory.
    /// - `memory://NAME`: the process-wide in-memory store `NAME` (shared by every open of the
    ///   same name; gone when the process ends).
    /// - `s3://BUCKET/KEY`: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
    ///   `AWS_REGION`/`AWS_DEFAULT_REGION` (default `us-east-1`), `AWS_ENDPOINT_URL` (any
    ///   S3-compatible server, path-style requests) and `AWS_ALLOW_HTTP=true` (plain http,
    ///   for test servers; without it an `http://` endpoint is [`StoreError::Unusable`]) from
    ///   [`OpenOptions::env`]. Conditional writes use `If-Match` /
    ///   `If-None-Match: *` (object_store's `ETagMatch`), whatever the environment says.
    /// - `oci://BUCKET@NAMESPACE/NAME`: the OCI client of [`OpenOptions::oci_client`].
    pub fn open(url: &str, options: &OpenOptions) -> Result<StateStore, StoreError> {
        let parsed = StoreUrl::parse(url)?;
        match parsed {
            StoreUrl::File { path } => {
                let path = if path.is_absolute() {
                    path
                } else {
                    let base = match &options.base_dir {
                        Some(dir) => dir.clone(),
                        None => std::env::current_dir().map_err(|e| StoreError::Unusable {
                            url: path.display().to_string(),
                            reason: format!(
                                "the working directory is unknown ({e}), so the relative \
                                 path cannot be resolved"
                            ),
                            source: None,
                        })?,
                    };
                    base.join(path)
                };
                let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
                    return Err(StoreError::InvalidUrl {
                        url: url::redact(url),
                        reason: "the path does not name a file".into(),
                    });
                };
                let name = name.to_string_lossy().into_owned();
                let location = Path::parse(&name).map_err(|e| StoreError::InvalidUrl {
                    url: url::redact(url),
                    reason: format!("the file name `{name}` cannot be used ({e})"),
                })?;
                Ok(StateStore {
                    url: path.display().to_string(),
                    store: Arc::new(FileStore::new(dir)),
                    location,
                    last_read: Arc::default(),
                })
            }
            StoreUrl::Memory { name } => Ok(StateStore {
                url: format!("memory://{name}"),
                store: memory_store(&name),
                location: Path::from(DEFAULT_OBJECT_NAME),
                last_read: Arc::default(),
            }),
            StoreUrl::S3 {
                ref bucket,
                ref key,
            } => {
                let display = parsed.to_string();
                let store = s3::open(bucket, &options.env, &display)?;
                Ok(StateStore {
                    url: display,
                    store: Arc::new(store),
                    location: Path::parse(key).map_err(|e| StoreError::InvalidUrl {
                        url: url::redact(url),
                        reason: format!("the key cannot be used ({e})"),
                    })?,
                    last_read: Arc::default(),
                })
            }
            StoreUrl::Oci {
                ref bucket,
                ref namespace,
                ref object,
            } => {
                let display = parsed.to_string();
                let Some(client) = options.oci.clone() else {
                    return Err(StoreError::Unusable {
                        url: display,
                        reason: "oci:// stores need OCI credentials, and none were set up".into(),
                        source: None,
                    });
                };
                let location = Path::parse(object).map_err(|e| StoreError::InvalidUrl {
                    url: url::redact(url),
                    reason: format!("the object name cannot be used ({e})"),
                })?;
                Ok(StateStore {
                    url: display,
                    store: Arc::new(OciObjectStore::new(
                        client,
                        Bucket::new(namespace.clone(), bucket.clone()),
                    )),
                    location,
                    last_read: Arc::default(),
                })
            }
        }
    }

    /// A state store over any `ObjectStore`, the ledger at `location`; `url` is what messages
    /// call it.
    pub fn from_object_store(
        store: Arc<dyn ObjectStore>,
        location: Path,
        url: impl Into<String>,
    ) -> Self {
        StateStore {
            url: url.into(),
            store,
            location,
            last_read: Arc::default(),
        }
    }

    /// The store's URL as messages show it (the resolved path for files).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The backend.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Where the ledger is in the backend.
    pub fn location(&self) -> &Path {
        &self.location
    }

    /// Reads the ledger and its version; `None` when there is no document yet. A document
    /// larger than [`MAX_DOCUMENT_BYTES`] is [`StoreError::TooLarge`], refused on its
    /// announced size before the content is read.
    pub async fn load(&self) -> Result<Option<(Ledger, Version)>, StoreError> {
        Ok(self
            .read(false)
            .await?
            .map(|(ledger, version)| (Arc::unwrap_or_clone(ledger), version)))
    }

    /// [`StateStore::load`], sharing what it read: when this store (or a clone of it) read
    /// the ledger before and it is unchanged since, the ledger parsed then is returned again
    /// instead of being parsed again. Unchanged means a conditional read with the version
    /// read then (`If-None-Match`; the file store compares the hash of its content) answered
    /// "not modified", so what is returned is exactly what is stored now. A server's steady
    /// steps read a ledger of thousands of records this way; a write through this store
    /// forgets what was read.
    pub async fn load_shared(&self) -> Result<Option<(Arc<Ledger>, Version)>, StoreError> {
        self.read(true).await
    }

    fn last_read(&self) -> std::sync::MutexGuard<'_, Option<LastRead>> {
        // A poisoned lock only means another thread panicked while holding a plain value.
        self.last_read.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn read(&self, keep: bool) -> Result<Option<(Arc<Ledger>, Version)>, StoreError> {
        let known = self.last_read().clone();
        let options = GetOptions {
            if_none_match: known.as_ref().map(|(v, _)| v.e_tag.clone()),
            ..GetOptions::default()
        };
        let result = match self.store.get_opts(&self.location, options).await {
            Ok(r) => r,
            Err(object_store::Error::NotModified { .. }) if known.is_some() => {
                return Ok(known.map(|(version, ledger)| (ledger, version)));
            }
            // S3 answers a missing bucket with 404 too; that is not an empty store.
            Err(e @ object_store::Error::NotFound { .. }) if mentions_missing_bucket(&e) => {
                return Err(self.backend("read", e));
            }
            Err(object_store::Error::NotFound { .. }) => {
                *self.last_read() = None;
                return Ok(None);
            }
            Err(source) => return Err(self.read_error(source)),
        };
        let meta = result.meta.clone();
        if meta.size > MAX_DOCUMENT_BYTES {
            return Err(self.too_large(Some(meta.size)));
        }
        let mut stream = result.into_stream();
        // The file store answers with one chunk: it is parsed where it is, not copied (a
        // ledger of 10,000 instances is megabytes). Several chunks are joined.
        let mut first: Option<bytes::Bytes> = None;
        let mut joined: Vec<u8> = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|source| self.read_error(source))?;
            let held = first.as_ref().map_or(0, bytes::Bytes::len) + joined.len();
            if (held + chunk.len()) as u64 > MAX_DOCUMENT_BYTES {
                return Err(self.too_large(None));
            }
            match first.take() {
                None if joined.is_empty() => first = Some(chunk),
                earlier => {
                    if let Some(earlier) = earlier {
                        joined.extend_from_slice(&earlier);
                    }
                    joined.extend_from_slice(&chunk);
                }
            }
        }
        let bytes: &[u8] = first.as_deref().unwrap_or(&joined);
        let ledger = Ledger::from_json(bytes).map_err(|e| self.decode_error(e))?;
        drop((first, joined));
        let version = Version::from_parts(&self.url, "reading", meta.e_tag, meta.version)?;
        let ledger = Arc::new(ledger);
        *self.last_read() = keep.then(|| (version.clone(), Arc::clone(&ledger)));
        Ok(Some((ledger, version)))
    }

    fn too_large(&self, size: Option<u64>) -> StoreError {
        StoreError::TooLarge {
            url: self.url.clone(),
            size,
            limit: MAX_DOCUMENT_BYTES,
        }
    }

    /// A failed read: [`StoreError::TooLarge`] when the backend refused the object for its
    /// size (the file store checks it before reading), else [`StoreError::Backend`].
    fn read_error(&self, source: object_store::Error) -> StoreError {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&source);
        while let Some(e) = cause {
            if let Some(t) = e.downcast_ref::<ObjectTooLarge>() {
                return StoreError::TooLarge {
                    url: self.url.clone(),
                    size: t.size,
                    limit: t.limit,
                };
            }
            cause = e.source();
        }
        self.backend("read", source)
    }

    /// Writes the first document; [`StoreError::Conflict`] if one exists.
    pub async fn create(&self, ledger: &Ledger) -> Result<Version, StoreError> {
        self.put(ledger, PutMode::Create, "create").await
    }

    /// Replaces the document if it is still at `expected`; [`StoreError::Conflict`] if another
    /// writer changed (or removed) it since.
    pub async fn save(&self, ledger: &Ledger, expected: &Version) -> Result<Version, StoreError> {
        let mode = PutMode::Update(UpdateVersion {
            e_tag: Some(expected.e_tag.clone()),
            version: expected.version.clone(),
        });
        self.put(ledger, mode, "update").await
    }

    async fn put(
        &self,
        ledger: &Ledger,
        mode: PutMode,
        action: &'static str,
    ) -> Result<Version, StoreError> {
        // What was read is about to be out of date (or, on a conflict, already is).
        *self.last_read() = None;
        let bytes = ledger.to_json().map_err(|source| StoreError::Encode {
            url: self.url.clone(),
            source,
        })?;
        let result = self
            .store
            .put_opts(
                &self.location,
                PutPayload::from(bytes),
                PutOptions::from(mode),
            )
            .await;
        match result {
            Ok(r) => Version::from_parts(&self.url, "writing", r.e_tag, r.version),
            Err(source @ object_store::Error::AlreadyExists { .. }) => Err(StoreError::Conflict {
                url: self.url.clone(),
                reason: ConflictReason::AlreadyExists,
                source: foreign::sanitize(&source),
            }),
            Err(
                source @ (object_store::Error::Precondition { .. }
                | object_store::Error::NotFound { .. }),
            ) if action == "update" => Err(StoreError::Conflict {
                url: self.url.clone(),
                reason: ConflictReason::Changed,
                source: foreign::sanitize(&source),
            }),
            Err(source) => Err(self.backend(action, source)),
        }
    }

    fn backend(&self, action: &'static str, source: object_store::Error) -> StoreError {
        StoreError::Backend {
            url: self.url.clone(),
            action,
            source: foreign::sanitize(&source),
        }
    }

    fn decode_error(&self, e: DecodeError) -> StoreError {
        let url = self.url.clone();
        match e {
            DecodeError::Invalid {
                line,
                column,
                source,
            } => StoreError::Damaged {
                url,
                line,
                column,
                source,
            },
            DecodeError::Newer { found } => StoreError::NewerVersion { url, found },
            DecodeError::Unsupported { found } => StoreError::UnsupportedVersion { url, found },
        }
    }
}
