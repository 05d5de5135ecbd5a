//! What the store acknowledged survives `kill -9` of the process that wrote it (DESIGN.md,
//! "Restart recovery"). The writer is this test binary run again with an environment variable
//! naming the database; it prints a line after each acknowledged write, and the test kills it
//! with SIGKILL in the middle of a stream of writes, reopens the file and checks every line.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Stdio};

use devflow_protocol::{CommandStatus, EventBody};
use devflow_store::conformance::fixtures::{command, log_event, patch_record, session};
use devflow_store::{JournalState, SqliteStore, Store};

const WRITER_ENV: &str = "DEVFLOW_STORE_TEST_SIGKILL_WRITER";
const KILL_AFTER_EVENTS: u64 = 300;
/// Bounds the writer if the parent dies before killing it.
const WRITER_GIVES_UP_AFTER: u64 = 100_000;

#[test]
fn acknowledged_writes_survive_sigkill() {
    if let Some(path) = std::env::var_os(WRITER_ENV) {
        write_until_killed(Path::new(&path));
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("state").join("devflow.sqlite3");
    let exe = std::env::current_exe().expect("test binary path");
    let child = std::process::Command::new(exe)
        .args([
            "acknowledged_writes_survive_sigkill",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WRITER_ENV, &db)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the writer");
    let mut writer = KillOnDrop(child);
    let stdout = writer.0.stdout.take().expect("piped stdout");

    let mut setup_acked = false;
    let mut last_event = 0;
    let mut last_attempts = 0;
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read the writer's output");
        if line == "ack setup" {
            setup_acked = true;
        } else if let Some(seq) = line.strip_prefix("ack event ") {
            let seq: u64 = seq.parse().expect("seq");
            assert_eq!(seq, last_event + 1, "the writer's seqs skipped");
            last_event = seq;
        } else if let Some(attempts) = line.strip_prefix("ack attempts ") {
            last_attempts = attempts.parse().expect("attempts");
        }
        // Keep reading after the kill: lines already in the pipe were acknowledged too.
        if last_event == KILL_AFTER_EVENTS && !killed {
            writer.0.kill().expect("SIGKILL the writer");
            killed = true;
        }
    }
    let status = writer.0.wait().expect("reap the writer");
    assert!(setup_acked, "the writer never finished its setup");
    assert!(
        killed,
        "the writer stopped after {last_event} events, before the kill"
    );
    assert_eq!(
        status.signal(),
        Some(9),
        "the writer must die by SIGKILL, not exit"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = SqliteStore::open(&db).expect("reopen after the kill");
        assert_eq!(
            store.get_session("s").await.expect("session"),
            Some(session("s", 1))
        );
        assert_eq!(
            store.get_patch("s", "p1").await.expect("patch"),
            Some(patch_record("s", "p1", JournalState::Applying))
        );
        let stored = store.get_command("s", "c1").await.expect("command").expect("kept");
        assert!(
            stored.attempts >= last_attempts,
            "acknowledged command update lost: {} < {last_attempts}",
            stored.attempts
        );

        // At most the one write in flight at the kill may be there unacknowledged.
        let last_seq = store.last_seq("s").await.expect("last seq");
        assert!(
            (last_event..=last_event + 1).contains(&last_seq),
            "acknowledged up to {last_event}, stored up to {last_seq}"
        );
        let events = store.events_after("s", 0, 1_000_000).await.expect("events");
        assert_eq!(events.len() as u64, last_seq);
        for (index, event) in events.iter().enumerate() {
            let seq = index as u64 + 1;
            assert_eq!(event.seq, seq);
            assert!(
                matches!(&event.body, EventBody::Log { message, .. } if *message == format!("line {seq}")),
                "event {seq} is {event:?}"
            );
        }
        let next = store.append_event(log_event("s", "after")).await.expect("append");
        assert_eq!(next.seq, last_seq + 1);
    });
}

/// The child: a setup, then events (and now and then a command update) until it is killed,
/// printing `ack …` after each call returned.
fn write_until_killed(db: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = SqliteStore::open(db).expect("open");
        store.put_session(&session("s", 1)).await.expect("session");
        let mut c1 = command("s", "c1", Some("k"));
        store.insert_command(&c1).await.expect("command");
        store
            .put_patch(&patch_record("s", "p1", JournalState::Applying))
            .await
            .expect("patch");
        // libtest printed "test <name> ... " without a newline; start acks on a line of their own.
        println!();
        println!("ack setup");
        c1.status = CommandStatus::Analyzing;
        for i in 1..=WRITER_GIVES_UP_AFTER {
            let event = store
                .append_event(log_event("s", &format!("line {i}")))
                .await
                .expect("append");
            // println! flushes at each newline: stdout is line-buffered.
            println!("ack event {}", event.seq);
            if i % 25 == 0 {
                c1.attempts = u32::try_from(i).expect("small");
                store.update_command(&c1).await.expect("update");
                println!("ack attempts {i}");
            }
        }
    });
}

/// Kills the writer if the test fails before it does.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
