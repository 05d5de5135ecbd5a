//! Forwarding to a dev server: each browser connection gets its own keep-alive HTTP/1.1
//! connection to the upstream ([`Downstream`]), opened on its first request and reused for
//! the next ones (HTTP/1.1 answers one request at a time per connection, so the two pair up
//! without a shared pool, its lock, or a task per request to return a connection to it);
//! hop-by-hop headers dropped, `Accept-Encoding: identity` asked for navigations (so HTML
//! comes back injectable), redirects to the upstream's own origin made relative, and
//! WebSocket upgrades (Vite HMR) relayed byte for byte with their path, query and
//! subprotocol intact.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use crate::body::{empty, full, ProxyBody};
use crate::server::{is_upgrade, plain, respond, RequestInfo, State};
use crate::ProxyError;

/// How long opening a connection to the upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct HttpTarget {
    /// `http://host:port`, no trailing slash.
    origin: String,
    /// `host:port` to open connections to.
    connect_to: String,
    /// The upstream's `host:port`, for a request that came without a `Host`.
    host: HeaderValue,
}

impl HttpTarget {
    pub fn new(url: &str) -> Result<Self, ProxyError> {
        let bad = || ProxyError::BadUpstream(url.to_string());
        let uri: Uri = url.parse().map_err(|_| bad())?;
        if uri.scheme_str() != Some("http") {
            return Err(bad());
        }
        let authority = uri.authority().cloned().ok_or_else(bad)?;
        if authority.as_str().contains('@') {
            return Err(bad());
        }
        Ok(HttpTarget {
            origin: format!("http://{authority}"),
            connect_to: format!(
                "{}:{}",
                authority.host(),
                authority.port_u16().unwrap_or(80)
            ),
            host: HeaderValue::from_str(authority.as_str()).map_err(|_| bad())?,
        })
    }
}

/// What one browser connection keeps between its requests.
pub(crate) struct Downstream {
    /// `X-Forwarded-For` for its requests.
    peer: Option<HeaderValue>,
    /// Its connection to the upstream, between requests.
    upstream: Mutex<Option<SendRequest<Incoming>>>,
}

impl Downstream {
    pub fn new(peer: SocketAddr) -> Self {
        Downstream {
            peer: HeaderValue::from_str(&peer.ip().to_string()).ok(),
            upstream: Mutex::new(None),
        }
    }

    fn take(&self) -> Option<SendRequest<Incoming>> {
        self.upstream
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .filter(|sender| !sender.is_closed())
    }

    fn keep(&self, sender: SendRequest<Incoming>) {
        *self.upstream.lock().unwrap_or_else(|p| p.into_inner()) = Some(sender);
    }
}

/// Why a request did not reach the upstream or got no answer.
enum UpstreamError {
    Connect(std::io::Error),
    Http(hyper::Error),
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::Connect(error) => write!(f, "{error}"),
            UpstreamError::Http(error) => match std::error::Error::source(error) {
                Some(source) => write!(f, "{error}: {source}"),
                None => write!(f, "{error}"),
            },
        }
    }
}

/// A new keep-alive connection to the upstream.
async fn connect(target: &HttpTarget) -> Result<SendRequest<Incoming>, UpstreamError> {
    let stream = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect(target.connect_to.as_str()),
    )
    .await
    .map_err(|_| {
        UpstreamError::Connect(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connection timed out",
        ))
    })?
    .map_err(UpstreamError::Connect)?;
    // Small writes (heads, first chunks) go out at once.
    let _ = stream.set_nodelay(true);
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(UpstreamError::Http)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

