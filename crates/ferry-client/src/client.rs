//! The BaseSpace REST client: authentication, retries, paging and typed resources.

use std::sync::Arc;
use std::time::Duration;

use ferry_api::{
    AppSession, Application, ApplicationSettings, Biosample, ContentMeta, Dataset, ErrorBody, File, ItemList, Project,
    Run, User, V1Envelope, V1List, Workgroup,
};
use futures_util::stream::{self, BoxStream, StreamExt};
use reqwest::{Method, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ClientError, Result};

/// Tuning of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Extra attempts after a failed idempotent request (connection errors, 429, 5xx).
    pub retries: u32,
    /// First back-off delay; doubles each attempt (with jitter), capped by `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest back-off delay.
    pub max_backoff: Duration,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Time to establish a connection.
    pub connect_timeout: Duration,
    /// Longest silence while reading a response before giving up.
    pub read_timeout: Duration,
    /// Longest time for a whole API call (not for content transfers).
    pub api_timeout: Duration,
    /// Where requests may go: `None` (the `bs` command line) reaches any address; a server that
    /// fetches URLs for its users sets a policy (see [`crate::egress`]).
    pub egress: Option<crate::egress::EgressPolicy>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            retries: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            user_agent: format!("ferry-bs/{}", env!("CARGO_PKG_VERSION")),
            connect_timeout: Duration::from_secs(20),
            read_timeout: Duration::from_secs(120),
            api_timeout: Duration::from_secs(300),
            egress: None,
        }
    }
}

/// A BaseSpace API client. Cheap to clone (shared connection pool).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    api_server: String,
    origin: String,
    token: String,
    api: reqwest::Client,
    /// Like `api` but without the read timeout, for calls the server may think about at length.
    api_patient: reqwest::Client,
    content: reqwest::Client,
    options: ClientOptions,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("api_server", &self.inner.api_server)
            .finish_non_exhaustive()
    }
}

/// Filters for [`Client::biosamples`].
#[derive(Debug, Clone, Default)]
pub struct BiosampleQuery {
    /// Project IDs (`projectid`).
    pub project_ids: Vec<String>,
    /// Exact biosample names (`biosamplename`).
    pub names: Vec<String>,
}

/// Filters for [`Client::datasets`].
#[derive(Debug, Clone, Default)]
pub struct DatasetQuery {
    /// Project IDs (`projectid`).
    pub project_ids: Vec<String>,
    /// Input biosample IDs (`inputbiosamples`).
    pub input_biosamples: Vec<String>,
    /// Input run IDs (`inputruns`).
    pub input_runs: Vec<String>,
    /// Dataset types (`datasettypes`, e.g. `illumina.fastq.v1.8` or `~common.fastq`).
    pub dataset_types: Vec<String>,
    /// AppSession IDs (`appsessionids`).
    pub appsession_ids: Vec<String>,
}

/// Filters for [`Client::dataset_files`] and [`Client::run_files`].
#[derive(Debug, Clone, Default)]
pub struct FileQuery {
    /// Extensions (`extensions`, without dot: `fastq.gz`).
    pub extensions: Vec<String>,
    /// Directory (`directory`).
    pub directory: Option<String>,
}

/// Filters for [`Client::runs`].
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    /// Statuses (`statuses`).
    pub statuses: Vec<String>,
}

/// Filters for [`Client::appsessions`].
#[derive(Debug, Clone, Default)]
pub struct AppSessionQuery {
    /// Output project IDs (`output.projects`).
    pub output_projects: Vec<String>,
    /// Execution statuses (`executionstatus`: `Running`, `Complete`, `NeedsAttention`, …).
    pub execution_statuses: Vec<String>,
    /// Input biosample IDs (`input.biosamples`).
    pub input_biosamples: Vec<String>,
    /// Input run IDs (`input.runs`).
    pub input_runs: Vec<String>,
    /// Application IDs (`appid`).
    pub app_ids: Vec<String>,
}

/// Filters for [`Client::applications`].
#[derive(Debug, Clone, Default)]
pub struct ApplicationQuery {
    /// Category (`category`: `Native`, `Workflow`, `Other`).
    pub category: Option<String>,
    /// Every version, not only each application's latest (`allversions`).
    pub all_versions: bool,
}

/// Redirects a content request follows.
const MAX_REDIRECTS: usize = 10;

