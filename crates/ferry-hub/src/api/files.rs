//! File lists, file metadata, content redirects and the signed content URLs served by the hub
//! itself (streamed from the blob store, with `Range`).

use axum::Json;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferry_api::paging::SortDir;
use ferry_api::{ContentMeta, DirectoryCompact, File, ItemList};
use sqlx::Row;

use super::{St, v1};
use crate::auth::Auth;
use crate::db::{self, Filter, like_escape};
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::render::{FILE_COLS, Renderer};

const FILE_SORTS: &[(&str, &str)] = &[
    ("Id", "id"),
    ("Path", "path"),
    ("Name", "name"),
    ("DateCreated", "created"),
];

/// How long content URLs stay valid (BaseSpace's pre-signed URLs last days; so do ours).
pub const CONTENT_URL_SECONDS: i64 = 7 * 24 * 3600;

/// Checks a relative file path from a client: no traversal, no absolute paths, no NUL or
/// backslash, no empty or dot segments. Returns (path, directory, name).
pub fn clean_path(text: &str) -> ApiResult<(String, String, String)> {
    let refuse = |why: &str| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "BASESPACE.FILE.INVALID_PATH",
            format!("File path '{}' is not allowed: {why}.", text.escape_debug()),
        )
    };
    if text.is_empty() {
        return Err(refuse("it is empty"));
    }
    if text.len() > 1024 {
        return Err(refuse("it is longer than 1024 characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(refuse("it contains control characters"));
    }
    if text.contains('\\') {
        return Err(refuse("it contains a backslash; use '/' between directories"));
    }
    if text.starts_with('/') {
        return Err(refuse("it is absolute; give a path relative to the dataset"));
    }
    let segments: Vec<&str> = text.split('/').collect();
    if segments.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return Err(refuse("it has an empty, '.' or '..' segment"));
    }
    let name = segments.last().map(|s| s.to_string()).unwrap_or_default();
    let directory = segments[..segments.len() - 1].join("/");
    Ok((text.to_string(), directory, name))
}

/// MIME type for a file name.
pub fn content_type_for(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".gz") {
        "application/x-gzip"
    } else if lower.ends_with(".json") {
        "application/json"
    } else if lower.ends_with(".txt") || lower.ends_with(".csv") || lower.ends_with(".fastq") {
        "text/plain"
    } else {
        "application/octet-stream"
    }
}

/// A page of files, with its total and, for a listing of one directory, the folders in it.
struct FilePage {
    page: crate::params::Page,
    files: Vec<File>,
    total: i64,
    /// The directory listed without its subdirectories' files (`None`: not such a listing).
    directory: Option<String>,
}

impl FilePage {
    /// The v2 list; `files_href` is the listing URL the `SubDirectories` Hrefs extend.
    async fn v2(self, state: &crate::State, base: Filter, files_href: &str) -> ApiResult<ItemList<File>> {
        let mut list = self.page.v2(self.files, self.total);
        if let Some(directory) = self.directory {
            let names = sub_directory_names(state, base, &directory).await?;
            list.sub_directories = Some(
                names
                    .into_iter()
                    .map(|name| {
                        let path = if directory.is_empty() {
                            name.clone()
                        } else {
                            format!("{directory}/{name}")
                        };
                        let query: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
                        DirectoryCompact {
                            href: format!("{files_href}?directory={query}"),
                            name,
                        }
                    })
                    .collect(),
            );
        }
        Ok(list)
    }
}

/// The names of the folders directly inside `directory` ("" is the root) that hold completed
/// files among those `filter` selects, in name order.
async fn sub_directory_names(state: &crate::State, mut filter: Filter, directory: &str) -> ApiResult<Vec<String>> {
    filter.raw("status = 'complete'");
    if directory.is_empty() {
        filter.raw("directory <> ''");
    } else {
        filter.like_any("directory", &[format!("{}/%", like_escape(directory))]);
    }
    let sql = format!("SELECT DISTINCT directory FROM files{}", filter.where_sql());
    let rows = filter
        .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
        .fetch_all(&state.db.pool)
        .await?;
    let skip = if directory.is_empty() { 0 } else { directory.len() + 1 };
    let mut names = std::collections::BTreeSet::new();
    for row in rows {
        let path: String = row.try_get("directory")?;
        if let Some(name) = path.get(skip..).and_then(|rest| rest.split('/').next())
            && !name.is_empty()
        {
            names.insert(name.to_string());
        }
    }
    Ok(names.into_iter().collect())
}

