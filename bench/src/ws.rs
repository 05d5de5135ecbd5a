//! JSON-RPC over WebSocket, client side: connect with Nagle off (a benchmark client must not
//! add its own 40 ms), and call a method, skipping the `event` notifications that may arrive
//! before its reply. Used for both the daemon's `/rpc` and the anchor server.

use std::time::Duration;

use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a reply may take before the benchmark gives up with an error.
pub const REPLY_WAIT: Duration = Duration::from_secs(30);

pub async fn connect(url: &str) -> anyhow::Result<Socket> {
    let (socket, _) = tokio::time::timeout(
        REPLY_WAIT,
        tokio_tungstenite::connect_async_with_config(url, None, true),
    )
    .await
    .with_context(|| format!("connecting to {} timed out", redact(url)))?
    .with_context(|| format!("cannot connect to {}", redact(url)))?;
    Ok(socket)
}

/// Sends one request and returns its `result`; an `error` reply becomes an error.
pub async fn call(
    socket: &mut Socket,
    id: u64,
    method: &str,
    params: Value,
) -> anyhow::Result<Value> {
    send_request(socket, id, method, params).await?;
    reply(socket, id, method).await
}

pub async fn send_request(
    socket: &mut Socket,
    id: u64,
    method: &str,
    params: Value,
) -> anyhow::Result<()> {
    let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    socket
        .send(Message::Text(request.to_string().into()))
        .await
        .with_context(|| format!("cannot send {method}"))
}

/// Reads until the reply to `id`; notifications before it are dropped.
pub async fn reply(socket: &mut Socket, id: u64, method: &str) -> anyhow::Result<Value> {
    loop {
        let frame = tokio::time::timeout(REPLY_WAIT, socket.next())
            .await
            .with_context(|| format!("no reply to {method} within {REPLY_WAIT:?}"))?;
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(close))) => bail!("the server closed the socket: {close:?}"),
            Some(Ok(_)) => continue,
            Some(Err(error)) => bail!("WebSocket error while waiting for {method}: {error}"),
            None => bail!("the socket closed while waiting for {method}"),
        };
        let value: Value = serde_json::from_str(text.as_str())
            .with_context(|| format!("a frame is not JSON: {}", text.as_str()))?;
        if value.get("id") != Some(&json!(id)) {
            continue;
        }
        if let Some(error) = value.get("error") {
            bail!("{method} failed: {error}");
        }
        return value
            .get("result")
            .cloned()
            .with_context(|| format!("{method}: a reply without result: {value}"));
    }
}

/// The URL without its token, for error messages.
fn redact(url: &str) -> &str {
    url.split("?token=").next().unwrap_or(url)
}
