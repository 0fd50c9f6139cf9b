//! Projects, biosamples, datasets, runs and appsessions: reads and creates.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_api::paging::SortDir;
use ferry_api::{AppSession, Biosample, Dataset, DatasetAttributes, ItemList, Project, Run, Sample};
use serde::Deserialize;
use sqlx::Row;

use super::{St, v1};
use crate::auth::Auth;
use crate::db::{self, Filter};
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::params::{JsonBody, Params};
use crate::render::{
    APPSESSION_COLS, BIOSAMPLE_COLS, DATASET_COLS, PROJECT_COLS, RUN_COLS, Renderer, types_conforming_to,
};

const PROJECT_SORTS: &[(&str, &str)] = &[("Id", "id"), ("Name", "name"), ("DateCreated", "created")];
const BIOSAMPLE_SORTS: &[(&str, &str)] = &[
    ("Id", "id"),
    ("BioSampleName", "name"),
    ("DateModified", "modified"),
    ("DateCreated", "created"),
];
const DATASET_SORTS: &[(&str, &str)] = &[
    ("DateCreated", "created"),
    ("Id", "id"),
    ("Name", "name"),
    ("DateModified", "modified"),
];
const RUN_SORTS: &[(&str, &str)] = &[
    ("Id", "id"),
    ("DateCreated", "created"),
    ("ExperimentName", "experiment_name"),
    ("FlowcellBarcode", "flowcell_barcode"),
    ("Status", "status"),
];
/// The definition's appsession sort keys (default `Id`, as before).
const APPSESSION_SORTS: &[(&str, &str)] = &[
    ("Id", "id"),
    ("Name", "name"),
    ("AppId", "application_id"),
    ("ExecutionStatus", "execution_status"),
    ("ModifiedOn", "modified"),
    ("DateCreated", "created"),
    (
        "AppName",
        "COALESCE((SELECT a.name FROM applications a WHERE a.id = appsessions.application_id), 'BaseSpace CLI')",
    ),
    (
        "TotalSize",
        "(SELECT COALESCE(SUM(f.size), 0) FROM files f JOIN datasets d ON d.id = f.dataset_id \
         WHERE d.appsession_id = appsessions.id AND f.status = 'complete')",
    ),
    ("QcStatus", "qc_status"),
    ("DeliveryStatus", "delivery_status"),
];

/// Records that an appsession read or wrote a resource (kind `output.project`, `input.biosample`
/// or `input.run`), in the session's context; recording it twice is harmless.
pub async fn link_appsession(
    db: &ferry_db::Db,
    session: &str,
    owner: &str,
    kind: &str,
    resource: &str,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO appsession_links (appsession_id, owner_id, kind, resource_id) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (appsession_id, kind, resource_id) DO NOTHING",
    )
    .bind(session)
    .bind(owner)
    .bind(kind)
    .bind(resource)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Trims and bounds a name given by a client.
fn clean_name(what: &str, name: Option<&str>) -> ApiResult<String> {
    let name = name.map(str::trim).unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::invalid_parameter(format!(
            "{what} is required and must not be empty."
        )));
    }
    if name.len() > 255 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid_parameter(format!(
            "{what} must be at most 255 characters without control characters."
        )));
    }
    Ok(name.to_string())
}

// ---------------------------------------------------------------- projects

/// A visible project row or 404.
pub async fn project_row(state: &crate::State, auth: &Auth, id: &str) -> ApiResult<sqlx::any::AnyRow> {
    db::visible(&state.db, PROJECT_COLS, "projects", id, &auth.context_id)
        .await?
        .ok_or_else(|| ApiError::not_found("project", id))
}

/// `GET /v1pre3/users/current/projects` (optional `Name` filter).
pub async fn v1_projects(state: St, auth: Auth, params: Params) -> ApiResult<Response> {
    auth.require_browse()?;
    let page = params.page(PROJECT_SORTS, SortDir::Asc, 10, ferry_api::MAX_LIMIT)?;
    let mut filter = Filter::owned_by(&auth.context_id);
    if let Some(name) = params.get("name") {
        filter.eq("name", name.trim());
    }
    let (rows, total) = db::list(&state, PROJECT_COLS, "projects", &filter, &page).await?;
    let mut renderer = Renderer::new(&state, false);
    // BaseSpace's legacy list carries no TotalSize (each project's own answer does).
    let items: Vec<Project> = renderer
        .projects(&rows)
        .await?
        .into_iter()
        .map(|project| Project {
            total_size: None,
            ..project
        })
        .collect();
    Ok(v1(page.v1(items, total)).into_response())
}

