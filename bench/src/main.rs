//! `devflow-bench`: speed targets of the daemon, measured against an anchor in the same run.
//! The machines are shared and noisy, so an absolute figure means little on its own; every
//! benchmark alternates the daemon with an anchor (the floor of the same work on this
//! machine) and reports both and their ratio. See `BENCHMARKS.md` at the root.

mod anchor;
mod builtin;
mod daemon;
mod fanout;
mod fd_limit;
mod fleet;
mod latency;
mod load;
mod match_screen;
mod stats;
mod verify;
mod ws;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::anchor::Placement;
use crate::daemon::DaemonProcess;
use crate::latency::Via;
use crate::stats::Table;

#[derive(Parser)]
#[command(name = "devflow-bench", about = "Benchmarks of the devflow daemon")]
struct Cli {
    /// The `devflow` binary to benchmark; default: `devflow` next to this benchmark binary.
    #[arg(long = "bin", env = "DEVFLOW_BIN", global = true)]
    binary: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Which>,
}

#[derive(Subcommand)]
enum Which {
    /// Instruction → first event (COMMAND_STATUS QUEUED), alternating with `GET /healthz`.
    Latency {
        #[arg(long, default_value_t = 500)]
        samples: usize,
        #[arg(long, default_value_t = 20)]
        warmup: usize,
        /// The subscriber's transport.
        #[arg(long, value_enum, default_value_t = Via::Ws)]
        via: Via,
    },
    /// One event to N WebSocket subscribers, alternating with an in-process broadcast server.
    Fanout {
        #[arg(long, default_value_t = 1000)]
        clients: usize,
        #[arg(long, default_value_t = 100)]
        events: usize,
        #[arg(long, default_value_t = 5)]
        warmup: usize,
        /// Where the anchor server runs.
        #[arg(long, value_enum, default_value_t = Placement::Thread)]
        anchor: Placement,
    },
    /// Builtin proposer: instruction → patch applied → PREVIEW_UPDATED, alternating with
    /// the manual path (`POST /patches` of the same change).
    Builtin {
        #[arg(long, default_value_t = 100)]
        samples: usize,
        #[arg(long, default_value_t = 5)]
        warmup: usize,
        /// The fixture site the session runs on (a folder under `<fixtures>/sites`).
        #[arg(long, default_value = "simple-sidebar")]
        site: String,
        /// The shared fixtures (sites and the DTCG tokens used as the reference).
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures"))]
        fixtures: PathBuf,
    },
    /// N sessions with running previews, M WebSocket subscribers, R builtin commands/s
    /// (open loop): delivery checked exactly once and in order, latency against 1 session
    /// with 1 subscriber, the daemon's RSS. Not part of `all` (minutes).
    Load(load::LoadArgs),
    /// Fleet mode on moto: event append → delivery on the other daemon beside a SQLite
    /// daemon, and the AWS requests (and USD) of 1, 10 and 100 sessions. Not part of `all`
    /// (minutes; installs moto on first use).
    Fleet(fleet::FleetArgs),
    /// Verification in a browser: the same patch → READY on a daemon with `browserVerify`
    /// and on one without, side by side; target resolution at submit against the same POST
    /// without a target. Not part of `all` (needs Chromium; about a minute).
    Verify(verify::VerifyArgs),
    /// "Match the reference" with a PNG screen (candidate snaps rendered, the best applied)
    /// beside the same command without a screen, side by side. Not part of `all` (needs
    /// Chromium; about two minutes).
    MatchScreen(match_screen::MatchScreenArgs),
    /// All of them with their defaults, latency over WebSocket and SSE (what `bench/run.sh`
    /// runs).
    All,
    /// Runs only the fan-out anchor server (spawned by `fanout --anchor process`).
    #[command(hide = true)]
    AnchorServe,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("devflow-bench: cannot start a runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("devflow-bench: FAILED: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let which = match cli.command {
        // A child of `fanout`: it inherits the raised open-file limit.
        Some(Which::AnchorServe) => return anchor::serve_forever().await,
        Some(which) => which,
        None => Which::All,
    };
    let binary = match cli.binary {
        Some(path) => path,
        None => default_binary()?,
    };
    anyhow::ensure!(
        binary.is_file(),
        "no devflow binary at {} (build it with `cargo build --release -p devflow-daemon`, or pass --bin)",
        binary.display()
    );
    // Each WebSocket client holds a descriptor here and one in the daemon (a child, which
    // inherits the limit), and the anchor's server side holds another here.
    let clients = match &which {
        Which::Fanout { clients, .. } => *clients,
        Which::Load(args) => args.subscribers,
        // A subscriber per session, the proxies' two sides of each daemon connection.
        Which::Fleet(args) => args.sessions.iter().copied().max().unwrap_or(0) + 64,
        Which::All => 1000,
        Which::Latency { .. }
        | Which::Builtin { .. }
        | Which::Verify(_)
        | Which::MatchScreen(_)
        | Which::AnchorServe => 0,
    };
    let limit = fd_limit::ensure(3 * clients as u64 + 256)?;
    eprintln!("devflow-bench: binary {}", binary.display());
    eprintln!("devflow-bench: open-file limit {limit}");

    let mut table = Table::default();
    match which {
        Which::Latency {
            samples,
            warmup,
            via,
        } => latency_rows(&binary, &mut table, samples, warmup, via).await?,
        Which::Fanout {
            clients,
            events,
            warmup,
            anchor,
        } => fanout_rows(&binary, &mut table, clients, events, warmup, anchor).await?,
        Which::Builtin {
            samples,
            warmup,
            site,
            fixtures,
        } => builtin_rows(&binary, &mut table, &fixtures, &site, samples, warmup).await?,
        Which::Load(args) => load::rows(&binary, &mut table, &args).await?,
        Which::Fleet(args) => fleet::run(&binary, &mut table, &args).await?,
        Which::Verify(args) => verify::rows(&binary, &mut table, &args).await?,
        Which::MatchScreen(args) => match_screen::rows(&binary, &mut table, &args).await?,
        Which::All => {
            latency_rows(&binary, &mut table, 500, 20, Via::Ws).await?;
            latency_rows(&binary, &mut table, 500, 20, Via::Sse).await?;
            fanout_rows(&binary, &mut table, 1000, 100, 5, Placement::Thread).await?;
            let fixtures = PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/fixtures"
            ));
            builtin_rows(&binary, &mut table, &fixtures, "simple-sidebar", 100, 5).await?;
        }
        Which::AnchorServe => {} // served above
    }
    print!("{}", table.markdown());
    Ok(())
}

