//! Faults the daemon must survive, against the real binary: `kill -9` at random points of
//! the pipeline (a bounded loop of trials), a disk that fills up under the workspace or the
//! state dir (a small tmpfs), and a proposer that never answers.
//!
//! After every kill the daemon is restarted on the same state dir and must still hold every
//! command and event it acknowledged, with seqs gap-free; no file may be half-written (each
//! is one of the versions a whole patch made, and matches the last applied patch); every
//! command the kill interrupted ends FAILED with a summary. `DEVFLOW_CRASH_TRIALS` sets the
//! number of trials (default 100), `DEVFLOW_FUZZ_SEED` the kill timings.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use devflow_tests::session::{create_dir_session, wait_final};
use devflow_tests::{Client, Daemon, RestClient};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const CSS: &str = "body {\n  margin: 0;\n  color: #000000;\n}\n";

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The diff that turns `color: #{from}` into `color: #{to}`.
fn recolor(from: &str, to: &str) -> String {
    format!("--- a/css/site.css\n+++ b/css/site.css\n@@ -1,4 +1,4 @@\n body {{\n   margin: 0;\n-  color: #{from};\n+  color: #{to};\n }}\n")
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn command(client: &mut RestClient, session_id: &str, command_id: &str) -> Option<Value> {
    client
        .call(
            "command/get",
            json!({"sessionId": session_id, "commandId": command_id}),
        )
        .await
        .ok()
}

/// Every event of the session from seq 1, read until the stream has been quiet a moment.
async fn all_events(daemon: &Daemon, session_id: &str) -> Vec<Value> {
    let url = format!(
        "{}/sessions/{session_id}/events?afterSeq=0&token={}",
        daemon.base_url,
        devflow_tests::daemon::TOKEN
    );
    let response = reqwest::get(url).await.expect("SSE");
    assert!(response.status().is_success(), "{}", response.status());
    let mut reader = devflow_tests::client::SseReader::new(response);
    let mut events = Vec::new();
    while let Ok(Some((_, data))) =
        tokio::time::timeout(Duration::from_millis(400), reader.next()).await
    {
        if let Ok(event) = serde_json::from_str::<Value>(&data) {
            if event.get("seq").is_some() {
                events.push(event);
            }
        }
    }
    events
}

/// Files under `dir` that are not part of the site: temp files a write left behind.
fn strays(dir: &Path, known: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(dir)
                .expect("inside")
                .to_string_lossy()
                .into_owned();
            if !known.contains(&relative.as_str()) {
                out.push(relative);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_loses_nothing_acknowledged_and_half_writes_nothing() {
    let trials = env_number("DEVFLOW_CRASH_TRIALS", 100);
    let seed = env_number("DEVFLOW_FUZZ_SEED", 0x5eed_cafe) | 1;
    let mut rng = Rng(seed);
    let temp = tempfile::tempdir().expect("tempdir");
    let site = temp.path().join("site");
    tiny_site(&site);
    let state = temp.path().join("state");

    let mut daemon = Daemon::start(&state);
    let mut client = RestClient::new(&daemon);
    let session_id = create_dir_session(&mut client, &site).await;

    // Every version of the stylesheet a whole patch can have made, by hash.
    let mut versions: BTreeMap<String, String> = BTreeMap::new();
    versions.insert(sha(CSS.as_bytes()), "000000".into());
    let mut acknowledged_commands: Vec<String> = Vec::new();
    let mut seen_events: BTreeMap<u64, Value> = BTreeMap::new();
    let mut interrupted_total = 0;

    for trial in 0..trials {
        let current = std::fs::read_to_string(site.join("css/site.css")).expect("css");
        let from = versions
            .get(&sha(current.as_bytes()))
            .unwrap_or_else(|| panic!("trial {trial}: a half-written stylesheet: {current:?}"))
            .clone();
        // One to three commands, then a kill after a random pause.
        for k in 0..1 + rng.below(3) {
            let to = format!("{:06x}", (trial * 4 + k + 1) % 0xff_ffff);
            let next = CSS.replace("#000000", &format!("#{to}"));
            versions.insert(sha(next.as_bytes()), to.clone());
            // Only the first can match the file; the others fail ("does not fit") or wait.
            let diff = recolor(&from, &to);
            match client
                .call(
                    "patch/apply",
                    json!({"sessionId": session_id, "unified_diff": diff}),
                )
                .await
            {
                Ok(queued) => acknowledged_commands
                    .push(queued["commandId"].as_str().expect("commandId").to_string()),
                Err(error) => panic!(
                    "trial {trial}: submit refused: {} {}",
                    error.status, error.body
                ),
            }
        }
        tokio::time::sleep(Duration::from_micros(rng.below(40_000))).await;
        // Events seen so far through a live read are acknowledged too.
        if trial % 10 == 0 {
            for event in all_events(&daemon, &session_id).await {
                let seq = event["seq"].as_u64().expect("seq");
                seen_events.insert(seq, event);
            }
        }
        daemon.kill9();
        daemon = Daemon::start(&state);
        client = RestClient::new(&daemon);

        // Every acknowledged command is there and ends final; interrupted ones FAILED with
        // a summary.
        for command_id in &acknowledged_commands {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let found = command(&mut client, &session_id, command_id)
                    .await
                    .unwrap_or_else(|| panic!("trial {trial}: command {command_id} was lost"));
                match found["status"].as_str() {
                    Some("READY") => break,
                    Some("FAILED") => {
                        let summary = found["errorSummary"].as_str().unwrap_or_default();
                        assert!(
                            !summary.is_empty(),
                            "trial {trial}: FAILED without a summary: {found}"
                        );
                        if summary.contains("interrupted") {
                            interrupted_total += 1;
                        }
                        break;
                    }
                    _ => {
                        assert!(
                            Instant::now() < deadline,
                            "trial {trial}: {found} never ended"
                        );
                        tokio::time::sleep(Duration::from_millis(30)).await;
                    }
                }
            }
        }
        // The stylesheet is whole, equals what the last applied patch left, and nothing stray.
        let now = std::fs::read(site.join("css/site.css")).expect("css");
        assert!(
            versions.contains_key(&sha(&now)),
            "trial {trial}: a half-written stylesheet: {:?}",
            String::from_utf8_lossy(&now)
        );
        let session = client
            .call("session/get", json!({"sessionId": session_id}))
            .await
            .expect("session/get");
        if let Some(patch_id) = session["lastAppliedPatchId"].as_str() {
            let patch = client
                .call(
                    "patch/get",
                    json!({"sessionId": session_id, "patchId": patch_id}),
                )
                .await
                .expect("patch/get");
            let after = patch["files"][0]["after"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if !after.is_empty() {
                assert_eq!(
                    after,
                    sha(&now),
                    "trial {trial}: the file is not the last patch's after"
                );
            }
        }
        assert_eq!(
            strays(&site, &["index.html", "css/site.css"]),
            Vec::<String>::new(),
            "trial {trial}: temp files left in the workspace"
        );
        // Events: gap-free from 1, and every event seen before a kill is unchanged.
        if trial % 10 == 9 || trial + 1 == trials {
            let events = all_events(&daemon, &session_id).await;
            for (i, event) in events.iter().enumerate() {
                assert_eq!(
                    event["seq"],
                    json!(i as u64 + 1),
                    "trial {trial}: a gap or duplicate"
                );
            }
            for (seq, seen) in &seen_events {
                let now = events
                    .get(*seq as usize - 1)
                    .unwrap_or_else(|| panic!("trial {trial}: event {seq} was lost"));
                assert_eq!(now, seen, "trial {trial}: event {seq} changed");
            }
        }
    }
    // The kills did land inside commands: some were interrupted, and said so.
    assert!(
        interrupted_total > 0,
        "no command was ever interrupted in {trials} trials (seed {seed}): the kills missed the pipeline"
    );
}

/// `index.html` and `css/site.css` (= [`CSS`]) in `site`.
fn tiny_site(site: &Path) {
    std::fs::create_dir_all(site.join("css")).expect("mkdir");
    std::fs::write(
        site.join("index.html"),
        "<link rel=stylesheet href=css/site.css><h1>x</h1>",
    )
    .expect("write");
    std::fs::write(site.join("css/site.css"), CSS).expect("write");
}

/// A tmpfs of `size` at `dir`, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("mkdir");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (the test machines run the suite as root)"
        );
        Tmpfs(dir.to_path_buf())
    }

    /// Fills the file system up to `leave` bytes free.
    fn fill(&self, leave: u64) -> std::path::PathBuf {
        let filler = self.0.join("filler.bin");
        let free = free_bytes(&self.0);
        let size = free.saturating_sub(leave);
        std::fs::write(&filler, vec![0u8; size as usize]).expect("filler");
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn free_bytes(dir: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .expect("df");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df prints the free bytes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_the_workspace_fails_the_patch_and_changes_nothing() {
    let temp = tempfile::tempdir().expect("tempdir");
    let disk = Tmpfs::mount(&temp.path().join("disk"), "256k");
    let site = disk.0.join("site");
    tiny_site(&site);
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let session_id = create_dir_session(&mut client, &site).await;

    // A patch that adds 32 KiB to the stylesheet, on a disk with 8 KiB free.
    let big: String = (0..800)
        .map(|i| format!("+.rule-{i:04} {{ margin: 0; }}\n"))
        .collect();
    let diff = format!(
        "--- a/css/site.css\n+++ b/css/site.css\n@@ -1,4 +1,{} @@\n body {{\n   margin: 0;\n   color: #000000;\n }}\n{big}",
        4 + 800
    );
    let filler = disk.fill(8 * 1024);
    let before = std::fs::read(site.join("css/site.css")).expect("css");
    let queued = client
        .call(
            "patch/apply",
            json!({"sessionId": session_id, "unified_diff": diff}),
        )
        .await
        .expect("queued");
    let command_id = queued["commandId"].as_str().expect("id").to_string();
    let failed = wait_final(&mut client, &session_id, &command_id).await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    let summary = failed["errorSummary"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        summary.contains("space") || summary.contains("disk"),
        "the summary does not say the disk is full: {summary}"
    );
    assert_eq!(
        std::fs::read(site.join("css/site.css")).expect("css"),
        before
    );
    assert_eq!(
        strays(&site, &["index.html", "css/site.css"]),
        Vec::<String>::new(),
        "a temp file was left on the full disk"
    );

    // With room again, the same patch applies.
    std::fs::remove_file(filler).expect("free the disk");
    let queued = client
        .call(
            "patch/apply",
            json!({"sessionId": session_id, "unified_diff": diff}),
        )
        .await
        .expect("queued");
    let command_id = queued["commandId"].as_str().expect("id").to_string();
    let ready = wait_final(&mut client, &session_id, &command_id).await;
    assert_eq!(ready["status"], "READY", "{ready}");
    let after = std::fs::read_to_string(site.join("css/site.css")).expect("css");
    assert!(after.contains(".rule-0799 { margin: 0; }"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_the_state_dir_refuses_clearly_and_loses_nothing() {
    let temp = tempfile::tempdir().expect("tempdir");
    let disk = Tmpfs::mount(&temp.path().join("disk"), "8m");
    let state = disk.0.join("state");
    let site = temp.path().join("site");
    tiny_site(&site);
    let mut daemon = Daemon::start(&state);
    let mut client = RestClient::new(&daemon);
    let session_id = create_dir_session(&mut client, &site).await;
    let queued = client
        .call(
            "patch/apply",
            json!({"sessionId": session_id, "unified_diff": recolor("000000", "111111")}),
        )
        .await
        .expect("queued");
    let first = queued["commandId"].as_str().expect("id").to_string();
    assert_eq!(
        wait_final(&mut client, &session_id, &first).await["status"],
        "READY"
    );
    let events_before = all_events(&daemon, &session_id).await;

    let filler = disk.fill(0);
    // Writes now fail: each request gets a clear error, and the daemon stays up.
    let mut refused = 0;
    for i in 0..20 {
        let prompt = "x".repeat(19_000) + &i.to_string();
        match client
            .call(
                "session/updateSettings",
                json!({"sessionId": session_id, "prompt": prompt}),
            )
            .await
        {
            Ok(_) => {}
            Err(error) => {
                refused += 1;
                assert!(error.status >= 500, "{} {}", error.status, error.body);
                let message = error.body.to_string().to_lowercase();
                assert!(
                    message.contains("full")
                        || message.contains("space")
                        || message.contains("disk")
                        || message.contains("storage"),
                    "an unclear error: {message}"
                );
            }
        }
    }
    assert!(refused > 0, "no write failed on a full disk");
    let health = reqwest::get(format!("{}/healthz", daemon.base_url))
        .await
        .expect("healthz");
    assert!(health.status().is_success(), "the daemon went down");

    // Room again: it goes on, and after a restart everything acknowledged is there.
    std::fs::remove_file(filler).expect("free");
    let queued = client
        .call(
            "patch/apply",
            json!({"sessionId": session_id, "unified_diff": recolor("111111", "222222")}),
        )
        .await
        .expect("queued after freeing space");
    let second = queued["commandId"].as_str().expect("id").to_string();
    assert_eq!(
        wait_final(&mut client, &session_id, &second).await["status"],
        "READY"
    );
    daemon.kill9();
    daemon = Daemon::start(&state);
    client = RestClient::new(&daemon);
    for command_id in [&first, &second] {
        assert_eq!(
            command(&mut client, &session_id, command_id)
                .await
                .expect("kept")["status"],
            "READY"
        );
    }
    let events_after = all_events(&daemon, &session_id).await;
    assert_eq!(&events_after[..events_before.len()], &events_before[..]);
    for (i, event) in events_after.iter().enumerate() {
        assert_eq!(event["seq"], json!(i as u64 + 1), "a gap or duplicate");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposer_that_never_answers_times_out_into_a_clean_failure() {
    // A model server that accepts connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let temp = tempfile::tempdir().expect("tempdir");
    let site = temp.path().join("site");
    tiny_site(&site);
    let url = format!("http://127.0.0.1:{port}/v1");
    let daemon = Daemon::start_with(
        &temp.path().join("state"),
        &[
            ("DEVFLOW_PROPOSER", "openai"),
            ("DEVFLOW_OPENAI_URL", &url),
            ("DEVFLOW_OPENAI_MODEL", "hanging-model"),
            ("DEVFLOW_OPENAI_TIMEOUT_SECS", "2"),
        ],
    );
    let mut client = RestClient::new(&daemon);
    let session_id = create_dir_session(&mut client, &site).await;
    let before = std::fs::read(site.join("css/site.css")).expect("css");
    let started = Instant::now();
    let queued = client
        .call(
            "command/submit",
            json!({"sessionId": session_id, "instruction": "make the text blue"}),
        )
        .await
        .expect("submit");
    let command_id = queued["commandId"].as_str().expect("id").to_string();
    let failed = wait_final(&mut client, &session_id, &command_id).await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    let summary = failed["errorSummary"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        summary.contains("time")
            || summary.contains("did not answer")
            || summary.contains("deadline"),
        "the summary does not say it timed out: {summary}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "a 2 s deadline took {:?}",
        started.elapsed()
    );
    assert_eq!(
        std::fs::read(site.join("css/site.css")).expect("css"),
        before
    );
    // The daemon is not stuck: the next command is taken.
    let queued = client
        .call(
            "patch/apply",
            json!({"sessionId": session_id, "unified_diff": recolor("000000", "0000ff")}),
        )
        .await
        .expect("next command");
    let next = queued["commandId"].as_str().expect("id").to_string();
    assert_eq!(
        wait_final(&mut client, &session_id, &next).await["status"],
        "READY"
    );
}