/// One page of completed files matching `filter` and the list parameters.
async fn list_files(state: &crate::State, mut filter: Filter, params: &Params, v2: bool) -> ApiResult<FilePage> {
    let page = params.page(FILE_SORTS, SortDir::Asc, 10, ferry_api::MAX_FILES_LIMIT)?;
    filter.raw("status = 'complete'");
    let extensions: Vec<String> = params
        .list("extensions")
        .iter()
        .map(|e| format!("%.{}", like_escape(e.trim_start_matches('.'))))
        .collect();
    filter.like_any("name", &extensions);
    let mut listed_directory = None;
    if let Some(directory) = params.get("directory") {
        let directory = directory.trim().trim_matches('/').to_string();
        if params.flag("includesubdirectories")?.unwrap_or(false) {
            // The root with its subdirectories is every file.
            if !directory.is_empty() {
                filter.like_any(
                    "directory",
                    &[directory.clone(), format!("{}/%", like_escape(&directory))],
                );
            }
        } else {
            filter.eq("directory", directory.clone());
            listed_directory = Some(directory);
        }
    }
    if let Some(prefix) = params.get("pathprefix") {
        filter.like_any("path", &[format!("{}%", like_escape(prefix))]);
    }
    let (rows, total) = db::list(state, FILE_COLS, "files", &filter, &page).await?;
    let renderer = Renderer::new(state, v2);
    let files = rows.iter().map(|r| renderer.file(r)).collect();
    Ok(FilePage {
        page,
        files,
        total,
        directory: listed_directory,
    })
}

