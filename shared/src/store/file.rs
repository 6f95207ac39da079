//! The file backend: an [`ObjectStore`] over a local directory whose writes are atomic and
//! conditional.
//!
//! object_store's `LocalFileSystem` refuses `PutMode::Update`, so this store does its own:
//!
//! 1. create the parent directories;
//! 2. take an exclusive lock (`std::fs::File::lock`) on a sidecar file `.<name>.lock` beside
//!    the object (never deleted: deleting lock files reopens the race they close);
//! 3. read the current content and compare its ETag with the condition (`Create`: no object;
//!    `Update`: same ETag);
//! 4. write a temporary file `.<name>.<uuid>.tmp` in the same directory, `fsync` it, rename it
//!    over the object, `fsync` the directory.
//!
//! A crash at any point leaves either the old or the new document, never a half-written one
//! (at worst a stray `.tmp` file, which listings hide). Readers take no lock: the rename is
//! atomic, so they see one version or the other.
//!
//! The ETag is the SHA-256 of the content (quoted hex), so it survives restarts and copies and
//! does not depend on timestamp granularity. Two writes of byte-identical content share an
//! ETag, which is harmless for a document store: the content is what the condition protects.
//!
//! Objects larger than [`super::MAX_DOCUMENT_BYTES`] are refused before they are read (their
//! ETag would need the whole content), with an [`ObjectTooLarge`] in the error's chain.
//!
//! Locks are advisory and work between processes on one machine (and threads of one
//! process); a network file system may not honour them, so use `s3://` or `oci://` to share
//! a ledger between machines.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path as FsPath, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use aws_lc_rs::digest;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use object_store::path::Path;
use object_store::{
    Attributes, CopyMode, CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult,
    MultipartUpload, ObjectMeta, ObjectStore, PutMode, PutMultipartOptions, PutOptions, PutPayload,
    PutResult,
};

use super::{MAX_DOCUMENT_BYTES, ObjectTooLarge};

const STORE: &str = "file";

/// A file-system failure, with the action and the path.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}", path.display())]
pub struct FileError {
    /// What was being done (`read`, `lock`, `rename … onto`).
    pub action: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

/// A file larger than the store reads.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}", path.display())]
pub struct FileTooLarge {
    /// The file.
    pub path: PathBuf,
    /// Its size and the limit.
    #[source]
    pub source: ObjectTooLarge,
}

/// A directory of objects with atomic, conditional writes (see the module docs).
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

impl fmt::Display for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileStore({})", self.root.display())
    }
}

impl FileStore {
    /// A store rooted at `root`. Nothing is created until the first write.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &FsPath {
        &self.root
    }

    /// The file that holds `location`.
    pub fn path_of(&self, location: &Path) -> PathBuf {
        let mut path = self.root.clone();
        for part in location.parts() {
            path.push(part.as_ref());
        }
        path
    }

    fn object_file(&self, location: &Path) -> object_store::Result<PathBuf> {
        if location.parts().next().is_none() {
            return Err(object_store::Error::Generic {
                store: STORE,
                source: "an object needs a name; the root of the store is a directory".into(),
            });
        }
        Ok(self.path_of(location))
    }
}

/// The ETag of `content`: its SHA-256 as quoted lower-case hex.
pub fn content_etag(content: &[u8]) -> String {
    let d = digest::digest(&digest::SHA256, content);
    let mut out = String::with_capacity(66);
    out.push('"');
    for b in d.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out.push('"');
    out
}

fn same_etag(a: &str, b: &str) -> bool {
    a.trim_matches('"') == b.trim_matches('"')
}

