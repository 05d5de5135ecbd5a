//! The listening side: the accept loop (HTTP/1.1 with upgrades, keep-alive, no Nagle), the
//! Host check against DNS rebinding, the proxy's own `/__devflow/*` routes, and the one
//! place that decides whether a response gets the reload client ([`respond`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

use crate::body::{empty, full, passthrough, BoxError, HtmlRewrite, InjectBody, ProxyBody};
use crate::csp::MetaPolicies;
use crate::decode::{Coding, Decoder};
use crate::inject::Injector;
use crate::reload::{serve_client, Notifier};
use crate::{csp, files, forward, ProxyConfig, ProxyError, ProxyHandle, Upstream, CLIENT_JS};

pub(crate) struct State {
    pub target: Target,
    pub notifier: Notifier,
    pub config: ProxyConfig,
    pub shutdown: watch::Receiver<bool>,
    client_etag: String,
}

pub(crate) enum Target {
    Http(Box<forward::HttpTarget>),
    Static(files::StaticTarget),
}

pub(crate) async fn bind(addr: SocketAddr, config: ProxyConfig) -> Result<ProxyHandle, ProxyError> {
    let target = match &config.upstream {
        Upstream::Http(url) => Target::Http(Box::new(forward::HttpTarget::new(url)?)),
        Upstream::Static(dir) => {
            if !dir.is_dir() {
                return Err(ProxyError::NotAFolder(dir.clone()));
            }
            Target::Static(files::StaticTarget::new(dir))
        }
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ProxyError::Bind { addr, source })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| ProxyError::Bind { addr, source })?;
    let (shutdown_tx, shutdown) = watch::channel(false);
    let notifier = Notifier::new();
    let state = Arc::new(State {
        target,
        notifier: notifier.clone(),
        config,
        shutdown: shutdown.clone(),
        client_etag: format!("\"{:016x}\"", fnv1a(CLIENT_JS.as_bytes())),
    });
    tokio::spawn(accept_loop(listener, state, shutdown));
    Ok(ProxyHandle {
        local_addr,
        notifier,
        shutdown: shutdown_tx,
    })
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = crate::stopped(&mut shutdown) => return,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Out of descriptors and the like: back off instead of spinning.
                tracing::warn!(%error, "preview proxy accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let downstream = Arc::new(forward::Downstream::new(peer));
            let service = service_fn(move |request| {
                let state = state.clone();
                let downstream = downstream.clone();
                async move { Ok::<_, Infallible>(handle(state, request, &downstream).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::select! {
                result = connection => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "preview connection ended with an error");
                    }
                }
                _ = crate::stopped(&mut stop) => {}
            }
        });
    }
}

/// What a request tells about how to answer it.
pub(crate) struct RequestInfo {
    /// A navigation (or a client that accepts HTML): an HTML answer gets the client.
    pub navigation: bool,
    pub head: bool,
    pub host: Option<String>,
}

impl RequestInfo {
    pub fn of<B>(request: &Request<B>) -> Self {
        let headers = request.headers();
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let navigation = match text("sec-fetch-dest") {
            Some(dest) => matches!(dest, "document" | "iframe" | "frame"),
            // No fetch metadata (curl, older clients): anything that accepts HTML.
            None => text("accept").is_none_or(|accept| {
                accept.is_empty() || accept.contains("text/html") || accept.contains("*/*")
            }),
        };
        RequestInfo {
            navigation,
            head: request.method() == Method::HEAD,
            host: request_host(request),
        }
    }
}

fn request_host<B>(request: &Request<B>) -> Option<String> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
    downstream: &forward::Downstream,
) -> Response<ProxyBody> {
    let host = request_host(&request);
    if let Some(host) = &host {
        if !host_allowed(host, &state.config.allowed_hosts) {
            return plain(
                StatusCode::FORBIDDEN,
                format!("devflow preview: the host {host:?} is not allowed (only loopback names and IP addresses are)\n"),
            );
        }
    }
    let path = request.uri().path();
    if path == "/__devflow/client.js" {
        return client_js(&state, &request);
    }
    if path == "/__devflow/ws" {
        return reload_socket(&state, request, host.as_deref());
    }
    if path.starts_with("/__devflow/") {
        return plain(StatusCode::NOT_FOUND, "devflow preview: no such endpoint\n");
    }
    match &state.target {
        Target::Http(target) => forward::forward(&state, target, downstream, request).await,
        Target::Static(target) => files::serve(&state, target, request).await,
    }
}

/// IP literals, `localhost` and `*.localhost`, and the configured names. A DNS-rebinding
/// page reaches the port under its own domain name and is refused here.
pub(crate) fn host_allowed(host: &str, extra: &[String]) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inside, _)) => inside,
            None => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    let lower = name.to_ascii_lowercase();
    name.parse::<std::net::IpAddr>().is_ok()
        || lower == "localhost"
        || lower.ends_with(".localhost")
        || extra.iter().any(|h| h.eq_ignore_ascii_case(name))
}

fn client_js<B>(state: &State, request: &Request<B>) -> Response<ProxyBody> {
    let etag = state.client_etag.as_str();
    let fresh = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let builder = Response::builder()
        .header(header::CONTENT_TYPE, "text/javascript; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::ETAG, etag);
    let response = if fresh {
        builder.status(StatusCode::NOT_MODIFIED).body(empty())
    } else {
        builder
            .header(header::CONTENT_LENGTH, CLIENT_JS.len())
            .body(if request.method() == Method::HEAD {
                empty()
            } else {
                full(Bytes::from_static(CLIENT_JS.as_bytes()))
            })
    };
    response.unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "response build failed\n"))
}

