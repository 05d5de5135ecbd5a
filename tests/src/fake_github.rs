//! A fake of GitHub's REST API for pull requests on 127.0.0.1, for tests that drive the real
//! daemon's publish. It checks what the client really sends, as GitHub documents it:
//! `Authorization: Bearer <token>` (else 401 "Bad credentials"), `Accept:
//! application/vnd.github+json`, `X-GitHub-Api-Version: 2022-11-28`, a `User-Agent`, JSON
//! bodies with exactly the documented fields of the right types; and it answers like GitHub:
//! `GET /repos/{owner}/{repo}/pulls?head=owner:branch&state=open` → the list, `POST` → 201
//! with `number` and `html_url` (422 when the head branch is not in the served repository, or
//! an open pull request for it exists), `PATCH /repos/{owner}/{repo}/pulls/{number}` → 200.
//! A test can script the next answers (401, 422, a used-up rate limit) and reads back every
//! request.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};

/// The API version GitHub documents for these calls.
pub const API_VERSION: &str = "2022-11-28";

/// A request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub authorization: Option<String>,
    pub body: Value,
}

/// A failure the fake answers the next request with.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// 401 Bad credentials.
    Unauthorized,
    /// 422 Validation Failed with this error message.
    Invalid(String),
    /// 403 with `X-RateLimit-Remaining: 0` and this reset time.
    RateLimited { reset: i64 },
}

#[derive(Debug, Clone)]
struct Pull {
    number: u64,
    owner: String,
    repo: String,
    title: String,
    body: String,
    head: String,
    base: String,
    draft: bool,
}

struct FakeState {
    token: String,
    url: String,
    /// The bare repository behind `owner/repo`: head and base branches must exist in it.
    repository: Option<PathBuf>,
    pulls: Vec<Pull>,
    requests: Vec<Recorded>,
    scripted: VecDeque<Scripted>,
}

/// The running fake. Dropping it stops the server.
pub struct FakeGitHub {
    pub url: String,
    state: Arc<Mutex<FakeState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeGitHub {
    /// Starts the fake accepting `token`; `repository` is the bare repository whose branches
    /// pull requests may name (`None`: any branch).
    pub async fn start(token: &str, repository: Option<PathBuf>) -> FakeGitHub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake GitHub");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(Mutex::new(FakeState {
            token: token.to_string(),
            url: url.clone(),
            repository,
            pulls: Vec::new(),
            requests: Vec::new(),
            scripted: VecDeque::new(),
        }));
        let app = Router::new()
            .route("/repos/{owner}/{repo}/pulls", get(pulls).post(pulls))
            .route(
                "/repos/{owner}/{repo}/pulls/{number}",
                axum::routing::patch(pull),
            )
            .fallback(|method: Method, uri: axum::http::Uri| async move {
                github_error(
                    StatusCode::NOT_FOUND,
                    &format!("Not Found ({method} {uri} is not a route of this fake)"),
                )
            })
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeGitHub { url, state, task }
    }

    /// The next request gets this failure (after its headers are checked).
    pub fn fail_next(&self, failure: Scripted) {
        self.lock().scripted.push_back(failure);
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// The pull requests opened so far: (number, title, body, head, base, draft).
    pub fn pulls(&self) -> Vec<(u64, String, String, String, String, bool)> {
        self.lock()
            .pulls
            .iter()
            .map(|p| {
                (
                    p.number,
                    p.title.clone(),
                    p.body.clone(),
                    p.head.clone(),
                    p.base.clone(),
                    p.draft,
                )
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Shared = Arc<Mutex<FakeState>>;

fn github_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest/pulls/pulls",
            "status": status.as_u16().to_string(),
        })),
    )
        .into_response()
}

fn validation_failed(errors: Value) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({
            "message": "Validation Failed",
            "errors": errors,
            "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
            "status": "422",
        })),
    )
        .into_response()
}

