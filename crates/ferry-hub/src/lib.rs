//! Ferry hub: a self-hostable server speaking BaseSpace Sequence Hub's REST API (v2, plus the
//! v1pre3 pieces clients still use), with device login, users, workgroups and a blob store.
//!
//! Open a [`Hub`] with a [`HubConfig`], then [`Hub::serve`] it on a listener. The `ferry hub`
//! subcommand lives in [`cli`]; other crates' tests start one with [`testing::TestHub`].
//!
//! Every resource belongs to one *context*: a user's personal context (the user's ID) or a
//! workgroup (the workgroup's ID). A token acts in exactly one context and sees nothing else:
//! a resource of another context answers exactly like an unknown ID (404
//! `BASESPACE.COMMON.NOT_FOUND`), on every endpoint, content URL and signed URL.
//!
//! # Endpoints
//! - Identity: `GET /v2/users/current`, `/v2/users/{id}`, `/v2/users/{id}/workgroups`,
//!   `/v2/workgroups/{id}`, `/v1pre3/users/current`, `/v1pre3/users/{id}`, `DELETE /v2/oauthv2tokens/current`,
//!   `GET /v1pre3/oauthv2/token/current` (scopes).
//! - Device login: `POST /v1pre3/oauthv2/deviceauthorization`, `POST /v1pre3/oauthv2/token`
//!   (`grant_type=device&code=…` or the RFC 8628 spelling), pages at `/oauth/device`.
//! - Legacy samples (the v1pre3 face of FASTQ datasets): `GET /v1pre3/projects/{id}/samples`,
//!   `/v1pre3/samples/{id}`, `/v1pre3/samples/{id}/files`.
//! - Projects: `GET /v1pre3/users/current/projects` (`Name`), `GET /v2/projects/{id}`,
//!   `GET /v1pre3/projects/{id}`, `POST /v2/projects` and `POST /v1pre3/projects` (both return the
//!   existing project of the same name in the context).
//! - Biosamples: `GET /v2/biosamples` (`projectid`, `biosamplename`), `GET /v2/biosamples/{id}`,
//!   `POST /v2/biosamples {BioSampleName, DefaultProjectId}` (200; the existing one for a known
//!   name and project).
//! - Datasets: `GET /v2/datasets` (`projectid`, `inputbiosamples`, `inputruns`, `appsessionids`,
//!   `datasettypes` with `~common.fastq`, `uploadstatus`), `GET /v2/projects/{id}/datasets`,
//!   `GET /v2/datasets/{id}`, `POST /v2/projects/{id}/datasets {Name, AppSessionId,
//!   DatasetTypeId, Attributes, BiosampleId | Biosample:{Id}, RunId | Run:{Id}}` (UploadStatus
//!   `Pending`), `POST /v2/datasets/{id} {UploadStatus:"Complete", …}`.
//! - Files: `GET /v2/datasets/{id}/files` (`extensions`, `directory`, `includesubdirectories`,
//!   `pathprefix`; a listing of one `directory` adds `SubDirectories`, the folders directly in it,
//!   each with the Href of its own listing; without `directory` every file is listed),
//!   `GET /v2/runs/{id}/files`, `GET /v2/files/{id}`, `GET /v1pre3/files/{id}`,
//!   `GET /v2|v1pre3/files/{id}/content` (302 to a signed URL served by the hub with `Range`, as
//!   an attachment whose Content-Type comes from the file name, never `text/html`;
//!   `?redirect=meta` gives `{HrefContent, Expires, SupportsRange}` in the v1pre3 envelope).
//! - Uploads: `GET /v2/datasets/{id}/file-upload-info?filepath=&uploadpartcount=N` (N > 1:
//!   `MultipartUploadId` + `MultipartTemplate` with `{partNumber}`; else `SinglePartUrl`), `PUT`
//!   the parts (answer `ETag: "<md5>"`; a part may be sent again), `POST` the same path
//!   `{UploadId?, FilePath, PartEtags, Size?, ContentType?}` to publish the file (ETag: MD5 for a
//!   single part, `md5-of-md5s-N` for multipart); `POST /v2/datasets/{id}/files` (form field
//!   `file`, `filepath` in the query); legacy `POST /v1pre3/datasets|samples/{id}/files?name=
//!   &directory=&multipart=true`, `PUT /v1pre3/files/{id}/parts/{n}` (`Content-MD5` checked),
//!   `POST /v1pre3/files/{id}?uploadstatus=complete|aborted`.
//! - Runs and appsessions: `GET /v2/runs`, `/v2/runs/{id}`, legacy `GET /v1pre3/users/current/runs`,
//!   `/v1pre3/runs/{id}`, `/v1pre3/runs/{id}/files`, `GET /v2/appsessions`,
//!   `/v2/appsessions/{id}`, `POST /v2/appsessions` (201, Purpose AppUpload, Running),
//!   `POST /v2/appsessions/{id}`, `POST /v1pre3/appsessions/{id}?status=complete`.
//! - Applications and launches: `GET /v2/applications[/{id}[/versions|/settings]]`,
//!   `GET /v1pre3/applications[/{id}]`, `POST /v1pre3/applications/{id}/appsessions` (launch),
//!   `POST /v2/appsessions/{id}/stop`, `DELETE /v2/appsessions/{id}`, `GET
//!   /v2/appsessions/{id}/logfiles`, `GET /v1pre3/users/current/appsessions`; the apps run in
//!   [`jobs`].
//! - Properties: `GET /v2/{projects|biosamples|datasets|runs|appsessions}/{id}/properties[/{name}
//!   [/items]]`, `POST`/`DELETE` on app sessions, legacy `POST /v1pre3/{projects|samples|runs|
//!   appsessions}/{id}/properties`.
//! - Archiving: `POST /v2/archive`, `POST /v2/restore` (`IsArchived`; archived bytes refused until
//!   a restore of `--restore-seconds` has finished).
//! - Legacy uploads: `POST /v1pre3/projects/{id}/samples?appsessionid=` then the files; completing
//!   the session (`status=complete`) completes its samples.
//! - Operations: `GET /health`, `X-Request-ID` on every answer and in error bodies,
//!   `X-Content-Type-Options: nosniff` on every answer.
//!
//! # Storage and several instances
//! File bytes live in a [`ferry_store::BlobStore`]: the folder `blobs` in the data directory by
//! default, or any store named by `--storage-url` ([`HubConfig::storage_url`]): `s3://bucket/prefix`
//! on an S3-compatible service (endpoint, region and credentials from `--s3-endpoint`,
//! `--s3-region` and the standard `AWS_*` environment), `file:///dir` or a path. Content URLs
//! always point at the hub, which streams the bytes from the store and honours `Range`; the store
//! itself never needs to be reachable by clients.
//!
//! Several `ferry hub` processes may serve one database (PostgreSQL) and one store: everything
//! they share lives there. The URL-signing key is in the database's `settings` table (made once by
//! whichever instance starts first), so a content or upload-part URL signed by one instance is
//! honoured by all; device codes, tokens and web sessions are rows; multipart parts are staged in
//! the store, so an upload may be started, fed and completed through different instances, and
//! failed logins and code guesses are counted there too (one budget, however many instances).
//! Only the cache of large list counts is per process (see below).
//!
//! # Listing cost
//! A list page costs a fixed number of queries whatever its length (the rows, then one query each
//! for the owners, embedded projects, appsessions or biosample outputs of the whole page), each
//! read in order from an index that matches the filter and the default sort. `TotalCount` is free
//! when the page is short (it shows where the list ends); otherwise it needs a `COUNT`, which
//! walks every matching index entry, so for lists of 10 000 rows or more a count a few
//! seconds old is reused (one request at a time refreshes it). A deep `Offset` still walks the skipped index entries (about 40 ms at
//! offset 100 000 on SQLite).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

