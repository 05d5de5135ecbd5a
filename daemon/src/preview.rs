//! The in-process static preview: a session's folder served on its own loopback port, so the
//! previewed page is a different origin from the API and its scripts cannot call the daemon.
//! Dev-server projects, the reload-injecting proxy and the watcher build on this boundary
//! (the [`PreviewRuntime`] trait).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

use crate::parts::{PreviewHandle, PreviewRuntime};

struct Running {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
pub struct StaticPreview {
    running: Mutex<HashMap<String, Running>>,
}

#[async_trait]
impl PreviewRuntime for StaticPreview {
    async fn start(&self, session_id: &str, workspace: &Path) -> Result<PreviewHandle, String> {
        self.stop(session_id).await;
        if !workspace.is_dir() {
            return Err(format!("{} is not a folder", workspace.display()));
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot open a preview port: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let router = axum::Router::new().fallback_service(
            tower_http::services::ServeDir::new(workspace).append_index_html_on_directories(true),
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let url = format!("http://{addr}/");
        self.running
            .lock()
            .await
            .insert(session_id.to_string(), Running { addr, task });
        http_status(addr, "/")
            .await
            .map_err(|e| format!("the preview does not answer: {e}"))?;
        Ok(PreviewHandle { url })
    }

    async fn stop(&self, session_id: &str) {
        if let Some(running) = self.running.lock().await.remove(session_id) {
            running.task.abort();
        }
    }

    async fn verify(&self, session_id: &str) -> Result<(), String> {
        let addr = match self.running.lock().await.get(session_id) {
            Some(running) => running.addr,
            None => return Ok(()),
        };
        match http_status(addr, "/").await? {
            status if status < 500 => Ok(()),
            status => Err(format!("the page answers HTTP {status}")),
        }
    }

    async fn files_changed(&self, _session_id: &str, _files: &[String]) {}
}

/// The status code of a GET on loopback; a minimal client, since this is the only request
/// the daemon itself makes.
async fn http_status(addr: SocketAddr, path: &str) -> Result<u16, String> {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut head = vec![0u8; 64];
        let n = stream.read(&mut head).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&head[..n]);
        text.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| format!("not an HTTP answer: {text:?}"))
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), attempt)
        .await
        .map_err(|_| "no answer within 10 s".to_string())?
}
