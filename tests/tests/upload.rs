//! `PUT <uploadUrl>` with a site zip: a good zip becomes the session's workspace and its
//! preview serves it; a hostile zip is refused naming the entry, and nothing is written.

use devflow_tests::daemon::TOKEN;
use devflow_tests::fixtures::zip_bytes;
use devflow_tests::{Client, Daemon, RestClient};
use serde_json::{json, Value};

async fn put_zip(upload_url: &str, zip: Vec<u8>) -> (u16, Value) {
    let response = reqwest::Client::new()
        .put(upload_url)
        .bearer_auth(TOKEN)
        .header("content-type", "application/zip")
        .body(zip)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_site_zip_is_unpacked_and_previewed() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let created = client
        .call("session/create", json!({"name": "upload"}))
        .await
        .unwrap();
    let session_id = created["sessionId"].as_str().unwrap().to_string();
    let upload_url = created["uploadUrl"]
        .as_str()
        .expect("an upload session has an uploadUrl");
    assert_eq!(
        upload_url,
        format!("{}/sessions/{session_id}/upload", daemon.base_url)
    );
    assert_eq!(created["source"]["kind"], "upload");

    let (status, body) = put_zip(upload_url, zip_bytes("wrapped.zip")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["files"], 19);
    let workspace = temp.path().join("state/workspaces").join(&session_id);
    assert!(
        workspace.join("index.html").is_file(),
        "the wrapper folder was stripped"
    );

    client.subscribe(&session_id, 0).await.unwrap();
    client
        .call("session/start", json!({"sessionId": session_id}))
        .await
        .unwrap();
    let preview_url = loop {
        let event = client.next_event().await;
        if event["type"] == "SESSION_READY" {
            break event["data"]["previewUrl"].as_str().unwrap().to_string();
        }
    };
    let css = reqwest::get(format!("{preview_url}css/style.css"))
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    let expected = std::fs::read(
        devflow_tests::fixtures::fixtures_dir().join("sites/html5-boilerplate/css/style.css"),
    )
    .unwrap();
    assert_eq!(css.bytes().await.unwrap().to_vec(), expected);

    let (again, body) = put_zip(upload_url, zip_bytes("simple-sidebar.zip")).await;
    assert_eq!(
        again, 409,
        "a second upload does not overwrite the site: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_zips_are_refused_naming_the_entry_and_write_nothing() {
    let temp = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    for (zip, status, entry) in [
        ("zip-slip.zip", 400, Some("../../evil.txt")),
        ("symlink.zip", 400, Some("passwd")),
        ("not-a-zip.zip", 400, None),
        ("bomb-ratio.zip", 413, Some("zeros.bin")),
    ] {
        let created = client.call("session/create", json!({})).await.unwrap();
        let session_id = created["sessionId"].as_str().unwrap();
        let (got, body) = put_zip(created["uploadUrl"].as_str().unwrap(), zip_bytes(zip)).await;
        assert_eq!(got, status, "{zip}: {body}");
        assert_eq!(body["details"]["field"], "zip", "{zip}: {body}");
        if let Some(entry) = entry {
            assert_eq!(body["details"]["value"], entry, "{zip}: {body}");
        }
        let workspace = temp.path().join("state/workspaces").join(session_id);
        let left = std::fs::read_dir(&workspace)
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(left, 0, "{zip}: nothing was written");
        let start = client
            .call("session/start", json!({"sessionId": session_id}))
            .await
            .unwrap_err();
        assert_eq!(start.status, 409, "{zip}: there is nothing to start");
    }
    assert!(!temp.path().join("evil.txt").exists());
    let uploads = std::fs::read_dir(temp.path().join("state/uploads"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(uploads, 0, "spilled uploads are removed");
}
