//! Session leases (fleet mode): granted when free, expired or the caller's; renewed,
//! released, taken over after expiry with a growing generation; one winner when daemons race.

use std::sync::Arc;

use super::fixtures::session;
use super::Storage;
use crate::{Lease, LeaseClaim, Store};

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
    let winner = sixteen_claims_grant_one(&instances, 5_000).await;
    assert_eq!((winner.generation, winner.expires_at), (1, 5_000 + 15_000));
}

pub async fn sixteen_claims_of_an_expired_lease_hand_it_to_exactly_one_new_owner(
    storage: &dyn Storage,
) {
    let instances = [storage.open().await, storage.open().await];
    let LeaseClaim::Granted(old) = instances[0]
        .claim_lease("s", "gone", 1_000, 15_000)
        .await
        .expect("first claim")
    else {
        panic!("a free lease is granted");
    };
    let after_expiry = old.expires_at + 1;
    let winner = sixteen_claims_grant_one(&instances, after_expiry).await;
    // One change of hands, so the fencing number grew by exactly one.
    assert_eq!(
        (winner.generation, winner.expires_at),
        (old.generation + 1, after_expiry + 15_000)
    );
    for store in &instances {
        assert_eq!(
            store.get_lease("s").await.expect("get"),
            Some(winner.clone())
        );
    }
    // The daemon that lost the lease can no longer release it.
    assert!(!instances[1]
        .release_lease("s", "gone")
        .await
        .expect("release"));
}

/// Sixteen daemons claim session `s`'s lease at `now`, all at once, through `instances` in
/// turn: exactly one claim is granted and every other one is refused with the winner's lease,
/// which is returned.
async fn sixteen_claims_grant_one(instances: &[Arc<dyn Store>], now: i64) -> Lease {
    let mut tasks = Vec::new();
    for i in 0..16 {
        let daemon = i % instances.len();
        let store = Arc::clone(&instances[daemon]);
        tasks.push(tokio::spawn(async move {
            let owner = format!("d{daemon}-{i}");
            let claim = store
                .claim_lease("s", &owner, now, 15_000)
                .await
                .expect("claim");
            (owner, claim)
        }));
    }
    let mut granted = Vec::new();
    let mut held = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            (owner, LeaseClaim::Granted(lease)) => {
                assert_eq!(lease.owner, owner);
                granted.push(lease);
            }
            (_, LeaseClaim::Held(lease)) => held.push(lease),
        }
    }
    assert_eq!(granted.len(), 1, "exactly one claim wins: {granted:?}");
    let winner = granted.remove(0);
    assert!(
        held.iter().all(|lease| *lease == winner),
        "a refused claim saw another lease than the winner's: {held:?} vs {winner:?}"
    );
    winner
}
