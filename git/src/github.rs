//! The GitHub REST calls publishing needs: find the open pull request of a branch, open one,
//! update one. Requests are the ones GitHub documents (`Accept: application/vnd.github+json`,
//! `X-GitHub-Api-Version`, `Authorization: Bearer <token>`, a `User-Agent`); the API root is
//! `https://api.github.com` or, for GitHub Enterprise Server, `https://HOST/api/v3`.
//! Answers GitHub gives for failures (401, rate limits, 404, 422) become [`GitHubError`]
//! variants whose message says what to do; reading them is pure ([`error_from_response`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The API root when none is configured.
pub const DEFAULT_API_URL: &str = "https://api.github.com";
/// The REST API version devflow speaks.
pub const API_VERSION: &str = "2022-11-28";
const ACCEPT: &str = "application/vnd.github+json";
const TIMEOUT: Duration = Duration::from_secs(30);

/// A pull request as devflow needs it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub html_url: String,
}

/// `POST /repos/{owner}/{repo}/pulls`.
#[derive(Debug, Clone, Serialize)]
pub struct NewPullRequest<'a> {
    pub title: &'a str,
    /// The branch with the changes (same repository: the bare branch name).
    pub head: &'a str,
    pub base: &'a str,
    pub body: &'a str,
    pub draft: bool,
}

/// `PATCH /repos/{owner}/{repo}/pulls/{number}`: what changes on an update.
#[derive(Debug, Clone, Serialize)]
struct PullRequestUpdate<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    body: &'a str,
}

/// Why a GitHub call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitHubError {
    #[error("the GitHub API URL {0:?} is not an http(s) URL; use https://api.github.com or https://HOST/api/v3 for GitHub Enterprise")]
    BadApiUrl(String),
    #[error("GitHub refused the token (401 {message}); set githubToken (DEVFLOW_GITHUB_TOKEN) to a token that can write pull requests to this repository")]
    Unauthorized { message: String },
    #[error("GitHub's rate limit is used up ({status} {message}){}; publish again after that", reset_text(*reset_at))]
    RateLimited {
        status: u16,
        message: String,
        /// Unix seconds when the limit resets, from `X-RateLimit-Reset` or `Retry-After`.
        reset_at: Option<i64>,
    },
    #[error("GitHub refused the request (403 {message}); the token needs the \"pull requests: write\" permission on this repository")]
    Forbidden { message: String },
    #[error("GitHub has no repository {repository}, or the token cannot see it (404 {message})")]
    NotFound { repository: String, message: String },
    #[error("GitHub refused the pull request (422 {message})")]
    Invalid { message: String },
    #[error("GitHub answered {status}: {message}")]
    Unexpected { status: u16, message: String },
    #[error("cannot reach the GitHub API at {url}: {detail}")]
    Unreachable { url: String, detail: String },
}

fn reset_text(reset_at: Option<i64>) -> String {
    match reset_at {
        Some(at) => format!("; it resets at Unix time {at}"),
        None => String::new(),
    }
}

impl GitHubError {
    /// The HTTP status GitHub answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            GitHubError::Unauthorized { .. } => Some(401),
            GitHubError::RateLimited { status, .. } | GitHubError::Unexpected { status, .. } => {
                Some(*status)
            }
            GitHubError::Forbidden { .. } => Some(403),
            GitHubError::NotFound { .. } => Some(404),
            GitHubError::Invalid { .. } => Some(422),
            GitHubError::BadApiUrl(_) | GitHubError::Unreachable { .. } => None,
        }
    }
}

/// The rate-limit headers of an answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateHeaders {
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<String>,
    /// `X-RateLimit-Reset` (Unix seconds).
    pub reset: Option<String>,
    /// `Retry-After` (seconds), GitHub's secondary limits.
    pub retry_after: Option<String>,
}

/// GitHub's error body: `{"message": …, "errors": [{"resource", "field", "code", "message"?}]}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

