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
//! from the OCI credential provider. A URL with user info is refused, and its message shows
//! only `scheme://***`. User info is looked for in the whole URL before it is split at `/`
//! (secrets often contain `/`): any `@` after `file://`, `memory://`, `s3://` (or an
//! unsupported scheme), and in `oci://` a second `@` or a `:` before the first.
//!
//! A plain path may not contain `:` (it could be a scheme without `//`); `file://` takes any
//! path without `@`, `?` or `#`.

use std::fmt;
use std::path::PathBuf;

/// The default state location: `.fleetctl/state.json` under the working directory.
pub const DEFAULT_STATE_PATH: &str = ".fleetctl/state.json";

/// The object name used when a URL names a folder.
pub const DEFAULT_OBJECT_NAME: &str = "state.json";

/// A state URL that cannot be parsed: the user's to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid state URL `{url}`: {reason}")]
pub struct InvalidStateUrl {
    /// The URL as given, or only `scheme://***` when it carries credentials ([`redact`]).
    pub url: String,
    /// What is wrong, and how to write it.
    pub reason: String,
}

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
    type Err = InvalidStateUrl;
    fn from_str(s: &str) -> Result<Self, InvalidStateUrl> {
        StoreUrl::parse(s)
    }
}

/// True for a URL scheme as RFC 3986 spells one: a letter, then letters, digits, `+`, `-`, `.`.
fn is_scheme(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// True when `rest` (all that follows `scheme://`) carries user info (`user:secret@`).
///
/// Looked for in the whole of `rest`, before anything splits it at `/`: secrets often contain
/// `/` (AWS secret keys do). In `oci://BUCKET@NAMESPACE/NAME` one `@` is part of the form, so
/// there user info is a second `@` or a `:` before the first; for every other scheme any `@`
/// is user info.
fn has_user_info(scheme: &str, rest: &str) -> bool {
    if scheme.eq_ignore_ascii_case("oci") {
        let mut ats = rest.match_indices('@');
        match (ats.next(), ats.next()) {
            (None, _) => false,
            (Some(_), Some(_)) => true,
            (Some((at, _)), None) => rest[..at].contains(':'),
        }
    } else {
        rest.contains('@')
    }
}

/// `url` as messages may show it: `scheme://***` when it carries user info (then nothing
/// after `://` is shown, not even the bucket), else as written. Text that is not a URL but
/// has the shape `name:secret@…` shows at most a supported scheme (`s3:***`), else `***`.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && is_scheme(scheme)
    {
        return if has_user_info(scheme, rest) {
            format!("{scheme}://***")
        } else {
            url.to_string()
        };
    }
    if !(url.contains('@') && url.contains(':')) {
        return url.to_string();
    }
    match url.split_once(':') {
        Some((scheme, _))
            if ["file", "memory", "s3", "oci"]
                .iter()
                .any(|known| scheme.eq_ignore_ascii_case(known)) =>
        {
            format!("{scheme}:***")
        }
        _ => "***".to_string(),
    }
}

/// Why a URL with user info is refused, by scheme.
fn credentials_reason(scheme: &str) -> String {
    let why = "credentials do not belong in the URL";
    match scheme.to_ascii_lowercase().as_str() {
        "s3" => format!("{why}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead"),
        "oci" => format!(
            "{why}: oci:// stores use the OCI credentials of the fleet (spec.auth), and the \
             URL has exactly one `@`, between the bucket and the namespace"
        ),
        "file" => format!(
            "{why}, and a file:// URL may not contain `@`; write a plain path if the file \
             name has one"
        ),
        "memory" => format!("{why}, and a memory:// name may not contain `@`"),
        _ => format!("{why}; a state URL is a path, file://, memory://, s3:// or oci://"),
    }
}

fn invalid(url: &str, reason: impl Into<String>) -> InvalidStateUrl {
    InvalidStateUrl {
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

fn check_object_name(url: &str, what: &str, name: &str) -> Result<(), InvalidStateUrl> {
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

fn check_bucket(url: &str, bucket: &str, example: &str) -> Result<(), InvalidStateUrl> {
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
    pub fn parse(url: &str) -> Result<StoreUrl, InvalidStateUrl> {
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
            if let Some((before, _)) = url.split_once(':') {
                let reason = if url.contains('@') {
                    // `name:secret@…`: say nothing of what precedes the `@`.
                    credentials_reason("")
                } else if is_scheme(before) {
                    format!(
                        "`{before}:` looks like a URL scheme without `//`; write \
                         {before}://… (supported: file, memory, s3, oci), or a path without ':'"
                    )
                } else {
                    "a path may not contain ':' (it could be taken for a URL scheme); write \
                     file://PATH for such a file"
                        .to_string()
                };
                return Err(invalid(url, reason));
            }
            return Ok(StoreUrl::File {
                path: PathBuf::from(object_name(url)),
            });
        };
        if !is_scheme(scheme) {
            // Not shown: it may be `user:secret@host` written before a `://`.
            return Err(invalid(
                url,
                if url.contains('@') {
                    credentials_reason("")
                } else {
                    "the text before `://` is not a URL scheme; use a path, file://, memory://, \
                     s3://bucket/key or oci://bucket@namespace/prefix"
                        .to_string()
                },
            ));
        }
        if has_user_info(scheme, rest) {
            return Err(invalid(url, credentials_reason(scheme)));
        }
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
