//! REST + SSE exactly as DESIGN.md names it, and the `/rpc` WebSocket upgrade. Every REST
//! route is a JSON-RPC method with its path ids, query and body merged into params and sent
//! through [`crate::rpc::call`], so REST and JSON-RPC cannot drift apart.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use devflow_protocol::{method, ErrorCode};
use serde_json::{Map, Value};

use crate::auth::{token_matches, Origins};
use crate::error::ServiceError;
use crate::rpc::{self, Outcome};
use crate::service::Service;

/// Largest JSON body; zips have their own limit.
const MAX_JSON_BODY: usize = 2 * 1024 * 1024;
const MAX_UPLOAD_BODY: usize = 512 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    pub token: Arc<String>,
    pub origins: Arc<Origins>,
}

/// The error as the seed-004 body with its HTTP status.
pub fn error_response(error: &ServiceError) -> Response {
    let status =
        StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(error.to_api_error())).into_response()
}

/// A REST handler for a JSON-RPC method: params = body object + query + path ids.
macro_rules! rest {
    ($method:expr, $ok:expr) => {
        |State(state): State<AppState>,
         Path(path): Path<HashMap<String, String>>,
         Query(query): Query<HashMap<String, String>>,
         headers: HeaderMap,
         body: Bytes| async move { rest_call(state, $method, $ok, path, query, headers, body).await }
    };
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/sessions",
            post(rest!(method::SESSION_CREATE, StatusCode::CREATED))
                .get(rest!(method::SESSION_LIST, StatusCode::OK)),
        )
        .route(
            "/sessions/{sessionId}",
            get(rest!(method::SESSION_GET, StatusCode::OK))
                .delete(rest!(method::SESSION_DELETE, StatusCode::OK)),
        )
        .route(
            "/sessions/{sessionId}/upload",
            put(upload).layer(DefaultBodyLimit::max(MAX_UPLOAD_BODY)),
        )
        .route(
            "/sessions/{sessionId}/start",
            post(rest!(method::SESSION_START, StatusCode::ACCEPTED)),
        )
        .route(
            "/sessions/{sessionId}/stop",
            post(rest!(method::SESSION_STOP, StatusCode::OK)),
        )
        .route(
            "/sessions/{sessionId}/pause",
            post(rest!(method::SESSION_PAUSE, StatusCode::OK)),
        )
        .route(
            "/sessions/{sessionId}/resume",
            post(rest!(method::SESSION_RESUME, StatusCode::OK)),
        )
        .route(
            "/sessions/{sessionId}/rollback",
            post(rest!(method::SESSION_ROLLBACK, StatusCode::OK)),
        )
        .route(
            "/sessions/{sessionId}/publish",
            post(rest!(method::SESSION_PUBLISH, StatusCode::OK)),
        )
        .route(
            "/sessions/{sessionId}/editor",
            get(rest!(method::SESSION_EDITOR_URL, StatusCode::OK)),
        )
        .route(
            "/sessions/{sessionId}/commands",
            post(rest!(method::COMMAND_SUBMIT, StatusCode::ACCEPTED)),
        )
        .route(
            "/sessions/{sessionId}/commands/{commandId}",
            get(rest!(method::COMMAND_GET, StatusCode::OK)),
        )
        .route(
            "/sessions/{sessionId}/commands/{commandId}/cancel",
            post(rest!(method::COMMAND_CANCEL, StatusCode::OK)),
        )
        .route(
            "/sessions/{sessionId}/history",
            get(rest!(method::SESSION_HISTORY, StatusCode::OK)),
        )
        .route(
            "/sessions/{sessionId}/patches",
            post(rest!(method::PATCH_APPLY, StatusCode::ACCEPTED)),
        )
        .route(
            "/sessions/{sessionId}/patches/{patchId}",
            get(rest!(method::PATCH_GET, StatusCode::OK)),
        )
        .route(
            "/sessions/{sessionId}/settings",
            get(rest!(method::SESSION_GET_SETTINGS, StatusCode::OK))
                .patch(rest!(method::SESSION_UPDATE_SETTINGS, StatusCode::OK)),
        )
        .route(
            "/sessions/{sessionId}/reference",
            get(rest!(method::REFERENCE_GET, StatusCode::OK))
                .put(put_reference)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BODY)),
        )
        .route(
            "/sessions/{sessionId}/reference/screens/{*name}",
            get(reference_screen),
        )
        .route(
            "/sessions/{sessionId}/screenshots/{commandId}/{file}",
            get(command_picture),
        )
        .route("/sessions/{sessionId}/events", get(events))
        .route("/sessions/{sessionId}/logs", get(logs))
        .route("/metrics", get(metrics))
        .route("/rpc", get(crate::transport::ws::upgrade))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY));
    // The editors' extension reaches this daemon at this address with this token.
    state
        .service
        .editors()
        .serve_on(&state.service.config().public_base_url, &state.token);
    Router::new()
        .route("/healthz", get(healthz))
        // The panel and its assets: before the token guard, behind their own Host check.
        .merge(crate::transport::ui::routes(state.clone()))
        // The sessions' editors: their own guard (Host, Origin, grant or cookie).
        .merge(crate::editor::proxy::routes())
        .merge(api)
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn not_found() -> Response {
    error_response(&ServiceError::new(
        ErrorCode::MethodNotFound,
        "no such route",
    ))
}

