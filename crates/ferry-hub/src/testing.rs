//! A real hub for other crates' tests: [`TestHub::start`] serves it on `127.0.0.1:0` inside the
//! test's tokio runtime, with demo data and a temporary data directory it owns. The database is
//! `ferry_db::testing::fresh_database_url` (SQLite, or PostgreSQL when `FERRY_TEST_POSTGRES_URL`
//! is set). Everything here panics with a clear message on failure: it is test support.

use std::path::PathBuf;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{DemoOptions, Hub, HubConfig, auth};

/// What a test hub sets beyond the defaults.
#[derive(Default)]
struct Setup {
    /// `--trusted-proxy`.
    trusted_proxies: ferry_security::TrustedProxies,
    /// How app jobs run (default: 2 workers, 5 s leases).
    app_runner: Option<crate::jobs::AppRunnerOptions>,
}

/// A hub serving on an ephemeral port for one test.
pub struct TestHub {
    /// Base URL, `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    /// The hub's data directory (inside a temporary directory removed on drop).
    pub data_dir: PathBuf,
    /// The database both this hub and [`TestHub::another_instance`]s use.
    pub database_url: String,
    storage: Option<(String, ferry_store::S3Options)>,
    hub: Hub,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestHub {
    /// A hub with the small default demo data.
    pub async fn start() -> TestHub {
        Self::start_with(DemoOptions::default()).await
    }

    /// A hub with demo data of the given size.
    pub async fn start_with(options: DemoOptions) -> TestHub {
        Self::start_configured(Some(options), None).await
    }

    /// A hub with or without demo data, optionally with a small upload part limit.
    pub async fn start_configured(demo: Option<DemoOptions>, max_part_size: Option<u64>) -> TestHub {
        let dir = tempfile::tempdir().expect("cannot create a temporary directory for the test hub");
        let data_dir = dir.path().join("hub");
        let database_url = ferry_db::testing::fresh_database_url(dir.path()).await;
        Self::serve_on(
            data_dir,
            database_url,
            demo,
            max_part_size,
            None,
            Some(dir),
            Default::default(),
        )
        .await
    }

    /// A demo hub that believes `X-Forwarded-For` from `proxies` (`--trusted-proxy`), as behind a
    /// reverse proxy: tests send the header to act as different clients.
    pub async fn start_trusting(proxies: &[&str]) -> TestHub {
        let dir = tempfile::tempdir().expect("cannot create a temporary directory for the test hub");
        let data_dir = dir.path().join("hub");
        let database_url = ferry_db::testing::fresh_database_url(dir.path()).await;
        let trusted = ferry_security::TrustedProxies::parse(proxies).expect("trusted proxy addresses");
        Self::serve_on(
            data_dir,
            database_url,
            Some(DemoOptions::default()),
            None,
            None,
            Some(dir),
            Setup {
                trusted_proxies: trusted,
                ..Setup::default()
            },
        )
        .await
    }

    /// A demo hub whose app jobs run as `app_runner` says (a short `timeout`, for instance).
    pub async fn start_with_app_runner(app_runner: crate::jobs::AppRunnerOptions) -> TestHub {
        let dir = tempfile::tempdir().expect("cannot create a temporary directory for the test hub");
        let data_dir = dir.path().join("hub");
        let database_url = ferry_db::testing::fresh_database_url(dir.path()).await;
        Self::serve_on(
            data_dir,
            database_url,
            Some(DemoOptions::default()),
            None,
            None,
            Some(dir),
            Setup {
                app_runner: Some(app_runner),
                ..Setup::default()
            },
        )
        .await
    }

    /// A demo hub whose file bytes live at `storage_url` (`s3://bucket/prefix`) with `s3`'s
    /// endpoint and credentials.
    pub async fn start_with_storage(storage_url: &str, s3: ferry_store::S3Options) -> TestHub {
        let dir = tempfile::tempdir().expect("cannot create a temporary directory for the test hub");
        let data_dir = dir.path().join("hub");
        let database_url = ferry_db::testing::fresh_database_url(dir.path()).await;
        let storage = Some((storage_url.to_string(), s3));
        Self::serve_on(
            data_dir,
            database_url,
            Some(DemoOptions::default()),
            None,
            storage,
            Some(dir),
            Default::default(),
        )
        .await
    }

    /// A second hub process-alike over the same database and blob store (its own port, its own
    /// in-memory state): what several `ferry hub` instances behind a load balancer are.
    pub async fn another_instance(&self) -> TestHub {
        let storage = self.storage.clone();
        Self::serve_on(
            self.data_dir.clone(),
            self.database_url.clone(),
            None,
            None,
            storage,
            None,
            Default::default(),
        )
        .await
    }

    async fn serve_on(
        data_dir: PathBuf,
        database_url: String,
        demo: Option<DemoOptions>,
        max_part_size: Option<u64>,
        storage: Option<(String, ferry_store::S3Options)>,
        dir: Option<tempfile::TempDir>,
        setup: Setup,
    ) -> TestHub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind 127.0.0.1:0 for the test hub");
        let address = listener.local_addr().expect("test hub listener has no address");
        let mut hub = Hub::open(HubConfig {
            listen: address,
            data_dir: data_dir.clone(),
            database_url: Some(database_url.clone()),
            public_url: None,
            demo,
            storage_url: storage.as_ref().map(|(url, _)| url.clone()),
            s3_options: storage.as_ref().map(|(_, options)| options.clone()),
            trusted_proxies: setup.trusted_proxies,
            restore_delay: std::time::Duration::from_secs(1),
            app_runner: setup.app_runner.unwrap_or(crate::jobs::AppRunnerOptions {
                lease: std::time::Duration::from_secs(5),
                ..crate::jobs::AppRunnerOptions::default()
            }),
        })
        .await
        .unwrap_or_else(|error| panic!("cannot open the test hub: {error:#}"));
        if let Some(bytes) = max_part_size {
            hub = hub.with_max_part_size(bytes).expect("set the part size before serving");
        }
        let (shutdown, signal) = oneshot::channel::<()>();
        let serving = hub.clone();
        let task = tokio::spawn(async move {
            let stop = async move {
                let _ = signal.await;
            };
            if let Err(error) = serving.serve(listener, stop).await {
                eprintln!("test hub stopped with an error: {error:#}");
            }
        });
        TestHub {
            url: format!("http://{address}"),
            data_dir,
            database_url,
            storage,
            hub,
            shutdown: Some(shutdown),
            task: Some(task),
            _dir: dir,
        }
    }

