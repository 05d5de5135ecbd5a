//! The [`Store`] conformance suite: what every backend must do, through the trait only, as
//! the daemon uses it. Round trips, event seqs under concurrency (one instance and two, as
//! two daemons), idempotency, history paging, patch journals (including ones larger than a
//! DynamoDB item), deletion, and a second instance over the same data. The cases are those
//! of `store/tests/sqlite_store.rs` that do not depend on SQLite, plus the multi-instance ones;
//! `tests/sqlite.rs` runs the suite on [`SqliteStore`](devflow_store::SqliteStore) as the
//! anchor, `tests/dynamodb.rs` on DynamoDB (moto).

#![allow(dead_code)] // each test binary uses the suite through `run_all` only

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use devflow_protocol::{CommandStatus, EventBody, PatchState, SessionStatus};
use devflow_store::{Inserted, JournalFile, JournalState, LeaseClaim, Store, StoreError};

#[path = "../../../store/tests/common/mod.rs"]
mod common;
use common::{command, log_event, patch_record, session};

/// One backend's storage: empty when made; [`Storage::open`] gives another store instance
/// over the same data each call (a second daemon, or the same one restarted).
#[async_trait]
pub trait Storage: Send + Sync {
    async fn open(&self) -> Arc<dyn Store>;
}

/// Makes empty storage for each case.
#[async_trait]
pub trait Backend: Send + Sync {
    async fn fresh(&self) -> Box<dyn Storage>;
}

/// Runs every case, each on fresh storage, and names the case on its way in (a failure's
/// output then says which).
pub async fn run_all(backend: &dyn Backend) {
    eprintln!("conformance case: session_round_trips_and_put_replaces_it");
    session_round_trips_and_put_replaces_it(&*backend.fresh().await).await;
    eprintln!("conformance case: unknown_ids_read_as_none_or_empty");
    unknown_ids_read_as_none_or_empty(&*backend.fresh().await).await;
    eprintln!(
        "conformance case: sessions_are_listed_oldest_first_and_a_replace_does_not_reorder_them"
    );
    sessions_are_listed_oldest_first_and_a_replace_does_not_reorder_them(&*backend.fresh().await)
        .await;
    eprintln!("conformance case: first_event_gets_seq_1_and_each_session_counts_on_its_own");
    first_event_gets_seq_1_and_each_session_counts_on_its_own(&*backend.fresh().await).await;
    eprintln!("conformance case: append_event_returns_exactly_what_is_read_back");
    append_event_returns_exactly_what_is_read_back(&*backend.fresh().await).await;
    eprintln!("conformance case: events_after_returns_later_seqs_ascending_at_most_limit");
    events_after_returns_later_seqs_ascending_at_most_limit(&*backend.fresh().await).await;
    eprintln!("conformance case: event_seqs_have_no_gaps_under_concurrent_appends");
    event_seqs_have_no_gaps_under_concurrent_appends(&*backend.fresh().await).await;
    eprintln!(
        "conformance case: a_reused_idempotency_key_returns_the_earlier_command_and_stores_nothing"
    );
    a_reused_idempotency_key_returns_the_earlier_command_and_stores_nothing(
        &*backend.fresh().await,
    )
    .await;
    eprintln!("conformance case: an_idempotency_key_is_scoped_to_its_session_and_no_key_is_never_a_duplicate");
    an_idempotency_key_is_scoped_to_its_session_and_no_key_is_never_a_duplicate(
        &*backend.fresh().await,
    )
    .await;
    eprintln!("conformance case: concurrent_inserts_with_one_key_store_exactly_one_command");
    concurrent_inserts_with_one_key_store_exactly_one_command(&*backend.fresh().await).await;
    eprintln!("conformance case: update_command_replaces_the_stored_command");
    update_command_replaces_the_stored_command(&*backend.fresh().await).await;
    eprintln!("conformance case: updating_a_command_that_was_never_inserted_is_an_error");
    updating_a_command_that_was_never_inserted_is_an_error(&*backend.fresh().await).await;
    eprintln!("conformance case: inserting_a_command_id_twice_is_an_error");
    inserting_a_command_id_twice_is_an_error(&*backend.fresh().await).await;
    eprintln!("conformance case: unfinished_commands_are_the_non_final_ones_of_every_session_in_submission_order");
    unfinished_commands_are_the_non_final_ones_of_every_session_in_submission_order(
        &*backend.fresh().await,
    )
    .await;
    eprintln!("conformance case: command_pages_walk_newest_first_without_gaps_or_duplicates");
    command_pages_walk_newest_first_without_gaps_or_duplicates(&*backend.fresh().await).await;
    eprintln!("conformance case: a_full_last_page_has_no_next_cursor");
    a_full_last_page_has_no_next_cursor(&*backend.fresh().await).await;
    eprintln!(
        "conformance case: commands_submitted_after_a_cursor_was_given_do_not_shift_later_pages"
    );
    commands_submitted_after_a_cursor_was_given_do_not_shift_later_pages(&*backend.fresh().await)
        .await;
    eprintln!("conformance case: a_cursor_that_was_not_given_out_for_this_session_is_invalid");
    a_cursor_that_was_not_given_out_for_this_session_is_invalid(&*backend.fresh().await).await;
    eprintln!("conformance case: patch_journal_bytes_round_trip_exactly");
    patch_journal_bytes_round_trip_exactly(&*backend.fresh().await).await;
    eprintln!("conformance case: put_patch_replaces_it_and_keeps_the_first_stored_order");
    put_patch_replaces_it_and_keeps_the_first_stored_order(&*backend.fresh().await).await;
    eprintln!("conformance case: interrupted_patches_are_those_still_applying_in_every_session");
    interrupted_patches_are_those_still_applying_in_every_session(&*backend.fresh().await).await;
    eprintln!(
        "conformance case: delete_session_removes_everything_of_that_session_and_nothing_else"
    );
    delete_session_removes_everything_of_that_session_and_nothing_else(&*backend.fresh().await)
        .await;
    eprintln!("conformance case: a_second_instance_finds_every_write_and_continues_the_seqs");
    a_second_instance_finds_every_write_and_continues_the_seqs(&*backend.fresh().await).await;
    eprintln!(
        "conformance case: two_instances_appending_to_fifty_sessions_leave_no_gap_or_duplicate"
    );
    two_instances_appending_to_fifty_sessions_leave_no_gap_or_duplicate(&*backend.fresh().await)
        .await;
    eprintln!("conformance case: one_idempotency_key_sent_to_two_instances_stores_one_command");
    one_idempotency_key_sent_to_two_instances_stores_one_command(&*backend.fresh().await).await;
    eprintln!("conformance case: a_journal_larger_than_an_item_round_trips_and_a_replace_drops_the_old_one");
    a_journal_larger_than_an_item_round_trips_and_a_replace_drops_the_old_one(
        &*backend.fresh().await,
    )
    .await;
    eprintln!("conformance case: a_lease_is_held_renewed_released_and_taken_over_after_expiry");
    a_lease_is_held_renewed_released_and_taken_over_after_expiry(&*backend.fresh().await).await;
    eprintln!("conformance case: two_instances_claiming_one_free_lease_grant_it_once");
    two_instances_claiming_one_free_lease_grant_it_once(&*backend.fresh().await).await;
    eprintln!("conformance: all 28 cases passed");
}

