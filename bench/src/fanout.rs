//! Benchmark 2, event fan-out: N WebSocket clients subscribed to one session; a control
//! connection sends `session/updateSettings` (one SETTINGS_UPDATED event, its prompt naming
//! the trigger) and the time from sending it to the event's arrival at each client is one
//! delivery. Anchor, alternating event by event with the same client code: the broadcast
//! server of [`crate::anchor`] with as many clients and a frame of the same size.
//! One event is in flight at a time; clients only stamp and keep frames while measuring, and
//! everything is parsed afterwards, where every client must have received every event exactly
//! once, in seq order, or the run fails.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};
use tokio_tungstenite::tungstenite::Message;

use crate::anchor::{Anchor, Placement};
use crate::daemon::DaemonProcess;
use crate::stats::{summarize, Table};
use crate::ws::{self, Socket};

/// Connections opened at once: more would overflow the listen backlog and add SYN retries.
const CONNECT_CONCURRENCY: usize = 32;
/// How long all clients may take to receive one event.
const DELIVERY_WAIT: Duration = Duration::from_secs(30);
/// A pause after each event, so that one system's leftover work does not land in the other's
/// measurement.
const SETTLE: Duration = Duration::from_millis(5);

/// Arrival counting shared by one system's clients, so the driver knows when an event has
/// reached everyone without parsing anything while measuring.
struct Progress {
    /// Whose subscribers these are, for errors.
    what: &'static str,
    clients: usize,
    received: AtomicUsize,
    target: AtomicUsize,
    reached: Notify,
    last_frame_bytes: AtomicUsize,
}

impl Progress {
    fn new(what: &'static str, clients: usize) -> Progress {
        Progress {
            what,
            clients,
            received: AtomicUsize::new(0),
            target: AtomicUsize::new(0),
            reached: Notify::new(),
            last_frame_bytes: AtomicUsize::new(0),
        }
    }

    fn arrived(&self, bytes: usize) {
        self.last_frame_bytes.store(bytes, Ordering::Relaxed);
        let now = self.received.fetch_add(1, Ordering::SeqCst) + 1;
        if now == self.target.load(Ordering::SeqCst) {
            self.reached.notify_one();
        }
    }

    /// Waits until every subscriber has received event `event` (numbered from 0).
    async fn wait(&self, event: usize) -> anyhow::Result<()> {
        let (what, clients) = (self.what, self.clients);
        let target = (event + 1) * clients;
        let deadline = tokio::time::Instant::now() + DELIVERY_WAIT;
        loop {
            let received = self.received.load(Ordering::SeqCst);
            if received >= target {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, self.reached.notified())
                .await
                .is_err()
            {
                let got = clients.saturating_sub(target - received);
                bail!(
                    "{what}: after {DELIVERY_WAIT:?} only {got} of {clients} subscribers received event {event}"
                );
            }
        }
    }
}

/// A frame as a client saw it: when, and its text (parsed after the run).
type Frame = (Instant, String);

/// Latencies of one system: every delivery, and per event the first and the last.
#[derive(Default)]
struct Deliveries {
    all: Vec<Duration>,
    first: Vec<Duration>,
    last: Vec<Duration>,
}

pub struct FanoutResult {
    clients: usize,
    frame_bytes: usize,
    daemon: Deliveries,
    anchor: Deliveries,
}

