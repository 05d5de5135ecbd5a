//! Fleet delivery: how long an event takes from being appended to reaching a subscriber.
//! Each sample is one `patch/apply` (`POST /sessions/{id}/patches`, a one-line CSS change
//! flipped back and forth on a started folder session; it appends QUEUED, the pipeline's
//! events and READY), and every event of it is measured: its `at` (Unix ms, stamped by the
//! appending daemon just before the store write) → its arrival at the subscriber on the wall
//! clock of the same machine. `at` has millisecond resolution and is truncated, so each figure
//! reads 0–1 ms (0.5 ms on average) high.
//!
//! Systems, alternating command by command (who goes first alternates too), so both see the
//! same machine: the **anchor**, one SQLite daemon with its subscriber on the same daemon, and
//! the **fleet**, daemons A and B on moto, the session created (owned) on A, the commands
//! sent to A, a subscriber on A and one on B. B's arrival minus A's arrival of the same event
//! (both on this process's monotonic clock, microseconds) is what the relay adds: A's
//! `SendMessageBatch` to B's queue, B's long poll answering, B's gate and hub.

use std::collections::HashMap;
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::Context;
use serde_json::Value;

use super::{
    anchor_env, event_type, flip_diff, loadavg, site_path, sites_dir, started_session,
    submit_patch, Fleet, FleetArgs, Follower,
};
use crate::daemon::DaemonProcess;
use crate::latency::Arrival;
use crate::stats::{millis, summarize, Table};

pub struct DeliveryResult {
    samples: usize,
    /// Anchor (SQLite, same daemon): `at` → arrival.
    anchor: Vec<Duration>,
    /// Fleet: `at` → arrival on A (the appending daemon).
    fleet_local: Vec<Duration>,
    /// Fleet: `at` → arrival on B (through SQS).
    fleet_remote: Vec<Duration>,
    /// Fleet: arrival on B − arrival on A, the same event.
    relay: Vec<Duration>,
    /// Events B had before A (the relay's figure is then 0).
    remote_first: usize,
    /// POST sent → the command's QUEUED at the subscriber.
    anchor_queued: Vec<Duration>,
    fleet_local_queued: Vec<Duration>,
    fleet_remote_queued: Vec<Duration>,
    /// POST sent → READY at the subscriber (the whole command).
    anchor_ready: Vec<Duration>,
    fleet_remote_ready: Vec<Duration>,
    /// Event types seen per command, anchor and fleet (the same pipeline, so the same list).
    anchor_events: Vec<String>,
    fleet_events: Vec<String>,
    loadavg: (String, String),
}

pub async fn run(binary: &std::path::Path, args: &FleetArgs) -> anyhow::Result<DeliveryResult> {
    anyhow::ensure!(args.samples > 0, "--samples must be at least 1");
    let loadavg_start = loadavg();
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .context("cannot build the HTTP client")?;
    let sites = sites_dir()?;
    eprintln!("devflow-bench: fleet delivery: starting moto, daemons A and B, the SQLite anchor");
    let fleet = Fleet::start(binary, false, args.lease_secs).await?;
    let anchor = DaemonProcess::start_with(binary, &anchor_env())
        .context("starting the SQLite anchor daemon")?;
    fleet.settle().await;
    let (a, b) = (&fleet.daemons[0], &fleet.daemons[1]);

    let measured = async {
        let anchor_session = started_session(&http, &anchor, &site_path(&sites, "anchor")?).await?;
        let mut anchor_sub = Follower::subscribe(&anchor, &anchor_session, "the anchor").await?;
        anchor_sub.until_ready().await?;
        let fleet_session = started_session(&http, a, &site_path(&sites, "fleet")?).await?;
        let mut local_sub = Follower::subscribe(a, &fleet_session, "daemon A").await?;
        let mut remote_sub = Follower::subscribe(b, &fleet_session, "daemon B").await?;
        local_sub.until_ready().await?;
        remote_sub.until_ready().await?;

        let mut result = DeliveryResult {
            samples: args.samples,
            anchor: Vec::new(),
            fleet_local: Vec::new(),
            fleet_remote: Vec::new(),
            relay: Vec::new(),
            remote_first: 0,
            anchor_queued: Vec::new(),
            fleet_local_queued: Vec::new(),
            fleet_remote_queued: Vec::new(),
            anchor_ready: Vec::new(),
            fleet_remote_ready: Vec::new(),
            anchor_events: Vec::new(),
            fleet_events: Vec::new(),
            loadavg: (loadavg_start, String::new()),
        };
        eprintln!(
            "devflow-bench: fleet delivery: {} + {} commands on each system",
            args.warmup, args.samples
        );
        for step in 0..args.warmup + args.samples {
            let measured = step >= args.warmup;
            let diff = flip_diff(step);
            for anchor_turn in [step % 2 == 0, step % 2 != 0] {
                if anchor_turn {
                    let sent = Instant::now();
                    let command = submit_patch(&http, &anchor, &anchor_session, &diff).await?;
                    let (read, status) = anchor_sub.until_final(&command).await?;
                    anyhow::ensure!(status == "READY", "anchor command {command} ended {status}");
                    if measured {
                        result.anchor.extend(read.iter().map(since_at));
                        result.anchor_queued.extend(queued_after(&read, sent));
                        result.anchor_ready.extend(last_after(&read, sent));
                        result.anchor_events = types(&read);
                    }
                } else {
                    let sent = Instant::now();
                    let command = submit_patch(&http, a, &fleet_session, &diff).await?;
                    let (local, status) = local_sub.until_final(&command).await?;
                    anyhow::ensure!(status == "READY", "fleet command {command} ended {status}");
                    let (remote, _) = remote_sub.until_final(&command).await?;
                    if measured {
                        result.fleet_local.extend(local.iter().map(since_at));
                        result.fleet_remote.extend(remote.iter().map(since_at));
                        result.fleet_local_queued.extend(queued_after(&local, sent));
                        result
                            .fleet_remote_queued
                            .extend(queued_after(&remote, sent));
                        result.fleet_remote_ready.extend(last_after(&remote, sent));
                        let on_a: HashMap<u64, Instant> =
                            local.iter().map(|a| (seq(&a.event), a.at)).collect();
                        for arrival in &remote {
                            if let Some(local_at) = on_a.get(&seq(&arrival.event)) {
                                match arrival.at.checked_duration_since(*local_at) {
                                    Some(relay) => result.relay.push(relay),
                                    None => {
                                        result.remote_first += 1;
                                        result.relay.push(Duration::ZERO);
                                    }
                                }
                            }
                        }
                        result.fleet_events = types(&remote);
                    }
                }
            }
        }
        anyhow::Ok(result)
    }
    .await;
    let mut result = measured.map_err(|error| {
        anyhow::anyhow!(
            "{error:#}\n{}\nthe anchor's log:\n{}",
            fleet.logs(40),
            anchor.stderr_tail(40)
        )
    })?;
    result.loadavg.1 = loadavg();
    anchor.stop();
    drop(fleet);
    Ok(result)
}

