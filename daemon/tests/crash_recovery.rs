//! A stop between the journal and the commit. The pipeline stores a patch's journal
//! (pre-images + hashes) before it writes any file, so whatever part of a patch reached the
//! disk when the daemon died is undone when the next daemon opens the same state dir, and
//! the folder is byte-identical to before. Shown in-process, with a patch engine that writes
//! part of a patch and then panics (the pipeline never marks the journal Applied), and with
//! the real binary killed with SIGKILL while it writes a 50-file patch.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use devflow_daemon::config::Config;
use devflow_daemon::engine::WorkspacePatchEngine;
use devflow_daemon::metrics::Metrics;
use devflow_daemon::parts::{
    NotConfigured, PatchEngine, PatchRejection, PlannedPatch, PreviewHandle, PreviewRuntime,
    Proposers,
};
use devflow_daemon::service::{Parts, Service};
use devflow_protocol::{
    ApplyPatchParams, CommandParams, CommandStatus, CreateSessionParams, PatchState, Proposal,
    SessionParams, SessionSource,
};
use devflow_store::{JournalFile, JournalState, SqliteStore, Store};
use serde_json::{json, Value};

/// Plans with the real engine; its commit writes the first `files_before_crash` files of
/// the plan (each whole, as the real commit does) and then panics, as if the process died
/// right there: the pipeline never gets to mark the journal Applied.
struct CrashingEngine {
    files_before_crash: usize,
    crashed: Arc<AtomicBool>,
}

impl PatchEngine for CrashingEngine {
    fn plan(&self, workspace: &Path, proposal: &Proposal) -> Result<PlannedPatch, PatchRejection> {
        WorkspacePatchEngine.plan(workspace, proposal)
    }

    fn commit(&self, workspace: &Path, files: &[JournalFile]) -> Result<(), String> {
        let written = &files[..self.files_before_crash.min(files.len())];
        WorkspacePatchEngine.commit(workspace, written)?;
        self.crashed.store(true, Ordering::SeqCst);
        panic!("simulated crash after writing {} file(s)", written.len());
    }

    fn restore(&self, workspace: &Path, files: &[JournalFile], force: bool) -> Result<(), String> {
        WorkspacePatchEngine.restore(workspace, files, force)
    }
}

struct NoPreview;

#[async_trait]
impl PreviewRuntime for NoPreview {
    async fn start(&self, _: &str, _: &Path) -> Result<PreviewHandle, String> {
        Err("no preview in these tests".into())
    }
    async fn stop(&self, _: &str) {}
    async fn verify(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
    async fn files_changed(&self, _: &str, _: &[String]) {}
}

fn parts(engine: Arc<dyn PatchEngine>) -> Parts {
    Parts {
        proposers: Proposers::default(),
        patch_engine: engine,
        ingest: Arc::new(NotConfigured("no zips in these tests")),
        preview: Arc::new(NoPreview),
        browser: Arc::new(devflow_daemon::preview::browser::BrowserChecks::off(
            "no browser in these tests",
        )),
    }
}

/// Every file under `dir` with its bytes (temp files included: a leftover is a difference).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir).expect("inside");
                files.insert(
                    relative.to_string_lossy().into_owned(),
                    std::fs::read(&path).expect("read"),
                );
            }
        }
    }
    files
}

fn changed(before: &BTreeMap<String, Vec<u8>>, after: &BTreeMap<String, Vec<u8>>) -> usize {
    let paths: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    paths
        .into_iter()
        .filter(|p| before.get(*p) != after.get(*p))
        .count()
}

const STYLE: &str = "body {\n  color: #333;\n}\n\nh1 {\n  font-size: 2rem;\n}\n";
const OLD_JS: &str = "console.log('old');\n";

