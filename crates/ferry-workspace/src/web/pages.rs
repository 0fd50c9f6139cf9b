//! Page handlers.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use ferry_security::ClientAddr;
use serde::Deserialize;

use super::views::{self, Base, html};
use super::{Authed, FormData, LOGIN_CSRF_COOKIE, PageError, SESSION_COOKIE, cookie, csrf_failure, secure_request};
use crate::accounts::{self, AccountError};
use crate::basespace::{self, LinkError};
use crate::browse;
use crate::crypto::{constant_time_eq, random_token};
use crate::import::{ImportOptions, ImportRequest, OnConflict};
use crate::{SignupMode, State};

type AppState = AxumState<Arc<State>>;

const CSS: &str = include_str!("../../static/app.css");
const JS: &str = include_str!("../../static/app.js");

pub(crate) async fn static_file(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

pub(crate) async fn health(AxumState(state): AppState) -> Response {
    ferry_security::http::health(&state.db).await
}

pub(crate) async fn home(AxumState(state): AppState, headers: HeaderMap) -> Result<Redirect, PageError> {
    Ok(match super::session_of(&headers, &state).await? {
        Some(_) => Redirect::to("/samples"),
        None => Redirect::to("/login"),
    })
}

#[derive(Deserialize, Default)]
pub(crate) struct NextQuery {
    next: Option<String>,
    done: Option<String>,
}

/// Only local paths are followed after logging in (no open redirects).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            path.to_string()
        }
        _ => "/samples".to_string(),
    }
}

