//! Two loops, each every third of the lease. The renewal loop only renews the held leases,
//! all at once (a lease found held by another daemon is dropped: its pipeline stops on this
//! daemon), so nothing slow can make a live daemon's leases lapse. The round loop renews this
//! daemon's registration, adopts running sessions whose lease expired (their daemon died) or
//! that this daemon held before a restart, cleans up leases of sessions that no longer exist,
//! and checks the store for events that no message brought.

use std::collections::HashMap;
use std::sync::Arc;

use devflow_protocol::SessionStatus;
use devflow_store::{Lease, LeaseClaim};

use super::{lock, relay, FleetNode};
use crate::service::Service;

pub(super) async fn run(node: Arc<FleetNode>, service: Service) {
    let renewals = {
        let (node, service) = (node.clone(), service.clone());
        async move {
            let mut ticker = tokio::time::interval(node.lease / 3);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if let Err(error) = renew(&node, &service).await {
                    tracing::warn!(daemon_id = %node.daemon_id, %error, "lease renewal failed; trying again");
                }
            }
        }
    };
    let rounds = async move {
        let mut ticker = tokio::time::interval(node.lease / 3);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(error) = round(&node, &service).await {
                tracing::warn!(daemon_id = %node.daemon_id, %error, "fleet round failed; trying again next round");
            }
        }
    };
    tokio::join!(renewals, rounds);
}

/// Renews every held lease, all at once.
async fn renew(node: &Arc<FleetNode>, service: &Service) -> anyhow::Result<()> {
    let store = service.store_handle();
    let claims = node
        .held_sessions()
        .into_iter()
        .map(|session_id| async move {
            let claim = node.claim(store, &session_id).await;
            (session_id, claim)
        });
    for (session_id, claim) in futures::future::join_all(claims).await {
        if let LeaseClaim::Held(lease) = claim? {
            tracing::warn!(session_id, owner = %lease.owner, "lost the session's lease; its pipeline stops here");
            node.drop_hold(&session_id);
            service.release_local(&session_id).await;
        }
    }
    Ok(())
}

async fn round(node: &Arc<FleetNode>, service: &Service) -> anyhow::Result<()> {
    node.register().await?;
    node.refresh_peers().await?;
    let store = service.store_handle();
    let now = crate::now_millis();
    let sessions = store.list_sessions().await?;
    for session_id in node.held_sessions() {
        // A stopped session's lease is left to expire: once DynamoDB's TTL removes the
        // session, an expired lease without a session is what tells a daemon to clean up.
        match sessions.iter().find(|s| s.session_id == session_id) {
            Some(session) if session.status == SessionStatus::Stopped => {
                node.drop_hold(&session_id);
                continue;
            }
            Some(_) => {}
            None => {
                node.drop_hold(&session_id);
                store.delete_session(&session_id).await?;
            }
        }
    }
    let leases: HashMap<String, Lease> = store
        .list_leases()
        .await?
        .into_iter()
        .map(|lease| (lease.session_id.clone(), lease))
        .collect();
    for session in &sessions {
        let live = matches!(
            session.status,
            SessionStatus::Running | SessionStatus::Starting
        );
        let free = match leases.get(&session.session_id) {
            None => live,
            Some(lease) if lease.owner == node.daemon_id => {
                live && !node.holds(&session.session_id)
            }
            Some(lease) => live && lease.expires_at <= now,
        };
        if !free {
            continue;
        }
        let previous = leases.get(&session.session_id).map(|l| l.owner.clone());
        if let LeaseClaim::Granted(lease) = node.claim(store, &session.session_id).await? {
            tracing::info!(session_id = %session.session_id, previous_owner = ?previous, generation = lease.generation, "adopting the session");
            let seen = store.last_seq(&session.session_id).await?;
            node.hold(&session.session_id, lease.generation, seen);
            let service = service.clone();
            let session_id = session.session_id.clone();
            tokio::spawn(async move { service.adopt(&session_id, previous).await });
        }
    }
    // Leases of sessions that are gone (DynamoDB's TTL removed the session item while no
    // daemon was there to clean up): whoever claims the expired lease deletes the rest.
    for (session_id, lease) in &leases {
        if lease.expires_at > now || sessions.iter().any(|s| &s.session_id == session_id) {
            continue;
        }
        if let LeaseClaim::Granted(_) = node.claim(store, session_id).await? {
            tracing::info!(
                session_id,
                "removing what a session removed by its TTL left behind"
            );
            store.delete_session(session_id).await?;
            node.drop_hold(session_id);
        }
    }
    check_the_store(node, service).await;
    Ok(())
}

/// Events of watched sessions that no message brought (a full outbox, a daemon that was
/// not yet registered when they were sent): read from the store and handed on.
async fn check_the_store(node: &Arc<FleetNode>, service: &Service) {
    // Sessions with subscribers here (with the seq they have) and sessions run here (whose
    // gate was set when the lease was taken).
    let mut watched: Vec<(String, Option<u64>)> = service
        .events()
        .live_sessions()
        .into_iter()
        .map(|(session_id, high)| (session_id, Some(high)))
        .collect();
    for session_id in node.held_sessions() {
        if !watched.iter().any(|(s, _)| s == &session_id) {
            watched.push((session_id, None));
        }
    }
    // The reads side by side (16 at a time): one after another they made a round with many
    // sessions as long as the reads times the sessions.
    use futures::StreamExt as _;
    let store = service.store_handle();
    let newest: Vec<_> = futures::stream::iter(watched)
        .map(|(session_id, subscribers_have)| async move {
            let newest = store.last_seq(&session_id).await;
            (session_id, subscribers_have, newest)
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for (session_id, subscribers_have, newest) in newest {
        let newest = match newest {
            Ok(seq) => seq,
            Err(error) => {
                tracing::warn!(session_id, %error, "could not check the store for events");
                continue;
            }
        };
        let gate = lock(&node.gate).last(&session_id);
        let known = match (gate, subscribers_have) {
            (Some(gate), Some(have)) => Some(gate.max(have)),
            (gate, have) => gate.or(have),
        };
        match known {
            None => lock(&node.gate).advance(&session_id, newest),
            Some(known) if newest > known => {
                relay::catch_up(node, service, &session_id, known, newest).await
            }
            Some(_) => {}
        }
    }
}