pub async fn session_round_trips_and_put_replaces_it(storage: &dyn Storage) {
    let store = storage.open().await;
    let mut s = session("s1", 100);
    store.put_session(&s).await.expect("put");
    assert_eq!(store.get_session("s1").await.expect("get"), Some(s.clone()));

    s.status = SessionStatus::Running;
    s.preview_url = Some("http://127.0.0.1:4000/".into());
    store.put_session(&s).await.expect("replace");
    assert_eq!(store.get_session("s1").await.expect("get"), Some(s.clone()));
    assert_eq!(store.list_sessions().await.expect("list"), vec![s]);
}

pub async fn unknown_ids_read_as_none_or_empty(storage: &dyn Storage) {
    let store = storage.open().await;
    assert_eq!(store.get_session("nope").await.expect("session"), None);
    assert_eq!(store.get_command("nope", "c").await.expect("command"), None);
    assert_eq!(store.get_patch("nope", "p").await.expect("patch"), None);
    assert!(store
        .list_patches("nope")
        .await
        .expect("patches")
        .is_empty());
    assert!(store
        .events_after("nope", 0, 10)
        .await
        .expect("events")
        .is_empty());
    assert_eq!(store.last_seq("nope").await.expect("last seq"), 0);
}

pub async fn sessions_are_listed_oldest_first_and_a_replace_does_not_reorder_them(
    storage: &dyn Storage,
) {
    let store = storage.open().await;
    for (id, created_at) in [
        ("late", 300),
        ("early", 100),
        ("tie-a", 200),
        ("tie-b", 200),
    ] {
        store
            .put_session(&session(id, created_at))
            .await
            .expect("put");
    }
    // Re-putting the first-stored of the tied pair must keep it first.
    let mut tie_a = session("tie-a", 200);
    tie_a.paused = true;
    store.put_session(&tie_a).await.expect("replace");

    let ids: Vec<String> = store
        .list_sessions()
        .await
        .expect("list")
        .into_iter()
        .map(|s| s.session_id)
        .collect();
    assert_eq!(ids, ["early", "tie-a", "tie-b", "late"]);
}

