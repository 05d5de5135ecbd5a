//! The Bedrock client (the real AWS SDK) against the fake Converse server.

use std::time::{Duration, Instant};

use devflow_llm::bedrock::{Bedrock, BedrockConfig};
use devflow_llm::{ImageFormat, ImageInput, Model, ModelError, ModelRequest};
use devflow_tests::fake_models::{proposal_json, FakeConverse, Reply};
use serde_json::Value;

use super::{fake_aws_env, in_child, quick_policy, DIFF};

const LITE: &str = "us.amazon.nova-lite-v1:0";
const MICRO: &str = "us.amazon.nova-micro-v1:0";

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

fn request(model: &str) -> ModelRequest {
    ModelRequest {
        model: model.into(),
        system: devflow_llm::prompt::system_prompt("Keep the brand indigo."),
        user: "# Instruction\nmake the headings bigger\n".into(),
        images: vec![ImageInput {
            name: "home".into(),
            format: ImageFormat::Png,
            bytes: PNG.to_vec(),
        }],
    }
}

fn client(fake: &FakeConverse, policy: devflow_llm::retry::CallPolicy) -> Bedrock {
    fake_aws_env();
    Bedrock::new(BedrockConfig {
        endpoint_url: Some(fake.url.clone()),
        policy,
        ..BedrockConfig::default()
    })
}

#[tokio::test]
async fn a_tool_use_answer_becomes_the_proposal_with_its_token_usage() {
    let fake = FakeConverse::start().await;
    fake.push([Reply::proposal(&["css/style.css"], DIFF)]);
    let answer = client(&fake, quick_policy())
        .propose(request(LITE))
        .await
        .expect("a proposal");
    assert_eq!(answer.proposal.files_to_edit, ["css/style.css"]);
    assert_eq!(answer.proposal.unified_diff, DIFF);
    assert_eq!(answer.proposal.confidence, 0.9);
    let usage = answer.usage.expect("usage");
    assert_eq!((usage.input_tokens, usage.output_tokens), (1200, 80));

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert!(sent.problems.is_empty(), "{:?}", sent.problems);
    assert_eq!(sent.model_id, LITE, "the model id travels in the path");
    let tool = &sent.body["toolConfig"]["tools"][0]["toolSpec"];
    assert_eq!(tool["name"], "propose_patch");
    assert_eq!(
        tool["inputSchema"]["json"],
        devflow_llm::schema::proposal_schema(),
        "the tool's input schema is the Proposal schema"
    );
    assert_eq!(
        sent.body["toolConfig"]["toolChoice"],
        serde_json::json!({"tool": {"name": "propose_patch"}})
    );
    assert_eq!(
        sent.body["inferenceConfig"]["temperature"].as_f64(),
        Some(0.0)
    );
    assert_eq!(sent.body["inferenceConfig"]["maxTokens"], 4096);
    assert!(sent.system_text().ends_with("Keep the brand indigo."));
    assert!(sent.user_text().contains("make the headings bigger"));
    let images = sent.images();
    assert_eq!(images.len(), 1, "Nova Lite gets the reference screen");
    assert_eq!(images[0].0, "png");
    assert!(sent.headers["authorization"].contains("Credential=AKIDDEVFLOWTEST0001/"));
    assert!(sent.headers["authorization"].contains("/us-east-1/bedrock/aws4_request"));
}

#[tokio::test]
async fn nova_micro_gets_no_image_blocks() {
    let fake = FakeConverse::start().await;
    fake.push([Reply::proposal(&["css/style.css"], DIFF)]);
    client(&fake, quick_policy())
        .propose(request(MICRO))
        .await
        .expect("a proposal");
    let sent = &fake.requests()[0];
    assert!(sent.problems.is_empty(), "{:?}", sent.problems);
    assert!(sent.images().is_empty(), "Micro is text only");
}

