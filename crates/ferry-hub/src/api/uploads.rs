//! Uploads: v2 `file-upload-info` (signed part URLs, completion with part ETags), v2
//! `POST /v2/datasets/{id}/files` (multipart form), and the legacy v1pre3 multipart protocol.
//!
//! Bytes stream into the blob store; a file is only listed or served once its upload completed
//! and checked (parts, ETags, size). An upload stays resumable until completed or aborted: a part
//! may be sent again to the same upload, replacing the earlier try.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Multipart, Path};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use ferry_api::{CompleteUploadRequest, File, PartEtag, PresignedUrlForUpload};
use futures_util::TryStreamExt;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::files::{clean_path, content_type_for};
use super::resources::{dataset_by_any_id, dataset_row, dataset_status};
use super::{St, v1};
use crate::auth::Auth;
use crate::blob::BlobError;
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::params::{JsonBody, Params};
use crate::render::{FILE_COLS, Renderer};

/// Most parts one upload may have (as S3).
pub const MAX_PARTS: i64 = 10_000;
/// How long upload URLs stay valid.
pub const UPLOAD_URL_SECONDS: i64 = 7 * 24 * 3600;

const UPLOAD_COLS: &str = "id, owner_id, dataset_id, file_id, path, multipart, status";

fn blob_error(error: BlobError, limit: u64) -> ApiError {
    match error {
        BlobError::TooLarge(_) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BASESPACE.UPLOAD.PART_TOO_LARGE",
            format!("The body is larger than this hub accepts in one request ({limit} bytes); send smaller parts."),
        ),
        BlobError::Body(message) => ApiError::bad_request(format!(
            "The upload body could not be read completely ({message}); nothing was kept, send it again."
        )),
        BlobError::Parts(message) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "BASESPACE.UPLOAD.PART_MISMATCH",
            format!("{message}. Upload the part again, then complete."),
        ),
        BlobError::Store(message) => ApiError::internal("store uploaded bytes", message),
    }
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

fn path_taken(path: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "BASESPACE.FILE.ALREADY_EXISTS",
        format!("The dataset already has a file at '{path}'. Upload into a new dataset, or use another path."),
    )
}

fn check_open(dataset: &AnyRow) -> ApiResult<()> {
    if dataset_status(dataset) == "Complete" {
        return Err(ApiError::conflict(
            "This dataset is marked Complete and takes no more files; create a new dataset for more files.",
        ));
    }
    Ok(())
}

async fn path_is_free(state: &crate::State, dataset_id: &str, path: &str) -> ApiResult<()> {
    let taken: Option<String> =
        sqlx::query_scalar("SELECT id FROM files WHERE dataset_id = $1 AND path = $2 AND status = 'complete'")
            .bind(dataset_id)
            .bind(path)
            .fetch_optional(&state.db.pool)
            .await?;
    match taken {
        Some(_) => Err(path_taken(path)),
        None => Ok(()),
    }
}

/// Starts an upload of `path` into a dataset: a pending file and an upload record.
async fn start_upload(
    state: &crate::State,
    auth: &Auth,
    dataset: &AnyRow,
    path: &str,
    multipart: bool,
) -> ApiResult<(String, String)> {
    check_open(dataset)?;
    let (path, directory, name) = clean_path(path)?;
    let dataset_id: String = dataset.get("id");
    path_is_free(state, &dataset_id, &path).await?;
    let upload_id = ids::blob_key();
    let file_id = ids::numeric();
    let now = ferry_api::dates::now_millis();
    let mut tx = state.db.pool.begin().await?;
    sqlx::query(
        "INSERT INTO files (id, owner_id, dataset_id, run_id, path, name, directory, content_type, size, etag, \
         blob_key, status, upload_id, created, modified) \
         VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, 0, '', '', 'pending', $8, $9, $9)",
    )
    .bind(&file_id)
    .bind(&auth.context_id)
    .bind(&dataset_id)
    .bind(&path)
    .bind(&name)
    .bind(&directory)
    .bind(content_type_for(&name))
    .bind(&upload_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO uploads (id, owner_id, dataset_id, file_id, path, multipart, status, created) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7)",
    )
    .bind(&upload_id)
    .bind(&auth.context_id)
    .bind(&dataset_id)
    .bind(&file_id)
    .bind(&path)
    .bind(i64::from(multipart))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((upload_id, file_id))
}

