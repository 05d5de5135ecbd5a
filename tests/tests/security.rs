//! Every HTTP and WebSocket surface wants the token; a foreign Origin (cross-site WebSocket
//! hijacking) or Host (DNS rebinding) is refused before the token is looked at.

use devflow_tests::daemon::TOKEN;
use devflow_tests::Daemon;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

async fn ws_status(daemon: &Daemon, token: Option<&str>, origin: Option<&str>) -> u16 {
    let url = match token {
        Some(token) => format!("{}?token={token}", daemon.ws_url()),
        None => daemon.ws_url(),
    };
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("Origin", HeaderValue::from_str(origin).unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected WebSocket failure: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_the_right_token_are_refused() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&temp.path().join("state"));
    let http = reqwest::Client::new();
    let url = format!("{}/sessions", daemon.base_url);

    let none = http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["error"], "UNAUTHORIZED");
    assert_eq!(
        http.get(&url)
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(&url)
            .bearer_auth(&TOKEN[..TOKEN.len() - 1])
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(format!("{url}?token=wrong"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(format!("{}/metrics", daemon.base_url))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(&url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(format!("{url}?token={TOKEN}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(format!("{}/healthz", daemon.base_url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    assert_eq!(ws_status(&daemon, None, None).await, 401);
    assert_eq!(ws_status(&daemon, Some("wrong"), None).await, 401);
    assert_eq!(ws_status(&daemon, Some(TOKEN), None).await, 101);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_origins_and_hosts_are_refused() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&temp.path().join("state"));
    let own = format!("http://127.0.0.1:{}", daemon.port);
    assert_eq!(ws_status(&daemon, Some(TOKEN), Some(&own)).await, 101);
    for origin in [
        "null",
        "http://evil.example",
        &format!("http://127.0.0.1.evil.example:{}", daemon.port),
        &format!("http://localhost:{}", daemon.port + 1),
        &format!("https://127.0.0.1:{}", daemon.port),
        &format!("http://10.0.0.1:{}", daemon.port),
    ] {
        assert_eq!(
            ws_status(&daemon, Some(TOKEN), Some(origin)).await,
            403,
            "Origin {origin}"
        );
    }

    // Speak raw HTTP to set a rebinding Host header, token and all.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for host in [
        "attacker.example",
        &format!("attacker.example:{}", daemon.port),
        "127.0.0.1",
    ] {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", daemon.port))
            .await
            .unwrap();
        let request = format!("GET /sessions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 403"), "Host {host}: {answer}");
        assert!(answer.contains("FORBIDDEN"));
    }
    let http = reqwest::Client::new();
    let refused = http
        .post(format!("{}/sessions", daemon.base_url))
        .bearer_auth(TOKEN)
        .header("Origin", "http://evil.example")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let listed: Value = http
        .get(format!("{}/sessions", daemon.base_url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["sessions"].as_array().unwrap().len(),
        0,
        "the refused request created nothing"
    );
}
