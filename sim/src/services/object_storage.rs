//! Object Storage, native API (no version prefix): GetNamespace, CreateBucket, ListBuckets,
//! GetBucket, HeadBucket, PutObject, GetObject, HeadObject, DeleteObject, ListObjects.
//!
//! ETags are opaque UUIDs that change on every write, sent in a lower-case `etag` header.
//! Conditional writes are atomic: the check and the write happen under the world's one lock,
//! so of N racing `if-none-match: *` puts exactly one succeeds and the others get 412
//! `IfNoneMatchFailed`; of N racing `if-match: <etag>` puts exactly one succeeds and the others
//! get 412 `IfMatchFailed`. Object names are the rest of the path, percent-decoded once
//! (`%2F` and `/` both separate, spaces and UTF-8 arrive encoded).

use std::collections::BTreeMap;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use md5::Digest as _;
use serde_json::{Map, Value, json};

use super::check_tenancy;
use super::identity::new_etag;
use crate::auth::SigningRule;
use crate::clock::rfc3339;
use crate::http::body::{Fields, required_object};
use crate::http::router::{Access, Call, Operation, op};
use crate::http::{ApiError, SimRequest, SimResponse, page_limit};
use crate::ocid::Ocid;
use crate::state::{Ctx, REGION_SHORT, World};

/// The seeded namespace and bucket (where fleetctl's state can live).
pub const NAMESPACE: &str = "simnamespace";
pub const SEEDED_BUCKET: &str = "fleetctl-state";
/// OCI's limit on object names, in bytes.
pub const MAX_OBJECT_NAME: usize = 1024;

#[derive(Debug, Clone)]
pub struct StoredObject {
    pub data: Bytes,
    pub etag: String,
    /// base64 MD5 of `data`.
    pub md5: String,
    pub content_type: String,
    /// Optional content headers kept as sent (`content-encoding`, ...).
    pub content_headers: BTreeMap<String, String>,
    /// `opc-meta-*` headers, full lower-case names.
    pub metadata: BTreeMap<String, String>,
    pub storage_tier: String,
    pub version_id: String,
    pub time_created: SystemTime,
    pub time_modified: SystemTime,
}

#[derive(Debug, Clone)]
pub struct Bucket {
    pub id: Ocid,
    pub name: String,
    pub compartment_id: Ocid,
    pub created_by: String,
    pub time_created: SystemTime,
    pub etag: String,
    pub metadata: BTreeMap<String, String>,
    pub freeform_tags: BTreeMap<String, String>,
    pub defined_tags: BTreeMap<String, Map<String, Value>>,
    pub public_access_type: String,
    pub storage_tier: String,
    pub objects: BTreeMap<String, StoredObject>,
}

/// Object Storage's part of the world.
#[derive(Debug, Default)]
pub struct ObjectStorageState {
    pub namespace: String,
    pub buckets: BTreeMap<String, Bucket>,
}

impl ObjectStorageState {
    /// The namespace `simnamespace` with the empty bucket `fleetctl-state`.
    pub fn seed(
        rng: &mut fastrand::Rng,
        compartment: &Ocid,
        created_by: &Ocid,
        now: SystemTime,
    ) -> Self {
        let mut s = Self {
            namespace: NAMESPACE.into(),
            buckets: BTreeMap::new(),
        };
        let b = new_bucket(
            rng,
            SEEDED_BUCKET,
            compartment.clone(),
            created_by.to_string(),
            now,
        );
        s.buckets.insert(b.name.clone(), b);
        s
    }
}

fn new_bucket(
    rng: &mut fastrand::Rng,
    name: &str,
    compartment: Ocid,
    created_by: String,
    now: SystemTime,
) -> Bucket {
    Bucket {
        id: Ocid::mint(rng, "bucket", REGION_SHORT),
        name: name.into(),
        compartment_id: compartment,
        created_by,
        time_created: now,
        etag: new_etag(),
        metadata: BTreeMap::new(),
        freeform_tags: BTreeMap::new(),
        defined_tags: BTreeMap::new(),
        public_access_type: "NoPublicAccess".into(),
        storage_tier: "Standard".into(),
        objects: BTreeMap::new(),
    }
}

