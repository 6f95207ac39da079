//! Object Storage operations (native API, `objectstorage.{region}.oraclecloud.com`, paths
//! `/n/{namespace}/b/{bucket}/o/{object}`, no API version prefix).
//!
//! - Names (namespace, bucket, object) are percent-encoded strictly, `/` included (`%2F`),
//!   so an object name is always exactly one path segment on the wire.
//! - PutObject is signed in the "unsigned body" mode (only `date (request-target) host`), as
//!   OCI requires, and always sends `Content-MD5` so a corrupted upload is refused (400
//!   `UnmatchedContentMD5`).
//! - Conditional requests: `if-match: <etag>` (PUT, GET, HEAD, DELETE), `if-none-match: *`
//!   (PUT: create only), `if-none-match: <etag>` (GET, HEAD: 304 when unchanged). ETags are
//!   opaque strings (OCI's are UUIDs, not MD5s); surrounding quotes are kept as received.
//! - Errors are typed: [`ObjectStorageError::ObjectNotFound`], `BucketNotFound`,
//!   `PreconditionFailed` (412 `IfMatchFailed` / `IfNoneMatchFailed`), `NotModified` (304);
//!   everything else is the client's [`OciError`].
//!
//! # Retried conditional writes
//! The client retries a PUT after a timeout or a 5xx. If the first attempt had in fact been
//! applied, the retry of a conditional PUT fails with 412 although the write succeeded. So when
//! a conditional PutObject fails with 412 after more than one attempt, [`put_object`] reads the
//! object's MD5 and reports success when it is the MD5 of the body it sent.
//!
//! # Retried deletes
//! Likewise a DeleteObject whose 204 was lost is retried and finds the object gone: a 404
//! (`ObjectNotFound`) on a retry, or a 412 on a retried conditional delete after which a
//! HeadObject finds no object, is reported as done by [`delete_object`]. A 412 while the object
//! is still there stays a conflict.

use std::collections::BTreeMap;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::{StreamExt as _, TryStreamExt as _};
use http::header::{CONTENT_LENGTH, IF_MATCH, IF_NONE_MATCH, RANGE};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use md5::{Digest as _, Md5};
use serde::Deserialize;

use super::client::{OciClient, OciRequest, OciResponse, encode_path_segment};
use super::endpoints::Service;
use super::error::OciError;
use super::signer::BodyMode;
use crate::ids::CompartmentId;

/// `content-md5`.
const CONTENT_MD5: HeaderName = HeaderName::from_static("content-md5");
/// `opc-content-md5`.
const OPC_CONTENT_MD5: &str = "opc-content-md5";

/// A bucket: its namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bucket {
    /// The Object Storage namespace (GetNamespace).
    pub namespace: String,
    /// The bucket name.
    pub name: String,
}

impl Bucket {
    /// The bucket `name` in `namespace`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    fn object_path(&self, object: &str) -> String {
        format!(
            "/n/{}/b/{}/o/{}",
            encode_path_segment(&self.namespace),
            encode_path_segment(&self.name),
            encode_path_segment(object)
        )
    }

    fn objects_path(&self) -> String {
        format!(
            "/n/{}/b/{}/o",
            encode_path_segment(&self.namespace),
            encode_path_segment(&self.name)
        )
    }
}

impl std::fmt::Display for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.namespace)
    }
}

/// What a failed call was about: the operation, the bucket and the object (empty for
/// bucket-level calls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectTarget {
    /// The operation.
    pub operation: &'static str,
    /// The bucket.
    pub bucket: Bucket,
    /// The object name (empty for ListObjects).
    pub object: String,
    /// The condition sent (`if-match: <etag>`, `if-none-match: *`), if any.
    pub condition: Option<String>,
}

impl ObjectTarget {
    fn boxed(operation: &'static str, bucket: &Bucket, object: Option<&str>) -> Box<Self> {
        Box::new(ObjectTarget {
            operation,
            bucket: bucket.clone(),
            object: object.unwrap_or_default().to_string(),
            condition: None,
        })
    }

    /// The condition, or a generic phrase.
    pub fn condition(&self) -> &str {
        self.condition.as_deref().unwrap_or("a precondition")
    }
}

