//! The fan-out anchor: the least a WebSocket broadcast server can do on this machine. It
//! accepts WebSocket clients, answers `session/subscribe`, and on `bench/broadcast` sends one
//! pre-serialised event frame, padded to the size of the daemon's, through a
//! `tokio::sync::broadcast` channel to every subscriber — no store, no per-subscriber
//! encoding. It runs on a multi-threaded runtime of its own (as many workers as the daemon's),
//! in the benchmark process or in a child process like the daemon.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, Mutex};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Frames buffered for a slow subscriber before it would lag.
const CAPACITY: usize = 1024;

/// The anchor's broadcast: the channel and the seq of the last frame sent.
struct Hub {
    sender: broadcast::Sender<Utf8Bytes>,
    seq: AtomicU64,
}

/// Where the anchor server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Placement {
    /// A second runtime inside the benchmark process.
    Thread,
    /// A child process of its own (`devflow-bench anchor-serve`), like the daemon.
    Process,
}

/// A running anchor server, wherever it runs; stopped when dropped.
pub struct Anchor {
    /// `ws://127.0.0.1:PORT/`.
    pub url: String,
    runtime: Option<tokio::runtime::Runtime>,
    child: Option<std::process::Child>,
}

impl Anchor {
    pub fn start(placement: Placement) -> anyhow::Result<Anchor> {
        match placement {
            Placement::Thread => {
                let (listener, url) = bind()?;
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .thread_name("anchor")
                    .enable_all()
                    .build()
                    .context("cannot start the anchor server's runtime")?;
                runtime.spawn(accept_loop(listener));
                Ok(Anchor {
                    url,
                    runtime: Some(runtime),
                    child: None,
                })
            }
            Placement::Process => start_process(),
        }
    }
}

impl Drop for Anchor {
    fn drop(&mut self) {
        // Not `drop(runtime)`: that blocks, and this may run inside the benchmark's runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start_process() -> anyhow::Result<Anchor> {
    use std::io::BufRead;
    let exe = std::env::current_exe().context("cannot find this benchmark's path")?;
    let mut child = std::process::Command::new(exe)
        .arg("anchor-serve")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot start the anchor server process")?;
    let stdout = child
        .stdout
        .take()
        .context("the anchor's stdout is piped")?;
    let mut line = String::new();
    let url = match std::io::BufReader::new(stdout).read_line(&mut line) {
        Ok(_) => line
            .trim()
            .strip_prefix("anchor listening on ")
            .map(str::to_string),
        Err(_) => None,
    };
    match url {
        Some(url) => Ok(Anchor {
            url,
            runtime: None,
            child: Some(child),
        }),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("the anchor server process did not start: {line:?}")
        }
    }
}

/// Serves the anchor on this runtime until the process ends (`devflow-bench anchor-serve`).
pub async fn serve_forever() -> anyhow::Result<()> {
    let (listener, url) = bind()?;
    println!("anchor listening on {url}");
    accept_loop(listener).await;
    Ok(())
}

fn bind() -> anyhow::Result<(std::net::TcpListener, String)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .context("the anchor server cannot listen on 127.0.0.1")?;
    listener
        .set_nonblocking(true)
        .context("the anchor server cannot make its listener non-blocking")?;
    let port = listener
        .local_addr()
        .context("the anchor server has no address")?
        .port();
    Ok((listener, format!("ws://127.0.0.1:{port}/")))
}

