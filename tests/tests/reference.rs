//! The FrontSwatch reference through the API: tokens JSON or a zip with screens, resolved
//! tokens and the drift score back, screens served sandboxed, a bad token file refused
//! naming the problem, and a DRIFT_REPORT after an applied patch.

use std::io::Write;

use devflow_tests::daemon::TOKEN;
use devflow_tests::fixtures::{copy_site, fixtures_dir};
use devflow_tests::screens::put_reference;
use devflow_tests::{Client, Daemon, RestClient};
use serde_json::json;

fn dtcg_tokens() -> Vec<u8> {
    std::fs::read(fixtures_dir().join("tokens/dtcg-small/tokens.json")).unwrap()
}

fn reference_zip() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("tokens.json", stored).unwrap();
    zip.write_all(&dtcg_tokens()).unwrap();
    zip.start_file("screens/home.html", stored).unwrap();
    zip.write_all(
        b"<html><body><h1>Ideal home</h1><script>fetch('/sessions')</script></body></html>",
    )
    .unwrap();
    zip.finish().unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reference_is_set_read_back_with_drift_and_its_screens_are_sandboxed() {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let created = client
        .call(
            "session/create",
            json!({"source": {"kind": "dir", "path": site}}),
        )
        .await
        .unwrap();
    let sid = created["sessionId"].as_str().unwrap().to_string();

    let missing = client
        .call("reference/get", json!({"sessionId": sid}))
        .await
        .unwrap_err();
    assert_eq!(missing.status, 404);

    let (status, reference) = put_reference(&daemon, &sid, dtcg_tokens(), "application/json").await;
    assert_eq!(status, 200, "{reference}");
    assert_eq!(reference["tokens"].as_array().unwrap().len(), 35);
    let primary = reference["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["path"] == "color.palette.indigo.500")
        .unwrap();
    assert_eq!(primary["value"], "#4f46e5");
    let score = reference["driftScore"]
        .as_f64()
        .expect("a drift score for the site");
    assert!(score > 0.0 && score < 1.0, "{score}");
    let session = client
        .call("session/get", json!({"sessionId": sid}))
        .await
        .unwrap();
    assert_eq!(session["referenceId"], reference["referenceId"]);

    let (status, with_screen) =
        put_reference(&daemon, &sid, reference_zip(), "application/zip").await;
    assert_eq!(status, 200, "{with_screen}");
    assert_ne!(with_screen["referenceId"], reference["referenceId"]);
    let screen = &with_screen["screens"][0];
    assert_eq!(screen["name"], "home");
    assert_eq!(screen["mediaType"], "text/html");
    let page = reqwest::Client::new()
        .get(screen["url"].as_str().unwrap())
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.starts_with("sandbox"),
        "an uploaded HTML screen runs sandboxed: {csp}"
    );
    assert!(page.text().await.unwrap().contains("Ideal home"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_naming_the_token_and_keep_the_old_reference() {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let created = client
        .call(
            "session/create",
            json!({"source": {"kind": "dir", "path": site}}),
        )
        .await
        .unwrap();
    let sid = created["sessionId"].as_str().unwrap().to_string();
    let (status, good) = put_reference(&daemon, &sid, dtcg_tokens(), "application/json").await;
    assert_eq!(status, 200);

    let cycle =
        br#"{"color":{"$type":"color","a":{"$value":"{color.b}"},"b":{"$value":"{color.a}"}}}"#
            .to_vec();
    let (status, error) = put_reference(&daemon, &sid, cycle, "application/json").await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["details"]["field"], "tokens");
    assert!(
        error["message"].as_str().unwrap().contains("color.a"),
        "{error}"
    );
    let (status, error) =
        put_reference(&daemon, &sid, b"{not json".to_vec(), "application/json").await;
    assert_eq!(
        (status, error["error"].as_str()),
        (400, Some("PARSE_ERROR"))
    );

    let still = client
        .call("reference/get", json!({"sessionId": sid}))
        .await
        .unwrap();
    assert_eq!(
        still["referenceId"], good["referenceId"],
        "a refused reference changes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_applied_patch_reports_the_drift_before_and_after() {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let created = client
        .call(
            "session/create",
            json!({"source": {"kind": "dir", "path": site}}),
        )
        .await
        .unwrap();
    let sid = created["sessionId"].as_str().unwrap().to_string();
    put_reference(&daemon, &sid, dtcg_tokens(), "application/json").await;
    client.subscribe(&sid, 0).await.unwrap();

    // The caption's grey becomes the reference's slate: one more declaration on-token.
    let diff = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -316,7 +316,7 @@\n caption {\n   padding-top: 0.5rem;\n   padding-bottom: 0.5rem;\n-  color: #6c757d;\n+  color: #64748b;\n   text-align: left;\n }\n \n";
    let applied = client
        .call(
            "patch/apply",
            json!({"sessionId": sid, "unified_diff": diff}),
        )
        .await
        .unwrap();
    let report = loop {
        let event = client.next_event().await;
        assert_ne!(event["data"]["status"], "FAILED", "{event}");
        if event["type"] == "DRIFT_REPORT" {
            break event["data"]["report"].clone();
        }
    };
    let command = client
        .call(
            "command/get",
            json!({"sessionId": sid, "commandId": applied["commandId"]}),
        )
        .await
        .unwrap();
    let (before, after) = (
        command["driftBefore"].as_f64().unwrap(),
        command["driftAfter"].as_f64().unwrap(),
    );
    assert!(
        after > before,
        "moving a colour onto a token raises the score: {before} → {after}"
    );
    assert_eq!(report["score"].as_f64().unwrap(), after);
    let entry = report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["value"] == "#64748b")
        .expect("the new colour is listed");
    assert_eq!(entry["onToken"], true);
    assert_eq!(entry["kind"], "color");
}
