//! The client's retries against the simulator: a 429 storm ridden out with every attempt
//! signed afresh, a storm longer than the budget, and one credential refresh after a 401.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use crate::oci_ops_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use fleetctl_core::clock::{Clock as _, ManualClock, RecordingSleeper};
use fleetctl_core::env::Env;
use fleetctl_core::oci::auth::{
    AuthContext, AuthError, AuthMethod, AuthSettings, CredentialProvider, Credentials, Principal,
    endpoints_for,
};
use fleetctl_core::oci::build_provider;
use fleetctl_core::oci::client::OciClient;
use fleetctl_core::oci::compute::{self, ListInstancesFilter};
use fleetctl_core::oci::error::ErrorKind;
use fleetctl_core::oci::region::Region;
use fleetctl_core::oci::retry::RetryPolicy;
use oci_ops_support::*;
use serde_json::json;
use time::OffsetDateTime;

/// A client whose clock (the `date` it signs) starts `behind` the real clock and only moves
/// when the retry loop "sleeps" (the sleeper advances it instead of waiting).
async fn client_with_lagging_clock(
    s: &OpsSim,
    behind: Duration,
    policy: RetryPolicy,
) -> (OciClient, ManualClock, RecordingSleeper) {
    let clock = ManualClock::new(OffsetDateTime::now_utc() - behind);
    let sleeper = RecordingSleeper::new(clock.clone());
    let (c, sl) = (clock.clone(), sleeper.clone());
    let client = user_client(&s.sim, move |b| {
        b.retry_policy(policy)
            .clock(Arc::new(c))
            .sleeper(Arc::new(sl))
    })
    .await
    .build()
    .unwrap();
    (client, clock, sleeper)
}

#[tokio::test]
async fn a_date_six_minutes_old_is_refused_by_the_simulator() {
    // The premise of the next test: a signature dated 6 minutes ago does not authenticate.
    let s = OpsSim::start().await;
    let (client, _, _) =
        client_with_lagging_clock(&s, Duration::from_secs(360), RetryPolicy::no_retries()).await;
    let err = compute::list_instances(&client, &s.compartment(), &ListInstancesFilter::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
}

#[tokio::test]
async fn a_429_storm_is_ridden_out_and_every_attempt_is_signed_afresh() {
    let s = OpsSim::start().await;
    s.fault(json!({"operation": "ListInstances", "status": 429, "count": 3}))
        .await;
    // Backoff of 60 s, 120 s, 120 s (+ jitter, capped at 120 s): 300-360 s of virtual waiting.
    // The clock starts 6 minutes behind, so the first attempt's date would be refused (see
    // the test above); the request only authenticates if the attempt that got through was
    // signed after the backoff, with the clock's new date.
    let policy = RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_secs(60),
        max_delay: Duration::from_secs(120),
        max_total: Duration::from_secs(900),
    };
    let (client, clock, sleeper) =
        client_with_lagging_clock(&s, Duration::from_secs(360), policy).await;
    let listed =
        compute::list_instances(&client, &s.compartment(), &ListInstancesFilter::default())
            .await
            .unwrap();
    assert_eq!(listed.len(), 1, "the seeded host instance");

    let calls = s.calls("ListInstances");
    assert_eq!(
        statuses(&calls),
        vec![Some(429), Some(429), Some(429), Some(200)]
    );
    assert!(
        calls
            .iter()
            .all(|c| c.opc_request_id == calls[0].opc_request_id),
        "one logical request: the same opc-request-id on every attempt"
    );
    let slept = sleeper.slept();
    assert_eq!(slept.len(), 3, "{slept:?}");
    let total: Duration = slept.iter().sum();
    assert!(
        (Duration::from_secs(300)..=Duration::from_secs(360)).contains(&total),
        "{slept:?}"
    );
    let lag = OffsetDateTime::now_utc() - clock.now();
    assert!(
        lag.whole_seconds().abs() < 300,
        "the last attempt was dated within the simulator's 5 minute window ({lag})"
    );
}

#[tokio::test]
async fn a_429_storm_longer_than_the_budget_ends_as_throttled() {
    let s = OpsSim::start().await;
    s.fault(json!({"operation": "GetInstance", "status": 429, "count": 50}))
        .await;
    let policy = RetryPolicy {
        max_attempts: 4,
        ..fast_retries()
    };
    let client = user_client(&s.sim, |b| b.retry_policy(policy))
        .await
        .build()
        .unwrap();
    let host = s.sim.host_instance_id().as_str().parse().unwrap();
    let err = compute::get_instance(&client, &host).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Throttled);
    assert!(err.is_throttled());
    let calls = s.calls("GetInstance");
    assert_eq!(statuses(&calls), vec![Some(429); 4]);
    let text = err.to_string();
    assert!(text.contains("after 4 attempts"), "{text}");
    assert!(text.contains(&calls[3].opc_request_id), "{text}");
}

