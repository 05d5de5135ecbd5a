//! `devflow rpc` and `devflow events`: a small client of a running daemon for shell scripts.
//!
//! Both speak JSON-RPC over the daemon's WebSocket `/rpc`, so every method is the daemon's own
//! (dispatched by `rpc.rs`); nothing here implements one. The daemon is found by `--url` /
//! `DEVFLOW_URL`, else the `url` file `devflow serve` writes in its state dir; the token by
//! `--token` / `DEVFLOW_TOKEN` / the config's `token`, else the state dir's `token` file.
//!
//! Exit codes: 0 done, 1 the daemon answered with an error (its seed-004 object on stderr),
//! 2 bad arguments, 3 the daemon is unreachable or refused the token.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use devflow_protocol::{method, Event, EventBody};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, Message};

use crate::config::Config;

pub const EXIT_OK: u8 = 0;
pub const EXIT_RPC_ERROR: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_UNREACHABLE: u8 = 3;

/// The file in the state dir where `devflow serve` records the URL it answers on.
pub const URL_FILE: &str = "url";

/// How long to wait for the connection (and for one answer of `rpc`, unless `--timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Reconnections while following events before giving up.
const RECONNECTS: u32 = 5;

/// Records where this daemon answers, for clients on the same machine. A wildcard bind
/// address is recorded as loopback, a name the daemon's Host check accepts.
pub fn write_url_file(state_dir: &Path, bind: &str, port: u16) -> std::io::Result<()> {
    let host = match bind {
        "0.0.0.0" | "" => "127.0.0.1".to_string(),
        "::" | "[::]" => "[::1]".to_string(),
        bind if bind.contains(':') && !bind.starts_with('[') => format!("[{bind}]"),
        bind => bind.to_string(),
    };
    let path = state_dir.join(URL_FILE);
    let temp = state_dir.join(format!("{URL_FILE}.tmp"));
    std::fs::write(&temp, format!("http://{host}:{port}\n"))?;
    std::fs::rename(&temp, &path)
}

/// Where the daemon is and how to get in, with where each came from (for error messages).
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub url_source: String,
    pub token: String,
    pub token_source: String,
}

/// A client failure with its exit code; the message is for a person.
#[derive(Debug)]
pub struct ClientError {
    pub exit_code: u8,
    pub message: String,
}

impl ClientError {
    fn bad_input(message: impl Into<String>) -> Self {
        ClientError {
            exit_code: EXIT_BAD_INPUT,
            message: message.into(),
        }
    }

    fn unreachable(message: impl Into<String>) -> Self {
        ClientError {
            exit_code: EXIT_UNREACHABLE,
            message: message.into(),
        }
    }
}

/// Finds the daemon: `url`/`token` are the flags or their env variables (already merged by
/// clap), then the config's `token`, then the files in the config's state dir.
pub fn target(
    url: Option<String>,
    token: Option<String>,
    config: &Config,
) -> Result<Target, ClientError> {
    let state_dir = &config.state_dir;
    let (url, url_source) = match url.filter(|u| !u.trim().is_empty()) {
        Some(url) => (url.trim().to_string(), "--url / DEVFLOW_URL".to_string()),
        None => {
            let path = state_dir.join(URL_FILE);
            match std::fs::read_to_string(&path) {
                Ok(text) => (text.trim().to_string(), path.display().to_string()),
                Err(_) => {
                    return Err(ClientError::unreachable(format!(
                        "no daemon URL: pass --url or set DEVFLOW_URL, or start `devflow serve` (it records its URL in {})",
                        path.display()
                    )))
                }
            }
        }
    };
    let url = url.trim_end_matches('/').to_string();
    if !url.starts_with("http://") {
        return Err(ClientError::bad_input(format!(
            "the daemon URL {url:?} (from {url_source}) must start with http://"
        )));
    }
    let (token, token_source) = match token.filter(|t| !t.trim().is_empty()) {
        Some(token) => (token.trim().to_string(), "--token / DEVFLOW_TOKEN".into()),
        None => match config.token.clone().filter(|t| !t.is_empty()) {
            Some(token) => (token, "the config's token".into()),
            None => {
                let path = state_dir.join("token");
                match std::fs::read_to_string(&path) {
                    Ok(text) => (text.trim().to_string(), path.display().to_string()),
                    Err(_) => {
                        return Err(ClientError::unreachable(format!(
                        "no token: pass --token or set DEVFLOW_TOKEN (the daemon keeps it in {})",
                        path.display()
                    )))
                    }
                }
            }
        },
    };
    Ok(Target {
        url,
        url_source,
        token,
        token_source,
    })
}

