//! The proxy against scripted upstreams on loopback: what it injects (and where, across
//! chunk boundaries and through gzip), what it leaves byte-for-byte alone, that it streams,
//! that WebSockets pass through with their subprotocol and query, and the reload socket.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use devflow_preview_proxy::{ClientReport, Proxy, ProxyConfig, ProxyHandle, Upstream, CLIENT_TAG};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// One step of a scripted answer: wait, then write these bytes.
struct Step(u64, Vec<u8>);

fn at(ms: u64, bytes: impl Into<Vec<u8>>) -> Step {
    Step(ms, bytes.into())
}

/// An upstream that answers every request with the steps `answer` returns for its head,
/// and remembers the request heads it saw.
struct Scripted {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Scripted {
    async fn start(answer: impl Fn(&str) -> Vec<Step> + Send + Sync + 'static) -> Scripted {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(answer);
        let seen = heads.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let answer = answer.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match stream.read(&mut byte).await {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&head).to_string();
                    seen.lock().unwrap().push(head.clone());
                    for Step(delay, bytes) in answer(&head) {
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                        if stream.write_all(&bytes).await.is_err() {
                            return;
                        }
                        let _ = stream.flush().await;
                    }
                    let _ = stream.shutdown().await;
                });
            }
        });
        Scripted { addr, heads }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn last_head(&self) -> String {
        self.heads
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }
}

fn chunk(bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
    out
}

fn head(status: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut text = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.into_bytes()
}

async fn proxy(upstream: &Scripted) -> ProxyHandle {
    Proxy::bind(
        "127.0.0.1:0".parse().unwrap(),
        Upstream::Http(upstream.url()),
    )
    .await
    .unwrap()
}

fn browser() -> reqwest::Client {
    reqwest::Client::new()
}