/// Modifies style.css, creates theme.css, deletes old.js: one of each way a file changes.
const DIFF: &str = "--- a/style.css\n+++ b/style.css\n@@ -5,3 +5,3 @@\n h1 {\n-  font-size: 2rem;\n+  font-size: 3rem;\n }\n--- /dev/null\n+++ b/theme.css\n@@ -0,0 +1,3 @@\n+:root {\n+  --brand: #0d6efd;\n+}\n--- a/old.js\n+++ /dev/null\n@@ -1 +0,0 @@\n-console.log('old');\n";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// One daemon life crashes in the middle of the commit; the next one opens the same state
/// dir and must find the folder as it was.
fn crash_mid_commit_then_reopen(files_before_crash: usize) {
    let temp = tempfile::tempdir().expect("tempdir");
    let site = temp.path().join("site");
    std::fs::create_dir_all(&site).expect("site dir");
    std::fs::write(site.join("style.css"), STYLE).expect("write");
    std::fs::write(site.join("old.js"), OLD_JS).expect("write");
    std::fs::write(site.join("index.html"), "<h1>hi</h1>\n").expect("write");
    let state = temp.path().join("state");
    let database = state.join("devflow.db");
    let original = snapshot(&site);

    let crashed = Arc::new(AtomicBool::new(false));
    let first_life = runtime();
    let (session_id, command_id) = first_life.block_on(async {
        let store = Arc::new(SqliteStore::open(&database).expect("store"));
        let engine = Arc::new(CrashingEngine {
            files_before_crash,
            crashed: crashed.clone(),
        });
        let service = Service::open(
            Config::new(state.clone()),
            store.clone(),
            parts(engine),
            Arc::new(Metrics::default()),
        )
        .await
        .expect("service opens");
        let session_id = service
            .create_session(CreateSessionParams {
                source: Some(SessionSource::Dir {
                    path: site.to_string_lossy().into_owned(),
                }),
                ..Default::default()
            })
            .await
            .expect("session")
            .session
            .session_id;
        let command_id = service
            .apply_patch(ApplyPatchParams {
                session_id: session_id.clone(),
                unified_diff: DIFF.into(),
                files_to_edit: None,
                reason: Some("three files".into()),
                idempotency_key: None,
            })
            .await
            .expect("patch accepted")
            .command_id;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !crashed.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "the commit never ran");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        // The state a crash leaves: the journal says Applying, part of the patch is on disk.
        let records = store.list_patches(&session_id).await.expect("patches");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].journal_state, JournalState::Applying);
        let planned: Vec<&str> = records[0].files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(planned, ["style.css", "theme.css", "old.js"]);
        assert_eq!(
            changed(&original, &snapshot(&site)),
            files_before_crash,
            "the crash left {files_before_crash} file(s) written"
        );
        (session_id, command_id)
    });
    // Every task of this daemon stops here, as with the process.
    first_life.shutdown_timeout(Duration::from_secs(5));

    runtime().block_on(async {
        let store = Arc::new(SqliteStore::open(&database).expect("store reopens"));
        let service = Service::open(
            Config::new(state.clone()),
            store.clone(),
            parts(Arc::new(WorkspacePatchEngine)),
            Arc::new(Metrics::default()),
        )
        .await
        .expect("service reopens");
        assert_eq!(
            snapshot(&site),
            original,
            "the folder is byte-identical to before the patch"
        );
        let records = store.list_patches(&session_id).await.expect("patches");
        assert_eq!(records[0].journal_state, JournalState::RolledBack);
        assert_eq!(records[0].patch.state, PatchState::RolledBack);
        let command = service
            .get_command(CommandParams {
                session_id: session_id.clone(),
                command_id,
            })
            .await
            .expect("command");
        assert_eq!(command.status, CommandStatus::Failed);
        let summary = command.error_summary.unwrap_or_default();
        assert!(summary.starts_with("interrupted:"), "{summary}");
        let session = service
            .get_session(SessionParams { session_id })
            .await
            .expect("session");
        assert_eq!(session.last_applied_patch_id, None);
    });
}

#[test]
fn a_crash_after_writing_two_of_three_files_is_undone_on_the_next_start() {
    crash_mid_commit_then_reopen(2);
}

#[test]
fn a_crash_after_writing_every_file_before_the_journal_says_applied_is_undone() {
    crash_mid_commit_then_reopen(3);
}

/// `devflow lsp` on a state dir: Content-Length framed JSON-RPC over its stdio.
struct Lsp {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Lsp {
    fn start(state: &Path) -> Lsp {
        let mut child = Command::new(env!("CARGO_BIN_EXE_devflow"))
            .arg("lsp")
            .arg("--state-dir")
            .arg(state)
            .env("DEVFLOW_PROPOSER", "builtin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("devflow lsp starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut lsp = Lsp {
            child,
            stdin,
            stdout,
            next_id: 1,
        };
        lsp.request(
            "initialize",
            json!({"processId": null, "rootUri": null, "capabilities": {}}),
        );
        lsp.send(json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));
        lsp
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write frame");
        self.stdin.flush().expect("flush");
    }

    fn read(&mut self) -> Value {
        let mut length = 0;
        loop {
            let mut line = String::new();
            let read = self.stdout.read_line(&mut line).expect("read header");
            assert!(read > 0, "devflow lsp closed its stdout");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(value) = line.strip_prefix("Content-Length: ") {
                length = value.parse().expect("length");
            }
        }
        let mut body = vec![0; length];
        self.stdout.read_exact(&mut body).expect("read body");
        serde_json::from_slice(&body).expect("JSON frame")
    }