pub async fn first_event_gets_seq_1_and_each_session_counts_on_its_own(storage: &dyn Storage) {
    let store = storage.open().await;
    let a1 = store
        .append_event(log_event("a", "a one"))
        .await
        .expect("a1");
    let a2 = store
        .append_event(log_event("a", "a two"))
        .await
        .expect("a2");
    let b1 = store
        .append_event(log_event("b", "b one"))
        .await
        .expect("b1");
    assert_eq!((a1.seq, a2.seq, b1.seq), (1, 2, 1));
    assert_eq!(store.last_seq("a").await.expect("a"), 2);
    assert_eq!(store.last_seq("b").await.expect("b"), 1);
}

pub async fn append_event_returns_exactly_what_is_read_back(storage: &dyn Storage) {
    let store = storage.open().await;
    let mut new = log_event("s", "ignored");
    new.command_id = Some("c7".into());
    new.at = 1_234;
    new.body = EventBody::CommandStatus {
        status: CommandStatus::Failed,
        error_summary: Some("hunk 2 of styles.css matches 2 places".into()),
    };
    let appended = store.append_event(new.clone()).await.expect("append");
    assert_eq!(
        (appended.session_id.as_str(), appended.seq, appended.at),
        ("s", 1, 1_234)
    );
    assert_eq!(appended.command_id, new.command_id);
    assert_eq!(appended.body, new.body);
    assert_eq!(
        store.events_after("s", 0, 10).await.expect("read"),
        vec![appended]
    );
}

pub async fn events_after_returns_later_seqs_ascending_at_most_limit(storage: &dyn Storage) {
    let store = storage.open().await;
    for i in 1..=10 {
        store
            .append_event(log_event("s", &format!("line {i}")))
            .await
            .expect("append");
    }
    let seqs = |events: Vec<devflow_protocol::Event>| -> Vec<u64> {
        events.into_iter().map(|e| e.seq).collect()
    };
    assert_eq!(
        seqs(store.events_after("s", 3, 4).await.expect("page")),
        [4, 5, 6, 7]
    );
    assert_eq!(
        seqs(store.events_after("s", 8, 100).await.expect("tail")),
        [9, 10]
    );
    assert!(store
        .events_after("s", 10, 100)
        .await
        .expect("none")
        .is_empty());
    assert!(store
        .events_after("s", u64::MAX, 100)
        .await
        .expect("huge")
        .is_empty());
    assert!(store
        .events_after("s", 0, 0)
        .await
        .expect("zero")
        .is_empty());
    let first = store.events_after("s", 0, 1).await.expect("first");
    assert!(matches!(&first[0].body, EventBody::Log { message, .. } if message == "line 1"));
}

