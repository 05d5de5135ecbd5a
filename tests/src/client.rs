//! One client interface over the three transports. `call` returns the result, or the error
//! object (REST: the body; JSON-RPC: `error` with its `code`); `next_event` returns the next
//! event of the subscribed session.

use std::collections::VecDeque;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::daemon::{binary, Daemon, TOKEN};

const WAIT: Duration = Duration::from_secs(20);

/// A failed call: `status` is the HTTP status (REST) or the JSON-RPC code; `body` is the
/// seed-004 error object.
#[derive(Debug, Clone)]
pub struct CallError {
    pub status: i64,
    pub body: Value,
}

#[async_trait]
pub trait Client: Send {
    fn transport(&self) -> &'static str;
    async fn call(&mut self, method: &str, params: Value) -> Result<Value, CallError>;
    /// Subscribes to a session's events after `after_seq`.
    async fn subscribe(&mut self, session_id: &str, after_seq: u64) -> Result<Value, CallError>;
    /// The next event of the subscription (panics after 20 s).
    async fn next_event(&mut self) -> Value;
}

// ---------------------------------------------------------------------------------------
// REST + SSE

pub struct RestClient {
    http: reqwest::Client,
    base: String,
    events: Option<SseReader>,
}

impl RestClient {
    pub fn new(daemon: &Daemon) -> Self {
        RestClient {
            http: reqwest::Client::new(),
            base: daemon.base_url.clone(),
            events: None,
        }
    }

    /// The REST route of a JSON-RPC method, as DESIGN.md's API table names it.
    fn route(method: &str, params: &mut Value) -> (reqwest::Method, String) {
        let mut take = |key: &str| -> String {
            params
                .as_object_mut()
                .and_then(|m| m.remove(key))
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        use reqwest::Method as M;
        match method {
            "session/create" => (M::POST, "/sessions".into()),
            "session/list" => (M::GET, "/sessions".into()),
            "session/get" => (M::GET, format!("/sessions/{}", take("sessionId"))),
            "session/delete" => (M::DELETE, format!("/sessions/{}", take("sessionId"))),
            "session/start" => (M::POST, format!("/sessions/{}/start", take("sessionId"))),
            "session/stop" => (M::POST, format!("/sessions/{}/stop", take("sessionId"))),
            "session/pause" => (M::POST, format!("/sessions/{}/pause", take("sessionId"))),
            "session/resume" => (M::POST, format!("/sessions/{}/resume", take("sessionId"))),
            "session/rollback" => (M::POST, format!("/sessions/{}/rollback", take("sessionId"))),
            "session/history" => (M::GET, format!("/sessions/{}/history", take("sessionId"))),
            "session/getSettings" => (M::GET, format!("/sessions/{}/settings", take("sessionId"))),
            "session/updateSettings" => (
                M::PATCH,
                format!("/sessions/{}/settings", take("sessionId")),
            ),
            "session/publish" => (M::POST, format!("/sessions/{}/publish", take("sessionId"))),
            "session/editorUrl" => (M::GET, format!("/sessions/{}/editor", take("sessionId"))),
            "reference/get" => (M::GET, format!("/sessions/{}/reference", take("sessionId"))),
            "command/submit" => (M::POST, format!("/sessions/{}/commands", take("sessionId"))),
            "command/get" => {
                let session = take("sessionId");
                (
                    M::GET,
                    format!("/sessions/{session}/commands/{}", take("commandId")),
                )
            }
            "command/cancel" => {
                let session = take("sessionId");
                (
                    M::POST,
                    format!("/sessions/{session}/commands/{}/cancel", take("commandId")),
                )
            }
            "patch/get" => {
                let session = take("sessionId");
                (
                    M::GET,
                    format!("/sessions/{session}/patches/{}", take("patchId")),
                )
            }
            "patch/apply" => (M::POST, format!("/sessions/{}/patches", take("sessionId"))),
            other => panic!("no REST route for {other}"),
        }
    }
}

#[async_trait]
impl Client for RestClient {
    fn transport(&self) -> &'static str {
        "rest"
    }

