//! Benchmark: load — N sessions with running static previews (each on its own copy of a
//! fixture site), M WebSocket subscribers spread over them (`session/subscribe` from seq 0),
//! and builtin-proposer instructions at R commands/s, round robin, on a fixed schedule that
//! never waits for a command to finish (open loop), for a bounded duration.
//!
//! Checked, not assumed, after the run: every subscriber holds every event of its session
//! exactly once, in seq order, from seq 1, identical to its session's other subscribers; every
//! accepted command reached READY or FAILED (counted, with the failure summaries). Measured:
//! POST → COMMAND_STATUS READY at each subscriber (every delivery), the READY event's `at` →
//! receipt, POST → 202, and the daemon's VmRSS at idle, with the sessions running, at the
//! start and end of the load and after a settle period.
//!
//! Anchor, in the same run on a fresh daemon before the load: 1 session, 1 subscriber, the
//! same instructions at the same rate (`--anchor-rate`, default `--rate`): the same command
//! throughput without the other sessions and subscribers.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::daemon::{check, copy_dir, DaemonProcess};
use crate::stats::{summarize, Table};
use crate::ws::{self, Socket};

/// `devflow-bench load` flags.
#[derive(clap::Args, Debug, Clone)]
pub struct LoadArgs {
    /// Sessions, each on its own copy of the fixture site, each with a running preview.
    #[arg(long, default_value_t = 100)]
    pub sessions: usize,
    /// WebSocket subscribers, subscriber i on session i mod N (at least one per session).
    #[arg(long, default_value_t = 1000)]
    pub subscribers: usize,
    /// Commands per second over all sessions, round robin, on a fixed schedule.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// How long commands are sent (`60s`, `2m`, `500ms`; a bare number is seconds).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// The anchor's command rate (1 session, 1 subscriber); default: `--rate`, the same
    /// throughput without the other sessions and subscribers; 0 skips the anchor.
    #[arg(long)]
    pub anchor_rate: Option<f64>,
    /// How long the anchor sends commands; default: `--duration`.
    #[arg(long, value_parser = parse_duration)]
    pub anchor_duration: Option<Duration>,
    /// The quiet period after the last delivery before the settled RSS is read.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub settle: Duration,
    /// The fixture site each session runs on (a folder under `<fixtures>/sites`).
    #[arg(long, default_value = "html5-boilerplate")]
    pub site: String,
    /// The shared fixtures.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures"))]
    pub fixtures: PathBuf,
    /// Where the sessions' site copies are made (default: the system temp dir); a tmpfs
    /// such as /dev/shm takes the disk's fsyncs out of the patch writes.
    #[arg(long)]
    pub sites_dir: Option<PathBuf>,
    /// Also write every loaded command's timings here (tab-separated), to see when the
    /// slow ones happened.
    #[arg(long)]
    pub dump: Option<PathBuf>,
}

/// Two instructions the builtin proposer reads on html5-boilerplate (the `html` rule's
/// `color` in css/style.css and 404.html); alternated per session, each changes the site.
const INSTRUCTIONS: [&str; 2] = ["make the text color #112233", "make the text color #445566"];
/// Connections opened at once: more would overflow the listen backlog and add SYN retries.
const CONNECT_CONCURRENCY: usize = 32;
/// Session set-up calls in flight at once.
const SETUP_CONCURRENCY: usize = 8;
/// How long the sessions may take to report SESSION_READY, and the warm-up commands to finish.
const READY_WAIT: Duration = Duration::from_secs(180);
/// How long the last commands and deliveries may take after the schedule has ended.
const DRAIN_WAIT: Duration = Duration::from_secs(180);
/// How often the daemon's RSS is read during the load.
const RSS_EVERY: Duration = Duration::from_secs(1);

/// The size of one phase: the load, or the anchor.
#[derive(Debug, Clone, Copy)]
struct Shape {
    sessions: usize,
    subscribers: usize,
    rate: f64,
    duration: Duration,
}

impl Shape {
    fn commands(&self) -> usize {
        (self.rate * self.duration.as_secs_f64()).round() as usize
    }

    /// How many subscribers follow session `s` (subscriber i is on session i mod N).
    fn subscribers_of(&self, s: usize) -> usize {
        self.subscribers / self.sessions + usize::from(s < self.subscribers % self.sessions)
    }

