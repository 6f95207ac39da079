//! The secrets of a test run and the one check that none of them was printed.
//!
//! [`Secrets::of_sim`] reads what the simulator wrote into its directory (the API key, the
//! session token and its key, the resource-principal token and its key); tests add their own
//! (the API bearer token, a passphrase) with [`Secrets::with`]. [`assert_no_secrets`] then
//! fails naming the secret (by label, never by value) and where it was seen.
//!
//! Besides the exact values, two shapes are refused whatever their origin, so secrets the
//! harness cannot list in advance (an instance-principal token the simulator issued during
//! the run, the leaf key IMDS served) are caught too: a PEM private-key armour line and a
//! JSON web token (`eyJ….eyJ….<signature>`).

use std::path::Path;

/// The test secrets: each needle with a label that names it in a failure.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    needles: Vec<(String, String)>,
}

/// The passphrase the tests use for encrypted keys (`shared/tests/oci`'s fixtures).
pub const TEST_PASSPHRASE: &str = "test-passphrase";

/// Shortest needle: anything shorter could occur in honest output by chance.
const MIN_NEEDLE: usize = 8;

impl Secrets {
    /// No secrets yet (only the shapes [`assert_no_secrets`] always refuses).
    pub fn new() -> Self {
        Self::default()
    }

    /// The secrets a simulator wrote into `sim`'s directory (see `sim/README.md`, "What it
    /// writes into DIR"), plus [`TEST_PASSPHRASE`].
    pub fn of_sim(sim: &oci_sim::SimHandle) -> Self {
        Self::of_sim_dir(sim.out_dir())
    }

    /// [`Secrets::of_sim`] for a simulator directory (e.g. one `fleetctl demo` wrote).
    pub fn of_sim_dir(dir: &Path) -> Self {
        let mut s = Self::new().with("test passphrase", TEST_PASSPHRASE);
        for (label, file) in [
            ("API private key (key.pem)", "key.pem"),
            ("session private key", "session/key.pem"),
            ("resource-principal private key", "rp/private.pem"),
        ] {
            // Every simulator writes these; a check that found none would prove nothing.
            let pem = std::fs::read_to_string(dir.join(file))
                .unwrap_or_else(|e| panic!("{label}: {}: {e}", dir.join(file).display()));
            s = s.with_pem(label, &pem);
        }
        for (label, file) in [
            ("session token", "session/token"),
            ("resource-principal token", "rp/rpst"),
        ] {
            let token = std::fs::read_to_string(dir.join(file))
                .unwrap_or_else(|e| panic!("{label}: {}: {e}", dir.join(file).display()));
            s = s.with_token(label, token.trim());
        }
        s
    }

    /// Adds one secret value (refused when shorter than 8 characters: a needle that short
    /// could match honest output).
    pub fn with(mut self, label: &str, value: &str) -> Self {
        assert!(
            value.len() >= MIN_NEEDLE,
            "secret `{label}` is too short to search for"
        );
        self.needles.push((label.to_string(), value.to_string()));
        self
    }

