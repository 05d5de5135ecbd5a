//! Benchmark: fleet mode (`bench/run.sh fleet`, not part of `all`). Two `devflow serve`
//! daemons on one moto server (`store = "dynamodb"`, `events = "sqs"`, `blobs = "s3"`), as
//! `tests/tests/fleet.rs` runs them:
//!
//! - [`delivery`]: an event appended on daemon A → its arrival at a WebSocket subscriber on
//!   daemon B (and on A itself), alternating command by command with one SQLite daemon whose
//!   subscriber is on the same daemon (the anchor);
//! - [`per_session`]: what N sessions (1, 10, 100) cost in AWS requests and dollars, counted by a
//!   proxy between each daemon and moto ([`proxy`], priced by [`billing`]), idle and under a
//!   fixed command rate, compared with `devflow_fleet::cost`'s SQS model.
//!
//! moto is a local Python server: its latency is not AWS's, and what it costs in CPU is this
//! machine's. The request counts do not depend on it.

mod billing;
mod delivery;
mod moto;
mod per_session;
mod proxy;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::daemon::DaemonProcess;
use crate::latency::{subscribe_ws, Arrival};
use crate::stats::Table;

use self::moto::MotoServer;
use self::proxy::CountingProxy;

/// Table names and queue names start with this.
const TABLE_PREFIX: &str = "bench-";
/// The fleet's S3 bucket (artifacts, start snapshots).
const BUCKET: &str = "devflow-bench";
/// The daemons' lease when `--lease-secs` is not given (the daemon's own default).
const DEFAULT_LEASE: Duration = Duration::from_secs(15);
/// Every daemon here verifies patches over HTTP only: with a Chromium on `PATH` the daemon
/// would also load each patched page in it (seconds per command on a busy machine, and its
/// screenshots in S3), which is not what this benchmark is about.
const HTTP_ONLY_VERIFICATION: (&str, &str) = ("DEVFLOW_BROWSER_VERIFY", "false");
/// How long one command may take to reach a subscriber as READY or FAILED.
const COMMAND_WAIT: Duration = Duration::from_secs(120);

/// `devflow-bench fleet` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct FleetArgs {
    /// Which half to run.
    #[arg(long, value_enum, default_value_t = Part::Both)]
    pub part: Part,
    /// Delivery: commands measured on each system (each command appends several events).
    #[arg(long, default_value_t = 200)]
    pub samples: usize,
    /// Delivery: commands on each system before measuring.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Cost: the session counts, each on a fresh fleet.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
    pub sessions: Vec<usize>,
    /// Cost: commands per second per session while loaded ...
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// ... but never more than this many per second over all sessions (the per-session rate
    /// is lowered to fit). moto sets the limit: one Python process, it answered about 100
    /// calls/s on a shared 2-core machine, and one command makes about 50.
    #[arg(long, default_value_t = 1.0)]
    pub max_total_rate: f64,
    /// Cost: how long commands are sent (`30s`, `2m`; a bare number is seconds).
    #[arg(long, default_value = "30s", value_parser = crate::load::parse_duration)]
    pub window: Duration,
    /// Cost: how long each idle window lasts (no session; sessions with subscribers and no
    /// command). An idle daemon's long poll returns every 20 s, so a minute sees about three.
    #[arg(long, default_value = "60s", value_parser = crate::load::parse_duration)]
    pub idle: Duration,
    /// The daemons' `DEVFLOW_LEASE_SECS` (default: the daemon's own, 15 s).
    #[arg(long)]
    pub lease_secs: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    Delivery,
    Cost,
    Both,
}

/// Runs the asked parts; delivery adds its rows to `table`, cost prints its own tables.
pub async fn run(binary: &Path, table: &mut Table, args: &FleetArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.lease_secs.is_none_or(|s| (3..=300).contains(&s)),
        "--lease-secs must be between 3 and 300 (the daemon's own bounds)"
    );
    if matches!(args.part, Part::Delivery | Part::Both) {
        let result = delivery::run(binary, args).await?;
        result.add_to(table);
        print!("{}", result.notes());
    }
    if matches!(args.part, Part::Cost | Part::Both) {
        let report = per_session::run(binary, args).await?;
        print!("{report}");
    }
    Ok(())
}

