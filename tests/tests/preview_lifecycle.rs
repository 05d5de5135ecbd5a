//! A dev-server preview's processes through the real binary: nothing the daemon started
//! outlives it (`kill -9` included), a daemon start ends what a previous run left running,
//! a stop during the dependency install cancels the start, and `devflow serve SITE` waits
//! for an install that takes longer than a few seconds while its API already answers.
//!
//! The projects are written here: a `dev` script that is a tiny node server (no packages),
//! and a `preinstall` script that waits for the test, so `npm install` takes as long as the
//! test wants. Skipped when npm is not installed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use devflow_tests::daemon::{binary, eventually, TOKEN};
use devflow_tests::{Client, Daemon, RestClient};
use serde_json::{json, Value};

/// The dev server: writes its pid (and a SIGTERM-ignoring child's) to `dev.pids`, answers
/// every request with a page.
const SERVER_JS: &str = r#"
const http = require('http');
const fs = require('fs');
const { spawn } = require('child_process');
const child = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"], { stdio: 'ignore' });
http.createServer((req, res) => {
  res.setHeader('content-type', 'text/html; charset=utf-8');
  res.end('<!doctype html><html><head><title>dev</title></head><body>dev server</body></html>');
}).listen(Number(process.env.PORT), '127.0.0.1', () => {
  fs.writeFileSync('dev.pids', JSON.stringify({ server: process.pid, child: child.pid, port: Number(process.env.PORT) }));
});
"#;

/// `npm install`'s preinstall step: writes its pid to `install.pid`, then waits until the
/// file `go` exists.
const PREINSTALL_JS: &str = r#"
const fs = require('fs');
fs.writeFileSync('install.pid', String(process.pid));
const timer = setInterval(() => { if (fs.existsSync('go')) { clearInterval(timer); } }, 50);
"#;

fn npm_available() -> bool {
    let found = Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: npm/node are not installed");
    }
    found
}

/// A project whose `dev` script is [`SERVER_JS`]; with `install` its `node_modules` is
/// missing and `npm install` runs [`PREINSTALL_JS`] first.
fn dev_project(into: &Path, install: bool) -> PathBuf {
    let dir = into.join("site");
    std::fs::create_dir_all(&dir).unwrap();
    let scripts = if install {
        json!({"preinstall": "node preinstall.js", "dev": "node server.js"})
    } else {
        json!({"dev": "node server.js"})
    };
    std::fs::write(
        dir.join("package.json"),
        json!({"name": "fixture", "private": true, "scripts": scripts}).to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("server.js"), SERVER_JS).unwrap();
    std::fs::write(dir.join("preinstall.js"), PREINSTALL_JS).unwrap();
    if !install {
        std::fs::create_dir(dir.join("node_modules")).unwrap();
    }
    dir
}

/// A live process (a zombie has exited; only its reaping is left).
fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .is_some_and(|at| !stat[at + 1..].trim_start().starts_with('Z'))
    })
}

fn port_open(port: u64) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port as u16)).is_ok()
}

/// The dev server's pids and port, once it has written them.
async fn dev_pids(site: &Path) -> Value {
    eventually(Duration::from_secs(60), "the dev server's pids", || async {
        std::fs::read_to_string(site.join("dev.pids"))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
    })
    .await
}

/// Creates a session on `site`, subscribes from seq 0 and starts it; returns its id.
async fn start_session(client: &mut RestClient, site: &Path) -> String {
    let created = client
        .call(
            "session/create",
            json!({"source": {"kind": "dir", "path": site}}),
        )
        .await
        .expect("session/create");
    let session_id = created["sessionId"].as_str().unwrap().to_string();
    client.subscribe(&session_id, 0).await.unwrap();
    client
        .call("session/start", json!({"sessionId": session_id}))
        .await
        .expect("session/start");
    session_id
}

