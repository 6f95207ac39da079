//! Errors from a store's server, made fit to print.
//!
//! object_store's errors carry the server's answer whole, at every level of their chain, and
//! an S3 `SignatureDoesNotMatch` answer echoes the canonical request it expected, with the
//! session token (`x-amz-security-token`) in it, as text and as hex bytes. The front doors
//! print the whole cause chain. So every backend error a [`super::StoreError`] carries is
//! rewritten by [`sanitize`] first:
//!
//! - an XML error document (`<Error>…</Error>`) becomes its `Code: Message`;
//! - the value after a credential name (`x-amz-security-token`, `X-Amz-Signature`,
//!   `Authorization`, `Credential`, `Signature`, `SessionToken`, …, followed by `:` or `=`) and
//!   the content of XML elements named like them (`<SignatureProvided>`) become `***`, as do
//!   runs of 100 or more token characters (a session token wherever it appears);
//! - each message is cut to [`MAX_MESSAGE_CHARS`] characters.

use std::fmt;

/// The longest message of a backend error's chain that is kept whole.
pub const MAX_MESSAGE_CHARS: usize = 300;

/// Names whose values are credentials, compared without case at the end of a longer name
/// (`x-amz-security-token`, `X-Amz-Credential`; see [`is_secret_name`]).
const SECRET_NAMES: &[&str] = &[
    "security-token",
    "securitytoken",
    "security_token",
    "session-token",
    "sessiontoken",
    "session_token",
    "secret-access-key",
    "secretaccesskey",
    "secret_access_key",
    "authorization",
    "credential",
    "signature",
    "canonicalrequest",
    "stringtosign",
];

/// Runs of this many token characters (base64, hex, URL-encoding) are redacted wherever they
/// are: no word of an error message is that long, and session tokens are longer.
const LONG_TOKEN: usize = 100;

/// A backend's error as fleetctl shows it: each message of the chain sanitized (see the
/// module docs), the chain kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendError {
    message: String,
    source: Option<Box<BackendError>>,
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// `err` and its causes, each message sanitized. A message that ends with its cause's (as
/// object_store's do, at every level) keeps only its own part, so the server's answer is
/// printed once.
pub fn sanitize(err: &(dyn std::error::Error + 'static)) -> BackendError {
    let mut raw = Vec::new();
    let mut cause = Some(err);
    while let Some(e) = cause {
        raw.push(e.to_string());
        cause = e.source();
    }
    let mut messages = Vec::with_capacity(raw.len());
    for (i, message) in raw.iter().enumerate() {
        let own = match raw.get(i + 1) {
            Some(inner) if !inner.is_empty() && message.len() > inner.len() => message
                .strip_suffix(inner.as_str())
                .map(|m| m.trim_end_matches([' ', ':', '-']))
                .filter(|m| !m.is_empty())
                .unwrap_or(message),
            _ => message,
        };
        messages.push(sanitize_text(own));
    }
    let mut chain: Option<Box<BackendError>> = None;
    for message in messages.into_iter().rev() {
        chain = Some(Box::new(BackendError {
            message,
            source: chain,
        }));
    }
    chain.map_or_else(
        || BackendError {
            message: String::new(),
            source: None,
        },
        |b| *b,
    )
}

/// One message, sanitized (see the module docs).
pub fn sanitize_text(text: &str) -> String {
    let text = summarize_xml_errors(text);
    let text = redact_named_values(&text);
    let text = redact_long_tokens(&text);
    truncate(&text, MAX_MESSAGE_CHARS)
}

/// The text of the first `<tag>…</tag>` in `xml`.
fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].trim())
}

