//! `devflow lsp` driven the way the editor extension drives it: the real binary, speaking
//! Content-Length framed JSON-RPC over its stdin and stdout. Every read has a deadline, so a
//! hang fails the test instead of blocking CI.

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const WAIT: Duration = Duration::from_secs(30);

/// One editor connection to a fresh daemon with its own state dir.
struct Editor {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
    /// `devflow/event` params that arrived while waiting for a reply, in arrival order.
    events: VecDeque<Value>,
    state: TempDir,
}

impl Editor {
    /// Spawns `devflow lsp`, without `initialize` yet.
    fn spawn() -> Editor {
        let state = tempfile::tempdir().expect("state dir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_devflow"))
            .arg("lsp")
            .arg("--state-dir")
            .arg(state.path())
            // The command then fails for want of a proposer, whatever credentials this machine has.
            .env("DEVFLOW_PROPOSER", "builtin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("devflow lsp starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Editor {
            child,
            stdin: Some(stdin),
            stdout,
            next_id: 1,
            events: VecDeque::new(),
            state,
        }
    }

    /// Spawns and completes `initialize` + `initialized`; returns the initialize result.
    async fn start() -> (Editor, Value) {
        let mut editor = Editor::spawn();
        let init = editor
            .request(
                "initialize",
                json!({"processId": null, "rootUri": null, "capabilities": {}}),
            )
            .await;
        let result = init
            .get("result")
            .cloned()
            .unwrap_or_else(|| panic!("initialize failed: {init}"));
        editor.notify("initialized", json!({})).await;
        (editor, result)
    }

    async fn write(&mut self, message: Value) {
        let body = message.to_string();
        let frame = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        let stdin = self.stdin.as_mut().expect("stdin is open");
        tokio::time::timeout(WAIT, async {
            stdin.write_all(frame.as_bytes()).await?;
            stdin.flush().await
        })
        .await
        .expect("devflow lsp takes its input in time")
        .expect("write to devflow lsp");
    }

    /// The next framed message on stdout.
    async fn read(&mut self) -> Value {
        tokio::time::timeout(WAIT, read_frame(&mut self.stdout))
            .await
            .expect("devflow lsp answered in time")
    }

    async fn notify(&mut self, method: &str, params: Value) {
        self.write(json!({"jsonrpc": "2.0", "method": method, "params": params}))
            .await;
    }

    async fn send_request(&mut self, method: &str, params: Option<Value>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let mut request = json!({"jsonrpc": "2.0", "id": id, "method": method});
        if let Some(params) = params {
            request["params"] = params;
        }
        self.write(request).await;
        id
    }

    /// Reads until the reply to `id`, keeping the events that come before it.
    async fn reply_to(&mut self, id: u64) -> Value {
        loop {
            let message = self.read().await;
            if message.get("id") == Some(&json!(id)) && message.get("method").is_none() {
                return message;
            }
            assert_eq!(
                message["method"], "devflow/event",
                "unexpected message {message}"
            );
            self.events.push_back(message["params"].clone());
        }
    }

    /// Sends a request and returns its whole reply.
    async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, Some(params)).await;
        self.reply_to(id).await
    }

    /// `devflow/<method>`; its result, or a panic naming the error.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let reply = self.request(&format!("devflow/{method}"), params).await;
        match reply.get("result") {
            Some(result) => result.clone(),
            None => panic!("devflow/{method} failed: {reply}"),
        }
    }

    /// `devflow/<method>`'s error member, or a panic if it succeeded.
    async fn call_error(&mut self, method: &str, params: Value) -> Value {
        let reply = self.request(&format!("devflow/{method}"), params).await;
        match reply.get("error") {
            Some(error) => error.clone(),
            None => panic!("devflow/{method} should have failed: {reply}"),
        }
    }

    async fn next_event(&mut self) -> Value {
        if let Some(event) = self.events.pop_front() {
            return event;
        }
        let message = self.read().await;
        assert_eq!(
            message["method"], "devflow/event",
            "expected an event, got {message}"
        );
        message["params"].clone()
    }

    /// A session over a folder holding one page.
    async fn create_session(&mut self) -> String {
        let site = self.state.path().join("site");
        std::fs::create_dir_all(&site).expect("site dir");
        std::fs::write(site.join("index.html"), "<!doctype html><h1>Hello</h1>\n")
            .expect("index.html");
        let created = self
            .call(
                "session/create",
                json!({"source": {"kind": "dir", "path": site}}),
            )
            .await;
        created["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_string()
    }

    /// `shutdown` then `exit` (stdin left open, as editors do); the exit status.
    async fn shut_down(mut self) -> ExitStatus {
        let reply = self.request("shutdown", Value::Null).await;
        assert_eq!(reply["result"], Value::Null, "shutdown: {reply}");
        self.notify("exit", Value::Null).await;
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("devflow lsp exits after exit")
            .expect("wait for devflow lsp");
        let mut rest = Vec::new();
        self.stdout
            .read_to_end(&mut rest)
            .await
            .expect("read the rest of stdout");
        assert!(
            rest.is_empty(),
            "stdout after exit: {}",
            String::from_utf8_lossy(&rest)
        );
        status
    }
}

