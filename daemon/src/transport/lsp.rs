//! LSP-style JSON-RPC over stdio for the editor extension (`devflow lsp`). tower-lsp-server
//! frames the messages and runs the `initialize` / `shutdown` / `exit` lifecycle; every API
//! method is the custom request `devflow/<method>`, handed untouched to [`crate::rpc::call`],
//! so no method is implemented here. After `devflow/session/subscribe` replies, that session's
//! events follow as `devflow/event` notifications, never before the reply. stdout carries
//! only frames.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::task::{ready, Context, Poll};

use devflow_protocol::{method, Event};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use tokio::io::AsyncWrite;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower_lsp_server::jsonrpc::{self, FromParams, Method};
use tower_lsp_server::ls_types::notification::Notification;
use tower_lsp_server::ls_types::{
    InitializeParams, InitializeResult, ServerCapabilities, ServerInfo,
};
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

use super::lsp_input::{self, INVALID_MESSAGE};
use crate::error::ServiceError;
use crate::rpc::{self, error_member, Outcome};
use crate::service::Service;

/// `devflow/<method>` for every API method. The router keys methods by `&'static str`, so the
/// names live for the whole process.
static LSP_METHODS: LazyLock<Vec<(&'static str, String)>> = LazyLock::new(|| {
    method::ALL
        .iter()
        .map(|name| (*name, format!("devflow/{name}")))
        .collect()
});

/// Serves one editor over stdin/stdout until `exit` or the end of stdin.
pub async fn serve_stdio(service: Service) {
    let replies = PendingReplies::default();
    let forwarders = Forwarders::default();
    let connection = |client| Connection {
        service,
        client,
        forwarders: forwarders.clone(),
        replies: replies.clone(),
    };
    let mut builder = LspService::build(connection);
    for (name, lsp_name) in LSP_METHODS.iter() {
        builder = builder.custom_method(lsp_name.as_str(), Forward(name));
    }
    builder = builder.custom_method(INVALID_MESSAGE, AnswerInvalid);
    let (lsp, socket) = builder.finish();
    let stdout = ReplyWatch::new(tokio::io::stdout(), replies);
    // tower-lsp-server reads the checked stream, never the raw stdin: see `lsp_input`.
    let (checked, checker) = tokio::io::duplex(256 * 1024);
    let stdin = match lsp_input::stdin() {
        Ok(stdin) => stdin,
        Err(error) => {
            tracing::error!(%error, "cannot start reading stdin");
            return;
        }
    };
    let checking = tokio::spawn(lsp_input::pump(stdin, checker));
    Server::new(checked, stdout, socket).serve(lsp).await;
    checking.abort();
    forwarders.stop_all();
    tracing::info!("the editor connection ended");
}

/// The language server of one editor connection: the facade, the way back to the editor,
/// and the connection's event forwarders.
#[derive(Clone)]
struct Connection {
    service: Service,
    client: Client,
    forwarders: Forwarders,
    replies: PendingReplies,
}

