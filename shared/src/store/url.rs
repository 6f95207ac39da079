//! State URLs: which backend holds the ledger, and where in it.
//!
//! | Written | Backend | The ledger object |
//! |---|---|---|
//! | `.fleetctl/state.json`, `/abs/path.json` | file | that file (relative to the working directory) |
//! | `file://PATH` | file | `PATH`, taken as written (absolute when it starts with `/`) |
//! | `memory://NAME` | memory | `state.json` in the in-process store called `NAME` (may be empty) |
//! | `s3://BUCKET/KEY` | S3 or any S3-compatible server | `KEY` |
//! | `oci://BUCKET@NAMESPACE/NAME` | OCI Object Storage, native API | `NAME` |
//!
//! A path, key or name that is empty or ends with `/` is a folder: the object is
//! `state.json` inside it (`oci://b@ns/prod/` → `prod/state.json`, `s3://b` → `state.json`).
//!
//! URLs never carry credentials: `s3://` takes them from the `AWS_*` environment, `oci://`
//! from the OCI credential provider. A URL with user info is refused, and error messages
//! never repeat it.

use std::fmt;
use std::path::PathBuf;

use super::StoreError;

/// The default state location: `.fleetctl/state.json` under the working directory.
pub const DEFAULT_STATE_PATH: &str = ".fleetctl/state.json";

/// The object name used when a URL names a folder.
pub const DEFAULT_OBJECT_NAME: &str = "state.json";

/// A parsed state URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// A local file (a plain path or `file://`), as written (relative paths are resolved when
    /// the store is opened).
    File {
        /// The file.
        path: PathBuf,
    },
    /// An in-process store (`memory://NAME`); stores with the same name share their objects.
    Memory {
        /// The store's name.
        name: String,
    },
    /// An S3 bucket (`s3://BUCKET/KEY`).
    S3 {
        /// The bucket.
        bucket: String,
        /// The object key.
        key: String,
    },
    /// An OCI Object Storage bucket (`oci://BUCKET@NAMESPACE/NAME`).
    Oci {
        /// The bucket.
        bucket: String,
        /// The namespace.
        namespace: String,
        /// The object name.
        object: String,
    },
}

impl fmt::Display for StoreUrl {
    /// The canonical form (the object name spelled out).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::File { path } => write!(f, "{}", path.display()),
            StoreUrl::Memory { name } => write!(f, "memory://{name}"),
            StoreUrl::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            StoreUrl::Oci {
                bucket,
                namespace,
                object,
            } => write!(f, "oci://{bucket}@{namespace}/{object}"),
        }
    }
}

impl std::str::FromStr for StoreUrl {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        StoreUrl::parse(s)
    }
}

/// `url` with any user info (`user:secret@`) in its authority replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) if authority[..at].contains(':') => {
            format!("{scheme}://***@{}", &rest[at + 1..])
        }
        _ => url.to_string(),
    }
}

fn invalid(url: &str, reason: impl Into<String>) -> StoreError {
    StoreError::InvalidUrl {
        url: redact(url),
        reason: reason.into(),
    }
}

/// `name` as an object name: `state.json` for an empty name or inside a trailing `/`.
fn object_name(name: &str) -> String {
    if name.is_empty() || name.ends_with('/') {
        format!("{name}{DEFAULT_OBJECT_NAME}")
    } else {
        name.to_string()
    }
}

fn check_object_name(url: &str, what: &str, name: &str) -> Result<(), StoreError> {
    if name.starts_with('/') {
        return Err(invalid(
            url,
            format!("the {what} `{name}` starts with `/`; write one `/` after the bucket"),
        ));
    }
    if name.len() > 1024 {
        return Err(invalid(
            url,
            format!("the {what} is {} bytes long; the limit is 1024", name.len()),
        ));
    }
    object_store::path::Path::parse(name).map_err(|e| {
        invalid(
            url,
            format!("the {what} `{name}` is not a valid object name ({e}); empty segments (`//`), `.` and `..` are not allowed"),
        )
    })?;
    Ok(())
}

fn check_bucket(url: &str, bucket: &str, example: &str) -> Result<(), StoreError> {
    if bucket.is_empty() {
        return Err(invalid(
            url,
            format!("the bucket is missing; write {example}"),
        ));
    }
    let ok = bucket.len() <= 256
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok {
        return Err(invalid(
            url,
            format!(
                "the bucket name `{bucket}` is not valid: use at most 256 letters, digits, \
                 '-', '_' and '.'"
            ),
        ));
    }
    Ok(())
}