async fn navigate(handle: &ProxyHandle, path: &str) -> reqwest::Response {
    browser()
        .get(format!("http://{}{path}", handle.local_addr()))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .header("accept-encoding", "gzip, deflate, br")
        .header("sec-fetch-dest", "document")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn injects_after_head_split_across_upstream_chunks() {
    let upstream = Scripted::start(|_| {
        vec![
            at(
                0,
                head(
                    "200 OK",
                    &[
                        ("content-type", "text/html; charset=utf-8"),
                        ("transfer-encoding", "chunked"),
                    ],
                ),
            ),
            at(0, chunk(b"<!doctype html><html lang=\"ja\"><he")),
            at(
                30,
                chunk(b"ad><title>\xe8\xa6\x8b</title></head><body>x</body></html>"),
            ),
            at(0, b"0\r\n\r\n".to_vec()),
        ]
    })
    .await;
    let handle = proxy(&upstream).await;
    let response = navigate(&handle, "/").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert_eq!(
        text,
        format!("<!doctype html><html lang=\"ja\"><head>{CLIENT_TAG}<title>見</title></head><body>x</body></html>")
    );
    let seen = upstream.last_head().to_ascii_lowercase();
    assert!(
        seen.contains("accept-encoding: identity"),
        "navigations ask for identity: {seen}"
    );
    assert!(seen.starts_with("get / http/1.1"), "{seen}");
}

#[tokio::test]
async fn injected_html_carries_no_stale_content_length() {
    let page = "<html><head></head><body>日本語</body></html>";
    let upstream = Scripted::start(move |_| {
        let mut bytes = head(
            "200 OK",
            &[
                ("content-type", "text/html"),
                ("content-length", &page.len().to_string()),
            ],
        );
        bytes.extend_from_slice(page.as_bytes());
        vec![at(0, bytes)]
    })
    .await;
    let handle = proxy(&upstream).await;
    let response = navigate(&handle, "/").await;
    // How much the head's policies will change the length is known only as it streams.
    assert!(
        response.headers().get("content-length").is_none(),
        "{:?}",
        response.headers()
    );
    let body = response.bytes().await.unwrap();
    assert_eq!(
        body,
        page.replacen("<head>", &format!("<head>{CLIENT_TAG}"), 1)
            .into_bytes()
    );
}

#[tokio::test]
async fn a_meta_policy_lets_the_client_in_with_a_nonce() {
    let page = "<!doctype html><meta charset=utf-8><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'self'\"><title>strict</title><p>x</p></body>";
    let upstream = Scripted::start(move |_| {
        let mut bytes = head("200 OK", &[("content-type", "text/html")]);
        bytes.extend_from_slice(page.as_bytes());
        vec![at(0, bytes)]
    })
    .await;
    let handle = proxy(&upstream).await;
    let text = navigate(&handle, "/").await.text().await.unwrap();
    let start = text.find("'nonce-").expect("the policy got a nonce") + "'nonce-".len();
    let nonce = &text[start..start + text[start..].find('\'').unwrap()];
    assert!(
        text.contains(&format!(
            "script-src 'nonce-{nonce}'; connect-src 'self' ws://{}\"",
            handle.local_addr()
        )),
        "{text}"
    );
    // No <head> tag: the client goes before </body>, after the policy, so it carries the
    // nonce.
    assert!(
        text.ends_with(&format!(
            "<p>x</p><script src=\"/__devflow/client.js\" nonce=\"{nonce}\"></script></body>"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn forced_gzip_html_is_decoded_and_injected() {
    let page = "<!DOCTYPE html><html><head><title>gz</title></head><body>compressed</body></html>";
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(page.as_bytes()).unwrap();
    let gz = encoder.finish().unwrap();
    let upstream = Scripted::start(move |_| {
        let mut bytes = head(
            "200 OK",
            &[
                ("content-type", "text/html"),
                ("content-encoding", "gzip"),
                ("content-length", &gz.len().to_string()),
            ],
        );
        bytes.extend_from_slice(&gz[..10]);
        vec![at(0, bytes), at(20, gz[10..].to_vec())]
    })
    .await;
    let handle = proxy(&upstream).await;
    let response = navigate(&handle, "/gz.html").await;
    assert!(
        response.headers().get("content-encoding").is_none(),
        "sent decoded"
    );
    assert!(
        response.headers().get("content-length").is_none(),
        "length unknown: chunked"
    );
    assert_eq!(
        response.text().await.unwrap(),
        page.replace("<head>", &format!("<head>{CLIENT_TAG}"))
    );
}

#[tokio::test]
async fn non_html_and_non_navigations_pass_through_byte_for_byte() {
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let payload = binary.clone();
    let upstream = Scripted::start(move |request| {
        let (kind, encoding) = if request.starts_with("GET /fragment") {
            ("text/html", "identity")
        } else {
            ("application/octet-stream", "gzip")
        };
        let mut bytes = head(
            "200 OK",
            &[
                ("content-type", kind),
                ("content-encoding", encoding),
                ("content-length", &payload.len().to_string()),
                ("etag", "\"abc\""),
            ],
        );
        bytes.extend_from_slice(&payload[..1000]);
        vec![at(0, bytes), at(5, payload[1000..].to_vec())]
    })
    .await;
    let handle = proxy(&upstream).await;
    let response = navigate(&handle, "/blob.bin").await;
    assert_eq!(
        response.headers()["content-encoding"],
        "gzip",
        "kept as upstream sent it"
    );
    assert_eq!(
        response.headers()["content-length"],
        binary.len().to_string().as_str()
    );
    assert_eq!(response.headers()["etag"], "\"abc\"");
    assert_eq!(response.bytes().await.unwrap().to_vec(), binary);
    // An HTML fragment fetched by the page's own script (not a navigation) is not touched.
    let response = browser()
        .get(format!("http://{}/fragment", handle.local_addr()))
        .header("accept", "*/*")
        .header("sec-fetch-dest", "empty")
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(response.bytes().await.unwrap().to_vec(), binary);
    assert!(
        upstream
            .last_head()
            .to_ascii_lowercase()
            .contains("accept-encoding: gzip, br"),
        "only navigations ask for identity"
    );
}

#[tokio::test]
async fn the_first_byte_is_forwarded_before_upstream_finishes() {
    let upstream = Scripted::start(|request| {
        let kind = if request.starts_with("GET /slow.html") {
            "text/html"
        } else {
            "text/plain"
        };
        vec![
            at(
                0,
                head(
                    "200 OK",
                    &[("content-type", kind), ("transfer-encoding", "chunked")],
                ),
            ),
            at(
                0,
                chunk(b"<!doctype html><html><head><title>slow</title></head><body>"),
            ),
            at(1500, chunk(b"<p>late</p></body></html>")),
            at(0, b"0\r\n\r\n".to_vec()),
        ]
    })
    .await;
    let handle = proxy(&upstream).await;
    for path in ["/slow.html", "/slow.txt"] {
        let started = Instant::now();
        let mut response = navigate(&handle, path).await;
        let first = response.chunk().await.unwrap().expect("a first chunk");
        let ttfb = started.elapsed();
        assert!(
            ttfb < Duration::from_millis(700),
            "{path}: first byte after {ttfb:?}"
        );
        assert!(!first.is_empty());
        let mut rest = Vec::new();
        while let Some(more) = response.chunk().await.unwrap() {
            rest.extend_from_slice(&more);
        }
        assert!(
            started.elapsed() >= Duration::from_millis(1400),
            "{path}: the rest came later"
        );
        let whole = [first.to_vec(), rest].concat();
        let text = String::from_utf8(whole).unwrap();
        assert!(text.ends_with("<p>late</p></body></html>"));
        assert_eq!(text.contains(CLIENT_TAG), path == "/slow.html");
    }
}

#[tokio::test]
async fn csp_with_nonces_gets_a_nonce_for_the_client() {
    let upstream = Scripted::start(|_| {
        let mut bytes = head(
            "200 OK",
            &[
                ("content-type", "text/html"),
                (
                    "content-security-policy",
                    "script-src 'nonce-page' 'strict-dynamic'; connect-src 'self'",
                ),
                ("etag", "\"v1\""),
            ],
        );
        bytes.extend_from_slice(b"<html><head></head><body></body></html>");
        vec![at(0, bytes)]
    })
    .await;
    let handle = proxy(&upstream).await;
    let response = navigate(&handle, "/").await;
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        response.headers().get("etag").is_none(),
        "a per-answer nonce is not cacheable"
    );
    let text = response.text().await.unwrap();
    let nonce = policy
        .split_whitespace()
        .find_map(|s| s.strip_prefix("'nonce-").filter(|n| !n.starts_with("page")))
        .expect("a nonce of the proxy's own")
        .trim_end_matches(['\'', ';'])
        .to_string();
    assert!(
        text.contains(&format!(
            "<script src=\"/__devflow/client.js\" nonce=\"{nonce}\"></script>"
        )),
        "{text}"
    );
    assert!(
        policy.contains("'nonce-page'"),
        "the page's own nonce stays: {policy}"
    );
    assert!(
        policy.contains(&format!("ws://{}", handle.local_addr())),
        "{policy}"
    );
}

#[tokio::test]
async fn upstream_down_gives_a_502_page_that_waits_for_it() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let handle = Proxy::bind(
        "127.0.0.1:0".parse().unwrap(),
        Upstream::Http(format!("http://127.0.0.1:{port}")),
    )
    .await
    .unwrap();
    let response = navigate(&handle, "/").await;
    assert_eq!(response.status(), 502);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(CLIENT_TAG) && text.contains("http-equiv=\"refresh\""),
        "{text}"
    );
}

/// An upstream WebSocket server that records the request target and subprotocol offered,
/// answers with `vite-hmr` and echoes.
async fn websocket_upstream() -> (SocketAddr, Arc<Mutex<Option<(String, String)>>>) {
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(None));
    let record = seen.clone();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        #[allow(clippy::result_large_err)] // tungstenite's callback signature
        let callback = |request: &Request, mut response: Response| {
            let protocol = request
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            *record.lock().unwrap() = Some((request.uri().to_string(), protocol));
            response
                .headers_mut()
                .insert("sec-websocket-protocol", "vite-hmr".parse().unwrap());
            Ok(response)
        };
        let mut socket = tokio_tungstenite::accept_hdr_async(stream, callback)
            .await
            .unwrap();
        socket
            .send(Message::text("{\"type\":\"connected\"}"))
            .await
            .unwrap();
        while let Some(Ok(message)) = socket.next().await {
            if message.is_text() || message.is_binary() {
                socket.send(message).await.unwrap();
            }
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn websocket_upgrades_pass_through_with_subprotocol_and_query() {
    let (addr, seen) = websocket_upstream().await;
    let handle = Proxy::bind(
        "127.0.0.1:0".parse().unwrap(),
        Upstream::Http(format!("http://{addr}")),
    )
    .await
    .unwrap();
    let mut request = format!("ws://{}/?token=abc123", handle.local_addr())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "vite-hmr".parse().unwrap());
    request.headers_mut().insert(
        "origin",
        format!("http://{}", handle.local_addr()).parse().unwrap(),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "vite-hmr");
    let (target, protocol) = seen.lock().unwrap().clone().unwrap();
    assert_eq!(target, "/?token=abc123");
    assert_eq!(protocol, "vite-hmr");
    let first = socket.next().await.unwrap().unwrap();
    assert_eq!(first.to_text().unwrap(), "{\"type\":\"connected\"}");
    socket.send(Message::text("ping 1")).await.unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap().to_text().unwrap(),
        "ping 1"
    );
    socket
        .send(Message::binary(vec![0u8, 159, 255]))
        .await
        .unwrap();
    assert_eq!(
        socket.next().await.unwrap().unwrap().into_data().to_vec(),
        vec![0u8, 159, 255]
    );
}

async fn next_json(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> serde_json::Value {
    let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a message within 5 s")
        .unwrap()
        .unwrap();
    serde_json::from_str(message.to_text().unwrap()).unwrap()
}

#[tokio::test]
async fn the_reload_socket_announces_changes_and_relays_page_errors() {
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), "<p>hi</p>").unwrap();
    let reports: Arc<Mutex<Vec<ClientReport>>> = Arc::default();
    let sink = reports.clone();
    let config = ProxyConfig::new(Upstream::Static(site.path().to_path_buf()))
        .on_report(move |report| sink.lock().unwrap().push(report));
    let handle = Proxy::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let url = format!("ws://{}/__devflow/ws", handle.local_addr());
    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let hello = next_json(&mut socket).await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["seq"], 0);

    handle.notifier().changed(&["css/style.css".to_string()]);
    let change = next_json(&mut socket).await;
    assert_eq!(change["type"], "change");
    assert_eq!(change["seq"], 1);
    assert_eq!(change["cssOnly"], true);
    assert_eq!(change["files"][0], "css/style.css");
    handle
        .notifier()
        .changed(&["index.html".to_string(), "css/style.css".to_string()]);
    assert_eq!(next_json(&mut socket).await["cssOnly"], false);

    socket
        .send(Message::text(
            r#"{"type":"error","kind":"uncaught","message":"TypeError: x is undefined","url":"http://127.0.0.1/app.js","line":3}"#,
        ))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while reports.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let got = reports.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message, "TypeError: x is undefined");
    assert_eq!(got[0].line, Some(3));
    assert_eq!(handle.notifier().clients(), 1);

    // A client that reconnects learns the seq it has to compare with.
    let (mut again, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let hello = next_json(&mut again).await;
    assert_eq!(hello["seq"], 2);
    assert!(hello["changedAt"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn foreign_origins_and_rebinding_hosts_are_refused() {
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), "<p>hi</p>").unwrap();
    let handle = Proxy::bind(
        "127.0.0.1:0".parse().unwrap(),
        Upstream::Static(site.path().to_path_buf()),
    )
    .await
    .unwrap();
    let mut request = format!("ws://{}/__devflow/ws", handle.local_addr())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    let refused = tokio_tungstenite::connect_async(request).await;
    assert!(
        refused.is_err(),
        "a foreign page may not open the reload socket"
    );

    let mut request = format!("ws://{}/__devflow/ws", handle.local_addr())
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "origin",
        format!("http://{}", handle.local_addr()).parse().unwrap(),
    );
    assert!(
        tokio_tungstenite::connect_async(request).await.is_ok(),
        "the page's own origin may"
    );

    let response = browser()
        .get(format!("http://{}/", handle.local_addr()))
        .header("host", "attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_static_site_is_served_with_the_client_injected() {
    let site = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/sites/html5-boilerplate");
    let handle = Proxy::bind(
        "127.0.0.1:0".parse().unwrap(),
        Upstream::Static(site.clone()),
    )
    .await
    .unwrap();
    let response = navigate(&handle, "/").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let text = response.text().await.unwrap();
    let original = std::fs::read_to_string(site.join("index.html")).unwrap();
    let at = text.find(CLIENT_TAG).expect("injected");
    assert_eq!(
        format!("{}{}", &text[..at], &text[at + CLIENT_TAG.len()..]),
        original
    );
    assert_eq!(
        text.matches("<script src=\"/__devflow/client.js\"").count(),
        1
    );

    let css = navigate(&handle, "/css/style.css").await;
    assert_eq!(css.headers()["content-type"], "text/css");
    assert_eq!(
        css.bytes().await.unwrap().to_vec(),
        std::fs::read(site.join("css/style.css")).unwrap()
    );

    let client = browser()
        .get(format!(
            "http://{}/__devflow/client.js",
            handle.local_addr()
        ))
        .send()
        .await
        .unwrap();
    assert!(client.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(client.text().await.unwrap().contains("/__devflow/ws"));

    let hidden = navigate(&handle, "/package.json").await;
    assert_eq!(hidden.status(), 200, "ordinary files are served");
    assert_eq!(navigate(&handle, "/.git/config").await.status(), 404);
}

/// An upstream that keeps connections alive and answers up to `per_connection` requests on
/// each before closing it; counts the connections it accepted.
async fn keep_alive_upstream(
    per_connection: usize,
) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                for served in 1..=per_connection {
                    let mut byte = [0u8; 1024];
                    while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut byte).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&byte[..n]),
                        }
                    }
                    let end = buffer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    buffer.drain(..end);
                    let body = format!("answer {served}");
                    let last = served == per_connection;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n{}\r\n{body}",
                        body.len(),
                        if last { "connection: close\r\n" } else { "" }
                    );
                    if stream.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn a_browser_connection_reuses_one_upstream_connection_and_reopens_it_when_closed() {
    let (upstream, accepted) = keep_alive_upstream(3).await;
    let handle = Proxy::bind(
        "127.0.0.1:0".parse().unwrap(),
        Upstream::Http(format!("http://{upstream}")),
    )
    .await
    .unwrap();
    // One client, one kept-alive connection to the proxy.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let mut answers = Vec::new();
    for _ in 0..5 {
        let text = client
            .get(format!("http://{}/x", handle.local_addr()))
            .header("accept", "text/plain")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        answers.push(text);
    }
    assert_eq!(
        answers,
        ["answer 1", "answer 2", "answer 3", "answer 1", "answer 2"],
        "three answers on the first upstream connection, then a new one"
    );
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
}
