//! Event delivery: SSE resumes after `Last-Event-ID` / `?afterSeq=` with no gap and no
//! duplicate; an idempotent resubmission runs once.

use devflow_tests::client::SseReader;
use devflow_tests::daemon::TOKEN;
use devflow_tests::fixtures::copy_site;
use devflow_tests::{Client, Daemon, RestClient, WsClient};
use serde_json::{json, Value};

async fn new_session(client: &mut dyn Client, site: &std::path::Path) -> String {
    let created = client
        .call(
            "session/create",
            json!({"source": {"kind": "dir", "path": site}}),
        )
        .await
        .expect("create");
    created["sessionId"].as_str().unwrap().to_string()
}

async fn sse(
    daemon: &Daemon,
    session_id: &str,
    header: Option<u64>,
    query: Option<u64>,
) -> SseReader {
    let mut url = format!(
        "{}/sessions/{session_id}/events?token={TOKEN}",
        daemon.base_url
    );
    if let Some(after) = query {
        url.push_str(&format!("&afterSeq={after}"));
    }
    let mut request = reqwest::Client::new().get(url);
    if let Some(after) = header {
        request = request.header("Last-Event-ID", after.to_string());
    }
    let response = request.send().await.expect("SSE");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    SseReader::new(response)
}

async fn next_seq(reader: &mut SseReader) -> u64 {
    let (id, data) = tokio::time::timeout(std::time::Duration::from_secs(20), reader.next())
        .await
        .expect("an event within 20 s")
        .expect("stream open");
    let event: Value = serde_json::from_str(&data).unwrap();
    let seq = event["seq"].as_u64().unwrap();
    assert_eq!(
        id.as_deref(),
        Some(seq.to_string().as_str()),
        "the SSE id is the seq"
    );
    seq
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_resumes_after_last_event_id_without_gap_or_duplicate() {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let session_id = new_session(&mut client, &site).await;
    let sid = json!(session_id);
    for i in 0..3 {
        client
            .call(
                "command/submit",
                json!({"sessionId": sid, "instruction": format!("change {i}")}),
            )
            .await
            .unwrap();
    }

    // Read some, drop the connection, let more happen, resume.
    let mut reader = sse(&daemon, &session_id, None, None).await;
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(next_seq(&mut reader).await);
    }
    drop(reader);
    for i in 3..6 {
        client
            .call(
                "command/submit",
                json!({"sessionId": sid, "instruction": format!("change {i}")}),
            )
            .await
            .unwrap();
    }
    let last = *seen.last().unwrap();
    let mut resumed = sse(&daemon, &session_id, Some(last), None).await;
    // 1 creation event + 6 commands × 4 events each.
    let total = 1 + 6 * 4;
    while seen.len() < total {
        seen.push(next_seq(&mut resumed).await);
    }
    let expected: Vec<u64> = (1..=total as u64).collect();
    assert_eq!(seen, expected);

    // `?afterSeq=` is the same resume point for clients that cannot set headers.
    let mut from_query = sse(&daemon, &session_id, None, Some(20)).await;
    assert_eq!(next_seq(&mut from_query).await, 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubmitting_with_the_same_idempotency_key_runs_the_command_once() {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let daemon = Daemon::start(&temp.path().join("state"));

    // REST: the Idempotency-Key header.
    let mut rest = RestClient::new(&daemon);
    let session_id = new_session(&mut rest, &site).await;
    let http = reqwest::Client::new();
    let url = format!("{}/sessions/{session_id}/commands", daemon.base_url);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let response = http
            .post(&url)
            .bearer_auth(TOKEN)
            .header("Idempotency-Key", "key-1")
            .json(&json!({"instruction": "make it feel magical"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await.unwrap();
        ids.push(body["commandId"].as_str().unwrap().to_string());
    }
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "same key, same command: {ids:?}"
    );

    // WebSocket: the idempotencyKey param, same session, same key → the same command again.
    let mut ws = WsClient::connect(&daemon).await;
    let again = ws
        .call("command/submit", json!({"sessionId": session_id, "instruction": "make it feel magical", "idempotencyKey": "key-1"}))
        .await
        .unwrap();
    assert_eq!(again["commandId"], json!(ids[0]));

    let history = rest
        .call("session/history", json!({"sessionId": session_id}))
        .await
        .unwrap();
    assert_eq!(
        history["items"].as_array().unwrap().len(),
        1,
        "only one command exists"
    );
    ws.subscribe(&session_id, 0).await.unwrap();
    let mut queued = 0;
    loop {
        let event = ws.next_event().await;
        if event["type"] == "COMMAND_STATUS" && event["data"]["status"] == "QUEUED" {
            queued += 1;
        }
        if event["type"] == "COMMAND_STATUS"
            && (event["data"]["status"] == "FAILED" || event["data"]["status"] == "READY")
        {
            break;
        }
    }
    assert_eq!(queued, 1, "the command ran once");
}