fn seq(event: &Value) -> u64 {
    event.get("seq").and_then(Value::as_u64).unwrap_or(0)
}

/// The event's `at` (Unix ms) → its arrival on the wall clock; 0 if the clock went back.
fn since_at(arrival: &Arrival) -> Duration {
    let at_ms = arrival.event.get("at").and_then(Value::as_i64).unwrap_or(0);
    let arrived_us = arrival
        .wall
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let at_us = u128::try_from(at_ms).unwrap_or(0) * 1000;
    Duration::from_micros(u64::try_from(arrived_us.saturating_sub(at_us)).unwrap_or(u64::MAX))
}

fn queued_after(read: &[Arrival], sent: Instant) -> Option<Duration> {
    read.iter()
        .find(|a| {
            event_type(&a.event) == "COMMAND_STATUS"
                && a.event.pointer("/data/status").and_then(Value::as_str) == Some("QUEUED")
        })
        .map(|a| a.at.saturating_duration_since(sent))
}

fn last_after(read: &[Arrival], sent: Instant) -> Option<Duration> {
    read.last().map(|a| a.at.saturating_duration_since(sent))
}

fn types(read: &[Arrival]) -> Vec<String> {
    read.iter()
        .map(|a| event_type(&a.event).to_string())
        .collect()
}

impl DeliveryResult {
    pub fn add_to(&self, table: &mut Table) {
        let benchmark = "fleet: event append → delivery";
        let rows = [
            (
                "anchor, SQLite: `at` → arrival, subscriber on the same daemon",
                &self.anchor,
            ),
            (
                "fleet: `at` → arrival on A (the appending daemon)",
                &self.fleet_local,
            ),
            (
                "fleet: `at` → arrival on B (through SQS)",
                &self.fleet_remote,
            ),
            (
                "fleet: arrival on B − arrival on A, same event (the relay)",
                &self.relay,
            ),
            (
                "anchor: POST /patches → QUEUED at the subscriber",
                &self.anchor_queued,
            ),
            (
                "fleet: POST /patches on A → QUEUED on A",
                &self.fleet_local_queued,
            ),
            (
                "fleet: POST /patches on A → QUEUED on B",
                &self.fleet_remote_queued,
            ),
            (
                "anchor: POST /patches → READY at the subscriber",
                &self.anchor_ready,
            ),
            (
                "fleet: POST /patches on A → READY on B",
                &self.fleet_remote_ready,
            ),
        ];
        let mut summaries = Vec::new();
        for (what, samples) in rows {
            let summary = summarize(samples);
            if let Some(summary) = summary {
                table.add(benchmark, what, summary);
            }
            summaries.push(summary);
        }
        let ratio = |table: &mut Table, what: &str, subject: usize, anchor: usize| {
            if let (Some(subject), Some(anchor)) = (summaries[subject], summaries[anchor]) {
                table.ratio(benchmark, what, subject, anchor);
            }
        };
        ratio(table, "arrival on B / SQLite anchor (`at` → arrival)", 2, 0);
        ratio(table, "arrival on A / SQLite anchor (`at` → arrival)", 1, 0);
        ratio(
            table,
            "READY on B / READY on the anchor (whole command)",
            8,
            7,
        );
    }

    /// What the table does not say: sizes, event lists, the machine's load.
    pub fn notes(&self) -> String {
        let relay_p50 = summarize(&self.relay).map_or("-".into(), |s| millis(s.p50));
        format!(
            "\nfleet delivery: {} commands per system after the warm-up; events per command: \
             anchor {} ({}), fleet {} ({}); events B had before A: {}; relay p50 {}; \
             load average {} → {}\n",
            self.samples,
            self.anchor_events.len(),
            self.anchor_events.join(", "),
            self.fleet_events.len(),
            self.fleet_events.join(", "),
            self.remote_first,
            relay_p50,
            self.loadavg.0,
            self.loadavg.1,
        )
    }
}