    /// Sends a request and returns its reply, skipping notifications.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let message = self.read();
            if message.get("id") == Some(&json!(id)) {
                return message;
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        let reply = self.request(&format!("devflow/{method}"), params);
        reply
            .get("result")
            .cloned()
            .unwrap_or_else(|| panic!("devflow/{method} failed: {reply}"))
    }
}

impl Drop for Lsp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const FILES: usize = 50;

fn part(i: usize) -> String {
    format!("css/part-{i:02}.css")
}

/// What one kill left on disk.
struct Killed {
    /// Files other than before (a leftover temp file counts).
    changed: usize,
    temp_files: usize,
}

/// One attempt: a 50-file patch, SIGKILL `delay` after the first file changes on disk, then
/// a restart, which must leave the folder as before unless the whole patch was written.
fn kill_during_commit_then_restart(delay: Duration) -> Killed {
    let temp = tempfile::tempdir().expect("tempdir");
    let site = temp.path().join("site");
    std::fs::create_dir_all(site.join("css")).expect("site dir");
    let mut diff = String::new();
    for i in 0..FILES {
        std::fs::write(
            site.join(part(i)),
            format!(".part-{i} {{\n  color: #333;\n  margin: {i}px;\n}}\n"),
        )
        .expect("write part");
        let path = part(i);
        diff.push_str(&format!(
            "--- a/{path}\n+++ b/{path}\n@@ -1,4 +1,4 @@\n .part-{i} {{\n-  color: #333;\n+  color: #0d6efd;\n   margin: {i}px;\n }}\n"
        ));
    }
    let state = temp.path().join("state");
    let original = snapshot(&site);

    let mut lsp = Lsp::start(&state);
    let created = lsp.call(
        "session/create",
        json!({"source": {"kind": "dir", "path": site}}),
    );
    let session_id = created["sessionId"].clone();

    // Watch the first file from another thread and kill the daemon the moment it changes:
    // the journal is stored by then and the other 49 files are still being written.
    let pid = lsp.child.id() as libc::pid_t;
    let first = site.join(part(0));
    let first_original = original[&part(0)].clone();
    let watcher = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::fs::read(&first).is_ok_and(|bytes| bytes != first_original) {
                std::thread::sleep(delay);
                // SAFETY: signals our own child, whose pid is alive until we wait for it.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                return true;
            }
        }
        false
    });
    lsp.send(json!({
        "jsonrpc": "2.0", "id": 999, "method": "devflow/patch/apply",
        "params": {"sessionId": session_id, "unified_diff": diff},
    }));
    assert!(
        watcher.join().expect("watcher"),
        "the patch never reached the disk"
    );
    let _ = lsp.child.wait();
    let at_kill = snapshot(&site);
    let killed = Killed {
        changed: changed(&original, &at_kill),
        temp_files: at_kill.keys().filter(|p| p.ends_with(".tmp")).count(),
    };
    drop(lsp);

    let mut lsp = Lsp::start(&state);
    let after = snapshot(&site);
    let session = lsp.call("session/get", json!({"sessionId": session_id}));
    let all_new = changed(&original, &after) == FILES && killed.temp_files == 0;
    if killed.changed < FILES || killed.temp_files > 0 {
        assert_eq!(
            after, original,
            "a kill leaving {} changed file(s) ({} temp) is rolled back byte for byte",
            killed.changed, killed.temp_files
        );
        assert_eq!(session["lastAppliedPatchId"], Value::Null);
    } else {
        // The kill came after the last file; the journal may already have said Applied.
        assert!(
            after == original || all_new,
            "all or nothing after a restart"
        );
    }
    killed
}

#[test]
fn kill_9_while_writing_a_patch_is_rolled_back_on_restart() {
    // Right after a file lands, and a little later: the second kill tends to fall inside the
    // next file's write, between its temp file and the rename.
    let mut mid_commit = 0;
    let mut with_temp_file = 0;
    for delay_us in [0, 3000, 0, 6000, 1500] {
        let killed = kill_during_commit_then_restart(Duration::from_micros(delay_us));
        eprintln!(
            "kill {delay_us} µs after the first file: {} file(s) changed, {} temp file(s); restored",
            killed.changed, killed.temp_files
        );
        mid_commit += usize::from(killed.changed < FILES || killed.temp_files > 0);
        with_temp_file += usize::from(killed.temp_files > 0);
    }
    assert!(mid_commit > 0, "no kill landed in the middle of the commit");
    eprintln!("{mid_commit} kills mid-commit, {with_temp_file} inside a file's write");
}
