//! One scenario — create, start, subscribe, submit, events in order, get, patch, history
//! paging, pause/resume, rollback — over REST + SSE, JSON-RPC over WebSocket and LSP over
//! stdio, each against a fresh daemon. The three transcripts must be identical once ids,
//! times and ports are masked.

use std::path::Path;

use devflow_tests::fixtures::copy_site;
use devflow_tests::{Client, Daemon, LspClient, RestClient, WsClient};
use serde_json::{json, Value};

const CSS_DIFF: &str = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -10831,3 +10831,3 @@\n #sidebar-wrapper {\n-  min-height: 100vh;\n+  min-height: 90vh;\n   margin-left: -15rem;\n";

/// Keys whose values differ between runs; masked in transcripts.
const VOLATILE: &[&str] = &[
    "sessionId",
    "commandId",
    "patchId",
    "parentPatchId",
    "requestId",
    "at",
    "timestamp",
    "createdAt",
    "updatedAt",
    "expiresAt",
    "queuedAt",
    "startedAt",
    "finishedAt",
    "appliedAt",
    "rolledBackAt",
    "previewUrl",
    "logsUrl",
    "lastAppliedPatchId",
    "nextCursor",
    "path",
    "rolledBack",
    "lastSeq",
];

fn mask(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, v)| {
                    let masked =
                        if VOLATILE.contains(&key.as_str()) && !v.is_null() && !v.is_boolean() {
                            Value::from(format!("<{key}>"))
                        } else {
                            mask(v)
                        };
                    (key.clone(), masked)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(mask).collect()),
        other => other.clone(),
    }
}

struct Transcript {
    lines: Vec<String>,
    seqs: Vec<u64>,
}

impl Transcript {
    fn record(&mut self, what: &str, value: &Value) {
        self.lines.push(format!("{what} {}", mask(value)));
    }
}

/// Reads events until one satisfies `last`; records each and returns them.
async fn events_until(
    client: &mut dyn Client,
    t: &mut Transcript,
    last: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let event = client.next_event().await;
        t.seqs.push(event["seq"].as_u64().expect("seq"));
        t.record("event", &event);
        let done = last(&event);
        seen.push(event);
        if done {
            return seen;
        }
    }
}

fn is_status(event: &Value, status: &str) -> bool {
    event["type"] == "COMMAND_STATUS" && event["data"]["status"] == status
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e["data"].get("status") {
            Some(Value::String(s)) => format!("{} {s}", e["type"].as_str().unwrap_or("")),
            _ => e["type"].as_str().unwrap_or("").to_string(),
        })
        .collect()
}

