//! The reload channel: the [`Notifier`] that announces changed files, and the
//! `/__devflow/ws` endpoint the reload client keeps open. Every message carries a `seq`
//! (and the hello the proxy's `epoch`), so a client that reconnects knows whether it missed
//! anything. What clients relay (console errors, uncaught exceptions) goes to the
//! [`crate::ReportSink`], rate-limited per connection. A client also says when it has
//! finished with a change (`{"type":"settled","seq":N}`: its stylesheets swapped, or the
//! reloaded page loaded), which is what [`Notifier::settled`] waits for.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::{SinkExt, StreamExt};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::ReportSink;

/// Messages buffered per client before a slow one is told to reload instead.
const BROADCAST_CAPACITY: usize = 64;
/// Longest relayed message and stack, in characters.
const MAX_TEXT: usize = 4000;
/// Relayed reports per connection: a burst of this many, then this many per second.
const REPORT_BURST: f64 = 20.0;
const REPORT_RATE: f64 = 2.0;

/// An error a page's reload client relayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientReport {
    /// `console.error`, `uncaught` or `unhandledrejection`.
    pub kind: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// The script the error came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// The page that reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
}

pub(crate) struct Hub {
    epoch: String,
    /// Held while a message is numbered and sent, so clients see seqs in order.
    seq: Mutex<u64>,
    changed_at: AtomicI64,
    sender: broadcast::Sender<Arc<str>>,
    clients: AtomicUsize,
    /// The highest seq a client said it has finished with.
    settled: watch::Sender<u64>,
}

/// Announces changes to every connected reload client. Cheap to clone.
#[derive(Clone)]
pub struct Notifier(pub(crate) Arc<Hub>);

impl Notifier {
    pub(crate) fn new() -> Self {
        let epoch = format!("{:016x}", rand::random::<u64>());
        Notifier(Arc::new(Hub {
            epoch,
            seq: Mutex::new(0),
            changed_at: AtomicI64::new(0),
            sender: broadcast::channel(BROADCAST_CAPACITY).0,
            clients: AtomicUsize::new(0),
            settled: watch::channel(0).0,
        }))
    }

    /// Files changed (workspace-relative, `/`-separated): stylesheets only → the clients swap
    /// them in place; anything else → they reload. Returns the change's seq.
    pub fn changed(&self, files: &[String]) -> u64 {
        let css_only = !files.is_empty() && files.iter().all(|f| is_css(f));
        self.send(|seq| {
            serde_json::json!({"type": "change", "seq": seq, "files": files, "cssOnly": css_only})
        })
    }

    /// Every client reloads (e.g. the dev server came back after a crash).
    pub fn reload(&self) {
        self.send(|seq| serde_json::json!({"type": "reload", "seq": seq}));
    }

    /// Reload clients connected now.
    pub fn clients(&self) -> usize {
        self.0.clients.load(Ordering::Relaxed)
    }

    /// Waits until a client says it has finished with change `seq` (or a later one), at
    /// most `timeout`; false when none did in time.
    pub async fn settled(&self, seq: u64, timeout: std::time::Duration) -> bool {
        let mut settled = self.0.settled.subscribe();
        tokio::time::timeout(timeout, settled.wait_for(|done| *done >= seq))
            .await
            .is_ok_and(|waited| waited.is_ok())
    }

    fn send(&self, message: impl FnOnce(u64) -> serde_json::Value) -> u64 {
        let mut seq = self.0.seq.lock().unwrap_or_else(|p| p.into_inner());
        *seq += 1;
        self.0.changed_at.store(unix_millis(), Ordering::Relaxed);
        let text: Arc<str> = message(*seq).to_string().into();
        // No receivers = no page open; the seq still moved, so a late page resyncs.
        let _ = self.0.sender.send(text);
        *seq
    }

    /// A client finished with `seq`; a seq never sent is not believed.
    fn client_settled(&self, seq: u64) {
        let sent = *self.0.seq.lock().unwrap_or_else(|p| p.into_inner());
        let seq = seq.min(sent);
        self.0.settled.send_if_modified(|done| {
            let newer = seq > *done;
            if newer {
                *done = seq;
            }
            newer
        });
    }

    fn hello(&self) -> String {
        let seq = *self.0.seq.lock().unwrap_or_else(|p| p.into_inner());
        serde_json::json!({
            "type": "hello",
            "epoch": self.0.epoch,
            "seq": seq,
            "changedAt": self.0.changed_at.load(Ordering::Relaxed),
        })
        .to_string()
    }
}

fn is_css(file: &str) -> bool {
    file.len() > 4 && file[file.len() - 4..].eq_ignore_ascii_case(".css")
}

fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs one reload client's socket once the upgrade completes.
pub(crate) fn serve_client(
    notifier: Notifier,
    upgrade: OnUpgrade,
    sink: Option<ReportSink>,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let upgraded = match upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, "reload client upgrade failed");
                return;
            }
        };
        let mut config = WebSocketConfig::default();
        config.max_message_size = Some(64 * 1024);
        config.max_frame_size = Some(64 * 1024);
        let mut socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        // Subscribe before the hello is numbered: a change in between arrives twice and the
        // client drops the copy whose seq it already has.
        let mut changes = notifier.0.sender.subscribe();
        let _count = ClientCount::new(&notifier);
        if socket.send(Message::text(notifier.hello())).await.is_err() {
            return;
        }
        let mut bucket = TokenBucket::new();
        loop {
            tokio::select! {
                change = changes.recv() => {
                    let text = match change {
                        Ok(text) => text.to_string(),
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            serde_json::json!({"type": "reload"}).to_string()
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    };
                    if socket.send(Message::text(text)).await.is_err() {
                        break;
                    }
                }
                incoming = socket.next() => match incoming {
                    Some(Ok(Message::Text(text))) => match parse_message(text.as_str()) {
                        Some(ClientMessage::Report(report)) if bucket.take() => {
                            if let Some(sink) = &sink {
                                sink(report);
                            }
                        }
                        Some(ClientMessage::Settled(seq)) => notifier.client_settled(seq),
                        _ => {}
                    },
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
                _ = crate::stopped(&mut shutdown) => {
                    let _ = socket.close(None).await;
                    break;
                }
            }
        }
    });
}

struct ClientCount(Arc<Hub>);

impl ClientCount {
    fn new(notifier: &Notifier) -> Self {
        notifier.0.clients.fetch_add(1, Ordering::Relaxed);
        ClientCount(notifier.0.clone())
    }
}

impl Drop for ClientCount {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Reports from one connection: a burst, then a steady rate; the rest are dropped.
struct TokenBucket {
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    fn new() -> Self {
        TokenBucket {
            tokens: REPORT_BURST,
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * REPORT_RATE;
        self.tokens = (self.tokens + refill).min(REPORT_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    kind: String,
    #[serde(flatten)]
    report: serde_json::Value,
}

/// What a reload client says.
#[derive(Debug, PartialEq)]
enum ClientMessage {
    Report(ClientReport),
    /// `{"type":"settled","seq":N}`: it has finished with change N.
    Settled(u64),
}

fn parse_message(text: &str) -> Option<ClientMessage> {
    let incoming: Incoming = serde_json::from_str(text).ok()?;
    match incoming.kind.as_str() {
        "error" => parse_report(incoming.report).map(ClientMessage::Report),
        "settled" => incoming
            .report
            .get("seq")
            .and_then(serde_json::Value::as_u64)
            .map(ClientMessage::Settled),
        _ => None,
    }
}

/// A client's `{"type":"error", …}` message as a report, its texts clipped; anything
/// malformed is ignored.
fn parse_report(fields: serde_json::Value) -> Option<ClientReport> {
    let mut report: ClientReport = serde_json::from_value(fields).ok()?;
    report.kind = clip(&report.kind, 40);
    report.message = clip(&report.message, MAX_TEXT);
    report.stack = report.stack.map(|s| clip(&s, MAX_TEXT));
    report.url = report.url.map(|s| clip(&s, 500));
    report.page = report.page.map(|s| clip(&s, 500));
    Some(report)
}

fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(text: &str) -> Option<ClientReport> {
        match parse_message(text) {
            Some(ClientMessage::Report(report)) => Some(report),
            _ => None,
        }
    }

    #[test]
    fn parses_error_reports_and_ignores_the_rest() {
        let parsed = report(
            r#"{"type":"error","kind":"uncaught","message":"boom","url":"http://x/a.js","line":3,"column":7,"page":"http://x/"}"#,
        )
        .unwrap();
        assert_eq!(parsed.kind, "uncaught");
        assert_eq!(parsed.message, "boom");
        assert_eq!(parsed.line, Some(3));
        assert!(parse_message(r#"{"type":"hello"}"#).is_none());
        assert!(parse_message("not json").is_none());
        assert!(parse_message(r#"{"type":"error","message":5}"#).is_none());
        assert_eq!(
            parse_message(r#"{"type":"settled","seq":7}"#),
            Some(ClientMessage::Settled(7))
        );
        assert!(parse_message(r#"{"type":"settled","seq":-1}"#).is_none());
    }

    #[test]
    fn long_reports_are_clipped() {
        let long = "é".repeat(MAX_TEXT + 10);
        let parsed = report(&format!(
            r#"{{"type":"error","kind":"console.error","message":"{long}"}}"#
        ))
        .unwrap();
        assert_eq!(parsed.message.chars().count(), MAX_TEXT + 1);
    }

    #[tokio::test]
    async fn settled_waits_for_a_client_to_finish_the_change() {
        let notifier = Notifier::new();
        let first = notifier.changed(&["a.css".to_string()]);
        let second = notifier.changed(&["index.html".to_string()]);
        assert_eq!(second, first + 1);
        let short = std::time::Duration::from_millis(20);
        assert!(!notifier.settled(first, short).await, "nobody answered yet");
        notifier.client_settled(first);
        assert!(notifier.settled(first, short).await);
        assert!(!notifier.settled(second, short).await);
        notifier.client_settled(99);
        assert!(
            !notifier.settled(99, short).await,
            "a seq never sent is capped at the last one sent"
        );
        assert!(notifier.settled(second, short).await);
    }

    #[test]
    fn css_only_is_decided_by_extension() {
        assert!(is_css("css/style.CSS"));
        assert!(!is_css(".css"));
        assert!(!is_css("index.html"));
    }

    #[test]
    fn the_bucket_allows_a_burst_then_drops() {
        let mut bucket = TokenBucket::new();
        let allowed = (0..100).filter(|_| bucket.take()).count();
        assert_eq!(allowed, REPORT_BURST as usize);
    }
}