/// Two fleet daemons, `a` and `b`, on a fresh moto with the tables made and the bucket there.
struct Fleet {
    /// `[a, b]`.
    daemons: Vec<DaemonProcess>,
    /// `[a's, b's]` when counted, else empty (the daemons talk to moto directly).
    proxies: Vec<CountingProxy>,
    /// Dropped after the daemons and proxies (fields drop in order).
    moto: MotoServer,
    lease: Duration,
    _init: tempfile::TempDir,
}

impl Fleet {
    async fn start(binary: &Path, counted: bool, lease_secs: Option<u64>) -> anyhow::Result<Fleet> {
        let moto = MotoServer::start().await?;
        moto.create_bucket(BUCKET).await?;
        let init = tempfile::Builder::new()
            .prefix("devflow-bench-init-")
            .tempdir()
            .context("cannot create a temp dir")?;
        // The tables are set-up, not load: made directly on moto, never counted.
        let output = Command::new(binary)
            .args(["aws", "init", "--state-dir"])
            .arg(init.path())
            .envs(fleet_env(&moto.endpoint, "init", lease_secs))
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {} aws init", binary.display()))?;
        if !output.status.success() {
            bail!(
                "devflow aws init failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let mut daemons = Vec::new();
        let mut proxies = Vec::new();
        for daemon_id in ["a", "b"] {
            let endpoint = if counted {
                let proxy = CountingProxy::start(&moto.endpoint, TABLE_PREFIX).await?;
                let endpoint = proxy.endpoint.clone();
                proxies.push(proxy);
                endpoint
            } else {
                moto.endpoint.clone()
            };
            let daemon =
                DaemonProcess::start_with(binary, &fleet_env(&endpoint, daemon_id, lease_secs))
                    .with_context(|| format!("starting fleet daemon {daemon_id}"))?;
            daemons.push(daemon);
        }
        Ok(Fleet {
            daemons,
            proxies,
            moto,
            lease: lease_secs.map_or(DEFAULT_LEASE, Duration::from_secs),
            _init: init,
        })
    }

    /// CPU time so far of moto, daemon A and daemon B (zero for one that cannot be read).
    fn cpu(&self) -> [Duration; 3] {
        let of = |pid: u32| crate::load::process_cpu(pid).unwrap_or_default();
        [
            of(self.moto.pid()),
            of(self.daemons[0].pid()),
            of(self.daemons[1].pid()),
        ]
    }

    /// The end of both daemons' logs, for a failure's report.
    fn logs(&self, lines: usize) -> String {
        format!(
            "daemon A's log (last {lines} lines):\n{}\ndaemon B's log (last {lines} lines):\n{}",
            self.daemons[0].stderr_tail(lines),
            self.daemons[1].stderr_tail(lines)
        )
    }

    /// Waits until each daemon has run its lease loop at least once since both joined, so
    /// each knows the other's queue (a daemon reads the registry once a round).
    async fn settle(&self) {
        tokio::time::sleep(self.lease / 3 + Duration::from_secs(1)).await;
    }
}

/// The SQLite anchor's environment: only what makes it comparable.
fn anchor_env() -> Vec<(String, String)> {
    let (key, value) = HTTP_ONLY_VERIFICATION;
    vec![(key.to_string(), value.to_string())]
}

/// The environment of a fleet daemon (and of `devflow aws init`), all AWS traffic to
/// `endpoint`.
fn fleet_env(endpoint: &str, daemon_id: &str, lease_secs: Option<u64>) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = moto::AWS_ENV
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    for (key, value) in [
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint),
        ("AWS_ENDPOINT_URL_SQS", endpoint),
        ("AWS_ENDPOINT_URL_S3", endpoint),
        ("DEVFLOW_STORE", "dynamodb"),
        ("DEVFLOW_EVENTS", "sqs"),
        ("DEVFLOW_BLOBS", "s3"),
        ("DEVFLOW_S3_BUCKET", BUCKET),
        ("DEVFLOW_TABLE_PREFIX", TABLE_PREFIX),
        ("DEVFLOW_DAEMON_ID", daemon_id),
        HTTP_ONLY_VERIFICATION,
    ] {
        env.push((key.to_string(), value.to_string()));
    }
    if let Some(secs) = lease_secs {
        env.push(("DEVFLOW_LEASE_SECS".into(), secs.to_string()));
    }
    env
}