/// `GET /v2/projects/{id}`.
pub async fn v2_project(state: St, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Project>> {
    auth.require_browse()?;
    let row = project_row(&state, &auth, &id).await?;
    Ok(Json(Renderer::new(&state, true).project(&row).await?))
}

/// `GET /v1pre3/projects/{id}`.
pub async fn v1_project(state: St, auth: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    auth.require_browse()?;
    let row = project_row(&state, &auth, &id).await?;
    Ok(v1(Renderer::new(&state, false).project(&row).await?).into_response())
}

/// Body of project creation (v2 also takes `name`/`description` as query parameters).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NewProject {
    name: Option<String>,
    description: Option<String>,
}

async fn find_or_create_project(
    state: &crate::State,
    auth: &Auth,
    name: &str,
    description: &str,
) -> ApiResult<(sqlx::any::AnyRow, bool)> {
    let sql = format!("SELECT {PROJECT_COLS} FROM projects WHERE owner_id = $1 AND name = $2 ORDER BY id LIMIT 1");
    let existing = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&auth.context_id)
        .bind(name)
        .fetch_optional(&state.db.pool)
        .await?;
    if let Some(row) = existing {
        return Ok((row, false));
    }
    let id = ids::numeric();
    let now = ferry_api::dates::now_millis();
    sqlx::query(
        "INSERT INTO projects (id, owner_id, created_by, name, description, created, modified) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(&id)
    .bind(&auth.context_id)
    .bind(&auth.user_id)
    .bind(name)
    .bind(description)
    .bind(now)
    .execute(&state.db.pool)
    .await?;
    Ok((project_row(state, auth, &id).await?, true))
}

/// `POST /v2/projects` (`?name=&description=` or a JSON body): returns the existing project of
/// that name in the context if there is one.
pub async fn v2_create_project(
    state: St,
    auth: Auth,
    params: Params,
    JsonBody(body): JsonBody<NewProject>,
) -> ApiResult<Json<Project>> {
    auth.require_write()?;
    let name = clean_name("Project name", body.name.as_deref().or(params.get("name")))?;
    let description = body
        .description
        .or_else(|| params.get("description").map(str::to_string))
        .unwrap_or_default();
    let (row, _) = find_or_create_project(&state, &auth, &name, &description).await?;
    Ok(Json(Renderer::new(&state, true).project(&row).await?))
}

/// `POST /v1pre3/projects {"Name": …}`: returns the existing project of that name if any.
pub async fn v1_create_project(
    state: St,
    auth: Auth,
    params: Params,
    JsonBody(body): JsonBody<NewProject>,
) -> ApiResult<Response> {
    auth.require_write()?;
    let name = clean_name("Project name", body.name.as_deref().or(params.get("name")))?;
    let (row, created) =
        find_or_create_project(&state, &auth, &name, body.description.as_deref().unwrap_or_default()).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, v1(Renderer::new(&state, false).project(&row).await?)).into_response())
}

// ---------------------------------------------------------------- biosamples

/// `GET /v2/biosamples` (`projectid`, `biosamplename` lists).
pub async fn v2_biosamples(state: St, auth: Auth, params: Params) -> ApiResult<Json<ItemList<Biosample>>> {
    auth.require_browse()?;
    let page = params.page(BIOSAMPLE_SORTS, SortDir::Asc, 10, ferry_api::MAX_LIMIT)?;
    let mut filter = Filter::owned_by(&auth.context_id);
    filter.biosample_in_projects(&params.list("projectid"));
    filter.any_of("name", &params.list("biosamplename"));
    let (rows, total) = db::list(&state, BIOSAMPLE_COLS, "biosamples", &filter, &page).await?;
    let mut renderer = Renderer::new(&state, true);
    let items = renderer.biosamples(&rows).await?;
    Ok(Json(page.v2(items, total)))
}

/// `GET /v2/biosamples/{id}`.
pub async fn v2_biosample(state: St, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Biosample>> {
    auth.require_browse()?;
    let row = db::visible(&state.db, BIOSAMPLE_COLS, "biosamples", &id, &auth.context_id)
        .await?
        .ok_or_else(|| ApiError::not_found("biosample", &id))?;
    Ok(Json(Renderer::new(&state, true).biosample(&row).await?))
}

/// Body of `POST /v2/biosamples`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NewBiosample {
    bio_sample_name: Option<String>,
    #[serde(deserialize_with = "ferry_api::model::opt_id_string")]
    default_project_id: Option<String>,
}