fn part_url(state: &crate::State, upload_id: &str, part: &str, expires: i64) -> String {
    let sig = state.signer.sign("upload", upload_id, expires);
    format!(
        "{}/uploads/{upload_id}/parts/{part}?expires={expires}&sig={sig}",
        state.base
    )
}

/// `GET /v2/datasets/{id}/file-upload-info?filepath=P&uploadpartcount=N`: N > 1 gives a
/// multipart upload (`MultipartUploadId`, `MultipartTemplate` with `{partNumber}`); otherwise a
/// `SinglePartUrl`.
pub async fn upload_info(state: St, auth: Auth, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    auth.require_write()?;
    let dataset = dataset_row(&state, &auth, &id).await?;
    let Some(path) = params.get("filepath") else {
        return Err(ApiError::invalid_parameter(
            "filepath is required (the file's path in the dataset).",
        ));
    };
    let parts = params.int("uploadpartcount")?.unwrap_or(1);
    if !(1..=MAX_PARTS).contains(&parts) {
        return Err(ApiError::invalid_parameter(format!(
            "uploadpartcount must be between 1 and {MAX_PARTS}, not {parts}."
        )));
    }
    let multipart = parts > 1;
    let (upload_id, _) = start_upload(&state, &auth, &dataset, path, multipart).await?;
    let expires = crate::signing::now_secs() + UPLOAD_URL_SECONDS;
    let answer = if multipart {
        PresignedUrlForUpload {
            multipart_template: Some(part_url(&state, &upload_id, "{partNumber}", expires)),
            multipart_upload_id: Some(upload_id),
            ..Default::default()
        }
    } else {
        PresignedUrlForUpload {
            single_part_url: Some(part_url(&state, &upload_id, "1", expires)),
            ..Default::default()
        }
    };
    Ok(Json(answer).into_response())
}

async fn upload_by_id(state: &crate::State, upload_id: &str) -> ApiResult<Option<AnyRow>> {
    let sql = format!("SELECT {UPLOAD_COLS} FROM uploads WHERE id = $1");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(upload_id)
        .fetch_optional(&state.db.pool)
        .await?)
}

fn parse_part_number(text: &str) -> ApiResult<u32> {
    match text.parse::<i64>() {
        Ok(n) if (1..=MAX_PARTS).contains(&n) => Ok(n as u32),
        _ => Err(ApiError::invalid_parameter(format!(
            "Part number must be between 1 and {MAX_PARTS}, not '{text}'."
        ))),
    }
}

/// Streams one part into the store, checks `Content-MD5` when sent, records it; returns its MD5.
async fn store_part(
    state: &crate::State,
    upload: &AnyRow,
    part: u32,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<String> {
    let status: String = upload.get("status");
    if status != "pending" {
        return Err(ApiError::conflict(format!(
            "This upload is {status}; it takes no more parts. Start a new upload."
        )));
    }
    let upload_id: String = upload.get("id");
    let limit = state.max_part_size;
    if let Some(length) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && length > limit
    {
        return Err(blob_error(BlobError::TooLarge(limit), limit));
    }
    let expected_md5 = match headers.get("content-md5").and_then(|v| v.to_str().ok()) {
        None => None,
        Some(text) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .ok()
                .filter(|d| d.len() == 16)
                .map(hex::encode)
                .ok_or_else(|| ApiError::invalid_parameter("Content-MD5 must be the base64 of a 16-byte MD5."))?,
        ),
    };
    let stream = body.into_data_stream().map_err(|e| e.to_string());
    let written = state
        .blobs
        .put_part(&upload_id, part, stream, limit)
        .await
        .map_err(|e| blob_error(e, limit))?;
    if let Some(expected) = expected_md5
        && expected != written.md5
    {
        // The stored bytes are not what the client meant: forget the part so it is sent again.
        sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1 AND part_number = $2")
            .bind(&upload_id)
            .bind(i64::from(part))
            .execute(&state.db.pool)
            .await?;
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "BASESPACE.UPLOAD.BAD_DIGEST",
            format!(
                "Part {part} arrived with MD5 {} but Content-MD5 said {expected}; it was dropped, send it again.",
                written.md5
            ),
        ));
    }
    sqlx::query(
        "INSERT INTO upload_parts (upload_id, part_number, size, md5, created) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (upload_id, part_number) DO UPDATE SET size = excluded.size, md5 = excluded.md5, \
         created = excluded.created",
    )
    .bind(&upload_id)
    .bind(i64::from(part))
    .bind(written.size as i64)
    .bind(&written.md5)
    .bind(ferry_api::dates::now_millis())
    .execute(&state.db.pool)
    .await?;
    Ok(written.md5)
}

