//! Benchmark: the builtin proposer end to end — the time from sending `POST
//! /sessions/{id}/commands {"instruction":…}` to the arrival of that command's
//! PREVIEW_UPDATED (the patch written, the preview told) at a WebSocket subscriber. The
//! session runs on a copy of a fixture site, started (preview proxy up), with the fixture
//! DTCG tokens as its reference, so each command also computes drift before and after.
//!
//! Anchor, alternating sample by sample on the same session: the manual path, `POST
//! /sessions/{id}/patches` with the diff the builtin proposer made for the same change, i.e.
//! the pipeline without proposing. Two instructions alternate ("the brand accent" /
//! "the brand primary" on the buttons) so every command changes the site; the two diffs
//! between those states are taken from the warm-up, and builtin and manual take turns going
//! first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::daemon::{check, copy_dir, DaemonProcess};
use crate::latency::{start_session, subscribe_ws, wait_for, wait_for_status, Arrival};
use crate::stats::{summarize, Table};

/// The two states the site alternates between, and the instruction that leads to each.
const TO_ACCENT: &str = "make the buttons the brand accent";
const TO_PRIMARY: &str = "make the buttons the brand primary";

/// The p50 the issue asks of the builtin path.
const TARGET_P50: Duration = Duration::from_millis(300);

pub struct BuiltinResult {
    site: String,
    /// Builtin: POST → PREVIEW_UPDATED with the command's patch.
    builtin_preview: Vec<Duration>,
    /// Builtin: POST → INFERENCE_COMPLETED (the proposal is ready).
    builtin_proposed: Vec<Duration>,
    /// Builtin: POST → QUEUED.
    builtin_queued: Vec<Duration>,
    /// Manual: POST /patches → PREVIEW_UPDATED with the command's patch.
    manual_preview: Vec<Duration>,
}

/// What one command took, from the POST.
struct Timed {
    queued: Duration,
    proposed: Option<Duration>,
    preview: Duration,
    command_id: String,
}

struct Bench<'a> {
    daemon: &'a DaemonProcess,
    http: reqwest::Client,
    session_id: String,
    arrivals: mpsc::UnboundedReceiver<Arrival>,
    last_seq: u64,
}

pub async fn run(
    daemon: &DaemonProcess,
    fixtures: &Path,
    site_name: &str,
    samples: usize,
    warmup: usize,
) -> anyhow::Result<BuiltinResult> {
    anyhow::ensure!(samples > 0, "--samples must be at least 1");
    let site = tempfile::Builder::new()
        .prefix("devflow-bench-builtin-")
        .tempdir()
        .context("cannot create a temp dir for the site")?;
    let source = fixtures.join("sites").join(site_name);
    copy_dir(&source, site.path())
        .with_context(|| format!("cannot copy the fixture site {}", source.display()))?;
    let tokens_path = fixtures.join("tokens/dtcg-small/tokens.json");
    let tokens = std::fs::read(&tokens_path)
        .with_context(|| format!("cannot read {}", tokens_path.display()))?;

    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .context("cannot build the HTTP client")?;
    let session_id = daemon.create_session_on(&http, site.path()).await?;
    let arrivals = subscribe_ws(daemon, &session_id).await?;
    let mut bench = Bench {
        daemon,
        http,
        session_id,
        arrivals,
        last_seq: 0,
    };
    bench.prepare(tokens).await?;

    // Warm-up: alternate until the site cycles between two states (the first instruction
    // may also rewrite what the fixture wrote differently, `#fff` as `#ffffff`), then keep
    // the diff of each step between them.
    bench.instruct(TO_PRIMARY).await?;
    let mut primary_state = read_tree(site.path())?;
    let mut diffs = None;
    for _ in 0..5 {
        let (_, to_accent) = bench.instruct(TO_ACCENT).await?;
        let (_, to_primary) = bench.instruct(TO_PRIMARY).await?;
        let now = read_tree(site.path())?;
        if now == primary_state {
            diffs = Some((to_accent, to_primary));
            break;
        }
        primary_state = now;
    }
    let (to_accent_diff, to_primary_diff) = diffs
        .context("the two instructions do not settle into a cycle of two states on this site")?;
    for _ in 0..warmup {
        bench.instruct(TO_ACCENT).await?;
        bench.apply(&to_primary_diff).await?;
    }

    let mut result = BuiltinResult {
        site: site_name.to_string(),
        builtin_preview: Vec::with_capacity(samples),
        builtin_proposed: Vec::with_capacity(samples),
        builtin_queued: Vec::with_capacity(samples),
        manual_preview: Vec::with_capacity(samples),
    };
    // The site is in the primary state here; each sample leaves it there again.
    for i in 0..samples {
        let (builtin, manual) = if i % 2 == 0 {
            let builtin = bench.instruct(TO_ACCENT).await?.0;
            (builtin, bench.apply(&to_primary_diff).await?)
        } else {
            let manual = bench.apply(&to_accent_diff).await?;
            (bench.instruct(TO_PRIMARY).await?.0, manual)
        };
        result.builtin_preview.push(builtin.preview);
        result.builtin_queued.push(builtin.queued);
        result
            .builtin_proposed
            .push(builtin.proposed.context("no INFERENCE_COMPLETED")?);
        result.manual_preview.push(manual.preview);
    }
    drop(site);
    Ok(result)
}

