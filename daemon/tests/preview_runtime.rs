//! The preview runtime (`SessionPreviews`) with real processes: a `dev` script that is a tiny
//! node HTTP server written here (no `npm install`), run through `npm run dev`. It proves
//! the port injection, the scrubbed environment, readiness, restart after a crash, and that
//! stopping kills the whole process group; and, for a static site, the watcher, devflow's
//! own writes, relayed console errors and what verification after a change catches.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use devflow_daemon::parts::PreviewRuntime;
use devflow_daemon::preview::{PreviewEvent, PreviewSettings, SessionPreviews};
use devflow_protocol::EventBody;
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;

const SESSION: &str = "0b5c1a7e-1111-4222-8333-944445555666";

/// The dev server: answers `/` with a page, `/env` with its environment and argv, `/pids`
/// with its own and a grandchild's pid (the grandchild ignores SIGTERM), `/crash` by dying.
const SERVER_JS: &str = r#"
const http = require('http');
const { spawn } = require('child_process');
const argPort = process.argv[process.argv.indexOf('--port') + 1];
const grandchild = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], { stdio: 'ignore' });
console.error('dev server error: just saying hello on stderr');
http.createServer((req, res) => {
  if (req.url === '/env') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ env: process.env, argPort }));
  } else if (req.url === '/pids') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ server: process.pid, grandchild: grandchild.pid }));
  } else if (req.url === '/crash') {
    res.end('bye');
    setTimeout(() => process.exit(3), 10);
  } else {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end('<!doctype html><html><head><title>dev</title></head><body>dev server</body></html>');
  }
}).listen(Number(process.env.PORT), '127.0.0.1');
"#;

fn node_available() -> bool {
    let found = std::process::Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: npm/node are not installed");
    }
    found
}

fn dev_project(server_js: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("package.json"),
        r#"{"name":"fixture","private":true,"scripts":{"dev":"node server.js"}}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("server.js"), server_js).unwrap();
    // Present, so no install runs.
    std::fs::create_dir(dir.path().join("node_modules")).unwrap();
    dir
}

fn runtime() -> (Arc<SessionPreviews>, mpsc::Receiver<PreviewEvent>) {
    let (sender, receiver) = mpsc::channel(256);
    let settings = PreviewSettings {
        ready_timeout: Duration::from_secs(30),
        ..PreviewSettings::default()
    };
    (Arc::new(SessionPreviews::new(settings, sender)), receiver)
}

async fn get(url: &str) -> Result<(u16, String), String> {
    let response = reqwest::Client::new()
        .get(url)
        .header("accept", "text/html")
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.map_err(|e| e.to_string())?))
}

async fn json(url: &str) -> serde_json::Value {
    let (status, body) = get(url).await.unwrap();
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// The next event matching `wanted`, within `timeout`.
async fn next_event(
    events: &mut mpsc::Receiver<PreviewEvent>,
    timeout: Duration,
    wanted: impl Fn(&EventBody) -> bool,
) -> Option<EventBody> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) if wanted(&event.body) => return Some(event.body),
            Ok(Some(_)) => continue,
            _ => return None,
        }
    }
}