/// `POST /v2/biosamples {BioSampleName, DefaultProjectId}`: names are unique per project; asking
/// again for an existing (name, project) returns the existing biosample. 200 either way (as the
/// definition declares); the hub logs which.
pub async fn v2_create_biosample(state: St, auth: Auth, JsonBody(body): JsonBody<NewBiosample>) -> ApiResult<Response> {
    auth.require_write()?;
    let name = clean_name("BioSampleName", body.bio_sample_name.as_deref())?;
    let Some(project_id) = body.default_project_id.filter(|p| !p.trim().is_empty()) else {
        return Err(ApiError::invalid_parameter("DefaultProjectId is required."));
    };
    project_row(&state, &auth, &project_id).await?;
    let mut conn = state.db.pool.acquire().await?;
    let (id, inserted) = db::ensure_biosample(
        &mut conn,
        &auth.context_id,
        &project_id,
        &name,
        ferry_api::dates::now_millis(),
    )
    .await?;
    drop(conn);
    let sql = format!("SELECT {BIOSAMPLE_COLS} FROM biosamples WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&id)
        .fetch_one(&state.db.pool)
        .await?;
    if inserted {
        tracing::info!(biosample = %row.get::<String, _>("id"), "biosample created");
    }
    Ok(Json(Renderer::new(&state, true).biosample(&row).await?).into_response())
}

// ---------------------------------------------------------------- datasets

fn dataset_filter(auth: &Auth, params: &Params) -> ApiResult<Filter> {
    let mut filter = Filter::owned_by(&auth.context_id);
    filter.any_of("project_id", &params.list("projectid"));
    filter.any_of("biosample_id", &params.list("inputbiosamples"));
    filter.any_of("run_id", &params.list("inputruns"));
    filter.any_of("appsession_id", &params.list("appsessionids"));
    let mut types = Vec::new();
    for wanted in params.list("datasettypes") {
        match wanted.strip_prefix('~') {
            Some(base) => types.extend(types_conforming_to(base)),
            None => types.push(wanted),
        }
    }
    filter.any_of("dataset_type", &types);
    let statuses: Vec<String> = params
        .list("uploadstatus")
        .iter()
        .map(|s| normalise_upload_status(s))
        .collect::<ApiResult<_>>()?;
    filter.any_of("upload_status", &statuses);
    Ok(filter)
}

async fn list_datasets(state: &crate::State, filter: &Filter, params: &Params) -> ApiResult<ItemList<Dataset>> {
    let page = params.page(DATASET_SORTS, SortDir::Desc, 10, ferry_api::MAX_LIMIT)?;
    let (rows, total) = db::list(state, DATASET_COLS, "datasets", filter, &page).await?;
    let mut renderer = Renderer::new(state, true);
    let items = renderer.datasets(&rows).await?;
    Ok(page.v2(items, total))
}

/// `GET /v2/datasets` (`projectid`, `inputbiosamples`, `inputruns`, `appsessionids`,
/// `datasettypes` with `~type` for conforming types, `uploadstatus`).
pub async fn v2_datasets(state: St, auth: Auth, params: Params) -> ApiResult<Json<ItemList<Dataset>>> {
    auth.require_browse()?;
    let filter = dataset_filter(&auth, &params)?;
    Ok(Json(list_datasets(&state, &filter, &params).await?))
}

/// `GET /v2/projects/{id}/datasets`.
pub async fn v2_project_datasets(
    state: St,
    auth: Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Json<ItemList<Dataset>>> {
    auth.require_browse()?;
    project_row(&state, &auth, &id).await?;
    let mut filter = dataset_filter(&auth, &params)?;
    filter.eq("project_id", id);
    Ok(Json(list_datasets(&state, &filter, &params).await?))
}

/// A dataset (rendered for v1pre3) as the legacy sample it stands for.
fn sample_of(dataset: Dataset) -> Sample {
    let number = dataset
        .v1pre3_id
        .as_deref()
        .and_then(|v1| v1.strip_prefix("sample."))
        .unwrap_or_default()
        .to_string();
    let fastq = dataset.attributes.as_ref().and_then(|a| a.common_fastq.as_ref());
    Sample {
        extra: Default::default(),
        href: Some(format!("v1pre3/samples/{number}")),
        href_files: Some(format!("v1pre3/samples/{number}/files")),
        name: dataset.name.clone(),
        sample_id: dataset.name,
        date_created: dataset.date_created,
        user_owned_by: dataset.user_owned_by,
        status: dataset.upload_status,
        is_paired_end: fastq.and_then(|f| f.is_paired_end),
        read1: fastq.and_then(|f| f.max_length_read1),
        read2: fastq.and_then(|f| f.max_length_read2),
        num_reads_raw: fastq.and_then(|f| f.total_reads_raw),
        num_reads_pf: fastq.and_then(|f| f.total_reads_pf),
        id: number,
    }
}

/// `GET /v1pre3/projects/{id}/samples`: the project's datasets as legacy samples (the project's
/// `HrefSamples`).
pub async fn v1_project_samples(state: St, auth: Auth, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    auth.require_browse()?;
    project_row(&state, &auth, &id).await?;
    let page = params.page(DATASET_SORTS, SortDir::Asc, 10, ferry_api::MAX_LIMIT)?;
    let mut filter = Filter::owned_by(&auth.context_id);
    filter.eq("project_id", id);
    let (rows, total) = db::list(&state, DATASET_COLS, "datasets", &filter, &page).await?;
    let datasets = Renderer::new(&state, false).datasets(&rows).await?;
    let samples = datasets.into_iter().map(sample_of).collect();
    Ok(v1(page.v1(samples, total)).into_response())
}

/// `GET /v1pre3/samples/{id}` (`<n>` or `sample.<n>`).
pub async fn v1_sample(state: St, auth: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    auth.require_browse()?;
    let row = dataset_by_any_id(&state, &auth, &id).await?;
    let dataset = Renderer::new(&state, false).dataset(&row).await?;
    Ok(v1(sample_of(dataset)).into_response())
}

/// A visible dataset row or 404.
pub async fn dataset_row(state: &crate::State, auth: &Auth, id: &str) -> ApiResult<sqlx::any::AnyRow> {
    db::visible(&state.db, DATASET_COLS, "datasets", id, &auth.context_id)
        .await?
        .ok_or_else(|| ApiError::not_found("dataset", id))
}

/// `GET /v2/datasets/{id}`.
pub async fn v2_dataset(state: St, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Dataset>> {
    auth.require_browse()?;
    let row = dataset_row(&state, &auth, &id).await?;
    Ok(Json(Renderer::new(&state, true).dataset(&row).await?))
}

/// Reference to a biosample in a dataset body: `{"Id": …}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IdRef {
    #[serde(deserialize_with = "ferry_api::model::opt_id_string")]
    id: Option<String>,
}

/// Body of `POST /v2/projects/{id}/datasets`. The dataset's biosample is `BiosampleId` (or
/// `Biosample: {Id}`); its input run is `RunId` (or `Run: {Id}`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NewDataset {
    name: Option<String>,
    #[serde(deserialize_with = "ferry_api::model::opt_id_string")]
    app_session_id: Option<String>,
    dataset_type_id: Option<String>,
    attributes: Option<DatasetAttributes>,
    #[serde(deserialize_with = "ferry_api::model::opt_id_string", alias = "BioSampleId")]
    biosample_id: Option<String>,
    #[serde(alias = "BioSample")]
    biosample: Option<IdRef>,
    #[serde(deserialize_with = "ferry_api::model::opt_id_string")]
    run_id: Option<String>,
    run: Option<IdRef>,
}

/// `POST /v2/projects/{id}/datasets`: a new dataset, UploadStatus `Pending`.
pub async fn v2_create_dataset(
    state: St,
    auth: Auth,
    Path(project_id): Path<String>,
    JsonBody(body): JsonBody<NewDataset>,
) -> ApiResult<Json<Dataset>> {
    auth.require_write()?;
    project_row(&state, &auth, &project_id).await?;
    let name = clean_name("Name", body.name.as_deref())?;
    let dataset_type = body
        .dataset_type_id
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "common.files".to_string());
    if dataset_type.len() > 100
        || !dataset_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(ApiError::invalid_parameter(format!(
            "DatasetTypeId '{dataset_type}' is not a dataset type ID (like illumina.fastq.v1.8)."
        )));
    }
    if let Some(session) = &body.app_session_id {
        db::visible(&state.db, "id", "appsessions", session, &auth.context_id)
            .await?
            .ok_or_else(|| ApiError::not_found("appsession", session))?;
    }
    let session = body.app_session_id;
    let biosample = body.biosample_id.or(body.biosample.and_then(|b| b.id));
    if let Some(biosample) = &biosample {
        db::visible(&state.db, "id", "biosamples", biosample, &auth.context_id)
            .await?
            .ok_or_else(|| ApiError::not_found("biosample", biosample))?;
    }
    let run = body.run_id.or(body.run.and_then(|r| r.id));
    if let Some(run) = &run {
        db::visible(&state.db, "id", "runs", run, &auth.context_id)
            .await?
            .ok_or_else(|| ApiError::not_found("run", run))?;
    }
    let attributes = serde_json::to_string(&body.attributes.unwrap_or_default())
        .map_err(|e| ApiError::internal("encode dataset attributes", e))?;
    let mut conn = state.db.pool.acquire().await?;
    let id = db::insert_dataset(
        &mut conn,
        &db::NewDataset {
            owner: &auth.context_id,
            created_by: &auth.user_id,
            project: &project_id,
            biosample: biosample.as_deref(),
            appsession: session.as_deref(),
            run: run.as_deref(),
            name: &name,
            dataset_type: &dataset_type,
            attributes: &attributes,
            upload_status: "Pending",
            now: ferry_api::dates::now_millis(),
        },
    )
    .await?;
    drop(conn);
    if let Some(session) = &session {
        link_appsession(&state.db, session, &auth.context_id, "output.project", &project_id).await?;
    }
    let row = dataset_row(&state, &auth, &id).await?;
    Ok(Json(Renderer::new(&state, true).dataset(&row).await?))
}

