//! Archiving: `POST /v2/archive` and `POST /v2/restore` `{DatasetIds, RunIds}`. An archived
//! dataset or run keeps its metadata and lists, but its files' bytes are refused until a
//! restore has finished; a restore takes the hub's `--restore-seconds` (BaseSpace's takes hours).
//! Every ID must be visible to the caller, or nothing changes.

use axum::Json;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::St;
use crate::auth::Auth;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::params::JsonBody;

/// The body of both calls.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Bulk {
    dataset_ids: Vec<String>,
    run_ids: Vec<String>,
}

/// What a call changed.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BulkDone {
    dataset_ids: Vec<String>,
    run_ids: Vec<String>,
    /// For a restore: when the bytes can be downloaded again.
    #[serde(skip_serializing_if = "Option::is_none")]
    date_restore_complete: Option<String>,
}

async fn check_visible(state: &crate::State, auth: &Auth, body: &Bulk) -> ApiResult<()> {
    if body.dataset_ids.is_empty() && body.run_ids.is_empty() {
        return Err(ApiError::invalid_parameter("Give DatasetIds or RunIds."));
    }
    for (table, kind, ids) in [
        ("datasets", "dataset", &body.dataset_ids),
        ("runs", "run", &body.run_ids),
    ] {
        for id in ids {
            if db::visible(&state.db, "id", table, id, &auth.context_id)
                .await?
                .is_none()
            {
                return Err(ApiError::not_found(kind, id));
            }
        }
    }
    Ok(())
}

async fn update(state: &crate::State, auth: &Auth, body: &Bulk, sql: &'static str, value: i64) -> ApiResult<()> {
    let mut tx = state.db.pool.begin().await?;
    for (table, ids) in [("datasets", &body.dataset_ids), ("runs", &body.run_ids)] {
        for id in ids {
            let statement = sql.replace("{table}", table);
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .bind(value)
                .bind(id)
                .bind(&auth.context_id)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// `POST /v2/archive`: the datasets and runs are archived (their bytes no longer served).
pub async fn archive(state: St, auth: Auth, JsonBody(body): JsonBody<Bulk>) -> ApiResult<(StatusCode, Json<BulkDone>)> {
    auth.require_write()?;
    check_visible(&state, &auth, &body).await?;
    let now = ferry_api::dates::now_millis();
    update(
        &state,
        &auth,
        &body,
        "UPDATE {table} SET archived = $1, restore_ready = 0 WHERE id = $2 AND owner_id = $3",
        now,
    )
    .await?;
    tracing::info!(datasets = body.dataset_ids.len(), runs = body.run_ids.len(), "archived");
    Ok((
        StatusCode::OK,
        Json(BulkDone {
            dataset_ids: body.dataset_ids,
            run_ids: body.run_ids,
            date_restore_complete: None,
        }),
    ))
}

/// `POST /v2/restore`: archived datasets and runs come back after the hub's restore time (a
/// restore already under way keeps its time; an item that is not archived is left as it is).
pub async fn restore(state: St, auth: Auth, JsonBody(body): JsonBody<Bulk>) -> ApiResult<(StatusCode, Json<BulkDone>)> {
    auth.require_write()?;
    check_visible(&state, &auth, &body).await?;
    let ready = ferry_api::dates::now_millis() + state.restore_delay.as_millis() as i64;
    update(
        &state,
        &auth,
        &body,
        "UPDATE {table} SET restore_ready = $1 WHERE id = $2 AND owner_id = $3 AND archived > 0 AND restore_ready = 0",
        ready,
    )
    .await?;
    Ok((
        StatusCode::OK,
        Json(BulkDone {
            dataset_ids: body.dataset_ids,
            run_ids: body.run_ids,
            date_restore_complete: Some(ferry_api::dates::format_millis(ready)),
        }),
    ))
}