    /// The opened hub (database, base URL).
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// A token for `email`, personal or in `workgroup`, with the default scopes (as `ferry hub token`).
    pub async fn token(&self, email: &str, workgroup: Option<&str>) -> String {
        self.token_with_scopes(email, workgroup, None).await
    }

    /// A token with the given scopes (`"READ GLOBAL, BROWSE GLOBAL"`).
    pub async fn token_with_scopes(&self, email: &str, workgroup: Option<&str>, scopes: Option<&str>) -> String {
        auth::issue_token_for(self.hub.db(), email, workgroup, scopes)
            .await
            .unwrap_or_else(|error| panic!("cannot issue a test token for {email}: {error:#}"))
    }

    /// Adds a user.
    pub async fn add_user(&self, email: &str, password: &str) {
        auth::create_user(self.hub.db(), email, password, None)
            .await
            .unwrap_or_else(|error| panic!("cannot add test user {email}: {error:#}"));
    }

    /// Adds (or finds) a workgroup with members (existing users' emails); returns its ID.
    pub async fn add_workgroup(&self, name: &str, members: &[&str]) -> String {
        let members: Vec<String> = members.iter().map(|m| m.to_string()).collect();
        auth::create_workgroup(self.hub.db(), name, &members)
            .await
            .unwrap_or_else(|error| panic!("cannot add test workgroup {name}: {error:#}"))
    }