/// `GET /v2/datasets/{id}/files` (`extensions`, `directory`, `includesubdirectories`,
/// `pathprefix`, paging). Only completed files are listed.
pub async fn v2_dataset_files(
    state: St,
    auth: Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Json<ItemList<File>>> {
    auth.require_browse()?;
    super::resources::dataset_row(&state, &auth, &id).await?;
    children(
        &state,
        &auth,
        "dataset_id",
        &id,
        &params,
        &format!("v2/datasets/{id}/files"),
    )
    .await
}

/// `GET /v2/runs/{id}/files`.
pub async fn v2_run_files(
    state: St,
    auth: Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Json<ItemList<File>>> {
    auth.require_browse()?;
    super::resources::run_row(&state, &auth, &id).await?;
    children(&state, &auth, "run_id", &id, &params, &format!("v2/runs/{id}/files")).await
}

/// `GET /v1pre3/runs/{id}/files` (the run's `HrefFiles` in v1pre3 answers).
pub async fn v1_run_files(state: St, auth: Auth, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    auth.require_browse()?;
    super::resources::run_row(&state, &auth, &id).await?;
    let mut filter = Filter::owned_by(&auth.context_id);
    filter.eq("run_id", id);
    let listed = list_files(&state, filter, &params, false).await?;
    Ok(v1(listed.page.v1(listed.files, listed.total)).into_response())
}

/// `GET /v1pre3/samples/{id}/files` (a legacy sample's `HrefFiles`).
pub async fn v1_sample_files(state: St, auth: Auth, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    auth.require_browse()?;
    let dataset = super::resources::dataset_by_any_id(&state, &auth, &id).await?;
    let mut filter = Filter::owned_by(&auth.context_id);
    filter.eq("dataset_id", dataset.get::<String, _>("id"));
    let listed = list_files(&state, filter, &params, false).await?;
    Ok(v1(listed.page.v1(listed.files, listed.total)).into_response())
}

/// A completed file visible to the token, or 404.
pub async fn file_row(state: &crate::State, auth: &Auth, id: &str) -> ApiResult<sqlx::any::AnyRow> {
    let sql = format!("SELECT {FILE_COLS} FROM files WHERE id = $1 AND owner_id = $2 AND status = 'complete'");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(&auth.context_id)
        .fetch_optional(&state.db.pool)
        .await?
        .ok_or_else(|| ApiError::not_found("file", id))
}

/// `GET /v2/files/{id}`.
pub async fn v2_file(state: St, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<File>> {
    auth.require_browse()?;
    let row = file_row(&state, &auth, &id).await?;
    Ok(Json(Renderer::new(&state, true).file(&row)))
}

/// `GET /v1pre3/files/{id}`.
pub async fn v1_file(state: St, auth: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    auth.require_browse()?;
    let row = file_row(&state, &auth, &id).await?;
    Ok(v1(Renderer::new(&state, false).file(&row)).into_response())
}

fn content_subject(file_id: &str, owner_id: &str) -> String {
    format!("{file_id}:{owner_id}")
}

/// The signed content URL of a file, valid until `expires` (Unix seconds).
pub fn signed_content_url(state: &crate::State, file_id: &str, owner_id: &str, name: &str, expires: i64) -> String {
    let sig = state
        .signer
        .sign("content", &content_subject(file_id, owner_id), expires);
    let name: String = url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
    format!("{}/content/{file_id}/{name}?expires={expires}&sig={sig}", state.base)
}

/// Refuses the bytes of a file whose dataset or run is archived (and not yet restored), saying
/// how to get them back.
fn refuse_archived(row: &sqlx::any::AnyRow) -> ApiResult<()> {
    let archived: i64 = row.get("parent_archived");
    let ready: i64 = row.get("parent_restore_ready");
    if !crate::render::is_archived(archived, ready) {
        return Ok(());
    }
    let (kind, parent) = match row.get::<Option<String>, _>("dataset_id") {
        Some(dataset) => ("dataset", dataset),
        None => ("run", row.get::<Option<String>, _>("run_id").unwrap_or_default()),
    };
    let message = if ready > 0 {
        format!(
            "This file's {kind} {parent} is archived; its restore finishes at {} — download it then.",
            ferry_api::dates::format_millis(ready)
        )
    } else {
        format!(
            "This file's {kind} {parent} is archived: restore it first (bs unarchive {kind} -i {parent}, or POST \
             /v2/restore), then download it once the restore has finished."
        )
    };
    Err(ApiError::new(StatusCode::CONFLICT, "BASESPACE.FILES.ARCHIVED", message))
}

/// `GET /v2/files/{id}/content` and `/v1pre3/files/{id}/content`: 302 to a signed URL;
/// `?redirect=meta` answers `{HrefContent, Expires, SupportsRange}` in the v1pre3 envelope.
pub async fn content(state: St, auth: Auth, Path(id): Path<String>, params: Params) -> ApiResult<Response> {
    auth.require_read()?;
    let row = file_row(&state, &auth, &id).await?;
    refuse_archived(&row)?;
    let expires = crate::signing::now_secs() + CONTENT_URL_SECONDS;
    let url = signed_content_url(
        &state,
        &id,
        &row.get::<String, _>("owner_id"),
        &row.get::<String, _>("name"),
        expires,
    );
    let redirect = params.get("redirect").map(str::to_ascii_lowercase);
    if redirect.as_deref() == Some("meta") {
        return Ok(v1(ContentMeta {
            href_content: url,
            expires: Some(ferry_api::dates::format_millis(expires * 1000)),
            supports_range: true,
        })
        .into_response());
    }
    let location = HeaderValue::from_str(&url).map_err(|e| ApiError::internal("build the content URL", e))?;
    Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}

/// A requested byte range, inclusive.
fn parse_range(header: &str, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // several ranges: answer the whole content
    }
    let (start, end) = spec.trim().split_once('-')?;
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        let suffix: u64 = end.parse().ok()?;
        if suffix == 0 || size == 0 {
            return Some(Err(()));
        }
        (size.saturating_sub(suffix), size - 1)
    } else {
        let start: u64 = start.parse().ok()?;
        let end: u64 = if end.is_empty() {
            size.saturating_sub(1)
        } else {
            end.parse::<u64>().ok()?.min(size.saturating_sub(1))
        };
        if start >= size || end < start {
            return Some(Err(()));
        }
        (start, end)
    };
    Some(Ok(range))
}

/// `GET /content/{file_id}/{name}?expires=&sig=`: the bytes, for a valid signature only.
/// Unknown files answer exactly like a bad signature. The bytes are an attachment typed by the
/// file name ([`crate::served_type`]).
pub async fn serve_signed(
    state: St,
    Path((file_id, _name)): Path<(String, String)>,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let sql = format!("SELECT {FILE_COLS} FROM files WHERE id = $1 AND status = 'complete'");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&file_id)
        .fetch_optional(&state.db.pool)
        .await?;
    let owner: String = row.as_ref().map(|r| r.get("owner_id")).unwrap_or_default();
    state.signer.verify(
        "content",
        &content_subject(&file_id, &owner),
        params.get("expires"),
        params.get("sig"),
    )?;
    let Some(row) = row else {
        return Err(ApiError::forbidden("This signed URL is not valid."));
    };
    refuse_archived(&row)?;
    let key: String = row.get("blob_key");
    let etag: String = row.get("etag");
    let name: String = row.get("name");
    let recorded_size: i64 = row.get("size");
    let size = match state.blobs.size(&key).await {
        Ok(Some(size)) => size,
        Ok(None) => {
            return Err(ApiError::internal(
                "find a file's bytes in the blob store",
                format!("file {file_id}: blob {key} is missing"),
            ));
        }
        Err(error) => return Err(ApiError::internal("open the file's bytes in the blob store", error)),
    };
    if size != recorded_size as u64 {
        return Err(ApiError::internal(
            "serve a file whose stored size differs from its record",
            format!("file {file_id}: blob {key} has {size} bytes, record says {recorded_size}"),
        ));
    }
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(text) => match parse_range(text, size) {
            None => None,
            Some(Ok(range)) => Some(range),
            Some(Err(())) => {
                let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                return Ok(response);
            }
        },
    };
    let (start, end) = range.unwrap_or((0, size.saturating_sub(1)));
    let length = if size == 0 { 0 } else { end - start + 1 };
    let reader = state
        .blobs
        .open(&key, range.map(|(start, end)| start..end + 1))
        .await
        .map_err(|e| ApiError::internal("open the file's bytes in the blob store", e))?;
    let stream = reader.stream;
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    // User bytes: typed by the file name (never as a page), downloaded, and sandboxed should a
    // browser render them anyway. The type the client declared stays in the file's ContentType.
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::served_type::served_content_type(&name)),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        h.insert(header::ETAG, value);
    }
    let ascii_name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{ascii_name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, value);
    }
    if range.is_some()
        && let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}"))
    {
        h.insert(header::CONTENT_RANGE, value);
    }
    Ok(response)
}

