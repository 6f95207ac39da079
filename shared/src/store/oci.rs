//! The `oci://` backend: an [`ObjectStore`] over OCI Object Storage's native API
//! ([`crate::oci::objectstorage`]), signed by the same credential providers as every other OCI
//! call, so a function needs no extra secret.
//!
//! | object_store | Object Storage |
//! |---|---|
//! | `PutMode::Overwrite` | PutObject |
//! | `PutMode::Create` | PutObject `if-none-match: *`; 412 → `AlreadyExists` |
//! | `PutMode::Update` | PutObject `if-match: <etag>`; 412 (or 404) → `Precondition` |
//! | `get_opts` | GetObject (`if-match`, `if-none-match`, `range`, `versionId`); HeadObject for `head` |
//! | `list`, `list_with_delimiter` | ListObjects, paged by `nextStartWith` |
//! | `delete_stream` | DeleteObject, one by one; a missing object counts as deleted |
//! | `copy_opts` | GetObject then PutObject (`if-none-match: *` for `CopyMode::Create`) |
//! | `put_multipart_opts` | not supported (`NotSupported`): OCI applies conditions per request, so conditional writes must be single PutObjects |
//!
//! ETags are OCI's opaque `etag` values; object versions are `version-id`.

use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, CopyMode, CopyOptions, GetOptions, GetRange, GetResult,
    GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMode,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

use crate::oci::OciClient;
use crate::oci::objectstorage::{
    self, Bucket, ByteRange, GetObjectOptions, HeadObjectOptions, ListObjectsOptions,
    ObjectStorageError, ObjectSummary, PutCondition, PutObjectOptions,
};

const STORE: &str = "OCI Object Storage";

/// A bucket of OCI Object Storage as an [`ObjectStore`] (see the module docs).
#[derive(Debug, Clone)]
pub struct OciObjectStore {
    client: OciClient,
    bucket: Bucket,
}

impl fmt::Display for OciObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OciObjectStore(oci://{})", self.bucket)
    }
}

impl OciObjectStore {
    /// The store for `bucket`, calling OCI through `client`.
    pub fn new(client: OciClient, bucket: Bucket) -> Self {
        Self { client, bucket }
    }

    /// The bucket.
    pub fn bucket(&self) -> &Bucket {
        &self.bucket
    }
}

/// Maps an Object Storage failure on `location` to object_store's error kinds.
fn store_error(err: ObjectStorageError, location: &Path, mode: &PutMode) -> object_store::Error {
    let path = location.to_string();
    match err {
        ObjectStorageError::ObjectNotFound { .. } if matches!(mode, PutMode::Update(_)) => {
            object_store::Error::Precondition {
                path,
                source: Box::new(err),
            }
        }
        ObjectStorageError::ObjectNotFound { .. } => object_store::Error::NotFound {
            path,
            source: Box::new(err),
        },
        ObjectStorageError::PreconditionFailed { .. } if matches!(mode, PutMode::Create) => {
            object_store::Error::AlreadyExists {
                path,
                source: Box::new(err),
            }
        }
        ObjectStorageError::PreconditionFailed { .. } => object_store::Error::Precondition {
            path,
            source: Box::new(err),
        },
        ObjectStorageError::NotModified { .. } => object_store::Error::NotModified {
            path,
            source: Box::new(err),
        },
        other => match other.oci().and_then(|e| e.status()) {
            Some(401) => object_store::Error::Unauthenticated {
                path,
                source: Box::new(other),
            },
            Some(403) => object_store::Error::PermissionDenied {
                path,
                source: Box::new(other),
            },
            _ => object_store::Error::Generic {
                store: STORE,
                source: Box::new(other),
            },
        },
    }
}

fn read_error(err: ObjectStorageError, location: &Path) -> object_store::Error {
    store_error(err, location, &PutMode::Overwrite)
}

fn modified(at: Option<SystemTime>) -> SystemTime {
    at.unwrap_or(SystemTime::UNIX_EPOCH)
}

fn summary_meta(summary: ObjectSummary) -> Option<ObjectMeta> {
    let location = match Path::parse(&summary.name) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(object = %summary.name, error = %e, "skipping an object whose name is not a valid object_store path");
            return None;
        }
    };
    Some(ObjectMeta {
        location,
        last_modified: modified(summary.time_modified.map(SystemTime::from)).into(),
        size: summary.size.unwrap_or(0),
        e_tag: summary.etag,
        version: None,
    })
}

/// ListObjects' `prefix` for object_store's segment-wise prefix (`a/b` lists `a/b/...`).
fn list_prefix(prefix: Option<&Path>) -> Option<String> {
    prefix
        .map(|p| p.as_ref().to_string())
        .filter(|p| !p.is_empty())
        .map(|p| format!("{p}/"))
}

const LIST_FIELDS: [&str; 4] = ["name", "size", "etag", "timeModified"];

