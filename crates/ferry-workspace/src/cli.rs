//! `ferry workspace …`: serve the workspace, or administer it.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;

use crate::accounts::{self, ApiKeyInfo};
use crate::{SignupMode, Workspace, WorkspaceConfig};

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
    #[arg(
        long,
        default_value = "./ferry-data/workspace",
        env = "FERRY_WORKSPACE_DATA_DIR",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Database URL (sqlite://PATH or postgres://USER@HOST/DB); default: SQLite in the data folder.
    #[arg(long, env = "FERRY_WORKSPACE_DATABASE_URL", global = true)]
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
    /// Who may create accounts: `open` (anyone, at /signup) or `closed` (only administrators, with
    /// `ferry workspace user add EMAIL`).
    #[arg(long, value_enum, default_value_t = SignupMode::Closed, env = "FERRY_WORKSPACE_SIGNUP")]
    pub signup: SignupMode,
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
    /// Create an API key for a user and print it (only the key, for scripts); or list and revoke keys.
    ApiKey(ApiKeyArgs),
}

/// `ferry workspace api-key`: `--user EMAIL [--name N] [--expires-in 30d]` creates a key;
/// `list` and `revoke` manage existing ones.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ApiKeyArgs {
    /// List or revoke keys instead of creating one.
    #[command(subcommand)]
    pub command: Option<ApiKeyCommand>,
    /// The email of the user the new key acts for.
    #[arg(long, required = true)]
    pub user: Option<String>,
    /// A name to recognise the key by (e.g. the script or machine using it).
    #[arg(long)]
    pub name: Option<String>,
    /// Lifetime of the key: a number and m (minutes), h (hours), d (days) or w (weeks), e.g. 90d.
    /// Default: the key never expires.
    #[arg(long, value_name = "DURATION", value_parser = accounts::parse_lifetime)]
    pub expires_in: Option<std::time::Duration>,
}

/// `ferry workspace api-key …`.
#[derive(Debug, clap::Subcommand)]
pub enum ApiKeyCommand {
    /// List a user's keys (never the keys themselves): id, name, dates and status.
    List {
        /// The user's email.
        #[arg(long)]
        user: String,
    },
    /// Revoke a key by its id (from `api-key list`); scripts using it get 401 from then on.
    Revoke {
        /// The key's id.
        id: String,
    },
}

/// `ferry workspace user …`.
#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Add {
        /// Email (the login name).
        email: String,
        /// Password. Other users of this machine can see it in `ps` (and shells keep it in their
        /// history): prefer --password-stdin.
        #[arg(
            long,
            env = "FERRY_WORKSPACE_PASSWORD",
            hide_env_values = true,
            required_unless_present = "password_stdin",
            conflicts_with = "password_stdin"
        )]
        password: Option<String>,
        /// Read the password from the first line of standard input (e.g. `pass show ws | ferry …`).
        #[arg(long)]
        password_stdin: bool,
    },
}

/// Reads a password from the first line of standard input; only the line ending is removed.
fn password_from_stdin() -> anyhow::Result<String> {
    Ok(ferry_security::password::read_line(
        std::io::stdin().lock(),
        "ferry workspace user add EMAIL",
    )?)
}

fn when(millis: Option<i64>, none: &str) -> String {
    millis.map(accounts::display_time).unwrap_or_else(|| none.to_string())
}