mod api;
pub mod apps;
mod auth;
mod blob;
pub mod cli;
mod db;
pub mod demo;
mod error;
mod ids;
pub mod jobs;
mod params;
mod render;
mod router;
mod runners;
mod runners_fastq;
mod served_type;
mod signing;
pub mod testing;
mod web;

pub use api::oauth::DEVICE_AUTHORIZATIONS_PER_MINUTE;
pub use error::ApiError;
pub use web::FREE_CODE_GUESSES;

/// The hub's SQLite database in its data folder (unless `--database-url` names another).
pub const DATABASE_FILE: &str = "hub.db";

/// Largest part (or single-part file) accepted by an upload URL, unless configured otherwise.
pub const DEFAULT_MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// How the hub is configured.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Address to listen on (`127.0.0.1:8041` by default in the CLI).
    pub listen: SocketAddr,
    /// Directory for the SQLite database (by default) and the blob store.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; `None`: a SQLite file `hub.db` in `data_dir`.
    pub database_url: Option<String>,
    /// Base URL for Hrefs, signed URLs and login URLs; `None`: `http://{listen}`.
    pub public_url: Option<url::Url>,
    /// Seed demo data (idempotent) when set.
    pub demo: Option<DemoOptions>,
    /// Where file bytes live: `s3://bucket/prefix`, `file:///dir` or a path; `None`: the folder
    /// `blobs` in `data_dir`. Several hub instances sharing one database must share this store.
    pub storage_url: Option<String>,
    /// Endpoint, region and credentials of an `s3://` store; `None`: the standard AWS environment
    /// variables ([`ferry_store::S3Options::from_env`]). A store without a staging directory of
    /// its own stages resumable writes in `data_dir/s3-staging`.
    pub s3_options: Option<ferry_store::S3Options>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (`--trusted-proxy`); empty: none, and
    /// every client is the address its connection comes from.
    pub trusted_proxies: ferry_security::TrustedProxies,
    /// How launched applications run (`--app-workers`, `--app-lease-seconds`).
    pub app_runner: jobs::AppRunnerOptions,
    /// How long a restore of archived data takes (`--restore-seconds`).
    pub restore_delay: std::time::Duration,
}

