//! Ferry workspace: link BaseSpace accounts and import samples with verification.
//!
//! [`Workspace`] is the server behind `ferry workspace`: accounts (sign up, log in, sessions with
//! CSRF-protected forms), Profile → "BaseSpace Account Details" (tokens checked against the region,
//! sealed at rest), Samples → "Import from BaseSpace" with live progress, sample pages with file
//! downloads, and a JSON API (`/api/v1/…`, Bearer API keys) described at `/api/openapi.json`.
//! Imports run in the background through [`import::ImportService`].

#![recursion_limit = "512"]

pub mod accounts;
mod api;
pub mod basespace;
pub mod browse;
pub mod cli;
pub mod crypto;
pub mod import;
mod openapi;
pub mod testing;
mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use ferry_db::Db;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::basespace::Links;
use crate::crypto::Keyring;
use crate::import::{ImportConfig, ImportService};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The workspace's SQLite database in its data folder (unless `--database-url` names another).
pub const DATABASE_FILE: &str = "workspace.db";

/// Settings of a workspace server.
#[derive(Debug, Clone)]
pub struct WorkspaceConfig {
    /// Address the server listens on (informational; [`Workspace::serve`] takes the listener).
    pub listen: SocketAddr,
    /// Folder for the database (SQLite), the key file and imported files.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: SQLite `workspace.db` in the data folder.
    pub database_url: Option<String>,
    /// The URL users reach the server at (an `https` URL makes cookies `Secure`).
    pub public_url: Option<url::Url>,
    /// Where imported files are kept: `s3://bucket/prefix` (endpoint, region and credentials from
    /// the standard `AWS_*` variables), `file:///abs/dir` or a path. Default: `files` in the data folder.
    /// Web and worker processes of one workspace must share it.
    pub storage_url: Option<String>,
    /// API servers users may link to besides Illumina's regions (`--allow-api-server`): only
    /// these may be on loopback or private addresses. Each is a URL (`http://127.0.0.1:8041`).
    pub allowed_api_servers: Vec<String>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`--trusted-proxy`): addresses
    /// or CIDR blocks.
    pub trusted_proxies: Vec<String>,
    /// Whether anyone may create an account at `/signup`.
    pub signup: SignupMode,
}

/// Who may create workspace accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SignupMode {
    /// Anyone who reaches the workspace may sign up (`ferry up`, trusted networks).
    Open,
    /// Only administrators create accounts (`ferry workspace user add EMAIL`); `/signup` says so.
    #[default]
    Closed,
}

pub(crate) struct State {
    pub(crate) db: Db,
    pub(crate) links: Links,
    pub(crate) imports: ImportService,
    /// Cookies always `Secure` (public URL is https); otherwise only behind `X-Forwarded-Proto: https`.
    pub(crate) always_secure: bool,
    /// Wrong passwords per (account, client) and per client, to slow down password guessing.
    pub(crate) login_failures: ferry_security::LoginThrottle,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub(crate) trusted_proxies: ferry_security::TrustedProxies,
    /// Whether `/signup` creates accounts.
    pub(crate) signup: SignupMode,
}

/// An opened workspace: database migrated, key loaded, import service ready. Cheap to clone.
#[derive(Clone)]
pub struct Workspace {
    state: Arc<State>,
    config: WorkspaceConfig,
    /// The imported-files store (also held by the import service).
    store: ferry_store::BlobStore,
}

impl Workspace {
    /// Creates the data folder if needed, opens and migrates the database, loads (or creates)
    /// the key that seals BaseSpace tokens, and prepares the import service.
    pub async fn open(config: WorkspaceConfig) -> anyhow::Result<Workspace> {
        Self::open_with(config, ImportConfig::default()).await
    }

    /// Like [`Workspace::open`] with import tuning (tests use short leases and retries).
    pub async fn open_with(config: WorkspaceConfig, import_config: ImportConfig) -> anyhow::Result<Workspace> {
        Self::open_with_s3(config, import_config, &ferry_store::S3Options::from_env()).await
    }

