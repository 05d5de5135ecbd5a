//! `devflow`: the command line. Parses flags and starts one transport over the daemon.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use devflow_daemon::app;
use devflow_daemon::auth::{self, Origins};
use devflow_daemon::config::{Config, ConfigValues};
use devflow_daemon::transport::http::{self, AppState};

#[derive(Parser)]
#[command(
    name = "devflow",
    version,
    about = "Improve a web site's design by talking to it"
)]
struct Cli {
    /// The config file (default: `devflow.toml` in the state dir). Every key can also be set
    /// as `DEVFLOW_<KEY>`; flags win over the environment, which wins over the file.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve REST + SSE and JSON-RPC over WebSocket (`/rpc`) on one loopback port.
    Serve {
        /// The port (default 7878; 0 = any free port).
        #[arg(long)]
        port: Option<u16>,
        /// The address to listen on (default 127.0.0.1).
        #[arg(long)]
        bind: Option<String>,
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Access token (also `DEVFLOW_TOKEN`); generated and kept in the state dir when absent.
        #[arg(long)]
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
    /// Call one method of a running daemon (JSON-RPC over its WebSocket) and print the result
    /// as JSON. Exit code 0 done, 1 the daemon answered with an error (printed on stderr),
    /// 2 bad arguments, 3 daemon unreachable or token refused.
    Rpc(RpcArgs),
    /// Print a session's events as JSON lines, resuming after `--after`. Exit codes as `rpc`.
    Events(EventsArgs),
    /// A fleet's AWS resources (preview).
    #[command(subcommand)]
    Aws(AwsCommand),
}

#[derive(Subcommand)]
enum AwsCommand {
    /// Create the DynamoDB tables of `store = "dynamodb"` (prefix `tablePrefix`; endpoint,
    /// region and credentials from the standard AWS settings). Safe to run again.
    Init {
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
}

/// How `rpc` and `events` find the daemon.
#[derive(clap::Args)]
struct DaemonArgs {
    /// The daemon's URL, e.g. http://127.0.0.1:7878 (default: the one `devflow serve`
    /// recorded in the state dir).
    #[arg(long, env = "DEVFLOW_URL")]
    url: Option<String>,
    /// The access token (default: the state dir's `token` file).
    #[arg(long, env = "DEVFLOW_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Where the local daemon keeps its `url` and `token` files.
    #[arg(long)]
    state_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
struct RpcArgs {
    /// The method, e.g. session/create, command/submit, session/get.
    method: String,
    /// Its params as a JSON object; `-` reads them from stdin. Default `{}`.
    params: Option<String>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    #[command(flatten)]
    daemon: DaemonArgs,
}

#[derive(clap::Args)]
struct EventsArgs {
    /// The session id.
    session: String,
    /// Only events after this seq (the last one a script saw).
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    after: u64,
    /// Keep printing live events (the default).
    #[arg(long, overrides_with = "no_follow")]
    follow: bool,
    /// Stop once the events so far are printed.
    #[arg(long, overrides_with = "follow")]
    no_follow: bool,
    /// Stop after this command's final event (READY or FAILED).
    #[arg(long, value_name = "COMMAND_ID")]
    until_final: Option<String>,
    #[command(flatten)]
    daemon: DaemonArgs,
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
    let config_file = cli.config;
    let flags = |state_dir: &Option<PathBuf>| ConfigValues {
        state_dir: state_dir.clone(),
        ..ConfigValues::default()
    };
    let (config, command) = match cli.command {
        Command::Proxy(args) => return devflow_daemon::preview::standalone::main(args),
        Command::Apply(args) => {
            return std::process::ExitCode::from(devflow_daemon::apply::run(args))
        }
        Command::Serve {
            port,
            bind,
            state_dir,
            token,
            site,
        } => {
            let flags = ConfigValues {
                port,
                bind,
                token,
                ..flags(&state_dir)
            };
            (flags, Started::Serve { site })
        }
        Command::Lsp { state_dir } => (flags(&state_dir), Started::Lsp),
        Command::Run(args) => (flags(&args.state_dir), Started::Run(args)),
        Command::Rpc(args) => (flags(&args.daemon.state_dir), Started::Rpc(args)),
        Command::Events(args) => (flags(&args.daemon.state_dir), Started::Events(args)),
        Command::Aws(AwsCommand::Init { state_dir }) => (flags(&state_dir), Started::AwsInit),
    };
    let config = match Config::load(config_file.as_deref(), config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("devflow: {error}");
            return std::process::ExitCode::from(2);
        }
    };
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
    let result = match command {
        Started::Run(args) => return runtime.block_on(headless(args, config)),
        Started::Rpc(args) => return runtime.block_on(rpc(args, config)),
        Started::Events(args) => return runtime.block_on(events(args, config)),
        Started::AwsInit => runtime.block_on(aws_init(config)),
        Started::Serve { site } => runtime.block_on(serve(config, site)),
        Started::Lsp => runtime.block_on(lsp(config)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("devflow: {error:#}");
            std::process::ExitCode::from(3)
        }
    }
}

/// What runs once the configuration is loaded.
enum Started {
    Serve { site: Option<PathBuf> },
    Lsp,
    Run(RunArgs),
    Rpc(RpcArgs),
    Events(EventsArgs),
    AwsInit,
}

/// `devflow aws init`: one line per resource, `created` or `exists` — the tables; with
/// `blobs = "s3"` the buckets; with `events = "sqs"` this daemon's queue (so a deployment
/// may create queues ahead and give daemons no `sqs:CreateQueue`).
async fn aws_init(config: Config) -> anyhow::Result<()> {
    let word = |created: bool| if created { "created" } else { "exists" };
    let store = devflow_store_dynamodb::DynamoStore::connect(app::dynamo_options(&config)).await;
    for (table, outcome) in store.init_tables().await? {
        println!(
            "{} {table}",
            word(outcome == devflow_store_dynamodb::TableInit::Created)
        );
    }
    println!("DynamoDB tables ready at {}", store.endpoint());
    if config.blobs == devflow_daemon::config::BlobsKind::S3 {
        let s3 = devflow_blobs::S3BlobStore::connect(devflow_blobs::S3Options {
            endpoint: config.s3.endpoint.clone(),
            force_path_style: config.s3.force_path_style,
            ..devflow_blobs::S3Options::default()
        })
        .await;
        let mut buckets: Vec<String> = [config.s3.uploads(), config.s3.artifacts()]
            .into_iter()
            .flatten()
            .map(|location| location.bucket)
            .collect();
        buckets.dedup();
        for bucket in buckets {
            println!("{} s3://{bucket}", word(s3.create_bucket(&bucket).await?));
        }
    }
    if config.events == devflow_daemon::config::EventsKind::Sqs {
        // A daemon makes its own queue at start; with daemonId it can be made ahead (and the
        // daemon's credentials then need no sqs:CreateQueue).
        let Some(daemon_id) = config.daemon_id.clone() else {
            println!("queues: each daemon makes its own at start (set daemonId to make one ahead)");
            return Ok(());
        };
        let options = devflow_fleet::SqsOptions {
            queue_prefix: config.table_prefix.clone(),
            ..devflow_fleet::SqsOptions::default()
        };
        let sender = devflow_fleet::FanoutSender::connect(&options).await?;
        let existed = sender.queue_url(&daemon_id).await?.is_some();
        let queue = devflow_fleet::DaemonQueue::create(&options, &daemon_id).await?;
        println!("{} {} (daemon {daemon_id})", word(!existed), queue.name());
    }
    Ok(())
}

async fn rpc(args: RpcArgs, config: Config) -> std::process::ExitCode {
    use devflow_daemon::client;
    let params = match client::parse_request(&args.method, args.params.as_deref()) {
        Ok(params) => params,
        Err(error) => {
            eprintln!("devflow: {}", error.message);
            return std::process::ExitCode::from(error.exit_code);
        }
    };
    let target = match client::target(args.daemon.url, args.daemon.token, &config) {
        Ok(target) => target,
        Err(error) => {
            eprintln!("devflow: {}", error.message);
            return std::process::ExitCode::from(error.exit_code);
        }
    };
    let timeout = std::time::Duration::from_secs(args.timeout.max(1));
    std::process::ExitCode::from(client::rpc(&target, &args.method, params, timeout).await)
}

async fn events(args: EventsArgs, config: Config) -> std::process::ExitCode {
    use devflow_daemon::client;
    let target = match client::target(args.daemon.url, args.daemon.token, &config) {
        Ok(target) => target,
        Err(error) => {
            eprintln!("devflow: {}", error.message);
            return std::process::ExitCode::from(error.exit_code);
        }
    };
    let options = client::EventsOptions {
        session_id: args.session,
        after_seq: args.after,
        follow: !args.no_follow,
        until_final: args.until_final,
    };
    std::process::ExitCode::from(client::events(&target, &options).await)
}

async fn lsp(config: Config) -> anyhow::Result<()> {
    app::init_logging(&config);
    let daemon = app::open(config).await?;
    devflow_daemon::transport::lsp::serve_stdio(daemon.service.clone()).await;
    Ok(())
}

async fn serve(mut config: Config, site: Option<PathBuf>) -> anyhow::Result<()> {
    app::init_logging(&config);
    let (port, bind, state_dir) = (config.port, config.bind.clone(), config.state_dir.clone());
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
    if config.public_base_url.is_empty() {
        config.public_base_url = base_url.clone();
    }
    let token = match config.token.clone().filter(|t| !t.is_empty()) {
        Some(token) => token,
        None => auth::load_or_create_token(&state_dir).context("cannot create the access token")?,
    };
    let daemon = app::open(config).await?;
    // `devflow rpc` and `devflow events` on this machine find the daemon here.
    devflow_daemon::client::write_url_file(&state_dir, &bind, port)
        .with_context(|| format!("cannot record the URL in {}", state_dir.display()))?;
    let state = AppState {
        service: daemon.service.clone(),
        token: Arc::new(token.clone()),
        origins: Arc::new(Origins::new(&bind, port)),
    };
    // The one line scripts and tests read: where the daemon is and how to get in.
    println!("devflow listening on {base_url}/?token={token}");
    eprintln!("devflow: state in {}", state_dir.display());
    // Events are small writes; without TCP_NODELAY a burst could wait on Nagle's algorithm.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = std::future::IntoFuture::into_future(
        axum::serve(listener, http::router(state)).with_graceful_shutdown(shutdown_signal()),
    );
    tokio::pin!(server);
    if let Some(site) = site {
        // The API already answers while the site starts (an install can take minutes).
        tokio::select! {
            served = &mut server => return served.context("the HTTP server failed"),
            opened = open_site(&daemon.service, &site, &base_url, &token) => opened?,
        }
    }
    server.await.context("the HTTP server failed")?;
    // A clean stop in a fleet hands this daemon's sessions to the others at once.
    if let Some(fleet) = &daemon.fleet {
        fleet.leave(&daemon.service).await;
    }
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
    // Until the preview is ready or has failed. Installing dependencies (up to 10 min) and a
    // dev server's start (up to 2 min) end with their own errors first; this cap only
    // guards against waiting forever.
    const CAP: std::time::Duration = std::time::Duration::from_secs(15 * 60);
    const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
    let started = std::time::Instant::now();
    let mut next_progress = started + PROGRESS_EVERY;
    loop {
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
            SessionStatus::Stopped => {
                anyhow::bail!("the session was stopped before its preview started")
            }
            _ => {}
        }
        let now = std::time::Instant::now();
        if now.duration_since(started) > CAP {
            anyhow::bail!(
                "the preview did not start within {} min",
                CAP.as_secs() / 60
            );
        }
        if now >= next_progress {
            next_progress = now + PROGRESS_EVERY;
            eprintln!(
                "devflow: still starting the preview of {} ({} s; installing dependencies and starting a dev server can take minutes — their output is in the log above)",
                site.display(),
                now.duration_since(started).as_secs()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn headless(args: RunArgs, config: Config) -> std::process::ExitCode {
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
    app::init_logging_quiet(&config);
    let options = RunOptions {
        site,
        instructions,
        reference: args.reference.clone(),
        proposer,
        verify: args.verify,
        keep_changes: args.keep_changes,
        out: args.out.clone(),
        state_dir: args.state_dir.clone(),
        config,
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