pub fn md5_b64(data: &[u8]) -> String {
    STANDARD.encode(md5::Md5::digest(data))
}

/// Object Storage compares a conditional header with the ETag as one exact string: the ETag
/// it sent (an unquoted UUID), not a list, not `W/…`, not `"…"` (only the header's surrounding
/// whitespace, which is not part of a header value, is ignored). A client that alters the ETag
/// it was given gets 412.
fn etag_matches(header: &str, etag: &str) -> bool {
    header.trim() == etag
}

fn bucket_json(ns: &str, b: &Bucket) -> Value {
    json!({
        "namespace": ns,
        "name": b.name,
        "id": b.id,
        "compartmentId": b.compartment_id,
        "metadata": b.metadata,
        "createdBy": b.created_by,
        "timeCreated": rfc3339(b.time_created),
        "etag": b.etag,
        "publicAccessType": b.public_access_type,
        "storageTier": b.storage_tier,
        "objectEventsEnabled": false,
        "freeformTags": b.freeform_tags,
        "definedTags": b.defined_tags,
        "kmsKeyId": null,
        "versioning": "Disabled",
        "autoTiering": "Disabled",
        "replicationEnabled": false,
        "isReadOnly": false,
        "approximateCount": b.objects.len(),
        "approximateSize": b.objects.values().map(|o| o.data.len()).sum::<usize>(),
    })
}

pub fn operations() -> Vec<Operation> {
    let signed = Access::Signed(SigningRule::Standard);
    let put = Access::Signed(SigningRule::BodyOptional);
    const OBJECT: &str = "/n/{namespaceName}/b/{bucketName}/o/{objectName*}";
    vec![
        op(
            "GetNamespace",
            "objectstorage",
            Method::GET,
            "/n",
            signed,
            get_namespace,
        ),
        op(
            "GetNamespace",
            "objectstorage",
            Method::GET,
            "/n/",
            signed,
            get_namespace,
        ),
        op(
            "CreateBucket",
            "objectstorage",
            Method::POST,
            "/n/{namespaceName}/b",
            signed,
            create_bucket,
        ),
        op(
            "ListBuckets",
            "objectstorage",
            Method::GET,
            "/n/{namespaceName}/b",
            signed,
            list_buckets,
        ),
        op(
            "GetBucket",
            "objectstorage",
            Method::GET,
            "/n/{namespaceName}/b/{bucketName}",
            signed,
            get_bucket,
        ),
        op(
            "HeadBucket",
            "objectstorage",
            Method::HEAD,
            "/n/{namespaceName}/b/{bucketName}",
            signed,
            head_bucket,
        ),
        op(
            "ListObjects",
            "objectstorage",
            Method::GET,
            "/n/{namespaceName}/b/{bucketName}/o",
            signed,
            list_objects,
        ),
        op(
            "PutObject",
            "objectstorage",
            Method::PUT,
            OBJECT,
            put,
            put_object,
        ),
        op(
            "GetObject",
            "objectstorage",
            Method::GET,
            OBJECT,
            signed,
            get_object,
        ),
        op(
            "HeadObject",
            "objectstorage",
            Method::HEAD,
            OBJECT,
            signed,
            head_object,
        ),
        op(
            "DeleteObject",
            "objectstorage",
            Method::DELETE,
            OBJECT,
            signed,
            delete_object,
        ),
    ]
}

fn get_namespace(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let world = ctx.world();
    let tenancy = world.identity.tenancy.id.to_string();
    check_tenancy(&world, call, "tenancy", &tenancy)?;
    if let Some(c) = call.req.query_param("compartmentId")
        && !world.identity.compartment_exists(&c)
    {
        return Err(ApiError::not_found("compartment", &c));
    }
    Ok(SimResponse::ok_json(&world.object_storage.namespace))
}

fn namespace_not_found(ns: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NamespaceNotFound",
        format!(
            "You do not have authorization to perform this request, or the namespace '{ns}' could not be found"
        ),
    )
}

fn bucket_not_found(ns: &str, bucket: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "BucketNotFound",
        format!(
            "Either the bucket named '{bucket}' does not exist in the namespace '{ns}' or you are not authorized to access it"
        ),
    )
}