/// A tiny static site in `dir` (its own folder per session: a folder session edits it in
/// place); [`flip_diff`] changes its heading colour back and forth.
fn make_site(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("css"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html>\n<html><head><link rel=\"stylesheet\" href=\"css/style.css\"></head>\n\
         <body><h1>Fleet</h1><button class=\"cta\">Go</button></body></html>\n",
    )
    .with_context(|| format!("cannot write {}", dir.display()))?;
    std::fs::write(dir.join("css/style.css"), style(0))
        .with_context(|| format!("cannot write {}", dir.display()))?;
    Ok(())
}

const HEADING_COLOURS: [&str; 2] = ["#333333", "#444444"];

fn style(step: usize) -> String {
    format!(
        "h1 {{ font-size: 24px; color: {}; }}\n.cta {{ background: #0055ff; padding: 8px; }}\n",
        HEADING_COLOURS[step % 2]
    )
}

/// The diff that takes the site from its state after `step` commands to the next one.
fn flip_diff(step: usize) -> String {
    let (from, to) = (style(step), style(step + 1));
    let first = |text: &str| text.lines().next().unwrap_or_default().to_string();
    let second = |text: &str| text.lines().nth(1).unwrap_or_default().to_string();
    format!(
        "--- a/css/style.css\n+++ b/css/style.css\n@@ -1,2 +1,2 @@\n-{}\n+{}\n {}\n",
        first(&from),
        first(&to),
        second(&from)
    )
}

/// `POST /sessions/{id}/patches`; returns the command id.
async fn submit_patch(
    http: &reqwest::Client,
    daemon: &DaemonProcess,
    session_id: &str,
    diff: &str,
) -> anyhow::Result<String> {
    submit_patch_to(http, &daemon.base_url, &daemon.token, session_id, diff).await
}

/// [`submit_patch`] to the daemon at `base_url` (for tasks that cannot borrow the daemon).
async fn submit_patch_to(
    http: &reqwest::Client,
    base_url: &str,
    token: &str,
    session_id: &str,
    diff: &str,
) -> anyhow::Result<String> {
    let response = http
        .post(format!("{base_url}/sessions/{session_id}/patches"))
        .bearer_auth(token)
        .json(&json!({"unified_diff": diff, "reason": "bench: fleet"}))
        .send()
        .await
        .context("POST /sessions/{id}/patches")?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .context("POST /sessions/{id}/patches: the body is not JSON")?;
    if status.as_u16() != 202 {
        bail!("POST /sessions/{{id}}/patches answered {status}: {body}");
    }
    body.get("commandId")
        .and_then(Value::as_str)
        .map(str::to_string)
        .with_context(|| format!("no commandId in {body}"))
}

/// A folder session on `daemon` (which takes its lease), started.
async fn started_session(
    http: &reqwest::Client,
    daemon: &DaemonProcess,
    site: &Path,
) -> anyhow::Result<String> {
    let session_id = daemon.create_session_on(http, site).await?;
    let response = http
        .post(format!("{}/sessions/{session_id}/start", daemon.base_url))
        .bearer_auth(&daemon.token)
        .send()
        .await
        .context("POST /sessions/{id}/start")?;
    let status = response.status();
    if status.as_u16() != 202 {
        let body = response.text().await.unwrap_or_default();
        bail!("POST /sessions/{{id}}/start answered {status}: {body}");
    }
    Ok(session_id)
}

/// A WebSocket subscriber of one session from seq 1 whose stream is checked as it is read:
/// every seq must be the one after the last, or the run fails naming the subscriber.
struct Follower {
    /// Which daemon it is on, for errors.
    what: String,
    session_id: String,
    arrivals: mpsc::UnboundedReceiver<Arrival>,
    last_seq: u64,
}

impl Follower {
    async fn subscribe(
        daemon: &DaemonProcess,
        session_id: &str,
        what: &str,
    ) -> anyhow::Result<Follower> {
        Ok(Follower {
            what: what.to_string(),
            session_id: session_id.to_string(),
            arrivals: subscribe_ws(daemon, session_id).await?,
            last_seq: 0,
        })
    }

    /// Arrivals up to and including the first that `wanted` accepts.
    async fn until(
        &mut self,
        within: Duration,
        wanted: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Vec<Arrival>> {
        let deadline = Instant::now() + within;
        let mut read = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let arrival = tokio::time::timeout(left, self.arrivals.recv())
                .await
                .ok()
                .flatten()
                .with_context(|| {
                    format!(
                        "the subscriber on {} of session {} waited {within:?} after seq {}",
                        self.what, self.session_id, self.last_seq
                    )
                })?;
            self.check(&arrival)?;
            let done = wanted(&arrival.event);
            read.push(arrival);
            if done {
                return Ok(read);
            }
        }
    }