pub async fn event_seqs_have_no_gaps_under_concurrent_appends(storage: &dyn Storage) {
    const TASKS: usize = 8;
    // 400 appends in all: enough interleaving to lose a race, few enough for a networked store.
    const APPENDS: usize = 50;
    let store = storage.open().await;
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::with_capacity(APPENDS);
            for i in 0..APPENDS {
                let event = log_event("s", &format!("task {task} append {i}"));
                seqs.push(store.append_event(event).await.expect("append").seq);
            }
            seqs
        }));
    }
    let mut returned = Vec::new();
    for task in tasks {
        let seqs = task.await.expect("task");
        // Within one task the appends are sequential, so their seqs must increase.
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        returned.extend(seqs);
    }
    returned.sort_unstable();
    let expected: Vec<u64> = (1..=(TASKS * APPENDS) as u64).collect();
    assert_eq!(returned, expected, "returned seqs are not exactly 1..=400");

    let stored = store.events_after("s", 0, 10_000).await.expect("read");
    let stored_seqs: Vec<u64> = stored.iter().map(|e| e.seq).collect();
    assert_eq!(stored_seqs, expected, "stored seqs are not exactly 1..=400");
    let messages: HashSet<String> = stored
        .into_iter()
        .filter_map(|e| match e.body {
            EventBody::Log { message, .. } => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(
        messages.len(),
        TASKS * APPENDS,
        "an append was lost or stored twice"
    );
    assert_eq!(
        store.last_seq("s").await.expect("last"),
        (TASKS * APPENDS) as u64
    );
}

pub async fn a_reused_idempotency_key_returns_the_earlier_command_and_stores_nothing(
    storage: &dyn Storage,
) {
    let store = storage.open().await;
    let first = command("s", "c1", Some("key-1"));
    assert_eq!(
        store.insert_command(&first).await.expect("first"),
        Inserted::New(first.clone())
    );
    let retry = command("s", "c2", Some("key-1"));
    assert_eq!(
        store.insert_command(&retry).await.expect("retry"),
        Inserted::Existing(first.clone())
    );
    assert_eq!(store.get_command("s", "c2").await.expect("get"), None);
    let page = store.command_page("s", 10, None).await.expect("page");
    assert_eq!(page.commands, vec![first]);
}

pub async fn an_idempotency_key_is_scoped_to_its_session_and_no_key_is_never_a_duplicate(
    storage: &dyn Storage,
) {
    let store = storage.open().await;
    let in_a = command("a", "c1", Some("same"));
    let in_b = command("b", "c2", Some("same"));
    assert_eq!(
        store.insert_command(&in_a).await.expect("a"),
        Inserted::New(in_a)
    );
    assert_eq!(
        store.insert_command(&in_b).await.expect("b"),
        Inserted::New(in_b)
    );
    for id in ["k1", "k2", "k3"] {
        let keyless = command("a", id, None);
        assert_eq!(
            store.insert_command(&keyless).await.expect("keyless"),
            Inserted::New(keyless)
        );
    }
    assert_eq!(
        store
            .command_page("a", 10, None)
            .await
            .expect("a")
            .commands
            .len(),
        4
    );
}

pub async fn concurrent_inserts_with_one_key_store_exactly_one_command(storage: &dyn Storage) {
    let store = storage.open().await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let candidate = command("s", &format!("c{i}"), Some("double-click"));
            store.insert_command(&candidate).await.expect("insert")
        }));
    }
    let mut new = Vec::new();
    let mut existing = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            Inserted::New(c) => new.push(c),
            Inserted::Existing(c) => existing.push(c),
        }
    }
    assert_eq!(new.len(), 1, "exactly one insert may win");
    assert_eq!(existing.len(), 15);
    assert!(existing.iter().all(|c| c.command_id == new[0].command_id));
    let page = store.command_page("s", 100, None).await.expect("page");
    assert_eq!(page.commands, new);
}

pub async fn update_command_replaces_the_stored_command(storage: &dyn Storage) {
    let store = storage.open().await;
    let mut c = command("s", "c1", Some("k"));
    store.insert_command(&c).await.expect("insert");
    c.status = CommandStatus::Ready;
    c.attempts = 1;
    c.patch_id = Some("p1".into());
    store.update_command(&c).await.expect("update");
    assert_eq!(
        store.get_command("s", "c1").await.expect("get"),
        Some(c.clone())
    );
    // The key still finds the (updated) command.
    let retry = command("s", "c9", Some("k"));
    assert_eq!(
        store.insert_command(&retry).await.expect("retry"),
        Inserted::Existing(c)
    );
}

pub async fn updating_a_command_that_was_never_inserted_is_an_error(storage: &dyn Storage) {
    let store = storage.open().await;
    let err = store
        .update_command(&command("s", "ghost", None))
        .await
        .expect_err("must not succeed silently");
    assert!(
        matches!(&err, StoreError::Database(m) if m.contains("ghost")),
        "{err:?}"
    );
    assert_eq!(store.get_command("s", "ghost").await.expect("get"), None);
}

pub async fn inserting_a_command_id_twice_is_an_error(storage: &dyn Storage) {
    let store = storage.open().await;
    store
        .insert_command(&command("s", "c1", None))
        .await
        .expect("first");
    let err = store.insert_command(&command("s", "c1", None)).await;
    assert!(matches!(err, Err(StoreError::Database(_))), "{err:?}");
}

