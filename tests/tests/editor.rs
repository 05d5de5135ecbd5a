//! The per-session editor behind `GET /sessions/{id}/editor`, driven over HTTP like a
//! browser: the signed link, its exchange for a cookie, the 401s (no grant, tampered,
//! expired, another session's), Host/Origin checks, HTTP and WebSocket relaying, the clear
//! error when code-server is not installed, and the child's life (stopped with the session,
//! restarted after a crash, stopped when idle and started again on the next request).
//!
//! code-server itself is the browser E2E's part (tests/e2e/editor.test.mjs); here a small
//! node program stands in for it at the path code-server is installed to. Like code-server's
//! `entry.js` it is a wrapper that forks the server; the server answers `/healthz`, echoes
//! every request as JSON (with its pid), echoes WebSocket bytes, and writes its pid and
//! environment to files so the test can see the process and what it was given.

use std::path::{Path, PathBuf};
use std::time::Duration;

use devflow_tests::daemon::{eventually, TOKEN};
use devflow_tests::Daemon;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Stands in for `node_modules/code-server/out/node/entry.js`.
const FAKE_CODE_SERVER: &str = r#"
const http = require("node:http");
const fs = require("node:fs");
const path = require("node:path");
const args = process.argv.slice(2);
const flag = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const home = process.env.HOME;
if (!process.env.FAKE_SERVER_CHILD && !flag("--install-extension")) {
  // The wrapper: the server runs in a child process, as code-server's does.
  const child = require("node:child_process").fork(__filename, args, { env: { ...process.env, FAKE_SERVER_CHILD: "1" } });
  child.on("exit", (code, signal) => process.exit(code ?? 1));
  return;
}
if (flag("--install-extension")) {
  fs.writeFileSync(path.join(flag("--extensions-dir"), "installed-from"), flag("--install-extension"));
  process.exit(0);
}
const [host, port] = flag("--bind-addr").split(":");
fs.writeFileSync(path.join(home, "pid"), String(process.pid));
fs.writeFileSync(path.join(home, "env.json"), JSON.stringify(process.env));
fs.writeFileSync(path.join(home, "args.json"), JSON.stringify({ args, host, cwd: process.cwd() }));
const server = http.createServer((req, res) => {
  if (req.url === "/healthz") { res.writeHead(200, { "content-type": "application/json" }); res.end('{"status":"expired"}'); return; }
  if (req.url === "/moved") { res.writeHead(302, { location: "/elsewhere" }); res.end(); return; }
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, pid: process.pid }));
});
server.on("upgrade", (req, socket) => {
  socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Seen-Url: " + req.url + "\r\n\r\n");
  socket.on("data", (chunk) => socket.write(chunk));
});
server.listen(Number(port), host);
"#;

/// A folder laid out like a code-server install, with the fake in it, and a `.vsix`.
fn fake_install(root: &Path) -> PathBuf {
    let dir = root.join("code-server");
    let entry = dir.join("node_modules/code-server/out/node");
    std::fs::create_dir_all(&entry).unwrap();
    std::fs::write(entry.join("entry.js"), FAKE_CODE_SERVER).unwrap();
    std::fs::write(dir.join("devflow.vsix"), b"PK fake vsix").unwrap();
    dir
}

struct Editor {
    daemon: Daemon,
    http: reqwest::Client,
    session_id: String,
    /// The session's editor state: `<state>/editors/<session>/`.
    state: PathBuf,
}

impl Editor {
    async fn start(root: &Path, env: &[(&str, &str)]) -> Editor {
        let install = fake_install(root);
        let mut all = vec![("DEVFLOW_CODE_SERVER_DIR", install.to_str().unwrap())];
        all.extend_from_slice(env);
        let daemon = Daemon::start_with(&root.join("state"), &all);
        let site = devflow_tests::fixtures::copy_site("simple-sidebar", root);
        // No automatic redirects: the tests look at each answer.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let created: Value = http
            .post(format!("{}/sessions", daemon.base_url))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"source": {"kind": "dir", "path": site}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session_id = created["sessionId"].as_str().unwrap().to_string();
        let state = root.join("state/editors").join(&session_id);
        Editor {
            daemon,
            http,
            session_id,
            state,
        }
    }