/// Why an Object Storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectStorageError {
    /// 404 on an object (`ObjectNotFound`, or a HEAD/DELETE without a body).
    #[error("{}: object `{}` not found in bucket {}", target.operation, target.object, target.bucket)]
    ObjectNotFound {
        /// The call.
        target: Box<ObjectTarget>,
        /// OCI's answer.
        #[source]
        source: OciError,
    },
    /// 404 `BucketNotFound` / `NamespaceNotFound`: the bucket is missing or the caller may not
    /// use it (OCI does not tell them apart).
    #[error("{}: bucket {} not found, or not authorized", target.operation, target.bucket)]
    BucketNotFound {
        /// The call.
        target: Box<ObjectTarget>,
        /// OCI's answer.
        #[source]
        source: OciError,
    },
    /// 412: `if-match` did not match (`IfMatchFailed`) or `if-none-match: *` found an object
    /// (`IfNoneMatchFailed`).
    #[error(
        "{}: precondition `{}` failed for object `{}` in bucket {}",
        target.operation, target.condition(), target.object, target.bucket
    )]
    PreconditionFailed {
        /// The call (with the condition sent, e.g. `if-none-match: *`).
        target: Box<ObjectTarget>,
        /// OCI's answer.
        #[source]
        source: OciError,
    },
    /// 304: `if-none-match` matched the current ETag.
    #[error(
        "{}: object `{}` in bucket {} is unchanged (etag {etag})",
        target.operation, target.object, target.bucket
    )]
    NotModified {
        /// The call.
        target: Box<ObjectTarget>,
        /// The ETag sent in `if-none-match`.
        etag: String,
    },
    /// A successful response without a header the operation needs (`etag`).
    #[error("{operation}: the response (opc-request-id: {}) has no `{header}` header", request_id.as_deref().unwrap_or("none"))]
    MissingHeader {
        /// The operation.
        operation: &'static str,
        /// The header.
        header: &'static str,
        /// The `opc-request-id`.
        request_id: Option<String>,
    },
    /// Any other failure.
    #[error(transparent)]
    Oci(#[from] OciError),
}

impl ObjectStorageError {
    /// True for a missing object.
    pub fn is_object_not_found(&self) -> bool {
        matches!(self, ObjectStorageError::ObjectNotFound { .. })
    }

    /// True for a failed `if-match` / `if-none-match: *`.
    pub fn is_precondition_failed(&self) -> bool {
        matches!(self, ObjectStorageError::PreconditionFailed { .. })
    }

    /// True for a 304.
    pub fn is_not_modified(&self) -> bool {
        matches!(self, ObjectStorageError::NotModified { .. })
    }

    /// The underlying client error, when there is one.
    pub fn oci(&self) -> Option<&OciError> {
        match self {
            ObjectStorageError::ObjectNotFound { source, .. }
            | ObjectStorageError::BucketNotFound { source, .. }
            | ObjectStorageError::PreconditionFailed { source, .. }
            | ObjectStorageError::Oci(source) => Some(source),
            ObjectStorageError::NotModified { .. } | ObjectStorageError::MissingHeader { .. } => {
                None
            }
        }
    }
}

/// Classifies a failed object call.
fn classify(
    err: OciError,
    operation: &'static str,
    bucket: &Bucket,
    object: Option<&str>,
    condition: Option<&str>,
) -> ObjectStorageError {
    let mut target = ObjectTarget::boxed(operation, bucket, object);
    target.condition = condition.map(str::to_string);
    match (err.status(), err.code()) {
        // A 404 on a bucket-level call, or one that names the bucket or namespace, is about
        // the bucket; any other 404 (including a HEAD, which has no body) is about the object.
        (Some(404), code)
            if object.is_none() || matches!(code, Some("BucketNotFound" | "NamespaceNotFound")) =>
        {
            ObjectStorageError::BucketNotFound {
                target,
                source: err,
            }
        }
        (Some(404), _) => ObjectStorageError::ObjectNotFound {
            target,
            source: err,
        },
        (Some(412), _) => ObjectStorageError::PreconditionFailed {
            target,
            source: err,
        },
        _ => ObjectStorageError::Oci(err),
    }
}