/// `PUT /uploads/{upload}/parts/{n}?expires=&sig=`: one part's bytes → 200 with `ETag: "<md5>"`.
pub async fn put_signed_part(
    state: St,
    Path((upload_id, part)): Path<(String, String)>,
    params: Params,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    state
        .signer
        .verify("upload", &upload_id, params.get("expires"), params.get("sig"))?;
    let part = parse_part_number(&part)?;
    let Some(upload) = upload_by_id(&state, &upload_id).await? else {
        return Err(ApiError::forbidden("This signed URL is not valid."));
    };
    let md5 = store_part(&state, &upload, part, &headers, body).await?;
    let mut response = StatusCode::OK.into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("\"{md5}\"")) {
        response.headers_mut().insert(header::ETAG, value);
    }
    Ok(response)
}

fn normalise_etag(text: &str) -> String {
    text.trim().trim_matches('"').to_ascii_lowercase()
}

/// How long a `completing` claim may last before another request may take the upload over.
const STALE_COMPLETION_MILLIS: i64 = 6 * 3600 * 1000;

/// Completes an upload: checks parts, assembles them, publishes the file. Completing a completed
/// upload again returns its file.
///
/// The work runs in its own task: a client that disconnects or gives up while a large file is
/// being assembled must not leave the upload stuck as `completing` (the task finishes and either
/// publishes the file or puts the upload back to `pending`, so the client's retry can complete it).
async fn complete_upload(
    state: &Arc<crate::State>,
    upload: &AnyRow,
    part_etags: &[PartEtag],
    size: Option<i64>,
    content_type: Option<&str>,
) -> ApiResult<AnyRow> {
    let state = Arc::clone(state);
    let upload = upload.clone();
    let part_etags = part_etags.to_vec();
    let content_type = content_type.map(str::to_string);
    tokio::spawn(async move { complete_upload_now(&state, &upload, &part_etags, size, content_type.as_deref()).await })
        .await
        .map_err(|error| ApiError::internal("completing an upload", error))?
}