fn normalise_upload_status(text: &str) -> ApiResult<String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "pending" => Ok("Pending".into()),
        "complete" | "completed" => Ok("Complete".into()),
        "aborted" => Ok("Aborted".into()),
        "failed" => Ok("Failed".into()),
        other => Err(ApiError::invalid_parameter(format!(
            "UploadStatus '{other}' is not one of Pending, Complete, Aborted, Failed."
        ))),
    }
}

/// Body of `POST /v2/datasets/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateDataset {
    upload_status: Option<String>,
    upload_status_summary: Option<String>,
    qc_status: Option<String>,
    attributes: Option<DatasetAttributes>,
}

/// `POST /v2/datasets/{id} {UploadStatus, UploadStatusSummary, QcStatus, Attributes}`.
pub async fn v2_update_dataset(
    state: St,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateDataset>,
) -> ApiResult<Json<Dataset>> {
    auth.require_write()?;
    dataset_row(&state, &auth, &id).await?;
    let now = ferry_api::dates::now_millis();
    if let Some(status) = &body.upload_status {
        let status = normalise_upload_status(status)?;
        sqlx::query("UPDATE datasets SET upload_status = $1, modified = $2 WHERE id = $3 AND owner_id = $4")
            .bind(status)
            .bind(now)
            .bind(&id)
            .bind(&auth.context_id)
            .execute(&state.db.pool)
            .await?;
    }
    if let Some(summary) = &body.upload_status_summary {
        sqlx::query("UPDATE datasets SET upload_status_summary = $1, modified = $2 WHERE id = $3 AND owner_id = $4")
            .bind(summary)
            .bind(now)
            .bind(&id)
            .bind(&auth.context_id)
            .execute(&state.db.pool)
            .await?;
    }
    if let Some(qc) = &body.qc_status {
        sqlx::query("UPDATE datasets SET qc_status = $1, modified = $2 WHERE id = $3 AND owner_id = $4")
            .bind(qc.trim())
            .bind(now)
            .bind(&id)
            .bind(&auth.context_id)
            .execute(&state.db.pool)
            .await?;
    }
    if let Some(attributes) = &body.attributes {
        let text = serde_json::to_string(attributes).map_err(|e| ApiError::internal("encode dataset attributes", e))?;
        sqlx::query("UPDATE datasets SET attributes = $1, modified = $2 WHERE id = $3 AND owner_id = $4")
            .bind(text)
            .bind(now)
            .bind(&id)
            .bind(&auth.context_id)
            .execute(&state.db.pool)
            .await?;
    }
    let row = dataset_row(&state, &auth, &id).await?;
    Ok(Json(Renderer::new(&state, true).dataset(&row).await?))
}