    /// Like [`Workspace::open_with`], with the endpoint, region and credentials of an `s3://`
    /// [`WorkspaceConfig::storage_url`] taken from `s3` instead of the `AWS_*` variables.
    pub async fn open_with_s3(
        config: WorkspaceConfig,
        import_config: ImportConfig,
        s3: &ferry_store::S3Options,
    ) -> anyhow::Result<Workspace> {
        // Only the workspace's own user reads its database, key and files.
        ferry_store::private_fs::ensure_private_dir(&config.data_dir)
            .context("cannot prepare the workspace data folder")?;
        let url = match &config.database_url {
            Some(url) => url.clone(),
            None => ferry_db::sqlite_url(&config.data_dir.join(DATABASE_FILE)),
        };
        let allowed = basespace::ServerAllowList::new(&config.allowed_api_servers).map_err(anyhow::Error::msg)?;
        let trusted_proxies =
            ferry_security::TrustedProxies::parse(&config.trusted_proxies).map_err(anyhow::Error::msg)?;
        let db = Db::connect(&url).await?;
        db.migrate(&MIGRATOR).await?;
        let keyring = Arc::new(Keyring::load_or_create(&config.data_dir)?);
        let links = Links::new(db.clone(), keyring, allowed);
        let store = match &config.storage_url {
            Some(url) => ferry_store::BlobStore::from_url_with(url, s3).with_context(|| {
                format!("cannot open the workspace file store {url:?} (--storage-url / FERRY_WORKSPACE_STORAGE_URL)")
            })?,
            None => {
                let files_dir = config.data_dir.join("files");
                ferry_store::BlobStore::local(&files_dir)
                    .with_context(|| format!("cannot open the file store in {}", files_dir.display()))?
            }
        };
        let mut import_config = import_config;
        import_config
            .identity_file
            .get_or_insert_with(|| config.data_dir.join("worker.id"));
        let imports = ImportService::new(db.clone(), store.clone(), Arc::new(links.clone()), import_config);
        let always_secure = config.public_url.as_ref().is_some_and(|url| url.scheme() == "https");
        let login_failures = ferry_security::LoginThrottle::new(db.clone(), "login");
        Ok(Workspace {
            state: Arc::new(State {
                db,
                links,
                imports,
                always_secure,
                login_failures,
                trusted_proxies,
                signup: config.signup,
            }),
            config,
            store,
        })
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &WorkspaceConfig {
        &self.config
    }

    /// The imported-files store.
    pub fn store(&self) -> &ferry_store::BlobStore {
        &self.store
    }

    /// The import service (tests drive it step by step with `run_one`).
    pub fn imports(&self) -> &ImportService {
        &self.state.imports
    }

    /// The web pages, the JSON API and the OpenAPI document.
    pub fn router(&self) -> axum::Router {
        let routes = web::router(self.state.clone())
            .merge(api::router(self.state.clone()))
            // Forms and JSON bodies are small; nothing is uploaded to the workspace.
            .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
            .layer(tower_http::catch_panic::CatchPanicLayer::new())
            .layer(axum::Extension(self.state.trusted_proxies.clone()));
        // URIs and headers never carry BaseSpace tokens (those travel only in request bodies).
        ferry_security::http::with_request_ids(routes)
    }

    /// Serves on `listener` and runs the import workers until `shutdown` resolves; then stops
    /// accepting requests, lets in-flight ones finish and stops the workers at a safe point.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.serve_with(listener, shutdown, true).await
    }