    async fn call(&mut self, method: &str, mut params: Value) -> Result<Value, CallError> {
        let (verb, path) = RestClient::route(method, &mut params);
        let mut request = self
            .http
            .request(verb.clone(), format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if verb == reqwest::Method::GET {
            let query: Vec<(String, String)> = params
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| v.to_string()),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            request = request.query(&query);
        } else {
            request = request.json(&params);
        }
        let response = tokio::time::timeout(WAIT, request.send())
            .await
            .expect("REST call timed out")
            .expect("REST call");
        let status = response.status().as_u16() as i64;
        let body: Value = response.json().await.expect("JSON body");
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(CallError { status, body })
        }
    }

    async fn subscribe(&mut self, session_id: &str, after_seq: u64) -> Result<Value, CallError> {
        let response = self
            .http
            .get(format!("{}/sessions/{session_id}/events", self.base))
            .bearer_auth(TOKEN)
            .header("Last-Event-ID", after_seq.to_string())
            .send()
            .await
            .expect("SSE request");
        let status = response.status().as_u16() as i64;
        if status != 200 {
            let body = response.json().await.unwrap_or(Value::Null);
            return Err(CallError { status, body });
        }
        self.events = Some(SseReader::new(response));
        Ok(json!({ "sessionId": session_id }))
    }

    async fn next_event(&mut self) -> Value {
        let reader = self.events.as_mut().expect("subscribed");
        let (_, data) = tokio::time::timeout(WAIT, reader.next())
            .await
            .expect("no SSE event within 20 s")
            .expect("SSE stream ended");
        serde_json::from_str(&data).expect("SSE data is JSON")
    }
}

/// Reads `id:`/`data:` records from an SSE response.
pub struct SseReader {
    stream: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> Self {
        SseReader {
            stream: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next record with data: (id, data). `None` when the stream ends.
    pub async fn next(&mut self) -> Option<(Option<String>, String)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let record: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut data = String::new();
                for line in record.lines() {
                    if let Some(value) = line.strip_prefix("id:") {
                        id = Some(value.trim().to_string());
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.strip_prefix(' ').unwrap_or(value));
                    }
                }
                if !data.is_empty() {
                    return Some((id, data));
                }
                continue;
            }
            let chunk = self.stream.next().await?.ok()?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

// ---------------------------------------------------------------------------------------
// JSON-RPC over WebSocket

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct WsClient {
    socket: WsStream,
    next_id: u64,
    events: VecDeque<Value>,
}

impl WsClient {
    pub async fn connect(daemon: &Daemon) -> Self {
        let url = format!("{}?token={TOKEN}", daemon.ws_url());
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("WebSocket connects");
        WsClient {
            socket,
            next_id: 1,
            events: VecDeque::new(),
        }
    }

    /// Sends raw text and returns the next non-notification message.
    pub async fn raw(&mut self, text: &str) -> Value {
        self.socket
            .send(tokio_tungstenite::tungstenite::Message::Text(text.into()))
            .await
            .expect("send");
        self.next_reply().await
    }

    async fn next_reply(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("no WebSocket message within 20 s");
            let message = message.expect("socket open").expect("frame");
            let text = match message {
                tokio_tungstenite::tungstenite::Message::Text(text) => text.to_string(),
                _ => continue,
            };
            let value: Value = serde_json::from_str(&text).expect("JSON frame");
            if value.get("method").and_then(Value::as_str) == Some("event") {
                self.events.push_back(value["params"].clone());
                continue;
            }
            return value;
        }
    }
}

#[async_trait]
impl Client for WsClient {
    fn transport(&self) -> &'static str {
        "ws"
    }

    async fn call(&mut self, method: &str, params: Value) -> Result<Value, CallError> {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let reply = self.raw(&request.to_string()).await;
        assert_eq!(reply["id"], json!(id), "replies come in order: {reply}");
        jsonrpc_result(reply)
    }

    async fn subscribe(&mut self, session_id: &str, after_seq: u64) -> Result<Value, CallError> {
        self.call(
            "session/subscribe",
            json!({"sessionId": session_id, "afterSeq": after_seq}),
        )
        .await
    }

    async fn next_event(&mut self) -> Value {
        loop {
            if let Some(event) = self.events.pop_front() {
                return event;
            }
            let message = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("no event within 20 s");
            let message = message.expect("socket open").expect("frame");
            if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                let value: Value = serde_json::from_str(&text).expect("JSON frame");
                if value.get("method").and_then(Value::as_str) == Some("event") {
                    return value["params"].clone();
                }
            }
        }
    }
}

