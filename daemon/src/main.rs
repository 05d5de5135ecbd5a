//! `devflow`: the command line. Parses flags and starts one transport over the daemon.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use devflow_daemon::app;
use devflow_daemon::auth::{self, Origins};
use devflow_daemon::config::Config;
use devflow_daemon::transport::http::{self, AppState};

#[derive(Parser)]
#[command(
    name = "devflow",
    version,
    about = "Improve a web site's design by talking to it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve REST + SSE and JSON-RPC over WebSocket (`/rpc`) on one loopback port.
    Serve {
        #[arg(long, default_value_t = 7878)]
        port: u16,
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Access token; generated and kept in the state dir when absent.
        #[arg(long, env = "DEVFLOW_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// A site folder or zip to open as a session right away; its preview URL is printed.
        site: Option<PathBuf>,
    },
    /// The preview proxy on its own (like browser-sync's proxy mode): injects the reload
    /// client into a dev server's pages (`--upstream`) or serves a folder, and reloads or
    /// hot-swaps stylesheets when files in `--watch` change.
    Proxy(devflow_daemon::preview::standalone::ProxyArgs),
    /// Speak LSP-style JSON-RPC over stdio (spawned by the editor extension).
    Lsp {
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Apply design instructions to a site without a UI (CI, scripts). Exit code 0 READY,
    /// 1 FAILED, 2 bad input, 3 environment problem.
    Run(RunArgs),
    /// Apply a unified diff to a folder like `git apply`, with devflow's fuzzy matching and a
    /// per-hunk report. Exit code 0 applied, 1 a hunk does not fit (nothing written), 2 bad
    /// input, 3 environment problem.
    Apply(devflow_daemon::apply::ApplyArgs),
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("site").required(true).args(["zip", "dir"])))]
#[command(group(clap::ArgGroup::new("what").required(true).args(["instruction", "script"])))]
struct RunArgs {
    /// The site as a zip (unpacked into a private workspace).
    #[arg(long)]
    zip: Option<PathBuf>,
    /// The site folder (changes are rolled back at the end unless --keep-changes).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The instruction; repeat to run several in order.
    #[arg(long)]
    instruction: Vec<String>,
    /// A file with one instruction per line (blank lines and `#` comments skipped).
    #[arg(long)]
    script: Option<PathBuf>,
    /// Design tokens JSON, or a zip of tokens and screens/.
    #[arg(long)]
    reference: Option<PathBuf>,
    #[arg(long, value_parser = ["builtin", "bedrock", "openai"])]
    proposer: Option<String>,
    /// Start the preview so every patch is verified against the running page.
    #[arg(long)]
    verify: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Write the combined diff of the applied patches to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Keep the applied changes in --dir.
    #[arg(long)]
    keep_changes: bool,
    #[arg(long)]
    state_dir: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Command::Proxy(args) = cli.command {
        return devflow_daemon::preview::standalone::main(args);
    }
    if let Command::Apply(args) = cli.command {
        return std::process::ExitCode::from(devflow_daemon::apply::run(args));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("devflow: cannot start: {error}");
            return std::process::ExitCode::from(3);
        }
    };
    if let Command::Run(args) = cli.command {
        return runtime.block_on(headless(args));
    }
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("devflow: {error:#}");
            std::process::ExitCode::from(3)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            port,
            bind,
            state_dir,
            token,
            site,
        } => serve(port, bind, app::state_dir(state_dir), token, site).await,
        Command::Proxy(args) => devflow_daemon::preview::standalone::run(args).await,
        Command::Lsp { state_dir } => {
            let state_dir = app::state_dir(state_dir);
            app::init_logging(&state_dir);
            let daemon = app::open(Config::new(state_dir)).await?;
            devflow_daemon::transport::lsp::serve_stdio(daemon.service.clone()).await;
            Ok(())
        }
        Command::Run(args) => {
            let code = headless(args).await;
            anyhow::ensure!(
                code == std::process::ExitCode::SUCCESS,
                "devflow run failed"
            );
            Ok(())
        }
        Command::Apply(args) => {
            let code = devflow_daemon::apply::run(args);
            anyhow::ensure!(code == 0, "devflow apply failed");
            Ok(())
        }
    }
}