/// Checks a method name and its params before anything is sent.
pub fn parse_request(name: &str, params: Option<&str>) -> Result<Value, ClientError> {
    if !method::ALL.contains(&name) {
        return Err(ClientError::bad_input(format!(
            "unknown method {name:?}; the methods are:\n  {}",
            method::ALL.join("\n  ")
        )));
    }
    let text = match params {
        None => return Ok(json!({})),
        Some("-") => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| {
                ClientError::bad_input(format!("cannot read params from stdin: {e}"))
            })?;
            text
        }
        Some(text) => text.to_string(),
    };
    let params: Value = serde_json::from_str(&text)
        .map_err(|e| ClientError::bad_input(format!("the params are not JSON: {e}")))?;
    if !params.is_object() {
        return Err(ClientError::bad_input(
            "the params must be a JSON object, e.g. '{\"sessionId\": \"…\"}'",
        ));
    }
    Ok(params)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One WebSocket connection to `/rpc` with numbered requests.
struct Connection {
    socket: Socket,
    next_id: u64,
}

impl Connection {
    async fn open(target: &Target) -> Result<Connection, ClientError> {
        let ws_url = format!("{}/rpc", target.url.replacen("http://", "ws://", 1));
        let mut request = ws_url
            .as_str()
            .into_client_request()
            .map_err(|e| ClientError::bad_input(format!("bad daemon URL {}: {e}", target.url)))?;
        let bearer = format!("Bearer {}", target.token)
            .parse()
            .map_err(|_| ClientError::bad_input("the token has characters a header cannot hold"))?;
        request.headers_mut().insert("authorization", bearer);
        let connect = tokio_tungstenite::connect_async(request);
        let (socket, _) = match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Err(_) => {
                return Err(ClientError::unreachable(format!(
                    "the daemon at {} (from {}) did not answer within {} s",
                    target.url,
                    target.url_source,
                    CONNECT_TIMEOUT.as_secs()
                )))
            }
            Ok(Ok(connected)) => connected,
            Ok(Err(tungstenite::Error::Http(response))) => {
                let status = response.status();
                let body = response
                    .body()
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default()
                    .into_owned();
                let message = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v["message"].as_str().map(str::to_string))
                    .unwrap_or(body);
                return Err(ClientError::unreachable(if status.as_u16() == 401 {
                    format!(
                        "the daemon at {} refused the token (from {}): {message}",
                        target.url, target.token_source
                    )
                } else {
                    format!(
                        "the daemon at {} refused the connection ({status}): {message}",
                        target.url
                    )
                }));
            }
            Ok(Err(error)) => {
                return Err(ClientError::unreachable(format!(
                    "cannot reach the daemon at {} (from {}): {error}. Is `devflow serve` running?",
                    target.url, target.url_source
                )))
            }
        };
        Ok(Connection { socket, next_id: 1 })
    }

    async fn send(&mut self, name: &str, params: &Value) -> Result<u64, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({"jsonrpc": "2.0", "id": id, "method": name, "params": params});
        self.socket
            .send(Message::text(request.to_string()))
            .await
            .map_err(|e| {
                ClientError::unreachable(format!("the connection to the daemon broke: {e}"))
            })?;
        Ok(id)
    }

    /// The next JSON message, `None` when the daemon closed the connection.
    async fn next(&mut self) -> Result<Option<Value>, ClientError> {
        while let Some(message) = self.socket.next().await {
            let message = message.map_err(|e| {
                ClientError::unreachable(format!("the connection to the daemon broke: {e}"))
            })?;
            let text = match message {
                Message::Text(text) => text,
                Message::Close(_) => return Ok(None),
                _ => continue,
            };
            return serde_json::from_str(text.as_str()).map(Some).map_err(|e| {
                ClientError::unreachable(format!("the daemon sent something that is not JSON: {e}"))
            });
        }
        Ok(None)
    }

    /// The reply to request `id`, skipping event notifications: the result, or the error's
    /// seed-004 object.
    async fn reply(&mut self, id: u64) -> Result<Result<Value, Value>, ClientError> {
        loop {
            let Some(message) = self.next().await? else {
                return Err(ClientError::unreachable(
                    "the daemon closed the connection before answering",
                ));
            };
            if message.get("id") != Some(&json!(id)) {
                continue;
            }
            if let Some(error) = message.get("error") {
                let object = error
                    .get("data")
                    .filter(|d| d.is_object())
                    .cloned()
                    .unwrap_or_else(|| error.clone());
                return Ok(Err(object));
            }
            return Ok(Ok(message.get("result").cloned().unwrap_or(Value::Null)));
        }
    }

    async fn call(
        &mut self,
        name: &str,
        params: &Value,
    ) -> Result<Result<Value, Value>, ClientError> {
        let id = self.send(name, params).await?;
        self.reply(id).await
    }
}

