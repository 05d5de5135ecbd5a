//! Sessions: round trips, order, unknown ids, deletion of everything a session owns, and a
//! second instance (another daemon, or this one restarted) over the same data.

use devflow_protocol::SessionStatus;

use super::fixtures::{command, log_event, patch_record, session};
use super::Storage;
use crate::{Inserted, JournalState};

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
