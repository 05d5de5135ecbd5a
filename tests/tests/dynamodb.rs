//! `store = "dynamodb"` from the outside, against moto's server mode: `devflow aws init` twice
//! (created, then exists), a daemon that refuses to start without the tables and says how to
//! make them, and a daemon whose session, patch and events survive `kill -9` in DynamoDB.

use std::process::{Command, Stdio};
use std::time::Duration;

use devflow_tests::daemon::{binary, eventually};
use devflow_tests::fixtures::copy_site;
use devflow_tests::moto::Moto;
use devflow_tests::{Client, Daemon, RestClient};
use serde_json::{json, Value};

const DIFF: &str = "--- a/index.html\n+++ b/index.html\n@@ -1,3 +1,3 @@\n-<!DOCTYPE html>\n+<!doctype html>\n <html lang=\"en\">\n     <head>\n";

/// What a `devflow` process needs for the DynamoDB store on `moto`, tables `prefix*`.
fn fleet_env(moto: &Moto, prefix: &str) -> Vec<(&'static str, String)> {
    let mut env = moto.aws_env();
    env.extend([
        ("AWS_ENDPOINT_URL_DYNAMODB", moto.endpoint.clone()),
        ("DEVFLOW_STORE", "dynamodb".into()),
        ("DEVFLOW_TABLE_PREFIX", prefix.into()),
    ]);
    env
}

/// Runs `devflow <args>` to its end; (exit code, stdout, stderr).
fn run(args: &[&str], env: &[(&'static str, String)]) -> (i32, String, String) {
    let output = Command::new(binary())
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .output()
        .expect("devflow runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn aws_init_creates_the_tables_bucket_and_queue_then_finds_them() {
    let moto = Moto::start();
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap();
    let mut env = fleet_env(&moto, "ci-");
    env.extend([
        ("AWS_ENDPOINT_URL_SQS", moto.endpoint.clone()),
        ("DEVFLOW_BLOBS", "s3".into()),
        ("DEVFLOW_S3_BUCKET", "ci-designs".into()),
        ("DEVFLOW_EVENTS", "sqs".into()),
        ("DEVFLOW_DAEMON_ID", "ci-1".into()),
    ]);
    let (code, out, err) = run(&["aws", "init", "--state-dir", state_dir], &env);
    assert_eq!(code, 0, "{out}\n{err}");
    for table in [
        "sessions",
        "commands",
        "events",
        "patches",
        "journals",
        "idempotency",
        "leases",
        "daemons",
    ] {
        assert!(out.contains(&format!("created ci-{table}\n")), "{out}");
    }
    assert!(out.contains("created s3://ci-designs\n"), "{out}");
    assert!(
        out.contains("created ci-daemon-ci-1 (daemon ci-1)\n"),
        "{out}"
    );
    let (code, out, err) = run(&["aws", "init", "--state-dir", state_dir], &env);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(out.matches("exists ci-").count(), 9, "{out}");
    assert!(out.contains("exists s3://ci-designs\n"), "{out}");
    assert!(!out.contains("created"), "{out}");
}

#[tokio::test]
async fn a_daemon_without_its_tables_says_to_run_aws_init() {
    let moto = Moto::start();
    let state = tempfile::tempdir().unwrap();
    let env = fleet_env(&moto, "missing-");
    let (code, out, err) = run(
        &[
            "serve",
            "--port",
            "0",
            "--state-dir",
            state.path().to_str().unwrap(),
        ],
        &env,
    );
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(err.contains("missing-sessions"), "{err}");
    assert!(err.contains("devflow aws init"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_its_patch_and_events_survive_kill_9_in_dynamodb() {
    let moto = Moto::start();
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let state = temp.path().join("state");
    let env = fleet_env(&moto, "kill9-");
    let (code, out, err) = run(
        &["aws", "init", "--state-dir", state.to_str().unwrap()],
        &env,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let mut daemon = Daemon::start_with(&state, &env_refs);
    let mut client = RestClient::new(&daemon);
    let created = client
        .call(
            "session/create",
            json!({"source": {"kind": "dir", "path": site}}),
        )
        .await
        .unwrap();
    let sid = created["sessionId"].clone();
    let session_id = sid.as_str().unwrap().to_string();
    let applied = client
        .call(
            "patch/apply",
            json!({"sessionId": sid, "unified_diff": DIFF}),
        )
        .await
        .unwrap();
    let command_id = applied["commandId"].clone();
    let patch_id = eventually(Duration::from_secs(30), "the patch to apply", || {
        let mut client = RestClient::new(&daemon);
        let (sid, command_id) = (sid.clone(), command_id.clone());
        async move {
            let command = client
                .call(
                    "command/get",
                    json!({"sessionId": sid, "commandId": command_id}),
                )
                .await
                .ok()?;
            (command["status"] == "READY").then(|| command["patchId"].clone())
        }
    })
    .await;
    let html = std::fs::read_to_string(temp.path().join("simple-sidebar/index.html")).unwrap();
    assert!(html.starts_with("<!doctype html>"), "the patch is on disk");
    let before = client
        .call("session/get", json!({"sessionId": sid}))
        .await
        .unwrap();
    let events_before = events_until_ready(&mut client, &session_id).await;
    assert!(
        !state.join("devflow.sqlite3").exists(),
        "the DynamoDB store must not write the SQLite file"
    );

    daemon.kill9();
    let daemon = Daemon::start_with(&state, &env_refs);
    let mut client = RestClient::new(&daemon);
    let after = client
        .call("session/get", json!({"sessionId": sid}))
        .await
        .expect("the session survived");
    for key in [
        "name",
        "source",
        "lastAppliedPatchId",
        "createdAt",
        "settings",
        "layout",
    ] {
        assert_eq!(after[key], before[key], "{key} survived");
    }
    let command = client
        .call(
            "command/get",
            json!({"sessionId": sid, "commandId": command_id}),
        )
        .await
        .expect("the command survived");
    assert_eq!(command["status"], "READY");
    let patch = client
        .call("patch/get", json!({"sessionId": sid, "patchId": patch_id}))
        .await
        .expect("the patch survived");
    assert_eq!(patch["state"], "APPLIED");
    let events_after = events_until_ready(&mut client, &session_id).await;
    assert_eq!(
        events_after, events_before,
        "every event survived, unchanged"
    );
    client
        .call("session/rollback", json!({"sessionId": sid}))
        .await
        .expect("rollback works from the journal kept in DynamoDB");
    let html = std::fs::read_to_string(temp.path().join("simple-sidebar/index.html")).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>"),
        "rolled back byte for byte"
    );
}

/// The session's events from seq 0 up to its command's READY status event.
async fn events_until_ready(client: &mut RestClient, session_id: &str) -> Vec<Value> {
    client.subscribe(session_id, 0).await.unwrap();
    let mut events = Vec::new();
    loop {
        let event = client.next_event().await;
        let ready = event["type"] == "COMMAND_STATUS" && event["data"]["status"] == "READY";
        events.push(event);
        if ready {
            break;
        }
        assert!(events.len() < 100, "no READY among {events:?}");
    }
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    let expected: Vec<u64> = (1..=events.len() as u64).collect();
    assert_eq!(seqs, expected, "seqs from 1 without gap or duplicate");
    events
}