fn object_not_found(bucket: &str, name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ObjectNotFound",
        format!("The object '{name}' was not found in the bucket '{bucket}'"),
    )
}

fn if_match_failed(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "IfMatchFailed",
        format!("The If-Match header does not match the current entity tag of object '{name}'"),
    )
}

fn check_namespace<'w>(world: &'w World, call: &Call<'_>) -> Result<&'w str, ApiError> {
    let ns = call.param("namespaceName")?;
    let tenancy = world.identity.tenancy.id.to_string();
    check_tenancy(world, call, "tenancy", &tenancy)?;
    if ns != world.object_storage.namespace {
        return Err(namespace_not_found(ns));
    }
    Ok(&world.object_storage.namespace)
}

fn bucket_of<'w>(world: &'w World, call: &Call<'_>) -> Result<&'w Bucket, ApiError> {
    let ns = check_namespace(world, call)?;
    let name = call.param("bucketName")?;
    world
        .object_storage
        .buckets
        .get(name)
        .ok_or_else(|| bucket_not_found(ns, name))
}

fn bucket_name_ok(name: &str) -> bool {
    (1..=256).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn create_bucket(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let body = required_object(call.req, "CreateBucketDetails")?;
    let f = Fields::root(&body);
    let name = f.req_str("name")?.to_string();
    if !bucket_name_ok(&name) {
        return Err(ApiError::invalid_parameter(format!(
            "bucket name '{name}' must be 1 to 256 letters, digits, '-', '_' or '.'"
        )));
    }
    let compartment = f.req_str("compartmentId")?.to_string();
    let public_access = f
        .opt_str("publicAccessType")?
        .unwrap_or("NoPublicAccess")
        .to_string();
    if !["NoPublicAccess", "ObjectRead", "ObjectReadWithoutList"].contains(&public_access.as_str())
    {
        return Err(ApiError::invalid_parameter(format!(
            "publicAccessType '{public_access}' is not NoPublicAccess, ObjectRead or ObjectReadWithoutList"
        )));
    }
    let storage_tier = f.opt_str("storageTier")?.unwrap_or("Standard").to_string();
    if !["Standard", "Archive"].contains(&storage_tier.as_str()) {
        return Err(ApiError::invalid_parameter(format!(
            "storageTier '{storage_tier}' is not Standard or Archive"
        )));
    }
    let metadata = f.opt_string_map("metadata")?.unwrap_or_default();
    let freeform_tags = f.opt_string_map("freeformTags")?.unwrap_or_default();
    let defined_tags = f.opt_object_map("definedTags")?.unwrap_or_default();
    let now = ctx.clock.now();
    let mut world = ctx.world();
    let ns = check_namespace(&world, call)?.to_string();
    if !world.identity.compartment_exists(&compartment) {
        return Err(ApiError::not_found("compartment", &compartment));
    }
    if world.object_storage.buckets.contains_key(&name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "BucketAlreadyExists",
            format!(
                "Either the bucket '{name}' in namespace '{ns}' already exists or you are not authorized to create it"
            ),
        ));
    }
    let created_by = match call.principal()? {
        crate::auth::Principal::User { user, .. } => user.clone(),
        crate::auth::Principal::Token { subject, .. } => subject.clone(),
        other => other.tenancy().to_string(),
    };
    let world = &mut *world;
    let mut b = new_bucket(
        &mut world.rng,
        &name,
        Ocid::from_string(compartment),
        created_by,
        now,
    );
    b.metadata = metadata;
    b.freeform_tags = freeform_tags;
    b.defined_tags = defined_tags;
    b.public_access_type = public_access;
    b.storage_tier = storage_tier;
    let resp = SimResponse::ok_json(&bucket_json(&ns, &b))
        .with_etag(&b.etag)
        .with_header("location", &format!("/n/{ns}/b/{name}"));
    world.object_storage.buckets.insert(name, b);
    Ok(resp)
}

