//! Amazon Nova (or any Converse model) on Bedrock through `aws-sdk-bedrockruntime`: one
//! Converse call with forced tool use — the only tool is `propose_patch`, its input schema the
//! Proposal schema, `toolChoice` that tool — at temperature 0, the session prompt as the
//! system block, reference screens as image blocks for models that take images.
//!
//! Credentials, region and endpoint come from the standard AWS chain (env, shared profile,
//! web identity, ECS/EC2 roles; `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`). Retries (throttling, 5xx)
//! and timeouts are the SDK's, configured from a [`CallPolicy`]. HTTPS is rustls on ring, the
//! same stack the OpenAI-compatible client uses. The client is built on first use, so a
//! daemon that never asks Bedrock never resolves AWS settings.

use async_trait::async_trait;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::timeout::TimeoutConfig;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::{ConverseError, ConverseOutput as Output};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseOutput, ImageBlock, ImageSource,
    InferenceConfiguration, Message, SpecificToolChoice, StopReason, SystemContentBlock, Tool,
    ToolChoice, ToolConfiguration, ToolInputSchema, ToolSpecification,
};
use aws_sdk_bedrockruntime::Client;
use devflow_aws::{chain, AwsOptions};

use crate::answer::{self, AnswerProblem};
use crate::model::{ImageFormat, Model, ModelAnswer, ModelError, ModelRequest, Usage};
use crate::retry::{human, CallPolicy};
use crate::schema::{proposal_schema, TOOL_DESCRIPTION, TOOL_NAME};

/// Nova Pro through the US cross-region inference profile: the best Nova for code that most
/// accounts can call.
pub const DEFAULT_MODEL: &str = "us.amazon.nova-pro-v1:0";
/// Room for a diff of a few files; Nova models answer at most 5k–10k tokens.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;
/// Where the default `us.` inference profile lives, used when no region resolves.
pub const FALLBACK_REGION: &str = devflow_aws::FALLBACK_REGION;
/// Images per request at most, and bytes per image (Converse refuses larger ones).
pub const MAX_IMAGES: usize = 4;
pub const MAX_IMAGE_BYTES: usize = 3_750_000;

/// How to reach Bedrock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedrockConfig {
    /// Model id or inference profile, unless a session names its own.
    pub model: String,
    pub max_tokens: u32,
    /// `None`: the standard resolution (AWS_REGION, the profile), else [`FALLBACK_REGION`].
    pub region: Option<String>,
    /// `None`: the standard resolution (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`,
    /// `AWS_ENDPOINT_URL`, the profile's `endpoint_url`), else the regional endpoint.
    pub endpoint_url: Option<String>,
    pub policy: CallPolicy,
}

impl Default for BedrockConfig {
    fn default() -> Self {
        BedrockConfig {
            model: DEFAULT_MODEL.to_string(),
            max_tokens: DEFAULT_MAX_TOKENS,
            region: None,
            endpoint_url: None,
            policy: CallPolicy::default(),
        }
    }
}

/// Whether a Bedrock model takes image blocks: Nova Lite, Pro, Premier and the Nova 2
/// multimodal models do; Nova Micro is text only. Unknown models get text only.
pub fn accepts_images(model_id: &str) -> bool {
    let id = model_id.to_ascii_lowercase();
    if id.contains("nova-micro") || id.contains("nova-sonic") {
        return false;
    }
    const MULTIMODAL: &[&str] = &[
        "nova-lite",
        "nova-pro",
        "nova-premier",
        "nova-2-lite",
        "nova-2-pro",
        "nova-2-omni",
    ];
    MULTIMODAL.iter().any(|m| id.contains(m))
        || (id.contains("anthropic.claude")
            && !id.contains("claude-v2")
            && !id.contains("claude-instant"))
}

/// The Bedrock client (built on first use).
pub struct Bedrock {
    config: BedrockConfig,
    client: tokio::sync::OnceCell<Client>,
}

impl Bedrock {
    pub fn new(config: BedrockConfig) -> Bedrock {
        Bedrock {
            config,
            client: tokio::sync::OnceCell::new(),
        }
    }