impl Bench<'_> {
    fn url(&self, tail: &str) -> String {
        format!(
            "{}/sessions/{}{tail}",
            self.daemon.base_url, self.session_id
        )
    }

    /// Reference, proposer, preview: the session as a person would have it.
    async fn prepare(&mut self, tokens: Vec<u8>) -> anyhow::Result<()> {
        let response = self
            .http
            .put(self.url("/reference"))
            .bearer_auth(&self.daemon.token)
            .header("content-type", "application/json")
            .body(tokens)
            .send()
            .await
            .context("PUT /sessions/{id}/reference")?;
        check(response, 200, "PUT /sessions/{id}/reference").await?;
        let response = self
            .http
            .patch(self.url("/settings"))
            .bearer_auth(&self.daemon.token)
            .json(&json!({"proposer": "builtin"}))
            .send()
            .await
            .context("PATCH /sessions/{id}/settings")?;
        check(response, 200, "PATCH /sessions/{id}/settings").await?;
        let start_url = self.url("/start");
        start_session(
            self.daemon,
            &self.http,
            &start_url,
            &mut self.arrivals,
            &mut self.last_seq,
        )
        .await
    }

    /// One instruction to the builtin proposer; returns its timings and the diff it applied.
    async fn instruct(&mut self, instruction: &str) -> anyhow::Result<(Timed, String)> {
        let start = Instant::now();
        let response = self
            .http
            .post(self.url("/commands"))
            .bearer_auth(&self.daemon.token)
            .json(&json!({"instruction": instruction}))
            .send()
            .await
            .context("POST /sessions/{id}/commands")?;
        let body = check(response, 202, "POST /sessions/{id}/commands").await?;
        let timed = self.follow(start, &body).await?;
        let command = self.command(&timed.command_id).await?;
        let diff = command
            .pointer("/proposals/0/unified_diff")
            .and_then(Value::as_str)
            .with_context(|| format!("{instruction:?}: no proposal in {command}"))?
            .to_string();
        Ok((timed, diff))
    }

    /// The manual path: the same kind of change as a hand-written diff.
    async fn apply(&mut self, diff: &str) -> anyhow::Result<Timed> {
        let start = Instant::now();
        let response = self
            .http
            .post(self.url("/patches"))
            .bearer_auth(&self.daemon.token)
            .json(&json!({"unified_diff": diff, "reason": "bench: the same change by hand"}))
            .send()
            .await
            .context("POST /sessions/{id}/patches")?;
        let body = check(response, 202, "POST /sessions/{id}/patches").await?;
        self.follow(start, &body).await
    }

    /// Follows a command from its POST to READY, stamping QUEUED, INFERENCE_COMPLETED and
    /// its PREVIEW_UPDATED; a command that does not reach READY fails the run.
    async fn follow(&mut self, start: Instant, accepted: &Value) -> anyhow::Result<Timed> {
        let command_id = accepted
            .get("commandId")
            .and_then(Value::as_str)
            .with_context(|| format!("no commandId in {accepted}"))?
            .to_string();
        let queued = wait_for_status(
            &mut self.arrivals,
            &command_id,
            &["QUEUED"],
            &mut self.last_seq,
        )
        .await
        .context("waiting for QUEUED")?;
        let mut proposed = None;
        let preview = loop {
            let arrival = wait_for(&mut self.arrivals, &mut self.last_seq, |e| {
                e.get("commandId").and_then(Value::as_str) == Some(command_id.as_str())
            })
            .await
            .with_context(|| format!("following {command_id}"))?;
            let event = &arrival.event;
            match event.get("type").and_then(Value::as_str) {
                Some("INFERENCE_COMPLETED") => proposed = Some(arrival.at),
                Some("PREVIEW_UPDATED") if event.pointer("/data/patchId").is_some() => {
                    break arrival.at
                }
                Some("COMMAND_STATUS")
                    if event.pointer("/data/status").and_then(Value::as_str) == Some("FAILED") =>
                {
                    let command = self.command(&command_id).await?;
                    bail!(
                        "command {command_id} FAILED: {}",
                        command
                            .get("errorSummary")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                    );
                }
                _ => {}
            }
        };
        wait_for_status(
            &mut self.arrivals,
            &command_id,
            &["READY", "FAILED"],
            &mut self.last_seq,
        )
        .await
        .context("waiting for the command to finish")?;
        let since = |at: Instant| at.checked_duration_since(start).unwrap_or_default();
        Ok(Timed {
            queued: since(queued),
            proposed: proposed.map(since),
            preview: since(preview),
            command_id,
        })
    }

    async fn command(&self, command_id: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(self.url(&format!("/commands/{command_id}")))
            .bearer_auth(&self.daemon.token)
            .send()
            .await
            .context("GET /sessions/{id}/commands/{commandId}")?;
        check(response, 200, "GET /sessions/{id}/commands/{commandId}").await
    }
}