/// The `api-key list` table.
fn key_table(keys: &[ApiKeyInfo], now: i64) -> String {
    let header = ["ID", "NAME", "CREATED", "EXPIRES", "LAST USED", "STATUS"].map(str::to_string);
    let rows: Vec<[String; 6]> = keys
        .iter()
        .map(|key| {
            [
                key.id.clone(),
                if key.name.is_empty() {
                    "-".to_string()
                } else {
                    key.name.clone()
                },
                accounts::display_time(key.created_at),
                when(key.expires_at, "never"),
                when(key.last_used_at, "never"),
                key.status_at(now).to_string(),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
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
        signup: args.signup,
    };
    if args.command.is_some() {
        // Admin commands work on an existing workspace and never create one.
        let url = config
            .database_url
            .clone()
            .unwrap_or_else(|| ferry_db::sqlite_url(&config.data_dir.join(crate::DATABASE_FILE)));
        ferry_db::require_existing(&url, "workspace")?;
    }
    match args.command {
        Some(WorkspaceCommand::User(UserCommand::Add {
            email,
            password,
            password_stdin,
        })) => {
            let password = match password {
                Some(password) if !password_stdin => password,
                _ => password_from_stdin()?,
            };
            let workspace = Workspace::open(config).await?;
            workspace.add_user(&email, &password).await?;
            eprintln!("Created workspace user {email}.");
            Ok(())
        }
        Some(WorkspaceCommand::ApiKey(keys)) => {
            let workspace = Workspace::open(config).await?;
            match (keys.command, keys.user) {
                (Some(ApiKeyCommand::List { user }), _) => {
                    let list = workspace.list_api_keys(&user).await?;
                    if list.is_empty() {
                        eprintln!("{user} has no API keys; create one with `ferry workspace api-key --user {user}`.");
                    } else {
                        print!("{}", key_table(&list, ferry_api::dates::now_millis()));
                    }
                }
                (Some(ApiKeyCommand::Revoke { id }), _) => match workspace.revoke_api_key(&id).await? {
                    Some((email, key)) => {
                        let name = if key.name.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", key.name)
                        };
                        eprintln!(
                            "Revoked API key {}{name} of {email}: scripts using it now get 401 Unauthorized.",
                            key.id
                        );
                    }
                    None => anyhow::bail!(
                        "no API key has the id {id:?}; see the ids with `ferry workspace api-key list --user EMAIL`"
                    ),
                },
                (None, Some(user)) => {
                    let new = workspace
                        .create_named_api_key(&user, keys.name.as_deref().unwrap_or(""), keys.expires_in)
                        .await?;
                    println!("{}", new.key);
                }
                (None, None) => anyhow::bail!("give --user EMAIL to create a key, or `list` / `revoke`"),
            }
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

    fn parse(flags: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("workspace").chain(flags.iter().copied()))
    }

    #[test]
    fn api_key_creates_with_flags_and_lists_or_revokes_with_subcommands() {
        let key = |flags: &[&str]| match parse(flags).map(|cli| cli.args.command) {
            Ok(Some(WorkspaceCommand::ApiKey(args))) => Ok(args),
            Ok(other) => panic!("not api-key: {other:?}"),
            Err(error) => Err(error),
        };
        let create = key(&["api-key", "--user", "a@example.org"]).unwrap();
        assert_eq!(create.user.as_deref(), Some("a@example.org"));
        assert!(create.command.is_none() && create.expires_in.is_none());
        let named = key(&[
            "api-key",
            "--user",
            "a@example.org",
            "--name",
            "ci",
            "--expires-in",
            "30d",
        ])
        .unwrap();
        assert_eq!(named.name.as_deref(), Some("ci"));
        assert_eq!(named.expires_in, Some(std::time::Duration::from_secs(30 * 86400)));
        let bad = key(&["api-key", "--user", "a@example.org", "--expires-in", "3y"]).unwrap_err();
        assert!(bad.to_string().contains("unknown unit"), "{bad}");
        assert!(key(&["api-key"]).is_err(), "creating needs --user");
        let list = key(&["api-key", "list", "--user", "a@example.org"]).unwrap();
        assert!(matches!(list.command, Some(ApiKeyCommand::List { user }) if user == "a@example.org"));
        let revoke = key(&["api-key", "revoke", "abc"]).unwrap();
        assert!(matches!(revoke.command, Some(ApiKeyCommand::Revoke { id }) if id == "abc"));
        assert!(key(&["api-key", "--user", "a@example.org", "list"]).is_err());
    }

    #[test]
    fn data_dir_database_url_and_signup_parse_after_the_subcommand_too() {
        let cli = parse(&["api-key", "list", "--user", "a@example.org", "--data-dir", "/tmp/ws"]).unwrap();
        assert_eq!(cli.args.data_dir, std::path::Path::new("/tmp/ws"));
        let cli = parse(&[
            "user",
            "add",
            "a@example.org",
            "--password-stdin",
            "--database-url",
            "sqlite://x",
        ])
        .unwrap();
        assert_eq!(cli.args.database_url.as_deref(), Some("sqlite://x"));
        if std::env::var_os("FERRY_WORKSPACE_SIGNUP").is_none() {
            assert_eq!(cli.args.signup, SignupMode::Closed, "closed unless asked");
        }
        assert_eq!(parse(&["--signup", "open"]).unwrap().args.signup, SignupMode::Open);
        if std::env::var_os("FERRY_WORKSPACE_PASSWORD").is_none() {
            assert!(
                parse(&["user", "add", "a@example.org"]).is_err(),
                "a password is needed"
            );
        }
        let both = parse(&["user", "add", "a@example.org", "--password", "x", "--password-stdin"]).unwrap_err();
        assert_eq!(both.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn the_key_table_has_a_column_per_fact() {
        let keys = [ApiKeyInfo {
            id: "k1".into(),
            name: "nightly sync".into(),
            created_at: 0,
            expires_at: Some(1000),
            last_used_at: None,
            revoked_at: None,
        }];
        let table = key_table(&keys, 2000);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("ID") && lines[0].ends_with("STATUS"), "{table}");
        assert!(
            lines[1].contains("nightly sync") && lines[1].ends_with("expired"),
            "{table}"
        );
        assert!(
            lines[1].contains("1970-01-01 00:00 UTC") && lines[1].contains("never"),
            "{table}"
        );
    }
}
