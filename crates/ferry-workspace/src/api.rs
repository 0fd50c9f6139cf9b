//! The JSON API (`/api/v1/…`), authenticated with `Authorization: Bearer <api key>`. The
//! workspace's own pages may also read it with their session cookie (GET only, so no CSRF
//! exposure); changes need an API key. Errors are `{"error": "…"}` with a 4xx or 5xx status.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State as AxumState};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::State;
use crate::accounts::{self, User};
use crate::basespace::{self, LinkError};
use crate::browse;
use crate::import::{ImportError, ImportRequest};

type AppState = AxumState<Arc<State>>;

pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .route(
            "/api/v1/basespace-account",
            get(get_account).put(put_account).delete(delete_account),
        )
        .route("/api/v1/basespace/projects", get(bs_projects))
        .route("/api/v1/basespace/projects/{id}/biosamples", get(bs_project_biosamples))
        .route("/api/v1/basespace/runs", get(bs_runs))
        .route("/api/v1/basespace/runs/{id}/datasets", get(bs_run_datasets))
        .route("/api/v1/imports", get(list_imports).post(create_import))
        .route("/api/v1/imports/{id}", get(get_import))
        .route("/api/v1/imports/{id}/cancel", post(cancel_import))
        .route("/api/v1/samples", get(list_samples))
        .route("/api/v1/samples/{id}", get(get_sample).delete(delete_sample))
        .route("/api/v1/samples/{id}/resume", post(resume_sample))
        .route("/api/v1/samples/{id}/files/{file_id}/content", get(file_content))
        .route("/api/v1/api-keys", get(list_api_keys).post(create_api_key))
        .route("/api/v1/api-keys/{id}", axum::routing::delete(revoke_api_key))
        .route("/api/v1/{*rest}", axum::routing::any(not_found))
        .with_state(state)
}

/// An API error: status and message.
#[derive(Debug)]
pub(crate) struct ApiError(StatusCode, String);

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError(status, message.into())
    }

    fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "API request failed");
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("internal error: {error}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<ImportError> for ApiError {
    fn from(error: ImportError) -> Self {
        let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            return ApiError::internal(error);
        }
        ApiError(status, error.to_string())
    }
}

impl From<LinkError> for ApiError {
    fn from(error: LinkError) -> Self {
        let status = match &error {
            LinkError::Invalid(_) => StatusCode::BAD_REQUEST,
            LinkError::Rejected { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            LinkError::NotLinked => StatusCode::NOT_FOUND,
            LinkError::NotAllowed { .. } => StatusCode::FORBIDDEN,
            LinkError::Upstream(_) => StatusCode::BAD_GATEWAY,
            LinkError::Crypto(_) => StatusCode::CONFLICT,
            LinkError::Db(_) => return ApiError::internal(error),
        };
        ApiError(status, error.to_string())
    }
}

impl From<accounts::AccountError> for ApiError {
    fn from(error: accounts::AccountError) -> Self {
        ApiError::internal(error)
    }
}

/// What to do when a key no longer works.
const NEW_KEY_HINT: &str =
    "create a new key on the Profile page (API keys) or with `ferry workspace api-key --user EMAIL`";

/// The user behind a request: an API key, or (for reads, or with `X-CSRF-Token`) a browser session.
pub(crate) struct ApiUser(User);

impl FromRequestParts<Arc<State>> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, Self::Rejection> {
        Ok(ApiUser(ApiCaller::from_request_parts(parts, state).await?.user))
    }
}

/// How a request proved who it is.
pub(crate) enum Credential {
    /// An API key (its record: expiry).
    Key(accounts::ApiKeyInfo),
    /// A browser session.
    Session,
}

/// [`ApiUser`] with the credential it used.
pub(crate) struct ApiCaller {
    user: User,
    credential: Credential,
}

impl FromRequestParts<Arc<State>> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, Self::Rejection> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let key = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "use `Authorization: Bearer <api key>`"))?;
            let refused = |what: String| ApiError::new(StatusCode::UNAUTHORIZED, format!("{what}; {NEW_KEY_HINT}"));
            return match accounts::check_api_key(&state.db, key).await? {
                accounts::ApiKeyCheck::Valid { user, key } => Ok(ApiCaller {
                    user,
                    credential: Credential::Key(key),
                }),
                accounts::ApiKeyCheck::Unknown => Err(refused("this API key is not valid".to_string())),
                accounts::ApiKeyCheck::Revoked { at } => Err(refused(format!(
                    "this API key was revoked on {} and no longer works",
                    accounts::display_time(at)
                ))),
                accounts::ApiKeyCheck::Expired { at } => Err(refused(format!(
                    "this API key expired on {} and no longer works",
                    accounts::display_time(at)
                ))),
            };
        }
        let session = crate::web::session_of(&parts.headers, state)
            .await
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "session lookup failed"))?;
        match session {
            Some(session) => {
                let safe = matches!(parts.method, Method::GET | Method::HEAD);
                let csrf_ok = parts
                    .headers
                    .get("x-csrf-token")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|token| crate::crypto::constant_time_eq(token, &session.csrf_token));
                if safe || csrf_ok {
                    Ok(ApiCaller {
                        user: session.user,
                        credential: Credential::Session,
                    })
                } else {
                    Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "changes through the API need `Authorization: Bearer <api key>`",
                    ))
                }
            }
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing API key: send `Authorization: Bearer <api key>` (create one on the Profile page or with `ferry workspace api-key --user EMAIL`)",
            )),
        }
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {error}")))
}

