//! Benchmark: what verification in a real browser (and the screenshots it takes) adds to a
//! command, and how long target resolution takes at submit.
//!
//! Two daemons run side by side on copies of the same fixture site, each session started
//! (preview up): one with `browserVerify` on (the default; Chromium found on `PATH` or
//! through `DEVFLOW_CHROME`), one with it off (HTTP-only verification: the anchor). The same
//! manual patch — a stylesheet's first `color: #…;` turned red and back, so every command
//! changes pixels — goes to each in turn, the order swapped every sample, timed from `POST
//! /sessions/{id}/patches` to the command's PREVIEW_UPDATED (the preview shows the patch; the
//! browser's look after it comes next) and to its READY, at a WebSocket subscriber. Twice:
//! back to back (the daemon reuses the last command's look as the next one's "before"), and
//! with a hand edit of an unrelated file before each command, the command sent `--think`
//! later (the daemon looks at the edited page in the background meanwhile; `--think 0`
//! makes the command wait for that look).
//!
//! Target resolution: on the HTTP-only daemon with the session paused (commands queue, none
//! runs), `POST /sessions/{id}/commands` with `target: {selector}` against the same POST
//! without a target, alternating; the difference is the resolution against the site's
//! files that submit does.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::daemon::{check, copy_dir, DaemonProcess};
use crate::latency::{start_session, subscribe_ws, wait_for, wait_for_status, Arrival};
use crate::stats::{summarize, Table};

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Commands per daemon.
    #[arg(long, default_value_t = 30)]
    pub samples: usize,
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// The fixture site the sessions run on (a folder under `<fixtures>/sites`).
    #[arg(long, default_value = "simple-sidebar")]
    pub site: String,
    /// The selector the target-resolution rows pick.
    #[arg(long, default_value = "h1")]
    pub selector: String,
    /// The shared fixtures.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures"))]
    pub fixtures: PathBuf,
    /// After a hand edit, how long before the next command (a person reads the page first);
    /// 0 sends it at once, so the command waits for the look the edit started.
    #[arg(long, default_value = "2s", value_parser = crate::load::parse_duration)]
    pub think: Duration,
}

/// One daemon with a running session on its own copy of the site.
struct Side {
    daemon: DaemonProcess,
    http: reqwest::Client,
    session_id: String,
    arrivals: mpsc::UnboundedReceiver<Arrival>,
    last_seq: u64,
    site: tempfile::TempDir,
}