    /// Like [`Workspace::serve`]; `workers: false` serves without background import workers
    /// (`ferry workspace --mode web`: imports stay queued until a worker process takes them).
    pub async fn serve_with(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
        workers: bool,
    ) -> anyhow::Result<()> {
        if workers {
            self.prepare_store().await?;
        }
        let stop = CancellationToken::new();
        let worker_task = workers.then(|| self.state.imports.spawn_workers(stop.clone()));
        let address = listener.local_addr().ok();
        tracing::info!(?address, "workspace listening");
        let app = self.router();
        let stop_on_signal = stop.clone();
        let result = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                shutdown.await;
                stop_on_signal.cancel();
            })
            .await
            .context("the workspace server failed");
        stop.cancel();
        if let Some(task) = worker_task {
            let _ = task.await;
        }
        result
    }

    /// Runs only the import workers (`ferry workspace --mode worker`), no HTTP listener, until
    /// `shutdown` resolves; then stops them at a safe point (a file being transferred is left to
    /// resume from its lease). Any number of worker processes may share one PostgreSQL database.
    pub async fn run_workers(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        self.prepare_store().await?;
        tracing::info!(store = %self.store.location(), "workspace import workers running");
        let stop = CancellationToken::new();
        let mut task = self.state.imports.spawn_workers(stop.clone());
        tokio::select! {
            () = shutdown => {}
            result = &mut task => {
                result.context("the import workers stopped unexpectedly")?;
                anyhow::bail!("the import workers stopped unexpectedly");
            }
        }
        stop.cancel();
        task.await.context("the import workers failed while stopping")
    }

    /// Removes what killed writes left in the file store (older than a day, so writes of other
    /// running processes are untouched). Fails early, with the store's location, when the store
    /// cannot be reached (wrong endpoint, credentials or permissions).
    async fn prepare_store(&self) -> anyhow::Result<()> {
        let removed = self
            .store
            .remove_stale_temporaries(std::time::Duration::from_secs(24 * 60 * 60))
            .await
            .with_context(|| format!("cannot use the workspace file store at {}", self.store.location()))?;
        if removed > 0 {
            tracing::info!(removed, store = %self.store.location(), "removed temporaries of interrupted writes");
        }
        Ok(())
    }

    /// Creates a workspace user (admin command: no minimum password length).
    pub async fn add_user(&self, email: &str, password: &str) -> anyhow::Result<()> {
        accounts::create_user(&self.state.db, email, password, true).await?;
        Ok(())
    }

    /// Creates the user unless an account with that email exists (demo setup; idempotent).
    pub async fn ensure_user(&self, email: &str, password: &str) -> anyhow::Result<()> {
        match accounts::create_user(&self.state.db, email, password, true).await {
            Ok(_) | Err(accounts::AccountError::EmailTaken(_)) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Creates a new API key for the user with this email and returns it (it is not stored, only its hash).
    pub async fn create_api_key(&self, email: &str) -> anyhow::Result<String> {
        Ok(self.create_named_api_key(email, "", None).await?.key)
    }

    /// Creates a new API key named `name` for the user with this email, expiring after `lifetime`
    /// (`None`: never).
    pub async fn create_named_api_key(
        &self,
        email: &str,
        name: &str,
        lifetime: Option<std::time::Duration>,
    ) -> anyhow::Result<accounts::NewApiKey> {
        let user = accounts::find_user(&self.state.db, email).await?;
        Ok(accounts::create_api_key(&self.state.db, &user, name, lifetime).await?)
    }

    /// The API keys of the user with this email, newest first.
    pub async fn list_api_keys(&self, email: &str) -> anyhow::Result<Vec<accounts::ApiKeyInfo>> {
        let user = accounts::find_user(&self.state.db, email).await?;
        Ok(accounts::list_api_keys(&self.state.db, &user).await?)
    }

    /// Revokes any user's API key by id; returns the owner's email and the key, `None` if no key has this id.
    pub async fn revoke_api_key(&self, id: &str) -> anyhow::Result<Option<(String, accounts::ApiKeyInfo)>> {
        Ok(accounts::revoke_any_api_key(&self.state.db, id).await?)
    }
}