async fn complete_upload_now(
    state: &crate::State,
    upload: &AnyRow,
    part_etags: &[PartEtag],
    size: Option<i64>,
    content_type: Option<&str>,
) -> ApiResult<AnyRow> {
    let upload_id: String = upload.get("id");
    let file_id: String = upload.get("file_id");
    let path: String = upload.get("path");
    // A `completing` claim older than STALE_COMPLETION_MILLIS belongs to a process that died
    // mid-assembly (publishing is one transaction, so nothing of it is visible): take it over.
    let now = ferry_api::dates::now_millis();
    let claimed = sqlx::query(
        "UPDATE uploads SET status = 'completing', completing_since = $2 WHERE id = $1 \
         AND (status = 'pending' OR (status = 'completing' AND completing_since < $3))",
    )
    .bind(&upload_id)
    .bind(now)
    .bind(now - STALE_COMPLETION_MILLIS)
    .execute(&state.db.pool)
    .await?
    .rows_affected();
    if claimed == 0 {
        let status: String = sqlx::query_scalar("SELECT status FROM uploads WHERE id = $1")
            .bind(&upload_id)
            .fetch_one(&state.db.pool)
            .await?;
        if status == "complete" {
            return any_file_row(state, &file_id).await;
        }
        return Err(ApiError::conflict(format!(
            "This upload is {status}; it cannot be completed now."
        )));
    }
    let result = assemble(state, upload, part_etags, size, content_type).await;
    match result {
        Ok(row) => Ok(row),
        Err(error) => {
            let _ = sqlx::query("UPDATE uploads SET status = 'pending' WHERE id = $1 AND status = 'completing'")
                .bind(&upload_id)
                .execute(&state.db.pool)
                .await;
            if error.status == StatusCode::CONFLICT && error.code == "BASESPACE.FILE.ALREADY_EXISTS" {
                tracing::info!(%upload_id, %path, "upload completion refused: path taken");
            }
            Err(error)
        }
    }
}

async fn assemble(
    state: &crate::State,
    upload: &AnyRow,
    part_etags: &[PartEtag],
    size: Option<i64>,
    content_type: Option<&str>,
) -> ApiResult<AnyRow> {
    let upload_id: String = upload.get("id");
    let file_id: String = upload.get("file_id");
    let path: String = upload.get("path");
    let multipart: i64 = upload.get("multipart");
    let rows = sqlx::query("SELECT part_number, size, md5 FROM upload_parts WHERE upload_id = $1 ORDER BY part_number")
        .bind(&upload_id)
        .fetch_all(&state.db.pool)
        .await?;
    let recorded: Vec<(u32, i64, String)> = rows
        .iter()
        .map(|r| (r.get::<i64, _>("part_number") as u32, r.get("size"), r.get("md5")))
        .collect();
    if recorded.is_empty() {
        return Err(ApiError::bad_request(
            "No bytes were uploaded for this file yet; PUT the parts first, then complete.",
        ));
    }
    let mut chosen: Vec<(u32, String)> = Vec::new();
    let mut total: i64 = 0;
    if part_etags.is_empty() {
        for (i, (n, part_size, md5)) in recorded.iter().enumerate() {
            if *n as usize != i + 1 {
                return Err(ApiError::bad_request(format!(
                    "Part {} is missing; upload it, then complete again.",
                    i + 1
                )));
            }
            chosen.push((*n, md5.clone()));
            total += part_size;
        }
    } else {
        let mut sorted = part_etags.to_vec();
        sorted.sort_by_key(|p| p.part);
        for (i, given) in sorted.iter().enumerate() {
            if i > 0 && sorted[i - 1].part == given.part {
                return Err(ApiError::invalid_parameter(format!(
                    "Part {} is listed twice.",
                    given.part
                )));
            }
            let Some((_, part_size, md5)) = recorded.iter().find(|(n, _, _)| *n == given.part) else {
                return Err(ApiError::bad_request(format!(
                    "Part {} was never received; upload it, then complete again.",
                    given.part
                )));
            };
            if normalise_etag(&given.etag) != *md5 {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "BASESPACE.UPLOAD.ETAG_MISMATCH",
                    format!(
                        "Part {}'s ETag {} differs from the part the hub received ({md5}); upload part {} again.",
                        given.part, given.etag, given.part
                    ),
                ));
            }
            chosen.push((given.part, md5.clone()));
            total += part_size;
        }
    }
    if let Some(expected) = size
        && expected != total
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "BASESPACE.UPLOAD.SIZE_MISMATCH",
            format!("The parts add up to {total} bytes, but Size says {expected}; upload the missing bytes again."),
        ));
    }
    let key = ids::blob_key();
    let written = state
        .blobs
        .complete_multipart(&upload_id, &chosen, &key)
        .await
        .map_err(|e| blob_error(e, state.max_part_size))?;
    let etag = if multipart == 1 {
        written.multipart_etag.clone()
    } else {
        written.md5.clone()
    };
    let now = ferry_api::dates::now_millis();
    let name: String = path.rsplit('/').next().unwrap_or(&path).to_string();
    let content_type = content_type
        .map(str::trim)
        .filter(|c| !c.is_empty() && c.len() < 200 && !c.chars().any(char::is_control))
        .unwrap_or(content_type_for(&name))
        .to_string();
    let published = publish_upload(state, &upload_id, &file_id, &written, &etag, &key, &content_type, now).await;
    if let Err(error) = published {
        let _ = state.blobs.delete(&key).await;
        if is_unique_violation(&error) {
            return Err(path_taken(&path));
        }
        return Err(error.into());
    }
    if let Err(error) = state.blobs.abort_multipart(&upload_id).await {
        tracing::warn!(%upload_id, %error, "cannot remove the parts of a completed upload");
    }
    tracing::info!(%upload_id, %file_id, %path, size = written.size, %etag, "upload completed");
    any_file_row(state, &file_id).await
}

