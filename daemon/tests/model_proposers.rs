//! The Bedrock and OpenAI-compatible proposers inside the real pipeline (real SDK client,
//! real patch engine, real SQLite store) against fake model servers on 127.0.0.1: an
//! unusable answer gets the one re-inference, told why, and a good second answer applies; two
//! failures fail the command with the files byte-identical; the context the model saw holds
//! the instruction, the relevant file, the session prompt and the reference (tokens as text,
//! screens as image blocks for models that take images).

use std::path::PathBuf;
use std::sync::{Arc, Once};
use std::time::Duration;

use async_trait::async_trait;
use devflow_daemon::config::Config;
use devflow_daemon::metrics::Metrics;
use devflow_daemon::parts::{NotConfigured, PreviewHandle, PreviewRuntime, Proposers};
use devflow_daemon::service::{Parts, Service};
use devflow_llm::bedrock::BedrockConfig;
use devflow_llm::openai::OpenAiConfig;
use devflow_llm::retry::CallPolicy;
use devflow_protocol::*;
use devflow_store::SqliteStore;
use devflow_tests::fake_models::{ChatOptions, ChatReply, FakeChat, FakeConverse, Reply};
use serde_json::Value;

const GOOD_DIFF: &str = "--- a/src/style.css\n+++ b/src/style.css\n@@ -101,5 +101,5 @@\n .counter {\n   font-size: 16px;\n   padding: 5px 10px;\n-  border-radius: 5px;\n+  border-radius: 999px;\n   color: var(--accent);\n";
/// A diff against a `.counter` rule the site does not have.
const STALE_DIFF: &str = "--- a/src/style.css\n+++ b/src/style.css\n@@ -101,3 +101,3 @@\n .counter {\n-  box-shadow: 0 0 1px red;\n+  border-radius: 999px;\n }\n";

/// A preview that is never started in these tests.
struct NoPreview;

#[async_trait]
impl PreviewRuntime for NoPreview {
    async fn start(&self, _: &str, _: &std::path::Path) -> Result<PreviewHandle, String> {
        Err("no preview in these tests".into())
    }
    async fn stop(&self, _: &str) {}
    async fn verify(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
    async fn files_changed(&self, _: &str, _: &[String]) {}
}

fn quick_policy() -> CallPolicy {
    CallPolicy {
        deadline: Duration::from_secs(10),
        attempt_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(1),
        max_attempts: 2,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
    }
}

fn fake_aws_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDDEVFLOWTEST0002");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "devflow-test-secret");
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/devflow-test/aws-config");
        std::env::set_var(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/devflow-test/aws-credentials",
        );
        std::env::remove_var("AWS_PROFILE");
        std::env::remove_var("AWS_SESSION_TOKEN");
    });
}

struct World {
    service: Service,
    site: PathBuf,
    _temp: tempfile::TempDir,
}