/// Sends `request` on the browser connection's upstream connection, opening one when it has
/// none or the upstream closed it. A request that never left (the upstream had closed an
/// idle connection just then) is sent once more on a new connection.
async fn send(
    target: &HttpTarget,
    downstream: &Downstream,
    mut request: Request<Incoming>,
) -> Result<Response<Incoming>, UpstreamError> {
    let (mut sender, mut fresh) = match downstream.take() {
        Some(sender) => (sender, false),
        None => (connect(target).await?, true),
    };
    loop {
        if let Err(error) = sender.ready().await {
            if fresh {
                return Err(UpstreamError::Http(error));
            }
            sender = connect(target).await?;
            fresh = true;
            continue;
        }
        match sender.try_send_request(request).await {
            Ok(response) => {
                downstream.keep(sender);
                return Ok(response);
            }
            Err(mut error) => match error.take_message() {
                Some(unsent) if !fresh => {
                    request = unsent;
                    sender = connect(target).await?;
                    fresh = true;
                }
                _ => return Err(UpstreamError::Http(error.into_error())),
            },
        }
    }
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

pub(crate) async fn forward(
    state: &State,
    target: &HttpTarget,
    downstream: &Downstream,
    mut request: Request<Incoming>,
) -> Response<ProxyBody> {
    if is_upgrade(request.headers()) {
        return upgrade(state, target, request).await;
    }
    let info = RequestInfo::of(&request);
    // Origin-form, as HTTP/1.1 sends it to a server.
    let path = request
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    *request.uri_mut() = Uri::from(path);
    let headers = request.headers_mut();
    strip_hop_by_hop(headers);
    if info.navigation {
        // Uncompressed HTML can be injected as it streams; most dev servers honour this.
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
    }
    match headers.get(header::HOST).cloned() {
        Some(host) => {
            headers.insert("x-forwarded-host", host);
        }
        None => {
            headers.insert(header::HOST, target.host.clone());
        }
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Some(peer) = &downstream.peer {
        headers.append("x-forwarded-for", peer.clone());
    }
    match send(target, downstream, request).await {
        Ok(mut response) => {
            strip_hop_by_hop(response.headers_mut());
            relative_location(response.headers_mut(), &target.origin);
            respond(state, &info, response)
        }
        Err(error) => bad_gateway(state, &info, target, &error),
    }
}

/// `Location: http://127.0.0.1:5173/x` from the upstream → `/x`, so the browser stays on
/// the proxy.
fn relative_location(headers: &mut HeaderMap, origin: &str) {
    let Some(location) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok()) else {
        return;
    };
    if location.len() >= origin.len() && location[..origin.len()].eq_ignore_ascii_case(origin) {
        let rest = &location[origin.len()..];
        let relative = if rest.is_empty() {
            "/".to_string()
        } else if rest.starts_with('/') {
            rest.to_string()
        } else {
            return;
        };
        if let Ok(value) = HeaderValue::from_str(&relative) {
            headers.insert(header::LOCATION, value);
        }
    }
}

/// The upstream does not answer: a page that says so, carries the reload client and
/// retries by itself, so it turns into the site as soon as the dev server is back.
fn bad_gateway(
    state: &State,
    info: &RequestInfo,
    target: &HttpTarget,
    error: &UpstreamError,
) -> Response<ProxyBody> {
    tracing::debug!(%error, upstream = %target.origin, "upstream request failed");
    let cause = error.to_string();
    if !info.navigation {
        return plain(
            StatusCode::BAD_GATEWAY,
            format!(
                "devflow preview: {} is not answering ({cause})\n",
                target.origin
            ),
        );
    }
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"2\">\
         <title>Waiting for the dev server</title></head><body><p>devflow: the dev server at {} is not answering ({}). \
         This page reloads when it is back.</p></body></html>",
        html_escape(&target.origin),
        html_escape(&cause)
    );
    let mut response = Response::new(full(page.clone()));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(page.len()));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    respond(state, info, response)
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Relays a WebSocket (or any) upgrade: the request goes to the upstream as it came (path,
/// query, `Sec-WebSocket-*`, `Origin`, cookies), the upstream's answer comes back as it
/// is, and after a 101 the two connections are spliced.
async fn upgrade(
    state: &State,
    target: &HttpTarget,
    mut request: Request<Incoming>,
) -> Response<ProxyBody> {
    let client_side = hyper::upgrade::on(&mut request);
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let stream = match tokio::net::TcpStream::connect(target.connect_to.as_str()).await {
        Ok(stream) => stream,
        Err(error) => {
            return plain(
                StatusCode::BAD_GATEWAY,
                format!(
                    "devflow preview: {} is not answering ({error})\n",
                    target.origin
                ),
            )
        }
    };
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = match hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(
        TokioIo::new(stream),
    )
    .await
    {
        Ok(pair) => pair,
        Err(error) => {
            return plain(
                StatusCode::BAD_GATEWAY,
                format!("devflow preview: upstream handshake failed ({error})\n"),
            )
        }
    };
    tokio::spawn(async move {
        if let Err(error) = connection.with_upgrades().await {
            tracing::debug!(%error, "upstream upgrade connection ended with an error");
        }
    });
    let mut upstream_request = Request::new(Empty::<Bytes>::new());
    *upstream_request.method_mut() = request.method().clone();
    *upstream_request.uri_mut() = match path.parse() {
        Ok(uri) => uri,
        Err(_) => {
            return plain(
                StatusCode::BAD_REQUEST,
                "devflow preview: bad request target\n",
            )
        }
    };
    *upstream_request.headers_mut() = request.headers().clone();
    let mut response = match sender.send_request(upstream_request).await {
        Ok(response) => response,
        Err(error) => {
            return plain(
                StatusCode::BAD_GATEWAY,
                format!("devflow preview: upstream upgrade failed ({error})\n"),
            )
        }
    };
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return response.map(crate::body::passthrough);
    }
    let upstream_side = hyper::upgrade::on(&mut response);
    let mut shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client_side, upstream_side) {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!(%error, "upgrade relay could not start");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        tokio::select! {
            result = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
                if let Err(error) = result {
                    tracing::debug!(%error, "upgrade relay ended with an error");
                }
            }
            _ = crate::stopped(&mut shutdown) => {}
        }
    });
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_to_the_upstream_origin_become_relative() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LOCATION,
            HeaderValue::from_static("http://127.0.0.1:5173/docs/?a=1"),
        );
        relative_location(&mut headers, "http://127.0.0.1:5173");
        assert_eq!(headers[header::LOCATION], "/docs/?a=1");

        headers.insert(
            header::LOCATION,
            HeaderValue::from_static("http://127.0.0.1:51730/x"),
        );
        relative_location(&mut headers, "http://127.0.0.1:5173");
        assert_eq!(
            headers[header::LOCATION],
            "http://127.0.0.1:51730/x",
            "another port is another origin"
        );

        headers.insert(
            header::LOCATION,
            HeaderValue::from_static("https://example.com/"),
        );
        relative_location(&mut headers, "http://127.0.0.1:5173");
        assert_eq!(headers[header::LOCATION], "https://example.com/");
    }

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key(header::CONTENT_TYPE));
    }
}