/// `devflow rpc METHOD [JSON]`: one request, the result on stdout.
pub async fn rpc(target: &Target, name: &str, params: Value, timeout: Duration) -> u8 {
    let call = async {
        let mut connection = Connection::open(target).await?;
        connection.call(name, &params).await
    };
    let outcome = match tokio::time::timeout(timeout, call).await {
        Ok(outcome) => outcome,
        Err(_) => Err(ClientError::unreachable(format!(
            "the daemon at {} did not answer {name} within {} s (raise --timeout)",
            target.url,
            timeout.as_secs()
        ))),
    };
    match outcome {
        Ok(Ok(result)) => {
            print_json(&result);
            EXIT_OK
        }
        Ok(Err(error)) => {
            eprintln!("{error}");
            EXIT_RPC_ERROR
        }
        Err(error) => fail(&error),
    }
}

/// What `devflow events` prints and when it stops.
#[derive(Debug, Clone, Default)]
pub struct EventsOptions {
    pub session_id: String,
    /// Print only events after this seq (resume from the last one a script saw).
    pub after_seq: u64,
    /// Keep printing live events (else stop once the history is printed).
    pub follow: bool,
    /// Stop after this command's READY or FAILED event.
    pub until_final: Option<String>,
}

/// `devflow events SESSION`: the session's events as JSON lines. A dropped connection is
/// resumed after the last printed seq, so no event is printed twice or skipped.
pub async fn events(target: &Target, options: &EventsOptions) -> u8 {
    match follow_events(target, options).await {
        Ok(code) => code,
        Err(error) => fail(&error),
    }
}

async fn follow_events(target: &Target, options: &EventsOptions) -> Result<u8, ClientError> {
    let mut last_printed = options.after_seq;
    let mut follow = options.follow;
    let mut reconnects = 0;
    let stdout = std::io::stdout();
    loop {
        let mut connection = match Connection::open(target).await {
            Ok(connection) => connection,
            Err(error) if reconnects > 0 && reconnects <= RECONNECTS => {
                reconnects += 1;
                tokio::time::sleep(Duration::from_millis(200 * u64::from(reconnects))).await;
                tracing::debug!(reason = %error.message, "reconnecting to the daemon");
                continue;
            }
            Err(error) => return Err(error),
        };
        // A command already final when we start has its final event in the history: then
        // the history is all there is to print for it.
        if let Some(command_id) = &options.until_final {
            let params = json!({"sessionId": options.session_id, "commandId": command_id});
            match connection.call(method::COMMAND_GET, &params).await? {
                Err(error) => {
                    eprintln!("{error}");
                    return Ok(EXIT_RPC_ERROR);
                }
                Ok(command) => {
                    let status: Option<devflow_protocol::CommandStatus> =
                        serde_json::from_value(command["status"].clone()).ok();
                    if status.is_some_and(|s| s.is_final()) {
                        follow = false;
                    }
                }
            }
        }
        let params = json!({"sessionId": options.session_id, "afterSeq": last_printed});
        let last_seq = match connection.call(method::SESSION_SUBSCRIBE, &params).await? {
            Err(error) => {
                eprintln!("{error}");
                return Ok(EXIT_RPC_ERROR);
            }
            Ok(result) => result["lastSeq"].as_u64().unwrap_or(0),
        };
        if !follow && last_printed >= last_seq {
            return Ok(EXIT_OK);
        }
        loop {
            let message = match connection.next().await {
                Ok(Some(message)) => message,
                Ok(None) | Err(_) if follow => break,
                Ok(None) => {
                    return Err(ClientError::unreachable(
                        "the daemon closed the connection before the history was sent",
                    ))
                }
                Err(error) => return Err(error),
            };
            if message.get("method") != Some(&json!(method::EVENT)) {
                continue;
            }
            let event = message.get("params").cloned().unwrap_or(Value::Null);
            let Some(seq) = event["seq"].as_u64() else {
                continue;
            };
            if seq <= last_printed {
                continue;
            }
            {
                let mut out = stdout.lock();
                let written = writeln!(out, "{event}").and_then(|_| out.flush());
                if written.is_err() {
                    // The reader went away (e.g. `| head`): nothing more to do.
                    return Ok(EXIT_OK);
                }
            }
            last_printed = seq;
            reconnects = 0;
            if let Some(command_id) = &options.until_final {
                if is_final_event(&event, command_id) {
                    return Ok(EXIT_OK);
                }
            }
            if !follow && last_printed >= last_seq {
                return Ok(EXIT_OK);
            }
        }
        reconnects += 1;
        if reconnects > RECONNECTS {
            return Err(ClientError::unreachable(format!(
                "lost the connection to the daemon at {} (last event printed: seq {last_printed})",
                target.url
            )));
        }
    }
}