fn check_object_name(operation: &'static str, object: &str) -> Result<(), ObjectStorageError> {
    if object.is_empty() || object.len() > 1024 {
        return Err(ObjectStorageError::Oci(OciError::InvalidRequest {
            operation,
            reason: format!(
                "an object name must be 1 to 1024 bytes, this one has {}",
                object.len()
            ),
        }));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// GetNamespace
// ---------------------------------------------------------------------------------------------

/// `GET /n/`: the tenancy's Object Storage namespace (the caller's, or `compartment`'s
/// tenancy).
pub async fn get_namespace(
    client: &OciClient,
    compartment: Option<&CompartmentId>,
) -> Result<String, ObjectStorageError> {
    let mut req = OciRequest::new("GetNamespace", Service::ObjectStorage, Method::GET, "/n/");
    if let Some(c) = compartment {
        req = req.query("compartmentId", c.as_str());
    }
    let namespace: String = client.send_json(&req).await?;
    Ok(namespace)
}

// ---------------------------------------------------------------------------------------------
// PutObject
// ---------------------------------------------------------------------------------------------

/// The condition of a PutObject.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PutCondition {
    /// Write whatever is there.
    #[default]
    None,
    /// Only if the current ETag is this one (`if-match`).
    IfMatch(String),
    /// Only if there is no object (`if-none-match: *`).
    IfNoneMatchAny,
}

/// Options of [`put_object`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutObjectOptions {
    /// The condition.
    pub condition: PutCondition,
    /// `Content-Type` (default `application/octet-stream`).
    pub content_type: Option<String>,
    /// User metadata, sent as `opc-meta-<name>` headers.
    pub metadata: BTreeMap<String, String>,
}

/// What PutObject answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutObjectOutput {
    /// The new ETag.
    pub etag: String,
    /// `version-id`, when the bucket is versioned.
    pub version_id: Option<String>,
    /// `opc-content-md5` (base64 MD5 of the body).
    pub content_md5: Option<String>,
    /// `last-modified`.
    pub last_modified: Option<SystemTime>,
}

/// base64(MD5(body)), the value of `Content-MD5`.
pub fn content_md5(body: &[u8]) -> String {
    B64.encode(Md5::digest(body))
}

/// `PUT /n/{ns}/b/{bucket}/o/{object}` (see the module docs on conditions and retries).
pub async fn put_object(
    client: &OciClient,
    bucket: &Bucket,
    object: &str,
    body: Bytes,
    options: &PutObjectOptions,
) -> Result<PutObjectOutput, ObjectStorageError> {
    const OP: &str = "PutObject";
    check_object_name(OP, object)?;
    let md5 = content_md5(&body);
    let content_type = options
        .content_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    let content_type = HeaderValue::from_str(content_type).map_err(|_| {
        ObjectStorageError::Oci(OciError::InvalidRequest {
            operation: OP,
            reason: "the content type is not a valid header value".into(),
        })
    })?;
    let mut req = OciRequest::new(
        OP,
        Service::ObjectStorage,
        Method::PUT,
        bucket.object_path(object),
    )
    .raw_body(body, content_type)
    .body_mode(BodyMode::Unsigned)
    .header(CONTENT_MD5, &md5)?;
    let condition = match &options.condition {
        PutCondition::None => None,
        PutCondition::IfMatch(etag) => {
            req = req.header(IF_MATCH, etag)?;
            Some(format!("if-match: {etag}"))
        }
        PutCondition::IfNoneMatchAny => {
            req = req.header(IF_NONE_MATCH, "*")?;
            Some("if-none-match: *".to_string())
        }
    };
    for (name, value) in &options.metadata {
        let header = HeaderName::try_from(format!("opc-meta-{name}")).map_err(|_| {
            ObjectStorageError::Oci(OciError::InvalidRequest {
                operation: OP,
                reason: format!("`{name}` is not a valid metadata name"),
            })
        })?;
        req = req.header(header, value)?;
    }
    match client.send(&req).await {
        Ok(resp) => Ok(PutObjectOutput {
            etag: required_etag(OP, &resp)?,
            version_id: resp.header("version-id").map(str::to_string),
            content_md5: resp.header(OPC_CONTENT_MD5).map(str::to_string),
            last_modified: last_modified(&resp),
        }),
        Err(err) => {
            let retried = err.service().is_some_and(|s| s.attempts > 1);
            if err.status() == Some(412) && retried && condition.is_some() {
                // An earlier attempt may have been applied (see the module docs).
                if let Ok(head) =
                    head_object(client, bucket, object, &HeadObjectOptions::default()).await
                    && head.content_md5.as_deref() == Some(md5.as_str())
                {
                    tracing::info!(
                        bucket = %bucket,
                        object,
                        "a retried conditional PutObject got 412, but the object holds exactly \
                         the body sent: an earlier attempt was applied"
                    );
                    return Ok(PutObjectOutput {
                        etag: head.etag,
                        version_id: head.version_id,
                        content_md5: head.content_md5,
                        last_modified: head.last_modified,
                    });
                }
            }
            Err(classify(
                err,
                OP,
                bucket,
                Some(object),
                condition.as_deref(),
            ))
        }
    }
}

