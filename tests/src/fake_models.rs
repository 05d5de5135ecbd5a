//! Fake model servers on 127.0.0.1 that speak the real wire formats, for tests that drive the
//! real clients (the AWS SDK, reqwest) or the daemon: Bedrock's Converse
//! (`POST /model/{modelId}/converse`, JSON, `toolUse` answers, errors as status +
//! `x-amzn-errortype`) and an OpenAI-compatible `/v1/chat/completions`. Each answers from a
//! script of replies, records every request, and checks what the client sent (SigV4
//! signature, forced tool use with the Proposal schema, temperature 0, image blocks): a
//! request that breaks the contract is answered with a ValidationException naming the problem.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

/// A model server that accepts connections and never says a word (a proposer that hangs);
/// its `http://127.0.0.1:PORT/v1` base URL. Runs until the test's runtime ends.
pub async fn silent_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://127.0.0.1:{port}/v1")
}

/// A proposal as a model would send it.
pub fn proposal_json(files: &[&str], diff: &str) -> Value {
    json!({
        "files_to_edit": files,
        "unified_diff": diff,
        "reason": "as asked",
        "confidence": 0.9,
    })
}

// ---------------------------------------------------------------------------------------
// Bedrock Converse

/// One scripted Converse answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A `toolUse` of `propose_patch` with this input (an object, or a string of text).
    Tool(Value),
    /// A `toolUse` cut off at the output limit (`stopReason: max_tokens`).
    Truncated(Value),
    /// A prose answer without any tool call.
    Text(String),
    /// An error: HTTP status, `x-amzn-errortype`, message.
    Error {
        status: u16,
        error_type: String,
        message: String,
    },
    /// The inner reply after a delay (the client may give up first).
    Slow(Duration, Box<Reply>),
    /// Any bytes, e.g. a body that is not JSON.
    Raw { status: u16, body: String },
}

impl Reply {
    pub fn proposal(files: &[&str], diff: &str) -> Reply {
        Reply::Tool(proposal_json(files, diff))
    }

    pub fn error(status: u16, error_type: &str, message: &str) -> Reply {
        Reply::Error {
            status,
            error_type: error_type.into(),
            message: message.into(),
        }
    }

    pub fn throttling() -> Reply {
        Reply::error(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        )
    }

    pub fn access_denied() -> Reply {
        Reply::error(
            403,
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
        )
    }

