//! Patches and their journals: exact bytes back (also past a DynamoDB item's size),
//! replacement, order, and the interrupted ones recovery restores.

use devflow_protocol::PatchState;

use super::fixtures::patch_record;
use super::Storage;
use crate::{JournalFile, JournalState, PatchRecord};

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
    for (session_id, patch_id, state) in [
        ("a", "done", JournalState::Applied),
        ("a", "half", JournalState::Applying),
        ("b", "undone", JournalState::RolledBack),
        ("b", "half-b", JournalState::Applying),
    ] {
        store
            .put_patch(&patch_record(session_id, patch_id, state))
            .await
            .expect("put");
    }
    let ids = |records: Vec<PatchRecord>| -> Vec<String> {
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
