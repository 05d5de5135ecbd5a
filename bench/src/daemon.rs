//! The daemon under measurement: `devflow serve --port 0` on a temp state dir, found through
//! the one URL line it prints, plus the REST calls the benchmarks set up with (a session on
//! a small temp site). The daemon's stderr goes to a file in the state dir, read back only
//! when it fails to start.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tempfile::TempDir;

/// A running `devflow serve`, killed when dropped.
pub struct DaemonProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    pub token: String,
    /// Removed on drop, after the daemon is killed.
    state: TempDir,
    /// The site the sessions are opened on.
    site: TempDir,
}

impl DaemonProcess {
    pub fn start(binary: &Path) -> anyhow::Result<DaemonProcess> {
        DaemonProcess::start_with(binary, &[])
    }

    /// With extra environment (a fleet daemon's `DEVFLOW_STORE`, `AWS_ENDPOINT_URL_*`, …).
    pub fn start_with(binary: &Path, env: &[(String, String)]) -> anyhow::Result<DaemonProcess> {
        let state = tempfile::Builder::new()
            .prefix("devflow-bench-state-")
            .tempdir()
            .context("cannot create a temp state dir")?;
        let site = make_site()?;
        let token = format!("bench-{}-{}", std::process::id(), unique());
        let stderr_path = state.path().join("daemon.stderr");
        let stderr = std::fs::File::create(&stderr_path)
            .with_context(|| format!("cannot create {}", stderr_path.display()))?;
        let mut child = Command::new(binary)
            .args(["serve", "--port", "0", "--state-dir"])
            .arg(state.path().join("state"))
            .args(["--token", &token])
            .envs(env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("cannot run {}", binary.display()))?;
        let stdout = child
            .stdout
            .take()
            .context("the daemon's stdout is piped")?;
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = sender.send(first);
            // Keep draining so the daemon never blocks on a full pipe.
            for _ in lines {}
        });
        let first = receiver.recv_timeout(Duration::from_secs(60));
        let line = match first {
            Ok(Some(Ok(line))) => line,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                bail!(
                    "devflow serve did not print its URL within 60 s; its stderr:\n{}",
                    tail(&log, 20)
                );
            }
        };
        let base_url = line
            .strip_prefix("devflow listening on ")
            .and_then(|rest| rest.split("/?token=").next())
            .with_context(|| format!("unexpected first line from devflow serve: {line:?}"))?
            .to_string();
        Ok(DaemonProcess {
            child,
            base_url,
            token,
            state,
            site,
        })
    }

    /// `ws://127.0.0.1:PORT/rpc?token=T`.
    pub fn ws_url(&self) -> String {
        format!(
            "{}/rpc?token={}",
            self.base_url.replacen("http://", "ws://", 1),
            self.token
        )
    }

    /// `POST /sessions` on the temp site; returns the session id.
    pub async fn create_session(&self, http: &reqwest::Client) -> anyhow::Result<String> {
        self.create_session_on(http, self.site.path()).await
    }

    /// `POST /sessions` on the folder `site`; returns the session id.
    pub async fn create_session_on(
        &self,
        http: &reqwest::Client,
        site: &Path,
    ) -> anyhow::Result<String> {
        let path = site.to_str().context("the site path is not UTF-8")?;
        let response = http
            .post(format!("{}/sessions", self.base_url))
            .bearer_auth(&self.token)
            .json(&json!({"name": "bench", "source": {"kind": "dir", "path": path}}))
            .send()
            .await
            .context("POST /sessions")?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .context("POST /sessions: the body is not JSON")?;
        if status.as_u16() != 201 {
            bail!("POST /sessions answered {status}: {body}");
        }
        body.get("sessionId")
            .and_then(Value::as_str)
            .map(str::to_string)
            .with_context(|| format!("POST /sessions: no sessionId in {body}"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last `lines` lines the daemon wrote to stderr (its log), for a failure's report.
    pub fn stderr_tail(&self, lines: usize) -> String {
        let log =
            std::fs::read_to_string(self.state.path().join("daemon.stderr")).unwrap_or_default();
        tail(&log, lines)
    }

    /// How many lines of the daemon's log so far contain `text`.
    pub fn stderr_count(&self, text: &str) -> usize {
        std::fs::read_to_string(self.state.path().join("daemon.stderr"))
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains(text))
            .count()
    }

    /// Kills the daemon and removes its state dir.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A tiny static site: what a session on a folder needs, nothing the pipeline would chew on.
fn make_site() -> anyhow::Result<TempDir> {
    let site = tempfile::Builder::new()
        .prefix("devflow-bench-site-")
        .tempdir()
        .context("cannot create a temp site")?;
    std::fs::create_dir_all(site.path().join("css")).context("cannot create the temp site")?;
    std::fs::write(
        site.path().join("index.html"),
        "<!doctype html>\n<html><head><link rel=\"stylesheet\" href=\"css/style.css\"></head>\n\
         <body><h1>Bench</h1><button class=\"cta\">Go</button></body></html>\n",
    )
    .context("cannot write the temp site")?;
    std::fs::write(
        site.path().join("css/style.css"),
        "h1 { font-size: 24px; color: #333333; }\n.cta { background: #0055ff; padding: 8px; }\n",
    )
    .context("cannot write the temp site")?;
    Ok(site)
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The JSON body of an answer with the `expected` status (`null` when empty); else an error
/// naming `what`, the status and the body.
pub async fn check(
    response: reqwest::Response,
    expected: u16,
    what: &str,
) -> anyhow::Result<Value> {
    let status = response.status();
    let text = response
        .text()
        .await
        .with_context(|| format!("{what}: the body could not be read"))?;
    if status.as_u16() != expected {
        bail!("{what} answered {status}: {text}");
    }
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).with_context(|| format!("{what}: the body is not JSON: {text}"))
}

/// Copies the folder `from` (a fixture site) into `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
