//! Faults the daemon must survive, against the real binary: `kill -9` at random points of
//! the pipeline (a bounded loop of trials), a disk that fills up under the workspace or the
//! state dir (a small tmpfs), a proposer that never answers, and a dev server that keeps
//! crashing (restarted with a growing back-off, the session usable, its group ended on stop).
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

use devflow_tests::daemon::eventually;
use devflow_tests::session::{create_dir_session, running_session, wait_final};
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
    let url = devflow_tests::fake_models::silent_server().await;
    let temp = tempfile::tempdir().expect("tempdir");
    let site = temp.path().join("site");
    tiny_site(&site);
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

/// How many times the crash-loop fixture's dev server dies before a run of it stays up.
const CRASHES: usize = 4;

/// The crash-loop fixture's `dev` script: serves the site's files. Of its first [`CRASHES`]
/// runs, the even ones exit with an error 700 ms after their first answer (the daemon's
/// readiness probe), the odd ones at once, before answering at all; later runs stay up.
/// Every start and exit is appended to `runs.log` beside the site (so the watcher sees
/// nothing), with the pid, process group, port, the daemon's owner marker and the time.
const CRASH_LOOP_SERVER: &str = r#"
const fs = require('fs');
const http = require('http');
const path = require('path');
const CRASHES = Number(process.argv[2]);
const log = path.join(__dirname, '..', 'runs.log');
const record = (entry) => fs.appendFileSync(log, JSON.stringify({ ...entry, at: Date.now() }) + '\n');
const run = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('"start"')).length : 0;
const group = Number(fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[2]);
record({ event: 'start', pid: process.pid, group, port: Number(process.env.PORT), owner: process.env.DEVFLOW_PREVIEW_OWNER || '' });
const crash = () => { record({ event: 'exit' }); console.error('crash-loop fixture: exiting on purpose'); process.exit(1); };
if (run < CRASHES && run % 2 === 1) crash();
let exiting = false;
http.createServer((req, res) => {
  const file = req.url === '/' ? 'index.html' : decodeURIComponent(req.url.split('?')[0]).slice(1);
  fs.readFile(path.join(__dirname, file.replace(/\.\.+/g, '')), (error, body) => {
    if (error) { res.statusCode = 404; res.end('not found'); }
    else { res.setHeader('content-type', file.endsWith('.css') ? 'text/css' : 'text/html'); res.end(body); }
    if (run < CRASHES && !exiting) {
      exiting = true;
      setTimeout(crash, 700);
    }
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
"#;

/// The lines of `runs.log`.
fn runs(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// The live processes (zombies have ended) for which `keep` holds, given their `/proc`
/// folder: pid and command line each.
fn processes(keep: impl Fn(&Path) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat
            .rfind(')')
            .is_none_or(|at| stat[at + 1..].trim_start().starts_with('Z'));
        if !zombie && keep(&entry.path()) {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push(format!(
                "{pid}: {}",
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            ));
        }
    }
    found
}

/// The process group of a `/proc/<pid>` folder's process.
fn process_group(proc_dir: &Path) -> Option<u64> {
    let stat = std::fs::read_to_string(proc_dir.join("stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(2)?.parse().ok()
}

/// Whether a `/proc/<pid>` folder's process has `NAME=value` in its environment.
fn has_env(proc_dir: &Path, name: &str, value: &str) -> bool {
    let wanted = format!("{name}={value}");
    std::fs::read(proc_dir.join("environ")).is_ok_and(|environ| {
        environ
            .split(|b| *b == 0)
            .any(|pair| pair == wanted.as_bytes())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_dev_server_is_restarted_with_growing_back_off_and_stopped_with_its_group()
{
    let npm = Command::new("npm").arg("--version").output();
    if !npm.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: npm/node are not installed");
        return;
    }
    let temp = tempfile::tempdir().expect("tempdir");
    let site = temp.path().join("site");
    tiny_site(&site);
    std::fs::create_dir_all(site.join("node_modules")).expect("mkdir");
    std::fs::write(
        site.join("package.json"),
        json!({"name": "crash-loop", "private": true,
               "scripts": {"dev": format!("node server.js {CRASHES}")}})
        .to_string(),
    )
    .expect("write");
    std::fs::write(site.join("server.js"), CRASH_LOOP_SERVER).expect("write");
    let log = temp.path().join("runs.log");

    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let (session_id, preview_url) = running_session(&mut client, &site).await;

    // Every crash, after answering or before, becomes a PREVIEW_ERROR naming the exit and
    // the back-off before the restart.
    let mut crashes: Vec<(i64, u64, String)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    while crashes.len() < CRASHES {
        assert!(
            Instant::now() < deadline,
            "only {} crashes reported: {crashes:?}",
            crashes.len()
        );
        let Ok(event) = tokio::time::timeout(Duration::from_secs(60), client.next_event()).await
        else {
            panic!(
                "no event for a minute after {} crashes: {crashes:?}",
                crashes.len()
            );
        };
        if event["type"] != "PREVIEW_ERROR" || event["data"]["source"] != "dev-server" {
            continue;
        }
        let message = event["data"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("the dev server exited (exit code 1)"),
            "{event}"
        );
        assert!(
            message.contains("crash-loop fixture: exiting on purpose"),
            "the server's last output is in the message: {event}"
        );
        let back_off: u64 = message
            .split("restarting in ")
            .nth(1)
            .and_then(|rest| rest.split(" ms").next())
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_else(|| panic!("no back-off in {message}"));
        let at = event["at"].as_i64().expect("at");
        crashes.push((at, back_off, message.to_string()));
    }

    // The back-off grows: each announced pause is twice the one before.
    let back_offs: Vec<u64> = crashes.iter().map(|(_, ms, _)| *ms).collect();
    assert!(
        back_offs.windows(2).all(|w| w[1] == w[0] * 2),
        "back-offs {back_offs:?}"
    );
    // And it is kept: every restart came at least the announced pause after the exit
    // before it (both times written by the fixture), so the crashes spread out.
    let stable = eventually(
        Duration::from_secs(120),
        "the run after the last crash",
        || async {
            let runs = runs(&log);
            let starts = runs.iter().filter(|r| r["event"] == "start").count();
            (starts > CRASHES).then_some(runs)
        },
    )
    .await;
    let starts: Vec<&Value> = stable.iter().filter(|r| r["event"] == "start").collect();
    let exits: Vec<&Value> = stable.iter().filter(|r| r["event"] == "exit").collect();
    assert_eq!(exits.len(), CRASHES, "{stable:?}");
    for (i, back_off) in back_offs.iter().enumerate() {
        let pause =
            starts[i + 1]["at"].as_i64().expect("at") - exits[i]["at"].as_i64().expect("at");
        assert!(
            pause >= *back_off as i64,
            "restart {} came {pause} ms after the exit, under the announced {back_off} ms",
            i + 1
        );
    }
    let gaps: Vec<i64> = crashes.windows(2).map(|w| w[1].0 - w[0].0).collect();
    eprintln!("crash events {gaps:?} ms apart; back-offs {back_offs:?} ms");
    assert!(
        gaps.last() > gaps.first(),
        "the crashes did not spread out: {gaps:?} ms apart"
    );
    let port = starts[0]["port"].as_u64().expect("port");
    assert!(
        starts.iter().all(|s| s["port"].as_u64() == Some(port)),
        "every restart on the same port: {starts:?}"
    );
    let owner = starts[0]["owner"].as_str().unwrap_or_default().to_string();
    assert!(!owner.is_empty(), "the dev server carries the owner marker");

    // The session stayed usable: the page comes through the proxy from the run that stayed
    // up, and a builtin instruction goes all the way.
    eventually(
        Duration::from_secs(60),
        "the preview to answer again",
        || async {
            let page = reqwest::get(&preview_url).await.ok()?;
            page.status().is_success().then_some(())
        },
    )
    .await;
    let session = client
        .call("session/get", json!({"sessionId": session_id}))
        .await
        .expect("session/get");
    assert_eq!(session["status"], "RUNNING", "{session}");
    let queued = client
        .call(
            "command/submit",
            json!({"sessionId": session_id, "instruction": "make the text color #112233"}),
        )
        .await
        .expect("submit");
    let command_id = queued["commandId"].as_str().expect("id").to_string();
    let command = wait_final(&mut client, &session_id, &command_id).await;
    assert_eq!(command["status"], "READY", "{command}");
    let css = std::fs::read_to_string(site.join("css/site.css")).expect("css");
    assert!(css.contains("#112233"), "{css}");

    // Stopping the session ends the dev server's whole group: nothing is left in the group of
    // any of its runs, nothing working in the site carries this daemon's owner marker (other
    // parts of the daemon may run children with it), and nothing listens on the port.
    let groups: Vec<u64> = starts
        .iter()
        .map(|s| s["group"].as_u64().expect("group"))
        .collect();
    let site_dir = std::fs::canonicalize(&site).expect("site");
    let left = || {
        processes(|proc_dir| {
            process_group(proc_dir).is_some_and(|g| groups.contains(&g))
                || (has_env(proc_dir, "DEVFLOW_PREVIEW_OWNER", &owner)
                    && std::fs::read_link(proc_dir.join("cwd"))
                        .is_ok_and(|cwd| cwd.starts_with(&site_dir)))
        })
    };
    assert!(
        !left().is_empty(),
        "the running dev server is found by its group"
    );
    let stopped = client
        .call("session/stop", json!({"sessionId": session_id}))
        .await
        .expect("session/stop");
    assert_eq!(stopped["status"], "STOPPED", "{stopped}");
    let gone_by = Instant::now() + Duration::from_secs(20);
    loop {
        let still = left();
        let listening = std::net::TcpStream::connect(("127.0.0.1", port as u16)).is_ok();
        if still.is_empty() && !listening {
            break;
        }
        assert!(
            Instant::now() < gone_by,
            "after the stop, still running: {still:?}; port {port} listening: {listening}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // No restart comes after the stop.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        runs(&log).iter().filter(|r| r["event"] == "start").count(),
        starts.len(),
        "the dev server was started again after the stop"
    );
}