    pub fn config(&self) -> &BedrockConfig {
        &self.config
    }

    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async {
                let policy = &self.config.policy;
                // The standard chain over rustls on ring (the same TLS stack as reqwest), and
                // FALLBACK_REGION (logged) when no region resolves.
                let shared = devflow_aws::load_shared_config(&AwsOptions {
                    service: "Bedrock",
                    region: self.config.region.as_deref(),
                    credentials: None,
                })
                .await;
                let mut builder = aws_sdk_bedrockruntime::config::Builder::from(&shared)
                    .retry_config(
                        RetryConfig::standard()
                            .with_max_attempts(policy.max_attempts.max(1))
                            .with_initial_backoff(policy.initial_backoff)
                            .with_max_backoff(policy.max_backoff),
                    )
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(policy.connect_timeout)
                            .operation_attempt_timeout(policy.attempt_timeout)
                            .operation_timeout(policy.deadline)
                            .build(),
                    );
                if let Some(url) = &self.config.endpoint_url {
                    builder = builder.endpoint_url(url.clone());
                }
                Client::from_conf(builder.build())
            })
            .await
    }

    fn request_parts(
        &self,
        request: &ModelRequest,
    ) -> Result<(Message, ToolConfiguration, InferenceConfiguration), ModelError> {
        let build = |e: aws_smithy_types::error::operation::BuildError| {
            ModelError::InvalidRequest(format!("cannot build the Bedrock request: {e}"))
        };
        let mut content = Vec::new();
        if accepts_images(&request.model) {
            // Nova reads images best before the text that refers to them.
            for image in request
                .images
                .iter()
                .filter(|i| i.bytes.len() <= MAX_IMAGE_BYTES)
                .take(MAX_IMAGES)
            {
                let format = match image.format {
                    ImageFormat::Png => aws_sdk_bedrockruntime::types::ImageFormat::Png,
                    ImageFormat::Jpeg => aws_sdk_bedrockruntime::types::ImageFormat::Jpeg,
                    ImageFormat::Gif => aws_sdk_bedrockruntime::types::ImageFormat::Gif,
                    ImageFormat::Webp => aws_sdk_bedrockruntime::types::ImageFormat::Webp,
                };
                content.push(ContentBlock::Image(
                    ImageBlock::builder()
                        .format(format)
                        .source(ImageSource::Bytes(Blob::new(image.bytes.clone())))
                        .build()
                        .map_err(build)?,
                ));
            }
        }
        content.push(ContentBlock::Text(request.user.clone()));
        let message = Message::builder()
            .role(ConversationRole::User)
            .set_content(Some(content))
            .build()
            .map_err(build)?;
        let tool = Tool::ToolSpec(
            ToolSpecification::builder()
                .name(TOOL_NAME)
                .description(TOOL_DESCRIPTION)
                .input_schema(ToolInputSchema::Json(crate::convert::to_document(
                    &proposal_schema(),
                )))
                .build()
                .map_err(build)?,
        );
        let tools = ToolConfiguration::builder()
            .tools(tool)
            .tool_choice(ToolChoice::Tool(
                SpecificToolChoice::builder()
                    .name(TOOL_NAME)
                    .build()
                    .map_err(build)?,
            ))
            .build()
            .map_err(build)?;
        let inference = InferenceConfiguration::builder()
            .max_tokens(i32::try_from(self.config.max_tokens).unwrap_or(i32::MAX))
            .temperature(0.0)
            .build();
        Ok((message, tools, inference))
    }

    /// The proposal in a Converse answer, or why there is none.
    fn read_output(&self, output: &Output) -> Result<devflow_protocol::Proposal, AnswerProblem> {
        let truncated = *output.stop_reason() == StopReason::MaxTokens;
        let Some(ConverseOutput::Message(message)) = output.output() else {
            return Err(AnswerProblem::Empty);
        };
        let tool_use = message.content().iter().find_map(|block| match block {
            ContentBlock::ToolUse(tool_use) => Some(tool_use),
            _ => None,
        });
        match tool_use {
            Some(tool_use) if tool_use.name() != TOOL_NAME => {
                Err(AnswerProblem::WrongTool(tool_use.name().to_string()))
            }
            Some(tool_use) => {
                let input = crate::convert::to_value(tool_use.input());
                match answer::read_tool_input(&input) {
                    Err(_) if truncated => Err(AnswerProblem::Truncated {
                        limit: self.config.max_tokens,
                    }),
                    other => other,
                }
            }
            None if truncated => Err(AnswerProblem::Truncated {
                limit: self.config.max_tokens,
            }),
            None => {
                let text: Vec<&str> = message
                    .content()
                    .iter()
                    .filter_map(|block| match block {
                        ContentBlock::Text(text) => Some(text.as_str()),
                        _ => None,
                    })
                    .collect();
                let text = text.join("\n");
                if text.trim().is_empty() {
                    Err(AnswerProblem::Empty)
                } else {
                    Err(AnswerProblem::NoToolCall {
                        tool: TOOL_NAME,
                        excerpt: answer::excerpt(&text, 160),
                    })
                }
            }
        }
    }

    fn map_error(&self, error: SdkError<ConverseError>, model: &str, region: &str) -> ModelError {
        let policy = &self.config.policy;
        let change_model =
            "choose another model with DEVFLOW_BEDROCK_MODEL or the session's `model` setting";
        match &error {
            SdkError::ServiceError(service) => {
                let err = service.err();
                let message = err.message().unwrap_or("no message").to_string();
                match err {
                    ConverseError::AccessDeniedException(_) => ModelError::AccessDenied(format!(
                        "Bedrock denied access to model {model} in {region}: {message}. Enable the model for this account in the Bedrock console (Model access, region {region}) and allow bedrock:InvokeModel on it in the caller's IAM policy, or {change_model}."
                    )),
                    ConverseError::ValidationException(_) if is_too_long(&message) => {
                        ModelError::ContextTooLong(format!(
                            "the request is too long for model {model}: {message}. Name the files to change in the instruction, lower DEVFLOW_CONTEXT_TOKENS, or {change_model} with a larger context window."
                        ))
                    }
                    ConverseError::ValidationException(_) if is_bad_model(&message) => {
                        ModelError::ModelNotFound(format!(
                            "Bedrock does not offer model {model} in {region}: {message}. Check the model id (an inference profile such as us.amazon.nova-pro-v1:0 needs a matching region), or {change_model}."
                        ))
                    }
                    ConverseError::ValidationException(_) => ModelError::InvalidRequest(format!(
                        "Bedrock rejected the request to {model}: {message}"
                    )),
                    ConverseError::ResourceNotFoundException(_) => {
                        ModelError::ModelNotFound(format!(
                            "Bedrock has no model {model} in {region}: {message}. Check the model id and region, or {change_model}."
                        ))
                    }
                    ConverseError::ThrottlingException(_) => ModelError::Throttled(format!(
                        "Bedrock kept throttling requests to {model} ({} attempts within {}): {message}. Wait a minute and try again, or ask AWS for a higher quota for this model.",
                        policy.max_attempts,
                        human(policy.deadline)
                    )),
                    ConverseError::ModelTimeoutException(_) => ModelError::Timeout(format!(
                        "model {model} took too long to answer: {message}. Try again, or narrow the instruction."
                    )),
                    ConverseError::ServiceUnavailableException(_)
                    | ConverseError::InternalServerException(_)
                    | ConverseError::ModelNotReadyException(_)
                    | ConverseError::ModelErrorException(_) => ModelError::Service(format!(
                        "Bedrock failed to answer with {model} after {} attempts: {} {message}. Try again in a minute.",
                        policy.max_attempts,
                        err.code().unwrap_or("error")
                    )),
                    other => match other.code() {
                        Some(
                            code @ ("UnrecognizedClientException"
                            | "InvalidSignatureException"
                            | "ExpiredTokenException"
                            | "InvalidClientTokenId"
                            | "IncompleteSignature"),
                        ) => ModelError::NoCredentials(format!(
                            "AWS rejected the credentials ({code}: {message}). Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys), or refresh the profile's session (aws sso login / aws configure)."
                        )),
                        code => ModelError::Service(format!(
                            "Bedrock answered {}: {message}",
                            code.unwrap_or("an unknown error")
                        )),
                    },
                }
            }
            SdkError::TimeoutError(_) => ModelError::Timeout(format!(
                "Bedrock did not answer within {} (model {model}, {} attempts at most). It may be overloaded or the context too large to answer in time; try again, or raise DEVFLOW_BEDROCK_TIMEOUT_SECS.",
                human(policy.deadline),
                policy.max_attempts
            )),
            other => {
                if let Some(detail) = credentials_problem(other) {
                    return ModelError::NoCredentials(format!(
                        "no AWS credentials for Bedrock: {detail}. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE naming a profile in ~/.aws, or run with an IAM role (ECS task role, EC2 instance profile); or use the builtin proposer (DEVFLOW_PROPOSER=builtin)."
                    ));
                }
                let detail = chain(other);
                match other {
                    SdkError::DispatchFailure(failure) if failure.is_timeout() => {
                        ModelError::Timeout(format!(
                            "Bedrock did not answer within {} (model {model}): {detail}",
                            human(policy.attempt_timeout)
                        ))
                    }
                    SdkError::DispatchFailure(failure) if failure.is_io() => {
                        ModelError::Unreachable(format!(
                            "cannot reach Bedrock{} in {region}: {detail}. Check the network, AWS_REGION and AWS_ENDPOINT_URL_BEDROCK_RUNTIME.",
                            self.config
                                .endpoint_url
                                .as_deref()
                                .map(|u| format!(" at {u}"))
                                .unwrap_or_default()
                        ))
                    }
                    SdkError::ResponseError(_) => ModelError::Service(format!(
                        "Bedrock's answer could not be read: {detail}"
                    )),
                    _ => ModelError::Service(format!("the Bedrock call failed: {detail}")),
                }
            }
        }
    }
}