fn required_etag(
    operation: &'static str,
    resp: &OciResponse,
) -> Result<String, ObjectStorageError> {
    resp.etag()
        .map(str::to_string)
        .ok_or(ObjectStorageError::MissingHeader {
            operation,
            header: "etag",
            request_id: resp.request_id.clone(),
        })
}

fn last_modified(resp: &OciResponse) -> Option<SystemTime> {
    resp.header("last-modified")
        .and_then(|v| httpdate::parse_http_date(v).ok())
}

// ---------------------------------------------------------------------------------------------
// GetObject / HeadObject
// ---------------------------------------------------------------------------------------------

/// A byte range for GetObject (`range: bytes=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// Bytes `start..end` (end exclusive; must be greater than start).
    Bounded {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
    /// From `start` to the end.
    From(u64),
    /// The last `n` bytes.
    Suffix(u64),
}

impl ByteRange {
    fn header_value(self) -> String {
        match self {
            ByteRange::Bounded { start, end } => {
                format!("bytes={start}-{}", end.saturating_sub(1).max(start))
            }
            ByteRange::From(start) => format!("bytes={start}-"),
            ByteRange::Suffix(n) => format!("bytes=-{n}"),
        }
    }
}

/// Options of [`get_object`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetObjectOptions {
    /// Fail with `PreconditionFailed` unless the ETag is this one.
    pub if_match: Option<String>,
    /// Answer `NotModified` when the ETag is this one (no `*`).
    pub if_none_match: Option<String>,
    /// Only these bytes.
    pub range: Option<ByteRange>,
    /// A specific version (versioned buckets).
    pub version_id: Option<String>,
}

/// Options of [`head_object`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeadObjectOptions {
    /// Fail with `PreconditionFailed` unless the ETag is this one.
    pub if_match: Option<String>,
    /// Answer `NotModified` when the ETag is this one.
    pub if_none_match: Option<String>,
    /// A specific version (versioned buckets).
    pub version_id: Option<String>,
}

/// `content-range: bytes start-end/total` of a 206.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
    /// The object's size, when given.
    pub total: Option<u64>,
}

impl ContentRange {
    /// Parses `bytes 0-9/100` (or `bytes 0-9/*`).
    pub fn parse(value: &str) -> Option<Self> {
        let rest = value.trim().strip_prefix("bytes")?.trim_start();
        let (span, total) = rest.split_once('/')?;
        let (start, end) = span.split_once('-')?;
        let start = start.trim().parse().ok()?;
        let end = end.trim().parse().ok()?;
        let total = match total.trim() {
            "*" => None,
            t => Some(t.parse().ok()?),
        };
        (start <= end).then_some(ContentRange { start, end, total })
    }
}

/// An object's metadata (HeadObject, and the headers of GetObject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectHead {
    /// The ETag.
    pub etag: String,
    /// `content-length` (of the bytes returned, for a range).
    pub content_length: u64,
    /// `content-type`.
    pub content_type: Option<String>,
    /// `content-md5` (absent for multipart objects).
    pub content_md5: Option<String>,
    /// `last-modified`.
    pub last_modified: Option<SystemTime>,
    /// `version-id`.
    pub version_id: Option<String>,
    /// `content-range`, for a 206.
    pub content_range: Option<ContentRange>,
    /// `opc-meta-*` headers, without the prefix.
    pub metadata: BTreeMap<String, String>,
}

impl ObjectHead {
    /// The object's full size: `content-range`'s total when present, else `content-length`.
    pub fn object_size(&self) -> u64 {
        self.content_range
            .and_then(|r| r.total)
            .unwrap_or(self.content_length)
    }