fn list_buckets(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let compartment = call.req.required_query("compartmentId")?;
    let world = ctx.world();
    let ns = check_namespace(&world, call)?;
    let items: Vec<Value> = world
        .object_storage
        .buckets
        .values()
        .filter(|b| b.compartment_id.as_str() == compartment)
        .map(|b| {
            json!({
                "namespace": ns,
                "name": b.name,
                "compartmentId": b.compartment_id,
                "createdBy": b.created_by,
                "timeCreated": rfc3339(b.time_created),
                "etag": b.etag,
                "freeformTags": b.freeform_tags,
                "definedTags": b.defined_tags,
            })
        })
        .collect();
    let (page, next) = crate::http::paginate_with(&items, call.req, world.settings.page_size())?;
    Ok(crate::http::list_response(&page, next))
}

fn get_bucket(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let world = ctx.world();
    let b = bucket_of(&world, call)?;
    if let Some(m) = call.req.header("if-match")
        && !etag_matches(m, &b.etag)
    {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "IfMatchFailed",
            format!(
                "The If-Match header does not match the current entity tag of bucket '{}'",
                b.name
            ),
        ));
    }
    if let Some(m) = call.req.header("if-none-match")
        && etag_matches(m, &b.etag)
    {
        return Ok(not_modified(&b.etag));
    }
    Ok(SimResponse::ok_json(&bucket_json(&world.object_storage.namespace, b)).with_etag(&b.etag))
}

fn head_bucket(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let world = ctx.world();
    let b = bucket_of(&world, call)?;
    if let Some(m) = call.req.header("if-none-match")
        && etag_matches(m, &b.etag)
    {
        return Ok(not_modified(&b.etag));
    }
    Ok(empty(StatusCode::OK).with_etag(&b.etag))
}

fn empty(status: StatusCode) -> SimResponse {
    SimResponse {
        status,
        headers: HeaderMap::new(),
        body: Bytes::new(),
    }
}

fn not_modified(etag: &str) -> SimResponse {
    empty(StatusCode::NOT_MODIFIED).with_etag(etag)
}

fn object_name<'c>(call: &'c Call<'_>) -> Result<&'c str, ApiError> {
    let name = call.param("objectName")?;
    if name.len() > MAX_OBJECT_NAME {
        return Err(ApiError::invalid_parameter(format!(
            "object names are at most {MAX_OBJECT_NAME} bytes, this one is {}",
            name.len()
        )));
    }
    Ok(name)
}

/// Content headers PutObject keeps and GetObject returns.
const CONTENT_HEADERS: &[&str] = &[
    "content-encoding",
    "content-language",
    "content-disposition",
    "cache-control",
];

fn put_object(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let req = call.req;
    let name = object_name(call)?.to_string();
    let if_match = req.header("if-match").map(str::to_string);
    let if_none_match = req.header("if-none-match").map(str::to_string);
    if let Some(v) = &if_none_match
        && v.trim() != "*"
    {
        return Err(ApiError::invalid_parameter(format!(
            "if-none-match on PutObject accepts only '*', got '{v}'"
        )));
    }
    let md5 = md5_b64(&req.body);
    if let Some(sent) = req.header("content-md5") {
        let sent = sent.trim();
        if STANDARD.decode(sent).map(|d| d.len() != 16).unwrap_or(true) {
            return Err(ApiError::invalid_parameter(format!(
                "Content-MD5 '{sent}' is not a base64-encoded MD5 digest"
            )));
        }
        if sent != md5 {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "UnmatchedContentMD5",
                format!(
                    "The computed MD5 of the request body ({md5}) does not match the Content-MD5 header ({sent})"
                ),
            ));
        }
    }
    let storage_tier = req.header("storage-tier").unwrap_or("Standard").to_string();
    if !["Standard", "InfrequentAccess", "Archive"].contains(&storage_tier.as_str()) {
        return Err(ApiError::invalid_parameter(format!(
            "storage-tier '{storage_tier}' is not Standard, InfrequentAccess or Archive"
        )));
    }
    let metadata: BTreeMap<String, String> = req
        .headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("opc-meta-"))
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let content_headers: BTreeMap<String, String> = CONTENT_HEADERS
        .iter()
        .filter_map(|h| Some((h.to_string(), req.header(h)?.to_string())))
        .collect();
    let content_type = req
        .header("content-type")
        .unwrap_or("application/octet-stream")
        .to_string();
    let now = ctx.clock.now();

    // The check and the write under one lock: conditional writes are atomic.
    let mut world = ctx.world();
    bucket_of(&world, call)?;
    let bucket_name = call.param("bucketName")?.to_string();
    let bucket = world
        .object_storage
        .buckets
        .get_mut(&bucket_name)
        .ok_or_else(|| bucket_not_found(NAMESPACE, &bucket_name))?;
    let existing = bucket.objects.get(&name);
    if let Some(m) = &if_match
        && !existing.is_some_and(|o| etag_matches(m, &o.etag))
    {
        return Err(if_match_failed(&name));
    }
    if if_none_match.is_some() && existing.is_some() {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "IfNoneMatchFailed",
            format!("The object '{name}' already exists (If-None-Match: *)"),
        ));
    }
    let object = StoredObject {
        data: req.body.clone(),
        etag: new_etag(),
        md5,
        content_type,
        content_headers,
        metadata,
        storage_tier,
        version_id: new_etag(),
        time_created: now,
        time_modified: now,
    };
    let resp = empty(StatusCode::OK)
        .with_etag(&object.etag)
        .with_header("opc-content-md5", &object.md5)
        .with_header("last-modified", &httpdate::fmt_http_date(now))
        .with_header("version-id", &object.version_id);
    tracing::debug!(bucket = %bucket_name, object = %name, size = object.data.len(), "object stored");
    bucket.objects.insert(name, object);
    Ok(resp)
}