fn jsonrpc_result(reply: Value) -> Result<Value, CallError> {
    match reply.get("error") {
        Some(error) => Err(CallError {
            status: error["code"].as_i64().unwrap_or(0),
            body: error["data"].clone(),
        }),
        None => Ok(reply["result"].clone()),
    }
}

// ---------------------------------------------------------------------------------------
// LSP-style JSON-RPC over stdio

pub struct LspClient {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
    events: VecDeque<Value>,
}

impl LspClient {
    /// Spawns `devflow lsp --state-dir <dir>` and initializes it.
    pub async fn start(state_dir: &std::path::Path) -> Self {
        let mut child = tokio::process::Command::new(binary())
            .args(["lsp", "--state-dir"])
            .arg(state_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("devflow lsp starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut client = LspClient {
            child,
            stdin,
            stdout,
            next_id: 1,
            events: VecDeque::new(),
        };
        let init = client
            .request(
                "initialize",
                json!({"processId": null, "rootUri": null, "capabilities": {}}),
            )
            .await;
        assert!(init.get("result").is_some(), "initialize failed: {init}");
        client.notify("initialized", json!({})).await;
        client
    }

    pub async fn notify(&mut self, method: &str, params: Value) {
        self.write(json!({"jsonrpc": "2.0", "method": method, "params": params}))
            .await;
    }

    /// Sends a request and returns its whole reply.
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.write(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        loop {
            let message = self.read().await;
            if message.get("id") == Some(&json!(id)) && message.get("method").is_none() {
                return message;
            }
            if message.get("method").and_then(Value::as_str) == Some("devflow/event") {
                self.events.push_back(message["params"].clone());
            }
        }
    }

    /// `shutdown`, `exit`, and the exit status.
    pub async fn shutdown(mut self) -> std::process::ExitStatus {
        let _ = self.request("shutdown", Value::Null).await;
        self.notify("exit", Value::Null).await;
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("exits after exit")
            .expect("wait")
    }

    async fn write(&mut self, message: Value) {
        let body = message.to_string();
        let frame = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        self.stdin
            .write_all(frame.as_bytes())
            .await
            .expect("write to devflow lsp");
        self.stdin.flush().await.expect("flush");
    }

    async fn read(&mut self) -> Value {
        tokio::time::timeout(WAIT, async {
            let mut length = None;
            loop {
                let mut line = String::new();
                let n = self.stdout.read_line(&mut line).await.expect("read header");
                assert!(n > 0, "devflow lsp closed its stdout");
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some(value) = line.strip_prefix("Content-Length:") {
                    length = value.trim().parse::<usize>().ok();
                }
            }
            let mut body = vec![0u8; length.expect("Content-Length header")];
            self.stdout.read_exact(&mut body).await.expect("read body");
            serde_json::from_slice(&body).expect("JSON body")
        })
        .await
        .expect("no LSP message within 20 s")
    }
}

#[async_trait]
impl Client for LspClient {
    fn transport(&self) -> &'static str {
        "lsp"
    }

    async fn call(&mut self, method: &str, params: Value) -> Result<Value, CallError> {
        let reply = self.request(&format!("devflow/{method}"), params).await;
        jsonrpc_result(reply)
    }

    async fn subscribe(&mut self, session_id: &str, after_seq: u64) -> Result<Value, CallError> {
        self.call(
            "session/subscribe",
            json!({"sessionId": session_id, "afterSeq": after_seq}),
        )
        .await
    }

    async fn next_event(&mut self) -> Value {
        loop {
            if let Some(event) = self.events.pop_front() {
                return event;
            }
            let message = self.read().await;
            if message.get("method").and_then(Value::as_str) == Some("devflow/event") {
                return message["params"].clone();
            }
        }
    }
}
