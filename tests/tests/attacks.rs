//! Attacks on a running daemon, against the real binary, each refused with the right status
//! and nothing changed on disk: the preview's origin calling the daemon API (it is another
//! origin and has no token), path traversal in every path-taking parameter and in the
//! preview's static serving, proposals that reach outside the workspace (`../`, absolute
//! paths, `.git/`, a link to a file outside), and the daemon's secrets in a dev server's
//! environment.

use std::collections::BTreeMap;
use std::path::Path;

use devflow_tests::daemon::TOKEN;
use devflow_tests::fixtures::copy_site;
use devflow_tests::session::{create_dir_session, running_session, wait_final};
use devflow_tests::{Client, Daemon, RestClient};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Every file under `dir` (links as their target path), for "nothing changed" checks.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            let relative = path
                .strip_prefix(dir)
                .expect("inside")
                .to_string_lossy()
                .into_owned();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).expect("link");
                out.insert(relative, target.to_string_lossy().into_owned().into_bytes());
            } else if meta.is_dir() {
                stack.push(path);
            } else {
                out.insert(relative, std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

/// A raw HTTP/1.1 GET, so that `..` and odd encodings reach the server as written.
async fn raw_get(port: u16, target: &str, headers: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line for {target}: {answer:?}"));
    (status, answer)
}

fn port_of(url: &str) -> u16 {
    url.trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_origin_cannot_call_the_daemon_api() {
    let temp = tempfile::tempdir().expect("tempdir");
    let site = copy_site("simple-sidebar", temp.path());
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let (session_id, preview_url) = running_session(&mut client, &site).await;
    let preview_origin = preview_url.trim_end_matches('/').to_string();
    assert_ne!(port_of(&preview_url), daemon.port);

    let http = reqwest::Client::new();
    let sessions = format!("{}/sessions", daemon.base_url);
    // A page on the preview origin has no token: refused whatever it asks.
    let no_token = http
        .get(&sessions)
        .header("Origin", &preview_origin)
        .send()
        .await
        .expect("GET");
    assert!(
        [401, 403].contains(&no_token.status().as_u16()),
        "{}",
        no_token.status()
    );
    // Even holding the token, the preview's origin is not the panel's: refused.
    for request in [
        http.get(&sessions),
        http.post(format!("{sessions}/{session_id}/rollback")),
        http.delete(format!("{sessions}/{session_id}")),
    ] {
        let answer = request
            .bearer_auth(TOKEN)
            .header("Origin", &preview_origin)
            .send()
            .await
            .expect("request");
        assert_eq!(answer.status(), 403, "from the preview origin");
        assert!(
            answer
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "no CORS grant to the preview"
        );
    }
    // A CORS preflight from the preview origin gets no grant either.
    let preflight = http
        .request(reqwest::Method::OPTIONS, &sessions)
        .header("Origin", &preview_origin)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .expect("OPTIONS");
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "preflight granted: {:?}",
        preflight.headers()
    );
    // The JSON-RPC WebSocket, from the preview origin, with the token: refused.
    let mut request = format!("{}?token={TOKEN}", daemon.ws_url())
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Origin",
        HeaderValue::from_str(&preview_origin).expect("origin"),
    );
    let status = match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("unexpected WebSocket failure: {other}"),
    };
    assert_eq!(status, 403);
    // The preview port serves the site, never the API.
    let (status, body) = raw_get(
        port_of(&preview_url),
        &format!("/sessions?token={TOKEN}"),
        "",
    )
    .await;
    assert!(
        !body.contains(&session_id),
        "the preview leaked the API ({status})"
    );
    // The session is untouched: still running, nothing rolled back or deleted.
    let session = client
        .call("session/get", json!({"sessionId": session_id}))
        .await
        .expect("get");
    assert_eq!(session["status"], "RUNNING");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_traversal_in_path_parameters_and_static_serving_is_refused() {
    let temp = tempfile::tempdir().expect("tempdir");
    let site = copy_site("html5-boilerplate", temp.path());
    // A secret beside the workspace, and a link in the site that points at it.
    let secret = temp.path().join("secret.txt");
    std::fs::write(&secret, "TOP-SECRET-BESIDE-THE-WORKSPACE").expect("write");
    std::os::unix::fs::symlink(&secret, site.join("leak.txt")).expect("symlink");
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let (session_id, preview_url) = running_session(&mut client, &site).await;
    let before = (snapshot(&site), std::fs::read(&secret).expect("secret"));
    let auth = format!("Authorization: Bearer {TOKEN}\r\n");

    let api_targets = [
        "/sessions/..%2F..%2F..%2Fetc%2Fpasswd".to_string(),
        "/sessions/../../etc/passwd".to_string(),
        format!("/sessions/{session_id}/patches/..%2F..%2F..%2Fetc%2Fpasswd"),
        format!("/sessions/{session_id}/patches/../../../../etc/passwd"),
        format!("/sessions/{session_id}/commands/..%2F..%2Fx"),
        format!("/sessions/{session_id}/reference/screens/..%2F..%2F..%2F..%2Fetc%2Fpasswd"),
        format!("/sessions/{session_id}/reference/screens/../../../../etc/passwd"),
        format!("/sessions/{session_id}/reference/screens/%2Fetc%2Fpasswd"),
        format!("/sessions/{session_id}/reference/screens/..%5C..%5Csecret.txt"),
        format!("/sessions/{session_id}/screenshots/..%2F..%2F..%2Fetc/passwd"),
        format!("/sessions/{session_id}/screenshots/x/..%2F..%2F..%2F..%2Fetc%2Fpasswd"),
        format!("/sessions/{session_id}/screenshots/..%2F..%2Fpatches/desktop-after-1.png"),
        format!("/sessions/{session_id}/screenshots/../../../../etc/passwd"),
        format!("/sessions/{session_id}/screenshots/x/..%5C..%5Csecret.txt"),
        "/sessions/%2E%2E/screenshots/%2E%2E/desktop-after-1.png".to_string(),
        "/sessions/%2E%2E/logs".to_string(),
        format!("/sessions/{session_id}/logs?path=../../secret.txt"),
        "/assets/../../../../etc/passwd".to_string(),
        "/..%2F..%2F..%2Fetc%2Fpasswd".to_string(),
    ];
    for target in &api_targets {
        let (status, body) = raw_get(daemon.port, target, &auth).await;
        assert!(
            !body.contains("root:x:0:0") && !body.contains("TOP-SECRET"),
            "{target} leaked a file ({status})"
        );
        assert!(
            (400..500).contains(&status) || status == 200 && target.contains("/logs?"),
            "{target}: {status}"
        );
    }

    let preview_port = port_of(&preview_url);
    for target in [
        "/../../../../etc/passwd",
        "/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/css/..%2F..%2F..%2Fsecret.txt",
        "/..%5C..%5Csecret.txt",
        "/%2Fetc%2Fpasswd",
        "//etc/passwd",
        "/leak.txt",
        "/index.html%00.css",
    ] {
        let (status, body) = raw_get(preview_port, target, "").await;
        assert!(
            !body.contains("root:x:0:0") && !body.contains("TOP-SECRET"),
            "preview {target} leaked a file ({status})"
        );
        assert!((400..500).contains(&status), "preview {target}: {status}");
    }
    // The site itself still serves.
    let (status, body) = raw_get(preview_port, "/", "").await;
    assert_eq!(status, 200);
    assert!(body.contains("<html"), "{body}");
    let after = (snapshot(&site), std::fs::read(&secret).expect("secret"));
    assert!(after == before, "a refused request changed files");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_that_reach_outside_the_workspace_change_nothing() {
    let temp = tempfile::tempdir().expect("tempdir");
    let site = copy_site("html5-boilerplate", temp.path());
    let outside = temp.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(outside.join("x.css"), "a { color: red; }\n").expect("write");
    std::fs::create_dir_all(site.join(".git")).expect("mkdir");
    std::fs::write(site.join(".git/config"), "[core]\n\tbare = false\n").expect("write");
    std::os::unix::fs::symlink(outside.join("x.css"), site.join("css/linked.css"))
        .expect("symlink");
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let session_id = create_dir_session(&mut client, &site).await;
    let before = (snapshot(&site), snapshot(&outside));

    let diffs = [
        ("parent path", "--- a/../outside/x.css\n+++ b/../outside/x.css\n@@ -1 +1 @@\n-a { color: red; }\n+a { color: blue; }\n"),
        ("absolute path", "--- /etc/hostname\n+++ /etc/hostname\n@@ -1 +1 @@\n-x\n+y\n"),
        ("absolute path to the outside file", &format!("--- {0}\n+++ {0}\n@@ -1 +1 @@\n-a {{ color: red; }}\n+a {{ color: blue; }}\n", outside.join("x.css").display())),
        (".git", "--- a/.git/config\n+++ b/.git/config\n@@ -1,2 +1,3 @@\n [core]\n \tbare = false\n+\thooksPath = /tmp\n"),
        ("link to a file outside", "--- a/css/linked.css\n+++ b/css/linked.css\n@@ -1 +1 @@\n-a { color: red; }\n+a { color: blue; }\n"),
        ("new file through a parent path", "--- /dev/null\n+++ b/css/../../outside/new.css\n@@ -0,0 +1 @@\n+a {}\n"),
    ];
    for (what, diff) in diffs {
        let answer = client
            .call(
                "patch/apply",
                json!({"sessionId": session_id, "unified_diff": diff}),
            )
            .await;
        match answer {
            Err(error) => {
                assert!(
                    (400..500).contains(&error.status),
                    "{what}: status {} {}",
                    error.status,
                    error.body
                );
                let message = error.body.to_string();
                assert!(!message.is_empty(), "{what}: no message");
            }
            // Accepted for the queue: the engine must then refuse it.
            Ok(queued) => {
                let command_id = queued["commandId"].as_str().expect("commandId");
                let command = wait_final(&mut client, &session_id, command_id).await;
                assert_eq!(command["status"], "FAILED", "{what}: {command}");
                assert!(
                    command["errorSummary"]
                        .as_str()
                        .is_some_and(|s| !s.is_empty()),
                    "{what}: no summary in {command}"
                );
            }
        }
        let after = (snapshot(&site), snapshot(&outside));
        assert!(after == before, "{what} changed files");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dev_server_never_sees_the_daemons_secrets() {
    let temp = tempfile::tempdir().expect("tempdir");
    let site = temp.path().join("app");
    std::fs::create_dir_all(site.join("node_modules")).expect("mkdir");
    std::fs::write(
        site.join("package.json"),
        r#"{"name":"env-probe","private":true,"scripts":{"dev":"node server.js"}}"#,
    )
    .expect("write");
    // Writes its whole environment beside the workspace, then serves a page.
    let dump = temp.path().join("env.json");
    std::fs::write(
        site.join("server.js"),
        format!(
            "require('fs').writeFileSync({:?}, JSON.stringify(process.env));\n\
             require('http').createServer((q, s) => {{ s.setHeader('content-type', 'text/html'); s.end('<html><body>env</body></html>'); }})\n\
             .listen(Number(process.env.PORT), '127.0.0.1');\n",
            dump.display().to_string()
        ),
    )
    .expect("write");
    let secrets = [
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLESECRETKEY1"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-example-secret"),
        ("AWS_SESSION_TOKEN", "example-session-token-value"),
        ("AWS_PROFILE", "example-profile-name"),
        ("DEVFLOW_OPENAI_API_KEY", "sk-example-openai-key"),
        ("DEVFLOW_GITHUB_TOKEN", "ghp_examplegithubtoken"),
        ("DEVFLOW_TOKEN", TOKEN),
    ];
    let daemon = Daemon::start_with(&temp.path().join("state"), &secrets);
    let mut client = RestClient::new(&daemon);
    let (_, preview_url) = running_session(&mut client, &site).await;
    let page = reqwest::get(&preview_url)
        .await
        .expect("preview")
        .text()
        .await
        .expect("body");
    assert!(page.contains("env"), "{page}");

    let env: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(&dump).expect("the dev server wrote its env"))
            .expect("env JSON");
    assert!(env.contains_key("PORT"), "the port is injected: {env:?}");
    // The one DEVFLOW_ variable a dev server gets marks its processes as the daemon's, so
    // a restarted daemon can find and stop them; it is not a secret.
    for name in env.keys() {
        assert!(
            !name.starts_with("AWS_")
                && (!name.starts_with("DEVFLOW_") || name == "DEVFLOW_PREVIEW_OWNER"),
            "{name} reached the dev server"
        );
    }
    let all: String = env.values().cloned().collect::<Vec<_>>().join("\n");
    for (name, secret) in secrets {
        assert!(
            !all.contains(secret),
            "the value of {name} reached the dev server"
        );
    }
}
