//! The device-login web pages at `/oauth/device`: sign in, see the code and the scopes asked
//! for, pick the context (personal or one of your workgroups), Accept or Deny. Server-rendered,
//! no JavaScript; CSRF tokens on every form; session cookie HttpOnly + SameSite=Lax; wrong codes
//! and wrong passwords are rate-limited per client address.

use std::time::Duration;

use askama::Template;
use axum::extract::Form;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::Row;

use ferry_security::ClientAddr;

use crate::api::St;
use crate::auth;
use crate::error::ApiResult;
use crate::ids;
use crate::params::Params;

const SESSION_COOKIE: &str = "ferry_hub_session";
const CSRF_COOKIE: &str = "ferry_hub_csrf";
const SESSION_SECONDS: i64 = 12 * 3600;
/// Wrong device codes a client may enter before each further guess must wait (doubling waits).
pub const FREE_CODE_GUESSES: u32 = 10;

/// How wrong device codes slow down the client entering them.
pub const CODE_GUESS_BACKOFF: ferry_security::Backoff = ferry_security::Backoff {
    free_failures: FREE_CODE_GUESSES,
    first_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(10 * 60),
    forget_after: Duration::from_secs(60 * 60),
};

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage {
    mode: &'static str,
    title: String,
    message: String,
    error: String,
    csrf: String,
    user_code: String,
    user_email: String,
    client_id: String,
    /// (description, raw scope) of each scope asked for.
    scopes: Vec<(String, String)>,
    contexts: Vec<(String, String)>,
    /// The hub's public URL (landing page).
    base_url: String,
}

/// What a BaseSpace scope lets a program do, in words (`MOVETOTRASH GLOBAL` → "Move any of your
/// data to the trash"); the raw scope is shown beside it.
pub fn describe_scope(scope: &str) -> String {
    let words: Vec<&str> = scope.split_whitespace().collect();
    let what = match words.first().map(|w| w.to_ascii_uppercase()).as_deref() {
        Some("BROWSE") => "See the names and details of",
        Some("READ") => "Read and download",
        Some("CREATE") => "Create projects and samples in",
        Some("WRITE") => "Change and upload to",
        Some("AUDIT") => "See the activity log of",
        Some("MOVETOTRASH") => "Move to the trash",
        Some("START") => "Start applications on",
        Some("DELETE") => "Delete",
        _ => return scope.to_string(),
    };
    let target = match words.get(1).map(|w| w.to_ascii_uppercase()).as_deref() {
        Some("GLOBAL") => "all your data".to_string(),
        Some("PROJECT") => match words.get(2) {
            Some(id) => format!("project {id}"),
            None => "a project".to_string(),
        },
        Some("APPLICATIONS") => "applications".to_string(),
        Some(other) => format!("{} {}", other.to_ascii_lowercase(), words.get(2).copied().unwrap_or(""))
            .trim()
            .to_string(),
        None => "your data".to_string(),
    };
    format!("{what} {target}")
}

impl DevicePage {
    fn new(mode: &'static str, title: &str) -> Self {
        Self {
            mode,
            title: title.to_string(),
            message: String::new(),
            error: String::new(),
            csrf: String::new(),
            user_code: String::new(),
            user_email: String::new(),
            client_id: String::new(),
            scopes: Vec::new(),
            contexts: Vec::new(),
            base_url: String::new(),
        }
    }