async fn latency_rows(
    binary: &std::path::Path,
    table: &mut Table,
    samples: usize,
    warmup: usize,
    via: Via,
) -> anyhow::Result<()> {
    let daemon = DaemonProcess::start(binary).context("starting devflow serve")?;
    let result = latency::run(&daemon, samples, warmup, via).await?;
    daemon.stop();
    result.add_to(table);
    Ok(())
}

async fn fanout_rows(
    binary: &std::path::Path,
    table: &mut Table,
    clients: usize,
    events: usize,
    warmup: usize,
    anchor: Placement,
) -> anyhow::Result<()> {
    let daemon = DaemonProcess::start(binary).context("starting devflow serve")?;
    let result = fanout::run(&daemon, clients, events, warmup, anchor).await?;
    daemon.stop();
    result.add_to(table);
    Ok(())
}

async fn builtin_rows(
    binary: &std::path::Path,
    table: &mut Table,
    fixtures: &std::path::Path,
    site: &str,
    samples: usize,
    warmup: usize,
) -> anyhow::Result<()> {
    let daemon = DaemonProcess::start(binary).context("starting devflow serve")?;
    let result = builtin::run(&daemon, fixtures, site, samples, warmup).await?;
    daemon.stop();
    result.add_to(table);
    Ok(())
}

/// `devflow` in the same target directory and profile as this binary.
fn default_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this benchmark's own path")?;
    let dir = exe
        .parent()
        .context("the benchmark binary has no parent directory")?;
    Ok(dir.join(format!("devflow{}", std::env::consts::EXE_SUFFIX)))
}
