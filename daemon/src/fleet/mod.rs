//! Fleet mode (`events = "sqs"`, on the DynamoDB store): several daemons serve one set of
//! sessions. [`FleetNode`] is this daemon's membership:
//!
//! - **Leases.** Exactly one daemon runs a session's pipeline: the one holding its lease
//!   (`Store::claim_lease`, 15 s by default, renewed every third of that). A daemon takes the
//!   lease of a session it creates or is asked to start; when a holder stops renewing (it
//!   died), another daemon's lease loop takes the lease after expiry and adopts the session
//!   (`Service::adopt`: interrupted commands FAILED with a summary, the workspace rebuilt
//!   from the S3 start snapshot plus the applied patch journals, the preview restarted, the
//!   queue resumed).
//! - **Events.** Every event this daemon appends is also sent, batched, to every other live
//!   daemon's SQS queue (devflow-fleet); what arrives on this daemon's queue is handed to the
//!   local subscribers through [`crate::events::EventHub::deliver`], after the per-session
//!   [`devflow_fleet::SeqGate`] dropped repeats and filled gaps from the store. A command
//!   queued on another daemon reaches the owner this way and joins its queue. The store
//!   stays the truth: a lost message is found by the loop's store check every lease period.
//! - **Registry.** Each daemon's queue URL is in the `daemons` table, renewed with the
//!   leases; senders read it to know the other queues; a daemon gone for ten lease periods
//!   has its record and queue removed (conditionally, so two sweepers remove it once).
//!
//! `leases.rs` is the lease loop, `relay.rs` the two SQS loops.

mod leases;
mod relay;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use devflow_fleet::{DaemonQueue, Envelope, FanoutSender, SeqGate, SqsOptions};
use devflow_protocol::Event;
use devflow_store_dynamodb::{DaemonRecord, DynamoStore};
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::service::Service;

/// How long a forwarded call waits for the owner's answer.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(60);

/// What the daemon running a session answered to a forwarded call.
#[derive(Debug, Clone, PartialEq)]
pub enum ForwardReply {
    Result(serde_json::Value),
    /// The seed-004 error object.
    Error(serde_json::Value),
}

/// Events waiting to be sent to the other daemons; past this the oldest are not sent (the
/// other daemons' store check finds them).
const OUTBOX_CAPACITY: usize = 10_000;

/// This daemon's place in the fleet.
pub struct FleetNode {
    daemon_id: String,
    registry: DynamoStore,
    queue: DaemonQueue,
    sender: FanoutSender,
    lease: Duration,
    /// The other live daemons' queue URLs.
    peers: Mutex<Vec<String>>,
    /// The other live daemons by id → their queue URL (where a forwarded call goes).
    queues: Mutex<HashMap<String, String>>,
    /// Forwarded calls waiting for their reply, by request id.
    waiting: Mutex<HashMap<String, oneshot::Sender<ForwardReply>>>,
    /// Sessions whose lease this daemon holds, with the lease's generation.
    held: Mutex<HashMap<String, u64>>,
    gate: Mutex<SeqGate>,
    outbox: mpsc::Sender<Event>,
    outbox_rx: Mutex<Option<mpsc::Receiver<Event>>>,
}

impl FleetNode {
    /// Joins the fleet: makes (or finds) this daemon's queue and registers it.
    pub async fn join(
        config: &Config,
        registry: DynamoStore,
        daemon_id: String,
    ) -> anyhow::Result<Arc<FleetNode>> {
        let options = SqsOptions {
            queue_prefix: config.table_prefix.clone(),
            ..SqsOptions::default()
        };
        let queue = DaemonQueue::open(&options, &daemon_id).await?;
        let sender = queue.sender();
        let (outbox, outbox_rx) = mpsc::channel(OUTBOX_CAPACITY);
        let node = Arc::new(FleetNode {
            daemon_id,
            registry,
            queue,
            sender,
            lease: config.lease,
            peers: Mutex::new(Vec::new()),
            queues: Mutex::new(HashMap::new()),
            waiting: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
            gate: Mutex::new(SeqGate::new()),
            outbox,
            outbox_rx: Mutex::new(Some(outbox_rx)),
        });
        node.register().await?;
        node.refresh_peers().await?;
        tracing::info!(daemon_id = %node.daemon_id, queue = %node.queue.url(), "joined the fleet");
        Ok(node)
    }

