//! The event log: seqs from 1 per session, `events_after` paging, and no gap or duplicate
//! when writers race in one instance or in two.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use devflow_protocol::{CommandStatus, Event, EventBody};

use super::fixtures::log_event;
use super::Storage;

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
    let seqs = |events: Vec<Event>| -> Vec<u64> { events.into_iter().map(|e| e.seq).collect() };
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
    let appends = storage.appends_per_writer();
    let total = TASKS * appends;
    let store = storage.open().await;
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::with_capacity(appends);
            for i in 0..appends {
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
    let expected: Vec<u64> = (1..=total as u64).collect();
    assert_eq!(
        returned, expected,
        "returned seqs are not exactly 1..={total}"
    );

    let stored = store.events_after("s", 0, u32::MAX).await.expect("read");
    let stored_seqs: Vec<u64> = stored.iter().map(|e| e.seq).collect();
    assert_eq!(
        stored_seqs, expected,
        "stored seqs are not exactly 1..={total}"
    );
    let messages = log_messages(stored);
    assert_eq!(messages.len(), total, "an append was lost or stored twice");
    assert_eq!(store.last_seq("s").await.expect("last"), total as u64);
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
    let mut returned: BTreeMap<String, Vec<u64>> = Default::default();
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
        let messages = log_messages(stored);
        assert_eq!(
            messages.len(),
            2 * APPENDS,
            "{session_id}: an append was lost or stored twice"
        );
    }
}

/// The distinct messages of the log events among `events`.
fn log_messages(events: Vec<Event>) -> HashSet<String> {
    events
        .into_iter()
        .filter_map(|e| match e.body {
            EventBody::Log { message, .. } => Some(message),
            _ => None,
        })
        .collect()
}