/// Replaces each XML error document (from `<?xml` or `<Error>` to `</Error>`, or to the end)
/// with `Code: Message`.
fn summarize_xml_errors(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("<Error>") {
        let start = rest[..at].rfind("<?xml").unwrap_or(at);
        out.push_str(&rest[..start]);
        let doc_end = rest[at..]
            .find("</Error>")
            .map(|i| at + i + "</Error>".len());
        let doc = &rest[at..doc_end.unwrap_or(rest.len())];
        let summary = match (element(doc, "Code"), element(doc, "Message")) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_string(),
            _ => "an XML error document".to_string(),
        };
        out.push_str(&summary);
        rest = &rest[doc_end.unwrap_or(rest.len())..];
    }
    out.push_str(rest);
    out
}

fn is_value_end(c: char) -> bool {
    c.is_whitespace() || matches!(c, '&' | ',' | ';' | '"' | '\'' | '<' | '>' | ')')
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// True for a name whose value is a credential: one ending in a [`SECRET_NAMES`] entry,
/// optionally followed by `Provided` or `Bytes` (`X-Amz-Signature`, `SignatureProvided`,
/// `CanonicalRequestBytes`), but not `SignatureDoesNotMatch` or `SignedHeaders`.
fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let base = name
        .strip_suffix("provided")
        .or_else(|| name.strip_suffix("bytes"))
        .unwrap_or(&name);
    SECRET_NAMES.iter().any(|s| base.ends_with(s))
}

/// `name: value`, `name=value` and `<Name>value</Name>` for every credential name.
fn redact_named_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < text.len() {
        let starts_name = text[i..].starts_with(is_name_char) && !text[..i].ends_with(is_name_char);
        if !starts_name {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let j = text[i..]
            .find(|c: char| !is_name_char(c))
            .map_or(text.len(), |k| i + k);
        if !is_secret_name(&text[i..j]) {
            i = j;
            continue;
        }
        // A separator: `:` or `=` (after blanks, or a closing quote of a JSON key), or the
        // `>` that ends an XML start tag.
        let after = &text[j..];
        let separator = after
            .char_indices()
            .take_while(|&(k, c)| c == ' ' || (k == 0 && c == '"'))
            .last()
            .map_or(0, |(k, c)| k + c.len_utf8());
        let value_start = match after[separator..].chars().next() {
            Some(':' | '=' | '>') => j + separator + 1,
            _ => {
                i = j;
                continue;
            }
        };
        // An XML element's value runs to its closing tag; any other to a delimiter, after
        // blanks and an opening quote.
        let xml = text[j + separator..].starts_with('>');
        let lead = text[value_start..]
            .char_indices()
            .take_while(|&(_, c)| c == ' ' || c == '"' || c == '\'')
            .last()
            .map_or(0, |(k, c)| k + c.len_utf8());
        let start = value_start + lead;
        let end = if xml {
            text[start..].find('<').map_or(text.len(), |k| start + k)
        } else {
            text[start..]
                .find(is_value_end)
                .map_or(text.len(), |k| start + k)
        };
        if end > start {
            out.push_str(&text[copied..start]);
            out.push_str("***");
            copied = end;
        }
        i = end.max(j);
    }
    out.push_str(&text[copied..]);
    out
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-' | '%')
}

/// Runs of [`LONG_TOKEN`] or more token characters (separated hex bytes count too: `47 45 54 …`).
fn redact_long_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run_start: Option<usize> = None;
    let mut run_chars = 0;
    let flush = |out: &mut String, run: &str, chars: usize| {
        if chars >= LONG_TOKEN {
            out.push_str("***");
        } else {
            out.push_str(run);
        }
    };
    for (k, c) in text.char_indices() {
        // A space between two-digit hex bytes continues a run of bytes.
        let is_hex_pair = |range: std::ops::Range<usize>| {
            text.get(range)
                .is_some_and(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
        };
        let hex_space = c == ' '
            && run_start.is_some()
            && k >= 2
            && is_hex_pair(k - 2..k)
            && is_hex_pair(k + 1..k + 3);
        if is_token_char(c) || hex_space {
            if run_start.is_none() {
                run_start = Some(k);
                run_chars = 0;
            }
            run_chars += 1;
        } else {
            if let Some(s) = run_start.take() {
                flush(&mut out, &text[s..k], run_chars);
            }
            out.push(c);
        }
    }
    if let Some(s) = run_start {
        flush(&mut out, &text[s..], run_chars);
    }
    out
}

