//! A daemon killed with SIGKILL comes back with every session, event and patch; the command
//! it was holding is FAILED with a summary, and seqs continue without a gap.

use devflow_tests::daemon::eventually;
use devflow_tests::fixtures::copy_site;
use devflow_tests::{Client, Daemon, RestClient};
use serde_json::{json, Value};
use std::time::Duration;

const DIFF: &str = "--- a/index.html\n+++ b/index.html\n@@ -1,3 +1,3 @@\n-<!DOCTYPE html>\n+<!doctype html>\n <html lang=\"en\">\n     <head>\n";

async fn all_events(client: &mut RestClient, session_id: &str, count: usize) -> Vec<Value> {
    client.subscribe(session_id, 0).await.unwrap();
    let mut events = Vec::new();
    while events.len() < count {
        events.push(client.next_event().await);
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_session_event_or_patch() {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let state = temp.path().join("state");
    let mut daemon = Daemon::start(&state);
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
    let patch_id = eventually(Duration::from_secs(20), "the patch to apply", || {
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
    client
        .call("session/pause", json!({"sessionId": sid}))
        .await
        .unwrap();
    let held = client
        .call(
            "command/submit",
            json!({"sessionId": sid, "instruction": "wait in the queue"}),
        )
        .await
        .unwrap();
    let before = client
        .call("session/get", json!({"sessionId": sid}))
        .await
        .unwrap();
    let events_before = all_events(&mut client, &session_id, 9).await;
    assert_eq!(events_before.last().unwrap()["data"]["status"], "QUEUED");

    daemon.kill9();
    let daemon = Daemon::start(&state);
    let mut client = RestClient::new(&daemon);

    let after = client
        .call("session/get", json!({"sessionId": sid}))
        .await
        .expect("the session survived");
    for key in [
        "name",
        "source",
        "lastAppliedPatchId",
        "paused",
        "createdAt",
        "settings",
        "layout",
    ] {
        assert_eq!(after[key], before[key], "{key} survived");
    }
    let held_after = client
        .call(
            "command/get",
            json!({"sessionId": sid, "commandId": held["commandId"]}),
        )
        .await
        .unwrap();
    assert_eq!(held_after["status"], "FAILED");
    assert!(
        held_after["errorSummary"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{held_after}"
    );

    let events_after = all_events(&mut client, &session_id, 10).await;
    assert_eq!(
        &events_after[..9],
        &events_before[..],
        "every event survived, unchanged"
    );
    assert_eq!(
        events_after[9]["seq"], 10,
        "the next event continues the seqs"
    );
    assert_eq!(events_after[9]["data"]["status"], "FAILED");

    let patch = client
        .call("patch/get", json!({"sessionId": sid, "patchId": patch_id}))
        .await
        .expect("the patch survived");
    assert_eq!(patch["state"], "APPLIED");
    client
        .call("session/rollback", json!({"sessionId": sid}))
        .await
        .expect("rollback works after a restart");
    let html = std::fs::read_to_string(temp.path().join("simple-sidebar/index.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
}
