//! Commands: idempotency keys (also raced, in one instance and in two), updates, the
//! unfinished ones for recovery, and history pages with their cursors.

use std::sync::Arc;

use devflow_protocol::{Command, CommandStatus};

use super::fixtures::command;
use super::Storage;
use crate::{Inserted, Store, StoreError};

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
    sixteen_inserts_with_one_key_store_one_command(&[storage.open().await]).await;
}

pub async fn one_idempotency_key_sent_to_two_instances_stores_one_command(storage: &dyn Storage) {
    sixteen_inserts_with_one_key_store_one_command(&[storage.open().await, storage.open().await])
        .await;
}

/// Sixteen different commands with one idempotency key (a double-click, retried), inserted at
/// once through `instances` in turn: exactly one is stored, every other insert answers with
/// it, and each instance's history holds only it.
async fn sixteen_inserts_with_one_key_store_one_command(instances: &[Arc<dyn Store>]) {
    let mut tasks = Vec::new();
    for i in 0..16 {
        let daemon = i % instances.len();
        let store = Arc::clone(&instances[daemon]);
        tasks.push(tokio::spawn(async move {
            let candidate = command("s", &format!("c{i}-{daemon}"), Some("double-click"));
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
    assert_eq!(new.len(), 1, "exactly one insert may win: {new:?}");
    assert_eq!(existing.len(), 15);
    assert!(existing.iter().all(|c| c.command_id == new[0].command_id));
    for store in instances {
        let page = store.command_page("s", 100, None).await.expect("page");
        assert_eq!(page.commands, new);
    }
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
    let ids = |commands: Vec<Command>| -> Vec<String> {
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