async fn scenario(client: &mut dyn Client, site: &Path) -> Transcript {
    let mut t = Transcript {
        lines: Vec::new(),
        seqs: Vec::new(),
    };
    let styles = site.join("css/styles.css");
    let original = std::fs::read(&styles).unwrap();

    let created = client
        .call(
            "session/create",
            json!({"name": "scenario", "source": {"kind": "dir", "path": site}}),
        )
        .await
        .expect("create");
    t.record("create", &created);
    let session_id = created["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    assert_eq!(created["status"], "CREATED");
    assert_eq!(
        created["layout"],
        json!({"left": "user-preview", "right": "frontswatch-reference"})
    );
    assert!(created["logsUrl"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/sessions/{session_id}/logs")));
    let sid = json!(session_id);

    client.subscribe(&session_id, 0).await.expect("subscribe");
    let first = events_until(client, &mut t, |e| e["type"] == "SESSION_STATUS").await;
    assert_eq!(first[0]["seq"], 1);

    let started = client
        .call("session/start", json!({"sessionId": sid}))
        .await
        .expect("start");
    assert_eq!(started["status"], "STARTING");
    let ready = events_until(client, &mut t, |e| e["type"] == "SESSION_READY").await;
    assert_eq!(
        types(&ready),
        [
            "SESSION_STATUS STARTING",
            "SESSION_STATUS RUNNING",
            "SESSION_READY"
        ]
    );
    let preview_url = ready[2]["data"]["previewUrl"].as_str().unwrap().to_string();
    let page = reqwest::get(&preview_url)
        .await
        .expect("preview answers")
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Simple Sidebar"),
        "the preview serves the site"
    );

    // An instruction: the shipped daemon has no proposer yet, so it fails with that reason.
    let submitted = client
        .call(
            "command/submit",
            json!({"sessionId": sid, "instruction": "make the sidebar magical"}),
        )
        .await
        .expect("submit");
    t.record("submit", &submitted);
    assert_eq!(submitted["status"], "QUEUED");
    let run = events_until(client, &mut t, |e| is_status(e, "FAILED")).await;
    assert_eq!(
        types(&run),
        [
            "COMMAND_STATUS QUEUED",
            "COMMAND_STATUS ANALYZING",
            "INFERENCE_STARTED",
            "COMMAND_STATUS FAILED"
        ]
    );
    assert!(run.iter().all(|e| e["commandId"] == submitted["commandId"]));
    let summary = run[3]["data"]["errorSummary"].as_str().unwrap();
    assert!(
        summary.contains("could not act on"),
        "the builtin proposer says what it did not understand: {summary}"
    );

    // A person's own diff: applied, previewed, READY.
    let applied = client
        .call(
            "patch/apply",
            json!({"sessionId": sid, "unified_diff": CSS_DIFF, "reason": "shorter sidebar"}),
        )
        .await
        .expect("patch/apply");
    t.record("apply", &applied);
    let run = events_until(client, &mut t, |e| {
        is_status(e, "READY") || is_status(e, "FAILED")
    })
    .await;
    assert_eq!(
        types(&run),
        [
            "COMMAND_STATUS QUEUED",
            "COMMAND_STATUS PATCHING",
            "PATCH_APPLY_STARTED",
            "PATCH_APPLY_COMPLETED",
            "PREVIEW_UPDATED",
            "COMMAND_STATUS READY"
        ],
        "{run:?}"
    );
    let patch_id = run[3]["data"]["patchId"].as_str().unwrap().to_string();
    assert_eq!(run[4]["data"]["cssOnly"], true);
    let patched = std::fs::read_to_string(&styles).unwrap();
    assert!(patched.contains("min-height: 90vh;") && !patched.contains("min-height: 100vh;"));

    let session = client
        .call("session/get", json!({"sessionId": sid}))
        .await
        .expect("get");
    t.record("get", &session);
    assert_eq!(session["lastAppliedPatchId"], json!(patch_id));
    assert_eq!(session["status"], "RUNNING");
    assert!(session["lastErrorSummary"]
        .as_str()
        .unwrap()
        .contains("could not act on"));
    assert_eq!(session["history"].as_array().unwrap().len(), 2);

    let patch = client
        .call("patch/get", json!({"sessionId": sid, "patchId": patch_id}))
        .await
        .expect("patch/get");
    t.record("patch", &patch);
    assert_eq!(patch["state"], "APPLIED");
    assert_eq!(patch["files"][0]["path"], "css/styles.css");
    assert!(patch["unifiedDiff"]
        .as_str()
        .unwrap()
        .contains("+  min-height: 90vh;"));

    // History pages, newest first.
    let page1 = client
        .call("session/history", json!({"sessionId": sid, "limit": 1}))
        .await
        .expect("history");
    t.record("history1", &page1);
    assert_eq!(page1["items"][0]["prompt"], "shorter sidebar");
    let cursor = page1["nextCursor"]
        .as_str()
        .expect("a second page")
        .to_string();
    let page2 = client
        .call(
            "session/history",
            json!({"sessionId": sid, "limit": 1, "cursor": cursor}),
        )
        .await
        .expect("history 2");
    t.record("history2", &page2);
    assert_eq!(page2["items"][0]["prompt"], "make the sidebar magical");
    assert_eq!(page2["nextCursor"], Value::Null);

    // Paused: a command waits in the queue until resume.
    let paused = client
        .call("session/pause", json!({"sessionId": sid}))
        .await
        .expect("pause");
    assert_eq!(paused["paused"], true);
    events_until(client, &mut t, |e| e["type"] == "SESSION_PAUSED").await;
    let waiting = client
        .call(
            "command/submit",
            json!({"sessionId": sid, "instruction": "round the corners"}),
        )
        .await
        .expect("submit while paused");
    events_until(client, &mut t, |e| is_status(e, "QUEUED")).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let still = client
        .call(
            "command/get",
            json!({"sessionId": sid, "commandId": waiting["commandId"]}),
        )
        .await
        .expect("command/get");
    assert_eq!(still["status"], "QUEUED", "a paused session runs nothing");
    let resumed = client
        .call("session/resume", json!({"sessionId": sid}))
        .await
        .expect("resume");
    assert_eq!(resumed["paused"], false);
    // The builtin proposer understands this one: a real proposal, applied.
    let run = events_until(client, &mut t, |e| {
        is_status(e, "READY") || is_status(e, "FAILED")
    })
    .await;
    assert_eq!(
        types(&run),
        [
            "SESSION_PAUSED",
            "COMMAND_STATUS ANALYZING",
            "INFERENCE_STARTED",
            "INFERENCE_COMPLETED",
            "COMMAND_STATUS PATCHING",
            "PATCH_APPLY_STARTED",
            "PATCH_APPLY_COMPLETED",
            "PREVIEW_UPDATED",
            "COMMAND_STATUS READY"
        ]
    );
    assert_eq!(run[3]["data"]["filesToEdit"], json!(["css/styles.css"]));
    let corners_patch = run[6]["data"]["patchId"].as_str().unwrap().to_string();
    let rounded = std::fs::read_to_string(&styles).unwrap();
    assert!(
        rounded.contains("min-height: 90vh;"),
        "the earlier patch is still there"
    );
    assert!(
        !rounded.contains("--bs-btn-border-radius: 0.375rem;"),
        "the button corners changed"
    );

    // Rolling back the first patch also rolls back the one after it, newest first, and
    // restores the file byte for byte.
    let rolled = client
        .call(
            "session/rollback",
            json!({"sessionId": sid, "patchId": patch_id}),
        )
        .await
        .expect("rollback");
    t.record("rollback", &rolled);
    assert_eq!(rolled["rolledBack"], json!([corners_patch, patch_id]));
    assert_eq!(
        std::fs::read(&styles).unwrap(),
        original,
        "rollback restores the exact bytes"
    );
    let run = events_until(client, &mut t, |e| e["type"] == "PREVIEW_UPDATED").await;
    assert_eq!(
        types(&run),
        [
            "ROLLBACK_COMPLETED",
            "ROLLBACK_COMPLETED",
            "PREVIEW_UPDATED"
        ]
    );
    let session = client
        .call("session/get", json!({"sessionId": sid}))
        .await
        .expect("get after rollback");
    assert_eq!(session["lastAppliedPatchId"], Value::Null);

    let again = client
        .call("session/rollback", json!({"sessionId": sid}))
        .await
        .expect_err("nothing left to roll back");
    assert_eq!(again.body["error"], "CONFLICT");

    let expected: Vec<u64> = (1..=t.seqs.len() as u64).collect();
    assert_eq!(
        t.seqs, expected,
        "seq starts at 1 with no gaps or duplicates"
    );
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_scenario_gives_identical_results_over_rest_websocket_and_lsp() {
    let temp = tempfile::tempdir().unwrap();

    let rest_transcript = {
        let site = copy_site("simple-sidebar", &temp.path().join("rest"));
        let daemon = Daemon::start(&temp.path().join("rest-state"));
        let mut client = RestClient::new(&daemon);
        scenario(&mut client, &site).await
    };
    let ws_transcript = {
        let site = copy_site("simple-sidebar", &temp.path().join("ws"));
        let daemon = Daemon::start(&temp.path().join("ws-state"));
        let mut client = WsClient::connect(&daemon).await;
        scenario(&mut client, &site).await
    };
    let lsp_transcript = {
        let site = copy_site("simple-sidebar", &temp.path().join("lsp"));
        let mut client = LspClient::start(&temp.path().join("lsp-state")).await;
        let transcript = scenario(&mut client, &site).await;
        let status = client.shutdown().await;
        assert!(
            status.success(),
            "devflow lsp exits 0 after shutdown/exit: {status:?}"
        );
        transcript
    };

    assert_eq!(
        rest_transcript.seqs.len(),
        28,
        "the scenario saw every event: {:#?}",
        rest_transcript.lines
    );
    assert_eq!(
        rest_transcript.lines, ws_transcript.lines,
        "REST and WebSocket differ"
    );
    assert_eq!(
        rest_transcript.lines, lsp_transcript.lines,
        "REST and LSP differ"
    );
}
