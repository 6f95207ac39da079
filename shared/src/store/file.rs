//! The file backend: an [`ObjectStore`] over a local directory whose writes are atomic and
//! conditional.
//!
//! object_store's `LocalFileSystem` refuses `PutMode::Update`, so this store does its own:
//!
//! 1. create the missing parent directories, `fsync`ing the directory each one is created in;
//! 2. take an exclusive lock (`std::fs::File::try_lock`, retried until [`LOCK_TIMEOUT`]) on a
//!    sidecar file `.<name>.lock` beside the object (never deleted: deleting lock files reopens
//!    the race they close), and write who holds it into it (pid, program, host, since when),
//!    cleared again before the lock is released; a writer that gives up names that holder;
//! 3. write a temporary file `.<name>.<uuid>.tmp` in the same directory with the object's
//!    current permissions (0600 for a new object) and `fsync` it, while another thread reads
//!    the current content and computes its ETag;
//! 4. compare that ETag with the condition (`Create`: no object; `Update`: same ETag): if it
//!    holds, rename the temporary file over the object and `fsync` the directory; if not,
//!    remove the temporary file.
//!
//! A crash at any point leaves either the old or the new document, never a half-written one
//! (at worst a stray `.tmp` file, which listings hide). Readers take no lock: the rename is
//! atomic, so they see one version or the other. New objects and lock files are created 0600
//! (owner only): a ledger names the fleet's instances and addresses.
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
use std::time::{Duration, Instant, SystemTime};

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

/// How long a write waits for another holder of an object's lock before it gives up.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// A lock another holder kept for longer than the writer waits.
#[derive(Debug, thiserror::Error)]
#[error(
    "the lock {} is still held after {}, by {}; a write holds it for a moment only, so if no \
     other fleetctl is writing this ledger, that holder is stuck",
    path.display(),
    describe_wait(*waited),
    holder.as_deref().unwrap_or("another process (it did not say which)")
)]
pub struct LockTimeout {
    /// The lock file.
    pub path: PathBuf,
    /// How long the writer waited.
    pub waited: Duration,
    /// What the holder wrote into the lock file (`pid 1234 (fleetctl) on host, since …`), when
    /// it did.
    pub holder: Option<String>,
}

/// `10 s`, `250 ms`.
fn describe_wait(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// A directory of objects with atomic, conditional writes (see the module docs).
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
    lock_timeout: Duration,
}

impl fmt::Display for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileStore({})", self.root.display())
    }
}

impl FileStore {
    /// A store rooted at `root`. Nothing is created until the first write.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            lock_timeout: LOCK_TIMEOUT,
        }
    }

    /// Waits at most `timeout` for a lock another holder keeps (default [`LOCK_TIMEOUT`]).
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
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
    etag_of_digest(&digest::digest(&digest::SHA256, content))
}

fn etag_of_digest(d: &digest::Digest) -> String {
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

/// Opens (creating, owner-only) the file at `path` for writing.
fn open_private(path: &FsPath, create_new: bool) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).read(true);
    if create_new {
        options.create_new(true);
    } else {
        options.create(true).truncate(false);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Who this process is, as written into a lock file it holds.
fn holder_record() -> String {
    let program = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown program".into());
    let host = fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .map(|h| format!(" on {h}"))
        .unwrap_or_default();
    let since = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    format!(
        "pid {} ({program}){host}, since {since}\n",
        std::process::id()
    )
}

/// What the holder of `lock` wrote into it, if anything (at most one short line).
fn read_holder(lock: &mut fs::File) -> Option<String> {
    use std::io::Seek;
    lock.seek(io::SeekFrom::Start(0)).ok()?;
    let mut text = String::new();
    lock.take(256).read_to_string(&mut text).ok()?;
    let line: String = text
        .lines()
        .next()?
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let line = line.trim();
    (!line.is_empty()).then(|| line.to_string())
}

/// Runs `f` holding the exclusive lock of `target`, waiting at most `timeout` for another
/// holder (see the module docs).
fn with_lock<T>(
    target: &FsPath,
    timeout: Duration,
    f: impl FnOnce() -> object_store::Result<T>,
) -> object_store::Result<T> {
    let lock_path = sidecar(target, "lock");
    let mut file =
        open_private(&lock_path, false).map_err(|e| io_err("open the lock file", &lock_path, e))?;
    let started = Instant::now();
    let mut pause = Duration::from_millis(2);
    let mut announced = false;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(e)) => return Err(io_err("lock", &lock_path, e)),
        }
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(object_store::Error::Generic {
                store: STORE,
                source: Box::new(LockTimeout {
                    path: lock_path,
                    waited: timeout,
                    holder: read_holder(&mut file),
                }),
            });
        }
        if !announced {
            announced = true;
            tracing::info!(
                lock = %lock_path.display(),
                holder = read_holder(&mut file).as_deref().unwrap_or("unknown"),
                "waiting for the lock of the state file"
            );
        }
        std::thread::sleep(pause.min(timeout - waited));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
    // Say who holds the lock, for a writer that gives up waiting. Best effort: the lock works
    // without it.
    let _ = file.set_len(0).and_then(|()| {
        use std::io::Seek;
        file.seek(io::SeekFrom::Start(0))?;
        file.write_all(holder_record().as_bytes())
    });
    let result = f();
    let _ = file.set_len(0);
    // Closing the file releases the lock too; unlocking first makes the order explicit.
    let _ = file.unlock();
    result
}