/// Counts refreshes of the real resource-principal provider it wraps.
#[derive(Debug)]
struct CountingProvider {
    inner: Arc<dyn CredentialProvider>,
    refreshes: AtomicU32,
}

#[async_trait]
impl CredentialProvider for CountingProvider {
    async fn credentials(&self) -> Result<Arc<Credentials>, AuthError> {
        self.inner.credentials().await
    }
    async fn refresh_after_unauthorized(&self) -> Result<bool, AuthError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        self.inner.refresh_after_unauthorized().await
    }
    fn region(&self) -> Option<Region> {
        self.inner.region()
    }
    fn principal(&self) -> Principal {
        self.inner.principal()
    }
}

/// A client signing as the simulator's resource principal (the files under `DIR/rp/`).
async fn resource_principal_client(s: &OpsSim) -> (OciClient, Arc<CountingProvider>) {
    let text = std::fs::read_to_string(s.sim.resource_principal_env_file()).unwrap();
    let vars: HashMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let env = Env::from_pairs(vars);
    let settings = AuthSettings {
        method: Some(AuthMethod::Resource),
        endpoint: Some(url::Url::parse(s.sim.base_url()).unwrap()),
        ..AuthSettings::default()
    };
    let ctx = AuthContext::new(env);
    let inner: Arc<dyn CredentialProvider> =
        Arc::from(build_provider(&settings, &ctx).await.unwrap());
    let endpoints = endpoints_for(inner.as_ref(), &settings, &ctx.env).unwrap();
    let counting = Arc::new(CountingProvider {
        inner,
        refreshes: AtomicU32::new(0),
    });
    let client = OciClient::builder(counting.clone(), endpoints)
        .retry_policy(fast_retries())
        .build()
        .unwrap();
    (client, counting)
}

#[tokio::test]
async fn a_401_after_rotation_refreshes_the_credentials_once_and_succeeds() {
    let s = OpsSim::start().await;
    let (client, provider) = resource_principal_client(&s).await;
    compute::list_instances(&client, &s.compartment(), &ListInstancesFilter::default())
        .await
        .unwrap();
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 0);

    // The platform rotates the token: the old one is past its exp for the simulator (its clock
    // jumps 2 h), the new files carry a valid one. The client still holds the old one.
    s.advance(7200.0).await;
    s.admin(
        reqwest::Method::POST,
        "/_sim/rotate/resource-principal",
        None,
    )
    .await;
    s.clear_requests().await;
    compute::list_instances(&client, &s.compartment(), &ListInstancesFilter::default())
        .await
        .unwrap();
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1);
    let calls = s.calls("ListInstances");
    assert_eq!(statuses(&calls), vec![Some(401), Some(200)]);
    assert!(calls.iter().all(|c| c.key_id_kind.is_some()));
}

#[tokio::test]
async fn a_401_that_a_refresh_cannot_fix_is_returned_after_one_retry() {
    let s = OpsSim::start().await;
    let (client, provider) = resource_principal_client(&s).await;
    // The token expires for the simulator and nobody rotates the files.
    s.advance(7200.0).await;
    let err = compute::list_instances(&client, &s.compartment(), &ListInstancesFilter::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1);
    // The files did not change, so the refresh reports "nothing new" and no second attempt
    // is made.
    assert_eq!(statuses(&s.calls("ListInstances")), vec![Some(401)]);
    assert!(err.request_id().is_some());
}

#[tokio::test]
async fn a_call_that_never_gets_an_answer_names_the_request_id_it_sent() {
    let s = OpsSim::start().await;
    s.fault(json!({"operation": "GetInstance", "drop": "before", "count": 50}))
        .await;
    let policy = RetryPolicy {
        max_attempts: 3,
        ..fast_retries()
    };
    let client = user_client(&s.sim, |b| b.retry_policy(policy))
        .await
        .build()
        .unwrap();
    let host = s.sim.host_instance_id().as_str().parse().unwrap();
    let err = compute::get_instance(&client, &host).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport, "{err}");
    let calls = s.calls("GetInstance");
    assert_eq!(calls.len(), 3, "a GET is retried after a lost connection");
    assert!(calls.iter().all(|c| c.dropped.as_deref() == Some("before")));
    assert_eq!(err.request_id(), Some(calls[0].opc_request_id.as_str()));
    assert!(err.to_string().contains(&calls[0].opc_request_id), "{err}");
}