async fn read_frame(stdout: &mut BufReader<ChildStdout>) -> Value {
    let mut length = None;
    loop {
        let mut line = String::new();
        let read = stdout.read_line(&mut line).await.expect("read a header");
        assert!(read > 0, "devflow lsp closed stdout");
        let line = line.trim_end_matches("\r\n");
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("not a header: {line:?}"));
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .trim()
                    .parse::<usize>()
                    .expect("a Content-Length number"),
            );
        }
    }
    let mut body = vec![0; length.expect("a Content-Length header")];
    stdout.read_exact(&mut body).await.expect("read a body");
    serde_json::from_slice(&body).expect("the body is JSON")
}

fn is_command_status(event: &Value, status: &str) -> bool {
    event["type"] == "COMMAND_STATUS" && event["data"]["status"] == status
}

#[tokio::test]
async fn initialize_names_the_server_and_shutdown_then_exit_ends_with_status_zero() {
    let (editor, init) = Editor::start().await;
    assert_eq!(init["serverInfo"]["name"], "devflow");
    assert_eq!(init["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(init["capabilities"].is_object(), "{init}");

    let status = editor.shut_down().await;
    assert_eq!(status.code(), Some(0));
}

#[tokio::test]
async fn subscribe_replies_first_then_streams_the_command_events_in_seq_order() {
    let (mut editor, _) = Editor::start().await;
    let session_id = editor.create_session().await;

    // The session's creation is stored already, so a forwarder that started on its own
    // would race the reply: the very next message must be the reply.
    let id = editor
        .send_request(
            "devflow/session/subscribe",
            Some(json!({"sessionId": session_id})),
        )
        .await;
    let reply = editor.read().await;
    assert_eq!(
        reply["id"],
        json!(id),
        "the subscribe reply comes before any event: {reply}"
    );
    assert_eq!(
        reply["result"],
        json!({"sessionId": session_id, "lastSeq": 1})
    );

    let submitted = editor
        .call(
            "command/submit",
            json!({"sessionId": session_id, "instruction": "make the heading feel magical"}),
        )
        .await;
    assert_eq!(submitted["status"], "QUEUED");
    let command_id = submitted["commandId"].clone();

    let mut events = Vec::new();
    loop {
        let event = editor.next_event().await;
        let failed = is_command_status(&event, "FAILED");
        events.push(event);
        if failed {
            break;
        }
    }
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "seq order from 1, no gaps"
    );
    assert!(events.iter().all(|e| e["sessionId"] == json!(session_id)));
    assert_eq!(
        events[0]["type"], "SESSION_STATUS",
        "the creation, replayed: {}",
        events[0]
    );
    assert_eq!(events[0]["data"]["status"], "CREATED");
    assert!(
        is_command_status(&events[1], "QUEUED") && events[1]["commandId"] == command_id,
        "the command's first event is QUEUED: {}",
        events[1]
    );
    let failed = events.last().expect("events");
    assert_eq!(failed["commandId"], command_id);
    let summary = failed["data"]["errorSummary"]
        .as_str()
        .expect("errorSummary");
    assert!(summary.contains("could not act on"), "{summary}");

    assert_eq!(editor.shut_down().await.code(), Some(0));
}

#[tokio::test]
async fn unsubscribe_stops_the_events_of_that_session() {
    let (mut editor, _) = Editor::start().await;
    let session_id = editor.create_session().await;
    editor
        .call("session/subscribe", json!({"sessionId": session_id}))
        .await;
    assert_eq!(editor.next_event().await["seq"], 1);

    let stopped = editor
        .call("session/unsubscribe", json!({"sessionId": session_id}))
        .await;
    assert_eq!(
        stopped,
        json!({"sessionId": session_id, "unsubscribed": true})
    );
    let submitted = editor
        .call(
            "command/submit",
            json!({"sessionId": session_id, "instruction": "make the heading feel magical"}),
        )
        .await;
    let command = json!({"sessionId": session_id, "commandId": submitted["commandId"]});
    let deadline = tokio::time::Instant::now() + WAIT;
    while editor.call("command/get", command.clone()).await["status"] != "FAILED" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the command never finished"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        editor.events.is_empty(),
        "events after unsubscribe: {:?}",
        editor.events
    );

    assert_eq!(editor.shut_down().await.code(), Some(0));
}