    fn describe(&self) -> String {
        format!(
            "{} session{}, {} subscriber{}, {} commands/s for {} s",
            self.sessions,
            plural(self.sessions),
            self.subscribers,
            plural(self.subscribers),
            self.rate,
            self.duration.as_secs_f64()
        )
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The daemon process as `/proc` shows it at one moment.
#[derive(Debug, Clone, Copy)]
struct ProcessSample {
    rss_kib: u64,
    /// User + system CPU time so far.
    cpu: Duration,
    threads: u64,
    fds: usize,
    /// inotify instances: one per session whose workspace watcher started.
    inotify: usize,
    /// The store's SQLite file and its write-ahead log, in bytes.
    database_bytes: Option<u64>,
    wal_bytes: Option<u64>,
}

/// The daemon under measurement as the operating system shows it.
#[derive(Debug, Clone)]
struct DaemonView {
    pid: u32,
    /// `<state dir>/devflow.db`, from its command line.
    database: Option<PathBuf>,
}

/// One scheduled command, as the sender saw it.
struct Post {
    session: usize,
    scheduled: Instant,
    sent: Instant,
    /// The 202's commandId and when the response had been read; `Err` = why not.
    accepted: Result<(String, Instant), String>,
}

/// A frame as a subscriber saw it: when, and its text (parsed after the run).
type Frame = (Instant, String);

/// What one phase measured and found.
struct PhaseResult {
    shape: Shape,
    site: String,
    /// POST sent → COMMAND_STATUS READY at a subscriber, every delivery.
    ready_deliveries: Vec<Duration>,
    /// The READY event's `at` (ms) → its receipt, every delivery.
    ready_from_at: Vec<Duration>,
    /// POST sent → its 202 read.
    accepted: Vec<Duration>,
    /// The latest a POST left after its scheduled time.
    max_send_lag: Duration,
    /// From the last command sent to every final status delivered: how far the daemon was
    /// behind the schedule when it ended (a backlog shows here).
    drain: Duration,
    sent: usize,
    rejected: BTreeMap<String, usize>,
    ready: usize,
    failed: BTreeMap<String, usize>,
    /// Accepted commands with no READY/FAILED in their session's stream.
    not_final: Vec<String>,
    /// Event frames checked (every subscriber's, warm-up and replay included).
    frames_checked: usize,
    memory: Vec<(&'static str, ProcessSample)>,
    /// (time since the first command, RSS KiB) during the load.
    rss_series: Vec<(Duration, u64)>,
    /// The daemon's CPU time while the commands were sent, and how long that took.
    cpu_during_load: (Duration, Duration),
    /// `/proc/loadavg`'s 1-minute figure when the phase started and ended.
    loadavg: (String, String),
    /// The daemon's `devflow_subscriber_lags_total` at the end: subscribers that fell
    /// behind the live buffer and caught up from the store.
    subscriber_lags: Option<u64>,
    /// Per loaded command: session, scheduled (since the first), send lag, POST → 202,
    /// POST → READY at its first and last subscriber.
    per_command: Vec<CommandTimes>,
    /// Everything the checks found wrong; the run fails when it is not empty.
    problems: Vec<String>,
}

/// One command's timings, for `--dump`.
struct CommandTimes {
    session: usize,
    scheduled: Duration,
    send_lag: Duration,
    accepted: Option<Duration>,
    first_ready: Option<Duration>,
    last_ready: Option<Duration>,
}

/// Runs the anchor, then the load, prints the checks and the memory figures, and adds the
/// latency rows to `table`. Fails, after printing, when a check found a problem.
pub async fn rows(binary: &Path, table: &mut Table, args: &LoadArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.sessions > 0, "--sessions must be at least 1");
    anyhow::ensure!(
        args.subscribers >= args.sessions,
        "--subscribers must be at least --sessions (one per session)"
    );
    anyhow::ensure!(
        args.rate > 0.0 && args.rate.is_finite(),
        "--rate must be positive"
    );
    let anchor_rate = args.anchor_rate.unwrap_or(args.rate);
    anyhow::ensure!(
        anchor_rate >= 0.0 && anchor_rate.is_finite(),
        "--anchor-rate must be 0 or more"
    );
    let site = args.fixtures.join("sites").join(&args.site);
    anyhow::ensure!(
        site.join("index.html").is_file(),
        "no fixture site with an index.html at {}",
        site.display()
    );
    let load_shape = Shape {
        sessions: args.sessions,
        subscribers: args.subscribers,
        rate: args.rate,
        duration: args.duration,
    };
    anyhow::ensure!(
        load_shape.commands() > 0,
        "--rate × --duration sends no command"
    );
    eprintln!("devflow-bench: load on {}", site.display());
    let anchor = if anchor_rate > 0.0 {
        let shape = Shape {
            sessions: 1,
            subscribers: 1,
            rate: anchor_rate,
            duration: args.anchor_duration.unwrap_or(args.duration),
        };
        eprintln!("devflow-bench: anchor: {}", shape.describe());
        Some(run_phase(binary, &site, args, shape).await?)
    } else {
        None
    };
    eprintln!("devflow-bench: load: {}", load_shape.describe());
    let load = run_phase(binary, &site, args, load_shape).await?;

    print!("{}", report(&load, anchor.as_ref()));
    add_rows(table, &load, anchor.as_ref());
    if let Some(path) = &args.dump {
        std::fs::write(path, dump(&load))
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("devflow-bench: per-command timings in {}", path.display());
    }
    let problems: Vec<&String> = anchor
        .iter()
        .flat_map(|a| a.problems.iter())
        .chain(load.problems.iter())
        .collect();
    if !problems.is_empty() {
        for problem in &problems {
            eprintln!("devflow-bench: load: {problem}");
        }
        bail!(
            "the load run found {} problem{} (listed above)",
            problems.len(),
            plural(problems.len())
        );
    }
    Ok(())
}

/// One daemon, `shape.sessions` sessions, their subscribers, the command schedule, the checks.
async fn run_phase(
    binary: &Path,
    fixture: &Path,
    args: &LoadArgs,
    shape: Shape,
) -> anyhow::Result<PhaseResult> {
    let loadavg_start = loadavg();
    let daemon = DaemonProcess::start(binary).context("starting devflow serve")?;
    let view = find_daemon(&daemon.token)?;
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .context("cannot build the HTTP client")?;
    let mut memory = Vec::new();
    tokio::time::sleep(Duration::from_secs(1)).await;
    memory.push(("idle, no session", sample_process(&view)?));

    // Sessions on their own copies of the site, started, SESSION_READY seen.
    let mut sites = tempfile::Builder::new();
    sites.prefix("devflow-bench-load-");
    let sites = match &args.sites_dir {
        Some(parent) => sites.tempdir_in(parent),
        None => sites.tempdir(),
    }
    .context("cannot create a temp dir for the sites")?;
    let mut folders = Vec::with_capacity(shape.sessions);
    for s in 0..shape.sessions {
        let folder = sites.path().join(format!("site-{s:03}"));
        copy_dir(fixture, &folder).with_context(|| {
            format!("cannot copy {} to {}", fixture.display(), folder.display())
        })?;
        folders.push(folder);
    }
    let started = Instant::now();
    let session_ids: Vec<String> = futures::stream::iter(folders.iter())
        .map(|folder| {
            let daemon = &daemon;
            let http = &http;
            async move {
                let id = daemon.create_session_on(http, folder).await?;
                let response = http
                    .patch(format!("{}/sessions/{id}/settings", daemon.base_url))
                    .bearer_auth(&daemon.token)
                    .json(&json!({"proposer": "builtin"}))
                    .send()
                    .await
                    .context("PATCH /sessions/{id}/settings")?;
                check(response, 200, "PATCH /sessions/{id}/settings").await?;
                Ok::<_, anyhow::Error>(id)
            }
        })
        .buffered(SETUP_CONCURRENCY)
        .try_collect()
        .await?;
    start_sessions(&daemon, &http, &session_ids).await?;
    eprintln!(
        "devflow-bench: {} session{} running in {:.1} s",
        shape.sessions,
        plural(shape.sessions),
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    memory.push(("sessions running, no subscriber", sample_process(&view)?));

    // Subscribers, each replaying its session from seq 1.
    let started = Instant::now();
    let (stop, stopped) = watch::channel(false);
    let finals = Arc::new(AtomicUsize::new(0));
    let subscribers = connect_subscribers(&daemon, &session_ids, shape, &finals, &stopped)
        .await
        .context("connecting the subscribers")?;
    eprintln!(
        "devflow-bench: {} subscriber{} connected in {:.1} s",
        shape.subscribers,
        plural(shape.subscribers),
        started.elapsed().as_secs_f64()
    );

    // Warm-up: one command per session, waited for, so that no session's first (cold)
    // command is timed.
    let mut per_session_count = vec![0usize; shape.sessions];
    let warmups: Vec<_> = (0..shape.sessions)
        .map(|s| {
            let instruction = INSTRUCTIONS[per_session_count[s] % 2];
            per_session_count[s] += 1;
            post_command(&daemon, &http, &session_ids[s], instruction)
        })
        .collect();
    for (s, warmup) in futures::future::join_all(warmups)
        .await
        .into_iter()
        .enumerate()
    {
        warmup.with_context(|| format!("the warm-up command of session {s}"))?;
    }
    let warm_target = shape.subscribers;
    wait_until("the warm-up commands' final statuses", READY_WAIT, || {
        finals.load(Ordering::SeqCst) >= warm_target
    })
    .await?;
    let at_load_start = sample_process(&view)?;
    memory.push(("subscribers connected, load starts", at_load_start));

    // The open-loop schedule: command k goes to session k mod N at t0 + k / rate, each from
    // its own task, whatever happened to the ones before.
    let (rss_stop, rss_stopped) = watch::channel(false);
    let load_start = Instant::now();
    let rss_sampler = tokio::spawn(sample_rss_until(view.clone(), load_start, rss_stopped));
    let period = Duration::from_secs_f64(1.0 / shape.rate);
    let mut senders = Vec::with_capacity(shape.commands());
    for k in 0..shape.commands() {
        let s = k % shape.sessions;
        let instruction = INSTRUCTIONS[per_session_count[s] % 2];
        per_session_count[s] += 1;
        let scheduled = load_start + period.mul_f64(k as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let (http, base_url, token, session_id) = (
            http.clone(),
            daemon.base_url.clone(),
            daemon.token.clone(),
            session_ids[s].clone(),
        );
        senders.push(tokio::spawn(async move {
            let sent = Instant::now();
            let accepted = submit(&http, &base_url, &token, &session_id, instruction)
                .await
                .map(|id| (id, Instant::now()))
                .map_err(|e| format!("{e:#}"));
            Post {
                session: s,
                scheduled,
                sent,
                accepted,
            }
        }));
    }
    let schedule_took = load_start.elapsed();
    let at_load_end = sample_process(&view)?;
    memory.push(("last command sent", at_load_end));
    let cpu_during_load = (
        at_load_end.cpu.saturating_sub(at_load_start.cpu),
        schedule_took,
    );
    let mut posts = Vec::with_capacity(senders.len());
    for sender in senders {
        posts.push(sender.await.context("a command sender panicked")?);
    }

    // Every accepted command's final status at every subscriber of its session, then every
    // subscriber at its session's last seq.
    let mut problems = Vec::new();
    let final_target = warm_target
        + posts
            .iter()
            .filter(|p| p.accepted.is_ok())
            .map(|p| shape.subscribers_of(p.session))
            .sum::<usize>();
    if let Err(error) = wait_until("every command's final status", DRAIN_WAIT, || {
        finals.load(Ordering::SeqCst) >= final_target
    })
    .await
    {
        problems.push(format!(
            "{error:#}: {} of {final_target} final-status deliveries arrived",
            finals.load(Ordering::SeqCst)
        ));
    }
    let drained_after = load_start.elapsed();
    let _ = rss_stop.send(true);
    let rss_series = rss_sampler.await.context("the RSS sampler panicked")?;
    memory.push(("every command final, delivered", sample_process(&view)?));
    let last_seqs = last_seqs(&daemon, &session_ids).await?;
    if let Err(error) = wait_until(
        "every subscriber at its session's last seq",
        DRAIN_WAIT,
        || {
            subscribers
                .iter()
                .all(|sub| sub.received.load(Ordering::SeqCst) as u64 >= last_seqs[sub.session])
        },
    )
    .await
    {
        problems.push(format!("{error:#}"));
    }
    tokio::time::sleep(args.settle).await;
    memory.push(("after the settle period", sample_process(&view)?));
    eprintln!(
        "devflow-bench: schedule {:.1} s, drained {:.1} s after the first command",
        schedule_took.as_secs_f64(),
        drained_after.as_secs_f64()
    );

    let subscriber_lags = metric(&daemon, &http, "devflow_subscriber_lags_total").await;
    let loadavg_end = loadavg();
    let _ = stop.send(true);
    let mut streams: Vec<Vec<Vec<Frame>>> = vec![Vec::new(); shape.sessions];
    for sub in subscribers {
        let frames = sub.task.await.context("a subscriber task panicked")?;
        streams[sub.session].push(frames);
    }
    daemon.stop();
    drop(sites);

    let mut result = analyse(shape, &args.site, &posts, &streams, &last_seqs);
    result.problems.splice(0..0, problems);
    result.memory = memory;
    result.rss_series = rss_series;
    result.cpu_during_load = cpu_during_load;
    result.drain = drained_after.saturating_sub(schedule_took);
    result.loadavg = (loadavg_start, loadavg_end);
    result.subscriber_lags = subscriber_lags;
    Ok(result)
}

/// Subscribes one control connection to every session, starts them and waits for each
/// SESSION_READY; a session that reports ERROR fails the run with its reason.
async fn start_sessions(
    daemon: &DaemonProcess,
    http: &reqwest::Client,
    session_ids: &[String],
) -> anyhow::Result<()> {
    let mut control = ws::connect(&daemon.ws_url()).await?;
    for (i, id) in session_ids.iter().enumerate() {
        ws::call(
            &mut control,
            i as u64 + 1,
            "session/subscribe",
            json!({"sessionId": id, "afterSeq": 0}),
        )
        .await?;
    }
    futures::stream::iter(session_ids)
        .map(|id| async move {
            let response = http
                .post(format!("{}/sessions/{id}/start", daemon.base_url))
                .bearer_auth(&daemon.token)
                .send()
                .await
                .context("POST /sessions/{id}/start")?;
            check(response, 202, "POST /sessions/{id}/start").await
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    let mut waiting: std::collections::HashSet<&str> =
        session_ids.iter().map(String::as_str).collect();
    let deadline = tokio::time::Instant::now() + READY_WAIT;
    while !waiting.is_empty() {
        let frame = tokio::time::timeout_at(deadline, control.next())
            .await
            .with_context(|| {
                format!(
                    "{} of {} sessions sent no SESSION_READY within {READY_WAIT:?}",
                    waiting.len(),
                    session_ids.len()
                )
            })?;
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            Some(Err(error)) => bail!("the control connection failed: {error}"),
            None => bail!("the daemon closed the control connection"),
        };
        let message: Value = serde_json::from_str(text.as_str())
            .with_context(|| format!("a frame is not JSON: {}", text.as_str()))?;
        let Some(event) = message.get("params") else {
            continue;
        };
        let session = event.get("sessionId").and_then(Value::as_str).unwrap_or("");
        match event.get("type").and_then(Value::as_str) {
            Some("SESSION_READY") => {
                waiting.remove(session);
            }
            Some("SESSION_STATUS")
                if event.pointer("/data/status").and_then(Value::as_str) == Some("ERROR") =>
            {
                bail!("session {session} failed to start: {event}");
            }
            _ => {}
        }
    }
    let _ = control.close(None).await;
    Ok(())
}

/// A subscriber's task and what the driver watches while it runs.
struct Subscriber {
    session: usize,
    /// Event frames received so far.
    received: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<Vec<Frame>>,
}

/// Opens the subscribers (i on session i mod N), each `session/subscribe`d from seq 0.
async fn connect_subscribers(
    daemon: &DaemonProcess,
    session_ids: &[String],
    shape: Shape,
    finals: &Arc<AtomicUsize>,
    stopped: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<Subscriber>> {
    let url = daemon.ws_url();
    futures::stream::iter(0..shape.subscribers)
        .map(|i| {
            let session = i % shape.sessions;
            let params = json!({"sessionId": session_ids[session], "afterSeq": 0});
            let (url, finals, stopped) = (&url, finals.clone(), stopped.clone());
            async move {
                let mut socket = ws::connect(url)
                    .await
                    .with_context(|| format!("subscriber {i}"))?;
                ws::call(&mut socket, 1, "session/subscribe", params)
                    .await
                    .with_context(|| format!("subscriber {i}"))?;
                let received = Arc::new(AtomicUsize::new(0));
                let task = tokio::spawn(read_frames(socket, received.clone(), finals, stopped));
                Ok::<_, anyhow::Error>(Subscriber {
                    session,
                    received,
                    task,
                })
            }
        })
        .buffered(CONNECT_CONCURRENCY)
        .try_collect()
        .await
}

/// A subscriber: stamps and keeps every `event` notification until told to stop; counts
/// them, and the final command statuses among them, with substring tests only (whole
/// parsing waits until the run is over).
async fn read_frames(
    mut socket: Socket,
    received: Arc<AtomicUsize>,
    finals: Arc<AtomicUsize>,
    mut stopped: watch::Receiver<bool>,
) -> Vec<Frame> {
    let mut frames = Vec::new();
    loop {
        tokio::select! {
            biased;
            _ = stopped.changed() => break,
            frame = socket.next() => {
                let at = Instant::now();
                match frame {
                    Some(Ok(Message::Text(text))) => {
                        let text = text.as_str();
                        if !text.contains("\"method\":\"event\"") {
                            continue;
                        }
                        if text.contains("\"type\":\"COMMAND_STATUS\"")
                            && (text.contains("\"data\":{\"status\":\"READY\"")
                                || text.contains("\"data\":{\"status\":\"FAILED\""))
                        {
                            finals.fetch_add(1, Ordering::SeqCst);
                        }
                        frames.push((at, text.to_owned()));
                        received.fetch_add(1, Ordering::SeqCst);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                }
            }
        }
    }
    frames
}

/// `POST /sessions/{id}/commands`; the commandId of the 202.
async fn submit(
    http: &reqwest::Client,
    base_url: &str,
    token: &str,
    session_id: &str,
    instruction: &str,
) -> anyhow::Result<String> {
    let response = http
        .post(format!("{base_url}/sessions/{session_id}/commands"))
        .bearer_auth(token)
        .json(&json!({ "instruction": instruction }))
        .send()
        .await
        .context("POST /sessions/{id}/commands")?;
    let body = check(response, 202, "POST /sessions/{id}/commands").await?;
    body.get("commandId")
        .and_then(Value::as_str)
        .map(str::to_string)
        .with_context(|| format!("no commandId in {body}"))
}

async fn post_command(
    daemon: &DaemonProcess,
    http: &reqwest::Client,
    session_id: &str,
    instruction: &str,
) -> anyhow::Result<String> {
    submit(
        http,
        &daemon.base_url,
        &daemon.token,
        session_id,
        instruction,
    )
    .await
}

/// Each session's newest seq, from a `session/subscribe` reply (subscribed past the end, so
/// nothing is replayed, and unsubscribed at once).
async fn last_seqs(daemon: &DaemonProcess, session_ids: &[String]) -> anyhow::Result<Vec<u64>> {
    let mut control = ws::connect(&daemon.ws_url()).await?;
    let mut out = Vec::with_capacity(session_ids.len());
    let mut id = 0;
    for session_id in session_ids {
        id += 2;
        // 2^53: past any seq, and still exact as a JSON number everywhere.
        let params = json!({"sessionId": session_id, "afterSeq": 1u64 << 53});
        let reply = ws::call(&mut control, id, "session/subscribe", params).await?;
        let last = reply
            .get("lastSeq")
            .and_then(Value::as_u64)
            .with_context(|| format!("session/subscribe: no lastSeq in {reply}"))?;
        ws::call(
            &mut control,
            id + 1,
            "session/unsubscribe",
            json!({ "sessionId": session_id }),
        )
        .await?;
        out.push(last);
    }
    let _ = control.close(None).await;
    Ok(out)
}

/// Polls `done` every 20 ms until it holds, or fails after `limit` naming `what`.
async fn wait_until(what: &str, limit: Duration, done: impl Fn() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() >= deadline {
            bail!("{what}: not reached within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The daemon's RSS every [`RSS_EVERY`] until told to stop.
async fn sample_rss_until(
    view: DaemonView,
    since: Instant,
    mut stopped: watch::Receiver<bool>,
) -> Vec<(Duration, u64)> {
    let mut series = Vec::new();
    let mut tick = tokio::time::interval(RSS_EVERY);
    loop {
        tokio::select! {
            biased;
            _ = stopped.changed() => break,
            _ = tick.tick() => {
                if let Ok(sample) = sample_process(&view) {
                    series.push((since.elapsed(), sample.rss_kib));
                }
            }
        }
    }
    series
}

// ---------------------------------------------------------------------------------------
// After the run: the checks and the figures. Pure: frames and posts in, results out.

/// The fields of an event the checks use.
#[derive(Debug)]
struct ParsedEvent {
    seq: u64,
    at_ms: i64,
    kind: String,
    command_id: Option<String>,
    status: Option<String>,
    summary: Option<String>,
}

fn parse_frame(text: &str) -> anyhow::Result<ParsedEvent> {
    let value: Value =
        serde_json::from_str(text).with_context(|| format!("a frame is not JSON: {text}"))?;
    let event = value
        .get("params")
        .with_context(|| format!("an event frame without params: {text}"))?;
    let text_of = |pointer: &str| event.pointer(pointer).and_then(Value::as_str);
    Ok(ParsedEvent {
        seq: event
            .get("seq")
            .and_then(Value::as_u64)
            .with_context(|| format!("an event without seq: {text}"))?,
        at_ms: event
            .get("at")
            .and_then(Value::as_i64)
            .with_context(|| format!("an event without at: {text}"))?,
        kind: text_of("/type").unwrap_or("").to_string(),
        command_id: text_of("/commandId").map(str::to_string),
        status: text_of("/data/status").map(str::to_string),
        summary: text_of("/data/errorSummary").map(str::to_string),
    })
}

/// How a command ended, from its session's stream.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Ready,
    Failed(String),
}

/// The checks of one session's streams (one per subscriber, all from seq 1).
#[derive(Debug, Default)]
struct SessionCheck {
    /// commandId → how it ended, from the first subscriber's stream.
    outcomes: HashMap<String, Outcome>,
    /// Every READY delivery: commandId, when it arrived, the event's `at`.
    ready_deliveries: Vec<(String, Instant, i64)>,
    frames: usize,
    problems: Vec<String>,
}

/// Each stream must be seqs 1, 2, 3, … with no gap, repeat or reordering, reach `last_seq`,
/// and agree frame for frame with the session's first stream; a command may finish once.
fn check_session(session: usize, last_seq: u64, streams: &[Vec<Frame>]) -> SessionCheck {
    let mut check = SessionCheck::default();
    let Some(reference) = streams.first() else {
        check
            .problems
            .push(format!("session {session}: no subscriber"));
        return check;
    };
    for (i, frames) in streams.iter().enumerate() {
        let who = format!("session {session}, subscriber {i}");
        check.frames += frames.len();
        if (frames.len() as u64) < last_seq {
            check.problems.push(format!(
                "{who}: received {} events; the session's last seq is {last_seq}",
                frames.len()
            ));
        }
        for (k, (at, text)) in frames.iter().enumerate() {
            let event = match parse_frame(text) {
                Ok(event) => event,
                Err(error) => {
                    check.problems.push(format!("{who}: {error:#}"));
                    break;
                }
            };
            let expected = k as u64 + 1;
            if event.seq != expected {
                check.problems.push(format!(
                    "{who}: event #{k} has seq {} where {expected} was due (lost, repeated or reordered)",
                    event.seq
                ));
                break;
            }
            if i > 0 && reference.get(k).is_some_and(|(_, first)| first != text) {
                check.problems.push(format!(
                    "{who}: seq {expected} differs from subscriber 0's: {text}"
                ));
                break;
            }
            if event.kind != "COMMAND_STATUS" {
                continue;
            }
            let (Some(command_id), Some(status)) = (event.command_id, event.status) else {
                continue;
            };
            let outcome = match status.as_str() {
                "READY" => Outcome::Ready,
                "FAILED" => Outcome::Failed(event.summary.unwrap_or_default()),
                _ => continue,
            };
            if outcome == Outcome::Ready {
                check
                    .ready_deliveries
                    .push((command_id.clone(), *at, event.at_ms));
            }
            if i == 0 && check.outcomes.insert(command_id.clone(), outcome).is_some() {
                check.problems.push(format!(
                    "{who}: command {command_id} finished twice (again at seq {expected})"
                ));
            }
        }
    }
    check
}

fn analyse(
    shape: Shape,
    site: &str,
    posts: &[Post],
    streams: &[Vec<Vec<Frame>>],
    last_seqs: &[u64],
) -> PhaseResult {
    // Instants → wall clock, for the events' `at` (Unix ms).
    let (base_instant, base_wall) = (Instant::now(), SystemTime::now());
    let wall_micros = |at: Instant| -> i128 {
        let wall = match base_instant.checked_duration_since(at) {
            Some(before) => base_wall - before,
            None => base_wall + at.duration_since(base_instant),
        };
        wall.duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as i128)
            .unwrap_or(0)
    };
    let mut result = PhaseResult {
        shape,
        site: site.to_string(),
        ready_deliveries: Vec::new(),
        ready_from_at: Vec::new(),
        accepted: Vec::new(),
        max_send_lag: Duration::ZERO,
        drain: Duration::ZERO,
        sent: posts.len(),
        rejected: BTreeMap::new(),
        ready: 0,
        failed: BTreeMap::new(),
        not_final: Vec::new(),
        frames_checked: 0,
        memory: Vec::new(),
        rss_series: Vec::new(),
        cpu_during_load: (Duration::ZERO, Duration::ZERO),
        loadavg: (String::new(), String::new()),
        subscriber_lags: None,
        per_command: Vec::new(),
        problems: Vec::new(),
    };
    let mut posted_at: HashMap<&str, Instant> = HashMap::new();
    for post in posts {
        result.max_send_lag = result
            .max_send_lag
            .max(post.sent.saturating_duration_since(post.scheduled));
        match &post.accepted {
            Ok((command_id, at)) => {
                posted_at.insert(command_id, post.sent);
                result
                    .accepted
                    .push(at.saturating_duration_since(post.sent));
            }
            Err(error) => *result.rejected.entry(error.clone()).or_default() += 1,
        }
    }
    let mut outcomes: HashMap<String, Outcome> = HashMap::new();
    // commandId → (first, last) READY receipt over its session's subscribers.
    let mut ready_spread: HashMap<String, (Instant, Instant)> = HashMap::new();
    for (session, session_streams) in streams.iter().enumerate() {
        let last_seq = last_seqs.get(session).copied().unwrap_or(0);
        let check = check_session(session, last_seq, session_streams);
        result.frames_checked += check.frames;
        result.problems.extend(check.problems);
        outcomes.extend(check.outcomes);
        for (command_id, at, at_ms) in check.ready_deliveries {
            // Warm-up commands have no post here and are not timed.
            if let Some(sent) = posted_at.get(command_id.as_str()) {
                result
                    .ready_deliveries
                    .push(at.saturating_duration_since(*sent));
                let micros = (wall_micros(at) - i128::from(at_ms) * 1000).max(0);
                result
                    .ready_from_at
                    .push(Duration::from_micros(micros as u64));
                let spread = ready_spread.entry(command_id).or_insert((at, at));
                spread.0 = spread.0.min(at);
                spread.1 = spread.1.max(at);
            }
        }
    }
    let first_scheduled = posts.iter().map(|p| p.scheduled).min();
    for post in posts {
        let ready = post
            .accepted
            .as_ref()
            .ok()
            .and_then(|(id, _)| ready_spread.get(id));
        result.per_command.push(CommandTimes {
            session: post.session,
            scheduled: first_scheduled
                .map(|first| post.scheduled.saturating_duration_since(first))
                .unwrap_or_default(),
            send_lag: post.sent.saturating_duration_since(post.scheduled),
            accepted: post
                .accepted
                .as_ref()
                .ok()
                .map(|(_, at)| at.saturating_duration_since(post.sent)),
            first_ready: ready.map(|(first, _)| first.saturating_duration_since(post.sent)),
            last_ready: ready.map(|(_, last)| last.saturating_duration_since(post.sent)),
        });
        let Ok((command_id, _)) = &post.accepted else {
            continue;
        };
        match outcomes.get(command_id) {
            Some(Outcome::Ready) => result.ready += 1,
            Some(Outcome::Failed(summary)) => {
                let short: String = summary.chars().take(120).collect();
                *result.failed.entry(short).or_default() += 1;
            }
            None => result.not_final.push(command_id.clone()),
        }
    }
    if !result.not_final.is_empty() {
        result.problems.push(format!(
            "{} accepted command{} never reached READY or FAILED, e.g. {}",
            result.not_final.len(),
            plural(result.not_final.len()),
            result.not_final[0]
        ));
    }
    if !result.rejected.is_empty() {
        result.problems.push(format!(
            "{} command POST{} were not accepted: {:?}",
            result.rejected.values().sum::<usize>(),
            plural(result.rejected.values().sum::<usize>()),
            result.rejected
        ));
    }
    result
}

// ---------------------------------------------------------------------------------------
// Output.

fn benchmark_name(load: &PhaseResult) -> String {
    format!(
        "load: {} ({})",
        load.shape.describe().replace(" for ", ", "),
        load.site
    )
}

fn add_rows(table: &mut Table, load: &PhaseResult, anchor: Option<&PhaseResult>) {
    let benchmark = benchmark_name(load);
    let rows = |phase: &PhaseResult| {
        Some((
            summarize(&phase.ready_deliveries)?,
            summarize(&phase.ready_from_at)?,
            summarize(&phase.accepted)?,
        ))
    };
    let Some((ready, from_at, accepted)) = rows(load) else {
        return;
    };
    table.add(
        &benchmark,
        "devflow loaded: POST /commands → COMMAND_STATUS READY at a subscriber (every delivery)",
        ready,
    );
    table.add(
        &benchmark,
        "devflow loaded: READY event's `at` (ms) → receipt (every delivery)",
        from_at,
    );
    table.add(&benchmark, "devflow loaded: POST /commands → 202", accepted);
    let Some(anchor) = anchor else {
        return;
    };
    let Some((a_ready, a_from_at, a_accepted)) = rows(anchor) else {
        return;
    };
    let shape = format!("1 session, 1 subscriber, {} commands/s", anchor.shape.rate);
    table.add(
        &benchmark,
        &format!("anchor ({shape}): POST /commands → READY at the subscriber"),
        a_ready,
    );
    table.add(
        &benchmark,
        "anchor: READY event's `at` (ms) → receipt",
        a_from_at,
    );
    table.add(&benchmark, "anchor: POST /commands → 202", a_accepted);
    table.ratio(&benchmark, "POST → READY, loaded / anchor", ready, a_ready);
    table.ratio(
        &benchmark,
        "POST → 202, loaded / anchor",
        accepted,
        a_accepted,
    );
}

/// `--dump`: one line per loaded command, milliseconds.
fn dump(phase: &PhaseResult) -> String {
    let ms = |d: Option<Duration>| {
        d.map_or_else(String::new, |d| format!("{:.3}", d.as_secs_f64() * 1000.0))
    };
    let mut out = String::from(
        "session\tscheduled_ms\tsend_lag_ms\tpost_to_202_ms\tpost_to_first_ready_ms\tpost_to_last_ready_ms\n",
    );
    for command in &phase.per_command {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}",
            command.session,
            ms(Some(command.scheduled)),
            ms(Some(command.send_lag)),
            ms(command.accepted),
            ms(command.first_ready),
            ms(command.last_ready)
        );
    }
    out
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The checks and the memory figures, as markdown.
fn report(load: &PhaseResult, anchor: Option<&PhaseResult>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### {}\n", benchmark_name(load));
    out.push_str("| phase | commands sent | accepted | READY | FAILED | not final | subscribers | event frames checked | max send lag | last final after last POST | problems |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (name, phase) in [("anchor", anchor), ("load", Some(load))] {
        let Some(phase) = phase else { continue };
        let _ = writeln!(
            out,
            "| {name}: {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            phase.shape.describe(),
            phase.sent,
            phase.sent - phase.rejected.values().sum::<usize>(),
            phase.ready,
            phase.failed.values().sum::<usize>(),
            phase.not_final.len(),
            phase.shape.subscribers,
            phase.frames_checked,
            crate::stats::millis(phase.max_send_lag),
            crate::stats::millis(phase.drain),
            phase.problems.len()
        );
    }
    for (name, phase) in [("anchor", anchor), ("load", Some(load))] {
        let Some(phase) = phase else { continue };
        for (summary, count) in &phase.failed {
            let _ = writeln!(out, "\n{name}: FAILED ×{count}: {summary}");
        }
    }
    for (name, phase) in [("anchor", anchor), ("load", Some(load))] {
        let Some(phase) = phase else { continue };
        let (cpu, wall) = phase.cpu_during_load;
        let _ = writeln!(
            out,
            "\n{name}: daemon CPU while commands were sent {:.1} s in {:.1} s ({:.0} % of one core); subscriber lags (caught up from the store): {}; 1-minute load average {} at the start, {} at the end.",
            cpu.as_secs_f64(),
            wall.as_secs_f64(),
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9),
            phase
                .subscriber_lags
                .map_or_else(|| "?".to_string(), |n| n.to_string()),
            phase.loadavg.0,
            phase.loadavg.1
        );
    }
    out.push_str(
        "\n| daemon (load run) | VmRSS | open fds | inotify | threads | database | its WAL |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    let file_size = |bytes: Option<u64>| bytes.map_or_else(|| "?".to_string(), |b| mib(b / 1024));
    for (point, sample) in &load.memory {
        let _ = writeln!(
            out,
            "| {point} | {} | {} | {} | {} | {} | {} |",
            mib(sample.rss_kib),
            sample.fds,
            sample.inotify,
            sample.threads,
            file_size(sample.database_bytes),
            file_size(sample.wal_bytes)
        );
    }
    let at = |point: &str| {
        load.memory
            .iter()
            .find(|(p, _)| *p == point)
            .map(|(_, s)| s.rss_kib)
    };
    if let (Some(idle), Some(running), Some(subscribed)) = (
        at("idle, no session"),
        at("sessions running, no subscriber"),
        at("subscribers connected, load starts"),
    ) {
        let per_session = running.saturating_sub(idle) as f64 / load.shape.sessions as f64;
        let per_subscriber =
            subscribed.saturating_sub(running) as f64 / load.shape.subscribers as f64;
        let _ = writeln!(
            out,
            "\nPer session (running − idle) / {}: {per_session:.0} KiB; per subscriber (subscribed − running) / {}: {per_subscriber:.1} KiB (includes the warm-up command of each session).",
            load.shape.sessions, load.shape.subscribers
        );
    }
    if !load.rss_series.is_empty() {
        let step = (10.0 / RSS_EVERY.as_secs_f64()).round().max(1.0) as usize;
        let points: Vec<String> = load
            .rss_series
            .iter()
            .step_by(step)
            .map(|(t, kib)| format!("{:.0}s {:.1}", t.as_secs_f64(), *kib as f64 / 1024.0))
            .collect();
        let _ = writeln!(out, "\nVmRSS (MiB) during the load: {}.", points.join(", "));
        let half = load.rss_series.len() / 2;
        let (first_max, second_max) = (
            load.rss_series[..half.max(1)]
                .iter()
                .map(|(_, k)| *k)
                .max()
                .unwrap_or(0),
            load.rss_series[half..]
                .iter()
                .map(|(_, k)| *k)
                .max()
                .unwrap_or(0),
        );
        let _ = writeln!(
            out,
            "Peak in the first half {}, in the second half {} ({:+.1} MiB).",
            mib(first_max),
            mib(second_max),
            (second_max as f64 - first_max as f64) / 1024.0
        );
    }
    out.push('\n');
    out
}

// ---------------------------------------------------------------------------------------
// Plumbing.

/// The `devflow serve` whose command line carries `--token <token>` (each bench daemon gets
/// a token of its own), and its database from `--state-dir`.
fn find_daemon(token: &str) -> anyhow::Result<DaemonView> {
    let entries = std::fs::read_dir("/proc").context("cannot list /proc")?;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args
            .windows(2)
            .any(|pair| pair[0] == b"--token" && pair[1] == token.as_bytes())
        {
            let database = args
                .windows(2)
                .find(|pair| pair[0] == b"--state-dir")
                .and_then(|pair| std::str::from_utf8(pair[1]).ok())
                .map(|dir| Path::new(dir).join("devflow.db"));
            return Ok(DaemonView { pid, database });
        }
    }
    bail!("cannot find the daemon's process in /proc (is this Linux?)")
}

/// A process's user + system CPU time so far, from `/proc/<pid>/stat`.
pub(crate) fn process_cpu(pid: u32) -> anyhow::Result<Duration> {
    // utime and stime are fields 14 and 15, counted after the `(comm)` that may hold spaces.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    let after_comm = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let ticks: u64 = after_comm
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(Duration::from_secs_f64(ticks as f64 / per_second))
}

fn sample_process(view: &DaemonView) -> anyhow::Result<ProcessSample> {
    let pid = view.pid;
    let size = |path: PathBuf| std::fs::metadata(path).ok().map(|m| m.len());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status (did the daemon exit?)"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|value| value.parse().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    let mut fds = 0;
    let mut inotify = 0;
    if let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for entry in entries.flatten() {
            fds += 1;
            if std::fs::read_link(entry.path())
                .is_ok_and(|target| target.to_string_lossy().contains("inotify"))
            {
                inotify += 1;
            }
        }
    }
    Ok(ProcessSample {
        rss_kib: field("VmRSS:")?,
        cpu: process_cpu(pid)?,
        threads: field("Threads:")?,
        fds,
        inotify,
        database_bytes: view.database.clone().and_then(size),
        wal_bytes: view
            .database
            .as_ref()
            .and_then(|db| size(db.with_file_name("devflow.db-wal"))),
    })
}

/// The 1-minute load average, as `/proc/loadavg` prints it.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// One counter of the daemon's `GET /metrics`; `None` when it cannot be read.
async fn metric(daemon: &DaemonProcess, http: &reqwest::Client, name: &str) -> Option<u64> {
    let text = http
        .get(format!("{}/metrics", daemon.base_url))
        .bearer_auth(&daemon.token)
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// `60s`, `2m`, `1500ms`, `1h`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 60s, 2m or 500ms"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown unit {other:?} in {text:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, command: &str, status: &str) -> String {
        json!({"jsonrpc": "2.0", "method": "event", "params": {
            "sessionId": "s", "seq": seq, "at": 1000, "commandId": command,
            "type": "COMMAND_STATUS", "data": {"status": status}
        }})
        .to_string()
    }

    fn stream(events: &[(u64, &str, &str)]) -> Vec<Frame> {
        let t0 = Instant::now();
        events
            .iter()
            .map(|(seq, command, status)| (t0, event(*seq, command, status)))
            .collect()
    }

    #[test]
    fn identical_consecutive_streams_pass_and_give_each_commands_outcome() {
        let good = [(1, "a", "QUEUED"), (2, "a", "READY"), (3, "b", "FAILED")];
        let check = check_session(0, 3, &[stream(&good), stream(&good)]);
        assert!(check.problems.is_empty(), "{:?}", check.problems);
        assert_eq!(check.outcomes.get("a"), Some(&Outcome::Ready));
        assert_eq!(
            check.outcomes.get("b"),
            Some(&Outcome::Failed(String::new()))
        );
        assert_eq!(check.ready_deliveries.len(), 2);
        assert_eq!(check.frames, 6);
    }

    #[test]
    fn a_gap_a_repeat_a_reordering_or_a_short_stream_is_a_problem() {
        let reference = stream(&[(1, "a", "QUEUED"), (2, "a", "READY")]);
        for bad in [
            stream(&[(1, "a", "QUEUED"), (3, "a", "READY")]),
            stream(&[(1, "a", "QUEUED"), (1, "a", "QUEUED"), (2, "a", "READY")]),
            stream(&[(2, "a", "READY"), (1, "a", "QUEUED")]),
            stream(&[(1, "a", "QUEUED")]),
        ] {
            let check = check_session(0, 2, &[reference.clone(), bad.clone()]);
            assert!(!check.problems.is_empty(), "not caught: {bad:?}");
        }
    }

    #[test]
    fn a_subscriber_that_saw_different_content_or_a_command_finishing_twice_is_a_problem() {
        let reference = stream(&[(1, "a", "QUEUED"), (2, "a", "READY")]);
        let other = stream(&[(1, "a", "QUEUED"), (2, "a", "FAILED")]);
        assert!(!check_session(0, 2, &[reference, other]).problems.is_empty());
        let twice = stream(&[(1, "a", "READY"), (2, "a", "READY")]);
        assert!(!check_session(0, 2, &[twice]).problems.is_empty());
    }

    #[test]
    fn durations_read_with_units() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn subscribers_spread_over_sessions_round_robin() {
        let shape = Shape {
            sessions: 3,
            subscribers: 10,
            rate: 1.0,
            duration: Duration::from_secs(1),
        };
        let counts: Vec<usize> = (0..3).map(|s| shape.subscribers_of(s)).collect();
        assert_eq!(counts, vec![4, 3, 3]);
    }
}