/// How long a restore takes unless configured: BaseSpace's take hours.
pub const DEFAULT_RESTORE_DELAY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Size of the demo data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOptions {
    /// Reads in each demo FASTQ file (12 files). The default (2 000) keeps tests fast. Each read
    /// adds about 113 bytes of gzip: 75 000 reads give files over 8 MiB (multipart ETags, as
    /// BaseSpace reports for large files), 10 000 000 reads about 1.1 GB per file.
    pub reads_per_file: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self { reads_per_file: 2_000 }
    }
}

/// Shared state behind every request.
pub(crate) struct State {
    pub db: ferry_db::Db,
    pub blobs: blob::Blobs,
    pub signer: signing::Signer,
    /// Public base URL without a trailing slash (`http://127.0.0.1:8041`).
    pub base: String,
    pub max_part_size: u64,
    /// Wrong passwords on the sign-in page, per (account, client) and per client.
    pub logins: ferry_security::LoginThrottle,
    /// Wrong device codes, per client.
    pub code_guesses: ferry_security::Throttle,
    /// Device authorizations started, per client.
    pub device_authorizations: ferry_security::RateLimit,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`--trusted-proxy`).
    pub trusted_proxies: ferry_security::TrustedProxies,
    /// Counts of large lists, reused briefly.
    pub counts: db::CountCache,
    /// How launched applications run here.
    pub app_runner: jobs::AppRunnerOptions,
    /// Wakes this process's app workers when a job is queued.
    pub jobs: jobs::JobQueue,
    /// Where app jobs keep their temporary files (`DATA_DIR/app-work`).
    pub app_work_dir: PathBuf,
    /// How long a restore of archived data takes.
    pub restore_delay: std::time::Duration,
}

/// An opened hub: database migrated, blob store ready, signing key loaded, demo data seeded.
#[derive(Clone)]
pub struct Hub {
    pub(crate) state: Arc<State>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Hub {
    /// Opens (creating if needed) the hub's data directory and database, applies migrations,
    /// loads or creates the URL-signing key and seeds demo data when asked (idempotent).
    pub async fn open(config: HubConfig) -> anyhow::Result<Hub> {
        // Only the hub's user may read its database (the signing key), blobs and staging files.
        ferry_store::private_fs::ensure_private_dir(&config.data_dir)
            .context("cannot prepare the hub data directory")?;
        let database_url = match &config.database_url {
            Some(url) => url.clone(),
            None => ferry_db::sqlite_url(&config.data_dir.join(DATABASE_FILE)),
        };
        let db = ferry_db::Db::connect(&database_url).await?;
        db.migrate(&MIGRATOR).await?;
        apps::seed(&db)
            .await
            .context("cannot write the built-in applications")?;
        let store = match &config.storage_url {
            None => ferry_store::BlobStore::local(config.data_dir.join("blobs"))
                .with_context(|| format!("cannot open the blob store in {}", config.data_dir.display()))?,
            Some(url) => {
                let mut options = config
                    .s3_options
                    .clone()
                    .unwrap_or_else(ferry_store::S3Options::from_env);
                if options.staging_dir.is_none() {
                    options.staging_dir = Some(config.data_dir.join("s3-staging"));
                }
                ferry_store::BlobStore::from_url_with(url, &options)
                    .with_context(|| format!("cannot open the hub's storage at {url} (--storage-url)"))?
            }
        };
        tracing::info!(location = %store.location(), "blob store");
        let blobs = blob::Blobs::with_store(store).await;
        let signer = signing::Signer::load_or_create(&db).await?;
        let base = match &config.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_string(),
            None => format!("http://{}", config.listen),
        };
        let logins = ferry_security::LoginThrottle::new(db.clone(), "hub-login");
        let code_guesses = ferry_security::Throttle::new(db.clone(), web::CODE_GUESS_BACKOFF);
        let device_authorizations = ferry_security::RateLimit::new(
            db.clone(),
            api::oauth::DEVICE_AUTHORIZATIONS_PER_MINUTE,
            std::time::Duration::from_secs(60),
        );
        let hub = Hub {
            state: Arc::new(State {
                db,
                blobs,
                signer,
                base,
                max_part_size: DEFAULT_MAX_PART_SIZE,
                logins,
                code_guesses,
                device_authorizations,
                trusted_proxies: config.trusted_proxies.clone(),
                counts: db::CountCache::default(),
                app_runner: config.app_runner.clone(),
                jobs: jobs::JobQueue::default(),
                app_work_dir: config.data_dir.join("app-work"),
                restore_delay: config.restore_delay,
            }),
        };
        hub.abort_abandoned_uploads().await?;
        if let Some(options) = &config.demo {
            demo::seed(&hub, options).await.context("cannot seed the demo data")?;
        }
        Ok(hub)
    }

