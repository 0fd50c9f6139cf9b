//! Launching, stopping and deleting app sessions:
//! `POST /v1pre3/applications/{id}/appsessions` (BaseSpace's launch API),
//! `POST /v2/appsessions/{id}/stop` and `DELETE /v2/appsessions/{id}` (a session's properties,
//! its launch options among them, are `api/properties`').

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_api::launch::{FieldProblem, LaunchBody, resource_id, resource_kind};
use ferry_api::{AppForm, AppSession};
use serde::Serialize;
use sqlx::Row;

use super::{St, v1};
use crate::apps;
use crate::auth::Auth;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::params::{JsonBody, Params};
use crate::render::Renderer;

/// Checks the options against the form, then every named resource against the caller's
/// context; returns the options with resources as IDs, or every problem.
async fn check_launch(
    state: &crate::State,
    auth: &Auth,
    application_id: &str,
    form: &AppForm,
    options: &BTreeMap<String, Vec<String>>,
) -> ApiResult<Result<BTreeMap<String, Vec<String>>, Vec<FieldProblem>>> {
    let (mut resolved, mut problems) = match form.check(options) {
        Ok(resolved) => (resolved, Vec::new()),
        Err(problems) => (BTreeMap::new(), problems),
    };
    // Named resources are checked even when other fields are wrong: every problem at once.
    for field in &form.fields {
        let Some(kind) = resource_kind(&field.field_type) else {
            continue;
        };
        if problems.iter().any(|p| p.field == field.id) {
            continue;
        }
        let given: Vec<String> = match resolved.get(&field.id) {
            Some(values) => values.clone(),
            None => options.get(&field.id).cloned().unwrap_or_default(),
        };
        let mut ids = Vec::new();
        for value in &given {
            match resolve(state, auth, kind, value.trim()).await? {
                Some(id) => ids.push(id),
                None => problems.push(FieldProblem {
                    field: field.id.clone(),
                    message: format!(
                        "no {kind} '{}' is visible to this access token (check the ID and the token's personal or \
                         workgroup context)",
                        value.trim()
                    ),
                }),
            }
        }
        if let Some(values) = resolved.get_mut(&field.id) {
            *values = ids;
        }
    }
    if problems.is_empty() && application_id == apps::FASTQ_QC_ID {
        let none = |field: &str| resolved.get(field).is_none_or(Vec::is_empty);
        if none("sample-id") && none("dataset-id") {
            problems.push(FieldProblem {
                field: "sample-id".into(),
                message: "give the biosamples (-o sample-id:ID,…) or the datasets (-o dataset-id:ID,…) to check".into(),
            });
        }
    }
    if let Some(adapter) = resolved.get("adapter-sequence").and_then(|v| v.first())
        && !adapter.bytes().all(|b| b"ACGTNacgtn".contains(&b))
    {
        problems.push(FieldProblem {
            field: "adapter-sequence".into(),
            message: format!("'{adapter}' is not a DNA sequence (A, C, G, T, N)"),
        });
    }
    Ok(if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(problems)
    })
}

/// The ID of a resource named in a launch, if the caller's context has it.
async fn resolve(state: &crate::State, auth: &Auth, kind: &str, value: &str) -> ApiResult<Option<String>> {
    let id = resource_id(value);
    if let Some(number) = id.split("v1pre3/samples/").nth(1) {
        // A legacy sample is a FASTQ dataset; as a biosample option it names the dataset's biosample.
        let Ok(number) = number.parse::<i64>() else {
            return Ok(None);
        };
        let row = sqlx::query("SELECT id, biosample_id FROM datasets WHERE v1pre3_number = $1 AND owner_id = $2")
            .bind(number)
            .bind(&auth.context_id)
            .fetch_optional(&state.db.pool)
            .await?;
        return Ok(row.and_then(|row| match kind {
            "dataset" => Some(row.get::<String, _>("id")),
            _ => row.get::<Option<String>, _>("biosample_id"),
        }));
    }
    let table = match kind {
        "project" => "projects",
        "biosample" => "biosamples",
        _ => "datasets",
    };
    Ok(db::visible(&state.db, "id", table, id, &auth.context_id)
        .await?
        .map(|row| row.get::<String, _>("id")))
}

