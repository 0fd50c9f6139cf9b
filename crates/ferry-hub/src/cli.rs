//! `ferry hub …`: serve the hub, or administer its users, workgroups and tokens.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::{DemoOptions, Hub, HubConfig, auth};

/// `ferry hub`: serve the BaseSpace-compatible hub (no subcommand), or run an admin command on
/// the same data directory / database.
#[derive(Debug, Clone, Args)]
pub struct HubArgs {
    /// Admin command; without one, the hub serves.
    #[command(subcommand)]
    pub command: Option<HubCommand>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8041", env = "FERRY_HUB_LISTEN")]
    pub listen: SocketAddr,
    /// Folder for the database (SQLite by default) and file bytes.
    #[arg(long, default_value = "ferry-data/hub", env = "FERRY_HUB_DATA_DIR", global = true)]
    pub data_dir: PathBuf,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB (default: SQLite in the data dir).
    #[arg(long, env = "FERRY_HUB_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Public base URL for Hrefs, signed URLs and the login page (default: http://LISTEN).
    #[arg(long, env = "FERRY_HUB_PUBLIC_URL")]
    pub public_url: Option<url::Url>,
    /// Seed demo data (user demo@example.org / demo, workgroup "Demo Lab"); idempotent.
    #[arg(long)]
    pub demo: bool,
    /// Where file bytes live: s3://BUCKET/PREFIX, file:///DIR or a path (default: DATA_DIR/blobs).
    /// S3 credentials come from the standard AWS environment (AWS_ACCESS_KEY_ID, …). Instances
    /// sharing a database must share this store.
    #[arg(long, env = "FERRY_HUB_STORAGE_URL", global = true, value_name = "URL")]
    pub storage_url: Option<String>,
    /// S3 endpoint (MinIO, Ceph, …; default: AWS_ENDPOINT_URL or AWS S3 itself).
    #[arg(long, value_name = "URL", global = true)]
    pub s3_endpoint: Option<String>,
    /// S3 region (default: AWS_REGION, else us-east-1).
    #[arg(long, value_name = "REGION", global = true)]
    pub s3_region: Option<String>,
    /// A reverse proxy in front of the hub (address or CIDR block, repeatable): only requests
    /// from these addresses have their client taken from `X-Forwarded-For` (for rate limits).
    #[arg(
        long = "trusted-proxy",
        value_name = "CIDR",
        env = "FERRY_HUB_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,
    /// Reads per demo FASTQ file (implies --demo); large values make gigabyte files.
    #[arg(long, value_name = "N")]
    pub demo_reads: Option<u64>,
    /// Launched app sessions this hub runs at once (0: none here; another instance sharing
    /// the database runs them).
    #[arg(long, value_name = "N", default_value_t = 2, env = "FERRY_HUB_APP_WORKERS")]
    pub app_workers: usize,
    /// Seconds a running app job stays with its hub without a sign of life; after that (a
    /// killed hub) another start or instance takes the job over and runs it again.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 30,
        env = "FERRY_HUB_APP_LEASE_SECONDS"
    )]
    pub app_lease_seconds: u64,
    /// Seconds an app session may run from its launch; past them it ends TimedOut and keeps
    /// nothing.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 86_400,
        env = "FERRY_HUB_APP_TIMEOUT_SECONDS"
    )]
    pub app_timeout_seconds: u64,
    /// Seconds a restore of archived datasets and runs takes (BaseSpace's take hours).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 3600,
        env = "FERRY_HUB_RESTORE_SECONDS"
    )]
    pub restore_seconds: u64,
}

