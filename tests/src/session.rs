//! Steps most black-box tests share, over any [`Client`]: a session on a folder, the same
//! session started until its preview is ready, and a command waited on until it is final.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::Client;

/// `session/create` on a folder already on disk; the session id.
pub async fn create_dir_session(client: &mut impl Client, site: &Path) -> String {
    let created = client
        .call(
            "session/create",
            json!({"source": {"kind": "dir", "path": site}}),
        )
        .await
        .unwrap_or_else(|e| panic!("session/create on {}: {e:?}", site.display()));
    created["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no sessionId in {created}"))
        .to_string()
}

/// `session/updateSettings`: the session proposes with the builtin, offline proposer.
pub async fn use_builtin_proposer(client: &mut impl Client, session_id: &str) {
    client
        .call(
            "session/updateSettings",
            json!({"sessionId": session_id, "proposer": "builtin"}),
        )
        .await
        .unwrap_or_else(|e| panic!("choosing the builtin proposer for {session_id}: {e:?}"));
}

/// A session on `site`, subscribed from seq 0 and started; returns its id and its preview
/// URL once SESSION_READY arrives (a SESSION_ERROR fails the test).
pub async fn running_session(client: &mut impl Client, site: &Path) -> (String, String) {
    let session_id = create_dir_session(client, site).await;
    client
        .subscribe(&session_id, 0)
        .await
        .unwrap_or_else(|e| panic!("subscribe: {e:?}"));
    client
        .call("session/start", json!({"sessionId": session_id}))
        .await
        .unwrap_or_else(|e| panic!("session/start: {e:?}"));
    loop {
        let event = client.next_event().await;
        if event["type"] == "SESSION_READY" {
            let url = event["data"]["previewUrl"]
                .as_str()
                .unwrap_or_else(|| panic!("SESSION_READY without previewUrl: {event}"))
                .to_string();
            return (session_id, url);
        }
        assert_ne!(event["type"], "SESSION_ERROR", "{event}");
    }
}

/// `command/get` until the command is READY or FAILED (at most a minute).
pub async fn wait_final(client: &mut impl Client, session_id: &str, command_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = client
            .call(
                "command/get",
                json!({"sessionId": session_id, "commandId": command_id}),
            )
            .await
            .unwrap_or_else(|e| panic!("command/get {command_id}: {e:?}"));
        if found["status"] == "READY" || found["status"] == "FAILED" {
            return found;
        }
        assert!(Instant::now() < deadline, "{found} never ended");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// `command/submit` of `instruction` to the session, waited on until final.
pub async fn instruct(client: &mut impl Client, session_id: &str, instruction: &str) -> Value {
    let params = json!({"sessionId": session_id, "instruction": instruction});
    submit_and_wait(client, session_id, "command/submit", params).await
}

/// `patch/apply` of `diff` to the session, waited on until final.
pub async fn apply_diff(client: &mut impl Client, session_id: &str, diff: &str) -> Value {
    let params = json!({"sessionId": session_id, "unified_diff": diff});
    submit_and_wait(client, session_id, "patch/apply", params).await
}

async fn submit_and_wait(
    client: &mut impl Client,
    session_id: &str,
    method: &str,
    params: Value,
) -> Value {
    let submitted = client
        .call(method, params)
        .await
        .unwrap_or_else(|e| panic!("{method}: {e:?}"));
    let command_id = submitted["commandId"]
        .as_str()
        .unwrap_or_else(|| panic!("{method} answered without a commandId: {submitted}"))
        .to_string();
    wait_final(client, session_id, &command_id).await
}
