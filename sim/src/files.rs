//! The files the simulator writes into its output directory: the OCI CLI config with its
//! DEFAULT (API key) and SESSION (session token) profiles and resource-principal files. No
//! fleet file: the simulator does not know fleetctl's format (fleetctl writes its demo fleet
//! file from [`crate::SimHandle::seeded`]).

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use crate::services::auth_service::{AuthState, ResourcePrincipal};
use crate::state::{REGION, SeededIds};

/// A file that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Where every output file goes (all absolute).
#[derive(Debug, Clone)]
pub struct OutFiles {
    pub dir: PathBuf,
    pub key_pem: PathBuf,
    pub config: PathBuf,
    pub session_token: PathBuf,
    pub session_key: PathBuf,
    pub rpst: PathBuf,
    pub rp_key: PathBuf,
    pub rp_env: PathBuf,
}

impl OutFiles {
    /// `dir` must already be absolute.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            key_pem: dir.join("key.pem"),
            config: dir.join("config"),
            session_token: dir.join("session").join("token"),
            session_key: dir.join("session").join("key.pem"),
            rpst: dir.join("rp").join("rpst"),
            rp_key: dir.join("rp").join("private.pem"),
            rp_env: dir.join("rp").join("env"),
            dir,
        }
    }

    /// Writes every file (called once at start).
    pub fn write_all(&self, auth: &AuthState, seeded: &SeededIds) -> Result<(), WriteError> {
        write_file(
            &self.key_pem,
            auth.api_key.private_pkcs8_pem().as_bytes(),
            0o600,
        )?;
        write_file(
            &self.session_key,
            auth.session_key.private_pkcs8_pem().as_bytes(),
            0o600,
        )?;
        write_file(
            &self.session_token,
            auth.session_token.expose().as_bytes(),
            0o600,
        )?;
        write_file(
            &self.config,
            self.config_text(auth, seeded).as_bytes(),
            0o600,
        )?;
        self.write_resource_principal(&auth.rp)?;
        write_file(&self.rp_env, self.rp_env_text().as_bytes(), 0o644)
    }

    /// (Re)writes the RPST and its private key; each file is replaced atomically.
    pub fn write_resource_principal(&self, rp: &ResourcePrincipal) -> Result<(), WriteError> {
        write_file(&self.rp_key, rp.key.private_pkcs8_pem().as_bytes(), 0o600)?;
        write_file(&self.rpst, rp.token.expose().as_bytes(), 0o600)
    }

    fn config_text(&self, auth: &AuthState, seeded: &SeededIds) -> String {
        format!(
            "# Written by oci-sim: credentials the simulator trusts (and nothing else does).\n\
             [DEFAULT]\n\
             user={user}\n\
             fingerprint={fp}\n\
             tenancy={tenancy}\n\
             region={REGION}\n\
             key_file={key}\n\
             \n\
             # Session-token auth (`oci session authenticate` shape). Note: INI readers with\n\
             # DEFAULT inheritance (Python's configparser) also see DEFAULT's `user` here.\n\
             [SESSION]\n\
             fingerprint={sfp}\n\
             key_file={skey}\n\
             tenancy={tenancy}\n\
             region={REGION}\n\
             security_token_file={stoken}\n",
            user = seeded.user,
            fp = auth.api_key.md5_fingerprint(),
            tenancy = seeded.tenancy,
            key = self.key_pem.display(),
            sfp = auth.session_key.md5_fingerprint(),
            skey = self.session_key.display(),
            stoken = self.session_token.display(),
        )
    }

    fn rp_env_text(&self) -> String {
        format!(
            "OCI_RESOURCE_PRINCIPAL_VERSION=2.2\n\
             OCI_RESOURCE_PRINCIPAL_RPST={}\n\
             OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM={}\n\
             OCI_RESOURCE_PRINCIPAL_REGION={REGION}\n",
            self.rpst.display(),
            self.rp_key.display()
        )
    }
}

/// Writes `bytes` to `path` with `mode` through a temporary file and a rename, so a reader
/// never sees half a file; creates the parent directory.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WriteError> {
    let err = |source| WriteError {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)
}