enum Model<'a> {
    Bedrock(&'a FakeConverse),
    OpenAi(&'a FakeChat),
}

async fn world(model: Model<'_>) -> World {
    fake_aws_env();
    let temp = tempfile::tempdir().expect("temp dir");
    let site = devflow_tests::fixtures::copy_site("vite-vanilla", temp.path());
    let state = temp.path().join("state");
    let budget = devflow_llm::context::DEFAULT_BUDGET_TOKENS;
    let proposers = match model {
        Model::Bedrock(fake) => Proposers {
            bedrock: Some(devflow_daemon::proposers::bedrock(
                BedrockConfig {
                    endpoint_url: Some(fake.url.clone()),
                    policy: quick_policy(),
                    ..BedrockConfig::default()
                },
                &state,
                budget,
            )),
            default: Some(ProposerKind::Bedrock),
            ..Proposers::default()
        },
        Model::OpenAi(fake) => Proposers {
            openai: Some(
                devflow_daemon::proposers::openai(
                    OpenAiConfig {
                        base_url: fake.url.clone(),
                        model: Some("qwen2.5-coder:7b".into()),
                        api_key: None,
                        max_tokens: 2048,
                        policy: quick_policy(),
                    },
                    &state,
                    budget,
                )
                .expect("openai proposer"),
            ),
            default: Some(ProposerKind::Openai),
            ..Proposers::default()
        },
    };
    let parts = Parts {
        proposers,
        patch_engine: Arc::new(devflow_daemon::engine::WorkspacePatchEngine),
        ingest: Arc::new(NotConfigured("no zips in these tests")),
        preview: Arc::new(NoPreview),
        browser: Arc::new(devflow_daemon::preview::browser::BrowserChecks::off(
            "no browser in these tests",
        )),
    };
    let store = SqliteStore::open(&state.join("devflow.db")).expect("store");
    let service = Service::open(
        Config::new(state),
        Arc::new(store),
        parts,
        Arc::new(Metrics::default()),
    )
    .await
    .expect("service");
    World {
        service,
        site,
        _temp: temp,
    }
}

impl World {
    async fn session(&self, prompt: &str) -> String {
        let created = self
            .service
            .create_session(CreateSessionParams {
                source: Some(SessionSource::Dir {
                    path: self.site.to_string_lossy().into(),
                }),
                ..Default::default()
            })
            .await
            .expect("session");
        let session_id = created.session.session_id;
        self.service
            .update_settings(UpdateSettingsParams {
                session_id: session_id.clone(),
                patch: SettingsPatch {
                    prompt: Some(prompt.into()),
                    ..SettingsPatch::default()
                },
            })
            .await
            .expect("settings");
        session_id
    }

    /// Submits and waits for the command's final event; returns the event names.
    async fn run(&self, session_id: &str, instruction: &str) -> (String, Vec<Event>) {
        let command_id = self
            .service
            .submit_command(SubmitCommandParams {
                session_id: session_id.into(),
                instruction: instruction.into(),
                idempotency_key: None,
                target: None,
            })
            .await
            .expect("submit")
            .command_id;
        let (_, mut subscription) = self
            .service
            .subscribe(SubscribeParams {
                session_id: session_id.into(),
                after_seq: Some(0),
            })
            .await
            .expect("subscribe");
        let mut events = Vec::new();
        loop {
            let event = tokio::time::timeout(Duration::from_secs(30), subscription.next())
                .await
                .expect("an event within 30 s")
                .expect("subscription open");
            if event.command_id.as_deref() != Some(&command_id) {
                continue;
            }
            let done =
                matches!(&event.body, EventBody::CommandStatus { status, .. } if status.is_final());
            events.push(event);
            if done {
                return (command_id, events);
            }
        }
    }

    /// Sets a reference zip (the fixture DTCG tokens and a `screens/home.png`) and the model.
    async fn reference_and_model(&self, session_id: &str, model: &str) {
        let tokens = std::fs::read(
            devflow_tests::fixtures::fixtures_dir().join("tokens/dtcg-small/tokens.json"),
        )
        .expect("fixture tokens");
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, bytes) in [
            ("tokens.json", tokens.as_slice()),
            ("screens/home.png", PNG),
        ] {
            zip.start_file(name, options).expect("zip entry");
            std::io::Write::write_all(&mut zip, bytes).expect("zip write");
        }
        let bytes = zip.finish().expect("zip").into_inner();
        let path = self.site.with_file_name("reference.zip");
        std::fs::write(&path, bytes).expect("write zip");
        self.service
            .set_reference(SetReferenceParams {
                session_id: session_id.into(),
                tokens: None,
                path: Some(path.to_string_lossy().into()),
            })
            .await
            .expect("reference set");
        self.service
            .update_settings(UpdateSettingsParams {
                session_id: session_id.into(),
                patch: SettingsPatch {
                    model: Some(model.into()),
                    ..SettingsPatch::default()
                },
            })
            .await
            .expect("model set");
    }

    async fn command(&self, session_id: &str, command_id: &str) -> Command {
        self.service
            .get_command(CommandParams {
                session_id: session_id.into(),
                command_id: command_id.into(),
            })
            .await
            .expect("command")
    }

    fn style(&self) -> Vec<u8> {
        std::fs::read(self.site.join("src/style.css")).expect("style.css")
    }
}