    fn respond(self, status: StatusCode) -> Response {
        match self.render() {
            Ok(html) => {
                let mut response = (status, Html(html)).into_response();
                let h = response.headers_mut();
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                h.insert("x-frame-options", HeaderValue::from_static("DENY"));
                h.insert(
                    "content-security-policy",
                    HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"),
                );
                response
            }
            Err(error) => {
                tracing::error!(%error, "cannot render the device page");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The hub cannot render this page; see its log.",
                )
                    .into_response()
            }
        }
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

fn set_cookie(response: &mut Response, secure: bool, name: &str, value: &str, max_age: i64) {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path=/oauth; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    if let Ok(value) = HeaderValue::from_str(&text) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

struct Session {
    user: auth::UserRow,
    csrf: String,
}

async fn session(state: &crate::State, headers: &HeaderMap) -> ApiResult<Option<Session>> {
    let Some(secret) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let row = sqlx::query("SELECT user_id, csrf, expires FROM web_sessions WHERE hash = $1")
        .bind(ids::hash_secret(&secret))
        .fetch_optional(&state.db.pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    if row.get::<i64, _>("expires") < ferry_api::dates::now_millis() {
        return Ok(None);
    }
    let Some(user) = auth::user_by_id(&state.db, &row.get::<String, _>("user_id")).await? else {
        return Ok(None);
    };
    Ok(Some(Session {
        user,
        csrf: row.get("csrf"),
    }))
}

struct PendingCode {
    user_code: String,
    client_id: String,
    scopes: Vec<String>,
}

async fn pending_code(state: &crate::State, code: &str) -> ApiResult<Option<PendingCode>> {
    let Some(code) = ids::normalise_user_code(code) else {
        return Ok(None);
    };
    let row = sqlx::query(
        "SELECT user_code, client_id, scopes FROM device_codes WHERE user_code = $1 AND status = 'pending' \
         AND expires > $2",
    )
    .bind(&code)
    .bind(ferry_api::dates::now_millis())
    .fetch_optional(&state.db.pool)
    .await?;
    Ok(row.map(|row| PendingCode {
        user_code: row.get("user_code"),
        client_id: row.get("client_id"),
        scopes: auth::normalise_scopes(&row.get::<String, _>("scopes")).unwrap_or_default(),
    }))
}

fn too_many(wait: Duration, what: &str) -> Response {
    let seconds = wait.as_secs().max(1);
    let mut page = DevicePage::new("message", "Too many attempts");
    page.message = format!(
        "Too many wrong {what} came from your address. Wait {}, then try again.",
        if seconds < 120 {
            format!("{seconds} seconds")
        } else {
            format!("{} minutes", seconds.div_ceil(60))
        }
    );
    let mut response = page.respond(StatusCode::TOO_MANY_REQUESTS);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

fn login_page(state: &crate::State, code: &str, error: &str, status: StatusCode) -> Response {
    let csrf = ids::secret();
    let mut page = DevicePage::new("login", "Sign in");
    page.csrf = csrf.clone();
    page.user_code = ids::normalise_user_code(code).unwrap_or_default();
    page.error = error.to_string();
    let mut response = page.respond(status);
    set_cookie(
        &mut response,
        state.base.starts_with("https:"),
        CSRF_COOKIE,
        &csrf,
        3600,
    );
    response
}

async fn contexts_of(state: &crate::State, user: &auth::UserRow) -> ApiResult<Vec<(String, String)>> {
    let mut contexts = vec![(user.id.clone(), format!("Personal ({})", user.email))];
    for group in auth::workgroups_of(&state.db, &user.id).await? {
        contexts.push((group.id, format!("Workgroup: {}", group.name)));
    }
    Ok(contexts)
}

/// `GET /oauth/device?code=…`.
pub async fn device_page(
    state: St,
    ClientAddr(ip): ClientAddr,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let code = params.get("code").unwrap_or_default().trim().to_string();
    let Some(session) = session(&state, &headers).await? else {
        return Ok(login_page(&state, &code, "", StatusCode::OK));
    };
    if code.is_empty() {
        let mut page = DevicePage::new("enter", "Enter your code");
        page.user_email = session.user.email;
        return Ok(page.respond(StatusCode::OK));
    }
    let guesses_key = format!("code:{ip}");
    let wait = state.code_guesses.wait_needed(&guesses_key).await;
    if !wait.is_zero() {
        return Ok(too_many(wait, "codes"));
    }
    let Some(pending) = pending_code(&state, &code).await? else {
        state.code_guesses.failed(&guesses_key).await;
        let mut page = DevicePage::new("enter", "Enter your code");
        page.user_email = session.user.email;
        page.error = "That code is not valid, was already used, or has expired. Check it, or start the login again \
                      in your program."
            .into();
        return Ok(page.respond(StatusCode::NOT_FOUND));
    };
    let mut page = DevicePage::new("approve", "Allow access?");
    page.contexts = contexts_of(&state, &session.user).await?;
    page.user_email = session.user.email;
    page.csrf = session.csrf;
    page.user_code = pending.user_code;
    page.client_id = pending.client_id;
    page.scopes = pending
        .scopes
        .iter()
        .map(|scope| (describe_scope(scope), scope.clone()))
        .collect();
    Ok(page.respond(StatusCode::OK))
}

/// Sign-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /oauth/device/login`.
pub async fn login(
    state: St,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> ApiResult<Response> {
    let expected = cookie(&headers, CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !ferry_security::secret::constant_time_eq(expected.as_bytes(), form.csrf.as_bytes()) {
        return Ok(login_page(
            &state,
            &form.code,
            "The sign-in form expired. Please sign in again.",
            StatusCode::FORBIDDEN,
        ));
    }
    let wait = state.logins.wait_needed(&form.email, ip).await;
    if !wait.is_zero() {
        return Ok(too_many(wait, "passwords"));
    }
    let user = auth::user_by_email(&state.db, &form.email).await?;
    let verified = match &user {
        Some((_, hash)) => ferry_security::password::verify(&form.password, hash).await,
        // Same work for unknown emails, so timing does not reveal which emails exist.
        None => ferry_security::password::verify_unknown_account(&form.password).await,
    };
    let Some((user, _)) = user.filter(|_| verified) else {
        state.logins.failed(&form.email, ip).await;
        return Ok(login_page(
            &state,
            &form.code,
            "Wrong email or password.",
            StatusCode::UNAUTHORIZED,
        ));
    };
    state.logins.succeeded(&form.email, ip).await;
    let secret = ids::secret();
    let now = ferry_api::dates::now_millis();
    sqlx::query("DELETE FROM web_sessions WHERE expires < $1")
        .bind(now)
        .execute(&state.db.pool)
        .await?;
    sqlx::query("INSERT INTO web_sessions (hash, user_id, csrf, created, expires) VALUES ($1, $2, $3, $4, $5)")
        .bind(ids::hash_secret(&secret))
        .bind(&user.id)
        .bind(ids::secret())
        .bind(now)
        .bind(now + SESSION_SECONDS * 1000)
        .execute(&state.db.pool)
        .await?;
    sqlx::query("UPDATE users SET last_active = $1 WHERE id = $2")
        .bind(now)
        .bind(&user.id)
        .execute(&state.db.pool)
        .await?;
    let target = match ids::normalise_user_code(&form.code) {
        Some(code) => format!("/oauth/device?code={code}"),
        None => "/oauth/device".to_string(),
    };
    let mut response = Redirect::to(&target).into_response();
    let secure = state.base.starts_with("https:");
    set_cookie(&mut response, secure, SESSION_COOKIE, &secret, SESSION_SECONDS);
    set_cookie(&mut response, secure, CSRF_COOKIE, "", 0);
    Ok(response)
}

/// Approval form.
#[derive(Debug, Deserialize)]
pub struct ApproveForm {
    code: String,
    #[serde(default)]
    context: String,
    decision: String,
    csrf: String,
}

/// `POST /oauth/device/approve`.
pub async fn approve(
    state: St,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<ApproveForm>,
) -> ApiResult<Response> {
    let Some(session) = session(&state, &headers).await? else {
        return Ok(login_page(
            &state,
            &form.code,
            "Your session ended. Please sign in again.",
            StatusCode::UNAUTHORIZED,
        ));
    };
    if !ferry_security::secret::constant_time_eq(session.csrf.as_bytes(), form.csrf.as_bytes()) {
        let mut page = DevicePage::new("message", "Form expired");
        page.error = "This form is out of date. Open the link from your program again.".into();
        return Ok(page.respond(StatusCode::FORBIDDEN));
    }
    let guesses_key = format!("code:{ip}");
    let wait = state.code_guesses.wait_needed(&guesses_key).await;
    if !wait.is_zero() {
        return Ok(too_many(wait, "codes"));
    }
    let Some(pending) = pending_code(&state, &form.code).await? else {
        state.code_guesses.failed(&guesses_key).await;
        let mut page = DevicePage::new("message", "Code not valid");
        page.error = "That code is not valid, was already used, or has expired. Start the login again.".into();
        return Ok(page.respond(StatusCode::NOT_FOUND));
    };
    let accept = match form.decision.as_str() {
        "accept" => true,
        "deny" => false,
        _ => {
            let mut page = DevicePage::new("message", "Choose Accept or Deny");
            page.error = "Please choose Accept or Deny.".into();
            return Ok(page.respond(StatusCode::BAD_REQUEST));
        }
    };
    let contexts = contexts_of(&state, &session.user).await?;
    let context_label = contexts
        .iter()
        .find(|(id, _)| *id == form.context)
        .map(|(_, label)| label.clone())
        .unwrap_or_default();
    let context = if accept {
        match contexts.iter().find(|(id, _)| *id == form.context) {
            Some((id, _)) => Some(id.clone()),
            None => {
                let mut page = DevicePage::new("message", "Choose your data");
                page.error = "Pick your personal data or one of your workgroups.".into();
                return Ok(page.respond(StatusCode::BAD_REQUEST));
            }
        }
    } else {
        None
    };
    let updated = sqlx::query(
        "UPDATE device_codes SET status = $1, user_id = $2, context_id = $3 WHERE user_code = $4 AND status = 'pending'",
    )
    .bind(if accept { "approved" } else { "denied" })
    .bind(&session.user.id)
    .bind(context)
    .bind(&pending.user_code)
    .execute(&state.db.pool)
    .await?
    .rows_affected();
    let mut page = DevicePage::new("message", "");
    if updated == 0 {
        page.title = "Code not valid".into();
        page.error = "That code was already used. Start the login again.".into();
        return Ok(page.respond(StatusCode::CONFLICT));
    }
    if accept {
        page.title = "Access granted".into();
        page.message = format!(
            "{} can now act for you with your {} data. You can close this window and return to your program.",
            pending.client_id,
            if context_label.starts_with("Workgroup") {
                context_label.replacen("Workgroup: ", "workgroup ", 1)
            } else {
                context_label.replacen("Personal", "personal", 1)
            }
        );
    } else {
        page.title = "Access denied".into();
        page.message = "The program was refused. You can close this window.".into();
    }
    Ok(page.respond(StatusCode::OK))
}

/// Sign-out form.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /oauth/device/logout`: ends the hub web session ("Not you? Sign out"), then shows the
/// sign-in form for the same code.
pub async fn logout(state: St, headers: HeaderMap, Form(form): Form<LogoutForm>) -> ApiResult<Response> {
    let Some(session) = session(&state, &headers).await? else {
        return Ok(login_page(&state, &form.code, "", StatusCode::OK));
    };
    if !ferry_security::secret::constant_time_eq(session.csrf.as_bytes(), form.csrf.as_bytes()) {
        let mut page = DevicePage::new("message", "Form expired");
        page.error = "This form is out of date. Reload the page and try again.".into();
        return Ok(page.respond(StatusCode::FORBIDDEN));
    }
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        sqlx::query("DELETE FROM web_sessions WHERE hash = $1")
            .bind(ids::hash_secret(&secret))
            .execute(&state.db.pool)
            .await?;
    }
    let target = match ids::normalise_user_code(&form.code) {
        Some(code) => format!("/oauth/device?code={code}"),
        None => "/oauth/device".to_string(),
    };
    let mut response = Redirect::to(&target).into_response();
    set_cookie(&mut response, state.base.starts_with("https:"), SESSION_COOKIE, "", 0);
    Ok(response)
}

/// Whether a request's `Accept` header prefers HTML to JSON (a browser, not an API client).
fn prefers_html(headers: &HeaderMap) -> bool {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let quality = |kind: &str| {
        accept
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let media = pieces.next()?.trim().to_ascii_lowercase();
                let q = pieces
                    .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()))
                    .unwrap_or(1.0);
                (media == kind).then_some(q)
            })
            .fold(0.0f32, f32::max)
    };
    let html = quality("text/html");
    html > 0.0 && html >= quality("application/json")
}

/// `GET /`: for browsers a short page saying what this server is, how to point `bs` at it and
/// where to sign in; API clients get the usual JSON "not a recognised path" answer.
pub async fn landing(state: St, headers: HeaderMap) -> Response {
    if !prefers_html(&headers) {
        return crate::router::not_found();
    }
    let mut page = DevicePage::new("landing", "Ferry hub");
    page.base_url = state.base.trim_end_matches('/').to_string();
    page.respond(StatusCode::OK)
}