/// The headers GetObject and HeadObject share.
fn object_headers(o: &StoredObject, resp: SimResponse) -> SimResponse {
    let mut resp = resp
        .with_etag(&o.etag)
        .with_header("last-modified", &httpdate::fmt_http_date(o.time_modified))
        .with_header("version-id", &o.version_id)
        .with_header("storage-tier", &o.storage_tier)
        .with_header("accept-ranges", "bytes")
        .with_header("content-type", &o.content_type);
    for (k, v) in o.metadata.iter().chain(o.content_headers.iter()) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            resp.headers.insert(name, value);
        }
    }
    resp
}

/// The object of the path after the GET/HEAD preconditions: `Err` for errors, `Ok(Err(304))`
/// when `if-none-match` matched.
fn readable<'w>(
    world: &'w World,
    call: &Call<'_>,
) -> Result<Result<&'w StoredObject, SimResponse>, ApiError> {
    let req = call.req;
    let bucket = bucket_of(world, call)?;
    let name = object_name(call)?;
    let o = bucket
        .objects
        .get(name)
        .ok_or_else(|| object_not_found(&bucket.name, name))?;
    if let Some(v) = req.query_param("versionId")
        && v != o.version_id
    {
        return Err(object_not_found(&bucket.name, name));
    }
    if let Some(m) = req.header("if-match")
        && !etag_matches(m, &o.etag)
    {
        return Err(if_match_failed(name));
    }
    if let Some(m) = req.header("if-none-match") {
        if m.trim() == "*" {
            return Err(ApiError::invalid_parameter(
                "if-none-match on GetObject/HeadObject takes an etag, not '*'",
            ));
        }
        if etag_matches(m, &o.etag) {
            return Ok(Err(not_modified(&o.etag)));
        }
    }
    Ok(Ok(o))
}

/// A single byte range: `bytes=a-b`, `bytes=a-`, `bytes=-n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    Satisfiable { start: usize, end: usize },
    Unsatisfiable,
}

pub fn parse_range(header: &str, size: usize) -> Result<ByteRange, ApiError> {
    let bad = || {
        ApiError::invalid_parameter(format!(
            "range '{header}' is not a single byte range (bytes=start-end)"
        ))
    };
    let spec = header.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    if spec.contains(',') {
        return Err(ApiError::invalid_parameter(format!(
            "range '{header}' asks for several ranges; only one is supported"
        )));
    }
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: usize = b.parse().map_err(|_| bad())?;
        if n == 0 || size == 0 {
            return Ok(ByteRange::Unsatisfiable);
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let start: usize = a.parse().map_err(|_| bad())?;
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            let e: usize = b.parse().map_err(|_| bad())?;
            if e < start {
                return Err(bad());
            }
            e.min(size.saturating_sub(1))
        };
        (start, end)
    };
    if start >= size {
        return Ok(ByteRange::Unsatisfiable);
    }
    Ok(ByteRange::Satisfiable { start, end })
}