    fn from_response(
        operation: &'static str,
        resp: &OciResponse,
    ) -> Result<Self, ObjectStorageError> {
        let metadata = resp
            .headers
            .iter()
            .filter_map(|(name, value)| {
                let key = name.as_str().strip_prefix("opc-meta-")?;
                Some((key.to_string(), value.to_str().ok()?.to_string()))
            })
            .collect();
        Ok(ObjectHead {
            etag: required_etag(operation, resp)?,
            content_length: resp
                .headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(resp.body.len() as u64),
            content_type: resp.header("content-type").map(str::to_string),
            content_md5: resp
                .header("content-md5")
                .or_else(|| resp.header(OPC_CONTENT_MD5))
                .map(str::to_string),
            last_modified: last_modified(resp),
            version_id: resp.header("version-id").map(str::to_string),
            content_range: resp.header("content-range").and_then(ContentRange::parse),
            metadata,
        })
    }
}

/// An object's content and metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetObjectOutput {
    /// The metadata.
    pub head: ObjectHead,
    /// The bytes (only the range, for a 206).
    pub body: Bytes,
}

fn conditional_read(
    mut req: OciRequest,
    if_match: Option<&str>,
    if_none_match: Option<&str>,
    version_id: Option<&str>,
) -> Result<(OciRequest, Option<String>), ObjectStorageError> {
    let mut condition = None;
    if let Some(etag) = if_match {
        req = req.header(IF_MATCH, etag)?;
        condition = Some(format!("if-match: {etag}"));
    }
    if let Some(etag) = if_none_match {
        req = req.header(IF_NONE_MATCH, etag)?;
        condition = Some(format!("if-none-match: {etag}"));
    }
    if let Some(v) = version_id {
        req = req.query("versionId", v);
    }
    Ok((req, condition))
}

/// `GET /n/{ns}/b/{bucket}/o/{object}`.
pub async fn get_object(
    client: &OciClient,
    bucket: &Bucket,
    object: &str,
    options: &GetObjectOptions,
) -> Result<GetObjectOutput, ObjectStorageError> {
    const OP: &str = "GetObject";
    check_object_name(OP, object)?;
    let req = OciRequest::new(
        OP,
        Service::ObjectStorage,
        Method::GET,
        bucket.object_path(object),
    )
    .header(http::header::ACCEPT, "*/*")?;
    let (mut req, condition) = conditional_read(
        req,
        options.if_match.as_deref(),
        options.if_none_match.as_deref(),
        options.version_id.as_deref(),
    )?;
    if let Some(range) = options.range {
        req = req.header(RANGE, &range.header_value())?;
    }
    let resp = client
        .send(&req)
        .await
        .map_err(|e| classify(e, OP, bucket, Some(object), condition.as_deref()))?;
    if resp.status == StatusCode::NOT_MODIFIED {
        return Err(ObjectStorageError::NotModified {
            target: ObjectTarget::boxed(OP, bucket, Some(object)),
            etag: options.if_none_match.clone().unwrap_or_default(),
        });
    }
    let head = ObjectHead::from_response(OP, &resp)?;
    Ok(GetObjectOutput {
        head,
        body: resp.body,
    })
}

/// `HEAD /n/{ns}/b/{bucket}/o/{object}`.
pub async fn head_object(
    client: &OciClient,
    bucket: &Bucket,
    object: &str,
    options: &HeadObjectOptions,
) -> Result<ObjectHead, ObjectStorageError> {
    const OP: &str = "HeadObject";
    check_object_name(OP, object)?;
    let req = OciRequest::new(
        OP,
        Service::ObjectStorage,
        Method::HEAD,
        bucket.object_path(object),
    );
    let (req, condition) = conditional_read(
        req,
        options.if_match.as_deref(),
        options.if_none_match.as_deref(),
        options.version_id.as_deref(),
    )?;
    let resp = client
        .send(&req)
        .await
        .map_err(|e| classify(e, OP, bucket, Some(object), condition.as_deref()))?;
    if resp.status == StatusCode::NOT_MODIFIED {
        return Err(ObjectStorageError::NotModified {
            target: ObjectTarget::boxed(OP, bucket, Some(object)),
            etag: options.if_none_match.clone().unwrap_or_default(),
        });
    }
    ObjectHead::from_response(OP, &resp)
}