/// Reads `target` whole, refusing a file over [`MAX_DOCUMENT_BYTES`] before reading it (and
/// one that grows past it while being read). `Ok(None)` when it does not exist.
fn read_optional(target: &FsPath) -> object_store::Result<Option<Vec<u8>>> {
    let too_large = |size| file_too_large(target, size);
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

fn file_too_large(target: &FsPath, size: Option<u64>) -> object_store::Error {
    object_store::Error::Generic {
        store: STORE,
        source: Box::new(FileTooLarge {
            path: target.to_path_buf(),
            source: ObjectTooLarge {
                size,
                limit: MAX_DOCUMENT_BYTES,
            },
        }),
    }
}

/// The [`content_etag`] of the file at `target`, hashed in blocks as it is read (a ledger is
/// megabytes), refused as [`read_optional`] refuses it when it is over
/// [`MAX_DOCUMENT_BYTES`]; `Ok(None)` when it does not exist.
fn file_etag(target: &FsPath) -> object_store::Result<Option<String>> {
    let file = match fs::File::open(target) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("read", target, e)),
    };
    let size = file
        .metadata()
        .map_err(|e| io_err("read the metadata of", target, e))?
        .len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(file_too_large(target, Some(size)));
    }
    let mut ctx = digest::Context::new(&digest::SHA256);
    let mut block = vec![0u8; 64 * 1024];
    let mut read: u64 = 0;
    let mut file = file.take(MAX_DOCUMENT_BYTES + 1);
    loop {
        match file.read(&mut block) {
            Ok(0) => break,
            Ok(n) => {
                read += n as u64;
                ctx.update(&block[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err("read", target, e)),
        }
    }
    if read > MAX_DOCUMENT_BYTES {
        return Err(file_too_large(target, None));
    }
    Ok(Some(etag_of_digest(&ctx.finish())))
}

/// A synced temporary file beside its target, renamed onto it by [`Staged::commit`], removed
/// if it is dropped uncommitted (a failed write, a condition that did not hold).
struct Staged {
    tmp: PathBuf,
    committed: bool,
}

impl Staged {
    /// Writes `content` to a new temporary file beside `target` and syncs it. It gets the
    /// permissions of the file it will replace (0600 when there is none).
    fn write(target: &FsPath, content: &[u8]) -> object_store::Result<Staged> {
        let existing = match fs::metadata(target) {
            Ok(meta) => Some(meta.permissions()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err("read the metadata of", target, e)),
        };
        let staged = Staged {
            tmp: sidecar(target, &format!("{}.tmp", uuid::Uuid::new_v4().simple())),
            committed: false,
        };
        let tmp = &staged.tmp;
        let mut file = open_private(tmp, true).map_err(|e| io_err("create", tmp, e))?;
        if let Some(permissions) = existing {
            file.set_permissions(permissions)
                .map_err(|e| io_err("set the permissions of", tmp, e))?;
        }
        file.write_all(content)
            .map_err(|e| io_err("write", tmp, e))?;
        file.sync_all().map_err(|e| io_err("sync", tmp, e))?;
        Ok(staged)
    }

    /// Renames the temporary file onto `target` and syncs the directory, which makes the
    /// rename durable.
    fn commit(mut self, target: &FsPath) -> object_store::Result<()> {
        fs::rename(&self.tmp, target)
            .map_err(|e| io_err("rename a temporary file onto", target, e))?;
        self.committed = true;
        let dir = parent_of(target);
        let d = fs::File::open(dir).map_err(|e| io_err("open the directory", dir, e))?;
        d.sync_all()
            .map_err(|e| io_err("sync the directory", dir, e))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Creates `dir` and its missing ancestors, syncing the directory each new one was created
/// in, so a crash cannot lose a new directory (and the ledger in it) after a write succeeded.
fn create_dirs(dir: &FsPath) -> object_store::Result<()> {
    let mut missing = Vec::new();
    let mut cur = dir;
    while !cur.as_os_str().is_empty() && !cur.exists() {
        missing.push(cur);
        match cur.parent() {
            Some(p) => cur = p,
            None => break,
        }
    }
    for new_dir in missing.into_iter().rev() {
        match fs::create_dir(new_dir) {
            Ok(()) => {}
            // Another writer created it meanwhile: it syncs it.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err("create the directory", new_dir, e)),
        }
        let parent = parent_of(new_dir);
        let parent = if parent.as_os_str().is_empty() {
            FsPath::new(".")
        } else {
            parent
        };
        fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err("sync the directory", parent, e))?;
    }
    Ok(())
}

fn put_blocking(
    target: &FsPath,
    location: &Path,
    content: &[u8],
    mode: &PutMode,
    lock_timeout: Duration,
) -> object_store::Result<PutResult> {
    // The new content's ETag (a SHA-256 of megabytes for a large ledger) is only needed for
    // the answer: it is computed on another thread while this one takes the lock, reads the
    // current ETag and writes and syncs the new file.
    std::thread::scope(|scope| {
        let new_etag = scope.spawn(|| content_etag(content));
        put_locked(target, location, content, mode, lock_timeout)?;
        let e_tag = new_etag
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        Ok(PutResult {
            e_tag: Some(e_tag),
            version: None,
            extensions: Default::default(),
        })
    })
}

/// [`put_blocking`] but the new ETag: checks the condition and writes, under the lock.
fn put_locked(
    target: &FsPath,
    location: &Path,
    content: &[u8],
    mode: &PutMode,
    lock_timeout: Duration,
) -> object_store::Result<()> {
    create_dirs(parent_of(target))?;
    with_lock(target, lock_timeout, || {
        // The new content is written to a temporary file and synced while another thread
        // reads the current file's ETag (hashed as it is read, not held whole); the rename
        // happens only if the condition holds, else the temporary file is removed.
        let (current, staged) = std::thread::scope(|scope| {
            let current = scope.spawn(|| file_etag(target));
            let staged = Staged::write(target, content);
            let current = current
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (current, staged)
        });
        let staged = staged?;
        let current = current?;
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
            (PutMode::Update(v), Some(existing)) => match v.e_tag.as_deref() {
                Some(expected) if same_etag(expected, existing) => {}
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
            },
        }
        staged.commit(target)
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

/// Runs `f` on a blocking thread, logging to the caller's subscriber.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> object_store::Result<T> + Send + 'static,
) -> object_store::Result<T> {
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    tokio::task::spawn_blocking(move || tracing::dispatcher::with_default(&dispatch, f)).await?
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
        let lock_timeout = self.lock_timeout;
        blocking(move || put_blocking(&target, &location, &content, &opts.mode, lock_timeout)).await
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
                        with_lock(&target, store.lock_timeout, || {
                            match fs::remove_file(&target) {
                                Ok(()) => Ok(()),
                                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                                    Err(not_found(&loc, &target, e))
                                }
                                Err(e) => Err(io_err("delete", &target, e)),
                            }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// While a write holds the lock, the lock file says who holds it (what a writer that gives
    /// up waiting reports); it is cleared when the lock is released.
    #[test]
    fn the_lock_file_names_its_holder_while_held() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("doc.json");
        let lock = dir.path().join(".doc.json.lock");
        let seen = with_lock(&target, LOCK_TIMEOUT, || {
            Ok(fs::read_to_string(&lock).unwrap())
        })
        .unwrap();
        let expected = format!("pid {} (", std::process::id());
        assert!(seen.starts_with(&expected), "{seen:?}");
        assert!(seen.contains(", since 20"), "{seen:?}");
        assert_eq!(fs::read_to_string(&lock).unwrap(), "");
    }
}