pub async fn run(
    daemon: &DaemonProcess,
    clients: usize,
    events: usize,
    warmup: usize,
    placement: Placement,
) -> anyhow::Result<FanoutResult> {
    anyhow::ensure!(
        clients > 0 && events > 0,
        "--clients and --events must be at least 1"
    );
    let http = reqwest::Client::new();
    let session_id = daemon.create_session(&http).await?;

    // Where the session's stream stands now, so clients skip what happened before.
    let mut control = ws::connect(&daemon.ws_url()).await?;
    let subscribed = ws::call(
        &mut control,
        1,
        "session/subscribe",
        json!({ "sessionId": session_id }),
    )
    .await?;
    let last_seq = subscribed
        .get("lastSeq")
        .and_then(Value::as_u64)
        .with_context(|| format!("session/subscribe: no lastSeq in {subscribed}"))?;
    ws::call(
        &mut control,
        2,
        "session/unsubscribe",
        json!({ "sessionId": session_id }),
    )
    .await?;

    let anchor = Anchor::start(placement)?;
    let mut anchor_control = ws::connect(&anchor.url).await?;
    let (stop, stopped) = watch::channel(false);
    let daemon_progress = Arc::new(Progress::new("devflow", clients));
    let anchor_progress = Arc::new(Progress::new("anchor", clients));
    let started = Instant::now();
    let daemon_clients = connect_all(
        &daemon.ws_url(),
        clients,
        json!({"sessionId": session_id, "afterSeq": last_seq}),
        &daemon_progress,
        &stopped,
    )
    .await
    .context("connecting the daemon's subscribers")?;
    let anchor_clients = connect_all(
        &anchor.url,
        clients,
        json!({ "sessionId": "anchor" }),
        &anchor_progress,
        &stopped,
    )
    .await
    .context("connecting the anchor's subscribers")?;
    eprintln!(
        "devflow-bench: {} subscribers connected in {:.1} s",
        2 * clients,
        started.elapsed().as_secs_f64()
    );

    let total = warmup + events;
    let mut daemon_sent = Vec::with_capacity(total);
    let mut anchor_sent = Vec::with_capacity(total);
    for k in 0..total {
        let id = 10 + k as u64;
        let prompt = format!("bench-{k}");
        // Alternate which goes first, so neither always runs in the other's wake.
        for daemon_turn in [k % 2 == 0, k % 2 != 0] {
            if daemon_turn {
                let params = json!({"sessionId": session_id, "prompt": prompt});
                let sent = trigger(
                    &mut control,
                    id,
                    "session/updateSettings",
                    params,
                    &daemon_progress,
                    k,
                )
                .await?;
                daemon_sent.push(sent);
            } else {
                // The same size as the frames the daemon sends.
                let size = daemon_progress.last_frame_bytes.load(Ordering::Relaxed);
                let params = json!({"prompt": prompt, "size": size});
                let sent = trigger(
                    &mut anchor_control,
                    id,
                    "bench/broadcast",
                    params,
                    &anchor_progress,
                    k,
                )
                .await?;
                anchor_sent.push(sent);
            }
            tokio::time::sleep(SETTLE).await;
        }
    }
    let frame_bytes = daemon_progress.last_frame_bytes.load(Ordering::Relaxed);

    // A grace period, so that a late duplicate or stray event is still caught by the check.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = stop.send(true);
    let daemon_frames = collect(daemon_clients).await?;
    let anchor_frames = collect(anchor_clients).await?;
    drop(anchor);
    Ok(FanoutResult {
        clients,
        frame_bytes,
        daemon: check_and_measure("devflow", &daemon_frames, &daemon_sent, warmup)?,
        anchor: check_and_measure("anchor", &anchor_frames, &anchor_sent, warmup)?,
    })
}

/// Sends one trigger on `control` and waits until every subscriber has its event; returns
/// when the trigger was sent.
async fn trigger(
    control: &mut Socket,
    id: u64,
    method: &str,
    params: Value,
    progress: &Progress,
    event: usize,
) -> anyhow::Result<Instant> {
    progress
        .target
        .store((event + 1) * progress.clients, Ordering::SeqCst);
    let sent = Instant::now();
    ws::send_request(control, id, method, params).await?;
    ws::reply(control, id, method).await?;
    progress.wait(event).await?;
    Ok(sent)
}

