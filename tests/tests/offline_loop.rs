//! The seed-000 loop offline, through the real daemon and nothing else: upload a site zip,
//! start the session, set the FrontSwatch reference, send an instruction in English and one
//! in Japanese to the builtin proposer, see each command's events in order, the files
//! changed and the change served at the session's previewUrl; then one rollback restores
//! every file byte for byte.

use devflow_tests::daemon::TOKEN;
use devflow_tests::fixtures::{fixtures_dir, tree_sha256, zip_bytes};
use devflow_tests::session::use_builtin_proposer;
use devflow_tests::{Client, Daemon, RestClient};
use serde_json::{json, Value};

/// The event types (with the status of COMMAND_STATUS) a command goes through, in order.
const EXPECTED: [&str; 10] = [
    "COMMAND_STATUS QUEUED",
    "COMMAND_STATUS ANALYZING",
    "INFERENCE_STARTED",
    "INFERENCE_COMPLETED",
    "COMMAND_STATUS PATCHING",
    "PATCH_APPLY_STARTED",
    "PATCH_APPLY_COMPLETED",
    "PREVIEW_UPDATED",
    "DRIFT_REPORT",
    "COMMAND_STATUS READY",
];

fn label(event: &Value) -> String {
    match event["type"].as_str() {
        Some("COMMAND_STATUS") => format!(
            "COMMAND_STATUS {}",
            event["data"]["status"].as_str().unwrap_or("?")
        ),
        Some(other) => other.to_string(),
        None => format!("? {event}"),
    }
}

struct Loop {
    client: RestClient,
    session_id: String,
    preview_url: String,
}

impl Loop {
    /// Sends one instruction; returns the command's own events (those carrying its id), up
    /// to its final status, and the command.
    async fn instruct(&mut self, instruction: &str) -> (Vec<Value>, Value) {
        let submitted = self
            .client
            .call(
                "command/submit",
                json!({"sessionId": self.session_id, "instruction": instruction}),
            )
            .await
            .unwrap();
        let command_id = submitted["commandId"].as_str().unwrap().to_string();
        let mut events = Vec::new();
        loop {
            let event = self.client.next_event().await;
            if event["commandId"] != command_id {
                continue;
            }
            let done = event["type"] == "COMMAND_STATUS"
                && matches!(event["data"]["status"].as_str(), Some("READY" | "FAILED"));
            events.push(event);
            if done {
                break;
            }
        }
        let command = self
            .client
            .call(
                "command/get",
                json!({"sessionId": self.session_id, "commandId": command_id}),
            )
            .await
            .unwrap();
        (events, command)
    }

    async fn preview_css(&self) -> String {
        let response = reqwest::get(format!("{}css/styles.css", self.preview_url))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }
}