#[derive(Serialize)]
struct Items<T> {
    items: Vec<T>,
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such API endpoint; see /api/openapi.json")
}

async fn openapi() -> Response {
    let mut response = Json(crate::openapi::document()).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache"));
    response
}

#[derive(Serialize)]
struct AccountView {
    linked: bool,
    #[serde(flatten)]
    info: basespace::LinkInfo,
}

async fn get_account(AxumState(state): AppState, ApiUser(user): ApiUser) -> Result<Response, ApiError> {
    match state.links.info(&user.id).await? {
        Some(info) => Ok(Json(AccountView { linked: true, info }).into_response()),
        None => Err(LinkError::NotLinked.into()),
    }
}

#[derive(Deserialize)]
struct LinkBody {
    access_token: Option<String>,
    region: Option<String>,
    api_server: Option<String>,
}

async fn put_account(AxumState(state): AppState, ApiUser(user): ApiUser, body: Bytes) -> Result<Response, ApiError> {
    let body: LinkBody = parse_json(&body)?;
    let token = body.access_token.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "give \"access_token\" and \"region\" (or \"api_server\")",
        )
    })?;
    let region = body
        .region
        .filter(|r| !(r.eq_ignore_ascii_case(basespace::CUSTOM_REGION) && body.api_server.is_some()));
    let target = basespace::resolve_target(region.as_deref(), body.api_server.as_deref())?;
    let info = state.links.link(&user.id, &token, target).await?;
    Ok(Json(AccountView { linked: true, info }).into_response())
}

#[derive(Deserialize, Default)]
struct RevokeQuery {
    revoke: Option<bool>,
}

async fn delete_account(
    AxumState(state): AppState,
    ApiUser(user): ApiUser,
    Query(query): Query<RevokeQuery>,
) -> Result<Response, ApiError> {
    let revoke = query.revoke.unwrap_or(false);
    let warning = state.links.unlink(&user.id, revoke).await?;
    Ok(Json(json!({ "linked": false, "revoked": revoke && warning.is_none(), "warning": warning })).into_response())
}

#[derive(Deserialize, Default)]
struct SearchQuery {
    q: Option<String>,
}

async fn bs_projects(
    AxumState(state): AppState,
    ApiUser(user): ApiUser,
    Query(query): Query<SearchQuery>,
) -> Result<Response, ApiError> {
    let client = state.links.client(&user.id).await?;
    let items = browse::projects(&client, query.q.as_deref()).await;
    state.links.record_use(&user.id, &items).await;
    let items = items?;
    Ok(Json(Items { items }).into_response())
}

async fn bs_project_biosamples(
    AxumState(state): AppState,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let client = state.links.client(&user.id).await?;
    let items = browse::project_biosamples(&client, &id).await;
    state.links.record_use(&user.id, &items).await;
    let items = items?;
    Ok(Json(Items { items }).into_response())
}

async fn bs_runs(
    AxumState(state): AppState,
    ApiUser(user): ApiUser,
    Query(query): Query<SearchQuery>,
) -> Result<Response, ApiError> {
    let client = state.links.client(&user.id).await?;
    let items = browse::runs(&client, query.q.as_deref()).await;
    state.links.record_use(&user.id, &items).await;
    let items = items?;
    Ok(Json(Items { items }).into_response())
}

async fn bs_run_datasets(
    AxumState(state): AppState,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let client = state.links.client(&user.id).await?;
    let items = browse::run_datasets(&client, &id).await;
    state.links.record_use(&user.id, &items).await;
    let items = items?;
    Ok(Json(Items { items }).into_response())
}

async fn create_import(AxumState(state): AppState, ApiUser(user): ApiUser, body: Bytes) -> Result<Response, ApiError> {
    let request: ImportRequest = parse_json(&body)?;
    if request.project_ids.is_empty()
        && request.biosample_ids.is_empty()
        && request.run_ids.is_empty()
        && request.dataset_ids.is_empty()
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "nothing to import: give \"project_ids\", \"biosample_ids\", \"run_ids\" or \"dataset_ids\"",
        ));
    }
    if state.links.info(&user.id).await?.is_none() {
        return Err(ApiError::new(StatusCode::CONFLICT, LinkError::NotLinked.to_string()));
    }
    let id = state.imports.enqueue(&user.id, request).await?;
    let location = format!("/api/v1/imports/{id}");
    let mut response = (StatusCode::ACCEPTED, Json(json!({ "id": id, "status_url": location }))).into_response();
    if let Ok(value) = header::HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

