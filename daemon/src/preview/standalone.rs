//! `devflow proxy`: the preview proxy on its own, in front of any dev server (as people use
//! browser-sync's proxy mode) or serving a folder, with reload / CSS hot swap on changes in
//! the watched folder and the page's console errors printed on stderr. No daemon, no state.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use devflow_preview_proxy::{Proxy, ProxyConfig, Upstream};

use super::watch;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(true).args(["upstream", "watch"])))]
pub struct ProxyArgs {
    /// The dev server to sit in front of, e.g. http://127.0.0.1:5173. Without it, the
    /// --watch folder is served as a static site.
    #[arg(long)]
    pub upstream: Option<String>,
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Reload the pages (or swap their stylesheets) when files in this folder change.
    #[arg(long)]
    pub watch: Option<PathBuf>,
    /// A host name the proxy may be reached by besides IP addresses and localhost.
    #[arg(long = "allow-host")]
    pub allow_hosts: Vec<String>,
    /// How the kernel schedules the proxy. `batch` (Linux's SCHED_BATCH): a request that
    /// wakes the proxy does not interrupt the dev server or the browser running beside it;
    /// on a busy machine the proxy then finds several requests waiting each time it runs. On
    /// an idle core it runs at once, as with `normal` (the policy it was started with).
    #[arg(long, value_enum, default_value_t = Scheduling::Batch)]
    pub scheduling: Scheduling,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheduling {
    Batch,
    Normal,
}

/// Runs on a runtime of its own until Ctrl-C / SIGTERM; the exit code.
///
/// One thread: the proxy shares the machine with the dev server and the browser, and a
/// single event loop (as nginx runs one worker) spends less on cross-thread wake-ups than a
/// work-stealing pool. Its scheduling policy is set first (`--scheduling`), so every thread
/// it starts inherits it.
pub fn main(args: ProxyArgs) -> std::process::ExitCode {
    if args.scheduling == Scheduling::Batch {
        if let Err(error) = schedule_as_batch() {
            eprintln!("devflow proxy: cannot switch to batch scheduling: {error}");
        }
    }
    let threads = std::env::var("DEVFLOW_PROXY_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1);
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let result = match runtime {
        Ok(runtime) => runtime.block_on(run(args)),
        Err(error) => Err(anyhow::anyhow!("cannot start: {error}")),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("devflow proxy: {error:#}");
            std::process::ExitCode::from(3)
        }
    }
}

/// Puts the calling thread under SCHED_BATCH (per thread on Linux; threads started
/// afterwards inherit it). Measured in BENCHMARKS.md §3: under the normal policy the proxy,
/// woken for nearly every request, preempts the load generator or the upstream each time.
#[cfg(target_os = "linux")]
fn schedule_as_batch() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler(2) on this thread (pid 0) with a valid parameter.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn schedule_as_batch() -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "SCHED_BATCH is Linux's",
    ))
}

/// Runs until Ctrl-C / SIGTERM.
pub async fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DEVFLOW_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    let upstream = match (&args.upstream, &args.watch) {
        (Some(url), _) => Upstream::Http(url.trim_end_matches('/').to_string()),
        (None, Some(dir)) => Upstream::Static(dir.clone()),
        (None, None) => anyhow::bail!("give --upstream URL, --watch DIR, or both"),
    };
    let described = match &upstream {
        Upstream::Http(url) => url.clone(),
        Upstream::Static(dir) => format!("the folder {}", dir.display()),
    };
    let mut config = ProxyConfig::new(upstream).on_report(|report| {
        let at = match (&report.url, report.line) {
            (Some(url), Some(line)) => format!(" (at {url}:{line})"),
            _ => String::new(),
        };
        eprintln!("page {}: {}{at}", report.kind, report.message);
    });
    config.allowed_hosts = args.allow_hosts.clone();
    let ip: std::net::IpAddr = args
        .bind
        .parse()
        .with_context(|| format!("--bind {:?} is not an IP address", args.bind))?;
    let proxy = Proxy::bind(SocketAddr::new(ip, args.port), config)
        .await
        .context("cannot start the proxy (is the port taken? try --port)")?;
    let _watcher = match &args.watch {
        Some(dir) => {
            let notifier = proxy.notifier();
            let watcher = watch::watch(dir, watch::WINDOW, move |files| {
                tracing::info!(files = ?files, "changed");
                notifier.changed(&files);
            })
            .with_context(|| format!("cannot watch {}", dir.display()))?;
            Some(watcher)
        }
        None => None,
    };
    println!("devflow proxy on {} -> {described}", proxy.url());
    shutdown_signal().await;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
}