fn names(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| match &e.body {
            EventBody::CommandStatus { status, .. } => status.as_str().to_string(),
            EventBody::PatchFailed { will_retry, .. } => format!("PATCH_FAILED retry={will_retry}"),
            other => other.type_name().to_string(),
        })
        .collect()
}

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

fn good_input() -> Value {
    devflow_tests::fake_models::proposal_json(&["src/style.css"], GOOD_DIFF)
}

#[tokio::test]
async fn bedrock_malformed_tool_input_gets_one_re_inference_told_why_then_applies() {
    let fake = FakeConverse::start().await;
    fake.push([
        Reply::Tool(Value::String(
            "{\"files_to_edit\": [\"src/style.css\"".into(),
        )),
        Reply::Tool(good_input()),
    ]);
    let w = world(Model::Bedrock(&fake)).await;
    let sid = w.session("Prefer pill shapes.").await;
    let (cid, run) = w.run(&sid, "make the counter button rounder").await;
    assert_eq!(
        names(&run),
        [
            "QUEUED",
            "ANALYZING",
            "INFERENCE_STARTED",
            "PATCH_FAILED retry=true",
            "ANALYZING",
            "INFERENCE_STARTED",
            "INFERENCE_COMPLETED",
            "PATCHING",
            "PATCH_APPLY_STARTED",
            "PATCH_APPLY_COMPLETED",
            "PREVIEW_UPDATED",
            "READY"
        ]
    );
    let EventBody::PatchFailed { summary, .. } = &run[3].body else {
        panic!("PATCH_FAILED");
    };
    assert!(
        summary.starts_with(
            "the bedrock proposer's answer was unusable: the answer is not valid JSON ("
        ),
        "{summary}"
    );
    let css = String::from_utf8(w.style()).expect("utf-8");
    assert!(
        css.contains("  border-radius: 999px;\n  color: var(--accent);"),
        "{css}"
    );

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert!(request.problems.is_empty(), "{:?}", request.problems);
        assert!(request.system_text().ends_with("Prefer pill shapes."));
    }
    let first = requests[0].user_text();
    assert!(
        first.contains("# Instruction\nmake the counter button rounder"),
        "{first}"
    );
    assert!(
        first.contains("## src/style.css"),
        "the stylesheet is in the context"
    );
    let second = requests[1].user_text();
    assert!(
        second.contains("# Your previous proposal failed\ndevflow could not use it: the bedrock proposer's answer was unusable: the answer is not valid JSON"),
        "{second}"
    );
    let command = w.command(&sid, &cid).await;
    assert_eq!(command.status, CommandStatus::Ready);
    assert_eq!(command.attempts, 2);
    assert_eq!(
        command.usage,
        Some(TokenUsage {
            input_tokens: 1200,
            output_tokens: 80
        }),
        "the usage of the answer that applied"
    );
}

#[tokio::test]
async fn bedrock_two_failures_fail_the_command_and_leave_the_files_byte_identical() {
    let fake = FakeConverse::start().await;
    // First a diff that does not match (the patch engine refuses it), then prose.
    fake.push([
        Reply::proposal(&["src/style.css"], STALE_DIFF),
        Reply::Text("I could not find the rule.".into()),
    ]);
    let w = world(Model::Bedrock(&fake)).await;
    let before = w.style();
    let sid = w.session("").await;
    let (cid, run) = w.run(&sid, "make the counter button rounder").await;
    assert_eq!(
        names(&run),
        [
            "QUEUED",
            "ANALYZING",
            "INFERENCE_STARTED",
            "INFERENCE_COMPLETED",
            "PATCHING",
            "PATCH_APPLY_STARTED",
            "PATCH_FAILED retry=true",
            "ANALYZING",
            "INFERENCE_STARTED",
            "PATCH_FAILED retry=false",
            "FAILED"
        ]
    );
    assert_eq!(w.style(), before, "the files are byte-identical");
    let requests = fake.requests();
    let second = requests[1].user_text();
    assert!(
        second.contains("# Your previous proposal failed"),
        "{second}"
    );
    assert!(
        second.contains("-  box-shadow: 0 0 1px red;\n+  border-radius: 999px;"),
        "the re-inference sees the hunk that failed: {second}"
    );
    let command = w.command(&sid, &cid).await;
    assert_eq!(command.status, CommandStatus::Failed);
    let summary = command.error_summary.expect("a summary");
    assert!(
        summary.contains("answered in prose instead of calling the tool `propose_patch`"),
        "{summary}"
    );
}

