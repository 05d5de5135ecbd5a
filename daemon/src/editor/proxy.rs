//! The editor on the daemon's own port: `/editor/{sessionId}/…` is relayed to that
//! session's code-server with the prefix taken off (code-server builds every URL relative
//! to the page, so it runs under any prefix). HTTP is streamed both ways; WebSockets are
//! relayed byte for byte after both sides answered 101.
//!
//! Who gets through: a request whose Host is this daemon's and whose Origin, when sent, is
//! this daemon's; then either a valid link grant (`?grant=`, from `editorUrl`), which is
//! exchanged for an HttpOnly SameSite=Strict cookie scoped to the session's prefix, or that
//! cookie. Anything else is a 401 with the seed-004 error object. The Host header is passed
//! on unchanged: code-server compares it with the Origin of its WebSockets.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use devflow_protocol::ErrorCode;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tracing::Instrument;

use super::grant::GrantKind;
use super::{Instance, COOKIE_LIFETIME};
use crate::error::ServiceError;
use crate::transport::http::{error_response, AppState};

/// The pooled client that talks to the code-servers.
pub type HttpClient = Client<HttpConnector, Body>;

/// The cookie a link grant is exchanged for.
pub const COOKIE: &str = "devflow_editor";

/// How long a request waits for its code-server to start (a cold start is seconds; the
/// first start of a session also installs the extension).
const START_WAIT: Duration = Duration::from_secs(90);

pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

/// The path a session's editor lives under, with its trailing slash.
pub fn prefix(session_id: &str) -> String {
    format!("/editor/{session_id}/")
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/editor/{sessionId}", any(add_slash))
        .route("/editor/{sessionId}/", any(forward))
        .route("/editor/{sessionId}/{*rest}", any(forward))
}