#[tokio::test]
async fn throttling_is_retried_with_back_off_until_an_answer_comes() {
    let fake = FakeConverse::start().await;
    fake.push([
        Reply::throttling(),
        Reply::throttling(),
        Reply::proposal(&["css/style.css"], DIFF),
    ]);
    let answer = client(&fake, quick_policy()).propose(request(LITE)).await;
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn throttling_past_the_last_attempt_says_to_wait_or_raise_the_quota() {
    let fake = FakeConverse::start().await;
    fake.push([
        Reply::throttling(),
        Reply::throttling(),
        Reply::throttling(),
    ]);
    let error = client(&fake, quick_policy())
        .propose(request(LITE))
        .await
        .expect_err("throttled");
    assert!(matches!(error, ModelError::Throttled(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("kept throttling"), "{message}");
    assert!(message.contains("quota"), "{message}");
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let fake = FakeConverse::start().await;
    fake.push([
        Reply::error(500, "InternalServerException", "boom"),
        Reply::error(503, "ServiceUnavailableException", "busy"),
        Reply::proposal(&["css/style.css"], DIFF),
    ]);
    let answer = client(&fake, quick_policy()).propose(request(LITE)).await;
    assert!(answer.is_ok(), "{answer:?}");
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn a_slow_answer_times_out_at_the_deadline() {
    let fake = FakeConverse::start().await;
    let slow = Reply::Slow(
        Duration::from_secs(10),
        Box::new(Reply::proposal(&["a.css"], DIFF)),
    );
    fake.push([slow.clone(), slow.clone(), slow]);
    let mut policy = quick_policy();
    policy.deadline = Duration::from_millis(1500);
    policy.attempt_timeout = Duration::from_millis(700);
    let started = Instant::now();
    let error = client(&fake, policy)
        .propose(request(LITE))
        .await
        .expect_err("timed out");
    let elapsed = started.elapsed();
    assert!(matches!(error, ModelError::Timeout(_)), "{error:?}");
    assert!(
        error.to_string().contains("did not answer within"),
        "{error}"
    );
    assert!(
        elapsed < Duration::from_secs(4),
        "gave up after {elapsed:?}"
    );
}

#[tokio::test]
async fn tool_input_that_is_not_json_is_an_unusable_answer_with_the_reason() {
    let fake = FakeConverse::start().await;
    fake.push([Reply::Tool(Value::String(
        "{\"files_to_edit\": [\"css/style.css\"], \"unified_diff\": \"--- a/".into(),
    ))]);
    let error = client(&fake, quick_policy())
        .propose(request(LITE))
        .await
        .expect_err("unusable");
    assert!(error.is_unusable_answer(), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("the answer is not valid JSON ("),
        "{error}"
    );
    assert_eq!(
        fake.requests().len(),
        1,
        "an unusable answer is not retried here"
    );
}

#[tokio::test]
async fn tool_input_off_the_schema_names_the_field() {
    let fake = FakeConverse::start().await;
    let mut input = proposal_json(&["css/style.css"], DIFF);
    input["confidence"] = Value::String("high".into());
    fake.push([Reply::Tool(input)]);
    let error = client(&fake, quick_policy())
        .propose(request(LITE))
        .await
        .expect_err("unusable");
    assert_eq!(
        error.to_string(),
        "`confidence` must be a number from 0.0 to 1.0, but the answer has a string"
    );
}

#[tokio::test]
async fn prose_instead_of_a_tool_call_is_unusable() {
    let fake = FakeConverse::start().await;
    fake.push([Reply::Text(
        "Sure! Here is how you could make headings bigger…".into(),
    )]);
    let error = client(&fake, quick_policy())
        .propose(request(LITE))
        .await
        .expect_err("unusable");
    assert!(error.is_unusable_answer());
    assert!(
        error
            .to_string()
            .starts_with("the model answered in prose instead of calling the tool `propose_patch`"),
        "{error}"
    );
}

#[tokio::test]
async fn an_answer_cut_off_at_max_tokens_says_so() {
    let fake = FakeConverse::start().await;
    fake.push([Reply::Truncated(Value::String(
        "{\"files_to_edit\": [\"css/style.css\"], \"unified_diff\": \"--- a/css".into(),
    ))]);
    let error = client(&fake, quick_policy())
        .propose(request(LITE))
        .await
        .expect_err("unusable");
    assert!(error.is_unusable_answer());
    assert!(
        error
            .to_string()
            .contains("cut off at the output limit of 4096 tokens"),
        "{error}"
    );
}

#[tokio::test]
async fn access_denied_says_how_to_enable_the_model() {
    let fake = FakeConverse::start().await;
    fake.push([Reply::access_denied()]);
    let error = client(&fake, quick_policy())
        .propose(request(LITE))
        .await
        .expect_err("denied");
    assert!(matches!(error, ModelError::AccessDenied(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(LITE), "{message}");
    assert!(message.contains("Model access"), "{message}");
    assert!(message.contains("bedrock:InvokeModel"), "{message}");
    assert_eq!(fake.requests().len(), 1, "access denied is not retried");
}

#[tokio::test]
async fn a_request_over_the_context_window_is_its_own_error() {
    let fake = FakeConverse::start().await;
    fake.push([Reply::validation("Input is too long for requested model.")]);
    let error = client(&fake, quick_policy())
        .propose(request(LITE))
        .await
        .expect_err("too long");
    assert!(matches!(error, ModelError::ContextTooLong(_)), "{error:?}");
    assert!(
        error.to_string().contains("DEVFLOW_CONTEXT_TOKENS"),
        "{error}"
    );
}

#[tokio::test]
async fn other_validation_errors_carry_the_services_message() {
    let fake = FakeConverse::start().await;
    fake.push([Reply::validation(
        "The provided model identifier is invalid.",
    )]);
    let error = client(&fake, quick_policy())
        .propose(request("amazon.nova-nonexistent-v9:0"))
        .await
        .expect_err("bad model");
    assert!(matches!(error, ModelError::ModelNotFound(_)), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("The provided model identifier is invalid."),
        "{error}"
    );
    fake.push([Reply::validation("messages.0.content: malformed")]);
    let error = client(&fake, quick_policy())
        .propose(request(LITE))
        .await
        .expect_err("invalid");
    assert!(matches!(error, ModelError::InvalidRequest(_)), "{error:?}");
    assert!(error.to_string().contains("malformed"), "{error}");
}

#[tokio::test]
async fn missing_credentials_say_what_to_set() {
    if !in_child(
        "bedrock::missing_credentials_say_what_to_set",
        &[("AWS_REGION", "us-east-1")],
    )
    .await
    {
        return;
    }
    // The child: no keys, no profile files, no instance metadata. The endpoint is never
    // reached, so any loopback address will do.
    let bedrock = Bedrock::new(BedrockConfig {
        endpoint_url: Some("http://127.0.0.1:9".into()),
        policy: quick_policy(),
        ..BedrockConfig::default()
    });
    let error = bedrock
        .propose(request(LITE))
        .await
        .expect_err("no credentials");
    assert!(matches!(error, ModelError::NoCredentials(_)), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with("no AWS credentials for Bedrock"),
        "{message}"
    );
    assert!(message.contains("AWS_ACCESS_KEY_ID"), "{message}");
    assert!(message.contains("AWS_PROFILE"), "{message}");
    assert!(message.contains("builtin"), "{message}");
}

#[tokio::test]
async fn the_endpoint_comes_from_aws_endpoint_url_bedrock_runtime() {
    let fake = FakeConverse::start().await;
    fake.push([Reply::proposal(&["css/style.css"], DIFF)]);
    let in_child = in_child(
        "bedrock::the_endpoint_comes_from_aws_endpoint_url_bedrock_runtime",
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDDEVFLOWCHILD"),
            ("AWS_SECRET_ACCESS_KEY", "child-secret"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", fake.url.as_str()),
        ],
    )
    .await;
    if !in_child {
        // The parent: the child's request reached this fake, signed with the child's keys.
        let sent = &fake.requests()[0];
        assert!(sent.problems.is_empty(), "{:?}", sent.problems);
        assert!(sent.headers["authorization"].contains("Credential=AKIDDEVFLOWCHILD/"));
        assert!(sent.headers["authorization"].contains("/eu-west-1/bedrock/"));
        return;
    }
    let bedrock = Bedrock::new(BedrockConfig {
        policy: quick_policy(),
        ..BedrockConfig::default()
    });
    let answer = bedrock.propose(request(LITE)).await;
    assert!(answer.is_ok(), "{answer:?}");
}