/// Admin commands.
#[derive(Debug, Clone, Subcommand)]
pub enum HubCommand {
    /// Manage users.
    User {
        /// What to do.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage workgroups.
    Workgroup {
        /// What to do.
        #[command(subcommand)]
        command: WorkgroupCommand,
    },
    /// Manage the application catalog (`GET /v2/applications`).
    App {
        /// What to do.
        #[command(subcommand)]
        command: AppCommand,
    },
    /// Issue an access token; prints only the token.
    Token {
        /// Email of the token's user.
        #[arg(long)]
        user: String,
        /// Workgroup context (default: the user's personal context).
        #[arg(long)]
        workgroup: Option<String>,
        /// Scopes, comma-separated (default: what `bs auth` asks for, START APPLICATIONS included).
        #[arg(long)]
        scopes: Option<String>,
    },
}

/// `ferry hub user …`.
#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Add a user.
    Add {
        /// Email (the login name).
        email: String,
        /// Password. Other users of this machine can see it in `ps` (and shells keep it in their
        /// history): prefer --password-stdin.
        #[arg(
            long,
            env = "FERRY_HUB_PASSWORD",
            hide_env_values = true,
            required_unless_present = "password_stdin",
            conflicts_with = "password_stdin"
        )]
        password: Option<String>,
        /// Read the password from the first line of standard input (e.g. `pass show hub | ferry …`).
        #[arg(long)]
        password_stdin: bool,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
    },
}

/// `ferry hub app …`.
#[derive(Debug, Clone, Subcommand)]
pub enum AppCommand {
    /// List every application version (ID, name, version, enabled or disabled).
    List,
    /// Disable an application version: no longer listed, read or launched.
    Disable {
        /// Application (version) ID, as `ferry hub app list` shows it.
        id: String,
    },
    /// Enable a disabled application version again.
    Enable {
        /// Application (version) ID, as `ferry hub app list` shows it.
        id: String,
    },
}

/// `ferry hub workgroup …`.
#[derive(Debug, Clone, Subcommand)]
pub enum WorkgroupCommand {
    /// Add a workgroup (or members to an existing one).
    Add {
        /// Workgroup name.
        name: String,
        /// Member email (repeatable).
        #[arg(long = "member")]
        members: Vec<String>,
    },
}

/// Reads a password from the first line of standard input; only the line ending is removed.
fn password_from_stdin() -> anyhow::Result<String> {
    Ok(ferry_security::password::read_line(
        std::io::stdin().lock(),
        "ferry hub user add EMAIL",
    )?)
}

/// S3 settings from the AWS environment, with `--s3-endpoint` / `--s3-region` on top.
fn s3_options(args: &HubArgs) -> Option<ferry_store::S3Options> {
    if args.s3_endpoint.is_none() && args.s3_region.is_none() {
        return None;
    }
    let mut options = ferry_store::S3Options::from_env();
    if let Some(endpoint) = &args.s3_endpoint {
        options.endpoint = Some(endpoint.clone());
    }
    if let Some(region) = &args.s3_region {
        options.region = Some(region.clone());
    }
    Some(options)
}

fn config(args: &HubArgs, listen: SocketAddr, demo: Option<DemoOptions>) -> anyhow::Result<HubConfig> {
    Ok(HubConfig {
        listen,
        data_dir: args.data_dir.clone(),
        database_url: args.database_url.clone(),
        public_url: args.public_url.clone(),
        demo,
        storage_url: args.storage_url.clone(),
        s3_options: s3_options(args),
        trusted_proxies: ferry_security::TrustedProxies::parse(&args.trusted_proxies).map_err(anyhow::Error::msg)?,
        restore_delay: std::time::Duration::from_secs(args.restore_seconds),
        app_runner: crate::jobs::AppRunnerOptions {
            workers: args.app_workers,
            lease: std::time::Duration::from_secs(args.app_lease_seconds.max(1)),
            timeout: std::time::Duration::from_secs(args.app_timeout_seconds.max(1)),
        },
    })
}