/// `GET /v2/datasettypes/{id}` for the types the hub knows.
pub async fn v2_dataset_type(state: St, auth: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    auth.require_browse()?;
    let name = match id.as_str() {
        ferry_api::FASTQ_DATASET_TYPE => "Illumina Fastq",
        "common.fastq" => "FASTQ",
        "common.files" => "Files",
        _ => return Err(ApiError::not_found("dataset type", &id)),
    };
    Ok(Json(serde_json::json!({
        "Id": id,
        "Href": format!("{}/v2/datasettypes/{id}", state.base),
        "Name": name,
        "Namespace": id.split('.').next().unwrap_or_default(),
        "ConformsToIds": crate::render::conforms_to(&id),
    }))
    .into_response())
}

// ---------------------------------------------------------------- runs

/// `GET /v2/runs` (`statuses`, `experimentname`, `flowcellbarcode`).
pub async fn v2_runs(state: St, auth: Auth, params: Params) -> ApiResult<Json<ItemList<Run>>> {
    auth.require_browse()?;
    let page = params.page(RUN_SORTS, SortDir::Asc, 10, ferry_api::MAX_LIMIT)?;
    let mut filter = Filter::owned_by(&auth.context_id);
    filter.any_of("status", &params.list("statuses"));
    filter.any_of("experiment_name", &params.list("experimentname"));
    filter.any_of("flowcell_barcode", &params.list("flowcellbarcode"));
    let (rows, total) = db::list(&state, RUN_COLS, "runs", &filter, &page).await?;
    let mut renderer = Renderer::new(&state, true);
    let items = renderer.runs(&rows).await?;
    Ok(Json(page.v2(items, total)))
}

/// `GET /v1pre3/users/current/runs` (legacy clients; `Statuses` filters as in v2). The link
/// `HrefRuns` of `/v1pre3/users/current` points here.
pub async fn v1_runs(state: St, auth: Auth, params: Params) -> ApiResult<Response> {
    auth.require_browse()?;
    let page = params.page(RUN_SORTS, SortDir::Asc, 10, ferry_api::MAX_LIMIT)?;
    let mut filter = Filter::owned_by(&auth.context_id);
    filter.any_of("status", &params.list("statuses"));
    let (rows, total) = db::list(&state, RUN_COLS, "runs", &filter, &page).await?;
    let mut renderer = Renderer::new(&state, false);
    let items = renderer.runs(&rows).await?;
    Ok(v1(page.v1(items, total)).into_response())
}