pub async fn unfinished_commands_are_the_non_final_ones_of_every_session_in_submission_order(
    storage: &dyn Storage,
) {
    let store = storage.open().await;
    let statuses = [
        ("a", "a1", CommandStatus::Queued),
        ("b", "b1", CommandStatus::Ready),
        ("b", "b2", CommandStatus::Analyzing),
        ("a", "a2", CommandStatus::Failed),
        ("a", "a3", CommandStatus::Patching),
        ("b", "b3", CommandStatus::Queued),
    ];
    for (session_id, command_id, status) in statuses {
        let mut c = command(session_id, command_id, None);
        store.insert_command(&c).await.expect("insert");
        c.status = status;
        store.update_command(&c).await.expect("update");
    }
    let ids = |commands: Vec<devflow_protocol::Command>| -> Vec<String> {
        commands.into_iter().map(|c| c.command_id).collect()
    };
    assert_eq!(
        ids(store.unfinished_commands().await.expect("unfinished")),
        ["a1", "b2", "a3", "b3"]
    );

    let mut b2 = command("b", "b2", None);
    b2.status = CommandStatus::Ready;
    store.update_command(&b2).await.expect("finish b2");
    assert_eq!(
        ids(store.unfinished_commands().await.expect("unfinished")),
        ["a1", "a3", "b3"]
    );
}