async fn list_imports(AxumState(state): AppState, ApiUser(user): ApiUser) -> Result<Response, ApiError> {
    let items = state.imports.list_imports(&user.id).await?;
    Ok(Json(Items { items }).into_response())
}

async fn get_import(
    AxumState(state): AppState,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.imports.status(&user.id, &id).await?).into_response())
}

async fn cancel_import(
    AxumState(state): AppState,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.imports.cancel(&user.id, &id).await?;
    Ok(Json(state.imports.status(&user.id, &id).await?).into_response())
}

async fn list_samples(AxumState(state): AppState, ApiUser(user): ApiUser) -> Result<Response, ApiError> {
    let items = state.imports.samples(&user.id).await?;
    Ok(Json(Items { items }).into_response())
}

async fn get_sample(
    AxumState(state): AppState,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.imports.sample(&user.id, &id).await?).into_response())
}

async fn delete_sample(
    AxumState(state): AppState,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.imports.delete_sample(&user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn resume_sample(
    AxumState(state): AppState,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = state.imports.resume_sample(&user.id, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "id": id }))).into_response())
}

async fn file_content(
    AxumState(state): AppState,
    ApiUser(user): ApiUser,
    Path((id, file_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(crate::web::file_response(&state, &user.id, &id, &file_id).await?)
}

/// An API key as the API shows it (never the key itself, except once on creation).
#[derive(Serialize)]
struct ApiKeyView {
    id: String,
    name: String,
    status: accounts::ApiKeyStatus,
    created_at: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl ApiKeyView {
    fn new(info: &accounts::ApiKeyInfo, now: i64) -> Self {
        let date = |millis: Option<i64>| millis.map(ferry_api::dates::format_millis);
        ApiKeyView {
            id: info.id.clone(),
            name: info.name.clone(),
            status: info.status_at(now),
            created_at: ferry_api::dates::format_millis(info.created_at),
            expires_at: date(info.expires_at),
            last_used_at: date(info.last_used_at),
            revoked_at: date(info.revoked_at),
            key: None,
        }
    }
}

async fn list_api_keys(AxumState(state): AppState, ApiUser(user): ApiUser) -> Result<Response, ApiError> {
    let now = ferry_api::dates::now_millis();
    let keys = accounts::list_api_keys(&state.db, &user).await?;
    let items: Vec<ApiKeyView> = keys.iter().map(|key| ApiKeyView::new(key, now)).collect();
    Ok(Json(Items { items }).into_response())
}

#[derive(Deserialize)]
struct NewKeyBody {
    #[serde(default)]
    name: String,
    /// `30d`, `12h`…; absent or null: never expires.
    expires_in: Option<String>,
}

async fn create_api_key(AxumState(state): AppState, caller: ApiCaller, body: Bytes) -> Result<Response, ApiError> {
    let body: NewKeyBody = parse_json(&body)?;
    let lifetime = match body.expires_in.as_deref().map(str::trim) {
        None | Some("") | Some("never") => None,
        Some(text) => Some(
            accounts::parse_lifetime(text)
                .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, format!("\"expires_in\": {error}")))?,
        ),
    };
    // A key may make keys, but none that outlive it: an expiring key cannot be turned into a lasting one.
    if let Credential::Key(parent) = &caller.credential
        && let Some(parent_expiry) = parent.expires_at
    {
        let outlives = lifetime.is_none_or(|lifetime| {
            ferry_api::dates::now_millis().saturating_add(lifetime.as_millis() as i64) > parent_expiry
        });
        if outlives {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "this API key expires on {} and cannot create a key that lives longer: give a shorter \"expires_in\", \
                     or create the key on the Profile page or with `ferry workspace api-key`",
                    accounts::display_time(parent_expiry)
                ),
            ));
        }
    }
    let new = accounts::create_api_key(&state.db, &caller.user, &body.name, lifetime)
        .await
        .map_err(|error| match error {
            accounts::AccountError::Invalid(message) => ApiError::new(StatusCode::BAD_REQUEST, message),
            other => ApiError::internal(other),
        })?;
    let mut view = ApiKeyView::new(&new.info, ferry_api::dates::now_millis());
    view.key = Some(new.key);
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn revoke_api_key(
    AxumState(state): AppState,
    ApiUser(user): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match accounts::revoke_api_key(&state.db, &user, &id).await? {
        Some(key) => Ok(Json(ApiKeyView::new(&key, ferry_api::dates::now_millis())).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "you have no API key with this id; list yours with GET /api/v1/api-keys",
        )),
    }
}
