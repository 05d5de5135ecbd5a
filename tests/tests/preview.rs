//! The live preview through the real binary: a session's `previewUrl` is its own origin and
//! serves the site with the reload client injected; a hand edit reloads the page and is a
//! PREVIEW_UPDATED; a page's console error is a PREVIEW_ERROR; a patch is announced once,
//! with its patch id, not a second time by the watcher. Verification after a patch: a
//! stylesheet the page can no longer load, or a new error the open page reports once it has
//! applied the change, fails the command and rolls the patch back; an error the page had
//! before the patch does not.

use std::time::Duration;

use devflow_tests::fixtures::copy_site;
use devflow_tests::session::running_session;
use devflow_tests::{Client, Daemon, RestClient};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};

const CLIENT_TAG: &str = "<script src=\"/__devflow/client.js\"></script>";

const CSS_DIFF: &str = "--- a/css/styles.css
+++ b/css/styles.css
@@ -94,3 +94,3 @@
 body {
   margin: 0;
-  font-family: var(--bs-body-font-family);
+  font-family: Georgia, serif;
";

/// Events until one matches `done` (included).
async fn events_until(client: &mut RestClient, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let event = client.next_event().await;
        let stop = done(&event);
        seen.push(event);
        if stop {
            return seen;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_url_serves_the_site_with_the_reload_client_injected() {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let (session_id, preview_url) = running_session(&mut client, &site).await;

    assert!(
        preview_url.starts_with("http://127.0.0.1:"),
        "{preview_url}"
    );
    assert!(
        !preview_url.starts_with(&daemon.base_url),
        "the preview is a different origin from the API"
    );
    let session = client
        .call("session/get", json!({"sessionId": session_id}))
        .await
        .unwrap();
    assert_eq!(session["previewUrl"], preview_url.as_str());

    let page = reqwest::Client::new()
        .get(&preview_url)
        .header("accept", "text/html,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert_eq!(page.matches(CLIENT_TAG).count(), 1, "{page}");
    let original = std::fs::read_to_string(site.join("index.html")).unwrap();
    assert_eq!(
        page.replacen(CLIENT_TAG, "", 1),
        original,
        "otherwise untouched"
    );
    let head = page.find("<head>").unwrap();
    assert_eq!(
        &page[head + "<head>".len()..head + "<head>".len() + CLIENT_TAG.len()],
        CLIENT_TAG
    );

    let script = reqwest::get(format!("{preview_url}__devflow/client.js"))
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.text().await.unwrap().contains("/__devflow/ws"));

    let css = reqwest::get(format!("{preview_url}css/styles.css"))
        .await
        .unwrap();
    assert_eq!(
        css.bytes().await.unwrap().to_vec(),
        std::fs::read(site.join("css/styles.css")).unwrap(),
        "stylesheets pass byte for byte"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_edits_and_page_errors_become_session_events() {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let (_session_id, preview_url) = running_session(&mut client, &site).await;

    let ws = format!(
        "{}__devflow/ws",
        preview_url.replacen("http://", "ws://", 1)
    );
    let (mut page, _) = tokio_tungstenite::connect_async(ws.as_str()).await.unwrap();
    let hello = page.next().await.unwrap().unwrap();
    assert!(hello.to_text().unwrap().contains("\"hello\""));

    let css = site.join("css/styles.css");
    let mut text = std::fs::read_to_string(&css).unwrap();
    text.push_str("\nh1 { color: rebeccapurple; }\n");
    std::fs::write(&css, text).unwrap();
    let updated = events_until(&mut client, |e| e["type"] == "PREVIEW_UPDATED").await;
    let updated = updated.last().unwrap();
    assert_eq!(updated["data"]["files"], json!(["css/styles.css"]));
    assert_eq!(updated["data"]["cssOnly"], true);
    assert!(updated["data"].get("patchId").is_none(), "{updated}");
    let change = tokio::time::timeout(Duration::from_secs(5), page.next())
        .await
        .expect("the page hears about it")
        .unwrap()
        .unwrap();
    let change: Value = serde_json::from_str(change.to_text().unwrap()).unwrap();
    assert_eq!(change["type"], "change");
    assert_eq!(change["cssOnly"], true);

    page.send(tokio_tungstenite::tungstenite::Message::text(
        r#"{"type":"console","message":"ignored"}"#,
    ))
    .await
    .unwrap();
    page.send(tokio_tungstenite::tungstenite::Message::text(
        r#"{"type":"error","kind":"console.error","message":"Failed to load menu.json"}"#,
    ))
    .await
    .unwrap();
    let errors = events_until(&mut client, |e| e["type"] == "PREVIEW_ERROR").await;
    let error = errors.last().unwrap();
    assert_eq!(error["data"]["message"], "Failed to load menu.json");
    assert_eq!(error["data"]["source"], "console.error");

    // The reload socket is the preview's own: a foreign page cannot feed it.
    let mut foreign =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(ws.as_str())
            .unwrap();
    foreign
        .headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(foreign).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_is_announced_once_with_its_patch_id() {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let (session_id, _preview_url) = running_session(&mut client, &site).await;

    client
        .call(
            "patch/apply",
            json!({"sessionId": session_id, "unified_diff": CSS_DIFF, "reason": "serif"}),
        )
        .await
        .expect("patch/apply");
    let run = events_until(&mut client, |e| {
        e["type"] == "COMMAND_STATUS"
            && (e["data"]["status"] == "READY" || e["data"]["status"] == "FAILED")
    })
    .await;
    let updates: Vec<&Value> = run
        .iter()
        .filter(|e| e["type"] == "PREVIEW_UPDATED")
        .collect();
    assert_eq!(updates.len(), 1, "{run:#?}");
    assert!(updates[0]["data"]["patchId"].is_string());

    // Nothing from the watcher trails behind: after a pause longer than its window, the
    // next event is the one we cause now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    client
        .call("session/pause", json!({"sessionId": session_id}))
        .await
        .unwrap();
    let next = client.next_event().await;
    assert_eq!(next["type"], "SESSION_PAUSED", "{next}");
}

/// The command's final COMMAND_STATUS event after a `patch/apply`.
async fn apply_and_wait(client: &mut RestClient, session_id: &str, diff: &str) -> Value {
    client
        .call(
            "patch/apply",
            json!({"sessionId": session_id, "unified_diff": diff, "reason": "test"}),
        )
        .await
        .expect("patch/apply");
    let run = events_until(client, |e| {
        e["type"] == "COMMAND_STATUS"
            && (e["data"]["status"] == "READY" || e["data"]["status"] == "FAILED")
    })
    .await;
    run.last().unwrap().clone()
}

const BROKEN_STYLESHEET_DIFF: &str = "--- a/index.html
+++ b/index.html
@@ -11,3 +11,3 @@
         <!-- Core theme CSS (includes Bootstrap)-->
-        <link href=\"css/styles.css\" rel=\"stylesheet\" />
+        <link href=\"css/style.css\" rel=\"stylesheet\" />
     </head>
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_that_breaks_a_stylesheet_path_fails_and_is_rolled_back() {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let before = std::fs::read(site.join("index.html")).unwrap();
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let (session_id, _preview_url) = running_session(&mut client, &site).await;

    let done = apply_and_wait(&mut client, &session_id, BROKEN_STYLESHEET_DIFF).await;
    assert_eq!(done["data"]["status"], "FAILED", "{done}");
    let summary = done["data"]["errorSummary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("stylesheet /css/style.css") && summary.contains("404"),
        "names the failing URL: {summary}"
    );
    assert_eq!(
        std::fs::read(site.join("index.html")).unwrap(),
        before,
        "rolled back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stylesheet_that_was_already_missing_does_not_fail_a_patch() {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let index = site.join("index.html");
    let text = std::fs::read_to_string(&index).unwrap();
    std::fs::write(
        &index,
        text.replacen(
            "</head>",
            "    <link href=\"css/gone.css\" rel=\"stylesheet\" />\n    </head>",
            1,
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let (session_id, _preview_url) = running_session(&mut client, &site).await;

    let done = apply_and_wait(&mut client, &session_id, CSS_DIFF).await;
    assert_eq!(done["data"]["status"], "READY", "{done}");
}

const TITLE_DIFF: &str = "--- a/index.html
+++ b/index.html
@@ -7,3 +7,3 @@
         <meta name=\"author\" content=\"\" />
-        <title>Simple Sidebar - Start Bootstrap Template</title>
+        <title>Simple Sidebar</title>
         <!-- Favicon-->
";

const HEADING_DIFF: &str = "--- a/index.html
+++ b/index.html
@@ -17,3 +17,3 @@
             <div class=\"border-end bg-white\" id=\"sidebar-wrapper\">
-                <div class=\"sidebar-heading border-bottom bg-light\">Start Bootstrap</div>
+                <div class=\"sidebar-heading border-bottom bg-light\">Menu</div>
                 <div class=\"list-group list-group-flush\">
";

/// A stand-in for an open page's reload client: on every change it reports the errors
/// queued in `errors` (as the reloaded page would), then says it has settled.
async fn fake_page(
    preview_url: &str,
    errors: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) -> tokio::task::JoinHandle<()> {
    use tokio_tungstenite::tungstenite::Message;
    let ws = format!(
        "{}__devflow/ws",
        preview_url.replacen("http://", "ws://", 1)
    );
    let (mut page, _) = tokio_tungstenite::connect_async(ws.as_str()).await.unwrap();
    let hello = page.next().await.unwrap().unwrap();
    assert!(hello.to_text().unwrap().contains("\"hello\""));
    tokio::spawn(async move {
        while let Some(Ok(message)) = page.next().await {
            let Ok(text) = message.to_text() else {
                continue;
            };
            let Ok(message) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            if message["type"] != "change" {
                continue;
            }
            let queued: Vec<String> = errors.lock().unwrap().clone();
            for error in queued {
                let report = json!({"type": "error", "kind": "uncaught", "message": error});
                page.send(Message::text(report.to_string())).await.unwrap();
            }
            let settled = json!({"type": "settled", "seq": message["seq"]});
            page.send(Message::text(settled.to_string())).await.unwrap();
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_page_error_after_a_patch_fails_it_and_an_old_one_does_not() {
    use tokio_tungstenite::tungstenite::Message;
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let (session_id, preview_url) = running_session(&mut client, &site).await;

    // The page already throws this before any patch.
    let known = "ReferenceError: analytics is not defined";
    let ws = format!(
        "{}__devflow/ws",
        preview_url.replacen("http://", "ws://", 1)
    );
    let (mut early, _) = tokio_tungstenite::connect_async(ws.as_str()).await.unwrap();
    let _hello = early.next().await.unwrap().unwrap();
    early
        .send(Message::text(
            json!({"type": "error", "kind": "uncaught", "message": known}).to_string(),
        ))
        .await
        .unwrap();
    events_until(&mut client, |e| {
        e["type"] == "PREVIEW_ERROR" && e["data"]["message"] == known
    })
    .await;
    drop(early);

    let errors = std::sync::Arc::new(std::sync::Mutex::new(vec![known.to_string()]));
    let _page = fake_page(&preview_url, errors.clone()).await;
    let done = apply_and_wait(&mut client, &session_id, TITLE_DIFF).await;
    assert_eq!(
        done["data"]["status"], "READY",
        "the old error is not the patch's: {done}"
    );

    let before = std::fs::read(site.join("index.html")).unwrap();
    errors
        .lock()
        .unwrap()
        .push("TypeError: document.getElementById(...) is null".into());
    let done = apply_and_wait(&mut client, &session_id, HEADING_DIFF).await;
    assert_eq!(done["data"]["status"], "FAILED", "{done}");
    let summary = done["data"]["errorSummary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("TypeError: document.getElementById(...) is null"),
        "{summary}"
    );
    assert!(!summary.contains("analytics"), "{summary}");
    assert_eq!(
        std::fs::read(site.join("index.html")).unwrap(),
        before,
        "rolled back"
    );
}
