//! `devflow rpc` and `devflow events` against a real `devflow serve`: a script creates a
//! session, submits an instruction and follows its events until the command is final; the
//! exit codes 0 / 1 (the daemon's error object on stderr) / 2 (bad arguments) / 3 (daemon
//! down, token refused); and the no-flags path through the files `devflow serve` leaves in
//! its state dir.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use devflow_tests::daemon::{binary, Daemon, TOKEN};
use devflow_tests::fixtures::copy_site;
use serde_json::{json, Value};

/// Guards against a hung client (not a timed assertion: it only stops a stuck test).
const HANG_GUARD: Duration = Duration::from_secs(120);

/// `devflow ARGS` with a clean environment plus `env`; waits for it to exit.
fn devflow(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_remove("DEVFLOW_URL")
        .env_remove("DEVFLOW_TOKEN")
        .env_remove("DEVFLOW_STATE_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("devflow starts");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if started.elapsed() > HANG_GUARD {
            let _ = child.kill();
            panic!("devflow {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `devflow rpc` with the daemon given by env; asserts exit 0 and one JSON line on stdout.
fn rpc(daemon: &Daemon, method: &str, params: Value) -> Value {
    let params = params.to_string();
    let output = devflow(
        &["rpc", method, &params],
        &[("DEVFLOW_URL", &daemon.base_url), ("DEVFLOW_TOKEN", TOKEN)],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{method}: {}",
        stderr_of(&output)
    );
    let stdout = stdout_of(&output);
    assert_eq!(
        stdout.lines().count(),
        1,
        "not a terminal: one line: {stdout}"
    );
    serde_json::from_str(&stdout).expect("rpc prints JSON")
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn a_script_creates_a_session_submits_and_follows_events_until_final() {
    let temp = tempfile::tempdir().unwrap();
    let site = copy_site("simple-sidebar", temp.path());
    let styles_before = std::fs::read(site.join("css/styles.css")).unwrap();
    let daemon = Daemon::start(&temp.path().join("state"));

    let created = rpc(
        &daemon,
        "session/create",
        json!({"source": {"kind": "dir", "path": site}}),
    );
    let session_id = created["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    assert_eq!(created["status"], "CREATED");
    assert_eq!(created["source"]["path"], json!(site));
    assert!(created["logsUrl"]
        .as_str()
        .unwrap()
        .starts_with(&daemon.base_url));

    let submitted = rpc(
        &daemon,
        "command/submit",
        json!({"sessionId": session_id, "instruction": "round the corners"}),
    );
    let command_id = submitted["commandId"].as_str().unwrap().to_string();
    assert_eq!(submitted["status"], "QUEUED");

    // Flags this time instead of env.
    let output = devflow(
        &[
            "events",
            &session_id,
            "--until-final",
            &command_id,
            "--url",
            &daemon.base_url,
            "--token",
            TOKEN,
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let events = json_lines(&stdout_of(&output));
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "every event once, in order"
    );
    assert!(events.iter().all(|e| e["sessionId"] == json!(session_id)));
    let last = events.last().unwrap();
    assert_eq!(last["type"], "COMMAND_STATUS", "stops at the final event");
    assert_eq!(last["commandId"], json!(command_id));
    assert_eq!(last["data"]["status"], "READY", "{last}");
    let statuses: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "COMMAND_STATUS")
        .filter_map(|e| e["data"]["status"].as_str())
        .collect();
    assert_eq!(statuses, ["QUEUED", "ANALYZING", "PATCHING", "READY"]);
    assert!(events.iter().any(|e| e["type"] == "PATCH_APPLY_COMPLETED"));

    let command = rpc(
        &daemon,
        "command/get",
        json!({"sessionId": session_id, "commandId": command_id}),
    );
    assert_eq!(command["status"], "READY");
    let patch_id = command["patchId"]
        .as_str()
        .expect("a READY command has a patch");
    let patch = rpc(
        &daemon,
        "patch/get",
        json!({"sessionId": session_id, "patchId": patch_id}),
    );
    assert!(
        patch["unifiedDiff"]
            .as_str()
            .unwrap()
            .contains("border-radius"),
        "{patch}"
    );
    assert_ne!(
        std::fs::read(site.join("css/styles.css")).unwrap(),
        styles_before,
        "the patch is on disk"
    );

    // Resuming: after seq 3 without following prints exactly the rest of the history.
    let output = devflow(
        &["events", &session_id, "--after", "3", "--no-follow"],
        &[("DEVFLOW_URL", &daemon.base_url), ("DEVFLOW_TOKEN", TOKEN)],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let rest = json_lines(&stdout_of(&output));
    let history_len = rpc(
        &daemon,
        "session/subscribe",
        json!({"sessionId": session_id, "afterSeq": 0}),
    )["lastSeq"]
        .as_u64()
        .unwrap();
    assert_eq!(
        rest.iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        (4..=history_len).collect::<Vec<_>>()
    );
    assert_eq!(
        rest[0], events[3],
        "the same event as the first run printed"
    );

    // A command already final: --until-final prints its history and stops.
    let output = devflow(
        &["events", &session_id, "--until-final", &command_id],
        &[("DEVFLOW_URL", &daemon.base_url), ("DEVFLOW_TOKEN", TOKEN)],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(json_lines(&stdout_of(&output)).len() as u64 >= seqs.len() as u64);
}

#[test]
fn exit_codes_say_what_went_wrong() {
    let temp = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(&temp.path().join("state"));
    let base_url = daemon.base_url.clone();
    let env = [("DEVFLOW_URL", base_url.as_str()), ("DEVFLOW_TOKEN", TOKEN)];

    // 1: the daemon's seed-004 error object on stderr.
    let output = devflow(&["rpc", "session/get", r#"{"sessionId": "nope"}"#], &env);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout_of(&output), "");
    let error: Value = serde_json::from_str(stderr_of(&output).trim()).expect("JSON on stderr");
    assert_eq!(error["error"], "NOT_FOUND");
    assert_eq!(error["details"]["field"], "sessionId");
    assert!(error["requestId"].as_str().is_some_and(|id| !id.is_empty()));
    let output = devflow(&["rpc", "command/submit", r#"{"sessionId": 5}"#], &env);
    assert_eq!(output.status.code(), Some(1));
    let error: Value = serde_json::from_str(stderr_of(&output).trim()).unwrap();
    assert_eq!(error["error"], "VALIDATION_ERROR");
    let output = devflow(&["events", "no-such-session", "--no-follow"], &env);
    assert_eq!(output.status.code(), Some(1), "{}", stderr_of(&output));

    // 2: checked before anything is sent.
    let output = devflow(&["rpc", "session/frobnicate", "{}"], &env);
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("unknown method \"session/frobnicate\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("command/submit") && stderr.contains("session/create"),
        "the methods are listed: {stderr}"
    );
    let output = devflow(&["rpc", "session/list", "{not json"], &env);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr_of(&output).contains("not JSON"),
        "{}",
        stderr_of(&output)
    );
    let output = devflow(&["rpc", "session/list", "[1, 2]"], &env);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("JSON object"));
    let output = devflow(&["rpc"], &env);
    assert_eq!(
        output.status.code(),
        Some(2),
        "a missing method is a usage error"
    );

    // 3: a wrong token.
    let output = devflow(
        &["rpc", "session/list", "--token", "wrong-token-wrong-token"],
        &[("DEVFLOW_URL", daemon.base_url.as_str())],
    );
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr_of(&output).contains("refused the token"),
        "{}",
        stderr_of(&output)
    );

    // 3: the daemon is gone.
    daemon.kill9();
    let output = devflow(&["rpc", "session/list"], &env);
    assert_eq!(output.status.code(), Some(3));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("cannot reach the daemon at") && stderr.contains(&base_url),
        "{stderr}"
    );
    let output = devflow(&["events", "any", "--no-follow"], &env);
    assert_eq!(output.status.code(), Some(3));

    // 3: nothing says where a daemon is.
    let empty = temp.path().join("empty");
    let output = devflow(
        &[
            "rpc",
            "session/list",
            "--state-dir",
            empty.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr_of(&output).contains("DEVFLOW_URL"),
        "{}",
        stderr_of(&output)
    );
}

/// A `devflow serve` with no flags but `--port 0`, its state in `$XDG_DATA_HOME/devflow`.
struct PlainServe {
    child: Child,
}

impl PlainServe {
    fn start(data_home: &Path) -> PlainServe {
        let mut child = Command::new(binary())
            .args(["serve", "--port", "0"])
            .env("XDG_DATA_HOME", data_home)
            .env_remove("DEVFLOW_TOKEN")
            .env_remove("DEVFLOW_STATE_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("devflow serve starts");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        assert!(line.starts_with("devflow listening on "), "{line}");
        PlainServe { child }
    }
}

impl Drop for PlainServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn with_no_flags_the_client_finds_the_local_daemon() {
    let temp = tempfile::tempdir().unwrap();
    let _serve = PlainServe::start(temp.path());
    let state = temp.path().join("devflow");
    let url = std::fs::read_to_string(state.join("url")).expect("serve records its URL");
    assert!(url.trim().starts_with("http://127.0.0.1:"), "{url}");

    let data_home = temp.path().to_str().unwrap();
    let output = devflow(&["rpc", "session/list"], &[("XDG_DATA_HOME", data_home)]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let listed: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    assert_eq!(listed, json!({"sessions": []}));

    // On a terminal the result is pretty-printed.
    let command = format!("{} rpc session/list", binary().display());
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("XDG_DATA_HOME", data_home)
        .env_remove("DEVFLOW_URL")
        .env_remove("DEVFLOW_TOKEN")
        .env_remove("DEVFLOW_STATE_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("script(1) runs");
    let shown = stdout_of(&output);
    assert!(
        shown.contains("{\r\n  \"sessions\": []\r\n}")
            || shown.contains("{\n  \"sessions\": []\n}"),
        "pretty on a TTY: {shown:?}"
    );
}