/// Bedrock's words for a request over the model's context window.
fn is_too_long(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("too long")
        || m.contains("context length")
        || m.contains("context window")
        || (m.contains("exceed") && m.contains("token"))
}

/// Bedrock's words for a model id it does not know here.
fn is_bad_model(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("model identifier is invalid")
        || m.contains("invalid model")
        || m.contains("model id")
        || m.contains("on-demand throughput isn")
}

/// The credential chain's complaint, when that is why the call failed; also an error that
/// only talks of credentials (other than AWS rejecting them, which has its own message).
fn credentials_problem<E: std::error::Error + 'static>(error: &E) -> Option<String> {
    devflow_aws::credentials_problem(error).or_else(|| {
        let text = chain(error);
        (text.contains("credential") && !text.contains("rejected")).then_some(text)
    })
}

#[async_trait]
impl Model for Bedrock {
    fn kind(&self) -> &'static str {
        "bedrock"
    }

    fn model_id(&self, requested: Option<&str>) -> Result<String, ModelError> {
        Ok(requested
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .unwrap_or(&self.config.model)
            .to_string())
    }

    fn accepts_images(&self, model_id: &str) -> bool {
        accepts_images(model_id)
    }

    async fn propose(&self, request: ModelRequest) -> Result<ModelAnswer, ModelError> {
        let (message, tools, inference) = self.request_parts(&request)?;
        let client = self.client().await;
        let region = client
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| FALLBACK_REGION.to_string());
        let started = std::time::Instant::now();
        let result = client
            .converse()
            .model_id(&request.model)
            .system(SystemContentBlock::Text(request.system.clone()))
            .messages(message)
            .tool_config(tools)
            .inference_config(inference)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(error) => {
                let mapped = self.map_error(error, &request.model, &region);
                tracing::warn!(model = %request.model, error = %mapped, "Bedrock call failed");
                return Err(mapped);
            }
        };
        let usage = output.usage().map(|u| Usage {
            input_tokens: u64::try_from(u.input_tokens()).unwrap_or(0),
            output_tokens: u64::try_from(u.output_tokens()).unwrap_or(0),
        });
        tracing::info!(
            model = %request.model,
            elapsed_ms = started.elapsed().as_millis() as u64,
            input_tokens = usage.map(|u| u.input_tokens),
            output_tokens = usage.map(|u| u.output_tokens),
            stop_reason = %output.stop_reason().as_str(),
            "Bedrock answered"
        );
        match self.read_output(&output) {
            Ok(proposal) => Ok(ModelAnswer {
                proposal,
                usage,
                model: request.model,
            }),
            Err(problem) => Err(ModelError::Unusable { problem, usage }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_go_to_nova_lite_pro_premier_and_2_lite_but_not_micro() {
        for model in [
            "us.amazon.nova-lite-v1:0",
            "amazon.nova-pro-v1:0",
            "us.amazon.nova-premier-v1:0",
            "amazon.nova-2-lite-v1:0",
            "global.amazon.nova-2-lite-v1:0",
        ] {
            assert!(accepts_images(model), "{model}");
        }
        for model in [
            "us.amazon.nova-micro-v1:0",
            "amazon.nova-micro-v1:0",
            "meta.llama3-8b-instruct-v1:0",
        ] {
            assert!(!accepts_images(model), "{model}");
        }
    }

    use crate::context::{self, ContextInput};
    use crate::pictures::{self, PageShot, Screen};

    /// The request the proposer would make for `model`: the page now, then screens named
    /// `screens` (PNG, `bytes` long each), within the caps, and the message naming them.
    fn request_for(model: &str, screens: &[(&str, usize)]) -> ModelRequest {
        let shot = PageShot {
            path: "/".into(),
            viewport: "desktop".into(),
            width: 1280,
            height: 800,
            png: b"page-now".to_vec(),
        };
        let screens = screens
            .iter()
            .map(|(name, bytes)| Screen {
                name: name.to_string(),
                media_type: "image/png".into(),
                bytes: vec![name.as_bytes()[0]; *bytes],
            })
            .collect();
        let chosen = pictures::choose(Some(shot), screens, None, accepts_images(model));
        let built = context::build(&ContextInput {
            instruction: "match the reference",
            target: None,
            files: &[],
            sources: &[],
            tokens: &[],
            recent_errors: &[],
            recent_files: &[],
            screens: &chosen.screens,
            page_now: chosen.page_now.as_ref(),
            previous: None,
            budget: 4_000,
        });
        ModelRequest {
            model: model.into(),
            system: "system".into(),
            user: built.render(),
            images: chosen.images,
        }
    }

    /// The user message's blocks: `image:<first byte>` for an image, `text` for text.
    fn blocks(request: &ModelRequest) -> (Vec<String>, String) {
        let (message, _, _) = Bedrock::new(BedrockConfig::default())
            .request_parts(request)
            .expect("the request builds");
        let mut kinds = Vec::new();
        let mut text = String::new();
        for block in message.content() {
            match block {
                ContentBlock::Image(image) => {
                    assert_eq!(
                        *image.format(),
                        aws_sdk_bedrockruntime::types::ImageFormat::Png
                    );
                    let Some(ImageSource::Bytes(bytes)) = image.source() else {
                        panic!("an image without bytes: {image:?}");
                    };
                    kinds.push(format!("image:{}", char::from(bytes.as_ref()[0])));
                }
                ContentBlock::Text(t) => {
                    kinds.push("text".into());
                    text.push_str(t);
                }
                other => panic!("an unexpected block: {other:?}"),
            }
        }
        (kinds, text)
    }

    #[test]
    fn nova_lite_gets_the_page_now_first_then_the_home_screen_and_the_text_names_both() {
        let request = request_for(LITE_FOR_TESTS, &[("about", 10), ("home", 10)]);
        let (kinds, text) = blocks(&request);
        // `p` is the page now ("page-now"), `h` home, `a` about; the text after the images.
        assert_eq!(kinds, ["image:p", "image:h", "image:a", "text"]);
        assert!(
            text.contains("\n# The page now\nImage 1: a screenshot of the page / as it renders now, before your change (desktop viewport, 1280×800).\n"),
            "{text}"
        );
        assert!(
            text.contains("# Reference screens (the ideal design of each page)\n- home (image/png): image 2\n- about (image/png): image 3\n"),
            "{text}"
        );
    }

    #[test]
    fn nova_micro_gets_text_only_and_no_word_of_a_screenshot() {
        let request = request_for("us.amazon.nova-micro-v1:0", &[("home", 10)]);
        let (kinds, text) = blocks(&request);
        assert_eq!(kinds, ["text"]);
        assert!(!text.contains("The page now"), "{text}");
        assert!(!text.contains("Image 1"), "{text}");
        assert!(
            text.contains("- home (image/png): not attached\n"),
            "{text}"
        );
    }

    #[test]
    fn at_most_four_images_go_and_none_over_the_byte_cap() {
        let request = request_for(
            LITE_FOR_TESTS,
            &[
                ("home", MAX_IMAGE_BYTES + 1),
                ("about", 10),
                ("blog", 10),
                ("contact", 10),
                ("docs", 10),
            ],
        );
        let (kinds, text) = blocks(&request);
        assert_eq!(
            kinds,
            ["image:p", "image:a", "image:b", "image:c", "text"],
            "the page now and the first three screens that fit"
        );
        assert!(
            text.contains("- home (image/png): not attached\n"),
            "{text}"
        );
        assert!(text.contains("- contact (image/png): image 4\n"), "{text}");
        assert!(
            text.contains("- docs (image/png): not attached\n"),
            "{text}"
        );

        // The client's own caps hold whatever the caller hands it.
        let mut unchecked = request.clone();
        unchecked.images = (0..6)
            .map(|i| crate::model::ImageInput {
                name: format!("screen {i}"),
                format: ImageFormat::Png,
                bytes: if i == 0 {
                    vec![b'x'; MAX_IMAGE_BYTES + 1]
                } else {
                    vec![b'0' + i as u8; 4]
                },
            })
            .collect();
        let (kinds, _) = blocks(&unchecked);
        assert_eq!(kinds, ["image:1", "image:2", "image:3", "image:4", "text"]);
    }

    const LITE_FOR_TESTS: &str = "us.amazon.nova-lite-v1:0";

    #[test]
    fn recognises_bedrocks_words_for_too_long_and_unknown_models() {
        assert!(is_too_long("Input is too long for requested model."));
        assert!(is_too_long(
            "The number of input tokens exceeds the maximum for this model"
        ));
        assert!(!is_too_long("Malformed input request"));
        assert!(is_bad_model("The provided model identifier is invalid."));
    }
}