/// Reads a failed answer. `now` (Unix seconds) turns `Retry-After` into a reset time.
pub fn error_from_response(
    status: u16,
    rate: &RateHeaders,
    body: &[u8],
    repository: &str,
    now: i64,
) -> GitHubError {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let mut message = if parsed.message.is_empty() {
        String::from_utf8_lossy(body).chars().take(300).collect()
    } else {
        parsed.message.clone()
    };
    let details: Vec<String> = parsed
        .errors
        .iter()
        .filter_map(|error| {
            if let Some(text) = error.get("message").and_then(|m| m.as_str()) {
                return Some(text.to_string());
            }
            let field = |name: &str| error.get(name).and_then(|v| v.as_str()).unwrap_or("");
            let described = [field("resource"), field("field"), field("code")]
                .iter()
                .filter(|part| !part.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            (!described.is_empty()).then_some(described)
        })
        .collect();
    if !details.is_empty() {
        message = format!("{message}: {}", details.join("; "));
    }
    let exhausted = rate.remaining.as_deref().map(str::trim) == Some("0");
    let retry_after = rate
        .retry_after
        .as_deref()
        .and_then(|s| s.trim().parse::<i64>().ok());
    let limited = exhausted
        || (matches!(status, 403 | 429) && retry_after.is_some())
        || status == 429
        || (status == 403 && message.to_ascii_lowercase().contains("rate limit"));
    if limited {
        let reset_at = retry_after.map(|secs| now + secs).or_else(|| {
            rate.reset
                .as_deref()
                .and_then(|s| s.trim().parse::<i64>().ok())
        });
        return GitHubError::RateLimited {
            status,
            message,
            reset_at,
        };
    }
    match status {
        401 => GitHubError::Unauthorized { message },
        403 => GitHubError::Forbidden { message },
        404 => GitHubError::NotFound {
            repository: repository.to_string(),
            message,
        },
        422 => GitHubError::Invalid { message },
        _ => GitHubError::Unexpected { status, message },
    }
}

/// Where git sends the token for a GitHub whose API is at `api_url`: `https://github.com/`
/// for `https://api.github.com`, `https://HOST/` for `https://HOST/api/v3`.
pub fn git_origin_of_api(api_url: &str) -> Option<String> {
    let (scheme, rest) = api_url.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let authority = rest.split('/').next().filter(|a| !a.is_empty())?;
    let authority = if authority.eq_ignore_ascii_case("api.github.com") {
        "github.com"
    } else {
        authority
    };
    Some(format!("{scheme}://{authority}/"))
}

/// A client for one GitHub API root and token.
#[derive(Clone)]
pub struct GitHub {
    http: reqwest::Client,
    api: String,
    token: String,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GitHub({}, token ***)", self.api)
    }
}

impl GitHub {
    pub fn new(api_url: &str, token: &str) -> Result<GitHub, GitHubError> {
        let api = api_url.trim().trim_end_matches('/').to_string();
        let lower = api.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) || api.len() < 10 {
            return Err(GitHubError::BadApiUrl(api_url.to_string()));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("devflow/", env!("CARGO_PKG_VERSION")))
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| GitHubError::Unreachable {
                url: api.clone(),
                detail: e.to_string(),
            })?;
        Ok(GitHub {
            http,
            api,
            token: token.to_string(),
        })
    }

    fn pulls_url(&self, owner: &str, repo: &str) -> String {
        format!(
            "{}/repos/{}/{}/pulls",
            self.api,
            path_segment(owner),
            path_segment(repo)
        )
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let mut authorization =
            reqwest::header::HeaderValue::from_str(&format!("Bearer {}", self.token))
                .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static("Bearer -"));
        authorization.set_sensitive(true);
        self.http
            .request(method, url)
            .header(reqwest::header::ACCEPT, ACCEPT)
            .header("X-GitHub-Api-Version", API_VERSION)
            .header(reqwest::header::AUTHORIZATION, authorization)
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        repository: &str,
    ) -> Result<T, GitHubError> {
        let unreachable = |detail: String| GitHubError::Unreachable {
            url: self.api.clone(),
            detail,
        };
        let response = request
            .send()
            .await
            .map_err(|e| unreachable(without_url(e)))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let rate = RateHeaders {
            remaining: header("x-ratelimit-remaining"),
            reset: header("x-ratelimit-reset"),
            retry_after: header("retry-after"),
        };
        let body = response
            .bytes()
            .await
            .map_err(|e| unreachable(without_url(e)))?;
        if !(200..300).contains(&status) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            return Err(error_from_response(status, &rate, &body, repository, now));
        }
        serde_json::from_slice(&body).map_err(|e| GitHubError::Unexpected {
            status,
            message: format!("the answer is not the JSON GitHub documents: {e}"),
        })
    }

    /// The open pull request whose head is `head_owner:branch`, if any.
    pub async fn open_pull_request(
        &self,
        owner: &str,
        repo: &str,
        head_owner: &str,
        branch: &str,
    ) -> Result<Option<PullRequest>, GitHubError> {
        let repository = format!("{owner}/{repo}");
        let head = format!("{head_owner}:{branch}");
        let request = self
            .request(reqwest::Method::GET, &self.pulls_url(owner, repo))
            .query(&[("head", head.as_str()), ("state", "open")]);
        let pulls: Vec<PullRequest> = self.send(request, &repository).await?;
        Ok(pulls.into_iter().next())
    }

    pub async fn create_pull_request(
        &self,
        owner: &str,
        repo: &str,
        pull: &NewPullRequest<'_>,
    ) -> Result<PullRequest, GitHubError> {
        let request = self
            .request(reqwest::Method::POST, &self.pulls_url(owner, repo))
            .json(pull);
        self.send(request, &format!("{owner}/{repo}")).await
    }

    /// Updates the body (and the title when given). GitHub's REST API cannot change the
    /// draft state of an existing pull request, so `draft` applies to new ones only.
    pub async fn update_pull_request(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        title: Option<&str>,
        body: &str,
    ) -> Result<PullRequest, GitHubError> {
        let url = format!("{}/{number}", self.pulls_url(owner, repo));
        let request = self
            .request(reqwest::Method::PATCH, &url)
            .json(&PullRequestUpdate { title, body });
        self.send(request, &format!("{owner}/{repo}")).await
    }
}

