//! `devflow serve` with `DEVFLOW_BLOBS=s3` against moto's S3 server, driven like a client:
//! the `uploadUrl` is a presigned PUT that plain HTTP (no AWS signing, as curl) fills;
//! `session/start` ingests that object (a hostile zip is refused and writes nothing); each
//! applied patch's diff is stored as a session artifact, byte-identical, read back with the
//! real SDK client; `logsUrl` is a presigned GET that plain HTTP reads; a large upload
//! streams through; a missing bucket or refused credentials stop the daemon naming the
//! bucket, and a bucket that disappears later is named by `session/start`.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use devflow_blobs::{BlobLocation, BlobStore, S3BlobStore, S3Options};
use devflow_tests::daemon::TOKEN;
use devflow_tests::fixtures::{fixtures_dir, zip_bytes};
use devflow_tests::moto::{self, Moto};
use devflow_tests::{Client, Daemon, RestClient};
use serde_json::{json, Value};

/// The manual fix of transports.rs, on simple-sidebar's stylesheet.
const CSS_DIFF: &str = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -10831,3 +10831,3 @@\n #sidebar-wrapper {\n-  min-height: 100vh;\n+  min-height: 90vh;\n   margin-left: -15rem;\n";

/// The environment of a daemon whose blobs are in `moto`, plus `extra`.
fn s3_env(moto: &Moto, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut env = moto.aws_env();
    env.push(("DEVFLOW_BLOBS", "s3".into()));
    // AWS credentials are set, which would make Bedrock the default proposer.
    env.push(("DEVFLOW_PROPOSER", "builtin".into()));
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    env
}