    pub fn validation(message: &str) -> Reply {
        Reply::error(400, "ValidationException", message)
    }
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct ConverseRequest {
    /// The model id from the path, percent-decoded.
    pub model_id: String,
    pub headers: HashMap<String, String>,
    pub body: Value,
    /// What the fake found wrong with it (empty = a well-formed Converse request).
    pub problems: Vec<String>,
}

impl ConverseRequest {
    /// The text blocks of the user message.
    pub fn user_text(&self) -> String {
        self.body["messages"][0]["content"]
            .as_array()
            .map(|blocks| {
                blocks
                    .iter()
                    .filter_map(|b| b["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }

    /// The image blocks of the user message: (format, base64 bytes).
    pub fn images(&self) -> Vec<(String, String)> {
        self.body["messages"][0]["content"]
            .as_array()
            .map(|blocks| {
                blocks
                    .iter()
                    .filter_map(|b| {
                        let image = b.get("image")?;
                        Some((
                            image["format"].as_str()?.to_string(),
                            image["source"]["bytes"].as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The image blocks of the user message, decoded: (format, bytes). Bytes that are not
    /// base64 come out empty (and the request has a problem saying so).
    pub fn image_bytes(&self) -> Vec<(String, Vec<u8>)> {
        self.images()
            .into_iter()
            .map(|(format, encoded)| (format, decode_base64(&encoded).unwrap_or_default()))
            .collect()
    }

    pub fn system_text(&self) -> String {
        self.body["system"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text)
}

#[derive(Default)]
struct ConverseState {
    script: Mutex<VecDeque<Reply>>,
    by_model: Mutex<HashMap<String, VecDeque<Reply>>>,
    requests: Mutex<Vec<ConverseRequest>>,
}

/// A fake Bedrock runtime endpoint. Dropping it stops the server.
pub struct FakeConverse {
    /// `http://127.0.0.1:PORT`: the value for `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`.
    pub url: String,
    state: Arc<ConverseState>,
    task: tokio::task::JoinHandle<()>,
}

/// The access key id [`FakeConverse::daemon_env`] gives the daemon (it shows in the SigV4
/// `Authorization` header the fake receives).
pub const FAKE_AWS_ACCESS_KEY_ID: &str = "AKIDDEVFLOWBLACKBOX";

impl FakeConverse {
    /// The environment that points a daemon's Bedrock client at this fake: static
    /// credentials, `us-west-2`, this endpoint, and no instance metadata or AWS files of the
    /// machine. Callers add the model and other settings.
    pub fn daemon_env(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("AWS_ACCESS_KEY_ID", FAKE_AWS_ACCESS_KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", "devflow-blackbox-secret"),
            ("AWS_REGION", "us-west-2"),
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &self.url),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/nonexistent/devflow-test/aws-config"),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/devflow-test/aws-credentials",
            ),
        ]
    }

    /// Starts on an ephemeral loopback port of the current tokio runtime.
    pub async fn start() -> FakeConverse {
        let state = Arc::new(ConverseState::default());
        let app = Router::new()
            .route("/model/{model_id}/converse", post(converse))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Converse server");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeConverse { url, state, task }
    }

    /// Queues replies for any model, answered in order.
    pub fn push(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state
            .script
            .lock()
            .expect("script lock")
            .extend(replies);
    }

    /// Queues replies for requests to one model id (before the shared queue).
    pub fn push_for(&self, model_id: &str, replies: impl IntoIterator<Item = Reply>) {
        self.state
            .by_model
            .lock()
            .expect("script lock")
            .entry(model_id.to_string())
            .or_default()
            .extend(replies);
    }

    pub fn requests(&self) -> Vec<ConverseRequest> {
        self.state.requests.lock().expect("requests lock").clone()
    }

    /// The requests to one model id.
    pub fn requests_for(&self, model_id: &str) -> Vec<ConverseRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.model_id == model_id)
            .collect()
    }
}

impl Drop for FakeConverse {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn converse(
    State(state): State<Arc<ConverseState>>,
    Path(model_id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let problems = converse_problems(&headers, &parsed);
    state
        .requests
        .lock()
        .expect("requests lock")
        .push(ConverseRequest {
            model_id: model_id.clone(),
            headers,
            body: parsed,
            problems: problems.clone(),
        });
    if !problems.is_empty() {
        return converse_reply(Reply::validation(&format!(
            "fake Converse refused the request: {}",
            problems.join("; ")
        )))
        .await;
    }
    let scripted = state
        .by_model
        .lock()
        .expect("script lock")
        .get_mut(&model_id)
        .and_then(VecDeque::pop_front);
    let reply = scripted
        .or_else(|| state.script.lock().expect("script lock").pop_front())
        .unwrap_or_else(|| {
            Reply::error(
                500,
                "InternalServerException",
                "fake Converse: no reply scripted",
            )
        });
    converse_reply(reply).await
}

fn converse_reply(
    reply: Reply,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>> {
    Box::pin(async move {
        let ok = |content: Value, stop: &str| {
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                json!({
                    "output": {"message": {"role": "assistant", "content": content}},
                    "stopReason": stop,
                    "usage": {"inputTokens": 1200, "outputTokens": 80, "totalTokens": 1280},
                    "metrics": {"latencyMs": 42},
                })
                .to_string(),
            )
                .into_response()
        };
        let tool_use = |input: Value| json!([{"toolUse": {"toolUseId": "tooluse_fake1", "name": "propose_patch", "input": input}}]);
        match reply {
            Reply::Tool(input) => ok(tool_use(input), "tool_use"),
            Reply::Truncated(input) => ok(tool_use(input), "max_tokens"),
            Reply::Text(text) => ok(json!([{"text": text}]), "end_turn"),
            Reply::Error {
                status,
                error_type,
                message,
            } => (
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                [
                    ("content-type", "application/json".to_string()),
                    (
                        "x-amzn-errortype",
                        format!(
                            "{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"
                        ),
                    ),
                    ("x-amzn-requestid", "fake-request-id".to_string()),
                ],
                json!({"message": message}).to_string(),
            )
                .into_response(),
            Reply::Slow(delay, inner) => {
                tokio::time::sleep(delay).await;
                converse_reply(*inner).await
            }
            Reply::Raw { status, body } => (
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                [("content-type", "application/json")],
                body,
            )
                .into_response(),
        }
    })
}

/// What a well-formed, forced-tool-use Converse request must have.
fn converse_problems(headers: &HashMap<String, String>, body: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut need = |ok: bool, what: &str| {
        if !ok {
            problems.push(what.to_string());
        }
    };
    let header = |name: &str| headers.get(name).map(String::as_str).unwrap_or_default();
    need(
        header("content-type").starts_with("application/json"),
        "content-type is not application/json",
    );
    let auth = header("authorization");
    need(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=") && auth.contains("/bedrock/aws4_request"),
        "no SigV4 signature for the bedrock service",
    );
    need(!header("x-amz-date").is_empty(), "no x-amz-date header");
    need(body.is_object(), "the body is not a JSON object");
    let message = &body["messages"][0];
    need(
        message["role"] == "user",
        "messages[0] is not from the user",
    );
    let has_text = message["content"]
        .as_array()
        .is_some_and(|blocks| blocks.iter().any(|b| b["text"].is_string()));
    need(has_text, "the user message has no text block");
    if let Some(blocks) = message["content"].as_array() {
        for block in blocks.iter().filter_map(|b| b.get("image")) {
            let format_ok = matches!(
                block["format"].as_str(),
                Some("png" | "jpeg" | "gif" | "webp")
            );
            need(format_ok, "an image block has no valid format");
            need(
                block["source"]["bytes"]
                    .as_str()
                    .is_some_and(|b| !b.is_empty()),
                "an image block has no bytes",
            );
            // Converse takes base64 of at most 3.75 MB per image.
            let decoded = block["source"]["bytes"].as_str().map(decode_base64);
            need(
                !matches!(decoded, Some(Err(_))),
                "an image block's bytes are not base64",
            );
            need(
                !matches!(decoded, Some(Ok(ref bytes)) if bytes.len() > 3_750_000),
                "an image is larger than 3.75 MB",
            );
        }
    }
    need(
        body["system"][0]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "no system prompt",
    );
    let spec = &body["toolConfig"]["tools"][0]["toolSpec"];
    let name = spec["name"].as_str().unwrap_or_default();
    need(!name.is_empty(), "no tool in toolConfig");
    let schema = &spec["inputSchema"]["json"];
    need(
        schema["type"] == "object",
        "the tool's inputSchema is not an object schema",
    );
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for field in ["files_to_edit", "unified_diff", "reason", "confidence"] {
        need(
            required.contains(&field) && schema["properties"][field].is_object(),
            &format!("the tool's inputSchema lacks the required `{field}`"),
        );
    }
    need(
        schema["additionalProperties"] == false,
        "the tool's inputSchema allows additional properties",
    );
    need(
        body["toolConfig"]["toolChoice"]["tool"]["name"].as_str() == Some(name),
        "toolChoice does not force the tool",
    );
    need(
        body["inferenceConfig"]["temperature"].as_f64() == Some(0.0),
        "temperature is not 0",
    );
    need(
        body["inferenceConfig"]["maxTokens"]
            .as_u64()
            .is_some_and(|m| m > 0),
        "no maxTokens",
    );
    problems
}

// ---------------------------------------------------------------------------------------
// OpenAI-compatible chat completions

/// One scripted chat completion.
#[derive(Debug, Clone)]
pub enum ChatReply {
    /// `choices[0].message.content`.
    Content(String),
    /// Content cut off (`finish_reason: length`).
    Truncated(String),
    /// An error status with this body.
    Error(u16, Value),
    Slow(Duration, Box<ChatReply>),
}

impl ChatReply {
    pub fn proposal(files: &[&str], diff: &str) -> ChatReply {
        ChatReply::Content(proposal_json(files, diff).to_string())
    }
}

/// How the fake server behaves.
#[derive(Debug, Clone, Default)]
pub struct ChatOptions {
    /// Refuse `response_format: json_schema` with a 400, as older servers do.
    pub refuse_json_schema: bool,
    /// Require `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub headers: HashMap<String, String>,
    pub body: Value,
    pub problems: Vec<String>,
}

impl ChatRequest {
    pub fn response_format(&self) -> Option<String> {
        self.body["response_format"]["type"]
            .as_str()
            .map(str::to_string)
    }
}

#[derive(Default)]
struct ChatState {
    options: ChatOptions,
    script: Mutex<VecDeque<ChatReply>>,
    requests: Mutex<Vec<ChatRequest>>,
}

/// A fake OpenAI-compatible server. Dropping it stops the server.
pub struct FakeChat {
    /// `http://127.0.0.1:PORT`: the value for `DEVFLOW_OPENAI_URL`.
    pub url: String,
    state: Arc<ChatState>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeChat {
    pub async fn start(options: ChatOptions) -> FakeChat {
        let state = Arc::new(ChatState {
            options,
            ..ChatState::default()
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake chat server");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeChat { url, state, task }
    }

    pub fn push(&self, replies: impl IntoIterator<Item = ChatReply>) {
        self.state
            .script
            .lock()
            .expect("script lock")
            .extend(replies);
    }

    pub fn requests(&self) -> Vec<ChatRequest> {
        self.state.requests.lock().expect("requests lock").clone()
    }
}

impl Drop for FakeChat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn chat(State(state): State<Arc<ChatState>>, headers: HeaderMap, body: String) -> Response {
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let mut problems = Vec::new();
    let mut need = |ok: bool, what: &str| {
        if !ok {
            problems.push(what.to_string());
        }
    };
    need(
        parsed["model"].as_str().is_some_and(|m| !m.is_empty()),
        "no model",
    );
    need(
        parsed["messages"][0]["role"] == "system",
        "messages[0] is not the system prompt",
    );
    need(
        parsed["messages"][1]["role"] == "user",
        "messages[1] is not the user message",
    );
    need(
        parsed["temperature"].as_f64() == Some(0.0),
        "temperature is not 0",
    );
    if parsed["response_format"]["type"] == "json_schema" {
        let schema = &parsed["response_format"]["json_schema"]["schema"];
        need(
            schema["additionalProperties"] == false && schema["required"].is_array(),
            "the json_schema is not the strict Proposal schema",
        );
    }
    state
        .requests
        .lock()
        .expect("requests lock")
        .push(ChatRequest {
            headers: headers.clone(),
            body: parsed.clone(),
            problems: problems.clone(),
        });
    if let Some(key) = &state.options.api_key {
        if headers.get("authorization") != Some(&format!("Bearer {key}")) {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})),
            )
                .into_response();
        }
    }
    if !problems.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"message": format!("fake chat refused the request: {}", problems.join("; "))}})),
        )
            .into_response();
    }
    if state.options.refuse_json_schema && parsed["response_format"]["type"] == "json_schema" {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"message": "response_format of type json_schema is not supported by this server"}})),
        )
            .into_response();
    }
    let reply = state
        .script
        .lock()
        .expect("script lock")
        .pop_front()
        .unwrap_or_else(|| {
            ChatReply::Error(
                500,
                json!({"error": {"message": "fake chat: no reply scripted"}}),
            )
        });
    chat_reply(
        reply,
        parsed["model"].as_str().unwrap_or_default().to_string(),
    )
    .await
}

fn chat_reply(
    reply: ChatReply,
    model: String,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>> {
    Box::pin(async move {
        let completion = |content: String, finish: &str| {
            axum::Json(json!({
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
                "usage": {"prompt_tokens": 900, "completion_tokens": 70, "total_tokens": 970},
            }))
            .into_response()
        };
        match reply {
            ChatReply::Content(content) => completion(content, "stop"),
            ChatReply::Truncated(content) => completion(content, "length"),
            ChatReply::Error(status, body) => (
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                axum::Json(body),
            )
                .into_response(),
            ChatReply::Slow(delay, inner) => {
                tokio::time::sleep(delay).await;
                chat_reply(*inner, model).await
            }
        }
    })
}
