//! The session setting `guardFidelity`: a patch that lowers the drift score (moves the site
//! away from the reference tokens) is rolled back and its command FAILS when the guard covers
//! the command; otherwise the command stays READY, flagged `fidelityLowered`. By default the
//! guard covers "match the reference" instructions only.

use devflow_tests::daemon::TOKEN;
use devflow_tests::fixtures::{copy_site, fixtures_dir, tree_sha256};
use devflow_tests::{Client, Daemon, RestClient};
use serde_json::{json, Value};

/// `.img-thumbnail`'s white background (on-token: `color.surface.background`) becomes
/// magenta, which no token is near.
const OFF_TOKEN_DIFF: &str = "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -604,7 +604,7 @@\n \n .img-thumbnail {\n   padding: 0.25rem;\n-  background-color: #fff;\n+  background-color: #ff00ff;\n   border: 1px solid var(--bs-border-color);\n   border-radius: 0.375rem;\n   max-width: 100%;\n";

struct Setup {
    _temp: tempfile::TempDir,
    _daemon: Daemon,
    client: RestClient,
    site: std::path::PathBuf,
    session_id: String,
}

/// A folder session on a copy of simple-sidebar with the fixture DTCG tokens as reference,
/// the builtin proposer, the given `guardFidelity`, subscribed from the start.
async fn setup(guard: Value) -> Setup {
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
    let session_id = created["sessionId"].as_str().unwrap().to_string();
    let tokens = std::fs::read(fixtures_dir().join("tokens/dtcg-small/tokens.json")).unwrap();
    let response = reqwest::Client::new()
        .put(format!(
            "{}/sessions/{session_id}/reference",
            daemon.base_url
        ))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(tokens)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let settings = client
        .call(
            "session/updateSettings",
            json!({"sessionId": session_id, "proposer": "builtin", "guardFidelity": guard}),
        )
        .await
        .unwrap();
    assert_eq!(settings["guardFidelity"], guard, "{settings}");
    client.subscribe(&session_id, 0).await.unwrap();
    Setup {
        _temp: temp,
        _daemon: daemon,
        client,
        site,
        session_id,
    }
}

impl Setup {
    /// Every event up to and including the command's final COMMAND_STATUS.
    async fn events_until_final(&mut self, command_id: &str) -> Vec<Value> {
        let mut events = Vec::new();
        loop {
            let event = self.client.next_event().await;
            let done = event["commandId"] == command_id
                && event["type"] == "COMMAND_STATUS"
                && matches!(event["data"]["status"].as_str(), Some("READY" | "FAILED"));
            events.push(event);
            if done {
                return events;
            }
        }
    }

    async fn command(&mut self, command_id: &str) -> Value {
        self.client
            .call(
                "command/get",
                json!({"sessionId": self.session_id, "commandId": command_id}),
            )
            .await
            .unwrap()
    }

    async fn apply_off_token_patch(&mut self) -> String {
        let applied = self
            .client
            .call(
                "patch/apply",
                json!({"sessionId": self.session_id, "unified_diff": OFF_TOKEN_DIFF}),
            )
            .await
            .unwrap();
        applied["commandId"].as_str().unwrap().to_string()
    }
}

