//! Fuzzing of JSON-RPC framing against the real binary, bounded so it runs in CI: mutated
//! requests over WebSocket (`/rpc`) and over LSP stdio (Content-Length frames), then frames
//! whose header lies.
//!
//! After every fuzzed frame a probe request (`session/list`) is sent. Whatever the fuzzed
//! frame was, the daemon must answer it with at most one well-formed JSON-RPC 2.0 response
//! (a notification gets none), answer the probe, and never die. For LSP, a frame whose
//! header is broken may cost the stream's framing, but the process must then end with an
//! error exit and no panic — not hang, and not act on half a message.
//!
//! A run is reproducible from its seed (printed on failure); `DEVFLOW_FUZZ_SEED` picks one
//! and `DEVFLOW_FUZZ_CASES` runs longer (default 150 frames per transport).

use std::process::Stdio;
use std::time::Duration;

use devflow_tests::daemon::{binary, Daemon, TOKEN};
use devflow_tests::session::create_dir_session;
use devflow_tests::RestClient;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(20);

/// xorshift64*: a small deterministic generator, so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seed() -> u64 {
    std::env::var("DEVFLOW_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        })
}

fn cases() -> usize {
    std::env::var("DEVFLOW_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150)
}

/// Well-formed requests the mutations start from (method names as the WS API spells them).
fn templates(session_id: &str) -> Vec<String> {
    [
        json!({"jsonrpc": "2.0", "id": 7, "method": "session/get", "params": {"sessionId": session_id}}),
        json!({"jsonrpc": "2.0", "id": "x", "method": "session/history", "params": {"sessionId": session_id, "limit": 2}}),
        json!({"jsonrpc": "2.0", "id": 8, "method": "command/submit", "params": {"sessionId": session_id, "instruction": "見出しを大きく"}}),
        json!({"jsonrpc": "2.0", "id": 9, "method": "session/updateSettings", "params": {"sessionId": session_id, "prompt": "p"}}),
        json!({"jsonrpc": "2.0", "method": "session/pause", "params": {"sessionId": session_id}}),
        json!([{"jsonrpc": "2.0", "id": 1, "method": "session/list"}]),
        json!({"jsonrpc": "2.0", "id": null, "method": "session/list"}),
    ]
    .iter()
    .map(Value::to_string)
    .collect()
}

const SPLICES: &[&str] = &[
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "null",
    "-1",
    "1e309",
    "\"id\":",
    "\"method\":",
    "\"jsonrpc\":\"1.0\"",
    "\\u0000",
    "\\ud800",
    "é",
    "\u{feff}",
    "999999999999999999999",
    "\"params\":[]",
    "\"params\":\"s\"",
    "true",
];

/// A template mutated at 1–4 places (bytes dropped, syntax spliced in, cut short).
fn mutated(rng: &mut Rng, templates: &[String]) -> String {
    let mut text = templates[rng.below(templates.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let mut at = rng.below(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        match rng.below(3) {
            0 => {
                let mut end = (at + 1 + rng.below(6)).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                text.replace_range(at..end, "");
            }
            1 => text.insert_str(at, SPLICES[rng.below(SPLICES.len())]),
            _ => text.truncate(at),
        }
    }
    text
}

/// A JSON-RPC 2.0 response: `jsonrpc`, an `id`, and exactly one of `result` / `error` with
/// an integer `code` and a string `message`.
fn assert_response(reply: &Value, sent: &str, seed: u64) {
    let context = format!("seed {seed}, sent {sent:?}, got {reply}");
    let replies: Vec<&Value> = match reply {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    for reply in replies {
        assert_eq!(reply["jsonrpc"], "2.0", "{context}");
        assert!(reply.get("id").is_some(), "no id: {context}");
        match (reply.get("result"), reply.get("error")) {
            (Some(_), None) => {}
            (None, Some(error)) => {
                assert!(error["code"].is_i64(), "error code: {context}");
                assert!(error["message"].is_string(), "error message: {context}");
            }
            _ => panic!("not exactly one of result/error: {context}"),
        }
    }
}

#[tokio::test]
async fn mutated_websocket_frames_get_well_formed_answers_and_the_daemon_lives_on() {
    let seed = seed();
    let mut rng = Rng(seed);
    let state = tempfile::tempdir().expect("tempdir");
    let site = tempfile::tempdir().expect("tempdir");
    std::fs::write(site.path().join("index.html"), "<h1>x</h1>").expect("write");
    let daemon = Daemon::start(state.path());
    let session_id = create_dir_session(&mut RestClient::new(&daemon), site.path()).await;
    let templates = templates(&session_id);

    let url = format!("{}?token={TOKEN}", daemon.ws_url());
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket connects");
    for case in 0..cases() {
        let sent = mutated(&mut rng, &templates);
        let frame = if rng.below(10) == 0 {
            Message::Binary(sent.clone().into_bytes().into())
        } else {
            Message::Text(sent.clone().into())
        };
        socket.send(frame).await.expect("send");
        let probe_id = format!("probe-{case}");
        let probe = json!({"jsonrpc": "2.0", "id": probe_id, "method": "session/list"});
        socket
            .send(Message::Text(probe.to_string().into()))
            .await
            .expect("send probe");

        let mut answers = Vec::new();
        loop {
            let message = tokio::time::timeout(WAIT, socket.next())
                .await
                .unwrap_or_else(|_| panic!("seed {seed}: no probe reply after {sent:?}"))
                .unwrap_or_else(|| panic!("seed {seed}: socket closed after {sent:?}"))
                .unwrap_or_else(|e| panic!("seed {seed}: {e} after {sent:?}"));
            let Message::Text(text) = message else {
                continue;
            };
            let value: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("seed {seed}: the daemon sent non-JSON {text:?}: {e}"));
            if value.get("method").and_then(Value::as_str) == Some("event") {
                continue;
            }
            if value["id"] == json!(probe_id) {
                assert!(
                    value["result"].is_array() || value["result"].is_object(),
                    "{value}"
                );
                break;
            }
            answers.push(value);
        }
        assert!(
            answers.len() <= 1,
            "seed {seed}: {} answers to one frame {sent:?}: {answers:?}",
            answers.len()
        );
        for answer in &answers {
            assert_response(answer, &sent, seed);
        }
    }
    let health = reqwest::get(format!("{}/healthz", daemon.base_url))
        .await
        .expect("healthz after fuzzing");
    assert!(health.status().is_success(), "seed {seed}");
}

/// `devflow lsp` over pipes, read frame by frame.
struct Lsp {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: BufReader<tokio::process::ChildStdout>,
}

impl Lsp {
    fn start(state_dir: &std::path::Path) -> Lsp {
        let mut child = tokio::process::Command::new(binary())
            .args(["lsp", "--state-dir"])
            .arg(state_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("devflow lsp starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Lsp {
            child,
            stdin,
            stdout,
        }
    }

    async fn send(&mut self, body: &[u8]) {
        let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        frame.extend_from_slice(body);
        self.send_raw(&frame).await;
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        // A closed pipe is the process having exited; the caller checks how.
        let _ = self.stdin.write_all(bytes).await;
        let _ = self.stdin.flush().await;
    }

    /// The next frame, or `None` at end of stream.
    async fn read(&mut self) -> Option<Value> {
        let mut length = None;
        loop {
            let mut line = String::new();
            if self.stdout.read_line(&mut line).await.ok()? == 0 {
                return None;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(value) = line.strip_prefix("Content-Length:") {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let mut body = vec![0u8; length.expect("the daemon's own frames have Content-Length")];
        self.stdout.read_exact(&mut body).await.ok()?;
        Some(serde_json::from_slice(&body).expect("the daemon's own frames are JSON"))
    }

    /// Reads until the reply with `id`; the other non-event frames before it are returned.
    async fn until_reply(&mut self, id: &Value) -> Option<Vec<Value>> {
        let mut others = Vec::new();
        loop {
            let frame = tokio::time::timeout(WAIT, self.read())
                .await
                .expect("devflow lsp neither answered nor exited")?;
            if frame.get("method").is_some() {
                continue; // events, log messages
            }
            if frame.get("id") == Some(id) {
                return Some(others);
            }
            others.push(frame);
        }
    }

    async fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = tokio::time::timeout(WAIT, stderr.read_to_string(&mut text)).await;
        }
        text
    }
}

async fn lsp_session(lsp: &mut Lsp, site: &std::path::Path) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"processId": null, "rootUri": null, "capabilities": {}}});
    lsp.send(init.to_string().as_bytes()).await;
    lsp.until_reply(&json!(0))
        .await
        .expect("initialize answered");
    lsp.send(
        json!({"jsonrpc": "2.0", "method": "initialized", "params": {}})
            .to_string()
            .as_bytes(),
    )
    .await;
    let create = json!({"jsonrpc": "2.0", "id": "create", "method": "devflow/session/create", "params": {"source": {"kind": "dir", "path": site}}});
    lsp.send(create.to_string().as_bytes()).await;
    let mut frames = Vec::new();
    loop {
        let frame = lsp.read().await.expect("create answered");
        if frame["id"] == "create" {
            frames.push(frame);
            break;
        }
    }
    frames[0]["result"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no session: {frames:?}"))
        .to_string()
}

#[tokio::test]
async fn mutated_lsp_bodies_get_well_formed_answers_and_the_server_lives_on() {
    let seed = seed();
    let mut rng = Rng(seed ^ 0x5eed);
    let state = tempfile::tempdir().expect("tempdir");
    let site = tempfile::tempdir().expect("tempdir");
    std::fs::write(site.path().join("index.html"), "<h1>x</h1>").expect("write");
    let mut lsp = Lsp::start(state.path());
    let session_id = lsp_session(&mut lsp, site.path()).await;
    // The LSP names of the API's methods are `devflow/` + the WS name.
    let templates: Vec<String> = templates(&session_id)
        .into_iter()
        .map(|t| t.replace("\"method\":\"", "\"method\":\"devflow/"))
        .collect();

    // Replies to one frame can come after the probe sent behind it (tower-lsp-server runs
    // requests concurrently), so answers are counted over the whole run.
    let mut answers = Vec::new();
    let frames = cases();
    for case in 0..frames {
        let sent = mutated(&mut rng, &templates);
        lsp.send(sent.as_bytes()).await;
        let probe_id = json!(format!("probe-{case}"));
        let probe = json!({"jsonrpc": "2.0", "id": probe_id, "method": "devflow/session/list"});
        lsp.send(probe.to_string().as_bytes()).await;
        match lsp.until_reply(&probe_id).await {
            Some(more) => answers.extend(more.into_iter().map(|a| (sent.clone(), a))),
            None => {
                let stderr = lsp.stderr().await;
                panic!("seed {seed}: devflow lsp exited after {sent:?}: {stderr}");
            }
        }
    }
    for (sent, answer) in &answers {
        assert_response(answer, sent, seed);
    }
    assert!(
        answers.len() <= frames,
        "seed {seed}: {} answers to {frames} frames",
        answers.len()
    );
    assert!(
        answers.iter().any(|(_, a)| a["error"]["code"] == -32700),
        "seed {seed}: no parse error among {} answers to mutated frames",
        answers.len()
    );
    lsp.send(
        json!({"jsonrpc": "2.0", "id": "bye", "method": "shutdown"})
            .to_string()
            .as_bytes(),
    )
    .await;
    lsp.until_reply(&json!("bye"))
        .await
        .expect("shutdown answered");
    lsp.send(
        json!({"jsonrpc": "2.0", "method": "exit"})
            .to_string()
            .as_bytes(),
    )
    .await;
    let status = tokio::time::timeout(WAIT, lsp.child.wait())
        .await
        .expect("exits after exit")
        .expect("wait");
    assert!(status.success(), "seed {seed}: exit status {status}");
}

/// Frames whose header lies: the server answers each with a JSON-RPC parse error, finds the
/// next frame, and goes on — never a panic, a hang, or a reply to a request it only half read.
#[tokio::test]
async fn lying_lsp_headers_are_answered_and_the_stream_recovers() {
    let state = tempfile::tempdir().expect("tempdir");
    let site = tempfile::tempdir().expect("tempdir");
    std::fs::write(site.path().join("index.html"), "<h1>x</h1>").expect("write");
    let half = br#"{"jsonrpc":"2.0","id":"half","method":"devflow/session/list"}"#;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "non-numeric length",
            b"Content-Length: abc\r\n\r\n{}".to_vec(),
        ),
        ("no length header", b"Content-Type: x\r\n\r\n{}".to_vec()),
        ("negative length", b"Content-Length: -5\r\n\r\n{}".to_vec()),
        ("length past the body", {
            let mut frame = format!("Content-Length: {}\r\n\r\n", half.len() + 40).into_bytes();
            frame.extend_from_slice(half);
            frame
        }),
        ("length short of the body", {
            let mut frame = format!("Content-Length: {}\r\n\r\n", half.len() - 9).into_bytes();
            frame.extend_from_slice(half);
            frame
        }),
        (
            "huge length",
            b"Content-Length: 99999999999999999999\r\n\r\n{}".to_vec(),
        ),
        (
            "header without blank line",
            b"Content-Length: 2\r\n{}".to_vec(),
        ),
        ("binary noise", (0u8..=255).cycle().take(600).collect()),
    ];
    let mut lsp = Lsp::start(state.path());
    lsp_session(&mut lsp, site.path()).await;
    for (round, (what, bytes)) in cases.into_iter().enumerate() {
        lsp.send_raw(&bytes).await;
        // A lying length can swallow the first probe; the second one must get through.
        for probe in ["first", "second"] {
            let probe = json!({"jsonrpc": "2.0", "id": format!("{probe}-{round}"), "method": "devflow/session/list"});
            lsp.send(probe.to_string().as_bytes()).await;
        }
        let Some(answers) = lsp.until_reply(&json!(format!("second-{round}"))).await else {
            let stderr = lsp.stderr().await;
            panic!("{what}: devflow lsp exited: {stderr}");
        };
        let errors: Vec<&Value> = answers
            .iter()
            // First probes are answered or swallowed; they may answer late.
            .filter(|a| !a["id"].as_str().is_some_and(|id| id.starts_with("first-")))
            .collect();
        assert!(
            !errors.is_empty(),
            "{what}: not answered at all: {answers:?}"
        );
        for answer in &errors {
            assert_response(answer, what, 0);
            assert_ne!(answer["id"], "half", "{what}: acted on half a request");
            assert_eq!(answer["id"], Value::Null, "{what}: {answer}");
        }
        // tower-lsp-server answers a second `null`-id request still in flight with -32600.
        assert!(
            errors.iter().any(|a| a["error"]["code"] == -32700)
                && errors
                    .iter()
                    .all(|a| [json!(-32700), json!(-32600)].contains(&a["error"]["code"])),
            "{what}: {errors:?}"
        );
    }
}
