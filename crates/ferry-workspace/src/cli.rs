//! `ferry workspace …`: serve the workspace, or administer it.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::{Workspace, WorkspaceConfig};

/// `ferry workspace`: the analysis workspace (web pages and JSON API) and its admin commands.
///
/// Scaling out: run any number of `--mode web` and `--mode worker` processes over one PostgreSQL
/// database (`--database-url postgres://…`). They must share the key that seals BaseSpace tokens
/// (`FERRY_WORKSPACE_KEY`, or the same `workspace.key` in each data folder) and the file store
/// (`--storage-url s3://bucket/prefix`, or one shared folder).
#[derive(Debug, clap::Args)]
pub struct WorkspaceArgs {
    /// Admin command; without one, the server runs.
    #[command(subcommand)]
    pub command: Option<WorkspaceCommand>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8040", env = "FERRY_WORKSPACE_LISTEN")]
    pub listen: SocketAddr,
    /// Folder for the database, the token key file and imported files.
    #[arg(long, default_value = "./ferry-data/workspace", env = "FERRY_WORKSPACE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Database URL (sqlite://PATH or postgres://USER@HOST/DB); default: SQLite in the data folder.
    #[arg(long, env = "FERRY_WORKSPACE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Public URL of the workspace (an https URL marks cookies Secure).
    #[arg(long, env = "FERRY_WORKSPACE_PUBLIC_URL")]
    pub public_url: Option<url::Url>,
    /// What this process runs: `all` (pages, API and import workers), `web` (pages and API; imports
    /// wait for a worker process), `worker` (import workers only: no HTTP listener, --listen unused).
    #[arg(long, value_enum, default_value_t = Mode::All, env = "FERRY_WORKSPACE_MODE")]
    pub mode: Mode,
    /// Where imported files are kept: s3://bucket/prefix (endpoint, region and credentials from
    /// AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY…), file:///abs/dir or a
    /// path. Default: `files` in the data folder.
    #[arg(long, env = "FERRY_WORKSPACE_STORAGE_URL")]
    pub storage_url: Option<String>,
    /// An API server users may link to besides Illumina's regions (repeatable; a self-hosted hub:
    /// http://127.0.0.1:8041). Only these servers may be on loopback or private addresses.
    #[arg(
        long = "allow-api-server",
        value_name = "URL",
        env = "FERRY_WORKSPACE_ALLOW_API_SERVERS",
        value_delimiter = ','
    )]
    pub allowed_api_servers: Vec<String>,
    /// A reverse proxy in front of the workspace (address or CIDR block, repeatable): only requests
    /// from these addresses have their client taken from `X-Forwarded-For` (for login throttling).
    #[arg(
        long = "trusted-proxy",
        value_name = "CIDR",
        env = "FERRY_WORKSPACE_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,
}

/// The role of a `ferry workspace` process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mode {
    /// Web pages, JSON API and import workers in one process.
    #[default]
    All,
    /// Web pages and JSON API only.
    Web,
    /// Import workers only, until Ctrl-C / SIGTERM.
    Worker,
}

/// Admin commands.
#[derive(Debug, clap::Subcommand)]
pub enum WorkspaceCommand {
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Create an API key for a user and print it (only the key, for scripts).
    ApiKey {
        /// The user's email.
        #[arg(long)]
        user: String,
    },
}

/// `ferry workspace user …`.
#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Add {
        /// Email (the login name).
        email: String,
        /// Password.
        #[arg(long, env = "FERRY_WORKSPACE_PASSWORD")]
        password: String,
    },
}

/// Runs the command, or serves until `stop` resolves (the binary passes Ctrl-C or SIGTERM).
pub async fn run(args: WorkspaceArgs, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let config = WorkspaceConfig {
        listen: args.listen,
        data_dir: args.data_dir,
        database_url: args.database_url,
        public_url: args.public_url,
        storage_url: args.storage_url,
        allowed_api_servers: args.allowed_api_servers,
        trusted_proxies: args.trusted_proxies,
    };
    match args.command {
        Some(WorkspaceCommand::User(UserCommand::Add { email, password })) => {
            let workspace = Workspace::open(config).await?;
            workspace.add_user(&email, &password).await?;
            eprintln!("Created workspace user {email}.");
            Ok(())
        }
        Some(WorkspaceCommand::ApiKey { user }) => {
            let workspace = Workspace::open(config).await?;
            let key = workspace.create_api_key(&user).await?;
            println!("{key}");
            Ok(())
        }
        None if args.mode == Mode::Worker => {
            let workspace = Workspace::open(config).await?;
            eprintln!(
                "Ferry workspace import worker, files in {} (Ctrl-C to stop)",
                workspace.store().location()
            );
            workspace.run_workers(stop).await
        }
        None => {
            let listener = tokio::net::TcpListener::bind(config.listen).await.with_context(|| {
                format!(
                    "cannot listen on {} for the workspace: is another program using it? Choose another address with --listen",
                    config.listen
                )
            })?;
            let address = listener.local_addr()?;
            let workspace = Workspace::open(config).await?;
            let workers = args.mode == Mode::All;
            let role = if workers {
                ""
            } else {
                " (web only: imports run in worker processes)"
            };
            eprintln!("Ferry workspace at http://{address}{role} (Ctrl-C to stop)");
            workspace.serve_with(listener, stop, workers).await
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: WorkspaceArgs,
    }

    #[test]
    fn mode_defaults_to_all_and_accepts_web_and_worker() {
        let parse = |flags: &[&str]| Cli::try_parse_from(std::iter::once("workspace").chain(flags.iter().copied()));
        if std::env::var_os("FERRY_WORKSPACE_MODE").is_none() {
            assert_eq!(parse(&[]).unwrap().args.mode, Mode::All);
        }
        assert_eq!(parse(&["--mode", "web"]).unwrap().args.mode, Mode::Web);
        let worker = parse(&["--mode", "worker", "--storage-url", "s3://bucket/prefix"]).unwrap();
        assert_eq!(worker.args.mode, Mode::Worker);
        assert_eq!(worker.args.storage_url.as_deref(), Some("s3://bucket/prefix"));
        assert!(parse(&["--mode", "both"]).is_err(), "unknown modes are refused");
    }
}
