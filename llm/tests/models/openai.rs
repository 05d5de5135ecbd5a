//! The OpenAI-compatible client (reqwest) against the fake chat server.

use std::time::{Duration, Instant};

use devflow_llm::openai::{OpenAi, OpenAiConfig};
use devflow_llm::{Model, ModelError, ModelRequest};
use devflow_tests::fake_models::{proposal_json, ChatOptions, ChatReply, FakeChat};
use serde_json::json;

use super::{quick_policy, DIFF};

fn request(model: &str) -> ModelRequest {
    ModelRequest {
        model: model.into(),
        system: devflow_llm::prompt::system_prompt(""),
        user: "# Instruction\nmake the headings bigger\n".into(),
        images: Vec::new(),
    }
}

fn client(fake: &FakeChat, api_key: Option<&str>) -> OpenAi {
    OpenAi::new(OpenAiConfig {
        base_url: fake.url.clone(),
        model: Some("qwen2.5-coder:7b".into()),
        api_key: api_key.map(str::to_string),
        max_tokens: 2048,
        policy: quick_policy(),
    })
    .expect("client")
}

#[tokio::test]
async fn a_json_answer_becomes_the_proposal_with_schema_constrained_output() {
    let fake = FakeChat::start(ChatOptions {
        api_key: Some("sk-test".into()),
        ..ChatOptions::default()
    })
    .await;
    fake.push([ChatReply::proposal(&["css/style.css"], DIFF)]);
    let answer = client(&fake, Some("sk-test"))
        .propose(request("qwen2.5-coder:7b"))
        .await
        .expect("a proposal");
    assert_eq!(answer.proposal.unified_diff, DIFF);
    let usage = answer.usage.expect("usage");
    assert_eq!((usage.input_tokens, usage.output_tokens), (900, 70));
    let sent = &fake.requests()[0];
    assert!(sent.problems.is_empty(), "{:?}", sent.problems);
    assert_eq!(sent.response_format().as_deref(), Some("json_schema"));
    assert_eq!(
        sent.body["response_format"]["json_schema"]["schema"],
        devflow_llm::schema::proposal_schema()
    );
    assert_eq!(sent.body["response_format"]["json_schema"]["strict"], true);
    assert_eq!(sent.body["temperature"], 0);
    assert_eq!(sent.body["max_tokens"], 2048);
    assert_eq!(sent.body["model"], "qwen2.5-coder:7b");
}

#[tokio::test]
async fn a_server_without_json_schema_is_asked_with_json_object_and_remembered() {
    let fake = FakeChat::start(ChatOptions {
        refuse_json_schema: true,
        ..ChatOptions::default()
    })
    .await;
    fake.push([
        ChatReply::Content(format!(
            "```json\n{}\n```",
            proposal_json(&["css/style.css"], DIFF)
        )),
        ChatReply::proposal(&["css/style.css"], DIFF),
    ]);
    let openai = client(&fake, None);
    openai.propose(request("m")).await.expect("first");
    openai.propose(request("m")).await.expect("second");
    let formats: Vec<Option<String>> = fake
        .requests()
        .iter()
        .map(|r| r.response_format())
        .collect();
    assert_eq!(
        formats,
        [
            Some("json_schema".to_string()),
            Some("json_object".to_string()),
            Some("json_object".to_string())
        ]
    );
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried() {
    let fake = FakeChat::start(ChatOptions::default()).await;
    fake.push([
        ChatReply::Error(429, json!({"error": {"message": "slow down"}})),
        ChatReply::Error(503, json!({"error": {"message": "loading model"}})),
        ChatReply::proposal(&["css/style.css"], DIFF),
    ]);
    let answer = client(&fake, None).propose(request("m")).await;
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn a_slow_server_times_out_at_the_deadline() {
    let fake = FakeChat::start(ChatOptions::default()).await;
    let slow = ChatReply::Slow(
        Duration::from_secs(10),
        Box::new(ChatReply::proposal(&["a.css"], DIFF)),
    );
    fake.push([slow.clone(), slow.clone(), slow]);
    let mut config = OpenAiConfig {
        base_url: fake.url.clone(),
        model: None,
        api_key: None,
        max_tokens: 100,
        policy: quick_policy(),
    };
    config.policy.deadline = Duration::from_millis(1200);
    config.policy.attempt_timeout = Duration::from_millis(500);
    let started = Instant::now();
    let error = OpenAi::new(config)
        .expect("client")
        .propose(request("m"))
        .await
        .expect_err("timeout");
    assert!(matches!(error, ModelError::Timeout(_)), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn an_answer_that_is_not_json_is_unusable_with_the_reason() {
    let fake = FakeChat::start(ChatOptions::default()).await;
    fake.push([ChatReply::Content(
        "I think you should make them bigger.".into(),
    )]);
    let error = client(&fake, None)
        .propose(request("m"))
        .await
        .expect_err("unusable");
    assert!(error.is_unusable_answer(), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("the answer is not valid JSON ("),
        "{error}"
    );
}

#[tokio::test]
async fn a_wrong_key_a_missing_model_and_no_server_are_told_apart() {
    let fake = FakeChat::start(ChatOptions {
        api_key: Some("sk-right".into()),
        ..ChatOptions::default()
    })
    .await;
    let error = client(&fake, Some("sk-wrong"))
        .propose(request("m"))
        .await
        .expect_err("refused");
    assert!(matches!(error, ModelError::NoCredentials(_)), "{error:?}");
    assert!(
        error.to_string().contains("DEVFLOW_OPENAI_API_KEY"),
        "{error}"
    );

    let open = FakeChat::start(ChatOptions::default()).await;
    open.push([ChatReply::Error(
        404,
        json!({"error": {"message": "model \"llama9\" not found, try pulling it first"}}),
    )]);
    let error = client(&open, None)
        .propose(request("llama9"))
        .await
        .expect_err("no model");
    assert!(matches!(error, ModelError::ModelNotFound(_)), "{error:?}");
    assert!(error.to_string().contains("ollama pull llama9"), "{error}");

    let nowhere = OpenAi::new(OpenAiConfig {
        base_url: "http://127.0.0.1:9".into(),
        model: Some("m".into()),
        api_key: None,
        max_tokens: 100,
        policy: quick_policy(),
    })
    .expect("client");
    let error = nowhere
        .propose(request("m"))
        .await
        .expect_err("unreachable");
    assert!(matches!(error, ModelError::Unreachable(_)), "{error:?}");
    assert!(error.to_string().contains("DEVFLOW_OPENAI_URL"), "{error}");
}

#[tokio::test]
async fn no_model_anywhere_is_a_configuration_error() {
    let fake = FakeChat::start(ChatOptions::default()).await;
    let openai = OpenAi::new(OpenAiConfig {
        base_url: fake.url.clone(),
        model: None,
        api_key: None,
        max_tokens: 100,
        policy: quick_policy(),
    })
    .expect("client");
    let error = openai.model_id(None).expect_err("no model");
    assert!(error.needs_configuration());
    assert!(
        error.to_string().contains("DEVFLOW_OPENAI_MODEL"),
        "{error}"
    );
    assert_eq!(
        openai.model_id(Some("llama3.1")).expect("named"),
        "llama3.1"
    );
}
