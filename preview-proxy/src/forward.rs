//! Forwarding to a dev server: a pooled keep-alive HTTP/1.1 client, hop-by-hop headers
//! dropped, `Accept-Encoding: identity` asked for navigations (so HTML comes back
//! injectable), redirects to the upstream's own origin made relative, and WebSocket
//! upgrades (Vite HMR) relayed byte for byte with their path, query and subprotocol intact.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::body::{empty, full, ProxyBody};
use crate::server::{is_upgrade, plain, respond, RequestInfo, State};
use crate::ProxyError;

pub(crate) struct HttpTarget {
    /// `http://host:port`, no trailing slash.
    origin: String,
    /// `host:port` to open a raw connection to (upgrades).
    connect_to: String,
    client: Client<HttpConnector, Incoming>,
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
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(std::time::Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(std::time::Duration::from_secs(30))
            .build(connector);
        Ok(HttpTarget {
            origin: format!("http://{authority}"),
            connect_to: format!(
                "{}:{}",
                authority.host(),
                authority.port_u16().unwrap_or(80)
            ),
            client,
        })
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
    mut request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<ProxyBody> {
    if is_upgrade(request.headers()) {
        return upgrade(state, target, request).await;
    }
    let info = RequestInfo::of(&request);
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let uri = match format!("{}{path}", target.origin).parse::<Uri>() {
        Ok(uri) => uri,
        Err(_) => {
            return plain(
                StatusCode::BAD_REQUEST,
                "devflow preview: bad request target\n",
            )
        }
    };
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    strip_hop_by_hop(headers);
    if info.navigation {
        // Uncompressed HTML can be injected as it streams; most dev servers honour this.
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
    }
    if let Some(host) = info
        .host
        .as_deref()
        .and_then(|h| HeaderValue::from_str(h).ok())
    {
        headers.insert("x-forwarded-host", host);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    if let Ok(ip) = HeaderValue::from_str(&peer.ip().to_string()) {
        headers.append("x-forwarded-for", ip);
    }
    match target.client.request(request).await {
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
    error: &hyper_util::client::legacy::Error,
) -> Response<ProxyBody> {
    tracing::debug!(%error, upstream = %target.origin, "upstream request failed");
    let cause = std::error::Error::source(error)
        .map(|s| s.to_string())
        .unwrap_or_else(|| error.to_string());
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
