//! The event hub: every state change is appended to the store (which assigns `seq`) and then
//! broadcast to the live subscribers of every transport. A [`Subscription`] replays from the
//! store, then follows the broadcast; a subscriber that falls behind the bounded broadcast
//! buffer catches up from the store, so it never blocks the pipeline or other subscribers
//! and never sees a gap or a duplicate.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use devflow_protocol::{Event, EventBody};
use devflow_store::{NewEvent, Store, StoreError};
use tokio::sync::{broadcast, Mutex};

use crate::metrics::Metrics;

/// Live events buffered per session before a slow subscriber falls back to the store.
const BROADCAST_CAPACITY: usize = 256;
/// Events read from the store per replay query.
const REPLAY_PAGE: u32 = 500;

/// Where a fleet daemon sends a copy of each event it appends.
pub type Relay = Box<dyn Fn(&Event) + Send + Sync>;

struct Channel {
    sender: broadcast::Sender<Event>,
    /// The highest seq this channel's subscribers have, from the store or the channel: what
    /// a fleet daemon's store check reads after.
    high: Arc<std::sync::atomic::AtomicU64>,
    /// Held across append + send so that live events go out in seq order.
    publish: Arc<Mutex<()>>,
}

pub struct EventHub {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    channels: std::sync::Mutex<HashMap<String, Channel>>,
    relay: std::sync::OnceLock<Relay>,
}

impl EventHub {
    pub fn new(store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        EventHub {
            store,
            metrics,
            channels: std::sync::Mutex::new(HashMap::new()),
            relay: std::sync::OnceLock::new(),
        }
    }

    fn channel(
        &self,
        session_id: &str,
    ) -> (
        broadcast::Sender<Event>,
        Arc<Mutex<()>>,
        Arc<std::sync::atomic::AtomicU64>,
    ) {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let channel = channels
            .entry(session_id.to_string())
            .or_insert_with(|| Channel {
                sender: broadcast::channel(BROADCAST_CAPACITY).0,
                high: Arc::new(std::sync::atomic::AtomicU64::new(0)),
                publish: Arc::new(Mutex::new(())),
            });
        (
            channel.sender.clone(),
            channel.publish.clone(),
            channel.high.clone(),
        )
    }

    /// Appends the event durably, then broadcasts it. Returns it with its seq.
    pub async fn publish(
        &self,
        session_id: &str,
        command_id: Option<&str>,
        body: EventBody,
    ) -> Result<Event, StoreError> {
        let (sender, publish, high) = self.channel(session_id);
        let _order = publish.lock().await;
        let event = self
            .store
            .append_event(NewEvent {
                session_id: session_id.to_string(),
                command_id: command_id.map(str::to_string),
                at: crate::now_millis(),
                body,
            })
            .await?;
        tracing::debug!(
            session_id,
            seq = event.seq,
            kind = event.body.type_name(),
            "event"
        );
        self.metrics.event_published();
        // No receivers is fine: the event is in the store for whoever subscribes later.
        high.fetch_max(event.seq, std::sync::atomic::Ordering::Relaxed);
        let _ = sender.send(event.clone());
        if let Some(relay) = self.relay.get() {
            relay(&event);
        }
        Ok(event)
    }

    /// Fleet mode: every appended event is also handed to `relay` (set once).
    pub fn set_relay(&self, relay: Relay) {
        let _ = self.relay.set(relay);
    }

    /// An event another daemon appended: to this daemon's subscribers of its session, if it
    /// has any (they put it in seq order, drop what they have and read gaps from the store).
    pub fn deliver(&self, event: Event) {
        let channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(channel) = channels.get(&event.session_id) {
            channel
                .high
                .fetch_max(event.seq, std::sync::atomic::Ordering::Relaxed);
            let _ = channel.sender.send(event);
        }
    }

    /// Sessions with subscribers on this daemon, each with the highest seq they have.
    pub fn live_sessions(&self) -> Vec<(String, u64)> {
        let channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        channels
            .iter()
            .filter(|(_, channel)| channel.sender.receiver_count() > 0)
            .map(|(session_id, channel)| {
                (
                    session_id.clone(),
                    channel.high.load(std::sync::atomic::Ordering::Relaxed),
                )
            })
            .collect()
    }

    /// Follows a session's events after `after_seq`.
    pub async fn subscribe(
        &self,
        session_id: &str,
        after_seq: u64,
    ) -> Result<Subscription, StoreError> {
        // Receiver first, then the store: whatever is appended in between shows up in both,
        // and the seq check drops the second copy.
        let (sender, _, high) = self.channel(session_id);
        let receiver = sender.subscribe();
        let last_seq = self.store.last_seq(session_id).await?;
        high.fetch_max(last_seq, std::sync::atomic::Ordering::Relaxed);
        self.metrics.subscriber_added();
        Ok(Subscription {
            session_id: session_id.to_string(),
            store: self.store.clone(),
            metrics: self.metrics.clone(),
            receiver,
            delivered: after_seq,
            backlog: VecDeque::new(),
            replay_until: last_seq,
        })
    }

    /// Ends every subscription of a deleted session.
    pub fn close(&self, session_id: &str) {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        channels.remove(session_id);
    }
}

/// One subscriber's position in a session's event stream.
pub struct Subscription {
    session_id: String,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    receiver: broadcast::Receiver<Event>,
    /// The seq of the last event handed out.
    delivered: u64,
    backlog: VecDeque<Event>,
    /// Replay from the store up to at least this seq before following the broadcast.
    replay_until: u64,
}

impl Subscription {
    /// The newest seq when the subscription began.
    pub fn last_seq_at_start(&self) -> u64 {
        self.replay_until
    }

    /// The next event in seq order; `None` when the session is gone or the store failed.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                if event.seq <= self.delivered {
                    continue;
                }
                self.delivered = event.seq;
                return Some(event);
            }
            if self.delivered < self.replay_until {
                if !self.refill().await {
                    return None;
                }
                continue;
            }
            match self.receiver.recv().await {
                Ok(event) if event.seq <= self.delivered => continue,
                Ok(event) if event.seq == self.delivered + 1 => {
                    self.delivered = event.seq;
                    return Some(event);
                }
                Ok(event) => {
                    // A gap means we missed some: fetch them from the store.
                    self.replay_until = event.seq;
                    self.backlog.push_back(event);
                    let held: Vec<Event> = self.backlog.drain(..).collect();
                    if !self.refill().await {
                        return None;
                    }
                    self.backlog.extend(held);
                    let mut sorted: Vec<Event> = self.backlog.drain(..).collect();
                    sorted.sort_by_key(|e| e.seq);
                    sorted.dedup_by_key(|e| e.seq);
                    self.backlog.extend(sorted);
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    self.metrics.subscriber_lagged();
                    tracing::debug!(session_id = %self.session_id, missed, "subscriber lagged; replaying from the store");
                    match self.store.last_seq(&self.session_id).await {
                        Ok(seq) => self.replay_until = seq,
                        Err(_) => return None,
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Loads the next page after `delivered` into the backlog. False when the store failed.
    async fn refill(&mut self) -> bool {
        match self
            .store
            .events_after(&self.session_id, self.delivered, REPLAY_PAGE)
            .await
        {
            Ok(events) => {
                if events.is_empty() {
                    // Nothing more stored: the replay target was reached (or events were
                    // deleted with the session).
                    self.replay_until = self.delivered;
                }
                self.backlog.extend(events);
                true
            }
            Err(error) => {
                tracing::warn!(session_id = %self.session_id, %error, "event replay failed");
                false
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.metrics.subscriber_removed();
    }
}