/// At most `max` characters of `text`, saying how many were left out.
fn truncate(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max).collect();
    format!("{kept}… ({} more characters)", count - max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_values_are_redacted_in_every_spelling() {
        let cases = [
            (
                "x-amz-security-token:FQoGZXIvYXdz\nhost:x",
                "x-amz-security-token:***\nhost:x",
            ),
            (
                "GET /b/k?X-Amz-Credential=AKID%2F2025&X-Amz-Signature=abc123&x=1",
                "GET /b/k?X-Amz-Credential=***&X-Amz-Signature=***&x=1",
            ),
            (
                "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20250114/us-east-1/s3/aws4_request, \
                 SignedHeaders=host, Signature=deadbeef",
                "Authorization: *** Credential=***, SignedHeaders=host, Signature=***",
            ),
            (
                "<SignatureProvided>deadbeef</SignatureProvided><Code>X</Code>",
                "<SignatureProvided>***</SignatureProvided><Code>X</Code>",
            ),
            (
                "{\"SessionToken\": \"abc/def+\", \"ok\": 1}",
                "{\"SessionToken\": \"***\", \"ok\": 1}",
            ),
            (
                "the signature we calculated does not match",
                "the signature we calculated does not match",
            ),
            (
                "SignatureDoesNotMatch: The request, SignedHeaders=host",
                "SignatureDoesNotMatch: The request, SignedHeaders=host",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_named_values(input), expected, "{input}");
        }
    }

    #[test]
    fn s3_error_documents_become_code_and_message() {
        let body = "Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\" \
                    encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>The \
                    request signature we calculated does not match</Message><CanonicalRequest>GET\n\
                    x-amz-security-token:tok</CanonicalRequest></Error> (after 0 retries)";
        assert_eq!(
            sanitize_text(body),
            "Server returned non-2xx status code: 403 Forbidden: SignatureDoesNotMatch: The \
             request signature we calculated does not match (after 0 retries)"
        );
    }

    #[test]
    fn long_tokens_and_hex_dumps_are_redacted_and_messages_cut() {
        let token = "A".repeat(120);
        assert_eq!(
            sanitize_text(&format!("token {token} end")),
            "token *** end"
        );
        let hex = "47 45 54 0a ".repeat(30);
        assert_eq!(sanitize_text(&format!("bytes {hex}end")), "bytes *** end");
        // Multi-byte characters next to spaces are no trouble.
        assert_eq!(
            sanitize_text("in 104.486µs - HTTP error"),
            "in 104.486µs - HTTP error"
        );
        let long = "word ".repeat(100);
        let cut = sanitize_text(&long);
        assert!(cut.ends_with("… (200 more characters)"), "{cut}");
        assert_eq!(
            cut.chars().count(),
            300 + "… (200 more characters)".chars().count()
        );
    }

    /// Whatever a server answers, sanitizing never panics (byte offsets stay on characters).
    #[test]
    fn any_text_is_sanitized_without_panicking() {
        let palette = [
            "µ",
            "é",
            "😀",
            " ",
            "<",
            ">",
            ":",
            "=",
            "\"",
            "'",
            "a",
            "F",
            "0",
            "9",
            "/",
            "+",
            "<Error>",
            "</Error>",
            "<Code>",
            "Signature",
            "x-amz-security-token",
            "&",
            ",",
            "AAAAAAAAAAAAAAAAAAAA",
            "47 ",
            "\n",
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..3000 {
            let text: String = (0..rng.usize(0..80))
                .map(|_| palette[rng.usize(0..palette.len())])
                .collect();
            let _ = sanitize_text(&text);
        }
    }
}
