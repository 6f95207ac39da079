//! Test helpers: start a simulator in a temp dir, and sign requests the way OCI clients do,
//! written here from the OCI signing rules (not with the simulator's own code).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use oci_sim::{Sim, SimConfig, SimHandle};

pub struct TestSim {
    pub sim: SimHandle,
    pub client: reqwest::Client,
    signer: std::sync::OnceLock<TestSigner>,
    _dir: tempfile::TempDir,
}

impl TestSim {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(edit: impl FnOnce(&mut SimConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = SimConfig::new(dir.path().join("out"));
        config.seed = Some(42);
        edit(&mut config);
        let sim = Sim::start(config).await.unwrap();
        let client = reqwest::Client::builder()
            // The simulator is on loopback: never through a proxy the environment names.
            .no_proxy()
            // One connection per request: a dropped connection must not poison the next test.
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        Self {
            sim,
            client,
            signer: std::sync::OnceLock::new(),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    pub fn out(&self) -> &Path {
        self.sim.out_dir()
    }

    /// The DEFAULT profile's signer.
    pub fn api_key_signer(&self) -> TestSigner {
        let profile = read_profile(&self.out().join("config"), "DEFAULT");
        let key_id = format!(
            "{}/{}/{}",
            profile("tenancy"),
            profile("user"),
            profile("fingerprint")
        );
        TestSigner::from_pem_file(&PathBuf::from(profile("key_file")), key_id)
    }

    /// The DEFAULT profile's signer, read once.
    pub fn signer(&self) -> &TestSigner {
        self.signer.get_or_init(|| self.api_key_signer())
    }

    /// A signed OCI call with an optional JSON body (API key).
    pub async fn oci(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let text = body.map(|b| b.to_string());
        self.signed(self.signer(), method, path, text.as_deref())
            .await
    }

    /// A signed OCI call with extra (unsigned) headers, e.g. `if-match` or `opc-retry-token`.
    pub async fn oci_with(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        extra: &[(&str, &str)],
    ) -> reqwest::Result<reqwest::Response> {
        let text = body.map(|b| b.to_string());
        let mut req = self.signer().sign(
            method,
            path,
            &self.host(),
            text.as_deref().map(str::as_bytes),
            &httpdate::fmt_http_date(SystemTime::now()),
        );
        for (k, v) in extra {
            req.set_header(k, v);
        }
        self.send(&req, path).await
    }

    /// A PutObject-style call: signed without the body headers (as the SDKs sign it), raw
    /// bytes, `content-type: application/octet-stream` unless `extra` says otherwise.
    pub async fn put_raw(
        &self,
        path: &str,
        body: &[u8],
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.signer().sign_with(
            "PUT",
            path,
            &self.host(),
            Some(body),
            &httpdate::fmt_http_date(SystemTime::now()),
            Some(&["date", "(request-target)", "host"]),
        );
        req.remove_header("x-content-sha256");
        req.set_header("content-type", "application/octet-stream");
        for (k, v) in extra {
            req.set_header(k, v);
        }
        self.send(&req, path).await.unwrap()
    }

    /// Moves the simulated clock forward.
    pub async fn advance(&self, seconds: f64) {
        let resp = self
            .admin(
                "POST",
                "/_sim/time/advance",
                Some(serde_json::json!({"seconds": seconds})),
            )
            .await;
        assert_eq!(resp.status(), 200);
    }

    /// Changes service settings (`PUT /_sim/settings`).
    pub async fn settings(&self, patch: serde_json::Value) {
        let resp = self.admin("PUT", "/_sim/settings", Some(patch)).await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    }

    /// The SESSION profile's signer (`ST$<token>`).
    pub fn session_signer(&self) -> TestSigner {
        let profile = read_profile(&self.out().join("config"), "SESSION");
        let token = std::fs::read_to_string(profile("security_token_file")).unwrap();
        TestSigner::from_pem_file(
            &PathBuf::from(profile("key_file")),
            format!("ST${}", token.trim()),
        )
    }

    /// Sends a signed request with the current date.
    pub async fn signed(
        &self,
        signer: &TestSigner,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> reqwest::Response {
        self.try_signed(signer, method, path, body).await.unwrap()
    }

    /// Like [`TestSim::signed`], keeping connection errors.
    pub async fn try_signed(
        &self,
        signer: &TestSigner,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> reqwest::Result<reqwest::Response> {
        let req = signer.sign(
            method,
            path,
            &self.host(),
            body.map(str::as_bytes),
            &httpdate::fmt_http_date(SystemTime::now()),
        );
        self.send(&req, path).await
    }

    pub fn host(&self) -> String {
        self.sim.local_addr().to_string()
    }

    /// Sends a prepared request to `path` (which may differ from the signed one).
    pub async fn send(&self, req: &Prepared, path: &str) -> reqwest::Result<reqwest::Response> {
        let mut b = self.client.request(
            reqwest::Method::from_bytes(req.method.as_bytes()).unwrap(),
            self.url(path),
        );
        for (k, v) in &req.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        if let Some(body) = &req.body {
            b = b.body(body.clone());
        }
        b.send().await
    }

    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut b = self.client.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            self.url(path),
        );
        if let Some(body) = body {
            b = b.json(&body);
        }
        b.send().await.unwrap()
    }
}

/// Reads one profile of an OCI config file (no DEFAULT inheritance: tests read what is there).
pub fn read_profile(path: &Path, name: &str) -> impl Fn(&str) -> String + use<> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut in_section = false;
    let mut values = std::collections::HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_section = line == format!("[{name}]");
        } else if in_section && let Some((k, v)) = line.split_once('=') {
            values.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    let name = name.to_string();
    move |key: &str| {
        values
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("profile {name} has no {key}"))
    }
}

pub fn pem_to_der(pem: &str) -> Vec<u8> {
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>();
    STANDARD.decode(b64.trim()).unwrap()
}

/// A request ready to send.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl Prepared {
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(k, _)| k != name);
        self.headers.push((name.to_string(), value.to_string()));
    }
    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(k, _)| k != name);
    }
}

