//! Two `devflow serve` daemons as one fleet (`store = "dynamodb"`, `events = "sqs"`,
//! `blobs = "s3"`) on moto's server mode, driven like clients behind a load balancer would
//! drive them: a session created on A takes a command sent to B, and both daemons show the
//! same events with the same seqs; an SSE stream on B resumes with Last-Event-ID across a
//! restart of B; one idempotency key sent to both makes one command; `kill -9` of A in the
//! middle of a command hands the session to B (the command FAILED with a summary, the files
//! rebuilt byte-identical to the last good state, the next command READY); and two daemons
//! appending to fifty sessions at once leave every session's seqs without gap or duplicate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use devflow_tests::daemon::binary;
use devflow_tests::fixtures::{tree_sha256, zip_bytes};
use devflow_tests::moto::Moto;
use devflow_tests::{Client, Daemon, RestClient};
use futures::StreamExt;
use serde_json::{json, Value};

/// The lease of these tests' daemons (the shortest allowed), so a takeover comes quickly.
const LEASE_SECS: &str = "6";

/// A change to simple-sidebar's stylesheet (as in s3.rs): the sidebar's min-height.
fn css_diff(from: &str, to: &str) -> String {
    format!(
        "--- a/css/styles.css\n+++ b/css/styles.css\n@@ -10831,3 +10831,3 @@\n #sidebar-wrapper {{\n-  min-height: {from};\n+  min-height: {to};\n   margin-left: -15rem;\n"
    )
}

struct Fleet {
    moto: Moto,
    prefix: String,
    temp: tempfile::TempDir,
}