fn get_object(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let world = ctx.world();
    let o = match readable(&world, call)? {
        Ok(o) => o,
        Err(not_modified) => return Ok(not_modified),
    };
    let size = o.data.len();
    match call.req.header("range") {
        None => {
            let resp = SimResponse {
                status: StatusCode::OK,
                headers: HeaderMap::new(),
                body: o.data.clone(),
            };
            Ok(object_headers(o, resp).with_header("content-md5", &o.md5))
        }
        Some(r) => match parse_range(r, size)? {
            ByteRange::Satisfiable { start, end } => {
                let resp = SimResponse {
                    status: StatusCode::PARTIAL_CONTENT,
                    headers: HeaderMap::new(),
                    body: o.data.slice(start..=end),
                };
                Ok(object_headers(o, resp)
                    .with_header("content-range", &format!("bytes {start}-{end}/{size}")))
            }
            ByteRange::Unsatisfiable => Err(ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "InvalidRange",
                format!("The range '{r}' is not satisfiable for an object of {size} bytes"),
            )),
        },
    }
}

fn head_object(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let world = ctx.world();
    let o = match readable(&world, call)? {
        Ok(o) => o,
        Err(not_modified) => return Ok(not_modified),
    };
    Ok(object_headers(o, empty(StatusCode::OK))
        .with_header("content-md5", &o.md5)
        .with_header("content-length", &o.data.len().to_string()))
}

fn delete_object(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let name = object_name(call)?.to_string();
    let if_match = call.req.header("if-match").map(str::to_string);
    let now = ctx.clock.now();
    let mut world = ctx.world();
    bucket_of(&world, call)?;
    let bucket_name = call.param("bucketName")?.to_string();
    let bucket = world
        .object_storage
        .buckets
        .get_mut(&bucket_name)
        .ok_or_else(|| bucket_not_found(NAMESPACE, &bucket_name))?;
    let o = bucket
        .objects
        .get(&name)
        .ok_or_else(|| object_not_found(&bucket_name, &name))?;
    if let Some(v) = call.req.query_param("versionId")
        && v != o.version_id
    {
        return Err(object_not_found(&bucket_name, &name));
    }
    if let Some(m) = &if_match
        && !etag_matches(m, &o.etag)
    {
        return Err(if_match_failed(&name));
    }
    bucket.objects.remove(&name);
    Ok(empty(StatusCode::NO_CONTENT)
        .with_header("last-modified", &httpdate::fmt_http_date(now))
        .with_header("is-delete-marker", "false"))
}

/// The summary fields ListObjects can project.
const LIST_FIELDS: &[&str] = &[
    "name",
    "size",
    "etag",
    "md5",
    "timeCreated",
    "timeModified",
    "storageTier",
    "archivalState",
];

fn parse_fields(req: &SimRequest) -> Result<Vec<&'static str>, ApiError> {
    let Some(raw) = req.query_param("fields") else {
        return Ok(vec!["name"]);
    };
    let mut out = vec!["name"];
    for f in raw.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let known = LIST_FIELDS
            .iter()
            .find(|k| k.eq_ignore_ascii_case(f))
            .ok_or_else(|| {
                ApiError::invalid_parameter(format!(
                    "fields: '{f}' is not one of {}",
                    LIST_FIELDS.join(", ")
                ))
            })?;
        if !out.contains(known) {
            out.push(known);
        }
    }
    Ok(out)
}

fn summary(name: &str, o: &StoredObject, fields: &[&str]) -> Value {
    let mut m = Map::new();
    for f in fields {
        let v = match *f {
            "name" => json!(name),
            "size" => json!(o.data.len()),
            "etag" => json!(o.etag),
            "md5" => json!(o.md5),
            "timeCreated" => json!(rfc3339(o.time_created)),
            "timeModified" => json!(rfc3339(o.time_modified)),
            "storageTier" => json!(o.storage_tier),
            // Only archived objects have an archival state.
            _ => continue,
        };
        m.insert((*f).to_string(), v);
    }
    Value::Object(m)
}

