//! The daemon's own HTTP look at a preview: the status line of one `GET` on loopback. A
//! hand-rolled minimal client, since readiness and verification are the only requests the
//! daemon itself makes to a page.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The status code of `GET path` as a browser navigation would send it.
pub async fn http_status(addr: SocketAddr, path: &str, timeout: Duration) -> Result<u16, String> {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/html,*/*;q=0.8\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut head = Vec::with_capacity(64);
        let mut buffer = [0u8; 64];
        while !head.contains(&b'\n') && head.len() < 1024 {
            let n = stream.read(&mut buffer).await.map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buffer[..n]);
        }
        let text = String::from_utf8_lossy(&head);
        text.split_whitespace()
            .nth(1)
            .filter(|_| text.starts_with("HTTP/"))
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| {
                format!(
                    "not an HTTP answer: {:?}",
                    text.lines().next().unwrap_or("")
                )
            })
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| format!("no answer within {} s", timeout.as_secs()))?
}