/// `GET /v1pre3/runs/{id}`.
pub async fn v1_run(state: St, auth: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    auth.require_browse()?;
    let row = run_row(&state, &auth, &id).await?;
    Ok(v1(Renderer::new(&state, false).run(&row).await?).into_response())
}

/// A visible run row or 404.
pub async fn run_row(state: &crate::State, auth: &Auth, id: &str) -> ApiResult<sqlx::any::AnyRow> {
    db::visible(&state.db, RUN_COLS, "runs", id, &auth.context_id)
        .await?
        .ok_or_else(|| ApiError::not_found("run", id))
}

/// `GET /v2/runs/{id}`.
pub async fn v2_run(state: St, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Run>> {
    auth.require_browse()?;
    let row = run_row(&state, &auth, &id).await?;
    Ok(Json(Renderer::new(&state, true).run(&row).await?))
}

// ---------------------------------------------------------------- appsessions

/// `GET /v2/appsessions`: `executionstatus`, `qcstatus`, `deliverystatus`, `name`, `appid`,
/// `usercreatedby`, `output.projects`, `input.biosamples`, `input.runs` (comma-separated lists
/// match any of their values), sorted by the definition's keys; unknown sort keys are refused.
pub async fn v2_appsessions(state: St, auth: Auth, params: Params) -> ApiResult<Json<ItemList<AppSession>>> {
    auth.require_browse()?;
    let (mut filter, page) = session_list(&auth, &params, "executionstatus")?;
    filter.any_of("qc_status", &params.list("qcstatus"));
    filter.any_of("delivery_status", &params.list("deliverystatus"));
    filter.any_of("application_id", &params.list("appid"));
    filter.any_of("created_by", &params.list("usercreatedby"));
    if let Some(name) = params.get("name") {
        filter.eq("name", name);
    }
    for (param, kind) in [
        ("output.projects", "output.project"),
        ("input.biosamples", "input.biosample"),
        ("input.runs", "input.run"),
    ] {
        let ids = params.list(param);
        if !ids.is_empty() {
            // The link's owner is the session's: a link never reaches into another context.
            filter.linked(kind, &ids);
        }
    }
    let (rows, total) = db::list(&state, APPSESSION_COLS, "appsessions", &filter, &page).await?;
    let mut renderer = Renderer::new(&state, true);
    let items = renderer.appsessions(&rows).await?;
    Ok(Json(page.v2(items, total)))
}

/// A visible (same context, not deleted) appsession row or 404.
pub async fn appsession_row(state: &crate::State, auth: &Auth, id: &str) -> ApiResult<sqlx::any::AnyRow> {
    db::visible(&state.db, APPSESSION_COLS, "appsessions", id, &auth.context_id)
        .await?
        .filter(|row| row.get::<i64, _>("deleted") == 0)
        .ok_or_else(|| ApiError::not_found("appsession", id))
}

/// `GET /v2/appsessions/{id}`.
pub async fn v2_appsession(state: St, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<AppSession>> {
    auth.require_browse()?;
    let row = appsession_row(&state, &auth, &id).await?;
    Ok(Json(Renderer::new(&state, true).appsession(&row).await?))
}

/// Body of appsession creation and update.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AppSessionBody {
    name: Option<String>,
    status_summary: Option<String>,
    execution_status: Option<String>,
    purpose: Option<String>,
}

fn execution_status(text: &str) -> ApiResult<(&'static str, bool)> {
    Ok(match text.trim().to_ascii_lowercase().as_str() {
        "running" => ("Running", false),
        "complete" | "completed" => ("Complete", true),
        "aborted" => ("Aborted", true),
        "needsattention" => ("NeedsAttention", false),
        "timedout" => ("TimedOut", true),
        _ => {
            return Err(ApiError::invalid_parameter(format!(
                "ExecutionStatus '{}' is not one of Running, Complete, Aborted, NeedsAttention, TimedOut.",
                text.trim()
            )));
        }
    })
}

/// `POST /v2/appsessions {Name, StatusSummary}` → 201, ExecutionStatus Running, Purpose AppUpload.
pub async fn v2_create_appsession(
    state: St,
    auth: Auth,
    JsonBody(body): JsonBody<AppSessionBody>,
) -> ApiResult<Response> {
    auth.require_write()?;
    let name = match body.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => clean_name("Name", Some(name))?,
        None => format!(
            "BaseSpace CLI {}",
            ferry_api::dates::format_millis(ferry_api::dates::now_millis())
        ),
    };
    let purpose = match body.purpose.as_deref().map(str::trim) {
        Some(p) if p.eq_ignore_ascii_case("AppTrigger") => "AppTrigger",
        _ => "AppUpload",
    };
    let id = ids::numeric();
    let now = ferry_api::dates::now_millis();
    sqlx::query(
        "INSERT INTO appsessions (id, owner_id, created_by, name, purpose, execution_status, status_summary, created, \
         modified, completed) VALUES ($1, $2, $3, $4, $5, 'Running', $6, $7, $7, 0)",
    )
    .bind(&id)
    .bind(&auth.context_id)
    .bind(&auth.user_id)
    .bind(&name)
    .bind(purpose)
    .bind(body.status_summary.unwrap_or_default())
    .bind(now)
    .execute(&state.db.pool)
    .await?;
    let row = appsession_row(&state, &auth, &id).await?;
    Ok((
        StatusCode::CREATED,
        Json(Renderer::new(&state, true).appsession(&row).await?),
    )
        .into_response())
}