/// Marks the file complete and the upload done, in one transaction.
#[allow(clippy::too_many_arguments)]
async fn publish_upload(
    state: &crate::State,
    upload_id: &str,
    file_id: &str,
    written: &crate::blob::Written,
    etag: &str,
    key: &str,
    content_type: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = state.db.pool.begin().await?;
    sqlx::query(
        "UPDATE files SET status = 'complete', size = $1, etag = $2, blob_key = $3, content_type = $4, \
         modified = $5 WHERE id = $6 AND status = 'pending'",
    )
    .bind(written.size as i64)
    .bind(etag)
    .bind(key)
    .bind(content_type)
    .bind(now)
    .bind(file_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE uploads SET status = 'complete' WHERE id = $1")
        .bind(upload_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1")
        .bind(upload_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

async fn any_file_row(state: &crate::State, file_id: &str) -> ApiResult<AnyRow> {
    let sql = format!("SELECT {FILE_COLS} FROM files WHERE id = $1");
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(file_id)
        .fetch_one(&state.db.pool)
        .await?)
}

/// `POST /v2/datasets/{id}/file-upload-info {UploadId?, FilePath, PartEtags, Size, ContentType}`:
/// completes the upload; the file becomes visible.
pub async fn complete_upload_info(
    state: St,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CompleteUploadRequest>,
) -> ApiResult<Json<File>> {
    auth.require_write()?;
    dataset_row(&state, &auth, &id).await?;
    let upload = match body.upload_id.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(upload_id) => {
            let sql = format!("SELECT {UPLOAD_COLS} FROM uploads WHERE id = $1 AND dataset_id = $2 AND owner_id = $3");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(upload_id.trim())
                .bind(&id)
                .bind(&auth.context_id)
                .fetch_optional(&state.db.pool)
                .await?
                .ok_or_else(|| ApiError::not_found("upload", upload_id))?
        }
        None => {
            let (path, _, _) = clean_path(&body.file_path)?;
            let sql = format!(
                "SELECT {UPLOAD_COLS} FROM uploads WHERE dataset_id = $1 AND owner_id = $2 AND path = $3 \
                 AND status IN ('pending', 'complete') ORDER BY created DESC, id DESC LIMIT 1"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&id)
                .bind(&auth.context_id)
                .bind(&path)
                .fetch_optional(&state.db.pool)
                .await?
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "No upload of '{path}' was started in this dataset; ask GET …/file-upload-info first."
                    ))
                })?
        }
    };
    if !body.file_path.is_empty() && body.file_path != upload.get::<String, _>("path") {
        return Err(ApiError::invalid_parameter(format!(
            "FilePath '{}' is not the path this upload was started for ('{}').",
            body.file_path,
            upload.get::<String, _>("path")
        )));
    }
    let row = complete_upload(
        &state,
        &upload,
        &body.part_etags,
        body.size,
        body.content_type.as_deref(),
    )
    .await?;
    Ok(Json(Renderer::new(&state, true).file(&row)))
}