impl LanguageServer for Connection {
    async fn initialize(&self, _: InitializeParams) -> jsonrpc::Result<InitializeResult> {
        Ok(InitializeResult {
            capabilities: ServerCapabilities::default(),
            server_info: Some(ServerInfo {
                name: "devflow".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            offset_encoding: None,
        })
    }

    async fn shutdown(&self) -> jsonrpc::Result<()> {
        // After `shutdown` the editor only waits to send `exit`: its events stop here.
        self.forwarders.stop_all();
        Ok(())
    }
}

impl Connection {
    async fn call(self, name: &'static str, params: Value) -> jsonrpc::Result<Value> {
        let result = rpc::call(&self.service, name, params).await;
        self.service.metrics().request(result.is_err());
        match result {
            Ok(Outcome::Reply(value)) => Ok(value),
            Ok(Outcome::Subscribed(result, subscription)) => {
                let reply = serde_json::to_value(&result).map_err(|e| {
                    lsp_error(&ServiceError::internal(format!(
                        "cannot encode the result: {e}"
                    )))
                })?;
                self.forward(result.session_id, reply.clone(), subscription);
                Ok(reply)
            }
            Ok(Outcome::Unsubscribe(session_id)) => {
                let was = self.forwarders.stop(&session_id);
                Ok(json!({ "sessionId": session_id, "unsubscribed": was }))
            }
            Err(error) => Err(lsp_error(&error)),
        }
    }

    /// Forwards the subscription's events once `reply` has been written, replacing any
    /// earlier forwarder of the same session on this connection.
    fn forward(
        &self,
        session_id: String,
        reply: Value,
        mut subscription: crate::events::Subscription,
    ) {
        let written = self.replies.register(reply);
        let client = self.client.clone();
        let forwarder = tokio::spawn(async move {
            if written.await.is_err() {
                return; // the reply never went out: the connection ended first
            }
            while let Some(event) = subscription.next().await {
                // Waits while stdout is slow; the subscription then catches up from the store.
                client.send_notification::<EventNotification>(event).await;
            }
        });
        self.forwarders.replace(session_id, forwarder);
    }
}

/// The JSON-RPC error for a service error: `rpc::error_member`, in tower-lsp-server's type.
fn lsp_error(error: &ServiceError) -> jsonrpc::Error {
    serde_json::from_value(error_member(error)).unwrap_or_else(|decode| {
        tracing::error!(%decode, "cannot express a service error as a JSON-RPC error");
        jsonrpc::Error::internal_error()
    })
}

/// The handler registered for every `devflow/<method>`: the method's API name.
#[derive(Clone, Copy)]
struct Forward(&'static str);

impl<'a> Method<&'a Connection, Params, jsonrpc::Result<Value>> for Forward {
    type Future = BoxFuture<'static, jsonrpc::Result<Value>>;

    fn invoke(&self, connection: &'a Connection, Params(params): Params) -> Self::Future {
        Box::pin(connection.clone().call(self.0, params))
    }
}

/// The handler of [`INVALID_MESSAGE`]: answers a malformed message with its error.
#[derive(Clone, Copy)]
struct AnswerInvalid;

impl<'a> Method<&'a Connection, Params, jsonrpc::Result<Value>> for AnswerInvalid {
    type Future = BoxFuture<'static, jsonrpc::Result<Value>>;

    fn invoke(&self, _: &'a Connection, Params(params): Params) -> Self::Future {
        let error = lsp_input::invalid_message_error(Some(params));
        Box::pin(async move { Err(error) })
    }
}

/// A request's params as sent. Absent params are `null`, which [`crate::rpc`] reads as `{}`
/// (as on WebSocket); tower-lsp-server's own `(P,)` would refuse them before we see them.
struct Params(Value);

impl FromParams for Params {
    fn from_params(params: Option<Value>) -> jsonrpc::Result<Self> {
        Ok(Params(params.unwrap_or(Value::Null)))
    }
}

/// `devflow/event`: the Event object itself as params.
enum EventNotification {}

impl Notification for EventNotification {
    type Params = Event;
    const METHOD: &'static str = "devflow/event";
}

/// This connection's event forwarders, by session.
#[derive(Clone, Default)]
struct Forwarders(Arc<Mutex<HashMap<String, JoinHandle<()>>>>);

impl Forwarders {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, JoinHandle<()>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn replace(&self, session_id: String, forwarder: JoinHandle<()>) {
        if let Some(previous) = self.lock().insert(session_id, forwarder) {
            previous.abort();
        }
    }

    /// Whether the session had a forwarder.
    fn stop(&self, session_id: &str) -> bool {
        self.lock()
            .remove(session_id)
            .map(|forwarder| forwarder.abort())
            .is_some()
    }

    fn stop_all(&self) {
        for (_, forwarder) in self.lock().drain() {
            forwarder.abort();
        }
    }
}

/// Subscribe replies not yet written to stdout, each with the forwarder waiting for it.
///
/// tower-lsp-server writes replies and notifications from two queues that it merges in no
/// fixed order, so a forwarder that started on its own could overtake its reply. Instead
/// [`ReplyWatch`] releases it once the reply's last byte has been written.
#[derive(Clone, Default)]
struct PendingReplies(Arc<Mutex<Awaited>>);

#[derive(Default)]
struct Awaited {
    replies: Vec<(Value, oneshot::Sender<()>)>,
    /// The frames on stdout can no longer be followed: nobody waits any more.
    blind: bool,
}

impl PendingReplies {
    fn lock(&self) -> MutexGuard<'_, Awaited> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Resolves once a response whose `result` is `reply` has been written.
    fn register(&self, reply: Value) -> oneshot::Receiver<()> {
        let (written, receiver) = oneshot::channel();
        let mut awaited = self.lock();
        if awaited.blind {
            let _ = written.send(());
        } else {
            awaited.replies.retain(|(_, waiter)| !waiter.is_closed());
            awaited.replies.push((reply, written));
        }
        receiver
    }

    fn is_empty(&self) -> bool {
        self.lock().replies.is_empty()
    }

    /// One whole frame body went out. Two identical replies (the same session subscribed
    /// twice at the same seq) are interchangeable: the first waiter takes the first.
    fn frame_written(&self, body: &[u8]) {
        let Ok(Value::Object(message)) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        if message.contains_key("method") || !message.contains_key("id") {
            return;
        }
        let Some(result) = message.get("result") else {
            return;
        };
        let mut awaited = self.lock();
        if let Some(index) = awaited
            .replies
            .iter()
            .position(|(reply, _)| reply == result)
        {
            let (_, written) = awaited.replies.remove(index);
            let _ = written.send(());
        }
    }

    /// Lets every forwarder go, now and from now on.
    fn go_blind(&self) {
        let mut awaited = self.lock();
        awaited.blind = true;
        for (_, written) in awaited.replies.drain(..) {
            let _ = written.send(());
        }
    }
}

/// stdout, followed frame by frame (`Content-Length: N\r\n\r\n` + N bytes, as the codec
/// writes them) so that [`PendingReplies`] learns when a subscribe reply is out. Bodies are
/// kept, and parsed, only while a reply is awaited.
struct ReplyWatch<W> {
    inner: W,
    replies: PendingReplies,
    frame: Frame,
}

enum Frame {
    Header(Vec<u8>),
    Body {
        remaining: usize,
        kept: Option<Vec<u8>>,
    },
    /// A header we could not read: stop following (and stop holding forwarders back).
    Lost,
}

/// Longest header we accept while following frames.
const MAX_HEADER: usize = 1024;

impl<W> ReplyWatch<W> {
    fn new(inner: W, replies: PendingReplies) -> Self {
        ReplyWatch {
            inner,
            replies,
            frame: Frame::Header(Vec::new()),
        }
    }

    fn written(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.frame {
                Frame::Header(header) => {
                    header.push(bytes[0]);
                    bytes = &bytes[1..];
                    if header.ends_with(b"\r\n\r\n") {
                        match content_length(header) {
                            Some(length) => {
                                let kept =
                                    (!self.replies.is_empty()).then(|| Vec::with_capacity(length));
                                self.frame = Frame::Body {
                                    remaining: length,
                                    kept,
                                };
                                self.body_progress(&[]);
                            }
                            None => self.lose_track(),
                        }
                    } else if header.len() > MAX_HEADER {
                        self.lose_track();
                    }
                }
                Frame::Body { remaining, .. } => {
                    let (body, rest) = bytes.split_at((*remaining).min(bytes.len()));
                    bytes = rest;
                    self.body_progress(body);
                }
                Frame::Lost => return,
            }
        }
    }

    fn lose_track(&mut self) {
        tracing::warn!(
            "cannot follow the frames on stdout; events may now precede subscribe replies"
        );
        self.frame = Frame::Lost;
        self.replies.go_blind();
    }

    fn body_progress(&mut self, body: &[u8]) {
        let Frame::Body { remaining, kept } = &mut self.frame else {
            return;
        };
        if let Some(kept) = kept {
            kept.extend_from_slice(body);
        }
        *remaining -= body.len();
        if *remaining == 0 {
            if let Some(kept) = kept.take() {
                self.replies.frame_written(&kept);
            }
            self.frame = Frame::Header(Vec::new());
        }
    }
}

fn content_length(header: &[u8]) -> Option<usize> {
    std::str::from_utf8(header)
        .ok()?
        .split("\r\n")
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            if name.trim().eq_ignore_ascii_case("content-length") {
                value.trim().parse().ok()
            } else {
                None
            }
        })
}