async fn update_appsession(
    state: &crate::State,
    auth: &Auth,
    id: &str,
    name: Option<String>,
    summary: Option<String>,
    status: Option<String>,
) -> ApiResult<sqlx::any::AnyRow> {
    auth.require_write()?;
    appsession_row(state, auth, id).await?;
    let now = ferry_api::dates::now_millis();
    let runs_a_job = status.is_some()
        && sqlx::query_scalar::<_, String>("SELECT appsession_id FROM app_jobs WHERE appsession_id = $1")
            .bind(id)
            .fetch_optional(&state.db.pool)
            .await?
            .is_some();
    if runs_a_job {
        // A launched application's state is its job's: it ends when the app does, or is stopped.
        return Err(ApiError::conflict(format!(
            "App session {id} runs an application: its status changes when the application ends; to end it now, \
             stop it (POST /v2/appsessions/{id}/stop, or bs kill appsession -i {id})."
        )));
    }
    if let Some(name) = name {
        let name = clean_name("Name", Some(&name))?;
        sqlx::query("UPDATE appsessions SET name = $1, modified = $2 WHERE id = $3 AND owner_id = $4")
            .bind(name)
            .bind(now)
            .bind(id)
            .bind(&auth.context_id)
            .execute(&state.db.pool)
            .await?;
    }
    if let Some(summary) = summary {
        sqlx::query("UPDATE appsessions SET status_summary = $1, modified = $2 WHERE id = $3 AND owner_id = $4")
            .bind(summary)
            .bind(now)
            .bind(id)
            .bind(&auth.context_id)
            .execute(&state.db.pool)
            .await?;
    }
    if let Some(status) = status {
        let (status, finished) = execution_status(&status)?;
        sqlx::query(
            "UPDATE appsessions SET execution_status = $1, completed = $2, modified = $3 WHERE id = $4 AND owner_id = $5",
        )
        .bind(status)
        .bind(if finished { now } else { 0 })
        .bind(now)
        .bind(id)
        .bind(&auth.context_id)
        .execute(&state.db.pool)
        .await?;
    }
    appsession_row(state, auth, id).await
}

/// `POST /v2/appsessions/{id} {Name, StatusSummary, ExecutionStatus}`.
pub async fn v2_update_appsession(
    state: St,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AppSessionBody>,
) -> ApiResult<Json<AppSession>> {
    let row = update_appsession(
        &state,
        &auth,
        &id,
        body.name,
        body.status_summary,
        body.execution_status,
    )
    .await?;
    Ok(Json(Renderer::new(&state, true).appsession(&row).await?))
}

/// `POST /v1pre3/appsessions/{id}?status=complete&statussummary=…` (legacy).
pub async fn v1_update_appsession(
    state: St,
    auth: Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let row = update_appsession(
        &state,
        &auth,
        &id,
        None,
        params.get("statussummary").map(str::to_string),
        params.get("status").map(str::to_string),
    )
    .await?;
    if row.get::<String, _>("execution_status") == "Complete" {
        // The legacy upload protocol has no step that completes a sample: completing its session
        // does, for each of the session's samples that received a file.
        sqlx::query(
            "UPDATE datasets SET upload_status = 'Complete', modified = $1 WHERE appsession_id = $2 AND owner_id = $3 \
             AND upload_status = 'Pending' AND EXISTS (SELECT 1 FROM files f WHERE f.dataset_id = datasets.id \
             AND f.status = 'complete')",
        )
        .bind(ferry_api::dates::now_millis())
        .bind(&id)
        .bind(&auth.context_id)
        .execute(&state.db.pool)
        .await?;
    }
    Ok(v1(Renderer::new(&state, false).appsession(&row).await?).into_response())
}

/// The caller's listed (not deleted) sessions in the execution states named by `status_param`,
/// and the page asked for.
fn session_list(auth: &Auth, params: &Params, status_param: &str) -> ApiResult<(Filter, crate::params::Page)> {
    params.known_sort(APPSESSION_SORTS)?;
    let page = params.page(APPSESSION_SORTS, SortDir::Asc, 10, ferry_api::MAX_LIMIT)?;
    let mut filter = Filter::owned_by(&auth.context_id);
    filter.raw("deleted = 0");
    let statuses: Vec<String> = params
        .list(status_param)
        .iter()
        .map(|s| execution_status(s).map(|(status, _)| status.to_string()))
        .collect::<ApiResult<_>>()?;
    filter.any_of("execution_status", &statuses);
    Ok((filter, page))
}