#[async_trait]
impl ObjectStore for OciObjectStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let mut options = PutObjectOptions::default();
        for (attribute, value) in opts.attributes.iter() {
            match attribute {
                Attribute::ContentType => options.content_type = Some(value.to_string()),
                Attribute::Metadata(name) => {
                    options.metadata.insert(name.to_string(), value.to_string());
                }
                other => {
                    return Err(object_store::Error::NotSupported {
                        source: format!(
                            "the oci:// store does not support the {other:?} attribute"
                        )
                        .into(),
                    });
                }
            }
        }
        options.condition = match &opts.mode {
            PutMode::Overwrite => PutCondition::None,
            PutMode::Create => PutCondition::IfNoneMatchAny,
            PutMode::Update(v) => match &v.e_tag {
                Some(etag) => PutCondition::IfMatch(etag.clone()),
                None => {
                    return Err(object_store::Error::Precondition {
                        path: location.to_string(),
                        source: "a conditional update needs an ETag".into(),
                    });
                }
            },
        };
        let body = Bytes::from(payload);
        let out = objectstorage::put_object(
            &self.client,
            &self.bucket,
            location.as_ref(),
            body,
            &options,
        )
        .await
        .map_err(|e| store_error(e, location, &opts.mode))?;
        Ok(PutResult {
            e_tag: Some(out.etag),
            version: out.version_id,
            extensions: Default::default(),
        })
    }

    async fn put_multipart_opts(
        &self,
        _location: &Path,
        _opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Err(object_store::Error::NotSupported {
            source: "the oci:// store does not support multipart uploads: OCI applies \
                     conditions per request, so writes are single PutObject calls (up to 50 GiB)"
                .into(),
        })
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let name = location.as_ref();
        let (head, body) = if options.head {
            let head = objectstorage::head_object(
                &self.client,
                &self.bucket,
                name,
                &HeadObjectOptions {
                    if_match: options.if_match.clone(),
                    if_none_match: options.if_none_match.clone(),
                    version_id: options.version.clone(),
                },
            )
            .await
            .map_err(|e| read_error(e, location))?;
            (head, Bytes::new())
        } else {
            let range = match &options.range {
                None => None,
                Some(GetRange::Bounded(r)) if r.start >= r.end => {
                    return Err(object_store::Error::Generic {
                        store: STORE,
                        source: format!("the range {}..{} is empty", r.start, r.end).into(),
                    });
                }
                Some(GetRange::Bounded(r)) => Some(ByteRange::Bounded {
                    start: r.start,
                    end: r.end,
                }),
                Some(GetRange::Offset(o)) => Some(ByteRange::From(*o)),
                Some(GetRange::Suffix(n)) => Some(ByteRange::Suffix(*n)),
            };
            let out = objectstorage::get_object(
                &self.client,
                &self.bucket,
                name,
                &GetObjectOptions {
                    if_match: options.if_match.clone(),
                    if_none_match: options.if_none_match.clone(),
                    range,
                    version_id: options.version.clone(),
                },
            )
            .await
            .map_err(|e| read_error(e, location))?;
            (out.head, out.body)
        };
        let size = head.object_size();
        let range = match head.content_range {
            Some(r) => r.start..r.end.saturating_add(1),
            None if options.head => 0..size,
            None => 0..body.len() as u64,
        };
        let meta = ObjectMeta {
            location: location.clone(),
            last_modified: modified(head.last_modified).into(),
            size,
            e_tag: Some(head.etag),
            version: head.version_id,
        };
        // The ETag conditions were OCI's to check; the date conditions are checked here.
        let dates = GetOptions {
            if_modified_since: options.if_modified_since,
            if_unmodified_since: options.if_unmodified_since,
            ..GetOptions::default()
        };
        dates.check_preconditions(&meta)?;
        let mut attributes = Attributes::new();
        if let Some(ct) = head.content_type {
            attributes.insert(Attribute::ContentType, ct.into());
        }
        for (k, v) in head.metadata {
            attributes.insert(Attribute::Metadata(k.into()), v.into());
        }
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream::once(async move { Ok(body) }).boxed()),
            meta,
            range,
            attributes,
            extensions: Default::default(),
        })
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let store = self.clone();
        locations
            .then(move |location| {
                let store = store.clone();
                async move {
                    let location = location?;
                    match objectstorage::delete_object(
                        &store.client,
                        &store.bucket,
                        location.as_ref(),
                        None,
                    )
                    .await
                    {
                        Ok(()) => Ok(location),
                        Err(e) if e.is_object_not_found() => Ok(location),
                        Err(e) => Err(read_error(e, &location)),
                    }
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let options = ListObjectsOptions {
            prefix: list_prefix(prefix),
            fields: LIST_FIELDS.iter().map(|f| f.to_string()).collect(),
            ..ListObjectsOptions::default()
        };
        let root = prefix.cloned().unwrap_or_default();
        objectstorage::list_object_pages(&self.client, &self.bucket, &options)
            .map_err(move |e| read_error(e, &root))
            .map_ok(|page| {
                stream::iter(
                    page.objects
                        .into_iter()
                        .filter_map(summary_meta)
                        .map(Ok::<_, object_store::Error>),
                )
            })
            .try_flatten()
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let root = prefix.cloned().unwrap_or_default();
        let page = objectstorage::list_all_objects(
            &self.client,
            &self.bucket,
            &ListObjectsOptions {
                prefix: list_prefix(prefix),
                delimiter: true,
                fields: LIST_FIELDS.iter().map(|f| f.to_string()).collect(),
                ..ListObjectsOptions::default()
            },
        )
        .await
        .map_err(|e| read_error(e, &root))?;
        let common_prefixes = page
            .prefixes
            .iter()
            .filter_map(|p| Path::parse(p.trim_end_matches('/')).ok())
            .collect();
        Ok(ListResult {
            common_prefixes,
            objects: page.objects.into_iter().filter_map(summary_meta).collect(),
            extensions: Default::default(),
        })
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let source = self.get_opts(from, GetOptions::default()).await?;
        let content_type = source.attributes.get(&Attribute::ContentType).cloned();
        let content = source.bytes().await?;
        let mode = match options.mode {
            CopyMode::Overwrite => PutMode::Overwrite,
            CopyMode::Create => PutMode::Create,
        };
        let mut put = PutOptions::from(mode);
        if let Some(ct) = content_type {
            put.attributes.insert(Attribute::ContentType, ct);
        }
        self.put_opts(to, PutPayload::from(content), put)
            .await
            .map(|_| ())
    }
}