pub async fn command_pages_walk_newest_first_without_gaps_or_duplicates(storage: &dyn Storage) {
    let store = storage.open().await;
    for i in 0..45 {
        store
            .insert_command(&command("s", &format!("c{i:02}"), None))
            .await
            .expect("insert");
        // Another session's commands interleave and must not show up.
        store
            .insert_command(&command("other", &format!("o{i:02}"), None))
            .await
            .expect("insert other");
    }
    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .command_page("s", 20, cursor.as_deref())
            .await
            .expect("page");
        sizes.push(page.commands.len());
        seen.extend(page.commands.into_iter().map(|c| c.command_id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(sizes.len() < 10, "paging does not end");
    }
    assert_eq!(sizes, [20, 20, 5]);
    let expected: Vec<String> = (0..45).rev().map(|i| format!("c{i:02}")).collect();
    assert_eq!(seen, expected);
}

pub async fn a_full_last_page_has_no_next_cursor(storage: &dyn Storage) {
    let store = storage.open().await;
    for i in 0..40 {
        store
            .insert_command(&command("s", &format!("c{i}"), None))
            .await
            .expect("insert");
    }
    let first = store.command_page("s", 20, None).await.expect("first");
    let cursor = first.next_cursor.expect("a second page follows");
    let second = store
        .command_page("s", 20, Some(&cursor))
        .await
        .expect("second");
    assert_eq!(second.commands.len(), 20);
    assert_eq!(second.next_cursor, None);

    let empty = store.command_page("nobody", 20, None).await.expect("empty");
    assert!(empty.commands.is_empty());
    assert_eq!(empty.next_cursor, None);
}

pub async fn commands_submitted_after_a_cursor_was_given_do_not_shift_later_pages(
    storage: &dyn Storage,
) {
    let store = storage.open().await;
    for i in 0..5 {
        store
            .insert_command(&command("s", &format!("c{i}"), None))
            .await
            .expect("insert");
    }
    let first = store.command_page("s", 2, None).await.expect("first");
    let cursor = first.next_cursor.expect("more");
    store
        .insert_command(&command("s", "late", None))
        .await
        .expect("late");
    let second = store
        .command_page("s", 2, Some(&cursor))
        .await
        .expect("second");
    let ids: Vec<String> = second.commands.into_iter().map(|c| c.command_id).collect();
    assert_eq!(ids, ["c2", "c1"]);
}

pub async fn a_cursor_that_was_not_given_out_for_this_session_is_invalid(storage: &dyn Storage) {
    let store = storage.open().await;
    for i in 0..3 {
        store
            .insert_command(&command("s", &format!("c{i}"), None))
            .await
            .expect("insert");
        store
            .insert_command(&command("t", &format!("t{i}"), None))
            .await
            .expect("insert");
    }
    let cursor_of_t = store
        .command_page("t", 1, None)
        .await
        .expect("t")
        .next_cursor
        .expect("t has more");
    for garbage in [
        "",
        "garbage",
        "c1.",
        "c1.AAAA",
        "c1.%%%",
        cursor_of_t.as_str(),
    ] {
        let result = store.command_page("s", 1, Some(garbage)).await;
        assert!(
            matches!(result, Err(StoreError::InvalidCursor)),
            "{garbage:?} gave {result:?}"
        );
    }
}

pub async fn patch_journal_bytes_round_trip_exactly(storage: &dyn Storage) {
    let store = storage.open().await;
    let record = patch_record("s", "p1", JournalState::Applying);
    store.put_patch(&record).await.expect("put");
    let back = store
        .get_patch("s", "p1")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(back, record);
    // Spelled out, because this is what rollback depends on.
    assert_eq!(
        back.files[1].before.as_deref(),
        Some(&[0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0x00][..])
    );
    assert_eq!(back.files[2].before, None);
    assert_eq!(back.files[2].after, Some(Vec::new()));
    assert_eq!(back.files[3].before, Some(Vec::new()));
    assert_eq!(back.files[3].after, None);
}

pub async fn put_patch_replaces_it_and_keeps_the_first_stored_order(storage: &dyn Storage) {
    let store = storage.open().await;
    for id in ["p1", "p2", "p3"] {
        store
            .put_patch(&patch_record("s", id, JournalState::Applying))
            .await
            .expect("put");
    }
    let mut p1 = patch_record("s", "p1", JournalState::RolledBack);
    p1.patch.state = PatchState::RolledBack;
    p1.patch.rolled_back_at = Some(1_700_000_001_000);
    p1.files.truncate(1);
    store.put_patch(&p1).await.expect("replace");

    let listed = store.list_patches("s").await.expect("list");
    let ids: Vec<&str> = listed.iter().map(|r| r.patch.patch_id.as_str()).collect();
    assert_eq!(ids, ["p1", "p2", "p3"]);
    assert_eq!(listed[0], p1, "the replacement, with only its own files");
}

pub async fn interrupted_patches_are_those_still_applying_in_every_session(storage: &dyn Storage) {
    let store = storage.open().await;
    store
        .put_patch(&patch_record("a", "done", JournalState::Applied))
        .await
        .expect("put");
    store
        .put_patch(&patch_record("a", "half", JournalState::Applying))
        .await
        .expect("put");
    store
        .put_patch(&patch_record("b", "undone", JournalState::RolledBack))
        .await
        .expect("put");
    store
        .put_patch(&patch_record("b", "half-b", JournalState::Applying))
        .await
        .expect("put");
    let ids = |records: Vec<devflow_store::PatchRecord>| -> Vec<String> {
        records.into_iter().map(|r| r.patch.patch_id).collect()
    };
    assert_eq!(
        ids(store.interrupted_patches().await.expect("list")),
        ["half", "half-b"]
    );

    store
        .put_patch(&patch_record("a", "half", JournalState::Applied))
        .await
        .expect("finish");
    let left = store.interrupted_patches().await.expect("list");
    assert_eq!(
        left,
        vec![patch_record("b", "half-b", JournalState::Applying)]
    );
}

pub async fn delete_session_removes_everything_of_that_session_and_nothing_else(
    storage: &dyn Storage,
) {
    let store = storage.open().await;
    for id in ["gone", "kept"] {
        store.put_session(&session(id, 1)).await.expect("session");
        store
            .insert_command(&command(id, "c1", Some("k")))
            .await
            .expect("command");
        store
            .append_event(log_event(id, "hello"))
            .await
            .expect("event");
        store
            .put_patch(&patch_record(id, "p1", JournalState::Applying))
            .await
            .expect("patch");
    }
    store.delete_session("gone").await.expect("delete");

    assert_eq!(store.get_session("gone").await.expect("session"), None);
    assert_eq!(
        store.get_command("gone", "c1").await.expect("command"),
        None
    );
    assert_eq!(store.last_seq("gone").await.expect("seq"), 0);
    assert_eq!(store.get_patch("gone", "p1").await.expect("patch"), None);
    // The idempotency key went with it: the same key is new again.
    let again = command("gone", "c2", Some("k"));
    assert_eq!(
        store.insert_command(&again).await.expect("again"),
        Inserted::New(again)
    );

    assert!(store.get_session("kept").await.expect("kept").is_some());
    assert!(store
        .get_command("kept", "c1")
        .await
        .expect("kept")
        .is_some());
    assert_eq!(store.last_seq("kept").await.expect("kept"), 1);
    assert_eq!(
        store.get_patch("kept", "p1").await.expect("kept"),
        Some(patch_record("kept", "p1", JournalState::Applying))
    );
    let interrupted = store.interrupted_patches().await.expect("interrupted");
    assert_eq!(
        interrupted.len(),
        1,
        "the deleted session's journal must be gone too"
    );
}

pub async fn a_second_instance_finds_every_write_and_continues_the_seqs(storage: &dyn Storage) {
    let record = patch_record("s", "p1", JournalState::Applying);
    {
        let store = storage.open().await;
        store.put_session(&session("s", 5)).await.expect("session");
        store
            .insert_command(&command("s", "c1", Some("k")))
            .await
            .expect("command");
        for i in 0..3 {
            store
                .append_event(log_event("s", &format!("{i}")))
                .await
                .expect("event");
        }
        store.put_patch(&record).await.expect("patch");
    }
    let store = storage.open().await;
    assert_eq!(
        store.get_session("s").await.expect("session"),
        Some(session("s", 5))
    );
    assert_eq!(
        store.get_command("s", "c1").await.expect("command"),
        Some(command("s", "c1", Some("k")))
    );
    assert_eq!(
        store.interrupted_patches().await.expect("patches"),
        vec![record]
    );
    assert_eq!(store.last_seq("s").await.expect("seq"), 3);
    let next = store
        .append_event(log_event("s", "after restart"))
        .await
        .expect("append");
    assert_eq!(next.seq, 4);
}

pub async fn two_instances_appending_to_fifty_sessions_leave_no_gap_or_duplicate(
    storage: &dyn Storage,
) {
    const SESSIONS: usize = 50;
    const APPENDS: usize = 6;
    let instances = [storage.open().await, storage.open().await];
    let mut tasks = Vec::new();
    for (daemon, store) in instances.iter().enumerate() {
        for session in 0..SESSIONS {
            let store = Arc::clone(store);
            tasks.push(tokio::spawn(async move {
                let session_id = format!("s{session:02}");
                let mut seqs = Vec::with_capacity(APPENDS);
                for i in 0..APPENDS {
                    let event = log_event(&session_id, &format!("daemon {daemon} append {i}"));
                    seqs.push(store.append_event(event).await.expect("append").seq);
                }
                (session_id, seqs)
            }));
        }
    }
    let mut returned: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for task in tasks {
        let (session_id, seqs) = task.await.expect("task");
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{session_id}: {seqs:?}"
        );
        returned.entry(session_id).or_default().extend(seqs);
    }
    let expected: Vec<u64> = (1..=(2 * APPENDS) as u64).collect();
    assert_eq!(returned.len(), SESSIONS);
    for (session_id, mut seqs) in returned {
        seqs.sort_unstable();
        assert_eq!(seqs, expected, "{session_id}: returned seqs");
        // Read through the other instance than the one that wrote half of them.
        let stored = instances[1]
            .events_after(&session_id, 0, 1000)
            .await
            .expect("read");
        let stored_seqs: Vec<u64> = stored.iter().map(|e| e.seq).collect();
        assert_eq!(stored_seqs, expected, "{session_id}: stored seqs");
        let messages: HashSet<String> = stored
            .into_iter()
            .filter_map(|e| match e.body {
                EventBody::Log { message, .. } => Some(message),
                _ => None,
            })
            .collect();
        assert_eq!(
            messages.len(),
            2 * APPENDS,
            "{session_id}: an append was lost or stored twice"
        );
    }
}

