//! Benchmark 1, instruction → first event: the time from sending `POST
//! /sessions/{id}/commands` to the arrival of that command's COMMAND_STATUS QUEUED event at a
//! subscriber (WebSocket `session/subscribe` or SSE). Anchor, alternating sample by sample on
//! the same daemon and HTTP connection pool: the round trip of `GET /healthz`, the floor of
//! one HTTP exchange. Each command is left to finish before the next one is sent, so every
//! sample sees an idle daemon rather than a queue.

use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::daemon::DaemonProcess;
use crate::stats::{summarize, Table};
use crate::ws;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    Ws,
    Sse,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::Ws => "WebSocket",
            Via::Sse => "SSE",
        }
    }
}

/// How long one command may take to reach READY or FAILED.
const COMMAND_WAIT: Duration = Duration::from_secs(60);

/// An event and when the subscriber saw it.
pub(crate) struct Arrival {
    pub at: Instant,
    /// The same moment on the wall clock, to compare with the event's own `at` (Unix ms).
    pub wall: SystemTime,
    pub event: Value,
}

pub struct LatencyResult {
    via: Via,
    /// POST sent → QUEUED event arrived.
    queued: Vec<Duration>,
    /// POST sent → its 202 response read (for diagnosis: request handling vs delivery).
    accepted: Vec<Duration>,
    /// `GET /healthz` round trip.
    healthz: Vec<Duration>,
}

pub async fn run(
    daemon: &DaemonProcess,
    samples: usize,
    warmup: usize,
    via: Via,
) -> anyhow::Result<LatencyResult> {
    anyhow::ensure!(samples > 0, "--samples must be at least 1");
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .context("cannot build the HTTP client")?;
    let session_id = daemon.create_session(&http).await?;
    let mut arrivals = match via {
        Via::Ws => subscribe_ws(daemon, &session_id).await?,
        Via::Sse => subscribe_sse(daemon, &http, &session_id).await?,
    };
    let commands_url = format!("{}/sessions/{session_id}/commands", daemon.base_url);
    let healthz_url = format!("{}/healthz", daemon.base_url);
    let mut result = LatencyResult {
        via,
        queued: Vec::with_capacity(samples),
        accepted: Vec::with_capacity(samples),
        healthz: Vec::with_capacity(samples),
    };
    let mut last_seq = 0;
    for i in 0..warmup + samples {
        let measured = i >= warmup;

        let start = Instant::now();
        let response = http
            .get(&healthz_url)
            .send()
            .await
            .context("GET /healthz")?;
        let status = response.status();
        response.bytes().await.context("GET /healthz body")?;
        let healthz = start.elapsed();
        if !status.is_success() {
            bail!("GET /healthz answered {status}");
        }

        let start = Instant::now();
        let response = http
            .post(&commands_url)
            .bearer_auth(&daemon.token)
            .json(&json!({"instruction": format!("make the heading larger (bench {i})")}))
            .send()
            .await
            .context("POST /sessions/{id}/commands")?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .context("POST /sessions/{id}/commands: the body is not JSON")?;
        let accepted = start.elapsed();
        if status.as_u16() != 202 {
            bail!("POST /sessions/{{id}}/commands answered {status}: {body}");
        }
        let command_id = body
            .get("commandId")
            .and_then(Value::as_str)
            .with_context(|| format!("no commandId in {body}"))?
            .to_string();
        let queued_at = wait_for_status(&mut arrivals, &command_id, &["QUEUED"], &mut last_seq)
            .await
            .with_context(|| format!("sample {i}: waiting for QUEUED of {command_id}"))?;
        wait_for_status(
            &mut arrivals,
            &command_id,
            &["READY", "FAILED"],
            &mut last_seq,
        )
        .await
        .with_context(|| format!("sample {i}: waiting for {command_id} to finish"))?;
        if measured {
            result.healthz.push(healthz);
            result.accepted.push(accepted);
            result
                .queued
                .push(queued_at.checked_duration_since(start).unwrap_or_default());
        }
    }
    Ok(result)
}

/// Reads arrivals until the COMMAND_STATUS of `command_id` is one of `statuses`; returns when
/// it arrived. Also checks that seqs only go up.
pub(crate) async fn wait_for_status(
    arrivals: &mut mpsc::UnboundedReceiver<Arrival>,
    command_id: &str,
    statuses: &[&str],
    last_seq: &mut u64,
) -> anyhow::Result<Instant> {
    wait_for(arrivals, last_seq, |event| {
        let ours = event.get("commandId").and_then(Value::as_str) == Some(command_id)
            && event.get("type").and_then(Value::as_str) == Some("COMMAND_STATUS");
        let status = event
            .pointer("/data/status")
            .and_then(Value::as_str)
            .unwrap_or("");
        ours && statuses.contains(&status)
    })
    .await
    .map(|arrival| arrival.at)
}

