//! Applications: `GET /v2/applications[/{id}[/versions|/settings]]` and the v1pre3 forms. The
//! catalog is the same for every context; disabled applications are neither listed nor served.

use axum::Json;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use ferry_api::paging::SortDir;
use ferry_api::{Application, ApplicationSettings, ItemList};
use sqlx::any::AnyRow;

use super::{St, v1};
use crate::apps::{self, APP_COLS};
use crate::auth::Auth;
use crate::db::{self, Filter};
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::render::Renderer;

/// The sort keys of the definition's application lists.
const APP_SORTS: &[(&str, &str)] = &[
    ("Id", "id"),
    ("Name", "name"),
    ("DateCreated", "created"),
    ("DatePublished", "published"),
    ("VersionNumber", "version_number"),
];

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("application", id)
}

/// An enabled application row or 404.
async fn app_row(state: &crate::State, id: &str) -> ApiResult<AnyRow> {
    let sql = format!("SELECT {APP_COLS} FROM applications WHERE id = $1 AND disabled = 0");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or_else(|| not_found(id))
}

/// The filters of `GET /v2/applications`: `category`, `id`, `allversions`, `references`,
/// `autolaunchableonruncompleteappsonly` (`cwlactive` has no effect, as the definition says).
fn list_filter(params: &Params) -> ApiResult<Filter> {
    let mut filter = Filter::default();
    filter.raw("disabled = 0");
    if let Some(category) = params.get("category") {
        filter.like_any("category", &[db::like_escape(category.trim())]);
    }
    filter.any_of("id", &params.list("id"));
    if params.flag("allversions")? != Some(true) {
        filter.raw("latest = 1");
    }
    // No Ferry application is a workflow made from another, nor launches itself after a run.
    if params.get("references").is_some() || params.flag("autolaunchableonruncompleteappsonly")? == Some(true) {
        filter.raw("1 = 0");
    }
    params.flag("cwlactive")?;
    Ok(filter)
}

async fn list(state: &crate::State, auth: &Auth, params: &Params, v2: bool) -> ApiResult<(Vec<Application>, Page)> {
    auth.require_browse()?;
    params.known_sort(APP_SORTS)?;
    let page = params.page(APP_SORTS, SortDir::Asc, 10, ferry_api::MAX_LIMIT)?;
    let filter = list_filter(params)?;
    let (rows, total) = db::list(state, APP_COLS, "applications", &filter, &page).await?;
    let renderer = Renderer::new(state, v2);
    let items = rows
        .iter()
        .map(|row| apps::render(row, false, |p| renderer.href(p)))
        .collect();
    Ok((items, Page { page, total }))
}

struct Page {
    page: crate::params::Page,
    total: i64,
}

/// `GET /v2/applications`.
pub async fn v2_applications(state: St, auth: Auth, params: Params) -> ApiResult<Json<ItemList<Application>>> {
    let (items, Page { page, total }) = list(&state, &auth, &params, true).await?;
    Ok(Json(page.v2(items, total)))
}

/// `GET /v1pre3/applications`.
pub async fn v1_applications(state: St, auth: Auth, params: Params) -> ApiResult<Response> {
    let (items, Page { page, total }) = list(&state, &auth, &params, false).await?;
    Ok(v1(page.v1(items, total)).into_response())
}

/// `GET /v2/applications/{id}`.
pub async fn v2_application(state: St, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Application>> {
    auth.require_browse()?;
    let row = app_row(&state, &id).await?;
    let renderer = Renderer::new(&state, true);
    Ok(Json(apps::render(&row, true, |p| renderer.href(p))))
}

/// `GET /v1pre3/applications/{id}`.
pub async fn v1_application(state: St, auth: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    auth.require_browse()?;
    let row = app_row(&state, &id).await?;
    let renderer = Renderer::new(&state, false);
    Ok(v1(apps::render(&row, true, |p| renderer.href(p))).into_response())
}

/// `GET /v2/applications/{id}/versions`: the enabled versions of the application's family, in the
/// definition's v1pre3-style envelope (`{Response:{Items, …}, ResponseStatus}`).
pub async fn v2_application_versions(
    state: St,
    auth: Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    auth.require_browse()?;
    params.known_sort(APP_SORTS)?;
    let page = params.page(APP_SORTS, SortDir::Asc, 10, ferry_api::MAX_LIMIT)?;
    let row = app_row(&state, &id).await?;
    let family: String = sqlx::Row::get(&row, "app_family_slug");
    let mut filter = Filter::default();
    filter.raw("disabled = 0");
    filter.eq("app_family_slug", family);
    let (rows, total) = db::list(&state, APP_COLS, "applications", &filter, &page).await?;
    let renderer = Renderer::new(&state, true);
    let items: Vec<Application> = rows
        .iter()
        .map(|row| apps::render(row, false, |p| renderer.href(p)))
        .collect();
    Ok(v1(page.v1(items, total)).into_response())
}

/// `GET /v2/applications/{id}/settings`, with the version's launch form (`Form`).
pub async fn v2_application_settings(
    state: St,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<ApplicationSettings>> {
    auth.require_browse()?;
    let row = app_row(&state, &id).await?;
    let renderer = Renderer::new(&state, true);
    let app = apps::render(&row, false, |p| renderer.href(p));
    Ok(Json(ApplicationSettings {
        extra: Default::default(),
        href: Some(renderer.href(&format!("applications/{id}/settings"))),
        company_name: app.company_name,
        category: app.category,
        homepage_uri: app.homepage_uri,
        classifications: app.classifications,
        launch_sources: Some(vec!["Ui".to_string(), "Api".to_string()]),
        is_any_version_published: Some(true),
        form: Some(apps::form(&row)),
        feature_flags: None,
        id,
    }))
}