fn alive(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        // A zombie has exited; only its parent's reaping is left.
        Ok(status) => !status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z')),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dev_script_runs_with_the_port_injected_and_without_the_daemons_secrets() {
    if !node_available() {
        return;
    }
    // SAFETY (edition 2021: safe fn): set before any child starts; no other test in this
    // binary reads these.
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "do-not-leak");
    std::env::set_var("AWS_PROFILE", "do-not-leak");
    std::env::set_var("DEVFLOW_TOKEN", "do-not-leak");
    let project = dev_project(SERVER_JS);
    let (previews, _events) = runtime();
    let handle = previews.start(SESSION, project.path()).await.unwrap();
    assert!(
        handle.url.starts_with("http://127.0.0.1:"),
        "{}",
        handle.url
    );

    let (status, page) = get(&handle.url).await.unwrap();
    assert_eq!(status, 200);
    assert!(
        page.contains("<head><script src=\"/__devflow/client.js\"></script><title>dev</title>"),
        "{page}"
    );

    let seen = json(&format!("{}env", handle.url)).await;
    let env = seen["env"].as_object().unwrap();
    let leaked: Vec<&String> = env
        .keys()
        .filter(|k| k.to_ascii_uppercase().starts_with("AWS_") || *k == "DEVFLOW_TOKEN")
        .collect();
    assert!(
        leaked.is_empty(),
        "secrets reached the dev server: {leaked:?}"
    );
    assert_eq!(seen["argPort"], env["PORT"], "--port and PORT agree");
    assert!(env.contains_key("PATH"));
    previews.stop(SESSION).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_dev_server_is_restarted_and_reported() {
    if !node_available() {
        return;
    }
    let project = dev_project(SERVER_JS);
    let (previews, mut events) = runtime();
    let handle = previews.start(SESSION, project.path()).await.unwrap();
    let before = json(&format!("{}pids", handle.url)).await;
    let _ = get(&format!("{}crash", handle.url)).await;

    let crash = next_event(
        &mut events,
        Duration::from_secs(10),
        |body| matches!(body, EventBody::PreviewError { source: Some(s), .. } if s == "dev-server"),
    )
    .await
    .expect("the crash becomes a PREVIEW_ERROR");
    let EventBody::PreviewError { message, .. } = crash else {
        unreachable!()
    };
    assert!(message.contains("exit code 3"), "{message}");

    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        if let Ok((200, body)) = get(&format!("{}pids", handle.url)).await {
            break serde_json::from_str::<serde_json::Value>(&body).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the dev server did not come back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(before["server"], after["server"], "a new process serves");
    assert!(
        previews
            .recent_errors(SESSION)
            .await
            .iter()
            .any(|e| e.contains("exit code 3")),
        "the crash is among the recent errors for the proposer"
    );
    previews.stop(SESSION).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_kills_the_whole_process_group_even_what_ignores_sigterm() {
    if !node_available() {
        return;
    }
    let project = dev_project(SERVER_JS);
    let (previews, _events) = runtime();
    let handle = previews.start(SESSION, project.path()).await.unwrap();
    let pids = json(&format!("{}pids", handle.url)).await;
    let server = pids["server"].as_u64().unwrap();
    let grandchild = pids["grandchild"].as_u64().unwrap();
    assert!(alive(server) && alive(grandchild));

    previews.stop(SESSION).await;
    let deadline = Instant::now() + Duration::from_secs(3);
    while (alive(server) || alive(grandchild)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!alive(server), "the dev server is gone");
    assert!(!alive(grandchild), "its SIGTERM-ignoring child is gone too");
    assert!(
        get(&handle.url).await.is_err(),
        "the preview port is closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dev_server_that_dies_at_start_fails_with_its_output() {
    if !node_available() {
        return;
    }
    let project = dev_project("console.error('Error: Cannot find module vite'); process.exit(1);");
    let (previews, _events) = runtime();
    let error = previews.start(SESSION, project.path()).await.unwrap_err();
    assert!(error.contains("exit code 1"), "{error}");
    assert!(error.contains("Cannot find module vite"), "{error}");
}

fn static_site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("css")).unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><html><head><link rel=stylesheet href=css/style.css></head><body>hi</body></html>",
    )
    .unwrap();
    std::fs::write(dir.path().join("css/style.css"), "body { color: #333; }\n").unwrap();
    dir
}