/// Every file below `dir` and its bytes.
fn read_tree(dir: &Path) -> anyhow::Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        let entries = std::fs::read_dir(&folder)
            .with_context(|| format!("cannot list {}", folder.display()))?;
        for entry in entries {
            let path = entry
                .with_context(|| format!("cannot list {}", folder.display()))?
                .path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                out.insert(path, bytes);
            }
        }
    }
    Ok(out)
}

impl BuiltinResult {
    pub fn add_to(&self, table: &mut Table) {
        let benchmark = format!("builtin instruction → PREVIEW_UPDATED ({})", self.site);
        let (Some(preview), Some(proposed), Some(queued), Some(manual)) = (
            summarize(&self.builtin_preview),
            summarize(&self.builtin_proposed),
            summarize(&self.builtin_queued),
            summarize(&self.manual_preview),
        ) else {
            return;
        };
        table.add(
            &benchmark,
            "devflow builtin: POST /commands → PREVIEW_UPDATED (patch applied)",
            preview,
        );
        table.add(
            &benchmark,
            "devflow builtin: POST /commands → INFERENCE_COMPLETED",
            proposed,
        );
        table.add(
            &benchmark,
            "devflow builtin: POST /commands → QUEUED",
            queued,
        );
        table.add(
            &benchmark,
            "anchor: POST /patches, the same change → PREVIEW_UPDATED",
            manual,
        );
        table.ratio(&benchmark, "builtin / manual path", preview, manual);
        eprintln!(
            "devflow-bench: builtin p50 {:.1} ms: target p50 ≤ {} ms {}",
            preview.p50.as_secs_f64() * 1000.0,
            TARGET_P50.as_millis(),
            if preview.p50 <= TARGET_P50 {
                "met"
            } else {
                "NOT met"
            }
        );
    }
}