    async fn link(&self, session_id: &str) -> reqwest::Response {
        self.http
            .get(format!(
                "{}/sessions/{session_id}/editor",
                self.daemon.base_url
            ))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
    }

    async fn editor_url(&self) -> String {
        let response = self.link(&self.session_id).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["editorUrl"].as_str().unwrap().to_string()
    }

    /// Opens a link like a browser's first visit; returns the cookie it sets.
    async fn exchange(&self, url: &str) -> String {
        let response = self.http.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let cookie = response
            .headers()
            .get("set-cookie")
            .expect("the link sets a cookie")
            .to_str()
            .unwrap()
            .to_string();
        cookie.split(';').next().unwrap().to_string()
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/editor/{}{rest}", self.daemon.base_url, self.session_id)
    }

    async fn get(&self, rest: &str, cookie: &str) -> reqwest::Response {
        self.http
            .get(self.url(rest))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
    }

    fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.state.join("home/pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.daemon.base_url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

fn alive(pid: i32) -> bool {
    // A zombie (exited, not reaped) is gone for this purpose.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next();
            state != Some("Z")
        })
        .unwrap_or(false)
}

async fn assert_unauthorized(response: reqwest::Response, mentions: &str) {
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "UNAUTHORIZED", "{body}");
    assert!(body["requestId"].is_string(), "{body}");
    assert!(body["timestamp"].is_number(), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(mentions), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_code_server_the_link_says_how_to_install_it() {
    let temp = tempfile::tempdir().unwrap();
    let empty = temp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let daemon = Daemon::start_with(
        &temp.path().join("state"),
        &[("DEVFLOW_CODE_SERVER_DIR", empty.to_str().unwrap())],
    );
    let site = devflow_tests::fixtures::copy_site("simple-sidebar", temp.path());
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{}/sessions", daemon.base_url))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"source": {"kind": "dir", "path": site}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = http
        .get(format!(
            "{}/sessions/{}/editor",
            daemon.base_url,
            created["sessionId"].as_str().unwrap()
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 501);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "NOT_CONFIGURED");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("code-server is not installed"),
        "{message}"
    );
    assert!(message.contains("scripts/install-editor"), "{message}");
    assert!(message.contains(empty.to_str().unwrap()), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_needs_the_token_and_an_existing_session() {
    let temp = tempfile::tempdir().unwrap();
    let editor = Editor::start(temp.path(), &[]).await;
    let no_token = editor
        .http
        .get(format!(
            "{}/sessions/{}/editor",
            editor.daemon.base_url, editor.session_id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    let unknown = editor.link("6f1c7a2e-0d3b-4c5a-9e8f-1a2b3c4d5e6f").await;
    assert_eq!(unknown.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_valid_grant_or_its_cookie_opens_the_editor() {
    let temp = tempfile::tempdir().unwrap();
    let editor = Editor::start(temp.path(), &[]).await;
    let other = {
        let site = devflow_tests::fixtures::copy_site("simple-sidebar", &temp.path().join("b"));
        let created: Value = editor
            .http
            .post(format!("{}/sessions", editor.daemon.base_url))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"source": {"kind": "dir", "path": site}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        created["sessionId"].as_str().unwrap().to_string()
    };

    // The link: absolute, on the daemon's port, the grant in the query; fresh every time.
    let before = devflow_tests_now();
    let response = editor.link(&editor.session_id).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let url = body["editorUrl"].as_str().unwrap().to_string();
    let prefix = format!(
        "{}/editor/{}/?grant=",
        editor.daemon.base_url, editor.session_id
    );
    assert!(url.starts_with(&prefix), "{url}");
    let expires_at = body["expiresAt"].as_i64().unwrap();
    assert!(
        (before + 3600..=devflow_tests_now() + 3600).contains(&expires_at),
        "{expires_at}"
    );
    assert_ne!(
        editor.editor_url().await,
        url,
        "every call gives a fresh grant"
    );

    // Nothing, a tampered grant, another session's grant → 401 with the error object.
    assert_unauthorized(editor.get("/", "").await, "editorUrl").await;
    let grant = url.rsplit("grant=").next().unwrap().to_string();
    let mut tampered = grant.clone().into_bytes();
    let at = tampered.len() - 5;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_unauthorized(
        editor
            .http
            .get(format!("{prefix}{tampered}"))
            .send()
            .await
            .unwrap(),
        "not signed",
    )
    .await;
    let stretched = format!("9999999999{}", &grant[grant.find('.').unwrap()..]);
    assert_unauthorized(
        editor
            .http
            .get(format!("{prefix}{stretched}"))
            .send()
            .await
            .unwrap(),
        "not signed",
    )
    .await;
    let others = editor.link(&other).await.json::<Value>().await.unwrap();
    let others_grant = others["editorUrl"]
        .as_str()
        .unwrap()
        .rsplit("grant=")
        .next()
        .unwrap()
        .to_string();
    assert_unauthorized(
        editor
            .http
            .get(format!("{prefix}{others_grant}"))
            .send()
            .await
            .unwrap(),
        "not signed",
    )
    .await;
    // A cookie cannot be forged from a link grant either.
    assert_unauthorized(
        editor.get("/", &format!("devflow_editor={grant}")).await,
        "editorUrl",
    )
    .await;

    // The valid link: an HttpOnly SameSite=Strict cookie for this session's prefix, and a
    // page that goes on to the same address without the grant.
    let first = editor.http.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let set_cookie = first.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.starts_with("devflow_editor="), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    assert!(
        set_cookie.contains(&format!("Path=/editor/{}/", editor.session_id)),
        "{set_cookie}"
    );
    assert_eq!(first.headers()["referrer-policy"], "no-referrer");
    let page = first.text().await.unwrap();
    assert!(
        page.contains(&format!("url=/editor/{}/\"", editor.session_id)),
        "{page}"
    );
    assert!(!page.contains("grant"), "{page}");
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    // With the cookie: relayed to code-server without the prefix and without the cookie,
    // with the daemon's Host (code-server compares it with its WebSockets' Origin).
    let echoed: Value = editor
        .get("/static/app.js?x=1", &format!("theme=dark; {cookie}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(echoed["url"], "/static/app.js?x=1");
    assert_eq!(
        echoed["headers"]["host"],
        format!("127.0.0.1:{}", editor.daemon.port)
    );
    assert_eq!(echoed["headers"]["cookie"], "theme=dark");
    // A redirect code-server makes to an absolute path stays under the prefix.
    let moved = editor.get("/moved", &cookie).await;
    assert_eq!(moved.status(), 302);
    assert_eq!(
        moved.headers()["location"],
        format!("/editor/{}/elsewhere", editor.session_id).as_str()
    );
    // The same-origin browser request (with Origin) passes; a foreign Origin does not.
    let same_origin = editor
        .http
        .post(editor.url("/api"))
        .header("cookie", &cookie)
        .header("origin", &editor.daemon.base_url)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), 200);
    let foreign = editor
        .http
        .post(editor.url("/api"))
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let rebinding = editor
        .http
        .get(editor.url("/"))
        .header("cookie", &cookie)
        .header("host", format!("attacker.example:{}", editor.daemon.port))
        .send()
        .await
        .unwrap();
    assert_eq!(rebinding.status(), 403);

    // This session's cookie is not the other session's.
    let other_path = format!("{}/editor/{other}/", editor.daemon.base_url);
    let response = editor
        .http
        .get(&other_path)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_unauthorized(response, "editorUrl").await;

    // WebSockets: relayed byte for byte with the cookie and a matching Origin only.
    assert_eq!(
        websocket(&editor, &cookie, Some(&editor.daemon.base_url)).await,
        "101 ping-through-the-proxy"
    );
    assert!(websocket(&editor, &cookie, Some("http://evil.example"))
        .await
        .starts_with("403"));
    assert!(websocket(&editor, "", Some(&editor.daemon.base_url))
        .await
        .starts_with("401"));
}

/// A raw WebSocket upgrade to the editor's `/ws?x=1`; returns the status code and, after a
/// 101, what came back for the bytes sent.
async fn websocket(editor: &Editor, cookie: &str, origin: Option<&str>) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", editor.daemon.port))
        .await
        .unwrap();
    let mut request = format!(
        "GET /editor/{}/ws?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        editor.session_id, editor.daemon.port
    );
    if !cookie.is_empty() {
        request.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    if let Some(origin) = origin {
        request.push_str(&format!("Origin: {origin}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let status = head.split_whitespace().nth(1).unwrap_or("").to_string();
    if status != "101" {
        return status;
    }
    assert!(
        head.contains("X-Seen-Url: /ws?x=1") || head.contains("x-seen-url: /ws?x=1"),
        "{head}"
    );
    let sent = b"ping-through-the-proxy";
    stream.write_all(sent).await.unwrap();
    let mut echoed = vec![0u8; sent.len()];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut echoed))
        .await
        .expect("the echo comes back")
        .unwrap();
    format!("101 {}", String::from_utf8_lossy(&echoed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_link_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let editor = Editor::start(temp.path(), &[("DEVFLOW_EDITOR_GRANT_TTL", "1")]).await;
    let response = editor.link(&editor.session_id).await;
    let body: Value = response.json().await.unwrap();
    let expires_at = body["expiresAt"].as_i64().unwrap();
    assert!(expires_at <= devflow_tests_now() + 1, "{expires_at}");
    let url = body["editorUrl"].as_str().unwrap().to_string();
    // Wait until the expiry has passed on the clock (whole seconds).
    eventually(Duration::from_secs(5), "the grant's expiry", || async {
        (devflow_tests_now() > expires_at).then_some(())
    })
    .await;
    assert_unauthorized(editor.http.get(&url).send().await.unwrap(), "expired").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_editor_runs_as_configured_and_goes_with_its_session() {
    let temp = tempfile::tempdir().unwrap();
    let editor = Editor::start(
        temp.path(),
        &[
            ("AWS_SECRET_ACCESS_KEY", "must-not-leak"),
            ("DEVFLOW_GITHUB_TOKEN", "must-not-leak-either"),
        ],
    )
    .await;
    let cookie = editor.exchange(&editor.editor_url().await).await;
    let echoed: Value = editor.get("/", &cookie).await.json().await.unwrap();
    let pid = echoed["pid"].as_i64().unwrap() as i32;
    assert!(alive(pid));

    // The extension package was installed into the session's own extensions folder.
    let installed =
        std::fs::read_to_string(editor.state.join("extensions/installed-from")).unwrap();
    assert!(installed.ends_with("devflow.vsix"), "{installed}");
    // Loopback only, on the session's folder.
    let args: Value =
        serde_json::from_slice(&std::fs::read(editor.state.join("home/args.json")).unwrap())
            .unwrap();
    assert_eq!(args["host"], "127.0.0.1");
    let argv: Vec<&str> = args["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for flag in [
        "--auth",
        "--disable-telemetry",
        "--disable-update-check",
        "--user-data-dir",
        "--extensions-dir",
    ] {
        assert!(argv.contains(&flag), "{argv:?}");
    }
    assert_eq!(
        argv[argv.iter().position(|a| *a == "--auth").unwrap() + 1],
        "none"
    );
    // The environment: no secrets, HOME in the editor state, no gallery.
    let env: Value =
        serde_json::from_slice(&std::fs::read(editor.state.join("home/env.json")).unwrap())
            .unwrap();
    let env = env.as_object().unwrap();
    for (name, value) in env {
        assert!(
            !name.starts_with("AWS_") && !name.starts_with("DEVFLOW_"),
            "{name} leaked"
        );
        assert!(
            !value.as_str().unwrap_or("").contains(TOKEN),
            "the token leaked in {name}"
        );
    }
    assert_eq!(env["EXTENSIONS_GALLERY"], "{}");
    assert_eq!(env["HOME"], editor.state.join("home").to_str().unwrap());
    // The extension is pointed at this daemon and this session, in a private settings file.
    let settings_path = editor.state.join("data/User/settings.json");
    let settings: Value = serde_json::from_slice(&std::fs::read(&settings_path).unwrap()).unwrap();
    assert_eq!(settings["devflow.daemonUrl"], editor.daemon.base_url);
    assert_eq!(settings["devflow.sessionId"], editor.session_id);
    assert_eq!(settings["devflow.token"], TOKEN);
    assert_eq!(settings["telemetry.telemetryLevel"], "off");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&settings_path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // /metrics: a start, and the running editor's memory.
    let metrics = editor.metrics().await;
    assert!(
        metrics.contains("devflow_editor_start_seconds_count 1"),
        "{metrics}"
    );
    let rss_line = format!(
        "devflow_editor_rss_bytes{{session_id=\"{}\"}} ",
        editor.session_id
    );
    let rss: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix(&rss_line))
        .unwrap_or_else(|| panic!("no RSS line in {metrics}"))
        .parse()
        .unwrap();
    assert!(rss > 1_000_000, "{rss}");

    // Stopping the session ends its code-server; its URL and cookie no longer open anything.
    let stopped = editor
        .http
        .post(format!(
            "{}/sessions/{}/stop",
            editor.daemon.base_url, editor.session_id
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.status(), 200);
    assert!(!alive(pid), "code-server {pid} outlived its session");
    let after = editor.get("/", &cookie).await;
    assert_eq!(after.status(), 409);
    assert_eq!(editor.link(&editor.session_id).await.status(), 409);
    assert!(!editor.metrics().await.contains(&rss_line));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_editor_is_started_again() {
    let temp = tempfile::tempdir().unwrap();
    let editor = Editor::start(temp.path(), &[]).await;
    let cookie = editor.exchange(&editor.editor_url().await).await;
    let first: Value = editor.get("/", &cookie).await.json().await.unwrap();
    let first_pid = first["pid"].as_i64().unwrap() as i32;
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &first_pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let second_pid = eventually(Duration::from_secs(30), "the restarted editor", || async {
        let response = editor.get("/", &cookie).await;
        if response.status() != 200 {
            return None;
        }
        let body: Value = response.json().await.ok()?;
        let pid = body["pid"].as_i64()? as i32;
        (pid != first_pid).then_some(pid)
    })
    .await;
    assert!(alive(second_pid));
    let metrics = editor.metrics().await;
    assert!(
        metrics.contains("devflow_editor_crashes_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("devflow_editor_start_seconds_count 2"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_editor_stops_and_the_next_request_starts_it_again() {
    let temp = tempfile::tempdir().unwrap();
    let editor = Editor::start(temp.path(), &[("DEVFLOW_EDITOR_IDLE_SECS", "1")]).await;
    let cookie = editor.exchange(&editor.editor_url().await).await;
    let first: Value = editor.get("/", &cookie).await.json().await.unwrap();
    let first_pid = first["pid"].as_i64().unwrap() as i32;
    eventually(
        Duration::from_secs(30),
        "the idle editor to stop",
        || async { (!alive(first_pid)).then_some(()) },
    )
    .await;
    assert!(!editor.metrics().await.contains("devflow_editor_rss_bytes{"));
    let again: Value = editor.get("/", &cookie).await.json().await.unwrap();
    let second_pid = again["pid"].as_i64().unwrap() as i32;
    assert_ne!(second_pid, first_pid);
    assert!(alive(second_pid));
    assert_eq!(editor.pid(), Some(second_pid));
}

fn devflow_tests_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_of_the_editor_outlives_a_killed_daemon() {
    let temp = tempfile::tempdir().unwrap();
    let mut editor = Editor::start(temp.path(), &[]).await;
    let cookie = editor.exchange(&editor.editor_url().await).await;
    let echoed: Value = editor.get("/", &cookie).await.json().await.unwrap();
    let pid = echoed["pid"].as_i64().unwrap() as i32;
    assert!(alive(pid));
    editor.daemon.kill9();
    eventually(
        Duration::from_secs(10),
        "the editor to end with its daemon",
        || async { (!alive(pid)).then_some(()) },
    )
    .await;
}