/// `/editor/{id}` → `/editor/{id}/`: code-server's relative URLs need the slash.
async fn add_slash(request: Request) -> Response {
    let uri = request.uri();
    let target = match uri.query() {
        Some(query) => format!("{}/?{query}", uri.path()),
        None => format!("{}/", uri.path()),
    };
    match HeaderValue::from_str(&target) {
        Ok(location) => (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

async fn forward(State(state): State<AppState>, request: Request) -> Response {
    let session_id = split_path(request.uri().path())
        .map(|(session_id, _)| session_id.to_string())
        .unwrap_or_default();
    let span = tracing::info_span!("editor", session_id = %session_id);
    // Not counted in `devflow_requests_total`: the editor's assets are not API calls.
    admit_and_forward(&state, request).instrument(span).await
}

async fn admit_and_forward(state: &AppState, request: Request) -> Response {
    let Some((session_id, rest)) = split_path(request.uri().path()) else {
        return error_response(&ServiceError::new(ErrorCode::NotFound, "no such editor"));
    };
    let (session_id, rest) = (session_id.to_string(), rest.to_string());
    if let Some(refused) = refuse_foreign(state, request.headers()) {
        return refused;
    }
    if uuid::Uuid::parse_str(&session_id).is_err() {
        return error_response(&ServiceError::not_found(
            "sessionId",
            &session_id,
            "session",
        ));
    }
    let editors = state.service.editors();
    let now = crate::now_millis() / 1000;
    let query = request.uri().query().unwrap_or("").to_string();
    if let Some(grant) = query_value(&query, "grant") {
        if let Err(refused) = editors.verify(GrantKind::Link, &session_id, &grant, now) {
            return unauthorized(refused.to_string());
        }
        // A link to a stopped or deleted session opens nothing, not even a cookie.
        if let Err(error) = state.service.editor_open(&session_id).await {
            return error_response(&error);
        }
        return exchange(state, &session_id, &rest, &query, now);
    }
    let admitted = cookie_values(request.headers()).any(|value| {
        editors
            .verify(GrantKind::Cookie, &session_id, &value, now)
            .is_ok()
    });
    if !admitted {
        return unauthorized(format!(
            "no valid editor cookie for this session: open the editor through a fresh editorUrl (GET /sessions/{session_id}/editor)"
        ));
    }
    let (instance, port) = match running_editor(state, &session_id).await {
        Ok(found) => found,
        Err(error) => return error_response(&error),
    };
    instance.used();
    if instance.should_renew_session() {
        state.service.editor_in_use(&session_id).await;
    }
    let upstream_path = match query.is_empty() {
        true => rest,
        false => format!("{rest}?{query}"),
    };
    if is_upgrade(request.headers()) {
        websocket(state, instance, port, &session_id, &upstream_path, request).await
    } else {
        http(state, port, &session_id, &upstream_path, request).await
    }
}

/// The session's code-server once it answers; one more try when it stopped (idle) while
/// this request was on its way.
async fn running_editor(
    state: &AppState,
    session_id: &str,
) -> Result<(std::sync::Arc<Instance>, u16), ServiceError> {
    let mut last = None;
    for _ in 0..2 {
        let instance = state.service.editor_instance(session_id).await?;
        match instance.ready(START_WAIT).await {
            Ok(port) => return Ok((instance, port)),
            Err(error) => {
                let over = instance.is_over();
                last = Some(error);
                if !over {
                    break;
                }
            }
        }
    }
    Err(ServiceError::internal(
        last.map(|e| e.to_string())
            .unwrap_or_else(|| "the editor did not start".into()),
    ))
}

/// `/editor/{id}/rest…` → (`id`, `/rest…`).
fn split_path(path: &str) -> Option<(&str, &str)> {
    let after = path.strip_prefix("/editor/")?;
    let slash = after.find('/')?;
    let (session_id, rest) = after.split_at(slash);
    (!session_id.is_empty()).then_some((session_id, rest))
}

/// A Host that is not this daemon's (DNS rebinding) or an Origin of another site → 403.
fn refuse_foreign(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !state.origins.host_allowed(host) {
        return Some(error_response(&ServiceError::new(
            ErrorCode::Forbidden,
            format!("Host {host:?} is not this daemon's; open the editorUrl as the daemon gave it"),
        )));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !state.origins.origin_allowed(origin) {
            return Some(error_response(&ServiceError::new(
                ErrorCode::Forbidden,
                format!("Origin {origin:?} may not use this editor"),
            )));
        }
    }
    None
}

fn unauthorized(message: String) -> Response {
    error_response(&ServiceError::new(ErrorCode::Unauthorized, message))
}

/// A valid link: set the cookie and send the browser on to the same address without the
/// grant. A small page instead of a redirect: its follow-up navigation starts on this
/// origin, so the SameSite=Strict cookie goes along even when the link was opened from
/// another site; and the grant does not stay in the address bar or history.
fn exchange(state: &AppState, session_id: &str, rest: &str, query: &str, now: i64) -> Response {
    let grant = match state.service.editors().cookie_grant(session_id, now) {
        Ok(grant) => grant,
        Err(error) => return error_response(&ServiceError::internal(error.to_string())),
    };
    let remaining = without_param(query, "grant");
    let target = match remaining.is_empty() {
        true => format!("/editor/{session_id}{rest}"),
        false => format!("/editor/{session_id}{rest}?{remaining}"),
    };
    let target = html_escape(&target);
    let cookie = format!(
        "{COOKIE}={grant}; Path={}; Max-Age={}; HttpOnly; SameSite=Strict",
        prefix(session_id),
        COOKIE_LIFETIME.as_secs()
    );
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url={target}\"><title>devflow editor</title></head>\
         <body><p>Opening the editor… <a href=\"{target}\">continue</a></p></body></html>\n"
    );
    let mut response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
            (header::REFERRER_POLICY, "no-referrer".to_string()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'".to_string(),
            ),
        ],
        page,
    )
        .into_response();
    match HeaderValue::from_str(&cookie) {
        Ok(value) => {
            response.headers_mut().insert(header::SET_COOKIE, value);
            response
        }
        Err(_) => error_response(&ServiceError::internal("cannot build the editor cookie")),
    }
}