/// Publishes a file whose bytes are already a blob (single-request uploads).
async fn insert_complete_file(
    state: &crate::State,
    auth: &Auth,
    dataset_id: &str,
    path: &str,
    written: &crate::blob::Written,
    key: &str,
) -> ApiResult<AnyRow> {
    let (path, directory, name) = clean_path(path)?;
    let file_id = ids::numeric();
    let now = ferry_api::dates::now_millis();
    let inserted = sqlx::query(
        "INSERT INTO files (id, owner_id, dataset_id, run_id, path, name, directory, content_type, size, etag, \
         blob_key, status, upload_id, created, modified) \
         VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $9, $10, 'complete', NULL, $11, $11)",
    )
    .bind(&file_id)
    .bind(&auth.context_id)
    .bind(dataset_id)
    .bind(&path)
    .bind(&name)
    .bind(&directory)
    .bind(content_type_for(&name))
    .bind(written.size as i64)
    .bind(&written.md5)
    .bind(key)
    .bind(now)
    .execute(&state.db.pool)
    .await;
    if let Err(error) = inserted {
        let _ = state.blobs.delete(key).await;
        if is_unique_violation(&error) {
            return Err(path_taken(&path));
        }
        return Err(error.into());
    }
    any_file_row(state, &file_id).await
}

fn joined_path(params: &Params) -> Option<String> {
    if let Some(path) = params.get("filepath") {
        return Some(path.to_string());
    }
    let name = params.get("name")?;
    Some(
        match params
            .get("directory")
            .map(|d| d.trim_matches('/'))
            .filter(|d| !d.is_empty())
        {
            Some(directory) => format!("{directory}/{name}"),
            None => name.to_string(),
        },
    )
}

/// `POST /v2/datasets/{id}/files` (multipart/form-data: field `file`; path from `filepath` in
/// the query or an earlier form field, else the file name).
pub async fn v2_post_file(
    state: St,
    auth: Auth,
    Path(id): Path<String>,
    params: Params,
    mut form: Multipart,
) -> ApiResult<Json<File>> {
    auth.require_write()?;
    let dataset = dataset_row(&state, &auth, &id).await?;
    check_open(&dataset)?;
    let mut path = joined_path(&params);
    loop {
        let field = form
            .next_field()
            .await
            .map_err(|e| ApiError::bad_request(format!("The multipart form is malformed: {e}")))?;
        let Some(field) = field else {
            return Err(ApiError::invalid_parameter(
                "The form has no field named 'file'; send the bytes in a field named 'file'.",
            ));
        };
        match field.name() {
            Some("filepath") | Some("FilePath") if path.is_none() => {
                path = Some(
                    field
                        .text()
                        .await
                        .map_err(|e| ApiError::bad_request(format!("Cannot read the filepath field: {e}")))?,
                );
            }
            Some("file") => {
                let path = match path.or_else(|| field.file_name().map(str::to_string)) {
                    Some(path) => path,
                    None => return Err(ApiError::invalid_parameter("filepath is required.")),
                };
                let (path, _, _) = clean_path(&path)?;
                path_is_free(&state, &id, &path).await?;
                let key = ids::blob_key();
                let limit = state.max_part_size;
                let written = state
                    .blobs
                    .put_stream(&key, field.map_err(|e| e.to_string()), limit)
                    .await
                    .map_err(|e| blob_error(e, limit))?;
                let row = insert_complete_file(&state, &auth, &id, &path, &written, &key).await?;
                return Ok(Json(Renderer::new(&state, true).file(&row)));
            }
            _ => continue,
        }
    }
}