/// Opens `clients` connections to `url`, subscribes each with `params`, and starts its reader.
async fn connect_all(
    url: &str,
    clients: usize,
    params: Value,
    progress: &Arc<Progress>,
    stopped: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<Vec<Frame>>>> {
    futures::stream::iter(0..clients)
        .map(|i| {
            let params = params.clone();
            let progress = progress.clone();
            let stopped = stopped.clone();
            async move {
                let mut socket = ws::connect(url)
                    .await
                    .with_context(|| format!("subscriber {i}"))?;
                ws::call(&mut socket, 1, "session/subscribe", params)
                    .await
                    .with_context(|| format!("subscriber {i}"))?;
                Ok::<_, anyhow::Error>(tokio::spawn(read_frames(socket, progress, stopped)))
            }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .try_collect()
        .await
}

/// A subscriber: stamps and keeps every `event` notification until told to stop.
async fn read_frames(
    mut socket: Socket,
    progress: Arc<Progress>,
    mut stopped: watch::Receiver<bool>,
) -> Vec<Frame> {
    let mut frames = Vec::new();
    loop {
        tokio::select! {
            biased;
            _ = stopped.changed() => break,
            frame = socket.next() => {
                let at = Instant::now();
                match frame {
                    Some(Ok(Message::Text(text))) => {
                        // Cheap: whole parsing waits until the run is over.
                        if text.as_str().contains("\"method\":\"event\"") {
                            progress.arrived(text.len());
                            // A copy, so the frame does not pin the socket's read buffer.
                            frames.push((at, text.as_str().to_owned()));
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                }
            }
        }
    }
    frames
}

async fn collect(
    handles: Vec<tokio::task::JoinHandle<Vec<Frame>>>,
) -> anyhow::Result<Vec<Vec<Frame>>> {
    let mut all = Vec::with_capacity(handles.len());
    for handle in handles {
        all.push(handle.await.context("a subscriber task panicked")?);
    }
    Ok(all)
}

/// Checks that every client got every trigger's event exactly once, in order, with the seqs
/// every other client saw; returns the latencies of the measured (non-warm-up) events.
fn check_and_measure(
    what: &str,
    clients: &[Vec<Frame>],
    sent: &[Instant],
    warmup: usize,
) -> anyhow::Result<Deliveries> {
    let mut expected_seqs: Option<Vec<u64>> = None;
    let mut per_event: Vec<Vec<Duration>> = vec![Vec::with_capacity(clients.len()); sent.len()];
    for (c, frames) in clients.iter().enumerate() {
        if frames.len() != sent.len() {
            bail!(
                "{what}: subscriber {c} received {} event frames; {} events were sent (each must arrive exactly once)",
                frames.len(),
                sent.len()
            );
        }
        let mut seqs = Vec::with_capacity(frames.len());
        for (k, (at, text)) in frames.iter().enumerate() {
            let value: Value = serde_json::from_str(text)
                .with_context(|| format!("{what}: subscriber {c}: a frame is not JSON: {text}"))?;
            let seq = value
                .pointer("/params/seq")
                .and_then(Value::as_u64)
                .with_context(|| format!("{what}: subscriber {c}: an event without seq: {text}"))?;
            let prompt = value
                .pointer("/params/data/settings/prompt")
                .and_then(Value::as_str);
            let expected = format!("bench-{k}");
            if prompt != Some(expected.as_str()) {
                bail!(
                    "{what}: subscriber {c}: event #{k} should carry prompt {expected:?}, got {prompt:?} (seq {seq}; out of order, repeated or foreign): {text}"
                );
            }
            if let Some(&previous) = seqs.last() {
                if seq != previous + 1 {
                    bail!("{what}: subscriber {c}: seq {seq} follows {previous}; seqs must be consecutive");
                }
            }
            seqs.push(seq);
            per_event[k].push(at.checked_duration_since(sent[k]).unwrap_or_default());
        }
        match &expected_seqs {
            None => expected_seqs = Some(seqs),
            Some(first) if *first != seqs => bail!(
                "{what}: subscriber {c} saw seqs {:?}… but subscriber 0 saw {:?}…",
                &seqs[..seqs.len().min(5)],
                &first[..first.len().min(5)]
            ),
            Some(_) => {}
        }
    }
    let mut deliveries = Deliveries::default();
    for latencies in per_event.into_iter().skip(warmup) {
        if let (Some(first), Some(last)) = (latencies.iter().min(), latencies.iter().max()) {
            deliveries.first.push(*first);
            deliveries.last.push(*last);
        }
        deliveries.all.extend(latencies);
    }
    Ok(deliveries)
}

impl FanoutResult {
    pub fn add_to(&self, table: &mut Table) {
        let benchmark = format!(
            "fan-out to {} WebSocket subscribers ({} B frames)",
            self.clients, self.frame_bytes
        );
        let summaries = |d: &Deliveries| {
            Some((
                summarize(&d.all)?,
                summarize(&d.first)?,
                summarize(&d.last)?,
            ))
        };
        let (Some((d_all, d_first, d_last)), Some((a_all, a_first, a_last))) =
            (summaries(&self.daemon), summaries(&self.anchor))
        else {
            return;
        };
        table.add(
            &benchmark,
            "devflow: updateSettings sent → event at a subscriber (every delivery)",
            d_all,
        );
        table.add(
            &benchmark,
            "devflow: … at the first subscriber of each event",
            d_first,
        );
        table.add(
            &benchmark,
            "devflow: … at the last subscriber of each event",
            d_last,
        );
        table.add(
            &benchmark,
            "anchor: broadcast request sent → frame at a subscriber (every delivery)",
            a_all,
        );
        table.add(
            &benchmark,
            "anchor: … at the first subscriber of each event",
            a_first,
        );
        table.add(
            &benchmark,
            "anchor: … at the last subscriber of each event",
            a_last,
        );
        table.ratio(&benchmark, "every delivery", d_all, a_all);
        table.ratio(&benchmark, "first subscriber", d_first, a_first);
        table.ratio(&benchmark, "last subscriber", d_last, a_last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(at: Instant, seq: u64, k: usize) -> Frame {
        let text = json!({"jsonrpc": "2.0", "method": "event", "params": {"seq": seq, "data": {"settings": {"prompt": format!("bench-{k}")}}}});
        (at, text.to_string())
    }

    #[test]
    fn counts_every_delivery_after_the_warm_up() {
        let t0 = Instant::now();
        let sent = vec![t0, t0 + Duration::from_millis(10)];
        let client = |delay: u64| {
            vec![
                frame(t0 + Duration::from_millis(delay), 5, 0),
                frame(t0 + Duration::from_millis(10 + delay), 6, 1),
            ]
        };
        let deliveries = check_and_measure("x", &[client(1), client(3)], &sent, 1).expect("valid");
        assert_eq!(
            deliveries.all,
            vec![Duration::from_millis(1), Duration::from_millis(3)]
        );
        assert_eq!(deliveries.first, vec![Duration::from_millis(1)]);
        assert_eq!(deliveries.last, vec![Duration::from_millis(3)]);
    }

    #[test]
    fn a_missing_repeated_or_reordered_event_fails_the_run() {
        let t0 = Instant::now();
        let sent = vec![t0, t0];
        let missing = vec![frame(t0, 1, 0)];
        let repeated = vec![frame(t0, 1, 0), frame(t0, 1, 0)];
        let reordered = vec![frame(t0, 2, 1), frame(t0, 1, 0)];
        let gap = vec![frame(t0, 1, 0), frame(t0, 3, 1)];
        for bad in [missing, repeated, reordered, gap] {
            assert!(check_and_measure("x", &[bad], &sent, 0).is_err());
        }
    }

    #[test]
    fn subscribers_that_disagree_on_seqs_fail_the_run() {
        let t0 = Instant::now();
        let sent = vec![t0];
        let one = vec![frame(t0, 1, 0)];
        let other = vec![frame(t0, 2, 0)];
        assert!(check_and_measure("x", &[one, other], &sent, 0).is_err());
    }
}