/// Records the request and checks what every GitHub REST call must carry.
// The refusal is the handler's answer itself; boxing it would only add noise to a test fake.
#[allow(clippy::result_large_err)]
fn admit(
    state: &Shared,
    method: &Method,
    path: String,
    query: Vec<(String, String)>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, Response> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let parsed: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body)
            .map_err(|_| github_error(StatusCode::BAD_REQUEST, "Problems parsing JSON"))?
    };
    let mut fake = state.lock().unwrap_or_else(|e| e.into_inner());
    fake.requests.push(Recorded {
        method: method.to_string(),
        path,
        query,
        authorization: header("authorization"),
        body: parsed.clone(),
    });
    if header("authorization") != Some(format!("Bearer {}", fake.token)) {
        return Err(github_error(StatusCode::UNAUTHORIZED, "Bad credentials"));
    }
    if header("accept").as_deref() != Some("application/vnd.github+json") {
        return Err(github_error(
            StatusCode::BAD_REQUEST,
            "this fake expects Accept: application/vnd.github+json",
        ));
    }
    if header("x-github-api-version").as_deref() != Some(API_VERSION) {
        return Err(github_error(
            StatusCode::BAD_REQUEST,
            "this fake expects X-GitHub-Api-Version: 2022-11-28",
        ));
    }
    if header("user-agent").is_none_or(|ua| ua.is_empty()) {
        // GitHub refuses requests without a User-Agent.
        return Err(github_error(
            StatusCode::FORBIDDEN,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
        ));
    }
    if *method != Method::GET
        && !header("content-type").is_some_and(|t| t.starts_with("application/json"))
    {
        return Err(github_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON (Content-Type: application/json)",
        ));
    }
    match fake.scripted.pop_front() {
        None => Ok(parsed),
        Some(Scripted::Unauthorized) => {
            Err(github_error(StatusCode::UNAUTHORIZED, "Bad credentials"))
        }
        Some(Scripted::Invalid(message)) => Err(validation_failed(
            json!([{"resource": "PullRequest", "code": "custom", "message": message}]),
        )),
        Some(Scripted::RateLimited { reset }) => {
            let mut response = github_error(
                StatusCode::FORBIDDEN,
                "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.",
            );
            let headers = response.headers_mut();
            headers.insert("x-ratelimit-limit", "5000".parse().expect("header"));
            headers.insert("x-ratelimit-remaining", "0".parse().expect("header"));
            headers.insert(
                "x-ratelimit-reset",
                reset.to_string().parse().expect("header"),
            );
            Err(response)
        }
    }
}

/// Checks a JSON body's fields: each present one of the documented type, no other field.
#[allow(clippy::result_large_err)]
fn check_fields(
    body: &Value,
    allowed: &[(&str, &str)],
    required: &[&str],
) -> Result<Map<String, Value>, Response> {
    let Some(object) = body.as_object() else {
        return Err(github_error(
            StatusCode::BAD_REQUEST,
            "Problems parsing JSON",
        ));
    };
    for (key, value) in object {
        let Some((_, kind)) = allowed.iter().find(|(name, _)| name == key) else {
            return Err(validation_failed(json!([{
                "resource": "PullRequest", "field": key, "code": "invalid",
                "message": format!("{key} is not a field GitHub documents for this request"),
            }])));
        };
        let ok = match *kind {
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            _ => false,
        };
        if !ok {
            return Err(validation_failed(json!([{
                "resource": "PullRequest", "field": key, "code": "invalid",
                "message": format!("{key} must be a {kind}"),
            }])));
        }
    }
    for key in required {
        if object
            .get(*key)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(validation_failed(json!([{
                "resource": "PullRequest", "field": key, "code": "missing_field",
            }])));
        }
    }
    Ok(object.clone())
}