impl StoreUrl {
    /// Parses a state URL (see the module docs). Errors name the URL (credentials redacted)
    /// and what is wrong with it.
    pub fn parse(url: &str) -> Result<StoreUrl, StoreError> {
        if url.trim().is_empty() {
            return Err(invalid(
                url,
                format!(
                    "it is empty; give a path such as {DEFAULT_STATE_PATH} or a URL \
                     (file://, memory://, s3://bucket/key, oci://bucket@namespace/prefix)"
                ),
            ));
        }
        if url.chars().any(|c| c.is_control()) {
            return Err(invalid(url, "it contains a control character"));
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            if let Some((before, _)) = url.split_once(':')
                && !before.is_empty()
                && before
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+')
            {
                return Err(invalid(
                    url,
                    format!(
                        "`{before}:` looks like a URL scheme without `//`; write \
                         {before}://… (supported: file, memory, s3, oci), or a path without ':'"
                    ),
                ));
            }
            return Ok(StoreUrl::File {
                path: PathBuf::from(object_name(url)),
            });
        };
        if rest.contains('?') || rest.contains('#') {
            return Err(invalid(
                url,
                "query strings and fragments (`?`, `#`) are not supported in state URLs",
            ));
        }
        match scheme.to_ascii_lowercase().as_str() {
            "file" => {
                if rest.is_empty() {
                    return Err(invalid(
                        url,
                        "the path is missing; write file:///abs/state.json or file://relative/state.json",
                    ));
                }
                Ok(StoreUrl::File {
                    path: PathBuf::from(object_name(rest)),
                })
            }
            "memory" => Ok(StoreUrl::Memory {
                name: rest.to_string(),
            }),
            "s3" => {
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.contains('@') {
                    return Err(invalid(
                        url,
                        "credentials do not belong in the URL: set AWS_ACCESS_KEY_ID and \
                         AWS_SECRET_ACCESS_KEY instead",
                    ));
                }
                check_bucket(url, bucket, "s3://bucket/key")?;
                let key = object_name(key);
                check_object_name(url, "key", &key)?;
                Ok(StoreUrl::S3 {
                    bucket: bucket.to_string(),
                    key,
                })
            }
            "oci" => {
                let (authority, name) = rest.split_once('/').unwrap_or((rest, ""));
                let Some((bucket, namespace)) = authority.split_once('@') else {
                    return Err(invalid(
                        url,
                        format!(
                            "the namespace is missing; write oci://{}@<namespace>/{name} \
                             (`oci os ns get` prints the namespace)",
                            if authority.is_empty() {
                                "<bucket>"
                            } else {
                                authority
                            }
                        ),
                    ));
                };
                if namespace.contains('@') || bucket.contains(':') {
                    return Err(invalid(
                        url,
                        "credentials do not belong in the URL: oci:// stores use the OCI \
                         credentials of the fleet (spec.auth)",
                    ));
                }
                check_bucket(url, bucket, "oci://bucket@namespace/prefix")?;
                if namespace.is_empty() {
                    return Err(invalid(
                        url,
                        "the namespace after `@` is empty (`oci os ns get` prints it)",
                    ));
                }
                if !namespace
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
                    || namespace.len() > 128
                {
                    return Err(invalid(
                        url,
                        format!(
                            "the namespace `{namespace}` is not valid: use letters, digits, \
                             '-' and '_'"
                        ),
                    ));
                }
                let object = object_name(name);
                check_object_name(url, "object name", &object)?;
                Ok(StoreUrl::Oci {
                    bucket: bucket.to_string(),
                    namespace: namespace.to_string(),
                    object,
                })
            }
            other => Err(invalid(
                url,
                format!(
                    "the scheme `{other}` is not supported; use a path, file://, memory://, \
                     s3://bucket/key or oci://bucket@namespace/prefix"
                ),
            )),
        }
    }

    /// The scheme (`file` for plain paths too).
    pub fn scheme(&self) -> &'static str {
        match self {
            StoreUrl::File { .. } => "file",
            StoreUrl::Memory { .. } => "memory",
            StoreUrl::S3 { .. } => "s3",
            StoreUrl::Oci { .. } => "oci",
        }
    }
}