fn start_daemon(state: &Path, env: &[(&'static str, String)]) -> Daemon {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Daemon::start_with(state, &pairs)
}

/// The SDK client a test reads S3 with.
async fn sdk_store(moto: &Moto) -> S3BlobStore {
    S3BlobStore::connect(S3Options {
        endpoint: Some(moto.endpoint.clone()),
        force_path_style: true,
        region: Some(moto::REGION.into()),
        credentials: Some((moto::ACCESS_KEY_ID.into(), moto::SECRET_ACCESS_KEY.into())),
        ..S3Options::default()
    })
    .await
}

/// `PUT` with nothing but the body and its type: no token, no AWS signature.
async fn plain_put(url: &str, body: Vec<u8>) -> (u16, String) {
    let response = reqwest::Client::new()
        .put(url)
        .header("content-type", "application/zip")
        .body(body)
        .send()
        .await
        .expect("S3 answers");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

async fn wait_for_status(client: &mut RestClient, status: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let event = client.next_event().await;
        let done = event["type"] == "COMMAND_STATUS"
            && (event["data"]["status"] == status || event["data"]["status"] == "FAILED");
        seen.push(event);
        if done {
            return seen;
        }
    }
}

async fn wait_until_ready(client: &mut RestClient) -> String {
    loop {
        let event = client.next_event().await;
        if event["type"] == "SESSION_READY" {
            return event["data"]["previewUrl"]
                .as_str()
                .expect("previewUrl")
                .to_string();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_presigned_upload_is_ingested_on_start_and_patches_and_logs_land_in_s3() {
    let moto = Moto::start();
    moto.create_bucket("uploads").await;
    moto.create_bucket("session-artifacts").await;
    let temp = tempfile::tempdir().unwrap();
    let daemon = start_daemon(
        &temp.path().join("state"),
        &s3_env(
            &moto,
            &[
                ("DEVFLOW_S3_UPLOADS_BUCKET", "uploads"),
                ("DEVFLOW_S3_ARTIFACTS_BUCKET", "session-artifacts"),
                ("DEVFLOW_PRESIGN_TTL_SECONDS", "900"),
            ],
        ),
    );
    let mut client = RestClient::new(&daemon);
    let created = client
        .call("session/create", json!({"name": "s3"}))
        .await
        .unwrap();
    let sid = created["sessionId"].as_str().unwrap().to_string();
    let upload_url = created["uploadUrl"].as_str().unwrap().to_string();
    assert!(
        upload_url.starts_with(&format!("{}/uploads/{sid}.zip?", moto.endpoint)),
        "a path-style presigned PUT into the uploads bucket: {upload_url}"
    );
    assert!(upload_url.contains("X-Amz-Signature="), "{upload_url}");
    assert!(
        upload_url.contains("X-Amz-Expires=900"),
        "presignTtlSeconds: {upload_url}"
    );

    let early = client
        .call("session/start", json!({"sessionId": sid}))
        .await
        .unwrap_err();
    assert_eq!(early.status, 409, "{:?}", early.body);
    let message = early.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("nothing uploaded to s3://uploads/{sid}.zip")),
        "{message}"
    );

    let (status, body) = plain_put(&upload_url, zip_bytes("simple-sidebar.zip")).await;
    assert_eq!(status, 200, "S3's own answer to the upload: {body}");

    client.subscribe(&sid, 0).await.unwrap();
    client
        .call("session/start", json!({"sessionId": sid}))
        .await
        .expect("start ingests the uploaded object");
    let preview_url = wait_until_ready(&mut client).await;
    let css = reqwest::get(format!("{preview_url}css/styles.css"))
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    let expected =
        std::fs::read(fixtures_dir().join("sites/simple-sidebar/css/styles.css")).unwrap();
    assert!(
        css.bytes().await.unwrap().to_vec() == expected,
        "the preview serves the upload"
    );
    let workspace = temp.path().join("state/workspaces").join(&sid);
    assert!(workspace.join("index.html").is_file());
    // The workspace as it started, as a snapshot artifact: every file, byte for byte.
    let snapshot_at = BlobLocation::new("session-artifacts", format!("{sid}/snapshots/start.zip"));
    let s3 = sdk_store(&moto).await;
    let snapshot = devflow_tests::daemon::eventually(
        std::time::Duration::from_secs(30),
        "the start snapshot",
        || {
            let (s3, at) = (&s3, &snapshot_at);
            async move { s3.get_bytes(at).await.ok() }
        },
    )
    .await;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(snapshot.to_vec()))
        .expect("the snapshot is a zip");
    let site = fixtures_dir().join("sites/simple-sidebar");
    let mut expected_files = Vec::new();
    let mut stack = vec![site.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                expected_files.push(path);
            }
        }
    }
    assert_eq!(archive.len(), expected_files.len(), "one entry per file");
    for path in expected_files {
        let name = path
            .strip_prefix(&site)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let mut entry = archive
            .by_name(&name)
            .unwrap_or_else(|_| panic!("{name} is in the snapshot"));
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        assert!(
            bytes == std::fs::read(&path).unwrap(),
            "{name} differs in the snapshot"
        );
    }
    let spill = temp.path().join("state/uploads");
    assert_eq!(
        std::fs::read_dir(&spill).map(|d| d.count()).unwrap_or(0),
        0,
        "the downloaded zip is removed after ingest"
    );

    client
        .call(
            "patch/apply",
            json!({"sessionId": sid, "unified_diff": CSS_DIFF, "reason": "shorter sidebar"}),
        )
        .await
        .expect("patch/apply");
    let run = wait_for_status(&mut client, "READY").await;
    assert_eq!(run.last().unwrap()["data"]["status"], "READY", "{run:?}");
    let patch_id = run
        .iter()
        .find(|e| e["type"] == "PATCH_APPLY_COMPLETED")
        .and_then(|e| e["data"]["patchId"].as_str())
        .expect("a patch was applied")
        .to_string();
    assert!(
        !run.iter()
            .any(|e| e["type"] == "LOG" && e["data"]["level"] == "warn"),
        "no artifact warning: {run:?}"
    );
    let patch = client
        .call("patch/get", json!({"sessionId": sid, "patchId": patch_id}))
        .await
        .unwrap();
    let s3 = sdk_store(&moto).await;
    let diff_at = BlobLocation::new(
        "session-artifacts",
        format!("{sid}/patches/{patch_id}.diff"),
    );
    let stored = s3
        .get_bytes(&diff_at)
        .await
        .expect("the diff artifact exists");
    assert_eq!(
        stored.as_ref(),
        patch["unifiedDiff"].as_str().unwrap().as_bytes(),
        "the artifact is the patch's diff, byte for byte"
    );

    // Verified in a browser (Chromium installed), the command's pictures are artifacts in
    // S3 too, and the daemon's screenshot route serves them from there.
    let command_id = run.last().unwrap()["commandId"]
        .as_str()
        .unwrap()
        .to_string();
    let command = client
        .call(
            "command/get",
            json!({"sessionId": sid, "commandId": command_id}),
        )
        .await
        .unwrap();
    if command["verification"]["mode"] == "browser" {
        let picture_at = BlobLocation::new(
            "session-artifacts",
            format!("{sid}/screenshots/{command_id}/desktop-after-1.png"),
        );
        let stored = s3
            .get_bytes(&picture_at)
            .await
            .expect("the screenshot artifact exists");
        assert!(stored.starts_with(b"\x89PNG"), "a PNG");
        let url = command["screenshots"][0]["after"].as_str().unwrap();
        assert!(url.ends_with("/desktop-after-1.png"), "{url}");
        let served = reqwest::Client::new()
            .get(url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(served.status(), 200, "{url}");
        assert_eq!(
            served.bytes().await.unwrap(),
            stored,
            "the route serves the S3 copy"
        );
    }

    let session = client
        .call("session/get", json!({"sessionId": sid}))
        .await
        .unwrap();
    let logs_url = session["logsUrl"].as_str().unwrap().to_string();
    assert!(
        logs_url.starts_with(&format!(
            "{}/session-artifacts/{sid}/logs/session.log?",
            moto.endpoint
        )),
        "{logs_url}"
    );
    let log = reqwest::get(&logs_url).await.unwrap();
    assert_eq!(log.status(), 200);
    let log = log.text().await.unwrap();
    assert!(
        log.contains("session created") && log.contains(&patch_id),
        "the log copy tells the session's story: {log}"
    );
    assert!(
        logs_url.contains("X-Amz-Expires=900"),
        "presignTtlSeconds: {logs_url}"
    );
    // The copy follows the log: what happens next is in the next read's copy.
    client
        .call("session/pause", json!({"sessionId": sid}))
        .await
        .unwrap();
    assert!(!log.contains("queue paused/resumed"));
    let again = client
        .call("session/get", json!({"sessionId": sid}))
        .await
        .unwrap();
    let log = reqwest::get(again["logsUrl"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(log.contains("queue paused/resumed"), "{log}");

    client
        .call("session/delete", json!({"sessionId": sid}))
        .await
        .unwrap();
    let left = s3
        .list(&BlobLocation::new("session-artifacts", format!("{sid}/")))
        .await
        .unwrap();
    assert!(left.is_empty(), "artifacts go with the session: {left:?}");
    assert!(!s3
        .exists(&BlobLocation::new("uploads", format!("{sid}.zip")))
        .await
        .unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_zip_uploaded_to_s3_is_refused_on_start_and_writes_nothing() {
    let moto = Moto::start();
    moto.create_bucket("team").await;
    let temp = tempfile::tempdir().unwrap();
    let daemon = start_daemon(
        &temp.path().join("state"),
        &s3_env(&moto, &[("DEVFLOW_S3_BUCKET", "team")]),
    );
    let mut client = RestClient::new(&daemon);
    let created = client.call("session/create", json!({})).await.unwrap();
    let sid = created["sessionId"].as_str().unwrap().to_string();
    let upload_url = created["uploadUrl"].as_str().unwrap();
    assert!(
        upload_url.starts_with(&format!("{}/team/uploads/{sid}.zip?", moto.endpoint)),
        "one bucket: the seed's folders are prefixes: {upload_url}"
    );
    let (status, body) = plain_put(upload_url, zip_bytes("zip-slip.zip")).await;
    assert_eq!(status, 200, "{body}");

    let refused = client
        .call("session/start", json!({"sessionId": sid}))
        .await
        .unwrap_err();
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert_eq!(refused.body["error"], "VALIDATION_ERROR");
    assert_eq!(refused.body["details"]["field"], "zip");
    assert_eq!(refused.body["details"]["value"], "../../evil.txt");
    let workspace = temp.path().join("state/workspaces").join(&sid);
    assert_eq!(
        std::fs::read_dir(&workspace)
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "nothing was written"
    );
    assert!(!temp.path().join("evil.txt").exists());
    assert!(!temp.path().join("state/evil.txt").exists());
    let session = client
        .call("session/get", json!({"sessionId": sid}))
        .await
        .unwrap();
    assert_eq!(session["status"], "CREATED");
}

/// A zip of an `index.html` and a 12 MiB file stored uncompressed: larger than one 8 MiB
/// part, and not compressible to less.
fn large_site_zip() -> (Vec<u8>, Vec<u8>) {
    let big: Vec<u8> = (0..12u64 * 1024 * 1024 + 777)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    writer.start_file("index.html", stored).unwrap();
    writer
        .write_all(b"<!doctype html><title>big</title><p>big</p>")
        .unwrap();
    writer.start_file("assets/big.bin", stored).unwrap();
    writer.write_all(&big).unwrap();
    (writer.finish().unwrap().into_inner(), big)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_larger_than_a_part_streams_through_whole() {
    let moto = Moto::start();
    moto.create_bucket("team").await;
    let temp = tempfile::tempdir().unwrap();
    let daemon = start_daemon(
        &temp.path().join("state"),
        &s3_env(
            &moto,
            &[
                ("DEVFLOW_S3_BUCKET", "team"),
                ("DEVFLOW_S3_PREFIX", "devflow"),
            ],
        ),
    );
    let mut client = RestClient::new(&daemon);
    let created = client.call("session/create", json!({})).await.unwrap();
    let sid = created["sessionId"].as_str().unwrap().to_string();
    let upload_url = created["uploadUrl"].as_str().unwrap();
    assert!(
        upload_url.starts_with(&format!(
            "{}/team/devflow/uploads/{sid}.zip?",
            moto.endpoint
        )),
        "{upload_url}"
    );
    let (zip, big) = large_site_zip();
    let (status, body) = plain_put(upload_url, zip).await;
    assert_eq!(status, 200, "{body}");
    client.subscribe(&sid, 0).await.unwrap();
    client
        .call("session/start", json!({"sessionId": sid}))
        .await
        .unwrap();
    let preview_url = wait_until_ready(&mut client).await;
    let served = reqwest::get(format!("{preview_url}assets/big.bin"))
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert!(
        served.bytes().await.unwrap().to_vec() == big,
        "byte-identical"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_that_disappears_is_named_when_the_session_starts() {
    let moto = Moto::start();
    moto.create_bucket("uploads").await;
    moto.create_bucket("session-artifacts").await;
    let temp = tempfile::tempdir().unwrap();
    let daemon = start_daemon(
        &temp.path().join("state"),
        &s3_env(
            &moto,
            &[
                ("DEVFLOW_S3_UPLOADS_BUCKET", "uploads"),
                ("DEVFLOW_S3_ARTIFACTS_BUCKET", "session-artifacts"),
            ],
        ),
    );
    let mut client = RestClient::new(&daemon);
    let created = client.call("session/create", json!({})).await.unwrap();
    let sid = created["sessionId"].as_str().unwrap();
    let deleted = reqwest::Client::new()
        .delete(format!("{}/uploads", moto.endpoint))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let error = client
        .call("session/start", json!({"sessionId": sid}))
        .await
        .unwrap_err();
    assert_eq!(error.status, 501, "{:?}", error.body);
    assert_eq!(error.body["error"], "NOT_CONFIGURED");
    assert_eq!(
        error.body["message"],
        "S3 bucket 'uploads' does not exist: create it or set s3Bucket / DEVFLOW_S3_BUCKET"
    );
}

/// Runs `devflow serve` expecting it to refuse to start; returns its stderr.
fn serve_refuses(state: &Path, env: &[(&'static str, String)]) -> String {
    let mut child = Command::new(devflow_tests::daemon::binary())
        .args(["serve", "--port", "0", "--state-dir"])
        .arg(state)
        .args(["--token", TOKEN])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("devflow starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("devflow kept running with an unusable S3 configuration");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!status.success(), "devflow must not start: {stdout}");
    assert!(!stdout.contains("listening"), "no API was served: {stdout}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_bucket_stops_the_daemon_naming_the_bucket_and_the_fix() {
    let moto = Moto::start();
    let temp = tempfile::tempdir().unwrap();
    let stderr = serve_refuses(
        &temp.path().join("state"),
        &s3_env(&moto, &[("DEVFLOW_S3_BUCKET", "devflow-missing")]),
    );
    assert!(
        stderr.contains(
            "S3 bucket 'devflow-missing' does not exist: create it or set s3Bucket / DEVFLOW_S3_BUCKET"
        ),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_stop_the_daemon_naming_the_bucket_and_the_permission() {
    // IAM checks from the second call on: the bucket is made, then every call is checked.
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "1")]);
    moto.create_bucket("team").await;
    let temp = tempfile::tempdir().unwrap();
    let mut env = s3_env(&moto, &[("DEVFLOW_S3_BUCKET", "team")]);
    for (key, value) in env.iter_mut() {
        if *key == "AWS_ACCESS_KEY_ID" {
            *value = "AKIAUNKNOWNUNKNOWN00".into();
        }
    }
    let stderr = serve_refuses(&temp.path().join("state"), &env);
    assert!(
        stderr.contains("access denied to s3://team")
            && stderr.contains("s3:ListBucket on arn:aws:s3:::team"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diff_that_cannot_be_stored_is_a_warning_and_the_patch_still_applies() {
    let moto = Moto::start();
    moto.create_bucket("uploads").await;
    moto.create_bucket("session-artifacts").await;
    let temp = tempfile::tempdir().unwrap();
    let daemon = start_daemon(
        &temp.path().join("state"),
        &s3_env(
            &moto,
            &[
                ("DEVFLOW_S3_UPLOADS_BUCKET", "uploads"),
                ("DEVFLOW_S3_ARTIFACTS_BUCKET", "session-artifacts"),
            ],
        ),
    );
    let mut client = RestClient::new(&daemon);
    let created = client.call("session/create", json!({})).await.unwrap();
    let sid = created["sessionId"].as_str().unwrap().to_string();
    let (status, body) = plain_put(
        created["uploadUrl"].as_str().unwrap(),
        zip_bytes("simple-sidebar.zip"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    client.subscribe(&sid, 0).await.unwrap();
    client
        .call("session/start", json!({"sessionId": sid}))
        .await
        .unwrap();
    wait_until_ready(&mut client).await;

    // The artifacts bucket goes away (emptied first: S3 deletes only empty buckets), after
    // the start snapshot, written in the background, has landed in it.
    let s3 = sdk_store(&moto).await;
    let snapshot_at = BlobLocation::new("session-artifacts", format!("{sid}/snapshots/start.zip"));
    devflow_tests::daemon::eventually(
        std::time::Duration::from_secs(30),
        "the start snapshot",
        || {
            let (s3, at) = (&s3, &snapshot_at);
            async move { s3.exists(at).await.ok().filter(|exists| *exists) }
        },
    )
    .await;
    s3.delete_prefix(&BlobLocation::new("session-artifacts", ""))
        .await
        .unwrap();
    let deleted = reqwest::Client::new()
        .delete(format!("{}/session-artifacts", moto.endpoint))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());

    client
        .call(
            "patch/apply",
            json!({"sessionId": sid, "unified_diff": CSS_DIFF, "reason": "shorter sidebar"}),
        )
        .await
        .expect("patch/apply");
    let run = wait_for_status(&mut client, "READY").await;
    assert_eq!(run.last().unwrap()["data"]["status"], "READY", "{run:?}");
    let warning = run
        .iter()
        .find(|e| e["type"] == "LOG" && e["data"]["level"] == "warn")
        .unwrap_or_else(|| panic!("a warning event: {run:?}"));
    let message = warning["data"]["message"].as_str().unwrap();
    assert!(
        message.contains("could not be stored")
            && message.contains("S3 bucket 'session-artifacts' does not exist"),
        "{message}"
    );
    let styles = std::fs::read_to_string(
        temp.path()
            .join("state/workspaces")
            .join(&sid)
            .join("css/styles.css"),
    )
    .unwrap();
    assert!(styles.contains("min-height: 90vh;"), "the patch is applied");
    let patch_id = run
        .iter()
        .find(|e| e["type"] == "PATCH_APPLY_COMPLETED")
        .and_then(|e| e["data"]["patchId"].as_str())
        .unwrap();
    let patch = client
        .call("patch/get", json!({"sessionId": sid, "patchId": patch_id}))
        .await
        .unwrap();
    assert_eq!(patch["state"], "APPLIED");
}
