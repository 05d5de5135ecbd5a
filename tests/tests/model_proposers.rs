//! `devflow serve` with AWS settings in its environment — fake keys, a region, and
//! `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` pointing at a fake Converse server this test runs — picks
//! the Bedrock proposer by itself (credentials resolve), and a command goes READY with the
//! diff the "model" proposed applied to the site. The same with `DEVFLOW_OPENAI_URL`.

use std::time::Duration;

use devflow_tests::fake_models::{ChatOptions, ChatReply, FakeChat, FakeConverse, Reply};
use devflow_tests::fixtures::copy_site;
use devflow_tests::{Client, Daemon, RestClient};
use serde_json::{json, Value};

const DIFF: &str = "--- a/src/style.css\n+++ b/src/style.css\n@@ -101,5 +101,5 @@\n .counter {\n   font-size: 16px;\n   padding: 5px 10px;\n-  border-radius: 5px;\n+  border-radius: 999px;\n   color: var(--accent);\n";

/// Creates a session on `site`, submits `instruction` and returns the final command status
/// event's data and the command.
async fn run_command(daemon: &Daemon, site: &std::path::Path, instruction: &str) -> (Value, Value) {
    let mut client = RestClient::new(daemon);
    let created = client
        .call(
            "session/create",
            json!({"source": {"kind": "dir", "path": site.to_string_lossy()}}),
        )
        .await
        .expect("session created");
    let session_id = created["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    client.subscribe(&session_id, 0).await.expect("subscribed");
    let submitted = client
        .call(
            "command/submit",
            json!({"sessionId": session_id, "instruction": instruction}),
        )
        .await
        .expect("submitted");
    let command_id = submitted["commandId"]
        .as_str()
        .expect("commandId")
        .to_string();
    let final_status = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let event = client.next_event().await;
            if event["commandId"] == command_id.as_str()
                && event["type"] == "COMMAND_STATUS"
                && matches!(event["data"]["status"].as_str(), Some("READY" | "FAILED"))
            {
                return event["data"].clone();
            }
        }
    })
    .await
    .expect("the command finishes within 60 s");
    let command = client
        .call(
            "command/get",
            json!({"sessionId": session_id, "commandId": command_id}),
        )
        .await
        .expect("command/get");
    (final_status, command)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_aws_settings_asks_bedrock_and_applies_the_proposed_diff() {
    let fake = FakeConverse::start().await;
    fake.push([Reply::proposal(&["src/style.css"], DIFF)]);
    let temp = tempfile::tempdir().expect("temp dir");
    let site = copy_site("vite-vanilla", temp.path());
    let mut env = fake.daemon_env();
    env.extend([
        ("DEVFLOW_BEDROCK_MODEL", "us.amazon.nova-lite-v1:0"),
        ("DEVFLOW_BEDROCK_MAX_TOKENS", "2048"),
    ]);
    let daemon = Daemon::start_with(&temp.path().join("state"), &env);
    let (status, command) = run_command(&daemon, &site, "make the counter button rounder").await;
    assert_eq!(status["status"], "READY", "{status} {command}");
    let css = std::fs::read_to_string(site.join("src/style.css")).expect("style.css");
    assert!(
        css.contains("  border-radius: 999px;\n  color: var(--accent);"),
        "{css}"
    );
    assert_eq!(
        command["usage"],
        json!({"inputTokens": 1200, "outputTokens": 80})
    );
    assert_eq!(command["proposals"][0]["unified_diff"], DIFF);

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert!(sent.problems.is_empty(), "{:?}", sent.problems);
    assert_eq!(sent.model_id, "us.amazon.nova-lite-v1:0");
    assert_eq!(sent.body["inferenceConfig"]["maxTokens"], 2048);
    assert!(sent.headers["authorization"].contains("Credential=AKIDDEVFLOWBLACKBOX/"));
    assert!(sent.headers["authorization"].contains("/us-west-2/bedrock/aws4_request"));
    assert!(sent.user_text().contains("make the counter button rounder"));
    assert!(sent.user_text().contains(".counter {"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_an_openai_url_asks_it_and_applies_the_proposed_diff() {
    let fake = FakeChat::start(ChatOptions {
        api_key: Some("sk-blackbox".into()),
        ..ChatOptions::default()
    })
    .await;
    fake.push([ChatReply::proposal(&["src/style.css"], DIFF)]);
    let temp = tempfile::tempdir().expect("temp dir");
    let site = copy_site("vite-vanilla", temp.path());
    let daemon = Daemon::start_with(
        &temp.path().join("state"),
        &[
            ("DEVFLOW_PROPOSER", "openai"),
            ("DEVFLOW_OPENAI_URL", &fake.url),
            ("DEVFLOW_OPENAI_MODEL", "qwen2.5-coder:7b"),
            ("DEVFLOW_OPENAI_API_KEY", "sk-blackbox"),
        ],
    );
    let (status, command) = run_command(&daemon, &site, "make the counter button rounder").await;
    assert_eq!(status["status"], "READY", "{status} {command}");
    let css = std::fs::read_to_string(site.join("src/style.css")).expect("style.css");
    assert!(css.contains("border-radius: 999px;"));
    let sent = &fake.requests()[0];
    assert!(sent.problems.is_empty(), "{:?}", sent.problems);
    assert_eq!(sent.body["model"], "qwen2.5-coder:7b");
}