/// Runs `ferry hub`: serves until `stop` resolves (the binary passes Ctrl-C or SIGTERM), or runs
/// the admin command.
pub async fn run(args: HubArgs, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    match &args.command {
        None => serve(args, stop).await,
        Some(command) => {
            // Read before opening the hub, so a missing password fails before anything is touched.
            let stdin_password = match command {
                HubCommand::User {
                    command: UserCommand::Add {
                        password_stdin: true, ..
                    },
                } => Some(password_from_stdin()?),
                _ => None,
            };
            let config = config(&args, args.listen, None)?;
            let url = config
                .database_url
                .clone()
                .unwrap_or_else(|| ferry_db::sqlite_url(&config.data_dir.join(crate::DATABASE_FILE)));
            ferry_db::require_existing(&url, "hub")?;
            let hub = Hub::open(config).await?;
            let db = hub.db();
            match command {
                HubCommand::User {
                    command: UserCommand::Add {
                        email, password, name, ..
                    },
                } => {
                    let password = stdin_password
                        .as_deref()
                        .or(password.as_deref())
                        .context("give the password with --password-stdin (or --password)")?;
                    let id = auth::create_user(db, email, password, name.as_deref()).await?;
                    eprintln!("user {email} ready (ID {id})");
                }
                HubCommand::Workgroup {
                    command: WorkgroupCommand::Add { name, members },
                } => {
                    let id = auth::create_workgroup(db, name, members).await?;
                    eprintln!("workgroup {name} ready (ID {id}, {} member(s) added)", members.len());
                }
                HubCommand::App { command } => match command {
                    AppCommand::List => {
                        println!("{:<10} {:<20} {:<10} STATE", "ID", "NAME", "VERSION");
                        for app in crate::apps::list_all(db).await? {
                            let state = if app.disabled { "disabled" } else { "enabled" };
                            println!("{:<10} {:<20} {:<10} {state}", app.id, app.name, app.version);
                        }
                    }
                    AppCommand::Disable { id } | AppCommand::Enable { id } => {
                        let disable = matches!(command, AppCommand::Disable { .. });
                        let app = crate::apps::set_disabled(db, id, disable).await?;
                        let state = if app.disabled {
                            "disabled: no longer listed or launchable"
                        } else {
                            "enabled"
                        };
                        eprintln!("application {} {} ({}) {state}", app.name, app.version, app.id);
                    }
                },
                HubCommand::Token {
                    user,
                    workgroup,
                    scopes,
                } => {
                    let token = auth::issue_token_for(db, user, workgroup.as_deref(), scopes.as_deref()).await?;
                    println!("{token}");
                }
            }
            Ok(())
        }
    }
}

async fn serve(args: HubArgs, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| {
        format!(
            "cannot listen on {} for the hub: is another program using it? Choose another address with --listen",
            args.listen
        )
    })?;
    let address = listener.local_addr()?;
    let demo = match (args.demo, args.demo_reads) {
        (_, Some(reads)) => Some(DemoOptions { reads_per_file: reads }),
        (true, None) => Some(DemoOptions::default()),
        (false, None) => None,
    };
    let hub = Hub::open(config(&args, address, demo.clone())?).await?;
    tracing::info!(url = %hub.base_url(), data_dir = %args.data_dir.display(), "ferry hub listening");
    eprintln!("Ferry hub serving the BaseSpace API at {}", hub.base_url());
    if demo.is_some() {
        eprintln!(
            "Demo login: {} / {} (workgroup \"{}\"). Point bs at it: BASESPACE_API_SERVER={} bs auth",
            crate::demo::DEMO_EMAIL,
            crate::demo::DEMO_PASSWORD,
            crate::demo::DEMO_WORKGROUP,
            hub.base_url()
        );
    }
    let stopping = tokio_util::sync::CancellationToken::new();
    let signal = {
        let stopping = stopping.clone();
        async move {
            stop.await;
            tracing::info!("shutting down: finishing requests in flight");
            stopping.cancel();
        }
    };
    tokio::select! {
        served = hub.serve(listener, signal) => served?,
        _ = async {
            stopping.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            // Parts and files are published atomically, so cutting a transfer short loses nothing
            // that was complete: an interrupted part is simply sent again.
            tracing::warn!(seconds = SHUTDOWN_GRACE.as_secs(), "transfers still running after the grace period; stopping anyway");
        }
    }
    eprintln!("Ferry hub stopped.");
    Ok(())
}

/// How long a stopping hub waits for transfers in flight.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(60);
