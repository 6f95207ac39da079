//! The backends conformance suite (`backends_support/conformance.rs`) run against both kinds
//! of load balancer in the simulator, as the store conformance suite runs against every store:
//! every case is one test per kind (`classic::…`, `network::…`).
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use crate::backends_support;

use backends_support::{Target, conformance};
use fleetctl_core::config::LoadBalancerType;

macro_rules! conformance_suite {
    ($($case:ident),+ $(,)?) => {
        mod classic {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    conformance::$case(Target::start(LoadBalancerType::Classic).await).await;
                }
            )+
        }
        mod network {
            use super::*;
            $(
                #[tokio::test]
                async fn $case() {
                    conformance::$case(Target::start(LoadBalancerType::Network).await).await;
                }
            )+
        }
    };
}

conformance_suite!(
    a_created_backend_is_live_when_the_call_returns,
    a_failed_work_request_is_an_error_with_its_message,
    a_duplicate_backend_is_refused_and_the_first_one_stays,
    concurrent_mutations_of_one_load_balancer_never_overlap,
    without_shared_turns_racing_mutations_meet_409_and_are_sent_again,
    drain_changes_only_drain_and_delete_removes_the_backend,
    backends_are_listed_across_pages,
    backend_health_turns_ok_once_its_instance_runs,
    a_work_request_that_never_finishes_times_out_with_its_id,
    the_fleet_file_type_picks_the_client_of_its_kind,
    mutations_whose_response_was_lost_are_not_done_twice,
    deleting_from_a_missing_backend_set_is_an_error_not_already_absent,
    a_failed_delete_of_a_backend_that_still_exists_is_an_error,
    a_load_balancer_busy_for_the_whole_timeout_is_reported_as_busy,
    a_started_mutation_returns_at_once_and_a_check_follows_its_work_request,
    a_check_of_a_failed_work_request_carries_ocis_message,
    a_start_waits_for_this_process_s_previous_mutation_within_its_deadline,
    updates_and_deletes_can_be_started_and_checked_too,
    a_change_made_elsewhere_between_read_and_write_is_not_lost,
    an_update_that_keeps_meeting_412_gives_up_without_overwriting,
);

mod batched {
    use std::time::Duration;

    use super::*;
    use backends_support::{ip, token};
    use fleetctl_core::oci::backends::{BackendChange, LbError, LoadBalancerBackends, NewBackend};
    use fleetctl_core::oci::workrequest::{MutationLocks, WorkRequestState};

    /// Several backend changes go as one UpdateBackendSet, one work request, applied in
    /// order to the set as read; a change queued elsewhere is not overwritten.
    #[tokio::test]
    async fn the_classic_client_applies_several_changes_in_one_work_request() {
        let t = Target::start(LoadBalancerType::Classic).await;
        let b = t.backends();
        assert!(b.batches());
        let kept = NewBackend::serving(ip(40), 8080, 2);
        let removed = NewBackend::serving(ip(41), 8080, 1);
        b.create_backend(&kept, &token("add-40")).await.unwrap();
        b.create_backend(&removed, &token("add-41")).await.unwrap();
        let before = t.work_requests().await.len();
        let added = NewBackend::serving(ip(42), 8080, 3);
        let deadline = || b.deadline_after(Duration::from_secs(20));
        let started = b
            .start_update_backends(
                &[
                    BackendChange::Add(added),
                    BackendChange::SetDrain {
                        backend: kept.name(),
                        drain: true,
                    },
                    BackendChange::Remove(removed.name()),
                    // Already there: nothing.
                    BackendChange::Add(kept),
                ],
                &token("batch-1"),
                deadline(),
            )
            .await
            .unwrap();
        assert_eq!(started.operation, "UpdateBackendSet");
        let done = b.wait_for(&started, deadline()).await;
        assert!(done.is_ok(), "{done:?}");
        assert_eq!(
            t.work_requests().await.len(),
            before + 1,
            "three changes, one work request"
        );
        let mut got: Vec<(String, u32, bool)> = b
            .list_backends()
            .await
            .unwrap()
            .into_iter()
            .map(|b| (b.name.as_str().to_string(), b.weight, b.drain))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("10.0.0.40:8080".to_string(), 2, true),
                ("10.0.0.42:8080".to_string(), 3, false),
            ]
        );
        let check = b.check_work_request(&started.work_request).await.unwrap();
        assert_eq!(check.state, WorkRequestState::Succeeded);

        // A change another process queued and that is not applied yet would be lost in a
        // full list written now: the update is not sent.
        t.work_requests_take(3000.0).await;
        let elsewhere = t.backends().with_locks(MutationLocks::default());
        let queued = elsewhere
            .start_create_backend(
                &NewBackend::serving(ip(43), 8080, 1),
                &token("add-43"),
                deadline(),
            )
            .await
            .unwrap();
        let sets_before = t.s.calls("UpdateBackendSet").len();
        let err = b
            .start_update_backends(
                &[BackendChange::Remove(kept.name())],
                &token("batch-2"),
                deadline(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, LbError::Busy { .. }), "{err:?}");
        assert_eq!(
            t.s.calls("UpdateBackendSet").len(),
            sets_before,
            "nothing was sent"
        );
        assert!(
            !elsewhere
                .check_work_request(&queued.work_request)
                .await
                .unwrap()
                .state
                .is_terminal()
        );

        // The network load balancer's changes go one by one.
        let nlb = Target::start(LoadBalancerType::Network).await;
        assert!(!nlb.backends().batches());
    }
}
