//! Fleet cost: the AWS requests N sessions make, for N in `--sessions` (1, 10, 100), each
//! on a fresh fleet (moto, daemons A and B, each behind its own counting proxy). Per round,
//! three windows, each counted by the proxies:
//!
//! 1. **no session**: the daemons alone (registry, lease loop, idle long polls);
//! 2. **idle**: N started folder sessions, session i created (owned) on daemon i mod 2, each
//!    with a WebSocket subscriber on the other daemon, one warm-up command each, and no
//!    command in the window;
//! 3. **loaded**: `patch/apply` commands to the owners on a fixed schedule, `--rate` per
//!    session (lowered to fit `--max-total-rate` over all sessions), for `--window`, then
//!    until every command's READY reached its subscriber on the other daemon.
//!
//! Every subscriber's stream is checked as it is read (seqs 1, 2, 3, … without gap or repeat,
//! each command READY); anything else fails the run. From the windows: requests a second per
//! operation; per session = (idle − no session) / N; per command = (loaded − idle rate × its
//! length) / commands, operation by operation and never below zero; USD at the published
//! prices of [`super::billing`]; the SQS calls against `devflow_fleet::cost::sqs_requests`
//! for the same load; moto's and the daemons' CPU, the lease loop's pace (one scan of the
//! leases table per round) and the leases lost or taken over, from the daemons' logs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context;
use devflow_fleet::cost::{sqs_requests, FleetLoad};
use futures::StreamExt;

use super::billing::{self, Service, SECONDS_PER_MONTH};
use super::proxy::{Ledger, Operation, Totals};
use super::{
    flip_diff, loadavg, site_path, sites_dir, started_session, submit_patch, submit_patch_to,
    Fleet, FleetArgs, Follower,
};
use crate::daemon::DaemonProcess;

/// What a daemon logs when its lease loop finds another daemon holding one of its sessions,
/// and when it adopts a session (`daemon/src/fleet/leases.rs`).
const LEASE_LOST_LOG: &str = "lost the session's lease";
const ADOPTED_LOG: &str = "adopting the session";
/// How often the drain after the loaded window reports its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(15);
/// Sessions set up at once (moto is one Python process).
const SETUP_CONCURRENCY: usize = 8;
/// The usage the USD/month per session is quoted at besides the measured rates: a person
/// working in a session, as `devflow_fleet::cost`'s example assumes.
const COMMANDS_PER_HOUR: f64 = 10.0;

/// What the proxies counted in one window, both daemons together, and how long it lasted.
struct Window {
    ledger: Ledger,
    /// `[a, b]`.
    by_daemon: [Ledger; 2],
    elapsed: Duration,
    /// CPU time used in the window by moto, daemon A and daemon B.
    cpu: [Duration; 3],
}