/// Signs like the OCI SDKs (section A of the signing fact sheet).
pub struct TestSigner {
    key: RsaKeyPair,
    pub key_id: String,
}

impl TestSigner {
    pub fn from_pem_file(path: &Path, key_id: String) -> Self {
        let pem = std::fs::read_to_string(path).unwrap();
        Self::from_pkcs8(&pem_to_der(&pem), key_id)
    }

    pub fn from_pkcs8(der: &[u8], key_id: String) -> Self {
        Self {
            key: RsaKeyPair::from_pkcs8(der).unwrap(),
            key_id,
        }
    }

    pub fn public_spki_der(&self) -> Vec<u8> {
        use aws_lc_rs::encoding::AsDer as _;
        self.key.public_key().as_der().unwrap().as_ref().to_vec()
    }

    /// Signs `method target` for `host`; `headers_list` overrides the signed header list.
    pub fn sign_with(
        &self,
        method: &str,
        target: &str,
        host: &str,
        body: Option<&[u8]>,
        date: &str,
        headers_list: Option<&[&str]>,
    ) -> Prepared {
        let lower = method.to_ascii_lowercase();
        let mut headers: Vec<(String, String)> = vec![
            ("date".into(), date.to_string()),
            ("host".into(), host.to_string()),
        ];
        let with_body = matches!(lower.as_str(), "post" | "put" | "patch");
        let body_bytes = body.unwrap_or_default().to_vec();
        if with_body {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &body_bytes);
            headers.push(("content-type".into(), "application/json".into()));
            headers.push(("content-length".into(), body_bytes.len().to_string()));
            headers.push(("x-content-sha256".into(), STANDARD.encode(digest.as_ref())));
        }
        let default_list: Vec<&str> = if with_body {
            vec![
                "date",
                "(request-target)",
                "host",
                "content-length",
                "content-type",
                "x-content-sha256",
            ]
        } else {
            vec!["date", "(request-target)", "host"]
        };
        let list = headers_list.map(<[&str]>::to_vec).unwrap_or(default_list);
        let lines: Vec<String> = list
            .iter()
            .map(|h| {
                if *h == "(request-target)" {
                    format!("(request-target): {lower} {target}")
                } else {
                    let v = headers
                        .iter()
                        .find(|(k, _)| k == h)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    format!("{h}: {v}")
                }
            })
            .collect();
        let signing_string = lines.join("\n");
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_string.as_bytes(),
                &mut sig,
            )
            .unwrap();
        headers.push((
            "authorization".into(),
            format!(
                "Signature version=\"1\",keyId=\"{}\",algorithm=\"rsa-sha256\",headers=\"{}\",signature=\"{}\"",
                self.key_id,
                list.join(" "),
                STANDARD.encode(&sig)
            ),
        ));
        Prepared {
            method: method.to_string(),
            headers,
            body: with_body.then_some(body_bytes),
        }
    }

    pub fn sign(
        &self,
        method: &str,
        target: &str,
        host: &str,
        body: Option<&[u8]>,
        date: &str,
    ) -> Prepared {
        self.sign_with(method, target, host, body, date, None)
    }
}

pub async fn json(resp: reqwest::Response) -> serde_json::Value {
    resp.json().await.unwrap()
}

/// Asserts an OCI error: status, code, and an opc-request-id header.
pub async fn assert_oci_error(resp: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(resp.status().as_u16(), status, "unexpected status");
    assert!(
        resp.headers().get("opc-request-id").is_some(),
        "error response without opc-request-id"
    );
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "application/json"
    );
    let body = json(resp).await;
    assert_eq!(body["code"], code, "body: {body}");
    body["message"].as_str().unwrap().to_string()
}