/// Where a list's items sit in the response body.
#[derive(Debug, Clone, Copy)]
enum Envelope {
    /// v2 `{Items, Paging}`.
    V2,
    /// v1pre3 `{Response: {Items, TotalCount, ...}}`.
    V1,
}

fn csv(values: &[String]) -> Option<String> {
    let joined = values
        .iter()
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
        .collect::<Vec<_>>()
        .join(",");
    (!joined.is_empty()).then_some(joined)
}

fn origin_of(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

/// Percent-encodes one path segment.
pub(crate) fn seg(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl Client {
    /// A client for `api_server` (a URL, or a region code like `euc1`) with `access_token`.
    pub fn new(api_server: &str, access_token: &str) -> Result<Client> {
        Client::with_options(api_server, access_token, ClientOptions::default())
    }

    /// A client with explicit [`ClientOptions`].
    pub fn with_options(api_server: &str, access_token: &str, options: ClientOptions) -> Result<Client> {
        let api_server = crate::region::resolve_api_server(api_server);
        let parsed = url::Url::parse(&api_server).map_err(|err| {
            ClientError::Invalid(format!(
                "invalid API server {api_server:?}: {err}; give a URL like https://api.basespace.illumina.com or a region code like euc1"
            ))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ClientError::Invalid(format!(
                "invalid API server {api_server:?}: it must be an http(s) URL"
            )));
        }
        if parsed.fragment().is_some()
            || parsed.query().is_some()
            || !parsed.username().is_empty()
            || parsed.password().is_some()
        {
            return Err(ClientError::Invalid(format!(
                "invalid API server {api_server:?}: give only scheme, host, port and path (no user name, password, \
                 query or #fragment), for example https://api.basespace.illumina.com"
            )));
        }
        if let Some(policy) = &options.egress {
            policy.check_url(&parsed)?;
        }
        let token = access_token.trim().to_string();
        if token.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(ClientError::Invalid(
                "the access token contains spaces or control characters".into(),
            ));
        }
        let build = |follow_redirects: bool, read_timeout: bool| {
            let mut builder = reqwest::Client::builder()
                .user_agent(options.user_agent.clone())
                .connect_timeout(options.connect_timeout);
            builder = match (&options.egress, follow_redirects) {
                (_, false) => builder.redirect(reqwest::redirect::Policy::none()),
                (None, true) => builder.redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS)),
                (Some(policy), true) => builder.redirect(policy.redirects(MAX_REDIRECTS)),
            };
            if let Some(policy) = &options.egress {
                // Names are checked once resolved; proxies are not used, as they would hide the address.
                builder = builder.dns_resolver(Arc::new(policy.resolver())).no_proxy();
            }
            if read_timeout {
                builder = builder.read_timeout(options.read_timeout);
            }
            builder
                .build()
                .map_err(|err| ClientError::Invalid(format!("cannot set up HTTP: {err}")))
        };
        let api = build(false, true)?;
        let api_patient = build(false, false)?;
        let content = build(true, true)?;
        Ok(Client {
            inner: Arc::new(Inner {
                origin: origin_of(&parsed),
                api_server,
                token,
                api,
                api_patient,
                content,
                options,
            }),
        })
    }

    /// The API server URL (no trailing slash).
    pub fn api_server(&self) -> &str {
        &self.inner.api_server
    }

    /// The options this client was made with.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    pub(crate) fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}/{}", self.inner.api_server, path.trim_start_matches('/'))
        }
    }

    /// Refuses `url` when this client's outbound-request policy does not allow it.
    fn check_egress(&self, url: &str) -> Result<()> {
        if let Some(policy) = &self.inner.options.egress {
            let parsed = url::Url::parse(url)
                .map_err(|error| ClientError::Invalid(format!("the server gave an invalid URL ({error})")))?;
            policy.check_url(&parsed)?;
        }
        Ok(())
    }

    /// Whether `url` points at the API server (and may carry the token).
    pub fn is_api_host(&self, url: &str) -> bool {
        url::Url::parse(url)
            .map(|u| origin_of(&u) == self.inner.origin)
            .unwrap_or(false)
    }

    pub(crate) fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.inner.options.max_backoff.max(Duration::from_secs(1)) * 4);
        }
        let base = self.inner.options.initial_backoff.as_millis() as u64;
        let exp = base.saturating_mul(1u64 << attempt.min(16));
        let capped = exp.min(self.inner.options.max_backoff.as_millis() as u64).max(1);
        // Full jitter between half and all of the delay.
        let jitter = rand::random_range(capped / 2..=capped);
        Duration::from_millis(jitter)
    }

    /// Sends an API request with retries. `idempotent` requests are retried on connection
    /// errors, 429 and 5xx; others only when the connection could not be made at all.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<reqwest::Response> {
        self.send_within(method, path, query, body, idempotent, None).await
    }

    /// [`Client::send`]; with `patient`, that whole time is allowed for each attempt and no read
    /// timeout applies (the server may be silent while it works).
    async fn send_within(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        idempotent: bool,
        patient: Option<Duration>,
    ) -> Result<reqwest::Response> {
        let url = self.url(path);
        self.check_egress(&url)?;
        let mut attempt = 0u32;
        loop {
            let http = if patient.is_some() {
                &self.inner.api_patient
            } else {
                &self.inner.api
            };
            let mut request = http
                .request(method.clone(), &url)
                .timeout(patient.unwrap_or(self.inner.options.api_timeout))
                .header(header::ACCEPT, "application/json");
            if self.is_api_host(&url) && !self.inner.token.is_empty() {
                request = request.bearer_auth(&self.inner.token);
            }
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let retries = self.inner.options.retries;
            match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    if retryable && idempotent && attempt < retries {
                        let wait = self.backoff(attempt, retry_after(&response));
                        tracing::warn!(%status, %url, attempt, "retrying after {:?}", wait);
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    if status.is_success() || status.is_redirection() {
                        return Ok(response);
                    }
                    return Err(self.error_from(&method, &url, response).await);
                }
                Err(err) => {
                    let safe = (idempotent || err.is_connect()) && crate::egress::refusal_in(&err).is_none();
                    if safe && attempt < retries && (err.is_connect() || err.is_timeout() || err.is_request()) {
                        let wait = self.backoff(attempt, None);
                        tracing::warn!(%url, attempt, error = %err, "retrying after {:?}", wait);
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(ClientError::network(self.inner.origin.clone(), err));
                }
            }
        }
    }

    /// Turns an error response into a [`ClientError`], reading either error body shape.
    pub(crate) async fn error_from(&self, method: &Method, url: &str, response: reqwest::Response) -> ClientError {
        let status = response.status();
        let header_request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = response.text().await.unwrap_or_default();
        let body: Option<ErrorBody> = serde_json::from_str(&text).ok();
        let oauth: Option<ferry_api::oauth::OAuthError> = serde_json::from_str(&text).ok();
        let code = body.as_ref().and_then(|b| b.code().map(str::to_string));
        let mut message = body
            .as_ref()
            .and_then(|b| b.message().map(str::to_string))
            .or_else(|| {
                oauth
                    .as_ref()
                    .map(|o| o.error_description.clone().unwrap_or_else(|| o.error.clone()))
            })
            .unwrap_or_else(|| {
                let trimmed: String = text.trim().chars().take(200).collect();
                if trimmed.is_empty() {
                    status.canonical_reason().unwrap_or("no details").to_string()
                } else {
                    trimmed
                }
            });
        if message.is_empty() {
            message = status.canonical_reason().unwrap_or("no details").to_string();
        }
        let request_id = body.as_ref().and_then(|b| b.request_id.clone()).or(header_request_id);
        let path = url::Url::parse(url)
            .map(|u| u.path().to_string())
            .unwrap_or_else(|_| url.to_string());
        match status.as_u16() {
            401 => ClientError::Unauthorized {
                server: self.inner.api_server.clone(),
                message: code.map(|c| format!("{c}: {message}")).unwrap_or(message),
            },
            403 => ClientError::Forbidden {
                server: self.inner.api_server.clone(),
                code: code.unwrap_or_else(|| "403".into()),
                message,
            },
            404 => ClientError::NotFound {
                what: path,
                server: self.inner.api_server.clone(),
                message,
            },
            other => ClientError::Http {
                method: method.to_string(),
                url: url.split('?').next().unwrap_or(url).to_string(),
                status: other,
                code,
                message,
                request_id,
            },
        }
    }

    async fn read_json<T: DeserializeOwned>(&self, url: &str, response: reqwest::Response) -> Result<T> {
        let bytes = response
            .bytes()
            .await
            .map_err(|err| ClientError::network(self.inner.origin.clone(), err))?;
        parse_json(url, &bytes)
    }

    /// GET a JSON resource (retried).
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str, query: &[(String, String)]) -> Result<T> {
        let response = self.send(Method::GET, path, query, None, true).await?;
        self.read_json(path, response).await
    }

    /// GET a v1pre3 resource and unwrap its `Response`.
    pub async fn get_v1<T: DeserializeOwned>(&self, path: &str, query: &[(String, String)]) -> Result<T> {
        let envelope: V1Envelope<T> = self.get_json(path, query).await?;
        Ok(envelope.response)
    }

    /// POST JSON and read a JSON answer. Not retried once sent (creating twice is not safe).
    pub async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        let body = serde_json::to_value(body).map_err(|err| ClientError::Invalid(err.to_string()))?;
        let response = self.send(Method::POST, path, &[], Some(&body), false).await?;
        self.read_json(path, response).await
    }

    /// POST JSON that is safe to repeat (status updates); retried like a GET.
    pub async fn post_json_idempotent<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let body = serde_json::to_value(body).map_err(|err| ClientError::Invalid(err.to_string()))?;
        let response = self.send(Method::POST, path, &[], Some(&body), true).await?;
        self.read_json(path, response).await
    }

    /// POST JSON that is safe to repeat and that the server may take long to answer (completing a
    /// large upload): no read timeout, up to `timeout` per attempt; retried like a GET.
    pub async fn post_json_idempotent_patient<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<T> {
        let body = serde_json::to_value(body).map_err(|err| ClientError::Invalid(err.to_string()))?;
        let response = self
            .send_within(Method::POST, path, &[], Some(&body), true, Some(timeout))
            .await?;
        self.read_json(path, response).await
    }

    fn paged<T: DeserializeOwned + Send + 'static>(
        &self,
        path: String,
        query: Vec<(String, String)>,
        limit: u32,
        envelope: Envelope,
    ) -> BoxStream<'static, Result<T>> {
        struct State {
            client: Client,
            path: String,
            query: Vec<(String, String)>,
            offset: i64,
            done: bool,
        }
        let state = State {
            client: self.clone(),
            path,
            query,
            offset: 0,
            done: false,
        };
        stream::try_unfold(state, move |mut state| async move {
            if state.done {
                return Ok(None);
            }
            let (offset_key, limit_key) = match envelope {
                Envelope::V2 => ("offset", "limit"),
                Envelope::V1 => ("Offset", "Limit"),
            };
            let mut query = state.query.clone();
            query.push((offset_key.into(), state.offset.to_string()));
            query.push((limit_key.into(), limit.to_string()));
            let (items, total): (Vec<T>, i64) = match envelope {
                Envelope::V2 => {
                    let page: ItemList<T> = state.client.get_json(&state.path, &query).await?;
                    (page.items, page.paging.total_count)
                }
                Envelope::V1 => {
                    let page: V1List<T> = state.client.get_v1(&state.path, &query).await?;
                    (page.items, page.total_count)
                }
            };
            let count = items.len() as i64;
            state.offset += count;
            if count == 0 {
                if state.offset < total {
                    return Err(ClientError::InvalidResponse {
                        url: state.client.url(&state.path),
                        message: format!(
                            "the list stopped at {} items although the server reported {total}; retry later",
                            state.offset
                        ),
                    });
                }
                state.done = true;
            } else if state.offset >= total {
                state.done = true;
            }
            Ok(Some((stream::iter(items.into_iter().map(Ok)), state)))
        })
        .map(|page: Result<_>| match page {
            Ok(items) => items.left_stream(),
            Err(err) => stream::iter(std::iter::once(Err(err))).right_stream(),
        })
        .flatten()
        .boxed()
    }

    /// The user (or workgroup) the token acts for: `GET /v2/users/current`.
    pub async fn current_user(&self) -> Result<User> {
        self.get_json("v2/users/current", &[]).await
    }

    /// Projects visible to the token (`GET /v1pre3/users/current/projects`, every page). With a
    /// name, only projects whose name is exactly that.
    pub fn projects(&self, name_filter: Option<&str>) -> BoxStream<'static, Result<Project>> {
        let mut query = Vec::new();
        if let Some(name) = name_filter {
            query.push(("Name".to_string(), name.to_string()));
        }
        let pages = self.paged::<Project>(
            "v1pre3/users/current/projects".into(),
            query,
            ferry_api::MAX_LIMIT,
            Envelope::V1,
        );
        match name_filter {
            Some(name) => {
                let name = name.to_string();
                pages
                    .filter(move |item| {
                        let keep = match item {
                            Ok(project) => project.name.as_deref() == Some(name.as_str()),
                            Err(_) => true,
                        };
                        std::future::ready(keep)
                    })
                    .boxed()
            }
            None => pages,
        }
    }

    /// Fills in `TotalSize` of projects from a list that left it out (BaseSpace's legacy project
    /// list does), from each project's own answer (`GET /v2/projects/{id}`, a few at a time).
    pub async fn fill_project_sizes(&self, projects: &mut [Project]) -> Result<()> {
        let missing: Vec<(usize, String)> = projects
            .iter()
            .enumerate()
            .filter(|(_, project)| project.total_size.is_none())
            .map(|(i, project)| (i, project.id.clone()))
            .collect();
        let client = self.clone();
        let sized: Vec<(usize, Result<Project>)> = futures_util::stream::iter(missing)
            .map(move |(i, id)| {
                let client = client.clone();
                async move { (i, client.project(&id).await) }
            })
            .buffered(8)
            .collect()
            .await;
        for (i, project) in sized {
            projects[i].total_size = project?.total_size;
        }
        Ok(())
    }

    /// One project: `GET /v2/projects/{id}`.
    pub async fn project(&self, id: &str) -> Result<Project> {
        self.get_json(&format!("v2/projects/{}", seg(id)), &[]).await
    }

    /// Creates a project (`POST /v2/projects?name=&description=`).
    pub async fn create_project(&self, name: &str, description: Option<&str>) -> Result<Project> {
        let mut query = vec![("name".to_string(), name.to_string())];
        if let Some(description) = description {
            query.push(("description".into(), description.into()));
        }
        let body = serde_json::json!({"Name": name, "Description": description});
        let response = self
            .send(Method::POST, "v2/projects", &query, Some(&body), false)
            .await?;
        self.read_json("v2/projects", response).await
    }

    /// Biosamples (`GET /v2/biosamples`, every page).
    pub fn biosamples(&self, query: &BiosampleQuery) -> BoxStream<'static, Result<Biosample>> {
        let mut params = Vec::new();
        if let Some(ids) = csv(&query.project_ids) {
            params.push(("projectid".into(), ids));
        }
        if let Some(names) = csv(&query.names) {
            params.push(("biosamplename".into(), names));
        }
        self.paged("v2/biosamples".into(), params, ferry_api::MAX_LIMIT, Envelope::V2)
    }

    /// One biosample: `GET /v2/biosamples/{id}`.
    pub async fn biosample(&self, id: &str) -> Result<Biosample> {
        self.get_json(&format!("v2/biosamples/{}", seg(id)), &[]).await
    }

    /// Creates a biosample in a project (`POST /v2/biosamples`).
    pub async fn create_biosample(&self, name: &str, project_id: &str) -> Result<Biosample> {
        self.post_json(
            "v2/biosamples",
            &serde_json::json!({"BioSampleName": name, "DefaultProjectId": project_id}),
        )
        .await
    }

    /// Datasets (`GET /v2/datasets`, every page).
    pub fn datasets(&self, query: &DatasetQuery) -> BoxStream<'static, Result<Dataset>> {
        let mut params = Vec::new();
        for (key, values) in [
            ("projectid", &query.project_ids),
            ("inputbiosamples", &query.input_biosamples),
            ("inputruns", &query.input_runs),
            ("datasettypes", &query.dataset_types),
            ("appsessionids", &query.appsession_ids),
        ] {
            if let Some(value) = csv(values) {
                params.push((key.to_string(), value));
            }
        }
        self.paged("v2/datasets".into(), params, ferry_api::MAX_LIMIT, Envelope::V2)
    }

    /// One dataset: `GET /v2/datasets/{id}`.
    pub async fn dataset(&self, id: &str) -> Result<Dataset> {
        self.get_json(&format!("v2/datasets/{}", seg(id)), &[]).await
    }

    /// Files of a dataset (`GET /v2/datasets/{id}/files`, every page, subdirectories included).
    pub fn dataset_files(&self, dataset_id: &str, query: &FileQuery) -> BoxStream<'static, Result<File>> {
        self.paged(
            format!("v2/datasets/{}/files", seg(dataset_id)),
            file_params(query),
            ferry_api::MAX_FILES_LIMIT,
            Envelope::V2,
        )
    }

    /// One file: `GET /v2/files/{id}`.
    pub async fn file(&self, id: &str) -> Result<File> {
        self.get_json(&format!("v2/files/{}", seg(id)), &[]).await
    }

    /// Runs (`GET /v2/runs`, every page).
    pub fn runs(&self, query: &RunQuery) -> BoxStream<'static, Result<Run>> {
        let mut params = Vec::new();
        if let Some(statuses) = csv(&query.statuses) {
            params.push(("statuses".into(), statuses));
        }
        self.paged("v2/runs".into(), params, ferry_api::MAX_LIMIT, Envelope::V2)
    }

    /// One run: `GET /v2/runs/{id}`.
    pub async fn run(&self, id: &str) -> Result<Run> {
        self.get_json(&format!("v2/runs/{}", seg(id)), &[]).await
    }

    /// Files of a run (`GET /v2/runs/{id}/files`, every page, recursive).
    pub fn run_files(&self, run_id: &str, query: &FileQuery) -> BoxStream<'static, Result<File>> {
        let mut params = file_params(query);
        params.push(("recursive".into(), "true".into()));
        self.paged(
            format!("v2/runs/{}/files", seg(run_id)),
            params,
            ferry_api::MAX_FILES_LIMIT,
            Envelope::V2,
        )
    }

    /// AppSessions (`GET /v2/appsessions`, every page).
    pub fn appsessions(&self, query: &AppSessionQuery) -> BoxStream<'static, Result<AppSession>> {
        let mut params = Vec::new();
        if let Some(projects) = csv(&query.output_projects) {
            params.push(("output.projects".into(), projects));
        }
        if let Some(statuses) = csv(&query.execution_statuses) {
            params.push(("executionstatus".into(), statuses));
        }
        for (name, values) in [
            ("input.biosamples", &query.input_biosamples),
            ("input.runs", &query.input_runs),
            ("appid", &query.app_ids),
        ] {
            if let Some(values) = csv(values) {
                params.push((name.into(), values));
            }
        }
        self.paged("v2/appsessions".into(), params, ferry_api::MAX_LIMIT, Envelope::V2)
    }

    /// Applications (`GET /v2/applications`, every page).
    pub fn applications(&self, query: &ApplicationQuery) -> BoxStream<'static, Result<Application>> {
        let mut params = Vec::new();
        if let Some(category) = query.category.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            params.push(("category".into(), category.to_string()));
        }
        if query.all_versions {
            params.push(("allversions".into(), "true".into()));
        }
        self.paged("v2/applications".into(), params, ferry_api::MAX_LIMIT, Envelope::V2)
    }

    /// One application (version): `GET /v2/applications/{id}`.
    pub async fn application(&self, id: &str) -> Result<Application> {
        self.get_json(&format!("v2/applications/{}", seg(id)), &[]).await
    }

    /// The versions of an application (`GET /v2/applications/{id}/versions`, every page).
    pub fn application_versions(&self, id: &str) -> BoxStream<'static, Result<Application>> {
        self.paged(
            format!("v2/applications/{}/versions", seg(id)),
            Vec::new(),
            ferry_api::MAX_LIMIT,
            Envelope::V1,
        )
    }

    /// An application version's settings, with its launch form: `GET /v2/applications/{id}/settings`.
    pub async fn application_settings(&self, id: &str) -> Result<ApplicationSettings> {
        self.get_json(&format!("v2/applications/{}/settings", seg(id)), &[])
            .await
    }

    /// One AppSession: `GET /v2/appsessions/{id}`.
    pub async fn appsession(&self, id: &str) -> Result<AppSession> {
        self.get_json(&format!("v2/appsessions/{}", seg(id)), &[]).await
    }

    /// Launches an application version: `POST /v1pre3/applications/{id}/appsessions` (sent once,
    /// never retried: a repeat would start a second session). Returns the new session.
    pub async fn launch(&self, application_id: &str, body: &ferry_api::launch::LaunchBody) -> Result<AppSession> {
        let envelope: V1Envelope<AppSession> = self
            .post_json(
                &format!("v1pre3/applications/{}/appsessions", seg(application_id)),
                body,
            )
            .await?;
        Ok(envelope.response)
    }

    /// Archives datasets and runs (`POST /v2/archive`): their files cannot be downloaded until restored.
    pub async fn archive(&self, dataset_ids: &[String], run_ids: &[String]) -> Result<serde_json::Value> {
        self.post_json_idempotent(
            "v2/archive",
            &serde_json::json!({"DatasetIds": dataset_ids, "RunIds": run_ids}),
        )
        .await
    }

    /// Restores archived datasets and runs (`POST /v2/restore`); the answer may say when the
    /// restore completes (`DateRestoreComplete`).
    pub async fn restore(&self, dataset_ids: &[String], run_ids: &[String]) -> Result<serde_json::Value> {
        self.post_json_idempotent(
            "v2/restore",
            &serde_json::json!({"DatasetIds": dataset_ids, "RunIds": run_ids}),
        )
        .await
    }

    /// Stops a running AppSession: `POST /v2/appsessions/{id}/stop` (it ends `Aborted`).
    pub async fn stop_appsession(&self, id: &str) -> Result<AppSession> {
        self.post_json(&format!("v2/appsessions/{}/stop", seg(id)), &serde_json::json!({}))
            .await
    }

    /// An AppSession's log files (`GET /v2/appsessions/{id}/logfiles`, every page).
    pub fn appsession_logfiles(&self, id: &str) -> BoxStream<'static, Result<File>> {
        self.paged(
            format!("v2/appsessions/{}/logfiles", seg(id)),
            vec![("recursive".into(), "true".into())],
            ferry_api::MAX_FILES_LIMIT,
            Envelope::V2,
        )
    }

    /// Workgroups of the person behind the token (`GET /v2/users/{id}/workgroups`, every page;
    /// the ID is the logged-in user's, also for a workgroup token).
    pub fn workgroups(&self) -> BoxStream<'static, Result<Workgroup>> {
        let client = self.clone();
        stream::once(async move { client.current_user().await.map(|user| (client, user)) })
            .map(|found| match found {
                Ok((client, user)) => {
                    let id = user
                        .logged_in_user
                        .as_ref()
                        .map(|person| person.id.clone())
                        .filter(|id| !id.is_empty())
                        .unwrap_or(user.id);
                    client
                        .paged(
                            format!("v2/users/{}/workgroups", seg(&id)),
                            Vec::new(),
                            ferry_api::MAX_LIMIT,
                            Envelope::V2,
                        )
                        .left_stream()
                }
                Err(err) => stream::iter(std::iter::once(Err(err))).right_stream(),
            })
            .flatten()
            .boxed()
    }

    /// Where a file's bytes are: `GET /v2/files/{id}/content?redirect=meta`; if the server
    /// redirects instead, the redirect target; if it streams the bytes, the content URL itself.
    pub async fn content_url(&self, file_id: &str) -> Result<ContentMeta> {
        let path = format!("v2/files/{}/content", seg(file_id));
        let response = self
            .send(Method::GET, &path, &[("redirect".into(), "meta".into())], None, true)
            .await?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| ClientError::InvalidResponse {
                    url: self.url(&path),
                    message: format!("HTTP {status} without a Location header"),
                })?;
            let target = url::Url::parse(&self.url(&path))
                .and_then(|base| base.join(location))
                .map_err(|err| ClientError::InvalidResponse {
                    url: self.url(&path),
                    message: format!("bad Location {location:?}: {err}"),
                })?;
            return Ok(ContentMeta {
                href_content: target.to_string(),
                expires: None,
                supports_range: true,
            });
        }
        let is_json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        if !is_json {
            drop(response);
            return Ok(ContentMeta {
                href_content: self.url(&path),
                expires: None,
                supports_range: false,
            });
        }
        let value: Value = self.read_json(&path, response).await?;
        let inner = match value.get("Response") {
            Some(inner) => inner.clone(),
            None => value,
        };
        let meta: ContentMeta = serde_json::from_value(inner).map_err(|err| ClientError::InvalidResponse {
            url: self.url(&path),
            message: format!("no HrefContent in the answer: {err}"),
        })?;
        let href = url::Url::parse(&self.url(&path))
            .and_then(|base| base.join(&meta.href_content))
            .map(|u| u.to_string())
            .unwrap_or(meta.href_content.clone());
        Ok(ContentMeta {
            href_content: href,
            ..meta
        })
    }

    /// GETs content bytes, optionally a byte range (`start..end`, end exclusive). The token is
    /// sent only when `url` is on the API server, never to a storage host. Retried on connection
    /// errors, 429 and 5xx. With a range the answer is 206, or 200 when the server ignored it.
    pub async fn get_range(&self, url: &str, range: Option<std::ops::Range<u64>>) -> Result<reqwest::Response> {
        self.check_egress(url)?;
        let mut attempt = 0u32;
        loop {
            let mut request = self.inner.content.get(url);
            if self.is_api_host(url) && !self.inner.token.is_empty() {
                request = request.bearer_auth(&self.inner.token);
            }
            if let Some(range) = &range {
                if range.end <= range.start {
                    return Err(ClientError::Invalid(format!("empty byte range {range:?}")));
                }
                request = request.header(header::RANGE, format!("bytes={}-{}", range.start, range.end - 1));
            }
            let retries = self.inner.options.retries;
            match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    if (status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()) && attempt < retries {
                        let wait = self.backoff(attempt, retry_after(&response));
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    if status.is_success() {
                        return Ok(response);
                    }
                    let shown = url.split('?').next().unwrap_or(url).to_string();
                    return Err(self.error_from(&Method::GET, &shown, response).await);
                }
                Err(err) => {
                    if attempt < retries && crate::egress::refusal_in(&err).is_none() {
                        let wait = self.backoff(attempt, None);
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    let server = url::Url::parse(url).map(|u| origin_of(&u)).unwrap_or_default();
                    return Err(ClientError::network(server, err));
                }
            }
        }
    }

    /// PUTs bytes to an upload URL (a part or a single-part upload) and returns the `ETag` header
    /// (quotes removed). Retried on connection errors, 429 and 5xx: a part PUT is idempotent.
    pub async fn put_bytes(&self, url: &str, data: bytes::Bytes) -> Result<Option<String>> {
        self.check_egress(url)?;
        let mut attempt = 0u32;
        loop {
            let mut request = self
                .inner
                .content
                .put(url)
                .header(header::CONTENT_LENGTH, data.len())
                .body(data.clone());
            if self.is_api_host(url) && !self.inner.token.is_empty() {
                request = request.bearer_auth(&self.inner.token);
            }
            let retries = self.inner.options.retries;
            match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    if (status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()) && attempt < retries {
                        let wait = self.backoff(attempt, retry_after(&response));
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    if status.is_success() {
                        return Ok(response
                            .headers()
                            .get(header::ETAG)
                            .and_then(|v| v.to_str().ok())
                            .map(|v| v.trim().trim_matches('"').to_ascii_lowercase()));
                    }
                    let shown = url.split('?').next().unwrap_or(url).to_string();
                    return Err(self.error_from(&Method::PUT, &shown, response).await);
                }
                Err(err) => {
                    if attempt < retries && crate::egress::refusal_in(&err).is_none() {
                        let wait = self.backoff(attempt, None);
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    let server = url::Url::parse(url).map(|u| origin_of(&u)).unwrap_or_default();
                    return Err(ClientError::network(server, err));
                }
            }
        }
    }

    /// Revokes the token (`DELETE /v2/oauthv2tokens/current`).
    pub async fn revoke_token(&self) -> Result<()> {
        self.send(Method::DELETE, "v2/oauthv2tokens/current", &[], None, true)
            .await?;
        Ok(())
    }

    /// Scopes of the token (`GET /v1pre3/oauthv2/token/current`), when the server says.
    pub async fn token_scopes(&self) -> Result<Vec<String>> {
        let value: Value = self.get_v1("v1pre3/oauthv2/token/current", &[]).await?;
        let scopes = value
            .get("Scopes")
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        Ok(scopes)
    }
}

fn file_params(query: &FileQuery) -> Vec<(String, String)> {
    let mut params = Vec::new();
    if let Some(extensions) = csv(&query.extensions) {
        params.push(("extensions".into(), extensions));
    }
    if let Some(directory) = &query.directory {
        params.push(("directory".into(), directory.clone()));
    }
    params
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Parses a JSON body, naming the URL when it is not what was expected.
pub(crate) fn parse_json<T: DeserializeOwned>(url: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|err| {
        let start: String = String::from_utf8_lossy(&bytes[..bytes.len().min(120)]).to_string();
        ClientError::InvalidResponse {
            url: url.to_string(),
            message: format!("{err} (body starts {start:?})"),
        }
    })
}