    /// Makes `session` a session of application `app` that read `inputs` (`("input.biosample", id)`,
    /// `("input.run", id)`) and wrote `outputs` projects, in the session's own context: what a
    /// launch records, for tests of the appsession filters until launching exists.
    pub async fn record_app_session(&self, session: &str, app: &str, inputs: &[(&str, &str)], outputs: &[&str]) {
        let db = self.hub.db();
        let owner: String = sqlx::query_scalar("SELECT owner_id FROM appsessions WHERE id = $1")
            .bind(session)
            .fetch_one(&db.pool)
            .await
            .unwrap_or_else(|error| panic!("no appsession {session}: {error}"));
        sqlx::query("UPDATE appsessions SET application_id = $1, purpose = 'AppTrigger' WHERE id = $2")
            .bind(app)
            .bind(session)
            .execute(&db.pool)
            .await
            .expect("set the session's application");
        let outputs = outputs.iter().map(|project| ("output.project", *project));
        for (kind, resource) in inputs.iter().copied().chain(outputs) {
            crate::api::resources::link_appsession(db, session, &owner, kind, resource)
                .await
                .unwrap_or_else(|error| panic!("cannot link {session} to {resource}: {error:?}"));
        }
    }

    /// A signed content URL for a file that expires at `expires` (Unix seconds), as the hub would
    /// make it; for tests of expiry.
    pub async fn signed_content_url(&self, file_id: &str, expires: i64) -> String {
        let row: (String, String) = sqlx::query_as("SELECT owner_id, name FROM files WHERE id = $1")
            .bind(file_id)
            .fetch_one(&self.hub.db().pool)
            .await
            .unwrap_or_else(|error| panic!("no file {file_id}: {error}"));
        crate::api::files::signed_content_url(&self.hub.state, file_id, &row.0, &row.1, expires)
    }

    /// Approves a device login through the hub's real web page, as a person in a browser would:
    /// opens the page, signs in (CSRF-protected form), picks the context, clicks Accept.
    pub async fn approve_device_code(&self, user_code: &str, email: &str, password: &str, workgroup: Option<&str>) {
        self.decide(user_code, email, password, workgroup, "accept").await;
    }

    /// Refuses a device login through the web page.
    pub async fn deny_device_code(&self, user_code: &str, email: &str, password: &str) {
        self.decide(user_code, email, password, None, "deny").await;
    }

    async fn decide(&self, user_code: &str, email: &str, password: &str, workgroup: Option<&str>, decision: &str) {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("cannot build the test browser");
        let page_url = format!("{}/oauth/device?code={user_code}", self.url);
        let login_page = get_page(&browser, &page_url).await;
        let csrf = hidden_value(&login_page, "csrf").expect("the sign-in page has no CSRF field");
        let response = browser
            .post(format!("{}/oauth/device/login", self.url))
            .form(&[
                ("email", email),
                ("password", password),
                ("code", user_code),
                ("csrf", &csrf),
            ])
            .send()
            .await
            .expect("cannot post the sign-in form");
        assert_eq!(
            response.status().as_u16(),
            303,
            "signing in as {email} failed: {}",
            response.text().await.unwrap_or_default()
        );
        let approve_page = get_page(&browser, &page_url).await;
        assert!(
            approve_page.contains("Allow access?"),
            "the approval page did not show for code {user_code}: {approve_page}"
        );
        let csrf = hidden_value(&approve_page, "csrf").expect("the approval page has no CSRF field");
        let (user, _) = auth::user_by_email(self.hub.db(), email)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("no user {email}"));
        let context = match workgroup {
            None => user.id.clone(),
            Some(name) => auth::workgroups_of(self.hub.db(), &user.id)
                .await
                .ok()
                .and_then(|groups| groups.into_iter().find(|g| g.name == name))
                .map(|g| g.id)
                .unwrap_or_else(|| panic!("{email} is not in a workgroup named {name}")),
        };
        assert!(
            approve_page.contains(&format!("value=\"{context}\"")),
            "the approval page offers no context {context}"
        );
        let response = browser
            .post(format!("{}/oauth/device/approve", self.url))
            .form(&[
                ("code", user_code),
                ("context", &context),
                ("decision", decision),
                ("csrf", &csrf),
            ])
            .send()
            .await
            .expect("cannot post the approval form");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, 200, "the approval form failed: {body}");
    }

    /// Stops the server (also done on drop).
    pub fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

async fn get_page(browser: &reqwest::Client, url: &str) -> String {
    let response = browser.get(url).send().await.expect("cannot open the device page");
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status, 200, "the device page answered {status}: {body}");
    body
}

/// The `value` of the hidden input named `name` in a page.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}
