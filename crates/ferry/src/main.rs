//! `ferry`: runs the Ferry hub, the Ferry workspace, or both at once with demo data (`ferry up`).
//!
//! The binary only parses arguments and wires the libraries together: the hub lives in
//! `ferry-hub`, the workspace in `ferry-workspace`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Ferry: move sequencing data between BaseSpace Sequence Hub and your analysis workspace.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, propagate_version = true)]
struct Cli {
    /// Log filter, e.g. `info`, `debug`, `ferry_hub=debug` (also FERRY_LOG).
    #[arg(long, global = true, env = "FERRY_LOG", default_value = "info")]
    log: String,
    /// Write logs as JSON lines.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a demo hub and the workspace together, with demo users and data.
    Up(UpArgs),
    /// Run the BaseSpace-compatible hub, or administer it.
    Hub(ferry_hub::cli::HubArgs),
    /// Run the analysis workspace, or administer it.
    Workspace(ferry_workspace::cli::WorkspaceArgs),
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    /// Address of the workspace (web pages and JSON API).
    #[arg(long, default_value = "127.0.0.1:8040")]
    listen: SocketAddr,
    /// Address of the hub (BaseSpace API and device login).
    #[arg(long, default_value = "127.0.0.1:8041")]
    hub_listen: SocketAddr,
    /// Folder for both parts' databases and files (created if missing).
    #[arg(long, default_value = "ferry-data")]
    data_dir: PathBuf,
    /// Reads per demo FASTQ file (raise it to get gigabytes for benchmarks).
    #[arg(long)]
    demo_reads: Option<u64>,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ferry: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    init_logging(&cli.log, cli.log_json)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Up(args) => up(args).await,
            Command::Hub(args) => ferry_hub::cli::run(args, shutdown_signal()).await,
            Command::Workspace(args) => ferry_workspace::cli::run(args, shutdown_signal()).await,
        }
    })
}

/// Resolves on Ctrl-C or SIGTERM: every server of this binary stops on either.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

fn init_logging(filter: &str, json: bool) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .with_context(|| format!("--log {filter:?} is not a valid log filter (try `info` or `debug`)"))?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
}

async fn bind(address: SocketAddr, what: &str, flag: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).await.with_context(|| {
        format!(
            "cannot listen on {address} for the {what}: is another program using it? Choose another address with {flag}"
        )
    })
}

/// Where the `bs` the next steps use comes from: nothing to say when one is on the PATH;
/// otherwise the one command that installs Ferry's (or the copy built beside this binary).
fn bs_hint() -> String {
    let on_path =
        std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("bs").is_file()));
    if on_path {
        return String::new();
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("bs")))
        .filter(|path| path.is_file());
    if let Some(path) = beside {
        return format!(
            "  0. No `bs` on your PATH: use {} (or copy it to a folder on your PATH).\n",
            path.display()
        );
    }
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bs");
    let install = if source.join("Cargo.toml").is_file() {
        let folder = source.canonicalize().unwrap_or(source);
        format!("cargo install --locked --path {}", folder.display())
    } else {
        "cargo install --locked --path crates/bs   (in Ferry's source folder)".to_string()
    };
    format!("  0. No `bs` on your PATH: install Ferry's with\n       {install}\n")
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    ferry_store::private_fs::ensure_private_dir(&args.data_dir).context("cannot prepare the data folder")?;
    let hub_listener = bind(args.hub_listen, "hub", "--hub-listen").await?;
    let workspace_listener = bind(args.listen, "workspace", "--listen").await?;
    let hub_address = hub_listener.local_addr()?;
    let workspace_address = workspace_listener.local_addr()?;

    let mut demo = ferry_hub::DemoOptions::default();
    if let Some(reads) = args.demo_reads {
        demo.reads_per_file = reads;
    }
    let hub = ferry_hub::Hub::open(ferry_hub::HubConfig {
        listen: hub_address,
        data_dir: args.data_dir.join("hub"),
        database_url: None,
        public_url: None,
        demo: Some(demo),
        storage_url: None,
        s3_options: None,
        trusted_proxies: Default::default(),
        app_runner: Default::default(),
        restore_delay: ferry_hub::DEFAULT_RESTORE_DELAY,
    })
    .await?;
    let workspace = ferry_workspace::Workspace::open(ferry_workspace::WorkspaceConfig {
        listen: workspace_address,
        data_dir: args.data_dir.join("workspace"),
        database_url: None,
        public_url: None,
        storage_url: None,
        // The demo hub is on loopback: users of this workspace may link to it, and only to it.
        allowed_api_servers: vec![format!("http://{hub_address}")],
        trusted_proxies: Vec::new(),
        // The demo is for trying Ferry out: anyone may create an account.
        signup: ferry_workspace::SignupMode::Open,
    })
    .await?;
    workspace
        .ensure_user(ferry_hub::demo::DEMO_EMAIL, ferry_hub::demo::DEMO_PASSWORD)
        .await?;

    let shutdown = CancellationToken::new();
    let hub_task = tokio::spawn(hub.serve(hub_listener, shutdown.clone().cancelled_owned()));
    let workspace_task = tokio::spawn(workspace.serve(workspace_listener, shutdown.clone().cancelled_owned()));

    let hub_url = format!("http://{hub_address}");
    let workspace_url = format!("http://{workspace_address}");
    println!(
        "Ferry is up.\n\n  \
         Workspace   {workspace_url}   log in as {email} / {password}\n  \
         Hub         {hub_url}   BaseSpace API; log in as {email} / {password}\n\n\
         Next steps:\n{bs_hint}  \
         1. bs auth --api-server {hub_url}\n     \
            (open the printed URL, log in as {email}, choose a context, Accept)\n  \
         2. Open {workspace_url}/profile → BaseSpace Account Details: paste the accessToken from\n     \
            ~/.basespace/default.cfg and choose Region \"Custom API server\" {hub_url}\n  \
         3. Samples → Import from BaseSpace: pick the demo project and import.\n\n\
         Data lives in {data}. Press Ctrl-C to stop.",
        email = ferry_hub::demo::DEMO_EMAIL,
        password = ferry_hub::demo::DEMO_PASSWORD,
        data = args.data_dir.display(),
        bs_hint = bs_hint(),
    );

    let stop = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        stop.cancel();
    });
    let (hub_result, workspace_result) = tokio::join!(hub_task, workspace_task);
    hub_result.context("the hub task failed")??;
    workspace_result.context("the workspace task failed")??;
    Ok(())
}