/// What the login and sign-up form shows above its fields.
enum Shown {
    Nothing,
    Error(String),
    Notice(&'static str),
}

fn login_form(
    state: &State,
    headers: &HeaderMap,
    signup: bool,
    email: String,
    next: String,
    message: Shown,
    status: StatusCode,
) -> Response {
    let jar = CookieJar::from_headers(headers);
    let token = jar
        .get(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() >= 32);
    let token = token.unwrap_or_else(random_token);
    let page = views::LoginPage {
        base: Base::anonymous(if signup { "Sign up" } else { "Log in" }),
        signup,
        form_csrf: token.clone(),
        email,
        next,
        error: match &message {
            Shown::Error(text) => text.clone(),
            _ => String::new(),
        },
        notice: match message {
            Shown::Notice(text) => text.to_string(),
            _ => String::new(),
        },
        signup_open: state.signup == SignupMode::Open,
    };
    let jar = CookieJar::new().add(cookie(LOGIN_CSRF_COOKIE, token, secure_request(state, headers), 3600));
    (status, jar, html(&page)).into_response()
}

pub(crate) async fn login_page(
    AxumState(state): AppState,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Response {
    login_form(
        &state,
        &headers,
        false,
        String::new(),
        safe_next(query.next.as_deref()),
        if query.done.as_deref() == Some("logged-out") {
            Shown::Notice("You have logged out. Log in again to continue.")
        } else {
            Shown::Nothing
        },
        StatusCode::OK,
    )
}

/// What `/signup` answers when only administrators create accounts.
fn signup_closed() -> Response {
    let page = views::SignupClosedPage {
        base: Base::anonymous("Sign-up closed"),
    };
    (StatusCode::FORBIDDEN, html(&page)).into_response()
}

pub(crate) async fn signup_page(
    AxumState(state): AppState,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Response {
    if state.signup == SignupMode::Closed {
        return signup_closed();
    }
    login_form(
        &state,
        &headers,
        true,
        String::new(),
        safe_next(query.next.as_deref()),
        Shown::Nothing,
        StatusCode::OK,
    )
}

fn check_login_csrf(headers: &HeaderMap, form: &FormData) -> Result<(), PageError> {
    let jar = CookieJar::from_headers(headers);
    match (jar.get(LOGIN_CSRF_COOKIE), form.get("csrf")) {
        (Some(cookie), Some(token)) if !token.is_empty() && constant_time_eq(cookie.value(), token) => Ok(()),
        _ => Err(csrf_failure()),
    }
}

fn logged_in(state: &State, headers: &HeaderMap, session_token: String, next: &str) -> Response {
    let secure = secure_request(state, headers);
    let jar = CookieJar::new()
        .add(cookie(
            SESSION_COOKIE,
            session_token,
            secure,
            accounts::SESSION_LIFETIME_MILLIS / 1000,
        ))
        .add(cookie(LOGIN_CSRF_COOKIE, String::new(), secure, 0));
    (jar, Redirect::to(next)).into_response()
}

pub(crate) async fn login(
    AxumState(state): AppState,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = FormData::parse(&body);
    check_login_csrf(&headers, &form)?;
    let email = form.text("email");
    let next = safe_next(form.get("next"));
    let wait = state.login_failures.wait_needed(&email, client).await;
    if !wait.is_zero() {
        let seconds = wait.as_secs().max(1);
        let mut response = login_form(
            &state,
            &headers,
            false,
            email,
            next,
            Shown::Error(format!(
                "Too many wrong passwords for this account from your address. Wait {}, then try again.",
                if seconds < 120 {
                    format!("{seconds} seconds")
                } else {
                    format!("{} minutes", seconds.div_ceil(60))
                }
            )),
            StatusCode::TOO_MANY_REQUESTS,
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return Ok(response);
    }
    match accounts::authenticate(&state.db, &email, form.get("password").unwrap_or("")).await {
        Ok(user) => {
            state.login_failures.succeeded(&email, client).await;
            let token = accounts::create_session(&state.db, &user).await?;
            Ok(logged_in(&state, &headers, token, &next))
        }
        Err(AccountError::BadCredentials) => {
            state.login_failures.failed(&email, client).await;
            Ok(login_form(
                &state,
                &headers,
                false,
                email,
                next,
                Shown::Error("Wrong email or password.".to_string()),
                StatusCode::UNAUTHORIZED,
            ))
        }
        Err(error) => Err(error.into()),
    }
}

/// The answer to a sign-up with a taken email: the same status as other refusals, and nothing that
/// tells whether the email has an account.
const SIGNUP_REFUSED: &str =
    "We could not create an account with these details. If you already have an account, log in.";

pub(crate) async fn signup(AxumState(state): AppState, headers: HeaderMap, body: Bytes) -> Result<Response, PageError> {
    if state.signup == SignupMode::Closed {
        return Ok(signup_closed());
    }
    let form = FormData::parse(&body);
    check_login_csrf(&headers, &form)?;
    let email = form.text("email");
    let next = safe_next(form.get("next"));
    let password = form.get("password").unwrap_or("");
    if form.get("password_again").is_some_and(|again| again != password) {
        return Ok(login_form(
            &state,
            &headers,
            true,
            email,
            next,
            Shown::Error("The two passwords differ.".to_string()),
            StatusCode::BAD_REQUEST,
        ));
    }
    match accounts::create_user(&state.db, &email, password, false).await {
        Ok(user) => {
            let token = accounts::create_session(&state.db, &user).await?;
            Ok(logged_in(&state, &headers, token, "/profile"))
        }
        Err(error @ (AccountError::EmailTaken(_) | AccountError::Invalid(_))) => {
            let message = match error {
                AccountError::EmailTaken(_) => SIGNUP_REFUSED.to_string(),
                other => format!("{}.", capitalize(&other.to_string())),
            };
            Ok(login_form(
                &state,
                &headers,
                true,
                email,
                next,
                Shown::Error(message),
                StatusCode::BAD_REQUEST,
            ))
        }
        Err(error) => Err(error.into()),
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub(crate) async fn logout(
    AxumState(state): AppState,
    headers: HeaderMap,
    Authed(session): Authed,
    body: Bytes,
) -> Result<Response, PageError> {
    FormData::parse(&body).check_csrf(&session)?;
    if let Some(value) = CookieJar::from_headers(&headers).get(SESSION_COOKIE) {
        accounts::delete_session(&state.db, value.value()).await?;
    }
    let jar = CookieJar::new().add(cookie(
        SESSION_COOKIE,
        String::new(),
        secure_request(&state, &headers),
        0,
    ));
    Ok((jar, Redirect::to("/login?done=logged-out")).into_response())
}

#[derive(Deserialize, Default)]
pub(crate) struct DoneQuery {
    done: Option<String>,
    edit: Option<String>,
}

fn notice_for(done: Option<&str>) -> String {
    match done {
        Some("linked") => "BaseSpace account linked. The token is stored encrypted and will not be shown again.",
        Some("unlinked") => "BaseSpace account unlinked.",
        Some("kept") => "Nothing changed: the BaseSpace account is still linked and its token still works.",
        Some("revoked") => "BaseSpace account unlinked and the token revoked.",
        Some("deleted") => "Sample deleted.",
        Some("key-revoked") => "API key revoked. Scripts that use it now get “401 Unauthorized”.",
        _ => "",
    }
    .to_string()
}

fn link_error(error: LinkError) -> PageError {
    match error {
        LinkError::Db(error) => PageError::internal(error),
        other => PageError::Message(StatusCode::BAD_GATEWAY, other.to_string()),
    }
}

/// What the profile page shows besides the link itself.
#[derive(Default)]
struct ProfileView {
    /// A message (plain text with `code` spans) about the BaseSpace link.
    error: String,
    /// The token field was refused and emptied: ask to paste it again.
    token_again: bool,
    notice: String,
    editing: bool,
    selected_region: Option<String>,
    custom_url: String,
    status: Option<StatusCode>,
    new_key: Option<accounts::NewApiKey>,
    key_error: String,
    key_notice: String,
    key_name: String,
    selected_expiry: Option<String>,
}

async fn profile_page(state: &State, session: &accounts::Session, view: ProfileView) -> Result<Response, PageError> {
    let link = state.links.info(&session.user.id).await.map_err(link_error)?;
    let keys = accounts::list_api_keys(&state.db, &session.user).await?;
    let now = ferry_api::dates::now_millis();
    let selected_region = view
        .selected_region
        .or_else(|| link.as_ref().map(|l| l.region.clone()))
        .unwrap_or_else(|| "USE1".to_string());
    let custom_url = if view.custom_url.is_empty() {
        link.as_ref()
            .filter(|l| l.region == basespace::CUSTOM_REGION)
            .map(|l| l.api_server.clone())
            .unwrap_or_default()
    } else {
        view.custom_url
    };
    let page = views::ProfilePage {
        base: Base::user("Profile", session, "profile"),
        editing: view.editing || link.is_none(),
        link: link.as_ref().map(views::LinkView::from),
        regions: basespace::region_choices(),
        selected_region,
        custom_url,
        error: views::message_html(&view.error),
        token_again: view.token_again,
        notice: view.notice,
        api_keys: keys.iter().map(|key| views::ApiKeyRow::new(key, now)).collect(),
        new_key_name: view
            .new_key
            .as_ref()
            .map(|new| new.info.name.clone())
            .unwrap_or_default(),
        new_key: view.new_key.map(|new| new.key).unwrap_or_default(),
        key_error: view.key_error,
        key_notice: view.key_notice,
        key_name: view.key_name,
        expiry_choices: views::EXPIRY_CHOICES.to_vec(),
        selected_expiry: view.selected_expiry.unwrap_or_else(|| "90d".to_string()),
    };
    Ok((view.status.unwrap_or(StatusCode::OK), html(&page)).into_response())
}

pub(crate) async fn profile(
    AxumState(state): AppState,
    Authed(session): Authed,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let notice = notice_for(query.done.as_deref());
    // Key notices show in the API keys section, BaseSpace ones at the top (opening its details).
    let (notice, key_notice) = if query.done.as_deref() == Some("key-revoked") {
        (String::new(), notice)
    } else {
        (notice, String::new())
    };
    let view = ProfileView {
        notice,
        key_notice,
        editing: query.edit.is_some(),
        ..Default::default()
    };
    profile_page(&state, &session, view).await
}

pub(crate) async fn create_api_key(
    AxumState(state): AppState,
    Authed(session): Authed,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = FormData::parse(&body);
    form.check_csrf(&session)?;
    let name = form.text("name");
    let expiry = form.opt("expires_in").unwrap_or_else(|| "never".to_string());
    let lifetime = match expiry.as_str() {
        "never" => Ok(None),
        other => accounts::parse_lifetime(other)
            .map(Some)
            .map_err(|error| AccountError::Invalid(error.to_string())),
    };
    let created = match lifetime {
        Ok(lifetime) => accounts::create_api_key(&state.db, &session.user, &name, lifetime).await,
        Err(error) => Err(error),
    };
    let view = match created {
        Ok(new) => ProfileView {
            new_key: Some(new),
            ..Default::default()
        },
        Err(AccountError::Invalid(message)) => ProfileView {
            key_error: format!("{}.", capitalize(&message)),
            key_name: name,
            selected_expiry: Some(expiry),
            status: Some(StatusCode::BAD_REQUEST),
            ..Default::default()
        },
        Err(error) => return Err(error.into()),
    };
    profile_page(&state, &session, view).await
}

pub(crate) async fn revoke_api_key(
    AxumState(state): AppState,
    Authed(session): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    FormData::parse(&body).check_csrf(&session)?;
    match accounts::revoke_api_key(&state.db, &session.user, &id).await? {
        Some(_) => Ok(Redirect::to("/profile?done=key-revoked").into_response()),
        None => Err(PageError::Message(
            StatusCode::NOT_FOUND,
            "You have no API key with this ID. Go back to your Profile page to see your keys.".to_string(),
        )),
    }
}

pub(crate) async fn link_basespace(
    AxumState(state): AppState,
    Authed(session): Authed,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = FormData::parse(&body);
    form.check_csrf(&session)?;
    let region = form.opt("region");
    let custom_url = form.text("api_server");
    // A URL with one of Illumina's regions is refused (not silently dropped): without scripts the
    // URL field shows for every region.
    let result = match basespace::resolve_target(region.as_deref(), Some(custom_url.as_str())) {
        Ok(target) => {
            state
                .links
                .link(&session.user.id, form.get("access_token").unwrap_or(""), target)
                .await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(_) => Ok(Redirect::to("/profile?done=linked").into_response()),
        Err(LinkError::Db(error)) => Err(PageError::internal(error)),
        Err(error) => {
            let status = match error {
                LinkError::Invalid(_) => StatusCode::BAD_REQUEST,
                LinkError::Rejected { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                LinkError::NotAllowed { .. } => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_GATEWAY,
            };
            let view = ProfileView {
                error: error.to_string(),
                token_again: true,
                editing: true,
                selected_region: region,
                custom_url,
                status: Some(status),
                ..Default::default()
            };
            profile_page(&state, &session, view).await
        }
    }
}

pub(crate) async fn unlink_basespace(
    AxumState(state): AppState,
    Authed(session): Authed,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = FormData::parse(&body);
    form.check_csrf(&session)?;
    let revoke = form.get("revoke").is_some_and(|v| v == "on" || v == "true" || v == "1");
    if revoke && form.get("confirmed") != Some("yes") {
        return revoke_confirmation(&state, &session).await;
    }
    match state.links.unlink(&session.user.id, revoke).await {
        Ok(None) => Ok(Redirect::to(if revoke {
            "/profile?done=revoked"
        } else {
            "/profile?done=unlinked"
        })
        .into_response()),
        Ok(Some(warning)) => {
            let view = ProfileView {
                error: warning,
                editing: true,
                ..Default::default()
            };
            profile_page(&state, &session, view).await
        }
        Err(LinkError::NotLinked) => Ok(Redirect::to("/profile").into_response()),
        Err(error) => Err(link_error(error)),
    }
}

/// The page that asks before revoking the linked token: revoking ends it everywhere, including in
/// `bs` where the token was copied from.
async fn revoke_confirmation(state: &State, session: &accounts::Session) -> Result<Response, PageError> {
    let Some(link) = state.links.info(&session.user.id).await.map_err(link_error)? else {
        return Ok(Redirect::to("/profile").into_response());
    };
    let page = views::ConfirmPage {
        base: Base::user("Revoke the BaseSpace token?", session, "profile"),
        heading: "Revoke the BaseSpace token?".to_string(),
        intro: views::message_html(&format!(
            "Unlinking with “Also revoke the token at BaseSpace” unlinks the account and asks {} to revoke the token \
             ending in …{}. Revoking cannot be undone:",
            link.api_server, link.token_last4
        )),
        losses: vec![
            views::message_html(
                "`bs` stops working wherever this token is used: if you pasted the token from `bs auth` (the \
                 accessToken line of a profile file in ~/.basespace/, default.cfg or NAME.cfg for `bs -c NAME`), \
                 that `bs` configuration is logged out and needs `bs auth --force` (with the same `-c NAME`)",
            ),
            views::message_html("Scripts and other tools that use this token stop working too"),
            views::message_html(
                "Samples already imported stay in the workspace; imports that are still running will fail",
            ),
        ],
        action: "/profile/basespace/unlink".to_string(),
        fields: vec![("revoke".to_string(), "on".to_string())],
        confirm_label: "Unlink and revoke the token".to_string(),
        back_label: String::new(),
        cancel_href: "/profile?done=kept".to_string(),
        cancel_label: "Keep the link (nothing changes)".to_string(),
        alternative: Some((
            "/profile/basespace/unlink".to_string(),
            "Unlink only (the token keeps working in bs)".to_string(),
        )),
    };
    Ok(html(&page).into_response())
}

pub(crate) async fn samples(
    AxumState(state): AppState,
    Authed(session): Authed,
    Query(query): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let samples = state.imports.samples(&session.user.id).await?;
    let page = views::SamplesPage {
        base: Base::user("Samples", &session, "samples"),
        samples: samples.iter().map(views::SampleRow::from).collect(),
        notice: notice_for(query.done.as_deref()),
    };
    Ok(html(&page).into_response())
}

#[derive(Deserialize, Default)]
pub(crate) struct SearchQuery {
    q: Option<String>,
}

pub(crate) async fn import_select(
    AxumState(state): AppState,
    Authed(session): Authed,
    Query(query): Query<SearchQuery>,
) -> Result<Response, PageError> {
    let search = query.q.unwrap_or_default().trim().to_string();
    import_select_page(
        &state,
        &session,
        &search,
        views::ImportFormState::fresh(),
        String::new(),
        StatusCode::OK,
    )
    .await
}

/// The import page: the linked account's projects, runs and (when searching) biosamples, and
/// the import form with `form`'s selection and choices (kept when a submitted form is refused).
async fn import_select_page(
    state: &State,
    session: &accounts::Session,
    search: &str,
    form: views::ImportFormState,
    form_error: String,
    status: StatusCode,
) -> Result<Response, PageError> {
    let mut page = views::ImportSelectPage {
        base: Base::user("Import from BaseSpace", session, "import"),
        linked: false,
        link_label: String::new(),
        search: search.to_string(),
        projects: Vec::new(),
        runs: Vec::new(),
        biosample_hits: Vec::new(),
        error: String::new(),
        token_rejected: false,
        form,
        form_error: views::message_html(&form_error),
        kept_biosamples: Vec::new(),
        data_types: views::DATA_TYPES.to_vec(),
    };
    let info = state.links.info(&session.user.id).await.map_err(link_error)?;
    let Some(info) = info else {
        return Ok((status, html(&page)).into_response());
    };
    page.linked = true;
    page.link_label = format!(
        "{} ({}) · {} · {}",
        info.basespace_user.name, info.basespace_user.email, info.context, info.region_label
    );
    let client = state.links.client(&session.user.id).await.map_err(link_error)?;
    let filter = (!search.is_empty()).then_some(search);
    let (projects, runs, biosamples) = tokio::join!(
        browse::projects(&client, filter),
        browse::runs(&client, filter),
        browse::biosamples_matching(&client, search)
    );
    let listed = match (projects, runs, biosamples) {
        (Ok(projects), Ok(runs), Ok(biosamples)) => Ok((projects, runs, biosamples)),
        (Err(error), _, _) | (_, Err(error), _) | (_, _, Err(error)) => Err(error),
    };
    state.links.record_use(&session.user.id, &listed).await;
    match listed {
        Ok((projects, runs, biosamples)) => {
            page.projects = projects.iter().map(views::ProjectRow::from).collect();
            page.runs = runs.iter().map(views::RunRow::from).collect();
            page.biosample_hits = biosamples
                .iter()
                .map(|b| views::BiosampleHitRow {
                    id: b.id.clone(),
                    name: b.name.clone(),
                    project: b.project_name.clone().unwrap_or_default(),
                })
                .collect();
        }
        Err(LinkError::Rejected { server }) => {
            page.token_rejected = true;
            page.error = views::message_html(&format!(
                "BaseSpace ({server}) rejected the linked access token: it was revoked (for example by `bs auth \
                 --force`, `bs revoke` or “Also revoke the token” here) or it expired. Nothing can be imported with it. \
                 Set a new token on your Profile: {}",
                basespace::TOKEN_SOURCE_HINT
            ));
        }
        Err(error) => page.error = views::message_html(&error.to_string()),
    }
    page.kept_biosamples = page
        .form
        .biosample_ids
        .iter()
        .filter(|id| !page.biosample_hits.iter().any(|hit| &hit.id == *id))
        .cloned()
        .collect();
    Ok((status, html(&page)).into_response())
}

fn fragment_error(error: LinkError) -> Response {
    let status = match error {
        LinkError::NotLinked => StatusCode::CONFLICT,
        _ => StatusCode::BAD_GATEWAY,
    };
    let text = views::message_html(&error.to_string());
    let action = if matches!(error, LinkError::Rejected { .. } | LinkError::NotLinked) {
        " <a href=\"/profile?edit=1\">Set a new token</a>"
    } else {
        ""
    };
    (
        status,
        Html(format!("<p class=\"error\" role=\"alert\">{text}{action}</p>")),
    )
        .into_response()
}

pub(crate) async fn import_project_fragment(
    AxumState(state): AppState,
    Authed(session): Authed,
    Path(project_id): Path<String>,
) -> Response {
    let client = match state.links.client(&session.user.id).await {
        Ok(client) => client,
        Err(error) => return fragment_error(error),
    };
    let listed = browse::project_biosamples(&client, &project_id).await;
    state.links.record_use(&session.user.id, &listed).await;
    match listed {
        Ok(biosamples) => html(&views::ProjectFragment {
            project_id,
            total_size: views::human_bytes(biosamples.iter().map(|b| b.size).sum()),
            biosamples: biosamples.iter().map(views::BiosampleRow::from).collect(),
        })
        .into_response(),
        Err(error) => fragment_error(error),
    }
}

pub(crate) async fn import_run_fragment(
    AxumState(state): AppState,
    Authed(session): Authed,
    Path(run_id): Path<String>,
) -> Response {
    let client = match state.links.client(&session.user.id).await {
        Ok(client) => client,
        Err(error) => return fragment_error(error),
    };
    let listed = browse::run_datasets(&client, &run_id).await;
    state.links.record_use(&session.user.id, &listed).await;
    match listed {
        Ok(datasets) => html(&views::RunFragment {
            total_size: views::human_bytes(datasets.iter().map(|d| d.size).sum()),
            datasets: datasets.iter().map(views::DatasetRow::from).collect(),
        })
        .into_response(),
        Err(error) => fragment_error(error),
    }
}

/// Reads the import options shared by the page form and (as field names) the JSON API.
pub(crate) fn import_request_from_form(form: &FormData) -> Result<ImportRequest, String> {
    let merge = form.get("grouping") == Some("merge");
    let merge_into = if merge {
        Some(
            form.opt("merge_name")
                .ok_or("you chose to merge the selection into one sample: give that sample a name")?,
        )
    } else {
        None
    };
    let on_conflict = match form.get("on_conflict").unwrap_or("skip") {
        "skip" => OnConflict::Skip,
        "rename" => OnConflict::Rename,
        "replace" => OnConflict::Replace,
        other => return Err(format!("unknown choice {other:?} for an existing sample name")),
    };
    let request = ImportRequest {
        project_ids: form.all("project_ids"),
        biosample_ids: form.all("biosample_ids"),
        run_ids: form.all("run_ids"),
        dataset_ids: form.all("dataset_ids"),
        options: ImportOptions {
            merge_into,
            // An unchecked box sends nothing; the form also sends a hidden "0" before the box.
            skip_undetermined: form.all("skip_undetermined").iter().any(|v| v == "on" || v == "1"),
            genome: form.opt("genome"),
            data_type: form.opt("data_type"),
            platform: form.opt("platform"),
            workspace_project: form.opt("workspace_project"),
            on_conflict,
        },
    };
    if request.project_ids.is_empty()
        && request.biosample_ids.is_empty()
        && request.run_ids.is_empty()
        && request.dataset_ids.is_empty()
    {
        return Err(
            "nothing is selected: tick a project or a run, or open one (+) and tick some of its biosamples or \
             datasets"
                .to_string(),
        );
    }
    Ok(request)
}

/// The import form's fields as they were submitted, to show the form again.
fn import_form_state(form: &FormData) -> views::ImportFormState {
    views::ImportFormState {
        project_ids: form.all("project_ids"),
        run_ids: form.all("run_ids"),
        biosample_ids: form.all("biosample_ids"),
        merge: form.get("grouping") == Some("merge"),
        merge_name: form.text("merge_name"),
        skip_undetermined: form.all("skip_undetermined").iter().any(|v| v == "on" || v == "1"),
        genome: form.text("genome"),
        data_type: form.text("data_type"),
        platform: form.text("platform"),
        workspace_project: form.text("workspace_project"),
        on_conflict: form.opt("on_conflict").unwrap_or_else(|| "skip".to_string()),
    }
}

pub(crate) async fn import_submit(
    AxumState(state): AppState,
    Authed(session): Authed,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = FormData::parse(&body);
    form.check_csrf(&session)?;
    let search = form.text("q");
    if form.get("confirmed") == Some("back") {
        let kept = import_form_state(&form);
        return import_select_page(&state, &session, &search, kept, String::new(), StatusCode::OK).await;
    }
    let request = match import_request_from_form(&form) {
        Ok(request) => request,
        Err(message) => {
            let kept = import_form_state(&form);
            return import_select_page(&state, &session, &search, kept, message, StatusCode::BAD_REQUEST).await;
        }
    };
    if request.options.on_conflict == OnConflict::Replace && form.get("confirmed") != Some("yes") {
        return replace_confirmation(&state, &session, &form, &request).await;
    }
    let id = state.imports.enqueue(&session.user.id, request).await?;
    Ok(Redirect::to(&format!("/imports/{id}")).into_response())
}

/// Asks before an import that replaces existing samples, naming those it can tell in advance.
async fn replace_confirmation(
    state: &State,
    session: &accounts::Session,
    form: &FormData,
    request: &ImportRequest,
) -> Result<Response, PageError> {
    let existing = state.imports.samples(&session.user.id).await?;
    // The names the import will create: the merged sample's, or the selected biosamples' (runs are
    // only known once the import plans them).
    let incoming: Option<Vec<String>> = match &request.options.merge_into {
        Some(name) => Some(vec![name.clone()]),
        None => match state.links.client(&session.user.id).await {
            Ok(client) => {
                let names = browse::biosample_names(&client, &request.project_ids, &request.biosample_ids).await;
                state.links.record_use(&session.user.id, &names).await;
                names.ok()
            }
            Err(_) => None,
        },
    };
    let mut losses: Vec<String> = Vec::new();
    if let Some(names) = &incoming {
        for sample in existing.iter().filter(|s| names.iter().any(|n| n == &s.name)) {
            let mut facts = vec![format!("{} files", sample.file_count), views::human_bytes(sample.size)];
            if let Some(genome) = &sample.genome {
                facts.push(format!("genome {genome}"));
            }
            if let Some(kind) = &sample.data_type {
                facts.push(views::data_type_label(kind));
            }
            if let Some(project) = &sample.workspace_project {
                facts.push(format!("project {project}"));
            }
            losses.push(format!(
                "<strong>{}</strong> ({})",
                views::message_html(&sample.name).trim_end_matches('.'),
                facts
                    .join(", ")
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
            ));
        }
    }
    let runs_note = if request.run_ids.is_empty() || request.options.merge_into.is_some() {
        ""
    } else {
        " Samples from the selected runs are named after their biosamples; any existing sample with such a name is \
         replaced too."
    };
    let intro = if incoming.is_some() && losses.is_empty() {
        format!(
            "No sample in the workspace has the name of a sample this import creates, so nothing would be replaced \
             now. If one appears before the import reaches it, it is deleted and imported again.{runs_note}"
        )
    } else if losses.is_empty() {
        format!(
            "Every workspace sample with the same name as a sample this import creates is deleted first — its files, \
             checksums, read statistics and its details (genome, data type, platform, project) — and imported again \
             from BaseSpace. This cannot be undone.{runs_note}"
        )
    } else {
        format!(
            "These workspace samples have the same name as a sample this import creates. Each is deleted first — its \
             files, checksums, read statistics and its details (genome, data type, platform, project) — and imported \
             again from BaseSpace. This cannot be undone.{runs_note}"
        )
    };
    let fields = form
        .0
        .iter()
        .filter(|(name, _)| name != "csrf" && name != "confirmed")
        .cloned()
        .collect();
    let page = views::ConfirmPage {
        base: Base::user("Replace existing samples?", session, "import"),
        heading: "Replace existing samples?".to_string(),
        intro: views::message_html(&intro),
        losses,
        action: "/samples/import".to_string(),
        fields,
        confirm_label: "Replace and import".to_string(),
        back_label: "Back to the selection".to_string(),
        cancel_href: String::new(),
        cancel_label: String::new(),
        alternative: None,
    };
    Ok(html(&page).into_response())
}

pub(crate) async fn imports(AxumState(state): AppState, Authed(session): Authed) -> Result<Response, PageError> {
    let list = state.imports.list_imports(&session.user.id).await?;
    let page = views::ImportsPage {
        base: Base::user("Imports", &session, "imports"),
        imports: list.iter().map(views::ImportRow::from).collect(),
    };
    Ok(html(&page).into_response())
}

pub(crate) async fn import_page(
    AxumState(state): AppState,
    Authed(session): Authed,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let status = state.imports.status(&session.user.id, &id).await?;
    let page = views::ImportPage::new(Base::user(&status.title, &session, "imports"), &status);
    Ok(html(&page).into_response())
}

pub(crate) async fn cancel_import(
    AxumState(state): AppState,
    Authed(session): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = FormData::parse(&body);
    form.check_csrf(&session)?;
    if form.get("confirmed") != Some("1") {
        // Say what will be lost before anything is.
        let status = state.imports.status(&session.user.id, &id).await?;
        let page = views::CancelImportPage {
            base: Base::user("Cancel this import?", &session, "imports"),
            id: status.id.clone(),
            title: status.title.clone(),
            files_left: status
                .files_total
                .saturating_sub(status.files_done + status.files_failed + status.files_cancelled),
            bytes_left: views::human_bytes(status.bytes_total.saturating_sub(status.bytes_done)),
            files_done: status.files_done,
        };
        return Ok(html(&page).into_response());
    }
    state.imports.cancel(&session.user.id, &id).await?;
    Ok(Redirect::to(&format!("/imports/{id}")).into_response())
}

pub(crate) async fn sample(
    AxumState(state): AppState,
    Authed(session): Authed,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let detail = state.imports.sample(&session.user.id, &id).await?;
    let page = views::SamplePage::new(Base::user(&detail.name, &session, "samples"), &detail);
    Ok(html(&page).into_response())
}

pub(crate) async fn delete_sample(
    AxumState(state): AppState,
    Authed(session): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    FormData::parse(&body).check_csrf(&session)?;
    state.imports.delete_sample(&session.user.id, &id).await?;
    Ok(Redirect::to("/samples?done=deleted").into_response())
}

pub(crate) async fn resume_sample(
    AxumState(state): AppState,
    Authed(session): Authed,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    FormData::parse(&body).check_csrf(&session)?;
    let import = state.imports.resume_sample(&session.user.id, &id).await?;
    Ok(Redirect::to(&format!("/imports/{import}")).into_response())
}

/// Streams a stored file as an attachment (shared with the JSON API).
pub(crate) async fn file_response(
    state: &State,
    user_id: &str,
    sample_id: &str,
    file_id: &str,
) -> Result<Response, crate::import::ImportError> {
    let (file, reader) = state.imports.open_sample_file(user_id, sample_id, file_id).await?;
    let safe_name: String = file
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut response = Response::new(Body::from_stream(reader.stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(reader.size));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{safe_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Some(md5) = &file.md5
        && let Ok(value) = HeaderValue::from_str(&format!("\"{md5}\""))
    {
        headers.insert(header::ETAG, value);
    }
    Ok(response)
}

pub(crate) async fn download_file(
    AxumState(state): AppState,
    Authed(session): Authed,
    Path((sample_id, file_id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    Ok(file_response(&state, &session.user.id, &sample_id, &file_id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_next(Some("/imports/1")), "/imports/1");
        assert_eq!(safe_next(Some("//evil.example")), "/samples");
        assert_eq!(safe_next(Some("https://evil.example")), "/samples");
        assert_eq!(safe_next(Some("/\\evil")), "/samples");
        // Browsers drop tabs and newlines from URLs, turning these into `//evil.example`.
        assert_eq!(safe_next(Some("/\t/evil.example")), "/samples");
        assert_eq!(safe_next(Some("/\n/evil.example")), "/samples");
        assert_eq!(safe_next(None), "/samples");
    }

    #[test]
    fn import_forms_become_requests() {
        let form = FormData::parse(
            b"csrf=x&project_ids=1&project_ids=1&biosample_ids=7&skip_undetermined=0&skip_undetermined=on&grouping=merge&merge_name=All&on_conflict=rename&genome=hg38",
        );
        let request = import_request_from_form(&form).unwrap();
        assert_eq!(request.project_ids, vec!["1"]);
        assert_eq!(request.biosample_ids, vec!["7"]);
        assert!(request.options.skip_undetermined);
        assert_eq!(request.options.merge_into.as_deref(), Some("All"));
        assert_eq!(request.options.on_conflict, OnConflict::Rename);
        assert_eq!(request.options.genome.as_deref(), Some("hg38"));
        let unchecked = FormData::parse(b"run_ids=5&skip_undetermined=0");
        assert!(!import_request_from_form(&unchecked).unwrap().options.skip_undetermined);
        assert!(import_request_from_form(&FormData::parse(b"csrf=x")).is_err());
        assert!(import_request_from_form(&FormData::parse(b"run_ids=5&grouping=merge")).is_err());
    }
}