/// Checks one command's events against [`EXPECTED`] and returns its patch id.
fn check_events(instruction: &str, events: &[Value], command: &Value) -> String {
    let labels: Vec<String> = events.iter().map(label).collect();
    assert_eq!(labels, EXPECTED, "{instruction}: {events:#?}");
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(events[2]["data"]["proposer"], "builtin");
    let patch_id = events[6]["data"]["patchId"].as_str().unwrap().to_string();
    assert_eq!(events[6]["data"]["files"], json!(["css/styles.css"]));
    assert_eq!(
        events[7]["data"]["patchId"], patch_id,
        "PREVIEW_UPDATED names the patch"
    );
    assert_eq!(events[7]["data"]["cssOnly"], true);
    let report = &events[8]["data"]["report"];
    assert_eq!(report["score"].as_f64(), command["driftAfter"].as_f64());
    let kinds: Vec<&str> = report["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["color", "fontFamily", "fontSize", "spacing", "radius"]
    );
    assert_eq!(command["status"], "READY");
    assert_eq!(command["patchId"], patch_id);
    patch_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_000_loop_runs_offline_and_rolls_back_byte_identical() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let created = client
        .call("session/create", json!({"name": "offline loop"}))
        .await
        .unwrap();
    let session_id = created["sessionId"].as_str().unwrap().to_string();
    use_builtin_proposer(&mut client, &session_id).await;

    // Upload the site zip; it becomes the workspace.
    let upload = reqwest::Client::new()
        .put(created["uploadUrl"].as_str().unwrap())
        .bearer_auth(TOKEN)
        .header("content-type", "application/zip")
        .body(zip_bytes("simple-sidebar.zip"))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 200);
    let workspace = temp.path().join("state/workspaces").join(&session_id);
    let original = tree_sha256(&fixtures_dir().join("sites/simple-sidebar"));
    assert_eq!(tree_sha256(&workspace), original, "the zip is the site");

    client.subscribe(&session_id, 0).await.unwrap();
    client
        .call("session/start", json!({"sessionId": session_id}))
        .await
        .unwrap();
    let preview_url = loop {
        let event = client.next_event().await;
        if event["type"] == "SESSION_READY" {
            break event["data"]["previewUrl"].as_str().unwrap().to_string();
        }
    };

    let tokens = std::fs::read(fixtures_dir().join("tokens/dtcg-small/tokens.json")).unwrap();
    let response = reqwest::Client::new()
        .put(format!(
            "{}/sessions/{session_id}/reference",
            daemon.base_url
        ))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(tokens)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reference: Value = response.json().await.unwrap();
    let score_at_start = reference["driftScore"].as_f64().unwrap();

    let mut run = Loop {
        client,
        session_id: session_id.clone(),
        preview_url,
    };
    let before = tree_sha256(&workspace);
    assert!(!run.preview_css().await.contains("--bs-btn-bg: #4f46e5"));

    // English: the buttons take the brand primary token.
    let (events, command) = run.instruct("make the buttons the brand primary").await;
    let first_patch = check_events("English", &events, &command);
    assert_eq!(command["driftBefore"].as_f64(), Some(score_at_start));
    let served = run.preview_css().await;
    assert!(
        served.contains("--bs-btn-bg: #4f46e5;"),
        "the preview serves the new button colour"
    );
    assert_eq!(
        served.as_bytes(),
        std::fs::read(workspace.join("css/styles.css")).unwrap(),
        "the preview serves the workspace's file"
    );
    let after_first = tree_sha256(&workspace);
    let changed: Vec<&String> = after_first
        .iter()
        .filter(|(path, hash)| before.get(*path) != Some(hash))
        .map(|(path, _)| path)
        .collect();
    assert_eq!(changed, ["css/styles.css"], "only the stylesheet changed");

    // Japanese: the headings turn red.
    let (events, command) = run.instruct("見出しを＃ＦＦ００００に").await;
    let second_patch = check_events("Japanese", &events, &command);
    assert_ne!(first_patch, second_patch);
    let reason = events[3]["data"]["reason"].as_str().unwrap();
    assert!(
        reason
            .chars()
            .any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)),
        "the reason is in Japanese: {reason}"
    );
    let served = run.preview_css().await;
    assert!(served.contains("color: #ff0000;"), "the headings are red");
    assert!(served.contains("--bs-btn-bg: #4f46e5;"), "the buttons stay");

    // Rolling back the first patch undoes both, newest first, to the byte.
    let result = run
        .client
        .call(
            "session/rollback",
            json!({"sessionId": session_id, "patchId": first_patch}),
        )
        .await
        .unwrap();
    assert_eq!(result["rolledBack"], json!([second_patch, first_patch]));
    assert_eq!(result["lastAppliedPatchId"], Value::Null);
    let mut rolled_back = Vec::new();
    loop {
        let event = run.client.next_event().await;
        match event["type"].as_str() {
            Some("ROLLBACK_COMPLETED") => {
                rolled_back.push(event["data"]["patchId"].as_str().unwrap().to_string())
            }
            Some("PREVIEW_UPDATED") if event["data"].get("patchId").is_none() => {
                assert_eq!(event["data"]["files"], json!(["css/styles.css"]));
                break;
            }
            _ => {}
        }
    }
    assert_eq!(rolled_back, [second_patch, first_patch]);
    assert_eq!(tree_sha256(&workspace), before, "every file byte-identical");
    assert_eq!(tree_sha256(&workspace), original);
    let served = run.preview_css().await;
    assert_eq!(
        served.as_bytes(),
        std::fs::read(fixtures_dir().join("sites/simple-sidebar/css/styles.css")).unwrap(),
        "the preview serves the original stylesheet again"
    );
}