/// A reqwest error's text without the URL it adds (the URL is in the message already).
fn without_url(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    if let Some(source) = std::error::Error::source(&error) {
        text = format!("{text}: {source}");
    }
    text
}

/// Percent-encodes one path segment (owner and repository names are user input).
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(remaining: Option<&str>, reset: Option<&str>, retry: Option<&str>) -> RateHeaders {
        RateHeaders {
            remaining: remaining.map(str::to_string),
            reset: reset.map(str::to_string),
            retry_after: retry.map(str::to_string),
        }
    }

    #[test]
    fn answers_become_errors_that_say_what_to_do() {
        let none = RateHeaders::default();
        let unauthorized = error_from_response(
            401,
            &none,
            br#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}"#,
            "acme/site",
            0,
        );
        assert_eq!(
            unauthorized,
            GitHubError::Unauthorized {
                message: "Bad credentials".into()
            }
        );
        assert!(unauthorized.to_string().contains("DEVFLOW_GITHUB_TOKEN"));

        let invalid = error_from_response(
            422,
            &none,
            br#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for acme:devflow/1."}]}"#,
            "acme/site",
            0,
        );
        assert_eq!(
            invalid.to_string(),
            "GitHub refused the pull request (422 Validation Failed: A pull request already exists for acme:devflow/1.)"
        );
        let field_error = error_from_response(
            422,
            &none,
            br#"{"message":"Validation Failed","errors":[{"resource":"PullRequest","field":"base","code":"invalid"}]}"#,
            "acme/site",
            0,
        );
        assert!(field_error.to_string().contains("PullRequest base invalid"));

        let missing =
            error_from_response(404, &none, br#"{"message":"Not Found"}"#, "acme/site", 0);
        assert!(missing.to_string().contains("acme/site"), "{missing}");
    }

    #[test]
    fn a_used_up_rate_limit_is_told_apart_from_a_permission_problem() {
        let limited = error_from_response(
            403,
            &rate(Some("0"), Some("1700000000"), None),
            br#"{"message":"API rate limit exceeded for user ID 1."}"#,
            "acme/site",
            0,
        );
        assert_eq!(
            limited,
            GitHubError::RateLimited {
                status: 403,
                message: "API rate limit exceeded for user ID 1.".into(),
                reset_at: Some(1_700_000_000)
            }
        );
        assert!(limited.to_string().contains("1700000000"));
        let secondary = error_from_response(
            403,
            &rate(Some("12"), None, Some("60")),
            br#"{"message":"You have exceeded a secondary rate limit."}"#,
            "acme/site",
            1_000,
        );
        assert!(matches!(
            secondary,
            GitHubError::RateLimited {
                reset_at: Some(1_060),
                ..
            }
        ));
        let forbidden = error_from_response(
            403,
            &rate(Some("4999"), None, None),
            br#"{"message":"Resource not accessible by integration"}"#,
            "acme/site",
            0,
        );
        assert!(matches!(forbidden, GitHubError::Forbidden { .. }));
    }

    #[test]
    fn a_body_that_is_not_json_still_says_something() {
        let error = error_from_response(
            502,
            &RateHeaders::default(),
            b"<html>bad gateway</html>",
            "a/b",
            0,
        );
        assert_eq!(
            error,
            GitHubError::Unexpected {
                status: 502,
                message: "<html>bad gateway</html>".into()
            }
        );
    }

    #[test]
    fn git_sends_the_token_only_to_the_apis_own_host() {
        assert_eq!(
            git_origin_of_api("https://api.github.com").as_deref(),
            Some("https://github.com/")
        );
        assert_eq!(
            git_origin_of_api("https://ghe.example.com/api/v3/").as_deref(),
            Some("https://ghe.example.com/")
        );
        assert_eq!(
            git_origin_of_api("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080/")
        );
        assert_eq!(git_origin_of_api("ftp://x"), None);
    }

    #[test]
    fn owner_and_repository_are_encoded_in_the_path() {
        let github = GitHub::new("https://ghe.example.com/api/v3/", "t").unwrap();
        assert_eq!(
            github.pulls_url("acme corp", "site"),
            "https://ghe.example.com/api/v3/repos/acme%20corp/site/pulls"
        );
        assert!(matches!(
            GitHub::new("ghe.example.com", "t"),
            Err(GitHubError::BadApiUrl(_))
        ));
        assert!(!format!("{github:?}").contains("\"t\""));
    }
}