// ---------------------------------------------------------------------------------------------
// DeleteObject
// ---------------------------------------------------------------------------------------------

/// `DELETE /n/{ns}/b/{bucket}/o/{object}`, only if the ETag is `if_match` when given.
pub async fn delete_object(
    client: &OciClient,
    bucket: &Bucket,
    object: &str,
    if_match: Option<&str>,
) -> Result<(), ObjectStorageError> {
    const OP: &str = "DeleteObject";
    check_object_name(OP, object)?;
    let mut req = OciRequest::new(
        OP,
        Service::ObjectStorage,
        Method::DELETE,
        bucket.object_path(object),
    );
    let mut condition = None;
    if let Some(etag) = if_match {
        req = req.header(IF_MATCH, etag)?;
        condition = Some(format!("if-match: {etag}"));
    }
    let err = match client.send(&req).await {
        Ok(_) => return Ok(()),
        Err(err) => err,
    };
    // An earlier attempt may have deleted the object and lost its 204 (see the module docs):
    // a retry then finds nothing (404) or, conditional, fails its condition (412). The
    // object being gone is what was asked for.
    let retried = err.service().is_some_and(|s| s.attempts > 1);
    let gone = match err.status() {
        Some(404) if retried => matches!(err.service(), Some(s) if s.code == "ObjectNotFound"),
        Some(412) if retried && condition.is_some() => matches!(
            head_object(client, bucket, object, &HeadObjectOptions::default()).await,
            Err(e) if e.is_object_not_found()
        ),
        _ => false,
    };
    if gone {
        tracing::info!(
            bucket = %bucket,
            object,
            "a retried DeleteObject found the object gone: an earlier attempt deleted it"
        );
        return Ok(());
    }
    Err(classify(
        err,
        OP,
        bucket,
        Some(object),
        condition.as_deref(),
    ))
}

// ---------------------------------------------------------------------------------------------
// ListObjects
// ---------------------------------------------------------------------------------------------

/// Options of [`list_objects`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListObjectsOptions {
    /// Only names starting with this.
    pub prefix: Option<String>,
    /// Names `>=` this (the paging cursor: `nextStartWith`).
    pub start: Option<String>,
    /// Names `<` this.
    pub end: Option<String>,
    /// Names `>` this.
    pub start_after: Option<String>,
    /// Page size (1..=1000).
    pub limit: Option<u32>,
    /// Group names by `/` after the prefix into `prefixes` (the only delimiter OCI takes).
    pub delimiter: bool,
    /// Summary fields beyond `name`, e.g. `["size", "etag", "timeModified"]`.
    pub fields: Vec<String>,
}

/// One object of a listing. Fields not requested in `fields` are absent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectSummary {
    /// The object name.
    pub name: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: Option<u64>,
    /// ETag.
    #[serde(default)]
    pub etag: Option<String>,
    /// base64 MD5.
    #[serde(default)]
    pub md5: Option<String>,
    /// Creation time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub time_created: Option<time::OffsetDateTime>,
    /// Last modification time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub time_modified: Option<time::OffsetDateTime>,
    /// Storage tier.
    #[serde(default)]
    pub storage_tier: Option<String>,
}

/// One page of ListObjects.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListObjectsPage {
    /// The objects.
    #[serde(default)]
    pub objects: Vec<ObjectSummary>,
    /// With a delimiter: the "directories" (each ends with `/`).
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// Where the next page starts (pass as `start`); absent on the last page.
    #[serde(default)]
    pub next_start_with: Option<String>,
}

/// `GET /n/{ns}/b/{bucket}/o`: one page.
pub async fn list_objects(
    client: &OciClient,
    bucket: &Bucket,
    options: &ListObjectsOptions,
) -> Result<ListObjectsPage, ObjectStorageError> {
    const OP: &str = "ListObjects";
    let mut req = OciRequest::new(
        OP,
        Service::ObjectStorage,
        Method::GET,
        bucket.objects_path(),
    );
    let params = [
        ("prefix", options.prefix.as_deref()),
        ("start", options.start.as_deref()),
        ("end", options.end.as_deref()),
        ("startAfter", options.start_after.as_deref()),
    ];
    for (name, value) in params {
        if let Some(v) = value {
            req = req.query(name, v);
        }
    }
    if let Some(limit) = options.limit {
        req = req.query("limit", limit.to_string());
    }
    if options.delimiter {
        req = req.query("delimiter", "/");
    }
    if !options.fields.is_empty() {
        req = req.query("fields", options.fields.join(","));
    }
    let resp = client
        .send(&req)
        .await
        .map_err(|e| classify(e, OP, bucket, None, None))?;
    Ok(resp.json(OP)?)
}