impl<W: AsyncWrite + Unpin> AsyncWrite for ReplyWatch<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        self.written(&buf[..written]);
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn frame(message: &Value) -> Vec<u8> {
        let body = message.to_string();
        format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }

    #[test]
    fn lsp_names_are_the_api_names_under_devflow() {
        assert_eq!(
            EventNotification::METHOD,
            format!("devflow/{}", method::EVENT)
        );
        assert_eq!(LSP_METHODS.len(), method::ALL.len());
        assert!(LSP_METHODS
            .iter()
            .any(|(_, lsp)| lsp == "devflow/session/subscribe"));
    }

    #[tokio::test]
    async fn releases_a_forwarder_only_after_its_whole_reply_is_written() {
        let replies = PendingReplies::default();
        let reply = json!({"sessionId": "s1", "lastSeq": 3});
        let mut written = replies.register(reply.clone());
        let mut stdout = ReplyWatch::new(Vec::new(), replies.clone());

        let mut bytes = frame(
            &json!({"jsonrpc": "2.0", "method": "devflow/event", "params": {"result": reply}}),
        );
        bytes.extend(frame(
            &json!({"jsonrpc": "2.0", "result": {"sessionId": "s2", "lastSeq": 3}, "id": 1}),
        ));
        let ours = frame(&json!({"jsonrpc": "2.0", "result": reply, "id": 2}));
        let (head, tail) = ours.split_at(ours.len() - 1);
        bytes.extend_from_slice(head);
        // Written in small pieces, as a slow pipe would take them.
        for piece in bytes.chunks(7) {
            stdout.write_all(piece).await.expect("write");
        }
        assert!(
            written.try_recv().is_err(),
            "released before its reply was written"
        );

        stdout.write_all(tail).await.expect("write");
        assert!(
            written.try_recv().is_ok(),
            "not released after its reply was written"
        );
        assert!(replies.is_empty());
        assert_eq!(stdout.inner.len(), bytes.len() + tail.len());
    }

    #[tokio::test]
    async fn releases_every_forwarder_when_the_frames_cannot_be_followed() {
        let replies = PendingReplies::default();
        let mut written = replies.register(json!({"sessionId": "s1", "lastSeq": 0}));
        let mut stdout = ReplyWatch::new(Vec::new(), replies.clone());
        stdout
            .write_all(b"Content-Type: nonsense\r\n\r\n{}")
            .await
            .expect("write");
        assert!(written.try_recv().is_ok());
        let mut later = replies.register(json!({"sessionId": "s2", "lastSeq": 0}));
        assert!(
            later.try_recv().is_ok(),
            "a later subscription waits for a reply nobody can see"
        );
    }
}