    pub fn daemon_id(&self) -> &str {
        &self.daemon_id
    }

    /// The lease's length in milliseconds.
    pub fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }

    /// Takes or renews a session's lease for this daemon, from now for one lease.
    pub async fn claim(
        &self,
        store: &dyn devflow_store::Store,
        session_id: &str,
    ) -> Result<devflow_store::LeaseClaim, devflow_store::StoreError> {
        store
            .claim_lease(
                session_id,
                &self.daemon_id,
                crate::now_millis(),
                self.lease_ms(),
            )
            .await
    }

    pub fn holds(&self, session_id: &str) -> bool {
        lock(&self.held).contains_key(session_id)
    }

    /// Records a lease this daemon was granted; `seen_seq` is the session's newest seq
    /// that this daemon has acted on (the store check reads after it).
    pub fn hold(&self, session_id: &str, generation: u64, seen_seq: u64) {
        lock(&self.held).insert(session_id.to_string(), generation);
        lock(&self.gate).advance(session_id, seen_seq);
    }

    pub fn drop_hold(&self, session_id: &str) {
        lock(&self.held).remove(session_id);
        lock(&self.gate).forget(session_id);
    }

    fn held_sessions(&self) -> Vec<String> {
        lock(&self.held).keys().cloned().collect()
    }

    /// Queues a copy of an event this daemon appended for the other daemons.
    pub fn announce(&self, event: &Event) {
        if lock(&self.peers).is_empty() {
            return;
        }
        if self.outbox.try_send(event.clone()).is_err() {
            tracing::warn!(session_id = %event.session_id, seq = event.seq, "fleet outbox full; the other daemons will read this event from the store");
        }
    }

    async fn register(&self) -> anyhow::Result<()> {
        let lease_ms = self.lease_ms();
        self.registry
            .register_daemon(&DaemonRecord {
                daemon_id: self.daemon_id.clone(),
                queue_url: self.queue.url().to_string(),
                expires_at: crate::now_millis() + 3 * lease_ms,
            })
            .await?;
        Ok(())
    }

    /// Reads the registry: the live other daemons become the peers; daemons gone for ten
    /// lease periods lose their record and their queue.
    async fn refresh_peers(&self) -> anyhow::Result<()> {
        let now = crate::now_millis();
        let mut peers = Vec::new();
        let mut queues = HashMap::new();
        for daemon in self.registry.list_daemons().await? {
            if daemon.daemon_id == self.daemon_id {
                continue;
            }
            if daemon.expires_at > now {
                queues.insert(daemon.daemon_id.clone(), daemon.queue_url.clone());
                peers.push(daemon.queue_url);
            } else if daemon.expires_at < now - 10 * self.lease_ms() {
                let lapsed_before = now - 10 * self.lease_ms();
                if self
                    .registry
                    .remove_daemon(&daemon.daemon_id, Some(lapsed_before))
                    .await?
                {
                    tracing::info!(daemon_id = %daemon.daemon_id, "removed a daemon that stopped renewing, and its queue");
                    if let Err(error) = self.sender.delete_queue(&daemon.queue_url).await {
                        tracing::warn!(daemon_id = %daemon.daemon_id, %error, "could not delete the queue of a gone daemon");
                    }
                }
            }
        }
        *lock(&self.peers) = peers;
        *lock(&self.queues) = queues;
        Ok(())
    }

    /// Sends a method call to daemon `owner` and waits for its answer: the result, or the
    /// error object it answered with.
    pub async fn forward(
        &self,
        owner: &str,
        method: &str,
        params: serde_json::Value,
    ) -> Result<ForwardReply, String> {
        let known = lock(&self.queues).get(owner).cloned();
        let queue = match known {
            Some(queue) => queue,
            None => {
                // Registered since the last round?
                self.refresh_peers().await.map_err(|e| e.to_string())?;
                lock(&self.queues)
                    .get(owner)
                    .cloned()
                    .ok_or_else(|| format!("daemon {owner} is not in the fleet's registry"))?
            }
        };
        let id = uuid::Uuid::new_v4().to_string();
        let request = Envelope::Request {
            id: id.clone(),
            method: method.to_string(),
            params,
            reply_to: self.queue.url().to_string(),
            from: self.daemon_id.clone(),
        };
        if !request.fits() {
            return Err(format!(
                "the request is larger than {} KiB, too large to pass to daemon {owner}",
                devflow_fleet::MAX_INLINE_BODY_BYTES / 1024
            ));
        }
        let (answer, reply) = oneshot::channel();
        lock(&self.waiting).insert(id.clone(), answer);
        let report = self.sender.send(&[queue], &[request]).await;
        if report.sent == 0 {
            lock(&self.waiting).remove(&id);
            let why = report
                .failed
                .first()
                .map(|(_, why)| why.clone())
                .unwrap_or_else(|| "its queue is gone".into());
            return Err(format!("could not reach daemon {owner}: {why}"));
        }
        match tokio::time::timeout(FORWARD_TIMEOUT, reply).await {
            Ok(Ok(reply)) => Ok(reply),
            _ => {
                lock(&self.waiting).remove(&id);
                Err(format!(
                    "daemon {owner} did not answer within {} s",
                    FORWARD_TIMEOUT.as_secs()
                ))
            }
        }
    }

    /// A reply to one of this daemon's forwarded calls.
    fn complete(&self, id: &str, reply: ForwardReply) {
        if let Some(waiting) = lock(&self.waiting).remove(id) {
            let _ = waiting.send(reply);
        }
    }

    /// Sends the answer of a call another daemon forwarded here.
    async fn answer(&self, reply_to: &str, id: String, reply: ForwardReply) {
        let (result, error) = match reply {
            ForwardReply::Result(value) => (Some(value), None),
            ForwardReply::Error(value) => (None, Some(value)),
        };
        let mut envelope = Envelope::Reply {
            id: id.clone(),
            result,
            error,
            from: self.daemon_id.clone(),
        };
        if !envelope.fits() {
            envelope = Envelope::Reply {
                id,
                result: None,
                error: Some(serde_json::json!({
                    "error": "INTERNAL",
                    "message": "the answer is too large to pass between daemons; ask the daemon that runs the session",
                })),
                from: self.daemon_id.clone(),
            };
        }
        let report = self.sender.send(&[reply_to.to_string()], &[envelope]).await;
        if report.sent == 0 {
            tracing::warn!(reply_to, "could not send the answer of a forwarded call");
        }
    }

    /// Starts the lease loop and the two SQS loops for `service`.
    pub fn run(self: &Arc<Self>, service: Service) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = vec![
            tokio::spawn(leases::run(self.clone(), service.clone())),
            tokio::spawn(relay::receive(self.clone(), service)),
        ];
        if let Some(outbox) = lock(&self.outbox_rx).take() {
            tasks.push(tokio::spawn(relay::send(self.clone(), outbox)));
        }
        tasks
    }

    /// A clean stop: gives up every lease (another daemon adopts the sessions at once),
    /// leaves the registry and deletes this daemon's queue.
    pub async fn leave(&self, service: &Service) {
        for session_id in self.held_sessions() {
            service.release_local(&session_id).await;
            if let Err(error) = self
                .registry_store()
                .release_lease(&session_id, &self.daemon_id)
                .await
            {
                tracing::warn!(session_id, %error, "could not release the session's lease");
            }
        }
        if let Err(error) = self.registry.remove_daemon(&self.daemon_id, None).await {
            tracing::warn!(%error, "could not leave the fleet's registry");
        }
        if let Err(error) = self.queue.clone().delete().await {
            tracing::warn!(%error, "could not delete this daemon's queue");
        }
    }

    fn registry_store(&self) -> &dyn devflow_store::Store {
        &self.registry
    }
}

/// This daemon's id: the configured one, else the one kept in the state dir (made on first
/// start), so a restarted daemon keeps its queue and its leases.
pub fn daemon_id(config: &Config) -> anyhow::Result<String> {
    if let Some(id) = &config.daemon_id {
        return Ok(id.clone());
    }
    let file = config.state_dir.join("daemon-id");
    if let Ok(id) = std::fs::read_to_string(&file) {
        let id = id.trim().to_string();
        if devflow_fleet::validate_daemon_id(&id).is_ok() {
            return Ok(id);
        }
    }
    let id = format!("d{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    std::fs::write(&file, format!("{id}\n"))
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
    Ok(id)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