/// `POST /v1pre3/datasets/{id}/files` and `/v1pre3/samples/{id}/files`
/// (`?name=&directory=&multipart=true`): with `multipart=true`, starts a multipart upload and
/// returns the pending file; otherwise the body is the file's content.
pub async fn v1_post_file(
    state: St,
    auth: Auth,
    Path(id): Path<String>,
    params: Params,
    body: Body,
) -> ApiResult<Response> {
    auth.require_write()?;
    let dataset = dataset_by_any_id(&state, &auth, &id).await?;
    let dataset_id: String = dataset.get("id");
    let Some(path) = joined_path(&params) else {
        return Err(ApiError::invalid_parameter(
            "name is required (the file's name; directory is optional).",
        ));
    };
    let renderer = Renderer::new(&state, false);
    if params.flag("multipart")?.unwrap_or(false) {
        let (_, file_id) = start_upload(&state, &auth, &dataset, &path, true).await?;
        let row = any_file_row(&state, &file_id).await?;
        return Ok((StatusCode::CREATED, v1(renderer.file(&row))).into_response());
    }
    check_open(&dataset)?;
    let (path, _, _) = clean_path(&path)?;
    path_is_free(&state, &dataset_id, &path).await?;
    let key = ids::blob_key();
    let limit = state.max_part_size;
    let written = state
        .blobs
        .put_stream(&key, body.into_data_stream().map_err(|e| e.to_string()), limit)
        .await
        .map_err(|e| blob_error(e, limit))?;
    let row = insert_complete_file(&state, &auth, &dataset_id, &path, &written, &key).await?;
    Ok((StatusCode::CREATED, v1(renderer.file(&row))).into_response())
}

async fn pending_upload_of_file(state: &crate::State, auth: &Auth, file_id: &str) -> ApiResult<AnyRow> {
    let sql = format!("SELECT {UPLOAD_COLS} FROM uploads WHERE file_id = $1 AND owner_id = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(file_id)
        .bind(&auth.context_id)
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or_else(|| ApiError::not_found("file upload", file_id))
}

/// `PUT /v1pre3/files/{id}/parts/{n}` (`Content-MD5` checked when sent) → `{Response:{ETag}}`.
pub async fn v1_put_part(
    state: St,
    auth: Auth,
    Path((file_id, part)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    auth.require_write()?;
    let part = parse_part_number(&part)?;
    let upload = pending_upload_of_file(&state, &auth, &file_id).await?;
    let md5 = store_part(&state, &upload, part, &headers, body).await?;
    let mut response = v1(json!({"ETag": md5, "PartNumber": part})).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("\"{md5}\"")) {
        response.headers_mut().insert(header::ETAG, value);
    }
    Ok(response)
}

/// `POST /v1pre3/files/{id}?uploadstatus=complete|aborted`.
pub async fn v1_file_status(state: St, auth: Auth, Path(file_id): Path<String>, params: Params) -> ApiResult<Response> {
    auth.require_write()?;
    let upload = pending_upload_of_file(&state, &auth, &file_id).await?;
    let renderer = Renderer::new(&state, false);
    match params.get("uploadstatus").map(str::to_ascii_lowercase).as_deref() {
        Some("complete") => {
            let row = complete_upload(&state, &upload, &[], None, None).await?;
            Ok(v1(renderer.file(&row)).into_response())
        }
        Some("aborted") => {
            let upload_id: String = upload.get("id");
            let aborted = sqlx::query("UPDATE uploads SET status = 'aborted' WHERE id = $1 AND status = 'pending'")
                .bind(&upload_id)
                .execute(&state.db.pool)
                .await?
                .rows_affected();
            if aborted == 0 {
                return Err(ApiError::conflict("Only a pending upload can be aborted."));
            }
            sqlx::query("UPDATE files SET status = 'aborted', modified = $1 WHERE id = $2")
                .bind(ferry_api::dates::now_millis())
                .bind(&file_id)
                .execute(&state.db.pool)
                .await?;
            sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1")
                .bind(&upload_id)
                .execute(&state.db.pool)
                .await?;
            if let Err(error) = state.blobs.abort_multipart(&upload_id).await {
                tracing::warn!(%upload_id, %error, "cannot remove the parts of an aborted upload");
            }
            let row = any_file_row(&state, &file_id).await?;
            Ok(v1(renderer.file(&row)).into_response())
        }
        _ => Err(ApiError::invalid_parameter("uploadstatus must be complete or aborted.")),
    }
}