async fn http(
    state: &AppState,
    port: u16,
    session_id: &str,
    upstream_path: &str,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    parts.uri = match format!("http://127.0.0.1:{port}{upstream_path}").parse::<Uri>() {
        Ok(uri) => uri,
        Err(_) => {
            return error_response(&ServiceError::invalid(
                "path",
                upstream_path,
                "not a valid path",
            ))
        }
    };
    parts.version = Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    strip_own_cookie(&mut parts.headers);
    let upstream = match state
        .service
        .editors()
        .http()
        .request(Request::from_parts(parts, body))
        .await
    {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!(session_id, %error, "the editor did not answer");
            return error_response(&ServiceError::internal(format!(
                "the editor did not answer: {error}"
            )));
        }
    };
    let (mut parts, body) = upstream.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    prefix_location(&mut parts.headers, session_id);
    Response::from_parts(parts, Body::new(body))
}

/// Relays a WebSocket: the upgrade goes to code-server on a connection of its own; after
/// its 101 the browser gets the same 101 and the bytes flow both ways until either side
/// closes. While it is open the instance counts a connected browser, and the session's TTL
/// is renewed once a minute.
async fn websocket(
    state: &AppState,
    instance: std::sync::Arc<Instance>,
    port: u16,
    session_id: &str,
    upstream_path: &str,
    mut request: Request,
) -> Response {
    let on_client_upgrade = hyper::upgrade::on(&mut request);
    let failed = |what: String| {
        tracing::warn!(session_id, "editor WebSocket: {what}");
        error_response(&ServiceError::internal(format!(
            "the editor did not answer: {what}"
        )))
    };
    let stream = match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
        Ok(stream) => stream,
        Err(error) => return failed(error.to_string()),
    };
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(error) => return failed(error.to_string()),
        };
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let (mut parts, _) = request.into_parts();
    parts.uri = match upstream_path.parse::<Uri>() {
        Ok(uri) => uri,
        Err(_) => {
            return error_response(&ServiceError::invalid(
                "path",
                upstream_path,
                "not a valid path",
            ))
        }
    };
    parts.version = Version::HTTP_11;
    strip_own_cookie(&mut parts.headers);
    let mut upstream = match sender
        .send_request(Request::from_parts(parts, Body::empty()))
        .await
    {
        Ok(response) => response,
        Err(error) => return failed(error.to_string()),
    };
    if upstream.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (parts, body) = upstream.into_parts();
        return Response::from_parts(parts, Body::new(body));
    }
    let on_upstream_upgrade = hyper::upgrade::on(&mut upstream);
    let browser = instance.browser_connected();
    let service = state.service.clone();
    let session = session_id.to_string();
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(on_client_upgrade, on_upstream_upgrade) {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!(session_id = %session, %error, "editor WebSocket upgrade failed");
                return;
            }
        };
        let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
        let relay = tokio::io::copy_bidirectional(&mut client, &mut upstream);
        tokio::pin!(relay);
        let mut renew = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = &mut relay => break,
                _ = renew.tick() => {
                    if instance.should_renew_session() {
                        service.editor_in_use(&session).await;
                    }
                }
            }
        }
        drop(browser);
    });
    let (parts, _) = upstream.into_parts();
    Response::from_parts(parts, Body::empty())
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The daemon's cookie is for the daemon; code-server gets the others.
fn strip_own_cookie(headers: &mut HeaderMap) {
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| {
            !pair.is_empty() && pair.split_once('=').map_or(*pair, |(n, _)| n).trim() != COOKIE
        })
        .map(str::to_string)
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&kept.join("; ")) {
            headers.insert(header::COOKIE, value);
        }
    }
}