/// Host, then Origin, then token: a rebinding or cross-site request is refused before its
/// token is even looked at.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !state.origins.host_allowed(host) {
        state.service.metrics().request(true);
        return error_response(&ServiceError::new(
            ErrorCode::Forbidden,
            format!("Host {host:?} is not this daemon's; use http://127.0.0.1:PORT"),
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !state.origins.origin_allowed(origin) {
            state.service.metrics().request(true);
            return error_response(&ServiceError::new(
                ErrorCode::Forbidden,
                format!("Origin {origin:?} may not call this daemon"),
            ));
        }
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::to_string);
    let query_token = request.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("token=").map(percent_decode))
    });
    let authorized = [bearer, query_token]
        .iter()
        .flatten()
        .any(|given| token_matches(&state.token, given));
    if !authorized {
        state.service.metrics().request(true);
        return error_response(&ServiceError::new(
            ErrorCode::Unauthorized,
            "missing or wrong token: send `Authorization: Bearer <token>` (the token is in the state dir's `token` file)",
        ));
    }
    let response = next.run(request).await;
    state
        .service
        .metrics()
        .request(response.status().is_client_error() || response.status().is_server_error());
    response
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query keys that are numbers in the params.
const NUMERIC_QUERY_KEYS: &[&str] = &["limit", "tail", "afterSeq"];

async fn rest_call(
    state: AppState,
    method: &'static str,
    ok: StatusCode,
    path: HashMap<String, String>,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match rest_params(&path, &query, &headers, &body) {
        Ok(params) => params,
        Err(error) => return error_response(&error),
    };
    match rpc::call(&state.service, method, params).await {
        Ok(Outcome::Reply(value)) => (ok, axum::Json(value)).into_response(),
        Ok(_) => error_response(&ServiceError::internal(
            "streaming methods have their own routes",
        )),
        Err(error) => error_response(&error),
    }
}

fn rest_params(
    path: &HashMap<String, String>,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, ServiceError> {
    let mut params = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => map,
            Ok(other) => {
                return Err(ServiceError::invalid(
                    "body",
                    other,
                    "the body must be a JSON object",
                ))
            }
            Err(error) => {
                return Err(ServiceError::new(
                    ErrorCode::ParseError,
                    format!("the body is not valid JSON: {error}"),
                ))
            }
        }
    };
    for (key, value) in query {
        if key == "token" {
            continue;
        }
        let value = match value.parse::<u64>() {
            Ok(number) if NUMERIC_QUERY_KEYS.contains(&key.as_str()) => Value::from(number),
            _ => Value::from(value.clone()),
        };
        params.insert(key.clone(), value);
    }
    if let Some(key) = headers.get("idempotency-key").and_then(|h| h.to_str().ok()) {
        params
            .entry("idempotencyKey")
            .or_insert_with(|| Value::from(key));
    }
    for (key, value) in path {
        params.insert(key.clone(), Value::from(value.clone()));
    }
    Ok(Value::Object(params))
}

/// `PUT <uploadUrl>`: the zip body goes to a temp file, then through `session/upload`.
async fn upload(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    body: Bytes,
) -> Response {
    let (path, _guard) = match spill(&state, &body, "zip") {
        Ok(spilled) => spilled,
        Err(error) => return error_response(&error),
    };
    let params = serde_json::json!({ "sessionId": session_id, "zipPath": path });
    match rpc::call(&state.service, method::SESSION_UPLOAD, params).await {
        Ok(Outcome::Reply(value)) => (StatusCode::OK, axum::Json(value)).into_response(),
        Ok(_) => error_response(&ServiceError::internal("unexpected outcome")),
        Err(error) => error_response(&error),
    }
}

/// `PUT /sessions/{id}/reference`: tokens JSON inline, or a zip spilled to disk.
async fn put_reference(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_zip = body.starts_with(b"PK\x03\x04")
        || headers
            .get(header::CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|t| t.contains("zip"));
    let mut _guard = None;
    let params = if is_zip {
        match spill(&state, &body, "zip") {
            Ok((path, guard)) => {
                _guard = Some(guard);
                serde_json::json!({ "sessionId": session_id, "path": path })
            }
            Err(error) => return error_response(&error),
        }
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(tokens) => serde_json::json!({ "sessionId": session_id, "tokens": tokens }),
            Err(error) => {
                return error_response(&ServiceError::new(
                    ErrorCode::ParseError,
                    format!("the tokens are not valid JSON: {error}"),
                ))
            }
        }
    };
    match rpc::call(&state.service, method::REFERENCE_SET, params).await {
        Ok(Outcome::Reply(value)) => (StatusCode::OK, axum::Json(value)).into_response(),
        Ok(_) => error_response(&ServiceError::internal("unexpected outcome")),
        Err(error) => error_response(&error),
    }
}

