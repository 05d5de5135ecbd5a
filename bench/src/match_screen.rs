//! Benchmark: what rendering the builtin proposer's candidate snaps against a reference
//! screen adds to a "match the reference" command.
//!
//! One daemon (browser verification on, Chromium on `PATH` or `DEVFLOW_CHROME`). The site is
//! html5-boilerplate with a draft block whose values sit between tokens (as in
//! `tests/tests/match_reference_screen.rs`); the reference screen is the daemon's own
//! desktop screenshot of a copy edited to the second-nearest tokens. Each sample starts two
//! sessions on fresh copies of the draft: one whose reference is the dtcg-small tokens plus
//! that screen (the candidates are rendered and the best applied), one whose reference is the
//! same tokens without a screen (the anchor: the nearest-token snap, no rendering), and sends
//! each "match the reference", the order swapped every sample, timed from `POST /commands`
//! to the command's INFERENCE_COMPLETED (the proposer's part, where the rendering is) and to
//! its READY at a WebSocket subscriber. "Added" is the pairwise difference.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::daemon::{check, copy_dir, DaemonProcess};
use crate::latency::{start_session, subscribe_ws, wait_for, wait_for_status, Arrival};
use crate::stats::{summarize, Table};

const HERO_HTML: &str = "  <section class=\"hero\">\n    <h2>Harbor</h2>\n    <p>Ship calmer interfaces with one set of tokens.</p>\n  </section>\n";
const HERO_CSS: &str = "\n.hero {\n  background-color: #4338ca;\n  color: #ffffff;\n  padding: 20px;\n  margin: 20px;\n}\n";

#[derive(clap::Args)]
pub struct MatchScreenArgs {
    /// Commands per arm.
    #[arg(long, default_value_t = 10)]
    pub samples: usize,
    /// The shared fixtures.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures"))]
    pub fixtures: PathBuf,
    /// After both sessions are ready, how long before the commands (the daemon looks at each
    /// new page in the background meanwhile, as it would while a person reads it).
    #[arg(long, default_value_t = 3)]
    pub think_secs: u64,
}

/// A running session on its own copy of the draft.
struct Side {
    session_id: String,
    arrivals: mpsc::UnboundedReceiver<Arrival>,
    last_seq: u64,
    _site: tempfile::TempDir,
}

/// One command's times from its POST, and its proposal's reason.
struct Timed {
    inferred: Duration,
    ready: Duration,
    reason: String,
}

