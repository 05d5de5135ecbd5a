//! devflow's preview proxy: a streaming reverse proxy on a session's own port that puts the
//! reload client into every HTML page, in front of a dev server ([`Upstream::Http`]) or of
//! a folder it serves itself ([`Upstream::Static`]).
//!
//! Invariants: every response is streamed (first byte out as soon as upstream's); only
//! `text/html` answers to navigations are changed (one `<script src="/__devflow/client.js">`,
//! `Content-Length` dropped, the CSP — header or `<meta>` — widened just enough); other
//! bodies and WebSocket upgrades pass through untouched. `/__devflow/*` belongs to the
//! proxy.

mod body;
pub mod csp;
pub mod decode;
mod files;
mod forward;
pub mod inject;
mod reload;
mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use reload::{ClientReport, Notifier};

/// The page rewrite the proxy streams HTML through; exported for the fuzz tests only.
#[doc(hidden)]
pub use body::HtmlRewrite;

/// Where the proxied site comes from.
#[derive(Debug, Clone)]
pub enum Upstream {
    /// A dev server, e.g. `http://127.0.0.1:5173` (http only; path and query are ignored).
    Http(String),
    /// A folder served in-process.
    Static(PathBuf),
}

/// Called with every error a page's reload client relays (console errors, uncaught
/// exceptions, unhandled rejections). Must not block.
pub type ReportSink = Arc<dyn Fn(ClientReport) + Send + Sync>;

/// How to run one proxy.
#[derive(Clone)]
pub struct ProxyConfig {
    pub upstream: Upstream,
    /// Host names accepted besides IP literals, `localhost` and `*.localhost` (the rest are
    /// refused: DNS rebinding).
    pub allowed_hosts: Vec<String>,
    pub on_report: Option<ReportSink>,
    /// Bytes the injector may hold back while looking for `<head>`.
    pub lookahead: usize,
}

impl ProxyConfig {
    pub fn new(upstream: Upstream) -> Self {
        ProxyConfig {
            upstream,
            allowed_hosts: Vec::new(),
            on_report: None,
            lookahead: inject::DEFAULT_LOOKAHEAD,
        }
    }

    pub fn on_report(mut self, sink: impl Fn(ClientReport) + Send + Sync + 'static) -> Self {
        self.on_report = Some(Arc::new(sink));
        self
    }
}

impl From<Upstream> for ProxyConfig {
    fn from(upstream: Upstream) -> Self {
        ProxyConfig::new(upstream)
    }
}

/// Why a proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("the upstream {0:?} is not an http://host:port URL")]
    BadUpstream(String),
    #[error("{0} is not a folder")]
    NotAFolder(PathBuf),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The script tag the proxy injects (without a CSP nonce).
pub const CLIENT_TAG: &str = "<script src=\"/__devflow/client.js\"></script>";

/// The script tag for a page whose policy allows it by a nonce.
pub(crate) fn client_tag_with_nonce(nonce: &str) -> String {
    format!("<script src=\"/__devflow/client.js\" nonce=\"{nonce}\"></script>")
}
/// The reload client's source, as served at `/__devflow/client.js`.
pub const CLIENT_JS: &str = include_str!("../client/client.js");

pub struct Proxy;

impl Proxy {
    /// Starts a proxy on `addr` (port 0 = any free port).
    pub async fn bind(
        addr: SocketAddr,
        config: impl Into<ProxyConfig>,
    ) -> Result<ProxyHandle, ProxyError> {
        server::bind(addr, config.into()).await
    }
}

/// A running proxy. Dropping it (or [`ProxyHandle::shutdown`]) closes the port and every
/// connection, WebSockets included.
pub struct ProxyHandle {
    local_addr: SocketAddr,
    notifier: Notifier,
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl ProxyHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.local_addr)
    }

    /// Tells the connected reload clients about changed files.
    pub fn notifier(&self) -> Notifier {
        self.notifier.clone()
    }

    pub fn shutdown(self) {}
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Resolves once the proxy is shutting down (or its handle is gone).
pub(crate) async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}