/// Whether `event` says the command reached READY or FAILED.
fn is_final_event(event: &Value, command_id: &str) -> bool {
    match serde_json::from_value::<Event>(event.clone()) {
        Ok(Event {
            command_id: Some(id),
            body: EventBody::CommandStatus { status, .. },
            ..
        }) => id == command_id && status.is_final(),
        _ => false,
    }
}

/// Pretty on a terminal, one line otherwise (for `jq`, `read`, pipes).
fn print_json(value: &Value) {
    let text = if std::io::stdout().is_terminal() {
        serde_json::to_string_pretty(value).unwrap_or_default()
    } else {
        value.to_string()
    };
    println!("{text}");
}

fn fail(error: &ClientError) -> u8 {
    eprintln!("devflow: {}", error.message);
    error.exit_code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_url_is_one_the_host_check_accepts() {
        let dir = tempfile::tempdir().unwrap();
        for (bind, url) in [
            ("127.0.0.1", "http://127.0.0.1:7878"),
            ("0.0.0.0", "http://127.0.0.1:7878"),
            ("::", "http://[::1]:7878"),
            ("::1", "http://[::1]:7878"),
            ("localhost", "http://localhost:7878"),
        ] {
            write_url_file(dir.path(), bind, 7878).unwrap();
            let written = std::fs::read_to_string(dir.path().join(URL_FILE)).unwrap();
            assert_eq!(written.trim(), url, "{bind}");
        }
    }

    #[test]
    fn requests_are_checked_before_anything_is_sent() {
        assert_eq!(parse_request("session/list", None).unwrap(), json!({}));
        let params = parse_request("session/get", Some(r#"{"sessionId": "s"}"#)).unwrap();
        assert_eq!(params["sessionId"], "s");
        let unknown = parse_request("session/nope", None).unwrap_err();
        assert_eq!(unknown.exit_code, EXIT_BAD_INPUT);
        assert!(
            unknown.message.contains("reference/get"),
            "{}",
            unknown.message
        );
        for bad in ["{", "[]", "\"text\"", "3"] {
            let error = parse_request("session/list", Some(bad)).unwrap_err();
            assert_eq!(error.exit_code, EXIT_BAD_INPUT, "{bad}");
        }
    }

    #[test]
    fn the_flags_win_over_the_state_dir_files() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::new(dir.path().to_path_buf());
        let missing = target(None, None, &config).unwrap_err();
        assert_eq!(missing.exit_code, EXIT_UNREACHABLE);
        write_url_file(dir.path(), "127.0.0.1", 9).unwrap();
        std::fs::write(dir.path().join("token"), "file-token\n").unwrap();
        let found = target(None, None, &config).unwrap();
        assert_eq!(
            (found.url.as_str(), found.token.as_str()),
            ("http://127.0.0.1:9", "file-token")
        );
        let given = target(
            Some("http://localhost:1/".into()),
            Some("flag-token".into()),
            &config,
        )
        .unwrap();
        assert_eq!(
            (given.url.as_str(), given.token.as_str()),
            ("http://localhost:1", "flag-token")
        );
        let https = target(Some("https://x".into()), None, &config).unwrap_err();
        assert_eq!(https.exit_code, EXIT_BAD_INPUT);
    }
}