/// The position of the first event matching `test` after `from`, naming `what` on failure.
fn position_after(
    events: &[Value],
    from: usize,
    what: &str,
    test: impl Fn(&Value) -> bool,
) -> usize {
    events[from..]
        .iter()
        .position(test)
        .map(|i| from + i)
        .unwrap_or_else(|| panic!("no {what} after event {from}: {events:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guarded_patch_that_lowers_fidelity_is_rolled_back_and_fails_naming_the_scores() {
    let mut s = setup(json!(true)).await;
    let before = tree_sha256(&s.site);
    let command_id = s.apply_off_token_patch().await;
    let events = s.events_until_final(&command_id).await;

    // The patch was applied and shown, then undone the way `session/rollback` undoes one.
    let applied = position_after(&events, 0, "PATCH_APPLY_COMPLETED", |e| {
        e["type"] == "PATCH_APPLY_COMPLETED"
    });
    let patch_id = events[applied]["data"]["patchId"]
        .as_str()
        .unwrap()
        .to_string();
    let shown = position_after(&events, applied, "PREVIEW_UPDATED with the patch", |e| {
        e["type"] == "PREVIEW_UPDATED" && e["data"]["patchId"] == patch_id
    });
    let report = position_after(&events, shown, "DRIFT_REPORT", |e| {
        e["type"] == "DRIFT_REPORT"
    });
    let rolled_back = position_after(&events, report, "ROLLBACK_COMPLETED", |e| {
        e["type"] == "ROLLBACK_COMPLETED" && e["data"]["patchId"] == patch_id
    });
    assert_eq!(events[rolled_back]["commandId"], command_id);
    let restored = position_after(
        &events,
        rolled_back,
        "PREVIEW_UPDATED of the rollback",
        |e| e["type"] == "PREVIEW_UPDATED" && e["data"].get("patchId").is_none(),
    );
    assert_eq!(events[restored]["data"]["files"], json!(["css/styles.css"]));
    let failed = position_after(&events, restored, "PATCH_FAILED", |e| {
        e["type"] == "PATCH_FAILED"
    });
    assert_eq!(events[failed]["data"]["rolledBack"], true);
    assert_eq!(events[failed]["data"]["willRetry"], false);
    let last = events.last().unwrap();
    assert_eq!(last["data"]["status"], "FAILED", "{last}");

    assert_eq!(
        tree_sha256(&s.site),
        before,
        "every file is byte-identical to before the command"
    );
    let command = s.command(&command_id).await;
    assert_eq!(command["status"], "FAILED");
    assert_eq!(command["fidelityLowered"], true);
    let (drift_before, drift_after) = (
        command["driftBefore"].as_f64().unwrap(),
        command["driftAfter"].as_f64().unwrap(),
    );
    assert!(drift_after < drift_before, "{drift_before} → {drift_after}");
    let summary = command["errorSummary"].as_str().unwrap();
    assert!(summary.starts_with("Rolled back:"), "{summary}");
    assert!(
        summary.contains(&format!("from {drift_before} to {drift_after}")),
        "the summary names both scores: {summary}"
    );
    assert!(summary.contains("guardFidelity"), "{summary}");
    assert_eq!(last["data"]["errorSummary"], summary);

    let patch = s
        .client
        .call(
            "patch/get",
            json!({"sessionId": s.session_id, "patchId": patch_id}),
        )
        .await
        .unwrap();
    assert_eq!(patch["state"], "ROLLED_BACK");
    let session = s
        .client
        .call("session/get", json!({"sessionId": s.session_id}))
        .await
        .unwrap();
    assert_eq!(session["lastAppliedPatchId"], Value::Null);
    let nothing = s
        .client
        .call("session/rollback", json!({"sessionId": s.session_id}))
        .await
        .unwrap_err();
    assert_eq!(
        nothing.status, 409,
        "nothing is left applied: {:?}",
        nothing.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unguarded_patch_that_lowers_fidelity_stays_applied_and_is_flagged() {
    let mut s = setup(json!(false)).await;
    let before = tree_sha256(&s.site);
    let command_id = s.apply_off_token_patch().await;
    let events = s.events_until_final(&command_id).await;
    assert!(
        !events.iter().any(|e| e["type"] == "ROLLBACK_COMPLETED"),
        "{events:#?}"
    );
    assert_eq!(events.last().unwrap()["data"]["status"], "READY");

    let command = s.command(&command_id).await;
    assert_eq!(command["status"], "READY");
    assert_eq!(command["fidelityLowered"], true);
    assert!(command["driftAfter"].as_f64().unwrap() < command["driftBefore"].as_f64().unwrap());
    let after = tree_sha256(&s.site);
    assert_ne!(after["css/styles.css"], before["css/styles.css"]);
    let css = std::fs::read_to_string(s.site.join("css/styles.css")).unwrap();
    assert!(css.contains("background-color: #ff00ff;"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_use_the_design_tokens_is_guarded_and_raises_fidelity() {
    let mut s = setup(Value::Null).await;
    // By default a manual patch is not guarded: it stays, flagged.
    let manual = s.apply_off_token_patch().await;
    s.events_until_final(&manual).await;
    let manual = s.command(&manual).await;
    assert_eq!(
        (
            manual["status"].as_str(),
            manual["fidelityLowered"].as_bool()
        ),
        (Some("READY"), Some(true))
    );

    let submitted = s
        .client
        .call(
            "command/submit",
            json!({"sessionId": s.session_id, "instruction": "use the design tokens"}),
        )
        .await
        .unwrap();
    let command_id = submitted["commandId"].as_str().unwrap().to_string();
    let events = s.events_until_final(&command_id).await;
    assert_eq!(
        events.last().unwrap()["data"]["status"],
        "READY",
        "{events:#?}"
    );
    let command = s.command(&command_id).await;
    let (before, after) = (
        command["driftBefore"].as_f64().unwrap(),
        command["driftAfter"].as_f64().unwrap(),
    );
    assert!(
        after > before,
        "snapping to the tokens raises the score: {before} → {after}"
    );
    assert_eq!(command["fidelityLowered"], false);
    let css = std::fs::read_to_string(s.site.join("css/styles.css")).unwrap();
    assert!(
        !css.contains("#ff00ff"),
        "the off-token magenta was snapped to a token"
    );
}
