//! Talking to OCI: credential providers, the request signer and the REST client.
//!
//! - [`signer`]: the pure request signer (draft-cavage-http-signatures, `rsa-sha256`).
//! - [`keys`]: PEM private keys (PKCS#1, PKCS#8, encrypted), fingerprints, session keys.
//! - [`token`]: security tokens (JWT) with redacted formatting.
//! - [`auth`]: credential providers (API key, session token, instance and resource
//!   principals) and their selection from plain settings.
//! - [`region`], [`endpoints`]: regions, realms, service hosts and the endpoint override.
//! - [`client`], [`retry`], [`error`]: the REST client core, its retry policy and errors.
//! - [`objectstorage`]: Object Storage operations (PutObject, GetObject, ListObjects, …).
//! - [`identity`]: identity operations (GetUser, GetTenancy, …).
//! - [`compute`]: instances (launch, get, list, terminate, power actions) and fleet discovery;
//!   [`tags`]: the tagging scheme that marks fleetctl's instances.
//! - [`network`]: VNIC attachments, VNICs and an instance's primary private IP.
//! - [`backends`]: one view of a load balancer's backend set (reads, and mutations in a start
//!   form and a waiting form), implemented for classic and network load balancers alike by
//!   [`backend_set`]; work requests and per-LB turns in [`workrequest`].
//! - [`wire`]: open enums, `opc-retry-token`s and OCI's error body, shared by the service
//!   modules.
//!
//! Below `oci` on the core's ladder: typed ids ([`crate::ids`]), injected time and environment
//! ([`crate::clock`], [`crate::env`]) and the HTTP client ([`crate::http`]).
//!
//! Secrets (private keys, passphrases, tokens) never appear in a `Debug`/`Display` output, a
//! log line or an error message of this module.

pub mod auth;
pub mod backend_set;
pub mod backends;
pub mod client;
pub mod compute;
pub mod endpoints;
pub mod error;
pub mod identity;
pub mod keys;
pub mod network;
pub mod objectstorage;
pub mod pages;
pub mod region;
pub mod retry;
pub mod signer;
pub mod tags;
pub mod token;
pub mod wire;
pub mod workrequest;

pub use crate::env::Env;
pub use auth::{
    AuthContext, AuthError, AuthMethod, AuthSettings, CredentialProvider, Credentials, Principal,
    PrincipalKind, build_provider,
};
pub use backend_set::BackendSetClient;
pub use backends::{
    Backend, BackendName, BackendUpdate, DeleteStarted, Deleted, LbError, LoadBalancerBackends,
    MutationStarted, NewBackend,
};
pub use client::{OciClient, OciRequest, OciResponse};
pub use endpoints::{Endpoints, Service};
pub use error::{ErrorKind, OciError, ServiceError};
pub use region::Region;
pub use tags::FleetTags;
pub use wire::RetryToken;
pub use workrequest::{Deadline, WaitPolicy, WorkRequestCheck, WorkRequestState};