/// `POST /v1pre3/applications/{id}/appsessions {Name, StatusSummary, AutoStart, Properties}`:
/// checks the options (409 "Form validation found some errors" naming every problem, nothing
/// created), then creates the session (ExecutionStatus `Running`) with its properties and
/// links, and queues its job. 201 with the session in the v1pre3 envelope.
pub async fn v1_launch(
    state: St,
    auth: Auth,
    Path(application_id): Path<String>,
    JsonBody(body): JsonBody<LaunchBody>,
) -> ApiResult<Response> {
    auth.require_launch()?;
    auth.require_write()?;
    let sql = format!(
        "SELECT {} FROM applications WHERE id = $1 AND disabled = 0",
        apps::APP_COLS
    );
    let app = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&application_id)
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or_else(|| ApiError::not_found("application", &application_id))?;
    let form = apps::form(&app);
    let options = match check_launch(&state, &auth, &application_id, &form, &body.options()).await? {
        Ok(options) => options,
        Err(problems) => return Err(ApiError::form_errors(&problems)),
    };
    let app_name: String = app.get("name");
    let now = ferry_api::dates::now_millis();
    let name = options
        .get("app-session-name")
        .and_then(|v| v.first())
        .cloned()
        .or(body.name.clone())
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("{app_name} {}", ferry_api::dates::format_millis(now)));
    if name.len() > 255 || name.chars().any(char::is_control) {
        return Err(ApiError::form_errors(&[FieldProblem {
            field: "app-session-name".into(),
            message: "a name has at most 255 characters and no control characters".into(),
        }]));
    }
    let id = ids::numeric();
    let mut tx = state.db.pool.begin().await?;
    sqlx::query(
        "INSERT INTO appsessions (id, owner_id, created_by, name, purpose, execution_status, status_summary, created, \
         modified, completed, application_id) VALUES ($1, $2, $3, $4, 'AppTrigger', 'Running', $5, $6, $6, 0, $7)",
    )
    .bind(&id)
    .bind(&auth.context_id)
    .bind(&auth.user_id)
    .bind(&name)
    .bind(body.status_summary.as_deref().unwrap_or("Queued"))
    .bind(now)
    .bind(&application_id)
    .execute(&mut *tx)
    .await?;
    let mut inputs = Vec::new();
    for field in &form.fields {
        let Some(values) = options.get(&field.id) else {
            continue;
        };
        let kind = resource_kind(&field.field_type);
        let property_type = match (kind, field.multiple) {
            (Some(kind), true) => format!("{kind}[]"),
            (Some(kind), false) => kind.to_string(),
            (None, true) => "string[]".to_string(),
            (None, false) => "string".to_string(),
        };
        inputs.push((format!("Input.{}", field.id), property_type, values.clone()));
        let link = match (kind, field.id.as_str()) {
            (Some("project"), "project-id") => Some("output.project"),
            (Some("biosample"), _) => Some("input.biosample"),
            _ => None,
        };
        if let Some(link) = link {
            for value in values {
                sqlx::query(
                    "INSERT INTO appsession_links (appsession_id, owner_id, kind, resource_id) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (appsession_id, kind, resource_id) DO NOTHING",
                )
                .bind(&id)
                .bind(&auth.context_id)
                .bind(link)
                .bind(value)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    super::properties::record_inputs(&mut tx, &auth, &id, &inputs, now).await?;
    // Datasets given directly count as inputs of their biosamples too.
    for dataset in options.get("dataset-id").into_iter().flatten() {
        sqlx::query(
            "INSERT INTO appsession_links (appsession_id, owner_id, kind, resource_id) \
             SELECT $1, owner_id, 'input.biosample', biosample_id FROM datasets \
             WHERE id = $2 AND owner_id = $3 AND biosample_id IS NOT NULL \
             ON CONFLICT (appsession_id, kind, resource_id) DO NOTHING",
        )
        .bind(&id)
        .bind(dataset)
        .bind(&auth.context_id)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO app_jobs (appsession_id, owner_id, created_by, application_id, options, state, created, modified) \
         VALUES ($1, $2, $3, $4, $5, 'queued', $6, $6)",
    )
    .bind(&id)
    .bind(&auth.context_id)
    .bind(&auth.user_id)
    .bind(&application_id)
    .bind(serde_json::to_string(&options).unwrap_or_default())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    state.jobs.notify();
    tracing::info!(session = %id, application = %application_id, "app session launched");
    let row = super::resources::appsession_row(&state, &auth, &id).await?;
    let session = Renderer::new(&state, false).appsession(&row).await?;
    Ok((StatusCode::CREATED, v1(session)).into_response())
}

/// `POST /v2/appsessions/{id}/stop`: a `Running` session becomes `Aborted` at once; its worker
/// stops and discards what it staged, so no partial output is ever published. Stopping an
/// ended session is refused (409) with its status.
pub async fn v2_stop(state: St, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<AppSession>> {
    auth.require_write()?;
    let row = super::resources::appsession_row(&state, &auth, &id).await?;
    let now = ferry_api::dates::now_millis();
    let who = crate::auth::user_by_id(&state.db, &auth.user_id)
        .await?
        .map(|user| user.name)
        .unwrap_or_else(|| auth.user_id.clone());
    let summary = format!("Stopped by {who}");
    let mut tx = state.db.pool.begin().await?;
    let stopped = sqlx::query(
        "UPDATE appsessions SET execution_status = 'Aborted', status_summary = $1, completed = $2, modified = $2 \
         WHERE id = $3 AND owner_id = $4 AND execution_status = 'Running'",
    )
    .bind(&summary)
    .bind(now)
    .bind(&id)
    .bind(&auth.context_id)
    .execute(&mut *tx)
    .await?;
    if stopped.rows_affected() == 0 {
        tx.rollback().await?;
        let status: String = row.get("execution_status");
        return Err(ApiError::conflict(format!(
            "App session {id} is {status}, not Running: only a running session can be stopped."
        )));
    }
    let had_job = sqlx::query("UPDATE app_jobs SET state = 'finished', modified = $1 WHERE appsession_id = $2")
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        > 0;
    tx.commit().await?;
    if had_job {
        // The log says how it ended; a failure to write it must not undo the stop.
        match crate::jobs::store_log(&state, &id, &format!("Aborted: {summary}")).await {
            Ok(log) => {
                let mut tx = state.db.pool.begin().await?;
                if let Err(error) = crate::jobs::insert_log_file(&mut tx, &auth.context_id, &id, &log, now).await {
                    tracing::warn!(session = %id, error = %format!("{error:#}"), "cannot record a stopped session's log");
                } else {
                    tx.commit().await?;
                }
            }
            Err(error) => {
                tracing::warn!(session = %id, error = %format!("{error:#}"), "cannot store a stopped session's log")
            }
        }
        if let Err(error) = crate::jobs::discard_staged(&state, &id, None).await {
            tracing::warn!(session = %id, error = %format!("{error:#}"), "cannot remove a stopped session's staged outputs");
        }
    }
    tracing::info!(session = %id, "app session stopped");
    let row = super::resources::appsession_row(&state, &auth, &id).await?;
    Ok(Json(Renderer::new(&state, true).appsession(&row).await?))
}

/// The answer of `DELETE /v2/appsessions/{id}` (the definition's `V1pre3TrashItem`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeletedSession {
    id: String,
    name: String,
    date_deleted: String,
    /// Ferry has no trash: what is deleted is gone.
    is_visible_in_trash: bool,
    trash_status: &'static str,
    /// Output datasets removed with the session.
    child_count: u64,
    deleted_app_session: DeletedSessionCompact,
}

/// The deleted session, compact.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeletedSessionCompact {
    id: String,
    name: String,
    /// False when `preserve=Metadata` kept the session's record.
    is_deleted: bool,
}

/// `DELETE /v2/appsessions/{id}[?preserve=Metadata]`: removes an ended session's output
/// datasets and their files; without `preserve=Metadata` the session itself is then neither
/// listed nor served. A running session must be stopped first (409).
pub async fn v2_delete(
    state: St,
    auth: Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Json<DeletedSession>> {
    auth.require_write()?;
    let row = super::resources::appsession_row(&state, &auth, &id).await?;
    let status: String = row.get("execution_status");
    if status == "Running" {
        return Err(ApiError::conflict(format!(
            "App session {id} is still Running: stop it first (POST /v2/appsessions/{id}/stop, or bs kill appsession -i {id})."
        )));
    }
    let preserve = params
        .get("preserve")
        .is_some_and(|p| p.eq_ignore_ascii_case("metadata"));
    let now = ferry_api::dates::now_millis();
    let mut tx = state.db.pool.begin().await?;
    let blobs: Vec<String> = sqlx::query_scalar(
        "SELECT f.blob_key FROM files f JOIN datasets d ON d.id = f.dataset_id \
         WHERE d.appsession_id = $1 AND d.owner_id = $2",
    )
    .bind(&id)
    .bind(&auth.context_id)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM files WHERE dataset_id IN (SELECT id FROM datasets WHERE appsession_id = $1 AND owner_id = $2)",
    )
    .bind(&id)
    .bind(&auth.context_id)
    .execute(&mut *tx)
    .await?;
    let datasets = sqlx::query("DELETE FROM datasets WHERE appsession_id = $1 AND owner_id = $2")
        .bind(&id)
        .bind(&auth.context_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if !preserve {
        sqlx::query("UPDATE appsessions SET deleted = $1, modified = $1 WHERE id = $2 AND owner_id = $3")
            .bind(now)
            .bind(&id)
            .bind(&auth.context_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    for key in blobs {
        if let Err(error) = state.blobs.delete(&key).await {
            tracing::warn!(session = %id, %error, "cannot remove a deleted output's bytes");
        }
    }
    tracing::info!(session = %id, datasets, preserve, "app session deleted");
    let name: String = row.get("name");
    Ok(Json(DeletedSession {
        id: id.clone(),
        name: name.clone(),
        date_deleted: ferry_api::dates::format_millis(now),
        is_visible_in_trash: false,
        trash_status: "Deleted",
        child_count: datasets,
        deleted_app_session: DeletedSessionCompact {
            id,
            name,
            is_deleted: !preserve,
        },
    }))
}
