//! Test support for this crate's and other crates' integration tests: a workspace server on
//! `127.0.0.1:0` with its own temporary data folder and a fresh database (PostgreSQL when
//! `FERRY_TEST_POSTGRES_URL` is set, else SQLite).

use std::path::PathBuf;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::import::ImportConfig;
use crate::{SignupMode, Workspace, WorkspaceConfig};

/// Password given to users made by [`TestWorkspace::user`].
pub const TEST_PASSWORD: &str = "correct horse battery";

/// Options of [`TestWorkspace::start_with`].
#[derive(Debug, Clone)]
pub struct TestOptions {
    /// Run background import workers (false: tests drive `imports().run_one()`).
    pub workers: bool,
    /// Import tuning (defaults to short leases and retries so tests are quick).
    pub import: ImportConfig,
    /// File store URL ([`WorkspaceConfig::storage_url`]); `None`: `files` in the data folder.
    pub storage_url: Option<String>,
    /// Endpoint, region and credentials of an `s3://` `storage_url`; `None`: the `AWS_*` variables.
    pub s3: Option<ferry_store::S3Options>,
    /// API servers users may link to besides Illumina's regions ([`WorkspaceConfig::allowed_api_servers`]).
    pub allowed_api_servers: Vec<String>,
    /// Trusted reverse proxies ([`WorkspaceConfig::trusted_proxies`]).
    pub trusted_proxies: Vec<String>,
    /// Sign-up mode; tests sign up through the forms, so the default is [`SignupMode::Open`].
    pub signup: SignupMode,
}

impl Default for TestOptions {
    fn default() -> Self {
        TestOptions {
            workers: true,
            import: ImportConfig {
                // Long enough that a loaded CI machine does not look like a dead worker.
                lease: Duration::from_secs(15),
                retry_base: Duration::from_millis(100),
                poll_interval: Duration::from_millis(100),
                progress_interval: Duration::from_millis(100),
                ..ImportConfig::default()
            },
            storage_url: None,
            s3: None,
            allowed_api_servers: Vec::new(),
            trusted_proxies: Vec::new(),
            signup: SignupMode::Open,
        }
    }
}

/// A running workspace for tests. Dropping it stops the server.
pub struct TestWorkspace {
    /// Base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub url: String,
    /// Data folder (key file, SQLite database, imported files).
    pub data_dir: PathBuf,
    /// Database URL.
    pub database_url: String,
    /// The opened workspace (add users, make API keys, drive imports).
    pub workspace: Workspace,
    options: TestOptions,
    shutdown: CancellationToken,
    server: Option<JoinHandle<()>>,
    workers: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestWorkspace {
    /// Starts a workspace with background import workers.
    pub async fn start() -> TestWorkspace {
        Self::start_with(TestOptions::default()).await
    }

    /// Starts a workspace with background import workers whose users may link to `servers`
    /// (test hubs on 127.0.0.1).
    pub async fn start_allowing(servers: &[&str]) -> TestWorkspace {
        Self::start_with(TestOptions {
            allowed_api_servers: servers.iter().map(|server| server.to_string()).collect(),
            ..TestOptions::default()
        })
        .await
    }

    /// Starts a workspace with these options.
    pub async fn start_with(options: TestOptions) -> TestWorkspace {
        let dir = tempfile::tempdir().expect("temporary folder for the test workspace");
        let data_dir = dir.path().join("workspace");
        let database_url = ferry_db::testing::fresh_database_url(dir.path()).await;
        let (workspace, url, shutdown, server, workers) = launch(&data_dir, &database_url, &options).await;
        TestWorkspace {
            url,
            data_dir,
            database_url,
            workspace,
            options,
            shutdown,
            server: Some(server),
            workers,
            _dir: dir,
        }
    }

    /// Creates a user with [`TEST_PASSWORD`] and returns a new API key for it.
    pub async fn user(&self, email: &str) -> String {
        self.workspace
            .add_user(email, TEST_PASSWORD)
            .await
            .expect("create test user");
        self.workspace.create_api_key(email).await.expect("create API key")
    }

    /// Stops gracefully (workers stop at a safe point).
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        if let Some(workers) = self.workers.take() {
            let _ = workers.await;
        }
    }

    /// Stops abruptly, as a crash would: the server and worker tasks are aborted mid-work.
    pub async fn kill(&mut self) {
        if let Some(workers) = self.workers.take() {
            workers.abort();
            let _ = workers.await;
        }
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
        self.shutdown.cancel();
    }

    /// Stops (if running) and starts again on the same data folder and database, on a new port.
    pub async fn restart(&mut self) {
        self.stop().await;
        let (workspace, url, shutdown, server, workers) =
            launch(&self.data_dir, &self.database_url, &self.options).await;
        self.workspace = workspace;
        self.url = url;
        self.shutdown = shutdown;
        self.server = Some(server);
        self.workers = workers;
    }
}

impl Drop for TestWorkspace {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(workers) = self.workers.take() {
            workers.abort();
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

async fn launch(
    data_dir: &std::path::Path,
    database_url: &str,
    options: &TestOptions,
) -> (
    Workspace,
    String,
    CancellationToken,
    JoinHandle<()>,
    Option<JoinHandle<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let address = listener.local_addr().expect("local address");
    let config = WorkspaceConfig {
        listen: address,
        data_dir: data_dir.to_path_buf(),
        database_url: Some(database_url.to_string()),
        public_url: None,
        storage_url: options.storage_url.clone(),
        allowed_api_servers: options.allowed_api_servers.clone(),
        trusted_proxies: options.trusted_proxies.clone(),
        signup: options.signup,
    };
    let s3 = options.s3.clone().unwrap_or_else(ferry_store::S3Options::from_env);
    let workspace = Workspace::open_with_s3(config, options.import.clone(), &s3)
        .await
        .expect("open test workspace");
    let shutdown = CancellationToken::new();
    let workers = options
        .workers
        .then(|| workspace.imports().spawn_workers(shutdown.clone()));
    let router = workspace.router();
    let stop = shutdown.clone();
    let server = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(stop.cancelled_owned())
        .await;
    });
    (workspace, format!("http://{address}"), shutdown, server, workers)
}