pub async fn rows(binary: &Path, table: &mut Table, args: &VerifyArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.samples > 0, "--samples must be at least 1");
    let source = args.fixtures.join("sites").join(&args.site);
    let (stylesheet, red, back) = color_toggle(&source)?;
    let mut browser = Side::start(binary, &source, true).await?;
    let mut http_only = Side::start(binary, &source, false).await?;

    // The first command says whether the browser daemon really verified in a browser.
    let first = browser.apply(&red).await?;
    let command = browser.command(&first.command_id).await?;
    let mode = command
        .pointer("/verification/mode")
        .and_then(Value::as_str);
    if mode != Some("browser") {
        bail!(
            "the browserVerify daemon verified over HTTP only ({}): is Chromium installed \
             (chromium on PATH, or DEVFLOW_CHROME)?",
            command
                .pointer("/verification/note")
                .and_then(Value::as_str)
                .unwrap_or("no note")
        );
    }
    http_only.apply(&red).await?;
    let mut state_red = true;
    for _ in 0..args.warmup {
        let diff = if state_red { &back } else { &red };
        browser.apply(diff).await?;
        http_only.apply(diff).await?;
        state_red = !state_red;
    }

    // Back to back, the page before each command is the last one's after (no new look);
    // after a hand edit elsewhere in the site it is looked at again.
    for (case, touch) in [("back to back", false), ("after a hand edit", true)] {
        let mut with_browser = Vec::with_capacity(args.samples);
        let mut without = Vec::with_capacity(args.samples);
        for i in 0..args.samples {
            if touch {
                browser.touch(i).await?;
                http_only.touch(i).await?;
                // The daemon takes the new look in the background, 300 ms after the edit;
                // a person's next instruction comes later than that.
                tokio::time::sleep(args.think).await;
            }
            let diff = if state_red { &back } else { &red };
            if i % 2 == 0 {
                with_browser.push(browser.apply(diff).await?);
                without.push(http_only.apply(diff).await?);
            } else {
                without.push(http_only.apply(diff).await?);
                with_browser.push(browser.apply(diff).await?);
            }
            state_red = !state_red;
        }
        let benchmark = format!(
            "patch → PREVIEW_UPDATED, browser verification, {case} ({})",
            args.site
        );
        let on: Vec<Duration> = with_browser.iter().map(|a| a.updated).collect();
        let off: Vec<Duration> = without.iter().map(|a| a.updated).collect();
        if let (Some(on), Some(off)) = (summarize(&on), summarize(&off)) {
            table.add(
                &benchmark,
                "browserVerify on: POST /patches → its PREVIEW_UPDATED",
                on,
            );
            table.add(
                &benchmark,
                "anchor: browserVerify off, the same patch → PREVIEW_UPDATED",
                off,
            );
            table.ratio(&benchmark, "browser / HTTP-only", on, off);
        }
        let with_browser: Vec<Duration> = with_browser.iter().map(|a| a.ready).collect();
        let without: Vec<Duration> = without.iter().map(|a| a.ready).collect();
        let overhead: Vec<Duration> = with_browser
            .iter()
            .zip(&without)
            .map(|(with, without)| with.saturating_sub(*without))
            .collect();
        let benchmark = format!(
            "patch → READY, browser verification, {case} ({})",
            args.site
        );
        if let (Some(with), Some(anchor), Some(added)) = (
            summarize(&with_browser),
            summarize(&without),
            summarize(&overhead),
        ) {
            table.add(
                &benchmark,
                &format!("browserVerify on: POST /patches ({stylesheet}) → READY, 2 viewports with screenshots"),
                with,
            );
            table.add(
                &benchmark,
                "anchor: browserVerify off (HTTP-only), the same patch → READY",
                anchor,
            );
            table.add(&benchmark, "added per command (on − off, pairwise)", added);
            table.ratio(&benchmark, "browser / HTTP-only", with, anchor);
        }
    }
    let (resolved, plain) = http_only.submit_times(&args.selector, args.samples).await?;
    let benchmark = format!("target resolution at submit ({})", args.site);
    let added: Vec<Duration> = resolved
        .iter()
        .zip(&plain)
        .map(|(with, without)| with.saturating_sub(*without))
        .collect();
    if let (Some(with), Some(anchor), Some(added)) =
        (summarize(&resolved), summarize(&plain), summarize(&added))
    {
        table.add(
            &benchmark,
            &format!(
                "POST /commands with target {{selector: {:?}}} → 202",
                args.selector
            ),
            with,
        );
        table.add(
            &benchmark,
            "anchor: the same POST without a target → 202",
            anchor,
        );
        table.add(&benchmark, "added by resolution (pairwise)", added);
        table.ratio(&benchmark, "with target / without", with, anchor);
    }
    browser.daemon.stop();
    http_only.daemon.stop();
    Ok(())
}

/// One command's times from its POST.
struct Applied {
    updated: Duration,
    ready: Duration,
    command_id: String,
}

impl Side {
    async fn start(binary: &Path, source: &Path, browser: bool) -> anyhow::Result<Side> {
        let env = [("DEVFLOW_BROWSER_VERIFY".to_string(), browser.to_string())];
        let daemon = DaemonProcess::start_with(binary, &env).context("starting devflow serve")?;
        let site = tempfile::Builder::new()
            .prefix("devflow-bench-verify-")
            .tempdir()
            .context("cannot create a temp dir for the site")?;
        copy_dir(source, site.path())
            .with_context(|| format!("cannot copy the fixture site {}", source.display()))?;
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .context("cannot build the HTTP client")?;
        let session_id = daemon.create_session_on(&http, site.path()).await?;
        let arrivals = subscribe_ws(&daemon, &session_id).await?;
        let mut side = Side {
            daemon,
            http,
            session_id,
            arrivals,
            last_seq: 0,
            site,
        };
        let start_url = side.url("/start");
        start_session(
            &side.daemon,
            &side.http,
            &start_url,
            &mut side.arrivals,
            &mut side.last_seq,
        )
        .await?;
        Ok(side)
    }

