//! The endpoint override: the one base URL of every OCI service (for example the local
//! simulator, `http://127.0.0.1:8999`).
//!
//! One rule set ([`parse_base_url`]) decides what an override may be, wherever it comes from:
//! the fleet file's `endpoint` (checked at validation), env `FLEETCTL_OCI_ENDPOINT` and the
//! OCI client's endpoints. `http://` or `https://`, a host, an optional port and path; no user
//! info, query or fragment. Messages show at most `scheme://host:port` of a refused value
//! ([`shown_base_url`]).

use url::Url;

/// Why a text cannot be the endpoint override. One rule set, applied by [`parse_base_url`]
/// to the `endpoint` setting of the fleet file (at validation), to env
/// `FLEETCTL_OCI_ENDPOINT` and to `oci::endpoints::Endpoints::with_override`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BaseUrlProblem {
    /// The scheme is not `http` or `https`.
    #[error("is not http:// or https://")]
    NotHttp,
    /// `HTTP://`, `Https://`, ...
    #[error("has its scheme in capitals; write http:// or https://")]
    SchemeCase,
    /// Whitespace, a control character or a backslash anywhere.
    #[error("contains whitespace, a control character or a backslash")]
    Whitespace,
    /// Nothing between `://` and the path.
    #[error("has no host")]
    NoHost,
    /// `user:password@` (or any `@`) before the host.
    #[error(
        "has user info (a name or password before `@`); credentials never belong in an endpoint"
    )]
    UserInfo,
    /// `?...`.
    #[error("has a query (`?…`)")]
    Query,
    /// `#...`.
    #[error("has a fragment (`#…`)")]
    Fragment,
    /// Anything else the URL parser refuses (a bad port, a bad IPv6 address, ...).
    #[error("is not a valid URL")]
    NotAUrl,
}

/// The characters [`parse_base_url`] refuses anywhere.
fn forbidden_char(c: char) -> bool {
    c.is_whitespace() || c.is_control() || c == '\\' || c == '\u{feff}'
}

/// Checks `text` as the base URL of every service: `http://` or `https://` (lower case), a
/// host, an optional port and path, and nothing else: no user info, query or fragment, no
/// whitespace, control character or backslash.
pub fn parse_base_url(text: &str) -> Result<Url, BaseUrlProblem> {
    let Some(rest) = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
    else {
        let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
        return Err(
            if lower.starts_with("http://") || lower.starts_with("https://") {
                BaseUrlProblem::SchemeCase
            } else {
                BaseUrlProblem::NotHttp
            },
        );
    };
    if text.chars().any(forbidden_char) {
        return Err(BaseUrlProblem::Whitespace);
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.contains('@') {
        return Err(BaseUrlProblem::UserInfo);
    }
    if authority.is_empty() {
        return Err(BaseUrlProblem::NoHost);
    }
    match rest.find(['?', '#']).map(|at| &rest[at..at + 1]) {
        Some("?") => return Err(BaseUrlProblem::Query),
        Some(_) => return Err(BaseUrlProblem::Fragment),
        None => {}
    }
    let url = Url::parse(text).map_err(|_| BaseUrlProblem::NotAUrl)?;
    // The text checks above make these impossible; the parsed URL is checked all the same.
    if url.host_str().is_none_or(str::is_empty) {
        return Err(BaseUrlProblem::NoHost);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(BaseUrlProblem::UserInfo);
    }
    if url.query().is_some() {
        return Err(BaseUrlProblem::Query);
    }
    if url.fragment().is_some() {
        return Err(BaseUrlProblem::Fragment);
    }
    Ok(url)
}

/// `scheme://host[:port]` of `text`, the only part of an endpoint messages show (user info,
/// path, query and fragment may hold secrets); `None` when `text` has no host to show.
pub fn shown_base_url(text: &str) -> Option<String> {
    let url = Url::parse(text).ok()?;
    let host = url.host_str().filter(|h| !h.is_empty())?;
    Some(match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}