async fn wait_ready(client: &mut RestClient) -> String {
    loop {
        let event = client.next_event().await;
        assert!(
            !(event["type"] == "SESSION_STATUS" && event["data"]["status"] == "ERROR"),
            "{event}"
        );
        if event["type"] == "SESSION_READY" {
            return event["data"]["previewUrl"].as_str().unwrap().to_string();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_leaves_no_dev_server_running() {
    if !npm_available() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let site = dev_project(temp.path(), false);
    let mut daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    start_session(&mut client, &site).await;
    wait_ready(&mut client).await;
    let pids = dev_pids(&site).await;
    let (server, child, port) = (
        pids["server"].as_u64().unwrap(),
        pids["child"].as_u64().unwrap(),
        pids["port"].as_u64().unwrap(),
    );
    assert!(alive(server) && alive(child) && port_open(port));

    daemon.kill9();
    eventually(
        Duration::from_secs(20),
        "the dev server, its SIGTERM-ignoring child and its port to be gone",
        || async { (!alive(server) && !alive(child) && !port_open(port)).then_some(()) },
    )
    .await;
}

/// The processes of process group `group` whose command line contains `needle`.
fn group_members_running(group: u64, needle: &str) -> Vec<u64> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(after_name) = stat.rfind(')').map(|at| &stat[at + 1..]) else {
            continue;
        };
        let pgrp = after_name
            .split_whitespace()
            .nth(2)
            .and_then(|g| g.parse::<u64>().ok());
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if pgrp == Some(group) && String::from_utf8_lossy(&cmdline).contains(needle) {
            found.push(pid);
        }
    }
    found
}

fn process_group(pid: u64) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 1..];
    after_name
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_daemon_ends_what_a_killed_one_left_running() {
    if !npm_available() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let site = dev_project(temp.path(), false);
    let state = temp.path().join("state");
    let mut daemon = Daemon::start(&state);
    let mut client = RestClient::new(&daemon);
    start_session(&mut client, &site).await;
    wait_ready(&mut client).await;
    let pids = dev_pids(&site).await;
    let (server, child) = (
        pids["server"].as_u64().unwrap(),
        pids["child"].as_u64().unwrap(),
    );

    // Take the in-group guard away first, as if someone had killed it: what is left after
    // the daemon's `kill -9` is then only the next start's to end.
    let group = process_group(server);
    let guards = group_members_running(group, "devflow-guard");
    assert!(!guards.is_empty(), "the dev server's group has its guard");
    for guard in &guards {
        let status = Command::new("kill")
            .args(["-9", &guard.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    daemon.kill9();
    // The group leader (npm) dies with the daemon; the server under it does not, now.
    std::fs::remove_file(site.join("dev.pids")).unwrap();
    assert!(
        alive(server) && alive(child),
        "left running by the killed daemon"
    );

    let daemon = Daemon::start(&state);
    eventually(
        Duration::from_secs(20),
        "the old dev server and its child to be ended",
        || async { (!alive(server) && !alive(child)).then_some(()) },
    )
    .await;
    // The session was running: the new daemon brings its preview back, with a new server.
    let again = dev_pids(&site).await;
    assert_ne!(again["server"], json!(server));
    drop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_the_install_cancels_the_start() {
    if !npm_available() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let site = dev_project(temp.path(), true);
    let daemon = Daemon::start(&temp.path().join("state"));
    let mut client = RestClient::new(&daemon);
    let session_id = start_session(&mut client, &site).await;
    let install = eventually(
        Duration::from_secs(60),
        "npm install's preinstall step",
        || async {
            std::fs::read_to_string(site.join("install.pid"))
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
        },
    )
    .await;
    assert!(alive(install));

    let stopped = client
        .call("session/stop", json!({"sessionId": session_id}))
        .await
        .expect("session/stop");
    assert_eq!(stopped["status"], "STOPPED", "{stopped}");
    eventually(
        Duration::from_secs(10),
        "the install to be killed",
        || async { (!alive(install)).then_some(()) },
    )
    .await;

    // Were the start still going, this would let the install finish and the dev server
    // start; it must not.
    std::fs::write(site.join("go"), "").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !site.join("dev.pids").exists(),
        "no dev server started after the stop"
    );
    let session = client
        .call("session/get", json!({"sessionId": session_id}))
        .await
        .unwrap();
    assert_eq!(session["status"], "STOPPED", "{session}");
    assert!(session["previewUrl"].is_null(), "{session}");
    // Everything the session said since it was created: started, stopped, nothing after.
    let mut events = Vec::new();
    while let Ok(event) = tokio::time::timeout(Duration::from_secs(1), client.next_event()).await {
        events.push(event);
    }
    let statuses: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "SESSION_STATUS")
        .filter_map(|e| e["data"]["status"].as_str())
        .collect();
    assert_eq!(statuses, ["CREATED", "STARTING", "STOPPED"], "{events:#?}");
    assert!(
        !events.iter().any(|e| e["type"] == "SESSION_READY"),
        "{events:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_a_site_waits_for_a_long_install_and_answers_meanwhile() {
    if !npm_available() {
        return;
    }
    let temp = tempfile::tempdir().unwrap();
    let site = dev_project(temp.path(), true);
    let mut child = Command::new(binary())
        .args(["serve", "--port", "0", "--state-dir"])
        .arg(temp.path().join("state"))
        .args(["--token", TOKEN])
        .arg(&site)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("devflow starts");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let (err_tx, err_lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = err_tx.send(line);
        }
    });
    let first = lines
        .recv_timeout(Duration::from_secs(60))
        .expect("the URL line");
    let base = first
        .strip_prefix("devflow listening on ")
        .and_then(|rest| rest.split("/?token=").next())
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_string();

    // The install is held until `go` exists; meanwhile the API answers.
    eventually(
        Duration::from_secs(60),
        "npm install's preinstall step",
        || async { site.join("install.pid").exists().then_some(()) },
    )
    .await;
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert!(health.status().is_success());
    // Longer than the 10 s `serve` used to give a preview.
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "serve is still waiting"
    );
    let progress: Vec<String> = err_lines.try_iter().collect();
    assert!(
        progress
            .iter()
            .any(|l| l.contains("still starting the preview")),
        "progress on stderr: {progress:#?}"
    );
    std::fs::write(site.join("go"), "").unwrap();

    let mut printed = Vec::new();
    while !printed.iter().any(|l: &String| l.starts_with("preview ")) {
        printed.push(
            lines
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|_| panic!("no preview line; got {printed:?}")),
        );
    }
    let preview = printed
        .iter()
        .find_map(|l| l.strip_prefix("preview "))
        .unwrap()
        .trim()
        .to_string();
    let page = reqwest::Client::new()
        .get(&preview)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("dev server"), "{page}");
    let _ = child.kill();
    let _ = child.wait();
}