pub async fn rows(binary: &Path, table: &mut Table, args: &MatchScreenArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.samples > 0, "--samples must be at least 1");
    let daemon = DaemonProcess::start(binary).context("starting devflow serve")?;
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .context("cannot build the HTTP client")?;
    let tokens = std::fs::read(args.fixtures.join("tokens/dtcg-small/tokens.json"))
        .context("reading the dtcg-small tokens")?;

    // The reference screen: the daemon's own desktop screenshot of the designed copy.
    let mut designed = Side::start(&daemon, &http, &args.fixtures, true).await?;
    let comment = "--- a/css/style.css\n+++ b/css/style.css\n@@ -1,1 +1,2 @@\n+/* bench: the reference screen */\n";
    let first_line = std::fs::read_to_string(designed._site.path().join("css/style.css"))?
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let diff = format!("{comment} {first_line}\n");
    let command_id = designed
        .post(
            &daemon,
            &http,
            "/patches",
            json!({"unified_diff": diff, "reason": "bench"}),
        )
        .await?;
    wait_for_status(
        &mut designed.arrivals,
        &command_id,
        &["READY", "FAILED"],
        &mut designed.last_seq,
    )
    .await?;
    let command = get(
        &daemon,
        &http,
        &designed.url(&daemon, &format!("/commands/{command_id}")),
    )
    .await?;
    let Some(url) = command
        .get("screenshots")
        .and_then(Value::as_array)
        .and_then(|shots| {
            shots
                .iter()
                .find(|s| s.get("viewport").and_then(Value::as_str) == Some("desktop"))
        })
        .and_then(|shot| shot.get("after"))
        .and_then(Value::as_str)
    else {
        bail!("the daemon took no desktop screenshot (is Chromium installed?): {command}");
    };
    let screen = http
        .get(url)
        .bearer_auth(&daemon.token)
        .send()
        .await
        .context("GET the reference screenshot")?
        .bytes()
        .await?
        .to_vec();
    let zip = reference_zip(&tokens, &screen)?;

    let mut rendered = Vec::with_capacity(args.samples);
    let mut anchor = Vec::with_capacity(args.samples);
    for i in 0..args.samples {
        let mut with_screen = Side::start(&daemon, &http, &args.fixtures, false).await?;
        with_screen
            .reference(&daemon, &http, zip.clone(), "application/zip")
            .await?;
        let mut without = Side::start(&daemon, &http, &args.fixtures, false).await?;
        without
            .reference(&daemon, &http, tokens.clone(), "application/json")
            .await?;
        tokio::time::sleep(Duration::from_secs(args.think_secs)).await;
        let (a, b) = if i % 2 == 0 {
            let a = with_screen.instruct(&daemon, &http).await?;
            (a, without.instruct(&daemon, &http).await?)
        } else {
            let b = without.instruct(&daemon, &http).await?;
            (with_screen.instruct(&daemon, &http).await?, b)
        };
        if !a.reason.contains("chose second-nearest")
            || !b
                .reason
                .starts_with("Snapped to the nearest tokens without comparing")
        {
            bail!(
                "the arms did not do what they measure:\n  with a screen: {}\n  without: {}",
                a.reason,
                b.reason
            );
        }
        rendered.push(a);
        anchor.push(b);
        with_screen.stop(&daemon, &http).await;
        without.stop(&daemon, &http).await;
    }
    let first_reason = rendered
        .first()
        .map(|t| t.reason.clone())
        .unwrap_or_default();
    eprintln!("devflow-bench: the chosen candidate's reason (first sample): {first_reason}");
    for (stage, pick) in [
        (
            "INFERENCE_COMPLETED",
            (|t: &Timed| t.inferred) as fn(&Timed) -> Duration,
        ),
        ("READY", |t: &Timed| t.ready),
    ] {
        let with: Vec<Duration> = rendered.iter().map(pick).collect();
        let without: Vec<Duration> = anchor.iter().map(pick).collect();
        let added: Vec<Duration> = with
            .iter()
            .zip(&without)
            .map(|(w, o)| w.saturating_sub(*o))
            .collect();
        let benchmark =
            format!("\"match the reference\" → {stage} (html5-boilerplate + draft block)");
        if let (Some(with), Some(without), Some(added)) =
            (summarize(&with), summarize(&without), summarize(&added))
        {
            table.add(
                &benchmark,
                "reference with a PNG screen: candidates rendered, best applied",
                with,
            );
            table.add(
                &benchmark,
                "anchor: the same tokens without a screen (nearest-token snap)",
                without,
            );
            table.add(&benchmark, "added per command (pairwise)", added);
            table.ratio(&benchmark, "with screen / without", with, without);
        }
    }
    designed.stop(&daemon, &http).await;
    daemon.stop();
    Ok(())
}

impl Side {
    /// A session on a fresh copy of the draft (`designed`: edited to the second-nearest
    /// tokens), started, with the builtin proposer.
    async fn start(
        daemon: &DaemonProcess,
        http: &reqwest::Client,
        fixtures: &Path,
        designed: bool,
    ) -> anyhow::Result<Side> {
        let site = tempfile::Builder::new()
            .prefix("devflow-bench-match-")
            .tempdir()
            .context("cannot create a temp dir for the site")?;
        copy_dir(&fixtures.join("sites/html5-boilerplate"), site.path())
            .context("cannot copy html5-boilerplate")?;
        draft(site.path(), designed)?;
        let session_id = daemon.create_session_on(http, site.path()).await?;
        let arrivals = subscribe_ws(daemon, &session_id).await?;
        let mut side = Side {
            session_id,
            arrivals,
            last_seq: 0,
            _site: site,
        };
        let response = http
            .patch(side.url(daemon, "/settings"))
            .bearer_auth(&daemon.token)
            .json(&json!({"proposer": "builtin"}))
            .send()
            .await?;
        check(response, 200, "PATCH /sessions/{id}/settings").await?;
        let start_url = side.url(daemon, "/start");
        start_session(
            daemon,
            http,
            &start_url,
            &mut side.arrivals,
            &mut side.last_seq,
        )
        .await?;
        Ok(side)
    }