/// Starts a session (`POST {start_url}`, its `/start`) and reads arrivals until its
/// SESSION_READY.
pub(crate) async fn start_session(
    daemon: &DaemonProcess,
    http: &reqwest::Client,
    start_url: &str,
    arrivals: &mut mpsc::UnboundedReceiver<Arrival>,
    last_seq: &mut u64,
) -> anyhow::Result<()> {
    let response = http
        .post(start_url)
        .bearer_auth(&daemon.token)
        .send()
        .await
        .context("POST /sessions/{id}/start")?;
    crate::daemon::check(response, 202, "POST /sessions/{id}/start").await?;
    wait_for(arrivals, last_seq, |e| {
        e.get("type").and_then(Value::as_str) == Some("SESSION_READY")
    })
    .await
    .context("waiting for SESSION_READY")?;
    Ok(())
}

/// Reads arrivals until one matches `wanted`; returns it. Also checks that seqs only go up.
pub(crate) async fn wait_for(
    arrivals: &mut mpsc::UnboundedReceiver<Arrival>,
    last_seq: &mut u64,
    wanted: impl Fn(&Value) -> bool,
) -> anyhow::Result<Arrival> {
    let deadline = Instant::now() + COMMAND_WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let arrival = tokio::time::timeout(left, arrivals.recv())
            .await
            .with_context(|| format!("no such event within {COMMAND_WAIT:?}"))?
            .context("the subscription ended")?;
        let event = &arrival.event;
        let seq = event.get("seq").and_then(Value::as_u64).unwrap_or(0);
        if seq <= *last_seq {
            bail!("event seq {seq} after {last_seq}: out of order or repeated: {event}");
        }
        *last_seq = seq;
        if wanted(event) {
            return Ok(arrival);
        }
    }
}

/// A WebSocket subscriber; its task stamps each event on arrival.
pub(crate) async fn subscribe_ws(
    daemon: &DaemonProcess,
    session_id: &str,
) -> anyhow::Result<mpsc::UnboundedReceiver<Arrival>> {
    let mut socket = ws::connect(&daemon.ws_url()).await?;
    ws::call(
        &mut socket,
        1,
        "session/subscribe",
        json!({"sessionId": session_id, "afterSeq": 0}),
    )
    .await?;
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(frame)) = socket.next().await {
            let (at, wall) = (Instant::now(), SystemTime::now());
            let tokio_tungstenite::tungstenite::Message::Text(text) = frame else {
                continue;
            };
            let Ok(mut message) = serde_json::from_str::<Value>(text.as_str()) else {
                eprintln!(
                    "devflow-bench: a WebSocket frame is not JSON: {}",
                    text.as_str()
                );
                return;
            };
            if message.get("method").and_then(Value::as_str) != Some("event") {
                continue;
            }
            let event = message
                .get_mut("params")
                .map(Value::take)
                .unwrap_or_default();
            if sender.send(Arrival { at, wall, event }).is_err() {
                return;
            }
        }
    });
    Ok(receiver)
}

/// An SSE subscriber (`GET /sessions/{id}/events`); events are stamped when their chunk
/// arrives.
async fn subscribe_sse(
    daemon: &DaemonProcess,
    http: &reqwest::Client,
    session_id: &str,
) -> anyhow::Result<mpsc::UnboundedReceiver<Arrival>> {
    let response = http
        .get(format!("{}/sessions/{session_id}/events", daemon.base_url))
        .bearer_auth(&daemon.token)
        .send()
        .await
        .context("GET /sessions/{id}/events")?;
    let status = response.status();
    if status.as_u16() != 200 {
        let body = response.text().await.unwrap_or_default();
        bail!("GET /sessions/{{id}}/events answered {status}: {body}");
    }
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut chunks = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(Ok(chunk)) = chunks.next().await {
            let (at, wall) = (Instant::now(), SystemTime::now());
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let record: String = buffer.drain(..end + 2).collect();
                let data: String = record
                    .lines()
                    .filter_map(|line| line.strip_prefix("data:"))
                    .map(|value| value.strip_prefix(' ').unwrap_or(value))
                    .collect();
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                let Ok(event) = serde_json::from_str::<Value>(&data) else {
                    eprintln!("devflow-bench: SSE data is not JSON: {data}");
                    return;
                };
                if sender.send(Arrival { at, wall, event }).is_err() {
                    return;
                }
            }
        }
    });
    Ok(receiver)
}

impl LatencyResult {
    pub fn add_to(&self, table: &mut Table) {
        let benchmark = format!("instruction → first event ({})", self.via.name());
        let (Some(queued), Some(accepted), Some(healthz)) = (
            summarize(&self.queued),
            summarize(&self.accepted),
            summarize(&self.healthz),
        ) else {
            return;
        };
        table.add(
            &benchmark,
            "devflow: POST /commands → QUEUED event at the subscriber",
            queued,
        );
        table.add(
            &benchmark,
            "devflow: POST /commands → its 202 response",
            accepted,
        );
        table.add(&benchmark, "anchor: GET /healthz round trip", healthz);
        table.ratio(&benchmark, "QUEUED event / healthz", queued, healthz);
    }
}