/// The most pages [`list_object_pages`] follows: a service that never ends a listing would
/// otherwise be paged forever.
pub const MAX_LIST_PAGES: usize = 100_000;

/// Where the page after one that started at `current` starts: `Ok(None)` after the last
/// page. A cursor equal to `current` (the service would repeat the page forever) or a page
/// beyond [`MAX_LIST_PAGES`] is an error.
fn next_start(
    current: Option<&str>,
    next: Option<&str>,
    pages: usize,
) -> Result<Option<String>, ObjectStorageError> {
    let stop = |reason: String| {
        ObjectStorageError::Oci(OciError::InvalidRequest {
            operation: "ListObjects",
            reason,
        })
    };
    match next {
        None => Ok(None),
        Some(next) if current == Some(next) => Err(stop(format!(
            "the service returned nextStartWith `{next}` twice; stopping"
        ))),
        Some(_) if pages >= MAX_LIST_PAGES => {
            Err(stop(format!("more than {MAX_LIST_PAGES} pages; stopping")))
        }
        Some(next) => Ok(Some(next.to_string())),
    }
}

/// Every page of ListObjects, following `nextStartWith` (the one paging loop of Object
/// Storage listings: [`list_all_objects`] and the `oci://` store's `list` use it). Each page
/// is requested when the stream is polled for it.
pub fn list_object_pages(
    client: &OciClient,
    bucket: &Bucket,
    options: &ListObjectsOptions,
) -> BoxStream<'static, Result<ListObjectsPage, ObjectStorageError>> {
    struct Cursor {
        client: OciClient,
        bucket: Bucket,
        options: ListObjectsOptions,
        pages: usize,
        done: bool,
    }
    let cursor = Cursor {
        client: client.clone(),
        bucket: bucket.clone(),
        options: options.clone(),
        pages: 0,
        done: false,
    };
    stream::try_unfold(cursor, |mut cursor| async move {
        if cursor.done {
            return Ok(None);
        }
        let page = list_objects(&cursor.client, &cursor.bucket, &cursor.options).await?;
        cursor.pages += 1;
        match next_start(
            cursor.options.start.as_deref(),
            page.next_start_with.as_deref(),
            cursor.pages,
        )? {
            Some(next) => {
                cursor.options.start = Some(next);
                cursor.options.start_after = None;
            }
            None => cursor.done = true,
        }
        Ok(Some((page, cursor)))
    })
    .boxed()
}

/// Every page of ListObjects ([`list_object_pages`]), concatenated.
pub async fn list_all_objects(
    client: &OciClient,
    bucket: &Bucket,
    options: &ListObjectsOptions,
) -> Result<ListObjectsPage, ObjectStorageError> {
    let mut all = ListObjectsPage {
        objects: Vec::new(),
        prefixes: Vec::new(),
        next_start_with: None,
    };
    let mut pages = list_object_pages(client, bucket, options);
    while let Some(page) = pages.try_next().await? {
        all.objects.extend(page.objects);
        all.prefixes.extend(page.prefixes);
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_follows_new_cursors_and_stops_on_a_repeated_one_or_too_many_pages() {
        assert_eq!(next_start(None, None, 1).ok(), Some(None));
        assert_eq!(next_start(None, Some("b"), 1).ok(), Some(Some("b".into())));
        assert_eq!(
            next_start(Some("b"), Some("d"), 2).ok(),
            Some(Some("d".into()))
        );
        let err = next_start(Some("b"), Some("b"), 2).unwrap_err();
        assert!(err.to_string().contains("nextStartWith `b` twice"), "{err}");
        let err = next_start(Some("b"), Some("d"), MAX_LIST_PAGES).unwrap_err();
        assert!(err.to_string().contains("more than 100000 pages"), "{err}");
    }
}
