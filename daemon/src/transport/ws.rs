//! JSON-RPC 2.0 over WebSocket at `/rpc`, one message per text frame (batches allowed).
//! Requests go through [`crate::rpc::call`]; `session/subscribe` replies first, then a task
//! forwards that session's events as `event` notifications. Each connection has one bounded
//! outbound queue: a slow client only slows its own forwarders, whose subscriptions then
//! catch up from the store, so no one else waits.

use std::collections::HashMap;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use devflow_protocol::{method, ErrorCode};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::http::AppState;
use crate::error::ServiceError;
use crate::rpc::{self, error_member, Outcome};
use crate::service::Service;

const OUTBOUND_QUEUE: usize = 1024;
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// tungstenite zero-fills its read buffer up to this size before every read, so each
/// connection keeps this much resident: its 128 KiB default made 1000 subscribers cost
/// ~145 MiB (BENCHMARKS.md, Load). Requests are small; a larger frame still grows the
/// buffer to fit, read in chunks of this size.
const READ_BUFFER_BYTES: usize = 8 * 1024;

pub async fn upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| serve_connection(state.service, socket))
}

/// A JSON-RPC connection over any message channel: used for WebSocket here.
pub struct Connection {
    service: Service,
    outbound: mpsc::Sender<String>,
    forwarders: HashMap<String, tokio::task::JoinHandle<()>>,
}

impl Connection {
    pub fn new(service: Service, outbound: mpsc::Sender<String>) -> Self {
        Connection {
            service,
            outbound,
            forwarders: HashMap::new(),
        }
    }

    /// Handles one incoming text message; replies are queued on `outbound`.
    pub async fn handle_text(&mut self, text: &str) {
        let message: Value = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(error) => {
                let error = ServiceError::new(ErrorCode::ParseError, format!("not JSON: {error}"));
                self.send(json!({"jsonrpc": "2.0", "id": null, "error": error_member(&error)}))
                    .await;
                return;
            }
        };
        match message {
            Value::Array(batch) if !batch.is_empty() => {
                let mut replies = Vec::new();
                for request in batch {
                    if let Some(reply) = self.handle_request(request).await {
                        replies.push(reply);
                    }
                }
                if !replies.is_empty() {
                    self.send(Value::Array(replies)).await;
                }
            }
            request => {
                if let Some(reply) = self.handle_request(request).await {
                    self.send(reply).await;
                }
            }
        }
    }

    /// One request → its reply (`None` for a notification), starting forwarders as needed.
    async fn handle_request(&mut self, request: Value) -> Option<Value> {
        let invalid = |why: &str| {
            let error = ServiceError::new(
                ErrorCode::InvalidRequest,
                format!("invalid JSON-RPC request: {why}"),
            );
            Some(json!({"jsonrpc": "2.0", "id": null, "error": error_member(&error)}))
        };
        let Value::Object(mut request) = request else {
            return invalid("not an object");
        };
        if request.get("jsonrpc") != Some(&Value::from("2.0")) {
            return invalid("\"jsonrpc\" must be \"2.0\"");
        }
        let Some(Value::String(name)) = request.remove("method") else {
            return invalid("\"method\" must be a string");
        };
        let id = request.remove("id");
        if let Some(id) = &id {
            if !(id.is_string() || id.is_number() || id.is_null()) {
                return invalid("\"id\" must be a string or a number");
            }
        }
        let params = request.remove("params").unwrap_or(Value::Null);
        let result = rpc::call(&self.service, &name, params).await;
        self.service.metrics().request(result.is_err());
        let reply = match result {
            Ok(Outcome::Reply(value)) => Ok(value),
            Ok(Outcome::Subscribed(result, mut subscription)) => {
                // The reply goes out before the first event: queue it, then start forwarding.
                let reply = json!({"jsonrpc": "2.0", "id": id.clone().unwrap_or(Value::Null), "result": result});
                if id.is_some() {
                    self.send(reply).await;
                }
                let outbound = self.outbound.clone();
                let forwarder = tokio::spawn(async move {
                    while let Some(event) = subscription.next().await {
                        let note =
                            json!({"jsonrpc": "2.0", "method": method::EVENT, "params": event});
                        if outbound.send(note.to_string()).await.is_err() {
                            return;
                        }
                    }
                });
                if let Some(previous) = self.forwarders.insert(result.session_id.clone(), forwarder)
                {
                    previous.abort();
                }
                return None;
            }
            Ok(Outcome::Unsubscribe(session_id)) => {
                let was = self
                    .forwarders
                    .remove(&session_id)
                    .map(|f| f.abort())
                    .is_some();
                Ok(json!({ "sessionId": session_id, "unsubscribed": was }))
            }
            Err(error) => Err(error),
        };
        let id = id?; // a notification gets no reply
        Some(match reply {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error_member(&error)}),
        })
    }

    async fn send(&self, message: Value) {
        let _ = self.outbound.send(message.to_string()).await;
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        for forwarder in self.forwarders.values() {
            forwarder.abort();
        }
    }
}

async fn serve_connection(service: Service, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (outbound, mut queue) = mpsc::channel::<String>(OUTBOUND_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(text) = queue.recv().await {
            if sink.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
    });
    let mut connection = Connection::new(service, outbound);
    while let Some(Ok(message)) = stream.next().await {
        match message {
            Message::Text(text) => connection.handle_text(text.as_str()).await,
            Message::Binary(_) => {
                let error =
                    ServiceError::new(ErrorCode::InvalidRequest, "send JSON-RPC as text frames");
                connection
                    .send(json!({"jsonrpc": "2.0", "id": null, "error": error_member(&error)}))
                    .await;
            }
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    drop(connection);
    writer.abort();
}