    /// Takes `arrival` as the next event: its seq must follow the last one.
    fn check(&mut self, arrival: &Arrival) -> anyhow::Result<()> {
        let seq = arrival
            .event
            .get("seq")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if seq != self.last_seq + 1 {
            bail!(
                "the subscriber on {} of session {} got seq {seq} after {}: {}",
                self.what,
                self.session_id,
                self.last_seq,
                arrival.event
            );
        }
        self.last_seq = seq;
        Ok(())
    }

    /// Reads, without waiting, whatever has arrived so far (a window's events counted in
    /// that window, not in the next).
    fn take_arrived(&mut self) -> anyhow::Result<()> {
        while let Ok(arrival) = self.arrivals.try_recv() {
            self.check(&arrival)?;
        }
        Ok(())
    }

    /// Arrivals up to and including `command_id`'s READY or FAILED; with that status.
    async fn until_final(&mut self, command_id: &str) -> anyhow::Result<(Vec<Arrival>, String)> {
        let read = self
            .until(COMMAND_WAIT, |event| {
                final_status(event, command_id).is_some()
            })
            .await?;
        let status = read
            .last()
            .and_then(|a| final_status(&a.event, command_id))
            .unwrap_or_default();
        Ok((read, status))
    }

    async fn until_ready(&mut self) -> anyhow::Result<()> {
        let read = self
            .until(COMMAND_WAIT, |event| {
                matches!(
                    event_type(event),
                    "SESSION_READY" | "SESSION_ERROR" | "SESSION_STOPPED"
                )
            })
            .await?;
        match read.last().map(|a| &a.event) {
            Some(event) if event_type(event) == "SESSION_READY" => Ok(()),
            Some(event) => bail!("session {} did not start: {event}", self.session_id),
            None => bail!("session {} did not start", self.session_id),
        }
    }
}

fn event_type(event: &Value) -> &str {
    event.get("type").and_then(Value::as_str).unwrap_or("")
}

/// `READY` / `FAILED` when `event` is `command_id`'s final COMMAND_STATUS.
fn final_status(event: &Value, command_id: &str) -> Option<String> {
    if event_type(event) != "COMMAND_STATUS"
        || event.get("commandId").and_then(Value::as_str) != Some(command_id)
    {
        return None;
    }
    match event.pointer("/data/status").and_then(Value::as_str) {
        Some(status @ ("READY" | "FAILED")) => Some(status.to_string()),
        _ => None,
    }
}

/// A temp folder holding the sessions' sites.
fn sites_dir() -> anyhow::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("devflow-bench-fleet-sites-")
        .tempdir()
        .context("cannot create a temp dir for the sites")
}

fn site_path(sites: &tempfile::TempDir, name: &str) -> anyhow::Result<PathBuf> {
    let path = sites.path().join(name);
    make_site(&path)?;
    Ok(path)
}

/// `/proc/loadavg`'s 1-minute figure, for the report.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flip_diffs_alternate_and_name_the_current_line() {
        let first = flip_diff(0);
        assert!(first.contains("-h1 { font-size: 24px; color: #333333; }"));
        assert!(first.contains("+h1 { font-size: 24px; color: #444444; }"));
        let second = flip_diff(1);
        assert!(second.contains("-h1 { font-size: 24px; color: #444444; }"));
        assert!(second.contains("+h1 { font-size: 24px; color: #333333; }"));
        assert_eq!(flip_diff(2), first);
    }

    #[test]
    fn fleet_daemons_get_the_documented_variables() {
        let env = fleet_env("http://127.0.0.1:1", "a", Some(6));
        let get = |key: &str| env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        assert_eq!(get("DEVFLOW_STORE"), Some("dynamodb"));
        assert_eq!(get("DEVFLOW_EVENTS"), Some("sqs"));
        assert_eq!(get("AWS_ENDPOINT_URL_SQS"), Some("http://127.0.0.1:1"));
        assert_eq!(get("DEVFLOW_DAEMON_ID"), Some("a"));
        assert_eq!(get("DEVFLOW_LEASE_SECS"), Some("6"));
        assert_eq!(
            fleet_env("x", "b", None)
                .iter()
                .filter(|(k, _)| k == "DEVFLOW_LEASE_SECS")
                .count(),
            0
        );
    }
}