pub async fn one_idempotency_key_sent_to_two_instances_stores_one_command(storage: &dyn Storage) {
    let instances = [storage.open().await, storage.open().await];
    let mut tasks = Vec::new();
    for round in 0..8 {
        for (daemon, store) in instances.iter().enumerate() {
            let store = Arc::clone(store);
            tasks.push(tokio::spawn(async move {
                let candidate = command("s", &format!("c{round}-{daemon}"), Some("double-click"));
                store.insert_command(&candidate).await.expect("insert")
            }));
        }
    }
    let mut new = Vec::new();
    let mut existing = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            Inserted::New(c) => new.push(c),
            Inserted::Existing(c) => existing.push(c),
        }
    }
    assert_eq!(new.len(), 1, "exactly one insert may win: {new:?}");
    assert_eq!(existing.len(), 15);
    assert!(existing.iter().all(|c| c.command_id == new[0].command_id));
    for store in &instances {
        let page = store.command_page("s", 100, None).await.expect("page");
        assert_eq!(page.commands, new);
    }
}

pub async fn a_journal_larger_than_an_item_round_trips_and_a_replace_drops_the_old_one(
    storage: &dyn Storage,
) {
    let store = storage.open().await;
    // 1.5 MB of bytes that are not text, well over DynamoDB's 400 KB item limit.
    let big: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut record = patch_record("s", "p1", JournalState::Applying);
    record.files.push(JournalFile {
        path: "vendor/bundle.js".into(),
        before: Some(big.clone()),
        after: Some(big[..700_001].to_vec()),
    });
    store.put_patch(&record).await.expect("put");
    let back = store
        .get_patch("s", "p1")
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(back, record);

    let mut smaller = patch_record("s", "p1", JournalState::Applied);
    smaller.files.truncate(2);
    store.put_patch(&smaller).await.expect("replace");
    assert_eq!(
        store.get_patch("s", "p1").await.expect("get"),
        Some(smaller.clone())
    );
    assert_eq!(store.list_patches("s").await.expect("list"), vec![smaller]);
}

