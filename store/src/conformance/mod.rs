//! The [`Store`] conformance suite: what every backend must do, through the trait only, as the
//! daemon uses it — sessions, commands with idempotency keys and history cursors, the event
//! log's seqs, patches with their journals, session leases — including the races of one
//! instance and of two (two daemons over the same data). Written once here; each backend's
//! tests run it with [`run_all`] on a [`Backend`] that makes empty storage per case, then add
//! the tests only that backend needs (SQLite's file, DynamoDB's tables and errors).
//!
//! Compiled only with the `conformance` feature, which the backends enable for their tests
//! (dev-dependencies), so the suite never ships in the `devflow` binary.

pub mod fixtures;

mod commands;
mod events;
mod leases;
mod patches;
mod sessions;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;

use crate::Store;

pub use commands::*;
pub use events::*;
pub use leases::*;
pub use patches::*;
pub use sessions::*;

/// One backend's storage, empty when made: [`Storage::open`] gives another store instance
/// over the same data each call (a second daemon, or the same one restarted).
#[async_trait]
pub trait Storage: Send + Sync {
    async fn open(&self) -> Arc<dyn Store>;

    /// How many events each of the eight writers of
    /// [`event_seqs_have_no_gaps_under_concurrent_appends`] appends: enough interleaving to
    /// lose a race; a backend behind a network asks for fewer.
    fn appends_per_writer(&self) -> usize {
        200
    }
}

/// Makes empty storage for each case.
#[async_trait]
pub trait Backend: Send + Sync {
    async fn fresh(&self) -> Box<dyn Storage>;
}

/// What a case returns: the future that runs it on the storage it was given.
pub type CaseRun<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// One case of the suite: a name for the output, and the case itself.
#[derive(Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    pub run: for<'a> fn(&'a dyn Storage) -> CaseRun<'a>,
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        /// Every case, in the order [`run_all`] runs them.
        pub const CASES: &[Case] = &[$(Case {
            name: stringify!($name),
            run: |storage| Box::pin($name(storage)),
        }),*];
    };
}

cases![
    session_round_trips_and_put_replaces_it,
    unknown_ids_read_as_none_or_empty,
    sessions_are_listed_oldest_first_and_a_replace_does_not_reorder_them,
    first_event_gets_seq_1_and_each_session_counts_on_its_own,
    append_event_returns_exactly_what_is_read_back,
    events_after_returns_later_seqs_ascending_at_most_limit,
    event_seqs_have_no_gaps_under_concurrent_appends,
    a_reused_idempotency_key_returns_the_earlier_command_and_stores_nothing,
    an_idempotency_key_is_scoped_to_its_session_and_no_key_is_never_a_duplicate,
    concurrent_inserts_with_one_key_store_exactly_one_command,
    update_command_replaces_the_stored_command,
    updating_a_command_that_was_never_inserted_is_an_error,
    inserting_a_command_id_twice_is_an_error,
    unfinished_commands_are_the_non_final_ones_of_every_session_in_submission_order,
    command_pages_walk_newest_first_without_gaps_or_duplicates,
    a_full_last_page_has_no_next_cursor,
    commands_submitted_after_a_cursor_was_given_do_not_shift_later_pages,
    a_cursor_that_was_not_given_out_for_this_session_is_invalid,
    patch_journal_bytes_round_trip_exactly,
    put_patch_replaces_it_and_keeps_the_first_stored_order,
    interrupted_patches_are_those_still_applying_in_every_session,
    delete_session_removes_everything_of_that_session_and_nothing_else,
    a_second_instance_finds_every_write_and_continues_the_seqs,
    two_instances_appending_to_fifty_sessions_leave_no_gap_or_duplicate,
    one_idempotency_key_sent_to_two_instances_stores_one_command,
    a_journal_larger_than_an_item_round_trips_and_a_replace_drops_the_old_one,
    a_lease_is_held_renewed_released_and_taken_over_after_expiry,
    two_instances_claiming_one_free_lease_grant_it_once,
    sixteen_claims_of_an_expired_lease_hand_it_to_exactly_one_new_owner,
];

/// Runs every case of [`CASES`], each on fresh storage, naming the case on its way in (a
/// failure's output then says which).
pub async fn run_all(backend: &dyn Backend) {
    for case in CASES {
        eprintln!("conformance case: {}", case.name);
        let storage = backend.fresh().await;
        (case.run)(&*storage).await;
    }
    eprintln!("conformance: all {} cases passed", CASES.len());
}