#[tokio::test]
async fn an_empty_instruction_is_invalid_params_with_the_validation_error_object() {
    let (mut editor, _) = Editor::start().await;
    let session_id = editor.create_session().await;

    let error = editor
        .call_error(
            "command/submit",
            json!({"sessionId": session_id, "instruction": ""}),
        )
        .await;
    assert_eq!(error["code"], -32602, "{error}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{error}"
    );
    assert_eq!(error["data"]["error"], "VALIDATION_ERROR", "{error}");
    assert_eq!(error["data"]["details"]["field"], "instruction", "{error}");
    assert_eq!(error["data"]["message"], error["message"]);
    assert!(error["data"]["requestId"].as_str().is_some(), "{error}");

    assert_eq!(editor.shut_down().await.code(), Some(0));
}

#[tokio::test]
async fn a_missing_field_is_the_same_validation_error_as_on_websocket() {
    let (mut editor, _) = Editor::start().await;

    let error = editor.call_error("session/get", json!({})).await;
    assert_eq!(error["code"], -32602, "{error}");
    assert_eq!(error["data"]["error"], "VALIDATION_ERROR", "{error}");

    assert_eq!(editor.shut_down().await.code(), Some(0));
}

#[tokio::test]
async fn an_unknown_devflow_method_is_method_not_found() {
    let (mut editor, _) = Editor::start().await;

    let reply = editor.request("devflow/nope", json!({})).await;
    assert_eq!(reply["error"]["code"], -32601, "{reply}");

    assert_eq!(editor.shut_down().await.code(), Some(0));
}

#[tokio::test]
async fn a_request_without_params_is_served_like_empty_params() {
    let (mut editor, _) = Editor::start().await;
    let session_id = editor.create_session().await;

    let id = editor.send_request("devflow/session/list", None).await;
    let reply = editor.reply_to(id).await;
    let sessions = reply["result"]["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("{reply}"));
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["sessionId"], json!(session_id));

    assert_eq!(editor.shut_down().await.code(), Some(0));
}

#[tokio::test]
async fn every_api_method_is_routed_to_the_service() {
    let (mut editor, _) = Editor::start().await;

    // A session that does not exist: each method reaches the service and is refused there
    // with the API error object, never with tower-lsp-server's bare "method not found".
    for name in devflow_protocol::method::ALL {
        let reply = editor
            .request(&format!("devflow/{name}"), json!({"sessionId": "missing"}))
            .await;
        let code = reply.pointer("/error/code").and_then(Value::as_i64);
        assert_ne!(code, Some(-32601), "devflow/{name} is not routed: {reply}");
        if reply.get("error").is_some() {
            assert!(
                reply["error"]["data"]["error"].is_string(),
                "devflow/{name}: {reply}"
            );
        }
    }

    assert_eq!(editor.shut_down().await.code(), Some(0));
}

#[tokio::test]
async fn the_server_ends_when_the_editor_closes_stdin() {
    let (mut editor, _) = Editor::start().await;
    editor.stdin = None;
    let status = tokio::time::timeout(WAIT, editor.child.wait())
        .await
        .expect("devflow lsp exits when stdin closes")
        .expect("wait for devflow lsp");
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn a_subscribe_reply_is_never_overtaken_by_the_events_it_replays() {
    let (mut editor, _) = Editor::start().await;
    let session_id = editor.create_session().await;

    // Each subscribe replays the stored creation event at once, racing its own reply. Without
    // ordering, about one in a hundred events was measured to arrive first.
    for round in 0..500 {
        let id = editor
            .send_request(
                "devflow/session/subscribe",
                Some(json!({"sessionId": session_id})),
            )
            .await;
        let first = editor.read().await;
        assert_eq!(
            first["id"],
            json!(id),
            "round {round}: an event overtook the subscribe reply: {first}"
        );
        let event = editor.read().await;
        assert_eq!(event["method"], "devflow/event", "round {round}: {event}");
        assert_eq!(event["params"]["seq"], 1, "round {round}: {event}");
    }

    assert_eq!(editor.shut_down().await.code(), Some(0));
}