fn io_err(action: &'static str, path: &FsPath, source: io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: STORE,
        source: Box::new(FileError {
            action,
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn not_found(location: &Path, path: &FsPath, source: io::Error) -> object_store::Error {
    object_store::Error::NotFound {
        path: location.to_string(),
        source: Box::new(FileError {
            action: "read",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// A sidecar name beside `target`: `.<name>.<suffix>`.
fn sidecar(target: &FsPath, suffix: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.{suffix}"))
}

/// True for the lock and temporary files this store keeps beside objects.
fn is_sidecar(file_name: &str) -> bool {
    file_name.starts_with('.') && (file_name.ends_with(".lock") || file_name.ends_with(".tmp"))
}

fn parent_of(target: &FsPath) -> &FsPath {
    target.parent().unwrap_or(FsPath::new("."))
}

/// Runs `f` holding the exclusive lock of `target`.
fn with_lock<T>(
    target: &FsPath,
    f: impl FnOnce() -> object_store::Result<T>,
) -> object_store::Result<T> {
    let lock_path = sidecar(target, "lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io_err("open the lock file", &lock_path, e))?;
    file.lock().map_err(|e| io_err("lock", &lock_path, e))?;
    let result = f();
    // Closing the file releases the lock too; unlocking first makes the order explicit.
    let _ = file.unlock();
    result
}

/// Reads `target` whole, refusing a file over [`MAX_DOCUMENT_BYTES`] before reading it (and
/// one that grows past it while being read). `Ok(None)` when it does not exist.
fn read_optional(target: &FsPath) -> object_store::Result<Option<Vec<u8>>> {
    let too_large = |size| object_store::Error::Generic {
        store: STORE,
        source: Box::new(FileTooLarge {
            path: target.to_path_buf(),
            source: ObjectTooLarge {
                size,
                limit: MAX_DOCUMENT_BYTES,
            },
        }),
    };
    let mut file = match fs::File::open(target) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("read", target, e)),
    };
    let size = file
        .metadata()
        .map_err(|e| io_err("read the metadata of", target, e))?
        .len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(too_large(Some(size)));
    }
    let mut content = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    (&mut file)
        .take(MAX_DOCUMENT_BYTES + 1)
        .read_to_end(&mut content)
        .map_err(|e| io_err("read", target, e))?;
    if content.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(too_large(None));
    }
    Ok(Some(content))
}

/// Writes `content` to `target` through a synced temporary file and a rename.
fn write_atomic(target: &FsPath, content: &[u8]) -> object_store::Result<()> {
    let dir = parent_of(target);
    let tmp = sidecar(target, &format!("{}.tmp", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| io_err("create", &tmp, e))?;
        file.write_all(content)
            .map_err(|e| io_err("write", &tmp, e))?;
        file.sync_all().map_err(|e| io_err("sync", &tmp, e))?;
        drop(file);
        fs::rename(&tmp, target).map_err(|e| io_err("rename a temporary file onto", target, e))?;
        // The rename is durable once the directory is synced.
        let d = fs::File::open(dir).map_err(|e| io_err("open the directory", dir, e))?;
        d.sync_all()
            .map_err(|e| io_err("sync the directory", dir, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn put_blocking(
    target: &FsPath,
    location: &Path,
    content: &[u8],
    mode: &PutMode,
) -> object_store::Result<PutResult> {
    let dir = parent_of(target);
    fs::create_dir_all(dir).map_err(|e| io_err("create the directory", dir, e))?;
    with_lock(target, || {
        let current = read_optional(target)?;
        match (mode, &current) {
            (PutMode::Overwrite, _) | (PutMode::Create, None) => {}
            (PutMode::Create, Some(_)) => {
                return Err(object_store::Error::AlreadyExists {
                    path: location.to_string(),
                    source: format!("{} exists", target.display()).into(),
                });
            }
            (PutMode::Update(_), None) => {
                return Err(object_store::Error::Precondition {
                    path: location.to_string(),
                    source: format!("{} does not exist", target.display()).into(),
                });
            }
            (PutMode::Update(v), Some(bytes)) => {
                let existing = content_etag(bytes);
                match v.e_tag.as_deref() {
                    Some(expected) if same_etag(expected, &existing) => {}
                    Some(expected) => {
                        return Err(object_store::Error::Precondition {
                            path: location.to_string(),
                            source: format!("ETag {existing} does not match {expected}").into(),
                        });
                    }
                    None => {
                        return Err(object_store::Error::Precondition {
                            path: location.to_string(),
                            source: "a conditional update needs an ETag".into(),
                        });
                    }
                }
            }
        }
        write_atomic(target, content)?;
        Ok(PutResult {
            e_tag: Some(content_etag(content)),
            version: None,
            extensions: Default::default(),
        })
    })
}

fn meta_of(location: Path, content: &[u8], modified: SystemTime) -> ObjectMeta {
    ObjectMeta {
        location,
        last_modified: modified.into(),
        size: content.len() as u64,
        e_tag: Some(content_etag(content)),
        version: None,
    }
}

fn modified_of(path: &FsPath) -> object_store::Result<SystemTime> {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| io_err("read the metadata of", path, e))
}

/// Every object under `dir` (recursively), as `(location, file)` pairs.
fn walk(dir: &FsPath, location: &Path, out: &mut Vec<(Path, PathBuf)>) -> object_store::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(());
        }
        Err(e) => return Err(io_err("list", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_err("list", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_sidecar(&name) {
            continue;
        }
        let Ok(part) = object_store::path::PathPart::parse(&name) else {
            continue;
        };
        let child = location.clone().join(part);
        let kind = entry
            .file_type()
            .map_err(|e| io_err("list", &entry.path(), e))?;
        if kind.is_dir() {
            walk(&entry.path(), &child, out)?;
        } else if kind.is_file() {
            out.push((child, entry.path()));
        }
    }
    Ok(())
}

fn list_blocking(root: PathBuf, prefix: Path) -> object_store::Result<Vec<ObjectMeta>> {
    let store = FileStore::new(root);
    let dir = store.path_of(&prefix);
    let mut files = Vec::new();
    walk(&dir, &prefix, &mut files)?;
    let mut out = Vec::with_capacity(files.len());
    for (location, path) in files {
        // A file deleted between listing and reading is simply not listed.
        let Some(content) = read_optional(&path)? else {
            continue;
        };
        out.push(meta_of(location, &content, modified_of(&path)?));
    }
    out.sort_by(|a, b| a.location.cmp(&b.location));
    Ok(out)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> object_store::Result<T> + Send + 'static,
) -> object_store::Result<T> {
    tokio::task::spawn_blocking(f).await?
}

#[async_trait]
impl ObjectStore for FileStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        if !opts.attributes.is_empty() {
            return Err(object_store::Error::NotSupported {
                source: "the file store keeps no object attributes".into(),
            });
        }
        let target = self.object_file(location)?;
        let location = location.clone();
        let content = Bytes::from(payload);
        blocking(move || put_blocking(&target, &location, &content, &opts.mode)).await
    }

    async fn put_multipart_opts(
        &self,
        _location: &Path,
        _opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Err(object_store::Error::NotSupported {
            source: "the file store does not support multipart uploads; write whole objects \
                     with put"
                .into(),
        })
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let target = self.object_file(location)?;
        let loc = location.clone();
        let (content, modified) = blocking(move || {
            let Some(content) = read_optional(&target)? else {
                return Err(not_found(
                    &loc,
                    &target,
                    io::Error::from(io::ErrorKind::NotFound),
                ));
            };
            Ok((content, modified_of(&target)?))
        })
        .await?;
        let meta = meta_of(location.clone(), &content, modified);
        options.check_preconditions(&meta)?;
        let size = meta.size;
        let range = match &options.range {
            Some(r) => r.as_range(size).map_err(|e| object_store::Error::Generic {
                store: STORE,
                source: Box::new(e),
            })?,
            None => 0..size,
        };
        let data = if options.head {
            Bytes::new()
        } else {
            // `as_range` keeps the range inside the content.
            let start = usize::try_from(range.start).unwrap_or(usize::MAX);
            let end = usize::try_from(range.end).unwrap_or(usize::MAX);
            Bytes::from(content).slice(start.min(end)..end)
        };
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream::once(async move { Ok(data) }).boxed()),
            meta,
            range,
            attributes: Attributes::default(),
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
                    let target = store.object_file(&location)?;
                    let loc = location.clone();
                    blocking(move || {
                        if !target.exists() {
                            return Err(not_found(
                                &loc,
                                &target,
                                io::Error::from(io::ErrorKind::NotFound),
                            ));
                        }
                        with_lock(&target, || match fs::remove_file(&target) {
                            Ok(()) => Ok(()),
                            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                                Err(not_found(&loc, &target, e))
                            }
                            Err(e) => Err(io_err("delete", &target, e)),
                        })
                    })
                    .await?;
                    Ok(location)
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let root = self.root.clone();
        let prefix = prefix.cloned().unwrap_or_default();
        stream::once(async move { blocking(move || list_blocking(root, prefix)).await })
            .flat_map(|r| match r {
                Ok(items) => stream::iter(items.into_iter().map(Ok)).boxed(),
                Err(e) => stream::once(async move { Err(e) }).boxed(),
            })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let prefix = prefix.cloned().unwrap_or_default();
        let dir = self.path_of(&prefix);
        blocking(move || {
            let mut result = ListResult {
                common_prefixes: Vec::new(),
                objects: Vec::new(),
                extensions: Default::default(),
            };
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) =>
                {
                    return Ok(result);
                }
                Err(e) => return Err(io_err("list", &dir, e)),
            };
            for entry in entries {
                let entry = entry.map_err(|e| io_err("list", &dir, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if is_sidecar(&name) {
                    continue;
                }
                let Ok(part) = object_store::path::PathPart::parse(&name) else {
                    continue;
                };
                let child = prefix.clone().join(part);
                let path = entry.path();
                let kind = entry.file_type().map_err(|e| io_err("list", &path, e))?;
                if kind.is_dir() {
                    result.common_prefixes.push(child);
                } else if kind.is_file()
                    && let Some(content) = read_optional(&path)?
                {
                    result
                        .objects
                        .push(meta_of(child, &content, modified_of(&path)?));
                }
            }
            result.common_prefixes.sort();
            result.objects.sort_by(|a, b| a.location.cmp(&b.location));
            Ok(result)
        })
        .await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        let content = self
            .get_opts(from, GetOptions::default())
            .await?
            .bytes()
            .await?;
        let mode = match options.mode {
            CopyMode::Overwrite => PutMode::Overwrite,
            CopyMode::Create => PutMode::Create,
        };
        self.put_opts(to, PutPayload::from(content), PutOptions::from(mode))
            .await
            .map(|_| ())
    }
}