pub async fn a_lease_is_held_renewed_released_and_taken_over_after_expiry(storage: &dyn Storage) {
    let store = storage.open().await;
    let now = 1_000_000;
    assert_eq!(store.get_lease("s").await.expect("get"), None);
    let LeaseClaim::Granted(first) = store
        .claim_lease("s", "a", now, 15_000)
        .await
        .expect("claim")
    else {
        panic!("a free lease is granted");
    };
    assert_eq!(
        (first.owner.as_str(), first.expires_at, first.generation),
        ("a", now + 15_000, 1)
    );
    // Another daemon before expiry: refused, the holder's lease unchanged.
    let held = store
        .claim_lease("s", "b", now + 14_999, 15_000)
        .await
        .expect("claim");
    assert_eq!(held, LeaseClaim::Held(first.clone()));
    // The holder renews: same generation, later expiry.
    let LeaseClaim::Granted(renewed) = store
        .claim_lease("s", "a", now + 5_000, 15_000)
        .await
        .expect("renew")
    else {
        panic!("the holder renews");
    };
    assert_eq!((renewed.generation, renewed.expires_at), (1, now + 20_000));
    // At expiry another daemon takes it over, and the generation grows.
    let LeaseClaim::Granted(taken) = store
        .claim_lease("s", "b", now + 20_000, 15_000)
        .await
        .expect("take over")
    else {
        panic!("an expired lease is taken over");
    };
    assert_eq!((taken.owner.as_str(), taken.generation), ("b", 2));
    assert!(matches!(
        store.claim_lease("s", "a", now + 20_001, 15_000).await.expect("claim"),
        LeaseClaim::Held(ref lease) if lease.owner == "b"
    ));
    // Only the holder releases it.
    assert!(!store.release_lease("s", "a").await.expect("release"));
    assert_eq!(
        store.get_lease("s").await.expect("get"),
        Some(taken.clone())
    );
    store
        .claim_lease("t", "a", now, 15_000)
        .await
        .expect("claim t");
    let owners: Vec<(String, String)> = store
        .list_leases()
        .await
        .expect("list")
        .into_iter()
        .map(|l| (l.session_id, l.owner))
        .collect();
    assert_eq!(owners, [("s".into(), "b".into()), ("t".into(), "a".into())]);
    assert!(store.release_lease("s", "b").await.expect("release"));
    assert_eq!(store.get_lease("s").await.expect("get"), None);
    // Deleting a session removes its lease.
    store.put_session(&session("t", 0)).await.expect("put");
    store.delete_session("t").await.expect("delete");
    assert_eq!(store.get_lease("t").await.expect("get"), None);
}

pub async fn two_instances_claiming_one_free_lease_grant_it_once(storage: &dyn Storage) {
    let instances = [storage.open().await, storage.open().await];
    let mut tasks = Vec::new();
    for round in 0..8 {
        for (daemon, store) in instances.iter().enumerate() {
            let store = Arc::clone(store);
            tasks.push(tokio::spawn(async move {
                let owner = format!("d{daemon}-{round}");
                let claim = store
                    .claim_lease("s", &owner, 5_000, 15_000)
                    .await
                    .expect("claim");
                (owner, claim)
            }));
        }
    }
    let mut winners = Vec::new();
    let mut holders = HashSet::new();
    for task in tasks {
        match task.await.expect("task") {
            (owner, LeaseClaim::Granted(lease)) => {
                assert_eq!(lease.owner, owner);
                winners.push(owner);
            }
            (_, LeaseClaim::Held(lease)) => {
                holders.insert(lease.owner);
            }
        }
    }
    assert_eq!(winners.len(), 1, "exactly one claim wins: {winners:?}");
    assert!(
        holders.iter().all(|h| h == &winners[0]),
        "{holders:?} vs {winners:?}"
    );
}