/// Removes a spilled upload when the request is done.
struct SpillGuard(std::path::PathBuf);

impl Drop for SpillGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn spill(
    state: &AppState,
    body: &Bytes,
    extension: &str,
) -> Result<(String, SpillGuard), ServiceError> {
    let dir = state.service.config().state_dir.join("uploads");
    std::fs::create_dir_all(&dir)
        .map_err(|e| ServiceError::internal(format!("cannot store the upload: {e}")))?;
    let path = dir.join(format!("{}.{extension}", uuid::Uuid::new_v4()));
    std::fs::write(&path, body)
        .map_err(|e| ServiceError::internal(format!("cannot store the upload: {e}")))?;
    let text = path.to_string_lossy().into_owned();
    Ok((text, SpillGuard(path)))
}

/// A reference screen (image or HTML page) for the panel. Served sandboxed: an HTML screen
/// from an upload must not run script on the daemon's origin, where the panel keeps its token.
async fn reference_screen(
    State(state): State<AppState>,
    Path((session_id, name)): Path<(String, String)>,
) -> Response {
    match state.service.reference_screen(&session_id, &name).await {
        Ok((media_type, bytes)) => (
            [
                (header::CONTENT_TYPE, media_type),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
                        .to_string(),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(error) => error_response(&error),
    }
}

/// A command's screenshot or difference image (PNG). The ids are looked up and the name
/// must be one the pipeline makes, so nothing but a stored picture can be reached.
async fn command_picture(
    State(state): State<AppState>,
    Path((session_id, command_id, file)): Path<(String, String, String)>,
) -> Response {
    match state
        .service
        .command_picture(&session_id, &command_id, &file)
        .await
    {
        Ok(png) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::CONTENT_SECURITY_POLICY, "default-src 'none'"),
                // A picture's name says its command and attempt: it never changes.
                (header::CACHE_CONTROL, "private, max-age=86400, immutable"),
            ],
            png,
        )
            .into_response(),
        Err(error) => error_response(&error),
    }
}

/// SSE: `id:` is the seq; resumes after `Last-Event-ID` or `?afterSeq=`.
async fn events(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let from_header = headers
        .get("last-event-id")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let after = from_header.or_else(|| query.get("afterSeq").cloned());
    let after_seq = match after.as_deref().map(str::parse::<u64>) {
        None => None,
        Some(Ok(seq)) => Some(seq),
        Some(Err(_)) => {
            return error_response(&ServiceError::invalid(
                "afterSeq",
                after.unwrap_or_default(),
                "afterSeq / Last-Event-ID must be a whole number",
            ))
        }
    };
    let params = devflow_protocol::SubscribeParams {
        session_id,
        after_seq,
    };
    let (_, subscription) = match state.service.subscribe(params).await {
        Ok(subscribed) => subscribed,
        Err(error) => return error_response(&error),
    };
    let stream = futures::stream::unfold(subscription, |mut subscription| async move {
        let event = subscription.next().await?;
        let data = serde_json::to_string(&event).ok()?;
        Some((
            Ok::<_, Infallible>(SseEvent::default().id(event.seq.to_string()).data(data)),
            subscription,
        ))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// `GET /sessions/{id}/logs`: the log as text; `?follow=1` keeps streaming what is appended.
async fn logs(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let follow = query.get("follow").is_some_and(|v| v == "1" || v == "true");
    if !follow {
        let tail = query.get("tail").and_then(|t| t.parse::<u32>().ok());
        return match state
            .service
            .logs(devflow_protocol::LogsParams { session_id, tail })
            .await
        {
            Ok(result) => (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                result.text,
            )
                .into_response(),
            Err(error) => error_response(&error),
        };
    }
    let path = match state.service.log_path(&session_id).await {
        Ok(path) => path,
        Err(error) => return error_response(&error),
    };
    let stream = futures::stream::unfold(0u64, move |offset| {
        let path = path.clone();
        async move {
            loop {
                let bytes = std::fs::read(&path).unwrap_or_default();
                if (bytes.len() as u64) > offset {
                    let chunk = bytes[offset as usize..].to_vec();
                    return Some((Ok::<_, Infallible>(Bytes::from(chunk)), bytes.len() as u64));
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    });
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    match state.service.session_counts().await {
        Ok(counts) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            state.service.metrics().render(&counts)
                + &state
                    .service
                    .metrics()
                    .render_editors(&state.service.editors().usage()),
        )
            .into_response(),
        Err(error) => error_response(&error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decodes_query_tokens() {
        assert_eq!(percent_decode("ab%2Fc+d"), "ab/c d");
        assert_eq!(percent_decode("abc%"), "abc%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
