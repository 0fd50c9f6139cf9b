//! Server-rendered pages: accounts, profile, import, samples. Every form carries a CSRF token:
//! the session's token once logged in, a double-submit cookie on the login and sign-up forms.

mod pages;
mod views;

pub(crate) use pages::file_response;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};

use crate::State;
use crate::accounts::{self, Session};
use crate::crypto::constant_time_eq;

/// Session cookie name.
pub(crate) const SESSION_COOKIE: &str = "ferry_session";
/// Double-submit CSRF cookie for forms shown before logging in.
pub(crate) const LOGIN_CSRF_COOKIE: &str = "ferry_login_csrf";

pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/health", get(pages::health))
        .route("/static/{file}", get(pages::static_file))
        .route("/signup", get(pages::signup_page).post(pages::signup))
        .route("/login", get(pages::login_page).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/profile", get(pages::profile))
        .route("/profile/basespace", post(pages::link_basespace))
        .route("/profile/basespace/unlink", post(pages::unlink_basespace))
        .route("/profile/api-keys", post(pages::create_api_key))
        .route("/profile/api-keys/{id}/revoke", post(pages::revoke_api_key))
        .route("/samples", get(pages::samples))
        .route("/samples/import", get(pages::import_select).post(pages::import_submit))
        .route("/samples/import/projects/{id}", get(pages::import_project_fragment))
        .route("/samples/import/runs/{id}", get(pages::import_run_fragment))
        .route("/samples/{id}", get(pages::sample))
        .route("/samples/{id}/delete", post(pages::delete_sample))
        .route("/samples/{id}/resume", post(pages::resume_sample))
        .route("/samples/{id}/files/{file_id}", get(pages::download_file))
        .route("/imports", get(pages::imports))
        .route("/imports/{id}", get(pages::import_page))
        .route("/imports/{id}/cancel", post(pages::cancel_import))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Whether cookies must be `Secure`: https public URL, or behind a TLS proxy.
pub(crate) fn secure_request(state: &State, headers: &HeaderMap) -> bool {
    state.always_secure
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .next()
                    .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
            })
}

pub(crate) fn cookie(name: &'static str, value: String, secure: bool, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(time::Duration::seconds(max_age_secs))
        .build()
}

/// A page failed: the user sees why.
#[derive(Debug)]
pub(crate) enum PageError {
    /// Not logged in: go to the login page, then come back.
    Login(String),
    /// A message for the user with a status.
    Message(StatusCode, String),
}

impl PageError {
    pub(crate) fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "page failed");
        PageError::Message(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Something went wrong on the server: {error}"),
        )
    }
}

impl From<crate::import::ImportError> for PageError {
    fn from(error: crate::import::ImportError) -> Self {
        let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            return PageError::internal(error);
        }
        PageError::Message(status, error.to_string())
    }
}

impl From<accounts::AccountError> for PageError {
    fn from(error: accounts::AccountError) -> Self {
        PageError::internal(error)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Login(next) => {
                let target = format!(
                    "/login?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                Redirect::to(&target).into_response()
            }
            PageError::Message(status, message) => {
                let page = views::ErrorPage {
                    base: views::Base::anonymous("Error"),
                    status: status.as_u16(),
                    message: views::message_html(&message),
                };
                (status, views::html(&page)).into_response()
            }
        }
    }
}

/// A logged-in browser user (extractor). Without a session: redirect to the login page.
pub(crate) struct Authed(pub(crate) Session);

impl FromRequestParts<Arc<State>> for Authed {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, Self::Rejection> {
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        match session_of(&parts.headers, state).await? {
            Some(session) => Ok(Authed(session)),
            None => Err(PageError::Login(next)),
        }
    }
}

/// The session behind the request's cookie, if any.
pub(crate) async fn session_of(headers: &HeaderMap, state: &State) -> Result<Option<Session>, PageError> {
    let jar = CookieJar::from_headers(headers);
    match jar.get(SESSION_COOKIE) {
        Some(cookie) => Ok(accounts::session(&state.db, cookie.value()).await?),
        None => Ok(None),
    }
}

/// A submitted `application/x-www-form-urlencoded` body, repeated fields kept.
pub(crate) struct FormData(Vec<(String, String)>);

impl FormData {
    pub(crate) fn parse(body: &[u8]) -> Self {
        FormData(url::form_urlencoded::parse(body).into_owned().collect())
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").trim().to_string()
    }

    pub(crate) fn opt(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        let mut values: Vec<String> = self
            .0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
            .collect();
        values.sort();
        values.dedup();
        values
    }

    /// Checks the form's `csrf` field against the session's token.
    pub(crate) fn check_csrf(&self, session: &Session) -> Result<(), PageError> {
        match self.get("csrf") {
            Some(token) if constant_time_eq(token, &session.csrf_token) => Ok(()),
            _ => Err(csrf_failure()),
        }
    }
}

pub(crate) fn csrf_failure() -> PageError {
    PageError::Message(
        StatusCode::FORBIDDEN,
        "This form has expired or did not come from this workspace (CSRF check failed). Go back, reload the page and \
         try again."
            .to_string(),
    )
}