async fn serve(
    port: u16,
    bind: String,
    state_dir: PathBuf,
    token: Option<String>,
    site: Option<PathBuf>,
) -> anyhow::Result<()> {
    app::init_logging(&state_dir);
    let listener = tokio::net::TcpListener::bind((bind.as_str(), port))
        .await
        .with_context(|| {
            format!("cannot listen on {bind}:{port} (is another devflow running? try --port)")
        })?;
    let port = listener.local_addr()?.port();
    let host = if bind.contains(':') {
        format!("[{bind}]")
    } else {
        bind.clone()
    };
    let base_url = format!("http://{host}:{port}");
    let mut config = Config::new(state_dir.clone());
    config.public_base_url = base_url.clone();
    let token = match token.filter(|t| !t.is_empty()) {
        Some(token) => token,
        None => auth::load_or_create_token(&state_dir).context("cannot create the access token")?,
    };
    let daemon = app::open(config).await?;
    let state = AppState {
        service: daemon.service.clone(),
        token: Arc::new(token.clone()),
        origins: Arc::new(Origins::new(&bind, port)),
    };
    // The one line scripts and tests read: where the daemon is and how to get in.
    println!("devflow listening on {base_url}/?token={token}");
    eprintln!("devflow: state in {}", state_dir.display());
    if let Some(site) = site {
        open_site(&daemon.service, &site, &base_url, &token).await?;
    }
    // Events are small writes; without TCP_NODELAY a burst could wait on Nagle's algorithm.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the HTTP server failed")?;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => return interrupt.await.unwrap_or(()),
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// Creates and starts a session for a folder given on the command line.
async fn open_site(
    service: &devflow_daemon::service::Service,
    site: &std::path::Path,
    base_url: &str,
    token: &str,
) -> anyhow::Result<()> {
    use devflow_protocol::{
        CreateSessionParams, SessionParams, SessionSource, SessionStatus, UploadParams,
    };
    let created = if site.is_dir() {
        let path = site
            .to_str()
            .context("the site path is not valid UTF-8")?
            .to_string();
        service
            .create_session(CreateSessionParams {
                source: Some(SessionSource::Dir { path }),
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", site.display()))?
    } else if site.is_file() {
        let name = site
            .file_stem()
            .and_then(|n| n.to_str())
            .map(str::to_string);
        let created = service
            .create_session(CreateSessionParams {
                name,
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("cannot create a session: {e}"))?;
        let zip_path = site
            .to_str()
            .context("the zip path is not valid UTF-8")?
            .to_string();
        let params = UploadParams {
            session_id: created.session.session_id.clone(),
            zip_path,
        };
        if let Err(error) = service.upload(params).await {
            let _ = service
                .delete_session(SessionParams {
                    session_id: created.session.session_id.clone(),
                })
                .await;
            anyhow::bail!("{} was refused: {error}", site.display());
        }
        created
    } else {
        anyhow::bail!("{} is neither a folder nor a zip file", site.display());
    };
    let session_id = created.session.session_id;
    let params = SessionParams {
        session_id: session_id.clone(),
    };
    service
        .start_session(params.clone())
        .await
        .map_err(|e| anyhow::anyhow!("cannot start the preview: {e}"))?;
    for _ in 0..100 {
        let session = service
            .get_session(params.clone())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        match session.status {
            SessionStatus::Running => {
                println!("session {session_id}");
                println!("preview {}", session.preview_url.unwrap_or_default());
                println!("events  {base_url}/sessions/{session_id}/events?token={token}");
                return Ok(());
            }
            SessionStatus::Error => anyhow::bail!(
                "the preview did not start: {}",
                session.last_error_summary.unwrap_or_default()
            ),
            _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    anyhow::bail!("the preview did not start within 10 s")
}

async fn headless(args: RunArgs) -> std::process::ExitCode {
    use devflow_daemon::headless::{self, RunOptions, Site, EXIT_BAD_INPUT, EXIT_ENVIRONMENT};
    let mut instructions = args.instruction.clone();
    if let Some(script) = &args.script {
        match std::fs::read_to_string(script) {
            Ok(text) => instructions.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string),
            ),
            Err(error) => {
                eprintln!(
                    "devflow: cannot read --script {}: {error}",
                    script.display()
                );
                return std::process::ExitCode::from(EXIT_BAD_INPUT);
            }
        }
    }
    let site = match (&args.zip, &args.dir) {
        (Some(zip), _) => Site::Zip(zip.clone()),
        (None, Some(dir)) => Site::Dir(dir.clone()),
        (None, None) => return std::process::ExitCode::from(EXIT_BAD_INPUT),
    };
    let proposer = args
        .proposer
        .as_deref()
        .and_then(|name| serde_json::from_value(serde_json::Value::String(name.to_string())).ok());
    app::init_logging_quiet();
    let options = RunOptions {
        site,
        instructions,
        reference: args.reference.clone(),
        proposer,
        verify: args.verify,
        keep_changes: args.keep_changes,
        out: args.out.clone(),
        state_dir: args.state_dir.clone(),
    };
    match headless::run(options).await {
        Ok(outcome) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&outcome.report).unwrap_or_default()
                );
            } else if let Some(error) = outcome.report.get("error") {
                eprintln!("devflow: {}", error["message"].as_str().unwrap_or("failed"));
            } else if let Some(diff) = outcome.report["diff"].as_str() {
                print!("{diff}");
            }
            std::process::ExitCode::from(outcome.exit_code)
        }
        Err(error) => {
            eprintln!("devflow: {error:#}");
            std::process::ExitCode::from(EXIT_ENVIRONMENT)
        }
    }
}
