//! `devflow proxy` as people run it: in front of a dev server (`--upstream`), injecting the
//! reload client, and on a folder (`--watch` alone), announcing a saved file to the page.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use devflow_tests::daemon::binary;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CLIENT_TAG: &str = "<script src=\"/__devflow/client.js\"></script>";

/// A `devflow proxy` child on an ephemeral port, killed on drop.
struct ProxyProcess {
    child: Child,
    url: String,
}

impl ProxyProcess {
    fn start(args: &[&str]) -> ProxyProcess {
        let mut child = Command::new(binary())
            .arg("proxy")
            .args(args)
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("devflow runs");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_string();
        ProxyProcess { child, url }
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_front_of_a_dev_server_the_pages_get_the_reload_client() {
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_url = format!("http://{}", upstream.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = upstream.accept().await {
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 4096];
                let _ = stream.read(&mut buffer).await;
                let body =
                    "<!doctype html><html><head><title>dev</title></head><body></body></html>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    let proxy = ProxyProcess::start(&["--upstream", &upstream_url]);
    let response = reqwest::Client::new()
        .get(&proxy.url)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    // The upstream's length no longer holds once the client is in; none is sent.
    assert!(
        response.headers().get("content-length").is_none(),
        "{:?}",
        response.headers()
    );
    let page = response.text().await.unwrap();
    assert_eq!(
        page,
        format!(
            "<!doctype html><html><head>{CLIENT_TAG}<title>dev</title></head><body></body></html>"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_folder_a_saved_stylesheet_is_announced_to_the_page() {
    let site = tempfile::tempdir().unwrap();
    std::fs::write(
        site.path().join("index.html"),
        "<html><head><link rel=stylesheet href=style.css></head></html>",
    )
    .unwrap();
    std::fs::write(site.path().join("style.css"), "body{}").unwrap();
    let proxy = ProxyProcess::start(&["--watch", site.path().to_str().unwrap()]);
    let page = reqwest::get(&proxy.url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(CLIENT_TAG), "{page}");

    let ws = format!("{}__devflow/ws", proxy.url.replacen("http://", "ws://", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(ws.as_str()).await.unwrap();
    let _hello = socket.next().await.unwrap().unwrap();
    std::fs::write(site.path().join("style.css"), "body{color:red}").unwrap();
    let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("announced within 5 s")
        .unwrap()
        .unwrap();
    let message: serde_json::Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
    assert_eq!(message["type"], "change");
    assert_eq!(message["files"], serde_json::json!(["style.css"]));
    assert_eq!(message["cssOnly"], true);
}

/// The scheduling policy of a running process (field 41 of `/proc/PID/stat`).
#[cfg(target_os = "linux")]
fn policy_of(pid: u32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    after_name.split(' ').nth(38).unwrap().parse().unwrap()
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_proxy_runs_under_batch_scheduling_unless_told_otherwise() {
    const SCHED_OTHER: i32 = 0;
    const SCHED_BATCH: i32 = 3;
    assert_eq!(policy_of(std::process::id()), SCHED_OTHER);
    let default = ProxyProcess::start(&["--upstream", "http://127.0.0.1:9"]);
    assert_eq!(policy_of(default.child.id()), SCHED_BATCH);
    let normal =
        ProxyProcess::start(&["--upstream", "http://127.0.0.1:9", "--scheduling", "normal"]);
    assert_eq!(policy_of(normal.child.id()), SCHED_OTHER);
    let refused = Command::new(binary())
        .args([
            "proxy",
            "--upstream",
            "http://127.0.0.1:9",
            "--scheduling",
            "fifo",
        ])
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "only batch and normal are offered"
    );
}
