//! `ferry workspace …`: serve the workspace, or administer it.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::{Workspace, WorkspaceConfig};

/// `ferry workspace`: the analysis workspace (web pages and JSON API) and its admin commands.
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

/// Runs the command, or serves until Ctrl-C / SIGTERM.
pub async fn run(args: WorkspaceArgs) -> anyhow::Result<()> {
    let config = WorkspaceConfig {
        listen: args.listen,
        data_dir: args.data_dir,
        database_url: args.database_url,
        public_url: args.public_url,
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
        None => {
            let listener = tokio::net::TcpListener::bind(config.listen).await.with_context(|| {
                format!(
                    "cannot listen on {} for the workspace: is another program using it? Choose another address with --listen",
                    config.listen
                )
            })?;
            let address = listener.local_addr()?;
            let workspace = Workspace::open(config).await?;
            eprintln!("Ferry workspace at http://{address} (Ctrl-C to stop)");
            workspace.serve(listener, stop_signal()).await
        }
    }
}

async fn stop_signal() {
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
