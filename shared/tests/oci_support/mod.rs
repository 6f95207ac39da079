//! Helpers shared by the `oci_*` integration tests: the SDK signing vectors, test keys and
//! files, temporary config trees and a tracing capture.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fleetctl_core::oci::keys::SigningKey;
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::datetime;

/// The date pinned in every vector: `Tue, 14 Jan 2025 08:00:00 GMT`.
pub const VECTOR_DATE: OffsetDateTime = datetime!(2025-01-14 08:00:00 UTC);
/// The passphrase of every encrypted test key.
pub const PASSPHRASE: &str = "test-passphrase";

/// `shared/tests/data/oci/<name>`.
pub fn data_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/oci")
        .join(name)
}

/// The text of a test data file.
pub fn data(name: &str) -> String {
    std::fs::read_to_string(data_path(name)).unwrap()
}

/// The vector file (the repository copy; tests never read outside the repository).
pub fn vectors_file() -> Value {
    serde_json::from_str(&data("oci-signing-vectors.json")).unwrap()
}

/// The vector called `name`.
pub fn vector(name: &str) -> Value {
    vectors_file()["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no vector {name}"))
}

/// `key_material.<form>` of the vector file.
pub fn key_pem(form: &str) -> String {
    vectors_file()["key_material"][form]
        .as_str()
        .unwrap()
        .to_string()
}

/// The vector test key.
pub fn vector_key() -> SigningKey {
    SigningKey::from_pem(&key_pem("private_key_pkcs8_pem"), None).unwrap()
}

/// `fixed_inputs.<name>`.
pub fn fixed(name: &str) -> String {
    vectors_file()["fixed_inputs"][name]
        .as_str()
        .unwrap()
        .to_string()
}

/// `tokens.<name>`.
pub fn token(name: &str) -> String {
    vectors_file()["tokens"][name].as_str().unwrap().to_string()
}

/// A JWT with these claims (not validly signed; only claims matter to the client).
pub fn jwt(claims: Value) -> String {
    fleetctl_core::oci::token::unsigned_test_jwt(&claims)
}

/// Verifies an RSASSA-PKCS1-v1_5/SHA-256 signature with the public key, independently of the
/// signer under test.
pub fn verify(public_key_der: &[u8], message: &[u8], signature_b64: &str) -> bool {
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(signature_b64)
        .unwrap();
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        public_key_der,
    )
    .verify(message, &sig)
    .is_ok()
}

/// The `signature="…"` parameter of an Authorization header.
pub fn signature_param(authorization: &str) -> String {
    param(authorization, "signature")
}

/// A `name="…"` parameter of an Authorization header.
pub fn param(authorization: &str, name: &str) -> String {
    let start = authorization.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    let end = authorization[start..].find('"').unwrap() + start;
    authorization[start..end].to_string()
}

/// Captured tracing events (level and rendered fields) while the guard lives.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<(tracing::Level, String)>>>);

impl Captured {
    pub fn events(&self) -> Vec<(tracing::Level, String)> {
        self.0.lock().unwrap().clone()
    }
    pub fn warnings(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|(l, _)| *l == tracing::Level::WARN)
            .map(|(_, s)| s)
            .collect()
    }
    pub fn all_text(&self) -> String {
        self.events()
            .into_iter()
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

struct CaptureSubscriber(Captured);

struct FieldText(String);

impl tracing::field::Visit for FieldText {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl tracing::Subscriber for CaptureSubscriber {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = FieldText(String::new());
        event.record(&mut text);
        (self.0)
            .0
            .lock()
            .unwrap()
            .push((*event.metadata().level(), text.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Installs a capturing subscriber for the current thread until the guard is dropped.
pub fn capture_tracing() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let guard = tracing::subscriber::set_default(CaptureSubscriber(captured.clone()));
    (captured, guard)
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, contents).unwrap();
    path
}