/// Every value of the daemon's cookie the request carries.
fn cookie_values(headers: &HeaderMap) -> impl Iterator<Item = String> + '_ {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| name.trim() == COOKIE)
        .map(|(_, value)| value.trim().to_string())
}

/// A redirect code-server makes to an absolute path goes under the session's prefix.
fn prefix_location(headers: &mut HeaderMap, session_id: &str) {
    let Some(location) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok()) else {
        return;
    };
    if location.starts_with('/') && !location.starts_with("//") {
        let prefixed = format!("/editor/{session_id}{location}");
        if let Ok(value) = HeaderValue::from_str(&prefixed) {
            headers.insert(header::LOCATION, value);
        }
    }
}

/// The first value of `name` in a query string, percent-decoded.
fn query_value(query: &str, name: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| percent_decode(value))
}

/// The query string without any `name=` pair, the others untouched.
fn without_param(query: &str, name: &str) -> String {
    query
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split_once('=').map_or(*pair, |(k, _)| k) != name)
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_taken_off_at_the_session_id() {
        assert_eq!(split_path("/editor/abc/"), Some(("abc", "/")));
        assert_eq!(
            split_path("/editor/abc/stable-1/static/x.js"),
            Some(("abc", "/stable-1/static/x.js"))
        );
        assert_eq!(split_path("/editor/abc"), None);
        assert_eq!(split_path("/editor//x"), None);
        assert_eq!(split_path("/sessions/abc/"), None);
    }

    #[test]
    fn the_grant_leaves_the_query_and_the_rest_stays() {
        assert_eq!(
            query_value("grant=1.a%2Db&folder=x", "grant").as_deref(),
            Some("1.a-b")
        );
        assert_eq!(query_value("folder=x", "grant"), None);
        assert_eq!(
            without_param("grant=1.ab&folder=%2Fw", "grant"),
            "folder=%2Fw"
        );
        assert_eq!(without_param("grant=1.ab", "grant"), "");
        assert_eq!(
            without_param("folder=a&grant=1&grantee=2", "grant"),
            "folder=a&grantee=2"
        );
    }

    #[test]
    fn code_server_sees_every_cookie_but_the_daemons() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; devflow_editor=secret; b=2"),
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("devflow_editor=other"),
        );
        assert_eq!(
            cookie_values(&headers).collect::<Vec<_>>(),
            ["secret", "other"]
        );
        strip_own_cookie(&mut headers);
        assert_eq!(headers.get(header::COOKIE).unwrap(), "a=1; b=2");
        let mut only_ours = HeaderMap::new();
        only_ours.insert(header::COOKIE, HeaderValue::from_static("devflow_editor=x"));
        strip_own_cookie(&mut only_ours);
        assert!(only_ours.get(header::COOKIE).is_none());
    }

    #[test]
    fn absolute_redirects_stay_under_the_prefix() {
        let mut headers = HeaderMap::new();
        headers.insert(header::LOCATION, HeaderValue::from_static("/login?to=%2F"));
        prefix_location(&mut headers, "s1");
        assert_eq!(
            headers.get(header::LOCATION).unwrap(),
            "/editor/s1/login?to=%2F"
        );
        for kept in ["./?folder=/w", "//evil.example/", "http://127.0.0.1:9/"] {
            let mut headers = HeaderMap::new();
            headers.insert(header::LOCATION, HeaderValue::from_str(kept).unwrap());
            prefix_location(&mut headers, "s1");
            assert_eq!(headers.get(header::LOCATION).unwrap(), kept);
        }
    }

    #[test]
    fn only_connection_upgrade_with_an_upgrade_header_is_a_websocket() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert!(is_upgrade(&headers));
        headers.remove(header::UPGRADE);
        assert!(!is_upgrade(&headers));
    }

    #[test]
    fn the_exchange_page_escapes_its_target() {
        assert_eq!(html_escape("/e/a?x=\"<b>&"), "/e/a?x=&quot;&lt;b&gt;&amp;");
    }
}