#[tokio::test]
async fn bedrock_throttling_past_the_retries_fails_the_command_without_a_second_inference() {
    let fake = FakeConverse::start().await;
    fake.push([Reply::throttling(), Reply::throttling()]);
    let w = world(Model::Bedrock(&fake)).await;
    let before = w.style();
    let sid = w.session("").await;
    let (cid, run) = w.run(&sid, "make the counter button rounder").await;
    assert_eq!(names(&run).last().map(String::as_str), Some("FAILED"));
    assert_eq!(
        fake.requests().len(),
        2,
        "the SDK's retries, no re-inference"
    );
    let summary = w.command(&sid, &cid).await.error_summary.expect("summary");
    assert!(
        summary.starts_with("the bedrock proposer gave no proposal: Bedrock kept throttling"),
        "{summary}"
    );
    assert_eq!(w.style(), before);
}

#[tokio::test]
async fn openai_proposer_runs_the_same_pipeline() {
    let fake = FakeChat::start(ChatOptions::default()).await;
    fake.push([
        ChatReply::Content("Here you go: not json".into()),
        ChatReply::Content(good_input().to_string()),
    ]);
    let w = world(Model::OpenAi(&fake)).await;
    let sid = w.session("").await;
    let (cid, run) = w.run(&sid, "make the counter button rounder").await;
    assert_eq!(names(&run).last().map(String::as_str), Some("READY"));
    assert!(names(&run).contains(&"PATCH_FAILED retry=true".to_string()));
    let css = String::from_utf8(w.style()).expect("utf-8");
    assert!(css.contains("border-radius: 999px;"));
    let command = w.command(&sid, &cid).await;
    assert_eq!(
        command.usage,
        Some(TokenUsage {
            input_tokens: 900,
            output_tokens: 70
        })
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[1].body["messages"][1]["content"]
        .as_str()
        .unwrap_or_default()
        .contains("# Your previous proposal failed"));
}

#[tokio::test]
async fn reference_screens_go_as_images_to_nova_lite_and_not_to_micro() {
    const LITE: &str = "us.amazon.nova-lite-v1:0";
    const MICRO: &str = "us.amazon.nova-micro-v1:0";
    let fake = FakeConverse::start().await;
    fake.push_for(LITE, [Reply::Tool(good_input())]);
    fake.push_for(MICRO, [Reply::proposal(&["src/style.css"], STALE_DIFF)]);
    let w = world(Model::Bedrock(&fake)).await;
    let lite = w.session("").await;
    w.reference_and_model(&lite, LITE).await;
    let (_, run) = w.run(&lite, "use the brand colour for the counter").await;
    assert_eq!(names(&run).last().map(String::as_str), Some("READY"));
    let sent = &fake.requests_for(LITE)[0];
    assert!(sent.problems.is_empty(), "{:?}", sent.problems);
    assert_eq!(sent.images().len(), 1, "the home screen goes along");
    assert_eq!(sent.images()[0].0, "png");
    let text = sent.user_text();
    assert!(text.contains("- home (image/png): image 1"), "{text}");
    assert!(
        text.contains("- color.brand.primary = #4f46e5 (color; alias of color.palette.indigo.500)"),
        "the resolved tokens are in the context: {text}"
    );

    let w = world(Model::Bedrock(&fake)).await;
    let micro = w.session("").await;
    w.reference_and_model(&micro, MICRO).await;
    w.run(&micro, "use the brand colour for the counter").await;
    let sent = &fake.requests_for(MICRO)[0];
    assert!(sent.problems.is_empty(), "{:?}", sent.problems);
    assert!(sent.images().is_empty(), "Micro is text only");
    assert!(sent
        .user_text()
        .contains("- home (image/png): not attached"));
}