    /// Adds a PEM key: each base64 line of its body (any rewrapping of the body still holds
    /// every full line), and a 32-character slice from its middle.
    pub fn with_pem(mut self, label: &str, pem: &str) -> Self {
        let body: Vec<&str> = pem
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("-----") && !l.contains(':') && l.len() >= 40)
            .collect();
        assert!(!body.is_empty(), "`{label}` is not a PEM key");
        for (i, line) in body.iter().enumerate() {
            self.needles
                .push((format!("{label}, line {}", i + 1), line.to_string()));
        }
        let joined: String = body.concat();
        let mid = joined.len() / 2;
        self.needles.push((
            format!("{label}, base64 slice"),
            joined[mid..mid + 32].to_string(),
        ));
        self
    }

    /// Adds a JWT: its signature, and a slice of its payload (claims after the common
    /// prefix), so a token printed in part is caught too.
    pub fn with_token(mut self, label: &str, token: &str) -> Self {
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "`{label}` is not a JWT");
        let payload = parts[1];
        let start = (payload.len() / 2).min(payload.len().saturating_sub(24));
        self.needles.push((
            format!("{label}, payload"),
            payload[start..(start + 24).min(payload.len())].to_string(),
        ));
        self.needles
            .push((format!("{label}, signature"), parts[2].to_string()));
        self
    }

    /// How many needles are searched for (a test can assert it is not zero).
    pub fn len(&self) -> usize {
        self.needles.len()
    }

    /// True when only the shapes are checked.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// The first secret `text` holds, as `label`; `None` when clean.
    pub fn find_in(&self, text: &str) -> Option<String> {
        if let Some((label, _)) = self.needles.iter().find(|(_, n)| text.contains(n)) {
            return Some(label.clone());
        }
        if text.contains("PRIVATE KEY-----") {
            return Some("a PEM private key".into());
        }
        if has_jwt(text) {
            return Some("a JSON web token".into());
        }
        None
    }
}

/// Fails the test when `text` holds any of `secrets` (named by label, not printed) or a
/// private-key or token shape. `what` says where the text came from.
pub fn assert_no_secrets(what: &str, text: &str, secrets: &Secrets) {
    if let Some(label) = secrets.find_in(text) {
        panic!("{what} contains a secret: {label} (output withheld; it holds the secret)");
    }
}

/// True when `text` holds `eyJ<b64url>.eyJ<b64url>.<b64url of 20+>`: a JWT whose header and
/// payload are JSON objects, with a signature.
fn has_jwt(text: &str) -> bool {
    let b64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.match_indices("eyJ").any(|(i, _)| {
        let rest = &text[i..];
        let mut parts = rest.splitn(3, '.');
        let (Some(header), Some(payload), Some(tail)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        let signature: String = tail.chars().take_while(|&c| b64(c)).collect();
        header.len() > 10
            && header.chars().all(b64)
            && payload.starts_with("eyJ")
            && payload.len() > 10
            && payload.chars().all(b64)
            && signature.len() >= 20
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_kind_and_passes_clean_text() {
        let pem = "-----BEGIN PRIVATE KEY-----\n\
                   MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n\
                   MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n\
                   -----END PRIVATE KEY-----\n";
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvY2lkMS51c2VyLm9jMS4uYWFhYSJ9.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl";
        let s = Secrets::new()
            .with_pem("key", pem)
            .with_token("token", token)
            .with("api token", "test-token-0123456789");
        assert_eq!(
            s.find_in("all fine: fingerprint aa:bb, ocid1.instance"),
            None
        );
        // A key line, even rewrapped into one line.
        let one_line = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>();
        assert_eq!(s.find_in(&one_line).as_deref(), Some("key, line 1"));
        assert!(
            s.find_in("x: MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu")
                .is_some()
        );
        assert!(s.find_in(&format!("Bearer {token}")).is_some());
        assert!(
            s.find_in("authorization: Bearer test-token-0123456789")
                .is_some()
        );
        // Shapes with no listed value.
        let other = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJvdGhlciJ9.b3RoZXJzaWduYXR1cmVvdGhlcnNpZw";
        assert_eq!(
            Secrets::new().find_in(other).as_deref(),
            Some("a JSON web token")
        );
        assert!(
            Secrets::new()
                .find_in("-----BEGIN RSA PRIVATE KEY-----")
                .is_some()
        );
        // A JWT-looking prefix that is not a token.
        assert_eq!(Secrets::new().find_in("eyJ.eyJ.x"), None);
    }

    #[test]
    fn assert_no_secrets_names_the_label_not_the_value() {
        let s = Secrets::new().with("api token", "test-token-0123456789");
        let err = std::panic::catch_unwind(|| {
            assert_no_secrets("stderr", "token test-token-0123456789", &s)
        })
        .unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(msg.contains("api token"), "{msg}");
        assert!(!msg.contains("0123456789"), "{msg}");
    }
}