/// `GET /v2/appsessions/{id}/logfiles`: the session's log files (published when it ends), with
/// the usual file-list parameters.
pub async fn v2_appsession_logfiles(
    state: St,
    auth: Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Json<ItemList<File>>> {
    auth.require_browse()?;
    super::resources::appsession_row(&state, &auth, &id).await?;
    children(
        &state,
        &auth,
        "appsession_id",
        &id,
        &params,
        &format!("v2/appsessions/{id}/logfiles"),
    )
    .await
}

/// One page of the caller's completed files whose `parent` column is `id`, as a v2 list whose
/// `SubDirectories` Hrefs extend `listing` (a path below the hub's base URL).
async fn children(
    state: &crate::State,
    auth: &Auth,
    parent: &'static str,
    id: &str,
    params: &Params,
    listing: &str,
) -> ApiResult<Json<ItemList<File>>> {
    let mut filter = Filter::owned_by(&auth.context_id);
    filter.eq(parent, id.to_string());
    let listed = list_files(state, filter.clone(), params, true).await?;
    let href = format!("{}/{listing}", state.base);
    Ok(Json(listed.v2(state, filter, &href).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked() {
        assert_eq!(
            clean_path("a/b/R1.fastq.gz").unwrap(),
            ("a/b/R1.fastq.gz".into(), "a/b".into(), "R1.fastq.gz".into())
        );
        assert_eq!(clean_path("x.gz").unwrap().1, "");
        for bad in ["", "../x", "a/../b", "/etc/passwd", "a\\b", "a\0b", "a//b", "./a", "a/"] {
            assert!(clean_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(parse_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(parse_range("bytes=50-1000", 100), Some(Ok((50, 99))));
        assert_eq!(parse_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