    /// A hand edit: a file the page does not use changes, and the preview says so
    /// (PREVIEW_UPDATED without a patch id) — the page may have changed, so the next
    /// command looks at it again.
    async fn touch(&mut self, i: usize) -> anyhow::Result<()> {
        let path = self.site.path().join("bench-notes.txt");
        std::fs::write(&path, format!("hand edit {i}\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
        wait_for(&mut self.arrivals, &mut self.last_seq, |e| {
            e.get("type").and_then(Value::as_str) == Some("PREVIEW_UPDATED")
                && e.pointer("/data/patchId").is_none()
        })
        .await
        .context("waiting for the hand edit's PREVIEW_UPDATED")?;
        Ok(())
    }

    fn url(&self, tail: &str) -> String {
        format!(
            "{}/sessions/{}{tail}",
            self.daemon.base_url, self.session_id
        )
    }

    /// `POST /patches` → its PREVIEW_UPDATED and → READY. A FAILED command ends the run.
    async fn apply(&mut self, diff: &str) -> anyhow::Result<Applied> {
        let start = Instant::now();
        let response = self
            .http
            .post(self.url("/patches"))
            .bearer_auth(&self.daemon.token)
            .json(&json!({"unified_diff": diff, "reason": "bench: verification overhead"}))
            .send()
            .await
            .context("POST /sessions/{id}/patches")?;
        let body = check(response, 202, "POST /sessions/{id}/patches").await?;
        let command_id = body
            .get("commandId")
            .and_then(Value::as_str)
            .with_context(|| format!("no commandId in {body}"))?
            .to_string();
        let updated = wait_for(&mut self.arrivals, &mut self.last_seq, |e| {
            e.get("commandId").and_then(Value::as_str) == Some(command_id.as_str())
                && e.get("type").and_then(Value::as_str) == Some("PREVIEW_UPDATED")
                && e.pointer("/data/patchId").is_some()
        })
        .await
        .context("waiting for the command's PREVIEW_UPDATED")?
        .at;
        let finished = wait_for_status(
            &mut self.arrivals,
            &command_id,
            &["READY", "FAILED"],
            &mut self.last_seq,
        )
        .await
        .context("waiting for the command to finish")?;
        let command = self.command(&command_id).await?;
        if command.get("status").and_then(Value::as_str) != Some("READY") {
            bail!(
                "command {command_id} FAILED: {}",
                command
                    .get("errorSummary")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
            );
        }
        Ok(Applied {
            updated: updated.checked_duration_since(start).unwrap_or_default(),
            ready: finished.checked_duration_since(start).unwrap_or_default(),
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

    /// With the queue paused: `samples` submits with a target and as many without,
    /// alternating; their round trips.
    async fn submit_times(
        &mut self,
        selector: &str,
        samples: usize,
    ) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
        let response = self
            .http
            .post(self.url("/pause"))
            .bearer_auth(&self.daemon.token)
            .send()
            .await
            .context("POST /sessions/{id}/pause")?;
        check(response, 200, "POST /sessions/{id}/pause").await?;
        let mut with_target = Vec::with_capacity(samples);
        let mut without = Vec::with_capacity(samples);
        for i in 0..samples + 2 {
            let targeted =
                json!({"instruction": "make this bigger", "target": {"selector": selector}});
            let plain = json!({"instruction": "make the headings bigger"});
            let (first, second) = if i % 2 == 0 {
                (&targeted, &plain)
            } else {
                (&plain, &targeted)
            };
            let a = self.submit(first).await?;
            let b = self.submit(second).await?;
            // The first two rounds warm the caches.
            if i < 2 {
                continue;
            }
            let (t, p) = if i % 2 == 0 { (a, b) } else { (b, a) };
            with_target.push(t);
            without.push(p);
        }
        Ok((with_target, without))
    }

    async fn submit(&self, body: &Value) -> anyhow::Result<Duration> {
        let start = Instant::now();
        let response = self
            .http
            .post(self.url("/commands"))
            .bearer_auth(&self.daemon.token)
            .json(body)
            .send()
            .await
            .context("POST /sessions/{id}/commands")?;
        check(response, 202, "POST /sessions/{id}/commands").await?;
        Ok(start.elapsed())
    }
}

/// The site's first stylesheet line `color: #…;`, and two diffs: to red and back.
fn color_toggle(site: &Path) -> anyhow::Result<(String, String, String)> {
    let mut stylesheets = Vec::new();
    let mut stack = vec![site.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "css") {
                stylesheets.push(path);
            }
        }
    }
    stylesheets.sort();
    for path in stylesheets {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let lines: Vec<&str> = text.lines().collect();
        // With a line of context on each side.
        let Some(index) = (1..lines.len().saturating_sub(1)).find(|&i| {
            let line = lines[i].trim();
            line.starts_with("color: #") && line.ends_with(';')
        }) else {
            continue;
        };
        let relative = path
            .strip_prefix(site)
            .context("a stylesheet outside the site")?
            .to_string_lossy()
            .replace('\\', "/");
        let original = lines[index];
        let indent = &original[..original.len() - original.trim_start().len()];
        let red = format!("{indent}color: #c00000;");
        let hunk = |from: &str, to: &str| {
            let (before, after, start) = (lines[index - 1], lines[index + 1], index);
            format!(
                "--- a/{relative}\n+++ b/{relative}\n@@ -{start},3 +{start},3 @@\n {before}\n-{from}\n+{to}\n {after}\n"
            )
        };
        return Ok((relative.clone(), hunk(original, &red), hunk(&red, original)));
    }
    bail!(
        "no stylesheet of {} has a `color: #…;` line",
        site.display()
    )
}