/// One entry of a listing: an object, or a `prefixes` entry standing for several.
enum Entry<'a> {
    Object(&'a str, &'a StoredObject),
    Prefix(String),
}

fn list_objects(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let req = call.req;
    let prefix = req.query_param("prefix").unwrap_or_default();
    let start = req.query_param("start");
    let end = req.query_param("end");
    let start_after = req.query_param("startAfter");
    let delimiter = req.query_param("delimiter");
    if let Some(d) = &delimiter
        && d != "/"
    {
        return Err(ApiError::invalid_parameter(format!(
            "delimiter '{d}' is not supported; the only delimiter is '/'"
        )));
    }
    let fields = parse_fields(req)?;
    let world = ctx.world();
    let size = crate::http::PageSize {
        default: 1000,
        max: world.settings.max_page_size,
    };
    let limit = page_limit(req, size)?;
    let bucket = bucket_of(&world, call)?;

    let mut entries: Vec<(String, Entry<'_>)> = Vec::new();
    let mut next_start_with = None;
    for (name, o) in &bucket.objects {
        if !name.starts_with(&prefix)
            || start.as_deref().is_some_and(|s| name.as_str() < s)
            || start_after.as_deref().is_some_and(|s| name.as_str() <= s)
        {
            continue;
        }
        if end.as_deref().is_some_and(|e| name.as_str() >= e) {
            break;
        }
        let entry = match delimiter.as_deref() {
            Some(d) => match name[prefix.len()..].find(d) {
                Some(i) => Entry::Prefix(name[..prefix.len() + i + d.len()].to_string()),
                None => Entry::Object(name, o),
            },
            None => Entry::Object(name, o),
        };
        // Names under one prefix are contiguous: a repeated prefix adds nothing.
        if let (Entry::Prefix(p), Some((_, Entry::Prefix(last)))) = (&entry, entries.last())
            && p == last
        {
            continue;
        }
        if entries.len() == limit {
            next_start_with = Some(name.clone());
            break;
        }
        entries.push((name.clone(), entry));
    }
    let mut objects = Vec::new();
    let mut prefixes = Vec::new();
    for (_, e) in entries {
        match e {
            Entry::Object(name, o) => objects.push(summary(name, o, &fields)),
            Entry::Prefix(p) => prefixes.push(p),
        }
    }
    let mut body = json!({ "objects": objects });
    if delimiter.is_some() {
        body["prefixes"] = json!(prefixes);
    }
    if let Some(n) = next_start_with {
        body["nextStartWith"] = json!(n);
    }
    Ok(SimResponse::ok_json(&body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_oci_forms_and_refuse_several() {
        assert_eq!(
            parse_range("bytes=2-4", 10).unwrap(),
            ByteRange::Satisfiable { start: 2, end: 4 }
        );
        assert_eq!(
            parse_range("bytes=7-", 10).unwrap(),
            ByteRange::Satisfiable { start: 7, end: 9 }
        );
        assert_eq!(
            parse_range("bytes=-3", 10).unwrap(),
            ByteRange::Satisfiable { start: 7, end: 9 }
        );
        assert_eq!(
            parse_range("bytes=5-100", 10).unwrap(),
            ByteRange::Satisfiable { start: 5, end: 9 }
        );
        assert_eq!(
            parse_range("bytes=10-", 10).unwrap(),
            ByteRange::Unsatisfiable
        );
        assert!(parse_range("bytes=0-1,3-4", 10).is_err());
        assert!(parse_range("items=0-1", 10).is_err());
        assert!(parse_range("bytes=4-2", 10).is_err());
    }

    #[test]
    fn etags_compare_as_one_exact_string() {
        assert!(etag_matches("abc", "abc"));
        assert!(etag_matches(" abc ", "abc"));
        assert!(!etag_matches("\"abc\"", "abc"));
        assert!(!etag_matches("W/abc", "abc"));
        assert!(!etag_matches("W/\"abc\"", "abc"));
        assert!(!etag_matches("x, abc", "abc"));
        assert!(!etag_matches("*", "abc"));
        assert!(!etag_matches("ABC", "abc"));
        assert!(!etag_matches("abcd", "abc"));
    }
}