/// The reload client's WebSocket. Cross-origin pages may not open it (their relayed
/// "errors" would land in the proposer's context).
fn reload_socket(
    state: &State,
    mut request: Request<Incoming>,
    host: Option<&str>,
) -> Response<ProxyBody> {
    let headers = request.headers();
    if !is_upgrade(headers) {
        return plain(
            StatusCode::UPGRADE_REQUIRED,
            "devflow preview: WebSocket only\n",
        );
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let same = host.is_some_and(|host| {
            origin
                .to_str()
                .is_ok_and(|o| o.eq_ignore_ascii_case(&format!("http://{host}")))
        });
        if !same {
            return plain(StatusCode::FORBIDDEN, "devflow preview: foreign Origin\n");
        }
    }
    let key = match headers.get(header::SEC_WEBSOCKET_KEY) {
        Some(key)
            if headers
                .get(header::SEC_WEBSOCKET_VERSION)
                .is_some_and(|v| v == "13") =>
        {
            key.clone()
        }
        _ => {
            return plain(
                StatusCode::BAD_REQUEST,
                "devflow preview: not a WebSocket handshake\n",
            )
        }
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let upgrade = hyper::upgrade::on(&mut request);
    serve_client(
        state.notifier.clone(),
        upgrade,
        state.config.on_report.clone(),
        state.shutdown.clone(),
    );
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(empty())
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "response build failed\n"))
}

pub(crate) fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

pub(crate) fn plain(status: StatusCode, text: impl Into<String>) -> Response<ProxyBody> {
    let text = text.into();
    let mut response = Response::new(full(text.clone()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
    response
}

/// The one place a response is finished: HTML answers to navigations get the reload client
/// (decoded first if upstream compressed them anyway, CSP and Content-Length adjusted);
/// everything else goes out as it came, streamed.
pub(crate) fn respond<B>(
    state: &State,
    info: &RequestInfo,
    response: Response<B>,
) -> Response<ProxyBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let status = response.status();
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_html);
    let has_body = !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::PARTIAL_CONTENT
        || status == StatusCode::NOT_MODIFIED);
    if !(info.navigation && html && has_body) {
        return response.map(passthrough);
    }
    let coding = match response
        .headers()
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().map(Coding::parse))
    {
        None => None,
        Some(Ok(Ok(coding))) => coding,
        Some(_) => {
            tracing::debug!("HTML in an encoding the proxy cannot decode: passed through without the reload client");
            return response.map(passthrough);
        }
    };
    let decoder = match coding.map(Decoder::new).transpose() {
        Ok(decoder) => decoder,
        Err(error) => {
            tracing::warn!(%error, "cannot start a decoder: passed through without the reload client");
            return response.map(passthrough);
        }
    };
    let (mut parts, body) = response.into_parts();
    let headers = &mut parts.headers;

    let ws_origin = info
        .host
        .as_deref()
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map(|h| format!("ws://{h}"));
    let mut nonce: Option<String> = None;
    if headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        let policies: Vec<HeaderValue> = headers
            .get_all(header::CONTENT_SECURITY_POLICY)
            .iter()
            .cloned()
            .collect();
        headers.remove(header::CONTENT_SECURITY_POLICY);
        for policy in policies {
            let rewritten = policy.to_str().ok().and_then(|text| {
                let candidate = nonce.clone().unwrap_or_else(csp::new_nonce);
                let rewrite = csp::allow_client(text, &candidate, ws_origin.as_deref())?;
                if rewrite.uses_nonce {
                    nonce = Some(candidate);
                }
                HeaderValue::from_str(&rewrite.value).ok()
            });
            headers.append(header::CONTENT_SECURITY_POLICY, rewritten.unwrap_or(policy));
        }
    }
    let snippet = match &nonce {
        Some(nonce) => Bytes::from(crate::client_tag_with_nonce(nonce)),
        None => Bytes::from_static(crate::CLIENT_TAG.as_bytes()),
    };
    if nonce.is_some() {
        // The nonce is new on every answer: a cached copy would carry a stale one.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.remove(header::ETAG);
        headers.remove(header::LAST_MODIFIED);
    }
    // The length changes by the tag and by whatever `<meta>` policy the head turns out to
    // hold, which is only known once the body streams: the answer goes out chunked.
    headers.remove(header::CONTENT_LENGTH);
    headers.remove("content-md5");
    if decoder.is_some() {
        headers.remove(header::CONTENT_ENCODING);
    }
    if info.head {
        return Response::from_parts(parts, passthrough(body));
    }
    let html = HtmlRewrite {
        meta: MetaPolicies::new(nonce, ws_origin),
        injector: Injector::with_lookahead(snippet, state.config.lookahead),
    };
    Response::from_parts(
        parts,
        http_body_util::BodyExt::boxed_unsync(InjectBody::new(body, decoder, html)),
    )
}

fn is_html(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("text/html")
}

/// A fixed, dependency-free hash for the client's ETag.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_ip_literals_are_allowed_other_names_are_not() {
        for host in [
            "127.0.0.1:3000",
            "localhost:3000",
            "LOCALHOST",
            "[::1]:3000",
            "app.localhost:1",
            "192.168.1.5:80",
        ] {
            assert!(host_allowed(host, &[]), "{host}");
        }
        for host in [
            "evil.example:3000",
            "127.0.0.1.evil.example",
            "[::1",
            "localhost.evil.example",
        ] {
            assert!(!host_allowed(host, &[]), "{host}");
        }
        assert!(host_allowed(
            "preview.internal:8080",
            &["preview.internal".into()]
        ));
    }

    #[test]
    fn html_is_recognised_by_its_essence() {
        assert!(is_html("text/html"));
        assert!(is_html("Text/HTML; charset=utf-8"));
        assert!(!is_html("text/htmlx"));
        assert!(!is_html("application/xhtml+xml"));
    }
}