impl Fleet {
    /// moto, the bucket and `devflow aws init` for the tables.
    async fn new(prefix: &str) -> Fleet {
        let moto = Moto::start();
        moto.create_bucket("fleet").await;
        let fleet = Fleet {
            moto,
            prefix: prefix.into(),
            temp: tempfile::tempdir().expect("temp dir"),
        };
        let output = Command::new(binary())
            .args(["aws", "init", "--state-dir"])
            .arg(fleet.temp.path().join("init"))
            .envs(fleet.env("init", &[]))
            .stdin(Stdio::null())
            .output()
            .expect("devflow aws init runs");
        assert!(
            output.status.success(),
            "aws init: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        fleet
    }

    fn env(&self, daemon_id: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .moto
            .aws_env()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        for (key, value) in [
            ("AWS_ENDPOINT_URL_DYNAMODB", self.moto.endpoint.as_str()),
            ("AWS_ENDPOINT_URL_SQS", self.moto.endpoint.as_str()),
            ("DEVFLOW_STORE", "dynamodb"),
            ("DEVFLOW_EVENTS", "sqs"),
            ("DEVFLOW_BLOBS", "s3"),
            ("DEVFLOW_S3_BUCKET", "fleet"),
            ("DEVFLOW_TABLE_PREFIX", self.prefix.as_str()),
            ("DEVFLOW_DAEMON_ID", daemon_id),
            ("DEVFLOW_LEASE_SECS", LEASE_SECS),
            ("DEVFLOW_PROPOSER", "builtin"),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        {
            env.retain(|(k, _)| k != key);
            env.push((key.into(), value.into()));
        }
        env
    }

    fn state_dir(&self, daemon_id: &str) -> PathBuf {
        self.temp.path().join(format!("state-{daemon_id}"))
    }

    fn start(&self, daemon_id: &str, extra: &[(&str, &str)]) -> Daemon {
        let env = self.env(daemon_id, extra);
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Daemon::start_with(&self.state_dir(daemon_id), &pairs)
    }

    fn workspace(&self, daemon_id: &str, session_id: &str) -> PathBuf {
        self.state_dir(daemon_id)
            .join("workspaces")
            .join(session_id)
    }
}

/// An upload session created on `daemon`: the zip PUT to its presigned uploadUrl, started,
/// its preview ready.
async fn running_upload_session(daemon: &Daemon) -> String {
    let mut client = RestClient::new(daemon);
    let created = client
        .call("session/create", json!({"name": "fleet"}))
        .await
        .expect("create");
    let session_id = created["sessionId"].as_str().expect("id").to_string();
    let upload_url = created["uploadUrl"].as_str().expect("uploadUrl");
    let put = reqwest::Client::new()
        .put(upload_url)
        .header("content-type", "application/zip")
        .body(zip_bytes("simple-sidebar.zip"))
        .send()
        .await
        .expect("S3 answers");
    assert!(put.status().is_success(), "{}", put.status());
    client.subscribe(&session_id, 0).await.expect("subscribe");
    client
        .call("session/start", json!({"sessionId": session_id}))
        .await
        .expect("start");
    loop {
        let event = client.next_event().await;
        assert_ne!(event["type"], "SESSION_ERROR", "{event}");
        if event["type"] == "SESSION_READY" {
            return session_id;
        }
    }
}

/// Every event of the session up to and including `last_seq`, read from `daemon` over SSE
/// after `after_seq`.
async fn events_through(
    daemon: &Daemon,
    session_id: &str,
    after_seq: u64,
    last_seq: u64,
) -> Vec<Value> {
    let mut client = RestClient::new(daemon);
    client
        .subscribe(session_id, after_seq)
        .await
        .expect("subscribe");
    let mut events = Vec::new();
    while events.last().map_or(after_seq < last_seq, |e: &Value| {
        e["seq"].as_u64() < Some(last_seq)
    }) {
        events.push(client.next_event().await);
    }
    events
}

/// Reads `client`'s subscription until `command_id` is final; returns that event.
async fn until_final(client: &mut RestClient, command_id: &str) -> Value {
    loop {
        let event = client.next_event().await;
        if event["type"] == "COMMAND_STATUS"
            && event["commandId"] == command_id
            && (event["data"]["status"] == "READY" || event["data"]["status"] == "FAILED")
        {
            return event;
        }
    }
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().filter_map(|e| e["seq"].as_u64()).collect()
}

async fn command(daemon: &Daemon, session_id: &str, command_id: &str) -> Value {
    RestClient::new(daemon)
        .call(
            "command/get",
            json!({"sessionId": session_id, "commandId": command_id}),
        )
        .await
        .expect("command/get")
}

/// `command/get` on `daemon` until `check` holds (at most `within`).
async fn command_until(
    daemon: &Daemon,
    session_id: &str,
    command_id: &str,
    within: Duration,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let found = command(daemon, session_id, command_id).await;
        if check(&found) {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: {found}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn digest(dir: &Path) -> BTreeMap<String, String> {
    tree_sha256(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_sent_to_b_runs_on_a_and_both_daemons_show_the_same_events() {
    let fleet = Fleet::new("share-").await;
    let a = fleet.start("a", &[]);
    let mut b = fleet.start("b", &[]);
    let session_id = running_upload_session(&a).await;

    let mut on_b = RestClient::new(&b);
    on_b.subscribe(&session_id, 0)
        .await
        .expect("subscribe on B");
    let submitted = on_b
        .call(
            "patch/apply",
            json!({"sessionId": session_id, "unified_diff": css_diff("100vh", "90vh")}),
        )
        .await
        .expect("submit on B");
    let command_id = submitted["commandId"].as_str().expect("id").to_string();
    let ready = until_final(&mut on_b, &command_id).await;
    assert_eq!(ready["data"]["status"], "READY", "{ready}");
    let last = ready["seq"].as_u64().expect("seq");

    // The owner (A) ran it: A's workspace has the change, B has no copy of the site.
    let css = std::fs::read_to_string(fleet.workspace("a", &session_id).join("css/styles.css"))
        .expect("A's workspace");
    assert!(css.contains("min-height: 90vh"));
    assert!(!fleet.workspace("b", &session_id).exists());
    let session = on_b
        .call("session/get", json!({"sessionId": session_id}))
        .await
        .expect("get on B");
    assert_eq!(session["owner"], "a", "{session}");

    // The same events, seq for seq, on both daemons, from 1 without a gap.
    let from_a = events_through(&a, &session_id, 0, last).await;
    let from_b = events_through(&b, &session_id, 0, last).await;
    assert_eq!(seqs(&from_a), (1..=last).collect::<Vec<_>>());
    assert_eq!(from_a, from_b);

    // One idempotency key sent to A and to B at once makes one command.
    let key = json!({"sessionId": session_id, "unified_diff": css_diff("90vh", "80vh"), "idempotencyKey": "double-click"});
    let (first, second) = tokio::join!(
        async { RestClient::new(&a).call("patch/apply", key.clone()).await },
        async { RestClient::new(&b).call("patch/apply", key.clone()).await },
    );
    let (first, second) = (first.expect("on A"), second.expect("on B"));
    assert_eq!(first["commandId"], second["commandId"]);
    let keyed = first["commandId"].as_str().expect("id").to_string();
    let done = command_until(
        &b,
        &session_id,
        &keyed,
        Duration::from_secs(60),
        "the keyed command never ended",
        |c| c["status"] == "READY" || c["status"] == "FAILED",
    )
    .await;
    assert_eq!(done["status"], "READY", "{done}");
    let history = RestClient::new(&a)
        .call(
            "session/history",
            json!({"sessionId": session_id, "limit": 100}),
        )
        .await
        .expect("history");
    let items = history["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "two commands, not three: {history}");

    // B restarts; its SSE stream resumes after the last event it gave, with nothing lost
    // or repeated, including what A appended while B was away.
    let resume_after = events_through(&b, &session_id, 0, last).await.len() as u64;
    b.kill9();
    let next = RestClient::new(&a)
        .call(
            "patch/apply",
            json!({"sessionId": session_id, "unified_diff": css_diff("80vh", "70vh")}),
        )
        .await
        .expect("submit on A");
    let next_id = next["commandId"].as_str().expect("id").to_string();
    let b = fleet.start("b", &[]);
    let mut resumed = RestClient::new(&b);
    resumed
        .subscribe(&session_id, resume_after)
        .await
        .expect("resume on B");
    let mut seen = Vec::new();
    loop {
        let event = resumed.next_event().await;
        let end = event["commandId"] == next_id.as_str()
            && event["type"] == "COMMAND_STATUS"
            && event["data"]["status"] == "READY";
        seen.push(event);
        if end {
            break;
        }
    }
    let expected: Vec<u64> = (resume_after + 1..=resume_after + seen.len() as u64).collect();
    assert_eq!(seqs(&seen), expected, "resumed without gap or repeat");

    // A method that acts on the session's files, sent to B, is run by A and answered by B
    // as A answered it — its result, or its error with the same code.
    let css_on_a = || {
        std::fs::read_to_string(fleet.workspace("a", &session_id).join("css/styles.css"))
            .expect("A's workspace")
    };
    assert!(css_on_a().contains("min-height: 70vh"));
    let rolled = RestClient::new(&b)
        .call("session/rollback", json!({"sessionId": session_id}))
        .await
        .expect("rollback sent to B");
    assert_eq!(rolled["files"], json!(["css/styles.css"]), "{rolled}");
    assert!(css_on_a().contains("min-height: 80vh"), "A rolled back");
    let refused = RestClient::new(&b)
        .call(
            "session/rollback",
            json!({"sessionId": session_id, "patchId": "no-such-patch"}),
        )
        .await
        .expect_err("an unknown patch");
    assert_eq!(refused.status, 404, "{:?}", refused.body);
    assert_eq!(refused.body["error"], "NOT_FOUND", "{:?}", refused.body);
    drop(a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_owner_mid_command_hands_the_session_to_the_other_daemon() {
    // A's model never answers, so A is in the middle of the command when it is killed.
    let hanging = devflow_tests::fake_models::silent_server().await;
    let fleet = Fleet::new("takeover-").await;
    let mut a = fleet.start(
        "a",
        &[
            ("DEVFLOW_PROPOSER", "openai"),
            ("DEVFLOW_OPENAI_URL", &hanging),
            ("DEVFLOW_OPENAI_MODEL", "hanging-model"),
            ("DEVFLOW_OPENAI_TIMEOUT_SECS", "600"),
        ],
    );
    let b = fleet.start("b", &[]);
    let session_id = running_upload_session(&a).await;
    let on_a = RestClient::new(&a)
        .call("session/get", json!({"sessionId": session_id}))
        .await
        .expect("get on A");
    let preview_on_a = on_a["previewUrl"].clone();

    // The last good state: one patch applied on A.
    let applied = RestClient::new(&b)
        .call(
            "patch/apply",
            json!({"sessionId": session_id, "unified_diff": css_diff("100vh", "90vh")}),
        )
        .await
        .expect("patch on B");
    let patch_command = applied["commandId"].as_str().expect("id").to_string();
    let done = command_until(
        &b,
        &session_id,
        &patch_command,
        Duration::from_secs(60),
        "the patch never ended",
        |c| c["status"] == "READY" || c["status"] == "FAILED",
    )
    .await;
    assert_eq!(done["status"], "READY", "{done}");
    let good = digest(&fleet.workspace("a", &session_id));
    assert!(good.contains_key("css/styles.css"), "{good:?}");

    // An instruction A takes and never finishes.
    let stuck = RestClient::new(&b)
        .call(
            "command/submit",
            json!({"sessionId": session_id, "instruction": "make the headings red"}),
        )
        .await
        .expect("submit on B");
    let stuck_id = stuck["commandId"].as_str().expect("id").to_string();
    command_until(
        &b,
        &session_id,
        &stuck_id,
        Duration::from_secs(60),
        "A never started the command",
        |c| c["status"] == "ANALYZING",
    )
    .await;
    a.kill9();

    // B takes the lease after it expires: the command FAILED with a summary that says why.
    let failed = command_until(
        &b,
        &session_id,
        &stuck_id,
        Duration::from_secs(60),
        "B never took the session over",
        |c| c["status"] == "FAILED",
    )
    .await;
    let summary = failed["errorSummary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("interrupted")
            && summary.contains("daemon a")
            && summary.contains("daemon b"),
        "{summary}"
    );
    let mut on_b = RestClient::new(&b);
    let session = on_b
        .call("session/get", json!({"sessionId": session_id}))
        .await
        .expect("get");
    assert_eq!(session["owner"], "b", "{session}");

    // B rebuilt the files byte for byte as they were after the last good command.
    let rebuilt = fleet.workspace("b", &session_id);
    assert_eq!(
        digest(&rebuilt),
        good,
        "B's files differ from the last good state"
    );

    // The preview runs on B, and the next command is READY there.
    let deadline = Instant::now() + Duration::from_secs(60);
    let session = loop {
        let session = on_b
            .call("session/get", json!({"sessionId": session_id}))
            .await
            .expect("get");
        if session["status"] == "RUNNING"
            && session["previewUrl"].is_string()
            && session["previewUrl"] != preview_on_a
        {
            break session;
        }
        assert!(Instant::now() < deadline, "no preview on B: {session}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let preview = session["previewUrl"].as_str().expect("previewUrl");
    let css = reqwest::get(format!("{preview}css/styles.css"))
        .await
        .expect("B's preview answers")
        .text()
        .await
        .expect("css");
    assert!(css.contains("min-height: 90vh"));
    let next = on_b
        .call(
            "command/submit",
            json!({"sessionId": session_id, "instruction": "見出しを＃ＦＦ００００に"}),
        )
        .await
        .expect("next command");
    let next_id = next["commandId"].as_str().expect("id").to_string();
    let next = command_until(
        &b,
        &session_id,
        &next_id,
        Duration::from_secs(60),
        "the next command never ended",
        |c| c["status"] == "READY" || c["status"] == "FAILED",
    )
    .await;
    assert_eq!(next["status"], "READY", "{next}");
    assert_ne!(digest(&rebuilt), good, "the next command changed B's files");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_appending_to_fifty_sessions_leave_no_gap_or_duplicate() {
    let fleet = Fleet::new("fifty-").await;
    // The default lease: this case is about seqs, not takeovers (moto is slow under load).
    let a = fleet.start("a", &[("DEVFLOW_LEASE_SECS", "15")]);
    let b = fleet.start("b", &[("DEVFLOW_LEASE_SECS", "15")]);
    let site = fleet.temp.path().join("site");
    std::fs::create_dir_all(&site).expect("site");
    std::fs::write(site.join("index.html"), "<h1>hi</h1>\n").expect("index");
    let daemons = [&a, &b];
    let mut sessions = Vec::new();
    for i in 0..50 {
        let created = RestClient::new(daemons[i % 2])
            .call(
                "session/create",
                json!({"source": {"kind": "dir", "path": site}}),
            )
            .await
            .expect("create");
        sessions.push(created["sessionId"].as_str().expect("id").to_string());
    }
    // Each session gets a command on both daemons at once; each submission appends a
    // QUEUED event where it lands and the owner appends the rest. The diff does not apply,
    // so every command ends FAILED without touching the folder.
    let bad_diff =
        "--- a/index.html\n+++ b/index.html\n@@ -1 +1 @@\n-<h1>absent</h1>\n+<h1>x</h1>\n";
    let submissions = sessions.iter().flat_map(|session_id| {
        daemons.into_iter().map(move |daemon| {
            let mut client = RestClient::new(daemon);
            let session_id = session_id.clone();
            async move {
                let queued = client
                    .call(
                        "patch/apply",
                        json!({"sessionId": session_id, "unified_diff": bad_diff}),
                    )
                    .await
                    .expect("submit");
                queued["commandId"].as_str().expect("id").to_string()
            }
        })
    });
    // In order, 16 at a time: both daemons append to the same sessions at once.
    let commands: Vec<String> = futures::stream::iter(submissions)
        .buffered(16)
        .collect()
        .await;
    assert_eq!(commands.len(), 100);
    // Wait for every command to end, then compare every session's events on both daemons.
    for (i, session_id) in sessions.iter().enumerate() {
        for command_id in &commands[i * 2..i * 2 + 2] {
            let done = command_until(
                daemons[i % 2],
                session_id,
                command_id,
                Duration::from_secs(120),
                "a command never ended",
                |c| c["status"] == "FAILED" || c["status"] == "READY",
            )
            .await;
            assert_eq!(done["status"], "FAILED", "{done}");
        }
    }
    for session_id in &sessions {
        let mut on_a = RestClient::new(&a);
        on_a.subscribe(session_id, 0).await.expect("subscribe");
        // created + 2 × (QUEUED, ..., FAILED): read until the second final status.
        let mut events = Vec::new();
        let mut finals = 0;
        while finals < 2 {
            let event = on_a.next_event().await;
            if event["type"] == "COMMAND_STATUS" && event["data"]["status"] == "FAILED" {
                finals += 1;
            }
            events.push(event);
        }
        let last = events.last().and_then(|e| e["seq"].as_u64()).expect("seq");
        assert_eq!(
            seqs(&events),
            (1..=last).collect::<Vec<_>>(),
            "session {session_id}: seqs with a gap or a repeat"
        );
        let queued = events
            .iter()
            .filter(|e| e["type"] == "COMMAND_STATUS" && e["data"]["status"] == "QUEUED")
            .count();
        assert_eq!(queued, 2, "session {session_id}");
        assert_eq!(events_through(&b, session_id, 0, last).await, events);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_dynamodb_ttl_leaves_of_a_session_is_removed_by_the_fleet() {
    use devflow_store::Store as _;
    let fleet = Fleet::new("ttl-").await;
    let a = fleet.start("a", &[]);
    let b = fleet.start("b", &[]);
    let site = fleet.temp.path().join("site");
    std::fs::create_dir_all(&site).expect("site");
    std::fs::write(site.join("index.html"), "<h1>hi</h1>\n").expect("index");
    let mut on_a = RestClient::new(&a);
    let created = on_a
        .call(
            "session/create",
            json!({"source": {"kind": "dir", "path": site}}),
        )
        .await
        .expect("create");
    let session_id = created["sessionId"].as_str().expect("id").to_string();
    let queued = on_a
        .call(
            "patch/apply",
            json!({"sessionId": session_id, "unified_diff": "--- a/index.html\n+++ b/index.html\n@@ -1 +1 @@\n-<h1>hi</h1>\n+<h1>hello</h1>\n"}),
        )
        .await
        .expect("patch");
    let command_id = queued["commandId"].as_str().expect("id").to_string();
    command_until(
        &a,
        &session_id,
        &command_id,
        Duration::from_secs(60),
        "the patch never ended",
        |c| c["status"] == "READY",
    )
    .await;
    // Stopped (through B, forwarded to A), then its item removed as DynamoDB's TTL does.
    RestClient::new(&b)
        .call("session/stop", json!({"sessionId": session_id}))
        .await
        .expect("stop through B");
    let store =
        devflow_store_dynamodb::DynamoStore::connect(devflow_store_dynamodb::DynamoOptions {
            table_prefix: "ttl-".into(),
            endpoint: Some(fleet.moto.endpoint.clone()),
            region: Some(devflow_tests::moto::REGION.into()),
            credentials: Some((
                devflow_tests::moto::ACCESS_KEY_ID.into(),
                devflow_tests::moto::SECRET_ACCESS_KEY.into(),
            )),
            ..devflow_store_dynamodb::DynamoOptions::default()
        })
        .await;
    assert!(!store
        .events_after(&session_id, 0, 10)
        .await
        .expect("events")
        .is_empty());
    store
        .client()
        .delete_item()
        .table_name("ttl-sessions")
        .key(
            "sessionId",
            aws_sdk_dynamodb::types::AttributeValue::S(session_id.clone()),
        )
        .send()
        .await
        .expect("delete the session item");
    // Once the stopped session's lease has expired, a daemon removes the rest.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let events = store
            .events_after(&session_id, 0, 10)
            .await
            .expect("events");
        let commands = store
            .command_page(&session_id, 10, None)
            .await
            .expect("commands");
        let lease = store.get_lease(&session_id).await.expect("lease");
        let patches = store.list_patches(&session_id).await.expect("patches");
        if events.is_empty()
            && commands.commands.is_empty()
            && lease.is_none()
            && patches.is_empty()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: {} events, {} commands, {} patches, lease {lease:?}",
            events.len(),
            commands.commands.len(),
            patches.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let gone = RestClient::new(&b)
        .call("session/get", json!({"sessionId": session_id}))
        .await
        .expect_err("the session is gone");
    assert_eq!(gone.status, 404);
}