    /// Aborts uploads left pending past their URLs' lifetime (plus a day): their parts would
    /// otherwise stay in the blob store forever.
    async fn abort_abandoned_uploads(&self) -> anyhow::Result<()> {
        let cutoff = ferry_api::dates::now_millis() - (api::uploads::UPLOAD_URL_SECONDS + 24 * 3600) * 1000;
        let abandoned: Vec<(String, String)> =
            sqlx::query_as("SELECT id, file_id FROM uploads WHERE status = 'pending' AND created < $1")
                .bind(cutoff)
                .fetch_all(&self.state.db.pool)
                .await?;
        for (upload_id, file_id) in abandoned {
            if let Err(error) = self.state.blobs.abort_multipart(&upload_id).await {
                tracing::warn!(%upload_id, %error, "cannot remove the parts of an abandoned upload");
                continue;
            }
            sqlx::query("UPDATE uploads SET status = 'aborted' WHERE id = $1 AND status = 'pending'")
                .bind(&upload_id)
                .execute(&self.state.db.pool)
                .await?;
            sqlx::query("UPDATE files SET status = 'aborted' WHERE id = $1 AND status = 'pending'")
                .bind(&file_id)
                .execute(&self.state.db.pool)
                .await?;
            sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1")
                .bind(&upload_id)
                .execute(&self.state.db.pool)
                .await?;
            tracing::info!(%upload_id, "aborted an upload abandoned for longer than its URLs live");
        }
        Ok(())
    }

    /// The HTTP routes of the hub (API, content, uploads, device login pages, health).
    pub fn router(&self) -> axum::Router {
        router::build(self.state.clone())
    }

    /// Serves the hub on `listener` until `shutdown` resolves, then finishes in-flight requests.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        // BaseSpace takes every route with a trailing slash too (`POST /v1pre3/projects/`): the
        // slash goes before routing.
        let app = tower::Layer::layer(
            &tower_http::normalize_path::NormalizePathLayer::trim_trailing_slash(),
            self.router(),
        );
        let app = axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<SocketAddr>(app);
        // Launched applications run beside the API until the hub stops; a job cut short keeps
        // its lease until it expires, then runs again (here or on another instance).
        let stop_workers = tokio_util::sync::CancellationToken::new();
        let workers = tokio::spawn(jobs::run_workers(self.state.clone(), stop_workers.clone()));
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .context("the hub server failed");
        stop_workers.cancel();
        let _ = workers.await;
        served
    }

    /// The public base URL (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.state.base
    }

    /// The hub's database (for admin commands and tests).
    pub fn db(&self) -> &ferry_db::Db {
        &self.state.db
    }

    /// Adds a user (`ferry hub user add`); returns its ID.
    pub async fn add_user(&self, email: &str, password: &str, name: Option<&str>) -> anyhow::Result<String> {
        auth::create_user(&self.state.db, email, password, name).await
    }

    /// Adds a workgroup, or members to an existing one (`ferry hub workgroup add`); returns its ID.
    pub async fn add_workgroup(&self, name: &str, members: &[String]) -> anyhow::Result<String> {
        auth::create_workgroup(&self.state.db, name, members).await
    }

    /// Issues an access token for `email`, personal or in `workgroup`, with `scopes` (default:
    /// what `bs auth` asks for: READ, CREATE, BROWSE, MOVETOTRASH, WRITE GLOBAL, CREATE PROJECTS, CREATE RUNS,
    /// START APPLICATIONS), as `ferry hub token` does.
    pub async fn issue_token(
        &self,
        email: &str,
        workgroup: Option<&str>,
        scopes: Option<&str>,
    ) -> anyhow::Result<String> {
        auth::issue_token_for(&self.state.db, email, workgroup, scopes).await
    }

    /// Changes the largest accepted upload part (tests use a small one to check refusal).
    pub fn with_max_part_size(self, bytes: u64) -> anyhow::Result<Hub> {
        let state = Arc::try_unwrap(self.state)
            .map_err(|_| anyhow::anyhow!("the hub is already serving; set the part size before serving"))?;
        Ok(Hub {
            state: Arc::new(State {
                max_part_size: bytes,
                ..state
            }),
        })
    }
}