async fn reload_socket(
    url: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let ws = format!("{}__devflow/ws", url.replacen("http://", "ws://", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(ws.as_str()).await.unwrap();
    let hello = socket.next().await.unwrap().unwrap();
    assert!(hello.to_text().unwrap().contains("\"hello\""));
    socket
}

async fn next_message(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    timeout: Duration,
) -> Option<serde_json::Value> {
    let message = tokio::time::timeout(timeout, socket.next())
        .await
        .ok()??
        .ok()?;
    serde_json::from_str(message.to_text().ok()?).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_edits_reload_the_page_and_become_preview_updated() {
    let site = static_site();
    let (previews, mut events) = runtime();
    let handle = previews.start(SESSION, site.path()).await.unwrap();
    let mut socket = reload_socket(&handle.url).await;

    std::fs::write(site.path().join("css/style.css"), "body { color: red; }\n").unwrap();
    let change = next_message(&mut socket, Duration::from_secs(5))
        .await
        .expect("the page hears about the edit");
    assert_eq!(change["type"], "change");
    assert_eq!(change["cssOnly"], true);
    assert_eq!(change["files"], serde_json::json!(["css/style.css"]));
    let updated = next_event(&mut events, Duration::from_secs(5), |body| {
        matches!(body, EventBody::PreviewUpdated { .. })
    })
    .await
    .expect("a PREVIEW_UPDATED");
    assert_eq!(
        updated,
        EventBody::PreviewUpdated {
            patch_id: None,
            files: vec!["css/style.css".into()],
            css_only: true
        }
    );
    previews.stop(SESSION).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devflows_own_writes_are_announced_once_by_the_pipeline_not_by_the_watcher() {
    let site = static_site();
    let (previews, mut events) = runtime();
    let handle = previews.start(SESSION, site.path()).await.unwrap();
    let mut socket = reload_socket(&handle.url).await;
    let files = vec!["css/style.css".to_string()];

    // What the pipeline does around a patch: announce, write (temp file + rename), done.
    previews.files_writing(SESSION, &files).await;
    let temp = site.path().join("css/.style.css.devflow-1-1.tmp");
    std::fs::write(&temp, "body { color: #4f46e5; }\n").unwrap();
    std::fs::rename(&temp, site.path().join("css/style.css")).unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    previews.files_changed(SESSION, &files).await;

    let change = next_message(&mut socket, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(change["files"], serde_json::json!(["css/style.css"]));
    assert!(
        next_message(&mut socket, Duration::from_millis(400))
            .await
            .is_none(),
        "one reload message, not two"
    );
    assert!(
        next_event(&mut events, Duration::from_millis(400), |body| matches!(
            body,
            EventBody::PreviewUpdated { .. }
        ))
        .await
        .is_none(),
        "the watcher leaves devflow's write to the pipeline's PREVIEW_UPDATED"
    );

    // A hand edit right after is somebody else's change again.
    std::fs::write(site.path().join("css/style.css"), "body { color: teal; }\n").unwrap();
    assert!(
        next_event(&mut events, Duration::from_secs(5), |body| matches!(
            body,
            EventBody::PreviewUpdated { patch_id: None, .. }
        ))
        .await
        .is_some()
    );
    previews.stop(SESSION).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_errors_from_the_page_become_preview_errors_and_recent_errors() {
    let site = static_site();
    let (previews, mut events) = runtime();
    let handle = previews.start(SESSION, site.path()).await.unwrap();
    let mut socket = reload_socket(&handle.url).await;
    let report = r#"{"type":"error","kind":"uncaught","message":"TypeError: menu is null","url":"http://127.0.0.1/js/app.js","line":12,"column":5}"#;
    for _ in 0..3 {
        socket
            .send(tokio_tungstenite::tungstenite::Message::text(report))
            .await
            .unwrap();
    }
    let event = next_event(&mut events, Duration::from_secs(5), |body| {
        matches!(body, EventBody::PreviewError { .. })
    })
    .await
    .expect("a PREVIEW_ERROR");
    assert_eq!(
        event,
        EventBody::PreviewError {
            message: "TypeError: menu is null (at http://127.0.0.1/js/app.js:12:5)".into(),
            source: Some("uncaught".into())
        }
    );
    assert!(
        next_event(&mut events, Duration::from_millis(300), |body| matches!(
            body,
            EventBody::PreviewError { .. }
        ))
        .await
        .is_none(),
        "repeats are not announced again"
    );
    assert_eq!(
        previews.recent_errors(SESSION).await,
        ["uncaught: TypeError: menu is null (at http://127.0.0.1/js/app.js:12:5)"]
    );
    assert!(previews.verify(SESSION).await.is_ok());
    previews.stop(SESSION).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fixture_sites_preview_with_the_client_injected() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/sites");
    for site in ["html5-boilerplate", "simple-sidebar"] {
        let (previews, _events) = runtime();
        let handle = previews.start(SESSION, &fixtures.join(site)).await.unwrap();
        let (status, page) = get(&handle.url).await.unwrap();
        assert_eq!(status, 200, "{site}");
        assert_eq!(
            page.matches("<script src=\"/__devflow/client.js\"></script>")
                .count(),
            1,
            "{site}"
        );
        previews.stop(SESSION).await;
    }
}

/// What the pipeline does around a patch, with `write` as the patch; the verdict.
async fn verify_after(
    previews: &SessionPreviews,
    site: &Path,
    file: &str,
    content: &str,
) -> Result<(), String> {
    let files = vec![file.to_string()];
    previews.files_writing(SESSION, &files).await;
    std::fs::write(site.join(file), content).unwrap();
    previews.files_changed(SESSION, &files).await;
    previews.verify(SESSION).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_fails_on_each_way_a_page_can_break_and_passes_otherwise() {
    let site = static_site();
    std::fs::create_dir(site.path().join("js")).unwrap();
    std::fs::write(site.path().join("js/app.js"), "console.log('hi');\n").unwrap();
    let page =
        |head: &str| format!("<!doctype html><html><head>{head}</head><body>hi</body></html>");
    let good = page("<link rel=stylesheet href=css/style.css><script src=\"js/app.js\"></script>");
    std::fs::write(site.path().join("index.html"), &good).unwrap();
    let (previews, _events) = runtime();
    previews.start(SESSION, site.path()).await.unwrap();

    assert_eq!(
        verify_after(&previews, site.path(), "css/style.css", "body{}").await,
        Ok(())
    );

    let missing_script =
        page("<link rel=stylesheet href=css/style.css><script src=\"js/ap.js\"></script>");
    let error = verify_after(&previews, site.path(), "index.html", &missing_script)
        .await
        .unwrap_err();
    assert_eq!(error, "the page's script /js/ap.js answers HTTP 404");

    std::fs::write(site.path().join("index.html"), &good).unwrap();
    let error = verify_after(&previews, site.path(), "index.html", "  \n")
        .await
        .unwrap_err();
    assert_eq!(error, "the page is empty");

    // A change that removes the page.
    std::fs::write(site.path().join("index.html"), &good).unwrap();
    let files = vec!["index.html".to_string()];
    previews.files_writing(SESSION, &files).await;
    std::fs::remove_file(site.path().join("index.html")).unwrap();
    previews.files_changed(SESSION, &files).await;
    assert_eq!(
        previews.verify(SESSION).await,
        Err("the page answers HTTP 404".to_string())
    );
    // The page was already missing before this change: not the change's fault.
    assert_eq!(
        verify_after(&previews, site.path(), "css/style.css", "body{color:red}").await,
        Ok(())
    );

    // Cross-origin references are not the site's to fix.
    let cdn = page("<script src=\"https://cdn.example/x.js\"></script>");
    std::fs::write(site.path().join("index.html"), &good).unwrap();
    assert_eq!(
        verify_after(&previews, site.path(), "index.html", &cdn).await,
        Ok(())
    );
    previews.stop(SESSION).await;
}