fn branch_exists(repository: &Option<PathBuf>, branch: &str) -> bool {
    let Some(repository) = repository else {
        return true;
    };
    std::process::Command::new("git")
        .args(["rev-parse", "--verify", "--quiet"])
        .arg(format!("refs/heads/{branch}"))
        .current_dir(repository)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn pull_json(url: &str, pull: &Pull) -> Value {
    json!({
        "url": format!("{url}/repos/{}/{}/pulls/{}", pull.owner, pull.repo, pull.number),
        "html_url": format!("{url}/{}/{}/pull/{}", pull.owner, pull.repo, pull.number),
        "number": pull.number,
        "state": "open",
        "title": pull.title,
        "body": pull.body,
        "draft": pull.draft,
        "head": {"ref": pull.head, "label": format!("{}:{}", pull.owner, pull.head)},
        "base": {"ref": pull.base, "label": format!("{}:{}", pull.owner, pull.base)},
    })
}

async fn pulls(
    State(state): State<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/repos/{owner}/{repo}/pulls");
    let body = match admit(&state, &method, path, query.clone(), &headers, &body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let mut fake = state.lock().unwrap_or_else(|e| e.into_inner());
    if method == Method::GET {
        let wanted = |key: &str| query.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let head = wanted("head");
        if wanted("state").is_some_and(|s| s != "open") {
            return github_error(
                StatusCode::BAD_REQUEST,
                "this fake only lists open pull requests",
            );
        }
        let list: Vec<Value> = fake
            .pulls
            .iter()
            .filter(|p| p.owner == owner && p.repo == repo)
            .filter(|p| {
                head.as_ref()
                    .is_none_or(|h| *h == format!("{}:{}", p.owner, p.head))
            })
            .map(|p| pull_json(&fake.url, p))
            .collect();
        return (StatusCode::OK, axum::Json(Value::Array(list))).into_response();
    }
    let fields = match check_fields(
        &body,
        &[
            ("title", "string"),
            ("head", "string"),
            ("base", "string"),
            ("body", "string"),
            ("draft", "boolean"),
            ("maintainer_can_modify", "boolean"),
        ],
        &["title", "head", "base"],
    ) {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let text = |key: &str| {
        fields
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (head, base) = (text("head"), text("base"));
    let head_branch = head.rsplit(':').next().unwrap_or(&head).to_string();
    for (field, branch) in [("head", &head_branch), ("base", &base)] {
        if !branch_exists(&fake.repository, branch) {
            return validation_failed(
                json!([{"resource": "PullRequest", "field": field, "code": "invalid"}]),
            );
        }
    }
    if fake
        .pulls
        .iter()
        .any(|p| p.owner == owner && p.repo == repo && p.head == head_branch && p.base == base)
    {
        return validation_failed(json!([{
            "resource": "PullRequest", "code": "custom",
            "message": format!("A pull request already exists for {owner}:{head_branch}."),
        }]));
    }
    let pull = Pull {
        number: fake.pulls.len() as u64 + 1,
        owner,
        repo,
        title: text("title"),
        body: text("body"),
        head: head_branch,
        base,
        draft: fields
            .get("draft")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    let answer = pull_json(&fake.url, &pull);
    fake.pulls.push(pull);
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

async fn pull(
    State(state): State<Shared>,
    Path((owner, repo, number)): Path<(String, String, u64)>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/repos/{owner}/{repo}/pulls/{number}");
    let body = match admit(&state, &method, path, Vec::new(), &headers, &body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let fields = match check_fields(
        &body,
        &[
            ("title", "string"),
            ("body", "string"),
            ("state", "string"),
            ("base", "string"),
            ("maintainer_can_modify", "boolean"),
        ],
        &[],
    ) {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let mut fake = state.lock().unwrap_or_else(|e| e.into_inner());
    let url = fake.url.clone();
    let Some(pull) = fake
        .pulls
        .iter_mut()
        .find(|p| p.owner == owner && p.repo == repo && p.number == number)
    else {
        return github_error(StatusCode::NOT_FOUND, "Not Found");
    };
    if let Some(title) = fields.get("title").and_then(Value::as_str) {
        pull.title = title.to_string();
    }
    if let Some(body) = fields.get("body").and_then(Value::as_str) {
        pull.body = body.to_string();
    }
    (StatusCode::OK, axum::Json(pull_json(&url, pull))).into_response()
}