async fn accept_loop(listener: std::net::TcpListener) {
    let hub = Arc::new(Hub {
        sender: broadcast::channel(CAPACITY).0,
        seq: AtomicU64::new(0),
    });
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("devflow-bench: the anchor server cannot accept: {error}");
            return;
        }
    };
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                let _ = tcp.set_nodelay(true);
                tokio::spawn(serve(tcp, hub.clone()));
            }
            Err(error) => {
                // Out of descriptors, most likely: say so, and keep serving those we have.
                eprintln!("devflow-bench: the anchor server's accept failed: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// One connection: this task reads requests and answers them; once subscribed, a writer task
/// sends the broadcast frames. Split like the daemon's connections, so that a broadcast wakes
/// only the writer and not a read of the socket as well.
async fn serve(tcp: TcpStream, hub: Arc<Hub>) {
    let Ok(socket) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let (sink, mut stream) = socket.split();
    let sink = Arc::new(Mutex::new(sink));
    let mut writer: Option<tokio::task::JoinHandle<()>> = None;
    while let Some(Ok(frame)) = stream.next().await {
        let text = match frame {
            Message::Text(text) => text,
            Message::Close(_) => break,
            _ => continue,
        };
        let (reply, subscribed) = handle(&hub, text.as_str());
        if sink
            .lock()
            .await
            .send(Message::Text(reply.into()))
            .await
            .is_err()
        {
            break;
        }
        // Started after the reply is out, so the reply comes before the first frame.
        if let Some(mut receiver) = subscribed {
            let sink = sink.clone();
            let forward = tokio::spawn(async move {
                loop {
                    match receiver.recv().await {
                        Ok(frame) => {
                            if sink.lock().await.send(Message::Text(frame)).await.is_err() {
                                return;
                            }
                        }
                        // A lagging anchor subscriber shows up as missing frames in the
                        // benchmark's exactly-once check, which fails the run loudly.
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
            if let Some(previous) = writer.replace(forward) {
                previous.abort();
            }
        }
    }
    if let Some(writer) = writer {
        writer.abort();
    }
}

/// Answers one JSON-RPC request; `session/subscribe` also returns the subscription.
fn handle(hub: &Hub, text: &str) -> (String, Option<broadcast::Receiver<Utf8Bytes>>) {
    let request: Value = match serde_json::from_str(text) {
        Ok(request) => request,
        Err(error) => {
            return (
                error_reply(&Value::Null, &format!("not JSON: {error}")),
                None,
            )
        }
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    match request.get("method").and_then(Value::as_str) {
        Some("session/subscribe") => {
            let receiver = hub.sender.subscribe();
            let last_seq = hub.seq.load(Ordering::SeqCst);
            let reply = json!({"jsonrpc": "2.0", "id": id, "result": {"sessionId": ANCHOR_SESSION, "lastSeq": last_seq}});
            (reply.to_string(), Some(receiver))
        }
        Some("bench/broadcast") => {
            let (Some(prompt), Some(size)) = (
                params.get("prompt").and_then(Value::as_str),
                params.get("size").and_then(Value::as_u64),
            ) else {
                return (
                    error_reply(&id, "bench/broadcast needs {prompt, size}"),
                    None,
                );
            };
            let seq = hub.seq.fetch_add(1, Ordering::SeqCst) + 1;
            let frame = event_frame(seq, prompt, size as usize);
            let receivers = hub.sender.send(frame.into()).unwrap_or(0);
            let reply =
                json!({"jsonrpc": "2.0", "id": id, "result": {"seq": seq, "receivers": receivers}});
            (reply.to_string(), None)
        }
        _ => (error_reply(&id, "unknown method"), None),
    }
}

const ANCHOR_SESSION: &str = "00000000-0000-4000-8000-000000000000";

/// An `event` notification shaped like the daemon's SETTINGS_UPDATED, padded with a `pad`
/// field to `size` bytes (when it is not already longer).
pub fn event_frame(seq: u64, prompt: &str, size: usize) -> String {
    let build = |pad: &str| {
        json!({
            "jsonrpc": "2.0",
            "method": "event",
            "params": {
                "sessionId": ANCHOR_SESSION,
                "seq": seq,
                "at": 0,
                "type": "SETTINGS_UPDATED",
                "data": {"settings": {"prompt": prompt}},
                "pad": pad,
            }
        })
        .to_string()
    };
    let bare = build("");
    if bare.len() >= size {
        return bare;
    }
    build(&"x".repeat(size - bare.len()))
}

fn error_reply(id: &Value, message: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32600, "message": message}}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_frame_is_padded_to_the_requested_size() {
        let frame = event_frame(7, "bench-3", 600);
        assert_eq!(frame.len(), 600);
        let value: Value = serde_json::from_str(&frame).expect("JSON");
        assert_eq!(value["params"]["seq"], 7);
        assert_eq!(value["params"]["data"]["settings"]["prompt"], "bench-3");
    }

    #[test]
    fn event_frame_larger_than_requested_is_left_alone() {
        let frame = event_frame(1, "p", 10);
        assert!(frame.len() > 10);
        assert!(frame.contains("\"pad\":\"\""));
    }
}