impl Window {
    fn per_second(&self, value: f64) -> f64 {
        value / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    fn calls_per_second(&self, service: Service) -> f64 {
        self.per_second(self.ledger.service(service).calls as f64)
    }

    fn usd_per_month(&self) -> f64 {
        self.per_second(self.ledger.usd()) * SECONDS_PER_MONTH
    }

    /// `moto 34 %, A 12 %, B 11 %` of one core.
    fn cpu_text(&self) -> String {
        let share = |cpu: Duration| 100.0 * self.per_second(cpu.as_secs_f64());
        format!(
            "moto {:.0} %, A {:.0} %, B {:.0} %",
            share(self.cpu[0]),
            share(self.cpu[1]),
            share(self.cpu[2])
        )
    }
}

/// Events the sessions appended in the idle window (none, unless a session changed hands)
/// and in the loaded one.
#[derive(Debug, Clone, Copy)]
struct Events {
    idle: u64,
    loaded: u64,
}

/// One session count's three windows.
struct Round {
    sessions: usize,
    /// Commands a second per session while loaded.
    rate: f64,
    no_session: Window,
    idle: Window,
    loaded: Window,
    commands: usize,
    /// Events appended (all sessions).
    events: Events,
    /// The latest a command left after its scheduled time.
    max_send_lag: Duration,
    /// Per daemon, from its log: leases it lost while running (a round that came too late)
    /// and sessions it adopted from the other daemon.
    lease_trouble: [(usize, usize); 2],
    loadavg: (String, String),
}

pub async fn run(binary: &std::path::Path, args: &FleetArgs) -> anyhow::Result<String> {
    anyhow::ensure!(!args.sessions.is_empty(), "--sessions names no count");
    anyhow::ensure!(
        args.sessions.iter().all(|n| *n > 0),
        "--sessions must be at least 1"
    );
    anyhow::ensure!(
        args.rate > 0.0 && args.max_total_rate > 0.0,
        "--rate and --max-total-rate must be positive"
    );
    let mut rounds = Vec::new();
    for &sessions in &args.sessions {
        rounds.push(round(binary, args, sessions).await?);
    }
    Ok(report(&rounds, args))
}

/// The proxies' counts and the processes' CPU at one moment.
struct Snapshot {
    ledgers: [Ledger; 2],
    cpu: [Duration; 3],
    at: Instant,
}

fn snapshot(fleet: &Fleet) -> Snapshot {
    Snapshot {
        ledgers: [fleet.proxies[0].snapshot(), fleet.proxies[1].snapshot()],
        cpu: fleet.cpu(),
        at: Instant::now(),
    }
}

fn window(before: &Snapshot, after: &Snapshot) -> Window {
    let by_daemon = [
        after.ledgers[0].since(&before.ledgers[0]),
        after.ledgers[1].since(&before.ledgers[1]),
    ];
    let used = |i: usize| after.cpu[i].saturating_sub(before.cpu[i]);
    Window {
        ledger: by_daemon[0].merged(&by_daemon[1]),
        by_daemon,
        elapsed: after.at.duration_since(before.at),
        cpu: [used(0), used(1), used(2)],
    }
}

/// Counts what happens while `idle` passes.
async fn idle_window(fleet: &Fleet, idle: Duration) -> Window {
    let before = snapshot(fleet);
    tokio::time::sleep(idle).await;
    window(&before, &snapshot(fleet))
}

/// One open session: its owner (0 = A, 1 = B), its subscriber on the other daemon, and how
/// many commands it has been sent.
struct OpenSession {
    id: String,
    owner: usize,
    follower: Follower,
    steps: usize,
}

async fn round(
    binary: &std::path::Path,
    args: &FleetArgs,
    sessions: usize,
) -> anyhow::Result<Round> {
    let loadavg_start = loadavg();
    let rate = args.rate.min(args.max_total_rate / sessions as f64);
    eprintln!(
        "devflow-bench: fleet cost: {sessions} session(s), {rate} commands/s each for {} s",
        args.window.as_secs_f64()
    );
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .context("cannot build the HTTP client")?;
    let fleet = Fleet::start(binary, true, args.lease_secs).await?;
    let measured = measure(&fleet, &http, args, sessions, rate).await;
    let (no_session, idle, loaded, commands, events, max_send_lag) =
        measured.map_err(|error| anyhow::anyhow!("{error:#}\n{}", fleet.logs(40)))?;
    let trouble = |daemon: &DaemonProcess| {
        (
            daemon.stderr_count(LEASE_LOST_LOG),
            daemon.stderr_count(ADOPTED_LOG),
        )
    };
    let lease_trouble = [trouble(&fleet.daemons[0]), trouble(&fleet.daemons[1])];
    drop(fleet);
    Ok(Round {
        sessions,
        rate,
        no_session,
        idle,
        loaded,
        commands,
        events,
        max_send_lag,
        lease_trouble,
        loadavg: (loadavg_start, loadavg()),
    })
}

/// The three windows of one round: no session, idle, loaded; with the loaded window's
/// commands, events and worst send lag.
async fn measure(
    fleet: &Fleet,
    http: &reqwest::Client,
    args: &FleetArgs,
    sessions: usize,
    rate: f64,
) -> anyhow::Result<(Window, Window, Window, usize, Events, Duration)> {
    fleet.settle().await;
    let no_session = idle_window(fleet, args.idle).await;

    // N started sessions, alternating owners, each followed from the other daemon.
    let sites = sites_dir()?;
    let folders = (0..sessions)
        .map(|i| site_path(&sites, &format!("site-{i:03}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut open: Vec<OpenSession> = futures::stream::iter(folders.iter().enumerate())
        .map(|(i, folder)| async move {
            let owner = i % 2;
            let id = started_session(http, &fleet.daemons[owner], folder).await?;
            let names = ["daemon A", "daemon B"];
            let mut follower =
                Follower::subscribe(&fleet.daemons[1 - owner], &id, names[1 - owner]).await?;
            follower.until_ready().await?;
            anyhow::Ok(OpenSession {
                id,
                owner,
                follower,
                steps: 0,
            })
        })
        .buffered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    // One warm-up command each, seen READY on the other daemon.
    let warm_ups: Vec<String> = futures::stream::iter(open.iter())
        .map(|session| async move {
            submit_patch(
                http,
                &fleet.daemons[session.owner],
                &session.id,
                &flip_diff(0),
            )
            .await
        })
        .buffered(SETUP_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    for (session, command) in open.iter_mut().zip(&warm_ups) {
        expect_ready(&mut session.follower, command).await?;
        session.steps = 1;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let seqs_after_warm_up: Vec<u64> = open.iter().map(|s| s.follower.last_seq).collect();
    let idle = idle_window(fleet, args.idle).await;

    // Loaded: the fixed schedule, each POST in its own task so a slow one delays nothing.
    let total_rate = rate * sessions as f64;
    let count = ((total_rate * args.window.as_secs_f64()).round() as usize).max(1);
    for session in &mut open {
        session.follower.take_arrived()?;
    }
    let seqs_before: Vec<u64> = open.iter().map(|s| s.follower.last_seq).collect();
    let idle_events = appended(&seqs_after_warm_up, &seqs_before);
    let before = snapshot(fleet);
    let start = before.at;
    let mut posts = Vec::with_capacity(count);
    let mut max_send_lag = Duration::ZERO;
    for k in 0..count {
        let session = &mut open[k % sessions];
        let due = start + Duration::from_secs_f64(k as f64 / total_rate);
        tokio::time::sleep_until(due.into()).await;
        max_send_lag = max_send_lag.max(due.elapsed());
        let owner: &DaemonProcess = &fleet.daemons[session.owner];
        let (http, base_url, token) = (http.clone(), owner.base_url.clone(), owner.token.clone());
        let (id, diff) = (session.id.clone(), flip_diff(session.steps));
        session.steps += 1;
        posts.push((
            k % sessions,
            tokio::spawn(
                async move { submit_patch_to(&http, &base_url, &token, &id, &diff).await },
            ),
        ));
    }
    let mut commands: Vec<Vec<String>> = vec![Vec::new(); sessions];
    for (session, post) in posts {
        let command = post
            .await
            .context("a command's POST task stopped")?
            .context("submitting a command")?;
        commands[session].push(command);
    }
    let mut done = 0;
    let mut reported = Instant::now();
    for (session, ids) in open.iter_mut().zip(&commands) {
        for command in ids {
            expect_ready(&mut session.follower, command).await?;
            done += 1;
        }
        if reported.elapsed() >= PROGRESS_EVERY {
            eprintln!(
                "devflow-bench: fleet cost: {done} of {count} commands READY on the other daemon \
                 after {:.0} s",
                start.elapsed().as_secs_f64()
            );
            reported = Instant::now();
        }
    }
    eprintln!(
        "devflow-bench: fleet cost: all {count} commands READY on the other daemon after {:.0} s",
        start.elapsed().as_secs_f64()
    );
    let loaded = window(&before, &snapshot(fleet));
    let seqs_after: Vec<u64> = open.iter().map(|s| s.follower.last_seq).collect();
    let events = Events {
        idle: idle_events,
        loaded: appended(&seqs_before, &seqs_after),
    };
    Ok((no_session, idle, loaded, count, events, max_send_lag))
}

/// Events appended between two readings of the sessions' last seqs.
fn appended(before: &[u64], after: &[u64]) -> u64 {
    before.iter().zip(after).map(|(b, a)| a - b).sum()
}

async fn expect_ready(follower: &mut Follower, command: &str) -> anyhow::Result<()> {
    let (read, status) = follower.until_final(command).await?;
    anyhow::ensure!(
        status == "READY",
        "command {command} of session {} ended {status}: {}",
        follower.session_id,
        read.last().map(|a| a.event.to_string()).unwrap_or_default()
    );
    Ok(())
}

/// Per command: what `loaded` counted beyond `idle`'s rate over the same time, operation by
/// operation and never below zero (when moto is saturated the lease loop falls behind, and
/// the background calls it did not make are no saving of the commands').
fn per_command(round: &Round, value: impl Fn(&Ledger) -> f64) -> f64 {
    let idle_share = round.loaded.elapsed.as_secs_f64() / round.idle.elapsed.as_secs_f64();
    let of = |operation: &Operation, totals: &Totals| {
        value(&Ledger {
            rows: BTreeMap::from([(operation.clone(), totals.clone())]),
        })
    };
    let beyond_idle: f64 = round
        .loaded
        .ledger
        .rows
        .iter()
        .map(|(operation, loaded)| {
            let idle = round
                .idle
                .ledger
                .rows
                .get(operation)
                .map_or(0.0, |totals| of(operation, totals));
            (of(operation, loaded) - idle * idle_share).max(0.0)
        })
        .sum();
    beyond_idle / round.commands as f64
}

/// Per session and second when idle: what N sessions add to the daemons' own floor.
fn per_idle_session(round: &Round, value: impl Fn(&Ledger) -> f64) -> f64 {
    (round.idle.per_second(value(&round.idle.ledger))
        - round.no_session.per_second(value(&round.no_session.ledger)))
        / round.sessions as f64
}

fn calls(service: Service) -> impl Fn(&Ledger) -> f64 {
    move |ledger| ledger.service(service).calls as f64
}

fn read_units(ledger: &Ledger) -> f64 {
    ledger.service(Service::DynamoDb).read_units
}

fn write_units(ledger: &Ledger) -> f64 {
    ledger.service(Service::DynamoDb).write_units
}

fn sqs_billed(ledger: &Ledger) -> f64 {
    ledger.service(Service::Sqs).sqs_billed
}

fn usd(ledger: &Ledger) -> f64 {
    ledger.usd()
}

fn report(rounds: &[Round], args: &FleetArgs) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### Fleet cost: requests by operation (both daemons, calls/s; DynamoDB: (request \
         units/s))\n\nPrices: DynamoDB \
         USD {} per million write and {} per million read request units ({}); SQS USD {} per \
         million requests, as of {}; S3 USD {} per 1000 PUT/POST/LIST and {} per 1000 GET/HEAD \
         (S3 Standard, us-east-1). Lease {} s; idle windows {} s; loaded window {} s plus the \
         drain.\n",
        billing::DYNAMODB_USD_PER_MILLION_WRITE_UNITS,
        billing::DYNAMODB_USD_PER_MILLION_READ_UNITS,
        billing::DYNAMODB_PRICE_AS_OF,
        billing::SQS_STANDARD_USD_PER_MILLION_REQUESTS,
        billing::SQS_PRICE_AS_OF,
        billing::S3_USD_PER_THOUSAND_WRITES,
        billing::S3_USD_PER_THOUSAND_READS,
        args.lease_secs.unwrap_or(super::DEFAULT_LEASE.as_secs()),
        args.idle.as_secs_f64(),
        args.window.as_secs_f64(),
    );
    out.push_str(&operations_table(rounds));
    let lease = args
        .lease_secs
        .map_or(super::DEFAULT_LEASE, Duration::from_secs);
    out.push_str(&totals_table(rounds, lease));
    out.push_str(&per_session_table(rounds));
    out.push_str(&sqs_table(rounds));
    out
}

/// Every operation seen in any window, by service then name then table.
fn operations_table(rounds: &[Round]) -> String {
    let mut out = String::from("| operation | no session |");
    let mut line = String::from("|---|---:|");
    for round in rounds {
        let _ = write!(
            out,
            " {} idle | {} loaded |",
            round.sessions, round.sessions
        );
        line.push_str("---:|---:|");
    }
    out.push('\n');
    out.push_str(&line);
    out.push('\n');
    let Some(first) = rounds.first() else {
        return out;
    };
    let mut operations: Vec<_> = rounds
        .iter()
        .flat_map(|r| {
            r.no_session
                .ledger
                .rows
                .keys()
                .chain(r.idle.ledger.rows.keys())
                .chain(r.loaded.ledger.rows.keys())
        })
        .cloned()
        .collect();
    operations.sort();
    operations.dedup();
    for operation in operations {
        // DynamoDB rows also show their request units a second, in parentheses.
        let rate = |window: &Window| {
            let totals = window
                .ledger
                .rows
                .get(&operation)
                .cloned()
                .unwrap_or_default();
            let calls = number(window.per_second(totals.calls as f64));
            if operation.service == Service::DynamoDb && totals.calls > 0 {
                let units = totals.read_units + totals.write_units;
                format!("{calls} ({})", number(window.per_second(units)))
            } else {
                calls
            }
        };
        let _ = write!(
            out,
            "| {} | {} |",
            operation.label(),
            rate(&first.no_session)
        );
        for round in rounds {
            let _ = write!(out, " {} | {} |", rate(&round.idle), rate(&round.loaded));
        }
        out.push('\n');
    }
    out
}

/// Seconds between a daemon's lease rounds in `window`: each round scans the leases table
/// once, and there are two daemons.
fn round_interval(window: &Window) -> f64 {
    let scans = window.ledger.rows.iter().find(|(operation, _)| {
        operation.service == Service::DynamoDb
            && operation.name == "Scan"
            && operation.resource == "leases"
    });
    let per_daemon = window.per_second(scans.map_or(0, |(_, t)| t.calls) as f64) / 2.0;
    ratio(1.0, per_daemon)
}

fn totals_table(rounds: &[Round], lease: Duration) -> String {
    let mut out = String::from(
        "\n### Fleet cost: totals (both daemons)\n\n| sessions | window | s | commands/s | \
         DynamoDB calls/s | read units/s | write units/s | SQS calls/s (billed) | S3 calls/s | \
         USD/month, whole fleet |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for round in rounds {
        let windows = [
            ("no session", &round.no_session, 0.0),
            ("idle", &round.idle, 0.0),
            (
                "loaded",
                &round.loaded,
                round.loaded.per_second(round.commands as f64),
            ),
        ];
        for (name, window, commands) in windows {
            let _ = writeln!(
                out,
                "| {} | {name} | {:.1} | {} | {} | {} | {} | {} ({}) | {} | {} |",
                round.sessions,
                window.elapsed.as_secs_f64(),
                number(commands),
                number(window.calls_per_second(Service::DynamoDb)),
                number(window.per_second(read_units(&window.ledger))),
                number(window.per_second(write_units(&window.ledger))),
                number(window.calls_per_second(Service::Sqs)),
                number(window.per_second(sqs_billed(&window.ledger))),
                number(window.calls_per_second(Service::S3)),
                usd_text(window.usd_per_month()),
            );
        }
    }
    let floors: Vec<String> = rounds
        .iter()
        .map(|r| {
            let per_daemon: Vec<String> = r
                .no_session
                .by_daemon
                .iter()
                .map(|ledger| {
                    number(
                        r.no_session
                            .per_second(ledger.rows.values().map(|t| t.calls).sum::<u64>() as f64),
                    )
                })
                .collect();
            format!("{} (round {})", per_daemon.join(" / "), r.sessions)
        })
        .collect();
    let _ = writeln!(
        out,
        "\nNo-session floor per daemon, A / B, calls/s: {}.",
        floors.join("; ")
    );
    let details: Vec<String> = rounds
        .iter()
        .map(|r| {
            format!(
                "{} sessions: {} commands ({} a second per session), {} events loaded and {} \
                 idle, max send lag \
                 {} ms, CPU of one core idle {} and loaded {}, a lease round every {} s idle \
                 and {} s loaded (nominal {} s), leases lost / sessions adopted A {}/{} B {}/{}, \
                 load {} → {}",
                r.sessions,
                r.commands,
                number(r.rate),
                r.events.loaded,
                r.events.idle,
                r.max_send_lag.as_millis(),
                r.idle.cpu_text(),
                r.loaded.cpu_text(),
                number(round_interval(&r.idle)),
                number(round_interval(&r.loaded)),
                number(lease.as_secs_f64() / 3.0),
                r.lease_trouble[0].0,
                r.lease_trouble[0].1,
                r.lease_trouble[1].0,
                r.lease_trouble[1].1,
                r.loadavg.0,
                r.loadavg.1
            )
        })
        .collect();
    let _ = writeln!(out, "Rounds: {}.", details.join("; "));
    if let Some(first) = rounds.first() {
        let _ = writeln!(
            out,
            "moto's mean answer time through the proxy, {} session(s) loaded: {}.",
            first.sessions,
            answer_times(&first.loaded.ledger)
        );
    }
    out
}

/// `DynamoDB PutItem 6.1 ms, …` for the calls on a command's path (SQS long polls, which
/// wait for messages, left out).
fn answer_times(ledger: &Ledger) -> String {
    let wanted = [
        (Service::DynamoDb, "PutItem"),
        (Service::DynamoDb, "Query"),
        (Service::DynamoDb, "GetItem"),
        (Service::DynamoDb, "UpdateItem"),
        (Service::Sqs, "SendMessageBatch"),
        (Service::Sqs, "DeleteMessageBatch"),
        (Service::S3, "PUT"),
    ];
    wanted
        .iter()
        .filter_map(|(service, name)| {
            let totals = ledger
                .rows
                .iter()
                .filter(|(o, _)| o.service == *service && o.name.starts_with(name))
                .fold(Totals::default(), |sum, (_, t)| sum.plus(t));
            (totals.calls > 0).then(|| {
                format!(
                    "{} {name} {:.1} ms",
                    service.name(),
                    totals.upstream.as_secs_f64() * 1000.0 / totals.calls as f64
                )
            })
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn per_session_table(rounds: &[Round]) -> String {
    let mut out = format!(
        "\n### Fleet cost: per session and per command\n\n| sessions | idle, per session: \
         calls/s | idle, per session: USD/month | per command: DynamoDB calls | read units | \
         write units | SQS calls (billed) | S3 calls | USD per 1000 commands | USD/month per \
         session at {COMMANDS_PER_HOUR} commands/h | same, with its share of the floor | moto's CPU \
         idle / loaded |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for round in rounds {
        let idle_calls = per_idle_session(round, |l| {
            l.rows.values().map(|t| t.calls).sum::<u64>() as f64
        });
        let idle_usd = per_idle_session(round, usd);
        let command_usd = per_command(round, usd);
        let at_usage = (idle_usd + command_usd * COMMANDS_PER_HOUR / 3600.0) * SECONDS_PER_MONTH;
        let floor_share = round.no_session.per_second(round.no_session.ledger.usd())
            * SECONDS_PER_MONTH
            / round.sessions as f64;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} | {:.0} % / {:.0} % |",
            round.sessions,
            number(idle_calls),
            usd_text(idle_usd * SECONDS_PER_MONTH),
            number(per_command(round, calls(Service::DynamoDb))),
            number(per_command(round, read_units)),
            number(per_command(round, write_units)),
            number(per_command(round, calls(Service::Sqs))),
            number(per_command(round, sqs_billed)),
            number(per_command(round, calls(Service::S3))),
            usd_text(command_usd * 1000.0),
            usd_text(at_usage),
            usd_text(at_usage + floor_share),
            100.0 * round.idle.per_second(round.idle.cpu[0].as_secs_f64()),
            100.0 * round.loaded.per_second(round.loaded.cpu[0].as_secs_f64()),
        );
    }
    out
}

/// Measured SQS calls against `devflow_fleet::cost::sqs_requests` for the same load.
fn sqs_table(rounds: &[Round]) -> String {
    let mut out = String::from(
        "\n### Fleet cost: SQS measured against `devflow_fleet::cost`\n\n| sessions | window | \
         events/s per session | messages per send | bytes per message | measured: sends / \
         receives with messages / empty receives / deletes, calls/s | model: sends / receives / \
         deletes / idle polls, calls/s | measured all | model all |\n\
         |---:|---|---:|---:|---:|---|---|---:|---:|\n",
    );
    for round in rounds {
        for (name, window, events) in [
            ("no session", &round.no_session, 0),
            ("loaded", &round.loaded, round.events.loaded),
        ] {
            let ledger = &window.ledger;
            let sends = ledger.operation(Service::Sqs, "SendMessageBatch");
            let receives = ledger.operation(Service::Sqs, "ReceiveMessage");
            let deletes = ledger.operation(Service::Sqs, "DeleteMessageBatch");
            let all = ledger.service(Service::Sqs);
            let per_batch = ratio(sends.messages as f64, sends.calls as f64).max(1.0);
            let message_bytes = ratio(sends.payload_bytes as f64, sends.messages as f64);
            let events_per_session =
                window.per_second(events as f64) / round.sessions.max(1) as f64;
            let model = sqs_requests(&FleetLoad {
                daemons: 2,
                sessions: if events == 0 {
                    0
                } else {
                    round.sessions as u32
                },
                events_per_second: events_per_session,
                subscriber_daemons_per_session: 1.0,
                message_bytes: message_bytes.round().max(1.0) as u64,
                messages_per_batch: per_batch,
            });
            let with_messages = receives.calls.saturating_sub(receives.empty_receives);
            let _ = writeln!(
                out,
                "| {} | {name} | {} | {} | {:.0} | {} / {} / {} / {} | {} / {} / {} / {} | {} | {} |",
                round.sessions,
                number(events_per_session),
                number(per_batch),
                message_bytes,
                number(window.per_second(sends.calls as f64)),
                number(window.per_second(with_messages as f64)),
                number(window.per_second(receives.empty_receives as f64)),
                number(window.per_second(deletes.calls as f64)),
                number(model.sends),
                number(model.receives),
                number(model.deletes),
                number(model.idle_polls),
                number(window.per_second(all.calls as f64)),
                number(model.requests),
            );
        }
    }
    out
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator == 0.0 {
        0.0
    } else {
        numerator / denominator
    }
}

/// Three significant digits, at most three decimals.
fn number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

fn usd_text(value: f64) -> String {
    if value.abs() >= 1.0 {
        format!("${value:.2}")
    } else {
        format!("${value:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_about_three_significant_digits() {
        assert_eq!(number(1234.5), "1234");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(1.2345), "1.23");
        assert_eq!(number(0.12345), "0.123");
        assert_eq!(usd_text(0.01234), "$0.0123");
        assert_eq!(usd_text(12.345), "$12.35");
    }
}
