//! Identity operations: the cheap calls that prove credentials work (`auth validate`) and
//! find availability domains.
//!
//! Response types are camelCase, ignore unknown fields, and keep unknown enum values as
//! `Unknown(<value>)` instead of failing.

use http::Method;
use serde::{Deserialize, Serialize};

use super::client::{OciClient, OciRequest, encode_path_segment};
use super::endpoints::Service;
use super::error::OciError;
use super::wire::open_enum;
use crate::ids::{CompartmentId, TenancyId, UserId};

open_enum!(
    /// `User.lifecycleState`.
    UserLifecycleState {
        /// Being created.
        Creating => "CREATING",
        /// Usable.
        Active => "ACTIVE",
        /// Blocked or disabled.
        Inactive => "INACTIVE",
        /// Being deleted.
        Deleting => "DELETING",
        /// Deleted.
        Deleted => "DELETED",
    }
);

open_enum!(
    /// `RegionSubscription.status`.
    RegionSubscriptionStatus {
        /// Subscribed and usable.
        Ready => "READY",
        /// Subscription in progress.
        InProgress => "IN_PROGRESS",
    }
);

/// An IAM user (GetUser).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The user OCID.
    pub id: UserId,
    /// The tenancy the user belongs to.
    #[serde(default)]
    pub compartment_id: Option<CompartmentId>,
    /// The login name.
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// Lifecycle state.
    #[serde(default)]
    pub lifecycle_state: Option<UserLifecycleState>,
    /// MFA activated.
    #[serde(default)]
    pub is_mfa_activated: Option<bool>,
    /// Creation time (RFC 3339).
    #[serde(default)]
    pub time_created: Option<String>,
}

/// A tenancy (GetTenancy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenancy {
    /// The tenancy OCID.
    pub id: TenancyId,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Home region key, e.g. `PHX`.
    #[serde(default)]
    pub home_region_key: Option<String>,
}

/// One region the tenancy is subscribed to (ListRegionSubscriptions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionSubscription {
    /// Region key, e.g. `PHX`.
    pub region_key: String,
    /// Region id, e.g. `us-phoenix-1`.
    pub region_name: String,
    /// Subscription status.
    #[serde(default)]
    pub status: Option<RegionSubscriptionStatus>,
    /// True for the home region.
    #[serde(default)]
    pub is_home_region: Option<bool>,
}

/// An availability domain (ListAvailabilityDomains).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilityDomain {
    /// The name used in LaunchInstance, e.g. `Uocm:PHX-AD-1`.
    pub name: String,
    /// The AD OCID.
    #[serde(default)]
    pub id: Option<String>,
    /// The compartment listed.
    #[serde(default)]
    pub compartment_id: Option<CompartmentId>,
}

fn identity_path(rest: &str) -> String {
    format!("{}{rest}", Service::Identity.api_prefix())
}

/// `GET /20160918/users/{userId}`: the best "are my API key and user OCID valid" probe.
pub async fn get_user(client: &OciClient, user: &UserId) -> Result<User, OciError> {
    let req = OciRequest::new(
        "GetUser",
        Service::Identity,
        Method::GET,
        identity_path(&format!("/users/{}", encode_path_segment(user.as_str()))),
    );
    client.send_json(&req).await
}

/// `GET /20160918/tenancies/{tenancyId}`.
pub async fn get_tenancy(client: &OciClient, tenancy: &TenancyId) -> Result<Tenancy, OciError> {
    let req = OciRequest::new(
        "GetTenancy",
        Service::Identity,
        Method::GET,
        identity_path(&format!(
            "/tenancies/{}",
            encode_path_segment(tenancy.as_str())
        )),
    );
    client.send_json(&req).await
}

/// `GET /20160918/tenancies/{tenancyId}/regionSubscriptions`.
pub async fn list_region_subscriptions(
    client: &OciClient,
    tenancy: &TenancyId,
) -> Result<Vec<RegionSubscription>, OciError> {
    let req = OciRequest::new(
        "ListRegionSubscriptions",
        Service::Identity,
        Method::GET,
        identity_path(&format!(
            "/tenancies/{}/regionSubscriptions",
            encode_path_segment(tenancy.as_str())
        )),
    );
    client.send_json(&req).await
}

/// `GET /20160918/availabilityDomains?compartmentId=…`, every page (`opc-next-page`).
pub async fn list_availability_domains(
    client: &OciClient,
    compartment: &CompartmentId,
) -> Result<Vec<AvailabilityDomain>, OciError> {
    let req = OciRequest::new(
        "ListAvailabilityDomains",
        Service::Identity,
        Method::GET,
        identity_path("/availabilityDomains"),
    )
    .query("compartmentId", compartment.as_str());
    client.list_all(&req).await
}