/// `GET /v1pre3/users/current/appsessions`: the context's app sessions, as legacy clients list
/// them (`Status` beside `ExecutionStatus`; `Statuses` filters).
pub async fn v1_appsessions(state: St, auth: Auth, params: Params) -> ApiResult<Response> {
    auth.require_browse()?;
    let (filter, page) = session_list(&auth, &params, "statuses")?;
    let (rows, total) = db::list(&state, APPSESSION_COLS, "appsessions", &filter, &page).await?;
    let items = Renderer::new(&state, false).appsessions(&rows).await?;
    Ok(v1(page.v1(items, total)).into_response())
}

/// Body of the legacy sample creation.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NewSample {
    name: Option<String>,
    sample_id: Option<String>,
    read1: Option<i64>,
    read2: Option<i64>,
    is_paired_end: Option<bool>,
    num_reads_raw: Option<i64>,
    #[serde(rename = "NumReadsPF")]
    num_reads_pf: Option<i64>,
}

/// `POST /v1pre3/projects/{id}/samples?appsessionid=…` (the legacy upload's first step): a FASTQ
/// dataset named `Name` in the project, of the biosample `SampleId` (found or made), Pending
/// until its session completes; 201 with the legacy sample, whose files follow through
/// `POST /v1pre3/samples/{id}/files`.
pub async fn v1_create_sample(
    state: St,
    auth: Auth,
    Path(project_id): Path<String>,
    params: Params,
    JsonBody(body): JsonBody<NewSample>,
) -> ApiResult<Response> {
    auth.require_write()?;
    project_row(&state, &auth, &project_id).await?;
    let session = params
        .get("appsessionid")
        .map(str::to_string)
        .ok_or_else(|| ApiError::invalid_parameter("appsessionid is required: create the app session first."))?;
    appsession_row(&state, &auth, &session).await?;
    let name = clean_name("Name", body.name.as_deref())?;
    let biosample_name = clean_name("SampleId", body.sample_id.as_deref().or(Some(name.as_str())))?;
    let now = ferry_api::dates::now_millis();
    let mut conn = state.db.pool.acquire().await?;
    let (biosample, _) = db::ensure_biosample(&mut conn, &auth.context_id, &project_id, &biosample_name, now).await?;
    drop(conn);
    let common = ferry_api::CommonFastq {
        is_paired_end: body.is_paired_end,
        max_length_read1: body.read1,
        max_length_read2: body.read2,
        total_reads_raw: body.num_reads_raw,
        total_reads_pf: body.num_reads_pf,
        ..Default::default()
    };
    let attributes = serde_json::to_string(&DatasetAttributes {
        common_fastq: Some(common),
        other: Default::default(),
    })
    .map_err(|e| ApiError::internal("encode sample attributes", e))?;
    let mut conn = state.db.pool.acquire().await?;
    let id = db::insert_dataset(
        &mut conn,
        &db::NewDataset {
            owner: &auth.context_id,
            created_by: &auth.user_id,
            project: &project_id,
            biosample: Some(&biosample),
            appsession: Some(&session),
            run: None,
            name: &name,
            dataset_type: ferry_api::FASTQ_DATASET_TYPE,
            attributes: &attributes,
            upload_status: "Pending",
            now,
        },
    )
    .await?;
    drop(conn);
    link_appsession(&state.db, &session, &auth.context_id, "output.project", &project_id).await?;
    let row = dataset_row(&state, &auth, &id).await?;
    let dataset = Renderer::new(&state, false).dataset(&row).await?;
    Ok((StatusCode::CREATED, v1(sample_of(dataset))).into_response())
}

/// Used by the file handlers: the context's dataset by `ds.` ID, legacy `sample.N` or `N`.
pub async fn dataset_by_any_id(state: &crate::State, auth: &Auth, id: &str) -> ApiResult<sqlx::any::AnyRow> {
    if id.starts_with("ds.") {
        return dataset_row(state, auth, id).await;
    }
    let number: i64 = id
        .strip_prefix("sample.")
        .unwrap_or(id)
        .parse()
        .map_err(|_| ApiError::not_found("dataset", id))?;
    let sql = format!("SELECT {DATASET_COLS} FROM datasets WHERE v1pre3_number = $1 AND owner_id = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(number)
        .bind(&auth.context_id)
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or_else(|| ApiError::not_found("dataset", id))
}

/// The upload status of a dataset row.
pub fn dataset_status(row: &sqlx::any::AnyRow) -> String {
    row.get("upload_status")
}
