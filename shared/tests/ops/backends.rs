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
