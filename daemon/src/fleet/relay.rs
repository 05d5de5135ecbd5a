//! The two SQS loops: `send` batches this daemon's events to the other daemons' queues;
//! `receive` long-polls this daemon's queue, passes each envelope through the session's
//! [`SeqGate`](devflow_fleet::SeqGate) (repeats dropped, gaps read from the store) to the
//! local subscribers and to the owner's queue pick-up, and acks only after that.

use std::sync::Arc;
use std::time::Duration;

use devflow_fleet::{DaemonQueue, Envelope, GateDecision};
use devflow_protocol::Event;
use tokio::sync::mpsc;

use super::{lock, FleetNode, ForwardReply};
use crate::service::Service;

/// SQS takes at most 10 messages per batch.
const BATCH: usize = 10;

pub(super) async fn send(node: Arc<FleetNode>, mut outbox: mpsc::Receiver<Event>) {
    while let Some(first) = outbox.recv().await {
        let mut events = vec![first];
        while events.len() < BATCH {
            match outbox.try_recv() {
                Ok(event) => events.push(event),
                Err(_) => break,
            }
        }
        let peers = lock(&node.peers).clone();
        if peers.is_empty() {
            continue;
        }
        let envelopes: Vec<Envelope> = events
            .iter()
            .map(|event| Envelope::from_event(event, &node.daemon_id))
            .collect();
        let report = node.sender.send(&peers, &envelopes).await;
        if !report.gone_queues.is_empty() {
            lock(&node.peers).retain(|url| !report.gone_queues.contains(url));
        }
        for (queue, error) in &report.failed {
            tracing::warn!(%queue, %error, "could not send events to a daemon; it will read them from the store");
        }
    }
}

pub(super) async fn receive(node: Arc<FleetNode>, service: Service) {
    loop {
        match node.queue.receive().await {
            Ok(batch) => {
                for received in &batch {
                    take(&node, &service, received.envelope.clone()).await;
                }
                if let Err(error) = node.queue.ack(&batch).await {
                    tracing::warn!(%error, "could not ack received events (they come again and are dropped as repeats)");
                }
            }
            Err(error) if error.is_queue_missing() => {
                // Deleted behind this daemon's back (a sweeper that thought it gone, a
                // person): made again under the same name, so its URL is unchanged.
                tracing::warn!(%error, "this daemon's queue is gone; making it again");
                if let Err(error) =
                    DaemonQueue::create_with(node.queue.client(), &node.daemon_id).await
                {
                    tracing::warn!(%error, "could not make this daemon's queue again");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => {
                tracing::warn!(%error, "could not receive from this daemon's queue");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Hands one envelope's event (or, on a gap, the missing events from the store) on; runs a
/// forwarded call (in its own task: it may take a while, and its answer must not wait for
/// this batch's ack) or completes this daemon's own.
pub(super) async fn take(node: &Arc<FleetNode>, service: &Service, envelope: Envelope) {
    match envelope {
        Envelope::Request {
            id,
            method,
            params,
            reply_to,
            from,
        } => {
            let (node, service) = (node.clone(), service.clone());
            tokio::spawn(async move {
                tracing::debug!(%method, from = %from, "running a call forwarded by another daemon");
                let reply = match crate::rpc::call_forwarded(&service, &method, params).await {
                    Ok(value) => ForwardReply::Result(value),
                    Err(error) => ForwardReply::Error(
                        serde_json::to_value(error.to_api_error()).unwrap_or_default(),
                    ),
                };
                node.answer(&reply_to, id, reply).await;
            });
            return;
        }
        Envelope::Reply {
            id, result, error, ..
        } => {
            let reply = match (result, error) {
                (_, Some(error)) => ForwardReply::Error(error),
                (result, None) => ForwardReply::Result(result.unwrap_or_default()),
            };
            node.complete(&id, reply);
            return;
        }
        Envelope::Event { .. } | Envelope::Pointer { .. } => {}
    }
    let session_id = envelope.session_id().to_string();
    let decision = lock(&node.gate).check(envelope);
    match decision {
        GateDecision::Deliver(event) => hand_on(node, service, event).await,
        GateDecision::Duplicate => {}
        GateDecision::Gap { after, upto } => {
            catch_up(node, service, &session_id, after, upto).await
        }
    }
}

/// Reads events `(after, upto]` of a session from the store and hands them on.
pub(super) async fn catch_up(
    node: &FleetNode,
    service: &Service,
    session_id: &str,
    after: u64,
    upto: u64,
) {
    let mut from = after;
    while from < upto {
        let page = match service.events_from_store(session_id, from, 500).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(session_id, %error, "could not read missing events from the store");
                return;
            }
        };
        let Some(last) = page.last().map(|e| e.seq) else {
            break;
        };
        for event in page {
            if event.seq > upto {
                break;
            }
            hand_on(node, service, event).await;
        }
        from = last.min(upto);
        lock(&node.gate).advance(session_id, from);
    }
}

async fn hand_on(node: &FleetNode, service: &Service, event: Event) {
    let session_id = event.session_id.clone();
    service.events().deliver(event.clone());
    if node.holds(&session_id) {
        service.on_fleet_event(&event).await;
    }
}