    fn url(&self, daemon: &DaemonProcess, tail: &str) -> String {
        format!("{}/sessions/{}{tail}", daemon.base_url, self.session_id)
    }

    /// POST to a session route; the answer's `commandId` when it has one.
    async fn post(
        &self,
        daemon: &DaemonProcess,
        http: &reqwest::Client,
        tail: &str,
        body: Value,
    ) -> anyhow::Result<String> {
        let mut request = http.post(self.url(daemon, tail)).bearer_auth(&daemon.token);
        if !body.is_null() {
            request = request.json(&body);
        }
        let answer = check(request.send().await?, 202, tail).await?;
        Ok(answer
            .get("commandId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }

    async fn reference(
        &mut self,
        daemon: &DaemonProcess,
        http: &reqwest::Client,
        body: Vec<u8>,
        content_type: &str,
    ) -> anyhow::Result<()> {
        let response = http
            .put(self.url(daemon, "/reference"))
            .bearer_auth(&daemon.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await?;
        check(response, 200, "PUT /sessions/{id}/reference").await?;
        Ok(())
    }

    async fn instruct(
        &mut self,
        daemon: &DaemonProcess,
        http: &reqwest::Client,
    ) -> anyhow::Result<Timed> {
        let start = Instant::now();
        let command_id = self
            .post(
                daemon,
                http,
                "/commands",
                json!({"instruction": "match the reference"}),
            )
            .await?;
        let inferred = wait_for(&mut self.arrivals, &mut self.last_seq, |e| {
            e.get("commandId").and_then(Value::as_str) == Some(command_id.as_str())
                && e.get("type").and_then(Value::as_str) == Some("INFERENCE_COMPLETED")
        })
        .await
        .context("waiting for INFERENCE_COMPLETED")?;
        let reason = inferred
            .event
            .pointer("/data/reason")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let ready = wait_for_status(
            &mut self.arrivals,
            &command_id,
            &["READY", "FAILED"],
            &mut self.last_seq,
        )
        .await?;
        let command = get(
            daemon,
            http,
            &self.url(daemon, &format!("/commands/{command_id}")),
        )
        .await?;
        if command.get("status").and_then(Value::as_str) != Some("READY") {
            bail!("command {command_id} FAILED: {command}");
        }
        Ok(Timed {
            inferred: inferred
                .at
                .checked_duration_since(start)
                .unwrap_or_default(),
            ready: ready.checked_duration_since(start).unwrap_or_default(),
            reason,
        })
    }

    async fn stop(&self, daemon: &DaemonProcess, http: &reqwest::Client) {
        let _ = http
            .post(self.url(daemon, "/stop"))
            .bearer_auth(&daemon.token)
            .send()
            .await;
    }
}

/// html5-boilerplate with the draft block; `designed`: edited to the second-nearest tokens.
fn draft(site: &Path, designed: bool) -> anyhow::Result<()> {
    let page = site.join("index.html");
    let anchor = "  <script src=\"js/app.js\"></script>";
    let html = std::fs::read_to_string(&page)?;
    anyhow::ensure!(html.contains(anchor), "the fixture page changed");
    std::fs::write(&page, html.replace(anchor, &format!("{HERO_HTML}{anchor}")))?;
    let sheet = site.join("css/style.css");
    let mut css = std::fs::read_to_string(&sheet)? + HERO_CSS;
    if designed {
        for (from, to) in [
            ("html {\n  color: #222;", "html {\n  color: #0f172a;"),
            ("background-color: #4338ca;", "background-color: #3730a3;"),
            ("padding: 20px;", "padding: 16px;"),
            ("margin: 20px;", "margin: 16px;"),
        ] {
            anyhow::ensure!(
                css.matches(from).count() == 1,
                "{from:?} once in the stylesheet"
            );
            css = css.replacen(from, to, 1);
        }
    }
    std::fs::write(&sheet, css)?;
    Ok(())
}

fn reference_zip(tokens: &[u8], screen: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(&mut bytes));
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("tokens.json", options)?;
        zip.write_all(tokens)?;
        zip.start_file("screens/home.png", options)?;
        zip.write_all(screen)?;
        zip.finish()?;
    }
    Ok(bytes)
}

async fn get(daemon: &DaemonProcess, http: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let response = http.get(url).bearer_auth(&daemon.token).send().await?;
    check(response, 200, url).await
}
